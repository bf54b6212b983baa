//! deskcast-codec: raw frames in, encoded packets out.
//!
//! The API is push/pull, in the style of rav1e: [`Encoder::send_frame`] takes a borrowed
//! [`Frame`] (a BGRA view of the capture buffer, read in place), [`Encoder::receive_packet`]
//! hands back a [`Packet`] borrowed from the encoder's own output buffer. Nothing here knows about
//! protobuf, sockets or X11. Backends sit behind cargo features; [`probe`] reports what this
//! machine can encode, as data, with the reason for every "no".

#![deny(unsafe_code)]

#[cfg(any(feature = "vpx", feature = "h264"))]
pub mod convert;
#[cfg(any(feature = "vpx", feature = "h264"))]
pub mod decode;
mod error;
mod frame;
#[cfg(feature = "nvenc")]
pub mod nvenc;
#[cfg(feature = "opus")]
pub mod opus;
#[cfg(any(feature = "vpx", feature = "h264"))]
pub mod software;

pub use error::{Error, Unavailable};
pub use frame::{BufferId, Frame, Rect};

use std::fmt;

/// A video codec a RustDesk client may decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Codec {
    /// VP8 (libvpx bitstream, no container).
    Vp8,
    /// VP9 profile 0 (libvpx bitstream, no container). Every client decodes it.
    Vp9,
    /// AV1 (low-overhead OBU temporal units).
    Av1,
    /// H.264 Annex B access units with SPS/PPS before every IDR.
    H264,
    /// H.265 Annex B access units with VPS/SPS/PPS before every IDR.
    H265,
}

impl Codec {
    /// Every codec, in the order the agent prefers them when the client has no preference.
    pub const ALL: [Self; 5] = [Self::H265, Self::H264, Self::Av1, Self::Vp9, Self::Vp8];

    /// Lower-case name as used in logs, config and reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Vp8 => "vp8",
            Self::Vp9 => "vp9",
            Self::Av1 => "av1",
            Self::H264 => "h264",
            Self::H265 => "h265",
        }
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where the encoding happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Backend {
    /// CPU encoders (libvpx, H.264 in software).
    Software,
    /// NVIDIA NVENC through CUDA.
    Nvenc,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Software => "software",
            Self::Nvenc => "nvenc",
        })
    }
}

/// How an encoder is set up. Changing the size means a new encoder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncoderConfig {
    /// The codec to produce.
    pub codec: Codec,
    /// Frame width in pixels (the encoder may require it to be even).
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// Expected frame rate; drives rate control, not pacing.
    pub fps: u32,
    /// Target bitrate in kbit/s (constant bitrate).
    pub bitrate_kbps: u32,
    /// Encoder threads; 0 lets the backend choose from the machine.
    pub threads: u32,
}

/// One encoded frame, borrowed from the encoder until the next call on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    /// The bitstream: one VP8/VP9 frame, one AV1 temporal unit or one Annex B access unit.
    pub data: &'a [u8],
    /// True when a decoder can start here.
    pub keyframe: bool,
    /// The presentation time of the frame that produced it, as passed in [`Frame::pts_ms`].
    pub pts_ms: i64,
    /// The codec of `data`.
    pub codec: Codec,
}

/// A video encoder: push frames in, pull packets out.
///
/// Call order: [`send_frame`](Self::send_frame), then [`receive_packet`](Self::receive_packet)
/// until it returns `Ok(None)`. Encoders here have no lookahead, so every frame yields its packet
/// before the next frame is sent.
pub trait Encoder: Send {
    /// What this encoder produces.
    fn codec(&self) -> Codec;
    /// Which backend runs it.
    fn backend(&self) -> Backend;
    /// Encodes one frame. Its size must match the configuration.
    fn send_frame(&mut self, frame: &Frame<'_>) -> Result<(), Error>;
    /// The next packet, or `None` when the encoder has nothing more for the frames sent so far.
    fn receive_packet(&mut self) -> Result<Option<Packet<'_>>, Error>;
    /// Makes the next encoded frame a keyframe.
    fn request_keyframe(&mut self);
    /// Changes the target bitrate for the frames that follow.
    fn set_bitrate(&mut self, kbps: u32) -> Result<(), Error>;
    /// Changes the expected frame rate for the frames that follow.
    fn set_fps(&mut self, fps: u32) -> Result<(), Error>;
    /// Forgets every buffer registered through [`Frame::buffer`]. The caller must call this (or
    /// drop the encoder) before it unmaps or reuses memory it announced with a [`BufferId`].
    fn release_buffers(&mut self) {}
}

/// Whether one (backend, codec) pair can encode on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capability {
    /// The backend.
    pub backend: Backend,
    /// The codec.
    pub codec: Codec,
    /// `Ok` when it can encode, else why not.
    pub status: Result<(), Unavailable>,
}

/// What this machine can encode, per backend and codec.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Capabilities {
    /// One entry per (backend, codec) pair this build knows about.
    pub entries: Vec<Capability>,
}

impl Capabilities {
    /// True when `backend` can encode `codec`.
    pub fn can(&self, backend: Backend, codec: Codec) -> bool {
        self.entries
            .iter()
            .any(|c| c.backend == backend && c.codec == codec && c.status.is_ok())
    }
}

/// Finds out what this machine can encode. Loads driver libraries where they exist; never
/// panics when they do not.
pub fn probe() -> Capabilities {
    let mut entries = Vec::new();
    #[cfg(any(feature = "vpx", feature = "h264"))]
    entries.extend(software::probe());
    #[cfg(feature = "nvenc")]
    entries.extend(nvenc::probe());
    Capabilities { entries }
}

/// Opens an encoder on `backend` for `config`.
pub fn open(backend: Backend, config: &EncoderConfig) -> Result<Box<dyn Encoder>, Error> {
    match backend {
        #[cfg(any(feature = "vpx", feature = "h264"))]
        Backend::Software => software::open(config),
        #[cfg(feature = "nvenc")]
        Backend::Nvenc => nvenc::open(config),
        #[allow(unreachable_patterns)] // Reachable only when a backend's feature is off.
        other => Err(Error::Unavailable {
            backend: other,
            reason: Unavailable::NotBuilt(match other {
                Backend::Software => "vpx/h264",
                Backend::Nvenc => "nvenc",
            }),
        }),
    }
}
