//! `deskcast encode-stream` on a real Xvfb: what it writes is a stream ffmpeg decodes, frame for
//! frame as the stats file lists them, ending on what the screen showed last.

use std::process::Command;
use std::time::{Duration, Instant};

use deskcast::cli::encode_stream::{self, Args, BackendArg};
use deskcast::cli::probe::CodecArg;
use deskcast_testkit::require_tool;

use crate::x11::{Painter, xvfb};

const WIDTH: u32 = 320;
const HEIGHT: u32 = 240;
/// The colour painted last, 0xRRGGBB.
const LAST: u32 = 0x20c040;

/// Streams `codec` for 2 s while a painter changes the screen, then decodes it with ffmpeg.
fn stream_and_decode(codec: CodecArg, demuxer: &str) {
    let ffmpeg = require_tool("ffmpeg", "ffmpeg");
    let server = xvfb(WIDTH, HEIGHT);
    let painter = Painter::new(&server);
    let dir = tempfile::tempdir().unwrap();
    let stats = dir.path().join("stats.jsonl");
    let args = Args {
        display: Some(server.display().to_owned()),
        codec,
        backend: BackendArg::Software,
        fps: 30,
        bitrate: 1000,
        seconds: Some(2.0),
        warmup: 0.5,
        stats: Some(stats.clone()),
        list_encoders: false,
    };
    let streamer = std::thread::spawn(move || {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        encode_stream::run(&args, None, &mut out, &mut err).expect("encode-stream runs");
        (out, err)
    });
    // Change the screen for a second, then show one last colour and hold it.
    let started = Instant::now();
    let mut colour = 0x101010;
    while started.elapsed() < Duration::from_millis(1000) {
        colour = (colour + 0x0a0705) & 0x7f7f7f;
        painter.fill(40, 30, 200, 150, colour);
        std::thread::sleep(Duration::from_millis(40));
    }
    painter.fill(0, 0, WIDTH as u16, HEIGHT as u16, LAST);
    let (stream, err) = streamer.join().unwrap();

    let summary: serde_json::Value =
        serde_json::from_slice(err.trim_ascii()).expect("one JSON summary line");
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&stats)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each stats line is JSON"))
        .collect();
    assert!(
        lines.len() > 3,
        "a changing screen gives frames ({} here)",
        lines.len()
    );
    assert_eq!(summary["frames"], lines.len());
    assert_eq!(
        lines[0]["keyframe"], true,
        "the stream starts with a keyframe"
    );
    for (k, line) in lines.iter().enumerate() {
        assert_eq!(line["frame"], k);
        let (captured, taken) = (
            line["captured_us"].as_u64().unwrap(),
            line["taken_us"].as_u64().unwrap(),
        );
        assert!(taken >= captured, "a packet is taken after its capture");
        assert!(line["allocs"].is_null(), "this build counts no allocations");
    }
    let bytes: u64 = lines.iter().map(|l| l["bytes"].as_u64().unwrap()).sum();
    assert_eq!(summary["bytes"], bytes);

    let path = dir.path().join("stream");
    std::fs::write(&path, &stream).unwrap();
    let decoded = Command::new(ffmpeg)
        .args(["-hide_banner", "-loglevel", "error", "-f", demuxer, "-i"])
        .arg(&path)
        .args([
            "-f",
            "rawvideo",
            "-pix_fmt",
            "bgra",
            "-fps_mode",
            "passthrough",
            "pipe:1",
        ])
        .output()
        .unwrap();
    assert!(
        decoded.status.success(),
        "ffmpeg decodes the stream: {}",
        String::from_utf8_lossy(&decoded.stderr)
    );
    let frame_len = (WIDTH * HEIGHT * 4) as usize;
    assert_eq!(
        decoded.stdout.len(),
        lines.len() * frame_len,
        "ffmpeg decodes one picture per listed frame"
    );
    let last = &decoded.stdout[decoded.stdout.len() - frame_len..];
    let centre = (HEIGHT as usize / 2 * WIDTH as usize + WIDTH as usize / 2) * 4;
    let want = [LAST & 0xff, (LAST >> 8) & 0xff, (LAST >> 16) & 0xff];
    for (channel, want) in want.iter().enumerate() {
        let got = u32::from(last[centre + channel]);
        assert!(
            got.abs_diff(*want) <= 12,
            "the last picture shows the last colour: channel {channel} is {got}, want {want}"
        );
    }
}

#[test]
fn vp9_comes_out_as_ivf_that_ffmpeg_decodes() {
    stream_and_decode(CodecArg::Vp9, "ivf");
}

#[test]
fn vp8_comes_out_as_ivf_that_ffmpeg_decodes() {
    stream_and_decode(CodecArg::Vp8, "ivf");
}

#[test]
fn h264_comes_out_as_annex_b_that_ffmpeg_decodes() {
    stream_and_decode(CodecArg::H264, "h264");
}

#[test]
fn the_encoder_list_is_json_lines_with_software_vp9_available() {
    let args = Args {
        display: None,
        codec: CodecArg::Vp9,
        backend: BackendArg::Software,
        fps: 30,
        bitrate: 1000,
        seconds: None,
        warmup: 1.0,
        stats: None,
        list_encoders: true,
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    encode_stream::run(&args, None, &mut out, &mut err).unwrap();
    let entries: Vec<serde_json::Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let vp9 = entries
        .iter()
        .find(|e| e["backend"] == "software" && e["codec"] == "vp9")
        .expect("software VP9 is listed");
    assert_eq!(vp9["available"], true);
    assert!(
        entries
            .iter()
            .all(|e| e["available"] == true || e["reason"].is_string()),
        "every unavailable encoder says why"
    );
}
