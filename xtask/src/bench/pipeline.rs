//! The extension point: a [`Pipeline`] captures an X display and encodes it; the harness
//! measures every pipeline the same way.
//!
//! A pipeline's job is small: given a [`Target`] (display, scene, frame rate, bitrate, warm-up
//! and measurement window), produce a [`Run`]: the encoded stream, when each frame of it came
//! out, and what the process cost during the window. The harness does the rest for every
//! pipeline alike: decodes the stream with ffmpeg, reads each frame's marker, scores it against
//! the re-rendered scene frame, joins frame arrival times with the times the scene put those
//! frames on screen, and writes the report.
//!
//! The peers are external processes and use [`run_process`]. deskcast's own runner implements
//! the same trait; besides the stream it can fill the fields only it can measure
//! ([`Run::stage_latency_ms`], [`Run::end_to_end`], [`Run::heap_allocs_per_frame`]).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::agent::EndToEnd;
use super::procfs::{self, Usage};
use super::stream::{self, Packet, Recorder, StreamFormat};

/// What every pipeline is asked to do in one run.
#[derive(Debug, Clone)]
pub(crate) struct Target<'a> {
    /// The X display showing the scene, e.g. `:7`.
    pub(crate) display: &'a str,
    /// The scene on it (its name), for file names and logs.
    pub(crate) scene: &'a str,
    /// Screen width and height.
    pub(crate) width: u32,
    pub(crate) height: u32,
    /// Frames per second to capture and encode.
    pub(crate) fps: u32,
    /// Target bitrate, kbit/s.
    pub(crate) bitrate_kbps: u32,
    /// Time to let the pipeline start and settle before measuring.
    pub(crate) warmup: Duration,
    /// The measurement window after the warm-up.
    pub(crate) window: Duration,
    /// A directory for this run's files.
    pub(crate) work_dir: &'a Path,
}

impl Target<'_> {
    /// `WIDTHxHEIGHT`.
    pub(crate) fn size(&self) -> String {
        format!("{}x{}", self.width, self.height)
    }

    /// A VBV/HRD buffer of 1.5 frame intervals at the target bitrate, in kbit (what Selkies uses
    /// for its software encoders).
    pub(crate) fn vbv_kbit(&self) -> u32 {
        (self.bitrate_kbps * 3 / (2 * self.fps.max(1))).max(1)
    }
}

/// Whether a pipeline can run on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Availability {
    /// It can run.
    Ready,
    /// It cannot run here (the reason reads "not measured: …" in the report).
    Missing(String),
}

/// A capture-and-encode pipeline under test.
pub(crate) trait Pipeline {
    /// A short identifier, e.g. `ffmpeg-x264` (file names, `--pipelines`).
    fn id(&self) -> &str;
    /// The name in the report, e.g. `ffmpeg x11grab + libx264`.
    fn label(&self) -> &str;
    /// Whether this is deskcast (the report computes deskcast ÷ peer ratios).
    fn is_deskcast(&self) -> bool {
        false
    }
    /// Whether it can run here.
    fn availability(&self) -> Availability;
    /// Its settings for `target`, as the report shows them (a command line, or a description).
    fn settings(&self, target: &Target<'_>) -> String;
    /// Captures and encodes `target.display` for the warm-up plus the window.
    fn run(&self, target: &Target<'_>) -> anyhow::Result<Run>;
}

/// What one pipeline produced in one run.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    /// The encoded stream, as a file ffmpeg can decode.
    pub(crate) stream: PathBuf,
    pub(crate) format: StreamFormat,
    /// Every frame of the stream, in stream order (decoded frame k is packet k).
    pub(crate) packets: Vec<Packet>,
    /// The measurement window, ns since the Unix epoch.
    pub(crate) window_ns: (u128, u128),
    /// What the pipeline's process cost during the window.
    pub(crate) usage: Usage,
    /// deskcast only: capture → encoded packet per frame, from its own clock, ms.
    pub(crate) stage_latency_ms: Option<Vec<f64>>,
    /// deskcast only: the agent end to end — capture → decoded through the loopback relay with
    /// the probe client, and what the agent costs streaming and idle.
    pub(crate) end_to_end: Option<Result<EndToEnd, String>>,
    /// deskcast only: heap allocations per frame in steady state.
    pub(crate) heap_allocs_per_frame: Option<f64>,
}

/// Runs `command`, which must write its encoded stream to stdout in `format`, for the target's
/// warm-up and window; samples its /proc counters at both ends of the window, then kills it.
/// stderr goes to `<work_dir>/<id>.stderr`.
pub(crate) fn run_process(
    id: &str,
    mut command: Command,
    format: StreamFormat,
    target: &Target<'_>,
) -> anyhow::Result<Run> {
    let stream_path = target.work_dir.join(format!("{id}.{}", format.extension()));
    let stderr_path = target.work_dir.join(format!("{id}.stderr"));
    let stderr = File::create(&stderr_path)
        .with_context(|| format!("creating {}", stderr_path.display()))?;
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .with_context(|| format!("starting {id} on the {} scene", target.scene))?;
    let started = Instant::now();
    let stdout = child.stdout.take().context("child stdout")?;
    let reader = std::thread::spawn(move || Recorder::record(stdout));
    let ticks = procfs::ticks_per_second();

    let measured = measure_window(&mut child, started, target, ticks);
    let _ = child.kill();
    let _ = child.wait();
    let recorder = reader
        .join()
        .map_err(|_| anyhow::anyhow!("stream reader panicked"))?;
    let (usage, window_ns) = measured.map_err(|e| {
        let log = std::fs::read_to_string(&stderr_path).unwrap_or_default();
        let tail: String = log
            .lines()
            .rev()
            .take(8)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        e.context(format!("{id} failed; its stderr ends with:\n{tail}"))
    })?;
    std::fs::write(&stream_path, &recorder.data)
        .with_context(|| format!("writing {}", stream_path.display()))?;
    Ok(Run {
        packets: recorder.packets(format),
        stream: stream_path,
        format,
        window_ns,
        usage,
        stage_latency_ms: None,
        end_to_end: None,
        heap_allocs_per_frame: None,
    })
}

/// Sleeps through the warm-up, samples, sleeps through the window, samples again.
fn measure_window(
    child: &mut Child,
    started: Instant,
    target: &Target<'_>,
    ticks: u64,
) -> anyhow::Result<(Usage, (u128, u128))> {
    let pid = child.id();
    sleep_until_alive(child, started + target.warmup)?;
    let before = procfs::sample(pid)?;
    let (t0, start_ns) = (Instant::now(), stream::unix_ns());
    sleep_until_alive(child, t0 + target.window)?;
    let after = procfs::sample(pid)?;
    let (seconds, end_ns) = (t0.elapsed().as_secs_f64(), stream::unix_ns());
    Ok((
        Usage::between(before, after, seconds, ticks),
        (start_ns, end_ns),
    ))
}

/// Sleeps until `deadline`, failing early if the child exits.
fn sleep_until_alive(child: &mut Child, deadline: Instant) -> anyhow::Result<()> {
    loop {
        if let Some(status) = child.try_wait()? {
            bail!("exited early with {status}");
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(());
        }
        std::thread::sleep((deadline - now).min(Duration::from_millis(100)));
    }
}
