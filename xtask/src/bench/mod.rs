//! `cargo xtask bench`: deskcast and the pipelines users would pick instead, on the same scenes,
//! the same machine, in one run.
//!
//! ```text
//! cargo xtask bench [--quick] [--scenes a,b] [--pipelines a,b] [--seconds N] [--size WxH]
//!                   [--fps N] [--bitrate KBPS] [--out DIR]
//! cargo xtask bench idle --pid PID [--seconds N]
//! ```
//!
//! Each scene runs on its own Xvfb, driven by `deskcast-scene play`; every pipeline
//! ([`pipeline::Pipeline`]) captures it in turn; the harness decodes each stream with ffmpeg and
//! scores it against the re-rendered scene frames; [`report`] writes Markdown and SVG under
//! `target/bench-report/` (or `--out`).

mod agent;
mod audio;
mod deskcast;
mod harness;
mod machine;
mod measure;
mod peers;
mod pipeline;
mod procfs;
mod report;
mod stream;
mod svg;
mod xvfb;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};

use pipeline::Target;

const USAGE: &str = "\
usage: cargo xtask bench [options]
       cargo xtask bench idle --pid PID [--seconds N]

options:
  --quick            2 s windows after 1.5 s of warm-up (default: 5 s after 2 s)
  --scenes a,b       scenes to run (default: all; see `deskcast-scene list`)
  --pipelines a,b    pipelines to run (ffmpeg-x264, ffmpeg-vp9, gst-x264, ffmpeg-nvenc,
                     deskcast-vp9, deskcast-vp8, deskcast-h264, deskcast-nvenc-h264)
  --seconds N        measurement window per scene and pipeline
  --size WxH         screen size (default 1920x1080)
  --fps N            frame rate (default 30)
  --bitrate KBPS     target bitrate for every pipeline (default 4000)
  --out DIR          report directory (default target/bench-report)
";

/// What to run.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) scenes: Option<Vec<String>>,
    pub(crate) pipelines: Option<Vec<String>>,
    pub(crate) warmup: Duration,
    pub(crate) window: Duration,
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) fps: u32,
    pub(crate) bitrate_kbps: u32,
    pub(crate) out: PathBuf,
}

impl Options {
    /// Parses the arguments after `bench`.
    fn parse(root: &Path, args: &[String]) -> anyhow::Result<Self> {
        let mut options = Self {
            scenes: None,
            pipelines: None,
            warmup: Duration::from_secs(2),
            window: Duration::from_secs(5),
            width: 1920,
            height: 1080,
            fps: 30,
            bitrate_kbps: 4000,
            out: root.join("target").join("bench-report"),
        };
        let mut seconds = None;
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let mut value = || {
                it.next()
                    .with_context(|| format!("{arg} needs a value\n\n{USAGE}"))
            };
            match arg.as_str() {
                "--quick" => {
                    options.warmup = Duration::from_millis(1500);
                    options.window = Duration::from_secs(2);
                }
                "--scenes" => options.scenes = Some(list(value()?)),
                "--pipelines" => options.pipelines = Some(list(value()?)),
                "--seconds" => seconds = Some(number::<f64>(arg, value()?)?),
                "--size" => {
                    let v = value()?;
                    let (w, h) = v
                        .split_once('x')
                        .with_context(|| format!("--size wants WIDTHxHEIGHT, not {v}"))?;
                    options.width = number(arg, w)?;
                    options.height = number(arg, h)?;
                }
                "--fps" => options.fps = number(arg, value()?)?,
                "--bitrate" => options.bitrate_kbps = number(arg, value()?)?,
                "--out" => options.out = PathBuf::from(value()?),
                "-h" | "--help" => bail!("{USAGE}"),
                other => bail!("unknown option `{other}`\n\n{USAGE}"),
            }
        }
        if let Some(s) = seconds {
            if !(s.is_finite() && s > 0.0) {
                bail!("--seconds must be positive");
            }
            options.window = Duration::from_secs_f64(s);
        }
        if options.fps == 0 || options.bitrate_kbps == 0 {
            bail!("--fps and --bitrate must be positive");
        }
        Ok(options)
    }

    /// The target every pipeline gets for `scene` on `display`.
    pub(crate) fn target<'a>(
        &self,
        display: &'a str,
        scene: &'a str,
        work_dir: &'a Path,
    ) -> Target<'a> {
        Target {
            display,
            scene,
            width: self.width,
            height: self.height,
            fps: self.fps,
            bitrate_kbps: self.bitrate_kbps,
            warmup: self.warmup,
            window: self.window,
            work_dir,
        }
    }
}

fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

fn number<T: std::str::FromStr>(option: &str, value: &str) -> anyhow::Result<T> {
    value
        .trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("{option}: `{value}` is not a number"))
}

/// `cargo xtask bench …`.
pub(crate) fn run(root: &Path, args: &[String]) -> anyhow::Result<()> {
    if args.first().map(String::as_str) == Some("idle") {
        return idle(&args[1..]);
    }
    let options = Options::parse(root, args)?;
    let command = std::iter::once("cargo xtask bench".to_owned())
        .chain(args.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    harness::run(root, &options, command)
}

/// `cargo xtask bench idle --pid PID [--seconds N]`: the idle-cost probe on any process.
fn idle(args: &[String]) -> anyhow::Result<()> {
    let mut pid = None;
    let mut seconds = 10.0;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let value = it
            .next()
            .with_context(|| format!("{arg} needs a value\n\n{USAGE}"))?;
        match arg.as_str() {
            "--pid" => pid = Some(number::<u32>(arg, value)?),
            "--seconds" => seconds = number::<f64>(arg, value)?,
            other => bail!("unknown option `{other}`\n\n{USAGE}"),
        }
    }
    let pid = pid.with_context(|| format!("--pid is required\n\n{USAGE}"))?;
    if !(seconds.is_finite() && seconds > 0.0) {
        bail!("--seconds must be positive");
    }
    let usage = procfs::measure_idle(pid, Duration::from_secs_f64(seconds))?;
    println!(
        "process {pid} over {:.1} s: {:.3} CPU s ({:.2} % of a core; {:.3} % by schedstat), {} voluntary + {} involuntary context switches ({:.1} wake-ups/s), peak RSS {} KiB",
        usage.seconds,
        usage.cpu_seconds,
        usage.core_percent(),
        usage.precise_core_percent(),
        usage.voluntary,
        usage.involuntary,
        usage.wakeups_per_second(),
        usage.peak_rss_kib
    );
    Ok(())
}
