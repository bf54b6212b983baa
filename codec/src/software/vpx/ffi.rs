//! The middle FFI layer for libvpx: small `unsafe fn`s over the generated `vpx_sys` bindings that
//! turn `vpx_codec_err_t` into `Result` and raw packets into slices. The safe encoder type in
//! `mod.rs` is the only caller.

use std::ffi::{CStr, c_int, c_ulong};
use std::mem::MaybeUninit;
use std::ptr;

use vpx_sys as sys;

use crate::software::FfiError;

/// The libvpx encoder interface for VP8 or VP9.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Iface {
    Vp8,
    Vp9,
}

impl Iface {
    fn raw(self) -> *mut sys::vpx_codec_iface_t {
        match self {
            // SAFETY: returns a pointer to a static interface table; no preconditions.
            Self::Vp8 => unsafe { sys::vpx_codec_vp8_cx() },
            // SAFETY: as above.
            Self::Vp9 => unsafe { sys::vpx_codec_vp9_cx() },
        }
    }
}

/// One compressed frame as libvpx returned it.
#[derive(Debug)]
pub(super) struct RawPacket<'a> {
    pub data: &'a [u8],
    pub keyframe: bool,
}

/// The library's default encoder configuration for `iface`.
pub(super) fn default_config(iface: Iface) -> Result<sys::vpx_codec_enc_cfg_t, FfiError> {
    let mut cfg = MaybeUninit::<sys::vpx_codec_enc_cfg_t>::zeroed();
    // SAFETY: `iface` is a valid interface and `cfg` points to writable storage of the right type.
    let err = unsafe { sys::vpx_codec_enc_config_default(iface.raw(), cfg.as_mut_ptr(), 0) };
    // SAFETY: no context to read.
    unsafe { check(err, "vpx_codec_enc_config_default", None) }?;
    // SAFETY: the call succeeded, so libvpx filled in every field (and zeroed() covered the rest).
    Ok(unsafe { cfg.assume_init() })
}

/// A zeroed context, ready for [`enc_init`].
pub(super) fn empty_context() -> sys::vpx_codec_ctx_t {
    // SAFETY: vpx_codec_ctx_t is plain C data (pointers, integers, a union of pointers, an enum
    // whose zero is VPX_CODEC_OK); all-zero is its documented "not initialised" state.
    unsafe { MaybeUninit::<sys::vpx_codec_ctx_t>::zeroed().assume_init() }
}

/// Initialises `ctx` as an encoder.
///
/// # Safety
/// `ctx` must be a zeroed context that stays at the same address until [`destroy`] is called.
pub(super) unsafe fn enc_init(
    ctx: *mut sys::vpx_codec_ctx_t,
    iface: Iface,
    cfg: &sys::vpx_codec_enc_cfg_t,
) -> Result<(), FfiError> {
    // SAFETY: the caller passes a zeroed, pinned context; `cfg` is a valid configuration that
    // libvpx copies during the call.
    let err = unsafe {
        sys::vpx_codec_enc_init_ver(
            ctx,
            iface.raw(),
            cfg,
            0,
            sys::VPX_ENCODER_ABI_VERSION as c_int,
        )
    };
    // SAFETY: `ctx` is valid for reading its error strings after a failed init.
    unsafe { check(err, "vpx_codec_enc_init", Some(ctx)) }
}

/// Sets an integer control (every control used here takes an `int` or `unsigned int`).
///
/// # Safety
/// `ctx` must be an encoder initialised by [`enc_init`] and not yet destroyed.
pub(super) unsafe fn control(
    ctx: *mut sys::vpx_codec_ctx_t,
    id: sys::vp8e_enc_control_id,
    value: c_int,
) -> Result<(), FfiError> {
    // SAFETY: initialised encoder per the caller; every control id passed here takes one int
    // argument, which is what the variadic call supplies.
    let err = unsafe { sys::vpx_codec_control_(ctx, id as c_int, value) };
    // SAFETY: as above.
    unsafe { check(err, "vpx_codec_control", Some(ctx)) }
}

/// Applies a changed configuration (bitrate) to a running encoder.
///
/// # Safety
/// `ctx` must be an encoder initialised by [`enc_init`] and not yet destroyed.
pub(super) unsafe fn config_set(
    ctx: *mut sys::vpx_codec_ctx_t,
    cfg: &sys::vpx_codec_enc_cfg_t,
) -> Result<(), FfiError> {
    // SAFETY: initialised encoder per the caller; libvpx copies `cfg`.
    let err = unsafe { sys::vpx_codec_enc_config_set(ctx, cfg) };
    // SAFETY: as above.
    unsafe { check(err, "vpx_codec_enc_config_set", Some(ctx)) }
}

