//! encode-stream's side channels: the encoder list and the per-frame stats, joined with the
//! measurement window.

use super::*;

#[test]
fn the_encoder_list_maps_each_pair_to_its_reason() {
    let text = r#"{"backend":"software","codec":"vp9","available":true,"reason":null}
{"backend":"software","codec":"h264","available":true,"reason":null}
{"backend":"nvenc","codec":"h264","available":false,"reason":"no NVIDIA driver: libcuda.so.1 not found"}

"#;
    let map = parse_encoders(text).unwrap();
    assert_eq!(map.len(), 3);
    assert_eq!(map[&("software".to_owned(), "vp9".to_owned())], None);
    assert_eq!(
        map[&("nvenc".to_owned(), "h264".to_owned())].as_deref(),
        Some("no NVIDIA driver: libcuda.so.1 not found")
    );
    assert!(parse_encoders(r#"{"backend":"software","codec":"vp9"}"#).is_err());
    assert!(parse_encoders("garbage").is_err());
}

fn line(frame: u64, captured_us: u64, taken_us: u64, allocs: Option<u64>) -> String {
    let allocs = allocs.map_or("null".to_owned(), |a| a.to_string());
    format!(
        r#"{{"frame":{frame},"captured_us":{captured_us},"taken_us":{taken_us},"bytes":100,"keyframe":{},"allocs":{allocs}}}"#,
        frame == 0
    )
}

#[test]
fn stats_lines_parse_in_order_and_a_torn_last_line_is_dropped() {
    let mut text = [
        line(0, 1_000, 9_000, Some(10)),
        line(1, 2_000, 3_500, Some(12)),
    ]
    .join("\n");
    text.push('\n');
    let records = parse_stats(&text).unwrap();
    assert_eq!(
        records[1],
        FrameRecord {
            frame: 1,
            captured_us: 2_000,
            taken_us: 3_500,
            bytes: 100,
            keyframe: false,
            allocs: Some(12)
        }
    );
    assert!(records[0].keyframe);

    // The harness kills the process: the last line may be cut short.
    let torn = format!("{text}{{\"frame\":2,\"captu");
    assert_eq!(parse_stats(&torn).unwrap().len(), 2);
    // A bad line in the middle, or frames out of order, are errors.
    assert!(parse_stats(&format!("{{oops\n{text}")).is_err());
    let skipped = [line(0, 0, 1, None), line(2, 0, 1, None)].join("\n") + "\n";
    assert!(parse_stats(&skipped).is_err());
    assert_eq!(parse_stats("").unwrap(), Vec::new());
}

fn packet(arrival_ms: u128) -> Packet {
    Packet {
        offset: 0,
        size: 100,
        arrival_ns: arrival_ms * 1_000_000,
    }
}

#[test]
fn window_figures_count_only_frames_that_arrived_in_the_window() {
    let records: Vec<FrameRecord> = [
        (0, 1_000, 30_000, Some(1_000)), // the keyframe, in the warm-up
        (1, 40_000, 45_000, Some(1_004)),
        (2, 70_000, 72_000, Some(1_004)),
        (3, 100_000, 103_000, Some(1_010)),
        (4, 130_000, 131_000, Some(1_020)), // after the window
    ]
    .iter()
    .map(|&(frame, captured_us, taken_us, allocs)| FrameRecord {
        frame,
        captured_us,
        taken_us,
        bytes: 100,
        keyframe: frame == 0,
        allocs,
    })
    .collect();
    let packets = [
        packet(1_030),
        packet(1_045),
        packet(1_072),
        packet(1_103),
        packet(1_131),
    ];
    let window = (1_040_000_000, 1_110_000_000);
    let figures = window_figures(&packets, &records, window);
    assert_eq!(figures.stage_latency_ms, vec![5.0, 2.0, 3.0]);
    // 6 allocations over the 2 frame intervals from frame 1 to frame 3.
    assert_eq!(figures.allocs_per_frame, Some(3.0));

    let uncounted: Vec<FrameRecord> = records
        .iter()
        .map(|r| FrameRecord { allocs: None, ..*r })
        .collect();
    assert_eq!(
        window_figures(&packets, &uncounted, window).allocs_per_frame,
        None
    );
    // One frame in the window: latency, but no interval to count allocations over.
    let narrow = window_figures(&packets, &records, (1_070_000_000, 1_080_000_000));
    assert_eq!(
        (narrow.stage_latency_ms, narrow.allocs_per_frame),
        (vec![2.0], None)
    );
    // More packets than stats lines (killed between the two writes): only joined frames count.
    let figures = window_figures(&packets, &records[..2], window);
    assert_eq!(figures.stage_latency_ms, vec![5.0]);
}

#[test]
fn only_cpu_pipelines_count_as_software() {
    assert!(is_software("deskcast-vp9"));
    assert!(is_software("deskcast-h264"));
    assert!(!is_software("deskcast-nvenc-h264"));
    assert!(!is_software("ffmpeg-x264"));
}
