//! VP8 and VP9 through libvpx, tuned for real-time screen content.
//!
//! Settings, and why:
//! - one pass, `g_lag_in_frames = 0`, `VPX_DL_REALTIME`, `rc_dropframe_thresh = 0`: every frame
//!   sent yields its packet before `send_frame` returns, and no frame is ever dropped;
//! - CBR with a 1 s buffer (0.5 s initial, 0.6 s optimal), 50 % under/overshoot: the bitrate the
//!   agent asks for is what goes on the wire, smoothed over about a second;
//! - keyframes only on the first frame and on request (`VPX_KF_DISABLED`, `VPX_EFLAG_FORCE_KF`);
//! - no error resilience: RustDesk carries video over TCP (or a relay), so nothing is lost in
//!   transit, and every decoder (re)start is served a keyframe;
//! - VP9: `cpu-used` 9, row-based multithreading, tile columns for the thread count, screen-content
//!   tuning, cyclic-refresh AQ; colour space BT.601 and studio range signalled to match
//!   [`crate::convert`];
//! - VP8: `cpu-used` -16 (fixed speed 16), screen-content mode, a static-block threshold, one
//!   thread unless more are asked for (its threads spin-wait for each other).
//!
//! The bitstream is handed out exactly as `vpx_codec_get_cx_data` returns it, without copying
//! and without a container.

mod ffi;

use std::ffi::c_int;

use vpx_sys as sys;

use self::ffi::Iface;
use crate::convert::I420;
use crate::software::{FfiError, check_bitrate, check_fps, threads};
use crate::{Backend, Codec, Encoder, EncoderConfig, Error, Frame, Packet, Unavailable};

/// libvpx timestamps are in units of 1/90000 s, fine enough for any frame rate's duration.
const TIMEBASE: i64 = 90_000;
/// VP9 speed. Measured at 1080p on the 2-core CI machine (CPU ms per frame, scrolling text):
/// speed 7 ≈ 60, 8 ≈ 33–42, 9 ≈ 32, with the same PSNR on the desktop test scene (43.6 dB).
const VP9_SPEED: c_int = 9;
/// VP8 speed; negative means "always this speed", not "adapt to the deadline". Measured as
/// above: -12 ≈ 17, -16 ≈ 14 CPU ms per frame, PSNR 36.9 and 37.4 dB.
const VP8_SPEED: c_int = -16;

/// Whether libvpx can set up an encoder for `codec` here.
pub(super) fn probe(codec: Codec) -> Result<(), Unavailable> {
    ffi::default_config(iface(codec))
        .map(|_| ())
        .map_err(|e| Unavailable::Codec {
            codec,
            detail: format!("libvpx {}: {}: {}", ffi::version(), e.call, e.detail),
        })
}

fn iface(codec: Codec) -> Iface {
    if codec == Codec::Vp8 {
        Iface::Vp8
    } else {
        Iface::Vp9
    }
}

/// A libvpx encoder with its input planes.
pub(crate) struct VpxEncoder {
    codec: Codec,
    /// Boxed so libvpx's pointers into the context stay valid when the encoder moves.
    ctx: Box<sys::vpx_codec_ctx_t>,
    cfg: Box<sys::vpx_codec_enc_cfg_t>,
    yuv: I420,
    image: sys::vpx_image_t,
    /// Timestamp of the next frame and one frame's duration, in [`TIMEBASE`] units.
    next_pts: i64,
    duration: i64,
    force_keyframe: bool,
    /// Where `vpx_codec_get_cx_data` left off, and whether packets of the last frame remain.
    iter: sys::vpx_codec_iter_t,
    pending: bool,
    pts_ms: i64,
}

// SAFETY: the libvpx context and the image header hold pointers only into memory this value owns
// (its boxes and `yuv`), and libvpx keeps no thread-local state for an encoder, so moving the
// whole encoder to another thread is sound. `&mut self` on every call rules out shared use.
unsafe impl Send for VpxEncoder {}

impl std::fmt::Debug for VpxEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VpxEncoder")
            .field("codec", &self.codec)
            .field("width", &self.cfg.g_w)
            .field("height", &self.cfg.g_h)
            .field("kbps", &self.cfg.rc_target_bitrate)
            .finish_non_exhaustive()
    }
}

