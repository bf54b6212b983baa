//! Layer 3 for NVENC: RAII types for a session and what hangs off it (a registered CUDA
//! surface, a bitstream buffer), each releasing its handle on drop.
//!
//! A session goes through two states, as types: [`Session`] is open (capability queries only);
//! [`Session::initialize`] turns it into an [`Encoding`], which can register inputs, create
//! output buffers and encode. Sub-resources keep an `Arc` of the session handle, so the session
//! is destroyed only after the last of them.

use std::ffi::c_void;
use std::sync::Arc;

use super::api::{EncodeApi, NvencError, zeroed};
use super::cuda::{Bound, Context, DeviceSurface};
use super::sys::{self, GUID, NVENCSTATUS};

/// The raw session, destroyed when the last owner drops.
#[derive(Debug)]
struct Handle {
    api: Arc<EncodeApi>,
    raw: *mut c_void,
    /// The CUDA context the session runs on; it outlives the session and is made current
    /// around every call, as FFmpeg's NVENC wrapper does.
    ctx: Arc<Context>,
}

// SAFETY: an NVENC session is not tied to a thread (NVIDIA's samples lock bitstreams on a thread
// other than the one that submits); the pointer is only handed to the driver.
unsafe impl Send for Handle {}
// SAFETY: shared access only reaches the driver through the `unsafe fn`s of `EncodeApi`, whose
// callers here all hold `&mut` of the owning wrapper, so calls on one session never overlap.
unsafe impl Sync for Handle {}

impl Handle {
    /// Makes the session's CUDA context current until the guard drops.
    fn bind(&self) -> Result<Bound<'_>, NvencError> {
        bind(&self.ctx)
    }

    /// `e` with the driver's last error message for this session attached.
    fn explain(&self, mut e: NvencError) -> NvencError {
        // SAFETY: `raw` is an open session while `self` lives.
        e.detail = unsafe { self.api.last_error(self.raw) };
        e
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        let _ctx = self.bind();
        // SAFETY: every registration and buffer holds an Arc of this handle, so none is left.
        if let Err(e) = unsafe { self.api.destroy_session(self.raw) } {
            tracing::warn!("NVENC: {e}");
        }
    }
}

/// Binds `ctx`, reporting a failure as an NVENC error of the call that needed it.
fn bind(ctx: &Context) -> Result<Bound<'_>, NvencError> {
    ctx.bind().map_err(|e| NvencError {
        call: "cuCtxPushCurrent_v2",
        status: NVENCSTATUS::NV_ENC_ERR_GENERIC,
        detail: e.to_string(),
    })
}

/// An open session that is not yet initialised: ask it what the device can do.
#[derive(Debug)]
pub(crate) struct Session {
    handle: Arc<Handle>,
}

impl Session {
    /// Opens a session on `ctx`'s device. This is where a GPU without NVENC, or one at its
    /// session limit, says no.
    pub(crate) fn open(api: &Arc<EncodeApi>, ctx: &Arc<Context>) -> Result<Self, NvencError> {
        let _ctx = bind(ctx)?;
        // SAFETY: the context is live and the handle keeps an Arc of it, so it outlives the
        // session.
        let raw = unsafe { api.open_session(ctx.raw().cast()) }?;
        Ok(Self {
            handle: Arc::new(Handle {
                api: Arc::clone(api),
                raw,
                ctx: Arc::clone(ctx),
            }),
        })
    }

    /// The codec GUIDs the device can encode (empty on a GPU without an encoder).
    pub(crate) fn codecs(&self) -> Result<Vec<GUID>, NvencError> {
        let h = &self.handle;
        let _ctx = h.bind()?;
        // SAFETY: the session is open.
        unsafe { h.api.encode_guids(h.raw) }.map_err(|e| h.explain(e))
    }

    /// The input formats the device takes for `codec`.
    pub(crate) fn input_formats(
        &self,
        codec: GUID,
    ) -> Result<Vec<sys::NV_ENC_BUFFER_FORMAT>, NvencError> {
        let h = &self.handle;
        let _ctx = h.bind()?;
        // SAFETY: the session is open.
        unsafe { h.api.input_formats(h.raw, codec) }.map_err(|e| h.explain(e))
    }

