//! `deskcast probe`: connect to an agent like a RustDesk client, watch the video (and listen to
//! the desktop audio) for a while and report frame rate, bitrate, latency and audio packets. The work is in [`crate::probe`]; this module
//! parses options, drives a run and words the report.

use std::fmt::Write as _;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use deskcast_codec::Codec;
use serde::Serialize;

use crate::probe::{
    AudioSummary, Error, Frame, MouseButton, Probe, ProbeConfig, Route, SessionSecurity, Summary,
    png,
};

/// How long a run watches without `--seconds` or `--frames`.
const DEFAULT_LIMIT: Duration = Duration::from_secs(10);
/// How long a run waits for `--frames` without `--seconds`.
const FRAMES_LIMIT: Duration = Duration::from_secs(60);

/// Options of `deskcast probe`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The agent: its ID (with --server), or HOST:PORT of its direct-access port (without).
    pub target: String,
    /// The rendezvous server: HOST, or HOST:PORT (port 21116 by default).
    #[arg(long, value_name = "HOST[:PORT]", env = "DESKCAST_PROBE_SERVER")]
    pub server: Option<String>,
    /// The server key (the contents of hbbs's id_ed25519.pub).
    #[arg(
        long,
        value_name = "KEY",
        env = "DESKCAST_PROBE_KEY",
        default_value = ""
    )]
    pub key: String,
    /// The password.
    #[arg(long, value_name = "PW", conflicts_with = "password_stdin")]
    pub password: Option<String>,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
    /// Stop after this many decoded frames.
    #[arg(long, value_name = "N")]
    pub frames: Option<u64>,
    /// Stop after this many seconds of watching [default: 10; 60 with --frames]. Ctrl-C
    /// stops early; the report covers what was seen.
    #[arg(long, value_name = "S")]
    pub seconds: Option<f64>,
    /// Ask the agent for this codec.
    #[arg(long, value_enum)]
    pub codec: Option<CodecArg>,
    /// Write every decoded frame into DIR (frame-NNNNNN.png, or .yuv with --dump-format yuv).
    #[arg(long, value_name = "DIR")]
    pub dump: Option<PathBuf>,
    /// How --dump writes frames.
    #[arg(long, value_enum, default_value = "png")]
    pub dump_format: DumpFormat,
    /// Click the left button at X,Y after logging in.
    #[arg(long, value_name = "X,Y", value_parser = parse_point)]
    pub click: Option<(i32, i32)>,
    /// Type TEXT after logging in (translate mode).
    #[arg(long, value_name = "TEXT")]
    pub r#type: Option<String>,
    /// Set the agent's clipboard to TEXT after logging in.
    #[arg(long, value_name = "TEXT")]
    pub clipboard: Option<String>,
    /// Fail unless the session is end-to-end encrypted.
    #[arg(long)]
    pub require_encryption: bool,
    /// Do not ask for the desktop audio.
    #[arg(long)]
    pub no_audio: bool,
    /// Print one JSON object at the end instead of text.
    #[arg(long)]
    pub json: bool,
}

/// A codec the probe can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CodecArg {
    /// VP9.
    Vp9,
    /// VP8.
    Vp8,
    /// H.264.
    H264,
}

impl From<CodecArg> for Codec {
    fn from(codec: CodecArg) -> Self {
        match codec {
            CodecArg::Vp9 => Self::Vp9,
            CodecArg::Vp8 => Self::Vp8,
            CodecArg::H264 => Self::H264,
        }
    }
}

/// How dumped frames are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DumpFormat {
    /// RGB PNG.
    Png,
    /// Raw I420 planes (FFmpeg's yuv420p), one file per frame.
    Yuv,
}

fn parse_point(text: &str) -> Result<(i32, i32), String> {
    let (x, y) = text
        .split_once(',')
        .ok_or_else(|| format!("{text:?}: expected X,Y"))?;
    let coordinate = |v: &str| v.trim().parse::<i32>().map_err(|e| format!("{v:?}: {e}"));
    Ok((coordinate(x)?, coordinate(y)?))
}

/// Runs the probe and writes its report to `out` (JSON with `--json`), or the reason it could
/// not run to `err` (and, with `--json`, as `{"error": …}` to `out`). The exit code is
/// non-zero when it could not connect or log in, when no frame was decoded, or when a frame or
/// an audio packet failed to decode.
pub fn run(
    args: &Args,
    stdin: &mut dyn BufRead,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> ExitCode {
    let outcome = config(args, stdin).and_then(|config| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|source| Error::Io {
                what: "starting the runtime",
                source,
            })?;
        runtime.block_on(watch(args, config, out))
    });
    let written = match &outcome {
        Ok(report) if args.json => serde_json::to_string_pretty(report)
            .map_err(std::io::Error::other)
            .and_then(|json| writeln!(out, "{json}")),
        Ok(report) => out.write_all(report_text(report).as_bytes()),
        Err(error) if args.json => {
            writeln!(out, "{}", serde_json::json!({ "error": error.to_string() }))
        }
        Err(_) => Ok(()),
    };
    let failure = match (outcome, written) {
        (Err(error), _) => Some(error.to_string()),
        (Ok(_), Err(error)) => Some(format!("cannot write the report: {error}")),
        (Ok(report), Ok(())) => return exit_code(report.failure.is_none()),
    };
    if let Some(failure) = failure {
        let _ = writeln!(err, "deskcast probe: {failure}");
    }
    ExitCode::FAILURE
}

