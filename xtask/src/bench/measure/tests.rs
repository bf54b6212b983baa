//! Log and score parsing, order statistics, and how a run is summed up over its window.

use std::path::PathBuf;

use super::*;
use crate::bench::stream::{Packet, StreamFormat};

#[test]
fn play_logs_parse_and_keep_the_first_showing_of_each_frame() {
    let log = PlayLog::parse("0\t0\t100\n1\t0\t200\n3\t3\t400\n# skipped 1\n").unwrap();
    assert_eq!(log.shown.len(), 3);
    assert_eq!(log.skipped, 1);
    let first = log.first_shown();
    assert_eq!(first[&0], 100);
    assert_eq!(first[&3], 400);
    assert!(PlayLog::parse("0\t0\n").is_err());
    assert!(PlayLog::parse("0\tzero\t100\n").is_err());
}

#[test]
fn score_output_parses_and_a_short_or_disordered_one_is_refused() {
    let scores =
        parse_scores("0\t7\t-\n1\t-\t-\tmarker cell 3 …\n2\t9\t12.5000\n# frames 3\n").unwrap();
    assert_eq!(
        scores,
        [
            Scored {
                marker: Some(7),
                mse: None
            },
            Scored {
                marker: None,
                mse: None
            },
            Scored {
                marker: Some(9),
                mse: Some(12.5)
            },
        ]
    );
    assert!(parse_scores("0\t7\t1.0\n# frames 2\n").is_err());
    assert!(parse_scores("1\t7\t1.0\n# frames 1\n").is_err());
    assert!(parse_scores("0\t7\t1.0\n").is_err());
}

#[test]
fn order_statistics_of_one_to_a_hundred_and_one() {
    let values: Vec<f64> = (1..=101).map(f64::from).collect();
    let s = summarize(&values).unwrap();
    assert_eq!((s.count, s.min, s.max), (101, 1.0, 101.0));
    assert_eq!((s.p25, s.median, s.p75), (26.0, 51.0, 76.0));
    assert_eq!((s.p5, s.p95, s.p99), (6.0, 96.0, 100.0));
    assert_eq!(s.mean, 51.0);
    assert_eq!(summarize(&[2.0, 4.0]).unwrap().median, 3.0);
    assert!(summarize(&[]).is_none());
    assert!(summarize(&[f64::NAN]).is_none());
}

fn packet(arrival_ms: u128, size: usize) -> Packet {
    Packet {
        offset: 0,
        size,
        arrival_ns: arrival_ms * 1_000_000,
    }
}

#[test]
fn a_run_is_summed_over_its_window_and_latency_counts_first_appearances_only() {
    // Scene frames 10, 11, 12 went on screen at 1000, 1033, 1066 ms.
    let play =
        PlayLog::parse("10\t10\t1000000000\n11\t11\t1033000000\n12\t12\t1066000000\n").unwrap();
    // Five encoded frames; the window is [1010, 1100) ms, so the first one is warm-up.
    let run = Run {
        stream: PathBuf::from("unused"),
        format: StreamFormat::H264,
        packets: vec![
            packet(1005, 1000),
            packet(1012, 500),
            packet(1045, 400),
            packet(1080, 300),
            packet(1095, 200),
        ],
        window_ns: (1_010_000_000, 1_100_000_000),
        usage: Usage {
            seconds: 0.09,
            cpu_seconds: 0.018,
            voluntary: 9,
            involuntary: 0,
            peak_rss_kib: 2048,
            rss_kib: 2000,
            run_seconds: 0.018,
        },
        stage_latency_ms: None,
        end_to_end: None,
        heap_allocs_per_frame: None,
    };
    let scored = [
        Scored {
            marker: Some(10),
            mse: None,
        },
        Scored {
            marker: Some(10),
            mse: Some(4.0),
        },
        Scored {
            marker: Some(11),
            mse: Some(16.0),
        },
        Scored {
            marker: None,
            mse: None,
        },
        Scored {
            marker: Some(12),
            mse: Some(1.0),
        },
    ];
    let who = Who {
        scene: "video",
        pipeline: "p",
        deskcast: false,
        fps: 30,
    };
    let m = evaluate(who, &run, &play, &scored);
    assert_eq!(
        (m.frames, m.bytes, m.decoded, m.markers_read),
        (4, 1400, 4, 3)
    );
    // Frame 10 first appeared before the window; 11 and 12 appear first at 1045 and 1095 ms.
    assert_eq!(m.latency_ms.len(), 2);
    assert!(
        (m.latency_ms[0] - 12.0).abs() < 1e-9 && (m.latency_ms[1] - 29.0).abs() < 1e-9,
        "{:?}",
        m.latency_ms
    );
    // Scene frames 11 and 12 went on screen inside the window and both were captured.
    assert_eq!((m.changes_shown, m.changes_captured), (2, 2));
    // Mean MSE 7 → 39.68 dB; the worst frame (MSE 16) → 36.09 dB.
    assert!(
        (m.psnr_db.unwrap() - 39.6806).abs() < 1e-3,
        "{:?}",
        m.psnr_db
    );
    assert!(
        (m.psnr_min_db.unwrap() - 36.0896).abs() < 1e-3,
        "{:?}",
        m.psnr_min_db
    );
    assert!((m.cpu_ms_per_frame().unwrap() - 4.5).abs() < 1e-9);
    assert!((m.bitrate_kbps() - 1400.0 * 8.0 / 1000.0 / 0.09).abs() < 1e-9);
    assert!((m.expected - 2.7).abs() < 1e-9);
}
