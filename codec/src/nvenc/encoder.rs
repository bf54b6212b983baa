//! The NVENC [`Encoder`]: low-latency session settings and the per-frame path (upload, map,
//! encode, lock).

use std::sync::Arc;

use super::cuda::{Context, DeviceSurface};
use super::session::{Bitstream, EncodeParams, Encoded, Encoding, RegisteredSurface, Session};
use super::sys::{self, GUID};
use super::upload::Uploader;
use super::{backend_error, codec_guid};
use crate::{Backend, Codec, Encoder, EncoderConfig, Error, Frame, Packet};

/// An encoder running on NVENC.
#[derive(Debug)]
pub(crate) struct NvencEncoder {
    codec: Codec,
    width: u32,
    height: u32,
    fps: u32,
    bitrate_kbps: u32,
    encoding: Encoding,
    input: RegisteredSurface,
    output: Bitstream,
    uploader: Uploader,
    /// The last packet's bytes, reused frame after frame.
    packet: Vec<u8>,
    /// The last frame's result until `receive_packet` hands it out.
    pending: Option<(Encoded, i64)>,
    force_idr: bool,
    /// False until a whole frame has been uploaded; until then damage is ignored.
    surface_filled: bool,
}

impl NvencEncoder {
    /// Initialises `session` for `config` and allocates the input surface and output buffer.
    pub(crate) fn new(
        ctx: &Arc<Context>,
        session: Session,
        config: &EncoderConfig,
    ) -> Result<Self, Error> {
        let guid = codec_guid(config.codec).ok_or_else(|| super::not_nvenc_codec(config.codec))?;
        let params = low_latency_params(&session, guid, config).map_err(backend_error)?;
        let encoding = session.initialize(params).map_err(backend_error)?;
        let surface =
            DeviceSurface::new(ctx, config.width, config.height).map_err(backend_error)?;
        let input = encoding
            .register(surface, config.width, config.height)
            .map_err(backend_error)?;
        let output = encoding.bitstream().map_err(backend_error)?;
        let uploader = Uploader::new(ctx).map_err(backend_error)?;
        Ok(Self {
            codec: config.codec,
            width: config.width,
            height: config.height,
            fps: config.fps,
            bitrate_kbps: config.bitrate_kbps,
            encoding,
            input,
            output,
            uploader,
            packet: Vec::new(),
            pending: None,
            force_idr: false,
            surface_filled: false,
        })
    }

    fn check_frame(&self, frame: &Frame<'_>) -> Result<(), Error> {
        if frame.width != self.width || frame.height != self.height {
            return Err(Error::InvalidInput(format!(
                "frame is {}x{}, the encoder was opened for {}x{}",
                frame.width, frame.height, self.width, self.height
            )));
        }
        let row = frame.width as usize * 4;
        let needed = (frame.height as usize - 1)
            .checked_mul(frame.stride)
            .and_then(|n| n.checked_add(row));
        if frame.stride < row || needed.is_none_or(|n| frame.data.len() < n) {
            return Err(Error::InvalidInput(format!(
                "{} bytes with stride {} cannot hold a {}x{} BGRA frame",
                frame.data.len(),
                frame.stride,
                frame.width,
                frame.height
            )));
        }
        Ok(())
    }

    fn reconfigure(&mut self, bitrate_kbps: u32, fps: u32) -> Result<(), Error> {
        if bitrate_kbps == 0 || fps == 0 {
            return Err(Error::InvalidInput(
                "bitrate and frame rate must be positive".into(),
            ));
        }
        self.encoding
            .reconfigure(|p| {
                p.init.frameRateNum = fps;
                set_rate(&mut p.config, bitrate_kbps, fps);
            })
            .map_err(backend_error)?;
        (self.bitrate_kbps, self.fps) = (bitrate_kbps, fps);
        Ok(())
    }
}

impl Encoder for NvencEncoder {
    fn codec(&self) -> Codec {
        self.codec
    }

    fn backend(&self) -> Backend {
        Backend::Nvenc
    }

    fn send_frame(&mut self, frame: &Frame<'_>) -> Result<(), Error> {
        if self.pending.is_some() {
            return Err(Error::InvalidInput(
                "receive_packet must drain the previous frame first".into(),
            ));
        }
        self.check_frame(frame)?;
        self.uploader
            .upload(frame, !self.surface_filled, self.input.surface_mut())
            .map_err(backend_error)?;
        self.surface_filled = true;
        self.packet.clear();
        // The timestamp travels through the driver as u64 and comes back bit for bit.
        let encoded = self
            .encoding
            .encode(
                &mut self.input,
                &mut self.output,
                frame.pts_ms as u64,
                self.force_idr,
                &mut self.packet,
            )
            .map_err(backend_error)?;
        if let Some(e) = encoded {
            self.force_idr = false;
            self.pending = Some((e, frame.pts_ms));
        }
        Ok(())
    }

