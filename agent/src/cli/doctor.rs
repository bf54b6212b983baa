//! `deskcast doctor`: everything the agent needs, checked where it runs, each with the fix.
//!
//! Levels: ✅ fine, ⚠️ works but not as well as it could (or optional and missing), ❌ broken.
//! Only ❌ makes the exit status non-zero; `--json` prints the same checks for scripts.
//! The rendezvous check is a real registration round trip and, with a key configured, a real
//! dial of our own ID that proves hbbs signs with the key we were given.

use std::io::Write;
use std::time::{Duration, Instant};

use deskcast_codec::{Backend, Codec};
use deskcast_protocol::crypto::IdentityKey;
use deskcast_protocol::framing::FrameDecoder;
use deskcast_protocol::rendezvous::agent::{Event, Mediator, MediatorConfig};
use deskcast_protocol::rendezvous::client::{self, DialConfig, DialResponse};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use super::settings::ConfigPath;
use crate::platform::x11::diagnose::{EXTENSIONS, diagnose};
use crate::platform::x11::{CapturePath, ConnectOptions};
use crate::runtime::PEER_VERSION;
use crate::service::config::{Config, DEFAULT_RENDEZVOUS_PORT, Env};
use crate::service::unit::{Check, Level};

/// How long the network checks may take each.
const NET_TIMEOUT: Duration = Duration::from_secs(5);

/// Options of `deskcast doctor`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// Print the checks as JSON.
    #[arg(long)]
    pub json: bool,
    /// Skip the network checks (rendezvous server and relay).
    #[arg(long)]
    pub offline: bool,
}

/// One group of checks.
#[derive(Debug, Clone)]
pub struct Section {
    /// Its title.
    pub title: &'static str,
    /// Its checks.
    pub checks: Vec<Check>,
}

/// Runs every check; returns whether nothing failed.
pub fn run(args: &Args, path: &ConfigPath, env: &Env, out: &mut dyn Write) -> bool {
    let sections = check_all(args, path, env);
    if args.json {
        let _ = writeln!(out, "{}", to_json(&sections));
    } else {
        for s in &sections {
            let _ = writeln!(out, "{}", s.title);
            for c in &s.checks {
                let _ = writeln!(out, "  {} {}: {}", symbol(c.level), c.name, c.detail);
                if let Some(fix) = &c.fix {
                    let _ = writeln!(out, "       fix: {fix}");
                }
            }
        }
    }
    !sections
        .iter()
        .flat_map(|s| &s.checks)
        .any(|c| c.level == Level::Fail)
}

/// Every check, in sections.
pub fn check_all(args: &Args, path: &ConfigPath, env: &Env) -> Vec<Section> {
    let mut sections = Vec::new();
    let loaded = path
        .resolve(env)
        .and_then(|p| crate::service::config::load_existing(&p, env).map(|c| c.ok_or(p)));
    let config = match loaded {
        Ok(Ok(config)) => {
            let mut checks = vec![ok(
                "configuration",
                format!("{} (ID {})", config.path.display(), config.id),
            )];
            checks.push(match config.password_hash {
                Some(_) => ok("password", "set".into()),
                None => fail(
                    "password",
                    "not set: nobody can log in".into(),
                    "deskcast password set",
                ),
            });
            sections.push(Section {
                title: "Agent",
                checks,
            });
            Some(config)
        }
        Ok(Err(missing)) => {
            let detail = format!("{} does not exist yet", missing.display());
            let fix = "run `deskcast run` once: it creates the ID, the key and a password";
            sections.push(Section {
                title: "Agent",
                checks: vec![warn("configuration", detail, fix)],
            });
            None
        }
        Err(e) => {
            sections.push(Section {
                title: "Agent",
                checks: vec![fail(
                    "configuration",
                    e.to_string(),
                    "see the message above",
                )],
            });
            None
        }
    };
    let display = config
        .as_ref()
        .and_then(|c| c.display.clone())
        .or_else(|| env.get("DISPLAY").map(str::to_owned));
    sections.push(x_checks(display, env));
    sections.push(gpu_checks(config.as_ref()));
    if let Some(config) = &config {
        if !args.offline {
            sections.push(network_checks(config));
        }
        sections.push(Section {
            title: "Audio",
            checks: vec![audio_check(config)],
        });
    }
    sections.push(service_checks());
    sections
}

