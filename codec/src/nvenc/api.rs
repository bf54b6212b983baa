//! Layer 2 for NVENC: `libnvidia-encode.so.1` loaded at run time, and `unsafe fn` wrappers over
//! its function list that turn `NVENCSTATUS` into `Result`.
//!
//! The library exports two symbols, `NvEncodeAPIGetMaxSupportedVersion` and
//! `NvEncodeAPICreateInstance`; everything else is reached through the function list the latter
//! fills in. Nothing links against the library, so the binary starts where it is absent.

use std::ffi::{CStr, c_void};
use std::fmt;

use super::sys::{self, GUID, NVENCSTATUS};

/// The library's file name, as the driver installs it.
pub(crate) const LIBRARY: &str = "libnvidia-encode.so.1";

/// The API version these bindings speak, in `NvEncodeAPIGetMaxSupportedVersion`'s encoding
/// (`major << 4 | minor`).
pub(crate) const REQUIRED_VERSION: u32 =
    (sys::NVENCAPI_MAJOR_VERSION << 4) | sys::NVENCAPI_MINOR_VERSION;

/// An API version in the `major << 4 | minor` encoding, printed as "major.minor".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ApiVersion(pub(crate) u32);

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.0 >> 4, self.0 & 0xf)
    }
}

/// An NVENC call that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NvencError {
    /// The entry point.
    pub(crate) call: &'static str,
    /// What it returned.
    pub(crate) status: NVENCSTATUS,
    /// `nvEncGetLastErrorString` where a session existed, else empty.
    pub(crate) detail: String,
}

impl fmt::Display for NvencError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} failed: {} ({})",
            self.call,
            status_name(self.status),
            self.status.0
        )?;
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

impl std::error::Error for NvencError {}

/// Why the library could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum LoadError {
    /// It is not installed (or not mapped into this container).
    #[error("{LIBRARY} not loadable: {0}")]
    NotFound(String),
    /// It lacks one of its two exported entry points.
    #[error("{LIBRARY} lacks {0}")]
    MissingSymbol(&'static str),
    /// The driver supports an older API than these bindings.
    #[error("driver offers NVENC API {have}, deskcast needs {need}")]
    TooOld {
        /// The driver's maximum.
        have: ApiVersion,
        /// Ours.
        need: ApiVersion,
    },
    /// One of the two entry points failed.
    #[error(transparent)]
    Call(NvencError),
}

type GetMaxSupportedVersion = unsafe extern "C" fn(*mut u32) -> NVENCSTATUS;
type CreateInstance = unsafe extern "C" fn(*mut sys::NV_ENCODE_API_FUNCTION_LIST) -> NVENCSTATUS;

/// The loaded library and its function list.
pub(crate) struct EncodeApi {
    fns: sys::NV_ENCODE_API_FUNCTION_LIST,
    max_version: ApiVersion,
    /// Keeps the function pointers valid; dropped last.
    _lib: libloading::Library,
}

// SAFETY: after `load` the value is an immutable table of function pointers into a library it
// keeps loaded; NVENC's entry points may be called from any thread, and the `unsafe fn`s that
// call them leave serialising the calls on one session to their callers.
unsafe impl Send for EncodeApi {}
// SAFETY: as for Send: shared access only reads the table.
unsafe impl Sync for EncodeApi {}

impl fmt::Debug for EncodeApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncodeApi")
            .field("max_version", &self.max_version)
            .finish_non_exhaustive()
    }
}

fn check(call: &'static str, status: NVENCSTATUS) -> Result<(), NvencError> {
    if status == NVENCSTATUS::NV_ENC_SUCCESS {
        Ok(())
    } else {
        Err(NvencError {
            call,
            status,
            detail: String::new(),
        })
    }
}

/// Takes a function out of the list, or reports it missing as `NV_ENC_ERR_INVALID_CALL`.
macro_rules! entry {
    ($self:ident . $name:ident) => {
        $self.fns.$name.ok_or(NvencError {
            call: stringify!($name),
            status: NVENCSTATUS::NV_ENC_ERR_INVALID_CALL,
            detail: "not in the driver's function list".into(),
        })?
    };
}