    fn receive_packet(&mut self) -> Result<Option<Packet<'_>>, Error> {
        Ok(self.pending.take().map(|(e, pts_ms)| Packet {
            data: &self.packet,
            keyframe: e.keyframe,
            pts_ms,
            codec: self.codec,
        }))
    }

    fn request_keyframe(&mut self) {
        self.force_idr = true;
    }

    fn set_bitrate(&mut self, kbps: u32) -> Result<(), Error> {
        self.reconfigure(kbps, self.fps)
    }

    fn set_fps(&mut self, fps: u32) -> Result<(), Error> {
        self.reconfigure(self.bitrate_kbps, fps)
    }

    fn release_buffers(&mut self) {
        self.uploader.release();
    }
}

/// The session parameters for interactive streaming: preset P1 with ultra-low-latency tuning,
/// CBR with a one-frame VBV, an infinite GOP with IDR frames only on request, no B-frames, no
/// lookahead, zero reorder delay and the parameter sets repeated before every IDR.
pub(crate) fn low_latency_params(
    session: &Session,
    codec: GUID,
    config: &EncoderConfig,
) -> Result<Box<EncodeParams>, super::api::NvencError> {
    let tuning = sys::NV_ENC_TUNING_INFO::NV_ENC_TUNING_INFO_ULTRA_LOW_LATENCY;
    let mut p = EncodeParams::new();
    p.config = session.preset_config(codec, sys::NV_ENC_PRESET_P1_GUID, tuning)?;
    p.config.version = sys::NV_ENC_CONFIG_VER;
    p.config.gopLength = sys::NVENC_INFINITE_GOPLENGTH;
    p.config.frameIntervalP = 1;
    set_rate(&mut p.config, config.bitrate_kbps, config.fps);
    let rc = &mut p.config.rcParams;
    rc.set_zeroReorderDelay(1);
    rc.set_enableLookahead(0);
    rc.lookaheadDepth = 0;
    rc.lowDelayKeyFrameScale = 1;
    let codec_config = &mut p.config.encodeCodecConfig;
    if codec == sys::NV_ENC_CODEC_H264_GUID {
        // SAFETY: the configuration came from the H.264 preset query, so `h264Config` is the
        // union member the driver filled in.
        let h264 = unsafe { &mut codec_config.h264Config };
        h264.idrPeriod = sys::NVENC_INFINITE_GOPLENGTH;
        h264.set_repeatSPSPPS(1);
    } else if codec == sys::NV_ENC_CODEC_HEVC_GUID {
        // SAFETY: as above, for HEVC.
        let hevc = unsafe { &mut codec_config.hevcConfig };
        hevc.idrPeriod = sys::NVENC_INFINITE_GOPLENGTH;
        hevc.set_repeatSPSPPS(1);
    } else if codec == sys::NV_ENC_CODEC_AV1_GUID {
        // SAFETY: as above, for AV1.
        let av1 = unsafe { &mut codec_config.av1Config };
        av1.idrPeriod = sys::NVENC_INFINITE_GOPLENGTH;
        av1.set_repeatSeqHdr(1);
    }
    let init = &mut p.init;
    init.encodeGUID = codec;
    init.presetGUID = sys::NV_ENC_PRESET_P1_GUID;
    init.tuningInfo = tuning;
    init.encodeWidth = config.width;
    init.encodeHeight = config.height;
    init.darWidth = config.width;
    init.darHeight = config.height;
    init.maxEncodeWidth = config.width;
    init.maxEncodeHeight = config.height;
    init.frameRateNum = config.fps.max(1);
    init.frameRateDen = 1;
    init.enablePTD = 1;
    init.enableEncodeAsync = 0;
    Ok(p)
}

/// Constant bitrate `kbps` with a VBV of one frame at `fps`.
fn set_rate(config: &mut sys::NV_ENC_CONFIG, kbps: u32, fps: u32) {
    let bits = kbps.saturating_mul(1000);
    let rc = &mut config.rcParams;
    rc.rateControlMode = sys::NV_ENC_PARAMS_RC_MODE::NV_ENC_PARAMS_RC_CBR;
    rc.averageBitRate = bits;
    rc.maxBitRate = bits;
    rc.vbvBufferSize = bits / fps.max(1);
    rc.vbvInitialDelay = rc.vbvBufferSize;
}
