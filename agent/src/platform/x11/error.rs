//! The one error type of the X11 layer, split by whose fault a failure is.

use std::io;
use std::path::PathBuf;

use x11rb::errors::{ConnectError, ConnectionError, ReplyError, ReplyOrIdError};
use x11rb::x11_utils::X11Error;

/// Everything that can go wrong in the X11 layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // The environment: no server, no extension, the OS said no.
    /// Connecting to the display failed (no server, wrong `DISPLAY`, refused authorization).
    #[error("cannot connect to X display {display}: {source}")]
    Connect {
        /// The display name tried (`$DISPLAY` when none was given).
        display: String,
        /// What x11rb reported.
        #[source]
        source: ConnectError,
    },
    /// The X authority file given in [`ConnectOptions`](super::ConnectOptions) is unreadable.
    #[error("cannot read X authority file {path}: {source}")]
    Xauthority {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The connection to the X server broke (the server exited or the socket failed): drop the
    /// value that returned this and connect again.
    #[error("the connection to the X server was lost during {request}: {source}")]
    Disconnected {
        /// What was being done.
        request: &'static str,
        /// The underlying failure.
        #[source]
        source: ConnectionError,
    },
    /// The server lacks an extension (or a version of it) that this feature needs.
    #[error("the X server lacks {name}, needed for {needed_for}")]
    MissingExtension {
        /// The extension and version, e.g. `XTEST 2.2`.
        name: &'static str,
        /// The feature that needs it.
        needed_for: &'static str,
    },
    /// An operating-system call failed (memfd, mmap, SysV shared memory, poll).
    #[error("{what} failed: {source}")]
    Os {
        /// The call.
        what: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// None of the enabled capture paths works; the text lists each attempt.
    #[error("no capture path works: {0}")]
    NoCapturePath(String),
    /// The server's screen format is one this layer does not read (only 32-bit little-endian
    /// ZPixmap pixels of depth 24 or 32 are supported).
    #[error("unsupported screen format: {0}")]
    UnsupportedFormat(String),
    /// The server cannot do what was asked (e.g. a resolution beyond its maximum).
    #[error("the X server cannot {0}")]
    Unsupported(String),

    // The server refused a request or answered oddly.
    /// The server answered a request with an X error.
    #[error("the X server refused {request}: {error:?}")]
    Refused {
        /// The request.
        request: &'static str,
        /// The X error.
        error: X11Error,
    },
    /// A reply or event the layer cannot make sense of.
    #[error("odd reply from the X server to {request}: {detail}")]
    OddReply {
        /// The request.
        request: &'static str,
        /// What was odd.
        detail: String,
    },

    // The caller asked for something that cannot be.
    /// No monitor has this name.
    #[error("no monitor named {0:?}")]
    NoSuchMonitor(String),
    /// The capture area lies outside the screen.
    #[error("the capture area {0:?} lies outside the screen")]
    AreaOutsideScreen(deskcast_codec::Rect),
    /// A keycode outside the server's range (map keyboard mode).
    #[error("keycode {0} is outside the server's keycode range")]
    InvalidKeycode(u32),
    /// A keysym is on no key, and no spare keycode is left to put it on.
    #[error("keysym {0:#x} is on no key and no spare keycode is free")]
    NoSpareKeycode(u32),
    /// Every capture buffer is held by a [`CapturedFrame`](super::CapturedFrame).
    #[error("all {0} capture buffers are in use: drop a CapturedFrame before capturing again")]
    BuffersExhausted(usize),
    /// Clipboard contents larger than the configured cap.
    #[error("clipboard contents of at least {size} bytes exceed the cap of {cap} bytes")]
    ClipboardTooLarge {
        /// The size seen so far.
        size: usize,
        /// The configured cap.
        cap: usize,
    },
}

/// Whose fault an [`Error`] is, for callers that decide between retrying, reconnecting and
/// giving up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// The environment: no server, a lost connection, a missing extension, the OS refused.
    /// Reconnecting later may help.
    Environment,
    /// The X server refused or answered oddly.
    Server,
    /// The caller asked for something impossible.
    Caller,
}

impl Error {
    /// Whose fault this is.
    pub fn fault(&self) -> Fault {
        match self {
            Self::Connect { .. }
            | Self::Xauthority { .. }
            | Self::Disconnected { .. }
            | Self::MissingExtension { .. }
            | Self::Os { .. }
            | Self::NoCapturePath(_)
            | Self::UnsupportedFormat(_)
            | Self::Unsupported(_) => Fault::Environment,
            Self::Refused { .. } | Self::OddReply { .. } => Fault::Server,
            Self::NoSuchMonitor(_)
            | Self::AreaOutsideScreen(_)
            | Self::InvalidKeycode(_)
            | Self::NoSpareKeycode(_)
            | Self::BuffersExhausted(_)
            | Self::ClipboardTooLarge { .. } => Fault::Caller,
        }
    }

    /// True when the connection is gone and the caller should reconnect.
    pub fn is_disconnected(&self) -> bool {
        matches!(self, Self::Disconnected { .. })
    }

    pub(crate) fn os(what: &'static str, source: io::Error) -> Self {
        Self::Os { what, source }
    }

    pub(crate) fn odd(request: &'static str, detail: impl Into<String>) -> Self {
        Self::OddReply {
            request,
            detail: detail.into(),
        }
    }

    fn connection(request: &'static str, source: ConnectionError) -> Self {
        match source {
            ConnectionError::ParseError(e) => Self::odd(request, e.to_string()),
            ConnectionError::UnsupportedExtension => Self::MissingExtension {
                name: "an extension",
                needed_for: request,
            },
            source => Self::Disconnected { request, source },
        }
    }
}

/// Names the request behind an x11rb error while turning it into an [`Error`].
pub(crate) trait Context<T> {
    /// Converts the error, naming `request`.
    fn ctx(self, request: &'static str) -> Result<T, Error>;
}

impl<T> Context<T> for Result<T, ConnectionError> {
    fn ctx(self, request: &'static str) -> Result<T, Error> {
        self.map_err(|e| Error::connection(request, e))
    }
}

impl<T> Context<T> for Result<T, ReplyError> {
    fn ctx(self, request: &'static str) -> Result<T, Error> {
        self.map_err(|e| match e {
            ReplyError::ConnectionError(e) => Error::connection(request, e),
            ReplyError::X11Error(error) => Error::Refused { request, error },
        })
    }
}

impl<T> Context<T> for Result<T, ReplyOrIdError> {
    fn ctx(self, request: &'static str) -> Result<T, Error> {
        self.map_err(|e| match e {
            ReplyOrIdError::ConnectionError(e) => Error::connection(request, e),
            ReplyOrIdError::X11Error(error) => Error::Refused { request, error },
            ReplyOrIdError::IdsExhausted => {
                Error::odd(request, "the X server gave out no more ids")
            }
        })
    }
}
