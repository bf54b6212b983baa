//! The run: for each scene, a fresh Xvfb and the scene player; each ready pipeline in turn
//! captures it; then every stream is decoded and scored, and the report is written.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::Options;
use super::machine::{self, Machine};
use super::measure::{self, Measured, PlayLog, Who};
use super::pipeline::{Availability, Pipeline, Run};
use super::report::{self, PipelineInfo, PlayerHealth, Report, Settings};
use super::xvfb::Xvfb;
use super::{audio, deskcast, peers};

/// Runs the whole benchmark and writes the report.
pub(crate) fn run(root: &Path, options: &Options, command: String) -> anyhow::Result<()> {
    let started = Instant::now();
    let scene_bin = build_scene_player(root)?;
    let catalog = list_scenes(&scene_bin)?;
    let scenes: Vec<(String, String)> = match &options.scenes {
        None => catalog.clone(),
        Some(wanted) => wanted
            .iter()
            .map(|name| {
                catalog
                    .iter()
                    .find(|(n, _)| n == name)
                    .cloned()
                    .with_context(|| {
                        let known: Vec<&str> = catalog.iter().map(|(n, _)| n.as_str()).collect();
                        format!("unknown scene `{name}` (known: {})", known.join(", "))
                    })
            })
            .collect::<anyhow::Result<_>>()?,
    };
    let wants_deskcast = options
        .pipelines
        .as_ref()
        .is_none_or(|wanted| wanted.iter().any(|id| id.starts_with("deskcast")));
    let binaries = if wants_deskcast {
        Some(deskcast::build(root)?)
    } else {
        None
    };
    let mut all: Vec<Box<dyn Pipeline>> = peers::all();
    all.extend(deskcast::all(binaries));
    if let Some(wanted) = &options.pipelines {
        for id in wanted {
            if all.iter().all(|p| p.id() != id) {
                let known: Vec<&str> = all.iter().map(|p| p.id()).collect();
                bail!("unknown pipeline `{id}` (known: {})", known.join(", "));
            }
        }
        all.retain(|p| wanted.iter().any(|w| w == p.id()));
    }
    let mut machine = Machine::describe();
    let work = root.join("target").join("bench-work");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;

    let probe_target = options.target("$DISPLAY", "static", &work);
    let infos: Vec<PipelineInfo> = all
        .iter()
        .map(|p| PipelineInfo {
            id: p.id().to_owned(),
            label: p.label().to_owned(),
            deskcast: p.is_deskcast(),
            availability: p.availability(),
            settings: p.settings(&probe_target),
        })
        .collect();
    let ready: Vec<&dyn Pipeline> = all
        .iter()
        .zip(&infos)
        .filter(|(_, info)| info.availability == Availability::Ready)
        .map(|(p, _)| p.as_ref())
        .collect();
    for info in infos
        .iter()
        .filter(|i| i.availability != Availability::Ready)
    {
        if let Availability::Missing(why) = &info.availability {
            println!("bench: {}: {why}", info.id);
        }
    }

    let mut measured = Vec::new();
    let mut failures = Vec::new();
    let mut players = Vec::new();
    for (scene, _) in &scenes {
        let session = SceneSession {
            scene_bin: &scene_bin,
            scene,
            options,
            work: &work,
        };
        match session.run(&ready, &mut failures) {
            Ok((results, health)) => {
                measured.extend(results);
                players.push(health);
            }
            Err(e) => failures.push(format!("{scene}: {e:#}")),
        }
    }
    // Audio last: its test builds and runs after every scene, so it disturbs none.
    let audio = wants_deskcast.then(|| {
        audio::measure(root, &work).map_err(|e| {
            println!("bench: audio delay not measured: {e:#}");
            format!("{e:#}")
        })
    });
    machine.load_after = machine::load_average();
    let report = Report {
        command,
        machine,
        settings: Settings {
            width: options.width,
            height: options.height,
            fps: options.fps,
            bitrate_kbps: options.bitrate_kbps,
            vbv_kbit: probe_target.vbv_kbit(),
            warmup_s: options.warmup.as_secs_f64(),
            window_s: options.window.as_secs_f64(),
        },
        scenes,
        pipelines: infos,
        measured,
        failures,
        players,
        audio,
        duration_s: started.elapsed().as_secs_f64(),
    };
    report::write(&options.out, &report)?;
    println!(
        "bench: report written to {} in {:.0} s",
        options.out.join("report.md").display(),
        report.duration_s
    );
    Ok(())
}