/// Encodes one picture.
///
/// # Safety
/// `ctx` must be an initialised encoder and `img` must describe planes that stay readable for
/// the duration of the call and match the configured size.
pub(super) unsafe fn encode(
    ctx: *mut sys::vpx_codec_ctx_t,
    img: &sys::vpx_image_t,
    pts: i64,
    duration: u64,
    flags: sys::vpx_enc_frame_flags_t,
) -> Result<(), FfiError> {
    // SAFETY: per the caller; libvpx reads the planes during the call and keeps no pointer to
    // them (it copies the picture into its own buffers, lag is 0).
    let err = unsafe {
        sys::vpx_codec_encode(
            ctx,
            img,
            pts,
            duration as c_ulong,
            flags,
            c_ulong::from(sys::VPX_DL_REALTIME),
        )
    };
    // SAFETY: as above.
    unsafe { check(err, "vpx_codec_encode", Some(ctx)) }
}

/// The next compressed frame of the last [`encode`] call, skipping non-frame packets.
///
/// # Safety
/// `ctx` must be an initialised encoder; `iter` must be null or what the previous call for the
/// same encode left in it. The returned slice is valid until the next [`encode`] or [`destroy`],
/// and the caller must bound `'a` accordingly.
pub(super) unsafe fn next_packet<'a>(
    ctx: *mut sys::vpx_codec_ctx_t,
    iter: &mut sys::vpx_codec_iter_t,
) -> Option<RawPacket<'a>> {
    loop {
        // SAFETY: per the caller.
        let pkt = unsafe { sys::vpx_codec_get_cx_data(ctx, iter) };
        // SAFETY: libvpx returns null or a pointer to a packet it owns until the next encode.
        let pkt = unsafe { pkt.as_ref() }?;
        if pkt.kind != sys::vpx_codec_cx_pkt_kind::VPX_CODEC_CX_FRAME_PKT {
            continue;
        }
        // SAFETY: `kind` says the union holds `frame`.
        let frame = unsafe { pkt.data.frame };
        let data = if frame.sz == 0 || frame.buf.is_null() {
            &[][..]
        } else {
            // SAFETY: libvpx guarantees `buf` holds `sz` bytes, valid until the next encode.
            unsafe { std::slice::from_raw_parts(frame.buf.cast::<u8>(), frame.sz as usize) }
        };
        return Some(RawPacket {
            data,
            keyframe: frame.flags & sys::VPX_FRAME_IS_KEY != 0,
        });
    }
}

/// Frees everything the encoder allocated.
///
/// # Safety
/// `ctx` must be an initialised encoder; it must not be used again.
pub(super) unsafe fn destroy(ctx: *mut sys::vpx_codec_ctx_t) {
    // SAFETY: per the caller. The status is ignored: there is nothing to do about a failure here.
    let _ = unsafe { sys::vpx_codec_destroy(ctx) };
}

/// The libvpx version string, e.g. "v1.12.0".
pub(super) fn version() -> String {
    // SAFETY: returns a pointer to a static NUL-terminated string.
    let s = unsafe { sys::vpx_codec_version_str() };
    if s.is_null() {
        return String::new();
    }
    // SAFETY: non-null, static and NUL-terminated.
    unsafe { CStr::from_ptr(s) }.to_string_lossy().into_owned()
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
    let text = |p: *const std::ffi::c_char| {
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
    Err(FfiError { call, detail })
}

/// An image header over planes owned elsewhere (no allocation, no copy).
pub(super) fn image_header(width: u32, height: u32) -> sys::vpx_image_t {
    sys::vpx_image_t {
        fmt: sys::vpx_img_fmt::VPX_IMG_FMT_I420,
        cs: sys::vpx_color_space::VPX_CS_BT_601,
        range: sys::vpx_color_range::VPX_CR_STUDIO_RANGE,
        w: width,
        h: height,
        bit_depth: 8,
        d_w: width,
        d_h: height,
        r_w: width,
        r_h: height,
        x_chroma_shift: 1,
        y_chroma_shift: 1,
        planes: [ptr::null_mut(); 4],
        stride: [0; 4],
        bps: 12,
        user_priv: ptr::null_mut(),
        img_data: ptr::null_mut(),
        img_data_owner: 0,
        self_allocd: 0,
        fb_priv: ptr::null_mut(),
    }
}
