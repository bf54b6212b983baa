//! The handshake in the agent's (controlled side's) role.
//!
//! Call order: when the relay or the rendezvous says `secure`, call [`send_signed_id`]
//! first, write what it appended to the stream, then pass the payload of the next frame to
//! [`ExpectPublicKey::handle`] (RustDesk waits up to 18 s for it). Otherwise call
//! [`without_handshake`]. Only after that send `Hash`.

use rand_core::CryptoRngCore;

use super::{Established, Insecure, Security};
use crate::crypto::{BoxKeyPair, Channel, Cipher, IdentityKey};
use crate::error::{Error, PeerMisbehaved};
use crate::framing;
use crate::message::{Message, SignedId, message};

/// Starts the handshake: appends the `SignedId` frame (the agent's ID and a fresh box key,
/// signed with its identity) to `out`.
///
/// # Errors
/// Only [`crate::error::ApiMisuse`] for an absurdly long ID.
pub fn send_signed_id(
    identity: &IdentityKey,
    own_id: &str,
    rng: &mut impl CryptoRngCore,
    out: &mut Vec<u8>,
) -> Result<ExpectPublicKey, Error> {
    let pair = BoxKeyPair::generate(rng);
    let signed = identity.sign_id_pk(own_id, &pair.public_bytes());
    let message = Message::from(message::Union::SignedId(SignedId { id: signed }));
    framing::encode_message(&message, out)?;
    Ok(ExpectPublicKey { pair })
}

/// Skips the handshake (a relay with `secure = false`, or direct IP access): the session is
/// unencrypted. A client that could not authenticate us then sends an empty `Message`
/// first, which the session must ignore.
#[must_use]
pub fn without_handshake() -> Established {
    Established::unencrypted(Insecure::NotRequested)
}

/// Waiting for the client's `PublicKey`.
pub struct ExpectPublicKey {
    pair: BoxKeyPair,
}

impl std::fmt::Debug for ExpectPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExpectPublicKey").finish_non_exhaustive()
    }
}

impl ExpectPublicKey {
    /// Handles the client's answer to `SignedId`: the payload of the next frame.
    ///
    /// A `PublicKey` with a 32-byte key yields an encrypted channel. An empty `PublicKey`,
    /// an empty `Message` or any other message yields an unencrypted one, reported in
    /// [`Established::security`].
    ///
    /// # Errors
    /// [`PeerMisbehaved`]: an undecodable frame, a key that is neither 0 nor 32 bytes, or a
    /// session key that does not open or is not 32 bytes.
    pub fn handle(self, payload: &[u8]) -> Result<Established, Error> {
        let message = crate::message::decode_message(payload)?;
        let public_key = match message.union {
            Some(message::Union::PublicKey(pk)) => pk,
            None => return Ok(Established::unencrypted(Insecure::EmptyMessage)),
            Some(_) => {
                let mut established = Established::unencrypted(Insecure::UnexpectedMessage);
                established.early_message = Some(Box::new(message));
                return Ok(established);
            }
        };
        let their_pk: [u8; 32] = match public_key.asymmetric_value.len() {
            0 => return Ok(Established::unencrypted(Insecure::EmptyPublicKey)),
            len => public_key
                .asymmetric_value
                .as_slice()
                .try_into()
                .map_err(|_| PeerMisbehaved::PublicKeyLength { len })?,
        };
        let key = self
            .pair
            .unbox_session_key(&their_pk, &public_key.symmetric_value)?;
        Ok(Established {
            channel: Channel::encrypted(Cipher::new(&key)),
            security: Security::Encrypted,
            early_message: None,
        })
    }
}
