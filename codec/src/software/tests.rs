//! Unit tests of the software backend's probe and configuration checks. Encoding itself is
//! tested end to end, against ffmpeg, in `codec/tests/software.rs`.

use super::{default_bitrate_kbps, open, probe};
use crate::{Backend, Codec, EncoderConfig, Error, Unavailable};

fn config(codec: Codec) -> EncoderConfig {
    EncoderConfig {
        codec,
        width: 64,
        height: 48,
        fps: 30,
        bitrate_kbps: 500,
        threads: 1,
    }
}

#[test]
fn probe_lists_every_codec_with_a_verdict() {
    let caps = probe();
    let verdict = |codec| {
        caps.iter()
            .find(|c| c.codec == codec && c.backend == Backend::Software)
            .map(|c| c.status.clone())
    };
    assert_eq!(verdict(Codec::Vp9), Some(Ok(())));
    assert_eq!(verdict(Codec::Vp8), Some(Ok(())));
    assert_eq!(verdict(Codec::H264), Some(Ok(())));
    assert!(matches!(
        verdict(Codec::Av1),
        Some(Err(Unavailable::Codec { .. }))
    ));
    assert!(matches!(
        verdict(Codec::H265),
        Some(Err(Unavailable::Codec { .. }))
    ));
}

#[test]
fn unavailable_codecs_do_not_open() {
    for codec in [Codec::Av1, Codec::H265] {
        let err = open(&config(codec)).err();
        assert!(matches!(
            err,
            Some(Error::Unavailable {
                backend: Backend::Software,
                ..
            })
        ));
    }
}

#[test]
fn bad_configurations_are_refused() {
    for broken in [
        EncoderConfig {
            width: 0,
            ..config(Codec::Vp9)
        },
        EncoderConfig {
            fps: 0,
            ..config(Codec::Vp9)
        },
        EncoderConfig {
            bitrate_kbps: 0,
            ..config(Codec::Vp8)
        },
        EncoderConfig {
            height: 20_000,
            ..config(Codec::H264)
        },
    ] {
        assert!(
            matches!(open(&broken).err(), Some(Error::InvalidInput(_))),
            "{broken:?}"
        );
    }
    // OpenH264 needs even sizes: that is the environment's limit, reported as such.
    let odd = EncoderConfig {
        width: 65,
        ..config(Codec::H264)
    };
    assert!(matches!(open(&odd).err(), Some(Error::Unavailable { .. })));
}

#[test]
fn every_codec_rejects_a_frame_of_the_wrong_size() {
    let data = vec![0u8; 32 * 32 * 4];
    let frame = crate::Frame {
        data: &data,
        width: 32,
        height: 32,
        stride: 32 * 4,
        damage: &[],
        pts_ms: 0,
        buffer: None,
    };
    for codec in [Codec::Vp9, Codec::Vp8, Codec::H264] {
        let mut enc = open(&config(codec)).unwrap();
        assert!(
            matches!(enc.send_frame(&frame), Err(Error::InvalidInput(_))),
            "{codec}"
        );
        assert!(enc.receive_packet().unwrap().is_none());
        assert!(enc.set_bitrate(0).is_err());
        assert!(enc.set_fps(0).is_err());
    }
}

#[test]
fn default_bitrates_grow_with_size_and_rate_but_less_than_the_pixels() {
    let hd = default_bitrate_kbps(1920, 1080, 30);
    let uhd = default_bitrate_kbps(3840, 2160, 30);
    assert!(hd > default_bitrate_kbps(1280, 720, 30));
    assert!(uhd > 2 * hd && uhd < 4 * hd, "{hd} -> {uhd}");
    let hd60 = default_bitrate_kbps(1920, 1080, 60);
    assert!(hd60.abs_diff(2 * hd) <= 1, "{hd} -> {hd60}");
    assert!(default_bitrate_kbps(16, 16, 1) >= 300);
    assert!(default_bitrate_kbps(16_384, 16_384, 240) <= 100_000);
}
