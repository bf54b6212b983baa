//! The goals table at the top of the report — issue 8's targets, what deskcast measured and, for
//! a goal not met, by how much — and the section on the agent end to end.

use std::fmt::Write as _;

use super::super::agent::EndToEnd;
use super::super::deskcast::{COMPARISON, is_software};
use super::super::measure::Measured;
use super::Report;

/// The peer the software goal is measured against.
const REFERENCE_PEER: &str = "ffmpeg-x264";
/// The most a static screen may cost, in % of a core.
const STATIC_CPU_PERCENT: f64 = 0.5;
/// Scenes with fewer capture → decoded samples (the static one: a single keyframe) do not count
/// for the latency goal.
const MIN_LATENCY_SAMPLES: u64 = 10;

/// The agent's end-to-end figures on `scene`, when that run succeeded.
pub(super) fn e2e_of<'a>(r: &'a Report, scene: &str) -> Option<&'a EndToEnd> {
    r.measured
        .iter()
        .filter(|m| m.scene == scene)
        .find_map(|m| m.end_to_end.as_ref()?.as_ref().ok())
}

/// The goals table.
pub(super) fn goals(md: &mut String, r: &Report) {
    let _ = writeln!(md, "## Goals (issue 8)\n");
    let _ = writeln!(
        md,
        "| Goal | Target | deskcast | For comparison | Status |\n|---|---|---|---|---|"
    );
    static_goal(md, r);
    software_goal(md, r);
    latency_goal(md, r);
    allocation_goal(md, r);
    md.push('\n');
    other_software_pairs(md, r);
    agent_memory(md, r);
    let _ = writeln!(
        md,
        "Load average (1 min) when the run started: {} — this machine is shared; the run's own \
         processes (Xvfb, the scene player, the pipeline under test, the scorer) raise it while \
         it runs.\n",
        r.machine
            .load_before
            .split_whitespace()
            .next()
            .unwrap_or("unknown")
    );
}

/// The agent's memory idle and streaming (issue 5), from the end-to-end runs.
fn agent_memory(md: &mut String, r: &Report) {
    let runs: Vec<&EndToEnd> = r
        .scenes
        .iter()
        .filter_map(|(scene, _)| e2e_of(r, scene))
        .collect();
    let Some(first) = runs.first() else {
        return;
    };
    let kib = |f: fn(&EndToEnd) -> u64| {
        let values: Vec<u64> = runs.iter().map(|e| f(e)).collect();
        (
            values.iter().copied().min().unwrap_or(0) as f64 / 1024.0,
            values.iter().copied().max().unwrap_or(0) as f64 / 1024.0,
        )
    };
    let idle = kib(|e| e.rss_idle_kib);
    let streaming = kib(|e| e.streaming.rss_kib);
    let peak = kib(|e| e.streaming.peak_rss_kib);
    let _ = writeln!(
        md,
        "The agent (`deskcast run`, {} at {}x{} through the relay): RSS {:.1}–{:.1} MiB \
         registered with nobody watching, {:.1}–{:.1} MiB streaming to one viewer (peak {:.1} \
         MiB), over {} scenes.\n",
        first.codec.to_uppercase(),
        r.settings.width,
        r.settings.height,
        idle.0,
        idle.1,
        streaming.0,
        streaming.1,
        peak.1,
        runs.len()
    );
}

fn row(md: &mut String, goal: &str, target: &str, value: &str, reference: &str, status: &str) {
    let _ = writeln!(
        md,
        "| {goal} | {target} | {value} | {reference} | {status} |"
    );
}

fn status(misses: &[String]) -> String {
    if misses.is_empty() {
        "met".to_owned()
    } else {
        format!("**not met**: {}", misses.join("; "))
    }
}

