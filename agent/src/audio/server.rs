//! Where the sound server listens: found once from the environment, then passed around as a value.

use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};

use super::AudioError;

/// The address of a PulseAudio (or PipeWire-pulse) server, in libpulse's syntax:
/// `unix:/run/user/1000/pulse/native`, `tcp:host:4713`, or a socket path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddress(String);

impl ServerAddress {
    /// An address in libpulse's syntax, taken as given.
    pub fn new(address: impl Into<String>) -> Self {
        Self(address.into())
    }

    /// The server listening on the unix socket at `path`.
    pub fn unix(path: impl AsRef<Path>) -> Self {
        Self(format!("unix:{}", path.as_ref().display()))
    }

    /// Finds the server the way a desktop session's clients would: `PULSE_SERVER` if set, else
    /// the first socket that exists of `$XDG_RUNTIME_DIR/pulse/native`,
    /// `/run/user/<uid>/pulse/native` and the system daemon's `/run/pulse/native`.
    ///
    /// This is the only place that reads the environment; fails with [`AudioError::NoServer`]
    /// naming what was looked at.
    pub fn discover() -> Result<Self, AudioError> {
        Self::discover_from(
            std::env::var_os("PULSE_SERVER").as_deref(),
            std::env::var_os("XDG_RUNTIME_DIR").as_deref(),
            nix::unistd::getuid().as_raw(),
        )
    }

    /// [`discover`](Self::discover) with the environment given as values.
    pub fn discover_from(
        pulse_server: Option<&OsStr>,
        xdg_runtime_dir: Option<&OsStr>,
        uid: u32,
    ) -> Result<Self, AudioError> {
        if let Some(server) = pulse_server.filter(|s| !s.is_empty()) {
            return Ok(Self(server.to_string_lossy().into_owned()));
        }
        let mut candidates: Vec<PathBuf> = Vec::new();
        if let Some(dir) = xdg_runtime_dir.filter(|d| !d.is_empty()) {
            candidates.push(Path::new(dir).join("pulse/native"));
        }
        candidates.push(PathBuf::from(format!("/run/user/{uid}/pulse/native")));
        candidates.push(PathBuf::from("/run/pulse/native"));
        if let Some(found) = candidates.iter().find(|path| path.exists()) {
            return Ok(Self::unix(found));
        }
        let looked: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
        Err(AudioError::NoServer {
            detail: format!(
                "PULSE_SERVER is not set and none of {} exists",
                looked.join(", ")
            ),
        })
    }

    /// The address as libpulse takes it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The socket path when the address names exactly one local socket, so a missing one can be
    /// reported without asking libpulse.
    pub(crate) fn unix_socket(&self) -> Option<&Path> {
        let address = self.0.trim();
        if address.contains(char::is_whitespace) || address.starts_with('{') {
            return None; // A list of servers, or one bound to a machine id: libpulse decides.
        }
        let path = address.strip_prefix("unix:").unwrap_or(address);
        path.starts_with('/').then(|| Path::new(path))
    }
}

impl fmt::Display for ServerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests;
