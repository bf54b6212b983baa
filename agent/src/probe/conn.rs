//! The probe's peer stream: RustDesk framing over TCP, sealed once the handshake has set a
//! key. Reads are cancel-safe (all state lives in [`Conn`]), so `recv` can sit in a
//! `tokio::select!`.

use std::time::Duration;

use deskcast_protocol::crypto::Channel;
use deskcast_protocol::framing::{FrameDecoder, Payload};
use deskcast_protocol::message::{self, Message};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::Error;

/// The largest frame the probe accepts (a 4K keyframe is a few MB).
const MAX_FRAME: usize = 64 << 20;
/// Read buffer size.
const READ_CHUNK: usize = 256 << 10;

/// A framed (and, after the handshake, sealed) TCP stream.
#[derive(Debug)]
pub(super) struct Conn {
    stream: TcpStream,
    decoder: FrameDecoder,
    channel: Channel,
    read_buf: Vec<u8>,
    write_buf: Vec<u8>,
    /// Bytes received so far, headers included.
    pub(super) bytes_in: u64,
}

impl Conn {
    /// Wraps a connected stream; frames travel unsealed until [`set_channel`](Self::set_channel).
    pub(super) fn new(stream: TcpStream) -> Self {
        let _ = stream.set_nodelay(true);
        Self {
            stream,
            decoder: FrameDecoder::with_max_frame_len(MAX_FRAME),
            channel: Channel::plain(),
            read_buf: vec![0u8; READ_CHUNK],
            write_buf: Vec::new(),
            bytes_in: 0,
        }
    }

    /// Seals and opens every later frame with `channel`.
    pub(super) fn set_channel(&mut self, channel: Channel) {
        self.channel = channel;
    }

    /// The next frame's payload, unopened (for the handshake).
    pub(super) async fn recv_raw(&mut self) -> Result<Vec<u8>, Error> {
        loop {
            if let Some(payload) = self.decoder.next_frame()? {
                return Ok(payload.to_vec());
            }
            self.fill().await?;
        }
    }

    /// The next message, opened and decoded.
    pub(super) async fn recv(&mut self) -> Result<Message, Error> {
        loop {
            if let Some(payload) = self.decoder.next_frame()? {
                let plain = self.channel.open(payload)?;
                return Ok(message::decode_message(plain)?);
            }
            self.fill().await?;
        }
    }

    /// [`recv`](Self::recv) with a deadline; `what` names the awaited message in the error.
    pub(super) async fn recv_within(
        &mut self,
        limit: Duration,
        what: &'static str,
    ) -> Result<Message, Error> {
        tokio::time::timeout(limit, self.recv())
            .await
            .map_err(|_| Error::Timeout(what))?
    }

    /// Seals and sends one message.
    pub(super) async fn send(&mut self, message: &(impl Payload + ?Sized)) -> Result<(), Error> {
        self.write_buf.clear();
        self.channel.seal_message(message, &mut self.write_buf)?;
        self.stream
            .write_all(&self.write_buf)
            .await
            .map_err(|source| Error::Io {
                what: "sending",
                source,
            })
    }

    /// Sends bytes that are already framed (handshake frames).
    pub(super) async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.stream
            .write_all(bytes)
            .await
            .map_err(|source| Error::Io {
                what: "sending",
                source,
            })
    }

    /// Closes the sending direction (the peer reads end of stream after what was sent).
    pub(super) async fn shutdown(&mut self) {
        let _ = self.stream.shutdown().await;
    }

    /// Reads more bytes into the frame decoder.
    async fn fill(&mut self) -> Result<(), Error> {
        let len = self
            .stream
            .read(&mut self.read_buf)
            .await
            .map_err(|source| Error::Io {
                what: "receiving",
                source,
            })?;
        if len == 0 {
            self.decoder.finish()?;
            return Err(Error::Closed(None));
        }
        self.bytes_in += len as u64;
        self.decoder.feed(&self.read_buf[..len]);
        Ok(())
    }
}
