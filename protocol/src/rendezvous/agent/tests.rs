//! Tests of the controlled side's rendezvous machine, driven by a fake clock.

use std::time::Duration;

use super::*;
use crate::crypto::IdentityKey;
use crate::framing::FrameDecoder;
use crate::message::{
    ConfigUpdate, FetchLocalAddr, PunchHole, RegisterPeerResponse, RegisterPkResponse,
    RendezvousMessage,
};
use crate::test_util::seeded;

const ID: &str = "123456789";

fn start() -> Instant {
    crate::test_util::base_instant()
}

fn config() -> MediatorConfig {
    let key = IdentityKey::from_seed(&[1; 32]);
    let mut config = MediatorConfig::new(
        ID,
        b"machine-uuid",
        key.public_key(),
        "hbbs.example",
        "1.4.9",
    );
    config.licence_key = "LICENCE".into();
    config
}

fn machine(config: MediatorConfig, t0: Instant) -> Mediator<rand::rngs::StdRng> {
    Mediator::new(config, seeded(5), t0)
}

fn sent(m: &mut Mediator<rand::rngs::StdRng>) -> Vec<Union> {
    std::iter::from_fn(|| m.poll_transmit())
        .map(|d| {
            crate::message::decode_rendezvous(&d)
                .expect("valid")
                .union
                .expect("set")
        })
        .collect()
}

fn events(m: &mut Mediator<rand::rngs::StdRng>) -> Vec<Event> {
    std::iter::from_fn(|| m.poll_event()).collect()
}

fn datagram(union: Union) -> Vec<u8> {
    prost::Message::encode_to_vec(&RendezvousMessage::from(union))
}

fn pk_ok() -> Vec<u8> {
    datagram(Union::RegisterPkResponse(RegisterPkResponse::default()))
}

fn peer_ok(request_pk: bool) -> Vec<u8> {
    datagram(Union::RegisterPeerResponse(RegisterPeerResponse {
        request_pk,
    }))
}

fn frame_payload(frame: &[u8]) -> RendezvousMessage {
    let mut decoder = FrameDecoder::new();
    decoder.feed(frame);
    let payload = decoder.next_frame().expect("valid").expect("one frame");
    crate::message::decode_rendezvous(payload).expect("decodes")
}

fn is_register_pk(union: &Union) -> bool {
    matches!(union, Union::RegisterPk(r) if r.id == ID && r.uuid == b"machine-uuid" && r.pk.len() == 32)
}

fn is_register_peer(union: &Union, serial: i32) -> bool {
    matches!(union, Union::RegisterPeer(r) if r.id == ID && r.serial == serial)
}

/// A machine that has registered: key confirmed and address recorded.
fn registered(t0: Instant) -> Mediator<rand::rngs::StdRng> {
    let mut m = machine(config(), t0);
    m.handle_timeout(t0);
    m.handle_datagram(t0, &pk_ok()).expect("valid");
    m.handle_datagram(t0, &peer_ok(false)).expect("valid");
    sent(&mut m);
    events(&mut m);
    m
}

#[test]
fn first_tick_sends_register_pk_then_register_peer_after_ok() {
    let t0 = start();
    let mut m = machine(config(), t0);
    assert_eq!(m.poll_timeout(), Some(t0));
    m.handle_timeout(t0);
    let out = sent(&mut m);
    assert_eq!(out.len(), 1);
    assert!(is_register_pk(&out[0]), "{out:?}");

    m.handle_datagram(t0 + Duration::from_millis(20), &pk_ok())
        .expect("valid");
    assert_eq!(events(&mut m), [Event::KeyConfirmed]);
    assert!(m.config().key_confirmed);
    let out = sent(&mut m);
    assert_eq!(out.len(), 1);
    assert!(
        is_register_peer(&out[0], 0),
        "RegisterPeer right after OK: {out:?}"
    );

    m.handle_datagram(t0 + Duration::from_millis(40), &peer_ok(false))
        .expect("valid");
    assert_eq!(events(&mut m), [Event::Registered]);
    assert!(m.is_registered());
    assert!(sent(&mut m).is_empty());
}

#[test]
fn a_confirmed_key_registers_with_register_peer() {
    let t0 = start();
    let mut config = config();
    config.key_confirmed = true;
    config.serial = 4;
    let mut m = machine(config, t0);
    m.handle_timeout(t0);
    let out = sent(&mut m);
    assert!(is_register_peer(&out[0], 4), "{out:?}");
}

