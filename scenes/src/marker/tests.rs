//! The marker round trip: clean, damaged, and through real lossy encoders (ffmpeg).

use std::io::Write;
use std::process::{Command, Stdio};

use super::*;
use crate::scene::{Scene, SceneKind};

#[test]
fn values_round_trip_on_a_clean_image() {
    for size in [Size::new(320, 240), Size::HD, Size::UHD] {
        let marker = Marker::for_size(size);
        let mut img = Image::new(size);
        for value in [0, 1, 0x00ab_cdef, 0x0055_5555, MAX] {
            marker.draw(&mut img, value);
            assert_eq!(marker.read(&img), Ok(value), "{value:#x} at {size}");
        }
    }
}

#[test]
fn both_copies_sit_on_the_macroblock_grid_in_opposite_corners() {
    for size in [
        Size::new(320, 240),
        Size::new(640, 360),
        Size::HD,
        Size::UHD,
    ] {
        let marker = Marker::for_size(size);
        let cell = if size == Size::UHD { 32 } else { 16 };
        let [top, bottom] = marker.rects();
        assert_eq!(top, Rect::new(0, 0, 17 * cell, 3 * cell), "{size}");
        assert_eq!(
            (bottom.right(), bottom.bottom()),
            (size.width, size.height),
            "{size}"
        );
        // The bottom copy's cells start one quiet cell in, on the grid.
        assert_eq!((bottom.x + cell) % cell, 0, "{size}");
        assert_eq!((bottom.y + cell) % cell, 0, "{size}");
        assert!(
            top.intersect(bottom).is_empty(),
            "{size}: the copies overlap"
        );
    }
}

#[test]
fn copies_that_disagree_are_refused() {
    let size = Size::new(640, 360);
    let marker = Marker::for_size(size);
    let mut old = Image::new(size);
    marker.draw(&mut old, 41);
    let mut new = Image::new(size);
    marker.draw(&mut new, 44);
    // Keep the old top-left copy, as an encoder that skipped that corner would.
    let [top, _] = marker.rects();
    let mut mixed = new.clone();
    let mut rows = Vec::new();
    old.extract(top, &mut rows);
    for (r, row) in rows.chunks_exact(top.width as usize * 4).enumerate() {
        let y = top.y as usize + r;
        let at = y * mixed.stride();
        mixed.data_mut()[at..at + row.len()].copy_from_slice(row);
    }
    assert_eq!(
        marker.read(&mixed),
        Err(MarkerError::Disagree {
            first: 41,
            second: 44
        })
    );
}

#[test]
fn a_grey_cell_is_ambiguous_and_a_flipped_cell_fails_the_checksum() {
    let size = Size::new(640, 360);
    let marker = Marker::for_size(size);
    let mut img = Image::new(size);
    marker.draw(&mut img, 0x0012_3456);
    let mut grey = img.clone();
    grey.fill(Rect::new(16 * 5, 0, 16, 16), Color::rgb(128, 128, 128));
    assert!(matches!(
        marker.read(&grey),
        Err(MarkerError::Ambiguous { cell: 5, .. })
    ));
    for cell in 0..32 {
        let mut flipped = img.clone();
        let r = Rect::new((cell % 16) * 16, (cell / 16) * 16, 16, 16);
        let was_white = flipped.pixel(r.x + 8, r.y + 8)[0] == 255;
        flipped.fill(
            r,
            if was_white {
                Color::BLACK
            } else {
                Color::WHITE
            },
        );
        assert!(
            matches!(marker.read(&flipped), Err(MarkerError::Checksum { .. })),
            "flipping cell {cell} was not caught"
        );
    }
    let other = Image::new(Size::new(320, 240));
    assert!(matches!(
        marker.read(&other),
        Err(MarkerError::WrongSize { .. })
    ));
}