    /// One capability of the device for `codec`.
    pub(crate) fn caps(&self, codec: GUID, cap: sys::NV_ENC_CAPS) -> Result<i32, NvencError> {
        let h = &self.handle;
        let _ctx = h.bind()?;
        // SAFETY: the session is open.
        unsafe { h.api.caps(h.raw, codec, cap) }.map_err(|e| h.explain(e))
    }

    /// The configuration of `preset` with `tuning` for `codec`.
    pub(crate) fn preset_config(
        &self,
        codec: GUID,
        preset: GUID,
        tuning: sys::NV_ENC_TUNING_INFO,
    ) -> Result<sys::NV_ENC_CONFIG, NvencError> {
        let h = &self.handle;
        let _ctx = h.bind()?;
        // SAFETY: the session is open.
        unsafe { h.api.preset_config(h.raw, codec, preset, tuning) }.map_err(|e| h.explain(e))
    }

    /// Initialises the session with `params`.
    pub(crate) fn initialize(self, mut params: Box<EncodeParams>) -> Result<Encoding, NvencError> {
        params.link();
        {
            let h = &self.handle;
            let _ctx = h.bind()?;
            // SAFETY: the session is open and not initialised (this consumes it); `link` pointed
            // `encodeConfig` at the configuration inside the same box, which lives on in
            // `Encoding`.
            unsafe { h.api.initialize(h.raw, &mut params.init) }.map_err(|e| h.explain(e))?;
        }
        Ok(Encoding {
            handle: self.handle,
            params,
        })
    }
}

/// The initialisation parameters and the configuration they point to, kept together in one
/// box so the pointer stays valid for reconfiguration.
pub(crate) struct EncodeParams {
    /// `NV_ENC_INITIALIZE_PARAMS`; its `encodeConfig` is set by the session to `config`.
    pub(crate) init: sys::NV_ENC_INITIALIZE_PARAMS,
    /// The codec configuration.
    pub(crate) config: sys::NV_ENC_CONFIG,
}

// SAFETY: the only pointer that matters, `init.encodeConfig`, points into the same box and moves
// with it; the others (private data, reserved) stay null.
unsafe impl Send for EncodeParams {}

impl std::fmt::Debug for EncodeParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let i = &self.init;
        f.debug_struct("EncodeParams")
            .field("size", &(i.encodeWidth, i.encodeHeight))
            .field("fps", &(i.frameRateNum, i.frameRateDen))
            .field("bitrate", &self.config.rcParams.averageBitRate)
            .finish_non_exhaustive()
    }
}

impl EncodeParams {
    /// Zeroed parameters with both version fields set.
    pub(crate) fn new() -> Box<Self> {
        let mut p = Box::new(Self {
            init: zeroed(),
            config: zeroed(),
        });
        p.init.version = sys::NV_ENC_INITIALIZE_PARAMS_VER;
        p.config.version = sys::NV_ENC_CONFIG_VER;
        p
    }

    fn link(&mut self) {
        self.init.encodeConfig = &mut self.config;
    }
}

/// What one encoded frame was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Encoded {
    /// An IDR or intra frame: a decoder can start here.
    pub(crate) keyframe: bool,
    /// The timestamp passed in.
    pub(crate) pts: u64,
}

/// An initialised session.
#[derive(Debug)]
pub(crate) struct Encoding {
    handle: Arc<Handle>,
    params: Box<EncodeParams>,
}

impl Encoding {
    /// Changes the parameters (bitrate, frame rate) in place, without an IDR. On failure the
    /// old parameters stay in force.
    pub(crate) fn reconfigure(
        &mut self,
        change: impl FnOnce(&mut EncodeParams),
    ) -> Result<(), NvencError> {
        let old = (self.params.init, self.params.config);
        change(&mut self.params);
        self.params.link();
        let mut re: sys::NV_ENC_RECONFIGURE_PARAMS = zeroed();
        re.version = sys::NV_ENC_RECONFIGURE_PARAMS_VER;
        re.reInitEncodeParams = self.params.init;
        let h = &self.handle;
        let _ctx = h.bind()?;
        // SAFETY: the session is initialised; `encodeConfig` points into `self.params`, alive.
        let result = unsafe { h.api.reconfigure(h.raw, &mut re) }.map_err(|e| h.explain(e));
        if result.is_err() {
            (self.params.init, self.params.config) = old;
            self.params.link();
        }
        result
    }

