//! Video decoders: packets in, I420 pictures out. The other half of the software encoders,
//! for clients and tests (the `deskcast probe` client decodes every frame it receives here).
//!
//! VP8 and VP9 go through libvpx's decoder, H.264 through OpenH264's: the decoders RustDesk
//! clients themselves build on (libvpx) or a second, independent implementation of the
//! standard (OpenH264; clients use FFmpeg). Both are checked against FFmpeg's decoders in
//! `codec/tests/decode.rs`: the pictures agree byte for byte.
//!
//! Call order: [`Decoder::new`] for one codec, then [`Decoder::decode`] with each packet in
//! stream order; the first packet must be a keyframe (libvpx and OpenH264 refuse anything
//! else). A picture borrows the decoder until the next call; [`DecodedFrame::to_picture`]
//! copies it out. After an error, feed a keyframe next: the reference pictures are gone.
//!
//! The C libraries are reached in the usual three layers: the sys crates' bindings,
//! `unsafe fn` wrappers in `*/ffi.rs`, and the safe RAII decoders in `vpx.rs` and `h264.rs`.

#[cfg(feature = "h264")]
mod h264;
#[cfg(feature = "vpx")]
mod vpx;

use yuvutils_rs::{YuvPlanarImage, YuvRange, YuvStandardMatrix, yuv420_to_bgra};

use crate::{Codec, Unavailable};

/// Why a packet could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// No decoder for this codec in this build or on this machine.
    #[error("no {codec} decoder: {reason}")]
    Unavailable {
        /// The codec asked for.
        codec: Codec,
        /// Why not.
        #[source]
        reason: Unavailable,
    },
    /// The packet is not a valid continuation of the stream: a broken bitstream, or an inter
    /// frame without the keyframe it refers to. The sender is at fault.
    #[error("{codec} packet rejected: {detail}")]
    Corrupt {
        /// The stream's codec.
        codec: Codec,
        /// What the decoder said.
        detail: String,
    },
    /// A valid stream in a form this module does not hand out (4:4:4, high bit depth).
    #[error("{codec} stream not supported: {detail}")]
    Unsupported {
        /// The stream's codec.
        codec: Codec,
        /// What is in the stream.
        detail: String,
    },
    /// The library failed for a reason other than the input (setting up, memory).
    #[error("{codec} decoder failed in {call}: {detail}")]
    Backend {
        /// The codec.
        codec: Codec,
        /// The C function that failed.
        call: &'static str,
        /// What the library said.
        detail: String,
    },
}

/// A decoder for one codec.
#[derive(Debug)]
pub struct Decoder {
    codec: Codec,
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    #[cfg(feature = "vpx")]
    Vpx(vpx::VpxDecoder),
    #[cfg(feature = "h264")]
    H264(h264::H264Decoder),
}

impl Decoder {
    /// A decoder for `codec` that uses up to four threads (libvpx; OpenH264 decodes on one).
    ///
    /// # Errors
    /// [`DecodeError::Unavailable`] for AV1, H.265 and codecs whose cargo feature is off;
    /// [`DecodeError::Backend`] when the library cannot set up a decoder.
    pub fn new(codec: Codec) -> Result<Self, DecodeError> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4) as u32);
        Self::with_threads(codec, threads)
    }

    /// A decoder for `codec` with at most `threads` threads (at least one).
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn with_threads(codec: Codec, threads: u32) -> Result<Self, DecodeError> {
        let threads = threads.max(1);
        let inner = match codec {
            #[cfg(feature = "vpx")]
            Codec::Vp8 | Codec::Vp9 => Inner::Vpx(vpx::VpxDecoder::open(codec, threads)?),
            #[cfg(feature = "h264")]
            Codec::H264 => Inner::H264(h264::H264Decoder::open()?),
            other => return Err(unavailable(other)),
        };
        tracing::debug!(%codec, threads, "decoder open");
        Ok(Self { codec, inner })
    }

    /// The codec this decoder reads.
    #[must_use]
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// Decodes one packet (a VP8/VP9 frame or an H.264 access unit). `Ok(None)` means the
    /// packet was valid but produced no picture to show (a VP9 frame that is only a
    /// reference, H.264 parameter sets on their own).
    ///
    /// # Errors
    /// [`DecodeError::Corrupt`] for an empty or broken packet, or one that needs a reference
    /// the decoder never saw; [`DecodeError::Unsupported`] for a picture that is not 8-bit
    /// 4:2:0.
    pub fn decode(&mut self, packet: &[u8]) -> Result<Option<DecodedFrame<'_>>, DecodeError> {
        if packet.is_empty() {
            return Err(DecodeError::Corrupt {
                codec: self.codec,
                detail: "empty packet".into(),
            });
        }
        match &mut self.inner {
            #[cfg(feature = "vpx")]
            Inner::Vpx(decoder) => decoder.decode(packet),
            #[cfg(feature = "h264")]
            Inner::H264(decoder) => decoder.decode(packet),
        }
    }
}

fn unavailable(codec: Codec) -> DecodeError {
    let reason = match codec {
        Codec::Vp8 | Codec::Vp9 => Unavailable::NotBuilt("vpx"),
        Codec::H264 => Unavailable::NotBuilt("h264"),
        Codec::Av1 | Codec::H265 => Unavailable::Codec {
            codec,
            detail: "no decoder for this codec is built in".into(),
        },
    };
    DecodeError::Unavailable { codec, reason }
}

