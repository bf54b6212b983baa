//! deskcast end to end: the loopback rendezvous server and relay (`deskcast-test-servers`), a
//! release `deskcast run` registered with them on the scene's display, and `deskcast probe
//! --json` watching it through the relay on the same machine, so capture → decoded latency is
//! read on one clock. Around the probe, the agent's /proc counters give its CPU, wake-ups and
//! RSS while streaming and while idle (registered, nobody watching).

use std::cell::RefCell;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::pipeline::Target;
use super::procfs::{self, Usage};

/// The ID the benchmark's agent registers under.
const AGENT_ID: &str = "418207356";
/// Its password (the probe logs in with it).
const PASSWORD: &str = "bench-only password";
/// What the agent logs once hbbs has accepted its registration.
const REGISTERED: &str = "registered with the rendezvous server";
/// How long the agent may take to register.
const REGISTER_WITHIN: Duration = Duration::from_secs(30);
/// The shortest window for idle measurements: a static screen's cost is a fraction of a percent.
const MIN_IDLE_WINDOW: Duration = Duration::from_secs(10);

/// The release binaries the deskcast runs need.
#[derive(Debug, Clone)]
pub(crate) struct Binaries {
    /// `deskcast`, built with the `alloc-count` feature.
    pub(crate) deskcast: PathBuf,
    /// `deskcast-test-servers`.
    pub(crate) servers: PathBuf,
}

/// Latency quantiles as the probe reports them, ms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Quantiles {
    pub(crate) samples: u64,
    pub(crate) median: f64,
    pub(crate) p99: f64,
    pub(crate) max: f64,
}

/// What one end-to-end run on one scene found.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EndToEnd {
    /// The codec the probe asked for and the agent sent.
    pub(crate) codec: String,
    /// The probe's route, e.g. `through relay 127.0.0.1:…`, and whether it was encrypted.
    pub(crate) route: String,
    pub(crate) encrypted: bool,
    /// Capture → decoded, per frame the probe decoded.
    pub(crate) latency: Option<Quantiles>,
    /// Frames the probe decoded (the first is the keyframe every new viewer gets).
    pub(crate) frames: u64,
    pub(crate) keyframes: u64,
    pub(crate) fps: f64,
    pub(crate) kbps: f64,
    pub(crate) decode_errors: u64,
    /// The agent over the measurement window while the probe watched.
    pub(crate) streaming: Usage,
    /// The agent's RSS registered with nobody watching, before the probe connected, KiB.
    pub(crate) rss_idle_kib: u64,
    /// The agent registered with nobody watching, over a window (when asked for).
    pub(crate) idle: Option<Usage>,
}

/// Runs the agent and the probe, scene after scene, against one pair of test servers.
#[derive(Debug)]
pub(crate) struct EndToEndBench {
    binaries: Binaries,
    servers: RefCell<Option<TestServers>>,
}

impl EndToEndBench {
    pub(crate) fn new(binaries: Binaries) -> Self {
        Self {
            binaries,
            servers: RefCell::new(None),
        }
    }

    /// The command lines, for the report's settings.
    pub(crate) fn describe(&self, codec: &str, target: &Target<'_>) -> String {
        format!(
            "deskcast-test-servers (loopback hbbs + hbbr); DESKCAST_DISPLAY=$DISPLAY \
             DESKCAST_SERVER=… DESKCAST_KEY=… DESKCAST_RELAY=… DESKCAST_PASSWORD=… deskcast run; \
             deskcast probe {AGENT_ID} --server … --key … --password … --codec {codec} --json \
             --seconds {:.1}",
            probe_seconds(target)
        )
    }

