//! PSNR against a case worked by hand and against ffmpeg's own psnr filter.

use std::process::Command;

use super::*;
use crate::geometry::Size;
use crate::image::Color;
use crate::scene::{Scene, SceneKind};

#[test]
fn a_uniform_error_of_ten_levels_is_28_13_db() {
    let size = Size::new(64, 48);
    let mut a = Image::new(size);
    let mut b = Image::new(size);
    a.fill(size.rect(), Color::rgb(100, 100, 100));
    b.fill(size.rect(), Color::rgb(110, 90, 110));
    // Every sample is off by exactly 10, so the MSE is 100 and the PSNR 10·log10(255²/100).
    assert_eq!(mse(&a, &b).unwrap(), 100.0);
    assert!((psnr(100.0) - 28.1308).abs() < 1e-4);
    assert_eq!(psnr(mse(&a, &a).unwrap()), f64::INFINITY);
}

#[test]
fn alpha_is_ignored_and_sizes_must_match() {
    let size = Size::new(8, 8);
    let a = Image::new(size);
    let mut data = a.data().to_vec();
    for px in data.chunks_exact_mut(4) {
        px[3] = 0;
    }
    let b = Image::from_bgra(size, data).unwrap();
    assert_eq!(mse(&a, &b).unwrap(), 0.0);
    assert!(mse(&a, &Image::new(Size::new(8, 9))).is_err());
}

#[test]
fn psnr_matches_ffmpeg_psnr_filter() {
    let ffmpeg = deskcast_testkit::require_tool("ffmpeg", "ffmpeg");
    let size = Size::new(320, 240);
    let scene = Scene::new(SceneKind::Video, size).unwrap();
    let (mut a, mut b) = (Image::new(size), Image::new(size));
    scene.render(10, &mut a).unwrap();
    scene.render(11, &mut b).unwrap();
    let dir = std::env::temp_dir().join(format!("deskcast-psnr-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bgr = |img: &Image| -> Vec<u8> {
        img.data()
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect()
    };
    std::fs::write(dir.join("a.bgr"), bgr(&a)).unwrap();
    std::fs::write(dir.join("b.bgr"), bgr(&b)).unwrap();
    let raw = ["-f", "rawvideo", "-pix_fmt", "bgr24", "-s", "320x240", "-i"];
    let out = Command::new(ffmpeg)
        .args(["-hide_banner", "-nostats"])
        .args(raw)
        .arg(dir.join("a.bgr"))
        .args(raw)
        .arg(dir.join("b.bgr"))
        .args(["-lavfi", "psnr", "-f", "null", "-"])
        .output()
        .expect("run ffmpeg");
    let _ = std::fs::remove_dir_all(&dir);
    let log = String::from_utf8_lossy(&out.stderr);
    let theirs: f64 = log
        .split("average:")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no PSNR average in ffmpeg's output:\n{log}"));
    let ours = psnr(mse(&a, &b).unwrap());
    assert!(
        (ours - theirs).abs() < 0.01,
        "ours {ours:.3} dB, ffmpeg {theirs:.3} dB"
    );
    assert!(ours.is_finite() && ours > 5.0);
}
