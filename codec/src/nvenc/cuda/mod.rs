//! Layer 3 for CUDA: safe RAII types over the driver API (context, stream, page-locked host
//! memory, pitched device surfaces), each releasing what it holds on drop.
//!
//! Every type keeps an `Arc` of what it depends on, so a context outlives its streams and
//! buffers whatever order they are dropped in. CUDA contexts are not tied to a thread: each
//! operation makes the context current with a push and pops it afterwards ([`Context::bind`]).

pub(crate) mod call;

use std::ffi::c_void;
use std::marker::PhantomData;
use std::sync::Arc;

use cudarc::driver::sys::{self, CUcontext, CUdevice, CUdevice_attribute, CUdeviceptr, CUstream};

pub(crate) use call::{CudaError, LoadError, code};

use crate::Rect;

/// The CUDA driver, loaded and initialised.
#[derive(Debug)]
pub(crate) struct Driver {
    lib: call::Library,
    version: i32,
}

/// Why the driver could not be brought up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DriverError {
    /// The library is missing or incomplete.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The library loaded but a call failed (e.g. `cuInit` with `CUDA_ERROR_NO_DEVICE`).
    #[error("{library}: {source}")]
    Call {
        /// The library file.
        library: String,
        /// The failing call.
        source: CudaError,
    },
}

impl Driver {
    /// Loads `libcuda` and runs `cuInit`. Never panics when the library is absent.
    pub(crate) fn open() -> Result<Arc<Self>, DriverError> {
        let lib = call::Library::load()?;
        let fail = |source| DriverError::Call {
            library: lib.name().to_owned(),
            source,
        };
        lib.init().map_err(fail)?;
        let version = lib.driver_version().map_err(fail)?;
        Ok(Arc::new(Self { lib, version }))
    }

    /// The library file name it was loaded under.
    pub(crate) fn library(&self) -> &str {
        self.lib.name()
    }

    /// The driver's CUDA version as "major.minor".
    pub(crate) fn version(&self) -> String {
        format!("{}.{}", self.version / 1000, self.version % 1000 / 10)
    }

    /// How many devices the driver sees.
    pub(crate) fn device_count(&self) -> Result<i32, CudaError> {
        // SAFETY: `cuInit` succeeded when `self` was built.
        unsafe { self.lib.device_count() }
    }

    /// The device with this ordinal.
    pub(crate) fn device(&self, ordinal: i32) -> Result<Device, CudaError> {
        // SAFETY: `cuInit` succeeded when `self` was built.
        let raw = unsafe { self.lib.device(ordinal) }?;
        // SAFETY: `raw` came from cuDeviceGet just now.
        let name = unsafe { self.lib.device_name(raw) }?;
        Ok(Device { raw, ordinal, name })
    }
}

/// One CUDA device.
#[derive(Debug, Clone)]
pub(crate) struct Device {
    raw: CUdevice,
    ordinal: i32,
    name: String,
}

impl Device {
    /// Its ordinal in the driver's list.
    pub(crate) fn ordinal(&self) -> i32 {
        self.ordinal
    }

    /// Its marketing name, e.g. "NVIDIA GeForce RTX 5060 Ti".
    pub(crate) fn name(&self) -> &str {
        &self.name
    }
}

/// A retain of a device's primary context.
#[derive(Debug)]
pub(crate) struct Context {
    driver: Arc<Driver>,
    device: Device,
    raw: CUcontext,
}

// SAFETY: a CUDA context is not bound to the thread that created it; every use here goes through
// `bind`, which pushes it on the calling thread, and the driver API is thread-safe.
unsafe impl Send for Context {}
// SAFETY: as for Send; shared references only allow pushes and driver calls, which CUDA
// serialises internally.
unsafe impl Sync for Context {}

/// The context made current on this thread until dropped. Not `Send`: the pop must happen on
/// the thread that pushed.
#[derive(Debug)]
pub(crate) struct Bound<'a> {
    ctx: &'a Context,
    _same_thread: PhantomData<*const ()>,
}

