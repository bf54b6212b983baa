//! The decoders against the software encoders: round trips keep the picture, broken or
//! orphaned packets are typed errors, BGRA conversion inverts the encoders' conversion.
//! The cross-check against FFmpeg's decoders is in `codec/tests/decode.rs`.

use super::{DecodeError, Decoder, Picture};
use crate::convert::I420;
use crate::{Backend, Codec, Encoder, EncoderConfig, Frame};

const CODECS: [Codec; 3] = [Codec::Vp9, Codec::Vp8, Codec::H264];

/// A BGRA test picture: gradients, a moving bar and fine text-like stripes.
fn pattern(width: u32, height: u32, index: u32) -> Vec<u8> {
    let (w, h) = (width as usize, height as usize);
    let mut data = vec![0u8; w * h * 4];
    let bar = (index as usize * 7) % w;
    for y in 0..h {
        for x in 0..w {
            let p = &mut data[(y * w + x) * 4..][..4];
            let stripe = if (y / 4) % 2 == 0 && (x / 2) % 2 == 0 {
                60
            } else {
                0
            };
            p[0] = (x * 255 / w) as u8;
            p[1] = (y * 255 / h) as u8;
            p[2] = if x.abs_diff(bar) < 8 {
                240
            } else {
                40 + stripe
            };
            p[3] = 255;
        }
    }
    data
}

fn frame(data: &[u8], width: u32, height: u32) -> Frame<'_> {
    Frame {
        data,
        width,
        height,
        stride: width as usize * 4,
        damage: &[],
        pts_ms: 0,
        buffer: None,
    }
}

fn encoder(codec: Codec, width: u32, height: u32) -> Box<dyn Encoder> {
    let config = EncoderConfig {
        codec,
        width,
        height,
        fps: 30,
        bitrate_kbps: 3_000,
        threads: 1,
    };
    crate::open(Backend::Software, &config).expect("software encoder")
}

/// Encodes `count` pattern frames; returns each packet with the I420 it was made from.
fn encode(codec: Codec, width: u32, height: u32, count: u32) -> Vec<(Vec<u8>, Picture)> {
    let mut enc = encoder(codec, width, height);
    let mut yuv = I420::new(width, height).unwrap();
    (0..count)
        .map(|i| {
            let bgra = pattern(width, height, i);
            let frame = frame(&bgra, width, height);
            yuv.convert_all(&frame).unwrap();
            enc.send_frame(&frame).unwrap();
            let packet = enc.receive_packet().unwrap().expect("one packet per frame");
            let source = super::DecodedFrame {
                width,
                height,
                y: yuv.y(),
                u: yuv.u(),
                v: yuv.v(),
                y_stride: yuv.y_stride(),
                uv_stride: yuv.uv_stride(),
            }
            .to_picture();
            (packet.data.to_vec(), source)
        })
        .collect()
}

fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    let sse: u64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| u64::from(x.abs_diff(y)).pow(2))
        .sum();
    if sse == 0 {
        return 100.0;
    }
    10.0 * (255.0 * 255.0 * a.len() as f64 / sse as f64).log10()
}

#[test]
fn every_codec_round_trips_above_35_db() {
    let (w, h) = (320, 240);
    for codec in CODECS {
        let mut decoder = Decoder::new(codec).unwrap();
        assert_eq!(decoder.codec(), codec);
        for (i, (packet, source)) in encode(codec, w, h, 12).iter().enumerate() {
            let picture = decoder
                .decode(packet)
                .unwrap_or_else(|e| panic!("{codec} frame {i}: {e}"))
                .unwrap_or_else(|| panic!("{codec} frame {i}: no picture"))
                .to_picture();
            assert_eq!((picture.width(), picture.height()), (w, h));
            let db = psnr(picture.as_bytes(), source.as_bytes());
            assert!(db >= 35.0, "{codec} frame {i}: {db:.1} dB");
        }
    }
}

