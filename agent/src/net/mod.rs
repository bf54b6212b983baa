//! Network adapters: the protocol crate's pure state machines joined to tokio sockets.

pub mod peer;
