//! The agent's error type, split by fault: the environment (config, X server, encoders), the
//! peer (protocol violations, timeouts) and the network.
//!
//! Module-level errors (`ConfigError`, `platform::x11::Error`, `audio::AudioError`, …) keep their
//! detail and convert into this one where the runtime joins them.

use crate::platform::x11;
use crate::service::config::ConfigError;

/// Everything that can stop the agent or end one session.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The X server refused or went away.
    #[error("X11: {0}")]
    X11(#[from] x11::Error),
    /// The peer broke the protocol (the session ends; the agent goes on).
    #[error("protocol: {0}")]
    Protocol(#[from] deskcast_protocol::Error),
    /// An encoder could not be used.
    #[error("encoder: {0}")]
    Codec(#[from] deskcast_codec::Error),
    /// A socket or file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// The peer was silent for too long.
    #[error("timed out {0}")]
    Timeout(&'static str),
    /// The peer closed the connection.
    #[error("the peer closed the connection")]
    PeerClosed,
    /// We refused or ended the session on purpose.
    #[error("{0}")]
    Refused(String),
}

impl Error {
    /// An I/O error with what we were doing.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

/// Adds context to I/O results.
pub(crate) trait IoContext<T> {
    /// Wraps the error with `context`.
    fn context(self, context: &str) -> Result<T, Error>;
}

impl<T> IoContext<T> for Result<T, std::io::Error> {
    fn context(self, context: &str) -> Result<T, Error> {
        self.map_err(|e| Error::io(context, e))
    }
}