impl VpxEncoder {
    /// Opens an encoder for VP8 or VP9.
    pub(crate) fn open(config: &EncoderConfig) -> Result<Self, Error> {
        let codec = config.codec;
        // VP8's row threads spin while they wait for each other: on a busy machine two threads
        // cost 5-10 times the CPU of one. Only an explicit request gets more than one.
        let threads = if codec == Codec::Vp8 && config.threads == 0 {
            1
        } else {
            threads(config.threads)
        };
        let mut cfg = Box::new(ffi::default_config(iface(codec))?);
        fill_config(&mut cfg, config, threads);
        let mut ctx = Box::new(ffi::empty_context());
        // SAFETY: `ctx` is zeroed and boxed, so it keeps its address until `Drop` destroys it.
        unsafe { ffi::enc_init(&mut *ctx, iface(codec), &cfg) }?;
        let mut encoder = Self {
            codec,
            ctx,
            cfg,
            yuv: I420::new(config.width, config.height)?,
            image: ffi::image_header(config.width, config.height),
            next_pts: 0,
            duration: TIMEBASE / i64::from(config.fps),
            force_keyframe: true,
            iter: std::ptr::null(),
            pending: false,
            pts_ms: 0,
        };
        encoder.apply_controls(threads)?;
        tracing::debug!(
            codec = %codec, width = config.width, height = config.height,
            kbps = config.bitrate_kbps, threads, libvpx = %ffi::version(), "libvpx encoder open"
        );
        Ok(encoder)
    }

    /// The codec controls that have no field in `vpx_codec_enc_cfg_t`.
    fn apply_controls(&mut self, threads: u32) -> Result<(), FfiError> {
        use sys::vp8e_enc_control_id as id;
        let controls: &[(id, c_int)] = if self.codec == Codec::Vp9 {
            &[
                (id::VP8E_SET_CPUUSED, VP9_SPEED),
                (id::VP9E_SET_ROW_MT, 1),
                (id::VP9E_SET_TILE_COLUMNS, tile_columns_log2(threads)),
                (
                    id::VP9E_SET_TUNE_CONTENT,
                    sys::vp9e_tune_content::VP9E_CONTENT_SCREEN as c_int,
                ),
                (
                    id::VP9E_SET_AQ_MODE,
                    sys::AQ_MODE::CYCLIC_REFRESH_AQ as c_int,
                ),
                (id::VP9E_SET_NOISE_SENSITIVITY, 0),
                (id::VP9E_SET_FRAME_PARALLEL_DECODING, 0),
                (
                    id::VP9E_SET_COLOR_SPACE,
                    sys::vpx_color_space::VPX_CS_BT_601 as c_int,
                ),
                (
                    id::VP9E_SET_COLOR_RANGE,
                    sys::vpx_color_range::VPX_CR_STUDIO_RANGE as c_int,
                ),
            ]
        } else {
            &[
                (id::VP8E_SET_CPUUSED, VP8_SPEED),
                (id::VP8E_SET_SCREEN_CONTENT_MODE, 1),
                (id::VP8E_SET_STATIC_THRESHOLD, 1),
                (id::VP8E_SET_NOISE_SENSITIVITY, 0),
            ]
        };
        for &(control, value) in controls {
            // SAFETY: the context was initialised in `open` and lives until `Drop`.
            unsafe { ffi::control(&mut *self.ctx, control, value) }?;
        }
        Ok(())
    }
}

