//! The controlling side of rendezvous (spec §3.10): the requests a client sends to hbbs and
//! hbbr, and the checks on hbbs's answers. Used by tests and by a probe client.
//!
//! Call order: open TCP to hbbs and write [`punch_hole_request_frame`]; pass each answer
//! frame to [`handle_response`] (RustDesk waits 3, 6 and 9 s over up to three attempts).
//! On [`DialResponse::Relay`], check the signed key with [`verify_peer_key`], connect to the
//! relay and write [`relay_request_to_relay`], then run [`crate::handshake::client`]. To
//! ask for a relay yourself (Flow B), write [`relay_request_to_rendezvous`] on a fresh
//! hbbs connection and wait for the agent's go-ahead, a [`DialResponse::Relay`] without a
//! uuid.

use std::net::SocketAddr;

use super::frame;
use crate::addr;
use crate::crypto::IdentityPublicKey;
use crate::error::{Error, Incompatible, PeerMisbehaved, Rejected};
use crate::handshake::client::PeerIdentity;
use crate::message::{
    ConnType, NatType, PunchHoleRequest, RequestRelay, punch_hole_response, relay_response,
    rendezvous_message::Union,
};

/// What a client dials with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DialConfig {
    /// The ID of the peer to reach.
    pub id: String,
    /// The server key in base64, as the client's `key` option (compared as a string by hbbs
    /// and hbbr).
    pub licence_key: String,
    /// The client's version.
    pub version: String,
    /// The session type.
    pub conn_type: ConnType,
    /// Force a relay (reported to hbbs as a symmetric NAT).
    pub force_relay: bool,
}

impl DialConfig {
    /// A remote-desktop dial of `id` that forces a relay.
    #[must_use]
    pub fn new(id: &str, licence_key: &str, version: &str) -> Self {
        Self {
            id: id.to_owned(),
            licence_key: licence_key.to_owned(),
            version: version.to_owned(),
            conn_type: ConnType::DefaultConn,
            force_relay: true,
        }
    }
}

/// `PunchHoleRequest` as one frame for hbbs.
///
/// # Errors
/// Only framing errors for absurd lengths.
pub fn punch_hole_request_frame(dial: &DialConfig) -> Result<Vec<u8>, Error> {
    let nat_type = if dial.force_relay {
        NatType::Symmetric
    } else {
        NatType::UnknownNat
    };
    frame(Union::PunchHoleRequest(PunchHoleRequest {
        id: dial.id.clone(),
        nat_type: nat_type.into(),
        licence_key: dial.licence_key.clone(),
        conn_type: dial.conn_type.into(),
        version: dial.version.clone(),
        force_relay: dial.force_relay,
        ..PunchHoleRequest::default()
    }))
}

/// `RequestRelay` as one frame for hbbs (Flow B): hbbs forwards it to the peer, which
/// answers with a go-ahead and connects to `relay_server` with `uuid`.
///
/// # Errors
/// Only framing errors for absurd lengths.
pub fn relay_request_to_rendezvous(
    dial: &DialConfig,
    uuid: &str,
    relay_server: &str,
    secure: bool,
) -> Result<Vec<u8>, Error> {
    frame(Union::RequestRelay(RequestRelay {
        id: dial.id.clone(),
        uuid: uuid.to_owned(),
        relay_server: relay_server.to_owned(),
        secure,
        conn_type: dial.conn_type.into(),
        ..RequestRelay::default()
    }))
}

/// `RequestRelay` as the first frame on a connection to hbbr.
///
/// # Errors
/// Only framing errors for absurd lengths.
pub fn relay_request_to_relay(dial: &DialConfig, uuid: &str) -> Result<Vec<u8>, Error> {
    super::relay_request_frame(RequestRelay {
        id: dial.id.clone(),
        uuid: uuid.to_owned(),
        licence_key: dial.licence_key.clone(),
        conn_type: dial.conn_type.into(),
        ..RequestRelay::default()
    })
}

