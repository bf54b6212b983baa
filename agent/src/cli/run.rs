//! `deskcast run`: the agent itself.
//!
//! On a fresh machine it creates the identity (ID, key, password — printed once), finds the X
//! display (or starts a private Xvfb with `--xvfb`), registers with the configured rendezvous
//! server, listens for direct-IP viewers when none is configured, and says plainly what is
//! missing. Under systemd it reports READY, STATUS and watchdog pings.

use std::io::{BufRead, IsTerminal, Write};
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};

use super::settings::ConfigPath;
use crate::error::Error;
use crate::runtime::{self, Agent};
use crate::service::config::{Config, Env};
use crate::service::notify::{Notifier, NotifyEnv};

/// Options of `deskcast run`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// Start a private Xvfb of this size (e.g. 1920x1080) and stream it, instead of $DISPLAY.
    #[arg(long, value_name = "WxH", num_args = 0..=1, default_missing_value = "1920x1080")]
    pub xvfb: Option<String>,
}

/// Runs the agent until SIGINT or SIGTERM.
pub fn run(args: Args, path: &ConfigPath, env: &Env, out: &mut dyn Write) -> Result<(), Error> {
    let mut config = path.load(env, out)?;
    let mut xvfb = None;
    match (&args.xvfb, display_of(&config, env)) {
        (Some(size), _) => {
            let server = Xvfb::start(size)?;
            let _ = writeln!(out, "Started Xvfb {size} on {}.", server.display);
            config.display = Some(server.display.clone());
            xvfb = Some(server);
        }
        (None, Some(_)) => {}
        (None, None) => match offer_xvfb(out)? {
            Some(server) => {
                config.display = Some(server.display.clone());
                xvfb = Some(server);
            }
            None => return Err(Error::Refused(no_display_help())),
        },
    }
    if config.display.is_none() {
        config.display = env.get("DISPLAY").map(str::to_owned);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("deskcast")
        .build()
        .map_err(|e| Error::io("starting the runtime", e))?;
    let result = runtime.block_on(serve(config, out));
    drop(xvfb);
    result
}

async fn serve(config: Config, out: &mut dyn Write) -> Result<(), Error> {
    let display = config.display.clone().unwrap_or_default();
    let agent = Agent::new(config).map_err(|e| match e {
        Error::X11(x) => Error::Refused(format!(
            "cannot use the X display `{display}`: {x}\n  fix: check DISPLAY and XAUTHORITY (or run `deskcast run --xvfb`)"
        )),
        other => other,
    })?;
    let agent = Arc::new(agent);
    let handle = runtime::start(Arc::clone(&agent)).await?;
    summarize(&agent, &handle.status.borrow(), out);
    let notifier = Notifier::new(&NotifyEnv::from_process()).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "systemd notification disabled");
        Notifier::disabled()
    });
    let _ = notifier.ready();
    let mut status = handle.status.clone();
    let mut watchdog = tokio::time::interval(
        notifier
            .watchdog_interval()
            .unwrap_or(Duration::from_secs(3600)),
    );
    let mut term = signal(SignalKind::terminate())
        .map_err(|e| Error::io("installing the SIGTERM handler", e))?;
    let mut int = signal(SignalKind::interrupt())
        .map_err(|e| Error::io("installing the SIGINT handler", e))?;
    loop {
        tokio::select! {
            _ = watchdog.tick() => { let _ = notifier.watchdog(); }
            Ok(()) = status.changed() => {
                let s = status.borrow_and_update().clone();
                let text = format!(
                    "ID {} · {} · {} viewer(s){}",
                    agent.config.id,
                    if s.registered { "registered" } else if agent.config.server.rendezvous.is_some() { "not registered" } else { "direct IP only" },
                    s.viewers,
                    s.problem.map(|p| format!(" · {p}")).unwrap_or_default()
                );
                let _ = notifier.status(&text);
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    let _ = notifier.stopping();
    tracing::info!("shutting down");
    handle.shutdown().await;
    Ok(())
}

/// One screenful: who we are, how viewers reach us, what is missing.
fn summarize(agent: &Agent, status: &runtime::Status, out: &mut dyn Write) {
    let c = &agent.config;
    let _ = writeln!(out, "deskcast {} — ID {}", env!("CARGO_PKG_VERSION"), c.id);
    let (w, h) = agent.display_size(agent.primary_display());
    let _ = writeln!(
        out,
        "  display:    {} ({w}x{h}, {} monitor(s))",
        c.display.as_deref().unwrap_or("?"),
        agent.monitors().len()
    );
    match (&c.server.rendezvous, &c.server.key) {
        (Some(server), Some(_)) => {
            let _ = writeln!(out, "  rendezvous: {server} (registering; server key set)");
        }
        (Some(server), None) => {
            let _ = writeln!(out, "  rendezvous: {server} (registering)");
            let _ = writeln!(
                out,
                "  missing:    server.key — without the content of hbbs's id_ed25519.pub viewers cannot verify this desktop,\n              so sessions through the relay are refused unless server.allow_insecure = true"
            );
        }
        (None, _) => {
            let _ = writeln!(
                out,
                "  rendezvous: none — set server.rendezvous and server.key in {} to be reachable by ID",
                c.path.display()
            );
        }
    }
    if let Some(addr) = status.direct {
        let _ = writeln!(
            out,
            "  direct IP:  listening on port {} (RustDesk: type this machine's IP as the ID)",
            addr.port()
        );
    }
    if c.password_hash.is_none() {
        let _ = writeln!(
            out,
            "  missing:    a password — nobody can log in until `deskcast password set`"
        );
    }
    let _ = writeln!(out, "  encoders:   {}", encoders(agent));
    let _ = out.flush();
}

fn encoders(agent: &Agent) -> String {
    use deskcast_codec::{Backend, Codec};
    let caps = agent.capabilities();
    let list = |backend| {
        Codec::ALL
            .iter()
            .filter(|&&c| caps.can(backend, c))
            .map(|c| c.name())
            .collect::<Vec<_>>()
            .join("/")
    };
    let nvenc = match list(Backend::Nvenc) {
        s if !s.is_empty() => s,
        _ => caps
            .entries
            .iter()
            .find(|c| c.backend == Backend::Nvenc)
            .and_then(|c| c.status.as_ref().err())
            .map(|e| {
                // Keep the reason short: drop the list of library names tried.
                let text = e.to_string();
                format!("none ({})", text.split(" (tried").next().unwrap_or(&text))
            })
            .unwrap_or_else(|| "none".into()),
    };
    format!("software {}; NVENC {nvenc}", list(Backend::Software))
}

fn display_of(config: &Config, env: &Env) -> Option<String> {
    config.display.clone().or_else(|| {
        env.get("DISPLAY")
            .filter(|d| !d.is_empty())
            .map(str::to_owned)
    })
}

fn no_display_help() -> String {
    let xvfb = which("Xvfb").is_some();
    let mut text = String::from(
        "no X display: DISPLAY is not set and display.name is empty in the configuration\n",
    );
    if xvfb {
        text.push_str("  fix: run `deskcast run --xvfb` to start a private 1920x1080 Xvfb, or set DISPLAY (e.g. DISPLAY=:0)");
    } else {
        text.push_str("  fix: set DISPLAY (e.g. DISPLAY=:0), or install Xvfb (apt install xvfb) and run `deskcast run --xvfb`");
    }
    text
}

/// With no display: offers to start Xvfb when it is installed and someone is at the terminal.
fn offer_xvfb(out: &mut dyn Write) -> Result<Option<Xvfb>, Error> {
    if which("Xvfb").is_none() || !std::io::stdin().is_terminal() {
        return Ok(None);
    }
    let _ = write!(
        out,
        "No X display (DISPLAY is not set). Start a private 1920x1080 Xvfb and stream it? [Y/n] "
    );
    let _ = out.flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Error::io("reading the answer", e))?;
    if matches!(answer.trim(), "" | "y" | "Y" | "yes") {
        let server = Xvfb::start("1920x1080")?;
        let _ = writeln!(out, "Started Xvfb on {}.", server.display);
        return Ok(Some(server));
    }
    Ok(None)
}

fn which(tool: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// A private Xvfb on a display number it picks itself, stopped on drop.
struct Xvfb {
    child: Child,
    display: String,
}

impl Xvfb {
    fn start(size: &str) -> Result<Self, Error> {
        let (w, h) = size
            .split_once('x')
            .and_then(|(w, h)| Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?)))
            .filter(|&(w, h)| (64..=16384).contains(&w) && (64..=16384).contains(&h))
            .ok_or_else(|| {
                Error::Refused(format!(
                    "`{size}` is not a screen size; write it as WIDTHxHEIGHT, e.g. 1920x1080"
                ))
            })?;
        let xvfb = which("Xvfb")
            .ok_or_else(|| Error::Refused("Xvfb is not installed (apt install xvfb)".into()))?;
        let (read, write) =
            nix::unistd::pipe().map_err(|e| Error::io("making a pipe for Xvfb", e.into()))?;
        // The write end must survive exec: Xvfb writes its display number there when ready.
        nix::fcntl::fcntl(
            &write,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
        )
        .map_err(|e| Error::io("preparing the pipe for Xvfb", e.into()))?;
        let child = Command::new(xvfb)
            .args([
                "-displayfd",
                &write.as_raw_fd().to_string(),
                "-screen",
                "0",
                &format!("{w}x{h}x24"),
                "-nolisten",
                "tcp",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| Error::io("starting Xvfb", e))?;
        drop(write);
        let mut line = String::new();
        std::io::BufReader::new(std::fs::File::from(read))
            .read_line(&mut line)
            .map_err(|e| Error::io("waiting for Xvfb", e))?;
        let number = line.trim();
        if number.is_empty() {
            return Err(Error::Refused("Xvfb exited before it was ready".into()));
        }
        Ok(Self {
            child,
            display: format!(":{number}"),
        })
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
