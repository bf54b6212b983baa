//! `deskcast doctor` on this machine's kind (Xvfb, no GPU): the exact set of results, and each
//! ❌ brought about by breaking what it checks.

use std::collections::BTreeMap;

use deskcast::cli::doctor::{self, Args};
use deskcast::cli::settings::ConfigPath;
use deskcast::service::config::{Env, load_or_create};
use deskcast::service::unit::Level;
use deskcast_testkit::servers::{
    RelayOptions, RendezvousOptions, Servers, TestRelay, TestRendezvous,
};
use deskcast_testkit::{Xvfb, XvfbOptions};

/// Runs doctor and returns `name → level`, plus whether it passed.
fn run(
    path: &ConfigPath,
    env: &Env,
    offline: bool,
) -> (BTreeMap<&'static str, Level>, bool, String) {
    let args = Args {
        json: false,
        offline,
    };
    let sections = doctor::check_all(&args, path, env);
    let mut out = Vec::new();
    let passed = doctor::run(
        &Args {
            json: true,
            offline,
        },
        path,
        env,
        &mut out,
    );
    let levels = sections
        .iter()
        .flat_map(|s| &s.checks)
        .map(|c| (c.name, c.level))
        .collect();
    (levels, passed, String::from_utf8(out).unwrap())
}

/// A configuration file for `display` with the given server settings.
fn configure(dir: &tempfile::TempDir, pairs: &[(&str, &str)]) -> (ConfigPath, Env) {
    let path = dir.path().join("deskcast.toml");
    let mut all = vec![("DESKCAST_PASSWORD", "doctor-test-pw")];
    all.extend_from_slice(pairs);
    // Create the file (doctor itself never writes one).
    load_or_create(&path, &Env::from_pairs(all.clone())).unwrap();
    (ConfigPath { config: Some(path) }, Env::from_pairs(all))
}

fn has_gpu() -> bool {
    std::fs::File::open("/dev/nvidiactl").is_ok()
}

#[test]
fn on_xvfb_without_a_gpu_everything_required_passes() {
    let xvfb = Xvfb::start(640, 480);
    let servers = Servers::start();
    let dir = tempfile::tempdir().unwrap();
    let rendezvous = servers.rendezvous.to_string();
    let relay = servers.relay.to_string();
    let (path, env) = configure(
        &dir,
        &[
            ("DISPLAY", xvfb.display()),
            ("DESKCAST_SERVER", &rendezvous),
            ("DESKCAST_RELAY", &relay),
            ("DESKCAST_KEY", &servers.key),
            ("DESKCAST_AUDIO_SERVER", "unix:/nonexistent/native"),
        ],
    );
    let (levels, passed, json) = run(&path, &env, false);
    use Level::{Ok, Warn};
    let mut expected: Vec<(&str, Level)> = vec![
        ("configuration", Ok),
        ("password", Ok),
        ("DISPLAY", Ok),
        ("MIT-SHM", Ok),
        ("DAMAGE", Ok),
        ("XFIXES", Ok),
        ("XTEST", Ok),
        ("RANDR", Ok),
        ("shared memory", Ok),
        ("input", Ok),
        ("software encoders", Ok),
        ("rendezvous server", Ok),
        ("server key", Ok),
        ("relay", Ok),
        ("sound server", Warn),
    ];
    if !has_gpu() {
        expected.extend([
            ("NVIDIA devices", Warn),
            ("DRI nodes", Warn),
            ("CUDA driver", Warn),
            ("NVENC library", Warn),
            ("NVENC", Warn),
        ]);
    }
    for (name, level) in expected {
        assert_eq!(levels.get(name), Some(&level), "{name} in {json}");
    }
    assert!(passed, "nothing required fails here: {json}");
    assert!(json.starts_with("{\"ok\":true"), "{json}");
}

#[test]
fn each_broken_prerequisite_is_a_failure_with_a_fix() {
    let dir = tempfile::tempdir().unwrap();

    // Wrong DISPLAY.
    let (path, env) = configure(&dir, &[("DISPLAY", ":987")]);
    let (levels, passed, json) = run(&path, &env, true);
    assert_eq!(levels.get("DISPLAY"), Some(&Level::Fail), "{json}");
    assert!(
        !passed && json.contains("\"fix\":\"check DISPLAY"),
        "{json}"
    );

    // No shared memory: an X server without MIT-SHM.
    let no_shm = Xvfb::start_with(&XvfbOptions {
        extra_args: vec!["-extension".into(), "MIT-SHM".into()],
        ..XvfbOptions::default()
    });
    let (path, env) = configure(&dir, &[("DISPLAY", no_shm.display())]);
    let (levels, passed, json) = run(&path, &env, true);
    assert_eq!(levels.get("MIT-SHM"), Some(&Level::Fail), "{json}");
    assert_eq!(
        levels.get("shared memory"),
        Some(&Level::Fail),
        "capture falls back to GetImage: {json}"
    );
    assert!(!passed);

    // Unreachable rendezvous server and relay (nothing listens on these ports).
    let xvfb = Xvfb::start(320, 240);
    let closed = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let (path, env) = configure(
        &dir,
        &[
            ("DISPLAY", xvfb.display()),
            ("DESKCAST_SERVER", &closed),
            ("DESKCAST_RELAY", &closed),
        ],
    );
    let (levels, passed, json) = run(&path, &env, false);
    assert_eq!(
        levels.get("rendezvous server"),
        Some(&Level::Fail),
        "{json}"
    );
    assert_eq!(levels.get("relay"), Some(&Level::Fail), "{json}");
    assert!(!passed);

    // A key that is not the server's: hbbs refuses the dial, hbbr drops the pairing request.
    let server_key = |seed| deskcast_protocol::crypto::IdentityKey::from_seed(&[seed; 32]);
    let relay = TestRelay::start_with(RelayOptions {
        licence_key: Some(server_key(1).public_key().to_base64()),
        ..RelayOptions::default()
    });
    let hbbs = TestRendezvous::start_with(
        RendezvousOptions {
            key: Some(server_key(1)),
            ..RendezvousOptions::default()
        }
        .relay(relay.addr()),
    );
    let wrong = server_key(7).public_key().to_base64();
    let (server, relay_addr) = (hbbs.addr().to_string(), relay.addr().to_string());
    let (path, env) = configure(
        &dir,
        &[
            ("DISPLAY", xvfb.display()),
            ("DESKCAST_SERVER", &server),
            ("DESKCAST_RELAY", &relay_addr),
            ("DESKCAST_KEY", &wrong),
        ],
    );
    let (levels, passed, json) = run(&path, &env, false);
    assert_eq!(
        levels.get("rendezvous server"),
        Some(&Level::Ok),
        "registration needs no key: {json}"
    );
    assert_eq!(levels.get("server key"), Some(&Level::Fail), "{json}");
    assert_eq!(
        levels.get("relay"),
        Some(&Level::Fail),
        "hbbr drops a wrong key: {json}"
    );
    assert!(!passed);
}
