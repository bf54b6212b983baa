//! Test helpers: put packets into the files ffmpeg reads (IVF, raw Annex B), decode them with
//! ffmpeg as an independent decoder, and compare pictures (PSNR).

pub mod scene;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use deskcast_codec::convert::I420;
use deskcast_codec::{Codec, Encoder};

/// Sends `tracing` output to the test harness (shown with `--nocapture`), once per binary.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("info")
        .try_init();
}

/// One encoded frame, kept for writing out later.
#[derive(Debug, Clone)]
pub struct Encoded {
    pub data: Vec<u8>,
    pub keyframe: bool,
}

/// Sends one frame and collects every packet it produced.
pub fn encode_one(enc: &mut dyn Encoder, frame: &deskcast_codec::Frame<'_>) -> Vec<Encoded> {
    enc.send_frame(frame).expect("send_frame");
    let mut out = Vec::new();
    let codec = enc.codec();
    while let Some(p) = enc.receive_packet().expect("receive_packet") {
        assert_eq!(p.codec, codec);
        assert_eq!(p.pts_ms, frame.pts_ms);
        out.push(Encoded {
            data: p.data.to_vec(),
            keyframe: p.keyframe,
        });
    }
    out
}

/// The planes of `yuv` without row padding, as ffmpeg's `yuv420p` rawvideo lays them out.
pub fn tight_i420(yuv: &I420) -> Vec<u8> {
    let (w, h) = (yuv.width() as usize, yuv.height() as usize);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let mut out = Vec::with_capacity(w * h + 2 * cw * ch);
    for row in yuv.y().chunks(yuv.y_stride()).take(h) {
        out.extend_from_slice(&row[..w]);
    }
    for plane in [yuv.u(), yuv.v()] {
        for row in plane.chunks(yuv.uv_stride()).take(ch) {
            out.extend_from_slice(&row[..cw]);
        }
    }
    out
}

/// Writes the packets where ffmpeg can read them: IVF for VP8/VP9, a raw Annex B byte stream
/// for H.264. Returns the file's path.
pub fn write_stream(dir: &Path, codec: Codec, w: u32, h: u32, packets: &[Encoded]) -> PathBuf {
    let (name, fourcc) = match codec {
        Codec::Vp8 => ("stream.ivf", Some(*b"VP80")),
        Codec::Vp9 => ("stream.ivf", Some(*b"VP90")),
        _ => ("stream.h264", None),
    };
    let path = dir.join(name);
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    if let Some(fourcc) = fourcc {
        let mut header = Vec::with_capacity(32);
        header.extend_from_slice(b"DKIF");
        header.extend_from_slice(&0u16.to_le_bytes());
        header.extend_from_slice(&32u16.to_le_bytes());
        header.extend_from_slice(&fourcc);
        header.extend_from_slice(&(w as u16).to_le_bytes());
        header.extend_from_slice(&(h as u16).to_le_bytes());
        header.extend_from_slice(&30u32.to_le_bytes());
        header.extend_from_slice(&1u32.to_le_bytes());
        header.extend_from_slice(&(packets.len() as u32).to_le_bytes());
        header.extend_from_slice(&0u32.to_le_bytes());
        file.write_all(&header).unwrap();
        for (i, p) in packets.iter().enumerate() {
            file.write_all(&(p.data.len() as u32).to_le_bytes())
                .unwrap();
            file.write_all(&(i as u64).to_le_bytes()).unwrap();
            file.write_all(&p.data).unwrap();
        }
    } else {
        for p in packets {
            file.write_all(&p.data).unwrap();
        }
    }
    file.flush().unwrap();
    path
}

/// Decodes `path` with ffmpeg into frames of `pix_fmt` ("yuv420p", "rgb24"), `frame_len` bytes
/// each.
pub fn ffmpeg_decode(path: &Path, pix_fmt: &str, frame_len: usize) -> Vec<Vec<u8>> {
    let ffmpeg = deskcast_testkit::require_tool("ffmpeg", "ffmpeg");
    let out = Command::new(ffmpeg)
        .args(["-v", "error", "-nostdin", "-i"])
        .arg(path)
        .args(["-f", "rawvideo", "-pix_fmt", pix_fmt, "-"])
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "ffmpeg failed on {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout.len() % frame_len, 0, "partial frame from ffmpeg");
    out.stdout.chunks(frame_len).map(<[u8]>::to_vec).collect()
}

/// What ffprobe says about the stream's colour: (`color_space`, `color_range`).
pub fn ffprobe_colour(path: &Path) -> (String, String) {
    let ffprobe = deskcast_testkit::require_tool("ffprobe", "ffmpeg");
    let out = Command::new(ffprobe)
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .args([
            "stream=color_space,color_range",
            "-of",
            "default=noprint_wrappers=1",
        ])
        .arg(path)
        .output()
        .expect("run ffprobe");
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
            .unwrap_or("")
            .to_owned()
    };
    (field("color_space"), field("color_range"))
}

/// Peak signal-to-noise ratio of two 8-bit pictures, in dB (100 when identical).
pub fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    let sse: u64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| u64::from(x.abs_diff(y)).pow(2))
        .sum();
    if sse == 0 {
        return 100.0;
    }
    let mse = sse as f64 / a.len() as f64;
    10.0 * (255.0 * 255.0 / mse).log10()
}

/// The NAL unit types of an Annex B access unit, in order.
pub fn nal_types(au: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    let mut i = 0;
    while i + 3 <= au.len() {
        if au[i..i + 3] == [0, 0, 1] {
            if let Some(&header) = au.get(i + 3) {
                types.push(header & 0x1f);
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    types
}
