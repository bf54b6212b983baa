//! The software encoders end to end, with ffmpeg as the independent decoder: picture quality
//! on a desktop scene, keyframes on request, constant bitrate, H.264 access-unit structure,
//! colour signalling, odd sizes.

mod support;

use deskcast_codec::convert::I420;
use deskcast_codec::software::default_bitrate_kbps;
use deskcast_codec::{Backend, Codec, Encoder, EncoderConfig, Frame};

use support::scene::{Desktop, Motion};
use support::{Encoded, encode_one, ffmpeg_decode, ffprobe_colour, nal_types, psnr, tight_i420};

const CODECS: [Codec; 3] = [Codec::Vp9, Codec::Vp8, Codec::H264];

fn open(codec: Codec, width: u32, height: u32, kbps: u32) -> Box<dyn Encoder> {
    let config = EncoderConfig {
        codec,
        width,
        height,
        fps: 30,
        bitrate_kbps: kbps,
        threads: 0,
    };
    let enc = deskcast_codec::open(Backend::Software, &config).expect("open encoder");
    assert_eq!(enc.codec(), codec);
    assert_eq!(enc.backend(), Backend::Software);
    enc
}

/// Encodes `frames` frames of `scene`, requesting a keyframe before the frames in `idr_at`.
/// Returns the packets (exactly one per frame is checked) and the I420 each frame became.
fn run(
    enc: &mut dyn Encoder,
    scene: &mut Desktop,
    frames: u32,
    idr_at: &[u32],
) -> (Vec<Encoded>, Vec<Vec<u8>>) {
    let (mut packets, mut sources) = (Vec::new(), Vec::new());
    let mut yuv = None;
    for i in 0..frames {
        if idr_at.contains(&i) {
            enc.request_keyframe();
        }
        let frame = scene.render(i);
        let yuv = yuv.get_or_insert_with(|| I420::new(frame.width, frame.height).unwrap());
        yuv.convert_all(&frame).unwrap();
        sources.push(tight_i420(yuv));
        let mut out = encode_one(enc, &frame);
        assert_eq!(
            out.len(),
            1,
            "{}: frame {i} gave {} packets",
            enc.codec(),
            out.len()
        );
        packets.append(&mut out);
    }
    (packets, sources)
}