    /// Starts the agent on `target.display`, measures it idle (over a window of at least 10 s
    /// when `idle`, else only its RSS), then while the probe watches (again over at least 10 s
    /// when `idle`: that is the viewer on a static screen).
    pub(crate) fn run(
        &self,
        target: &Target<'_>,
        codec: &str,
        idle: bool,
    ) -> anyhow::Result<EndToEnd> {
        let window = if idle {
            target.window.max(MIN_IDLE_WINDOW)
        } else {
            target.window
        };
        let target = &Target {
            window,
            ..target.clone()
        };
        let mut servers = self.servers.borrow_mut();
        if servers.is_none() {
            let dir = target
                .work_dir
                .parent()
                .unwrap_or(target.work_dir)
                .join("servers");
            *servers = Some(TestServers::start(&self.binaries.servers, &dir)?);
        }
        let servers = servers.as_ref().context("test servers")?;
        let agent = AgentProcess::start(&self.binaries.deskcast, servers, target)?;
        std::thread::sleep(Duration::from_secs(1));
        let rss_idle_kib = procfs::sample(agent.pid())?.rss_kib;
        let idle = if idle {
            Some(procfs::measure_idle(agent.pid(), target.window)?)
        } else {
            None
        };
        let probe_out = target.work_dir.join(format!("probe-{codec}.json"));
        let probe_err = target.work_dir.join(format!("probe-{codec}.stderr"));
        let mut probe = Command::new(&self.binaries.deskcast)
            .args(["probe", AGENT_ID, "--server", &servers.rendezvous])
            .args(["--key", &servers.key, "--password", PASSWORD])
            .args(["--codec", codec, "--json", "--seconds"])
            .arg(format!("{:.1}", probe_seconds(target)))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(File::create(&probe_out)?)
            .stderr(File::create(&probe_err)?)
            .spawn()
            .context("starting deskcast probe")?;
        let streaming = agent.window(target.warmup, target.window);
        let status = wait_for(&mut probe, Duration::from_secs(30)).inspect_err(|_| {
            let _ = probe.kill();
            let _ = probe.wait();
        })?;
        let streaming = streaming?;
        let json = std::fs::read_to_string(&probe_out).context("reading the probe's report")?;
        let report = parse_probe(&json).with_context(|| {
            let err = std::fs::read_to_string(&probe_err).unwrap_or_default();
            format!("the probe exited with {status}: {}", err.trim())
        })?;
        Ok(EndToEnd {
            codec: codec.to_owned(),
            streaming,
            rss_idle_kib,
            idle,
            ..report
        })
    }
}

/// The probe watches through the warm-up and the window, with a second to spare.
fn probe_seconds(target: &Target<'_>) -> f64 {
    (target.warmup + target.window).as_secs_f64() + 1.0
}

/// Reads `deskcast probe --json` output (the agent figures are left at zero).
pub(crate) fn parse_probe(json: &str) -> anyhow::Result<EndToEnd> {
    let v: serde_json::Value = serde_json::from_str(json.trim()).context("probe JSON")?;
    if let Some(error) = v.get("error").and_then(serde_json::Value::as_str) {
        bail!("the probe failed: {error}");
    }
    if let Some(failure) = v.get("failure").and_then(serde_json::Value::as_str) {
        bail!("the probe failed: {failure}");
    }
    let s = v
        .get("summary")
        .context("no summary in the probe's report")?;
    let number = |key: &str| s.get(key).and_then(serde_json::Value::as_f64);
    let count = |key: &str| s.get(key).and_then(serde_json::Value::as_u64).unwrap_or(0);
    let latency = s
        .get("latency")
        .filter(|l| !l.is_null())
        .map(|l| -> anyhow::Result<Quantiles> {
            let ms = |key: &str| {
                l.get(key)
                    .and_then(serde_json::Value::as_f64)
                    .with_context(|| format!("latency.{key}"))
            };
            Ok(Quantiles {
                samples: l
                    .get("samples")
                    .and_then(serde_json::Value::as_u64)
                    .context("latency.samples")?,
                median: ms("median_ms")?,
                p99: ms("p99_ms")?,
                max: ms("max_ms")?,
            })
        })
        .transpose()?;
    Ok(EndToEnd {
        codec: String::new(),
        route: v
            .get("route")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        encrypted: v
            .get("encrypted")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false),
        latency,
        frames: count("frames"),
        keyframes: count("keyframes"),
        fps: number("fps").unwrap_or(0.0),
        kbps: number("kbps").unwrap_or(0.0),
        decode_errors: count("decode_errors"),
        streaming: Usage::default(),
        rss_idle_kib: 0,
        idle: None,
    })
}

/// `deskcast-test-servers` on two free loopback ports; it ends when its stdin closes.
#[derive(Debug)]
struct TestServers {
    child: Child,
    stdin: Option<ChildStdin>,
    rendezvous: String,
    relay: String,
    key: String,
}

