//! The deskcast agent as a library: the binary in `main.rs` and the integration tests use it.
//!
//! Unsafe code is allowed only in [`platform`] (X11 shared memory and other OS interfaces); every
//! other module is checked by `deny(unsafe_code)`.

#![deny(unsafe_code)]

pub mod audio;
pub mod cli;
pub mod error;
pub mod net;
pub mod pipeline;
#[allow(unsafe_code)] // Shared memory, memfd and raw pointers into X11 segments live here only.
pub mod platform;
pub mod probe;
pub mod runtime;
pub mod service;
pub mod session;