/// A decoded 8-bit I420 picture, borrowed from the decoder until its next call.
///
/// The colours are BT.601, limited range, as every deskcast encoder signals.
#[derive(Debug, Clone, Copy)]
pub struct DecodedFrame<'a> {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The Y plane: `height` rows, `y_stride` bytes apart, `width` bytes used.
    pub y: &'a [u8],
    /// The U plane: `ceil(height / 2)` rows, `uv_stride` apart, `ceil(width / 2)` used.
    pub u: &'a [u8],
    /// The V plane, laid out as `u`.
    pub v: &'a [u8],
    /// Bytes from one Y row to the next.
    pub y_stride: usize,
    /// Bytes from one U (or V) row to the next.
    pub uv_stride: usize,
}

impl DecodedFrame<'_> {
    /// Copies the planes into an owned picture without row padding.
    #[must_use]
    pub fn to_picture(&self) -> Picture {
        let (w, h) = (self.width as usize, self.height as usize);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let mut data = Vec::with_capacity(w * h + 2 * cw * ch);
        for row in self.y.chunks(self.y_stride).take(h) {
            data.extend_from_slice(&row[..w]);
        }
        for plane in [self.u, self.v] {
            for row in plane.chunks(self.uv_stride).take(ch) {
                data.extend_from_slice(&row[..cw]);
            }
        }
        Picture {
            width: self.width,
            height: self.height,
            data,
        }
    }

    /// Converts to BGRA (B, G, R, 255 per pixel, rows `width * 4` bytes apart), replacing the
    /// contents of `out`. BT.601 limited range, the inverse of the encoders' conversion.
    pub fn write_bgra(&self, out: &mut Vec<u8>) {
        let row = self.width as usize * 4;
        out.clear();
        out.resize(row * self.height as usize, 0);
        let image = YuvPlanarImage {
            y_plane: self.y,
            y_stride: self.y_stride as u32,
            u_plane: self.u,
            u_stride: self.uv_stride as u32,
            v_plane: self.v,
            v_stride: self.uv_stride as u32,
            width: self.width,
            height: self.height,
        };
        // The planes were checked to cover the picture when the frame was made, so the only
        // errors yuvutils reports (plane sizes) cannot happen; a failure would leave black.
        if let Err(error) = yuv420_to_bgra(
            &image,
            out,
            row as u32,
            YuvRange::Limited,
            YuvStandardMatrix::Bt601,
        ) {
            tracing::error!(%error, "I420 to BGRA conversion failed");
        }
    }

    /// The picture as BGRA; see [`write_bgra`](Self::write_bgra).
    #[must_use]
    pub fn to_bgra(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_bgra(&mut out);
        out
    }
}

/// Builds a frame over planes that a C library owns, checking that they cover the picture.
fn frame_from_planes<'a>(
    codec: Codec,
    (width, height): (u32, u32),
    [y, u, v]: [&'a [u8]; 3],
    (y_stride, uv_stride): (usize, usize),
) -> Result<DecodedFrame<'a>, DecodeError> {
    let (w, h) = (width as usize, height as usize);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let covers = |plane: &[u8], stride: usize, pw: usize, ph: usize| {
        pw > 0 && ph > 0 && stride >= pw && plane.len() >= stride * (ph - 1) + pw
    };
    if !covers(y, y_stride, w, h) || !covers(u, uv_stride, cw, ch) || !covers(v, uv_stride, cw, ch)
    {
        return Err(DecodeError::Backend {
            codec,
            call: "picture planes",
            detail: format!("planes do not cover a {width}x{height} picture"),
        });
    }
    Ok(DecodedFrame {
        width,
        height,
        y,
        u,
        v,
        y_stride,
        uv_stride,
    })
}

/// An owned I420 picture: the Y, U and V planes back to back without row padding (the layout
/// of FFmpeg's `yuv420p` raw video).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picture {
    width: u32,
    height: u32,
    data: Vec<u8>,
}

impl Picture {
    /// Width in pixels.
    #[must_use]
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    #[must_use]
    pub fn height(&self) -> u32 {
        self.height
    }

    /// All three planes, back to back.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.data
    }

    /// The Y plane (`width` bytes per row).
    #[must_use]
    pub fn y(&self) -> &[u8] {
        &self.data[..self.luma_len()]
    }

    /// The U plane (`ceil(width / 2)` bytes per row).
    #[must_use]
    pub fn u(&self) -> &[u8] {
        let at = self.luma_len();
        &self.data[at..at + self.chroma_len()]
    }

    /// The V plane.
    #[must_use]
    pub fn v(&self) -> &[u8] {
        let at = self.luma_len() + self.chroma_len();
        &self.data[at..at + self.chroma_len()]
    }

    /// A borrowed view, for [`DecodedFrame::write_bgra`] and friends.
    #[must_use]
    pub fn view(&self) -> DecodedFrame<'_> {
        DecodedFrame {
            width: self.width,
            height: self.height,
            y: self.y(),
            u: self.u(),
            v: self.v(),
            y_stride: self.width as usize,
            uv_stride: self.width.div_ceil(2) as usize,
        }
    }

    /// The picture as BGRA; see [`DecodedFrame::write_bgra`].
    #[must_use]
    pub fn to_bgra(&self) -> Vec<u8> {
        self.view().to_bgra()
    }

    fn luma_len(&self) -> usize {
        self.width as usize * self.height as usize
    }

    fn chroma_len(&self) -> usize {
        self.width.div_ceil(2) as usize * self.height.div_ceil(2) as usize
    }
}

#[cfg(test)]
mod tests;
