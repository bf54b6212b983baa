//! Connecting to the X server (honouring `DISPLAY` and `XAUTHORITY`, or explicit values) and
//! waiting on a connection's socket with a deadline.

use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::Instant;

use x11rb::connection::{Connection as _, RequestConnection as _};
use x11rb::protocol::Event;
use x11rb::protocol::xproto::{Screen as XScreen, Window};
use x11rb::reexports::x11rb_protocol::parse_display::parse_display;
use x11rb::reexports::x11rb_protocol::xauth::Family;
use x11rb::rust_connection::{ConnectError, DefaultStream, RustConnection};

use super::error::{Context as _, Error};

/// Where the X server is and how to authenticate, passed to every constructor of this layer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectOptions {
    /// The display, e.g. `:0`; `None` reads `$DISPLAY`.
    pub display: Option<String>,
    /// The X authority file; `None` reads `$XAUTHORITY` (then `~/.Xauthority`).
    pub xauthority: Option<PathBuf>,
}

/// An open connection and the screen it uses.
#[derive(Debug)]
pub(crate) struct Connection {
    pub(crate) conn: RustConnection,
    pub(crate) screen: usize,
}

impl Connection {
    /// Connects as `options` say.
    pub(crate) fn open(options: &ConnectOptions) -> Result<Self, Error> {
        let display_name = options
            .display
            .clone()
            .or_else(|| std::env::var("DISPLAY").ok())
            .unwrap_or_default();
        let connect_error = |source| Error::Connect {
            display: display_name.clone(),
            source,
        };
        let (conn, screen) = match &options.xauthority {
            None => RustConnection::connect(options.display.as_deref()).map_err(connect_error)?,
            Some(path) => connect_with_authority(options.display.as_deref(), path, &connect_error)?,
        };
        Ok(Self { conn, screen })
    }

    /// The screen's description from the connection setup.
    pub(crate) fn x_screen(&self) -> &XScreen {
        &self.conn.setup().roots[self.screen]
    }

    /// The root window.
    pub(crate) fn root(&self) -> Window {
        self.x_screen().root
    }

    /// True when the server offers the extension.
    pub(crate) fn has_extension(&self, name: &'static str) -> Result<bool, Error> {
        Ok(self
            .conn
            .extension_information(name)
            .ctx("QueryExtension")?
            .is_some())
    }

    /// Sends everything buffered.
    pub(crate) fn flush(&self) -> Result<(), Error> {
        self.conn.flush().ctx("flush")
    }

    /// Returns the next event if one is already here, without blocking.
    pub(crate) fn poll_event(&self) -> Result<Option<Event>, Error> {
        self.conn.poll_for_event().ctx("reading events")
    }

    /// Waits until the socket is readable, `wake` (if any) is readable, or `deadline` passes.
    pub(crate) fn wait_readable(
        &self,
        deadline: Instant,
        wake: Option<RawFd>,
    ) -> Result<Readiness, Error> {
        self.flush()?;
        wait_fds(self.conn.stream().as_raw_fd(), wake, deadline)
    }
}

/// What [`Connection::wait_readable`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Readiness {
    /// The X socket has data.
    Readable,
    /// The wake descriptor has data.
    Woken,
    /// The deadline passed.
    TimedOut,
}

fn wait_fds(x: RawFd, wake: Option<RawFd>, deadline: Instant) -> Result<Readiness, Error> {
    let mut fds = [
        libc::pollfd {
            fd: x,
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: wake.unwrap_or(-1),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        // Round up so that a wait never ends a little before its deadline.
        let ms = i32::try_from(left.as_micros().div_ceil(1000)).unwrap_or(i32::MAX);
        // SAFETY: `fds` is a valid array of two pollfd records for the duration of the call
        // (poll ignores the entry whose fd is -1), and its length is passed alongside.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, ms) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(Error::os("poll", e));
        }
        if fds[1].revents != 0 {
            return Ok(Readiness::Woken);
        }
        if fds[0].revents != 0 {
            // A hang-up or error also counts: the next read reports it as a lost connection.
            return Ok(Readiness::Readable);
        }
        if n == 0 && Instant::now() >= deadline {
            return Ok(Readiness::TimedOut);
        }
    }
}

