//! A viewer's TCP stream as messages: a reader that opens and decodes frames, and a writer task
//! that seals and sends them.
//!
//! The two halves carry copies of the session's `Channel`: each direction advances only its
//! own counter, so the reader's copy opens and the writer's copy seals. Video frames reach the
//! writer through a one-place [`Slot`] (latest frame wins), everything else through a bounded
//! queue; the writer prefers control messages, so input echoes and TestDelay are never stuck
//! behind a large frame that has not been written yet.

use std::sync::Arc;
use std::time::Instant;

use deskcast_protocol::crypto::Channel;
use deskcast_protocol::framing::FrameDecoder;
use deskcast_protocol::message::video::{EncodedFrameRef, VideoCodec, VideoFrameRef};
use deskcast_protocol::message::{self, Message};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;

use crate::error::{Error, IoContext};
use crate::pipeline::display::Display;
use crate::pipeline::pool::EncodedFrame;
use crate::pipeline::slot::Slot;

/// The largest frame a viewer may send (clipboards are the big ones).
pub const MAX_FRAME_LEN: usize = 32 << 20;

/// Reads whole messages from the viewer.
#[derive(Debug)]
pub struct PeerReader {
    read: OwnedReadHalf,
    decoder: FrameDecoder,
    channel: Channel,
    buf: Vec<u8>,
}

impl PeerReader {
    /// A reader over `read`, not yet decrypting.
    pub fn new(read: OwnedReadHalf) -> Self {
        Self {
            read,
            decoder: FrameDecoder::with_max_frame_len(MAX_FRAME_LEN),
            channel: Channel::plain(),
            buf: vec![0; 64 << 10],
        }
    }

    /// From now on, frames are opened with `channel`.
    pub fn set_channel(&mut self, channel: Channel) {
        self.channel = channel;
    }

    /// The next frame's payload, unopened (for the handshake). Cancel-safe.
    pub async fn next_raw(&mut self) -> Result<Vec<u8>, Error> {
        loop {
            if let Some(frame) = self.decoder.next_frame()? {
                return Ok(frame.to_vec());
            }
            self.fill().await?;
        }
    }

    /// The next message, opened and decoded. Frames of at most one byte are heartbeats and are
    /// skipped. Cancel-safe: a cancelled call loses no bytes.
    pub async fn next_message(&mut self) -> Result<Message, Error> {
        loop {
            if let Some(frame) = self.decoder.next_frame()? {
                if frame.len() <= 1 {
                    continue;
                }
                let plain = self.channel.open(frame)?;
                return Ok(message::decode_message(plain)?);
            }
            self.fill().await?;
        }
    }

    async fn fill(&mut self) -> Result<(), Error> {
        let n = self
            .read
            .read(&mut self.buf)
            .await
            .context("reading from the viewer")?;
        if n == 0 {
            self.decoder.finish()?;
            return Err(Error::PeerClosed);
        }
        self.decoder.feed(&self.buf[..n]);
        Ok(())
    }
}

/// What the session hands its writer.
#[derive(Debug)]
pub enum Outgoing {
    /// One message, sealed and sent as it is.
    Message(Box<Message>),
    /// Frames from `slot` go out as display `index`, and `display` hears when one was taken.
    Video(VideoSource),
    /// Sends `Misc { close_reason }`, flushes, and ends the writer.
    Close(String),
}

/// Where the writer takes video frames from, and how it labels them.
#[derive(Debug, Clone)]
pub struct VideoSource {
    /// The display service to tell about taken frames.
    pub display: Display,
    /// The index the client knows the display by.
    pub index: i32,
    /// Send the capture instant on CLOCK_MONOTONIC as `pts` (the deskcast probe measures
    /// latency with it); otherwise milliseconds since this viewer's stream began.
    pub monotonic_pts: bool,
}

/// The sending side of a session.
#[derive(Debug, Clone)]
pub struct Outbox {
    tx: mpsc::Sender<Outgoing>,
    /// Video frames for this viewer (shared with the display service).
    pub video: Arc<Slot<Arc<EncodedFrame>>>,
}

