//! Opus audio for RustDesk's `AudioFrame`: 48 kHz, stereo, 10 ms frames, low-delay mode.
//!
//! [`OpusEncoder`] takes one 10 ms frame of interleaved samples (f32 or i16) and writes one Opus
//! packet into a buffer the caller owns, so the audio loop allocates nothing. [`OpusDecoder`] is
//! the matching decoder, for tests and for probe clients. Both wrap libopus through the `opus`
//! crate (Debian's libopus, found with pkg-config).

use ::opus as lib;

/// Sample rate in Hz; RustDesk clients build their decoder from this (`AudioFormat`).
pub const SAMPLE_RATE: u32 = 48_000;
/// Channels, interleaved left/right.
pub const CHANNELS: usize = 2;
/// Samples per channel in one 10 ms frame.
pub const FRAME_SAMPLES: usize = 480;
/// Interleaved samples in one frame: what [`OpusEncoder::encode_f32`] takes.
pub const FRAME_LEN: usize = FRAME_SAMPLES * CHANNELS;
/// A packet buffer this large always suffices (libopus's own recommendation).
pub const MAX_PACKET: usize = 4000;

/// How the encoder is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpusConfig {
    /// Target bitrate in bit/s (6,000 to 510,000).
    pub bitrate_bps: u32,
    /// Discontinuous transmission: during silence, emit tiny packets (1–2 bytes) that the
    /// caller may skip sending.
    pub dtx: bool,
}

impl Default for OpusConfig {
    /// 96 kbit/s stereo (transparent for desktop audio in CELT mode), DTX off.
    fn default() -> Self {
        Self {
            bitrate_bps: 96_000,
            dtx: false,
        }
    }
}

/// What went wrong with Opus.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpusError {
    /// The caller passed something the codec cannot take (a caller bug).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The packet given to the decoder is not valid Opus (the peer's fault).
    #[error("invalid Opus packet: {0}")]
    InvalidPacket(String),
    /// libopus failed.
    #[error("libopus: {0}")]
    Library(String),
}

impl From<lib::Error> for OpusError {
    fn from(e: lib::Error) -> Self {
        match e.code() {
            lib::ErrorCode::InvalidPacket => Self::InvalidPacket(e.to_string()),
            lib::ErrorCode::BadArg | lib::ErrorCode::BufferTooSmall => {
                Self::InvalidInput(e.to_string())
            }
            _ => Self::Library(e.to_string()),
        }
    }
}

/// An Opus encoder: 48 kHz, stereo, restricted low-delay (CELT) mode, 10 ms frames.
#[derive(Debug)]
pub struct OpusEncoder {
    inner: lib::Encoder,
}

impl OpusEncoder {
    /// Creates an encoder with `config`.
    pub fn new(config: &OpusConfig) -> Result<Self, OpusError> {
        let inner = lib::Encoder::new(
            SAMPLE_RATE,
            lib::Channels::Stereo,
            lib::Application::LowDelay,
        )?;
        let mut encoder = Self { inner };
        encoder.set_bitrate(config.bitrate_bps)?;
        encoder.inner.set_dtx(config.dtx)?;
        Ok(encoder)
    }

    /// Changes the target bitrate (bit/s) for the frames that follow.
    pub fn set_bitrate(&mut self, bps: u32) -> Result<(), OpusError> {
        if !(6_000..=510_000).contains(&bps) {
            return Err(OpusError::InvalidInput(format!(
                "{bps} bit/s is outside 6000..=510000"
            )));
        }
        self.inner.set_bitrate(lib::Bitrate::Bits(bps as i32))?;
        Ok(())
    }

    /// Encodes one 10 ms frame of interleaved f32 samples (±1.0 full scale) into `out`,
    /// returning the packet's length. [`MAX_PACKET`] bytes of `out` always suffice.
    pub fn encode_f32(&mut self, pcm: &[f32], out: &mut [u8]) -> Result<usize, OpusError> {
        check_frame(pcm.len())?;
        Ok(self.inner.encode_float(pcm, out)?)
    }

    /// Encodes one 10 ms frame of interleaved i16 samples into `out`, like
    /// [`encode_f32`](Self::encode_f32).
    pub fn encode_i16(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, OpusError> {
        check_frame(pcm.len())?;
        Ok(self.inner.encode(pcm, out)?)
    }
}

fn check_frame(len: usize) -> Result<(), OpusError> {
    if len == FRAME_LEN {
        Ok(())
    } else {
        Err(OpusError::InvalidInput(format!(
            "a 10 ms stereo frame has {FRAME_LEN} interleaved samples, not {len}"
        )))
    }
}

/// An Opus decoder producing 48 kHz interleaved stereo.
#[derive(Debug)]
pub struct OpusDecoder {
    inner: lib::Decoder,
}

impl OpusDecoder {
    /// Creates a decoder.
    pub fn new() -> Result<Self, OpusError> {
        Ok(Self {
            inner: lib::Decoder::new(SAMPLE_RATE, lib::Channels::Stereo)?,
        })
    }

    /// Decodes one packet into `out` (interleaved f32), returning the samples per channel.
    /// `out` needs room for the packet's duration: [`FRAME_LEN`] for the packets
    /// [`OpusEncoder`] makes, up to 120 ms (11,520 samples) for arbitrary ones.
    pub fn decode_f32(&mut self, packet: &[u8], out: &mut [f32]) -> Result<usize, OpusError> {
        if packet.is_empty() {
            return Err(OpusError::InvalidPacket("empty packet".into()));
        }
        Ok(self.inner.decode_float(packet, out, false)?)
    }
}

#[cfg(test)]
mod tests;