impl Context {
    /// Retains `device`'s primary context (shared with any other user in this process).
    pub(crate) fn primary(driver: &Arc<Driver>, device: &Device) -> Result<Arc<Self>, CudaError> {
        // SAFETY: `device.raw` came from cuDeviceGet; the retain is paired with the release in
        // Drop.
        let raw = unsafe { driver.lib.primary_context_retain(device.raw) }?;
        Ok(Arc::new(Self {
            driver: Arc::clone(driver),
            device: device.clone(),
            raw,
        }))
    }

    /// The device it belongs to.
    pub(crate) fn device(&self) -> &Device {
        &self.device
    }

    /// The raw handle, for NVENC's `NV_ENC_DEVICE_TYPE_CUDA` sessions.
    pub(crate) fn raw(&self) -> CUcontext {
        self.raw
    }

    /// Makes this context current on the calling thread until the guard drops.
    pub(crate) fn bind(&self) -> Result<Bound<'_>, CudaError> {
        // SAFETY: `raw` is live while `self` is; the guard, which cannot leave this thread,
        // pops it again in its Drop.
        unsafe { self.driver.lib.push_context(self.raw) }?;
        Ok(Bound {
            ctx: self,
            _same_thread: PhantomData,
        })
    }

    /// True when the device can page-lock memory it did not allocate (cuMemHostRegister).
    pub(crate) fn can_register_host_memory(&self) -> bool {
        let attr = CUdevice_attribute::CU_DEVICE_ATTRIBUTE_HOST_REGISTER_SUPPORTED;
        // SAFETY: `device.raw` came from cuDeviceGet.
        unsafe { self.driver.lib.device_attribute(self.device.raw, attr) }.is_ok_and(|v| v != 0)
    }

    /// True when it can page-lock memory that is mapped read-only (an `SHM_RDONLY` segment).
    pub(crate) fn can_register_read_only(&self) -> bool {
        let attr = CUdevice_attribute::CU_DEVICE_ATTRIBUTE_READ_ONLY_HOST_REGISTER_SUPPORTED;
        // SAFETY: `device.raw` came from cuDeviceGet.
        unsafe { self.driver.lib.device_attribute(self.device.raw, attr) }.is_ok_and(|v| v != 0)
    }

    fn lib(&self) -> &call::Library {
        &self.driver.lib
    }
}

impl Drop for Bound<'_> {
    fn drop(&mut self) {
        // SAFETY: pairs with the push in `bind`, on the same thread (the guard is not Send).
        if let Err(e) = unsafe { self.ctx.lib().pop_context() } {
            tracing::warn!("CUDA: {e}");
        }
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: pairs with the retain in `primary`; every stream and buffer holds an Arc of
        // this context, so none is left.
        if let Err(e) = unsafe { self.lib().primary_context_release(self.device.raw) } {
            tracing::warn!("CUDA: {e}");
        }
    }
}

/// A CUDA stream: the queue the uploads run on.
#[derive(Debug)]
pub(crate) struct Stream {
    ctx: Arc<Context>,
    raw: CUstream,
}

// SAFETY: streams may be used from any thread with their context current (done in every method).
unsafe impl Send for Stream {}

impl Stream {
    /// Creates a stream in `ctx`.
    pub(crate) fn new(ctx: &Arc<Context>) -> Result<Self, CudaError> {
        let _bound = ctx.bind()?;
        // SAFETY: the context is current.
        let raw = unsafe { ctx.lib().stream_create() }?;
        Ok(Self {
            ctx: Arc::clone(ctx),
            raw,
        })
    }