impl Outbox {
    /// Queues a message; fails once the writer has ended.
    pub async fn send(&self, message: impl Into<Message>) -> Result<(), Error> {
        self.tx
            .send(Outgoing::Message(Box::new(message.into())))
            .await
            .map_err(|_| Error::Refused("the connection is closing".into()))
    }

    /// Queues a message unless the queue is full (for droppable traffic such as audio).
    pub fn try_send(&self, message: impl Into<Message>) -> bool {
        self.tx
            .try_send(Outgoing::Message(Box::new(message.into())))
            .is_ok()
    }

    /// Points the writer at a display's frames.
    pub async fn set_video(&self, source: VideoSource) -> Result<(), Error> {
        self.tx
            .send(Outgoing::Video(source))
            .await
            .map_err(|_| Error::Refused("the connection is closing".into()))
    }

    /// Sends a close reason and ends the writer.
    pub async fn close(&self, reason: &str) {
        let _ = self.tx.send(Outgoing::Close(reason.to_owned())).await;
    }
}

/// Starts the writer task over `write`, sealing with `channel`.
pub fn spawn_writer(
    write: OwnedWriteHalf,
    channel: Channel,
) -> (Outbox, tokio::task::JoinHandle<Result<(), Error>>) {
    let (tx, rx) = mpsc::channel(256);
    let video = Arc::new(Slot::new());
    let writer = Writer {
        write,
        channel,
        rx,
        video: Arc::clone(&video),
        source: None,
        started: Instant::now(),
        buf: Vec::new(),
    };
    (Outbox { tx, video }, tokio::spawn(writer.run()))
}

struct Writer {
    write: OwnedWriteHalf,
    channel: Channel,
    rx: mpsc::Receiver<Outgoing>,
    video: Arc<Slot<Arc<EncodedFrame>>>,
    source: Option<VideoSource>,
    started: Instant,
    buf: Vec<u8>,
}

impl Writer {
    async fn run(mut self) -> Result<(), Error> {
        let result = self.pump().await;
        // Nothing more will be taken: the display service drops this viewer's frames.
        self.video.close();
        let _ = self.write.shutdown().await;
        result
    }

    async fn pump(&mut self) -> Result<(), Error> {
        loop {
            tokio::select! {
                biased;
                outgoing = self.rx.recv() => match outgoing {
                    None => return Ok(()),
                    Some(Outgoing::Message(m)) => self.channel.seal_message(&*m, &mut self.buf)?,
                    Some(Outgoing::Video(source)) => {
                        self.source = Some(source);
                        continue;
                    }
                    Some(Outgoing::Close(reason)) => {
                        let close = Message::from(message::misc::Union::CloseReason(reason));
                        self.channel.seal_message(&close, &mut self.buf)?;
                        self.flush().await?;
                        return Ok(());
                    }
                },
                frame = self.video.take(), if self.source.is_some() => match frame {
                    None => return Ok(()),
                    Some(frame) => self.seal_video(&frame)?,
                },
            }
            self.flush().await?;
        }
    }

    fn seal_video(&mut self, frame: &EncodedFrame) -> Result<(), Error> {
        let Some(source) = &self.source else {
            return Ok(());
        };
        source.display.frame_taken();
        let Some(codec) = frame.codec.map(video_codec) else {
            return Ok(());
        };
        let pts = if source.monotonic_pts {
            i64::try_from(frame.captured_us / 1000).unwrap_or(i64::MAX)
        } else {
            i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX)
        };
        let frames = [EncodedFrameRef {
            data: &frame.data,
            key: frame.keyframe,
            pts,
        }];
        let video = VideoFrameRef {
            codec,
            display: source.index,
            frames: &frames,
        };
        self.channel.seal_message(&video, &mut self.buf)?;
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), Error> {
        self.write
            .write_all(&self.buf)
            .await
            .context("writing to the viewer")?;
        self.buf.clear();
        Ok(())
    }
}

/// The wire codec for an encoder's codec.
pub fn video_codec(codec: deskcast_codec::Codec) -> VideoCodec {
    use deskcast_codec::Codec as C;
    match codec {
        C::Vp8 => VideoCodec::Vp8,
        C::Av1 => VideoCodec::Av1,
        C::H264 => VideoCodec::H264,
        C::H265 => VideoCodec::H265,
        _ => VideoCodec::Vp9,
    }
}
