//! From a pipeline's [`Run`] to its figures: decode the stream with ffmpeg, read each frame's
//! marker and score it against the re-rendered scene frame (`deskcast-scene score`), join frame
//! arrival times with the times the scene put those frames on screen, and sum it all up over the
//! measurement window.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

use super::agent::EndToEnd;
use super::pipeline::Run;
use super::procfs::Usage;

/// The scene player's log: when each frame went on screen.
#[derive(Debug, Clone, Default)]
pub(crate) struct PlayLog {
    /// (frame index, canonical frame, ns since the Unix epoch), in order.
    pub(crate) shown: Vec<(u64, u64, u128)>,
    /// Frames the player skipped because it fell behind.
    pub(crate) skipped: u64,
}

impl PlayLog {
    /// Parses `index<TAB>canonical<TAB>unix_ns` lines and a final `# skipped N`.
    pub(crate) fn parse(text: &str) -> anyhow::Result<Self> {
        let mut log = Self::default();
        for (n, line) in text.lines().enumerate() {
            if let Some(rest) = line.strip_prefix("# skipped ") {
                log.skipped = rest
                    .trim()
                    .parse()
                    .with_context(|| format!("play log line {}", n + 1))?;
                continue;
            }
            let fields: Vec<&str> = line.split('\t').collect();
            let [index, canonical, ns] = fields[..] else {
                bail!(
                    "play log line {} is not index, canonical, time: {line:?}",
                    n + 1
                );
            };
            let parse = |v: &str| {
                v.parse::<u128>()
                    .with_context(|| format!("play log line {}: {v:?}", n + 1))
            };
            log.shown
                .push((parse(index)? as u64, parse(canonical)? as u64, parse(ns)?));
        }
        Ok(log)
    }

    /// When each canonical frame first went on screen.
    pub(crate) fn first_shown(&self) -> HashMap<u64, u128> {
        let mut first = HashMap::new();
        for &(_, canonical, ns) in &self.shown {
            first.entry(canonical).or_insert(ns);
        }
        first
    }
}

/// One decoded frame: the marker read from it and its error against the reference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Scored {
    pub(crate) marker: Option<u64>,
    pub(crate) mse: Option<f64>,
}

/// Parses `deskcast-scene score` output: one line per frame, then `# frames N`.
pub(crate) fn parse_scores(text: &str) -> anyhow::Result<Vec<Scored>> {
    let mut frames = Vec::new();
    let mut total = None;
    for line in text.lines() {
        if let Some(n) = line.strip_prefix("# frames ") {
            total = Some(n.trim().parse::<usize>()?);
            continue;
        }
        let mut fields = line.split('\t');
        let (Some(k), Some(marker), Some(mse)) = (fields.next(), fields.next(), fields.next())
        else {
            bail!("bad score line {line:?}");
        };
        if k.parse::<usize>()? != frames.len() {
            bail!("score lines out of order at {line:?}");
        }
        frames.push(Scored {
            marker: marker.parse().ok(),
            mse: mse.parse().ok(),
        });
    }
    match total {
        Some(n) if n == frames.len() => Ok(frames),
        other => bail!(
            "scorer reported {other:?} frames but printed {}",
            frames.len()
        ),
    }
}

/// Decodes `run`'s stream with ffmpeg and scores every frame with the scene binary; the first
/// `markers_only` frames only get their marker read.
pub(crate) fn score(
    scene_bin: &Path,
    scene: &str,
    size: &str,
    run: &Run,
    markers_only: usize,
) -> anyhow::Result<Vec<Scored>> {
    let mut decoder = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-nostdin",
            "-loglevel",
            "error",
            "-f",
            run.format.ffmpeg_demuxer(),
            "-i",
        ])
        .arg(&run.stream)
        .args([
            "-f",
            "rawvideo",
            "-pix_fmt",
            "bgra",
            "-fps_mode",
            "passthrough",
            "pipe:1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting the ffmpeg decoder")?;
    let frames = decoder.stdout.take().context("decoder stdout")?;
    let scorer = Command::new(scene_bin)
        .args([
            "score",
            "--scene",
            scene,
            "--size",
            size,
            "--markers-only",
            &markers_only.to_string(),
        ])
        .stdin(Stdio::from(frames))
        .stderr(Stdio::inherit())
        .output()
        .context("running deskcast-scene score")?;
    // A stream cut off mid-frame makes the decoder complain at the end; the frames are still good.
    let _ = decoder.wait();
    if !scorer.status.success() {
        bail!("deskcast-scene score failed with {}", scorer.status);
    }
    parse_scores(&String::from_utf8_lossy(&scorer.stdout))
}

