//! The crate's one error type, split by who is at fault.
//!
//! - [`PeerMisbehaved`]: the bytes from the other side are broken or hostile; end that
//!   stream or drop that datagram, nothing else.
//! - [`Incompatible`]: the peer is well-formed but speaks something we do not support.
//! - [`Rejected`]: a server or peer answered with a well-formed refusal.
//! - [`ApiMisuse`]: the caller passed something impossible (our bug or bad configuration).

/// Any error of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The peer sent bytes that break the protocol.
    #[error("peer misbehaved: {0}")]
    PeerMisbehaved(#[from] PeerMisbehaved),
    /// The peer speaks a variant of the protocol we do not support.
    #[error("incompatible peer: {0}")]
    Incompatible(#[from] Incompatible),
    /// A well-formed refusal from the server or the peer.
    #[error("rejected: {0}")]
    Rejected(#[from] Rejected),
    /// The caller used the API in a way it does not allow.
    #[error("API misuse: {0}")]
    ApiMisuse(#[from] ApiMisuse),
}

/// The peer sent bytes that break the protocol.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PeerMisbehaved {
    /// A frame header announces more bytes than the configured maximum.
    #[error("frame of {len} bytes exceeds the maximum of {max}")]
    FrameTooLarge {
        /// The announced payload length.
        len: u64,
        /// The configured maximum.
        max: usize,
    },
    /// The stream ended in the middle of a frame.
    #[error("stream ended inside a frame ({buffered} bytes buffered)")]
    TruncatedFrame {
        /// Bytes of the unfinished frame that had arrived.
        buffered: usize,
    },
    /// A protobuf message did not decode.
    #[error("malformed {what}")]
    Malformed {
        /// Which message was expected.
        what: &'static str,
        /// The decoder's complaint.
        #[source]
        source: prost::DecodeError,
    },
    /// A message arrived that makes no sense at this point of the exchange.
    #[error("expected {expected}, got {found}")]
    UnexpectedMessage {
        /// What the state machine waited for.
        expected: &'static str,
        /// What arrived.
        found: &'static str,
    },
    /// A sealed frame is shorter than the 16-byte authentication tag.
    #[error("sealed frame of {len} bytes is shorter than its tag")]
    SealedTooShort {
        /// The frame's payload length.
        len: usize,
    },
    /// A sealed frame failed authentication: corrupted, replayed, reordered or dropped frames
    /// all end here, because the counters no longer agree.
    #[error("decryption failed at receive counter {seq}")]
    DecryptionFailed {
        /// The receive counter the frame was opened with.
        seq: u64,
    },
    /// `PublicKey.asymmetric_value` has a length other than 0 or 32.
    #[error("public key of {len} bytes (expected 32)")]
    PublicKeyLength {
        /// The length received.
        len: usize,
    },
    /// The boxed session key did not open.
    #[error("the boxed session key did not open")]
    SessionKeyUnwrap,
    /// The unboxed session key is not 32 bytes.
    #[error("session key of {len} bytes (expected 32)")]
    SessionKeyLength {
        /// The length received.
        len: usize,
    },
    /// A combined-mode signature is shorter than the signature itself.
    #[error("signed message of {len} bytes is shorter than a signature")]
    SignedTooShort {
        /// The length received.
        len: usize,
    },
    /// A signature did not verify.
    #[error("bad signature")]
    BadSignature,
    /// A signed `IdPk` names another ID than the one expected.
    #[error("signed id is {found:?}, expected {expected:?}")]
    IdMismatch {
        /// The ID that was dialled or announced.
        expected: String,
        /// The ID inside the signed `IdPk`.
        found: String,
    },
    /// A signed `IdPk` carries a key that is not 32 bytes.
    #[error("signed key of {len} bytes (expected 32)")]
    SignedKeyLength {
        /// The length received.
        len: usize,
    },
    /// A signed key is not a valid Ed25519 point.
    #[error("signed key is not a valid Ed25519 key")]
    InvalidSignedKey,
    /// A mangled socket address has an impossible length.
    #[error("mangled socket address of {len} bytes")]
    AddressLength {
        /// The length received.
        len: usize,
    },
    /// A relay request or response lacks its pairing uuid.
    #[error("relay message without a uuid")]
    MissingUuid,
}

/// The peer speaks a variant of the protocol we do not support.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Incompatible {
    /// A message whose union member this crate does not model (or an empty union where one
    /// is required).
    #[error("unsupported or empty {what}")]
    UnsupportedMessage {
        /// Which message it was.
        what: &'static str,
    },
    /// The server gave no signed key for the peer, so the peer cannot be authenticated.
    #[error("no signed key for the peer (server has no key, or the peer sent no version)")]
    NoSignedKey,
}

/// A well-formed refusal from the server or the peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejected {
    /// hbbs does not know the ID.
    #[error("ID does not exist")]
    IdNotExist,
    /// hbbs knows the ID but it has not registered within the last 30 s.
    #[error("Remote desktop is offline")]
    Offline,
    /// The licence key does not match the server's.
    #[error("Key mismatch")]
    LicenceMismatch,
    /// The licence is overused (Pro).
    #[error("Key overuse")]
    LicenceOveruse,
    /// Another failure, with the server's text.
    #[error("punch hole failure: {0}")]
    Other(String),
    /// The controlled side refused the relay with a reason.
    #[error("refused: {0}")]
    Refused(String),
}

/// The caller used the API in a way it does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiMisuse {
    /// A payload is larger than the largest length the frame header can express.
    #[error("payload of {len} bytes cannot be framed (limit 1 GiB - 1)")]
    FrameTooLarge {
        /// The payload length.
        len: usize,
    },
    /// The writer given to a sealing call wrote another length than it declared.
    #[error("declared {declared} payload bytes but wrote {written}")]
    PayloadLengthMismatch {
        /// The declared length.
        declared: usize,
        /// The written length.
        written: usize,
    },
    /// The send counter would wrap.
    #[error("send counter exhausted")]
    CounterExhausted,
    /// A key given by the caller is malformed.
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
    /// A `PeerInfo` for a remote-desktop session needs at least one display.
    #[error("PeerInfo needs at least one display")]
    NoDisplays,
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    InvalidConfig(&'static str),
}

impl Error {
    /// Whether the error was caused by the remote side (misbehaviour, incompatibility or a
    /// refusal) rather than by the caller.
    #[must_use]
    pub fn is_remote(&self) -> bool {
        !matches!(self, Self::ApiMisuse(_))
    }
}

/// Decodes a protobuf message, mapping failure to [`PeerMisbehaved::Malformed`].
pub(crate) fn decode<M: prost::Message + Default>(
    what: &'static str,
    bytes: &[u8],
) -> Result<M, PeerMisbehaved> {
    M::decode(bytes).map_err(|source| PeerMisbehaved::Malformed { what, source })
}