#[test]
fn registration_repeats_every_fifteen_seconds_on_the_one_second_tick() {
    let t0 = start();
    let mut m = registered(t0);
    for s in 1..15 {
        let now = t0 + Duration::from_secs(s);
        assert_eq!(m.poll_timeout(), Some(t0 + Duration::from_secs(s)));
        m.handle_timeout(now);
        assert!(sent(&mut m).is_empty(), "nothing due at {s} s");
    }
    m.handle_timeout(t0 + Duration::from_secs(15));
    let out = sent(&mut m);
    assert_eq!(out.len(), 1);
    assert!(is_register_peer(&out[0], 0));
}

#[test]
fn request_pk_is_answered_with_register_pk_at_once() {
    let t0 = start();
    let mut m = registered(t0);
    m.handle_datagram(t0 + Duration::from_secs(1), &peer_ok(true))
        .expect("valid");
    let out = sent(&mut m);
    assert_eq!(out.len(), 1);
    assert!(is_register_pk(&out[0]));
    assert!(!m.is_registered());
    assert!(!m.config().key_confirmed);
}

#[test]
fn a_server_that_keeps_asking_cannot_make_it_flood() {
    let t0 = start();
    let mut m = registered(t0);
    for _ in 0..20 {
        m.handle_datagram(t0, &peer_ok(true)).expect("valid");
        m.handle_datagram(t0, &pk_ok()).expect("valid");
    }
    assert!(sent(&mut m).len() <= IMMEDIATE_PER_TICK as usize);
}

#[test]
fn unanswered_registrations_time_out_retry_and_report_unreachable_once() {
    let t0 = start();
    let mut m = machine(config(), t0);
    let mut sends = Vec::new();
    for s in 0..=20 {
        let now = t0 + Duration::from_secs(s);
        m.handle_timeout(now);
        if !sent(&mut m).is_empty() {
            sends.push(s);
        }
    }
    // A retry every 3 s (the reg timeout), since no answer ever arrives.
    assert_eq!(sends, [0, 3, 6, 9, 12, 15, 18]);
    assert_eq!(events(&mut m), [Event::Unreachable { timeouts: 4 }]);

    m.handle_datagram(t0 + Duration::from_secs(21), &pk_ok())
        .expect("valid");
    assert_eq!(events(&mut m), [Event::Reachable, Event::KeyConfirmed]);
}

#[test]
fn uuid_mismatch_is_reported_and_the_id_is_kept() {
    let t0 = start();
    let mut m = registered(t0);
    let mismatch = datagram(Union::RegisterPkResponse(RegisterPkResponse {
        result: register_pk_response::Result::UuidMismatch.into(),
        keep_alive: 0,
    }));
    m.handle_datagram(t0, &mismatch).expect("valid");
    assert_eq!(
        events(&mut m),
        [Event::Rejected(RegisterRejection::UuidMismatch)]
    );
    assert_eq!(m.config().id, ID);
    m.handle_timeout(t0 + Duration::from_secs(15));
    let out = sent(&mut m);
    assert!(is_register_pk(&out[0]), "the key is sent again: {out:?}");
}

#[test]
fn other_rejections_are_reported_and_not_deployed_slows_down() {
    let t0 = start();
    for (code, rejection) in [
        (
            register_pk_response::Result::TooFrequent,
            RegisterRejection::TooFrequent,
        ),
        (
            register_pk_response::Result::NotSupport,
            RegisterRejection::NotSupported,
        ),
        (
            register_pk_response::Result::NotDeployed,
            RegisterRejection::NotDeployed,
        ),
    ] {
        let mut m = machine(config(), t0);
        m.handle_timeout(t0);
        sent(&mut m);
        let answer = datagram(Union::RegisterPkResponse(RegisterPkResponse {
            result: code.into(),
            keep_alive: 0,
        }));
        m.handle_datagram(t0, &answer).expect("valid");
        assert_eq!(events(&mut m), [Event::Rejected(rejection)]);
        m.handle_timeout(t0 + Duration::from_secs(15));
        let resent = !sent(&mut m).is_empty();
        assert_eq!(
            resent,
            rejection != RegisterRejection::NotDeployed,
            "{rejection:?}"
        );
    }
    let mut m = machine(config(), t0);
    let unknown = datagram(Union::RegisterPkResponse(RegisterPkResponse {
        result: 42,
        keep_alive: 0,
    }));
    m.handle_datagram(t0, &unknown).expect("valid");
    assert_eq!(
        events(&mut m),
        [Event::Rejected(RegisterRejection::Unknown(42))]
    );
}