/// Everything the report says about one pipeline on one scene.
#[derive(Debug, Clone)]
pub(crate) struct Measured {
    pub(crate) scene: String,
    pub(crate) pipeline: String,
    pub(crate) deskcast: bool,
    /// Encoded frames that came out during the window, and how many the frame rate asks for.
    pub(crate) frames: usize,
    pub(crate) expected: f64,
    pub(crate) bytes: usize,
    pub(crate) usage: Usage,
    /// Window frames decoded, and those whose marker could be read.
    pub(crate) decoded: usize,
    pub(crate) markers_read: usize,
    /// PSNR of the mean MSE over the window's readable frames, and of the worst frame.
    pub(crate) psnr_db: Option<f64>,
    pub(crate) psnr_min_db: Option<f64>,
    /// Screen → encoded packet, per scene change (first frame carrying it), ms.
    pub(crate) latency_ms: Vec<f64>,
    /// Scene changes put on screen during the window, and how many reached the stream.
    pub(crate) changes_shown: usize,
    pub(crate) changes_captured: usize,
    pub(crate) stage_latency_ms: Option<Vec<f64>>,
    pub(crate) end_to_end: Option<Result<EndToEnd, String>>,
    pub(crate) heap_allocs_per_frame: Option<f64>,
}

impl Measured {
    /// CPU milliseconds per encoded frame over the window.
    pub(crate) fn cpu_ms_per_frame(&self) -> Option<f64> {
        (self.frames > 0).then(|| self.usage.cpu_seconds * 1000.0 / self.frames as f64)
    }

    /// Output bitrate over the window, kbit/s.
    pub(crate) fn bitrate_kbps(&self) -> f64 {
        self.bytes as f64 * 8.0 / 1000.0 / self.usage.seconds.max(f64::MIN_POSITIVE)
    }

    /// Frames the pipeline should have produced in the window but did not.
    pub(crate) fn skipped(&self) -> f64 {
        (self.expected - self.frames as f64).max(0.0)
    }
}

/// What the pipeline was, for [`evaluate`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Who<'a> {
    pub(crate) scene: &'a str,
    pub(crate) pipeline: &'a str,
    pub(crate) deskcast: bool,
    pub(crate) fps: u32,
}

/// Sums up one run over its window.
pub(crate) fn evaluate(who: Who<'_>, run: &Run, play: &PlayLog, scored: &[Scored]) -> Measured {
    let (start, end) = run.window_ns;
    let in_window = |ns: u128| ns >= start && ns < end;
    let first_shown = play.first_shown();
    let mut seen = HashSet::new();
    let (mut frames, mut bytes, mut decoded, mut read) = (0, 0, 0, 0);
    let (mut mse_sum, mut mse_max, mut mse_n) = (0.0, 0.0f64, 0usize);
    let mut latency_ms = Vec::new();
    let mut captured = HashSet::new();
    for (k, packet) in run.packets.iter().enumerate() {
        let frame = scored.get(k);
        let marker = frame.and_then(|f| f.marker);
        let first_time = marker.is_some_and(|m| seen.insert(m));
        if !in_window(packet.arrival_ns) {
            continue;
        }
        frames += 1;
        bytes += packet.size;
        let Some(frame) = frame else {
            continue;
        };
        decoded += 1;
        let Some(marker) = marker else {
            continue;
        };
        read += 1;
        if let Some(mse) = frame.mse {
            mse_sum += mse;
            mse_max = mse_max.max(mse);
            mse_n += 1;
        }
        if let Some(&shown) = first_shown.get(&marker) {
            if first_time {
                latency_ms.push((packet.arrival_ns as f64 - shown as f64) / 1e6);
            }
            if in_window(shown) {
                captured.insert(marker);
            }
        }
    }
    let changes_shown = first_shown.values().filter(|&&ns| in_window(ns)).count();
    Measured {
        scene: who.scene.to_owned(),
        pipeline: who.pipeline.to_owned(),
        deskcast: who.deskcast,
        frames,
        expected: run.usage.seconds * f64::from(who.fps),
        bytes,
        usage: run.usage,
        decoded,
        markers_read: read,
        psnr_db: (mse_n > 0).then(|| psnr(mse_sum / mse_n as f64)),
        psnr_min_db: (mse_n > 0).then(|| psnr(mse_max)),
        latency_ms,
        changes_shown,
        changes_captured: captured.len(),
        stage_latency_ms: run.stage_latency_ms.clone(),
        end_to_end: run.end_to_end.clone(),
        heap_allocs_per_frame: run.heap_allocs_per_frame,
    }
}

/// PSNR in dB of an 8-bit MSE (the scenes crate's definition), capped at 99 dB for identical
/// pictures so tables and plots stay finite.
fn psnr(mse: f64) -> f64 {
    if mse <= 0.0 {
        return 99.0;
    }
    (10.0 * (255.0 * 255.0 / mse).log10()).min(99.0)
}

/// Order statistics of a sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Summary {
    pub(crate) count: usize,
    pub(crate) mean: f64,
    pub(crate) min: f64,
    pub(crate) p5: f64,
    pub(crate) p25: f64,
    pub(crate) median: f64,
    pub(crate) p75: f64,
    pub(crate) p95: f64,
    pub(crate) p99: f64,
    pub(crate) max: f64,
}

/// Summarises `values` (linear interpolation between order statistics); `None` when empty.
pub(crate) fn summarize(values: &[f64]) -> Option<Summary> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let q = |p: f64| {
        let pos = p * (v.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
    };
    Some(Summary {
        count: v.len(),
        mean: v.iter().sum::<f64>() / v.len() as f64,
        min: v[0],
        p5: q(0.05),
        p25: q(0.25),
        median: q(0.5),
        p75: q(0.75),
        p95: q(0.95),
        p99: q(0.99),
        max: v[v.len() - 1],
    })
}

#[cfg(test)]
mod tests;