#[test]
fn odd_sizes_come_back_at_their_size() {
    // OpenH264 encodes even sizes only.
    for (codec, w, h) in [
        (Codec::Vp9, 333, 187),
        (Codec::Vp8, 333, 187),
        (Codec::H264, 334, 188),
    ] {
        let (packet, source) = encode(codec, w, h, 1).remove(0);
        let mut decoder = Decoder::new(codec).unwrap();
        let picture = decoder.decode(&packet).unwrap().unwrap().to_picture();
        assert_eq!((picture.width(), picture.height()), (w, h), "{codec}");
        assert_eq!(
            picture.u().len(),
            (w as usize).div_ceil(2) * (h as usize).div_ceil(2)
        );
        assert!(
            psnr(picture.as_bytes(), source.as_bytes()) >= 35.0,
            "{codec}"
        );
    }
}

#[test]
fn a_stream_that_starts_without_a_keyframe_is_refused() {
    for codec in CODECS {
        let packets = encode(codec, 160, 120, 3);
        let mut decoder = Decoder::new(codec).unwrap();
        let result = decoder.decode(&packets[2].0).map(|f| f.is_some());
        assert!(
            matches!(result, Err(DecodeError::Corrupt { codec: c, .. }) if c == codec),
            "{codec}: {result:?}"
        );
        // The decoder recovers at the next keyframe.
        assert!(decoder.decode(&packets[0].0).unwrap().is_some(), "{codec}");
    }
}

#[test]
fn garbage_and_empty_packets_are_typed_errors() {
    let mut noise = vec![0u8; 4096];
    let mut state = 0x2545_f491_u32;
    for byte in &mut noise {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        *byte = state as u8;
    }
    for codec in CODECS {
        let mut decoder = Decoder::new(codec).unwrap();
        assert!(matches!(
            decoder.decode(&[]),
            Err(DecodeError::Corrupt { .. })
        ));
        // Random bytes either fail or yield nothing; they never yield a picture or panic.
        for len in [1, 3, 17, 4096] {
            let result = decoder.decode(&noise[..len]).map(|f| f.is_some());
            assert!(
                matches!(result, Err(DecodeError::Corrupt { .. }) | Ok(false)),
                "{codec} {len}: {result:?}"
            );
        }
        // A truncated keyframe is refused too.
        let (key, _) = encode(codec, 160, 120, 1).remove(0);
        let result = Decoder::new(codec)
            .unwrap()
            .decode(&key[..key.len() / 3])
            .map(|f| f.is_some());
        assert!(
            matches!(result, Err(DecodeError::Corrupt { .. }) | Ok(false)),
            "{codec} truncated: {result:?}"
        );
    }
}

#[test]
fn codecs_without_a_decoder_are_unavailable() {
    for codec in [Codec::Av1, Codec::H265] {
        assert!(matches!(
            Decoder::new(codec),
            Err(DecodeError::Unavailable { codec: c, .. }) if c == codec
        ));
    }
}

#[test]
fn bgra_output_inverts_the_encoders_conversion() {
    // Flat patches survive encoding almost exactly, so the colour path is what is measured.
    let (w, h) = (128u32, 64u32);
    let colours: [[u8; 3]; 4] = [[200, 30, 30], [30, 200, 30], [30, 30, 200], [128, 128, 128]];
    let mut bgra = vec![0u8; (w * h * 4) as usize];
    for (i, px) in bgra.chunks_exact_mut(4).enumerate() {
        let x = i as u32 % w;
        let [b, g, r] = colours[(x / 32) as usize];
        px.copy_from_slice(&[b, g, r, 255]);
    }
    let mut enc = encoder(Codec::Vp9, w, h);
    enc.send_frame(&frame(&bgra, w, h)).unwrap();
    let packet = enc.receive_packet().unwrap().unwrap().data.to_vec();
    let mut decoder = Decoder::new(Codec::Vp9).unwrap();
    let out = decoder.decode(&packet).unwrap().unwrap().to_bgra();
    assert_eq!(out.len(), bgra.len());
    for (patch, [b, g, r]) in colours.iter().enumerate() {
        // The middle of each patch, away from chroma edges.
        let x = patch as u32 * 32 + 16;
        let at = ((h / 2 * w + x) * 4) as usize;
        let got = &out[at..at + 4];
        for (channel, (&want, &have)) in [*b, *g, *r].iter().zip(got).enumerate() {
            assert!(
                want.abs_diff(have) <= 4,
                "patch {patch} channel {channel}: {want} became {have}"
            );
        }
        assert_eq!(got[3], 255);
    }
}