/// Real-time CBR settings on top of libvpx's defaults.
fn fill_config(cfg: &mut sys::vpx_codec_enc_cfg_t, config: &EncoderConfig, threads: u32) {
    cfg.g_w = config.width;
    cfg.g_h = config.height;
    cfg.g_threads = threads;
    cfg.g_timebase = sys::vpx_rational {
        num: 1,
        den: TIMEBASE as c_int,
    };
    cfg.g_lag_in_frames = 0;
    cfg.g_error_resilient = 0;
    cfg.g_pass = sys::vpx_enc_pass::VPX_RC_ONE_PASS;
    cfg.rc_end_usage = sys::vpx_rc_mode::VPX_CBR;
    cfg.rc_target_bitrate = config.bitrate_kbps;
    cfg.rc_min_quantizer = 2;
    cfg.rc_max_quantizer = 63;
    cfg.rc_undershoot_pct = 50;
    cfg.rc_overshoot_pct = 50;
    cfg.rc_buf_initial_sz = 500;
    cfg.rc_buf_optimal_sz = 600;
    cfg.rc_buf_sz = 1000;
    cfg.rc_dropframe_thresh = 0;
    cfg.rc_resize_allowed = 0;
    cfg.kf_mode = sys::vpx_kf_mode::VPX_KF_DISABLED;
    cfg.kf_min_dist = 0;
    // With automatic keyframes off, libvpx still forces one every kf_max_dist frames.
    cfg.kf_max_dist = i32::MAX as u32;
}

/// VP9 tile columns (log2) for a thread count; libvpx lowers it where tiles would be narrower
/// than 256 pixels.
fn tile_columns_log2(threads: u32) -> c_int {
    match threads {
        0..=1 => 0,
        2..=3 => 1,
        _ => 2,
    }
}

impl Encoder for VpxEncoder {
    fn codec(&self) -> Codec {
        self.codec
    }

    fn backend(&self) -> Backend {
        Backend::Software
    }

    fn send_frame(&mut self, frame: &Frame<'_>) -> Result<(), Error> {
        self.yuv.convert(frame)?;
        self.image.planes = [
            self.yuv.y().as_ptr().cast_mut(),
            self.yuv.u().as_ptr().cast_mut(),
            self.yuv.v().as_ptr().cast_mut(),
            std::ptr::null_mut(),
        ];
        self.image.stride = [
            self.yuv.y_stride() as c_int,
            self.yuv.uv_stride() as c_int,
            self.yuv.uv_stride() as c_int,
            0,
        ];
        let flags = if self.force_keyframe {
            sys::VPX_EFLAG_FORCE_KF as sys::vpx_enc_frame_flags_t
        } else {
            0
        };
        self.pending = false;
        // SAFETY: the context is initialised; `image` points into `self.yuv`, which matches the
        // configured size and is not touched until the call returns.
        unsafe {
            ffi::encode(
                &mut *self.ctx,
                &self.image,
                self.next_pts,
                self.duration as u64,
                flags,
            )
        }?;
        self.next_pts += self.duration;
        self.force_keyframe = false;
        self.iter = std::ptr::null();
        self.pending = true;
        self.pts_ms = frame.pts_ms;
        Ok(())
    }

    fn receive_packet(&mut self) -> Result<Option<Packet<'_>>, Error> {
        if !self.pending {
            return Ok(None);
        }
        // SAFETY: the context is initialised and `iter` belongs to the last encode; the packet
        // borrows `self` mutably, so no encode can run while it is alive.
        match unsafe { ffi::next_packet(&mut *self.ctx, &mut self.iter) } {
            Some(raw) => Ok(Some(Packet {
                data: raw.data,
                keyframe: raw.keyframe,
                pts_ms: self.pts_ms,
                codec: self.codec,
            })),
            None => {
                self.pending = false;
                Ok(None)
            }
        }
    }

    fn request_keyframe(&mut self) {
        self.force_keyframe = true;
    }

    fn set_bitrate(&mut self, kbps: u32) -> Result<(), Error> {
        check_bitrate(kbps)?;
        self.cfg.rc_target_bitrate = kbps;
        // SAFETY: the context is initialised.
        unsafe { ffi::config_set(&mut *self.ctx, &self.cfg) }?;
        Ok(())
    }

    fn set_fps(&mut self, fps: u32) -> Result<(), Error> {
        check_fps(fps)?;
        self.duration = TIMEBASE / i64::from(fps);
        Ok(())
    }
}

impl Drop for VpxEncoder {
    fn drop(&mut self) {
        // SAFETY: the context was initialised in `open` and is not used after this.
        unsafe { ffi::destroy(&mut *self.ctx) };
    }
}