#[test]
fn config_update_sets_the_serial_used_from_then_on() {
    let t0 = start();
    let mut m = registered(t0);
    let update = datagram(Union::ConfigureUpdate(ConfigUpdate {
        serial: 9,
        rendezvous_servers: vec![],
    }));
    m.handle_datagram(t0, &update).expect("valid");
    assert_eq!(events(&mut m), [Event::ConfigUpdated { serial: 9 }]);
    m.handle_timeout(t0 + Duration::from_secs(15));
    assert!(is_register_peer(&sent(&mut m)[0], 9));
}

fn punch_hole(client: &str, relay: &str) -> Vec<u8> {
    datagram(Union::PunchHole(PunchHole {
        socket_addr: addr::encode_with_stamp(client.parse().expect("addr"), 77),
        relay_server: relay.into(),
        ..PunchHole::default()
    }))
}

fn only_relay(m: &mut Mediator<rand::rngs::StdRng>) -> RelayInstructions {
    match events(m).as_slice() {
        [Event::Relay(relay)] => relay.clone(),
        other => panic!("expected one relay event, got {other:?}"),
    }
}

#[test]
fn punch_hole_is_answered_with_a_relay_flow_a() {
    let t0 = start();
    let mut m = registered(t0);
    m.handle_datagram(t0, &punch_hole("198.51.100.7:40000", "relay.example"))
        .expect("valid");
    let relay = only_relay(&mut m);
    assert_eq!(relay.trigger, Trigger::PunchHole);
    assert_eq!(relay.relay, "relay.example:21117");
    assert!(relay.secure);
    assert_eq!(
        relay.client_addr,
        Some("198.51.100.7:40000".parse().expect("addr"))
    );
    assert_eq!(relay.uuid.len(), 36);

    let Some(Union::RelayResponse(response)) = frame_payload(&relay.to_rendezvous).union else {
        panic!("not a RelayResponse");
    };
    assert_eq!(
        response.socket_addr,
        addr::encode_with_stamp("198.51.100.7:40000".parse().expect("addr"), 77)
    );
    assert_eq!(response.uuid, relay.uuid);
    assert_eq!(response.relay_server, relay.relay);
    assert_eq!(response.union, Some(relay_response::Union::Id(ID.into())));
    assert_eq!(response.version, "1.4.9");

    let Some(Union::RequestRelay(request)) = frame_payload(&relay.to_relay).union else {
        panic!("not a RequestRelay");
    };
    assert_eq!(request.uuid, relay.uuid);
    assert_eq!(request.licence_key, "LICENCE");
}

#[test]
fn repeated_pushes_within_100_ms_are_dropped() {
    let t0 = start();
    let mut m = registered(t0);
    let push = punch_hole("198.51.100.7:40000", "");
    m.handle_datagram(t0, &push).expect("valid");
    m.handle_datagram(t0 + Duration::from_millis(50), &push)
        .expect("valid");
    assert_eq!(events(&mut m).len(), 1);
    m.handle_datagram(
        t0 + Duration::from_millis(60),
        &punch_hole("198.51.100.8:40000", ""),
    )
    .expect("valid");
    assert_eq!(events(&mut m).len(), 1, "another client is not a duplicate");
    m.handle_datagram(t0 + Duration::from_millis(150), &push)
        .expect("valid");
    assert_eq!(events(&mut m).len(), 1, "after the window it counts again");
}

#[test]
fn the_relay_falls_back_to_hbbs_port_plus_one_and_honours_an_override() {
    let t0 = start();
    let mut m = registered(t0);
    m.handle_datagram(t0, &punch_hole("198.51.100.7:1", ""))
        .expect("valid");
    assert_eq!(only_relay(&mut m).relay, "hbbs.example:21117");

    let mut moved = config();
    moved.rendezvous_server = "hbbs.example:31000".into();
    let mut m = machine(moved, t0);
    m.handle_datagram(t0, &punch_hole("198.51.100.7:1", " "))
        .expect("valid");
    assert_eq!(only_relay(&mut m).relay, "hbbs.example:31001");

    let mut overridden = config();
    overridden.relay_server = Some("mine.example:7000".into());
    let mut m = machine(overridden, t0);
    m.handle_datagram(t0, &punch_hole("198.51.100.7:1", "theirs.example"))
        .expect("valid");
    assert_eq!(only_relay(&mut m).relay, "mine.example:7000");
}

#[test]
fn fetch_local_addr_goes_through_a_relay_by_default() {
    let t0 = start();
    let mut m = registered(t0);
    let push = datagram(Union::FetchLocalAddr(FetchLocalAddr {
        socket_addr: addr::encode_with_stamp("192.168.1.9:5000".parse().expect("addr"), 1),
        relay_server: "relay.example:21117".into(),
        ..FetchLocalAddr::default()
    }));
    m.handle_datagram(t0, &push).expect("valid");
    let relay = only_relay(&mut m);
    assert_eq!(relay.trigger, Trigger::FetchLocalAddr);
    assert!(relay.secure);
}