/// Builds `deskcast-scene` in release mode (rendering and scoring 1080p frames needs it).
fn build_scene_player(root: &Path) -> anyhow::Result<PathBuf> {
    println!("bench: building deskcast-scene (release)");
    crate::ci::cargo(
        root,
        &[
            "build",
            "--release",
            "--locked",
            "-p",
            "deskcast-scenes",
            "--bin",
            "deskcast-scene",
        ],
        &[],
    )?;
    let target_dir =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    Ok(target_dir.join("release").join("deskcast-scene"))
}

/// The scenes the player knows: (name, description).
fn list_scenes(scene_bin: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let out = Command::new(scene_bin)
        .arg("list")
        .output()
        .context("running deskcast-scene list")?;
    if !out.status.success() {
        bail!("deskcast-scene list failed");
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(n, d)| (n.to_owned(), d.to_owned()))
        .collect())
}

/// One scene: its own Xvfb and player, every pipeline in turn, then scoring.
struct SceneSession<'a> {
    scene_bin: &'a Path,
    scene: &'a str,
    options: &'a Options,
    work: &'a Path,
}

impl SceneSession<'_> {
    fn run(
        &self,
        ready: &[&dyn Pipeline],
        failures: &mut Vec<String>,
    ) -> anyhow::Result<(Vec<Measured>, PlayerHealth)> {
        let dir = self.work.join(self.scene);
        std::fs::create_dir_all(&dir)?;
        let xvfb = Xvfb::start(self.options.width, self.options.height)?;
        let log_path = dir.join("play.log");
        let mut player = self.start_player(xvfb.display(), &log_path, &dir)?;
        let mut runs: Vec<(&dyn Pipeline, Run)> = Vec::new();
        for pipeline in ready {
            println!("bench: {} × {}", self.scene, pipeline.id());
            let target = self.options.target(xvfb.display(), self.scene, &dir);
            match pipeline.run(&target) {
                Ok(run) => runs.push((*pipeline, run)),
                Err(e) => failures.push(format!("{} × {}: {e:#}", self.scene, pipeline.id())),
            }
        }
        drop(player.stdin.take());
        let status = player.wait()?;
        drop(xvfb);
        if !status.success() {
            bail!(
                "the scene player exited with {status}; see {}",
                dir.join("player.stderr").display()
            );
        }
        let play =
            PlayLog::parse(&std::fs::read_to_string(&log_path).context("reading the play log")?)?;
        let health = PlayerHealth {
            scene: self.scene.to_owned(),
            shown: play.shown.len(),
            skipped: play.skipped,
        };
        let mut measured = Vec::new();
        for (pipeline, run) in &runs {
            println!(
                "bench: scoring {} × {} ({} frames)",
                self.scene,
                pipeline.id(),
                run.packets.len()
            );
            match self.evaluate(*pipeline, run, &play) {
                Ok(m) => measured.push(m),
                Err(e) => failures.push(format!(
                    "{} × {} (scoring): {e:#}",
                    self.scene,
                    pipeline.id()
                )),
            }
        }
        Ok((measured, health))
    }

    fn start_player(&self, display: &str, log: &Path, dir: &Path) -> anyhow::Result<Child> {
        let stderr = File::create(dir.join("player.stderr"))?;
        let mut child = Command::new(self.scene_bin)
            .args([
                "play",
                "--scene",
                self.scene,
                "--until-stdin-closes",
                "--display",
                display,
            ])
            .args([
                "--size",
                &format!("{}x{}", self.options.width, self.options.height),
            ])
            .args(["--fps", &self.options.fps.to_string()])
            .arg("--log")
            .arg(log)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .context("starting deskcast-scene play")?;
        std::thread::sleep(Duration::from_millis(500));
        if let Some(status) = child.try_wait()? {
            let err = std::fs::read_to_string(dir.join("player.stderr")).unwrap_or_default();
            bail!(
                "the scene player exited at once with {status}: {}",
                err.trim()
            );
        }
        Ok(child)
    }

    fn evaluate(
        &self,
        pipeline: &dyn Pipeline,
        run: &Run,
        play: &PlayLog,
    ) -> anyhow::Result<Measured> {
        let first_in_window = run
            .packets
            .iter()
            .position(|p| p.arrival_ns >= run.window_ns.0)
            .unwrap_or(run.packets.len());
        let size = format!("{}x{}", self.options.width, self.options.height);
        let scored = measure::score(self.scene_bin, self.scene, &size, run, first_in_window)?;
        let who = Who {
            scene: self.scene,
            pipeline: pipeline.id(),
            deskcast: pipeline.is_deskcast(),
            fps: self.options.fps,
        };
        Ok(measure::evaluate(who, run, play, &scored))
    }
}
