//! systemd's notification protocol (`sd_notify`): tells the service manager the agent is ready,
//! still alive (the watchdog), what it is doing, and that it is stopping.
//!
//! The manager passes a Unix datagram socket in `$NOTIFY_SOCKET` (a path, or `@name` for an
//! abstract socket) and, with `WatchdogSec=`, the timeout in `$WATCHDOG_USEC` for the process in
//! `$WATCHDOG_PID`. Each notification is one datagram of `KEY=value` lines. Without
//! `$NOTIFY_SOCKET` (not under systemd, or under supervisord) every call is a no-op.
//!
//! The environment comes in as a [`NotifyEnv`] value, so tests (and callers) never have to change
//! the process environment.

use std::ffi::OsString;
use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// The variables the protocol reads, and this process's ID.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotifyEnv {
    /// `$NOTIFY_SOCKET`.
    pub notify_socket: Option<OsString>,
    /// `$WATCHDOG_USEC`.
    pub watchdog_usec: Option<OsString>,
    /// `$WATCHDOG_PID`.
    pub watchdog_pid: Option<OsString>,
    /// This process's ID (the watchdog is ours only if `$WATCHDOG_PID` is unset or equal).
    pub pid: u32,
}

impl NotifyEnv {
    /// Reads the variables of this process.
    pub fn from_process() -> Self {
        Self {
            notify_socket: std::env::var_os("NOTIFY_SOCKET"),
            watchdog_usec: std::env::var_os("WATCHDOG_USEC"),
            watchdog_pid: std::env::var_os("WATCHDOG_PID"),
            pid: std::process::id(),
        }
    }
}

/// One state change to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum State<'a> {
    /// `READY=1`: start-up is done (for `Type=notify`).
    Ready,
    /// `STATUS=…`: a one-line description shown by `systemctl status`.
    Status(&'a str),
    /// `STOPPING=1`: shutting down.
    Stopping,
    /// `WATCHDOG=1`: still alive.
    Watchdog,
}

impl State<'_> {
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Self::Ready => out.extend_from_slice(b"READY=1\n"),
            Self::Status(text) => {
                out.extend_from_slice(b"STATUS=");
                // A newline would end the assignment; the protocol has no escape for it.
                out.extend(text.bytes().map(|b| if b == b'\n' { b' ' } else { b }));
                out.push(b'\n');
            }
            Self::Stopping => out.extend_from_slice(b"STOPPING=1\n"),
            Self::Watchdog => out.extend_from_slice(b"WATCHDOG=1\n"),
        }
    }
}

/// Why notifications cannot be set up or sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `$NOTIFY_SOCKET` is neither an absolute path nor `@abstract`.
    #[error("NOTIFY_SOCKET={0:?} is not an absolute path or an @abstract socket name")]
    BadSocket(OsString),
    /// `$WATCHDOG_USEC` or `$WATCHDOG_PID` is not a positive number.
    #[error("{name}={value:?} is not a positive number")]
    BadWatchdog {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: OsString,
    },
    /// The socket could not be created or the datagram not sent.
    #[error("notifying the service manager: {0}")]
    Send(#[source] io::Error),
}

/// Sends notifications to the service manager, or nothing when there is none.
#[derive(Debug)]
pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr)>,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// Sets up notifications from the given environment.
    pub fn new(env: &NotifyEnv) -> Result<Self, Error> {
        let target = match &env.notify_socket {
            None => None,
            Some(value) if value.is_empty() => None,
            Some(value) => Some(connect(value)?),
        };
        Ok(Self {
            target,
            watchdog: watchdog(env)?,
        })
    }

    /// A notifier that sends nothing.
    pub fn disabled() -> Self {
        Self {
            target: None,
            watchdog: None,
        }
    }

    /// Whether a service manager listens.
    pub fn is_enabled(&self) -> bool {
        self.target.is_some()
    }

    /// The watchdog timeout the manager set for this process, if any.
    pub fn watchdog_timeout(&self) -> Option<Duration> {
        self.watchdog
    }

    /// How often to send [`State::Watchdog`]: half the timeout, as systemd advises.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog.map(|t| t / 2)
    }

    /// `READY=1`.
    pub fn ready(&self) -> Result<(), Error> {
        self.notify(&[State::Ready])
    }

    /// `WATCHDOG=1`.
    pub fn watchdog(&self) -> Result<(), Error> {
        self.notify(&[State::Watchdog])
    }

    /// `STATUS=text` (newlines become spaces).
    pub fn status(&self, text: &str) -> Result<(), Error> {
        self.notify(&[State::Status(text)])
    }

    /// `STOPPING=1`.
    pub fn stopping(&self) -> Result<(), Error> {
        self.notify(&[State::Stopping])
    }

    /// Sends the states in one datagram; does nothing without a manager.
    pub fn notify(&self, states: &[State<'_>]) -> Result<(), Error> {
        let Some((socket, addr)) = &self.target else {
            return Ok(());
        };
        let mut message = Vec::new();
        for state in states {
            state.write(&mut message);
        }
        socket
            .send_to_addr(&message, addr)
            .map(drop)
            .map_err(Error::Send)
    }
}

/// An unbound, non-blocking datagram socket and the manager's address.
fn connect(value: &OsString) -> Result<(UnixDatagram, SocketAddr), Error> {
    let bytes = value.as_bytes();
    let addr = match bytes.first() {
        Some(b'/') => SocketAddr::from_pathname(std::path::Path::new(value)),
        Some(b'@') => SocketAddr::from_abstract_name(&bytes[1..]),
        _ => return Err(Error::BadSocket(value.clone())),
    }
    .map_err(|_| Error::BadSocket(value.clone()))?;
    let socket = UnixDatagram::unbound().map_err(Error::Send)?;
    // A full manager queue must not stall the agent: a lost notification is better.
    socket.set_nonblocking(true).map_err(Error::Send)?;
    Ok((socket, addr))
}

fn watchdog(env: &NotifyEnv) -> Result<Option<Duration>, Error> {
    let Some(usec) = &env.watchdog_usec else {
        return Ok(None);
    };
    let number = |name: &'static str, value: &OsString| {
        value
            .to_str()
            .and_then(|s| s.parse::<u64>().ok())
            .filter(|&n| n > 0)
            .ok_or_else(|| Error::BadWatchdog {
                name,
                value: value.clone(),
            })
    };
    let usec = number("WATCHDOG_USEC", usec)?;
    if let Some(pid) = &env.watchdog_pid
        && number("WATCHDOG_PID", pid)? != u64::from(env.pid)
    {
        return Ok(None);
    }
    Ok(Some(Duration::from_micros(usec)))
}

#[cfg(test)]
mod tests;
