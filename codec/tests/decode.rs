//! The decoders against FFmpeg's: the same encoded stream, decoded by `deskcast_codec::decode`
//! and by FFmpeg (its own VP8, VP9 and H.264 decoders, no libvpx or OpenH264 involved), must
//! give the same pictures byte for byte. VP8, VP9 and H.264 decoding is exactly specified, so
//! any difference is a bug in one of them.

// The helpers are shared with `software.rs`; this binary uses some of them.
#[allow(dead_code)]
mod support;

use std::path::Path;
use std::process::Command;

use deskcast_codec::decode::Decoder;
use deskcast_codec::software::default_bitrate_kbps;
use deskcast_codec::{Backend, Codec, EncoderConfig};

use support::scene::{Desktop, Motion};
use support::{Encoded, encode_one, psnr};

/// Encodes `frames` frames of a moving desktop, with a keyframe requested at `idr_at`.
fn stream(codec: Codec, w: u32, h: u32, frames: u32, idr_at: u32) -> Vec<Encoded> {
    let config = EncoderConfig {
        codec,
        width: w,
        height: h,
        fps: 30,
        bitrate_kbps: default_bitrate_kbps(w, h, 30),
        threads: 0,
    };
    let mut enc = deskcast_codec::open(Backend::Software, &config).expect("open encoder");
    let mut scene = Desktop::new(w, h, Motion::Window);
    (0..frames)
        .flat_map(|i| {
            if i == idr_at {
                enc.request_keyframe();
            }
            encode_one(enc.as_mut(), &scene.render(i))
        })
        .collect()
}

/// Decodes `path` with FFmpeg's own decoder for `codec` (named, so that FFmpeg cannot pick
/// libvpx), into tight `yuv420p` frames of `frame_len` bytes.
fn ffmpeg_decode(codec: Codec, path: &Path, frame_len: usize) -> Vec<Vec<u8>> {
    let ffmpeg = deskcast_testkit::require_tool("ffmpeg", "ffmpeg");
    let decoder = match codec {
        Codec::Vp8 => "vp8",
        Codec::Vp9 => "vp9",
        _ => "h264",
    };
    let out = Command::new(ffmpeg)
        .args(["-v", "error", "-nostdin", "-c:v", decoder, "-i"])
        .arg(path)
        .args(["-f", "rawvideo", "-pix_fmt", "yuv420p", "-"])
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "ffmpeg failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout.len() % frame_len, 0, "partial frame from ffmpeg");
    out.stdout.chunks(frame_len).map(<[u8]>::to_vec).collect()
}

/// Decodes `packets` with our decoder, as tight `yuv420p` frames.
fn ours(codec: Codec, packets: &[Encoded]) -> Vec<Vec<u8>> {
    let mut decoder = Decoder::new(codec).expect("decoder");
    packets
        .iter()
        .enumerate()
        .map(|(i, p)| {
            decoder
                .decode(&p.data)
                .unwrap_or_else(|e| panic!("{codec} frame {i}: {e}"))
                .unwrap_or_else(|| panic!("{codec} frame {i}: no picture"))
                .to_picture()
                .as_bytes()
                .to_vec()
        })
        .collect()
}

fn check_against_ffmpeg(codec: Codec, w: u32, h: u32) {
    let packets = stream(codec, w, h, 40, 23);
    let decoded = ours(codec, &packets);
    let dir = tempfile::tempdir().unwrap();
    let path = support::write_stream(dir.path(), codec, w, h, &packets);
    let reference = ffmpeg_decode(codec, &path, decoded[0].len());
    assert_eq!(reference.len(), decoded.len(), "{codec}: frame count");
    for (i, (a, b)) in decoded.iter().zip(&reference).enumerate() {
        let differing = a.iter().zip(b).filter(|(x, y)| x != y).count();
        assert!(
            differing == 0,
            "{codec} frame {i}: {differing} of {} bytes differ from FFmpeg (PSNR {:.1} dB)",
            a.len(),
            psnr(a, b)
        );
    }
    // A stream cut at the requested keyframe decodes on its own, and the same way.
    let tail = ours(codec, &packets[23..]);
    assert_eq!(
        tail[..],
        decoded[23..],
        "{codec}: decoding from the keyframe"
    );
}

#[test]
fn vp9_pictures_match_ffmpeg_byte_for_byte() {
    check_against_ffmpeg(Codec::Vp9, 640, 360);
}

#[test]
fn vp8_pictures_match_ffmpeg_byte_for_byte() {
    check_against_ffmpeg(Codec::Vp8, 640, 360);
}

#[test]
fn h264_pictures_match_ffmpeg_byte_for_byte() {
    check_against_ffmpeg(Codec::H264, 640, 360);
}

#[test]
fn odd_sized_vpx_pictures_match_ffmpeg() {
    check_against_ffmpeg(Codec::Vp9, 333, 187);
    check_against_ffmpeg(Codec::Vp8, 333, 187);
}
