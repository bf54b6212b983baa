//! Known-answer tests against libsodium (vectors made with PyNaCl) and the cipher's
//! counter discipline.

use super::*;
use crate::framing::FrameDecoder;
use crate::test_util::{ReplayRng, Vectors};

const AGENT_ID: &str = "123456789";

fn identity(v: &Vectors) -> IdentityKey {
    IdentityKey::from_seed(&v.array("identity_seed"))
}

/// Payloads of the frames in `stream`.
fn payloads(stream: &[u8]) -> Vec<Vec<u8>> {
    let mut decoder = FrameDecoder::new();
    decoder.feed(stream);
    let mut out = Vec::new();
    while let Some(frame) = decoder.next_frame().expect("valid frames") {
        out.push(frame.to_vec());
    }
    out
}

#[test]
fn identity_keys_match_libsodium() {
    let v = Vectors::load();
    let key = identity(&v);
    assert_eq!(key.public_key().as_bytes().to_vec(), v.get("identity_pk"));
    assert_eq!(key.to_keypair_bytes().to_vec(), v.get("identity_sk64"));
    let again = IdentityKey::from_keypair_bytes(&v.get("identity_sk64")).expect("valid");
    assert_eq!(again.public_key(), key.public_key());
    let text = key.to_base64();
    assert_eq!(
        IdentityKey::from_base64(&format!(" {}\n", text.as_str()))
            .expect("valid")
            .public_key(),
        key.public_key()
    );
}

#[test]
fn mismatched_libsodium_secret_key_is_refused() {
    let v = Vectors::load();
    let mut bytes = v.get("identity_sk64");
    bytes[40] ^= 1;
    assert!(matches!(
        IdentityKey::from_keypair_bytes(&bytes),
        Err(Error::ApiMisuse(ApiMisuse::InvalidKey(_)))
    ));
    assert!(IdentityKey::from_keypair_bytes(&bytes[..63]).is_err());
}

#[test]
fn combined_signatures_match_libsodium_byte_for_byte() {
    let v = Vectors::load();
    let agent_box_pk = v.get("agent_box_pk");
    assert_eq!(
        identity(&v).sign_id_pk(AGENT_ID, &agent_box_pk),
        v.get("signed_id")
    );
    let server = IdentityKey::from_seed(&v.array("server_seed"));
    assert_eq!(server.public_key().as_bytes().to_vec(), v.get("server_pk"));
    assert_eq!(
        server.sign_id_pk(AGENT_ID, &v.get("identity_pk")),
        v.get("server_signed_id_pk")
    );
}

#[test]
fn libsodium_signatures_open_and_yield_the_inner_key() {
    let v = Vectors::load();
    let server_pk = IdentityPublicKey::from_bytes(&v.get("server_pk")).expect("valid");
    let inner = server_pk
        .open_id_pk(&v.get("server_signed_id_pk"), AGENT_ID)
        .expect("verifies");
    assert_eq!(inner.to_vec(), v.get("identity_pk"));
    let agent_pk = identity(&v).public_key();
    let box_pk = agent_pk
        .open_id_pk(&v.get("signed_id"), AGENT_ID)
        .expect("verifies");
    assert_eq!(box_pk.to_vec(), v.get("agent_box_pk"));
}

#[test]
fn tampered_short_or_misdirected_signatures_are_typed_errors() {
    let v = Vectors::load();
    let agent_pk = identity(&v).public_key();
    let mut signed = v.get("signed_id");
    let last = signed.len() - 1;
    signed[last] ^= 1;
    assert!(matches!(
        agent_pk.open_combined(&signed),
        Err(PeerMisbehaved::BadSignature)
    ));
    signed[last] ^= 1;
    signed[3] ^= 0x80;
    assert!(matches!(
        agent_pk.open_combined(&signed),
        Err(PeerMisbehaved::BadSignature)
    ));
    assert!(matches!(
        agent_pk.open_combined(&signed[..63]),
        Err(PeerMisbehaved::SignedTooShort { len: 63 })
    ));
    let server_pk = IdentityPublicKey::from_bytes(&v.get("server_pk")).expect("valid");
    assert!(matches!(
        server_pk.open_combined(&v.get("signed_id")),
        Err(PeerMisbehaved::BadSignature)
    ));
    assert!(matches!(
        agent_pk.open_id_pk(&v.get("signed_id"), "987654321"),
        Err(PeerMisbehaved::IdMismatch { .. })
    ));
}