    /// Copies the `rects` of a BGRA image from host memory into `dst`, asynchronously on this
    /// stream, and waits for the copies to finish before returning, so `src` is free again.
    ///
    /// When `src` is page-locked (registered or pinned) the copies are DMA transfers that do
    /// not involve the CPU. Rectangles are in pixels and must lie inside both images.
    pub(crate) fn upload(
        &self,
        src: &[u8],
        src_stride: usize,
        rects: &[Rect],
        dst: &mut DeviceSurface,
    ) -> Result<(), UploadError> {
        for r in rects {
            check_rect(src.len(), src_stride, r)?;
            dst.check_rect(r)?;
        }
        let _bound = self.ctx.bind()?;
        for r in rects {
            let (x_bytes, y) = (r.x as usize * 4, r.y as usize);
            let copy = sys::CUDA_MEMCPY2D {
                srcXInBytes: x_bytes,
                srcY: y,
                srcMemoryType: sys::CUmemorytype::CU_MEMORYTYPE_HOST,
                srcHost: src.as_ptr().cast(),
                srcPitch: src_stride,
                dstXInBytes: x_bytes,
                dstY: y,
                dstMemoryType: sys::CUmemorytype::CU_MEMORYTYPE_DEVICE,
                dstDevice: dst.ptr,
                dstPitch: dst.pitch,
                WidthInBytes: r.width as usize * 4,
                Height: r.height as usize,
                ..zeroed_memcpy2d()
            };
            // SAFETY: both rectangles were checked to lie inside `src` and `dst`; `src` stays
            // borrowed until the synchronize below has waited for every copy.
            unsafe { self.ctx.lib().copy_2d_async(&copy, self.raw) }?;
        }
        // SAFETY: the stream is live and its context current.
        unsafe { self.ctx.lib().stream_synchronize(self.raw) }?;
        Ok(())
    }

    /// Copies all of `src` back into host memory (`height` rows of `dst_stride` bytes) and waits;
    /// tests check uploads with it.
    #[cfg(test)]
    pub(crate) fn download(
        &self,
        src: &DeviceSurface,
        dst: &mut [u8],
        dst_stride: usize,
    ) -> Result<(), UploadError> {
        let all = src.full_rect();
        check_rect(dst.len(), dst_stride, &all)?;
        let _bound = self.ctx.bind()?;
        let copy = sys::CUDA_MEMCPY2D {
            srcMemoryType: sys::CUmemorytype::CU_MEMORYTYPE_DEVICE,
            srcDevice: src.ptr,
            srcPitch: src.pitch,
            dstMemoryType: sys::CUmemorytype::CU_MEMORYTYPE_HOST,
            dstHost: dst.as_mut_ptr().cast(),
            dstPitch: dst_stride,
            WidthInBytes: src.width_bytes,
            Height: src.height,
            ..zeroed_memcpy2d()
        };
        // SAFETY: the destination was checked to hold the whole surface and stays borrowed
        // until the synchronize below.
        unsafe { self.ctx.lib().copy_2d_async(&copy, self.raw) }?;
        // SAFETY: the stream is live and its context current.
        unsafe { self.ctx.lib().stream_synchronize(self.raw) }?;
        Ok(())
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        let Ok(_bound) = self.ctx.bind() else {
            tracing::warn!("CUDA: cannot bind the context to destroy a stream; leaking it");
            return;
        };
        // SAFETY: the stream is live, idle (every method synchronises) and its context current.
        if let Err(e) = unsafe { self.ctx.lib().stream_destroy(self.raw) } {
            tracing::warn!("CUDA: {e}");
        }
    }
}

/// An all-zero `CUDA_MEMCPY2D`, the base every copy description starts from.
fn zeroed_memcpy2d() -> sys::CUDA_MEMCPY2D {
    sys::CUDA_MEMCPY2D {
        srcXInBytes: 0,
        srcY: 0,
        srcMemoryType: sys::CUmemorytype::CU_MEMORYTYPE_HOST,
        srcHost: std::ptr::null(),
        srcDevice: 0,
        srcArray: std::ptr::null_mut(),
        srcPitch: 0,
        dstXInBytes: 0,
        dstY: 0,
        dstMemoryType: sys::CUmemorytype::CU_MEMORYTYPE_DEVICE,
        dstHost: std::ptr::null_mut(),
        dstDevice: 0,
        dstArray: std::ptr::null_mut(),
        dstPitch: 0,
        WidthInBytes: 0,
        Height: 0,
    }
}