fn x_checks(display: Option<String>, env: &Env) -> Section {
    let mut checks = Vec::new();
    let Some(name) = display.filter(|d| !d.is_empty()) else {
        checks.push(fail(
            "DISPLAY",
            "not set".into(),
            "set DISPLAY (e.g. DISPLAY=:0) or display.name, or run `deskcast run --xvfb`",
        ));
        return Section {
            title: "X server",
            checks,
        };
    };
    match env.get("XAUTHORITY") {
        Some(file) if !std::path::Path::new(file).exists() => {
            checks.push(fail(
                "XAUTHORITY",
                format!("{file} does not exist"),
                "point XAUTHORITY at the display's cookie file",
            ));
        }
        Some(file) => checks.push(ok("XAUTHORITY", file.to_owned())),
        None => {}
    }
    let options = ConnectOptions {
        display: Some(name.clone()),
        xauthority: env.get("XAUTHORITY").map(Into::into),
    };
    let diagnosis = match diagnose(&options) {
        Ok(d) => d,
        Err(e) => {
            checks.push(fail(
                "DISPLAY",
                format!("cannot connect to {name}: {e}"),
                "check DISPLAY and XAUTHORITY (xdpyinfo should work)",
            ));
            return Section {
                title: "X server",
                checks,
            };
        }
    };
    checks.push(ok("DISPLAY", format!("{name} reachable")));
    for ((ext, present), (_, purpose)) in diagnosis.extensions.iter().zip(EXTENSIONS) {
        checks.push(match (present, *ext) {
            (true, _) => ok(ext, "present".into()),
            (false, "RANDR") => warn(
                ext,
                format!("missing: no {purpose}"),
                "use an X server with RandR (Xvfb, Xorg)",
            ),
            (false, _) => fail(
                ext,
                format!("missing: needed for {purpose}"),
                "use an X server with this extension (Xvfb and Xorg have it)",
            ),
        });
    }
    checks.push(match diagnosis.capture {
        Ok(choice) => match choice.path {
            CapturePath::ShmFd => ok("shared memory", format!("capture via {choice}")),
            CapturePath::ShmSysv => warn(
                "shared memory",
                format!("capture via {choice}: fd passing refused"),
                "an X server with MIT-SHM 1.2 passes memory across containers",
            ),
            _ => fail(
                "shared memory",
                format!("capture falls back to {choice}: about 20x slower"),
                "share the IPC namespace with the X server, or use one with MIT-SHM 1.2",
            ),
        },
        Err(e) => fail("capture", e.to_string(), "see the X server checks above"),
    });
    checks.push(match diagnosis.input {
        Ok(()) => ok("input", "XTEST injection works".into()),
        Err(e) => fail(
            "input",
            e.to_string(),
            "the X server needs the XTEST extension",
        ),
    });
    Section {
        title: "X server",
        checks,
    }
}

