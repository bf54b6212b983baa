//! A sans-IO model of the open-source rendezvous server (hbbs, spec §2.3, §3) and relay
//! (hbbr, spec §3.7), small but following the spec: for in-memory tests, and for test
//! servers that wrap it with real sockets.
//!
//! # Call order ([`Hbbs`])
//!
//! The wrapper owns one UDP socket and accepts TCP connections on the same port, naming each
//! connection with a [`ConnId`] of its choice. It then loops:
//!
//! 1. [`Hbbs::handle_udp`] with each datagram and its source;
//! 2. [`Hbbs::handle_tcp`] with each *frame payload* of a TCP connection and the
//!    connection's peer address; [`Hbbs::tcp_closed`] when a connection ends;
//! 3. [`Hbbs::handle_timeout`] when [`Hbbs::poll_timeout`] has passed;
//! 4. [`Hbbs::poll_output`] until `None`: send datagrams, write frames (already framed) to
//!    connections, close connections.
//!
//! Errors from `handle_*` are about one datagram or frame; the model stays intact (a TCP
//! connection that sent garbage is also told to close).

mod relay;

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

pub use relay::{Hbbr, HbbrConfig, RelayDecision, RelayRefusal};

use super::REG_TIMEOUT;
use crate::addr;
use crate::crypto::IdentityKey;
use crate::error::Error;
use crate::message::{
    ConfigUpdate, FetchLocalAddr, LocalAddr, NatType, OnlineResponse, PunchHole, PunchHoleRequest,
    PunchHoleResponse, PunchHoleSent, RegisterPeer, RegisterPeerResponse, RegisterPk,
    RegisterPkResponse, RelayResponse, RequestRelay, TestNatResponse, punch_hole_response,
    register_pk_response, relay_response, rendezvous_message::Union,
};

/// How long a client's TCP connection waits for the peer's answer.
const WAITING_TIMEOUT: Duration = Duration::from_secs(30);
/// `RegisterPk` from one IP with pauses shorter than this count as one burst.
const IP_BURST_PAUSE: Duration = Duration::from_secs(60);
/// More `RegisterPk` than this in one burst from one IP → `TOO_FREQUENT`.
const IP_BURST_LIMIT: u32 = 30;
/// New IDs from one IP are counted until a pause this long.
const IP_IDS_PAUSE: Duration = Duration::from_secs(24 * 3600);
/// More distinct IDs than this from one IP → `TOO_FREQUENT`.
const IP_IDS_LIMIT: usize = 300;
/// A `RegisterPk` for one ID within this gap of the previous accepted one is in its burst.
const ID_BURST_GAP: Duration = Duration::from_secs(7);
/// The 4th `RegisterPk` of one ID's burst → `TOO_FREQUENT`.
const ID_BURST_LIMIT: u32 = 3;
/// IPs whose `RegisterPk` rates are remembered.
const IP_LIMIT_ENTRIES: usize = 4096;

/// A TCP connection, named by the wrapper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// Something the wrapper must do.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Output {
    /// Send a datagram from the UDP socket.
    Udp {
        /// Destination.
        to: SocketAddr,
        /// One `RendezvousMessage`.
        datagram: Vec<u8>,
    },
    /// Write a frame (header included) to a TCP connection.
    Tcp {
        /// The connection.
        conn: ConnId,
        /// One framed `RendezvousMessage`.
        frame: Vec<u8>,
    },
    /// Close a TCP connection.
    Close {
        /// The connection.
        conn: ConnId,
    },
}

/// hbbs's settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HbbsConfig {
    /// The key that signs peers' `IdPk`s; `None` makes every session unencrypted.
    pub signing_key: Option<IdentityKey>,
    /// The licence key clients must send (`-k`); `None` checks nothing.
    pub licence_key: Option<String>,
    /// Relays handed out round-robin (`-r`); may be empty.
    pub relay_servers: Vec<String>,
    /// The serial sent in `ConfigUpdate` (`-s`).
    pub serial: i32,
    /// Force every connection through a relay (`ALWAYS_USE_RELAY=Y`).
    pub always_use_relay: bool,
    /// How many IDs are kept.
    pub max_peers: usize,
    /// How many clients may wait for an answer at once.
    pub max_waiting: usize,
}

