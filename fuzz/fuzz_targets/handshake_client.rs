//! The client's side of the handshake: whatever the agent sends as its first frame,
//! including correctly signed `IdPk`s with arbitrary contents.

#![no_main]

use deskcast_protocol::crypto::IdentityKey;
use deskcast_protocol::handshake::client::{self, ClientStart, PeerIdentity};
use deskcast_protocol::message::{self, SignedId};
use libfuzzer_sys::fuzz_target;
use prost::Message as _;
use rand::SeedableRng;

fuzz_target!(|data: &[u8]| {
    let identity = IdentityKey::from_seed(&[1; 32]);
    let peer = PeerIdentity {
        id: "123456789".into(),
        key: identity.public_key(),
    };
    let mut out = Vec::new();
    let Ok(ClientStart::ExpectSignedId(state)) = client::start(Some(peer), &mut out) else {
        panic!("a client with a key waits for SignedId");
    };
    // Odd first bytes: sign the rest as an IdPk body, so the paths after the signature check
    // (id mismatch, key length, success) are reachable.
    let payload = match data.split_first() {
        Some((&mode, rest)) if mode & 1 == 1 => {
            message::Message::from(message::message::Union::SignedId(SignedId {
                id: identity.sign_combined(rest),
            }))
            .encode_to_vec()
        }
        _ => data.to_vec(),
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(2);
    let established = state
        .handle(&payload, &mut rng, &mut out)
        .expect("never fails on input");
    assert!(!out.is_empty(), "the client always answers");
    let _ = established.is_encrypted();
});