/// A static screen costs 0 encoded frames and < 0.5 % of a core.
fn static_goal(md: &mut String, r: &Report) {
    let peers: Vec<String> = r
        .measured
        .iter()
        .filter(|m| !m.deskcast && m.scene == "static")
        .map(|m| {
            format!(
                "{}: {} frames, {:.1} % of a core",
                m.pipeline,
                m.frames,
                m.usage.core_percent()
            )
        })
        .collect();
    let peers = if peers.is_empty() {
        "—".to_owned()
    } else {
        peers.join("; ")
    };
    let (goal, target) = (
        "Static screen costs nothing",
        "0 encoded frames and < 0.5 % of a core",
    );
    let desk: Vec<&Measured> = r
        .measured
        .iter()
        .filter(|m| m.deskcast && is_software(&m.pipeline) && m.scene == "static")
        .collect();
    let agent = e2e_of(r, "static");
    if desk.is_empty() && agent.is_none() {
        row(md, goal, target, "not measured", &peers, "not measured");
        return;
    }
    let mut values = Vec::new();
    let mut misses = Vec::new();
    let mut check = |what: String, frames: Option<u64>, cpu: f64| {
        if let Some(frames) = frames.filter(|&f| f > 0) {
            misses.push(format!("{what}: {frames} frames"));
        }
        if cpu >= STATIC_CPU_PERCENT {
            misses.push(format!(
                "{what}: {cpu:.2} % ({:.2} points over)",
                cpu - STATIC_CPU_PERCENT
            ));
        }
    };
    for m in desk {
        let cpu = m.usage.precise_core_percent();
        values.push(format!("{}: {} frames, {cpu:.2} %", m.pipeline, m.frames));
        check(m.pipeline.clone(), Some(m.frames as u64), cpu);
    }
    if let Some(e) = agent {
        let cpu = e.streaming.precise_core_percent();
        let later = e.frames.saturating_sub(1);
        values.push(format!(
            "agent + 1 viewer: {cpu:.2} %, {later} frames after the first keyframe"
        ));
        check("agent + 1 viewer".into(), Some(later), cpu);
        if let Some(idle) = &e.idle {
            let cpu = idle.precise_core_percent();
            values.push(format!("agent, nobody watching: {cpu:.2} %"));
            check("agent, nobody watching".into(), None, cpu);
        }
    }
    row(
        md,
        goal,
        target,
        &values.join("; "),
        &peers,
        &status(&misses),
    );
}

/// Per scene: (scene, CPU ratio, ΔPSNR dB) of `desk` against the reference peer.
fn pairs<'a>(r: &'a Report, desk: &str) -> Vec<(&'a str, f64, f64)> {
    r.scenes
        .iter()
        .filter_map(|(scene, _)| {
            let d = r.find(scene, desk)?;
            let p = r.find(scene, REFERENCE_PEER)?;
            Some((
                scene.as_str(),
                d.cpu_ms_per_frame()? / p.cpu_ms_per_frame()?,
                d.psnr_db? - p.psnr_db?,
            ))
        })
        .collect()
}

fn pair_misses(pairs: &[(&str, f64, f64)]) -> Vec<String> {
    pairs
        .iter()
        .filter(|(_, ratio, dq)| *ratio >= 1.0 || *dq < 0.0)
        .map(|(scene, ratio, dq)| {
            let mut parts = Vec::new();
            if *ratio >= 1.0 {
                parts.push(format!(
                    "{ratio:.2}× the CPU ({:.0} % more)",
                    (ratio - 1.0) * 100.0
                ));
            }
            if *dq < 0.0 {
                parts.push(format!("{dq:+.2} dB"));
            }
            format!("{scene}: {}", parts.join(", "))
        })
        .collect()
}

