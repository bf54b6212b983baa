//! Helpers for tests that need real things: an Xvfb server per test, a private PulseAudio server
//! per test with `pacat` players and tone analysis, a rendezvous server and relay on loopback
//! ([`servers`]), checks that a tool exists.
//!
//! Tests never skip silently: a missing tool panics with the package that provides it.

#![forbid(unsafe_code)]

mod pulse;
pub mod servers;
pub mod tone;
mod xvfb;

pub use pulse::{NULL_SINK, Player, PulseOptions, PulseServer};
pub use xvfb::{Xvfb, XvfbOptions};

use std::path::PathBuf;

/// Finds `tool` on `PATH`, or panics naming the Debian package that provides it.
pub fn require_tool(tool: &str, package: &str) -> PathBuf {
    which(tool).unwrap_or_else(|| {
        panic!("`{tool}` is not installed: run `.ci/run` or `apt-get install {package}`")
    })
}

/// Finds `tool` on `PATH`.
pub fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|candidate| candidate.is_file())
}
