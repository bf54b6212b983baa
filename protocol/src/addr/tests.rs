//! Tests of AddrMangle.

use std::time::Duration;

use super::*;

fn v4(text: &str) -> SocketAddr {
    text.parse().expect("address")
}

#[test]
fn ipv4_round_trips_for_any_stamp() {
    for addr in [
        "1.2.3.4:5678",
        "192.168.1.20:21116",
        "255.255.255.255:65535",
        "0.0.0.0:1",
    ] {
        for stamp in [0, 1, 0xFFFF, 0x1_0000, 0x1234_5678, u32::MAX] {
            let encoded = encode_with_stamp(v4(addr), stamp);
            assert!(encoded.len() <= 16);
            assert_eq!(
                decode(&encoded).expect("decodes"),
                v4(addr),
                "{addr} stamp {stamp}"
            );
        }
    }
}

#[test]
fn ipv4_layout_follows_the_formula() {
    // With stamp 0 the value is (ip_le << 49) | port, trailing zero bytes removed.
    let encoded = encode_with_stamp(v4("1.2.3.4:5678"), 0);
    let expected = ((0x0403_0201u128) << 49) | 5678;
    let bytes = expected.to_le_bytes();
    // The top set bit is bit 26 + 49 = 75, in byte 9.
    assert_eq!(encoded, bytes[..10]);
    assert_eq!(encode_with_stamp(v4("0.0.0.0:0"), 0), Vec::<u8>::new());
}

#[test]
fn wall_clock_is_taken_as_an_argument() {
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let encoded = encode(v4("10.0.0.7:40000"), now);
    assert_eq!(decode(&encoded).expect("decodes"), v4("10.0.0.7:40000"));
    let micros = 1_700_000_000u128 * 1_000_000;
    assert_eq!(
        encoded,
        encode_with_stamp(v4("10.0.0.7:40000"), micros as u32)
    );
}

#[test]
fn empty_field_is_the_absent_address() {
    assert_eq!(decode(&[]).expect("decodes"), v4("0.0.0.0:0"));
}

#[test]
fn ipv6_is_octets_then_little_endian_port() {
    let addr: SocketAddr = "[2001:db8::42]:21117".parse().expect("address");
    let encoded = encode_with_stamp(addr, 99);
    assert_eq!(encoded.len(), 18);
    assert_eq!(&encoded[16..], &21117u16.to_le_bytes());
    assert_eq!(decode(&encoded).expect("decodes"), addr);
}

#[test]
fn embedded_ipv4_becomes_ipv4_but_loopback_stays_ipv6() {
    let mapped: SocketAddr = "[::ffff:10.1.2.3]:80".parse().expect("address");
    assert_eq!(
        decode(&encode_with_stamp(mapped, 5)).expect("decodes"),
        v4("10.1.2.3:80")
    );
    let compatible: SocketAddr = "[::10.1.2.3]:80".parse().expect("address");
    assert_eq!(
        decode(&encode_with_stamp(compatible, 5)).expect("decodes"),
        v4("10.1.2.3:80")
    );
    let loopback: SocketAddr = "[::1]:80".parse().expect("address");
    let encoded = encode_with_stamp(loopback, 5);
    assert_eq!(encoded.len(), 18);
    assert_eq!(decode(&encoded).expect("decodes"), loopback);
}

#[test]
fn other_lengths_are_typed_errors_and_garbage_never_panics() {
    for len in [17, 19, 100] {
        assert!(matches!(
            decode(&vec![0xFF; len]),
            Err(Error::PeerMisbehaved(PeerMisbehaved::AddressLength { len: l })) if l == len
        ));
    }
    for len in 0..=16 {
        decode(&vec![0xFF; len]).expect("any short field decodes to some address");
    }
}
