//! Socket options std and tokio do not expose.

use std::os::fd::AsRawFd;

/// Unsent bytes the kernel may queue on a viewer's socket before it stops accepting more.
///
/// With `TCP_NOTSENT_LOWAT` the socket reports itself writable only while less than this is
/// waiting to go out, so a slow path shows up as a full video slot (and the capture loop waits
/// for the latest screen) instead of as seconds of video queued inside the kernel.
pub const UNSENT_LIMIT: u32 = 128 << 10;

/// Applies [`UNSENT_LIMIT`] to `socket`; failure only costs latency, so it is logged, not
/// returned.
pub fn limit_unsent(socket: &impl AsRawFd) {
    let value: libc::c_int = UNSENT_LIMIT as libc::c_int;
    // SAFETY: the descriptor is a live socket borrowed for the duration of the call; the option
    // value points to a c_int on this stack frame and its size is passed alongside.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_NOTSENT_LOWAT,
            (&raw const value).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "TCP_NOTSENT_LOWAT not set");
    }
}