fn exit_code(success: bool) -> ExitCode {
    if success {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn config(args: &Args, stdin: &mut dyn BufRead) -> Result<ProbeConfig, Error> {
    let mut config = match &args.server {
        Some(server) => ProbeConfig::rendezvous(server, &args.key, &args.target),
        None if args.target.contains(':') => ProbeConfig::direct(&args.target),
        None => {
            return Err(Error::Config(format!(
                "{:?} looks like an ID: give the rendezvous server with --server (and its key \
                 with --key), or give HOST:PORT to connect directly",
                args.target
            )));
        }
    };
    let password = if args.password_stdin {
        let mut line = String::new();
        stdin.read_line(&mut line).map_err(|source| Error::Io {
            what: "reading the password from standard input",
            source,
        })?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        args.password.clone().unwrap_or_default()
    };
    config = config.password(&password);
    if let Some(codec) = args.codec {
        config = config.prefer(codec.into());
    }
    config.require_encryption = args.require_encryption;
    config.audio = !args.no_audio;
    // Audio is decoded and counted, not kept.
    config.audio_queue = 0;
    config.keep_pictures = args.dump.is_some();
    // Without dumping, frames are only counted; keep a few for the per-frame lines.
    config.frame_queue = 64;
    Ok(config)
}

/// What a run found, for the text or JSON report.
#[derive(Debug, Serialize)]
struct Report {
    target: String,
    route: String,
    encrypted: bool,
    insecure_reason: Option<String>,
    peer_platform: String,
    peer_version: String,
    displays: Vec<String>,
    summary: Summary,
    clipboard_received: Vec<String>,
    /// Why the run counts as failed, when it does.
    failure: Option<String>,
}

async fn watch(args: &Args, config: ProbeConfig, out: &mut dyn Write) -> Result<Report, Error> {
    let mut probe = Probe::connect(config).await?;
    let route = route_text(probe.route());
    let security = probe.security().clone();
    if !args.json {
        let _ = writeln!(
            out,
            "connected to {} {route} ({})",
            args.target,
            security_text(&security)
        );
    }
    act(args, &probe)?;
    if let Some(dir) = &args.dump {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            what: "creating the dump directory",
            source,
        })?;
    }
    let limit = match (args.seconds, args.frames) {
        (Some(seconds), _) => Duration::try_from_secs_f64(seconds)
            .map_err(|e| Error::Config(format!("--seconds {seconds}: {e}")))?,
        // A static screen sends nothing: give up on the count after a minute.
        (None, Some(_)) => FRAMES_LIMIT,
        (None, None) => DEFAULT_LIMIT,
    };
    let started = Instant::now();
    let mut seen = 0u64;
    let mut end_error = None;
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    while args.frames.is_none_or(|n| seen < n) {
        let left = limit.saturating_sub(started.elapsed());
        if left.is_zero() {
            break;
        }
        let next = tokio::select! {
            next = probe.next_frame(left.min(Duration::from_secs(1))) => next,
            // Ctrl-C ends the run early; the report covers what was seen.
            _ = &mut interrupted => break,
        };
        match next {
            Ok(frame) => {
                seen += 1;
                if !args.json {
                    let _ = writeln!(out, "{}", frame_line(&frame));
                }
                if let Some(dir) = &args.dump {
                    dump(dir, args.dump_format, &frame)?;
                }
            }
            Err(Error::Timeout(_)) => {}
            Err(error) => {
                end_error = Some(error);
                break;
            }
        }
    }
    let clipboard_received = probe.clipboard_updates();
    let peer = probe.peer_info().clone();
    let summary = probe.close().await;
    let failure = match end_error {
        Some(error) => Some(error.to_string()),
        None if summary.frames == 0 => Some("no video frame was decoded".to_owned()),
        None if summary.decode_errors > 0 => {
            Some(format!("{} frames failed to decode", summary.decode_errors))
        }
        None if summary.audio.decode_errors > 0 => Some(format!(
            "{} audio packets failed to decode",
            summary.audio.decode_errors
        )),
        None => None,
    };
    Ok(Report {
        target: args.target.clone(),
        route,
        encrypted: security.encrypted,
        insecure_reason: security.reason,
        peer_platform: peer.platform,
        peer_version: peer.version,
        displays: peer
            .displays
            .iter()
            .map(|d| format!("{}x{}+{}+{} {}", d.width, d.height, d.x, d.y, d.name))
            .collect(),
        summary,
        clipboard_received,
        failure,
    })
}

