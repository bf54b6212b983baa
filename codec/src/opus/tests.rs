//! Opus: tones go through encode → decode with their pitch intact; packet sizes fit 10 ms at the
//! configured bitrate; DTX shrinks silence; bad input is refused.

use super::{
    FRAME_LEN, FRAME_SAMPLES, MAX_PACKET, OpusConfig, OpusDecoder, OpusEncoder, OpusError,
    SAMPLE_RATE,
};

/// Interleaved stereo: a `left` Hz tone on the left, a `right` Hz tone on the right.
fn tones(left: f64, right: f64, frames: usize) -> Vec<f32> {
    let rate = f64::from(SAMPLE_RATE);
    (0..frames * FRAME_SAMPLES)
        .flat_map(|n| {
            let t = n as f64 / rate;
            let l = 0.5 * (2.0 * std::f64::consts::PI * left * t).sin();
            let r = 0.5 * (2.0 * std::f64::consts::PI * right * t).sin();
            [l as f32, r as f32]
        })
        .collect()
}

/// The frequency (to 5 Hz) with the most energy in `samples`, searched from 100 Hz to 5 kHz.
fn dominant_frequency(samples: &[f32]) -> f64 {
    let rate = f64::from(SAMPLE_RATE);
    let power = |f: f64| {
        let (mut re, mut im) = (0.0, 0.0);
        for (n, &s) in samples.iter().enumerate() {
            let phase = 2.0 * std::f64::consts::PI * f * n as f64 / rate;
            re += f64::from(s) * phase.cos();
            im += f64::from(s) * phase.sin();
        }
        re * re + im * im
    };
    (20..=1000)
        .map(|i| f64::from(i) * 5.0)
        .max_by(|a, b| power(*a).total_cmp(&power(*b)))
        .unwrap_or(0.0)
}

/// Encodes `pcm` frame by frame, decodes every packet, returns (decoded, packet sizes).
fn round_trip(config: &OpusConfig, pcm: &[f32]) -> (Vec<f32>, Vec<usize>) {
    let mut enc = OpusEncoder::new(config).unwrap();
    let mut dec = OpusDecoder::new().unwrap();
    let mut packet = [0u8; MAX_PACKET];
    let mut frame = [0f32; FRAME_LEN];
    let (mut out, mut sizes) = (Vec::new(), Vec::new());
    for chunk in pcm.chunks_exact(FRAME_LEN) {
        let len = enc.encode_f32(chunk, &mut packet).unwrap();
        sizes.push(len);
        let samples = dec.decode_f32(&packet[..len], &mut frame).unwrap();
        assert_eq!(samples, FRAME_SAMPLES, "each packet is 10 ms");
        out.extend_from_slice(&frame);
    }
    (out, sizes)
}

fn channel(interleaved: &[f32], which: usize) -> Vec<f32> {
    interleaved.iter().skip(which).step_by(2).copied().collect()
}

#[test]
fn tones_survive_encode_and_decode_per_channel() {
    let pcm = tones(440.0, 1000.0, 100);
    let (decoded, _) = round_trip(&OpusConfig::default(), &pcm);
    // Skip the first 100 ms: the codec's start-up and lookahead.
    let settled = &decoded[10 * FRAME_LEN..];
    let left = dominant_frequency(&channel(settled, 0)[..4800]);
    let right = dominant_frequency(&channel(settled, 1)[..4800]);
    assert!((left - 440.0).abs() <= 5.0, "left came back at {left} Hz");
    assert!(
        (right - 1000.0).abs() <= 5.0,
        "right came back at {right} Hz"
    );
    // And it is still loud: the RMS of a 0.5 sine is about 0.35.
    let rms =
        (settled.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / settled.len() as f64).sqrt();
    assert!((0.25..0.45).contains(&rms), "rms {rms}");
}

#[test]
fn packet_sizes_follow_the_bitrate() {
    let pcm = tones(440.0, 1000.0, 200);
    for bps in [32_000u32, 96_000, 192_000] {
        let config = OpusConfig {
            bitrate_bps: bps,
            dtx: false,
        };
        let (_, sizes) = round_trip(&config, &pcm);
        let mean = sizes.iter().sum::<usize>() as f64 / sizes.len() as f64;
        // 10 ms at `bps` is bps / 800 bytes.
        let want = f64::from(bps) / 800.0;
        assert!(
            (mean - want).abs() < 0.25 * want,
            "{bps} bit/s: mean packet {mean:.1} bytes, expected about {want:.1}"
        );
        assert!(sizes.iter().all(|&s| s > 0 && s < MAX_PACKET));
    }
}

#[test]
fn i16_input_encodes_too() {
    let pcm: Vec<i16> = tones(1000.0, 1000.0, 50)
        .iter()
        .map(|s| (s * 32767.0) as i16)
        .collect();
    let mut enc = OpusEncoder::new(&OpusConfig::default()).unwrap();
    let mut dec = OpusDecoder::new().unwrap();
    let mut packet = [0u8; MAX_PACKET];
    let mut frame = [0f32; FRAME_LEN];
    let mut out = Vec::new();
    for chunk in pcm.chunks_exact(FRAME_LEN) {
        let len = enc.encode_i16(chunk, &mut packet).unwrap();
        dec.decode_f32(&packet[..len], &mut frame).unwrap();
        out.extend_from_slice(&frame);
    }
    let f = dominant_frequency(&channel(&out[20 * FRAME_LEN..], 0)[..4800]);
    assert!((f - 1000.0).abs() <= 5.0, "came back at {f} Hz");
}

#[test]
fn dtx_shrinks_silence() {
    let silence = vec![0f32; 100 * FRAME_LEN];
    let with = round_trip(
        &OpusConfig {
            dtx: true,
            ..OpusConfig::default()
        },
        &silence,
    )
    .1;
    let without = round_trip(&OpusConfig::default(), &silence).1;
    let tail = |s: &[usize]| s[50..].iter().sum::<usize>();
    assert!(
        tail(&with) < tail(&without),
        "DTX {} bytes vs {} bytes for 0.5 s of silence",
        tail(&with),
        tail(&without)
    );
}

#[test]
fn bad_input_is_refused() {
    let mut enc = OpusEncoder::new(&OpusConfig::default()).unwrap();
    let mut packet = [0u8; MAX_PACKET];
    let short = [0f32; FRAME_LEN - 2];
    assert!(matches!(
        enc.encode_f32(&short, &mut packet),
        Err(OpusError::InvalidInput(_))
    ));
    let frame = [0f32; FRAME_LEN];
    assert!(matches!(
        enc.encode_f32(&frame, &mut packet[..0]),
        Err(OpusError::InvalidInput(_))
    ));
    assert!(enc.set_bitrate(1).is_err());
    assert!(
        OpusEncoder::new(&OpusConfig {
            bitrate_bps: 0,
            dtx: false
        })
        .is_err()
    );

    let mut dec = OpusDecoder::new().unwrap();
    let mut out = [0f32; FRAME_LEN];
    assert!(dec.decode_f32(&[], &mut out).is_err());
    // A TOC byte announcing a code-3 packet with no frame count byte is malformed.
    assert!(matches!(
        dec.decode_f32(&[0x03], &mut out),
        Err(OpusError::InvalidPacket(_))
    ));
}
