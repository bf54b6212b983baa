//! Tests of the rendezvous helpers.

use super::*;
use crate::test_util::seeded;

#[test]
fn host_and_port_are_split_in_every_spelling() {
    assert_eq!(split_host_port("hbbs.example"), ("hbbs.example", None));
    assert_eq!(
        split_host_port("hbbs.example:21116"),
        ("hbbs.example", Some(21116))
    );
    assert_eq!(split_host_port(" 10.0.0.1:5 "), ("10.0.0.1", Some(5)));
    assert_eq!(split_host_port("[::1]:21117"), ("::1", Some(21117)));
    assert_eq!(split_host_port("[::1]"), ("::1", None));
    assert_eq!(split_host_port("fe80::1"), ("fe80::1", None));
    assert_eq!(split_host_port("host:notaport"), ("host:notaport", None));
}

#[test]
fn relays_get_default_ports_and_the_fallback_is_hbbs_port_plus_one() {
    assert_eq!(
        with_default_port("relay.example", RELAY_PORT),
        "relay.example:21117"
    );
    assert_eq!(
        with_default_port("relay.example:9000", RELAY_PORT),
        "relay.example:9000"
    );
    assert_eq!(with_default_port("::1", RELAY_PORT), "[::1]:21117");
    assert_eq!(fallback_relay("hbbs.example"), "hbbs.example:21117");
    assert_eq!(fallback_relay("hbbs.example:30000"), "hbbs.example:30001");
    assert_eq!(fallback_relay("[2001:db8::1]:21116"), "[2001:db8::1]:21117");
}

#[test]
fn uuids_are_version_4() {
    let mut rng = seeded(11);
    let a = generate_uuid(&mut rng);
    let b = generate_uuid(&mut rng);
    assert_ne!(a, b);
    for uuid in [a, b] {
        assert_eq!(uuid.len(), 36);
        let parts: Vec<&str> = uuid.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'));
        assert!(matches!(parts[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'));
        assert!(
            uuid.bytes()
                .all(|c| c == b'-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
    }
}

#[test]
fn the_relay_request_frame_carries_uuid_and_licence_key() {
    let frame = relay_request_frame(RequestRelay {
        uuid: "u".into(),
        licence_key: "k".into(),
        ..RequestRelay::default()
    })
    .expect("frames");
    let mut decoder = framing::FrameDecoder::new();
    decoder.feed(&frame);
    let payload = decoder.next_frame().expect("valid").expect("frame");
    let message = crate::message::decode_rendezvous(payload).expect("decodes");
    let Some(rendezvous_message::Union::RequestRelay(request)) = message.union else {
        panic!("not a RequestRelay");
    };
    assert_eq!(
        (request.uuid.as_str(), request.licence_key.as_str()),
        ("u", "k")
    );
}
