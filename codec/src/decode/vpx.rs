//! VP8 and VP9 through libvpx's decoder.
//!
//! Frame threading is off, so every packet's picture comes out of the call that decoded it
//! (no output delay); VP9 tiles may still be decoded on several threads.

#![allow(unsafe_code)] // FFI to libvpx; every block carries a `// SAFETY:` note.

mod ffi;

use vpx_sys as sys;

use self::ffi::Iface;
use super::{DecodeError, DecodedFrame, frame_from_planes};
use crate::Codec;

/// A libvpx decoder.
pub(super) struct VpxDecoder {
    codec: Codec,
    /// Boxed so libvpx's pointers into the context stay valid when the decoder moves.
    ctx: Box<sys::vpx_codec_ctx_t>,
}

// SAFETY: the context holds pointers only into memory libvpx allocated for it, libvpx keeps no
// thread-local state for a decoder, and every call takes `&mut self`, so moving the decoder to
// another thread is sound.
unsafe impl Send for VpxDecoder {}

impl std::fmt::Debug for VpxDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VpxDecoder")
            .field("codec", &self.codec)
            .finish_non_exhaustive()
    }
}

impl VpxDecoder {
    /// Opens a decoder for VP8 or VP9.
    pub(super) fn open(codec: Codec, threads: u32) -> Result<Self, DecodeError> {
        let iface = if codec == Codec::Vp8 {
            Iface::Vp8
        } else {
            Iface::Vp9
        };
        let mut ctx = Box::new(ffi::empty_context());
        // SAFETY: `ctx` is zeroed and boxed, so it keeps its address until `Drop` destroys it.
        unsafe { ffi::dec_init(&mut *ctx, iface, threads) }.map_err(|e| DecodeError::Backend {
            codec,
            call: e.call,
            detail: e.detail,
        })?;
        Ok(Self { codec, ctx })
    }

    /// Decodes one packet.
    pub(super) fn decode(
        &mut self,
        packet: &[u8],
    ) -> Result<Option<DecodedFrame<'_>>, DecodeError> {
        let codec = self.codec;
        // SAFETY: the context was initialised in `open` and lives until `Drop`.
        if let Err(e) = unsafe { ffi::decode(&mut *self.ctx, packet) } {
            return Err(if e.out_of_memory {
                DecodeError::Backend {
                    codec,
                    call: e.call,
                    detail: e.detail,
                }
            } else {
                DecodeError::Corrupt {
                    codec,
                    detail: e.detail,
                }
            });
        }
        // SAFETY: initialised; the image borrows `self` mutably through the returned frame, so
        // no decode can run while it is alive.
        let Some(image) = (unsafe { ffi::next_image(&mut *self.ctx) }) else {
            return Ok(None);
        };
        let image = image.map_err(|detail| DecodeError::Unsupported { codec, detail })?;
        frame_from_planes(
            codec,
            (image.width, image.height),
            image.planes,
            image.strides,
        )
        .map(Some)
    }
}

impl Drop for VpxDecoder {
    fn drop(&mut self) {
        // SAFETY: the context was initialised in `open` and is not used after this.
        unsafe { ffi::destroy(&mut *self.ctx) };
    }
}