impl HbbsConfig {
    /// hbbs with `-k _`: signs with `signing_key` and requires its base64 public key as
    /// the licence key.
    #[must_use]
    pub fn with_key(signing_key: IdentityKey) -> Self {
        let licence_key = signing_key.public_key().to_base64();
        Self {
            signing_key: Some(signing_key),
            licence_key: Some(licence_key),
            relay_servers: Vec::new(),
            serial: 0,
            always_use_relay: false,
            max_peers: 100_000,
            max_waiting: 10_000,
        }
    }
}

#[derive(Debug, Clone)]
struct PeerRecord {
    uuid: Vec<u8>,
    pk: Vec<u8>,
    /// Where pushes go; set by `RegisterPeer`, or by a `RegisterPk` that changed something.
    addr: Option<SocketAddr>,
    last_reg: Option<Instant>,
    pk_burst: Option<(Instant, u32)>,
}

#[derive(Debug, Clone)]
struct IpLimit {
    burst: u32,
    last: Instant,
    ids: HashSet<String>,
}

#[derive(Debug, Clone, Copy)]
struct Waiting {
    conn: ConnId,
    since: Instant,
}

/// The rendezvous server model; see the [module docs](self) for the call order.
#[derive(Debug)]
pub struct Hbbs {
    config: HbbsConfig,
    epoch: Instant,
    peers: HashMap<String, PeerRecord>,
    waiting: HashMap<SocketAddr, Waiting>,
    ip_limits: HashMap<IpAddr, IpLimit>,
    next_relay: usize,
    out: VecDeque<Output>,
}

impl Hbbs {
    /// An empty server started at `now`.
    #[must_use]
    pub fn new(config: HbbsConfig, now: Instant) -> Self {
        Self {
            config,
            epoch: now,
            peers: HashMap::new(),
            waiting: HashMap::new(),
            ip_limits: HashMap::new(),
            next_relay: 0,
            out: VecDeque::new(),
        }
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &HbbsConfig {
        &self.config
    }

    /// Whether `id` registered within the last 30 s.
    #[must_use]
    pub fn is_online(&self, id: &str, now: Instant) -> bool {
        self.peers.get(id).is_some_and(|p| online(p, now))
    }

    /// The registered public key of `id`.
    #[must_use]
    pub fn registered_pk(&self, id: &str) -> Option<&[u8]> {
        self.peers.get(id).map(|p| p.pk.as_slice())
    }

    /// The next thing to do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) next has something to expire.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.waiting
            .values()
            .map(|w| w.since + WAITING_TIMEOUT)
            .min()
    }

