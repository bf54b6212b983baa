//! A minimal rendezvous server (hbbs) and relay (hbbr) on loopback, for tests and manual runs:
//! real sockets around the protocol crate's sans-IO models
//! ([`deskcast_protocol::rendezvous::server::Hbbs`] and
//! [`deskcast_protocol::rendezvous::server::Hbbr`]), so they follow the spec the way those
//! models do (registration over UDP, `PunchHoleRequest` → push → `RelayResponse`, pairing by
//! uuid, raw byte relay with early bytes buffered).
//!
//! Each server runs on its own thread with its own single-threaded tokio runtime, so tests can
//! use it from sync or async code alike. Stopping a server drops that runtime, which closes
//! every socket it holds at once: that is how [`TestRelay::kill`] ends relayed sessions.
//!
//! ```text
//! let relay = TestRelay::start();
//! let hbbs = TestRendezvous::start_with(RendezvousOptions::default().relay(relay.addr()));
//! // agent: registers over UDP with hbbs.addr(), answers pushes through relay.addr()
//! // client: dials hbbs.addr() with hbbs.key_base64()
//! ```
//!
//! [`Servers::from_env_or_start`] hands tests either these servers or, under
//! `cargo xtask interop`, the real hbbs/hbbr named by `DESKCAST_INTEROP_*`.

mod relay;
mod rendezvous;
mod thread;

pub use relay::{RelayOptions, RelayStats, TestRelay};
pub use rendezvous::{RendezvousOptions, TestRendezvous};

use std::net::SocketAddr;

/// Names the real hbbs (`host:port` of its port 21116) for interop runs.
pub const ENV_RENDEZVOUS: &str = "DESKCAST_INTEROP_RENDEZVOUS";
/// Names the real hbbr (`host:port`) for interop runs.
pub const ENV_RELAY: &str = "DESKCAST_INTEROP_RELAY";
/// The real hbbs's public key (the text of its `id_ed25519.pub`).
pub const ENV_KEY: &str = "DESKCAST_INTEROP_KEY";

/// The rendezvous server and relay a test talks to: the test servers of this module, or real
/// ones named by the environment.
#[derive(Debug)]
pub struct Servers {
    /// hbbs, `host:port`.
    pub rendezvous: SocketAddr,
    /// hbbr, `host:port`.
    pub relay: SocketAddr,
    /// The server key clients and agents are given (base64).
    pub key: String,
    local: Option<(TestRendezvous, TestRelay)>,
}

impl Servers {
    /// The real servers when [`ENV_RENDEZVOUS`], [`ENV_RELAY`] and [`ENV_KEY`] are all set
    /// (by `cargo xtask interop`); otherwise a fresh [`TestRelay`] and a [`TestRendezvous`]
    /// that hands it out. Panics on a malformed variable or when a server cannot start.
    #[must_use]
    pub fn from_env_or_start() -> Self {
        let var = |name| {
            std::env::var(name)
                .ok()
                .filter(|v: &String| !v.trim().is_empty())
        };
        match (var(ENV_RENDEZVOUS), var(ENV_RELAY), var(ENV_KEY)) {
            (Some(rendezvous), Some(relay), Some(key)) => {
                let parse = |name: &str, value: &str| {
                    value.trim().parse().unwrap_or_else(|_| {
                        panic!("{name}={value:?} is not an IP address and port")
                    })
                };
                Self {
                    rendezvous: parse(ENV_RENDEZVOUS, &rendezvous),
                    relay: parse(ENV_RELAY, &relay),
                    key: key.trim().to_owned(),
                    local: None,
                }
            }
            _ => Self::start(),
        }
    }

    /// A fresh [`TestRelay`] and a [`TestRendezvous`] that hands it out, whatever the
    /// environment says.
    #[must_use]
    pub fn start() -> Self {
        let relay = TestRelay::start();
        let rendezvous =
            TestRendezvous::start_with(RendezvousOptions::default().relay(relay.addr()));
        Self {
            rendezvous: rendezvous.addr(),
            relay: relay.addr(),
            key: rendezvous.key_base64(),
            local: Some((rendezvous, relay)),
        }
    }

    /// Whether these are real servers from the environment.
    #[must_use]
    pub fn is_interop(&self) -> bool {
        self.local.is_none()
    }

    /// The test rendezvous server, when these are the test servers (to restart it).
    pub fn test_rendezvous(&mut self) -> Option<&mut TestRendezvous> {
        self.local.as_mut().map(|(rendezvous, _)| rendezvous)
    }

    /// The test relay, when these are the test servers (to kill it).
    pub fn test_relay(&mut self) -> Option<&mut TestRelay> {
        self.local.as_mut().map(|(_, relay)| relay)
    }
}

#[cfg(test)]
mod tests;
