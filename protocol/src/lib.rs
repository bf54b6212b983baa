//! deskcast-protocol: the RustDesk wire protocol as pure state machines.
//!
//! This crate does no I/O and never reads the clock: callers pass bytes and `now` in and pull
//! transmits, events and timeouts out. It has no async runtime or socket dependency.

#![forbid(unsafe_code)]
