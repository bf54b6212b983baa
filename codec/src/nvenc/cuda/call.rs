//! Layer 2 for CUDA: `unsafe fn` wrappers over the driver's entry points that turn CUDA's
//! status codes into `Result`.
//!
//! The entry points are looked up in `libcuda` by [`Library::load`] itself, with signatures
//! that return a plain C `int`, and called through those pointers: a status code newer than the
//! bindings (a newer driver) stays a number instead of becoming an invalid Rust enum, and a
//! missing library or symbol is an error rather than cudarc's panic. cudarc provides the types.

use std::ffi::{c_char, c_int, c_uint, c_void};

use cudarc::driver::sys::{
    self, CUcontext, CUdevice, CUdevice_attribute, CUdeviceptr, CUresult, CUstream,
};

/// CUDA status codes this crate looks at, as the driver returns them.
pub(crate) mod code {
    use super::CUresult;

    /// Success.
    pub(crate) const SUCCESS: i32 = CUresult::CUDA_SUCCESS as i32;
    /// The driver sees no device.
    pub(crate) const NO_DEVICE: i32 = CUresult::CUDA_ERROR_NO_DEVICE as i32;
    /// The kernel module and the user-space driver differ.
    pub(crate) const SYSTEM_DRIVER_MISMATCH: i32 =
        CUresult::CUDA_ERROR_SYSTEM_DRIVER_MISMATCH as i32;
    /// The system is not ready (e.g. fabric manager).
    pub(crate) const SYSTEM_NOT_READY: i32 = CUresult::CUDA_ERROR_SYSTEM_NOT_READY as i32;
}

/// A CUDA driver call that returned an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{call} failed: {} ({code})", result_name(*.code))]
pub(crate) struct CudaError {
    /// The driver entry point.
    pub(crate) call: &'static str,
    /// What it returned (a `CUresult` value, possibly one newer than the bindings).
    pub(crate) code: i32,
}

/// The name of a status code, for messages.
fn result_name(code: i32) -> &'static str {
    const NAMES: &[(CUresult, &str)] = &[
        (
            CUresult::CUDA_ERROR_INVALID_VALUE,
            "CUDA_ERROR_INVALID_VALUE",
        ),
        (
            CUresult::CUDA_ERROR_OUT_OF_MEMORY,
            "CUDA_ERROR_OUT_OF_MEMORY",
        ),
        (
            CUresult::CUDA_ERROR_NOT_INITIALIZED,
            "CUDA_ERROR_NOT_INITIALIZED",
        ),
        (CUresult::CUDA_ERROR_NO_DEVICE, "CUDA_ERROR_NO_DEVICE"),
        (
            CUresult::CUDA_ERROR_INVALID_DEVICE,
            "CUDA_ERROR_INVALID_DEVICE",
        ),
        (
            CUresult::CUDA_ERROR_INVALID_CONTEXT,
            "CUDA_ERROR_INVALID_CONTEXT",
        ),
        (
            CUresult::CUDA_ERROR_OPERATING_SYSTEM,
            "CUDA_ERROR_OPERATING_SYSTEM",
        ),
        (
            CUresult::CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED,
            "CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED",
        ),
        (
            CUresult::CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED,
            "CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED",
        ),
        (
            CUresult::CUDA_ERROR_NOT_PERMITTED,
            "CUDA_ERROR_NOT_PERMITTED",
        ),
        (
            CUresult::CUDA_ERROR_NOT_SUPPORTED,
            "CUDA_ERROR_NOT_SUPPORTED",
        ),
        (
            CUresult::CUDA_ERROR_SYSTEM_NOT_READY,
            "CUDA_ERROR_SYSTEM_NOT_READY",
        ),
        (
            CUresult::CUDA_ERROR_SYSTEM_DRIVER_MISMATCH,
            "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH",
        ),
        (
            CUresult::CUDA_ERROR_DEVICE_UNAVAILABLE,
            "CUDA_ERROR_DEVICE_UNAVAILABLE",
        ),
        (CUresult::CUDA_ERROR_UNKNOWN, "CUDA_ERROR_UNKNOWN"),
    ];
    NAMES
        .iter()
        .find(|(c, _)| *c as i32 == code)
        .map_or("CUDA error", |(_, name)| name)
}

