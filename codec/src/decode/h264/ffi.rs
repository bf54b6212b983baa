//! The middle FFI layer for OpenH264's decoder: `unsafe fn`s over the `ISVCDecoder` vtable of
//! the generated `openh264_sys2` bindings, each turning a status into `Result`. The safe
//! decoder in `h264.rs` is the only caller.

use std::ffi::{c_int, c_long, c_void};
use std::ptr;

use openh264_sys2 as sys;

/// An `ISVCDecoder*`, as `WelsCreateDecoder` hands it out.
pub(super) type RawDecoder = *mut sys::ISVCDecoder;

/// A failed OpenH264 call.
#[derive(Debug)]
pub(super) struct FfiError {
    pub(super) call: &'static str,
    pub(super) detail: String,
}

/// Creates a decoder instance (not yet initialised).
pub(super) fn create() -> Result<RawDecoder, FfiError> {
    let mut dec: RawDecoder = ptr::null_mut();
    // SAFETY: `dec` is a valid out-pointer; the library is linked from source, so the function
    // is always present.
    let rc = unsafe { sys::source::APILoader::WelsCreateDecoder(&mut dec) };
    if rc != 0 || dec.is_null() {
        return Err(fail("WelsCreateDecoder", rc));
    }
    Ok(dec)
}

/// Frees a decoder created by [`create`] (after [`uninitialize`] if it was initialised).
///
/// # Safety
/// `dec` must come from [`create`] and must not be used again.
pub(super) unsafe fn destroy(dec: RawDecoder) {
    // SAFETY: per the caller.
    unsafe { sys::source::APILoader::WelsDestroyDecoder(dec) };
}

/// The vtable of `dec`.
///
/// # Safety
/// `dec` must come from [`create`] and not be destroyed.
unsafe fn vtable(dec: RawDecoder) -> &'static sys::ISVCDecoderVtbl {
    // SAFETY: per the caller, `dec` points to a live ISVCDecoder.
    let table: *const sys::ISVCDecoderVtbl = unsafe { *dec };
    // SAFETY: an ISVCDecoder is a pointer to a static vtable, valid for the program's life.
    unsafe { &*table }
}

/// Sets an integer decoder option.
///
/// # Safety
/// `dec` must come from [`create`] and not be destroyed, and `option` must be one that reads
/// an `int`.
pub(super) unsafe fn set_int_option(
    dec: RawDecoder,
    option: sys::DECODER_OPTION,
    mut value: c_int,
) -> Result<(), FfiError> {
    // SAFETY: per the caller.
    let f = unsafe { vtable(dec) }
        .SetOption
        .ok_or_else(|| missing("SetOption"))?;
    // SAFETY: per the caller; the library reads the int during the call only.
    let rc = unsafe { f(dec, option, ptr::from_mut(&mut value).cast::<c_void>()) };
    status("SetOption", rc)
}

/// Initialises an AVC (not SVC) decoder with error concealment off, so that a broken or
/// orphaned frame is reported rather than patched over.
///
/// # Safety
/// `dec` must come from [`create`], not yet be initialised, and not be destroyed.
pub(super) unsafe fn initialize(dec: RawDecoder) -> Result<(), FfiError> {
    let params = sys::SDecodingParam {
        eEcActiveIdc: sys::ERROR_CON_DISABLE,
        sVideoProperty: sys::SVideoProperty {
            size: size_of::<sys::SVideoProperty>() as u32,
            eVideoBsType: sys::VIDEO_BITSTREAM_AVC,
        },
        ..sys::SDecodingParam::default()
    };
    // SAFETY: per the caller.
    let f = unsafe { vtable(dec) }
        .Initialize
        .ok_or_else(|| missing("Initialize"))?;
    // SAFETY: per the caller; the library copies `params`.
    status("Initialize", unsafe { f(dec, &params) })
}

/// Undoes [`initialize`].
///
/// # Safety
/// `dec` must be initialised and not destroyed; it must not decode again.
pub(super) unsafe fn uninitialize(dec: RawDecoder) {
    // SAFETY: per the caller.
    if let Some(f) = unsafe { vtable(dec) }.Uninitialize {
        // SAFETY: per the caller. Nothing can be done about a failure during teardown.
        let _ = unsafe { f(dec) };
    }
}

/// The outcome of decoding one access unit.
#[derive(Debug)]
pub(super) enum Decoded<'a> {
    /// A picture: size, planes and (luma, chroma) strides.
    Picture {
        width: u32,
        height: u32,
        planes: [&'a [u8]; 3],
        strides: (usize, usize),
    },
    /// The unit was valid but completed no picture.
    Nothing,
    /// A picture in another format than I420 (`EVideoFormatType`).
    OtherFormat(c_int),
    /// The decoder's error flags (`DECODING_STATE`), never 0.
    Failed(sys::DECODING_STATE),
}

