//! `deskcast probe` over real loopback sockets, through the test rendezvous server and relay
//! (or, under `cargo xtask interop`, real hbbs/hbbr), against a stand-in agent built from
//! protocol and codec pieces ([`agent`]) until the real agent's session layer lands.

mod agent;
mod cli;
mod login;
mod routes;
mod video;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use deskcast::probe::{Probe, ProbeConfig};
use deskcast_testkit::servers::Servers;

use self::agent::{AgentOptions, FakeAgent};

/// The password the stand-in agents accept.
pub const PASSWORD: &str = "correct horse";
/// How long a test waits for one frame or event.
pub const WAIT: Duration = Duration::from_secs(10);

/// A fresh 9-digit ID per test, so tests sharing a real hbbs do not collide.
pub fn fresh_id() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{}{:03}", 500_000 + std::process::id() % 500_000, n % 1000)
}

/// Test servers (or real ones), and a registered stand-in agent with a fresh ID.
pub async fn agent_with(servers: &Servers, tune: impl FnOnce(&mut AgentOptions)) -> FakeAgent {
    let mut options = AgentOptions::new(
        &fresh_id(),
        PASSWORD,
        Some((servers.rendezvous, servers.key.clone())),
    );
    tune(&mut options);
    let agent = FakeAgent::start(options);
    agent.wait_registered().await;
    agent
}

/// The probe configuration that dials `agent` through `servers`.
pub fn dial(servers: &Servers, agent: &FakeAgent) -> ProbeConfig {
    ProbeConfig::rendezvous(&servers.rendezvous.to_string(), &servers.key, agent.id())
        .password(PASSWORD)
}

/// Connects with the right password and returns the probe.
pub async fn connect(servers: &Servers, agent: &FakeAgent) -> Probe {
    Probe::connect(dial(servers, agent))
        .await
        .expect("the probe connects and logs in")
}
