//! The crate's one error type, split by fault.

use crate::{Backend, Codec};

/// Why a backend or codec cannot be used on this machine. Each one lets the caller fall back to
/// another backend with a reason it can log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Unavailable {
    /// The backend was left out of this build.
    #[error("not built in (cargo feature `{0}` is off)")]
    NotBuilt(&'static str),
    /// A driver library is missing or could not be loaded.
    #[error("driver library not loadable: {0}")]
    NoDriver(String),
    /// The driver is there but sees no usable device.
    #[error("no usable device: {0}")]
    NoDevice(String),
    /// The device has no hardware encoder (e.g. data-centre GPUs such as H100/H200).
    #[error("no hardware encoder on this GPU: {0}")]
    NoEncoder(String),
    /// The driver's API is older than the one we need.
    #[error("driver API {have} is older than the required {need}")]
    ApiTooOld {
        /// What the driver offers.
        have: String,
        /// What we need.
        need: String,
    },
    /// The device refused another session (GeForce cards allow 8 per system).
    #[error("encoder session limit reached: {0}")]
    SessionLimit(String),
    /// This backend cannot encode this codec (or this size) on this device.
    #[error("{codec} not supported by this backend: {detail}")]
    Codec {
        /// The codec asked for.
        codec: Codec,
        /// Why not.
        detail: String,
    },
}

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The environment lacks something; fall back to another backend.
    #[error("{backend} encoder unavailable: {reason}")]
    Unavailable {
        /// The backend that cannot run.
        backend: Backend,
        /// Why.
        #[source]
        reason: Unavailable,
    },
    /// The caller passed something the encoder cannot take (a caller bug).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The backend failed while running; the encoder should be replaced.
    #[error("{backend} encoder failed: {detail}")]
    Backend {
        /// The backend that failed.
        backend: Backend,
        /// What it said.
        detail: String,
    },
}