    /// Registers `surface` (a `width` × `height` BGRA device buffer) as an input.
    pub(crate) fn register(
        &self,
        surface: DeviceSurface,
        width: u32,
        height: u32,
    ) -> Result<RegisteredSurface, NvencError> {
        let mut p: sys::NV_ENC_REGISTER_RESOURCE = zeroed();
        p.version = sys::NV_ENC_REGISTER_RESOURCE_VER;
        p.resourceType = sys::NV_ENC_INPUT_RESOURCE_TYPE::NV_ENC_INPUT_RESOURCE_TYPE_CUDADEVICEPTR;
        p.width = width;
        p.height = height;
        p.pitch = u32::try_from(surface.pitch()).unwrap_or(u32::MAX);
        p.resourceToRegister = surface.device_ptr() as *mut c_void;
        p.bufferFormat = sys::NV_ENC_BUFFER_FORMAT::NV_ENC_BUFFER_FORMAT_ARGB;
        p.bufferUsage = sys::NV_ENC_BUFFER_USAGE::NV_ENC_INPUT_IMAGE;
        let h = &self.handle;
        let _ctx = h.bind()?;
        // SAFETY: the session is initialised; the surface moves into the returned value, which
        // unregisters before it frees the surface.
        let raw = unsafe { h.api.register(h.raw, &mut p) }.map_err(|e| h.explain(e))?;
        Ok(RegisteredSurface {
            handle: Arc::clone(&self.handle),
            raw,
            surface,
        })
    }

    /// Creates an output buffer.
    pub(crate) fn bitstream(&self) -> Result<Bitstream, NvencError> {
        let h = &self.handle;
        let _ctx = h.bind()?;
        // SAFETY: the session is initialised.
        let raw = unsafe { h.api.create_bitstream(h.raw) }.map_err(|e| h.explain(e))?;
        Ok(Bitstream {
            handle: Arc::clone(&self.handle),
            raw,
        })
    }

    /// Encodes what `input` holds into `output` and appends the bitstream to `out`; `None` when
    /// the encoder held the frame back (it does not with this configuration).
    pub(crate) fn encode(
        &mut self,
        input: &mut RegisteredSurface,
        output: &mut Bitstream,
        pts: u64,
        force_idr: bool,
        out: &mut Vec<u8>,
    ) -> Result<Option<Encoded>, NvencError> {
        assert!(
            Arc::ptr_eq(&input.handle, &self.handle) && Arc::ptr_eq(&output.handle, &self.handle),
            "NVENC resources of another session"
        );
        let h = &self.handle;
        let _ctx = h.bind()?;
        let (width, height) = (self.params.init.encodeWidth, self.params.init.encodeHeight);
        let mapped = input.map()?;
        let mut pic: sys::NV_ENC_PIC_PARAMS = zeroed();
        pic.version = sys::NV_ENC_PIC_PARAMS_VER;
        pic.inputWidth = width;
        pic.inputHeight = height;
        pic.inputPitch = u32::try_from(input.surface.pitch()).unwrap_or(u32::MAX);
        pic.inputBuffer = mapped.ptr;
        pic.bufferFmt = mapped.format;
        pic.outputBitstream = output.raw;
        pic.pictureStruct = sys::NV_ENC_PIC_STRUCT::NV_ENC_PIC_STRUCT_FRAME;
        pic.inputTimeStamp = pts;
        if force_idr {
            pic.encodePicFlags = sys::NV_ENC_PIC_FLAGS::NV_ENC_PIC_FLAG_FORCEIDR.0
                | sys::NV_ENC_PIC_FLAGS::NV_ENC_PIC_FLAG_OUTPUT_SPSPPS.0;
        }
        // SAFETY: the session is initialised; the input is mapped and the output created on it.
        let produced = unsafe { h.api.encode(h.raw, &mut pic) }.map_err(|e| h.explain(e))?;
        if !produced {
            return Ok(None);
        }
        let encoded = output.read_into(out)?;
        // The lock waited for the encode, so unmapping (when `mapped` drops) is safe now.
        drop(mapped);
        Ok(Some(encoded))
    }
}

/// A device surface registered with NVENC as `NV_ENC_INPUT_RESOURCE_TYPE_CUDADEVICEPTR`.
#[derive(Debug)]
pub(crate) struct RegisteredSurface {
    handle: Arc<Handle>,
    raw: sys::NV_ENC_REGISTERED_PTR,
    surface: DeviceSurface,
}