impl EncodeApi {
    /// Loads the library, checks the driver's API version and fetches the function list.
    /// Needs no GPU: all of this works with the library alone.
    pub(crate) fn load() -> Result<Self, LoadError> {
        // SAFETY: loading the driver's encode library runs its initialisers, which need nothing
        // from us.
        let lib = unsafe { libloading::Library::new(LIBRARY) }
            .map_err(|e| LoadError::NotFound(e.to_string()))?;
        // SAFETY: the type matches the header's `NVENCSTATUS NvEncodeAPIGetMaxSupportedVersion(
        // uint32_t*)`; the symbol is copied out and `lib` outlives every use below.
        let max: GetMaxSupportedVersion = *unsafe { lib.get(b"NvEncodeAPIGetMaxSupportedVersion") }
            .map_err(|_| LoadError::MissingSymbol("NvEncodeAPIGetMaxSupportedVersion"))?;
        // SAFETY: as above, for `NVENCSTATUS NvEncodeAPICreateInstance(NV_ENCODE_API_FUNCTION_LIST*)`.
        let create: CreateInstance = *unsafe { lib.get(b"NvEncodeAPICreateInstance") }
            .map_err(|_| LoadError::MissingSymbol("NvEncodeAPICreateInstance"))?;
        let mut version = 0u32;
        // SAFETY: `version` is a valid out-pointer.
        check("NvEncodeAPIGetMaxSupportedVersion", unsafe {
            max(&mut version)
        })
        .map_err(LoadError::Call)?;
        let (have, need) = (ApiVersion(version), ApiVersion(REQUIRED_VERSION));
        if have < need {
            return Err(LoadError::TooOld { have, need });
        }
        let mut fns: sys::NV_ENCODE_API_FUNCTION_LIST = zeroed();
        fns.version = sys::NV_ENCODE_API_FUNCTION_LIST_VER;
        // SAFETY: `fns` is a zeroed list of the layout this API version defines, with its
        // version set, as the call requires.
        check("NvEncodeAPICreateInstance", unsafe { create(&mut fns) }).map_err(LoadError::Call)?;
        Ok(Self {
            fns,
            max_version: have,
            _lib: lib,
        })
    }

    /// The highest API version the driver supports.
    pub(crate) fn max_version(&self) -> ApiVersion {
        self.max_version
    }

    /// Opens a session on a CUDA context.
    ///
    /// # Safety
    /// `cuda_context` must be a live `CUcontext` that outlives the session.
    pub(crate) unsafe fn open_session(
        &self,
        cuda_context: *mut c_void,
    ) -> Result<*mut c_void, NvencError> {
        let f = entry!(self.nvEncOpenEncodeSessionEx);
        let mut params: sys::NV_ENC_OPEN_ENCODE_SESSION_EX_PARAMS = zeroed();
        params.version = sys::NV_ENC_OPEN_ENCODE_SESSION_EX_PARAMS_VER;
        params.deviceType = sys::NV_ENC_DEVICE_TYPE::NV_ENC_DEVICE_TYPE_CUDA;
        params.device = cuda_context;
        params.apiVersion = sys::NVENCAPI_VERSION;
        let mut encoder = std::ptr::null_mut();
        // SAFETY: both pointers are valid for the call; the caller vouches for the context.
        check("nvEncOpenEncodeSessionEx", unsafe {
            f(&mut params, &mut encoder)
        })?;
        Ok(encoder)
    }

    /// Destroys a session.
    ///
    /// # Safety
    /// `encoder` must be an open session with no resources left registered or mapped, and is
    /// invalid afterwards.
    pub(crate) unsafe fn destroy_session(&self, encoder: *mut c_void) -> Result<(), NvencError> {
        let f = entry!(self.nvEncDestroyEncoder);
        // SAFETY: the caller vouches for `encoder`.
        check("nvEncDestroyEncoder", unsafe { f(encoder) })
    }

