//! Desktop audio for viewers: one capture and one Opus encoder, shared by every viewer that
//! listens, started by the first and stopped after the last.
//!
//! Packets go out through a small broadcast channel. A viewer that falls behind loses the
//! oldest packets (it never builds up delay), and silence costs nothing: after half a second of
//! it, capture stops delivering frames until sound returns.

use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use deskcast_codec::opus::{OpusConfig, OpusEncoder};
use tokio::sync::broadcast;

use crate::audio::{AudioCapture, AudioConfig, AudioError, RecvError, ServerAddress};

/// Packets buffered per viewer (10 ms each): more would only be delay.
const BUFFERED: usize = 4;
/// Silent frames (10 ms each) before capture stops delivering them.
const SILENCE_PAUSE: u32 = 50;
/// The sample rate and channels sent in `AudioFormat`.
pub const FORMAT: (u32, u32) = (crate::audio::SAMPLE_RATE, crate::audio::CHANNELS as u32);

/// One Opus packet of 10 ms.
#[derive(Debug, Clone)]
pub struct AudioPacket {
    /// The packet.
    pub data: Arc<[u8]>,
}

/// Shared capture, started on demand.
#[derive(Debug)]
pub struct AudioHub {
    server: ServerAddress,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    listeners: usize,
    running: Option<Running>,
}

#[derive(Debug)]
struct Running {
    capture: AudioCapture,
    tx: broadcast::Sender<AudioPacket>,
    encoder: JoinHandle<()>,
}

/// A viewer's place in the audience; leaving (drop) stops capture when it was the last.
#[derive(Debug)]
pub struct AudioSubscription {
    hub: Arc<AudioHub>,
    /// The packets.
    pub packets: broadcast::Receiver<AudioPacket>,
}

impl Drop for AudioSubscription {
    fn drop(&mut self) {
        self.hub.leave();
    }
}

impl AudioHub {
    /// A hub for the sound server PulseAudio clients would find, or `None` (logged once) when
    /// none answers.
    pub fn discover() -> Option<Arc<Self>> {
        match ServerAddress::discover() {
            Ok(server) => Self::at(server),
            Err(e) => {
                tracing::info!(reason = %e, "no sound server: streaming video without audio");
                None
            }
        }
    }

    /// A hub for the sound server at `server`, or `None` (logged once) when it does not answer.
    pub fn at(server: ServerAddress) -> Option<Arc<Self>> {
        match crate::audio::probe(&server, Duration::from_secs(2)) {
            Ok(report) => {
                tracing::info!(server = server.as_str(), ?report, "desktop audio available");
                Some(Arc::new(Self {
                    server,
                    inner: Mutex::default(),
                }))
            }
            Err(e) => {
                tracing::info!(reason = %e, "no sound server: streaming video without audio");
                None
            }
        }
    }

    /// A hub for `server` without probing it (tests).
    pub fn with_server(server: ServerAddress) -> Arc<Self> {
        Arc::new(Self {
            server,
            inner: Mutex::default(),
        })
    }

    /// Joins the audience, starting capture if nobody listened.
    pub fn subscribe(self: &Arc<Self>) -> Result<AudioSubscription, AudioError> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if inner
            .running
            .as_ref()
            .is_some_and(|r| r.capture.is_finished())
        {
            // The server went away since: start afresh.
            if let Some(old) = inner.running.take() {
                stop(old);
            }
        }
        if inner.running.is_none() {
            inner.running = Some(self.start()?);
        }
        inner.listeners += 1;
        let packets = inner
            .running
            .as_ref()
            .map(|r| r.tx.subscribe())
            .expect("started above");
        Ok(AudioSubscription {
            hub: Arc::clone(self),
            packets,
        })
    }

    fn start(&self) -> Result<Running, AudioError> {
        let mut config = AudioConfig::new(self.server.clone());
        config.pause_silence_after = Some(SILENCE_PAUSE);
        let capture = AudioCapture::start(config)?;
        let frames = capture.frames();
        let mut encoder =
            OpusEncoder::new(&OpusConfig::default()).map_err(|e| AudioError::Internal {
                detail: format!("Opus encoder: {e}"),
            })?;
        let (tx, _) = broadcast::channel(BUFFERED);
        let sender = tx.clone();
        let thread = std::thread::Builder::new()
            .name("deskcast-audio".into())
            .spawn(move || {
                let mut buf = [0u8; 1500];
                loop {
                    match frames.recv() {
                        Ok(frame) => match encoder.encode_f32(frame.samples(), &mut buf) {
                            Ok(n) => {
                                let _ = sender.send(AudioPacket {
                                    data: Arc::from(&buf[..n]),
                                });
                            }
                            Err(e) => tracing::debug!(error = %e, "audio frame not encoded"),
                        },
                        Err(RecvError::Stopped) => return,
                        Err(RecvError::Failed(e)) => {
                            tracing::warn!(error = %e, "desktop audio stopped");
                            return;
                        }
                    }
                }
            })
            .map_err(|e| AudioError::Thread {
                detail: e.to_string(),
            })?;
        tracing::info!(source = capture.source(), "desktop audio capture started");
        Ok(Running {
            capture,
            tx,
            encoder: thread,
        })
    }

    fn leave(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.listeners = inner.listeners.saturating_sub(1);
        if inner.listeners == 0
            && let Some(running) = inner.running.take()
        {
            stop(running);
            tracing::info!("desktop audio capture stopped (nobody listens)");
        }
    }
}

fn stop(running: Running) {
    let Running {
        capture,
        tx,
        encoder,
    } = running;
    drop(tx);
    let _ = capture.stop();
    let _ = encoder.join();
}
