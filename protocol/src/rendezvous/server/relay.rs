//! A sans-IO model of hbbr's pairing (spec §3.7); the call order is on [`Hbbr`].

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::ConnId;
use crate::message::rendezvous_message::Union;

/// hbbr's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HbbrConfig {
    /// The licence key connections must present (`-k`); `None` checks nothing.
    pub licence_key: Option<String>,
    /// How long the first connection of a pair waits for the second (30 s).
    pub pairing_timeout: Duration,
    /// How many connections may wait at once.
    pub max_parked: usize,
}

impl HbbrConfig {
    /// hbbr checking `licence_key` when it is `Some` (`-k`).
    #[must_use]
    pub fn new(licence_key: Option<String>) -> Self {
        Self {
            licence_key,
            pairing_timeout: Duration::from_secs(30),
            max_parked: 10_000,
        }
    }
}

/// What to do with a connection after its first frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RelayDecision {
    /// Wait for the other side of the pair.
    Park,
    /// Pair with the parked connection `with`.
    Pair {
        /// The connection that was waiting.
        with: ConnId,
    },
    /// Close silently.
    Refuse(RelayRefusal),
}

/// Why a connection is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RelayRefusal {
    /// The first frame is not a `RendezvousMessage`.
    Malformed,
    /// The first frame is not a `RequestRelay`.
    NotRequestRelay,
    /// The licence key does not match.
    LicenceMismatch,
    /// The uuid is empty.
    EmptyUuid,
    /// Too many connections are waiting.
    Full,
}

/// The relay model.
///
/// # Call order
///
/// For each accepted TCP connection the wrapper reads the first frame (within 30 s, or
/// closes it) and passes its payload to [`Hbbr::handle_first_frame`]:
///
/// - [`RelayDecision::Park`]: keep the connection and buffer whatever it sends next (an
///   agent starts its handshake before the client arrives);
/// - [`RelayDecision::Pair`]: from now on copy bytes both ways between the two connections
///   unchanged (raw mode), starting with the parked one's buffered bytes; end the pair after
///   30 s without traffic or when either side closes;
/// - [`RelayDecision::Refuse`]: close without a word (hbbr never answers).
///
/// Call [`Hbbr::closed`] when a parked connection ends, and [`Hbbr::handle_timeout`] when
/// [`Hbbr::poll_timeout`] has passed; close what [`Hbbr::poll_expired`] returns.
#[derive(Debug)]
pub struct Hbbr {
    config: HbbrConfig,
    parked: HashMap<String, (ConnId, Instant)>,
    expired: VecDeque<ConnId>,
}

impl Hbbr {
    /// An empty relay.
    #[must_use]
    pub fn new(config: HbbrConfig) -> Self {
        Self {
            config,
            parked: HashMap::new(),
            expired: VecDeque::new(),
        }
    }

    /// Decides on a connection from its first frame's payload.
    pub fn handle_first_frame(
        &mut self,
        now: Instant,
        conn: ConnId,
        payload: &[u8],
    ) -> RelayDecision {
        let Ok(message) = crate::message::decode_rendezvous(payload) else {
            return RelayDecision::Refuse(RelayRefusal::Malformed);
        };
        let Some(Union::RequestRelay(request)) = message.union else {
            return RelayDecision::Refuse(RelayRefusal::NotRequestRelay);
        };
        if self
            .config
            .licence_key
            .as_ref()
            .is_some_and(|key| *key != request.licence_key)
        {
            return RelayDecision::Refuse(RelayRefusal::LicenceMismatch);
        }
        if request.uuid.is_empty() {
            return RelayDecision::Refuse(RelayRefusal::EmptyUuid);
        }
        match self.parked.remove(&request.uuid) {
            Some((with, _)) if with != conn => RelayDecision::Pair { with },
            _ => {
                if self.parked.len() >= self.config.max_parked {
                    return RelayDecision::Refuse(RelayRefusal::Full);
                }
                self.parked.insert(request.uuid, (conn, now));
                RelayDecision::Park
            }
        }
    }

    /// A connection ended; a parked one is forgotten.
    pub fn closed(&mut self, conn: ConnId) {
        self.parked.retain(|_, (parked, _)| *parked != conn);
    }

    /// How many connections wait for their other half.
    #[must_use]
    pub fn parked(&self) -> usize {
        self.parked.len()
    }

    /// When the next parked connection expires.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.parked
            .values()
            .map(|(_, since)| *since + self.config.pairing_timeout)
            .min()
    }

    /// Expires connections that waited too long.
    pub fn handle_timeout(&mut self, now: Instant) {
        let timeout = self.config.pairing_timeout;
        let mut expired: Vec<ConnId> = Vec::new();
        self.parked.retain(|_, (conn, since)| {
            let keep = now.saturating_duration_since(*since) < timeout;
            if !keep {
                expired.push(*conn);
            }
            keep
        });
        expired.sort();
        self.expired.extend(expired);
    }

    /// The next expired connection to close.
    pub fn poll_expired(&mut self) -> Option<ConnId> {
        self.expired.pop_front()
    }
}
