//! The cryptography of the secure channel (spec §4.1, §4.2): long-term Ed25519 identities with
//! libsodium's combined-mode signatures, the `crypto_box` that carries the session key, and
//! the secretbox [`Cipher`] that seals every frame after the handshake.
//!
//! All of it is byte-compatible with libsodium (checked against vectors made with PyNaCl in
//! `tests/data/`). There is no Ed25519→X25519 conversion anywhere: the long-term key only
//! signs a fresh box key.

mod cipher;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use crypto_box::aead::Aead as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use rand_core::CryptoRngCore;
use zeroize::Zeroizing;

pub use cipher::{Channel, Cipher, TAG_LEN};

use crate::error::{ApiMisuse, Error, PeerMisbehaved};
use crate::message::IdPk;

/// Length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

/// A long-term Ed25519 identity (an agent's key pair, or hbbs's `id_ed25519`).
#[derive(Clone)]
pub struct IdentityKey(SigningKey);

impl std::fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("IdentityKey")
            .field(&self.public_key())
            .finish()
    }
}

impl IdentityKey {
    /// A fresh random identity.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(seed.as_mut());
        Self::from_seed(&seed)
    }

    /// The identity with the given 32-byte seed.
    #[must_use]
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self(SigningKey::from_bytes(seed))
    }

    /// Parses libsodium's 64-byte secret key (seed ‖ public key).
    ///
    /// # Errors
    /// [`ApiMisuse::InvalidKey`] for another length or when the halves do not match.
    pub fn from_keypair_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let bytes: &[u8; 64] = bytes
            .try_into()
            .map_err(|_| ApiMisuse::InvalidKey("secret key must be 64 bytes"))?;
        SigningKey::from_keypair_bytes(bytes)
            .map(Self)
            .map_err(|_| ApiMisuse::InvalidKey("public half does not match the seed").into())
    }

    /// Parses the base64 text of an `id_ed25519` file (surrounding whitespace is ignored).
    ///
    /// # Errors
    /// [`ApiMisuse::InvalidKey`] for bad base64 or a bad key.
    pub fn from_base64(text: &str) -> Result<Self, Error> {
        let bytes = Zeroizing::new(
            BASE64
                .decode(text.trim())
                .map_err(|_| ApiMisuse::InvalidKey("secret key is not base64"))?,
        );
        Self::from_keypair_bytes(&bytes)
    }

    /// libsodium's 64-byte secret key (seed ‖ public key).
    #[must_use]
    pub fn to_keypair_bytes(&self) -> Zeroizing<[u8; 64]> {
        Zeroizing::new(self.0.to_keypair_bytes())
    }

    /// The base64 text of an `id_ed25519` file.
    #[must_use]
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(BASE64.encode(self.to_keypair_bytes().as_ref()))
    }

    /// The public half.
    #[must_use]
    pub fn public_key(&self) -> IdentityPublicKey {
        IdentityPublicKey(self.0.verifying_key().to_bytes())
    }

    /// libsodium's `crypto_sign`: the 64-byte signature followed by `message`.
    #[must_use]
    pub fn sign_combined(&self, message: &[u8]) -> Vec<u8> {
        let signature: Signature = self.0.sign(message);
        let mut out = Vec::with_capacity(SIGNATURE_LEN + message.len());
        out.extend_from_slice(&signature.to_bytes());
        out.extend_from_slice(message);
        out
    }

    /// Signs the protobuf encoding of `IdPk { id, pk }` in combined mode (spec §4.2).
    #[must_use]
    pub fn sign_id_pk(&self, id: &str, pk: &[u8]) -> Vec<u8> {
        let id_pk = IdPk {
            id: id.to_owned(),
            pk: pk.to_vec(),
        };
        self.sign_combined(&prost::Message::encode_to_vec(&id_pk))
    }
}

/// An Ed25519 public key: a peer's long-term key, or hbbs's key (`id_ed25519.pub`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdentityPublicKey([u8; 32]);

impl std::fmt::Debug for IdentityPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IdentityPublicKey({})", self.to_base64())
    }
}