/// deskcast's software path uses less CPU per frame than ffmpeg + libx264 ultrafast at equal or
/// better PSNR, judged on [`COMPARISON`].
fn software_goal(md: &mut String, r: &Report) {
    let reference: Vec<String> = r
        .measured
        .iter()
        .filter(|m| m.pipeline == REFERENCE_PEER)
        .filter_map(|m| {
            Some(format!(
                "{} {:.2} ms @ {:.1} dB",
                m.scene,
                m.cpu_ms_per_frame()?,
                m.psnr_db?
            ))
        })
        .collect();
    let reference = if reference.is_empty() {
        "—".to_owned()
    } else {
        format!("libx264: {}", reference.join("; "))
    };
    let goal = format!("Software path ({COMPARISON}) beats ffmpeg x11grab + libx264 ultrafast");
    let target = "less CPU per frame at equal or better PSNR, every scene";
    let pairs = pairs(r, COMPARISON);
    if pairs.is_empty() {
        row(
            md,
            &goal,
            target,
            "not measured",
            &reference,
            "not measured",
        );
        return;
    }
    let value = pairs
        .iter()
        .map(|(s, ratio, dq)| format!("{s}: {ratio:.2}× the CPU, {dq:+.2} dB"))
        .collect::<Vec<_>>()
        .join("; ");
    row(
        md,
        &goal,
        target,
        &value,
        &reference,
        &status(&pair_misses(&pairs)),
    );
}

/// The other software codecs against the same rule, below the table.
fn other_software_pairs(md: &mut String, r: &Report) {
    let others: Vec<String> = r
        .pipelines
        .iter()
        .filter(|p| p.deskcast && is_software(&p.id) && p.id != COMPARISON)
        .filter_map(|p| {
            let pairs = pairs(r, &p.id);
            if pairs.is_empty() {
                return None;
            }
            let misses = pair_misses(&pairs);
            let met = pairs.len() - misses.len();
            Some(if misses.is_empty() {
                format!("**{}** meets it on all {} scenes", p.id, pairs.len())
            } else {
                format!(
                    "**{}** meets it on {met} of {} scenes (misses — {})",
                    p.id,
                    pairs.len(),
                    misses.join("; ")
                )
            })
        })
        .collect();
    if !others.is_empty() {
        let _ = writeln!(
            md,
            "The software goal is judged on `{COMPARISON}`, the codec a stock RustDesk client gets \
             from deskcast without NVENC. Against the same rule, {}.\n",
            others.join("; ")
        );
    }
}

/// Capture → decoded through the relay, median under one frame interval.
fn latency_goal(md: &mut String, r: &Report) {
    let frame_ms = 1000.0 / f64::from(r.settings.fps.max(1));
    let goal = format!(
        "Capture → decoded, {}x{}, through the relay",
        r.settings.width, r.settings.height
    );
    let target = format!(
        "median < {frame_ms:.1} ms (one frame at {} fps) on {} cores",
        r.settings.fps, r.machine.cores
    );
    let peer_latency: Vec<String> = r
        .peers()
        .filter_map(|p| {
            let all: Vec<f64> = r
                .measured
                .iter()
                .filter(|m| m.pipeline == p.id)
                .flat_map(|m| m.latency_ms.clone())
                .collect();
            super::summarize(&all).map(|s| format!("{}: {:.1} ms", p.id, s.median))
        })
        .collect();
    let reference = if peer_latency.is_empty() {
        "—".to_owned()
    } else {
        format!(
            "screen → packet medians, all scenes (no network, no decode): {}",
            peer_latency.join("; ")
        )
    };
    let scenes: Vec<(&str, &EndToEnd, f64, f64)> = r
        .scenes
        .iter()
        .filter_map(|(scene, _)| {
            let e = e2e_of(r, scene)?;
            let l = e.latency.filter(|l| l.samples >= MIN_LATENCY_SAMPLES)?;
            Some((scene.as_str(), e, l.median, l.p99))
        })
        .collect();
    if scenes.is_empty() {
        row(
            md,
            &goal,
            &target,
            "not measured",
            &reference,
            "not measured",
        );
        return;
    }
    let value = scenes
        .iter()
        .map(|(s, _, median, p99)| format!("{s}: {median:.1} ms (p99 {p99:.1})"))
        .collect::<Vec<_>>()
        .join("; ");
    let codec = scenes[0].1.codec.to_uppercase();
    let misses: Vec<String> = scenes
        .iter()
        .filter(|(_, _, median, _)| *median >= frame_ms)
        .map(|(s, _, median, _)| {
            format!(
                "{s}: median {median:.1} ms ({:.1} ms over)",
                median - frame_ms
            )
        })
        .collect();
    row(
        md,
        &goal,
        &target,
        &format!("{codec}, median (p99) — {value}"),
        &reference,
        &status(&misses),
    );
}

