//! Brute-force protection for logins: failures counted per peer and in total, as pure logic
//! driven by the caller's clock.
//!
//! Modelled on RustDesk's per-IP rule (spec §5.5): more failures than allowed within a
//! minute → "Please try 1 minute later"; more than allowed in total → "Too many wrong
//! attempts". A global window limit caps guessing spread over many addresses. IPv6 peers are
//! counted per /64, so rotating addresses inside one network does not help.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::LoginError;

/// The limits of a [`Lockout`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct LockoutPolicy {
    /// The window failures are counted in.
    pub window: Duration,
    /// Failures one peer may make within a window; further attempts get
    /// [`LoginError::TryLater`] until the window has passed.
    pub per_peer_in_window: u32,
    /// Failures one peer may make in total; further attempts get
    /// [`LoginError::TooManyAttempts`] until a success from that peer (or a restart).
    pub per_peer_total: u32,
    /// Failures all peers together may make within a window; further attempts get
    /// [`LoginError::TryLater`].
    pub global_in_window: u32,
    /// How many peers are remembered; beyond it the one with the oldest failure is forgotten.
    pub max_tracked_peers: usize,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(60),
            per_peer_in_window: 6,
            per_peer_total: 30,
            global_in_window: 60,
            max_tracked_peers: 4096,
        }
    }
}

impl LockoutPolicy {
    /// The default policy with other per-peer limits.
    #[must_use]
    pub fn with_limits(per_peer_in_window: u32, per_peer_total: u32) -> Self {
        Self {
            per_peer_in_window,
            per_peer_total,
            ..Self::default()
        }
    }
}

/// Failure counts within one window.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    count: u32,
}

impl Window {
    fn count_at(&self, now: Instant, length: Duration) -> u32 {
        if now.saturating_duration_since(self.start) >= length {
            0
        } else {
            self.count
        }
    }

    fn record(&mut self, now: Instant, length: Duration) {
        if now.saturating_duration_since(self.start) >= length {
            *self = Self {
                start: now,
                count: 0,
            };
        }
        self.count = self.count.saturating_add(1);
    }
}

#[derive(Debug, Clone, Copy)]
struct PeerRecord {
    window: Window,
    total: u32,
    last: Instant,
}

/// Login failure bookkeeping for one agent, shared by all its connections.
///
/// Call [`check`](Self::check) before verifying a password, then
/// [`record_failure`](Self::record_failure) or [`record_success`](Self::record_success).
/// [`super::check_login`] does all three.
#[derive(Debug, Clone)]
pub struct Lockout {
    policy: LockoutPolicy,
    peers: HashMap<IpAddr, PeerRecord>,
    global: Option<Window>,
}

impl Lockout {
    /// Empty bookkeeping with the given limits.
    #[must_use]
    pub fn new(policy: LockoutPolicy) -> Self {
        Self {
            policy,
            peers: HashMap::new(),
            global: None,
        }
    }

    /// The limits in force.
    #[must_use]
    pub fn policy(&self) -> &LockoutPolicy {
        &self.policy
    }

    /// Whether `peer` may try a password at `now`.
    ///
    /// # Errors
    /// [`LoginError::TooManyAttempts`] or [`LoginError::TryLater`].
    pub fn check(&self, now: Instant, peer: IpAddr) -> Result<(), LoginError> {
        let policy = &self.policy;
        if let Some(record) = self.peers.get(&bucket(peer)) {
            if record.total >= policy.per_peer_total {
                return Err(LoginError::TooManyAttempts);
            }
            if record.window.count_at(now, policy.window) >= policy.per_peer_in_window {
                return Err(LoginError::TryLater);
            }
        }
        if self
            .global
            .is_some_and(|w| w.count_at(now, policy.window) >= policy.global_in_window)
        {
            return Err(LoginError::TryLater);
        }
        Ok(())
    }

    /// Counts a wrong password from `peer` at `now`.
    pub fn record_failure(&mut self, now: Instant, peer: IpAddr) {
        let window = self.policy.window;
        self.global
            .get_or_insert(Window {
                start: now,
                count: 0,
            })
            .record(now, window);
        let key = bucket(peer);
        if !self.peers.contains_key(&key) && self.peers.len() >= self.policy.max_tracked_peers {
            self.forget_oldest();
        }
        if self.policy.max_tracked_peers == 0 {
            return;
        }
        let record = self.peers.entry(key).or_insert(PeerRecord {
            window: Window {
                start: now,
                count: 0,
            },
            total: 0,
            last: now,
        });
        record.window.record(now, window);
        record.total = record.total.saturating_add(1);
        record.last = now;
    }

    /// Forgets `peer`'s failures after a successful login.
    pub fn record_success(&mut self, peer: IpAddr) {
        self.peers.remove(&bucket(peer));
    }

    /// How many peers are remembered.
    #[must_use]
    pub fn tracked_peers(&self) -> usize {
        self.peers.len()
    }

    fn forget_oldest(&mut self) {
        let oldest = self
            .peers
            .iter()
            .min_by_key(|(_, record)| record.last)
            .map(|(key, _)| *key);
        if let Some(key) = oldest {
            self.peers.remove(&key);
        }
    }
}

/// The key a peer's failures are counted under: the address, or its /64 for IPv6.
fn bucket(peer: IpAddr) -> IpAddr {
    match peer {
        IpAddr::V4(_) => peer,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(prefix.into())
            }
        },
    }
}
