//! The secure-channel handshake at the start of every peer stream (spec §4.3–§4.5), in both
//! roles, as typestates: each step consumes the previous state.
//!
//! ```text
//! agent:   agent::send_signed_id ──▶ ExpectPublicKey ──handle(frame)──▶ Established
//!          agent::without_handshake ─────────────────────────────────▶ Established
//! client:  client::start(peer key) ──▶ ExpectSignedId ──handle(frame)──▶ Established
//!                           └── (no peer key) ───────────────────────▶ Established
//! ```
//!
//! Frames travel unsealed during the handshake. Outgoing frames are appended to the caller's
//! `Vec` (header included); incoming ones are the payloads a
//! [`crate::framing::FrameDecoder`] returns.
//!
//! RustDesk tolerates several unencrypted fallbacks (spec §4.5). They are recognised and
//! reported in [`Established::security`]; whether to accept an unencrypted session is the
//! caller's policy.

pub mod agent;
pub mod client;

use crate::crypto::Channel;
use crate::error::PeerMisbehaved;
use crate::message::Message;

/// The outcome of a handshake: the channel to use from now on and how secure it is.
#[derive(Debug)]
#[non_exhaustive]
pub struct Established {
    /// Seals and opens every later frame (or only frames them, when unencrypted).
    pub channel: Channel,
    /// Whether the channel is encrypted, and if not, why.
    pub security: Security,
    /// A message the peer sent in place of a handshake message; the session should handle
    /// it as its first message.
    pub early_message: Option<Box<Message>>,
}

impl Established {
    /// Whether the channel is encrypted.
    #[must_use]
    pub fn is_encrypted(&self) -> bool {
        matches!(self.security, Security::Encrypted)
    }
}

/// How secure an established channel is.
#[derive(Debug)]
#[non_exhaustive]
pub enum Security {
    /// Every frame is sealed with the session key.
    Encrypted,
    /// Frames travel in the clear, for the given reason.
    Unencrypted(Insecure),
}

/// Why a channel is unencrypted (spec §4.5).
#[derive(Debug)]
#[non_exhaustive]
pub enum Insecure {
    /// No handshake was run: a relay with `secure = false`, or direct IP access.
    NotRequested,
    /// Agent: the client sent an empty `Message` instead of `PublicKey` (it has no verified
    /// key for us).
    EmptyMessage,
    /// Agent: the client sent `PublicKey {}` with empty fields: it failed to verify our
    /// `SignedId`, typically because hbbs holds another key for us. The caller should
    /// register the key again.
    EmptyPublicKey,
    /// Agent: the client sent another message instead of `PublicKey`; it is in
    /// [`Established::early_message`].
    UnexpectedMessage,
    /// Client: there was no verified key for the peer, so an empty `Message` was sent.
    NoPeerKey,
    /// Client: the peer's `SignedId` was rejected for the given reason; `PublicKey {}` (bad
    /// signature) or an empty `Message` (anything else) was sent.
    SignedIdRejected(PeerMisbehaved),
}

impl Established {
    fn unencrypted(reason: Insecure) -> Self {
        Self {
            channel: Channel::plain(),
            security: Security::Unencrypted(reason),
            early_message: None,
        }
    }
}

#[cfg(test)]
mod tests;