impl TestServers {
    fn start(bin: &Path, dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let rendezvous = format!("127.0.0.1:{}", free_port()?);
        let relay = format!("127.0.0.1:{}", free_port()?);
        let mut child = Command::new(bin)
            .args(["--rendezvous", &rendezvous, "--relay", &relay, "--stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(File::create(dir.join("servers.stderr"))?)
            .spawn()
            .context("starting deskcast-test-servers")?;
        let stdin = child.stdin.take();
        let mut lines = BufReader::new(child.stdout.take().context("servers stdout")?).lines();
        let mut key = None;
        for _ in 0..3 {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(k) = line.strip_prefix("key ") {
                        key = Some(k.trim().to_owned());
                    }
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    bail!(
                        "deskcast-test-servers did not start; see {}",
                        dir.join("servers.stderr").display()
                    );
                }
            }
        }
        Ok(Self {
            child,
            stdin,
            rendezvous,
            relay,
            key: key.context("deskcast-test-servers printed no key")?,
        })
    }
}

impl Drop for TestServers {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if wait_for(&mut self.child, Duration::from_secs(3)).is_err() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A loopback port free for both TCP and UDP right now.
fn free_port() -> anyhow::Result<u16> {
    for _ in 0..20 {
        let tcp = TcpListener::bind("127.0.0.1:0")?;
        let port = tcp.local_addr()?.port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no loopback port was free for both TCP and UDP")
}

/// `deskcast run`, registered with the test servers; terminated on drop.
#[derive(Debug)]
struct AgentProcess {
    child: Child,
}

impl AgentProcess {
    fn start(bin: &Path, servers: &TestServers, target: &Target<'_>) -> anyhow::Result<Self> {
        // One configuration (ID, key pair) for the whole run: the test rendezvous server keeps
        // the ID's key from the first registration.
        let config_dir = target
            .work_dir
            .parent()
            .unwrap_or(target.work_dir)
            .join("agent-config");
        std::fs::create_dir_all(&config_dir)?;
        let stderr_path = target.work_dir.join("agent.stderr");
        let child = Command::new(bin)
            .arg("--config")
            .arg(config_dir.join("deskcast.toml"))
            .arg("run")
            .env("XDG_CONFIG_HOME", &config_dir)
            .env("DESKCAST_ID", AGENT_ID)
            .env("DESKCAST_PASSWORD", PASSWORD)
            .env("DESKCAST_SERVER", &servers.rendezvous)
            .env("DESKCAST_KEY", &servers.key)
            .env("DESKCAST_RELAY", &servers.relay)
            .env("DESKCAST_DISPLAY", target.display)
            // No sound server: the figures are the video path's.
            .env("DESKCAST_AUDIO_SERVER", "unix:/nonexistent/pulse/native")
            .env("RUST_LOG", "info")
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null())
            .stdout(File::create(target.work_dir.join("agent.stdout"))?)
            .stderr(File::create(&stderr_path)?)
            .spawn()
            .context("starting deskcast run")?;
        let mut agent = Self { child };
        let deadline = Instant::now() + REGISTER_WITHIN;
        loop {
            let log = std::fs::read_to_string(&stderr_path).unwrap_or_default();
            if log.contains(REGISTERED) {
                return Ok(agent);
            }
            if let Some(status) = agent.child.try_wait()? {
                bail!("deskcast run exited with {status}: {}", tail(&log, 8));
            }
            if Instant::now() > deadline {
                bail!(
                    "deskcast run did not register within {REGISTER_WITHIN:?}: {}",
                    tail(&log, 8)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The agent's usage over `window`, after `warmup`.
    fn window(&self, warmup: Duration, window: Duration) -> anyhow::Result<Usage> {
        std::thread::sleep(warmup);
        procfs::measure_idle(self.pid(), window)
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        // SIGTERM lets the agent close its sessions; SIGKILL if it does not end in time.
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        if wait_for(&mut self.child, Duration::from_secs(5)).is_err() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Waits up to `within` for `child` to exit.
fn wait_for(child: &mut Child, within: Duration) -> anyhow::Result<std::process::ExitStatus> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() > deadline {
            bail!("did not exit within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The last `n` lines of `text`, on one line.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

#[cfg(test)]
mod tests;
