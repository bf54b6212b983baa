//! Layer 2 for CUDA: `unsafe fn` wrappers over cudarc's raw driver entry points that turn
//! `CUresult` into `Result`.
//!
//! cudarc loads `libcuda` lazily and panics when the library or one of its symbols is missing.
//! [`Library::load`] therefore opens the library first, the same way cudarc searches for it, and
//! checks every symbol the wrappers reach; the wrappers are methods on the [`Library`] it returns,
//! so none of them can run before that check.

use std::ffi::{c_int, c_uint, c_void};

use cudarc::driver::sys::{
    self, CUcontext, CUdevice, CUdevice_attribute, CUdeviceptr, CUresult, CUstream,
};

/// A CUDA driver call that returned an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{call} failed: {code:?}")]
pub(crate) struct CudaError {
    /// The driver entry point.
    pub(crate) call: &'static str,
    /// What it returned.
    pub(crate) code: CUresult,
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

/// Every driver entry point the wrappers below reach, by the symbol name cudarc resolves.
const SYMBOLS: &[&str] = &[
    "cuInit",
    "cuDriverGetVersion",
    "cuDeviceGetCount",
    "cuDeviceGet",
    "cuDeviceGetName",
    "cuDeviceGetAttribute",
    "cuDevicePrimaryCtxRetain",
    "cuDevicePrimaryCtxRelease_v2",
    "cuCtxPushCurrent_v2",
    "cuCtxPopCurrent_v2",
    "cuStreamCreate",
    "cuStreamDestroy_v2",
    "cuStreamSynchronize",
    "cuMemHostRegister_v2",
    "cuMemHostUnregister",
    "cuMemHostAlloc",
    "cuMemFreeHost",
    "cuMemAllocPitch_v2",
    "cuMemFree_v2",
    "cuMemcpy2DAsync_v2",
];

/// `libcuda`, opened and checked to export every entry point this module calls.
#[derive(Debug)]
pub(crate) struct Library {
    /// Keeps the library mapped; cudarc opens its own handle to the same file.
    _handle: libloading::Library,
    /// The name it was opened under.
    name: String,
}

fn check(call: &'static str, code: CUresult) -> Result<(), CudaError> {
    if code == CUresult::CUDA_SUCCESS {
        Ok(())
    } else {
        Err(CudaError { call, code })
    }
}

impl Library {
    /// Opens `libcuda` under the first name of cudarc's own search list that loads, so that
    /// cudarc, which searches the same list in the same order, later finds the same file.
    pub(crate) fn load() -> Result<Self, LoadError> {
        let candidates = cudarc::get_lib_name_candidates("cuda");
        let mut last = String::from("no candidates");
        for name in &candidates {
            // SAFETY: loading the NVIDIA driver library runs its initialisers, which have no
            // preconditions on our side; this is what cudarc itself does on first use.
            match unsafe { libloading::Library::new(name) } {
                Ok(handle) => {
                    for &symbol in SYMBOLS {
                        // SAFETY: the symbol is only looked up, never called, through this type.
                        let found = unsafe { handle.get::<*const c_void>(symbol.as_bytes()) };
                        if found.is_err() {
                            return Err(LoadError::MissingSymbol {
                                library: name.clone(),
                                symbol,
                            });
                        }
                    }
                    return Ok(Self {
                        _handle: handle,
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
        check("cuInit", unsafe { sys::cuInit(0) })
    }

    /// The driver's CUDA version, e.g. 12020 for 12.2. Safe, like [`Self::init`].
    pub(crate) fn driver_version(&self) -> Result<c_int, CudaError> {
        let mut v = 0;
        // SAFETY: the symbol exists; `v` is a valid out-pointer for the call's duration.
        check("cuDriverGetVersion", unsafe {
            sys::cuDriverGetVersion(&mut v)
        })?;
        Ok(v)
    }

    /// How many CUDA devices the driver sees.
    ///
    /// # Safety
    /// `init` must have succeeded.
    pub(crate) unsafe fn device_count(&self) -> Result<c_int, CudaError> {
        let mut n = 0;
        // SAFETY: the symbol exists; `n` is a valid out-pointer.
        check("cuDeviceGetCount", unsafe { sys::cuDeviceGetCount(&mut n) })?;
        Ok(n)
    }

    /// The device handle for `ordinal`.
    ///
    /// # Safety
    /// `init` must have succeeded.
    pub(crate) unsafe fn device(&self, ordinal: c_int) -> Result<CUdevice, CudaError> {
        let mut d = 0;
        // SAFETY: the symbol exists; `d` is a valid out-pointer.
        check("cuDeviceGet", unsafe { sys::cuDeviceGet(&mut d, ordinal) })?;
        Ok(d)
    }

    /// The device's marketing name.
    ///
    /// # Safety
    /// `device` must come from [`Self::device`].
    pub(crate) unsafe fn device_name(&self, device: CUdevice) -> Result<String, CudaError> {
        let mut buf = [0u8; 256];
        // SAFETY: the symbol exists; the driver writes at most `len` bytes, NUL-terminated.
        check("cuDeviceGetName", unsafe {
            sys::cuDeviceGetName(buf.as_mut_ptr().cast(), buf.len() as c_int, device)
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
        // SAFETY: the symbol exists; `v` is a valid out-pointer.
        check("cuDeviceGetAttribute", unsafe {
            sys::cuDeviceGetAttribute(&mut v, attribute, device)
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
        // SAFETY: the symbol exists; `ctx` is a valid out-pointer.
        check("cuDevicePrimaryCtxRetain", unsafe {
            sys::cuDevicePrimaryCtxRetain(&mut ctx, device)
        })?;
        Ok(ctx)
    }

    /// Releases one retain of the device's primary context.
    ///
    /// # Safety
    /// Must pair with an earlier successful retain; nothing may use the context afterwards
    /// unless other retains remain.
    pub(crate) unsafe fn primary_context_release(&self, device: CUdevice) -> Result<(), CudaError> {
        // SAFETY: the symbol exists; the caller upholds the pairing.
        check("cuDevicePrimaryCtxRelease_v2", unsafe {
            sys::cuDevicePrimaryCtxRelease_v2(device)
        })
    }

    /// Makes `ctx` current on this thread, on top of whatever was current.
    ///
    /// # Safety
    /// `ctx` must be a live context; each success must be paired with [`Self::pop_context`] on
    /// the same thread.
    pub(crate) unsafe fn push_context(&self, ctx: CUcontext) -> Result<(), CudaError> {
        // SAFETY: the symbol exists; the caller guarantees `ctx` is live.
        check("cuCtxPushCurrent_v2", unsafe {
            sys::cuCtxPushCurrent_v2(ctx)
        })
    }

    /// Undoes [`Self::push_context`].
    ///
    /// # Safety
    /// Must pair with an earlier push on this thread.
    pub(crate) unsafe fn pop_context(&self) -> Result<(), CudaError> {
        let mut old = std::ptr::null_mut();
        // SAFETY: the symbol exists; `old` is a valid out-pointer.
        check("cuCtxPopCurrent_v2", unsafe {
            sys::cuCtxPopCurrent_v2(&mut old)
        })
    }

    /// Creates a stream that does not synchronise with the legacy default stream.
    ///
    /// # Safety
    /// A context must be current.
    pub(crate) unsafe fn stream_create(&self) -> Result<CUstream, CudaError> {
        let mut s = std::ptr::null_mut();
        let flags = sys::CUstream_flags::CU_STREAM_NON_BLOCKING as c_uint;
        // SAFETY: the symbol exists; `s` is a valid out-pointer.
        check("cuStreamCreate", unsafe {
            sys::cuStreamCreate(&mut s, flags)
        })?;
        Ok(s)
    }

    /// Destroys a stream.
    ///
    /// # Safety
    /// `stream` must be live and unused afterwards; its context must be current.
    pub(crate) unsafe fn stream_destroy(&self, stream: CUstream) -> Result<(), CudaError> {
        // SAFETY: the symbol exists; the caller guarantees `stream` is live.
        check("cuStreamDestroy_v2", unsafe {
            sys::cuStreamDestroy_v2(stream)
        })
    }

    /// Waits until all work queued on `stream` has finished.
    ///
    /// # Safety
    /// `stream` must be live; its context must be current.
    pub(crate) unsafe fn stream_synchronize(&self, stream: CUstream) -> Result<(), CudaError> {
        // SAFETY: the symbol exists; the caller guarantees `stream` is live.
        check("cuStreamSynchronize", unsafe {
            sys::cuStreamSynchronize(stream)
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
        // SAFETY: the symbol exists; the caller guarantees the range.
        check("cuMemHostRegister_v2", unsafe {
            sys::cuMemHostRegister_v2(ptr, len, flags)
        })
    }

    /// Undoes [`Self::host_register`].
    ///
    /// # Safety
    /// `ptr` must be the base of a registered range, with no copy in flight from it.
    pub(crate) unsafe fn host_unregister(&self, ptr: *mut c_void) -> Result<(), CudaError> {
        // SAFETY: the symbol exists; the caller guarantees `ptr`.
        check("cuMemHostUnregister", unsafe {
            sys::cuMemHostUnregister(ptr)
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
        // SAFETY: the symbol exists; `p` is a valid out-pointer.
        check("cuMemHostAlloc", unsafe {
            sys::cuMemHostAlloc(&mut p, len, flags)
        })?;
        Ok(p.cast())
    }

    /// Frees memory from [`Self::host_alloc`].
    ///
    /// # Safety
    /// `ptr` must come from `host_alloc` and not be used afterwards.
    pub(crate) unsafe fn host_free(&self, ptr: *mut u8) -> Result<(), CudaError> {
        // SAFETY: the symbol exists; the caller guarantees `ptr`.
        check("cuMemFreeHost", unsafe { sys::cuMemFreeHost(ptr.cast()) })
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
        // SAFETY: the symbol exists; both out-pointers are valid; 4 is an allowed element size.
        check("cuMemAllocPitch_v2", unsafe {
            sys::cuMemAllocPitch_v2(&mut ptr, &mut pitch, width_bytes, height, 4)
        })?;
        Ok((ptr, pitch))
    }

    /// Frees device memory.
    ///
    /// # Safety
    /// `ptr` must come from [`Self::alloc_pitch`], with no work in flight on it; its context
    /// must be current.
    pub(crate) unsafe fn device_free(&self, ptr: CUdeviceptr) -> Result<(), CudaError> {
        // SAFETY: the symbol exists; the caller guarantees `ptr`.
        check("cuMemFree_v2", unsafe { sys::cuMemFree_v2(ptr) })
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
        // SAFETY: the symbol exists; the caller guarantees the described memory.
        check("cuMemcpy2DAsync_v2", unsafe {
            sys::cuMemcpy2DAsync_v2(copy, stream)
        })
    }
}
