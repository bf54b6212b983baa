//! The controlled side's rendezvous state machine: registration with hbbs over UDP and the
//! answers to hbbs's pushes (spec §2.3, §3.2–§3.4).
//!
//! # Call order
//!
//! [`Mediator`] owns no socket and no clock. The caller keeps **one** UDP socket for its
//! whole life (hbbs pushes to the address it last saw) and loops:
//!
//! 1. [`Mediator::handle_datagram`] with every datagram that arrived *from hbbs* (check the
//!    source address first; errors are per datagram and leave the machine intact);
//! 2. [`Mediator::handle_timeout`] when the instant from [`Mediator::poll_timeout`] has passed;
//! 3. [`Mediator::poll_transmit`] until `None`, sending each datagram to hbbs;
//! 4. [`Mediator::poll_event`] until `None`, acting on each [`Event`];
//! 5. sleep until [`Mediator::poll_timeout`] or the next datagram.
//!
//! The first `handle_timeout` registers at once. A [`Event::Relay`] asks the caller to open
//! a new TCP connection to hbbs and write `to_rendezvous` (hbbs closes it without an
//! answer), and to open a TCP connection to the relay and write `to_relay` followed, if
//! `secure`, by the handshake of [`crate::handshake::agent`]. Answers to hbbs always go over
//! TCP, never UDP (pitfall 3).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use rand_core::CryptoRngCore;

use super::{REG_INTERVAL, RELAY_PORT, fallback_relay, with_default_port};
use crate::addr;
use crate::crypto::IdentityPublicKey;
use crate::error::{Error, PeerMisbehaved};
use crate::message::{
    LocalAddr, RegisterPeer, RegisterPk, RelayResponse, RequestRelay, register_pk_response,
    relay_response, rendezvous_message::Union,
};

/// Events and transmits queued beyond this are dropped (oldest first); callers drain both
/// queues after every input, so this is only a guard against a caller that does not.
const QUEUE_LIMIT: usize = 256;
/// How many pushes are remembered for de-duplication.
const RECENT_PUSH_LIMIT: usize = 32;
/// Replies sent at once (not on the tick) within one tick: a guard against a server that
/// keeps asking for the key.
const IMMEDIATE_PER_TICK: u32 = 4;

/// How to answer `FetchLocalAddr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LanPolicy {
    /// Answer with a relay (Flow A), as for `PunchHole`.
    Relay,
    /// Emit [`Event::LocalAddrRequested`] so the caller can answer with `LocalAddr`
    /// (Flow C) and listen for a direct connection.
    LocalAddr,
}

/// Timing of the registration loop; the defaults follow RustDesk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timing {
    /// The loop's tick (1 s).
    pub tick: Duration,
    /// Re-register when the last answer is this old (15 s).
    pub reg_interval: Duration,
    /// The interval after `NOT_DEPLOYED` (30 s).
    pub not_deployed_interval: Duration,
    /// An unanswered registration counts as a timeout after this (3 s).
    pub reg_timeout: Duration,
    /// [`Event::Unreachable`] after this many timeouts in a row (4).
    pub unreachable_after: u32,
    /// Pushes for the same client address within this window are dropped (100 ms).
    pub dedup_window: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            tick: Duration::from_secs(1),
            reg_interval: REG_INTERVAL,
            not_deployed_interval: Duration::from_secs(30),
            reg_timeout: Duration::from_secs(3),
            unreachable_after: 4,
            dedup_window: Duration::from_millis(100),
        }
    }
}

/// What the [`Mediator`] needs to know; persist `serial` and `key_confirmed` across runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MediatorConfig {
    /// The agent's RustDesk ID.
    pub id: String,
    /// A stable machine identifier (e.g. `/etc/machine-id`); never empty, never changing.
    pub uuid: Vec<u8>,
    /// The agent's long-term public key, registered with hbbs.
    pub public_key: IdentityPublicKey,
    /// hbbs as configured, `host` or `host:port`; the fallback relay is derived from it.
    pub rendezvous_server: String,
    /// A relay that overrides whatever hbbs suggests.
    pub relay_server: Option<String>,
    /// The key hbbr may require (`RequestRelay.licence_key`): the base64 server key.
    pub licence_key: String,
    /// The version sent to hbbs; must not be empty, or hbbs signs nothing.
    pub version: String,
    /// The last `ConfigUpdate.serial` seen.
    pub serial: i32,
    /// Whether hbbs has accepted our key before (then `RegisterPeer` is sent, not `RegisterPk`).
    pub key_confirmed: bool,
    /// How to answer `FetchLocalAddr`.
    pub lan: LanPolicy,
    /// The registration loop's timing.
    pub timing: Timing,
}