#[test]
fn signed_keys_of_the_wrong_length_are_rejected() {
    let key = IdentityKey::from_seed(&[7; 32]);
    let signed = key.sign_id_pk("abcdef", &[1; 31]);
    assert!(matches!(
        key.public_key().open_id_pk(&signed, "abcdef"),
        Err(PeerMisbehaved::SignedKeyLength { len: 31 })
    ));
    let signed = key.sign_combined(b"\xff\xff not protobuf");
    assert!(matches!(
        key.public_key().open_id_pk(&signed, "abcdef"),
        Err(PeerMisbehaved::Malformed { .. })
    ));
}

#[test]
fn public_keys_parse_from_base64_text() {
    let v = Vectors::load();
    let pk = identity(&v).public_key();
    let text = format!("{}\n", pk.to_base64());
    assert_eq!(IdentityPublicKey::from_base64(&text).expect("valid"), pk);
    assert!(IdentityPublicKey::from_base64("not base64!").is_err());
    assert!(IdentityPublicKey::from_base64("AAAA").is_err());
}

#[test]
fn session_key_box_matches_libsodium_with_the_zero_nonce() {
    let v = Vectors::load();
    let agent = BoxKeyPair::generate(&mut ReplayRng::new(&[&v.get("agent_box_sk")]));
    let client = BoxKeyPair::generate(&mut ReplayRng::new(&[&v.get("client_box_sk")]));
    assert_eq!(agent.public_bytes().to_vec(), v.get("agent_box_pk"));
    assert_eq!(client.public_bytes().to_vec(), v.get("client_box_pk"));
    let boxed = client.box_session_key(&agent.public_bytes(), &v.array("session_key"));
    assert_eq!(boxed, v.get("boxed_session_key"));
    let opened = agent
        .unbox_session_key(&client.public_bytes(), &v.get("boxed_session_key"))
        .expect("opens");
    assert_eq!(opened.to_vec(), v.get("session_key"));
}

#[test]
fn tampered_or_short_session_keys_are_typed_errors() {
    let v = Vectors::load();
    let agent = BoxKeyPair::generate(&mut ReplayRng::new(&[&v.get("agent_box_sk")]));
    let client = BoxKeyPair::generate(&mut ReplayRng::new(&[&v.get("client_box_sk")]));
    let mut boxed = v.get("boxed_session_key");
    boxed[20] ^= 1;
    assert!(matches!(
        agent.unbox_session_key(&client.public_bytes(), &boxed),
        Err(Error::PeerMisbehaved(PeerMisbehaved::SessionKeyUnwrap))
    ));
    let short = crypto_box::SalsaBox::new(
        &crypto_box::PublicKey::from_bytes(agent.public_bytes()),
        &client.secret,
    )
    .encrypt(&crypto_box::Nonce::default(), &[5u8; 31][..])
    .expect("encrypts");
    assert!(matches!(
        agent.unbox_session_key(&client.public_bytes(), &short),
        Err(Error::PeerMisbehaved(PeerMisbehaved::SessionKeyLength {
            len: 31
        }))
    ));
}

#[test]
fn sealed_frames_match_libsodium_for_counters_one_to_three_both_ways() {
    let v = Vectors::load();
    let key = v.array("session_key");
    for (sender, receiver) in [("agent", "client"), ("client", "agent")] {
        let mut sealing = Cipher::new(&key);
        let mut stream = Vec::new();
        for n in 1..=3 {
            sealing
                .seal_frame(&v.get(&format!("{sender}_plain_{n}")), &mut stream)
                .expect("seals");
            assert_eq!(sealing.send_seq(), n);
        }
        let frames = payloads(&stream);
        let mut opening = Cipher::new(&key);
        for (i, mut frame) in frames.into_iter().enumerate() {
            let n = i + 1;
            assert_eq!(
                frame,
                v.get(&format!("{sender}_sealed_{n}")),
                "{sender} frame {n}"
            );
            let plain = opening.open(&mut frame).expect("opens").to_vec();
            assert_eq!(
                plain,
                v.get(&format!("{sender}_plain_{n}")),
                "{receiver} opens {n}"
            );
            assert_eq!(opening.recv_seq(), n as u64);
        }
    }
}

