//! The length-prefix framing of every RustDesk TCP stream (spec §1.1).
//!
//! A frame is a 1–4 byte little-endian header followed by the payload. The two lowest bits
//! of the header hold `header length − 1`; the remaining bits hold the payload length.
//! Encoding writes into a caller's `Vec`; decoding is incremental ([`FrameDecoder`]) and
//! accepts the stream split anywhere.
//!
//! Sealing (spec §1.2) is not done here but by [`crate::crypto::Cipher`], which frames its
//! output with [`write_header`].

use crate::error::{ApiMisuse, Error, PeerMisbehaved};

/// The largest payload a 4-byte header can announce (1 GiB − 1).
pub const MAX_ENCODABLE_LEN: usize = 0x3FFF_FFFF;

/// The default maximum payload a [`FrameDecoder`] accepts: 64 MiB.
pub const DEFAULT_MAX_FRAME_LEN: usize = 64 << 20;

/// How much buffer a decoder reserves ahead of bytes that have not arrived yet.
const SPECULATIVE_RESERVE: usize = 256 << 10;

/// The header length for a payload of `payload_len` bytes.
///
/// # Errors
/// [`ApiMisuse::FrameTooLarge`] above [`MAX_ENCODABLE_LEN`].
pub fn header_len(payload_len: usize) -> Result<usize, Error> {
    match payload_len {
        0..=0x3F => Ok(1),
        0x40..=0x3FFF => Ok(2),
        0x4000..=0x3F_FFFF => Ok(3),
        0x40_0000..=MAX_ENCODABLE_LEN => Ok(4),
        len => Err(ApiMisuse::FrameTooLarge { len }.into()),
    }
}

/// Appends the header for a payload of `payload_len` bytes to `out`.
///
/// # Errors
/// [`ApiMisuse::FrameTooLarge`] above [`MAX_ENCODABLE_LEN`]; `out` is then unchanged.
pub fn write_header(payload_len: usize, out: &mut Vec<u8>) -> Result<(), Error> {
    let len = header_len(payload_len)?;
    // The length fits in 30 bits, so the shifted value fits in a u32.
    let value = ((payload_len as u32) << 2) | (len as u32 - 1);
    out.extend_from_slice(&value.to_le_bytes()[..len]);
    Ok(())
}

/// Appends `payload` as one frame (header, then payload) to `out`.
///
/// # Errors
/// [`ApiMisuse::FrameTooLarge`] above [`MAX_ENCODABLE_LEN`]; `out` is then unchanged.
pub fn encode_frame(payload: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
    write_header(payload.len(), out)?;
    out.extend_from_slice(payload);
    Ok(())
}

/// Something that can be written as a frame's payload straight into the output buffer.
///
/// Every prost message is one; [`crate::message::video::VideoFrameRef`] is another, which
/// encodes a video frame from borrowed bitstream bytes.
pub trait Payload {
    /// The exact number of bytes [`write_payload`](Self::write_payload) appends.
    fn payload_len(&self) -> usize;
    /// Appends the encoded payload to `out`.
    fn write_payload(&self, out: &mut Vec<u8>);
}

impl<M: prost::Message> Payload for M {
    fn payload_len(&self) -> usize {
        self.encoded_len()
    }

    fn write_payload(&self, out: &mut Vec<u8>) {
        self.encode_raw(out);
    }
}

/// Appends `message` as one unsealed frame to `out`.
///
/// # Errors
/// [`ApiMisuse::FrameTooLarge`] above [`MAX_ENCODABLE_LEN`]; `out` is then unchanged.
pub fn encode_message(message: &(impl Payload + ?Sized), out: &mut Vec<u8>) -> Result<(), Error> {
    write_header(message.payload_len(), out)?;
    message.write_payload(out);
    Ok(())
}

/// Parses a header at the start of `bytes`: `Some((header_len, payload_len))`, or `None`
/// while the header is incomplete.
fn parse_header(bytes: &[u8]) -> Option<(usize, u64)> {
    let first = *bytes.first()?;
    let len = usize::from(first & 3) + 1;
    let header = bytes.get(..len)?;
    let mut value = [0u8; 4];
    value[..len].copy_from_slice(header);
    Some((len, u64::from(u32::from_le_bytes(value) >> 2)))
}

/// An incremental frame decoder: feed it bytes as they arrive, pull whole frames out.
///
/// Call order: [`feed`](Self::feed) whatever the socket produced, then call
/// [`next_frame`](Self::next_frame) until it returns `Ok(None)`; at end of stream call
/// [`finish`](Self::finish) to learn whether a frame was cut off. Frames are handed out as
/// mutable slices of the decoder's buffer so that they can be opened in place.
///
/// Memory: the buffer holds at most the unconsumed bytes fed so far; a header announcing a
/// huge frame reserves no more than 256 KiB ahead of arriving bytes, and a frame above the
/// maximum is an error as soon as its header is complete. After an error the decoder stays
/// failed: a byte stream cannot be resynchronised.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    start: usize,
    max_frame_len: usize,
    failed: Option<u64>,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    /// A decoder accepting frames up to [`DEFAULT_MAX_FRAME_LEN`].
    #[must_use]
    pub fn new() -> Self {
        Self::with_max_frame_len(DEFAULT_MAX_FRAME_LEN)
    }

    /// A decoder accepting payloads up to `max_frame_len` bytes.
    #[must_use]
    pub fn with_max_frame_len(max_frame_len: usize) -> Self {
        Self {
            buf: Vec::new(),
            start: 0,
            max_frame_len,
            failed: None,
        }
    }

    /// The largest payload this decoder accepts.
    #[must_use]
    pub fn max_frame_len(&self) -> usize {
        self.max_frame_len
    }

    /// Appends bytes that arrived from the stream.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.start > 0 {
            // Drop the frames already handed out; only a partial frame remains to move.
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes fed but not yet returned as frames.
    #[must_use]
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next complete frame's payload, or `None` until more bytes arrive.
    ///
    /// # Errors
    /// [`PeerMisbehaved::FrameTooLarge`] when a header announces more than the maximum; the
    /// decoder then keeps returning that error.
    pub fn next_frame(&mut self) -> Result<Option<&mut [u8]>, Error> {
        if let Some(len) = self.failed {
            return Err(self.too_large(len));
        }
        let pending = &self.buf[self.start..];
        let Some((header, len)) = parse_header(pending) else {
            return Ok(None);
        };
        if len > self.max_frame_len as u64 {
            self.failed = Some(len);
            return Err(self.too_large(len));
        }
        // `len` is at most `max_frame_len`, a usize.
        let len = len as usize;
        let available = pending.len() - header;
        if available < len {
            let missing = len - available;
            self.buf.reserve(missing.min(SPECULATIVE_RESERVE));
            return Ok(None);
        }
        let from = self.start + header;
        self.start = from + len;
        Ok(Some(&mut self.buf[from..from + len]))
    }

    /// Checks the end of the stream.
    ///
    /// # Errors
    /// [`PeerMisbehaved::TruncatedFrame`] when bytes of an unfinished frame are buffered.
    pub fn finish(&self) -> Result<(), Error> {
        match self.buffered() {
            0 => Ok(()),
            buffered => Err(PeerMisbehaved::TruncatedFrame { buffered }.into()),
        }
    }

    fn too_large(&self, len: u64) -> Error {
        PeerMisbehaved::FrameTooLarge {
            len,
            max: self.max_frame_len,
        }
        .into()
    }
}

#[cfg(test)]
mod tests;