    /// Forgets clients that waited too long, closing their connections.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut expired = Vec::new();
        self.waiting.retain(|_, w| {
            let keep = now.saturating_duration_since(w.since) < WAITING_TIMEOUT;
            if !keep {
                expired.push(w.conn);
            }
            keep
        });
        expired.sort();
        for conn in expired {
            self.out.push_back(Output::Close { conn });
        }
    }

    /// A TCP connection ended.
    pub fn tcp_closed(&mut self, conn: ConnId) {
        self.waiting.retain(|_, w| w.conn != conn);
    }

    /// Handles one datagram (registration).
    ///
    /// # Errors
    /// [`crate::error::PeerMisbehaved::Malformed`] for an undecodable datagram.
    pub fn handle_udp(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &[u8],
    ) -> Result<(), Error> {
        let message = crate::message::decode_rendezvous(datagram)?;
        match message.union {
            Some(Union::RegisterPeer(register)) => self.register_peer(now, from, &register),
            Some(Union::RegisterPk(register)) => {
                if let Some(result) = self.register_pk(now, from, register) {
                    self.udp(from, Union::RegisterPkResponse(response(result)));
                }
            }
            // This hbbs ignores answers over UDP (spec §3.6) and everything else.
            _ => {}
        }
        Ok(())
    }

    /// Handles one frame payload from TCP connection `conn`, whose peer is `from`.
    ///
    /// # Errors
    /// [`crate::error::PeerMisbehaved::Malformed`] for an undecodable frame; the connection
    /// is then closed.
    pub fn handle_tcp(
        &mut self,
        now: Instant,
        conn: ConnId,
        from: SocketAddr,
        payload: &[u8],
    ) -> Result<(), Error> {
        let message = match crate::message::decode_rendezvous(payload) {
            Ok(message) => message,
            Err(error) => {
                self.out.push_back(Output::Close { conn });
                return Err(error);
            }
        };
        match message.union {
            Some(Union::PunchHoleRequest(request)) => {
                self.punch_hole_request(now, conn, from, request);
            }
            Some(Union::RequestRelay(request)) => self.request_relay(now, conn, from, request),
            Some(Union::RelayResponse(response)) => self.relay_response(conn, response),
            Some(Union::PunchHoleSent(sent)) => self.punch_hole_sent(now, conn, from, sent),
            Some(Union::LocalAddr(local)) => self.local_addr(conn, local),
            Some(Union::RegisterPk(_)) => {
                let result = register_pk_response::Result::NotSupport;
                self.tcp(conn, Union::RegisterPkResponse(response(result)));
            }
            Some(Union::TestNatRequest(_)) => {
                // The port hbbs saw, for the client's NAT test (spec §2.5).
                let answer = TestNatResponse {
                    port: i32::from(from.port()),
                    cu: Some(ConfigUpdate {
                        serial: self.config.serial,
                        rendezvous_servers: Vec::new(),
                    }),
                };
                self.tcp(conn, Union::TestNatResponse(answer));
            }
            Some(Union::OnlineRequest(request)) => {
                let states = self.online_states(now, &request.peers);
                self.tcp(conn, Union::OnlineResponse(OnlineResponse { states }));
            }
            // RegisterPeer over TCP and everything else are ignored.
            _ => {}
        }
        Ok(())
    }

    fn register_peer(&mut self, now: Instant, from: SocketAddr, register: &RegisterPeer) {
        if register.id.is_empty() {
            return;
        }
        let known = self
            .peers
            .get_mut(&register.id)
            .filter(|p| !p.pk.is_empty());
        let request_pk = match known {
            Some(peer) if !ip_changed(peer.addr, from) => {
                peer.addr = Some(from);
                peer.last_reg = Some(now);
                false
            }
            // Unknown, keyless or moved: ask for the key and record nothing.
            _ => true,
        };
        self.udp(
            from,
            Union::RegisterPeerResponse(RegisterPeerResponse { request_pk }),
        );
        if self.config.serial > register.serial {
            self.udp(
                from,
                Union::ConfigureUpdate(ConfigUpdate {
                    serial: self.config.serial,
                    rendezvous_servers: Vec::new(),
                }),
            );
        }
    }

    /// The answer to a `RegisterPk`, or `None` when it is silently ignored.
    fn register_pk(
        &mut self,
        now: Instant,
        from: SocketAddr,
        register: RegisterPk,
    ) -> Option<register_pk_response::Result> {
        use register_pk_response::Result as Code;
        if register.uuid.is_empty() || register.pk.is_empty() {
            return None;
        }
        if register.id.len() < 6 {
            return Some(Code::UuidMismatch);
        }
        if !self.ip_allows(now, from.ip(), &register.id) {
            return Some(Code::TooFrequent);
        }
        if !self.peers.contains_key(&register.id) && self.peers.len() >= self.config.max_peers {
            return Some(Code::ServerError);
        }
        let existing = self.peers.get(&register.id);
        if let Some(peer) = existing {
            let pk_changed = peer.pk != register.pk;
            if peer.uuid != register.uuid || (pk_changed && ip_changed(peer.addr, from)) {
                return Some(Code::UuidMismatch);
            }
        }
        let burst = match existing.and_then(|p| p.pk_burst) {
            Some((last, count)) if now.saturating_duration_since(last) < ID_BURST_GAP => count + 1,
            _ => 1,
        };
        if burst > ID_BURST_LIMIT {
            return Some(Code::TooFrequent);
        }
        let peer = self.peers.entry(register.id).or_insert_with(|| PeerRecord {
            uuid: Vec::new(),
            pk: Vec::new(),
            addr: None,
            last_reg: None,
            pk_burst: None,
        });
        peer.pk_burst = Some((now, burst));
        let changed = peer.uuid.is_empty()
            || peer.pk != register.pk
            || peer.addr.is_none_or(|a| a.ip() != from.ip());
        if changed {
            peer.uuid = register.uuid;
            peer.pk = register.pk;
            peer.addr = Some(from);
            peer.last_reg = Some(now);
        }
        Some(Code::Ok)
    }

    /// The per-IP limits on `RegisterPk`.
    fn ip_allows(&mut self, now: Instant, ip: IpAddr, id: &str) -> bool {
        if !self.ip_limits.contains_key(&ip) && self.ip_limits.len() >= IP_LIMIT_ENTRIES {
            let oldest = self
                .ip_limits
                .iter()
                .min_by_key(|(_, l)| l.last)
                .map(|(ip, _)| *ip);
            if let Some(oldest) = oldest {
                self.ip_limits.remove(&oldest);
            }
        }
        let limit = match self.ip_limits.entry(ip) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => entry.insert(IpLimit {
                burst: 0,
                last: now,
                ids: HashSet::new(),
            }),
        };
        let pause = now.saturating_duration_since(limit.last);
        if pause > IP_BURST_PAUSE {
            limit.burst = 0;
        }
        if pause > IP_IDS_PAUSE {
            limit.ids.clear();
        }
        limit.last = now;
        limit.burst = limit.burst.saturating_add(1);
        if limit.burst > IP_BURST_LIMIT {
            return false;
        }
        if !limit.ids.contains(id) {
            if limit.ids.len() >= IP_IDS_LIMIT {
                return false;
            }
            limit.ids.insert(id.to_owned());
        }
        true
    }

    fn punch_hole_request(
        &mut self,
        now: Instant,
        conn: ConnId,
        from: SocketAddr,
        request: PunchHoleRequest,
    ) {
        use punch_hole_response::Failure;
        if self
            .config
            .licence_key
            .as_ref()
            .is_some_and(|key| *key != request.licence_key)
        {
            return self.punch_failure(conn, Failure::LicenseMismatch);
        }
        let Some(peer) = self.peers.get(&request.id) else {
            return self.punch_failure(conn, Failure::IdNotExist);
        };
        let target = match peer.addr {
            Some(target) if online(peer, now) => target,
            _ => return self.punch_failure(conn, Failure::Offline),
        };
        if !self.wait(now, conn, from) {
            return;
        }
        let socket_addr = self.mangle(now, from);
        let relay_server = self.next_relay();
        let union = if target.ip() == from.ip() && !self.config.always_use_relay {
            Union::FetchLocalAddr(FetchLocalAddr {
                socket_addr,
                relay_server,
                ..FetchLocalAddr::default()
            })
        } else {
            let nat_type = if self.config.always_use_relay {
                NatType::Symmetric.into()
            } else {
                request.nat_type
            };
            Union::PunchHole(PunchHole {
                socket_addr,
                relay_server,
                nat_type,
                ..PunchHole::default()
            })
        };
        self.udp(target, union);
    }

    fn request_relay(
        &mut self,
        now: Instant,
        conn: ConnId,
        from: SocketAddr,
        mut request: RequestRelay,
    ) {
        let Some(target) = self.peers.get(&request.id).and_then(|p| p.addr) else {
            return;
        };
        if !self.wait(now, conn, from) {
            return;
        }
        request.socket_addr = self.mangle(now, from);
        self.udp(target, Union::RequestRelay(request));
    }

    fn relay_response(&mut self, conn: ConnId, mut response: RelayResponse) {
        self.out.push_back(Output::Close { conn });
        let Some(client) = self.take_waiting(&response.socket_addr) else {
            return;
        };
        if let Some(relay_response::Union::Id(id)) = &response.union {
            let signed = self.signed_pk(id, &response.version);
            response.union = Some(relay_response::Union::Pk(signed));
        }
        response.socket_addr.clear();
        self.tcp(client, Union::RelayResponse(response));
    }

    fn punch_hole_sent(
        &mut self,
        now: Instant,
        conn: ConnId,
        from: SocketAddr,
        sent: PunchHoleSent,
    ) {
        self.out.push_back(Output::Close { conn });
        let Some(client) = self.take_waiting(&sent.socket_addr) else {
            return;
        };
        let answer = PunchHoleResponse {
            socket_addr: self.mangle(now, from),
            pk: self.signed_pk(&sent.id, &sent.version),
            relay_server: sent.relay_server,
            union: Some(punch_hole_response::Union::NatType(sent.nat_type)),
            ..PunchHoleResponse::default()
        };
        self.tcp(client, Union::PunchHoleResponse(answer));
    }

    fn local_addr(&mut self, conn: ConnId, local: LocalAddr) {
        self.out.push_back(Output::Close { conn });
        let Some(client) = self.take_waiting(&local.socket_addr) else {
            return;
        };
        let answer = PunchHoleResponse {
            socket_addr: local.local_addr,
            pk: self.signed_pk(&local.id, &local.version),
            relay_server: local.relay_server,
            union: Some(punch_hole_response::Union::IsLocal(true)),
            ..PunchHoleResponse::default()
        };
        self.tcp(client, Union::PunchHoleResponse(answer));
    }

    /// One bit per peer, most significant bit first, 1 = online (spec §2.2).
    fn online_states(&self, now: Instant, peers: &[String]) -> Vec<u8> {
        let mut states = vec![0u8; peers.len().div_ceil(8)];
        for (i, id) in peers.iter().enumerate() {
            if self.is_online(id, now) {
                states[i / 8] |= 0x80 >> (i % 8);
            }
        }
        states
    }

    /// hbbs's signature over `IdPk { id, registered pk }`: empty without a key, without a
    /// version, or for an unknown ID (spec §4.2).
    fn signed_pk(&self, id: &str, version: &str) -> Vec<u8> {
        match (&self.config.signing_key, self.peers.get(id)) {
            (Some(key), Some(peer)) if !version.is_empty() => key.sign_id_pk(id, &peer.pk),
            _ => Vec::new(),
        }
    }

    fn punch_failure(&mut self, conn: ConnId, failure: punch_hole_response::Failure) {
        let answer = PunchHoleResponse {
            failure: failure.into(),
            ..PunchHoleResponse::default()
        };
        self.tcp(conn, Union::PunchHoleResponse(answer));
    }

    /// Parks a client's connection until the peer answers; `false` when full.
    fn wait(&mut self, now: Instant, conn: ConnId, from: SocketAddr) -> bool {
        if !self.waiting.contains_key(&from) && self.waiting.len() >= self.config.max_waiting {
            return false;
        }
        self.waiting.insert(from, Waiting { conn, since: now });
        true
    }

    fn take_waiting(&mut self, socket_addr: &[u8]) -> Option<ConnId> {
        let client = addr::decode(socket_addr).ok()?;
        self.waiting.remove(&client).map(|w| w.conn)
    }

    fn next_relay(&mut self) -> String {
        let relays = &self.config.relay_servers;
        if relays.is_empty() {
            return String::new();
        }
        let relay = relays[self.next_relay % relays.len()].clone();
        self.next_relay = self.next_relay.wrapping_add(1);
        relay
    }

    /// Mangles with a stamp derived from the model's own clock; any stamp decodes.
    fn mangle(&self, now: Instant, addr: SocketAddr) -> Vec<u8> {
        let micros = now.saturating_duration_since(self.epoch).as_micros();
        addr::encode_with_stamp(addr, micros as u32)
    }

    fn udp(&mut self, to: SocketAddr, union: Union) {
        self.out.push_back(Output::Udp {
            to,
            datagram: super::datagram(union),
        });
    }

    fn tcp(&mut self, conn: ConnId, union: Union) {
        if let Ok(frame) = super::frame(union) {
            self.out.push_back(Output::Tcp { conn, frame });
        }
    }
}

fn response(result: register_pk_response::Result) -> RegisterPkResponse {
    RegisterPkResponse {
        result: result.into(),
        keep_alive: 0,
    }
}

fn online(peer: &PeerRecord, now: Instant) -> bool {
    peer.addr.is_some()
        && peer
            .last_reg
            .is_some_and(|at| now.saturating_duration_since(at) < REG_TIMEOUT)
}

/// Whether a registration from `from` comes from another IP than `known`; a change from a
/// loopback source does not count.
fn ip_changed(known: Option<SocketAddr>, from: SocketAddr) -> bool {
    match known {
        Some(known) => known.ip() != from.ip() && !from.ip().is_loopback(),
        None => true,
    }
}

#[cfg(test)]
mod tests;