fn connect_with_authority(
    display: Option<&str>,
    path: &Path,
    connect_error: &dyn Fn(ConnectError) -> Error,
) -> Result<(RustConnection, usize), Error> {
    let file = std::fs::read(path).map_err(|source| Error::Xauthority {
        path: path.to_owned(),
        source,
    })?;
    let entries = parse_xauthority(&file).ok_or_else(|| Error::Xauthority {
        path: path.to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, "truncated entry"),
    })?;
    let parsed = parse_display(display).map_err(|e| connect_error(e.into()))?;
    let mut last = None;
    for address in parsed.connect_instruction() {
        match DefaultStream::connect(&address) {
            Ok((stream, (family, peer))) => {
                let (name, data) = best_cookie(&entries, family, &peer, parsed.display)
                    .map(|e| (e.name.clone(), e.data.clone()))
                    .unwrap_or_default();
                let screen = usize::from(parsed.screen);
                let conn =
                    RustConnection::connect_to_stream_with_auth_info(stream, screen, name, data)
                        .map_err(connect_error)?;
                return Ok((conn, screen));
            }
            Err(e) => last = Some(e),
        }
    }
    Err(connect_error(match last {
        Some(e) => ConnectError::IoError(e),
        None => ConnectError::UnknownError,
    }))
}

/// One entry of an X authority file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AuthEntry {
    family: u16,
    address: Vec<u8>,
    number: Vec<u8>,
    name: Vec<u8>,
    data: Vec<u8>,
}

/// Parses an X authority file: records of a big-endian family and four length-prefixed fields.
/// Returns `None` for a truncated file.
fn parse_xauthority(mut bytes: &[u8]) -> Option<Vec<AuthEntry>> {
    fn u16_be(bytes: &mut &[u8]) -> Option<u16> {
        let (head, rest) = bytes.split_first_chunk::<2>()?;
        *bytes = rest;
        Some(u16::from_be_bytes(*head))
    }
    fn field(bytes: &mut &[u8]) -> Option<Vec<u8>> {
        let len = usize::from(u16_be(bytes)?);
        let (head, rest) = bytes.split_at_checked(len)?;
        *bytes = rest;
        Some(head.to_vec())
    }
    let mut entries = Vec::new();
    while !bytes.is_empty() {
        entries.push(AuthEntry {
            family: u16_be(&mut bytes)?,
            address: field(&mut bytes)?,
            number: field(&mut bytes)?,
            name: field(&mut bytes)?,
            data: field(&mut bytes)?,
        });
    }
    Some(entries)
}

/// The first MIT-MAGIC-COOKIE-1 entry for this peer and display, as libXau chooses.
fn best_cookie<'a>(
    entries: &'a [AuthEntry],
    family: Family,
    address: &[u8],
    display: u16,
) -> Option<&'a AuthEntry> {
    let number = display.to_string();
    entries.iter().find(|e| {
        let family_matches = Family::from(e.family) == Family::WILD
            || (Family::from(e.family) == family && e.address == address);
        let number_matches = e.number.is_empty() || e.number == number.as_bytes();
        family_matches && number_matches && e.name == b"MIT-MAGIC-COOKIE-1"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(family: u16, address: &[u8], number: &[u8], data: &[u8]) -> Vec<u8> {
        let mut out = family.to_be_bytes().to_vec();
        for field in [address, number, b"MIT-MAGIC-COOKIE-1".as_slice(), data] {
            out.extend_from_slice(&u16::try_from(field.len()).unwrap().to_be_bytes());
            out.extend_from_slice(field);
        }
        out
    }

    #[test]
    fn picks_the_cookie_for_this_host_and_display() {
        let mut file = record(256, b"other", b"5", b"wrong-host");
        file.extend(record(256, b"vm", b"4", b"wrong-display"));
        file.extend(record(256, b"vm", b"5", b"right"));
        let entries = parse_xauthority(&file).unwrap();
        assert_eq!(entries.len(), 3);
        let best = best_cookie(&entries, Family::LOCAL, b"vm", 5).unwrap();
        assert_eq!(best.data, b"right");
        assert!(best_cookie(&entries, Family::LOCAL, b"vm", 6).is_none());
    }

    #[test]
    fn wildcard_entries_match_any_host() {
        let file = record(0xffff, b"", b"", b"wild");
        let entries = parse_xauthority(&file).unwrap();
        let best = best_cookie(&entries, Family::LOCAL, b"anything", 9).unwrap();
        assert_eq!(best.data, b"wild");
    }

    #[test]
    fn a_truncated_file_is_rejected() {
        let file = record(256, b"vm", b"5", b"cookie");
        assert!(parse_xauthority(&file[..file.len() - 1]).is_none());
        assert_eq!(parse_xauthority(&[]), Some(Vec::new()));
    }
}