impl IdentityPublicKey {
    /// Parses 32 key bytes.
    ///
    /// # Errors
    /// [`ApiMisuse::InvalidKey`] for another length or a point that is not on the curve.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        Self::parse(bytes).ok_or_else(|| ApiMisuse::InvalidKey("not an Ed25519 public key").into())
    }

    /// Parses the base64 text of an `id_ed25519.pub` file or a `key` option (surrounding
    /// whitespace is ignored).
    ///
    /// # Errors
    /// [`ApiMisuse::InvalidKey`] for bad base64 or a bad key.
    pub fn from_base64(text: &str) -> Result<Self, Error> {
        let bytes = BASE64
            .decode(text.trim())
            .map_err(|_| ApiMisuse::InvalidKey("public key is not base64"))?;
        Self::from_bytes(&bytes)
    }

    /// The base64 text (standard alphabet, padded), as hbbs and clients compare it.
    #[must_use]
    pub fn to_base64(&self) -> String {
        BASE64.encode(self.0)
    }

    /// The 32 key bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// libsodium's `crypto_sign_open`: verifies a combined-mode signature and returns the
    /// signed message.
    ///
    /// # Errors
    /// [`PeerMisbehaved::SignedTooShort`] or [`PeerMisbehaved::BadSignature`].
    pub fn open_combined<'a>(&self, signed: &'a [u8]) -> Result<&'a [u8], PeerMisbehaved> {
        if signed.len() < SIGNATURE_LEN {
            return Err(PeerMisbehaved::SignedTooShort { len: signed.len() });
        }
        let (signature, message) = signed.split_at(SIGNATURE_LEN);
        let signature =
            Signature::from_slice(signature).map_err(|_| PeerMisbehaved::BadSignature)?;
        let key = VerifyingKey::from_bytes(&self.0).map_err(|_| PeerMisbehaved::BadSignature)?;
        // Strict verification rejects the small-order and non-canonical cases libsodium rejects.
        key.verify_strict(message, &signature)
            .map_err(|_| PeerMisbehaved::BadSignature)?;
        Ok(message)
    }

    /// Opens a combined-mode signature over an `IdPk`, checks that its id is `expected_id`
    /// and returns its 32-byte key (spec §4.2).
    ///
    /// # Errors
    /// [`PeerMisbehaved`] for a bad signature, a malformed `IdPk`, another id, or a key that
    /// is not 32 bytes.
    pub fn open_id_pk(&self, signed: &[u8], expected_id: &str) -> Result<[u8; 32], PeerMisbehaved> {
        let message = self.open_combined(signed)?;
        let id_pk: IdPk = crate::error::decode("IdPk", message)?;
        if id_pk.id != expected_id {
            return Err(PeerMisbehaved::IdMismatch {
                expected: expected_id.to_owned(),
                found: id_pk.id,
            });
        }
        id_pk
            .pk
            .as_slice()
            .try_into()
            .map_err(|_| PeerMisbehaved::SignedKeyLength {
                len: id_pk.pk.len(),
            })
    }

    fn parse(bytes: &[u8]) -> Option<Self> {
        let bytes: [u8; 32] = bytes.try_into().ok()?;
        VerifyingKey::from_bytes(&bytes).ok()?;
        Some(Self(bytes))
    }
}

/// An ephemeral X25519 key pair for one connection's key exchange.
pub(crate) struct BoxKeyPair {
    secret: crypto_box::SecretKey,
}

impl BoxKeyPair {
    pub(crate) fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(bytes.as_mut());
        Self {
            secret: crypto_box::SecretKey::from_bytes(*bytes),
        }
    }

    pub(crate) fn public_bytes(&self) -> [u8; 32] {
        self.secret.public_key().to_bytes()
    }

    /// `crypto_box_easy(session_key, zero nonce, their_pk, our_sk)`: 48 bytes, tag first.
    pub(crate) fn box_session_key(&self, their_pk: &[u8; 32], session_key: &[u8; 32]) -> Vec<u8> {
        let their = crypto_box::PublicKey::from_bytes(*their_pk);
        let sealed = crypto_box::SalsaBox::new(&their, &self.secret)
            .encrypt(&crypto_box::Nonce::default(), &session_key[..]);
        // Encryption of 32 bytes with no associated data cannot fail; an empty box would
        // simply be rejected by the peer.
        sealed.unwrap_or_default()
    }

    /// `crypto_box_open_easy` with the zero nonce; the result must be a 32-byte key.
    pub(crate) fn unbox_session_key(
        &self,
        their_pk: &[u8; 32],
        boxed: &[u8],
    ) -> Result<Zeroizing<[u8; 32]>, Error> {
        let their = crypto_box::PublicKey::from_bytes(*their_pk);
        let opened = Zeroizing::new(
            crypto_box::SalsaBox::new(&their, &self.secret)
                .decrypt(&crypto_box::Nonce::default(), boxed)
                .map_err(|_| PeerMisbehaved::SessionKeyUnwrap)?,
        );
        let key: [u8; 32] = opened
            .as_slice()
            .try_into()
            .map_err(|_| PeerMisbehaved::SessionKeyLength { len: opened.len() })?;
        Ok(Zeroizing::new(key))
    }
}

#[cfg(test)]
mod tests;