/// Why `libcuda` could not be used at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum LoadError {
    /// No candidate name could be opened.
    #[error("libcuda.so.1 not loadable (tried {tried}): {last}")]
    NotFound {
        /// The names tried, comma-separated.
        tried: String,
        /// The loader's message for the last one.
        last: String,
    },
    /// The library lacks an entry point we call: a driver older than CUDA 11.
    #[error("{library} lacks {symbol}")]
    MissingSymbol {
        /// The file that was opened.
        library: String,
        /// The missing entry point.
        symbol: &'static str,
    },
}

/// Declares the entry points: a struct of function pointers, and the loader that fills it.
macro_rules! entry_points {
    ($($field:ident = $symbol:literal: fn($($arg:ty),*);)*) => {
        /// The driver's entry points we call, each returning a raw `CUresult`.
        #[derive(Clone, Copy)]
        struct Fns {
            $($field: unsafe extern "C" fn($($arg),*) -> c_int,)*
        }

        impl Fns {
            /// Looks every entry point up in `handle`.
            fn load(handle: &libloading::Library, library: &str) -> Result<Self, LoadError> {
                Ok(Self {
                    $($field: {
                        // SAFETY: the symbol is declared here with the C signature the CUDA
                        // driver API gives it (return type widened to the int-sized enum's
                        // representation); the pointer is copied out and used only while the
                        // `Library` that owns `handle` lives.
                        let symbol = unsafe {
                            handle.get::<unsafe extern "C" fn($($arg),*) -> c_int>(concat!($symbol, "\0").as_bytes())
                        };
                        *symbol.map_err(|_| LoadError::MissingSymbol { library: library.to_owned(), symbol: $symbol })?
                    },)*
                })
            }
        }
    };
}

entry_points! {
    init = "cuInit": fn(c_uint);
    driver_get_version = "cuDriverGetVersion": fn(*mut c_int);
    device_get_count = "cuDeviceGetCount": fn(*mut c_int);
    device_get = "cuDeviceGet": fn(*mut CUdevice, c_int);
    device_get_name = "cuDeviceGetName": fn(*mut c_char, c_int, CUdevice);
    device_get_attribute = "cuDeviceGetAttribute": fn(*mut c_int, CUdevice_attribute, CUdevice);
    primary_ctx_retain = "cuDevicePrimaryCtxRetain": fn(*mut CUcontext, CUdevice);
    primary_ctx_release = "cuDevicePrimaryCtxRelease_v2": fn(CUdevice);
    ctx_push_current = "cuCtxPushCurrent_v2": fn(CUcontext);
    ctx_pop_current = "cuCtxPopCurrent_v2": fn(*mut CUcontext);
    stream_create = "cuStreamCreate": fn(*mut CUstream, c_uint);
    stream_destroy = "cuStreamDestroy_v2": fn(CUstream);
    stream_synchronize = "cuStreamSynchronize": fn(CUstream);
    mem_host_register = "cuMemHostRegister_v2": fn(*mut c_void, usize, c_uint);
    mem_host_unregister = "cuMemHostUnregister": fn(*mut c_void);
    mem_host_alloc = "cuMemHostAlloc": fn(*mut *mut c_void, usize, c_uint);
    mem_free_host = "cuMemFreeHost": fn(*mut c_void);
    mem_alloc_pitch = "cuMemAllocPitch_v2": fn(*mut CUdeviceptr, *mut usize, usize, usize, c_uint);
    mem_free = "cuMemFree_v2": fn(CUdeviceptr);
    memcpy_2d_async = "cuMemcpy2DAsync_v2": fn(*const sys::CUDA_MEMCPY2D, CUstream);
}