fn gpu_checks(config: Option<&Config>) -> Section {
    let mut checks = Vec::new();
    let nodes: Vec<_> = ["/dev/nvidiactl", "/dev/nvidia0", "/dev/nvidia-uvm"]
        .iter()
        .map(|p| (*p, std::fs::OpenOptions::new().read(true).open(p)))
        .collect();
    let missing: Vec<_> = nodes
        .iter()
        .filter(|(_, r)| r.is_err())
        .map(|(p, r)| {
            format!(
                "{p}: {}",
                r.as_ref().err().map_or(String::new(), ToString::to_string)
            )
        })
        .collect();
    checks.push(if missing.is_empty() {
        ok("NVIDIA devices", "present and openable".into())
    } else {
        warn(
            "NVIDIA devices",
            missing.join("; "),
            "pass the GPU into the container (`deskcast lxc-config` on the Proxmox host)",
        )
    });
    let dri: Vec<_> = std::fs::read_dir("/dev/dri")
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    checks.push(if dri.is_empty() {
        warn(
            "DRI nodes",
            "none in /dev/dri".into(),
            "optional; pass /dev/dri for GPU-accelerated desktops",
        )
    } else {
        ok("DRI nodes", dri.join(", "))
    });
    let info = deskcast_codec::nvenc::driver_info();
    checks.push(match &info.cuda {
        Ok((lib, version)) => ok("CUDA driver", format!("{lib}, CUDA {version}")),
        Err(e) => warn(
            "CUDA driver",
            e.split(" (tried").next().unwrap_or(e).to_owned(),
            "install the NVIDIA driver's user-space libraries (same version as the host) for NVENC",
        ),
    });
    if let Ok(devices) = &info.devices {
        checks.push(ok(
            "GPUs",
            if devices.is_empty() {
                "none".into()
            } else {
                devices.join(", ")
            },
        ));
    }
    checks.push(match &info.nvenc_api {
        Ok(v) => ok("NVENC library", format!("libnvidia-encode API {v}")),
        Err(e) => warn(
            "NVENC library",
            e.clone(),
            "install libnvidia-encode1 (Docker: NVIDIA_DRIVER_CAPABILITIES=compute,video,utility)",
        ),
    });
    let caps = deskcast_codec::probe();
    let list = |b| {
        Codec::ALL
            .iter()
            .filter(|&&c| caps.can(b, c))
            .map(|c| c.name())
            .collect::<Vec<_>>()
    };
    let nvenc = list(Backend::Nvenc);
    checks.push(
        match (nvenc.is_empty(), config.is_some_and(|c| !c.video.nvenc)) {
            (_, true) => warn(
                "NVENC",
                "turned off in the configuration (video.nvenc)".into(),
                "set video.nvenc = true",
            ),
            (false, false) => ok("NVENC", format!("encodes {}", nvenc.join(", "))),
            (true, false) => {
                let why = caps
                    .entries
                    .iter()
                    .find(|c| c.backend == Backend::Nvenc && c.codec == Codec::H264)
                    .and_then(|c| c.status.clone().err());
                warn(
                    "NVENC",
                    why.map_or("unavailable".into(), |w| {
                        w.to_string()
                            .split(" (tried")
                            .next()
                            .unwrap_or_default()
                            .to_owned()
                    }),
                    "viewers get software encoding",
                )
            }
        },
    );
    let software = list(Backend::Software);
    checks.push(if software.is_empty() {
        fail(
            "software encoders",
            "none".into(),
            "this build lacks libvpx/openh264",
        )
    } else {
        ok("software encoders", software.join(", "))
    });
    Section {
        title: "GPU and encoders",
        checks,
    }
}

fn audio_check(config: &Config) -> Check {
    let server = match &config.audio_server {
        Some(s) => Ok(crate::audio::ServerAddress::new(s.clone())),
        None => crate::audio::ServerAddress::discover(),
    };
    match server.and_then(|s| crate::audio::probe(&s, Duration::from_secs(2))) {
        Ok(report) => ok("sound server", format!("{report:?}")),
        Err(e) => warn(
            "sound server",
            e.to_string(),
            "optional: start PulseAudio or PipeWire in the session for desktop audio",
        ),
    }
}

