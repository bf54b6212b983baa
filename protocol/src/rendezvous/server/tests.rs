//! Tests of the hbbs and hbbr models.

use std::time::Duration;

use super::*;
use crate::crypto::IdentityPublicKey;
use crate::framing::FrameDecoder;
use crate::message::RendezvousMessage;

const ID: &str = "123456789";

fn start() -> Instant {
    crate::test_util::base_instant()
}

fn server_key() -> IdentityKey {
    IdentityKey::from_seed(&[9; 32])
}

fn hbbs(t0: Instant) -> Hbbs {
    let mut config = HbbsConfig::with_key(server_key());
    config.relay_servers = vec!["relay.example:21117".into()];
    Hbbs::new(config, t0)
}

fn addr(text: &str) -> SocketAddr {
    text.parse().expect("address")
}

fn datagram(union: Union) -> Vec<u8> {
    prost::Message::encode_to_vec(&RendezvousMessage::from(union))
}

fn payload(frame: &[u8]) -> Vec<u8> {
    let mut decoder = FrameDecoder::new();
    decoder.feed(frame);
    decoder
        .next_frame()
        .expect("valid")
        .expect("frame")
        .to_vec()
}

fn outputs(server: &mut Hbbs) -> Vec<Output> {
    std::iter::from_fn(|| server.poll_output()).collect()
}

/// Decoded UDP answers, in order.
fn udp(outputs: &[Output]) -> Vec<(SocketAddr, Union)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Udp { to, datagram } => Some((
                *to,
                crate::message::decode_rendezvous(datagram)
                    .expect("valid")
                    .union
                    .expect("set"),
            )),
            _ => None,
        })
        .collect()
}

fn tcp(outputs: &[Output]) -> Vec<(ConnId, Union)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Tcp { conn, frame } => Some((
                *conn,
                crate::message::decode_rendezvous(&payload(frame))
                    .expect("valid")
                    .union
                    .expect("set"),
            )),
            _ => None,
        })
        .collect()
}

fn register_pk(id: &str, uuid: &[u8], pk: &[u8]) -> Vec<u8> {
    datagram(Union::RegisterPk(RegisterPk {
        id: id.into(),
        uuid: uuid.to_vec(),
        pk: pk.to_vec(),
        ..RegisterPk::default()
    }))
}

fn register_peer(id: &str, serial: i32) -> Vec<u8> {
    datagram(Union::RegisterPeer(RegisterPeer {
        id: id.into(),
        serial,
    }))
}

fn pk_result(server: &mut Hbbs) -> Option<register_pk_response::Result> {
    let out = outputs(server);
    udp(&out).into_iter().find_map(|(_, u)| match u {
        Union::RegisterPkResponse(r) => register_pk_response::Result::try_from(r.result).ok(),
        _ => None,
    })
}

fn request_pk(server: &mut Hbbs) -> Option<bool> {
    let out = outputs(server);
    udp(&out).into_iter().find_map(|(_, u)| match u {
        Union::RegisterPeerResponse(r) => Some(r.request_pk),
        _ => None,
    })
}

const AGENT: &str = "198.51.100.10:40000";
const CLIENT: &str = "203.0.113.20:50000";

/// A server with the agent registered from [`AGENT`].
fn with_agent(t0: Instant) -> Hbbs {
    let mut server = hbbs(t0);
    server
        .handle_udp(t0, addr(AGENT), &register_pk(ID, b"uuid", &[4; 32]))
        .expect("valid");
    assert_eq!(
        pk_result(&mut server),
        Some(register_pk_response::Result::Ok)
    );
    server
        .handle_udp(t0, addr(AGENT), &register_peer(ID, 0))
        .expect("valid");
    assert_eq!(request_pk(&mut server), Some(false));
    server
}

#[test]
fn unknown_peers_are_asked_for_their_key_and_not_recorded() {
    let t0 = start();
    let mut server = hbbs(t0);
    server
        .handle_udp(t0, addr(AGENT), &register_peer(ID, 0))
        .expect("valid");
    assert_eq!(request_pk(&mut server), Some(true));
    assert!(!server.is_online(ID, t0));
    server
        .handle_udp(t0, addr(AGENT), &register_peer("", 0))
        .expect("valid");
    assert!(outputs(&mut server).is_empty(), "an empty id is ignored");
}

#[test]
fn registration_makes_a_peer_online_for_thirty_seconds() {
    let t0 = start();
    let server = with_agent(t0);
    assert!(server.is_online(ID, t0 + Duration::from_secs(29)));
    assert!(!server.is_online(ID, t0 + Duration::from_secs(30)));
    assert_eq!(server.registered_pk(ID), Some(&[4u8; 32][..]));
}

