//! The plots are well-formed XML by an independent parser (Python's), and text survives escaping.

use std::process::Command;

use super::*;
use crate::bench::measure::summarize;

/// Parses `svg` with Python's XML parser; returns the root tag and every text element's text.
fn parse_with_python(svg: &str) -> (String, Vec<String>) {
    let dir = std::env::temp_dir().join(format!("xtask-svg-{}-{}", std::process::id(), svg.len()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("plot.svg");
    std::fs::write(&path, svg).unwrap();
    let script = "import sys, xml.etree.ElementTree as E\n\
                  root = E.parse(sys.argv[1]).getroot()\n\
                  print(root.tag)\n\
                  for t in root.iter('{http://www.w3.org/2000/svg}text'):\n    print(t.text or '')\n";
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(&path)
        .output()
        .expect("run python3 (Debian package python3)");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "not well-formed XML: {}\n{svg}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines().map(String::from);
    (lines.next().unwrap_or_default(), lines.collect())
}

const NASTY: &str = r#"a<b & "c" 'd'> e"#;

#[test]
fn the_box_plot_is_well_formed_and_keeps_its_labels() {
    let fast = summarize(&[1.0, 2.0, 3.0, 4.0, 30.0]).unwrap();
    let slow = summarize(&(0..100).map(f64::from).collect::<Vec<_>>()).unwrap();
    let rows = vec![
        BoxRow {
            group: NASTY.into(),
            series: 0,
            summary: fast,
        },
        BoxRow {
            group: NASTY.into(),
            series: 1,
            summary: slow,
        },
        BoxRow {
            group: "typing".into(),
            series: 0,
            summary: fast,
        },
    ];
    let svg = box_plot("Latency", "ms", &["x264".into(), "vp9 <rt>".into()], &rows);
    let (root, texts) = parse_with_python(&svg);
    assert_eq!(root, "{http://www.w3.org/2000/svg}svg");
    assert!(texts.iter().any(|t| t == NASTY), "{texts:?}");
    assert!(texts.iter().any(|t| t == "vp9 <rt>"));
}

#[test]
fn the_bar_chart_is_well_formed_with_missing_values() {
    let series = vec![
        Bars {
            name: "ffmpeg".into(),
            values: vec![Some(3.5), Some(12.0)],
            missing: String::new(),
        },
        Bars {
            name: "deskcast".into(),
            values: vec![None, None],
            missing: "pending".into(),
        },
    ];
    let svg = bar_chart(
        "CPU per frame",
        "ms",
        &["static".into(), "video".into()],
        &series,
    );
    let (_, texts) = parse_with_python(&svg);
    assert_eq!(texts.iter().filter(|t| *t == "pending").count(), 2);
}

#[test]
fn the_scatter_plot_is_well_formed_and_control_characters_are_replaced() {
    let points = vec![
        Point {
            series: 0,
            label: "video".into(),
            x: 3900.0,
            y: 31.5,
        },
        Point {
            series: 1,
            label: "bell\u{7}".into(),
            x: 120.0,
            y: 44.0,
        },
    ];
    let svg = scatter(
        "Bitrate vs quality",
        "kbit/s",
        "PSNR dB",
        &["a".into(), "b".into()],
        &points,
        20.0,
    );
    let (_, texts) = parse_with_python(&svg);
    assert!(texts.iter().any(|t| t == "bell\u{fffd}"), "{texts:?}");
}

#[test]
fn ticks_use_round_steps_and_cover_the_maximum() {
    assert_eq!(
        ticks(7.3, 8),
        vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
    );
    assert_eq!(ticks(45.0, 5), vec![0.0, 10.0, 20.0, 30.0, 40.0, 50.0]);
    assert_eq!(ticks(0.0, 4), vec![0.0, 0.5, 1.0]);
    assert_eq!(ticks(f64::NAN, 4), vec![0.0, 0.5, 1.0]);
}