/// No heap allocation per frame in steady state.
fn allocation_goal(md: &mut String, r: &Report) {
    let counted: Vec<(&Measured, f64)> = r
        .measured
        .iter()
        .filter(|m| m.deskcast)
        .filter_map(|m| Some((m, m.heap_allocs_per_frame?)))
        .collect();
    let (goal, target) = ("No heap allocation per frame", "0 in steady state");
    let Some(&(worst, most)) = counted.iter().max_by(|a, b| a.1.total_cmp(&b.1)) else {
        row(md, goal, target, "not measured", "—", "not measured");
        return;
    };
    let value = format!(
        "worst {most:.2} per frame ({} on {}); Rust heap, window frames only",
        worst.pipeline, worst.scene
    );
    let misses: Vec<String> = counted
        .iter()
        .filter(|(_, n)| *n > 0.0)
        .map(|(m, n)| format!("{} on {}: {n:.2}", m.pipeline, m.scene))
        .collect();
    row(md, goal, target, &value, "—", &status(&misses));
}

/// The agent end to end, per scene.
pub(super) fn end_to_end(md: &mut String, r: &Report) {
    let runs: Vec<(&str, &Result<EndToEnd, String>)> = r
        .measured
        .iter()
        .filter_map(|m| Some((m.scene.as_str(), m.end_to_end.as_ref()?)))
        .collect();
    if runs.is_empty() {
        return;
    }
    let _ = writeln!(md, "## deskcast end to end\n");
    let _ = writeln!(
        md,
        "`deskcast run` (release build) registered with the loopback rendezvous server and relay \
         (`deskcast-test-servers`), and `deskcast probe` logged in through the relay on the same \
         machine, decoding every frame. Capture → decoded is the probe's decode time minus the \
         agent's capture stamp (CLOCK_MONOTONIC, ms resolution), over every frame the probe \
         decoded, the first keyframe included (it carries the encoder's start-up: where a scene \
         gives fewer than a hundred frames, p99 and max are that keyframe's). Agent CPU, wake-ups and RSS are read from /proc \
         over the measurement window while the probe watches; idle RSS is taken registered, \
         before the probe connects. The agent chooses its own bitrate for the session; the probe \
         and the agent share the machine's cores with Xvfb and the scene player.\n"
    );
    let _ = writeln!(
        md,
        "| Scene | Codec | Frames decoded (key) | fps | kbit/s | Capture → decoded ms, median (p99, max) | Decode errors | Agent CPU % | Agent wake-ups/s | Agent RSS streaming MiB (peak) | Agent RSS idle MiB |\n|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for (scene, run) in runs {
        match run {
            Ok(e) => {
                let latency = e.latency.map_or("—".to_owned(), |l| {
                    format!("{:.1} ({:.1}, {:.1})", l.median, l.p99, l.max)
                });
                let _ = writeln!(
                    md,
                    "| {scene} | {} | {} ({}) | {:.1} | {:.0} | {latency} | {} | {:.2} | {:.0} | {:.1} ({:.1}) | {:.1} |",
                    e.codec,
                    e.frames,
                    e.keyframes,
                    e.fps,
                    e.kbps,
                    e.decode_errors,
                    e.streaming.precise_core_percent(),
                    e.streaming.wakeups_per_second(),
                    e.streaming.rss_kib as f64 / 1024.0,
                    e.streaming.peak_rss_kib as f64 / 1024.0,
                    e.rss_idle_kib as f64 / 1024.0,
                );
            }
            Err(error) => {
                let _ = writeln!(
                    md,
                    "| {scene} | failed: {} |||||||||| |",
                    error.replace('\n', " ").replace('|', "/")
                );
            }
        }
    }
    if let Some(e) = e2e_of(r, "static") {
        let _ = writeln!(
            md,
            "\nRoute: {} ({}).",
            e.route,
            if e.encrypted {
                "encrypted"
            } else {
                "NOT encrypted"
            }
        );
    }
    md.push('\n');
}

#[cfg(test)]
mod tests;
