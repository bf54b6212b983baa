//! deskcast-protocol: the RustDesk wire protocol as pure state machines.
//!
//! This crate does no I/O and never reads the clock: callers pass bytes and `now` in and pull
//! transmits, events and timeouts out. It has no async runtime or socket dependency, and
//! randomness comes from a caller-supplied RNG.
//!
//! ```text
//!             ┌─────────── rendezvous::agent::Mediator ◀── UDP ──▶ hbbs
//!   agent ────┤
//!             └── TCP stream ─▶ framing::FrameDecoder ─▶ handshake ─▶ crypto::Channel
//!                                                                 ─▶ message::Message
//!                                                                 ─▶ login
//! ```
//!
//! - [`framing`]: the 1–4 byte length prefix of TCP streams; [`framing::FrameDecoder`].
//! - [`addr`]: the mangled socket addresses inside rendezvous messages.
//! - [`message`]: the protobuf messages (generated from our own `.proto` files).
//! - [`crypto`]: identities, signatures, the session-key box and the per-frame [`crypto::Cipher`].
//! - [`handshake`]: the secure-channel handshake in both roles, as typestates.
//! - [`login`]: `Hash`, password verification, login answers and the lockout policy.
//! - [`rendezvous`]: registration and relay set-up ([`rendezvous::agent`],
//!   [`rendezvous::client`]) and a model of hbbs/hbbr ([`rendezvous::server`]).
//! - [`error`]: the crate's [`Error`], split by fault.

#![forbid(unsafe_code)]

pub mod addr;
pub mod crypto;
pub mod error;
pub mod framing;
pub mod handshake;
pub mod login;
pub mod message;
pub mod rendezvous;

pub use error::Error;

#[cfg(test)]
mod test_util;