#[test]
fn a_moved_peer_is_asked_for_its_key_but_loopback_moves_do_not_count() {
    let t0 = start();
    let mut server = with_agent(t0);
    server
        .handle_udp(t0, addr("198.51.100.99:1"), &register_peer(ID, 0))
        .expect("valid");
    assert_eq!(request_pk(&mut server), Some(true));
    server
        .handle_udp(t0, addr("127.0.0.1:1"), &register_peer(ID, 0))
        .expect("valid");
    assert_eq!(request_pk(&mut server), Some(false));
}

#[test]
fn config_update_follows_register_peer_when_the_serial_is_newer() {
    let t0 = start();
    let mut config = HbbsConfig::with_key(server_key());
    config.serial = 3;
    let mut server = Hbbs::new(config, t0);
    server
        .handle_udp(t0, addr(AGENT), &register_peer(ID, 1))
        .expect("valid");
    let out = outputs(&mut server);
    assert!(
        udp(&out)
            .iter()
            .any(|(_, u)| matches!(u, Union::ConfigureUpdate(c) if c.serial == 3))
    );
    server
        .handle_udp(t0, addr(AGENT), &register_peer(ID, 3))
        .expect("valid");
    let out = outputs(&mut server);
    assert!(
        !udp(&out)
            .iter()
            .any(|(_, u)| matches!(u, Union::ConfigureUpdate(_)))
    );
}

#[test]
fn register_pk_checks_follow_hbbs() {
    use register_pk_response::Result as Code;
    let t0 = start();
    let mut server = with_agent(t0);
    let later = t0 + Duration::from_secs(60);
    // Empty uuid or key: silence.
    server
        .handle_udp(later, addr(AGENT), &register_pk(ID, b"", &[4; 32]))
        .expect("valid");
    assert_eq!(pk_result(&mut server), None);
    // IDs shorter than 6.
    server
        .handle_udp(later, addr(AGENT), &register_pk("abcde", b"u", &[4; 32]))
        .expect("valid");
    assert_eq!(pk_result(&mut server), Some(Code::UuidMismatch));
    // Another uuid for a known ID.
    server
        .handle_udp(later, addr(AGENT), &register_pk(ID, b"other", &[4; 32]))
        .expect("valid");
    assert_eq!(pk_result(&mut server), Some(Code::UuidMismatch));
    // Same uuid, but both IP and key changed.
    server
        .handle_udp(
            later,
            addr("192.0.2.1:1"),
            &register_pk(ID, b"uuid", &[5; 32]),
        )
        .expect("valid");
    assert_eq!(pk_result(&mut server), Some(Code::UuidMismatch));
    // Only the key changed: accepted.
    server
        .handle_udp(later, addr(AGENT), &register_pk(ID, b"uuid", &[5; 32]))
        .expect("valid");
    assert_eq!(pk_result(&mut server), Some(Code::Ok));
    assert_eq!(server.registered_pk(ID), Some(&[5u8; 32][..]));
    // Over TCP: not supported.
    server
        .handle_tcp(
            later,
            ConnId(1),
            addr(AGENT),
            &register_pk(ID, b"uuid", &[5; 32]),
        )
        .expect("valid");
    let out = outputs(&mut server);
    assert!(matches!(
        tcp(&out).as_slice(),
        [(ConnId(1), Union::RegisterPkResponse(r))] if r.result == Code::NotSupport as i32
    ));
}

#[test]
fn a_fourth_register_pk_within_six_seconds_is_too_frequent() {
    use register_pk_response::Result as Code;
    let t0 = start();
    let mut server = hbbs(t0);
    let mut results = Vec::new();
    for s in [0, 2, 4, 6, 13] {
        server
            .handle_udp(
                t0 + Duration::from_secs(s),
                addr(AGENT),
                &register_pk(ID, b"uuid", &[4; 32]),
            )
            .expect("valid");
        results.push(pk_result(&mut server));
    }
    assert_eq!(
        results,
        [
            Some(Code::Ok),
            Some(Code::Ok),
            Some(Code::Ok),
            Some(Code::TooFrequent),
            Some(Code::Ok)
        ]
    );
}

