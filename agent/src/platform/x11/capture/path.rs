//! The three ways pixels come out of the X server, tried in order: MIT-SHM with a passed file
//! descriptor, MIT-SHM with a SysV segment, plain `GetImage`. Also what was tried and why.

use std::fmt;

use x11rb::connection::Connection as _;
use x11rb::protocol::shm::{self, ConnectionExt as _};

use super::super::connection::Connection;
use super::super::error::{Context as _, Error};
use super::super::shm::{Mapping, inode, remove_sysv};
use super::buffer::Memory;

/// A way of getting pixels out of the X server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CapturePath {
    /// MIT-SHM 1.2 with file-descriptor passing: a sealed memfd given to the server
    /// (`ShmAttachFd`), or a segment the server makes and passes back (`ShmCreateSegment`). Works
    /// across IPC namespaces.
    ShmFd,
    /// MIT-SHM with a SysV segment (`shmget` + `ShmAttach`): needs the server in our IPC
    /// namespace.
    ShmSysv,
    /// Core `GetImage`: always works, costs a copy through the socket.
    GetImage,
}

impl fmt::Display for CapturePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ShmFd => "MIT-SHM fd passing",
            Self::ShmSysv => "MIT-SHM SysV",
            Self::GetImage => "GetImage",
        })
    }
}

/// Which capture paths may be tried; all by default. Turning paths off tests the fallbacks, or
/// avoids a path known to misbehave on a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paths {
    /// Allow [`CapturePath::ShmFd`].
    pub shm_fd: bool,
    /// Allow [`CapturePath::ShmSysv`].
    pub shm_sysv: bool,
    /// Allow [`CapturePath::GetImage`].
    pub get_image: bool,
}

impl Default for Paths {
    fn default() -> Self {
        Self {
            shm_fd: true,
            shm_sysv: true,
            get_image: true,
        }
    }
}

impl Paths {
    fn allows(&self, path: CapturePath) -> bool {
        match path {
            CapturePath::ShmFd => self.shm_fd,
            CapturePath::ShmSysv => self.shm_sysv,
            CapturePath::GetImage => self.get_image,
        }
    }
}

/// One path that was considered, and why it was not taken (`error` is `None` for the one taken).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathAttempt {
    /// The path.
    pub path: CapturePath,
    /// Why it did not work, or `None` when it did.
    pub error: Option<String>,
}

/// The capture path in use and how it was chosen, for logs and `deskcast doctor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathChoice {
    /// The path taken.
    pub path: CapturePath,
    /// How, e.g. "ShmAttachFd of a sealed memfd".
    pub method: &'static str,
    /// Every path considered, in order, the taken one last.
    pub attempts: Vec<PathAttempt>,
}

impl fmt::Display for PathChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.path, self.method)?;
        for a in &self.attempts {
            if let Some(error) = &a.error {
                write!(f, "; {} not used: {error}", a.path)?;
            }
        }
        Ok(())
    }
}

/// What backs a capture buffer, for diagnostics and leak checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BufferBacking {
    /// A memfd of ours, named by its inode in `/proc/self/maps`.
    Memfd {
        /// The inode.
        inode: u64,
    },
    /// A segment the X server made (`ShmCreateSegment`), named by its inode.
    ServerSegment {
        /// The inode.
        inode: u64,
    },
    /// A SysV segment (already marked for removal, so it dies with its last attachment).
    SysV {
        /// The segment id, as in `/proc/sysvipc/shm`.
        shmid: i32,
    },
    /// Heap memory filled from `GetImage`.
    Heap,
}

/// How buffers are made on the chosen path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Backend {
    AttachFd,
    CreateSegment,
    SysV,
    GetImage,
}

impl Backend {
    pub(super) fn path(self) -> CapturePath {
        match self {
            Self::AttachFd | Self::CreateSegment => CapturePath::ShmFd,
            Self::SysV => CapturePath::ShmSysv,
            Self::GetImage => CapturePath::GetImage,
        }
    }

    pub(super) fn method(self) -> &'static str {
        match self {
            Self::AttachFd => "ShmAttachFd of a sealed memfd",
            Self::CreateSegment => "ShmCreateSegment",
            Self::SysV => "shmget + ShmAttach",
            Self::GetImage => "core GetImage",
        }
    }
}

