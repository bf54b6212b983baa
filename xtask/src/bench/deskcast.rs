//! deskcast's own runs, plugged into the harness through [`Pipeline`].
//!
//! Each pipeline runs `deskcast encode-stream` (a hidden subcommand): the agent's real capture
//! thread (`pipeline::display::Display` — damage-driven MIT-SHM capture, the shared encoder
//! group, latest frame wins) with one subscriber that writes every encoded frame to stdout, IVF
//! for VP8/VP9 and Annex B for H.264. [`run_process`] then measures it exactly like the peers'
//! `ffmpeg -f x11grab … pipe:1`: CPU per frame of the process, bitrate, PSNR through the frame
//! markers, screen → packet latency, peak RSS, wake-ups. Its `--stats` side file (one JSON line
//! per frame, written as each frame is taken) adds what only deskcast can tell: capture → packet
//! on its own monotonic clock ([`Run::stage_latency_ms`]) and, since the benchmark builds it
//! with the `alloc-count` feature, heap allocations per frame in the window
//! ([`Run::heap_allocs_per_frame`]).
//!
//! The pipeline of [`DEFAULT_CODEC`] — the codec the agent gives a stock RustDesk client on a
//! machine without NVENC — also runs the agent end to end ([`super::agent`]): `deskcast run`
//! registered with the loopback test servers and `deskcast probe` watching through the relay,
//! which fills [`Run::end_to_end`]; on the static scene it also measures the agent's idle cost.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::rc::Rc;

use anyhow::{Context, bail};

use super::agent::{Binaries, EndToEndBench};
use super::pipeline::{Availability, Pipeline, Run, Target, run_process};
use super::stream::{Packet, StreamFormat};

/// The codec the agent picks for a client that states no preference when NVENC is absent
/// (`session::codec_choice`): the end-to-end runs use it.
pub(crate) const DEFAULT_CODEC: &str = "vp9";
/// The deskcast pipeline the software goal is judged on (the report lists every pair).
pub(crate) const COMPARISON: &str = "deskcast-vp9";
/// Seconds encode-stream runs past the harness's window, should the harness not stop it.
const SPARE_SECONDS: f64 = 10.0;

/// Builds the release binaries the deskcast pipelines run.
pub(crate) fn build(root: &Path) -> anyhow::Result<Binaries> {
    println!("bench: building deskcast (release, alloc-count) and deskcast-test-servers");
    crate::ci::cargo(
        root,
        &[
            "build",
            "--release",
            "--locked",
            "-p",
            "deskcast",
            "--bin",
            "deskcast",
            "--features",
            "alloc-count",
            "-p",
            "deskcast-testkit",
            "--bin",
            "deskcast-test-servers",
        ],
        &[],
    )?;
    let release = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), PathBuf::from)
        .join("release");
    Ok(Binaries {
        deskcast: release.join("deskcast"),
        servers: release.join("deskcast-test-servers"),
    })
}

/// Every deskcast pipeline, in report order; with no binaries (none selected), only their
/// names.
pub(crate) fn all(binaries: Option<Binaries>) -> Vec<Box<dyn Pipeline>> {
    let encoders = binaries.as_ref().map_or_else(
        || Err("not built".to_owned()),
        |b| list_encoders(&b.deskcast),
    );
    let binaries = binaries.map(Rc::new);
    let e2e = binaries
        .as_ref()
        .map(|b| Rc::new(EndToEndBench::new(Binaries::clone(b))));
    let mut all: Vec<Box<dyn Pipeline>> = Vec::new();
    for (backend, codec) in [
        ("software", "vp9"),
        ("software", "vp8"),
        ("software", "h264"),
        ("nvenc", "h264"),
    ] {
        let availability = match (&binaries, &encoders) {
            (None, _) => Availability::Missing("not selected".into()),
            (Some(_), Err(e)) => Availability::Missing(format!("not measured: {e}")),
            (Some(_), Ok(map)) => match map.get(&(backend.to_owned(), codec.to_owned())) {
                Some(None) => Availability::Ready,
                Some(Some(reason)) if backend == "nvenc" => {
                    // Keep the reason short: drop the list of library names tried.
                    let reason = reason.split(" (tried").next().unwrap_or(reason);
                    Availability::Missing(format!("not measured: no NVENC ({reason})"))
                }
                Some(Some(reason)) => Availability::Missing(format!("not measured: {reason}")),
                None => Availability::Missing(format!(
                    "not measured: this build has no {backend} {codec} encoder"
                )),
            },
        };
        all.push(Box::new(EncodeStream {
            id: if backend == "software" {
                format!("deskcast-{codec}")
            } else {
                format!("deskcast-{backend}-{codec}")
            },
            label: format!("deskcast encode-stream, {backend} {}", codec.to_uppercase()),
            backend,
            codec,
            availability,
            binaries: binaries.clone(),
            e2e: (backend == "software" && codec == DEFAULT_CODEC)
                .then(|| e2e.clone())
                .flatten(),
        }));
    }
    all
}