/// `libcuda`, opened, with every entry point this module calls looked up.
pub(crate) struct Library {
    /// Keeps the library mapped while `fns` may be called.
    _handle: libloading::Library,
    fns: Fns,
    /// The name it was opened under.
    name: String,
}

impl std::fmt::Debug for Library {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Library")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

fn check(call: &'static str, code: c_int) -> Result<(), CudaError> {
    if code == code::SUCCESS {
        Ok(())
    } else {
        Err(CudaError { call, code })
    }
}

impl Library {
    /// Opens `libcuda` under the first name of cudarc's search list that loads and looks up
    /// every entry point.
    pub(crate) fn load() -> Result<Self, LoadError> {
        let candidates = cudarc::get_lib_name_candidates("cuda");
        let mut last = String::from("no candidates");
        for name in &candidates {
            // SAFETY: loading the NVIDIA driver library runs its initialisers, which have no
            // preconditions on our side.
            match unsafe { libloading::Library::new(name) } {
                Ok(handle) => {
                    let fns = Fns::load(&handle, name)?;
                    return Ok(Self {
                        _handle: handle,
                        fns,
                        name: name.clone(),
                    });
                }
                Err(e) => last = e.to_string(),
            }
        }
        Err(LoadError::NotFound {
            tried: candidates.join(", "),
            last,
        })
    }

    /// The file name the library was opened under.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// `cuInit(0)`. Safe: it has no preconditions once the library is checked.
    pub(crate) fn init(&self) -> Result<(), CudaError> {
        // SAFETY: the symbol exists (checked in `load`); cuInit takes a plain flags word.
        check("cuInit", unsafe { (self.fns.init)(0) })
    }

    /// The driver's CUDA version, e.g. 12020 for 12.2. Safe, like [`Self::init`].
    pub(crate) fn driver_version(&self) -> Result<c_int, CudaError> {
        let mut v = 0;
        // SAFETY: the pointer was looked up in the loaded library; `v` is a valid out-pointer for the call's duration.
        check("cuDriverGetVersion", unsafe {
            (self.fns.driver_get_version)(&mut v)
        })?;
        Ok(v)
    }

    /// How many CUDA devices the driver sees.
    ///
    /// # Safety
    /// `init` must have succeeded.
    pub(crate) unsafe fn device_count(&self) -> Result<c_int, CudaError> {
        let mut n = 0;
        // SAFETY: the pointer was looked up in the loaded library; `n` is a valid out-pointer.
        check("cuDeviceGetCount", unsafe {
            (self.fns.device_get_count)(&mut n)
        })?;
        Ok(n)
    }

    /// The device handle for `ordinal`.
    ///
    /// # Safety
    /// `init` must have succeeded.
    pub(crate) unsafe fn device(&self, ordinal: c_int) -> Result<CUdevice, CudaError> {
        let mut d = 0;
        // SAFETY: the pointer was looked up in the loaded library; `d` is a valid out-pointer.
        check("cuDeviceGet", unsafe {
            (self.fns.device_get)(&mut d, ordinal)
        })?;
        Ok(d)
    }

    /// The device's marketing name.
    ///
    /// # Safety
    /// `device` must come from [`Self::device`].
    pub(crate) unsafe fn device_name(&self, device: CUdevice) -> Result<String, CudaError> {
        let mut buf = [0u8; 256];
        // SAFETY: the pointer was looked up in the loaded library; the driver writes at most `len` bytes, NUL-terminated.
        check("cuDeviceGetName", unsafe {
            (self.fns.device_get_name)(buf.as_mut_ptr().cast(), buf.len() as c_int, device)
        })?;
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        Ok(String::from_utf8_lossy(&buf[..end]).into_owned())
    }

    /// One integer device attribute.
    ///
    /// # Safety
    /// `device` must come from [`Self::device`].
    pub(crate) unsafe fn device_attribute(
        &self,
        device: CUdevice,
        attribute: CUdevice_attribute,
    ) -> Result<c_int, CudaError> {
        let mut v = 0;
        // SAFETY: the pointer was looked up in the loaded library; `v` is a valid out-pointer.
        check("cuDeviceGetAttribute", unsafe {
            (self.fns.device_get_attribute)(&mut v, attribute, device)
        })?;
        Ok(v)
    }

