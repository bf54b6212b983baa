//! The logged-in session's background task: it owns the connection, answers and sends
//! heartbeats, decodes video and audio, collects clipboard text, and sends what the
//! [`super::Probe`] handle asks it to.

use std::collections::{HashMap, VecDeque};
use std::io::Read as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use deskcast_codec::Codec;
use deskcast_codec::decode::Decoder;
use deskcast_protocol::message::{
    self, Clipboard, ClipboardFormat, EncodedVideoFrame, Message, TestDelay, VideoFrame,
    video_frame,
};
use tokio::sync::{Notify, mpsc, oneshot};

use super::audio::{AudioPacket, AudioReceiver};
use super::conn::Conn;
use super::stats::{Stats, monotonic_ms};
use super::{Error, Frame, ProbeConfig};

/// How often the probe sends its own `TestDelay`.
const PING_INTERVAL: Duration = Duration::from_secs(1);
/// After our close request, how long the agent has to close its side.
const CLOSE_WAIT: Duration = Duration::from_secs(2);
/// Clipboard texts kept until taken.
const MAX_CLIPBOARD: usize = 64;
/// The largest clipboard text accepted (decompressed).
const MAX_CLIPBOARD_BYTES: u64 = 16 << 20;
/// Capture stamps further in the past than this are not this machine's clock.
const MAX_PLAUSIBLE_LATENCY_MS: f64 = 60_000.0;

/// What the handle asks the task to do.
#[derive(Debug)]
pub(super) enum Command {
    /// Send a message.
    Send(Box<Message>),
    /// Close politely, then report.
    Close(oneshot::Sender<()>),
}

/// The state the task and the handle share.
#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) frames: VecDeque<Frame>,
    pub(super) audio: VecDeque<AudioPacket>,
    pub(super) clipboard: VecDeque<String>,
    pub(super) stats: Stats,
    /// Set when the session has ended: the agent's close reason or what broke it.
    pub(super) ended: Option<Option<String>>,
}

/// [`State`] behind a lock, with a wake-up for waiters.
#[derive(Debug, Default)]
pub(super) struct Shared {
    state: Mutex<State>,
    changed: Notify,
}

impl Shared {
    /// Runs `f` on the state.
    pub(super) fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Changes the state and wakes the waiters.
    fn update(&self, f: impl FnOnce(&mut State)) {
        self.with(f);
        self.changed.notify_waiters();
    }

    /// Waits up to `timeout` until `take` finds something in the state.
    pub(super) async fn wait<T>(
        &self,
        timeout: Duration,
        what: &'static str,
        mut take: impl FnMut(&mut State) -> Option<T>,
    ) -> Result<T, Error> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            // Registered before the check, so an update between check and wait is not lost.
            notified.as_mut().enable();
            let found = self.with(|state| match take(state) {
                Some(found) => Ok(Some(found)),
                None => match &state.ended {
                    Some(reason) => Err(Error::Closed(reason.clone())),
                    None => Ok(None),
                },
            })?;
            if let Some(found) = found {
                return Ok(found);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(Error::Timeout(what));
            }
        }
    }
}

/// Starts the task on the current runtime.
pub(super) fn spawn(
    conn: Conn,
    config: &ProbeConfig,
) -> (Arc<Shared>, mpsc::UnboundedSender<Command>) {
    let shared = Arc::new(Shared::default());
    let (commands, incoming) = mpsc::unbounded_channel();
    let task = Task {
        conn,
        shared: Arc::clone(&shared),
        decoders: HashMap::new(),
        frame_queue: config.frame_queue,
        audio: AudioReceiver::new(),
        audio_queue: config.audio_queue,
        keep_pictures: config.keep_pictures,
        next_index: 0,
        ping_outstanding: false,
    };
    tokio::spawn(task.run(incoming));
    (shared, commands)
}

/// Echoes a `TestDelay` the agent started (spec §9.1: unchanged).
pub(super) async fn echo_test_delay(conn: &mut Conn, delay: TestDelay) -> Result<(), Error> {
    let echo: Message = message::message::Union::TestDelay(delay).into();
    conn.send(&echo).await
}

/// One display's decoder; `None` until a keyframe opens one.
#[derive(Debug)]
struct DisplayDecoder {
    codec: Codec,
    decoder: Option<Decoder>,
    /// A keyframe was asked for since the decoder failed.
    refresh_asked: bool,
}

struct Task {
    conn: Conn,
    shared: Arc<Shared>,
    decoders: HashMap<i32, DisplayDecoder>,
    frame_queue: usize,
    audio: AudioReceiver,
    audio_queue: usize,
    keep_pictures: bool,
    next_index: u64,
    ping_outstanding: bool,
}