fn service_checks() -> Section {
    let checks = match crate::service::unit::UserEnv::from_process() {
        Ok(env) => crate::service::unit::status(&env)
            .checks()
            .into_iter()
            // The service is how deskcast usually runs, but it is not needed to run.
            .map(|c| {
                if c.level == Level::Fail {
                    Check {
                        level: Level::Warn,
                        ..c
                    }
                } else {
                    c
                }
            })
            .collect(),
        Err(e) => vec![warn("service", e.to_string(), "set HOME")],
    };
    Section {
        title: "Service",
        checks,
    }
}

fn network_checks(config: &Config) -> Section {
    let Some(server) = config.server.rendezvous.clone() else {
        return Section {
            title: "Network",
            checks: vec![warn(
                "rendezvous server",
                "none configured: reachable by direct IP only".into(),
                "set server.rendezvous and server.key",
            )],
        };
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return Section {
                title: "Network",
                checks: vec![fail("network", e.to_string(), "")],
            };
        }
    };
    let checks = runtime.block_on(async {
        let mut checks = rendezvous_checks(config, &server).await;
        checks.push(relay_check(config, &server).await);
        checks
    });
    Section {
        title: "Network",
        checks,
    }
}

/// Registers (a real round trip) and, with a key, dials our own ID to see hbbs sign our key
/// with the server key we were given. A running agent with the same ID loses its registration
/// for a few seconds (until its next one).
async fn rendezvous_checks(config: &Config, server: &str) -> Vec<Check> {
    let name = "rendezvous server";
    let addr = match resolve(server, DEFAULT_RENDEZVOUS_PORT).await {
        Ok(a) => a,
        Err(e) => {
            return vec![fail(
                name,
                format!("cannot resolve {server}: {e}"),
                "check server.rendezvous",
            )];
        }
    };
    let identity = IdentityKey::from_seed(&config.secret_seed);
    let mut mc = MediatorConfig::new(
        &config.id,
        &config.uuid,
        identity.public_key(),
        server,
        PEER_VERSION,
    );
    mc.licence_key = config.server.key.clone().unwrap_or_default();
    mc.relay_server = config.server.relay.clone();
    let mut mediator = Mediator::new(mc, rand::rngs::OsRng, Instant::now());
    let Ok(udp) = UdpSocket::bind(if addr.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    })
    .await
    else {
        return vec![fail(name, "cannot open a UDP socket".into(), "")];
    };
    let started = Instant::now();
    let mut registered = None;
    let mut relay = None;
    let mut dial: Option<tokio::task::JoinHandle<Result<DialResponse, String>>> = None;
    let deadline = started + NET_TIMEOUT * 2;
    let mut buf = vec![0u8; 65536];
    while Instant::now() < deadline && relay.is_none() {
        let wake = mediator
            .poll_timeout()
            .unwrap_or_else(|| Instant::now() + Duration::from_millis(200))
            .min(deadline);
        tokio::select! {
            r = udp.recv_from(&mut buf) => if let Ok((n, from)) = r && from == addr {
                let _ = mediator.handle_datagram(Instant::now(), &buf[..n]);
            },
            () = tokio::time::sleep_until(wake.into()) => mediator.handle_timeout(Instant::now()),
        }
        while let Some(d) = mediator.poll_transmit() {
            let _ = udp.send_to(&d, addr).await;
        }
        while let Some(event) = mediator.poll_event() {
            match event {
                Event::Registered => {
                    registered = Some(started.elapsed());
                    if let Some(key) = &config.server.key
                        && dial.is_none()
                    {
                        dial = Some(tokio::spawn(dial_self(
                            addr,
                            DialConfig::new(&config.id, key, PEER_VERSION),
                        )));
                    }
                }
                Event::Relay(instructions) => {
                    // Answer as a real agent would; hbbs then signs our key for the dialer.
                    let _ = tell(addr, &instructions.to_rendezvous).await;
                    relay = Some(instructions);
                }
                Event::Rejected(why) => {
                    return vec![fail(
                        name,
                        format!("refused our registration: {why:?}"),
                        "choose another ID with `deskcast id set NEW`",
                    )];
                }
                _ => {}
            }
        }
        if registered.is_some() && config.server.key.is_none() {
            break;
        }
    }
    let mut checks = vec![match registered {
        Some(t) => ok(
            name,
            format!("{server}: registered in {} ms", t.as_millis()),
        ),
        None => fail(
            name,
            format!("{server} did not answer our registration"),
            "check that hbbs runs and UDP port 21116 is reachable",
        ),
    }];
    checks.push(match (&config.server.key, dial) {
        (None, _) => warn(
            "server key",
            "not set: viewers cannot verify this desktop".into(),
            "set server.key to the content of hbbs's id_ed25519.pub",
        ),
        (Some(_), None) => fail(
            "server key",
            "not checked: registration failed".into(),
            "fix the rendezvous server first",
        ),
        (Some(key), Some(task)) => key_check(key, &config.id, task).await,
    });
    checks
}

