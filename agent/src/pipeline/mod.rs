//! The frame's path inside the agent: damage → capture → encode → one shared encoded frame per
//! encoder, offered to each viewer without ever queueing behind a slow one.

pub mod display;
pub mod pool;
pub mod slot;