impl Task {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut ping = tokio::time::interval(PING_INTERVAL);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let end = loop {
            tokio::select! {
                received = self.conn.recv() => {
                    let handled = match received {
                        Ok(message) => self.handle(message).await,
                        Err(error) => Err(error),
                    };
                    if let Err(error) = handled {
                        break end_reason(error);
                    }
                }
                command = commands.recv() => match command {
                    Some(Command::Send(message)) => {
                        if let Err(error) = self.conn.send(&*message).await {
                            break end_reason(error);
                        }
                    }
                    Some(Command::Close(done)) => {
                        self.close().await;
                        let _ = done.send(());
                        break None;
                    }
                    // The handle is gone: leave politely.
                    None => {
                        self.close().await;
                        break None;
                    }
                },
                _ = ping.tick() => {
                    if let Err(error) = self.ping().await {
                        break end_reason(error);
                    }
                }
            }
        };
        tracing::debug!(?end, "probe session ended");
        // Refuse further commands before anyone can see that the session ended.
        commands.close();
        self.shared.update(|state| state.ended = Some(end));
    }

    /// Sends our own `TestDelay` unless one is still out.
    async fn ping(&mut self) -> Result<(), Error> {
        if self.ping_outstanding {
            return Ok(());
        }
        self.ping_outstanding = true;
        let delay: Message = message::message::Union::TestDelay(TestDelay {
            time: monotonic_ms() as i64,
            from_client: true,
            ..TestDelay::default()
        })
        .into();
        self.conn.send(&delay).await
    }

    async fn handle(&mut self, message: Message) -> Result<(), Error> {
        use message::message::Union as M;
        match message.union {
            Some(M::VideoFrame(frame)) => self.video(frame).await,
            Some(M::AudioFrame(frame)) => {
                self.audio_packet(&frame.data);
                Ok(())
            }
            Some(M::TestDelay(delay)) if delay.from_client => {
                // Our own, echoed.
                self.ping_outstanding = false;
                let rtt = monotonic_ms() - delay.time as f64;
                if (0.0..MAX_PLAUSIBLE_LATENCY_MS).contains(&rtt) {
                    self.shared.update(|s| s.stats.rtt(rtt));
                }
                Ok(())
            }
            Some(M::TestDelay(delay)) => {
                let last = delay.last_delay;
                self.shared.update(|s| {
                    s.stats.agent_rtt_ms = Some(last);
                    s.stats.heartbeats += 1;
                });
                echo_test_delay(&mut self.conn, delay).await
            }
            Some(M::Clipboard(clipboard)) => {
                self.clipboard(&clipboard);
                Ok(())
            }
            Some(M::MultiClipboards(multi)) => {
                if let Some(text) = multi
                    .clipboards
                    .iter()
                    .find(|c| c.format == i32::from(ClipboardFormat::Text))
                {
                    self.clipboard(text);
                }
                Ok(())
            }
            Some(M::Misc(misc)) => match misc.union {
                Some(message::misc::Union::CloseReason(reason)) => Err(Error::Closed(Some(reason))),
                // A display switch resets that display's decoder (spec §9.2).
                Some(message::misc::Union::SwitchDisplay(switch)) => {
                    self.decoders.remove(&switch.display);
                    Ok(())
                }
                Some(message::misc::Union::AudioFormat(format)) => {
                    match self.audio.start(&format) {
                        Ok(format) => self.shared.update(|s| s.stats.audio_format = Some(format)),
                        Err(error) => self.shared.update(|s| s.stats.audio_error(error)),
                    }
                    Ok(())
                }
                _ => Ok(()),
            },
            _ => Ok(()),
        }
    }

    async fn video(&mut self, frame: VideoFrame) -> Result<(), Error> {
        let display = frame.display;
        let (codec, frames) = match frame.union {
            Some(video_frame::Union::Vp9s(f)) => (Codec::Vp9, f.frames),
            Some(video_frame::Union::Vp8s(f)) => (Codec::Vp8, f.frames),
            Some(video_frame::Union::H264s(f)) => (Codec::H264, f.frames),
            Some(video_frame::Union::H265s(f)) => (Codec::H265, f.frames),
            Some(video_frame::Union::Av1s(f)) => (Codec::Av1, f.frames),
            _ => {
                self.shared
                    .update(|s| s.stats.decode_error("a raw or empty VideoFrame".into()));
                return Ok(());
            }
        };
        for encoded in frames {
            if let Err(error) = self.decode(display, codec, &encoded) {
                self.shared.update(|s| s.stats.decode_error(error));
                // Like a RustDesk client after a decode error: drop the decoder and ask for a
                // keyframe, once until one comes.
                let ask = self.decoders.get_mut(&display).is_none_or(|state| {
                    state.decoder = None;
                    !std::mem::replace(&mut state.refresh_asked, true)
                });
                if ask {
                    let refresh: Message = message::misc::Union::RefreshVideo(true).into();
                    self.conn.send(&refresh).await?;
                }
            }
        }
        Ok(())
    }

    /// Decodes one frame of `display`; the error is a line for the report.
    fn decode(
        &mut self,
        display: i32,
        codec: Codec,
        encoded: &EncodedVideoFrame,
    ) -> Result<(), String> {
        let state = self.decoders.entry(display).or_insert(DisplayDecoder {
            codec,
            decoder: None,
            refresh_asked: false,
        });
        if state.codec != codec {
            *state = DisplayDecoder {
                codec,
                decoder: None,
                refresh_asked: false,
            };
        }
        let decoder = match &mut state.decoder {
            Some(decoder) => decoder,
            None if !encoded.key => {
                return Err(format!(
                    "{codec} frame (pts {}) without a keyframe before it",
                    encoded.pts
                ));
            }
            None => {
                state.refresh_asked = false;
                state
                    .decoder
                    .insert(Decoder::new(codec).map_err(|e| e.to_string())?)
            }
        };
        let started = Instant::now();
        let picture = match decoder.decode(&encoded.data) {
            Ok(Some(picture)) => picture,
            Ok(None) => {
                return Err(format!(
                    "{codec} frame (pts {}) gave no picture",
                    encoded.pts
                ));
            }
            Err(error) => return Err(error.to_string()),
        };
        let decoded_ms = monotonic_ms();
        let decode_time = started.elapsed();
        let since_capture = decoded_ms - encoded.pts as f64;
        let latency = (0.0..MAX_PLAUSIBLE_LATENCY_MS)
            .contains(&since_capture)
            .then(|| Duration::from_secs_f64(since_capture / 1000.0));
        let frame = Frame {
            index: self.next_index,
            display,
            codec,
            keyframe: encoded.key,
            width: picture.width,
            height: picture.height,
            pts_ms: encoded.pts,
            encoded_bytes: encoded.data.len(),
            decode_time,
            latency,
            picture: self.keep_pictures.then(|| picture.to_picture()),
        };
        self.next_index += 1;
        let queue = self.frame_queue;
        self.shared.update(|s| {
            s.stats.frame(
                started,
                frame.keyframe,
                frame.encoded_bytes,
                decode_time,
                latency,
            );
            if queue == 0 {
                return;
            }
            if s.frames.len() == queue {
                s.frames.pop_front();
                s.stats.dropped += 1;
            }
            s.frames.push_back(frame);
        });
        Ok(())
    }

    /// Decodes one `AudioFrame` and keeps it for [`super::Probe::next_audio`].
    fn audio_packet(&mut self, data: &[u8]) {
        let packet = match self.audio.decode(data) {
            Ok(packet) => packet,
            Err(error) => {
                self.shared.update(|s| s.stats.audio_error(error));
                return;
            }
        };
        let queue = self.audio_queue;
        self.shared.update(|s| {
            s.stats.audio_packet(Instant::now(), packet.encoded_bytes);
            if queue == 0 {
                return;
            }
            if s.audio.len() == queue {
                s.audio.pop_front();
                s.stats.audio_dropped += 1;
            }
            s.audio.push_back(packet);
        });
    }

    fn clipboard(&mut self, clipboard: &Clipboard) {
        if clipboard.format != i32::from(ClipboardFormat::Text) {
            return;
        }
        let text = if clipboard.compress {
            let mut out = Vec::new();
            let decoded = zstd::stream::read::Decoder::new(clipboard.content.as_slice())
                .and_then(|d| d.take(MAX_CLIPBOARD_BYTES).read_to_end(&mut out));
            if let Err(error) = decoded {
                tracing::warn!(%error, "undecodable compressed clipboard");
                return;
            }
            out
        } else {
            clipboard.content.clone()
        };
        let text = String::from_utf8_lossy(&text).into_owned();
        self.shared.update(|s| {
            if s.clipboard.len() == MAX_CLIPBOARD {
                s.clipboard.pop_front();
            }
            s.clipboard.push_back(text);
        });
    }

    /// Says goodbye (spec §9.3) and waits briefly for the agent to close, then closes our
    /// side. Closing at once would let a relay tear the pair down (and reset the agent's
    /// connection) before the agent has read the goodbye.
    async fn close(&mut self) {
        let bye: Message = message::misc::Union::CloseReason(String::new()).into();
        if self.conn.send(&bye).await.is_err() {
            return;
        }
        let drain = async {
            while let Ok(message) = self.conn.recv().await {
                // Frames that arrive meanwhile still count.
                if self.handle(message).await.is_err() {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(CLOSE_WAIT, drain).await;
        self.conn.shutdown().await;
    }
}

/// What a failure means for the session's end: the agent's reason, or what broke.
fn end_reason(error: Error) -> Option<String> {
    match error {
        Error::Closed(reason) => reason,
        other => Some(other.to_string()),
    }
}
