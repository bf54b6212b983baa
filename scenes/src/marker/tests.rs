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
fn cells_are_macroblock_aligned_and_twice_as_large_at_4k() {
    assert_eq!(Marker::for_size(Size::HD).rect(), Rect::new(0, 0, 256, 32));
    assert_eq!(Marker::for_size(Size::UHD).rect(), Rect::new(0, 0, 512, 64));
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
    let dir = std::env::temp_dir().join(format!(
        "deskcast-marker-{}-{}",
        std::process::id(),
        container
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
fn markers_survive_h264_at_a_starved_bitrate() {
    // 150 kbit/s for 640×360 full-screen motion is far below anything usable: the picture is
    // mush, and the marker must still read.
    let scene = Scene::new(SceneKind::FullScreen, Size::new(640, 360)).unwrap();
    let args = [
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-tune",
        "zerolatency",
        "-b:v",
        "150k",
        "-pix_fmt",
        "yuv420p",
    ];
    let read = through_ffmpeg(&scene, 45, &args, "mkv");
    assert_eq!(read.len(), 45);
    for (i, r) in read.iter().enumerate() {
        assert_eq!(*r, Ok(i as u32), "frame {i}");
    }
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
        "100k",
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
