//! Frame splitting checked against streams that ffmpeg encodes with a known frame count.

use std::process::Command;

use super::*;

/// Encodes `frames` frames of ffmpeg's test pattern with `codec` options into `format`.
fn ffmpeg_stream(frames: u32, codec: &[&str], format: &str) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=320x240:r=30",
        ])
        .args(["-frames:v", &frames.to_string()])
        .args(codec)
        .args(["-f", format, "-"])
        .output()
        .expect("run ffmpeg (Debian package ffmpeg)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn h264_with_many_slices_per_frame_splits_into_one_unit_per_frame() {
    // Sliced threads put several slices in every picture; no access unit delimiters.
    let x264 = [
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-tune",
        "zerolatency",
        "-x264-params",
        "threads=4:sliced-threads=1",
    ];
    let data = ffmpeg_stream(25, &x264, "h264");
    let starts = split(StreamFormat::H264, &data);
    assert_eq!(starts.len(), 25);
    assert_eq!(starts[0], 0);
    assert!(starts.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn h264_with_delimiters_and_repeated_headers_splits_the_same() {
    let x264 = [
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        "5",
        "-bf",
        "0",
        "-x264-params",
        "aud=1:repeat-headers=1",
    ];
    let data = ffmpeg_stream(17, &x264, "h264");
    let starts = split(StreamFormat::H264, &data);
    assert_eq!(starts.len(), 17);
    // Every unit begins with its delimiter: 00 00 00 01 09.
    assert!(
        starts
            .iter()
            .all(|&s| data[s..].starts_with(&[0, 0, 0, 1, 9]))
    );
}

#[test]
fn ivf_splits_into_its_frames_and_a_torn_tail_is_kept() {
    let vp9 = [
        "-c:v",
        "libvpx-vp9",
        "-deadline",
        "realtime",
        "-cpu-used",
        "8",
        "-lag-in-frames",
        "0",
    ];
    let data = ffmpeg_stream(12, &vp9, "ivf");
    assert_eq!(split(StreamFormat::Ivf, &data).len(), 12);
    let torn = &data[..data.len() - 5];
    assert_eq!(split(StreamFormat::Ivf, torn).len(), 12);
    assert!(split(StreamFormat::Ivf, b"not an ivf file at all, not at all.").is_empty());
}

#[test]
fn each_packet_takes_the_arrival_time_of_its_first_byte() {
    let x264 = [
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-tune",
        "zerolatency",
    ];
    let data = ffmpeg_stream(6, &x264, "h264");
    let starts = split(StreamFormat::H264, &data);
    // Deliver the stream in two reads, cutting inside the fourth unit.
    let cut = starts[3] + 2;
    let mut recorder = Recorder::default();
    recorder.push(&data[..cut], 1_000);
    recorder.push(&data[cut..], 2_000);
    let packets = recorder.packets(StreamFormat::H264);
    let arrivals: Vec<u128> = packets.iter().map(|p| p.arrival_ns).collect();
    assert_eq!(arrivals, [1_000, 1_000, 1_000, 1_000, 2_000, 2_000]);
    assert_eq!(packets.iter().map(|p| p.size).sum::<usize>(), data.len());
}
