//! Software encoders (placeholder until the software backend lands).

use crate::{Capability, Encoder, EncoderConfig, Error};

/// What the software backend can encode here.
pub(crate) fn probe() -> Vec<Capability> {
    Vec::new()
}

/// Opens a software encoder.
pub(crate) fn open(config: &EncoderConfig) -> Result<Box<dyn Encoder>, Error> {
    Err(Error::InvalidInput(format!(
        "no software encoder for {} yet",
        config.codec
    )))
}