#[test]
fn punch_hole_requests_fail_with_the_spec_codes() {
    use punch_hole_response::Failure;
    let t0 = start();
    let mut server = with_agent(t0);
    let licence = server_key().public_key().to_base64();
    let request = |id: &str, key: &str| {
        datagram(Union::PunchHoleRequest(PunchHoleRequest {
            id: id.into(),
            licence_key: key.into(),
            ..PunchHoleRequest::default()
        }))
    };
    for (id, key, at, failure) in [
        (ID, "wrong", 0, Failure::LicenseMismatch),
        ("nobody", licence.as_str(), 0, Failure::IdNotExist),
        (ID, licence.as_str(), 31, Failure::Offline),
    ] {
        let now = t0 + Duration::from_secs(at);
        server
            .handle_tcp(now, ConnId(7), addr(CLIENT), &request(id, key))
            .expect("valid");
        let out = outputs(&mut server);
        let answers = tcp(&out);
        let [(ConnId(7), Union::PunchHoleResponse(r))] = answers.as_slice() else {
            panic!("expected one PunchHoleResponse, got {answers:?}");
        };
        assert!(r.socket_addr.is_empty());
        assert_eq!(r.failure, failure as i32);
    }
}

#[test]
fn a_punch_hole_request_is_pushed_to_the_peer() {
    let t0 = start();
    let mut server = with_agent(t0);
    let request = datagram(Union::PunchHoleRequest(PunchHoleRequest {
        id: ID.into(),
        licence_key: server_key().public_key().to_base64(),
        nat_type: NatType::Symmetric.into(),
        ..PunchHoleRequest::default()
    }));
    server
        .handle_tcp(t0, ConnId(7), addr(CLIENT), &request)
        .expect("valid");
    let out = outputs(&mut server);
    let pushes = udp(&out);
    let [(to, Union::PunchHole(push))] = pushes.as_slice() else {
        panic!("expected a PunchHole, got {pushes:?}");
    };
    assert_eq!(*to, addr(AGENT));
    assert_eq!(
        addr::decode(&push.socket_addr).expect("decodes"),
        addr(CLIENT)
    );
    assert_eq!(push.relay_server, "relay.example:21117");
    assert_eq!(push.nat_type, NatType::Symmetric as i32);
    assert!(server.poll_timeout().is_some(), "the client waits");
}

#[test]
fn a_client_on_the_peers_public_ip_gets_fetch_local_addr() {
    let t0 = start();
    let mut server = with_agent(t0);
    let request = datagram(Union::PunchHoleRequest(PunchHoleRequest {
        id: ID.into(),
        licence_key: server_key().public_key().to_base64(),
        ..PunchHoleRequest::default()
    }));
    server
        .handle_tcp(t0, ConnId(7), addr("198.51.100.10:50000"), &request)
        .expect("valid");
    let out = outputs(&mut server);
    assert!(matches!(
        udp(&out).as_slice(),
        [(_, Union::FetchLocalAddr(_))]
    ));
}

#[test]
fn relay_response_is_signed_and_forwarded_to_the_waiting_client() {
    let t0 = start();
    let mut server = with_agent(t0);
    let request = datagram(Union::PunchHoleRequest(PunchHoleRequest {
        id: ID.into(),
        licence_key: server_key().public_key().to_base64(),
        ..PunchHoleRequest::default()
    }));
    server
        .handle_tcp(t0, ConnId(7), addr(CLIENT), &request)
        .expect("valid");
    let out = outputs(&mut server);
    let Some((_, Union::PunchHole(push))) = udp(&out).into_iter().next() else {
        panic!("no push");
    };
    let response = datagram(Union::RelayResponse(RelayResponse {
        socket_addr: push.socket_addr,
        uuid: "u-1".into(),
        relay_server: "relay.example:21117".into(),
        union: Some(relay_response::Union::Id(ID.into())),
        version: "1.4.9".into(),
        ..RelayResponse::default()
    }));
    server
        .handle_tcp(t0, ConnId(8), addr("198.51.100.10:40001"), &response)
        .expect("valid");
    let out = outputs(&mut server);
    assert!(out.contains(&Output::Close { conn: ConnId(8) }));
    let answers = tcp(&out);
    let [(ConnId(7), Union::RelayResponse(forwarded))] = answers.as_slice() else {
        panic!("expected the RelayResponse on the client's connection, got {answers:?}");
    };
    assert!(forwarded.socket_addr.is_empty());
    assert_eq!(forwarded.uuid, "u-1");
    let Some(relay_response::Union::Pk(signed)) = &forwarded.union else {
        panic!("id was not replaced by the signed pk");
    };
    let server_pk: IdentityPublicKey = server_key().public_key();
    assert_eq!(server_pk.open_id_pk(signed, ID).expect("verifies"), [4; 32]);
    assert_eq!(server.poll_timeout(), None, "nobody waits any more");
}