/// True for the deskcast pipelines that encode on the CPU.
pub(crate) fn is_software(id: &str) -> bool {
    id.starts_with("deskcast-") && !id.starts_with("deskcast-nvenc")
}

/// `deskcast encode-stream --list-encoders`: (backend, codec) → `None` when available, else why
/// not.
fn list_encoders(deskcast: &Path) -> Result<HashMap<(String, String), Option<String>>, String> {
    let out = Command::new(deskcast)
        .args(["encode-stream", "--list-encoders"])
        .env("RUST_LOG", "error")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", deskcast.display()))?;
    if !out.status.success() {
        return Err(format!(
            "deskcast encode-stream --list-encoders failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    parse_encoders(&String::from_utf8_lossy(&out.stdout)).map_err(|e| format!("{e:#}"))
}

/// Parses `--list-encoders` output: one JSON object per line.
pub(crate) fn parse_encoders(
    text: &str,
) -> anyhow::Result<HashMap<(String, String), Option<String>>> {
    let mut map = HashMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("encoder line {line:?}"))?;
        let field = |key: &str| {
            v.get(key)
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
                .with_context(|| format!("encoder line without {key}: {line:?}"))
        };
        let available = v
            .get("available")
            .and_then(serde_json::Value::as_bool)
            .with_context(|| format!("encoder line without available: {line:?}"))?;
        let reason = (!available).then(|| field("reason").unwrap_or_else(|_| "unavailable".into()));
        map.insert((field("backend")?, field("codec")?), reason);
    }
    Ok(map)
}

/// One `deskcast encode-stream` configuration.
struct EncodeStream {
    id: String,
    label: String,
    backend: &'static str,
    codec: &'static str,
    availability: Availability,
    binaries: Option<Rc<Binaries>>,
    /// The end-to-end runner, on the default codec's pipeline only.
    e2e: Option<Rc<EndToEndBench>>,
}

impl EncodeStream {
    fn format(&self) -> StreamFormat {
        if self.codec == "h264" {
            StreamFormat::H264
        } else {
            StreamFormat::Ivf
        }
    }

    fn args(&self, target: &Target<'_>, stats: &Path) -> Vec<String> {
        let seconds = (target.warmup + target.window).as_secs_f64() + SPARE_SECONDS;
        [
            "encode-stream",
            "--display",
            target.display,
            "--codec",
            self.codec,
            "--backend",
            self.backend,
        ]
        .map(String::from)
        .into_iter()
        .chain([
            "--fps".into(),
            target.fps.to_string(),
            "--bitrate".into(),
            target.bitrate_kbps.to_string(),
            "--seconds".into(),
            format!("{seconds:.1}"),
            "--warmup".into(),
            format!("{:.1}", target.warmup.as_secs_f64()),
            "--stats".into(),
            stats.display().to_string(),
        ])
        .collect()
    }
}

impl Pipeline for EncodeStream {
    fn id(&self) -> &str {
        &self.id
    }
    fn label(&self) -> &str {
        &self.label
    }
    fn is_deskcast(&self) -> bool {
        true
    }
    fn availability(&self) -> Availability {
        self.availability.clone()
    }
    fn settings(&self, target: &Target<'_>) -> String {
        let mut text = std::iter::once("deskcast".to_owned())
            .chain(self.args(target, Path::new("STATS.jsonl")))
            .collect::<Vec<_>>()
            .join(" ");
        if let Some(e2e) = &self.e2e {
            text.push_str("\n  end to end: ");
            text.push_str(&e2e.describe(self.codec, target));
        }
        text
    }
    fn run(&self, target: &Target<'_>) -> anyhow::Result<Run> {
        let Some(binaries) = &self.binaries else {
            bail!("the deskcast binaries were not built");
        };
        let stats = target.work_dir.join(format!("{}.stats.jsonl", self.id));
        let mut command = Command::new(&binaries.deskcast);
        command
            .args(self.args(target, &stats))
            .env("RUST_LOG", "warn");
        let mut run = run_process(&self.id, command, self.format(), target)?;
        let text = std::fs::read_to_string(&stats)
            .with_context(|| format!("reading {}", stats.display()))?;
        let records = parse_stats(&text)?;
        let window = window_figures(&run.packets, &records, run.window_ns);
        run.stage_latency_ms = Some(window.stage_latency_ms);
        run.heap_allocs_per_frame = window.allocs_per_frame;
        if let Some(e2e) = &self.e2e {
            println!(
                "bench: {} × deskcast end to end ({})",
                target.scene, self.codec
            );
            run.end_to_end = Some(
                e2e.run(target, self.codec, target.scene == "static")
                    .map_err(|e| format!("{e:#}")),
            );
        }
        Ok(run)
    }
}

/// One line of encode-stream's `--stats` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FrameRecord {
    pub(crate) frame: u64,
    pub(crate) captured_us: u64,
    pub(crate) taken_us: u64,
    pub(crate) bytes: u64,
    pub(crate) keyframe: bool,
    pub(crate) allocs: Option<u64>,
}

/// Parses the `--stats` file; a last line cut off by the kill is ignored.
pub(crate) fn parse_stats(text: &str) -> anyhow::Result<Vec<FrameRecord>> {
    let mut records = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    for (n, line) in lines.iter().enumerate() {
        let parsed = serde_json::from_str::<serde_json::Value>(line)
            .ok()
            .and_then(|v| {
                let number = |key: &str| v.get(key).and_then(serde_json::Value::as_u64);
                Some(FrameRecord {
                    frame: number("frame")?,
                    captured_us: number("captured_us")?,
                    taken_us: number("taken_us")?,
                    bytes: number("bytes")?,
                    keyframe: v.get("keyframe")?.as_bool()?,
                    allocs: number("allocs"),
                })
            });
        match parsed {
            Some(record) if record.frame == records.len() as u64 => records.push(record),
            Some(record) => bail!(
                "stats line {} is frame {} where frame {} was due",
                n + 1,
                record.frame,
                records.len()
            ),
            None if n + 1 == lines.len() && !text.ends_with('\n') => {}
            None => bail!("stats line {} is not a frame record: {line:?}", n + 1),
        }
    }
    Ok(records)
}

/// What the stats say about the frames that arrived in the measurement window.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WindowFigures {
    /// Capture → packet taken, per window frame, ms.
    pub(crate) stage_latency_ms: Vec<f64>,
    /// Heap allocations per frame between the first and the last window frame.
    pub(crate) allocs_per_frame: Option<f64>,
}

/// Joins the stream's packets (frame k is stats record k) with the window.
pub(crate) fn window_figures(
    packets: &[Packet],
    records: &[FrameRecord],
    window_ns: (u128, u128),
) -> WindowFigures {
    let in_window: Vec<&FrameRecord> = packets
        .iter()
        .zip(records)
        .filter(|(p, _)| p.arrival_ns >= window_ns.0 && p.arrival_ns < window_ns.1)
        .map(|(_, r)| r)
        .collect();
    let stage_latency_ms = in_window
        .iter()
        .map(|r| r.taken_us.saturating_sub(r.captured_us) as f64 / 1000.0)
        .collect();
    let counted: Vec<(u64, u64)> = in_window
        .iter()
        .filter_map(|r| Some((r.frame, r.allocs?)))
        .collect();
    let allocs_per_frame = match (counted.first(), counted.last()) {
        (Some(&(f0, a0)), Some(&(f1, a1))) if f1 > f0 => {
            Some(a1.saturating_sub(a0) as f64 / (f1 - f0) as f64)
        }
        _ => None,
    };
    WindowFigures {
        stage_latency_ms,
        allocs_per_frame,
    }
}

#[cfg(test)]
mod tests;