/// An upload or download that could not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum UploadError {
    /// A rectangle reaches outside the host image or the device surface (a caller bug).
    #[error("rectangle {0:?} lies outside the image")]
    OutOfBounds(Rect),
    /// The driver failed.
    #[error(transparent)]
    Cuda(#[from] CudaError),
}

/// Checks that rectangle `r` of a BGRA image with `stride`-byte rows lies inside `len` bytes.
fn check_rect(len: usize, stride: usize, r: &Rect) -> Result<(), UploadError> {
    let (x, y, w, h) = (
        r.x as usize,
        r.y as usize,
        r.width as usize,
        r.height as usize,
    );
    let row_end = (x + w) * 4;
    let fits = w > 0
        && h > 0
        && row_end <= stride
        && (y + h - 1)
            .checked_mul(stride)
            .and_then(|o| o.checked_add(row_end))
            .is_some_and(|end| end <= len);
    if fits {
        Ok(())
    } else {
        Err(UploadError::OutOfBounds(*r))
    }
}

/// A host range page-locked with `cuMemHostRegister`, unregistered on drop.
#[derive(Debug)]
pub(crate) struct HostRegistration {
    ctx: Arc<Context>,
    base: *mut c_void,
    len: usize,
}

// SAFETY: the registration is a property of the context, not of a thread; Drop binds the
// context on whichever thread it runs.
unsafe impl Send for HostRegistration {}

impl HostRegistration {
    /// Page-locks `len` bytes at `base`, read-only for the device when the device supports
    /// that (the capture may have attached its segment `SHM_RDONLY`).
    ///
    /// # Safety
    /// The range must stay mapped, at this address, until the registration is dropped.
    pub(crate) unsafe fn new(
        ctx: &Arc<Context>,
        base: *const u8,
        len: usize,
    ) -> Result<Self, CudaError> {
        let flags = if ctx.can_register_read_only() {
            sys::CU_MEMHOSTREGISTER_READ_ONLY
        } else {
            0
        };
        let _bound = ctx.bind()?;
        let base = base.cast_mut().cast::<c_void>();
        // SAFETY: the caller keeps the range mapped until Drop unregisters it; the context is
        // current.
        unsafe { ctx.lib().host_register(base, len, flags) }?;
        Ok(Self {
            ctx: Arc::clone(ctx),
            base,
            len,
        })
    }

    /// True when the registered range contains all of `data`.
    pub(crate) fn covers(&self, data: &[u8]) -> bool {
        let (start, base) = (data.as_ptr() as usize, self.base as usize);
        start >= base && start + data.len() <= base + self.len
    }
}

impl Drop for HostRegistration {
    fn drop(&mut self) {
        let Ok(_bound) = self.ctx.bind() else {
            tracing::warn!("CUDA: cannot bind the context to unregister host memory");
            return;
        };
        // SAFETY: `base` is the base of our registration; uploads synchronise before returning,
        // so no copy from it is in flight.
        if let Err(e) = unsafe { self.ctx.lib().host_unregister(self.base) } {
            tracing::warn!("CUDA: {e}");
        }
    }
}

/// Page-locked host memory from `cuMemHostAlloc`: the staging buffer for frames that cannot be
/// registered in place.
#[derive(Debug)]
pub(crate) struct PinnedBuffer {
    ctx: Arc<Context>,
    ptr: *mut u8,
    len: usize,
}

// SAFETY: plain memory owned by this value; Drop binds the context on whichever thread it runs.
unsafe impl Send for PinnedBuffer {}

