//! Decoding peer and rendezvous messages, then dispatching them the way an agent, a client
//! and the hbbs/hbbr model would.

#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use deskcast_protocol::crypto::IdentityKey;
use deskcast_protocol::login::{self, Lockout, LockoutPolicy, LoginCheck, StoredPassword};
use deskcast_protocol::message::{self, message::Union as M, rendezvous_message::Union as R};
use deskcast_protocol::rendezvous::client as dial;
use deskcast_protocol::rendezvous::server::{ConnId, Hbbr, HbbrConfig, Hbbs, HbbsConfig};
use deskcast_protocol::{addr, framing};
use libfuzzer_sys::fuzz_target;
use prost::Message as _;

fuzz_target!(|data: &[u8]| {
    // The fuzzer has no clock; one base instant is enough.
    let now = Instant::now();
    if let Ok(decoded) = message::decode_message(data) {
        // Decoding what we encode gives the same message back (compared as bytes: a NaN
        // `scale` is not equal to itself).
        let bytes = decoded.encode_to_vec();
        let again = message::decode_message(&bytes).expect("re-decodes");
        assert_eq!(again.encode_to_vec(), bytes);
        let _ = message::message_kind(&decoded);
        dispatch_peer(now, decoded);
    }
    if let Ok(decoded) = message::decode_rendezvous(data) {
        let bytes = decoded.encode_to_vec();
        let again = message::decode_rendezvous(&bytes).expect("re-decodes");
        assert_eq!(again.encode_to_vec(), bytes);
        dispatch_rendezvous(&decoded);
    }
    let _ = dial::handle_response(data);
    let server_key = IdentityKey::from_seed(&[3; 32]);
    let _ = dial::verify_peer_key(&server_key.public_key(), data, "123456789");
    let mut hbbs = Hbbs::new(HbbsConfig::with_key(server_key), now);
    let from: SocketAddr = "203.0.113.1:5000".parse().expect("address");
    let _ = hbbs.handle_udp(now, from, data);
    let _ = hbbs.handle_tcp(now, ConnId(1), from, data);
    while hbbs.poll_output().is_some() {}
    let mut hbbr = Hbbr::new(HbbrConfig::new(Some("key".into())));
    let _ = hbbr.handle_first_frame(now, ConnId(1), data);
});

fn dispatch_peer(now: Instant, decoded: message::Message) {
    match decoded.union {
        Some(M::LoginRequest(request)) => {
            let passwords = [StoredPassword::new("pw", "salt")];
            let check = LoginCheck {
                own_id: Some("123456789"),
                challenge: "abcdef",
                passwords: &passwords,
            };
            let mut lockout = Lockout::new(LockoutPolicy::default());
            for i in 0..8 {
                let at = now + Duration::from_secs(i);
                let _ = login::check_login(
                    &request,
                    &check,
                    &mut lockout,
                    at,
                    "192.0.2.1".parse().expect("ip"),
                );
            }
        }
        Some(M::LoginResponse(response)) => {
            if let Some(message::login_response::Union::Error(text)) = response.union {
                let _ = login::LoginError::from_wire(&text).to_message();
            }
        }
        Some(M::VideoFrame(frame)) => {
            let mut out = Vec::new();
            let _ = framing::encode_message(&frame, &mut out);
        }
        _ => {}
    }
}

fn dispatch_rendezvous(decoded: &message::RendezvousMessage) {
    let bytes: &[u8] = match &decoded.union {
        Some(R::PunchHole(p)) => &p.socket_addr,
        Some(R::FetchLocalAddr(p)) => &p.socket_addr,
        Some(R::RequestRelay(p)) => &p.socket_addr,
        Some(R::PunchHoleResponse(p)) => &p.socket_addr,
        Some(R::LocalAddr(p)) => &p.local_addr,
        _ => &[],
    };
    if let Ok(decoded_addr) = addr::decode(bytes) {
        let reencoded = addr::encode_with_stamp(decoded_addr, 0x1234_5678);
        assert_eq!(
            addr::decode(&reencoded).expect("decodes"),
            canonical(decoded_addr)
        );
    }
}

/// What an address decodes to after a round trip (embedded IPv4 comes back as IPv4).
fn canonical(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) if !v6.ip().is_loopback() => match v6.ip().to_ipv4() {
            Some(v4) => SocketAddr::new(v4.into(), v6.port()),
            None => addr,
        },
        _ => addr,
    }
}