#[test]
fn nothing_is_signed_without_a_version() {
    let t0 = start();
    let server = with_agent(t0);
    assert!(server.signed_pk(ID, "").is_empty());
    assert!(server.signed_pk("unknown", "1.4.9").is_empty());
    assert!(!server.signed_pk(ID, "1.4.9").is_empty());
}

#[test]
fn request_relay_is_forwarded_with_the_clients_address() {
    let t0 = start();
    let mut server = with_agent(t0);
    let request = datagram(Union::RequestRelay(RequestRelay {
        id: ID.into(),
        uuid: "u-2".into(),
        relay_server: "relay.example:21117".into(),
        secure: true,
        ..RequestRelay::default()
    }));
    server
        .handle_tcp(t0, ConnId(3), addr(CLIENT), &request)
        .expect("valid");
    let out = outputs(&mut server);
    let pushes = udp(&out);
    let [(to, Union::RequestRelay(push))] = pushes.as_slice() else {
        panic!("expected a RequestRelay push, got {pushes:?}");
    };
    assert_eq!(*to, addr(AGENT));
    assert_eq!(
        addr::decode(&push.socket_addr).expect("decodes"),
        addr(CLIENT)
    );
    assert!(push.secure);
    // The agent's go-ahead reaches the client unchanged.
    let go = datagram(Union::RelayResponse(RelayResponse {
        socket_addr: push.socket_addr.clone(),
        version: "1.4.9".into(),
        ..RelayResponse::default()
    }));
    server
        .handle_tcp(t0, ConnId(4), addr(AGENT), &go)
        .expect("valid");
    let out = outputs(&mut server);
    assert!(
        matches!(tcp(&out).as_slice(), [(ConnId(3), Union::RelayResponse(r))] if r.union.is_none())
    );
}

#[test]
fn punch_hole_sent_and_local_addr_answer_the_client() {
    let t0 = start();
    for local in [false, true] {
        let mut server = with_agent(t0);
        let request = datagram(Union::PunchHoleRequest(PunchHoleRequest {
            id: ID.into(),
            licence_key: server_key().public_key().to_base64(),
            ..PunchHoleRequest::default()
        }));
        server
            .handle_tcp(t0, ConnId(1), addr(CLIENT), &request)
            .expect("valid");
        let out = outputs(&mut server);
        let Some((_, Union::PunchHole(push))) = udp(&out).into_iter().next() else {
            panic!("no push");
        };
        let lan = addr("192.168.1.5:4000");
        let answer = if local {
            Union::LocalAddr(LocalAddr {
                socket_addr: push.socket_addr,
                local_addr: addr::encode_with_stamp(lan, 1),
                id: ID.into(),
                version: "1.4.9".into(),
                relay_server: "r:1".into(),
                ..LocalAddr::default()
            })
        } else {
            Union::PunchHoleSent(PunchHoleSent {
                socket_addr: push.socket_addr,
                id: ID.into(),
                version: "1.4.9".into(),
                relay_server: "r:1".into(),
                ..PunchHoleSent::default()
            })
        };
        server
            .handle_tcp(t0, ConnId(2), addr(AGENT), &datagram(answer))
            .expect("valid");
        let out = outputs(&mut server);
        let answers = tcp(&out);
        let [(ConnId(1), Union::PunchHoleResponse(r))] = answers.as_slice() else {
            panic!("expected a PunchHoleResponse, got {answers:?}");
        };
        let expected = if local { lan } else { addr(AGENT) };
        assert_eq!(addr::decode(&r.socket_addr).expect("decodes"), expected);
        assert_eq!(r.relay_server, "r:1");
        assert!(!r.pk.is_empty());
        assert_eq!(
            r.union == Some(punch_hole_response::Union::IsLocal(true)),
            local
        );
    }
}

#[test]
fn waiting_clients_expire_and_garbage_closes_the_connection() {
    let t0 = start();
    let mut server = with_agent(t0);
    let request = datagram(Union::PunchHoleRequest(PunchHoleRequest {
        id: ID.into(),
        licence_key: server_key().public_key().to_base64(),
        ..PunchHoleRequest::default()
    }));
    server
        .handle_tcp(t0, ConnId(1), addr(CLIENT), &request)
        .expect("valid");
    outputs(&mut server);
    let deadline = server.poll_timeout().expect("a client waits");
    server.handle_timeout(deadline);
    assert_eq!(outputs(&mut server), [Output::Close { conn: ConnId(1) }]);

    assert!(
        server
            .handle_tcp(t0, ConnId(5), addr(CLIENT), &[0xFF])
            .is_err()
    );
    assert_eq!(outputs(&mut server), [Output::Close { conn: ConnId(5) }]);
    assert!(server.handle_udp(t0, addr(CLIENT), &[0xFF]).is_err());
}

