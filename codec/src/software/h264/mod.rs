//! H.264 through OpenH264 (Cisco's BSD-licensed encoder, built from the bundled source).
//!
//! Settings, and why:
//! - screen-content real-time usage, bitrate rate control, frame skipping off: one access unit
//!   per frame, always;
//! - no periodic IDR and no scene-change IDR: keyframes only on the first frame and on request;
//!   OpenH264 writes SPS and PPS (constant ids) in front of every IDR;
//! - constrained baseline profile (no B-frames, CAVLC), one slice per thread so that every core
//!   works on a frame (OpenH264 threads only across slices);
//! - the VUI signals BT.601 (SMPTE 170M) colour and limited range, matching
//!   [`crate::convert`].
//!
//! Each packet is one complete Annex B access unit (start codes included).

mod ffi;

use std::ffi::c_int;

use openh264_sys2 as sys;

use self::ffi::RawEncoder;
use crate::convert::I420;
use crate::software::{FfiError, check_bitrate, check_fps, threads};
use crate::{Backend, Codec, Encoder, EncoderConfig, Error, Frame, Packet, Unavailable};

/// ITU-T H.273 code points for BT.601 525-line (SMPTE 170M) primaries, transfer and matrix.
const SMPTE_170M: u8 = 6;
/// H.264 `video_format` 5: unspecified.
const VIDEO_FORMAT_UNSPECIFIED: u8 = 5;
/// OpenH264's largest picture (level 5.2).
const MAX_WIDTH: u32 = 3840;
const MAX_HEIGHT: u32 = 2160;

/// Whether OpenH264 can set up an encoder here.
pub(super) fn probe() -> Result<(), Unavailable> {
    Raw::create().map(drop).map_err(|e| Unavailable::Codec {
        codec: Codec::H264,
        detail: format!("{}: {}", e.call, e.detail),
    })
}

/// The encoder instance; destroys itself (and uninitialises, if it got that far) on drop.
#[derive(Debug)]
struct Raw {
    enc: RawEncoder,
    initialised: bool,
}

impl Raw {
    fn create() -> Result<Self, FfiError> {
        Ok(Self {
            enc: ffi::create()?,
            initialised: false,
        })
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        if self.initialised {
            // SAFETY: initialised and not used after this.
            unsafe { ffi::uninitialize(self.enc) };
        }
        // SAFETY: created by `ffi::create` and not used after this.
        unsafe { ffi::destroy(self.enc) };
    }
}

/// An OpenH264 encoder with its input planes and output buffer.
#[derive(Debug)]
pub(crate) struct H264Encoder {
    raw: Raw,
    yuv: I420,
    /// Large (128 layer slots), so it lives on the heap; reused for every frame.
    info: Box<sys::SFrameBSInfo>,
    /// The access unit of the last frame, gathered from OpenH264's layers.
    out: Vec<u8>,
    keyframe: bool,
    pending: bool,
    pts_ms: i64,
    force_idr: bool,
    /// One frame's duration and the next frame's timestamp, in microseconds.
    frame_us: u64,
    next_us: u64,
}

// SAFETY: the OpenH264 instance is only reached through `&mut self`, the library keeps no
// thread-affine state for it, and the layer pointers in `info` point into that instance.
unsafe impl Send for H264Encoder {}