async fn key_check(
    key: &str,
    id: &str,
    task: tokio::task::JoinHandle<Result<DialResponse, String>>,
) -> Check {
    let name = "server key";
    let Ok(Ok(response)) = tokio::time::timeout(NET_TIMEOUT, task).await else {
        return fail(
            name,
            "the dial of our own ID got no answer".into(),
            "check hbbs's logs",
        );
    };
    let signed = match response {
        Ok(DialResponse::Relay { signed_pk, .. } | DialResponse::Direct { signed_pk, .. }) => {
            signed_pk
        }
        Ok(_) => Vec::new(),
        Err(e) if e.contains("Key mismatch") || e.to_lowercase().contains("licen") => {
            return fail(
                name,
                format!("hbbs says: {e}"),
                "server.key must be the exact content of hbbs's id_ed25519.pub",
            );
        }
        Err(e) => return fail(name, e, "check hbbs's logs"),
    };
    let verified = deskcast_protocol::crypto::IdentityPublicKey::from_base64(key)
        .map_err(|e| e.to_string())
        .and_then(|k| client::verify_peer_key(&k, &signed, id).map_err(|e| e.to_string()));
    match verified {
        Ok(_) => ok(name, "hbbs accepts it and signs our key with it".into()),
        Err(e) if signed.is_empty() => warn(
            name,
            format!("hbbs sends no signature ({e})"),
            "run hbbs with its key pair (-k _) for end-to-end encryption",
        ),
        Err(e) => fail(
            name,
            format!("hbbs signs with another key: {e}"),
            "server.key must be the content of hbbs's id_ed25519.pub",
        ),
    }
}

async fn dial_self(hbbs: std::net::SocketAddr, dial: DialConfig) -> Result<DialResponse, String> {
    let frame = client::punch_hole_request_frame(&dial).map_err(|e| e.to_string())?;
    let mut stream = TcpStream::connect(hbbs).await.map_err(|e| e.to_string())?;
    stream.write_all(&frame).await.map_err(|e| e.to_string())?;
    let mut decoder = FrameDecoder::new();
    let mut buf = vec![0u8; 4096];
    loop {
        if let Some(payload) = decoder.next_frame().map_err(|e| e.to_string())? {
            return client::handle_response(payload).map_err(|e| e.to_string());
        }
        let n = stream.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("hbbs closed the connection".into());
        }
        decoder.feed(&buf[..n]);
    }
}

async fn tell(hbbs: std::net::SocketAddr, frame: &[u8]) -> std::io::Result<()> {
    let mut s = TcpStream::connect(hbbs).await?;
    s.write_all(frame).await?;
    let _ = s.shutdown().await;
    Ok(())
}

