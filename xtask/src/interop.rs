//! `cargo xtask interop --hbbs PATH --hbbr PATH [--keep] [-- FILTER…]`: runs the end-to-end
//! tests against real RustDesk servers (rustdesk-server's hbbs and hbbr) instead of the
//! loopback test servers.
//!
//! hbbr (and hbbs's NAT-test port) take TCP connections from loopback addresses for their
//! admin console, so the servers run in a network namespace of their own, joined to this one
//! by a veth pair (10.77.N.1 in the namespace, 10.77.N.2 here). Each gets a scratch HOME and
//! working directory; `-k _` makes hbbs generate the key pair there and both servers require
//! it. The tests learn where the servers are from `DESKCAST_INTEROP_RENDEZVOUS`,
//! `DESKCAST_INTEROP_RELAY` and `DESKCAST_INTEROP_KEY` (see `deskcast_testkit::servers`).
//! Everything is torn down afterwards, also on failure; `--keep` leaves the scratch directory
//! (with the servers' logs) in place.
//!
//! Needs root (network namespaces) and iproute2. The server binaries are the user's: this
//! command never downloads or builds them.

use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};

/// The tests that honour the `DESKCAST_INTEROP_*` variables, as `cargo test` filters.
const DEFAULT_FILTERS: &[&str] = &["probe::", "e2e::"];
const RENDEZVOUS_PORT: u16 = 21116;
const RELAY_PORT: u16 = 21117;
/// How long the servers may take to come up.
const START_WAIT: Duration = Duration::from_secs(15);

/// Parses the arguments after `interop`, sets the servers up, runs the tests, tears down.
pub(crate) fn run(root: &Path, args: &[String]) -> anyhow::Result<()> {
    let options = Options::parse(args)?;
    ensure!(
        is_root()?,
        "`cargo xtask interop` needs root: it puts the servers in a network namespace"
    );
    ensure!(
        which("ip").is_some(),
        "`ip` is not installed: apt-get install iproute2"
    );
    let mut lab = Lab::create()?;
    let outcome = lab
        .start_servers(&options)
        .and_then(|servers| run_tests(root, &servers, &options.filters));
    if options.keep {
        lab.keep_scratch();
    }
    lab.report();
    drop(lab);
    outcome
}

struct Options {
    hbbs: PathBuf,
    hbbr: PathBuf,
    keep: bool,
    filters: Vec<String>,
}

impl Options {
    fn parse(args: &[String]) -> anyhow::Result<Self> {
        let (mut hbbs, mut hbbr, mut keep, mut filters) = (None, None, false, Vec::new());
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--hbbs" => hbbs = Some(PathBuf::from(args.next().context("--hbbs needs a path")?)),
                "--hbbr" => hbbr = Some(PathBuf::from(args.next().context("--hbbr needs a path")?)),
                "--keep" => keep = true,
                "--" => filters.extend(args.by_ref().cloned()),
                other => bail!(
                    "unknown interop argument `{other}`\n\
                     usage: cargo xtask interop --hbbs PATH --hbbr PATH [--keep] [-- FILTER...]"
                ),
            }
        }
        let binary = |path: Option<PathBuf>, name: &str| -> anyhow::Result<PathBuf> {
            let path = path.with_context(|| format!("--{name} PATH is required"))?;
            let path = path
                .canonicalize()
                .with_context(|| format!("--{name} {}", path.display()))?;
            ensure!(path.is_file(), "--{name} {} is not a file", path.display());
            Ok(path)
        };
        if filters.is_empty() {
            filters = DEFAULT_FILTERS.iter().map(|f| (*f).to_owned()).collect();
        }
        Ok(Self {
            hbbs: binary(hbbs, "hbbs")?,
            hbbr: binary(hbbr, "hbbr")?,
            keep,
            filters,
        })
    }
}

/// Where the tests find the servers.
struct ServerAddrs {
    rendezvous: SocketAddr,
    relay: SocketAddr,
    key: String,
}

/// The namespace, its veth pair, the server processes and the scratch directory; all undone
/// on drop.
struct Lab {
    namespace: String,
    host_if: String,
    subnet: u8,
    scratch: PathBuf,
    keep_scratch: bool,
    servers: Vec<(&'static str, Child)>,
}

impl Lab {
    fn create() -> anyhow::Result<Self> {
        let pid = std::process::id();
        let subnet = free_subnet(pid)?;
        let scratch = std::env::temp_dir().join(format!("deskcast-interop-{pid}"));
        std::fs::create_dir_all(&scratch)
            .with_context(|| format!("creating {}", scratch.display()))?;
        let lab = Self {
            namespace: format!("dcinterop{pid}"),
            host_if: format!("dci{pid}h"),
            subnet,
            scratch,
            keep_scratch: false,
            servers: Vec::new(),
        };
        let ns_if = format!("dci{pid}n");
        let (ns, host) = (lab.namespace.as_str(), lab.host_if.as_str());
        ip(&["netns", "add", ns])?;
        ip(&["link", "add", host, "type", "veth", "peer", "name", &ns_if])?;
        ip(&["link", "set", &ns_if, "netns", ns])?;
        ip(&["addr", "add", &format!("{}/24", lab.host_ip()), "dev", host])?;
        ip(&["link", "set", host, "up"])?;
        let in_ns = |args: &[&str]| {
            let mut all = vec!["netns", "exec", ns, "ip"];
            all.extend_from_slice(args);
            ip(&all)
        };
        in_ns(&[
            "addr",
            "add",
            &format!("{}/24", lab.server_ip()),
            "dev",
            &ns_if,
        ])?;
        in_ns(&["link", "set", &ns_if, "up"])?;
        in_ns(&["link", "set", "lo", "up"])?;
        println!(
            "==> namespace {ns}: servers at {}, this side {}",
            lab.server_ip(),
            lab.host_ip()
        );
        Ok(lab)
    }