impl MediatorConfig {
    /// A configuration with RustDesk's defaults for everything not given.
    #[must_use]
    pub fn new(
        id: &str,
        uuid: &[u8],
        public_key: IdentityPublicKey,
        rendezvous_server: &str,
        version: &str,
    ) -> Self {
        Self {
            id: id.to_owned(),
            uuid: uuid.to_vec(),
            public_key,
            rendezvous_server: rendezvous_server.to_owned(),
            relay_server: None,
            licence_key: String::new(),
            version: version.to_owned(),
            serial: 0,
            key_confirmed: false,
            lan: LanPolicy::Relay,
            timing: Timing::default(),
        }
    }
}

/// What the caller must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// hbbs recorded our address (`RegisterPeer` answered with `request_pk = false`):
    /// clients can reach us. Emitted on the transition only.
    Registered,
    /// hbbs accepted our key (`RegisterPkResponse OK`); persist `key_confirmed`.
    KeyConfirmed,
    /// This many registrations in a row went unanswered.
    Unreachable {
        /// Timeouts in a row.
        timeouts: u32,
    },
    /// hbbs answered again after [`Event::Unreachable`].
    Reachable,
    /// hbbs refused `RegisterPk`. The ID is *not* changed: that is the caller's decision.
    Rejected(RegisterRejection),
    /// hbbs sent a new serial; persist it.
    ConfigUpdated {
        /// The new serial.
        serial: i32,
    },
    /// Connect through a relay (Flow A or B).
    Relay(RelayInstructions),
    /// hbbs thinks the client shares our LAN (Flow C, with [`LanPolicy::LocalAddr`]).
    LocalAddrRequested(LanRequest),
}

/// Why hbbs refused `RegisterPk`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RegisterRejection {
    /// The ID is registered with another uuid (or IP and key both changed). RustDesk picks
    /// a new ID here.
    UuidMismatch,
    /// The ID exists (Pro).
    IdExists,
    /// Too many `RegisterPk` in a short time; the loop retries on its own.
    TooFrequent,
    /// The ID's format is invalid (Pro).
    InvalidIdFormat,
    /// Not supported (e.g. `RegisterPk` over TCP).
    NotSupported,
    /// Server error.
    ServerError,
    /// Not deployed (Pro); retries slow down to every 30 s.
    NotDeployed,
    /// A code this crate does not know.
    Unknown(i32),
}

/// Which push led to a relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Trigger {
    /// `PunchHole` answered with a relay (Flow A).
    PunchHole,
    /// `FetchLocalAddr` answered with a relay (Flow A).
    FetchLocalAddr,
    /// `RequestRelay` from the client (Flow B).
    RequestRelay,
}

/// How to connect an incoming client through a relay.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RelayInstructions {
    /// The push that asked for it.
    pub trigger: Trigger,
    /// The relay to connect to, `host:port`.
    pub relay: String,
    /// The pairing token.
    pub uuid: String,
    /// Whether to run the handshake (send `SignedId` first).
    pub secure: bool,
    /// The client's public address as hbbs saw it, when it decodes.
    pub client_addr: Option<SocketAddr>,
    /// One frame (`RelayResponse`) to write on a **new** TCP connection to hbbs.
    pub to_rendezvous: Vec<u8>,
    /// The first frame (`RequestRelay`) to write on the TCP connection to the relay.
    pub to_relay: Vec<u8>,
}

/// A `FetchLocalAddr` to answer with our LAN address (Flow C).
///
/// Open TCP to hbbs, write [`LanRequest::local_addr_frame`] with that socket's local
/// address, close it, listen on the same local address and accept one connection within
/// 18 s; run the handshake with `secure = true`. If that cannot be prepared, use
/// [`LanRequest::fallback`] instead.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LanRequest {
    /// The client's address as hbbs saw it, when it decodes.
    pub client_addr: Option<SocketAddr>,
    /// A relay to use instead (Flow A).
    pub fallback: RelayInstructions,
    socket_addr: Vec<u8>,
    id: String,
    version: String,
}

