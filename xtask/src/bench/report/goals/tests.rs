//! The goals table: each goal met or missed by how much, from made-up measurements.

use super::super::super::machine::Machine;
use super::super::super::procfs::Usage;
use super::super::{PipelineInfo, Settings};
use super::*;
use crate::bench::agent::Quantiles;
use crate::bench::pipeline::Availability;

fn usage(seconds: f64, cpu_seconds: f64) -> Usage {
    Usage {
        seconds,
        cpu_seconds,
        run_seconds: cpu_seconds,
        ..Usage::default()
    }
}

fn measured(scene: &str, pipeline: &str, frames: usize, cpu_s: f64, psnr: f64) -> Measured {
    Measured {
        scene: scene.into(),
        pipeline: pipeline.into(),
        deskcast: pipeline.starts_with("deskcast"),
        frames,
        expected: 150.0,
        bytes: 10_000,
        usage: usage(5.0, cpu_s),
        decoded: frames,
        markers_read: frames,
        psnr_db: (frames > 0).then_some(psnr),
        psnr_min_db: (frames > 0).then_some(psnr - 1.0),
        latency_ms: vec![10.0],
        changes_shown: frames,
        changes_captured: frames,
        stage_latency_ms: None,
        end_to_end: None,
        heap_allocs_per_frame: None,
    }
}

fn e2e(median: f64, samples: u64, streaming_percent: f64, idle_percent: Option<f64>) -> EndToEnd {
    EndToEnd {
        codec: "vp9".into(),
        route: "through relay 127.0.0.1:1".into(),
        encrypted: true,
        latency: Some(Quantiles {
            samples,
            median,
            p99: median * 2.0,
            max: 150.0,
        }),
        frames: samples,
        keyframes: 1,
        fps: 30.0,
        kbps: 1000.0,
        decode_errors: 0,
        streaming: usage(10.0, streaming_percent / 10.0),
        rss_idle_kib: 12_000,
        idle: idle_percent.map(|p| usage(10.0, p / 10.0)),
    }
}

fn info(id: &str) -> PipelineInfo {
    PipelineInfo {
        id: id.into(),
        label: id.into(),
        deskcast: id.starts_with("deskcast"),
        availability: Availability::Ready,
        settings: String::new(),
    }
}

fn report(measured: Vec<Measured>) -> Report {
    Report {
        command: "test".into(),
        machine: Machine {
            cores: 2,
            ..Machine::default()
        },
        settings: Settings {
            width: 1920,
            height: 1080,
            fps: 30,
            bitrate_kbps: 4000,
            vbv_kbit: 200,
            warmup_s: 2.0,
            window_s: 5.0,
        },
        scenes: vec![
            ("static".into(), "still".into()),
            ("typing".into(), "keys".into()),
        ],
        pipelines: ["ffmpeg-x264", "deskcast-vp9", "deskcast-h264"]
            .map(info)
            .to_vec(),
        measured,
        failures: Vec::new(),
        audio: None,
        players: Vec::new(),
        duration_s: 1.0,
    }
}

fn goals_of(r: &Report) -> Vec<String> {
    let mut md = String::new();
    goals(&mut md, r);
    md.lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| Goal"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_goal_met_says_met() {
    let mut desk_static = measured("static", "deskcast-vp9", 0, 0.001, 0.0);
    desk_static.end_to_end = Some(Ok(e2e(160.0, 1, 0.2, Some(0.01))));
    let mut desk_typing = measured("typing", "deskcast-vp9", 50, 0.4, 39.5);
    desk_typing.heap_allocs_per_frame = Some(0.0);
    desk_typing.end_to_end = Some(Ok(e2e(20.0, 80, 12.0, None)));
    let r = report(vec![
        measured("static", "ffmpeg-x264", 150, 2.0, 39.0),
        measured("typing", "ffmpeg-x264", 150, 1.8, 39.2),
        desk_static,
        desk_typing,
    ]);
    let rows = goals_of(&r);
    assert_eq!(rows.len(), 4);
    for row in &rows {
        assert!(row.ends_with("| met |"), "{row}");
    }
    assert!(rows[0].contains("agent + 1 viewer: 0.20 %"), "{}", rows[0]);
    assert!(
        !rows[2].contains("static:"),
        "a scene of one keyframe does not count for latency: {}",
        rows[2]
    );
}

#[test]
fn a_missed_goal_says_by_how_much() {
    let mut desk_static = measured("static", "deskcast-vp9", 2, 0.001, 39.0);
    desk_static.end_to_end = Some(Ok(e2e(160.0, 1, 0.7, Some(0.01))));
    let mut desk_typing = measured("typing", "deskcast-vp9", 50, 0.6, 38.7);
    desk_typing.heap_allocs_per_frame = Some(2.5);
    desk_typing.end_to_end = Some(Ok(e2e(40.0, 80, 12.0, None)));
    let h264_typing = measured("typing", "deskcast-h264", 50, 0.2, 39.4);
    let r = report(vec![
        measured("static", "ffmpeg-x264", 150, 2.0, 39.0),
        measured("typing", "ffmpeg-x264", 150, 1.5, 39.2),
        desk_static,
        desk_typing,
        h264_typing,
    ]);
    let rows = goals_of(&r);
    assert!(
        rows[0].contains("deskcast-vp9: 2 frames")
            && rows[0].contains("agent + 1 viewer: 0.70 % (0.20 points over)"),
        "{}",
        rows[0]
    );
    // 0.6 s / 50 frames = 12 ms against 1.5 s / 150 = 10 ms, and 0.5 dB worse.
    assert!(
        rows[1].contains("**not met**: typing: 1.20× the CPU (20 % more), -0.50 dB"),
        "{}",
        rows[1]
    );
    assert!(
        rows[2].contains("**not met**: typing: median 40.0 ms (6.7 ms over)"),
        "{}",
        rows[2]
    );
    assert!(
        rows[3].contains("**not met**: deskcast-vp9 on typing: 2.50"),
        "{}",
        rows[3]
    );
    let mut md = String::new();
    goals(&mut md, &r);
    assert!(
        md.contains("**deskcast-h264** meets it on all 1 scenes"),
        "the other codecs are judged by the same rule: {md}"
    );
}
