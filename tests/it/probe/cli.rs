//! The `deskcast probe` command: its JSON report, its frame dumps (checked with FFmpeg as an
//! independent PNG reader), and its failures.

use std::path::Path;
use std::process::{Command, ExitCode};

use deskcast::cli::probe::{Args, DumpFormat, run};
use deskcast_testkit::servers::Servers;

use super::agent::{HEIGHT, WIDTH, pattern};
use super::{PASSWORD, agent_with};

fn args(servers: &Servers, id: &str, password: &str) -> Args {
    Args {
        target: id.to_owned(),
        server: Some(servers.rendezvous.to_string()),
        key: servers.key.clone(),
        password: Some(password.to_owned()),
        password_stdin: false,
        frames: Some(5),
        seconds: Some(20.0),
        codec: None,
        dump: None,
        dump_format: DumpFormat::Png,
        click: None,
        r#type: None,
        clipboard: None,
        require_encryption: true,
        json: true,
    }
}

/// Runs the command; returns (success, stdout, stderr).
fn probe(args: &Args, stdin: &str) -> (bool, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = run(args, &mut stdin.as_bytes(), &mut out, &mut err);
    let success = format!("{code:?}") == format!("{:?}", ExitCode::SUCCESS);
    (
        success,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

/// FFmpeg's reading of a PNG as RGB24.
fn ffmpeg_rgb(path: &Path) -> Vec<u8> {
    let ffmpeg = deskcast_testkit::require_tool("ffmpeg", "ffmpeg");
    let out = Command::new(ffmpeg)
        .args(["-v", "error", "-nostdin", "-i"])
        .arg(path)
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn the_command_reports_json_and_dumps_frames_ffmpeg_can_read() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let servers = Servers::from_env_or_start();
    let agent = runtime.block_on(agent_with(&servers, |o| o.frames = 5));
    let dump = tempfile::tempdir().unwrap();
    let mut args = args(&servers, agent.id(), "");
    args.password = None;
    args.password_stdin = true;
    args.dump = Some(dump.path().to_owned());
    args.clipboard = Some("set by the command".into());
    let (success, out, err) = probe(&args, &format!("{PASSWORD}\n"));
    assert!(success, "stdout: {out}\nstderr: {err}");
    let report: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(report["encrypted"], true);
    assert_eq!(report["summary"]["frames"], 5);
    assert_eq!(report["summary"]["decode_errors"], 0);
    assert_eq!(report["summary"]["latency"]["samples"], 5);
    assert_eq!(report["peer_platform"], "Linux");
    assert!(report["failure"].is_null());

    let first = ffmpeg_rgb(&dump.path().join("frame-000000.png"));
    assert_eq!(first.len(), (WIDTH * HEIGHT * 3) as usize);
    let source = pattern(0);
    let sse: u64 = first
        .chunks_exact(3)
        .zip(source.chunks_exact(4))
        .map(|(rgb, bgra)| {
            (0..3)
                .map(|c| u64::from(rgb[c].abs_diff(bgra[2 - c])).pow(2))
                .sum::<u64>()
        })
        .sum();
    let psnr = 10.0 * (255.0f64.powi(2) * first.len() as f64 / sse.max(1) as f64).log10();
    assert!(
        psnr >= 30.0,
        "the dumped PNG is {psnr:.1} dB from the pattern"
    );
    assert_eq!(std::fs::read_dir(dump.path()).unwrap().count(), 5);
    assert!(
        agent.log(|log| log.received.iter().any(|m| matches!(
            &m.union,
            Some(deskcast_protocol::message::message::Union::Clipboard(_))
        ))),
        "--clipboard reached the agent"
    );
}

#[test]
fn the_command_fails_clearly() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let servers = Servers::from_env_or_start();
    let agent = runtime.block_on(agent_with(&servers, |o| o.frames = 1));
    let mut wrong = args(&servers, agent.id(), "not it");
    wrong.json = false;
    let (success, out, err) = probe(&wrong, "");
    assert!(!success, "{out}");
    assert_eq!(err.trim(), "deskcast probe: login refused: Wrong Password");

    let mut by_id_alone = wrong.clone();
    by_id_alone.server = None;
    let (success, _, err) = probe(&by_id_alone, "");
    assert!(!success);
    assert!(err.contains("looks like an ID"), "{err}");

    // JSON mode reports the failure as JSON too.
    let mut json = args(&servers, "000000001", PASSWORD);
    json.json = true;
    let (success, out, _) = probe(&json, "");
    assert!(!success);
    let report: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(report["error"], "ID does not exist");
}
