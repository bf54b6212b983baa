//! End to end: a real agent (in this process) on a real Xvfb, registered with a rendezvous
//! server and reached through a relay by the deskcast probe — the loopback test servers, or
//! under `cargo xtask interop` real hbbs/hbbr.

mod audio;
mod input;
mod login;
mod servers;
pub(crate) mod video;

use std::sync::Arc;
use std::time::{Duration, Instant};

use deskcast::probe::{Probe, ProbeConfig};
use deskcast::runtime::{self, Agent, AgentHandle};
use deskcast::service::config::{Env, load_or_create};
use deskcast_testkit::servers::Servers;
use deskcast_testkit::{Xvfb, XvfbOptions};

/// The password every test agent gets.
pub(crate) const PASSWORD: &str = "correct horse battery";

/// An agent on its own Xvfb, with servers, in one tokio runtime.
pub(crate) struct Desk {
    pub xvfb: Xvfb,
    pub servers: Servers,
    pub handle: Option<AgentHandle>,
    pub id: String,
    _dir: tempfile::TempDir,
}

impl Desk {
    /// Starts Xvfb (`width`×`height`), the servers and an agent registered with them; returns
    /// once the rendezvous server has recorded the agent.
    pub async fn start(width: u32, height: u32) -> Self {
        Self::start_with(width, height, &[]).await
    }

    /// As [`start`](Self::start), with extra `DESKCAST_*` settings.
    pub async fn start_with(width: u32, height: u32, extra: &[(&str, &str)]) -> Self {
        let xvfb = Xvfb::start_with(&XvfbOptions {
            width,
            height,
            ..XvfbOptions::default()
        });
        let servers = Servers::from_env_or_start();
        let dir = tempfile::tempdir().expect("temp dir");
        let rendezvous = servers.rendezvous.to_string();
        let relay = servers.relay.to_string();
        let mut pairs = vec![
            ("DESKCAST_DISPLAY", xvfb.display()),
            ("DESKCAST_PASSWORD", PASSWORD),
            ("DESKCAST_SERVER", rendezvous.as_str()),
            ("DESKCAST_KEY", servers.key.as_str()),
            ("DESKCAST_RELAY", relay.as_str()),
            // No sound server unless a test gives one: the agent must run without.
            ("DESKCAST_AUDIO_SERVER", "unix:/nonexistent/pulse/native"),
        ];
        pairs.extend_from_slice(extra);
        let env = Env::from_pairs(pairs);
        let (config, _) = load_or_create(&dir.path().join("deskcast.toml"), &env).expect("config");
        let id = config.id.clone();
        let agent = Arc::new(Agent::new(config).expect("agent starts"));
        let handle = runtime::start(agent).await.expect("agent runs");
        let mut desk = Self {
            xvfb,
            servers,
            handle: Some(handle),
            id,
            _dir: dir,
        };
        desk.wait_registered(Duration::from_secs(20)).await;
        desk
    }

    /// Waits until the agent reports itself registered.
    pub async fn wait_registered(&mut self, within: Duration) {
        let status = &mut self.handle.as_mut().expect("running").status;
        let deadline = Instant::now() + within;
        while !status.borrow().registered {
            assert!(
                Instant::now() < deadline,
                "the agent did not register: {:?}",
                status.borrow().problem
            );
            let _ = tokio::time::timeout(Duration::from_millis(200), status.changed()).await;
        }
    }

    /// How many viewers the agent has now.
    pub fn viewers(&self) -> usize {
        self.handle
            .as_ref()
            .map_or(0, |h| h.status.borrow().viewers)
    }

    /// A probe configuration that dials this agent through the servers.
    pub fn probe_config(&self) -> ProbeConfig {
        ProbeConfig::rendezvous(
            &self.servers.rendezvous.to_string(),
            &self.servers.key,
            &self.id,
        )
    }

    /// Connects and logs in a probe with the right password.
    pub async fn probe(&self) -> Probe {
        Probe::connect(self.probe_config().password(PASSWORD))
            .await
            .expect("probe logs in")
    }
}

/// Polls `f` every 50 ms until it is true or `within` passes.
pub(crate) async fn eventually(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
