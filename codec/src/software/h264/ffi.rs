//! The middle FFI layer for OpenH264: `unsafe fn`s over the `ISVCEncoder` vtable of the
//! generated `openh264_sys2` bindings, each turning a status code into `Result`. The safe
//! encoder type in `mod.rs` is the only caller.

use std::ffi::{c_int, c_void};
use std::ptr;

use openh264_sys2 as sys;

use crate::software::FfiError;

/// An `ISVCEncoder*`, as `WelsCreateSVCEncoder` hands it out.
pub(super) type RawEncoder = *mut sys::ISVCEncoder;

/// Creates an encoder instance (not yet initialised).
pub(super) fn create() -> Result<RawEncoder, FfiError> {
    let mut enc: RawEncoder = ptr::null_mut();
    // SAFETY: `enc` is a valid out-pointer; the library is linked from source, so the function
    // is always present.
    let rc = unsafe { sys::source::APILoader::WelsCreateSVCEncoder(&mut enc) };
    if rc != 0 || enc.is_null() {
        return Err(fail("WelsCreateSVCEncoder", rc));
    }
    Ok(enc)
}

/// Frees an encoder created by [`create`] (after [`uninitialize`] if it was initialised).
///
/// # Safety
/// `enc` must come from [`create`] and must not be used again.
pub(super) unsafe fn destroy(enc: RawEncoder) {
    // SAFETY: per the caller.
    unsafe { sys::source::APILoader::WelsDestroySVCEncoder(enc) };
}

/// The vtable of `enc`.
///
/// # Safety
/// `enc` must come from [`create`] and not be destroyed.
unsafe fn vtable(enc: RawEncoder) -> &'static sys::ISVCEncoderVtbl {
    // SAFETY: per the caller, `enc` points to a live ISVCEncoder.
    let table: *const sys::ISVCEncoderVtbl = unsafe { *enc };
    // SAFETY: an ISVCEncoder is a pointer to a static vtable, valid for the program's life.
    unsafe { &*table }
}

/// The library's defaults for the extended parameters.
///
/// # Safety
/// `enc` must come from [`create`] and not be destroyed.
pub(super) unsafe fn default_params(enc: RawEncoder) -> Result<sys::SEncParamExt, FfiError> {
    let mut params = sys::SEncParamExt::default();
    // SAFETY: per the caller; `params` is a valid, writable parameter block.
    let f = unsafe { vtable(enc) }
        .GetDefaultParams
        .ok_or_else(|| missing("GetDefaultParams"))?;
    // SAFETY: as above.
    let rc = unsafe { f(enc, &mut params) };
    status("GetDefaultParams", rc).map(|()| params)
}

/// Initialises the encoder with `params`.
///
/// # Safety
/// `enc` must come from [`create`], not yet be initialised, and not be destroyed.
pub(super) unsafe fn initialize(
    enc: RawEncoder,
    params: &sys::SEncParamExt,
) -> Result<(), FfiError> {
    // SAFETY: per the caller.
    let f = unsafe { vtable(enc) }
        .InitializeExt
        .ok_or_else(|| missing("InitializeExt"))?;
    // SAFETY: per the caller; the library copies `params`.
    status("InitializeExt", unsafe { f(enc, params) })
}

/// Undoes [`initialize`].
///
/// # Safety
/// `enc` must be initialised and not destroyed; it must not encode again.
pub(super) unsafe fn uninitialize(enc: RawEncoder) {
    // SAFETY: per the caller.
    if let Some(f) = unsafe { vtable(enc) }.Uninitialize {
        // SAFETY: per the caller. Nothing can be done about a failure during teardown.
        let _ = unsafe { f(enc) };
    }
}

/// Sets one encoder option; `value` must be the type the option expects.
///
/// # Safety
/// `enc` must be initialised (except for options documented as pre-init) and not destroyed,
/// and `T` must be the C type OpenH264 reads for `option`.
pub(super) unsafe fn set_option<T>(
    enc: RawEncoder,
    option: sys::ENCODER_OPTION,
    value: &mut T,
) -> Result<(), FfiError> {
    // SAFETY: per the caller.
    let f = unsafe { vtable(enc) }
        .SetOption
        .ok_or_else(|| missing("SetOption"))?;
    // SAFETY: per the caller; the library reads `*value` during the call only.
    let rc = unsafe { f(enc, option, ptr::from_mut(value).cast::<c_void>()) };
    status("SetOption", rc)
}

/// Makes the next encoded picture an IDR.
///
/// # Safety
/// `enc` must be initialised and not destroyed.
pub(super) unsafe fn force_idr(enc: RawEncoder) -> Result<(), FfiError> {
    // SAFETY: per the caller.
    let f = unsafe { vtable(enc) }
        .ForceIntraFrame
        .ok_or_else(|| missing("ForceIntraFrame"))?;
    // SAFETY: per the caller.
    status("ForceIntraFrame", unsafe { f(enc, true) })
}

/// Encodes one picture into `info`, whose layer pointers then point into the encoder's own
/// output buffer until the next call.
///
/// # Safety
/// `enc` must be initialised and not destroyed; `pic` must describe planes that are readable
/// for the duration of the call and match the configured size.
pub(super) unsafe fn encode(
    enc: RawEncoder,
    pic: &sys::SSourcePicture,
    info: &mut sys::SFrameBSInfo,
) -> Result<(), FfiError> {
    // SAFETY: per the caller.
    let f = unsafe { vtable(enc) }
        .EncodeFrame
        .ok_or_else(|| missing("EncodeFrame"))?;
    // SAFETY: per the caller; the library reads the planes and writes `info`.
    status("EncodeFrame", unsafe { f(enc, pic, info) })
}

/// The bytes of one output layer (its NAL units back to back, each with a start code).
///
/// # Safety
/// `layer` must come from the last successful [`encode`] of an encoder that has not encoded
/// again or been destroyed since; the slice must not outlive that.
pub(super) unsafe fn layer_bytes<'a>(layer: &sys::SLayerBSInfo) -> &'a [u8] {
    let count = usize::try_from(layer.iNalCount).unwrap_or(0);
    if count == 0 || layer.pBsBuf.is_null() || layer.pNalLengthInByte.is_null() {
        return &[];
    }
    // SAFETY: the library stores `iNalCount` lengths at `pNalLengthInByte`.
    let lengths = unsafe { std::slice::from_raw_parts(layer.pNalLengthInByte, count) };
    let len: usize = lengths
        .iter()
        .map(|&n| usize::try_from(n).unwrap_or(0))
        .sum();
    // SAFETY: the layer's NAL units lie back to back in `pBsBuf`, `len` bytes in all.
    unsafe { std::slice::from_raw_parts(layer.pBsBuf, len) }
}

fn status(call: &'static str, rc: c_int) -> Result<(), FfiError> {
    if rc == sys::cmResultSuccess as c_int {
        Ok(())
    } else {
        Err(fail(call, rc))
    }
}

fn fail(call: &'static str, rc: c_int) -> FfiError {
    FfiError {
        call,
        detail: format!("OpenH264 returned {rc}"),
    }
}

fn missing(call: &'static str) -> FfiError {
    FfiError {
        call,
        detail: "missing from the OpenH264 vtable".into(),
    }
}
