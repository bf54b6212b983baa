//! `deskcast-scene`: drives a benchmark scene on an X display, scores decoded frames against the
//! scene, or writes a scene's frames as raw BGRA.
//!
//! ```text
//! deskcast-scene play   --scene typing --size 1920x1080 --fps 30 [--frames N] [--until-stdin-closes] [--log FILE]
//! deskcast-scene score  --scene typing --size 1920x1080 < decoded.bgra   # one line per frame
//! deskcast-scene frames --scene typing --size 1920x1080 --from 0 --count 90 > frames.bgra
//! ```
//!
//! `score` prints, for each BGRA frame read from stdin, `k<TAB>marker<TAB>mse` where `marker` is
//! the frame number read from the marker and `mse` the mean squared error against that frame
//! re-rendered (`-` for the first `--markers-only` frames); an unreadable marker prints
//! `k<TAB>-<TAB>-<TAB>reason`; the last line is `# frames N`. `play --log` writes one
//! `index<TAB>canonical<TAB>unix_ns` line per frame shown, then `# skipped N`.

use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use clap::{Parser, Subcommand};
use deskcast_scenes::player::{self, Player};
use deskcast_scenes::{Image, Scene, SceneKind, Size, quality};

#[derive(Parser, Debug)]
#[command(version, about = "Benchmark scenes for deskcast: drive, score, dump.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Shows the scene on the X display at a steady frame rate.
    Play {
        #[command(flatten)]
        scene: SceneArgs,
        /// Frames per second.
        #[arg(long, default_value_t = 30)]
        fps: u32,
        /// Stop after this many frames (default: run until stopped).
        #[arg(long)]
        frames: Option<u64>,
        /// Stop when standard input reaches its end (how a harness stops the player).
        #[arg(long)]
        until_stdin_closes: bool,
        /// Write the time each frame went on screen here.
        #[arg(long)]
        log: Option<PathBuf>,
        /// The X display (default: $DISPLAY).
        #[arg(long)]
        display: Option<String>,
    },
    /// Reads BGRA frames from stdin and scores each against the scene frame its marker names.
    Score {
        #[command(flatten)]
        scene: SceneArgs,
        /// Only read the marker (no MSE) of the first this many frames.
        #[arg(long, default_value_t = 0)]
        markers_only: u64,
    },
    /// Lists the scenes: name, a tab, a description.
    List,
    /// Writes frames of the scene to stdout as raw BGRA.
    Frames {
        #[command(flatten)]
        scene: SceneArgs,
        /// The first frame.
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// How many frames.
        #[arg(long, default_value_t = 1)]
        count: u64,
    },
}

#[derive(clap::Args, Debug)]
struct SceneArgs {
    /// static, typing, scrolling, dragging, video or fullscreen.
    #[arg(long)]
    scene: SceneKind,
    /// Screen size, WIDTHxHEIGHT.
    #[arg(long, default_value = "1920x1080")]
    size: Size,
}

impl SceneArgs {
    fn build(&self) -> anyhow::Result<Scene> {
        Scene::new(self.scene, self.size).with_context(|| format!("laying out {}", self.scene))
    }
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Play {
            scene,
            fps,
            frames,
            until_stdin_closes,
            log,
            display,
        } => play(&scene, fps, frames, until_stdin_closes, log, display),
        Command::Score {
            scene,
            markers_only,
        } => score(&scene.build()?, markers_only),
        Command::List => list(),
        Command::Frames { scene, from, count } => dump(&scene.build()?, from, count),
    }
}

fn play(
    args: &SceneArgs,
    fps: u32,
    frames: Option<u64>,
    until_stdin_closes: bool,
    log: Option<PathBuf>,
    display: Option<String>,
) -> anyhow::Result<()> {
    let mut player = Player::connect(display.as_deref(), args.build()?)?;
    let stop = Arc::new(AtomicBool::new(false));
    if until_stdin_closes {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut sink = [0u8; 256];
            let mut stdin = io::stdin().lock();
            while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
            stop.store(true, Ordering::Relaxed);
        });
    }
    let played = player::play(&mut player, fps, frames, &stop)?;
    if let Some(path) = log {
        let file =
            std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let mut out = BufWriter::new(file);
        for s in &played.shown {
            writeln!(out, "{}\t{}\t{}", s.index, s.canonical, s.unix_ns)?;
        }
        writeln!(out, "# skipped {}", played.skipped)?;
        out.flush()?;
    }
    Ok(())
}

fn list() -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    for kind in SceneKind::ALL {
        writeln!(out, "{}\t{}", kind.name(), kind.description())?;
    }
    Ok(())
}

fn score(scene: &Scene, markers_only: u64) -> anyhow::Result<()> {
    let size = scene.size();
    let marker = scene.marker();
    let mut decoded = Image::new(size);
    let mut reference = Image::new(size);
    let mut rendered: Option<u64> = None;
    let mut stdin = io::stdin().lock();
    let mut out = BufWriter::new(io::stdout().lock());
    let mut frames = 0u64;
    while read_frame(&mut stdin, decoded.data_mut())? {
        let k = frames;
        frames += 1;
        match marker.read(&decoded) {
            Ok(value) if k < markers_only => writeln!(out, "{k}\t{value}\t-")?,
            Ok(value) => {
                let value = u64::from(value);
                if rendered != Some(value) {
                    scene.render(value, &mut reference)?;
                    rendered = Some(value);
                }
                let mse = quality::mse(&reference, &decoded)?;
                writeln!(out, "{k}\t{value}\t{mse:.4}")?;
            }
            Err(e) => writeln!(out, "{k}\t-\t-\t{e}")?,
        }
    }
    writeln!(out, "# frames {frames}")?;
    out.flush()?;
    Ok(())
}

/// Fills `buf` from `input`; `false` at a clean end of input (a trailing partial frame is
/// dropped, as a decoder killed mid-write can leave one).
fn read_frame(input: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => return Ok(false),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

fn dump(scene: &Scene, from: u64, count: u64) -> anyhow::Result<()> {
    let mut img = Image::new(scene.size());
    let mut out = BufWriter::new(io::stdout().lock());
    for i in from..from + count {
        scene.render(i, &mut img)?;
        out.write_all(img.data())?;
    }
    out.flush()?;
    Ok(())
}
