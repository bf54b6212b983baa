//! The agent's side of the handshake: whatever the client answers to `SignedId`.

#![no_main]

use deskcast_protocol::crypto::IdentityKey;
use deskcast_protocol::handshake::agent;
use deskcast_protocol::message::{self, PublicKey};
use libfuzzer_sys::fuzz_target;
use prost::Message as _;
use rand::SeedableRng;

fuzz_target!(|data: &[u8]| {
    let identity = IdentityKey::from_seed(&[1; 32]);
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let mut out = Vec::new();
    let state = agent::send_signed_id(&identity, "123456789", &mut rng, &mut out).expect("starts");
    // Half the inputs become a PublicKey built from the bytes, to get past decoding.
    let payload = match data.split_first() {
        Some((&mode, rest)) if mode & 1 == 1 => {
            let split = usize::from(mode >> 1).min(rest.len());
            let (asymmetric, symmetric) = rest.split_at(split);
            message::Message::from(message::message::Union::PublicKey(PublicKey {
                asymmetric_value: asymmetric.to_vec(),
                symmetric_value: symmetric.to_vec(),
            }))
            .encode_to_vec()
        }
        _ => data.to_vec(),
    };
    if let Ok(mut established) = state.handle(&payload) {
        let mut sealed = Vec::new();
        established
            .channel
            .seal_frame(data, &mut sealed)
            .expect("seals");
        let mut frame = data.to_vec();
        let _ = established.channel.open(&mut frame);
    }
});
