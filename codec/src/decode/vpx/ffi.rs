//! The middle FFI layer for libvpx's decoder: `unsafe fn`s over the generated `vpx_sys`
//! bindings that turn `vpx_codec_err_t` into `Result` and images into plane slices. The safe
//! decoder in `vpx.rs` is the only caller.

use std::ffi::{CStr, c_char, c_int, c_uint};
use std::mem::MaybeUninit;
use std::ptr;

use vpx_sys as sys;

/// A failed libvpx call and what the library said.
#[derive(Debug)]
pub(super) struct FfiError {
    pub(super) call: &'static str,
    pub(super) detail: String,
    /// The library ran out of memory (not the input's fault).
    pub(super) out_of_memory: bool,
}

/// The libvpx decoder interface for VP8 or VP9.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Iface {
    Vp8,
    Vp9,
}

impl Iface {
    fn raw(self) -> *mut sys::vpx_codec_iface_t {
        match self {
            // SAFETY: returns a pointer to a static interface table; no preconditions.
            Self::Vp8 => unsafe { sys::vpx_codec_vp8_dx() },
            // SAFETY: as above.
            Self::Vp9 => unsafe { sys::vpx_codec_vp9_dx() },
        }
    }
}

/// The planes of a decoded 8-bit 4:2:0 image, as libvpx holds them.
#[derive(Debug)]
pub(super) struct RawImage<'a> {
    pub width: u32,
    pub height: u32,
    pub planes: [&'a [u8]; 3],
    pub strides: (usize, usize),
}

/// A zeroed context, ready for [`dec_init`].
pub(super) fn empty_context() -> sys::vpx_codec_ctx_t {
    // SAFETY: vpx_codec_ctx_t is plain C data (pointers, integers, a union of pointers, an enum
    // whose zero is VPX_CODEC_OK); all-zero is its documented "not initialised" state.
    unsafe { MaybeUninit::<sys::vpx_codec_ctx_t>::zeroed().assume_init() }
}

/// Initialises `ctx` as a decoder with up to `threads` threads.
///
/// # Safety
/// `ctx` must be a zeroed context that stays at the same address until [`destroy`] is called.
pub(super) unsafe fn dec_init(
    ctx: *mut sys::vpx_codec_ctx_t,
    iface: Iface,
    threads: u32,
) -> Result<(), FfiError> {
    let cfg = sys::vpx_codec_dec_cfg_t {
        threads,
        w: 0,
        h: 0,
    };
    // SAFETY: the caller passes a zeroed, pinned context; `cfg` is read during the call only.
    let err = unsafe {
        sys::vpx_codec_dec_init_ver(
            ctx,
            iface.raw(),
            &cfg,
            0,
            sys::VPX_DECODER_ABI_VERSION as c_int,
        )
    };
    // SAFETY: `ctx` is valid for reading its error strings after a failed init.
    unsafe { check(err, "vpx_codec_dec_init", Some(ctx)) }
}

/// Decodes one compressed frame.
///
/// # Safety
/// `ctx` must be a decoder initialised by [`dec_init`] and not yet destroyed.
pub(super) unsafe fn decode(ctx: *mut sys::vpx_codec_ctx_t, data: &[u8]) -> Result<(), FfiError> {
    let len = c_uint::try_from(data.len()).map_err(|_| FfiError {
        call: "vpx_codec_decode",
        detail: format!("packet of {} bytes is too large", data.len()),
        out_of_memory: false,
    })?;
    // SAFETY: per the caller; libvpx reads `len` bytes of `data` during the call and keeps no
    // pointer to them (frame threading is off).
    let err = unsafe { sys::vpx_codec_decode(ctx, data.as_ptr(), len, ptr::null_mut(), 0) };
    // SAFETY: as above.
    unsafe { check(err, "vpx_codec_decode", Some(ctx)) }
}