/// hbbs's answer to a dial.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DialResponse {
    /// Connect directly (`PunchHoleResponse` with an address).
    Direct {
        /// The peer's address (public, or its LAN address when `is_local`).
        addr: SocketAddr,
        /// Whether `addr` is a LAN address.
        is_local: bool,
        /// A relay to fall back to (Flow B); empty means none.
        relay_server: String,
        /// hbbs's signature over the peer's `IdPk`; empty when hbbs gave none.
        signed_pk: Vec<u8>,
    },
    /// Connect through a relay (`RelayResponse`).
    Relay {
        /// The pairing token; empty in a Flow B go-ahead, where the client chose it.
        uuid: String,
        /// The relay; empty in a Flow B go-ahead.
        relay_server: String,
        /// hbbs's signature over the peer's `IdPk`; empty when hbbs gave none.
        signed_pk: Vec<u8>,
    },
}

/// Handles one frame from hbbs after a dial.
///
/// # Errors
/// [`Rejected`] for a failure (unknown ID, offline, key mismatch …) or a refusal by the
/// peer; [`PeerMisbehaved`] for an undecodable frame, an address that does not decode, or
/// an unexpected message.
pub fn handle_response(payload: &[u8]) -> Result<DialResponse, Error> {
    let message = crate::message::decode_rendezvous(payload)?;
    match message.union {
        Some(Union::PunchHoleResponse(response)) => {
            if response.socket_addr.is_empty() {
                return Err(punch_failure(response.failure, response.other_failure).into());
            }
            Ok(DialResponse::Direct {
                addr: addr::decode(&response.socket_addr)?,
                is_local: matches!(
                    response.union,
                    Some(punch_hole_response::Union::IsLocal(true))
                ),
                relay_server: response.relay_server,
                signed_pk: response.pk,
            })
        }
        Some(Union::RelayResponse(response)) => {
            if !response.refuse_reason.is_empty() {
                return Err(Rejected::Refused(response.refuse_reason).into());
            }
            let signed_pk = match response.union {
                Some(relay_response::Union::Pk(pk)) => pk,
                _ => Vec::new(),
            };
            Ok(DialResponse::Relay {
                uuid: response.uuid,
                relay_server: response.relay_server,
                signed_pk,
            })
        }
        _ => Err(PeerMisbehaved::UnexpectedMessage {
            expected: "PunchHoleResponse or RelayResponse",
            found: crate::message::rendezvous_kind(&message),
        }
        .into()),
    }
}

fn punch_failure(code: i32, other: String) -> Rejected {
    use punch_hole_response::Failure;
    if !other.is_empty() {
        return Rejected::Other(other);
    }
    match Failure::try_from(code) {
        Ok(Failure::IdNotExist) => Rejected::IdNotExist,
        Ok(Failure::Offline) => Rejected::Offline,
        Ok(Failure::LicenseMismatch) => Rejected::LicenceMismatch,
        Ok(Failure::LicenseOveruse) => Rejected::LicenceOveruse,
        Err(_) => Rejected::Other("other punch hole failure".to_owned()),
    }
}

/// Verifies hbbs's signature over the peer's `IdPk` with the server key and checks that it
/// names `dialled_id` and carries a valid Ed25519 key (spec §4.3, client step 1).
///
/// RustDesk continues unencrypted when this fails; pass `None` to
/// [`crate::handshake::client::start`] to do the same.
///
/// # Errors
/// [`Incompatible::NoSignedKey`] for an empty signature; [`PeerMisbehaved`] for a bad
/// signature, another ID, or a bad key.
pub fn verify_peer_key(
    server_key: &IdentityPublicKey,
    signed_pk: &[u8],
    dialled_id: &str,
) -> Result<PeerIdentity, Error> {
    if signed_pk.is_empty() {
        return Err(Incompatible::NoSignedKey.into());
    }
    let key = server_key.open_id_pk(signed_pk, dialled_id)?;
    let key = IdentityPublicKey::from_bytes(&key).map_err(|_| PeerMisbehaved::InvalidSignedKey)?;
    Ok(PeerIdentity {
        id: dialled_id.to_owned(),
        key,
    })
}