/// Decodes one access unit with no output delay.
///
/// # Safety
/// `dec` must be initialised and not destroyed. The returned planes point into the decoder and
/// are valid until its next call; the caller must bound `'a` accordingly.
pub(super) unsafe fn decode<'a>(dec: RawDecoder, data: &[u8]) -> Result<Decoded<'a>, FfiError> {
    let len = c_int::try_from(data.len()).map_err(|_| FfiError {
        call: "DecodeFrameNoDelay",
        detail: format!("access unit of {} bytes is too large", data.len()),
    })?;
    // SAFETY: per the caller.
    let f = unsafe { vtable(dec) }
        .DecodeFrameNoDelay
        .ok_or_else(|| missing("DecodeFrameNoDelay"))?;
    let mut dst: [*mut u8; 3] = [ptr::null_mut(); 3];
    let mut info = sys::SBufferInfo::default();
    // SAFETY: per the caller; the library reads `len` bytes of `data` during the call, writes
    // the plane pointers into `dst` and the description into `info`.
    let state = unsafe { f(dec, data.as_ptr(), len, dst.as_mut_ptr(), &mut info) };
    if state != sys::dsErrorFree {
        return Ok(Decoded::Failed(state));
    }
    if info.iBufferStatus != 1 {
        return Ok(Decoded::Nothing);
    }
    // SAFETY: `iBufferStatus == 1` says the union holds the system buffer description.
    let buffer = unsafe { info.UsrData.sSystemBuffer };
    if buffer.iFormat != sys::videoFormatI420 as c_int {
        return Ok(Decoded::OtherFormat(buffer.iFormat));
    }
    let (w, h) = (buffer.iWidth, buffer.iHeight);
    let (ys, cs) = (buffer.iStride[0], buffer.iStride[1]);
    if w <= 0 || h <= 0 || ys < w || cs < (w + 1) / 2 || dst.iter().any(|p| p.is_null()) {
        return Err(FfiError {
            call: "DecodeFrameNoDelay",
            detail: format!("picture {w}x{h} with strides {ys}/{cs}"),
        });
    }
    let (w, h, ys, cs) = (w as usize, h as usize, ys as usize, cs as usize);
    let luma_len = ys * (h - 1) + w;
    let chroma_len = cs * (h.div_ceil(2) - 1) + w.div_ceil(2);
    let plane = |p: *mut u8, len: usize| {
        // SAFETY: OpenH264 hands out an I420 picture of `w` x `h` whose planes hold these many
        // bytes at these strides, valid until the next call, which the caller's bound covers.
        unsafe { std::slice::from_raw_parts(p.cast_const(), len) }
    };
    let planes = [
        plane(dst[0], luma_len),
        plane(dst[1], chroma_len),
        plane(dst[2], chroma_len),
    ];
    Ok(Decoded::Picture {
        width: w as u32,
        height: h as u32,
        planes,
        strides: (ys, cs),
    })
}

/// The names of the flags set in a `DECODING_STATE`.
pub(super) fn describe_state(state: sys::DECODING_STATE) -> String {
    const FLAGS: [(sys::DECODING_STATE, &str); 11] = [
        (sys::dsFramePending, "frame pending"),
        (sys::dsRefLost, "reference lost"),
        (sys::dsBitstreamError, "bitstream error"),
        (sys::dsDepLayerLost, "dependent layer lost"),
        (sys::dsNoParamSets, "no parameter sets"),
        (sys::dsDataErrorConcealed, "data error concealed"),
        (sys::dsRefListNullPtrs, "reference list empty"),
        (sys::dsInvalidArgument, "invalid argument"),
        (sys::dsInitialOptExpected, "not initialised"),
        (sys::dsOutOfMemory, "out of memory"),
        (sys::dsDstBufNeedExpan, "output buffer too small"),
    ];
    let names: Vec<&str> = FLAGS
        .iter()
        .filter(|(flag, _)| state & flag != 0)
        .map(|&(_, name)| name)
        .collect();
    if names.is_empty() {
        format!("decoding state {state:#x}")
    } else {
        names.join(", ")
    }
}

fn status(call: &'static str, rc: c_long) -> Result<(), FfiError> {
    if rc == 0 { Ok(()) } else { Err(fail(call, rc)) }
}

fn fail(call: &'static str, rc: c_long) -> FfiError {
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
