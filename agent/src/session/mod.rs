//! One viewer's session: codec choice, quality control, and the message handlers by family.

pub mod codec_choice;
pub mod qos;
