//! Unit tests of the probe's pure parts: statistics, input encoding, login announcements, and
//! the audio decoder against libopus's encoder. The probe against real sockets is tested in
//! `tests/it/probe` and `tests/it/e2e`.

use deskcast_codec::Codec;
use deskcast_protocol::message::{self, ControlKey, KeyboardMode, PreferCodec, key_event};

use super::audio::AudioReceiver;
use super::png::{adler32, crc32};
use super::stats::{Percentiles, Stats};
use super::{Key, KeyAction, Mouse, MouseButton, ProbeConfig};

#[test]
fn percentiles_use_the_nearest_rank() {
    let samples: Vec<f64> = (1..=100).map(f64::from).collect();
    let p = Percentiles::of(&samples).unwrap();
    assert_eq!(
        (p.samples, p.median_ms, p.p99_ms, p.max_ms),
        (100, 50.0, 99.0, 100.0)
    );
    let one = Percentiles::of(&[7.5]).unwrap();
    assert_eq!((one.median_ms, one.p99_ms), (7.5, 7.5));
    assert!(Percentiles::of(&[]).is_none());
    // Order does not matter.
    let p = Percentiles::of(&[3.0, 1.0, 2.0]).unwrap();
    assert_eq!((p.median_ms, p.max_ms), (2.0, 3.0));
}

#[test]
fn rates_count_the_intervals_between_frames() {
    let mut stats = Stats::default();
    let start = std::time::Instant::now();
    let ms = std::time::Duration::from_millis;
    // 31 frames 100 ms apart: 3 s, 30 intervals, 10 fps; 1,000 bytes each.
    for i in 0..31 {
        stats.frame(start + ms(100 * i), i == 0, 1000, ms(2), Some(ms(10 + i)));
    }
    let summary = stats.summary();
    assert_eq!((summary.frames, summary.keyframes), (31, 1));
    assert!((summary.seconds - 3.0).abs() < 1e-9);
    assert!((summary.fps - 10.0).abs() < 1e-9, "{}", summary.fps);
    // 31,000 bytes over 3 s.
    assert!((summary.kbps - 31_000.0 * 8.0 / 3.0 / 1000.0).abs() < 1e-9);
    assert_eq!(summary.latency.unwrap().median_ms, 25.0);
    assert!(summary.rtt.is_none());
    stats.decode_error("broken".into());
    assert_eq!(stats.summary().decode_errors, 1);
    assert_eq!(stats.summary().errors, ["broken"]);
}

#[test]
fn mouse_masks_put_buttons_above_the_type() {
    let mask = |mouse: Mouse| match mouse.to_message(&[]).union {
        Some(message::message::Union::MouseEvent(event)) => (event.mask, event.x, event.y),
        other => panic!("not a mouse event: {other:?}"),
    };
    assert_eq!(mask(Mouse::Move { x: 5, y: 6 }), (0, 5, 6));
    let (left, right) = (MouseButton::Left, MouseButton::Right);
    assert_eq!(
        mask(Mouse::Down {
            button: left,
            x: 1,
            y: 2
        }),
        (0x08 | 1, 1, 2)
    );
    assert_eq!(
        mask(Mouse::Up {
            button: right,
            x: 1,
            y: 2
        }),
        (0x10 | 2, 1, 2)
    );
    let middle = MouseButton::Middle;
    assert_eq!(
        mask(Mouse::Down {
            button: middle,
            x: 0,
            y: 0
        })
        .0,
        0x20 | 1
    );
    assert_eq!(mask(Mouse::Wheel { dx: 0, dy: -1 }), (3, 0, -1));
    assert_eq!(mask(Mouse::MoveBy { dx: -4, dy: 9 }), (5, -4, 9));
}

#[test]
fn keys_carry_their_mode() {
    let event = |key: &Key| match key.to_message(&[ControlKey::Shift]).union {
        Some(message::message::Union::KeyEvent(event)) => event,
        other => panic!("not a key event: {other:?}"),
    };
    let map = event(&Key::Map {
        code: 38,
        action: KeyAction::Down,
    });
    assert_eq!(map.mode, i32::from(KeyboardMode::Map));
    assert_eq!(map.union, Some(key_event::Union::Chr(38)));
    assert!(map.down && !map.press);
    assert_eq!(map.modifiers, [i32::from(ControlKey::Shift)]);
    let legacy = event(&Key::Control {
        key: ControlKey::Return,
        action: KeyAction::Press,
    });
    assert_eq!(legacy.mode, i32::from(KeyboardMode::Legacy));
    assert!(legacy.press && !legacy.down);
    let chr = event(&Key::Char {
        chr: 'é',
        action: KeyAction::Up,
    });
    assert_eq!(chr.union, Some(key_event::Union::Chr(0xe9)));
    assert!(!chr.down && !chr.press);
    let text = event(&Key::Text("hi there".into()));
    assert_eq!(text.mode, i32::from(KeyboardMode::Translate));
    assert_eq!(text.union, Some(key_event::Union::Seq("hi there".into())));
    assert!(text.down);
}

