//! Software encoders: VP9 and VP8 through libvpx, H.264 through OpenH264.
//!
//! Every encoder here converts the borrowed BGRA frame with [`crate::convert::I420`] into planes
//! it owns, encodes them with real-time settings (no lookahead, no frame dropping, keyframes only
//! on the first frame and on request, constant bitrate) and hands out exactly one packet per
//! frame. The C libraries are reached in three layers: the generated bindings of the sys crates,
//! `unsafe fn` wrappers in `*/ffi.rs` that turn status codes into `Result`, and the safe RAII
//! encoder types that implement [`Encoder`].

#![allow(unsafe_code)] // FFI to libvpx and OpenH264; every block carries a `// SAFETY:` note.

#[cfg(feature = "h264")]
mod h264;
#[cfg(feature = "vpx")]
mod vpx;

use crate::{Backend, Capability, Codec, Encoder, EncoderConfig, Error, Unavailable};

/// The bitrate, in kbit/s, that the software encoders are tuned and tested for at a size and
/// frame rate. It grows with the pixel count to the power 0.75 (small screens need more bits per
/// pixel for legible text than large ones) and linearly with the frame rate. At 30 fps:
/// 640×360 ≈ 780, 1280×720 ≈ 2,200, 1920×1080 ≈ 4,050, 3840×2160 ≈ 11,400 kbit/s — about twice
/// RustDesk's "balanced" table, which screen text needs to stay sharp in real-time modes.
pub fn default_bitrate_kbps(width: u32, height: u32, fps: u32) -> u32 {
    let pixels = f64::from(width) * f64::from(height);
    let kbps = 0.0739 * pixels.powf(0.75) * f64::from(fps.clamp(1, 240)) / 30.0;
    kbps.clamp(300.0, 100_000.0) as u32
}

/// What the software backend can encode in this build, as data.
pub(crate) fn probe() -> Vec<Capability> {
    [Codec::Vp9, Codec::Vp8, Codec::H264, Codec::Av1, Codec::H265]
        .into_iter()
        .map(|codec| Capability {
            backend: Backend::Software,
            codec,
            status: availability(codec),
        })
        .collect()
}

/// Why `codec` cannot be encoded in software here, or `Ok`.
fn availability(codec: Codec) -> Result<(), Unavailable> {
    match codec {
        #[cfg(feature = "vpx")]
        Codec::Vp8 | Codec::Vp9 => vpx::probe(codec),
        #[cfg(not(feature = "vpx"))]
        Codec::Vp8 | Codec::Vp9 => Err(Unavailable::NotBuilt("vpx")),
        #[cfg(feature = "h264")]
        Codec::H264 => h264::probe(),
        #[cfg(not(feature = "h264"))]
        Codec::H264 => Err(Unavailable::NotBuilt("h264")),
        Codec::Av1 => Err(Unavailable::Codec {
            codec,
            detail: "no software AV1 encoder is built in (too slow for real time on a CPU)".into(),
        }),
        Codec::H265 => Err(Unavailable::Codec {
            codec,
            detail: "no permissively licensed software H.265 encoder is built in".into(),
        }),
    }
}

/// Opens a software encoder for `config`.
pub(crate) fn open(config: &EncoderConfig) -> Result<Box<dyn Encoder>, Error> {
    check_config(config)?;
    availability(config.codec).map_err(|reason| Error::Unavailable {
        backend: Backend::Software,
        reason,
    })?;
    match config.codec {
        #[cfg(feature = "vpx")]
        Codec::Vp8 | Codec::Vp9 => Ok(Box::new(vpx::VpxEncoder::open(config)?)),
        #[cfg(feature = "h264")]
        Codec::H264 => Ok(Box::new(h264::H264Encoder::open(config)?)),
        other => Err(Error::Unavailable {
            backend: Backend::Software,
            reason: Unavailable::Codec {
                codec: other,
                detail: "no software encoder".into(),
            },
        }),
    }
}

/// Rejects configurations no software encoder can take.
fn check_config(config: &EncoderConfig) -> Result<(), Error> {
    let bad = |what: String| Err(Error::InvalidInput(what));
    if config.width == 0 || config.height == 0 || config.width > 16_384 || config.height > 16_384 {
        return bad(format!(
            "frame size {}x{} is outside 1..=16384",
            config.width, config.height
        ));
    }
    check_fps(config.fps)?;
    check_bitrate(config.bitrate_kbps)?;
    Ok(())
}

/// Frame rates the encoders accept.
fn check_fps(fps: u32) -> Result<(), Error> {
    if (1..=240).contains(&fps) {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!("{fps} fps is outside 1..=240")))
    }
}

/// Bitrates the encoders accept (kbit/s).
fn check_bitrate(kbps: u32) -> Result<(), Error> {
    if (50..=500_000).contains(&kbps) {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "{kbps} kbit/s is outside 50..=500000"
        )))
    }
}

/// Encoder threads for `requested` (0 = pick from the machine, at most 8).
fn threads(requested: u32) -> u32 {
    if requested > 0 {
        return requested.min(64);
    }
    std::thread::available_parallelism().map_or(1, |n| n.get().min(8) as u32)
}

/// A C library call that failed, and what the library said about it.
#[derive(Debug)]
struct FfiError {
    call: &'static str,
    detail: String,
}

impl From<FfiError> for Error {
    fn from(e: FfiError) -> Self {
        Self::Backend {
            backend: Backend::Software,
            detail: format!("{}: {}", e.call, e.detail),
        }
    }
}

#[cfg(test)]
mod tests;