    fn server_ip(&self) -> String {
        format!("10.77.{}.1", self.subnet)
    }

    fn host_ip(&self) -> String {
        format!("10.77.{}.2", self.subnet)
    }

    fn start_servers(&mut self, options: &Options) -> anyhow::Result<ServerAddrs> {
        let relay = format!("{}:{RELAY_PORT}", self.server_ip());
        // hbbs first: with `-k _` it writes the key pair that hbbr then reads.
        self.spawn("hbbs", &options.hbbs, &["-k", "_", "-r", &relay])?;
        let key_file = self.scratch.join("id_ed25519.pub");
        wait_until(START_WAIT, "hbbs to write id_ed25519.pub", || {
            key_file.is_file()
        })?;
        self.spawn("hbbr", &options.hbbr, &["-k", "_"])?;
        let rendezvous: SocketAddr = format!("{}:{RENDEZVOUS_PORT}", self.server_ip()).parse()?;
        let relay: SocketAddr = relay.parse()?;
        for (name, addr) in [("hbbs", rendezvous), ("hbbr", relay)] {
            wait_until(START_WAIT, &format!("{name} to listen on {addr}"), || {
                TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
            })?;
        }
        let key = std::fs::read_to_string(&key_file)
            .with_context(|| format!("reading {}", key_file.display()))?
            .trim()
            .to_owned();
        ensure!(!key.is_empty(), "{} is empty", key_file.display());
        println!("==> hbbs {rendezvous}, hbbr {relay}, key {key}");
        Ok(ServerAddrs {
            rendezvous,
            relay,
            key,
        })
    }

    /// Starts a server inside the namespace, with the scratch directory as HOME and working
    /// directory and its output in `<name>.log` there.
    fn spawn(&mut self, name: &'static str, binary: &Path, args: &[&str]) -> anyhow::Result<()> {
        let log = File::create(self.scratch.join(format!("{name}.log")))?;
        // `ip netns exec` enters the namespace and then runs the server in its own place, so
        // the child's PID is the server's.
        let child = Command::new("ip")
            .args(["netns", "exec", &self.namespace])
            .arg(binary)
            .args(args)
            .env("HOME", &self.scratch)
            .current_dir(&self.scratch)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        self.servers.push((name, child));
        Ok(())
    }

    fn keep_scratch(&mut self) {
        self.keep_scratch = true;
    }

    /// Prints what the servers complained about (and where their logs are, when kept).
    fn report(&self) {
        for (name, _) in &self.servers {
            let path = self.scratch.join(format!("{name}.log"));
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let complaints: Vec<&str> = text
                .lines()
                .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
                .collect();
            println!(
                "==> {name}: {} warnings or errors in its log",
                complaints.len()
            );
            for line in complaints.iter().rev().take(10).rev() {
                println!("    {line}");
            }
            if self.keep_scratch {
                println!("    log kept at {}", path.display());
            }
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for (name, child) in &mut self.servers {
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
            } else {
                eprintln!("warning: {name} had already exited");
            }
            let _ = child.wait();
        }
        // Deleting the namespace removes both ends of the veth pair.
        if let Err(error) = ip(&["netns", "del", &self.namespace]) {
            eprintln!("warning: {error:#}");
        }
        if !self.keep_scratch {
            let _ = std::fs::remove_dir_all(&self.scratch);
        }
    }
}

fn run_tests(root: &Path, servers: &ServerAddrs, filters: &[String]) -> anyhow::Result<()> {
    let rendezvous = servers.rendezvous.to_string();
    let relay = servers.relay.to_string();
    let env = [
        ("DESKCAST_INTEROP_RENDEZVOUS", rendezvous.as_str()),
        ("DESKCAST_INTEROP_RELAY", relay.as_str()),
        ("DESKCAST_INTEROP_KEY", servers.key.as_str()),
    ];
    let mut args = vec![
        "test",
        "--locked",
        "-p",
        "deskcast-suite",
        "--test",
        "it",
        "--",
    ];
    args.extend(filters.iter().map(String::as_str));
    println!("==> cargo {}", args.join(" "));
    crate::ci::cargo(root, &args, &env).context("the end-to-end tests against hbbs/hbbr failed")
}

/// A 10.77.N.0/24 that no interface here uses yet.
fn free_subnet(pid: u32) -> anyhow::Result<u8> {
    let out = Command::new("ip").args(["-o", "addr"]).output()?;
    let used = String::from_utf8_lossy(&out.stdout).into_owned();
    (0..200u32)
        .map(|i| ((pid + i) % 200 + 20) as u8)
        .find(|n| !used.contains(&format!("10.77.{n}.")))
        .context("no free 10.77.N.0/24 subnet")
}

fn ip(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("running ip")?;
    ensure!(
        out.status.success(),
        "`ip {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    while !done() {
        ensure!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

fn is_root() -> anyhow::Result<bool> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .context("no effective UID in /proc/self/status")?;
    Ok(uid == "0")
}

fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|candidate| candidate.is_file())
}