impl H264Encoder {
    /// Opens an encoder for `config`.
    pub(crate) fn open(config: &EncoderConfig) -> Result<Self, Error> {
        let (w, h) = (config.width, config.height);
        if w % 2 != 0 || h % 2 != 0 || w.max(h) > MAX_WIDTH || w.min(h) > MAX_HEIGHT {
            return Err(Error::Unavailable {
                backend: Backend::Software,
                reason: Unavailable::Codec {
                    codec: Codec::H264,
                    detail: format!(
                        "OpenH264 takes even sizes up to {MAX_WIDTH}x{MAX_HEIGHT}, not {w}x{h}"
                    ),
                },
            });
        }
        let threads = threads(config.threads);
        let mut raw = Raw::create()?;
        // SAFETY: `raw.enc` was just created.
        let mut params = unsafe { ffi::default_params(raw.enc) }?;
        fill_params(&mut params, config, threads);
        // OpenH264 logs to stderr; our errors come back as status codes instead.
        let mut quiet: c_int = sys::WELS_LOG_QUIET as c_int;
        // SAFETY: created; TRACE_LEVEL reads an int and may be set before initialisation.
        unsafe { ffi::set_option(raw.enc, sys::ENCODER_OPTION_TRACE_LEVEL, &mut quiet) }?;
        // SAFETY: created and not yet initialised.
        unsafe { ffi::initialize(raw.enc, &params) }?;
        raw.initialised = true;
        let mut format: c_int = sys::videoFormatI420 as c_int;
        // SAFETY: initialised; DATAFORMAT reads an int.
        unsafe { ffi::set_option(raw.enc, sys::ENCODER_OPTION_DATAFORMAT, &mut format) }?;
        tracing::debug!(
            width = w,
            height = h,
            kbps = config.bitrate_kbps,
            threads,
            "OpenH264 encoder open"
        );
        Ok(Self {
            raw,
            yuv: I420::new(w, h)?,
            info: Box::default(),
            out: Vec::with_capacity(256 * 1024),
            keyframe: false,
            pending: false,
            pts_ms: 0,
            force_idr: false,
            frame_us: 1_000_000 / u64::from(config.fps),
            next_us: 0,
        })
    }

    /// Copies the layers of the last encode into `out`: one access unit.
    fn gather(&mut self) {
        self.out.clear();
        let layers = usize::try_from(self.info.iLayerNum).unwrap_or(0);
        for layer in self.info.sLayerInfo.iter().take(layers) {
            // SAFETY: the layers come from the encode that just succeeded, and the bytes are
            // copied out before the encoder runs again.
            self.out
                .extend_from_slice(unsafe { ffi::layer_bytes(layer) });
        }
    }
}

/// Real-time screen-content settings on top of OpenH264's defaults.
fn fill_params(p: &mut sys::SEncParamExt, config: &EncoderConfig, threads: u32) {
    let bps = bits_per_second(config.bitrate_kbps);
    p.iUsageType = sys::SCREEN_CONTENT_REAL_TIME;
    p.iPicWidth = config.width as c_int;
    p.iPicHeight = config.height as c_int;
    p.iTargetBitrate = bps;
    p.iMaxBitrate = sys::UNSPECIFIED_BIT_RATE as c_int;
    p.iRCMode = sys::RC_BITRATE_MODE;
    p.fMaxFrameRate = config.fps as f32;
    p.iTemporalLayerNum = 1;
    p.iSpatialLayerNum = 1;
    p.iComplexityMode = sys::LOW_COMPLEXITY;
    p.uiIntraPeriod = 0;
    p.eSpsPpsIdStrategy = sys::CONSTANT_ID;
    p.bPrefixNalAddingCtrl = false;
    p.bEnableSSEI = false;
    p.iEntropyCodingModeFlag = 0;
    p.bEnableFrameSkip = false;
    p.iMultipleThreadIdc = threads.min(4) as u16;
    p.bUseLoadBalancing = false;
    p.iLoopFilterDisableIdc = 0;
    p.bEnableDenoise = false;
    // Screen-content mode has no adaptive quantisation or background detection, and wants scene
    // change detection (it picks references with it; it does not insert IDRs).
    p.bEnableBackgroundDetection = false;
    p.bEnableAdaptiveQuant = false;
    p.bEnableFrameCroppingFlag = true;
    p.bEnableSceneChangeDetect = true;
    p.bEnableLongTermReference = false;

    let layer = &mut p.sSpatialLayers[0];
    layer.iVideoWidth = config.width as c_int;
    layer.iVideoHeight = config.height as c_int;
    layer.fFrameRate = config.fps as f32;
    layer.iSpatialBitrate = bps;
    layer.iMaxSpatialBitrate = sys::UNSPECIFIED_BIT_RATE as c_int;
    layer.uiProfileIdc = sys::PRO_BASELINE;
    layer.uiLevelIdc = sys::LEVEL_UNKNOWN;
    layer.sSliceArgument.uiSliceMode = if threads > 1 {
        sys::SM_FIXEDSLCNUM_SLICE
    } else {
        sys::SM_SINGLE_SLICE
    };
    layer.sSliceArgument.uiSliceNum = threads.clamp(1, 4);
    layer.bVideoSignalTypePresent = true;
    layer.uiVideoFormat = VIDEO_FORMAT_UNSPECIFIED;
    layer.bFullRange = false;
    layer.bColorDescriptionPresent = true;
    layer.uiColorPrimaries = SMPTE_170M;
    layer.uiTransferCharacteristics = SMPTE_170M;
    layer.uiColorMatrix = SMPTE_170M;
}