impl PinnedBuffer {
    /// Allocates `len` bytes, write-combined: the CPU only writes them, the GPU reads them.
    pub(crate) fn new(ctx: &Arc<Context>, len: usize) -> Result<Self, CudaError> {
        let _bound = ctx.bind()?;
        // SAFETY: the context is current; Drop frees the allocation.
        let ptr = unsafe {
            ctx.lib()
                .host_alloc(len, sys::CU_MEMHOSTALLOC_WRITECOMBINED)
        }?;
        // SAFETY: the driver returned `len` writable bytes at `ptr`; zeroing them once makes
        // every later read of the buffer a read of initialised memory.
        unsafe { std::ptr::write_bytes(ptr, 0, len) };
        Ok(Self {
            ctx: Arc::clone(ctx),
            ptr,
            len,
        })
    }

    /// The memory, for writing.
    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: `ptr` points to `len` bytes we own exclusively through `&mut self`; the driver
        // only reads them during uploads, which finish before `upload` returns.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }

    /// The memory, as the source of an upload.
    pub(crate) fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr` points to `len` bytes we own, initialised (zeroed) in `new`; nothing
        // writes them while `&self` is borrowed.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for PinnedBuffer {
    fn drop(&mut self) {
        let Ok(_bound) = self.ctx.bind() else {
            tracing::warn!("CUDA: cannot bind the context to free pinned memory; leaking it");
            return;
        };
        // SAFETY: `ptr` came from cuMemHostAlloc and no upload from it is in flight.
        if let Err(e) = unsafe { self.ctx.lib().host_free(self.ptr) } {
            tracing::warn!("CUDA: {e}");
        }
    }
}

/// A pitched BGRA surface in device memory (`cuMemAllocPitch`), the encoder's input.
#[derive(Debug)]
pub(crate) struct DeviceSurface {
    ctx: Arc<Context>,
    ptr: CUdeviceptr,
    pitch: usize,
    width_bytes: usize,
    height: usize,
}

impl DeviceSurface {
    /// Allocates a `width` × `height` BGRA surface.
    pub(crate) fn new(ctx: &Arc<Context>, width: u32, height: u32) -> Result<Self, CudaError> {
        let (width_bytes, height) = (width as usize * 4, height as usize);
        let _bound = ctx.bind()?;
        // SAFETY: the context is current; Drop frees the allocation.
        let (ptr, pitch) = unsafe { ctx.lib().alloc_pitch(width_bytes, height) }?;
        Ok(Self {
            ctx: Arc::clone(ctx),
            ptr,
            pitch,
            width_bytes,
            height,
        })
    }

    /// The device address, for registering with NVENC.
    pub(crate) fn device_ptr(&self) -> CUdeviceptr {
        self.ptr
    }

    /// Bytes from one row to the next, as the driver chose it.
    pub(crate) fn pitch(&self) -> usize {
        self.pitch
    }

    /// The whole surface as a rectangle in pixels.
    #[cfg(test)]
    pub(crate) fn full_rect(&self) -> Rect {
        Rect {
            x: 0,
            y: 0,
            width: (self.width_bytes / 4) as u32,
            height: self.height as u32,
        }
    }

    fn check_rect(&self, r: &Rect) -> Result<(), UploadError> {
        let inside = u64::from(r.x) + u64::from(r.width) <= (self.width_bytes / 4) as u64
            && u64::from(r.y) + u64::from(r.height) <= self.height as u64;
        if inside {
            Ok(())
        } else {
            Err(UploadError::OutOfBounds(*r))
        }
    }
}

impl Drop for DeviceSurface {
    fn drop(&mut self) {
        let Ok(_bound) = self.ctx.bind() else {
            tracing::warn!("CUDA: cannot bind the context to free a surface; leaking it");
            return;
        };
        // SAFETY: `ptr` came from cuMemAllocPitch; uploads synchronise and NVENC registrations of
        // the surface are dropped before it (they own it).
        if let Err(e) = unsafe { self.ctx.lib().device_free(self.ptr) } {
            tracing::warn!("CUDA: {e}");
        }
    }
}