/// A buffer's memory with its server-side segment (none for `GetImage`).
#[derive(Debug)]
pub(super) struct Segment {
    pub(super) memory: Memory,
    pub(super) seg: Option<shm::Seg>,
    pub(super) backing: BufferBacking,
}

/// The backends to try, in order, each with the reason it is unusable before trying (if known).
pub(super) fn candidates(
    x: &Connection,
    paths: Paths,
) -> Result<Vec<(Backend, Option<String>)>, Error> {
    let shm_version = if x.has_extension(shm::X11_EXTENSION_NAME)? {
        let v = x
            .conn
            .shm_query_version()
            .ctx("ShmQueryVersion")?
            .reply()
            .ctx("ShmQueryVersion")?;
        Some((v.major_version, v.minor_version))
    } else {
        None
    };
    let mut out = Vec::new();
    if paths.allows(CapturePath::ShmFd) {
        let why = match shm_version {
            None => Some("the server has no MIT-SHM".to_owned()),
            Some(v) if v < (1, 2) => Some(format!("MIT-SHM {}.{} has no fd passing", v.0, v.1)),
            Some(_) => None,
        };
        out.push((Backend::AttachFd, why.clone()));
        out.push((Backend::CreateSegment, why));
    }
    if paths.allows(CapturePath::ShmSysv) {
        let why = shm_version
            .is_none()
            .then(|| "the server has no MIT-SHM".to_owned());
        out.push((Backend::SysV, why));
    }
    if paths.allows(CapturePath::GetImage) {
        out.push((Backend::GetImage, None));
    }
    Ok(out)
}

/// Makes one buffer of `len` bytes on `backend`.
pub(super) fn make_segment(x: &Connection, backend: Backend, len: usize) -> Result<Segment, Error> {
    match backend {
        Backend::AttachFd => {
            let (mapping, fd) =
                Mapping::memfd(len, c"deskcast-capture").map_err(|e| Error::os("memfd", e))?;
            let inode = inode(&fd).map_err(|e| Error::os("fstat", e))?;
            let seg = x.conn.generate_id().ctx("ShmAttachFd")?;
            x.conn
                .shm_attach_fd(seg, fd, false)
                .ctx("ShmAttachFd")?
                .check()
                .ctx("ShmAttachFd")?;
            Ok(Segment {
                memory: Memory::Shared(mapping),
                seg: Some(seg),
                backing: BufferBacking::Memfd { inode },
            })
        }
        Backend::CreateSegment => {
            let size = u32::try_from(len)
                .map_err(|_| Error::Unsupported(format!("share a {len}-byte segment")))?;
            let seg = x.conn.generate_id().ctx("ShmCreateSegment")?;
            let reply = x
                .conn
                .shm_create_segment(seg, size, false)
                .ctx("ShmCreateSegment")?
                .reply()
                .ctx("ShmCreateSegment")?;
            let fd = reply.shm_fd;
            let inode = inode(&fd).map_err(|e| Error::os("fstat", e))?;
            let mapping = Mapping::server_fd(&fd, len).map_err(|e| {
                let _ = x.conn.shm_detach(seg);
                Error::os("mmap of the server's segment", e)
            })?;
            Ok(Segment {
                memory: Memory::Shared(mapping),
                seg: Some(seg),
                backing: BufferBacking::ServerSegment { inode },
            })
        }
        Backend::SysV => {
            let (mapping, shmid) = Mapping::sysv(len).map_err(|e| Error::os("shmget/shmat", e))?;
            let attached = attach_sysv(x, shmid);
            // Attached or not, the segment is marked for removal now: it lives as long as the
            // attachments (ours and the server's), even if this process dies.
            remove_sysv(shmid);
            let seg = attached?;
            Ok(Segment {
                memory: Memory::Shared(mapping),
                seg: Some(seg),
                backing: BufferBacking::SysV { shmid },
            })
        }
        Backend::GetImage => Ok(Segment {
            memory: Memory::Heap(vec![0; len]),
            seg: None,
            backing: BufferBacking::Heap,
        }),
    }
}

fn attach_sysv(x: &Connection, shmid: i32) -> Result<shm::Seg, Error> {
    let seg = x.conn.generate_id().ctx("ShmAttach")?;
    let id = u32::try_from(shmid).map_err(|_| Error::odd("shmget", "negative id"))?;
    x.conn
        .shm_attach(seg, id, false)
        .ctx("ShmAttach")?
        .check()
        .ctx("ShmAttach")?;
    Ok(seg)
}
