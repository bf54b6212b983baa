//! Rendezvous with hbbs and relaying through hbbr (spec §2, §3), sans-IO.
//!
//! - [`agent`]: the controlled side's registration and its answers to hbbs's pushes.
//! - [`client`]: the controlling side's requests and the checks on hbbs's answers.
//! - [`server`]: a model of hbbs and hbbr, for in-memory tests and loopback test servers.
//!
//! Over UDP one datagram is one `RendezvousMessage`; over TCP (to hbbs port 21116 and to
//! hbbr) every message is one frame of [`crate::framing`].

pub mod agent;
pub mod client;
pub mod server;

use std::time::Duration;

use rand_core::CryptoRngCore;

use crate::error::Error;
use crate::framing;
use crate::message::{RendezvousMessage, RequestRelay, rendezvous_message};

/// hbbs's default port (UDP registration, TCP requests).
pub const RENDEZVOUS_PORT: u16 = 21116;
/// hbbr's default port.
pub const RELAY_PORT: u16 = 21117;
/// How often a registered peer re-registers.
pub const REG_INTERVAL: Duration = Duration::from_secs(15);
/// hbbs counts a peer offline when its last registration is this old.
pub const REG_TIMEOUT: Duration = Duration::from_secs(30);

/// A random UUIDv4 in its hyphenated lowercase form, the pairing token of a relay.
pub fn generate_uuid(rng: &mut impl CryptoRngCore) -> String {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    bytes[6] = (bytes[6] & 0x0F) | 0x40;
    bytes[8] = (bytes[8] & 0x3F) | 0x80;
    let mut out = String::with_capacity(36);
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 15)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Splits `"host:port"`, `"[v6]:port"`, `"host"` or a bare IPv6 address into host and
/// port.
#[must_use]
pub fn split_host_port(address: &str) -> (&str, Option<u16>) {
    let address = address.trim();
    if let Some((host, tail)) = address
        .strip_prefix('[')
        .and_then(|rest| rest.split_once(']'))
    {
        let port = tail.strip_prefix(':').and_then(|p| p.parse().ok());
        return (host, port);
    }
    match address.rsplit_once(':') {
        // More than one colon without brackets: a bare IPv6 address.
        Some((host, _)) if host.contains(':') => (address, None),
        Some((host, port)) => match port.parse() {
            Ok(port) => (host, Some(port)),
            Err(_) => (address, None),
        },
        None => (address, None),
    }
}

/// Joins host and port, bracketing IPv6 hosts.
#[must_use]
pub fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// `address` with `default_port` appended when it has none.
#[must_use]
pub fn with_default_port(address: &str, default_port: u16) -> String {
    let (host, port) = split_host_port(address);
    join_host_port(host, port.unwrap_or(default_port))
}

/// The relay RustDesk falls back to: the hbbs host with hbbs's port + 1.
#[must_use]
pub fn fallback_relay(rendezvous_server: &str) -> String {
    let (host, port) = split_host_port(rendezvous_server);
    let port = port.unwrap_or(RENDEZVOUS_PORT);
    join_host_port(host, port.saturating_add(1))
}

/// The first frame on a TCP connection to hbbr: `RequestRelay { id, uuid, licence_key,
/// conn_type }` (the agent leaves `id` empty and `conn_type` 0). hbbr never answers it;
/// start the handshake right after.
///
/// # Errors
/// Only framing errors for absurd lengths.
pub fn relay_request_frame(request: RequestRelay) -> Result<Vec<u8>, Error> {
    frame(rendezvous_message::Union::RequestRelay(request))
}

/// A `RendezvousMessage` as one TCP frame.
pub(crate) fn frame(union: rendezvous_message::Union) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    framing::encode_message(&RendezvousMessage::from(union), &mut out)?;
    Ok(out)
}

/// A `RendezvousMessage` as one UDP datagram.
pub(crate) fn datagram(union: rendezvous_message::Union) -> Vec<u8> {
    prost::Message::encode_to_vec(&RendezvousMessage::from(union))
}

#[cfg(test)]
mod tests;