#[test]
fn fetch_local_addr_can_be_answered_with_local_addr() {
    let t0 = start();
    let mut config = config();
    config.lan = LanPolicy::LocalAddr;
    let mut m = machine(config, t0);
    let client_bytes = addr::encode_with_stamp("192.168.1.9:5000".parse().expect("addr"), 1);
    let push = datagram(Union::FetchLocalAddr(FetchLocalAddr {
        socket_addr: client_bytes.clone(),
        ..FetchLocalAddr::default()
    }));
    m.handle_datagram(t0, &push).expect("valid");
    let request = match events(&mut m).as_slice() {
        [Event::LocalAddrRequested(request)] => request.clone(),
        other => panic!("expected a LocalAddr request, got {other:?}"),
    };
    let local: SocketAddr = "192.168.1.20:41234".parse().expect("addr");
    let frame = request
        .local_addr_frame(local, SystemTime::UNIX_EPOCH)
        .expect("frames");
    let Some(Union::LocalAddr(answer)) = frame_payload(&frame).union else {
        panic!("not a LocalAddr");
    };
    assert_eq!(answer.socket_addr, client_bytes);
    assert_eq!(addr::decode(&answer.local_addr).expect("decodes"), local);
    assert_eq!(answer.id, ID);
    assert_eq!(answer.version, "1.4.9");
    assert_eq!(answer.relay_server, "hbbs.example:21117");
    assert_eq!(request.fallback.trigger, Trigger::FetchLocalAddr);
}

#[test]
fn request_relay_is_answered_with_a_go_ahead_flow_b() {
    let t0 = start();
    let mut m = registered(t0);
    let client_bytes = addr::encode_with_stamp("203.0.113.5:6000".parse().expect("addr"), 3);
    for (i, secure) in [true, false].into_iter().enumerate() {
        let push = datagram(Union::RequestRelay(RequestRelay {
            id: ID.into(),
            uuid: format!("client-uuid-{secure}"),
            socket_addr: client_bytes.clone(),
            relay_server: "relay.example".into(),
            secure,
            ..RequestRelay::default()
        }));
        m.handle_datagram(t0 + Duration::from_secs(i as u64), &push)
            .expect("valid");
        let relay = only_relay(&mut m);
        assert_eq!(relay.trigger, Trigger::RequestRelay);
        assert_eq!(relay.uuid, format!("client-uuid-{secure}"));
        assert_eq!(relay.relay, "relay.example:21117");
        assert_eq!(relay.secure, secure);
        let Some(Union::RelayResponse(go)) = frame_payload(&relay.to_rendezvous).union else {
            panic!("not a RelayResponse");
        };
        assert_eq!(go.socket_addr, client_bytes);
        assert_eq!(go.version, "1.4.9");
        assert!(go.uuid.is_empty() && go.union.is_none());
        let Some(Union::RequestRelay(first)) = frame_payload(&relay.to_relay).union else {
            panic!("not a RequestRelay");
        };
        assert_eq!(
            (first.uuid.as_str(), first.licence_key.as_str()),
            (relay.uuid.as_str(), "LICENCE")
        );
    }
}

#[test]
fn malformed_datagrams_are_typed_errors_and_change_nothing() {
    let t0 = start();
    let mut m = registered(t0);
    assert!(matches!(
        m.handle_datagram(t0, &[0xFF, 0x01]),
        Err(Error::PeerMisbehaved(PeerMisbehaved::Malformed { .. }))
    ));
    let no_uuid = datagram(Union::RequestRelay(RequestRelay::default()));
    assert!(matches!(
        m.handle_datagram(t0, &no_uuid),
        Err(Error::PeerMisbehaved(PeerMisbehaved::MissingUuid))
    ));
    assert!(events(&mut m).is_empty());
    assert!(sent(&mut m).is_empty());
    assert!(m.is_registered());
    m.handle_datagram(t0, &datagram(Union::SoftwareUpdate(Default::default())))
        .expect("ignored");
    m.handle_datagram(t0, &[])
        .expect("an empty message is ignored");
}

#[test]
fn force_register_pk_sends_the_key_at_the_next_registration() {
    let t0 = start();
    let mut m = registered(t0);
    m.force_register_pk();
    m.handle_timeout(t0 + Duration::from_secs(15));
    assert!(is_register_pk(&sent(&mut m)[0]));
}
