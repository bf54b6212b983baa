//! Tests of the handshake in both roles: the libsodium vectors end to end, and every
//! fallback and malformed answer.

use super::agent::{self, ExpectPublicKey};
use super::client::{self, ClientStart, ExpectSignedId, PeerIdentity};
use super::*;
use crate::crypto::{IdentityKey, IdentityPublicKey};
use crate::error::Error;
use crate::framing::{self, FrameDecoder};
use crate::message::{self as msg, LoginRequest, Message, PublicKey, SignedId, message};
use crate::test_util::{ReplayRng, Vectors, seeded};

const AGENT_ID: &str = "123456789";

fn single_payload(stream: &[u8]) -> Vec<u8> {
    let mut decoder = FrameDecoder::new();
    decoder.feed(stream);
    let payload = decoder
        .next_frame()
        .expect("valid")
        .expect("one frame")
        .to_vec();
    assert!(
        decoder.next_frame().expect("valid").is_none(),
        "exactly one frame"
    );
    payload
}

fn frame_of(message: &Message) -> Vec<u8> {
    let mut out = Vec::new();
    framing::encode_message(message, &mut out).expect("frame");
    single_payload(&out)
}

fn agent_start(v: &Vectors) -> (ExpectPublicKey, Vec<u8>) {
    let identity = IdentityKey::from_seed(&v.array("identity_seed"));
    let mut rng = ReplayRng::new(&[&v.get("agent_box_sk")]);
    let mut out = Vec::new();
    let state = agent::send_signed_id(&identity, AGENT_ID, &mut rng, &mut out).expect("starts");
    (state, single_payload(&out))
}

fn client_expect(v: &Vectors) -> ExpectSignedId {
    let peer = PeerIdentity {
        id: AGENT_ID.to_owned(),
        key: IdentityPublicKey::from_bytes(&v.get("identity_pk")).expect("valid"),
    };
    let mut out = Vec::new();
    match client::start(Some(peer), &mut out).expect("starts") {
        ClientStart::ExpectSignedId(state) => {
            assert!(out.is_empty(), "nothing to send yet");
            state
        }
        other => panic!("expected to wait for SignedId, got {other:?}"),
    }
}

fn agent_with_answer(answer: &Message) -> Result<Established, Error> {
    let v = Vectors::load();
    let (state, _) = agent_start(&v);
    state.handle(&frame_of(answer))
}

#[test]
fn both_roles_reproduce_the_libsodium_transcript_and_agree_on_the_key() {
    let v = Vectors::load();
    let (agent_state, signed_frame) = agent_start(&v);
    let decoded = msg::decode_message(&signed_frame).expect("decodes");
    let Some(message::Union::SignedId(SignedId { id })) = decoded.union else {
        panic!("expected SignedId, got {decoded:?}");
    };
    assert_eq!(
        id,
        v.get("signed_id"),
        "SignedId is libsodium's crypto_sign output"
    );

    let mut rng = ReplayRng::new(&[&v.get("client_box_sk"), &v.get("session_key")]);
    let mut reply = Vec::new();
    let client_done = client_expect(&v)
        .handle(&signed_frame, &mut rng, &mut reply)
        .expect("handles");
    assert!(client_done.is_encrypted());
    let reply = single_payload(&reply);
    let decoded = msg::decode_message(&reply).expect("decodes");
    let Some(message::Union::PublicKey(pk)) = decoded.union else {
        panic!("expected PublicKey, got {decoded:?}");
    };
    assert_eq!(pk.asymmetric_value, v.get("client_box_pk"));
    assert_eq!(
        pk.symmetric_value,
        v.get("boxed_session_key"),
        "libsodium crypto_box"
    );

    let agent_done = agent_state.handle(&reply).expect("handles");
    assert!(agent_done.is_encrypted());

    // Both sides now seal what libsodium seals, and open each other's frames.
    let (mut agent_channel, mut client_channel) = (agent_done.channel, client_done.channel);
    for n in 1..=3 {
        let mut out = Vec::new();
        agent_channel
            .seal_frame(&v.get(&format!("agent_plain_{n}")), &mut out)
            .expect("seals");
        let mut payload = single_payload(&out);
        assert_eq!(payload, v.get(&format!("agent_sealed_{n}")));
        let plain = client_channel.open(&mut payload).expect("opens").to_vec();
        assert_eq!(plain, v.get(&format!("agent_plain_{n}")));

        let mut out = Vec::new();
        client_channel
            .seal_frame(&v.get(&format!("client_plain_{n}")), &mut out)
            .expect("seals");
        let mut payload = single_payload(&out);
        assert_eq!(payload, v.get(&format!("client_sealed_{n}")));
        agent_channel.open(&mut payload).expect("opens");
    }
}

#[test]
fn agent_reports_an_empty_public_key_as_insecure() {
    let empty = message::Union::PublicKey(PublicKey::default()).into();
    let done = agent_with_answer(&empty).expect("tolerated");
    assert!(matches!(
        done.security,
        Security::Unencrypted(Insecure::EmptyPublicKey)
    ));
    assert!(!done.channel.is_encrypted());
}

#[test]
fn agent_reports_an_empty_message_as_insecure() {
    let done = agent_with_answer(&Message::default()).expect("tolerated");
    assert!(matches!(
        done.security,
        Security::Unencrypted(Insecure::EmptyMessage)
    ));
}

#[test]
fn agent_hands_over_another_message_sent_instead_of_the_key() {
    let login: Message = message::Union::LoginRequest(LoginRequest {
        username: AGENT_ID.into(),
        ..LoginRequest::default()
    })
    .into();
    let done = agent_with_answer(&login).expect("tolerated");
    assert!(matches!(
        done.security,
        Security::Unencrypted(Insecure::UnexpectedMessage)
    ));
    assert_eq!(done.early_message.as_deref(), Some(&login));
}