/// Connects to the relay and parks a pairing request: hbbr keeps it open when it accepts our
/// key and drops it at once when it does not.
async fn relay_check(config: &Config, server: &str) -> Check {
    let name = "relay";
    let relay = config
        .server
        .relay
        .clone()
        .unwrap_or_else(|| deskcast_protocol::rendezvous::fallback_relay(server));
    let addr = match resolve(&relay, deskcast_protocol::rendezvous::RELAY_PORT).await {
        Ok(a) => a,
        Err(e) => {
            return fail(
                name,
                format!("cannot resolve {relay}: {e}"),
                "check server.relay",
            );
        }
    };
    let mut stream = match tokio::time::timeout(NET_TIMEOUT, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            return fail(
                name,
                format!("{relay}: {e}"),
                "check that hbbr runs and TCP port 21117 is reachable",
            );
        }
        Err(_) => {
            return fail(
                name,
                format!("{relay}: no answer"),
                "check that hbbr runs and TCP port 21117 is reachable",
            );
        }
    };
    let uuid = deskcast_protocol::rendezvous::generate_uuid(&mut rand::rngs::OsRng);
    let dial = DialConfig::new(
        &config.id,
        config.server.key.as_deref().unwrap_or(""),
        PEER_VERSION,
    );
    let Ok(frame) = client::relay_request_to_relay(&dial, &uuid) else {
        return fail(name, "internal".into(), "");
    };
    if stream.write_all(&frame).await.is_err() {
        return fail(name, format!("{relay} closed the connection"), "");
    }
    let mut byte = [0u8; 1];
    match tokio::time::timeout(Duration::from_millis(1500), stream.read(&mut byte)).await {
        Err(_) => ok(name, format!("{relay} accepts our pairing request")),
        Ok(_) => fail(
            name,
            format!("{relay} dropped our pairing request"),
            "hbbr runs with -k: server.key must match its id_ed25519.pub",
        ),
    }
}

async fn resolve(host: &str, port: u16) -> std::io::Result<std::net::SocketAddr> {
    let with_port = deskcast_protocol::rendezvous::with_default_port(host, port);
    tokio::net::lookup_host(with_port.as_str())
        .await?
        .next()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no address"))
}

fn ok(name: &'static str, detail: String) -> Check {
    Check {
        name,
        level: Level::Ok,
        detail,
        fix: None,
    }
}

fn warn(name: &'static str, detail: String, fix: &str) -> Check {
    Check {
        name,
        level: Level::Warn,
        detail,
        fix: (!fix.is_empty()).then(|| fix.to_owned()),
    }
}

fn fail(name: &'static str, detail: String, fix: &str) -> Check {
    Check {
        name,
        level: Level::Fail,
        detail,
        fix: (!fix.is_empty()).then(|| fix.to_owned()),
    }
}

fn symbol(level: Level) -> &'static str {
    match level {
        Level::Ok => "✅",
        Level::Warn => "⚠️ ",
        Level::Fail => "❌",
    }
}

fn to_json(sections: &[Section]) -> String {
    let esc = |s: &str| {
        let mut o = String::with_capacity(s.len() + 2);
        o.push('"');
        for c in s.chars() {
            match c {
                '"' => o.push_str("\\\""),
                '\\' => o.push_str("\\\\"),
                c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
                c => o.push(c),
            }
        }
        o.push('"');
        o
    };
    let checks: Vec<String> = sections
        .iter()
        .flat_map(|s| s.checks.iter().map(move |c| (s.title, c)))
        .map(|(section, c)| {
            let level = match c.level {
                Level::Ok => "ok",
                Level::Warn => "warn",
                Level::Fail => "fail",
            };
            format!(
                "{{\"section\":{},\"name\":{},\"level\":\"{level}\",\"detail\":{},\"fix\":{}}}",
                esc(section),
                esc(c.name),
                esc(&c.detail),
                c.fix.as_deref().map_or("null".into(), esc)
            )
        })
        .collect();
    format!(
        "{{\"ok\":{},\"checks\":[{}]}}",
        !sections
            .iter()
            .flat_map(|s| &s.checks)
            .any(|c| c.level == Level::Fail),
        checks.join(",")
    )
}
