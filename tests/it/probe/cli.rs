//! The `deskcast probe` command against the real agent: its JSON report, its frame dumps
//! (checked with FFmpeg as an independent PNG reader against the X screen), its actions, and its
//! failures; and the desktop audio it reports.

use std::path::Path;
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use deskcast::cli::probe::{Args, DumpFormat, run};

use crate::e2e::video::{draw_desktop, psnr};
use crate::e2e::{Desk, PASSWORD, eventually};
use crate::x11::Painter;

/// The screen's size.
const WIDTH: u16 = 480;
const HEIGHT: u16 = 320;
/// Rows at the bottom of the screen that change while the command runs.
const TICKER: u16 = 16;

fn args(desk: &Desk, password: &str) -> Args {
    Args {
        target: desk.id.clone(),
        server: Some(desk.servers.rendezvous.to_string()),
        key: desk.servers.key.clone(),
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
        no_audio: false,
        json: true,
    }
}

/// Runs the command on a thread of its own (it makes its own runtime); returns (success,
/// stdout, stderr).
async fn probe(args: &Args, stdin: &str) -> (bool, String, String) {
    let (args, stdin) = (args.clone(), stdin.to_owned());
    let thread = std::thread::spawn(move || {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run(&args, &mut stdin.as_bytes(), &mut out, &mut err);
        let success = format!("{code:?}") == format!("{:?}", ExitCode::SUCCESS);
        (
            success,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    });
    tokio::task::spawn_blocking(move || thread.join().expect("the command panicked"))
        .await
        .unwrap()
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

/// RGB24 as BGRX, for comparing with the X screen.
fn rgb_to_bgrx(rgb: &[u8]) -> Vec<u8> {
    rgb.chunks_exact(3)
        .flat_map(|p| [p[2], p[1], p[0], 0])
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_reports_json_and_dumps_frames_ffmpeg_can_read() {
    deskcast_testkit::require_tool("xclip", "xclip");
    let desk = Desk::start(u32::from(WIDTH), u32::from(HEIGHT)).await;
    let painter = Painter::new(&desk.xvfb);
    draw_desktop(&painter, WIDTH, HEIGHT);
    let screen = painter.read(0, 0, WIDTH, HEIGHT - TICKER);
    // A ticker along the bottom keeps frames coming; the rest of the screen stays put.
    let ticking = Arc::new(AtomicBool::new(true));
    let ticker = {
        let (ticking, painter) = (Arc::clone(&ticking), Painter::new(&desk.xvfb));
        std::thread::spawn(move || {
            let mut x = 0;
            while ticking.load(Ordering::Relaxed) {
                painter.fill(0, (HEIGHT - TICKER) as i16, WIDTH, TICKER, 0x202020);
                painter.fill(x, (HEIGHT - TICKER) as i16, 40, TICKER, 0xffcc00);
                x = (x + 8) % (WIDTH as i16 - 40);
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };

    let dump = tempfile::tempdir().unwrap();
    let mut args = args(&desk, "");
    args.password = None;
    args.password_stdin = true;
    args.dump = Some(dump.path().to_owned());
    args.clipboard = Some("set by the command".into());
    let (success, out, err) = probe(&args, &format!("{PASSWORD}\n")).await;
    ticking.store(false, Ordering::Relaxed);
    ticker.join().unwrap();
    assert!(success, "stdout: {out}\nstderr: {err}");
    let report: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(report["encrypted"], true);
    // Frames that arrive while the command says goodbye count too.
    let frames = report["summary"]["frames"].as_u64().expect("frames");
    assert!(frames >= 5, "{frames} frames");
    assert_eq!(report["summary"]["decode_errors"], 0);
    assert_eq!(
        report["summary"]["latency"]["samples"], frames,
        "the agent stamps every capture"
    );
    assert_eq!(report["peer_platform"], "Linux");
    assert_eq!(
        report["displays"][0]
            .as_str()
            .unwrap()
            .split(' ')
            .next()
            .unwrap(),
        format!("{WIDTH}x{HEIGHT}+0+0")
    );
    assert!(
        report["summary"]["audio"]["format"].is_null(),
        "no sound server, no audio"
    );
    assert_eq!(report["summary"]["audio"]["packets"], 0);
    assert!(report["failure"].is_null());

    let mut names: Vec<String> = std::fs::read_dir(dump.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names.len(), 5, "{names:?}");
    assert_eq!(names[0], "frame-000000.png");
    for name in &names {
        let rgb = ffmpeg_rgb(&dump.path().join(name));
        assert_eq!(rgb.len(), usize::from(WIDTH) * usize::from(HEIGHT) * 3);
        let still = rgb_to_bgrx(&rgb[..usize::from(WIDTH) * usize::from(HEIGHT - TICKER) * 3]);
        let quality = psnr(&still, &screen);
        assert!(quality >= 30.0, "{name} is {quality:.1} dB from the screen");
    }

    let xclip = || {
        desk.xvfb
            .command("xclip")
            .args(["-o", "-selection", "clipboard"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    assert!(
        eventually(Duration::from_secs(5), || xclip() == "set by the command").await,
        "--clipboard reached the desktop: {:?}",
        xclip()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_fails_clearly() {
    let desk = Desk::start(320, 240).await;
    let mut wrong = args(&desk, "not it");
    wrong.json = false;
    let (success, out, err) = probe(&wrong, "").await;
    assert!(!success, "{out}");
    assert_eq!(err.trim(), "deskcast probe: login refused: Wrong Password");

    let mut by_id_alone = wrong.clone();
    by_id_alone.server = None;
    let (success, _, err) = probe(&by_id_alone, "").await;
    assert!(!success);
    assert!(err.contains("looks like an ID"), "{err}");

    // JSON mode reports the failure as JSON too.
    let mut unknown = args(&desk, PASSWORD);
    unknown.target = "000000001".into();
    let (success, out, _) = probe(&unknown, "").await;
    assert!(!success);
    let report: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(report["error"], "ID does not exist");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_reports_the_desktop_audio() {
    use deskcast_testkit::tone::sine_stereo;
    use deskcast_testkit::{Player, PulseServer};

    let pulse = PulseServer::start();
    let desk = Desk::start_with(320, 240, &[("DESKCAST_AUDIO_SERVER", &pulse.address())]).await;
    let mut player = Player::start(&pulse, Duration::from_millis(50));
    player.write(&sine_stereo(440.0, 0.5, 48_000, 48_000 * 10));
    // An idle null sink renders up to 2 s ahead; sound that starts meanwhile (and a recording
    // that joins) waits until that block is due. Wait it out, so the runs hear the tone.
    assert!(
        eventually(Duration::from_secs(5), || sink_latency_us(&pulse) < 100_000).await,
        "the null sink stays {} µs ahead",
        sink_latency_us(&pulse)
    );
    let mut args = args(&desk, PASSWORD);
    args.frames = None;
    args.seconds = Some(1.5);

    let (success, out, err) = probe(&args, "").await;
    assert!(success, "stdout: {out}\nstderr: {err}");
    let report: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let audio = &report["summary"]["audio"];
    assert_eq!(
        audio["format"],
        serde_json::json!({ "sample_rate": 48_000, "channels": 2 })
    );
    // A second and a half of a tone is 150 packets of 10 ms; allow for the start.
    let packets = audio["packets"].as_u64().expect("packets");
    assert!(packets >= 50, "{audio}");
    assert!(audio["kbps"].as_f64().expect("kbps") > 0.0, "{audio}");
    assert_eq!(audio["decode_errors"], 0);

    args.json = false;
    let (success, out, err) = probe(&args, "").await;
    assert!(success, "stdout: {out}\nstderr: {err}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("audio: ") && l.contains("Opus packets (48000 Hz, 2 ch)")),
        "{out}"
    );

    args.json = true;
    args.no_audio = true;
    let (success, out, err) = probe(&args, "").await;
    assert!(success, "stdout: {out}\nstderr: {err}");
    let report: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert!(report["summary"]["audio"]["format"].is_null(), "{out}");
    assert_eq!(report["summary"]["audio"]["packets"], 0);
}

/// How far ahead the default (null) sink has rendered, by `pactl`.
fn sink_latency_us(pulse: &deskcast_testkit::PulseServer) -> u64 {
    let out = pulse
        .command(deskcast_testkit::require_tool("pactl", "pulseaudio-utils"))
        .args(["list", "sinks"])
        .output()
        .expect("run pactl");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|line| {
            let value = line.trim().strip_prefix("Latency: ")?;
            value.split(' ').next()?.parse().ok()
        })
        .unwrap_or(u64::MAX)
}
