//! The protobuf messages, generated at build time from `proto/message.proto` (peer to peer,
//! top level [`Message`]) and `proto/rendezvous.proto` (hbbs and hbbr, top level
//! [`RendezvousMessage`]).
//!
//! Both files are proto3 in package `hbb`. Unknown fields and unknown union members (from
//! newer peers) decode fine: they are skipped, and an unknown union member leaves the
//! union `None`. `bytes` fields are `Vec<u8>` so that a sender can keep and refill one
//! message without allocating; [`video`] encodes video frames from borrowed bytes.

pub mod video;

mod generated {
    //! The prost output.
    #![allow(
        missing_docs,
        clippy::all,
        clippy::pedantic,
        clippy::use_self,
        unused_qualifications,
        elided_lifetimes_in_paths
    )]

    include!(concat!(env!("OUT_DIR"), "/hbb.rs"));
}

pub use generated::*;

use crate::error::Error;

/// Decodes a peer [`Message`] from a frame's (opened) payload.
///
/// # Errors
/// [`crate::error::PeerMisbehaved::Malformed`].
pub fn decode_message(payload: &[u8]) -> Result<Message, Error> {
    Ok(crate::error::decode("Message", payload)?)
}

/// Decodes a [`RendezvousMessage`] from a datagram or a frame's payload.
///
/// # Errors
/// [`crate::error::PeerMisbehaved::Malformed`].
pub fn decode_rendezvous(payload: &[u8]) -> Result<RendezvousMessage, Error> {
    Ok(crate::error::decode("RendezvousMessage", payload)?)
}

impl From<message::Union> for Message {
    fn from(union: message::Union) -> Self {
        Self { union: Some(union) }
    }
}

impl From<rendezvous_message::Union> for RendezvousMessage {
    fn from(union: rendezvous_message::Union) -> Self {
        Self { union: Some(union) }
    }
}

impl From<misc::Union> for Message {
    fn from(union: misc::Union) -> Self {
        message::Union::Misc(Misc { union: Some(union) }).into()
    }
}

/// The name of a message's union member, for logs and errors.
#[must_use]
pub fn message_kind(message: &Message) -> &'static str {
    use message::Union as U;
    match &message.union {
        None => "empty Message",
        Some(U::SignedId(_)) => "SignedId",
        Some(U::PublicKey(_)) => "PublicKey",
        Some(U::TestDelay(_)) => "TestDelay",
        Some(U::VideoFrame(_)) => "VideoFrame",
        Some(U::LoginRequest(_)) => "LoginRequest",
        Some(U::LoginResponse(_)) => "LoginResponse",
        Some(U::Hash(_)) => "Hash",
        Some(U::MouseEvent(_)) => "MouseEvent",
        Some(U::AudioFrame(_)) => "AudioFrame",
        Some(U::CursorData(_)) => "CursorData",
        Some(U::CursorPosition(_)) => "CursorPosition",
        Some(U::CursorId(_)) => "CursorId",
        Some(U::KeyEvent(_)) => "KeyEvent",
        Some(U::Clipboard(_)) => "Clipboard",
        Some(U::Misc(_)) => "Misc",
        Some(U::MessageBox(_)) => "MessageBox",
        Some(U::PeerInfo(_)) => "PeerInfo",
        Some(U::PointerDeviceEvent(_)) => "PointerDeviceEvent",
        Some(U::Auth2fa(_)) => "Auth2FA",
        Some(U::MultiClipboards(_)) => "MultiClipboards",
    }
}

/// The name of a rendezvous message's union member, for logs and errors.
#[must_use]
pub fn rendezvous_kind(message: &RendezvousMessage) -> &'static str {
    use rendezvous_message::Union as U;
    match &message.union {
        None => "empty RendezvousMessage",
        Some(U::RegisterPeer(_)) => "RegisterPeer",
        Some(U::RegisterPeerResponse(_)) => "RegisterPeerResponse",
        Some(U::PunchHoleRequest(_)) => "PunchHoleRequest",
        Some(U::PunchHole(_)) => "PunchHole",
        Some(U::PunchHoleSent(_)) => "PunchHoleSent",
        Some(U::PunchHoleResponse(_)) => "PunchHoleResponse",
        Some(U::FetchLocalAddr(_)) => "FetchLocalAddr",
        Some(U::LocalAddr(_)) => "LocalAddr",
        Some(U::ConfigureUpdate(_)) => "ConfigUpdate",
        Some(U::RegisterPk(_)) => "RegisterPk",
        Some(U::RegisterPkResponse(_)) => "RegisterPkResponse",
        Some(U::SoftwareUpdate(_)) => "SoftwareUpdate",
        Some(U::RequestRelay(_)) => "RequestRelay",
        Some(U::RelayResponse(_)) => "RelayResponse",
        Some(U::TestNatRequest(_)) => "TestNatRequest",
        Some(U::TestNatResponse(_)) => "TestNatResponse",
        Some(U::OnlineRequest(_)) => "OnlineRequest",
        Some(U::OnlineResponse(_)) => "OnlineResponse",
        Some(U::KeyExchange(_)) => "KeyExchange",
        Some(U::Hc(_)) => "HealthCheck",
    }
}

#[cfg(test)]
mod tests;