#[test]
fn the_login_announces_the_decoders_and_the_preference() {
    let config = ProbeConfig::rendezvous("hbbs.test", "key", "123456789").prefer(Codec::H264);
    let decoding = config.supported_decoding();
    assert_eq!(
        (
            decoding.ability_vp9,
            decoding.ability_vp8,
            decoding.ability_h264
        ),
        (1, 1, 1)
    );
    assert_eq!((decoding.ability_h265, decoding.ability_av1), (0, 0));
    assert_eq!(decoding.prefer, i32::from(PreferCodec::H264));
    assert!(config.check().is_ok());
    let mut unknown = ProbeConfig::direct("10.0.0.1:21118");
    unknown.decode.push(Codec::H265);
    assert!(unknown.check().is_err(), "no H.265 decoder to announce");
    assert!(
        ProbeConfig::rendezvous("hbbs.test", "", " ")
            .check()
            .is_err()
    );
}

#[test]
fn png_checksums_match_their_standard_check_values() {
    // The check values of both algorithms for "123456789".
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(adler32(b"123456789"), 0x091E_01DE);
    assert_eq!(adler32(b""), 1);
}

#[test]
fn audio_rates_count_the_intervals_between_packets() {
    let mut stats = Stats::default();
    let start = std::time::Instant::now();
    // 101 packets of 120 bytes, 10 ms apart: one second, 100 intervals.
    for i in 0..101 {
        stats.audio_packet(start + std::time::Duration::from_millis(10 * i), 120);
    }
    let audio = stats.summary().audio;
    assert_eq!((audio.packets, audio.encoded_bytes), (101, 12_120));
    assert!((audio.seconds - 1.0).abs() < 1e-9);
    assert!(
        (audio.kbps - 12_120.0 * 8.0 / 1000.0).abs() < 1e-9,
        "{}",
        audio.kbps
    );
    assert_eq!(audio.format, None);
    stats.audio_error("broken".into());
    let summary = stats.summary();
    assert_eq!(summary.audio.decode_errors, 1);
    assert_eq!(summary.errors, ["audio: broken"]);
}

#[test]
fn audio_decodes_only_after_a_format_and_stamps_each_packet() {
    use deskcast_codec::opus::{FRAME_LEN, OpusConfig, OpusEncoder};
    let mut encoder = OpusEncoder::new(&OpusConfig::default()).unwrap();
    let mut packet = vec![0u8; 4000];
    let tone: Vec<f32> = (0..FRAME_LEN)
        .map(|i| 0.5 * ((i / 2) as f32 * 0.13).sin())
        .collect();
    let len = encoder.encode_f32(&tone, &mut packet).unwrap();
    let packet = &packet[..len];

    let mut receiver = AudioReceiver::new();
    let early = receiver.decode(packet).expect_err("no AudioFormat yet");
    assert!(early.contains("without an AudioFormat"), "{early}");
    let odd = message::AudioFormat {
        sample_rate: 48_000,
        channels: 6,
    };
    assert!(
        receiver.start(&odd).is_err(),
        "Opus streams have one or two channels"
    );
    let format = message::AudioFormat {
        sample_rate: 48_000,
        channels: 2,
    };
    assert_eq!(receiver.start(&format).unwrap().channels, 2);
    let before = super::monotonic_ms();
    let first = receiver.decode(packet).unwrap();
    let second = receiver.decode(packet).unwrap();
    assert_eq!((first.index, second.index), (0, 1));
    assert_eq!(first.samples.len(), FRAME_LEN);
    assert_eq!(first.duration(), std::time::Duration::from_millis(10));
    assert_eq!(first.encoded_bytes, len);
    assert!(before <= first.decoded_ms && first.decoded_ms <= second.decoded_ms);
    assert!(receiver.decode(&[]).is_err(), "an empty packet is not Opus");
}
