//! Reading `deskcast probe --json`.

use super::*;

/// A report in the shape `deskcast probe --json` prints (pretty-printed, as it is).
const REPORT: &str = r#"{
  "target": "418207356",
  "route": "through relay 127.0.0.1:40001",
  "encrypted": true,
  "insecure_reason": null,
  "peer_platform": "Linux",
  "peer_version": "0.1.0",
  "displays": ["1920x1080+0+0 screen"],
  "summary": {
    "frames": 212,
    "keyframes": 1,
    "encoded_bytes": 1500000,
    "seconds": 7.01,
    "fps": 30.1,
    "kbps": 1711.5,
    "latency": {"samples": 212, "median_ms": 21.0, "p99_ms": 48.5, "max_ms": 61.0},
    "rtt": null,
    "agent_rtt_ms": 3,
    "decode": {"samples": 212, "median_ms": 4.1, "p99_ms": 9.0, "max_ms": 12.0},
    "decode_errors": 0,
    "dropped": 0,
    "errors": []
  },
  "clipboard_received": [],
  "failure": null
}
"#;

#[test]
fn the_probe_report_gives_latency_rate_and_route() {
    let e = parse_probe(REPORT).unwrap();
    assert_eq!(e.route, "through relay 127.0.0.1:40001");
    assert!(e.encrypted);
    assert_eq!((e.frames, e.keyframes, e.decode_errors), (212, 1, 0));
    assert_eq!((e.fps, e.kbps), (30.1, 1711.5));
    assert_eq!(
        e.latency,
        Some(Quantiles {
            samples: 212,
            median: 21.0,
            p99: 48.5,
            max: 61.0
        })
    );
    assert_eq!(
        e.idle, None,
        "the agent's figures are filled in by the runner"
    );
}

#[test]
fn no_latency_is_none_and_failures_are_errors() {
    let no_clock = REPORT.replace(
        r#""latency": {"samples": 212, "median_ms": 21.0, "p99_ms": 48.5, "max_ms": 61.0}"#,
        r#""latency": null"#,
    );
    assert_eq!(parse_probe(&no_clock).unwrap().latency, None);

    let failed = REPORT.replace(
        r#""failure": null"#,
        r#""failure": "no video frame was decoded""#,
    );
    let err = parse_probe(&failed).unwrap_err().to_string();
    assert!(err.contains("no video frame was decoded"), "{err}");

    let refused = r#"{"error": "login refused: wrong password"}"#;
    let err = parse_probe(refused).unwrap_err().to_string();
    assert!(err.contains("wrong password"), "{err}");

    let torn = REPORT.replace(r#""median_ms": 21.0, "#, "");
    assert!(
        parse_probe(&torn).is_err(),
        "a latency without its median is an error"
    );
    assert!(parse_probe("not json").is_err());
}
