//! The handshake in the client's (controlling side's) role.
//!
//! Call order: verify the peer's key from hbbs first (see
//! [`crate::rendezvous::client::verify_peer_key`]), then call [`start`]. If it returns
//! [`ClientStart::ExpectSignedId`], pass the payload of the peer's first frame to
//! [`ExpectSignedId::handle`] and write what it appended to the stream. The client's first
//! sealed frame is its `LoginRequest`, sent after the peer's `Hash`.

use rand_core::CryptoRngCore;
use zeroize::Zeroizing;

use super::{Established, Insecure, Security};
use crate::crypto::{BoxKeyPair, Channel, Cipher, IdentityPublicKey};
use crate::error::{Error, PeerMisbehaved};
use crate::framing;
use crate::message::{Message, PublicKey, message};

/// A peer's ID and its long-term key, as verified from hbbs's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity {
    /// The dialled ID.
    pub id: String,
    /// The peer's Ed25519 key.
    pub key: IdentityPublicKey,
}

/// The first step of the client's handshake.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientStart {
    /// Wait for the peer's `SignedId`.
    ExpectSignedId(ExpectSignedId),
    /// No verified key for the peer: an empty `Message` was appended to the output and the
    /// session continues unencrypted.
    Established(Established),
}

/// Starts the handshake. With no verified peer key, appends an empty `Message` frame ("in
/// case the peer waits for one") and reports an unencrypted session.
///
/// # Errors
/// None in practice; the signature keeps room for framing errors.
pub fn start(peer: Option<PeerIdentity>, out: &mut Vec<u8>) -> Result<ClientStart, Error> {
    match peer {
        Some(peer) => Ok(ClientStart::ExpectSignedId(ExpectSignedId { peer })),
        None => {
            framing::encode_message(&Message::default(), out)?;
            Ok(ClientStart::Established(Established::unencrypted(
                Insecure::NoPeerKey,
            )))
        }
    }
}

/// Waiting for the peer's `SignedId`.
#[derive(Debug)]
pub struct ExpectSignedId {
    peer: PeerIdentity,
}

impl ExpectSignedId {
    /// Handles the peer's first frame. On success appends the `PublicKey` frame (a fresh box
    /// key and the boxed session key) to `out` and returns an encrypted channel. When the
    /// `SignedId` is rejected, appends `PublicKey {}` (bad signature) or an empty `Message`
    /// (anything else), as RustDesk does, and reports why in [`Established::security`].
    ///
    /// # Errors
    /// None in practice; the signature keeps room for framing errors.
    pub fn handle(
        self,
        payload: &[u8],
        rng: &mut impl CryptoRngCore,
        out: &mut Vec<u8>,
    ) -> Result<Established, Error> {
        let box_pk = match self.open(payload) {
            Ok(box_pk) => box_pk,
            Err(reason) => {
                let reply = match reason {
                    PeerMisbehaved::BadSignature | PeerMisbehaved::SignedTooShort { .. } => {
                        Message::from(message::Union::PublicKey(PublicKey::default()))
                    }
                    _ => Message::default(),
                };
                framing::encode_message(&reply, out)?;
                return Ok(Established::unencrypted(Insecure::SignedIdRejected(reason)));
            }
        };
        let pair = BoxKeyPair::generate(rng);
        let mut session_key = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(session_key.as_mut());
        let reply = Message::from(message::Union::PublicKey(PublicKey {
            asymmetric_value: pair.public_bytes().to_vec(),
            symmetric_value: pair.box_session_key(&box_pk, &session_key),
        }));
        framing::encode_message(&reply, out)?;
        Ok(Established {
            channel: Channel::encrypted(Cipher::new(&session_key)),
            security: Security::Encrypted,
            early_message: None,
        })
    }

    /// The peer's box key from its `SignedId`, or why it was rejected.
    fn open(&self, payload: &[u8]) -> Result<[u8; 32], PeerMisbehaved> {
        let message: Message = crate::error::decode("Message", payload)?;
        let Some(message::Union::SignedId(signed)) = &message.union else {
            return Err(PeerMisbehaved::UnexpectedMessage {
                expected: "SignedId",
                found: crate::message::message_kind(&message),
            });
        };
        self.peer.key.open_id_pk(&signed.id, &self.peer.id)
    }
}
