//! Memory shared with the X server: sealed memfds, server-made segments and SysV segments,
//! mapped read-only into this process and unmapped on drop.
//!
//! This is the only file of the capture path with `unsafe`: raw mappings come in here and leave
//! as a [`Mapping`] that hands out `&[u8]`.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;

/// A read-only view of shared memory that the X server writes into.
///
/// The X server writes only while a `ShmGetImage` into the segment is in flight; the capture
/// code issues those only for buffers it holds, so while a caller reads through
/// [`as_slice`](Self::as_slice) nobody writes.
#[derive(Debug)]
pub(crate) struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Mapped with mmap; released with munmap.
    Mmap,
    /// Attached with shmat; released with shmdt.
    SysV,
}

// SAFETY: a Mapping exclusively owns its mapping (no other handle in this process refers to
// it), so moving it to another thread is sound.
unsafe impl Send for Mapping {}
// SAFETY: the mapping is only ever read through `&self` (PROT_READ / SHM_RDONLY), so shared
// references from several threads cannot race with each other.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Makes a sealed memfd of `len` bytes (it can neither shrink nor grow, so reads never fault)
    /// and maps it read-only. Returns the mapping and the descriptor to hand to the server.
    pub(crate) fn memfd(len: usize, name: &CStr) -> io::Result<(Self, OwnedFd)> {
        // SAFETY: `name` is a valid NUL-terminated string; the flags are valid memfd flags.
        let raw = unsafe {
            libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING)
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: memfd_create returned a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let size = libc::off_t::try_from(len).map_err(|_| io::Error::other("segment too large"))?;
        // SAFETY: `fd` is a valid, open memfd.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), size) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;
        // SAFETY: `fd` is a valid memfd created with MFD_ALLOW_SEALING; F_ADD_SEALS takes an int.
        if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let mapping = Self::map_fd(&fd, len)?;
        Ok((mapping, fd))
    }

    /// Maps `len` bytes of a descriptor the server made (`ShmCreateSegment`), after checking
    /// that the file is at least that long.
    pub(crate) fn server_fd(fd: &OwnedFd, len: usize) -> io::Result<Self> {
        let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: `fd` is open and `stat` points to writable memory for one `struct stat`.
        if unsafe { libc::fstat(fd.as_raw_fd(), stat.as_mut_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fstat succeeded, so it initialised `stat`.
        let size = unsafe { stat.assume_init() }.st_size;
        if usize::try_from(size).map_or(true, |size| size < len) {
            return Err(io::Error::other(format!(
                "the server's segment has {size} bytes, {len} needed"
            )));
        }
        Self::map_fd(fd, len)
    }

    fn map_fd(fd: &OwnedFd, len: usize) -> io::Result<Self> {
        // SAFETY: a fresh shared read-only mapping of an open descriptor at an address the kernel
        // picks; the result is checked for MAP_FAILED before use.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr =
            NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap gave null"))?;
        Ok(Self {
            ptr,
            len,
            kind: Kind::Mmap,
        })
    }

    /// Makes a private SysV segment of `len` bytes and attaches it read-only. Returns the
    /// mapping and the segment id to hand to the server; call [`remove_sysv`] once the server
    /// has attached it, so the segment disappears with its last user even if this process dies.
    pub(crate) fn sysv(len: usize) -> io::Result<(Self, i32)> {
        // SAFETY: shmget with IPC_PRIVATE creates a new segment; no memory is touched.
        let id = unsafe { libc::shmget(libc::IPC_PRIVATE, len, libc::IPC_CREAT | 0o600) };
        if id < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `id` names the segment just made; the kernel picks the address.
        let ptr = unsafe { libc::shmat(id, std::ptr::null(), libc::SHM_RDONLY) };
        if ptr as isize == -1 {
            let error = io::Error::last_os_error();
            remove_sysv(id);
            return Err(error);
        }
        let Some(ptr) = NonNull::new(ptr.cast::<u8>()) else {
            remove_sysv(id);
            return Err(io::Error::other("shmat gave null"));
        };
        let mapping = Self {
            ptr,
            len,
            kind: Kind::SysV,
        };
        Ok((mapping, id))
    }

    /// The bytes.
    pub(crate) fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr` points to `len` mapped, readable bytes that stay mapped until drop; the
        // server writes only while a grab into this buffer is in flight, and grabs happen only
        // into buffers that no caller is reading (see the type's documentation).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        match self.kind {
            // SAFETY: `ptr`/`len` describe a mapping made by mmap and not yet unmapped; no
            // slice into it outlives `self`.
            Kind::Mmap => unsafe {
                libc::munmap(self.ptr.as_ptr().cast(), self.len);
            },
            // SAFETY: `ptr` is an address returned by shmat and not yet detached; no slice into
            // it outlives `self`.
            Kind::SysV => unsafe {
                libc::shmdt(self.ptr.as_ptr().cast());
            },
        }
    }
}

/// Marks a SysV segment for removal: it goes away once its last attachment does.
pub(crate) fn remove_sysv(id: i32) {
    // SAFETY: IPC_RMID takes no buffer; an invalid id only yields an error, which is ignored
    // because there is nothing left to undo.
    unsafe {
        libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut());
    }
}

/// The inode of a descriptor, which names a memfd in `/proc/<pid>/maps`.
pub(crate) fn inode(fd: &OwnedFd) -> io::Result<u64> {
    let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `fd` is open and `stat` points to writable memory for one `struct stat`.
    if unsafe { libc::fstat(fd.as_raw_fd(), stat.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fstat succeeded, so it initialised `stat`.
    Ok(unsafe { stat.assume_init() }.st_ino)
}