/// The actions asked for on the command line, right after login.
fn act(args: &Args, probe: &Probe) -> Result<(), Error> {
    if let Some(text) = &args.clipboard {
        probe.set_clipboard(text)?;
    }
    if let Some((x, y)) = args.click {
        probe.click(x, y, MouseButton::Left)?;
    }
    if let Some(text) = &args.r#type {
        probe.type_text(text)?;
    }
    Ok(())
}

fn dump(dir: &Path, format: DumpFormat, frame: &Frame) -> Result<(), Error> {
    let Some(picture) = &frame.picture else {
        return Ok(());
    };
    let (name, bytes) = match format {
        DumpFormat::Png => (
            format!("frame-{:06}.png", frame.index),
            png::encode_bgra(picture.width(), picture.height(), &picture.to_bgra()),
        ),
        DumpFormat::Yuv => (
            format!("frame-{:06}.yuv", frame.index),
            picture.as_bytes().to_vec(),
        ),
    };
    std::fs::write(dir.join(name), bytes).map_err(|source| Error::Io {
        what: "writing a dumped frame",
        source,
    })
}

fn route_text(route: &Route) -> String {
    match route {
        Route::RelayedByAgent { relay, .. } => format!("through relay {relay}"),
        Route::RelayedByProbe { relay, .. } => {
            format!("through relay {relay} (asked by the probe)")
        }
        Route::Direct { addr } => format!("directly at {addr}"),
    }
}

fn security_text(security: &SessionSecurity) -> String {
    match &security.reason {
        None => "encrypted".to_owned(),
        Some(reason) => format!("NOT encrypted: {reason}"),
    }
}

fn frame_line(frame: &Frame) -> String {
    let mut line = format!(
        "frame {:>6} {:<4} {} {}x{} {:>8} B decode {:>6.2} ms",
        frame.index,
        frame.codec,
        if frame.keyframe { "key" } else { "   " },
        frame.width,
        frame.height,
        frame.encoded_bytes,
        frame.decode_time.as_secs_f64() * 1000.0,
    );
    if let Some(latency) = frame.latency {
        let _ = write!(line, " latency {:>7.2} ms", latency.as_secs_f64() * 1000.0);
    }
    line
}

fn audio_line(audio: &AudioSummary) -> String {
    match audio.format {
        None => "audio: none (the agent announced no audio)".to_owned(),
        Some(format) => format!(
            "audio: {} Opus packets ({} Hz, {} ch) in {:.2} s: {:.0} kbit/s, {} failed to decode",
            audio.packets,
            format.sample_rate,
            format.channels,
            audio.seconds,
            audio.kbps,
            audio.decode_errors
        ),
    }
}

fn report_text(report: &Report) -> String {
    let s = &report.summary;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "peer: {} {} displays [{}]",
        report.peer_platform,
        report.peer_version,
        report.displays.join(", ")
    );
    let _ = writeln!(
        out,
        "frames: {} ({} key) in {:.2} s: {:.1} fps, {:.0} kbit/s",
        s.frames, s.keyframes, s.seconds, s.fps, s.kbps
    );
    match &s.latency {
        Some(p) => {
            let _ = writeln!(
                out,
                "latency capture→decoded: median {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} frames)",
                p.median_ms, p.p99_ms, p.max_ms, p.samples
            );
        }
        None => {
            let _ = writeln!(
                out,
                "latency capture→decoded: not measurable (the agent's clock is not this \
                 machine's); see the round trip"
            );
        }
    }
    if let Some(p) = &s.rtt {
        let _ = writeln!(
            out,
            "round trip (TestDelay): median {:.2} ms, p99 {:.2} ms ({} samples)",
            p.median_ms, p.p99_ms, p.samples
        );
    }
    if let Some(rtt) = s.agent_rtt_ms {
        let _ = writeln!(out, "round trip measured by the agent: {rtt} ms");
    }
    if let Some(p) = &s.decode {
        let _ = writeln!(
            out,
            "decode: median {:.2} ms, p99 {:.2} ms",
            p.median_ms, p.p99_ms
        );
    }
    let _ = writeln!(out, "{}", audio_line(&s.audio));
    let _ = writeln!(out, "decode errors: {}", s.decode_errors);
    for error in &s.errors {
        let _ = writeln!(out, "  {error}");
    }
    for text in &report.clipboard_received {
        let _ = writeln!(out, "clipboard received: {text:?}");
    }
    if let Some(failure) = &report.failure {
        let _ = writeln!(out, "FAILED: {failure}");
    }
    out
}
