//! The stream containers and the JSON side channel of `deskcast encode-stream`.

use super::*;

fn frame(data: &[u8], keyframe: bool, pts_ms: i64, captured_us: u64) -> EncodedFrame {
    EncodedFrame {
        data: data.to_vec(),
        keyframe,
        pts_ms,
        codec: Some(Codec::Vp9),
        captured_us,
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

#[test]
fn the_ivf_header_carries_the_fourcc_size_and_a_millisecond_time_base() {
    let container = Container::for_codec(Codec::Vp9)
        .unwrap()
        .with_size(1920, 1080);
    let mut out = Vec::new();
    container.header(&mut out);
    // The IVF layout (libvpx's ivfenc): signature, version, header size, FourCC, width, height,
    // time base denominator and numerator, frame count, unused.
    assert_eq!(out.len(), 32);
    assert_eq!(&out[0..4], b"DKIF");
    assert_eq!(u16_at(&out, 4), 0);
    assert_eq!(u16_at(&out, 6), 32);
    assert_eq!(&out[8..12], b"VP90");
    assert_eq!((u16_at(&out, 12), u16_at(&out, 14)), (1920, 1080));
    assert_eq!((u32_at(&out, 16), u32_at(&out, 20)), (1000, 1));

    let mut vp8 = Vec::new();
    Container::for_codec(Codec::Vp8)
        .unwrap()
        .with_size(70_000, 2)
        .header(&mut vp8);
    assert_eq!(&vp8[8..12], b"VP80");
    assert_eq!(
        u16_at(&vp8, 12),
        u16::MAX,
        "a width past 16 bits is clamped, not wrapped"
    );
}

#[test]
fn ivf_frames_are_size_pts_then_data_and_walk_back_to_back() {
    let container = Container::for_codec(Codec::Vp8).unwrap();
    let mut out = Vec::new();
    container.header(&mut out);
    let payloads: [&[u8]; 3] = [b"key frame bytes", b"", b"\x00\x01\x02"];
    for (i, p) in payloads.iter().enumerate() {
        container.frame(p, 33 * i as i64, &mut out);
    }
    container.frame(b"x", -5, &mut out);
    // Walk the file as a demuxer would.
    let mut at = 32;
    let mut seen = Vec::new();
    while at < out.len() {
        let size = u32_at(&out, at) as usize;
        let pts = u64::from_le_bytes(out[at + 4..at + 12].try_into().unwrap());
        seen.push((out[at + 12..at + 12 + size].to_vec(), pts));
        at += 12 + size;
    }
    assert_eq!(at, out.len(), "frames end exactly at the end of the file");
    assert_eq!(
        seen,
        vec![
            (b"key frame bytes".to_vec(), 0),
            (Vec::new(), 33),
            (vec![0, 1, 2], 66),
            (b"x".to_vec(), 0),
        ],
        "a negative pts is written as 0"
    );
}

#[test]
fn annex_b_has_no_header_and_access_units_go_out_unchanged() {
    let container = Container::for_codec(Codec::H264).unwrap().with_size(64, 64);
    assert_eq!(container, Container::AnnexB);
    let mut out = Vec::new();
    container.header(&mut out);
    assert!(out.is_empty());
    let au = [0, 0, 0, 1, 0x67, 0x42, 0, 0, 1, 0x65, 0x88];
    container.frame(&au, 10, &mut out);
    container.frame(&au[4..], 20, &mut out);
    assert_eq!(out, [&au[..], &au[4..]].concat());
    assert_eq!(Container::for_codec(Codec::Av1), None);
}

#[test]
fn each_frame_record_is_one_json_line_with_every_field() {
    let mut tally = Tally::new();
    let f = frame(&[7; 1234], true, 0, 5_000_000);
    let record = tally.frame(&f, 5_012_345, false, Some(42));
    let mut line = Vec::new();
    record_line(&record, &mut line);
    assert_eq!(line.last(), Some(&b'\n'));
    assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
    let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
    assert_eq!(
        value,
        serde_json::json!({
            "frame": 0, "captured_us": 5_000_000, "taken_us": 5_012_345,
            "bytes": 1234, "keyframe": true, "allocs": 42
        })
    );

    let record = tally.frame(&frame(b"ab", false, 33, 5_033_000), 5_034_000, false, None);
    line.clear();
    record_line(&record, &mut line);
    let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
    assert_eq!(value["frame"], 1);
    assert!(
        value["allocs"].is_null(),
        "without the counter, allocs is null"
    );
}

#[test]
fn the_summary_has_stage_latency_and_steady_state_allocations_per_frame() {
    let mut tally = Tally::new();
    // Warm-up frames: their allocations do not count.
    tally.frame(&frame(b"k", true, 0, 1_000), 11_000, false, Some(500));
    tally.frame(&frame(b"d", false, 0, 2_000), 4_000, false, Some(900));
    // Steady state: 3 allocations over the 2 frame intervals after the first steady frame.
    tally.frame(&frame(b"d", false, 0, 3_000), 4_000, true, Some(1_000));
    tally.frame(&frame(b"d", false, 0, 4_000), 7_000, true, Some(1_001));
    tally.frame(&frame(b"dd", false, 0, 5_000), 6_000, true, Some(1_003));
    let route = Route {
        backend: Backend::Software,
        codec: Codec::Vp9,
        quality: 100,
    };
    let summary = tally.summary(route, 2.5);
    assert_eq!(
        (summary.frames, summary.keyframes, summary.bytes),
        (5, 1, 6)
    );
    assert_eq!(
        (summary.backend.as_str(), summary.codec),
        ("software", "vp9")
    );
    assert_eq!(summary.allocs_per_frame, Some(1.5));
    let latency = summary.stage_latency.unwrap();
    // Latencies 10, 2, 1, 3, 1 ms: nearest-rank median 2, p99 and max 10.
    assert_eq!(
        (
            latency.samples,
            latency.median_ms,
            latency.p99_ms,
            latency.max_ms
        ),
        (5, 2.0, 10.0, 10.0)
    );
    let json: serde_json::Value =
        serde_json::from_str(&serde_json::to_string(&summary).unwrap()).unwrap();
    assert_eq!(json["allocs_per_frame"], 1.5);
    assert_eq!(json["stage_latency"]["median_ms"], 2.0);

    let mut uncounted = Tally::new();
    uncounted.frame(&frame(b"k", true, 0, 0), 1_000, true, None);
    uncounted.frame(&frame(b"k", false, 0, 0), 1_000, true, None);
    assert_eq!(uncounted.summary(route, 1.0).allocs_per_frame, None);
}