/// Decodes `packets` with ffmpeg and returns the PSNR (dB) of each frame against `sources`.
fn decoded_psnr(
    codec: Codec,
    w: u32,
    h: u32,
    packets: &[Encoded],
    sources: &[Vec<u8>],
) -> Vec<f64> {
    let dir = tempfile::tempdir().unwrap();
    let path = support::write_stream(dir.path(), codec, w, h, packets);
    let frame_len = sources[0].len();
    let decoded = ffmpeg_decode(&path, "yuv420p", frame_len);
    assert_eq!(
        decoded.len(),
        sources.len(),
        "{codec}: ffmpeg decoded a different frame count"
    );
    decoded
        .iter()
        .zip(sources)
        .map(|(d, s)| psnr(d, s))
        .collect()
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

#[test]
fn desktop_scene_decodes_above_35_db_at_the_default_bitrate() {
    let (w, h) = (1920, 1080);
    let kbps = default_bitrate_kbps(w, h, 30);
    support::init_tracing();
    for codec in CODECS {
        let mut enc = open(codec, w, h, kbps);
        let mut scene = Desktop::new(w, h, Motion::Window);
        let (packets, sources) = run(enc.as_mut(), &mut scene, 45, &[]);
        let scores = decoded_psnr(codec, w, h, &packets, &sources);
        let (avg, worst) = (
            mean(&scores),
            scores.iter().copied().fold(f64::MAX, f64::min),
        );
        tracing::info!(%codec, kbps, avg, worst, "PSNR at 1080p");
        assert!(
            avg >= 35.0,
            "{codec} at {kbps} kbit/s: mean PSNR {avg:.2} dB (worst {worst:.2})"
        );
    }
}

#[test]
fn a_requested_keyframe_is_the_next_packet_and_decodes_on_its_own() {
    let (w, h) = (640, 360);
    for codec in CODECS {
        let mut enc = open(codec, w, h, default_bitrate_kbps(w, h, 30));
        let mut scene = Desktop::new(w, h, Motion::Window);
        let (packets, sources) = run(enc.as_mut(), &mut scene, 40, &[17]);
        let keys: Vec<usize> = (0..packets.len())
            .filter(|&i| packets[i].keyframe)
            .collect();
        assert_eq!(
            keys,
            [0, 17],
            "{codec}: keyframes only first and on request"
        );
        // Decoding starts at the keyframe. A mid-stream keyframe gets about three frames' worth
        // of bits under CBR, so it starts softer and sharpens over the next frames.
        let scores = decoded_psnr(codec, w, h, &packets[17..], &sources[17..]);
        assert!(
            scores[0] >= 25.0 && mean(&scores) >= 30.0,
            "{codec}: from the keyframe on, {scores:?}"
        );
    }
}

#[test]
fn constant_bitrate_holds_within_20_percent_over_300_frames() {
    let (w, h) = (960, 540);
    let kbps = default_bitrate_kbps(w, h, 30);
    support::init_tracing();
    for codec in CODECS {
        let mut enc = open(codec, w, h, kbps);
        let mut scene = Desktop::new(w, h, Motion::Video);
        let mut bytes = 0usize;
        for i in 0..300 {
            let packets = encode_one(enc.as_mut(), &scene.render(i));
            assert_eq!(packets.len(), 1, "{codec}: frame {i}");
            assert_eq!(
                packets[0].keyframe,
                i == 0,
                "{codec}: frame {i}: unrequested keyframe"
            );
            bytes += packets[0].data.len();
        }
        // 300 frames at 30 fps are 10 s.
        let got = bytes as f64 * 8.0 / 10.0 / 1000.0;
        tracing::info!(%codec, target = kbps, got, "CBR");
        let ratio = got / f64::from(kbps);
        assert!(
            (0.8..=1.2).contains(&ratio),
            "{codec}: {got:.0} kbit/s for a {kbps} kbit/s target"
        );
    }
}

#[test]
fn set_bitrate_takes_effect_on_a_running_encoder() {
    let (w, h) = (640, 360);
    for codec in CODECS {
        let mut enc = open(codec, w, h, 2000);
        let mut scene = Desktop::new(w, h, Motion::Video);
        for i in 0..30 {
            encode_one(enc.as_mut(), &scene.render(i));
        }
        enc.set_bitrate(300).unwrap();
        enc.set_fps(30).unwrap();
        // Give the rate control one second to drain its buffer, then measure two seconds.
        let bytes: usize = (30..120)
            .map(|i| encode_one(enc.as_mut(), &scene.render(i))[0].data.len())
            .skip(30)
            .sum();
        let got = bytes as f64 * 8.0 / 2.0 / 1000.0;
        assert!(
            (240.0..=360.0).contains(&got),
            "{codec}: {got:.0} kbit/s after asking for 300"
        );
    }
}

#[test]
fn h264_puts_sps_pps_before_every_idr_and_decodes_from_any_idr() {
    let (w, h) = (640, 360);
    let mut enc = open(Codec::H264, w, h, default_bitrate_kbps(w, h, 30));
    let mut scene = Desktop::new(w, h, Motion::Scroll);
    let (packets, sources) = run(enc.as_mut(), &mut scene, 60, &[20, 41]);
    for (i, p) in packets.iter().enumerate() {
        let types = nal_types(&p.data);
        let vcl: Vec<u8> = types
            .iter()
            .copied()
            .filter(|t| (1..=5).contains(t))
            .collect();
        assert!(!vcl.is_empty(), "frame {i}: no picture in {types:?}");
        if p.keyframe {
            assert_eq!(
                &types[..2],
                [7, 8],
                "frame {i}: IDR without SPS, PPS first: {types:?}"
            );
            assert!(
                vcl.iter().all(|&t| t == 5),
                "frame {i}: keyframe with non-IDR slices"
            );
        } else {
            assert!(vcl.iter().all(|&t| t == 1), "frame {i}: {types:?}");
            assert!(!types.contains(&7), "frame {i}: SPS outside an IDR");
        }
    }
    // The SPS says constrained baseline: profile_idc 66 with constraint_set1_flag.
    let sps = packets[0]
        .data
        .windows(4)
        .position(|w| w == [0, 0, 1, 0x67]);
    let at = sps.expect("an SPS in the first access unit") + 4;
    let (profile, constraints) = (packets[0].data[at], packets[0].data[at + 1]);
    assert_eq!(profile, 66, "profile_idc");
    assert_ne!(constraints & 0x40, 0, "constraint_set1_flag");
    let keys: Vec<usize> = (0..packets.len())
        .filter(|&i| packets[i].keyframe)
        .collect();
    assert_eq!(keys, [0, 20, 41]);
    for cut in keys {
        let scores = decoded_psnr(Codec::H264, w, h, &packets[cut..], &sources[cut..]);
        assert!(mean(&scores) >= 30.0, "decoding from IDR {cut}: {scores:?}");
    }
}

/// Flat patches of saturated colours, white and black go through each codec and come back from
/// ffmpeg as RGB within a few levels: the matrix and range the converter uses are the ones the
/// bitstream tells decoders (a BT.709 or full-range reading would shift them by 10–25 levels).
#[test]
fn colours_are_signalled_as_bt601_limited_and_decode_back() {
    const PATCHES: [[u8; 3]; 8] = [
        [255, 0, 0],
        [0, 255, 0],
        [0, 0, 255],
        [255, 255, 0],
        [0, 255, 255],
        [255, 0, 255],
        [255, 255, 255],
        [0, 0, 0],
    ];
    let (w, h) = (256u32, 128u32);
    let mut bgra = vec![0u8; (w * h * 4) as usize];
    for (i, px) in bgra.chunks_exact_mut(4).enumerate() {
        let x = i % w as usize;
        let y = i / w as usize;
        let [r, g, b] = PATCHES[(y / 64) * 4 + x / 64];
        px.copy_from_slice(&[b, g, r, 0xff]);
    }
    let frame = Frame {
        data: &bgra,
        width: w,
        height: h,
        stride: (w * 4) as usize,
        damage: &[],
        pts_ms: 0,
        buffer: None,
    };
    for codec in CODECS {
        let mut enc = open(codec, w, h, 2000);
        let packets: Vec<Encoded> = (0..5)
            .flat_map(|_| encode_one(enc.as_mut(), &frame))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = support::write_stream(dir.path(), codec, w, h, &packets);
        if codec != Codec::Vp8 {
            // VP8 has no colour fields: BT.601 studio range is its only colour space.
            let (space, range) = ffprobe_colour(&path);
            assert!(
                ["bt470bg", "smpte170m"].contains(&space.as_str()),
                "{codec}: colour space {space:?}"
            );
            assert_eq!(range, "tv", "{codec}: range");
        }
        let rgb = ffmpeg_decode(&path, "rgb24", (w * h * 3) as usize);
        let last = rgb.last().unwrap();
        for (i, want) in PATCHES.iter().enumerate() {
            let (x, y) = ((i % 4) * 64 + 32, (i / 4) * 64 + 32);
            let at = (y * w as usize + x) * 3;
            let got = &last[at..at + 3];
            let off = got
                .iter()
                .zip(want)
                .map(|(g, w)| g.abs_diff(*w))
                .max()
                .unwrap_or(0);
            assert!(off <= 6, "{codec}: patch {want:?} came back as {got:?}");
        }
    }
}

#[test]
fn vpx_encodes_odd_sizes_from_padded_rows() {
    let (w, h) = (333u32, 187u32);
    for codec in [Codec::Vp9, Codec::Vp8] {
        let mut enc = open(codec, w, h, 800);
        let mut scene = Desktop::with_stride(w, h, w as usize * 4 + 52, Motion::Window);
        let (packets, sources) = run(enc.as_mut(), &mut scene, 20, &[]);
        let scores = decoded_psnr(codec, w, h, &packets, &sources);
        assert!(mean(&scores) >= 30.0, "{codec} at {w}x{h}: {scores:?}");
    }
}