#[test]
fn tiny_payloads_pass_unopened_and_do_not_advance_the_counter() {
    let v = Vectors::load();
    let mut cipher = Cipher::new(&v.array("session_key"));
    assert_eq!(cipher.open(&mut []).expect("passes"), &[] as &[u8]);
    assert_eq!(cipher.open(&mut [0x42]).expect("passes"), &[0x42]);
    assert_eq!(cipher.recv_seq(), 0);
    let mut frame = v.get("agent_sealed_1");
    assert_eq!(
        cipher.open(&mut frame).expect("counter 1"),
        v.get("agent_plain_1")
    );
}

#[test]
fn replayed_reordered_and_short_sealed_frames_fail() {
    let v = Vectors::load();
    let key = v.array("session_key");

    let mut cipher = Cipher::new(&key);
    cipher.open(&mut v.get("agent_sealed_1")).expect("first");
    assert!(matches!(
        cipher.open(&mut v.get("agent_sealed_1")),
        Err(Error::PeerMisbehaved(PeerMisbehaved::DecryptionFailed {
            seq: 2
        }))
    ));

    let mut cipher = Cipher::new(&key);
    assert!(matches!(
        cipher.open(&mut v.get("agent_sealed_2")),
        Err(Error::PeerMisbehaved(PeerMisbehaved::DecryptionFailed {
            seq: 1
        }))
    ));

    let mut cipher = Cipher::new(&key);
    let mut tampered = v.get("agent_sealed_1");
    tampered[0] ^= 1;
    assert!(matches!(
        cipher.open(&mut tampered),
        Err(Error::PeerMisbehaved(PeerMisbehaved::DecryptionFailed {
            seq: 1
        }))
    ));

    for len in 2..TAG_LEN {
        let mut cipher = Cipher::new(&key);
        assert!(matches!(
            cipher.open(&mut vec![0; len]),
            Err(Error::PeerMisbehaved(PeerMisbehaved::SealedTooShort { len: l })) if l == len
        ));
    }
}

#[test]
fn a_writer_that_lies_about_its_length_leaves_output_and_counter_alone() {
    let mut cipher = Cipher::new(&[3; 32]);
    let mut out = vec![0xEE];
    let error = cipher
        .seal_frame_with(4, &mut out, |out| out.extend_from_slice(b"abc"))
        .unwrap_err();
    assert!(matches!(
        error,
        Error::ApiMisuse(ApiMisuse::PayloadLengthMismatch {
            declared: 4,
            written: 3
        })
    ));
    assert_eq!(out, [0xEE]);
    assert_eq!(cipher.send_seq(), 0);

    let mut plain = Channel::plain();
    assert!(
        plain
            .seal_frame_with(2, &mut out, |out| out.push(1))
            .is_err()
    );
    assert_eq!(out, [0xEE]);
}

#[test]
fn the_send_counter_refuses_to_wrap() {
    let mut cipher = Cipher::with_counters(&[3; 32], u64::MAX, 0);
    let mut out = Vec::new();
    assert!(matches!(
        cipher.seal_frame(b"x", &mut out),
        Err(Error::ApiMisuse(ApiMisuse::CounterExhausted))
    ));
    assert!(out.is_empty());
}

#[test]
fn sealing_appends_after_existing_output_without_reallocating() {
    let mut cipher = Cipher::new(&[9; 32]);
    let mut out = Vec::with_capacity(4096);
    out.extend_from_slice(b"earlier");
    let before = out.as_ptr();
    cipher.seal_frame(&[1; 1000], &mut out).expect("seals");
    assert_eq!(out.as_ptr(), before, "no reallocation with enough capacity");
    assert_eq!(&out[..7], b"earlier");
    let frames = payloads(&out[7..]);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].len(), 1000 + TAG_LEN);
}

#[test]
fn a_plain_channel_only_frames() {
    let mut channel = Channel::plain();
    assert!(!channel.is_encrypted());
    let mut out = Vec::new();
    channel.seal_frame(b"hello", &mut out).expect("frames");
    assert_eq!(out, b"\x14hello");
    let mut frame = b"hello".to_vec();
    assert_eq!(channel.open(&mut frame).expect("plain"), b"hello");
}
