//! The probe's own tests. Most of what the probe does is tested end to end against the real
//! agent in `tests/it/e2e` (logging in, lockout, sessions without the server key, direct IP,
//! decoded frames against the screen, codecs, input, clipboard, audio, a relay that dies).
//! Here:
//!
//! - [`cli`]: the `deskcast probe` command against the real agent;
//! - [`heartbeat`]: the round trips it measures, against the real agent;
//! - [`servers`]: rendezvous refusals and relay pairing, with no agent at all;
//! - [`quirks`]: what a stock RustDesk peer can do and the deskcast agent never does, against a
//!   [`scripted_peer`].
//!
//! Everything runs over real loopback sockets, through the test rendezvous server and relay,
//! or under `cargo xtask interop` real hbbs/hbbr.

mod cli;
mod heartbeat;
mod quirks;
mod scripted_peer;
mod servers;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// How long a test waits for one frame or event.
pub const WAIT: Duration = Duration::from_secs(10);

/// A fresh 9-digit ID per test, so tests sharing a real hbbs do not collide.
pub fn fresh_id() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{}{:03}", 500_000 + std::process::id() % 500_000, n % 1000)
}