/// The first picture the last [`decode`] produced, if any.
///
/// # Safety
/// `ctx` must be an initialised decoder; the slices are valid until the next [`decode`] or
/// [`destroy`], and the caller must bound `'a` accordingly.
pub(super) unsafe fn next_image<'a>(
    ctx: *mut sys::vpx_codec_ctx_t,
) -> Option<Result<RawImage<'a>, String>> {
    let mut iter: sys::vpx_codec_iter_t = ptr::null();
    // SAFETY: per the caller; a null iterator starts from the first picture.
    let img = unsafe { sys::vpx_codec_get_frame(ctx, &mut iter) };
    // SAFETY: libvpx returns null or a pointer to an image it owns until the next decode.
    let img = unsafe { img.as_ref() }?;
    Some(planes(img))
}

/// The planes of `img` as slices, checking the layout.
/// The error names the layout when it is not 8-bit I420.
fn planes<'a>(img: &sys::vpx_image_t) -> Result<RawImage<'a>, String> {
    let fmt = img.fmt;
    if fmt != sys::vpx_img_fmt::VPX_IMG_FMT_I420 || img.bit_depth != 8 {
        return Err(format!("{fmt:?} with {} bits per sample", img.bit_depth));
    }
    let (w, h) = (img.d_w, img.d_h);
    let (y_stride, uv_stride) = (img.stride[0], img.stride[1]);
    if w == 0 || h == 0 || y_stride <= 0 || uv_stride <= 0 || img.stride[2] != uv_stride {
        return Err(format!("{w}x{h} with strides {:?}", img.stride));
    }
    let (y_stride, uv_stride) = (y_stride as usize, uv_stride as usize);
    let luma_len = y_stride * (h as usize - 1) + w as usize;
    let chroma_len = uv_stride * (h.div_ceil(2) as usize - 1) + w.div_ceil(2) as usize;
    let plane = |i: usize, len: usize| {
        let p = img.planes[i];
        if p.is_null() {
            return Err(format!("plane {i} missing"));
        }
        // SAFETY: an I420 image of d_w x d_h holds at least `len` bytes from each plane
        // pointer at these strides (libvpx allocates stride x aligned height); the bytes stay
        // valid until the next decode, which the caller's lifetime bound covers.
        Ok(unsafe { std::slice::from_raw_parts(p.cast_const(), len) })
    };
    Ok(RawImage {
        width: w,
        height: h,
        planes: [
            plane(0, luma_len)?,
            plane(1, chroma_len)?,
            plane(2, chroma_len)?,
        ],
        strides: (y_stride, uv_stride),
    })
}

/// Frees everything the decoder allocated.
///
/// # Safety
/// `ctx` must be an initialised decoder; it must not be used again.
pub(super) unsafe fn destroy(ctx: *mut sys::vpx_codec_ctx_t) {
    // SAFETY: per the caller. Nothing can be done about a failure during teardown.
    let _ = unsafe { sys::vpx_codec_destroy(ctx) };
}

/// Turns a status into `Result`, reading the context's error text on failure.
///
/// # Safety
/// `ctx`, when given, must point to a context that libvpx has touched (initialised or failed).
unsafe fn check(
    err: sys::vpx_codec_err_t,
    call: &'static str,
    ctx: Option<*mut sys::vpx_codec_ctx_t>,
) -> Result<(), FfiError> {
    if err == sys::vpx_codec_err_t::VPX_CODEC_OK {
        return Ok(());
    }
    let text = |p: *const c_char| {
        // SAFETY: libvpx returns null or a NUL-terminated string it owns.
        (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    };
    // SAFETY: vpx_codec_err_to_string accepts any code and returns a static string.
    let mut detail = text(unsafe { sys::vpx_codec_err_to_string(err) }).unwrap_or_default();
    if let Some(ctx) = ctx.filter(|c| !c.is_null()) {
        // SAFETY: per this function's contract.
        if let Some(more) = text(unsafe { sys::vpx_codec_error_detail(ctx) }) {
            detail = format!("{detail} ({more})");
        }
    }
    Err(FfiError {
        call,
        detail,
        out_of_memory: err == sys::vpx_codec_err_t::VPX_CODEC_MEM_ERROR,
    })
}