fn relay_frame(uuid: &str, key: &str) -> Vec<u8> {
    datagram(Union::RequestRelay(RequestRelay {
        uuid: uuid.into(),
        licence_key: key.into(),
        ..RequestRelay::default()
    }))
}

#[test]
fn hbbr_pairs_two_connections_with_the_same_uuid() {
    let t0 = start();
    let mut relay = Hbbr::new(HbbrConfig::new(Some("K".into())));
    assert_eq!(
        relay.handle_first_frame(t0, ConnId(1), &relay_frame("u", "K")),
        RelayDecision::Park
    );
    assert_eq!(
        relay.handle_first_frame(t0, ConnId(2), &relay_frame("v", "K")),
        RelayDecision::Park
    );
    assert_eq!(
        relay.handle_first_frame(t0, ConnId(3), &relay_frame("u", "K")),
        RelayDecision::Pair { with: ConnId(1) }
    );
    assert_eq!(relay.parked(), 1);
}

#[test]
fn hbbr_refuses_silently() {
    let t0 = start();
    let mut relay = Hbbr::new(HbbrConfig::new(Some("K".into())));
    for (payload, refusal) in [
        (relay_frame("u", "wrong"), RelayRefusal::LicenceMismatch),
        (relay_frame("u", ""), RelayRefusal::LicenceMismatch),
        (relay_frame("", "K"), RelayRefusal::EmptyUuid),
        (register_peer(ID, 0), RelayRefusal::NotRequestRelay),
        (vec![0xFF], RelayRefusal::Malformed),
    ] {
        assert_eq!(
            relay.handle_first_frame(t0, ConnId(1), &payload),
            RelayDecision::Refuse(refusal)
        );
    }
    let mut open = Hbbr::new(HbbrConfig::new(None));
    assert_eq!(
        open.handle_first_frame(t0, ConnId(1), &relay_frame("u", "")),
        RelayDecision::Park
    );
}

#[test]
fn hbbr_expires_and_forgets_parked_connections() {
    let t0 = start();
    let mut relay = Hbbr::new(HbbrConfig::new(None));
    relay.handle_first_frame(t0, ConnId(1), &relay_frame("u", ""));
    relay.handle_first_frame(t0, ConnId(2), &relay_frame("v", ""));
    relay.closed(ConnId(2));
    assert_eq!(relay.poll_timeout(), Some(t0 + Duration::from_secs(30)));
    relay.handle_timeout(t0 + Duration::from_secs(29));
    assert_eq!(relay.poll_expired(), None);
    relay.handle_timeout(t0 + Duration::from_secs(30));
    assert_eq!(relay.poll_expired(), Some(ConnId(1)));
    assert_eq!(relay.poll_expired(), None);
    assert_eq!(
        relay.handle_first_frame(t0, ConnId(3), &relay_frame("u", "")),
        RelayDecision::Park,
        "an expired uuid starts over"
    );
}

#[test]
fn nat_tests_and_online_queries_are_answered() {
    let t0 = start();
    let mut server = with_agent(t0);
    let nat = datagram(Union::TestNatRequest(crate::message::TestNatRequest {
        serial: 0,
    }));
    server
        .handle_tcp(t0, ConnId(1), addr(CLIENT), &nat)
        .expect("valid");
    let out = outputs(&mut server);
    assert!(matches!(
        tcp(&out).as_slice(),
        [(ConnId(1), Union::TestNatResponse(r))] if r.port == 50000
    ));
    let peers: Vec<String> = (0..9)
        .map(|i| {
            if i == 1 || i == 8 {
                ID.to_owned()
            } else {
                format!("other{i}")
            }
        })
        .collect();
    let online = datagram(Union::OnlineRequest(crate::message::OnlineRequest {
        id: "me".into(),
        peers,
    }));
    server
        .handle_tcp(t0, ConnId(2), addr(CLIENT), &online)
        .expect("valid");
    let out = outputs(&mut server);
    assert!(matches!(
        tcp(&out).as_slice(),
        [(ConnId(2), Union::OnlineResponse(r))] if r.states == [0b0100_0000, 0b1000_0000]
    ));
}