    /// The session's last error message, for reports.
    ///
    /// # Safety
    /// `encoder` must be an open session.
    pub(crate) unsafe fn last_error(&self, encoder: *mut c_void) -> String {
        let Some(f) = self.fns.nvEncGetLastErrorString else {
            return String::new();
        };
        // SAFETY: the caller vouches for `encoder`; the driver returns a NUL-terminated string
        // it owns (or NULL), valid until the next call on the session.
        let p = unsafe { f(encoder) };
        if p.is_null() {
            return String::new();
        }
        // SAFETY: non-null, NUL-terminated, valid for this read.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }

    /// The codec GUIDs the device can encode.
    ///
    /// # Safety
    /// `encoder` must be an open session.
    pub(crate) unsafe fn encode_guids(
        &self,
        encoder: *mut c_void,
    ) -> Result<Vec<GUID>, NvencError> {
        let count_fn = entry!(self.nvEncGetEncodeGUIDCount);
        let list_fn = entry!(self.nvEncGetEncodeGUIDs);
        let mut count = 0u32;
        // SAFETY: the caller vouches for `encoder`; `count` is a valid out-pointer.
        check("nvEncGetEncodeGUIDCount", unsafe {
            count_fn(encoder, &mut count)
        })?;
        let mut guids = vec![zeroed::<GUID>(); count as usize];
        let mut filled = 0u32;
        // SAFETY: `guids` has room for `count` entries, which is what we pass.
        check("nvEncGetEncodeGUIDs", unsafe {
            list_fn(encoder, guids.as_mut_ptr(), count, &mut filled)
        })?;
        guids.truncate(filled as usize);
        Ok(guids)
    }

    /// The input formats the device accepts for `codec`.
    ///
    /// # Safety
    /// `encoder` must be an open session.
    pub(crate) unsafe fn input_formats(
        &self,
        encoder: *mut c_void,
        codec: GUID,
    ) -> Result<Vec<sys::NV_ENC_BUFFER_FORMAT>, NvencError> {
        let count_fn = entry!(self.nvEncGetInputFormatCount);
        let list_fn = entry!(self.nvEncGetInputFormats);
        let mut count = 0u32;
        // SAFETY: the caller vouches for `encoder`; `count` is a valid out-pointer.
        check("nvEncGetInputFormatCount", unsafe {
            count_fn(encoder, codec, &mut count)
        })?;
        let mut formats = vec![sys::NV_ENC_BUFFER_FORMAT(0); count as usize];
        let mut filled = 0u32;
        // SAFETY: `formats` has room for `count` entries.
        check("nvEncGetInputFormats", unsafe {
            list_fn(encoder, codec, formats.as_mut_ptr(), count, &mut filled)
        })?;
        formats.truncate(filled as usize);
        Ok(formats)
    }

    /// One capability value for `codec`.
    ///
    /// # Safety
    /// `encoder` must be an open session.
    pub(crate) unsafe fn caps(
        &self,
        encoder: *mut c_void,
        codec: GUID,
        cap: sys::NV_ENC_CAPS,
    ) -> Result<i32, NvencError> {
        let f = entry!(self.nvEncGetEncodeCaps);
        let mut param: sys::NV_ENC_CAPS_PARAM = zeroed();
        param.version = sys::NV_ENC_CAPS_PARAM_VER;
        param.capsToQuery = cap;
        let mut value = 0;
        // SAFETY: the caller vouches for `encoder`; both pointers are valid for the call.
        check("nvEncGetEncodeCaps", unsafe {
            f(encoder, codec, &mut param, &mut value)
        })?;
        Ok(value)
    }

    /// The configuration a preset and tuning stand for, to be adjusted and passed to
    /// [`Self::initialize`].
    ///
    /// # Safety
    /// `encoder` must be an open session.
    pub(crate) unsafe fn preset_config(
        &self,
        encoder: *mut c_void,
        codec: GUID,
        preset: GUID,
        tuning: sys::NV_ENC_TUNING_INFO,
    ) -> Result<sys::NV_ENC_CONFIG, NvencError> {
        let f = entry!(self.nvEncGetEncodePresetConfigEx);
        let mut preset_config: Box<sys::NV_ENC_PRESET_CONFIG> = Box::new(zeroed());
        preset_config.version = sys::NV_ENC_PRESET_CONFIG_VER;
        preset_config.presetCfg.version = sys::NV_ENC_CONFIG_VER;
        // SAFETY: the caller vouches for `encoder`; the struct is versioned as required.
        check("nvEncGetEncodePresetConfigEx", unsafe {
            f(encoder, codec, preset, tuning, &mut *preset_config)
        })?;
        Ok(preset_config.presetCfg)
    }

    /// Initialises the session for encoding.
    ///
    /// # Safety
    /// `encoder` must be an open, uninitialised session; `params.encodeConfig` must point to a
    /// valid configuration for the duration of the call.
    pub(crate) unsafe fn initialize(
        &self,
        encoder: *mut c_void,
        params: &mut sys::NV_ENC_INITIALIZE_PARAMS,
    ) -> Result<(), NvencError> {
        let f = entry!(self.nvEncInitializeEncoder);
        // SAFETY: the caller vouches for `encoder` and the configuration pointer.
        check("nvEncInitializeEncoder", unsafe { f(encoder, params) })
    }

    /// Changes rate control or frame rate without a new session.
    ///
    /// # Safety
    /// `encoder` must be initialised; `params.reInitEncodeParams.encodeConfig` must be valid.
    pub(crate) unsafe fn reconfigure(
        &self,
        encoder: *mut c_void,
        params: &mut sys::NV_ENC_RECONFIGURE_PARAMS,
    ) -> Result<(), NvencError> {
        let f = entry!(self.nvEncReconfigureEncoder);
        // SAFETY: the caller vouches for `encoder` and the configuration pointer.
        check("nvEncReconfigureEncoder", unsafe { f(encoder, params) })
    }

    /// Registers a CUDA device buffer as an input resource.
    ///
    /// # Safety
    /// `encoder` must be initialised; the described buffer must stay allocated until
    /// [`Self::unregister`].
    pub(crate) unsafe fn register(
        &self,
        encoder: *mut c_void,
        params: &mut sys::NV_ENC_REGISTER_RESOURCE,
    ) -> Result<sys::NV_ENC_REGISTERED_PTR, NvencError> {
        let f = entry!(self.nvEncRegisterResource);
        // SAFETY: the caller vouches for `encoder` and the buffer.
        check("nvEncRegisterResource", unsafe { f(encoder, params) })?;
        Ok(params.registeredResource)
    }

    /// Undoes [`Self::register`].
    ///
    /// # Safety
    /// `resource` must be registered with `encoder` and not mapped.
    pub(crate) unsafe fn unregister(
        &self,
        encoder: *mut c_void,
        resource: sys::NV_ENC_REGISTERED_PTR,
    ) -> Result<(), NvencError> {
        let f = entry!(self.nvEncUnregisterResource);
        // SAFETY: the caller vouches for both handles.
        check("nvEncUnregisterResource", unsafe { f(encoder, resource) })
    }

    /// Maps a registered resource for one encode; returns the input pointer and its format.
    ///
    /// # Safety
    /// `resource` must be registered with `encoder` and not mapped.
    pub(crate) unsafe fn map(
        &self,
        encoder: *mut c_void,
        resource: sys::NV_ENC_REGISTERED_PTR,
    ) -> Result<(sys::NV_ENC_INPUT_PTR, sys::NV_ENC_BUFFER_FORMAT), NvencError> {
        let f = entry!(self.nvEncMapInputResource);
        let mut params: sys::NV_ENC_MAP_INPUT_RESOURCE = zeroed();
        params.version = sys::NV_ENC_MAP_INPUT_RESOURCE_VER;
        params.registeredResource = resource;
        // SAFETY: the caller vouches for both handles; `params` is versioned.
        check("nvEncMapInputResource", unsafe { f(encoder, &mut params) })?;
        Ok((params.mappedResource, params.mappedBufferFmt))
    }

    /// Undoes [`Self::map`].
    ///
    /// # Safety
    /// `mapped` must come from `map` on `encoder`, with no encode pending on it.
    pub(crate) unsafe fn unmap(
        &self,
        encoder: *mut c_void,
        mapped: sys::NV_ENC_INPUT_PTR,
    ) -> Result<(), NvencError> {
        let f = entry!(self.nvEncUnmapInputResource);
        // SAFETY: the caller vouches for both handles.
        check("nvEncUnmapInputResource", unsafe { f(encoder, mapped) })
    }

    /// Allocates an output bitstream buffer in system memory.
    ///
    /// # Safety
    /// `encoder` must be initialised.
    pub(crate) unsafe fn create_bitstream(
        &self,
        encoder: *mut c_void,
    ) -> Result<sys::NV_ENC_OUTPUT_PTR, NvencError> {
        let f = entry!(self.nvEncCreateBitstreamBuffer);
        let mut params: sys::NV_ENC_CREATE_BITSTREAM_BUFFER = zeroed();
        params.version = sys::NV_ENC_CREATE_BITSTREAM_BUFFER_VER;
        // SAFETY: the caller vouches for `encoder`; `params` is versioned.
        check("nvEncCreateBitstreamBuffer", unsafe {
            f(encoder, &mut params)
        })?;
        Ok(params.bitstreamBuffer)
    }

    /// Frees a bitstream buffer.
    ///
    /// # Safety
    /// `buffer` must come from `create_bitstream` on `encoder` and not be locked.
    pub(crate) unsafe fn destroy_bitstream(
        &self,
        encoder: *mut c_void,
        buffer: sys::NV_ENC_OUTPUT_PTR,
    ) -> Result<(), NvencError> {
        let f = entry!(self.nvEncDestroyBitstreamBuffer);
        // SAFETY: the caller vouches for both handles.
        check("nvEncDestroyBitstreamBuffer", unsafe { f(encoder, buffer) })
    }

    /// Submits one picture. `Ok(false)` means the encoder wants more input before it outputs
    /// (`NV_ENC_ERR_NEED_MORE_INPUT`), which cannot happen without B-frames or lookahead.
    ///
    /// # Safety
    /// `encoder` must be initialised; the input and output handles in `params` must be mapped
    /// and created on it.
    pub(crate) unsafe fn encode(
        &self,
        encoder: *mut c_void,
        params: &mut sys::NV_ENC_PIC_PARAMS,
    ) -> Result<bool, NvencError> {
        let f = entry!(self.nvEncEncodePicture);
        // SAFETY: the caller vouches for the session and the handles.
        let status = unsafe { f(encoder, params) };
        if status == NVENCSTATUS::NV_ENC_ERR_NEED_MORE_INPUT {
            return Ok(false);
        }
        check("nvEncEncodePicture", status)?;
        Ok(true)
    }

    /// Waits for and locks the bitstream of the last encode into `params`.
    ///
    /// # Safety
    /// `params.outputBitstream` must be a bitstream buffer of `encoder` with an encode pending.
    pub(crate) unsafe fn lock_bitstream(
        &self,
        encoder: *mut c_void,
        params: &mut sys::NV_ENC_LOCK_BITSTREAM,
    ) -> Result<(), NvencError> {
        let f = entry!(self.nvEncLockBitstream);
        // SAFETY: the caller vouches for the session and the buffer.
        check("nvEncLockBitstream", unsafe { f(encoder, params) })
    }

    /// Unlocks a bitstream buffer.
    ///
    /// # Safety
    /// `buffer` must be locked; the pointer the lock returned is invalid afterwards.
    pub(crate) unsafe fn unlock_bitstream(
        &self,
        encoder: *mut c_void,
        buffer: sys::NV_ENC_OUTPUT_PTR,
    ) -> Result<(), NvencError> {
        let f = entry!(self.nvEncUnlockBitstream);
        // SAFETY: the caller vouches for both handles.
        check("nvEncUnlockBitstream", unsafe { f(encoder, buffer) })
    }
}

/// Plain C structs of the NVENC API for which all-zero bytes are a valid value: integers,
/// raw pointers, `Option` of function pointers and newtype enums only. The header itself asks
/// for every struct to be zeroed before its fields are set.
///
/// # Safety
/// Implement only for types whose every field accepts all-zero bytes.
pub(crate) unsafe trait Zeroable: Sized {}

macro_rules! zeroable {
    ($($t:ty),* $(,)?) => {
        // SAFETY: each of these is a bindgen-generated `repr(C)` struct of integers, raw
        // pointers, arrays, unions and newtype enums over integers, and `Option<fn>`; all-zero
        // is valid for every one of those.
        $(unsafe impl Zeroable for $t {})*
    };
}

zeroable!(
    GUID,
    sys::NV_ENCODE_API_FUNCTION_LIST,
    sys::NV_ENC_OPEN_ENCODE_SESSION_EX_PARAMS,
    sys::NV_ENC_CAPS_PARAM,
    sys::NV_ENC_PRESET_CONFIG,
    sys::NV_ENC_CONFIG,
    sys::NV_ENC_INITIALIZE_PARAMS,
    sys::NV_ENC_RECONFIGURE_PARAMS,
    sys::NV_ENC_REGISTER_RESOURCE,
    sys::NV_ENC_MAP_INPUT_RESOURCE,
    sys::NV_ENC_CREATE_BITSTREAM_BUFFER,
    sys::NV_ENC_PIC_PARAMS,
    sys::NV_ENC_LOCK_BITSTREAM,
);

/// An all-zero value of an NVENC struct.
pub(crate) fn zeroed<T: Zeroable>() -> T {
    // SAFETY: `Zeroable` promises all-zero bytes are a valid `T`.
    unsafe { std::mem::zeroed() }
}

/// The header's name for a status code.
pub(crate) fn status_name(status: NVENCSTATUS) -> &'static str {
    macro_rules! names {
        ($($n:ident),* $(,)?) => {
            $(if status == NVENCSTATUS::$n { return stringify!($n); })*
        };
    }
    names!(
        NV_ENC_SUCCESS,
        NV_ENC_ERR_NO_ENCODE_DEVICE,
        NV_ENC_ERR_UNSUPPORTED_DEVICE,
        NV_ENC_ERR_INVALID_ENCODERDEVICE,
        NV_ENC_ERR_INVALID_DEVICE,
        NV_ENC_ERR_DEVICE_NOT_EXIST,
        NV_ENC_ERR_INVALID_PTR,
        NV_ENC_ERR_INVALID_EVENT,
        NV_ENC_ERR_INVALID_PARAM,
        NV_ENC_ERR_INVALID_CALL,
        NV_ENC_ERR_OUT_OF_MEMORY,
        NV_ENC_ERR_ENCODER_NOT_INITIALIZED,
        NV_ENC_ERR_UNSUPPORTED_PARAM,
        NV_ENC_ERR_LOCK_BUSY,
        NV_ENC_ERR_NOT_ENOUGH_BUFFER,
        NV_ENC_ERR_INVALID_VERSION,
        NV_ENC_ERR_MAP_FAILED,
        NV_ENC_ERR_NEED_MORE_INPUT,
        NV_ENC_ERR_ENCODER_BUSY,
        NV_ENC_ERR_EVENT_NOT_REGISTERD,
        NV_ENC_ERR_GENERIC,
        NV_ENC_ERR_INCOMPATIBLE_CLIENT_KEY,
        NV_ENC_ERR_UNIMPLEMENTED,
        NV_ENC_ERR_RESOURCE_REGISTER_FAILED,
        NV_ENC_ERR_RESOURCE_NOT_REGISTERED,
        NV_ENC_ERR_RESOURCE_NOT_MAPPED,
        NV_ENC_ERR_NEED_MORE_OUTPUT,
    );
    "unknown NVENCSTATUS"
}