    /// Retains the device's primary context.
    ///
    /// # Safety
    /// `device` must come from [`Self::device`]; each success must be paired with one
    /// [`Self::primary_context_release`].
    pub(crate) unsafe fn primary_context_retain(
        &self,
        device: CUdevice,
    ) -> Result<CUcontext, CudaError> {
        let mut ctx = std::ptr::null_mut();
        // SAFETY: the pointer was looked up in the loaded library; `ctx` is a valid out-pointer.
        check("cuDevicePrimaryCtxRetain", unsafe {
            (self.fns.primary_ctx_retain)(&mut ctx, device)
        })?;
        Ok(ctx)
    }

    /// Releases one retain of the device's primary context.
    ///
    /// # Safety
    /// Must pair with an earlier successful retain; nothing may use the context afterwards
    /// unless other retains remain.
    pub(crate) unsafe fn primary_context_release(&self, device: CUdevice) -> Result<(), CudaError> {
        // SAFETY: the pointer was looked up in the loaded library; the caller upholds the pairing.
        check("cuDevicePrimaryCtxRelease_v2", unsafe {
            (self.fns.primary_ctx_release)(device)
        })
    }

    /// Makes `ctx` current on this thread, on top of whatever was current.
    ///
    /// # Safety
    /// `ctx` must be a live context; each success must be paired with [`Self::pop_context`] on
    /// the same thread.
    pub(crate) unsafe fn push_context(&self, ctx: CUcontext) -> Result<(), CudaError> {
        // SAFETY: the pointer was looked up in the loaded library; the caller guarantees `ctx` is live.
        check("cuCtxPushCurrent_v2", unsafe {
            (self.fns.ctx_push_current)(ctx)
        })
    }

    /// Undoes [`Self::push_context`].
    ///
    /// # Safety
    /// Must pair with an earlier push on this thread.
    pub(crate) unsafe fn pop_context(&self) -> Result<(), CudaError> {
        let mut old = std::ptr::null_mut();
        // SAFETY: the pointer was looked up in the loaded library; `old` is a valid out-pointer.
        check("cuCtxPopCurrent_v2", unsafe {
            (self.fns.ctx_pop_current)(&mut old)
        })
    }

    /// Creates a stream that does not synchronise with the legacy default stream.
    ///
    /// # Safety
    /// A context must be current.
    pub(crate) unsafe fn stream_create(&self) -> Result<CUstream, CudaError> {
        let mut s = std::ptr::null_mut();
        let flags = sys::CUstream_flags::CU_STREAM_NON_BLOCKING as c_uint;
        // SAFETY: the pointer was looked up in the loaded library; `s` is a valid out-pointer.
        check("cuStreamCreate", unsafe {
            (self.fns.stream_create)(&mut s, flags)
        })?;
        Ok(s)
    }

    /// Destroys a stream.
    ///
    /// # Safety
    /// `stream` must be live and unused afterwards; its context must be current.
    pub(crate) unsafe fn stream_destroy(&self, stream: CUstream) -> Result<(), CudaError> {
        // SAFETY: the pointer was looked up in the loaded library; the caller guarantees `stream` is live.
        check("cuStreamDestroy_v2", unsafe {
            (self.fns.stream_destroy)(stream)
        })
    }

    /// Waits until all work queued on `stream` has finished.
    ///
    /// # Safety
    /// `stream` must be live; its context must be current.
    pub(crate) unsafe fn stream_synchronize(&self, stream: CUstream) -> Result<(), CudaError> {
        // SAFETY: the pointer was looked up in the loaded library; the caller guarantees `stream` is live.
        check("cuStreamSynchronize", unsafe {
            (self.fns.stream_synchronize)(stream)
        })
    }

