//! Desktop audio capture: the monitor of the default PulseAudio (or PipeWire-pulse) sink, cut into
//! 10 ms frames of 48 kHz stereo `f32`, handed over through a queue that drops the oldest audio
//! rather than let delay build up.
//!
//! ```text
//! sound server ──(libpulse, ~10 ms fragments)──▶ capture thread ──▶ Framer ──▶ SilenceGate
//!     ──▶ bounded drop-oldest queue ──▶ Frames (the consumer: the Opus encoder)
//! ```
//!
//! The server converts to 48 kHz `float32le` stereo itself, whatever the sink's format. A
//! container without a sound server is normal: [`AudioCapture::start`] and [`probe`] then fail
//! quickly with [`AudioError::NoServer`], and the agent runs without audio.
//!
//! The session starts an [`AudioCapture`] when the first viewer with audio enabled appears and
//! drops it (or calls [`AudioCapture::stop`]) when the last one leaves.

mod frame;
mod pulse;
mod queue;
mod server;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

pub use frame::{AudioFrame, CHANNELS, FRAME_DURATION, FRAME_LEN, FRAME_SAMPLES, SAMPLE_RATE};
pub use queue::{Frames, QueueStats, RecvError};
pub use server::ServerAddress;

/// Why audio capture could not start, or why it ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AudioError {
    /// The server went away, or ended our stream, while capturing.
    #[error("the sound server went away: {detail}")]
    Disconnected { detail: String },
    /// A bug on our side, or libpulse could not set up its own machinery.
    #[error("internal audio error: {detail}")]
    Internal { detail: String },
    /// No sound server is reachable (normal in a container without one).
    #[error("no sound server: {detail}")]
    NoServer { detail: String },
    /// The server runs but has nothing to record: no default sink, no monitor, or the named
    /// source does not exist.
    #[error("no audio source: {detail}")]
    NoSource { detail: String },
    /// The server refused or did not answer a request.
    #[error("the sound server refused: {detail}")]
    Refused { detail: String },
    /// The capture thread could not be started.
    #[error("cannot start the audio thread: {detail}")]
    Thread { detail: String },
}

/// How to capture. Build with [`AudioConfig::new`] and adjust fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AudioConfig {
    /// The server to record from.
    pub server: ServerAddress,
    /// The source to record; `None` records the monitor of the server's default sink.
    pub source: Option<String>,
    /// How much audio the server sends at once (its fragment size); also the source latency it
    /// aims for. Default 10 ms.
    pub fragment: Duration,
    /// The most frames that wait for the consumer before the oldest is dropped. Default 8 (80 ms).
    pub queue_frames: usize,
    /// A frame whose peak is below this is flagged silent. Default one 16-bit step, 1/32768.
    pub silence_threshold: f32,
    /// After this many silent frames in a row, further silent frames are not delivered until
    /// sound returns (their sequence numbers are skipped). `None` (the default) delivers all.
    pub pause_silence_after: Option<u32>,
    /// How long connecting and setting up may take before giving up. Default 2 s.
    pub connect_timeout: Duration,
}

impl AudioConfig {
    /// The defaults, recording from `server`.
    pub fn new(server: ServerAddress) -> Self {
        Self {
            server,
            source: None,
            fragment: Duration::from_millis(10),
            queue_frames: 8,
            silence_threshold: 1.0 / 32768.0,
            pause_silence_after: None,
            connect_timeout: Duration::from_secs(2),
        }
    }
}

/// What [`probe`] found: the server and the source capture would use.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProbeReport {
    /// The server libpulse connected to, as it names it (e.g. `unix:/run/user/0/pulse/native`).
    pub server: String,
    /// The server's name, e.g. `pulseaudio` or `PulseAudio (on PipeWire 1.0.5)`.
    pub server_name: String,
    /// The server's version.
    pub server_version: String,
    /// The default sink.
    pub default_sink: String,
    /// The default sink's sample format, e.g. `s16le 2ch 44100Hz`.
    pub sink_format: String,
    /// The monitor source of the default sink, which capture records.
    pub monitor_source: String,
}

/// Connects to `server`, asks for its default sink's monitor, and disconnects. Fails with
/// [`AudioError::NoServer`] quickly when nothing listens, and within `timeout` otherwise.
pub fn probe(server: &ServerAddress, timeout: Duration) -> Result<ProbeReport, AudioError> {
    pulse::probe(server, timeout)
}

/// A running capture. Frames arrive on [`frames`](Self::frames); dropping the handle stops it.
#[derive(Debug)]
pub struct AudioCapture {
    frames: Frames,
    source: String,
    fragment: Duration,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<(), AudioError>>>,
}

impl AudioCapture {
    /// Connects to the server and starts recording on a thread of its own. Returns once frames
    /// are flowing, or with the reason they cannot, within about `config.connect_timeout`.
    pub fn start(config: AudioConfig) -> Result<Self, AudioError> {
        let (sender, frames) = queue::channel(config.queue_frames);
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
        // The thread enforces the deadline itself; this margin only covers a thread that is
        // starved of CPU.
        let patience = config.connect_timeout + Duration::from_secs(1);
        let thread = std::thread::Builder::new()
            .name("audio-capture".into())
            .spawn({
                let stop = Arc::clone(&stop);
                move || pulse::run(&config, sender, &stop, ready_tx)
            })
            .map_err(|e| AudioError::Thread {
                detail: e.to_string(),
            })?;
        match ready_rx.recv_timeout(patience) {
            Ok(Ok(started)) => Ok(Self {
                frames,
                source: started.source,
                fragment: started.fragment,
                stop,
                thread: Some(thread),
            }),
            Ok(Err(error)) => {
                let _ = thread.join();
                Err(error)
            }
            Err(_) => {
                // The thread notices that nobody waits and ends by itself.
                stop.store(true, Ordering::Relaxed);
                Err(AudioError::NoServer {
                    detail: format!("no capture set up within {patience:?}"),
                })
            }
        }
    }

    /// The receiving end of the frame queue (clones share it).
    pub fn frames(&self) -> Frames {
        self.frames.clone()
    }

    /// The source being recorded, e.g. `auto_null.monitor`.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The fragment size the server granted: how much audio each wake-up brings.
    pub fn fragment(&self) -> Duration {
        self.fragment
    }

    /// True once capture has ended by itself (the server went away); the receiver says why.
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Stops capturing and waits for the thread, which takes at most a few tens of milliseconds.
    /// Returns the error that had already ended capture, if one did.
    pub fn stop(mut self) -> Result<(), AudioError> {
        self.shut_down()
    }

    fn shut_down(&mut self) -> Result<(), AudioError> {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take() {
            Some(thread) => thread.join().unwrap_or_else(|_| {
                Err(AudioError::Internal {
                    detail: "the capture thread panicked".into(),
                })
            }),
            None => Ok(()),
        }
    }
}

impl Drop for AudioCapture {
    fn drop(&mut self) {
        let _ = self.shut_down();
    }
}