impl LanRequest {
    /// The `LocalAddr` frame for a hbbs connection whose local address is `local`.
    ///
    /// # Errors
    /// Only framing errors for absurd lengths.
    pub fn local_addr_frame(&self, local: SocketAddr, now: SystemTime) -> Result<Vec<u8>, Error> {
        super::frame(Union::LocalAddr(LocalAddr {
            socket_addr: self.socket_addr.clone(),
            local_addr: addr::encode(local, now),
            relay_server: self.fallback.relay.clone(),
            id: self.id.clone(),
            version: self.version.clone(),
            socket_addr_v6: Vec::new(),
        }))
    }
}

/// The controlled side's rendezvous state machine; see the [module docs](self) for the
/// call order.
#[derive(Debug)]
pub struct Mediator<R> {
    config: MediatorConfig,
    rng: R,
    next_tick: Instant,
    /// When the unanswered registration was sent.
    outstanding: Option<Instant>,
    last_response: Option<Instant>,
    interval: Duration,
    timeouts: u32,
    immediate_sent: u32,
    registered: bool,
    unreachable: bool,
    recent_pushes: VecDeque<(Vec<u8>, Instant)>,
    transmits: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
}

impl<R: CryptoRngCore> Mediator<R> {
    /// A machine that registers at the first [`handle_timeout`](Self::handle_timeout) from
    /// `now` on. `rng` makes relay uuids.
    pub fn new(config: MediatorConfig, rng: R, now: Instant) -> Self {
        let interval = config.timing.reg_interval;
        Self {
            config,
            rng,
            next_tick: now,
            outstanding: None,
            last_response: None,
            interval,
            timeouts: 0,
            immediate_sent: 0,
            registered: false,
            unreachable: false,
            recent_pushes: VecDeque::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The configuration, with `serial` and `key_confirmed` as they stand now.
    #[must_use]
    pub fn config(&self) -> &MediatorConfig {
        &self.config
    }

    /// Whether hbbs has recorded our address since the last time it was unreachable.
    #[must_use]
    pub fn is_registered(&self) -> bool {
        self.registered
    }

    /// Forgets that hbbs accepted our key, so the next registration sends `RegisterPk`;
    /// call it when a client answered `SignedId` with an empty `PublicKey`.
    pub fn force_register_pk(&mut self) {
        self.config.key_confirmed = false;
    }

    /// The next instant [`handle_timeout`](Self::handle_timeout) wants to run.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        Some(self.next_tick)
    }

    /// The next datagram to send to hbbs.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Runs the registration tick if it is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if now < self.next_tick {
            return;
        }
        let timing = self.config.timing;
        self.next_tick = now + timing.tick;
        self.immediate_sent = 0;
        let timed_out = self
            .outstanding
            .is_some_and(|sent| now.saturating_duration_since(sent) >= timing.reg_timeout);
        if timed_out {
            self.outstanding = None;
            self.timeouts = self.timeouts.saturating_add(1);
            if self.timeouts >= timing.unreachable_after && !self.unreachable {
                self.unreachable = true;
                self.registered = false;
                self.push_event(Event::Unreachable {
                    timeouts: self.timeouts,
                });
            }
        }
        let interval_passed = self
            .last_response
            .is_none_or(|at| now.saturating_duration_since(at) >= self.interval);
        if timed_out || (self.outstanding.is_none() && interval_passed) {
            self.register(now);
        }
    }

    /// Handles one datagram from hbbs.
    ///
    /// # Errors
    /// [`PeerMisbehaved`] for an undecodable datagram or a relay push without a uuid; the
    /// machine is unchanged.
    pub fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) -> Result<(), Error> {
        let message = crate::message::decode_rendezvous(datagram)?;
        match message.union {
            Some(Union::RegisterPeerResponse(response)) => {
                self.answered(now);
                if response.request_pk {
                    self.config.key_confirmed = false;
                    self.registered = false;
                    self.send_now(now);
                } else if !self.registered {
                    self.registered = true;
                    self.push_event(Event::Registered);
                }
            }
            Some(Union::RegisterPkResponse(response)) => {
                self.answered(now);
                self.on_register_pk_response(now, response.result);
            }
            Some(Union::ConfigureUpdate(update)) => {
                self.config.serial = update.serial;
                self.push_event(Event::ConfigUpdated {
                    serial: update.serial,
                });
            }
            // Pushes repeated within the dedup window are dropped (the guards record them).
            Some(Union::PunchHole(push)) if self.fresh_push(now, &push.socket_addr) => {
                let relay = self.relay_instructions(
                    Trigger::PunchHole,
                    &push.socket_addr,
                    &push.relay_server,
                )?;
                self.push_event(Event::Relay(relay));
            }
            Some(Union::FetchLocalAddr(push)) if self.fresh_push(now, &push.socket_addr) => {
                self.on_fetch_local_addr(&push.socket_addr, &push.relay_server)?;
            }
            Some(Union::RequestRelay(push)) if push.uuid.is_empty() => {
                return Err(PeerMisbehaved::MissingUuid.into());
            }
            Some(Union::RequestRelay(push)) if self.fresh_push(now, &push.socket_addr) => {
                let relay = self.client_relay(push)?;
                self.push_event(Event::Relay(relay));
            }
            // Other messages (software updates, answers meant for clients) need nothing.
            _ => {}
        }
        Ok(())
    }

    fn on_register_pk_response(&mut self, now: Instant, code: i32) {
        use register_pk_response::Result as Code;
        self.interval = self.config.timing.reg_interval;
        let rejection = match Code::try_from(code) {
            Ok(Code::Ok) => {
                if !self.config.key_confirmed {
                    self.config.key_confirmed = true;
                    self.push_event(Event::KeyConfirmed);
                }
                // hbbs records our address for RegisterPk only when something changed, so
                // make sure it has it now (pitfall 8).
                self.send_now(now);
                return;
            }
            Ok(Code::UuidMismatch) => {
                self.config.key_confirmed = false;
                RegisterRejection::UuidMismatch
            }
            Ok(Code::IdExists) => RegisterRejection::IdExists,
            Ok(Code::TooFrequent) => RegisterRejection::TooFrequent,
            Ok(Code::InvalidIdFormat) => RegisterRejection::InvalidIdFormat,
            Ok(Code::NotSupport) => RegisterRejection::NotSupported,
            Ok(Code::ServerError) => RegisterRejection::ServerError,
            Ok(Code::NotDeployed) => {
                self.interval = self.config.timing.not_deployed_interval;
                RegisterRejection::NotDeployed
            }
            Err(_) => RegisterRejection::Unknown(code),
        };
        self.push_event(Event::Rejected(rejection));
    }

    fn on_fetch_local_addr(&mut self, socket_addr: &[u8], relay_server: &str) -> Result<(), Error> {
        let fallback =
            self.relay_instructions(Trigger::FetchLocalAddr, socket_addr, relay_server)?;
        match self.config.lan {
            LanPolicy::Relay => self.push_event(Event::Relay(fallback)),
            LanPolicy::LocalAddr => {
                let request = LanRequest {
                    client_addr: fallback.client_addr,
                    socket_addr: socket_addr.to_vec(),
                    id: self.config.id.clone(),
                    version: self.config.version.clone(),
                    fallback,
                };
                self.push_event(Event::LocalAddrRequested(request));
            }
        }
        Ok(())
    }

    /// Flow A: we pick the relay and the uuid and tell hbbs, which adds our signed key.
    fn relay_instructions(
        &mut self,
        trigger: Trigger,
        socket_addr: &[u8],
        pushed_relay: &str,
    ) -> Result<RelayInstructions, Error> {
        let relay = self.choose_relay(pushed_relay);
        let uuid = super::generate_uuid(&mut self.rng);
        let to_rendezvous = super::frame(Union::RelayResponse(RelayResponse {
            socket_addr: socket_addr.to_vec(),
            uuid: uuid.clone(),
            relay_server: relay.clone(),
            union: Some(relay_response::Union::Id(self.config.id.clone())),
            version: self.config.version.clone(),
            ..RelayResponse::default()
        }))?;
        let to_relay = self.relay_frame(&uuid)?;
        Ok(RelayInstructions {
            trigger,
            relay,
            uuid,
            secure: true,
            client_addr: addr::decode(socket_addr).ok(),
            to_rendezvous,
            to_relay,
        })
    }

    /// Flow B: the client picked relay and uuid; we only say "go ahead".
    fn client_relay(&mut self, push: RequestRelay) -> Result<RelayInstructions, Error> {
        let relay = match push.relay_server.trim() {
            "" => self.choose_relay(""),
            given => with_default_port(given, RELAY_PORT),
        };
        let to_rendezvous = super::frame(Union::RelayResponse(RelayResponse {
            socket_addr: push.socket_addr.clone(),
            version: self.config.version.clone(),
            ..RelayResponse::default()
        }))?;
        let to_relay = self.relay_frame(&push.uuid)?;
        Ok(RelayInstructions {
            trigger: Trigger::RequestRelay,
            relay,
            client_addr: addr::decode(&push.socket_addr).ok(),
            uuid: push.uuid,
            secure: push.secure,
            to_rendezvous,
            to_relay,
        })
    }

    fn relay_frame(&self, uuid: &str) -> Result<Vec<u8>, Error> {
        super::relay_request_frame(RequestRelay {
            uuid: uuid.to_owned(),
            licence_key: self.config.licence_key.clone(),
            ..RequestRelay::default()
        })
    }

    /// Our override, else hbbs's suggestion, else hbbs's host with its port + 1 (pitfall 5).
    fn choose_relay(&self, pushed: &str) -> String {
        let configured = self.config.relay_server.as_deref().map(str::trim);
        match (configured, pushed.trim()) {
            (Some(ours), _) if !ours.is_empty() => with_default_port(ours, RELAY_PORT),
            (_, pushed) if !pushed.is_empty() => with_default_port(pushed, RELAY_PORT),
            _ => fallback_relay(&self.config.rendezvous_server),
        }
    }

    /// Whether a push for `socket_addr` was not already seen within the dedup window.
    fn fresh_push(&mut self, now: Instant, socket_addr: &[u8]) -> bool {
        let window = self.config.timing.dedup_window;
        self.recent_pushes
            .retain(|(_, at)| now.saturating_duration_since(*at) < window);
        if self
            .recent_pushes
            .iter()
            .any(|(seen, _)| seen == socket_addr)
        {
            return false;
        }
        if self.recent_pushes.len() >= RECENT_PUSH_LIMIT {
            self.recent_pushes.pop_front();
        }
        self.recent_pushes.push_back((socket_addr.to_vec(), now));
        true
    }

    /// Any answer from hbbs clears the outstanding request.
    fn answered(&mut self, now: Instant) {
        self.outstanding = None;
        self.last_response = Some(now);
        self.timeouts = 0;
        if self.unreachable {
            self.unreachable = false;
            self.push_event(Event::Reachable);
        }
    }

    /// Sends a registration at once (a follow-up), within the per-tick guard; otherwise the
    /// next tick sends it.
    fn send_now(&mut self, now: Instant) {
        if self.immediate_sent < IMMEDIATE_PER_TICK {
            self.immediate_sent += 1;
            self.register(now);
        } else {
            self.last_response = None;
        }
    }

    /// `RegisterPk` while the key is unconfirmed, else `RegisterPeer`.
    fn register(&mut self, now: Instant) {
        let union = if self.config.key_confirmed {
            Union::RegisterPeer(RegisterPeer {
                id: self.config.id.clone(),
                serial: self.config.serial,
            })
        } else {
            Union::RegisterPk(RegisterPk {
                id: self.config.id.clone(),
                uuid: self.config.uuid.clone(),
                pk: self.config.public_key.as_bytes().to_vec(),
                ..RegisterPk::default()
            })
        };
        self.outstanding = Some(now);
        if self.transmits.len() >= QUEUE_LIMIT {
            self.transmits.pop_front();
        }
        self.transmits.push_back(super::datagram(union));
    }

    fn push_event(&mut self, event: Event) {
        if self.events.len() >= QUEUE_LIMIT {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }
}

#[cfg(test)]
mod tests;