    /// Page-locks `len` bytes at `ptr` and maps them for the device.
    ///
    /// # Safety
    /// The range must be mapped and stay mapped until [`Self::host_unregister`]; a context must
    /// be current.
    pub(crate) unsafe fn host_register(
        &self,
        ptr: *mut c_void,
        len: usize,
        flags: c_uint,
    ) -> Result<(), CudaError> {
        // SAFETY: the pointer was looked up in the loaded library; the caller guarantees the range.
        check("cuMemHostRegister_v2", unsafe {
            (self.fns.mem_host_register)(ptr, len, flags)
        })
    }

    /// Undoes [`Self::host_register`].
    ///
    /// # Safety
    /// `ptr` must be the base of a registered range, with no copy in flight from it.
    pub(crate) unsafe fn host_unregister(&self, ptr: *mut c_void) -> Result<(), CudaError> {
        // SAFETY: the pointer was looked up in the loaded library; the caller guarantees `ptr`.
        check("cuMemHostUnregister", unsafe {
            (self.fns.mem_host_unregister)(ptr)
        })
    }

    /// Allocates `len` bytes of page-locked host memory.
    ///
    /// # Safety
    /// A context must be current; free with [`Self::host_free`].
    pub(crate) unsafe fn host_alloc(
        &self,
        len: usize,
        flags: c_uint,
    ) -> Result<*mut u8, CudaError> {
        let mut p = std::ptr::null_mut();
        // SAFETY: the pointer was looked up in the loaded library; `p` is a valid out-pointer.
        check("cuMemHostAlloc", unsafe {
            (self.fns.mem_host_alloc)(&mut p, len, flags)
        })?;
        Ok(p.cast())
    }

    /// Frees memory from [`Self::host_alloc`].
    ///
    /// # Safety
    /// `ptr` must come from `host_alloc` and not be used afterwards.
    pub(crate) unsafe fn host_free(&self, ptr: *mut u8) -> Result<(), CudaError> {
        // SAFETY: the pointer was looked up in the loaded library; the caller guarantees `ptr`.
        check("cuMemFreeHost", unsafe {
            (self.fns.mem_free_host)(ptr.cast())
        })
    }

    /// Allocates a pitched 2-D device buffer; returns the pointer and the pitch in bytes.
    ///
    /// # Safety
    /// A context must be current; free with [`Self::device_free`].
    pub(crate) unsafe fn alloc_pitch(
        &self,
        width_bytes: usize,
        height: usize,
    ) -> Result<(CUdeviceptr, usize), CudaError> {
        let (mut ptr, mut pitch) = (0, 0);
        // SAFETY: the pointer was looked up in the loaded library; both out-pointers are valid; 4 is an allowed element size.
        check("cuMemAllocPitch_v2", unsafe {
            (self.fns.mem_alloc_pitch)(&mut ptr, &mut pitch, width_bytes, height, 4)
        })?;
        Ok((ptr, pitch))
    }

    /// Frees device memory.
    ///
    /// # Safety
    /// `ptr` must come from [`Self::alloc_pitch`], with no work in flight on it; its context
    /// must be current.
    pub(crate) unsafe fn device_free(&self, ptr: CUdeviceptr) -> Result<(), CudaError> {
        // SAFETY: the pointer was looked up in the loaded library; the caller guarantees `ptr`.
        check("cuMemFree_v2", unsafe { (self.fns.mem_free)(ptr) })
    }

    /// Queues a 2-D copy on `stream`.
    ///
    /// # Safety
    /// Every byte the copy describes must be valid memory of the stated kind until the stream
    /// has finished the copy; `stream`'s context must be current.
    pub(crate) unsafe fn copy_2d_async(
        &self,
        copy: &sys::CUDA_MEMCPY2D,
        stream: CUstream,
    ) -> Result<(), CudaError> {
        // SAFETY: the pointer was looked up in the loaded library; the caller guarantees the described memory.
        check("cuMemcpy2DAsync_v2", unsafe {
            (self.fns.memcpy_2d_async)(copy, stream)
        })
    }
}
