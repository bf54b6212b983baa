//! "AddrMangle": the obfuscated socket addresses inside rendezvous messages (spec §1.5).
//!
//! IPv4 addresses are mixed with a 32-bit timestamp so that NAT boxes rewriting addresses
//! in payloads leave them alone; IPv6 addresses are 16 octets plus the port. The encoder
//! takes the time as an argument: this crate never reads the clock.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, PeerMisbehaved};

/// Encodes `addr`, mixing in `now` (any wall-clock time works; RustDesk uses the current time).
#[must_use]
pub fn encode(addr: SocketAddr, now: SystemTime) -> Vec<u8> {
    let micros = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros());
    // Truncation to 32 bits is part of the format.
    encode_with_stamp(addr, micros as u32)
}

/// Encodes `addr` with an explicit 32-bit stamp (the low 32 bits of Unix microseconds).
#[must_use]
pub fn encode_with_stamp(addr: SocketAddr, stamp: u32) -> Vec<u8> {
    match canonical(addr) {
        SocketAddr::V4(v4) => {
            let tm = u128::from(stamp);
            let ip = u128::from(u32::from_le_bytes(v4.ip().octets()));
            let port = u128::from(v4.port());
            let value = ((ip + tm) << 49) | (tm << 17) | (port + (tm & 0xFFFF));
            let bytes = value.to_le_bytes();
            let used = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
            bytes[..used].to_vec()
        }
        SocketAddr::V6(v6) => {
            let mut out = Vec::with_capacity(18);
            out.extend_from_slice(&v6.ip().octets());
            out.extend_from_slice(&v6.port().to_le_bytes());
            out
        }
    }
}

/// Decodes a mangled address. An empty field is `0.0.0.0:0` (port 0 means "absent").
///
/// # Errors
/// [`PeerMisbehaved::AddressLength`] for lengths other than 0–16 and 18.
pub fn decode(bytes: &[u8]) -> Result<SocketAddr, Error> {
    match bytes.len() {
        0..=16 => {
            let mut padded = [0u8; 16];
            padded[..bytes.len()].copy_from_slice(bytes);
            let x = u128::from_le_bytes(padded);
            let tm = (x >> 17) & 0xFFFF_FFFF;
            // Wrapping arithmetic and truncation mirror the format; garbage decodes to
            // some address rather than failing.
            let ip = (x >> 49).wrapping_sub(tm) as u32;
            let port = (x & 0xFF_FFFF).wrapping_sub(tm & 0xFFFF) as u16;
            Ok(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(ip.to_le_bytes()),
                port,
            )))
        }
        18 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&bytes[..16]);
            let port = u16::from_le_bytes([bytes[16], bytes[17]]);
            Ok(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(octets),
                port,
                0,
                0,
            )))
        }
        len => Err(PeerMisbehaved::AddressLength { len }.into()),
    }
}

/// An IPv6 address that embeds an IPv4 one (mapped or compatible form) becomes that IPv4
/// address, except the loopback `::1`.
fn canonical(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) if !v6.ip().is_loopback() => match v6.ip().to_ipv4() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
            None => addr,
        },
        _ => addr,
    }
}

#[cfg(test)]
mod tests;
