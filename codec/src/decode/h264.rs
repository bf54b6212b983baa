//! H.264 through OpenH264's decoder (built from the source bundled with `openh264-sys2`, the
//! same build as the encoder).
//!
//! Access units are decoded with no output delay and with error concealment off: a unit that
//! refers to pictures the decoder never saw is an error, not a grey guess.

#![allow(unsafe_code)] // FFI to OpenH264; every block carries a `// SAFETY:` note.

mod ffi;

use std::ffi::c_int;

use openh264_sys2 as sys;

use self::ffi::{Decoded, RawDecoder};
use super::{DecodeError, DecodedFrame, frame_from_planes};
use crate::Codec;

/// An OpenH264 decoder.
#[derive(Debug)]
pub(super) struct H264Decoder {
    dec: RawDecoder,
    initialised: bool,
}

// SAFETY: the OpenH264 instance is only reached through `&mut self` and keeps no thread-affine
// state; the pictures it hands out borrow `self`.
unsafe impl Send for H264Decoder {}

impl H264Decoder {
    /// Opens a decoder for an AVC byte stream.
    pub(super) fn open() -> Result<Self, DecodeError> {
        let backend = |e: ffi::FfiError| DecodeError::Backend {
            codec: Codec::H264,
            call: e.call,
            detail: e.detail,
        };
        let mut decoder = Self {
            dec: ffi::create().map_err(backend)?,
            initialised: false,
        };
        // OpenH264 logs to stderr; its status codes say everything we report.
        // SAFETY: created; TRACE_LEVEL reads an int and may be set before initialisation.
        unsafe {
            ffi::set_int_option(
                decoder.dec,
                sys::DECODER_OPTION_TRACE_LEVEL,
                sys::WELS_LOG_QUIET as c_int,
            )
        }
        .map_err(backend)?;
        // SAFETY: created and not yet initialised.
        unsafe { ffi::initialize(decoder.dec) }.map_err(backend)?;
        decoder.initialised = true;
        Ok(decoder)
    }

    /// Decodes one access unit.
    pub(super) fn decode(&mut self, unit: &[u8]) -> Result<Option<DecodedFrame<'_>>, DecodeError> {
        let codec = Codec::H264;
        // SAFETY: initialised in `open`; the planes borrow `self` mutably through the returned
        // frame, so no decode can run while they are alive.
        let decoded = unsafe { ffi::decode(self.dec, unit) }.map_err(|e| DecodeError::Backend {
            codec,
            call: e.call,
            detail: e.detail,
        })?;
        match decoded {
            Decoded::Picture {
                width,
                height,
                planes,
                strides,
            } => frame_from_planes(codec, (width, height), planes, strides).map(Some),
            Decoded::Nothing => Ok(None),
            Decoded::OtherFormat(format) => Err(DecodeError::Unsupported {
                codec,
                detail: format!("OpenH264 picture format {format}"),
            }),
            Decoded::Failed(state) if state & sys::dsOutOfMemory != 0 => {
                Err(DecodeError::Backend {
                    codec,
                    call: "DecodeFrameNoDelay",
                    detail: ffi::describe_state(state),
                })
            }
            Decoded::Failed(state) => Err(DecodeError::Corrupt {
                codec,
                detail: ffi::describe_state(state),
            }),
        }
    }
}

impl Drop for H264Decoder {
    fn drop(&mut self) {
        if self.initialised {
            // SAFETY: initialised and not used after this.
            unsafe { ffi::uninitialize(self.dec) };
        }
        // SAFETY: created by `ffi::create` and not used after this.
        unsafe { ffi::destroy(self.dec) };
    }
}