// SAFETY: the registration handle is only passed back to the driver, from any thread (see Handle).
unsafe impl Send for RegisteredSurface {}

/// A registered surface mapped for one encode; unmapped on drop.
#[derive(Debug)]
struct Mapped<'a> {
    reg: &'a RegisteredSurface,
    ptr: sys::NV_ENC_INPUT_PTR,
    format: sys::NV_ENC_BUFFER_FORMAT,
}

impl RegisteredSurface {
    /// The surface, to upload into. It is never mapped outside [`Encoding::encode`].
    pub(crate) fn surface_mut(&mut self) -> &mut DeviceSurface {
        &mut self.surface
    }

    fn map(&self) -> Result<Mapped<'_>, NvencError> {
        let h = &self.handle;
        let _ctx = h.bind()?;
        // SAFETY: registered on this session and not mapped (mappings live only inside
        // `encode`, which holds `&mut self`).
        let (ptr, format) = unsafe { h.api.map(h.raw, self.raw) }.map_err(|e| h.explain(e))?;
        Ok(Mapped {
            reg: self,
            ptr,
            format,
        })
    }
}

impl Drop for Mapped<'_> {
    fn drop(&mut self) {
        let h = &self.reg.handle;
        let _ctx = h.bind();
        // SAFETY: mapped by `map` on this session; `encode` waits for the bitstream before
        // this drops, so no encode is pending on it.
        if let Err(e) = unsafe { h.api.unmap(h.raw, self.ptr) } {
            tracing::warn!("NVENC: {e}");
        }
    }
}

impl Drop for RegisteredSurface {
    fn drop(&mut self) {
        let h = &self.handle;
        let _ctx = h.bind();
        // SAFETY: registered on this session and not mapped; the surface is freed after this,
        // when the field drops.
        if let Err(e) = unsafe { h.api.unregister(h.raw, self.raw) } {
            tracing::warn!("NVENC: {e}");
        }
    }
}

/// An output bitstream buffer in system memory.
#[derive(Debug)]
pub(crate) struct Bitstream {
    handle: Arc<Handle>,
    raw: sys::NV_ENC_OUTPUT_PTR,
}

// SAFETY: the buffer handle is only passed back to the driver, from any thread (see Handle).
unsafe impl Send for Bitstream {}

impl Bitstream {
    /// Waits for the pending encode, appends its bitstream to `out` and unlocks.
    fn read_into(&mut self, out: &mut Vec<u8>) -> Result<Encoded, NvencError> {
        let h = &self.handle;
        let _ctx = h.bind()?;
        let mut lock: sys::NV_ENC_LOCK_BITSTREAM = zeroed();
        lock.version = sys::NV_ENC_LOCK_BITSTREAM_VER;
        lock.outputBitstream = self.raw;
        // SAFETY: our buffer, with an encode pending (the caller just submitted one).
        unsafe { h.api.lock_bitstream(h.raw, &mut lock) }.map_err(|e| h.explain(e))?;
        let len = lock.bitstreamSizeInBytes as usize;
        if !lock.bitstreamBufferPtr.is_null() && len > 0 {
            // SAFETY: while locked, the driver guarantees `bitstreamSizeInBytes` readable bytes at
            // `bitstreamBufferPtr`; they are copied before the unlock below.
            let data =
                unsafe { std::slice::from_raw_parts(lock.bitstreamBufferPtr.cast::<u8>(), len) };
            out.extend_from_slice(data);
        }
        // SAFETY: locked just above; the pointer is not used after this.
        unsafe { h.api.unlock_bitstream(h.raw, self.raw) }.map_err(|e| h.explain(e))?;
        let keyframe = lock.pictureType == sys::NV_ENC_PIC_TYPE::NV_ENC_PIC_TYPE_IDR
            || lock.pictureType == sys::NV_ENC_PIC_TYPE::NV_ENC_PIC_TYPE_I;
        Ok(Encoded {
            keyframe,
            pts: lock.outputTimeStamp,
        })
    }
}

impl Drop for Bitstream {
    fn drop(&mut self) {
        let h = &self.handle;
        let _ctx = h.bind();
        // SAFETY: created on this session and not locked (locks end inside `read_into`).
        if let Err(e) = unsafe { h.api.destroy_bitstream(h.raw, self.raw) } {
            tracing::warn!("NVENC: {e}");
        }
    }
}
