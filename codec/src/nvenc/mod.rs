//! NVENC through CUDA (placeholder until the NVENC backend lands).

use crate::{Capability, Encoder, EncoderConfig, Error};

/// What NVENC can encode here.
pub(crate) fn probe() -> Vec<Capability> {
    Vec::new()
}

/// Opens an NVENC encoder.
pub(crate) fn open(config: &EncoderConfig) -> Result<Box<dyn Encoder>, Error> {
    Err(Error::InvalidInput(format!(
        "no NVENC encoder for {} yet",
        config.codec
    )))
}