#[test]
fn agent_rejects_a_public_key_of_the_wrong_length() {
    for len in [1, 31, 33, 64] {
        let answer = message::Union::PublicKey(PublicKey {
            asymmetric_value: vec![9; len],
            symmetric_value: vec![0; 48],
        })
        .into();
        let error = agent_with_answer(&answer).unwrap_err();
        assert!(
            matches!(error, Error::PeerMisbehaved(PeerMisbehaved::PublicKeyLength { len: l }) if l == len),
            "{len}: {error:?}"
        );
    }
}

#[test]
fn agent_rejects_a_session_key_that_does_not_open() {
    let v = Vectors::load();
    let mut boxed = v.get("boxed_session_key");
    boxed[0] ^= 1;
    let answer = message::Union::PublicKey(PublicKey {
        asymmetric_value: v.get("client_box_pk"),
        symmetric_value: boxed,
    })
    .into();
    assert!(matches!(
        agent_with_answer(&answer),
        Err(Error::PeerMisbehaved(PeerMisbehaved::SessionKeyUnwrap))
    ));
}

#[test]
fn agent_rejects_garbage() {
    let v = Vectors::load();
    let (state, _) = agent_start(&v);
    assert!(matches!(
        state.handle(&[0xFF, 0xFF, 0xFF]),
        Err(Error::PeerMisbehaved(PeerMisbehaved::Malformed { .. }))
    ));
}

#[test]
fn agent_without_handshake_is_reported_as_not_requested() {
    let done = agent::without_handshake();
    assert!(matches!(
        done.security,
        Security::Unencrypted(Insecure::NotRequested)
    ));
}

#[test]
fn client_without_a_peer_key_sends_an_empty_message() {
    let mut out = Vec::new();
    let ClientStart::Established(done) = client::start(None, &mut out).expect("starts") else {
        panic!("expected an unencrypted session");
    };
    assert!(matches!(
        done.security,
        Security::Unencrypted(Insecure::NoPeerKey)
    ));
    assert_eq!(out, [0x00], "an empty Message is a zero-length frame");
}

/// Runs the client against `payload` and returns its reply payload and outcome.
fn client_with(payload: &[u8]) -> (Vec<u8>, Established) {
    let v = Vectors::load();
    let mut out = Vec::new();
    let done = client_expect(&v)
        .handle(payload, &mut seeded(1), &mut out)
        .expect("handles");
    (single_payload(&out), done)
}

#[test]
fn client_answers_a_bad_signature_with_an_empty_public_key() {
    let v = Vectors::load();
    // Signed by a key that is not the one hbbs vouched for.
    let stranger = IdentityKey::from_seed(&[42; 32]);
    let signed = stranger.sign_id_pk(AGENT_ID, &v.get("agent_box_pk"));
    let (reply, done) = client_with(&frame_of(
        &message::Union::SignedId(SignedId { id: signed }).into(),
    ));
    assert!(matches!(
        done.security,
        Security::Unencrypted(Insecure::SignedIdRejected(PeerMisbehaved::BadSignature))
    ));
    let reply = msg::decode_message(&reply).expect("decodes");
    assert_eq!(
        reply,
        message::Union::PublicKey(PublicKey::default()).into()
    );
}

#[test]
fn client_answers_another_id_with_an_empty_message() {
    let v = Vectors::load();
    let identity = IdentityKey::from_seed(&v.array("identity_seed"));
    let signed = identity.sign_id_pk("999999999", &v.get("agent_box_pk"));
    let (reply, done) = client_with(&frame_of(
        &message::Union::SignedId(SignedId { id: signed }).into(),
    ));
    assert!(matches!(
        done.security,
        Security::Unencrypted(Insecure::SignedIdRejected(
            PeerMisbehaved::IdMismatch { .. }
        ))
    ));
    assert!(reply.is_empty());
}

#[test]
fn client_answers_a_wrong_message_or_garbage_with_an_empty_message() {
    let (reply, done) = client_with(&frame_of(&Message::default()));
    assert!(matches!(
        done.security,
        Security::Unencrypted(Insecure::SignedIdRejected(
            PeerMisbehaved::UnexpectedMessage {
                expected: "SignedId",
                found: "empty Message"
            }
        ))
    ));
    assert!(reply.is_empty());

    let (reply, done) = client_with(&[0x1A, 0x05, 0x01]);
    assert!(matches!(
        done.security,
        Security::Unencrypted(Insecure::SignedIdRejected(PeerMisbehaved::Malformed { .. }))
    ));
    assert!(reply.is_empty());
}

#[test]
fn random_handshakes_agree_on_a_working_channel() {
    let identity = IdentityKey::generate(&mut seeded(7));
    let mut agent_out = Vec::new();
    let agent_state =
        agent::send_signed_id(&identity, "abcdef", &mut seeded(8), &mut agent_out).expect("starts");
    let peer = PeerIdentity {
        id: "abcdef".into(),
        key: identity.public_key(),
    };
    let ClientStart::ExpectSignedId(client_state) =
        client::start(Some(peer), &mut Vec::new()).expect("starts")
    else {
        panic!("expected to wait");
    };
    let mut client_out = Vec::new();
    let mut client_done = client_state
        .handle(&single_payload(&agent_out), &mut seeded(9), &mut client_out)
        .expect("handles");
    let mut agent_done = agent_state
        .handle(&single_payload(&client_out))
        .expect("handles");
    let mut sealed = Vec::new();
    client_done
        .channel
        .seal_frame(b"login", &mut sealed)
        .expect("seals");
    let mut payload = single_payload(&sealed);
    assert_eq!(
        agent_done.channel.open(&mut payload).expect("opens"),
        b"login"
    );
}