fn bits_per_second(kbps: u32) -> c_int {
    c_int::try_from(u64::from(kbps) * 1000).unwrap_or(c_int::MAX)
}

impl Encoder for H264Encoder {
    fn codec(&self) -> Codec {
        Codec::H264
    }

    fn backend(&self) -> Backend {
        Backend::Software
    }

    fn send_frame(&mut self, frame: &Frame<'_>) -> Result<(), Error> {
        self.yuv.convert(frame)?;
        self.pending = false;
        if self.force_idr {
            // SAFETY: initialised in `open`.
            unsafe { ffi::force_idr(self.raw.enc) }?;
        }
        let pic = sys::SSourcePicture {
            iColorFormat: sys::videoFormatI420 as c_int,
            iStride: [
                self.yuv.y_stride() as c_int,
                self.yuv.uv_stride() as c_int,
                self.yuv.uv_stride() as c_int,
                0,
            ],
            pData: [
                self.yuv.y().as_ptr().cast_mut(),
                self.yuv.u().as_ptr().cast_mut(),
                self.yuv.v().as_ptr().cast_mut(),
                std::ptr::null_mut(),
            ],
            iPicWidth: self.yuv.width() as c_int,
            iPicHeight: self.yuv.height() as c_int,
            // Synthetic time at the configured rate, which is what the rate control budgets for.
            uiTimeStamp: (self.next_us / 1000) as i64,
            bPsnrY: false,
            bPsnrU: false,
            bPsnrV: false,
        };
        // SAFETY: initialised; the planes belong to `self.yuv`, match the configured size and
        // are only read during the call.
        unsafe { ffi::encode(self.raw.enc, &pic, &mut self.info) }?;
        self.next_us += self.frame_us;
        self.force_idr = false;
        self.gather();
        self.keyframe = self.info.eFrameType == sys::videoFrameTypeIDR;
        self.pending = !self.out.is_empty();
        self.pts_ms = frame.pts_ms;
        Ok(())
    }

    fn receive_packet(&mut self) -> Result<Option<Packet<'_>>, Error> {
        if !std::mem::take(&mut self.pending) {
            return Ok(None);
        }
        Ok(Some(Packet {
            data: &self.out,
            keyframe: self.keyframe,
            pts_ms: self.pts_ms,
            codec: Codec::H264,
        }))
    }

    fn request_keyframe(&mut self) {
        self.force_idr = true;
    }

    fn set_bitrate(&mut self, kbps: u32) -> Result<(), Error> {
        check_bitrate(kbps)?;
        let mut info = sys::SBitrateInfo {
            iLayer: sys::SPATIAL_LAYER_ALL,
            iBitrate: bits_per_second(kbps),
        };
        // SAFETY: initialised; BITRATE reads an SBitrateInfo.
        unsafe { ffi::set_option(self.raw.enc, sys::ENCODER_OPTION_BITRATE, &mut info) }?;
        Ok(())
    }

    fn set_fps(&mut self, fps: u32) -> Result<(), Error> {
        check_fps(fps)?;
        let mut rate = fps as f32;
        // SAFETY: initialised; FRAME_RATE reads a float.
        unsafe { ffi::set_option(self.raw.enc, sys::ENCODER_OPTION_FRAME_RATE, &mut rate) }?;
        self.frame_us = 1_000_000 / u64::from(fps);
        Ok(())
    }
}