/// Encodes `count` frames of `scene` with ffmpeg using `codec_args`, decodes them back to BGRA
/// with ffmpeg, and returns the markers read from the decoded frames.
fn through_ffmpeg(
    scene: &Scene,
    count: u64,
    codec_args: &[&str],
    container: &str,
) -> Vec<Result<u32, MarkerError>> {
    let ffmpeg = deskcast_testkit::require_tool("ffmpeg", "ffmpeg");
    let size = scene.size().to_string();
    // Tests run in parallel: every call gets its own directory.
    let rate = codec_args
        .iter()
        .skip_while(|a| **a != "-b:v")
        .nth(1)
        .unwrap_or(&"q");
    let dir = std::env::temp_dir().join(format!(
        "deskcast-marker-{}-{}-{container}-{rate}",
        std::process::id(),
        scene.kind(),
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let encoded = dir.join(format!("clip.{container}"));
    let mut encoder = Command::new(&ffmpeg)
        .args([
            "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgra", "-s", &size, "-r", "30",
            "-i", "-",
        ])
        .args(codec_args)
        .arg(&encoded)
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn ffmpeg encoder");
    let mut img = Image::new(scene.size());
    {
        let mut stdin = encoder.stdin.take().unwrap();
        for i in 0..count {
            scene.render(i, &mut img).unwrap();
            stdin.write_all(img.data()).unwrap();
        }
    }
    assert!(encoder.wait().unwrap().success(), "ffmpeg encoder failed");
    let decoded = Command::new(&ffmpeg)
        .args(["-v", "error", "-i"])
        .arg(&encoded)
        .args([
            "-f",
            "rawvideo",
            "-pix_fmt",
            "bgra",
            "-fps_mode",
            "passthrough",
            "-",
        ])
        .output()
        .expect("run ffmpeg decoder");
    assert!(decoded.status.success(), "ffmpeg decoder failed");
    let _ = std::fs::remove_dir_all(&dir);
    decoded
        .stdout
        .chunks_exact(scene.size().bgra_bytes())
        .map(|bytes| {
            scene
                .marker()
                .read(&Image::from_bgra(scene.size(), bytes.to_vec()).unwrap())
        })
        .collect()
}

#[test]
fn markers_survive_h264_at_low_bitrates() {
    // 150 kbit/s for 640×360 video-like motion, 80 kbit/s for typing: about 1.3 and 0.7 Mbit/s
    // at 1080p, where text is already smeared.
    let args = |rate: &'static str| {
        [
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-b:v",
            rate,
            "-pix_fmt",
            "yuv420p",
        ]
    };
    for (kind, rate) in [(SceneKind::Video, "150k"), (SceneKind::Typing, "80k")] {
        let scene = Scene::new(kind, Size::new(640, 360)).unwrap();
        let read = through_ffmpeg(&scene, 60, &args(rate), "mkv");
        assert_eq!(read.len(), 60);
        for (i, r) in read.iter().enumerate() {
            assert_eq!(*r, Ok(scene.canonical(i as u64) as u32), "{kind} frame {i}");
        }
    }
}

#[test]
fn a_starved_encoder_makes_frames_unreadable_or_older_never_newer() {
    // Full-screen motion at 60 kbit/s: the encoder skips whole frames and regions. Those
    // frames may read as an earlier frame (what they show) or not at all, never as a later one.
    let scene = Scene::new(SceneKind::FullScreen, Size::new(640, 360)).unwrap();
    let args = [
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-tune",
        "zerolatency",
        "-b:v",
        "60k",
        "-pix_fmt",
        "yuv420p",
    ];
    let read = through_ffmpeg(&scene, 90, &args, "mkv");
    assert_eq!(read.len(), 90);
    assert_eq!(read[0], Ok(0));
    for (i, r) in read.iter().enumerate() {
        if let Ok(value) = r {
            assert!(
                *value as usize <= i,
                "frame {i} read as the later frame {value}"
            );
        }
    }
    assert!(
        read.iter().any(Result::is_err),
        "a starved encoder left every marker readable"
    );
}

#[test]
fn markers_survive_vp9_realtime_and_worst_quality_jpeg() {
    let scene = Scene::new(SceneKind::Video, Size::new(640, 360)).unwrap();
    let vp9 = [
        "-c:v",
        "libvpx-vp9",
        "-deadline",
        "realtime",
        "-cpu-used",
        "8",
        "-b:v",
        "150k",
        "-lag-in-frames",
        "0",
    ];
    let mjpeg = ["-c:v", "mjpeg", "-q:v", "31", "-pix_fmt", "yuvj420p"];
    for (args, container) in [(&vp9[..], "webm"), (&mjpeg[..], "avi")] {
        let read = through_ffmpeg(&scene, 20, args, container);
        assert_eq!(read.len(), 20, "{container}");
        for (i, r) in read.iter().enumerate() {
            assert_eq!(*r, Ok(i as u32), "{container} frame {i}");
        }
    }
}
