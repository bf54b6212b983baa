//! Video, latency, heartbeats, input and clipboard through the probe.

use std::time::Duration;

use deskcast::probe::{Error, Key, KeyAction, Mouse, MouseButton};
use deskcast_codec::Codec;
use deskcast_protocol::message::{self, ControlKey, KeyboardMode, key_event, message::Union as M};
use deskcast_testkit::servers::Servers;

use super::agent::{HEIGHT, WIDTH, pattern};
use super::{WAIT, agent_with, connect, dial};

/// PSNR of two equally long 8-bit buffers, ignoring every fourth byte (BGRA alpha).
fn psnr_bgr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    let (mut sse, mut n) = (0u64, 0u64);
    for (pa, pb) in a.chunks_exact(4).zip(b.chunks_exact(4)) {
        for c in 0..3 {
            sse += u64::from(pa[c].abs_diff(pb[c])).pow(2);
            n += 1;
        }
    }
    if sse == 0 {
        return 100.0;
    }
    10.0 * (255.0 * 255.0 * n as f64 / sse as f64).log10()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decoded_frames_match_the_pattern_and_carry_their_latency() {
    let servers = Servers::from_env_or_start();
    let agent = agent_with(&servers, |o| o.frames = 12).await;
    let mut config = dial(&servers, &agent);
    config.frame_queue = 32;
    let mut probe = deskcast::probe::Probe::connect(config).await.unwrap();
    for i in 0..12 {
        let frame = probe.next_frame(WAIT).await.expect("a frame");
        assert_eq!(frame.index, i);
        assert_eq!(frame.keyframe, i == 0, "frame {i}");
        assert_eq!(frame.codec, Codec::Vp9);
        assert_eq!((frame.width, frame.height), (WIDTH, HEIGHT));
        let latency = frame
            .latency
            .expect("the capture stamp is this machine's clock");
        assert!(latency < Duration::from_secs(60));
        let picture = frame.picture.expect("pictures are kept");
        let db = psnr_bgr(&picture.to_bgra(), &pattern(i as u32));
        assert!(db >= 30.0, "frame {i}: {db:.1} dB against the pattern");
    }
    // The agent sent 12 frames and stopped: nothing more arrives.
    assert!(matches!(
        probe.next_frame(Duration::from_millis(500)).await,
        Err(Error::Timeout(_))
    ));
    let stats = probe.close().await;
    assert_eq!(
        (stats.frames, stats.keyframes, stats.decode_errors),
        (12, 1, 0)
    );
    assert_eq!(stats.latency.expect("latencies").samples, 12);
    assert!(stats.fps > 0.0 && stats.kbps > 0.0, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_preferred_codec_is_asked_for_and_decoded() {
    let servers = Servers::from_env_or_start();
    // One agent serves the three sessions (real hbbs limits registrations per address).
    let agent = agent_with(&servers, |o| o.frames = 3).await;
    for (session, codec) in [Codec::Vp8, Codec::H264, Codec::Vp9]
        .into_iter()
        .enumerate()
    {
        let mut probe = deskcast::probe::Probe::connect(dial(&servers, &agent).prefer(codec))
            .await
            .unwrap();
        for i in 0..3 {
            let frame = probe.next_frame(WAIT).await.expect("a frame");
            assert_eq!(frame.codec, codec);
            let picture = frame.picture.unwrap();
            let db = psnr_bgr(&picture.to_bgra(), &pattern(i));
            assert!(db >= 30.0, "{codec} frame {i}: {db:.1} dB");
        }
        assert_eq!(agent.log(|log| log.codecs[session]), codec);
        assert_eq!(probe.close().await.decode_errors, 0, "{codec}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_are_answered_and_round_trips_measured() {
    let servers = Servers::from_env_or_start();
    let agent = agent_with(&servers, |o| o.frames = 1).await;
    let mut probe = connect(&servers, &agent).await;
    probe.next_frame(WAIT).await.expect("a frame");
    // The agent's TestDelay came back unchanged; ours went out and came back.
    agent
        .wait_for("the echo of its TestDelay", |log| log.echoes >= 1)
        .await;
    let deadline = std::time::Instant::now() + WAIT;
    while probe.stats().rtt.is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "no round trip measured"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let deadline = std::time::Instant::now() + WAIT;
    while probe.stats().agent_rtt_ms.is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the agent reported no delay"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    probe.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_and_clipboard_reach_the_agent_as_a_client_sends_them() {
    let servers = Servers::from_env_or_start();
    let agent = agent_with(&servers, |o| {
        o.frames = 1;
        o.clipboard = Some(("grüße from the agent".into(), true));
    })
    .await;
    let mut probe = connect(&servers, &agent).await;
    assert_eq!(
        probe.next_clipboard(WAIT).await.expect("clipboard text"),
        "grüße from the agent",
        "zstd-compressed clipboard text is unpacked"
    );
    probe.click(40, 30, MouseButton::Left).unwrap();
    probe
        .send_key(
            &Key::Map {
                code: 38,
                action: KeyAction::Down,
            },
            &[],
        )
        .unwrap();
    probe
        .send_key(
            &Key::Control {
                key: ControlKey::Return,
                action: KeyAction::Press,
            },
            &[ControlKey::Shift],
        )
        .unwrap();
    probe.type_text("hello, world").unwrap();
    probe.set_clipboard("from the probe").unwrap();
    agent
        .wait_for("all input", |log| log.received.len() >= 7)
        .await;
    let received = agent.log(|log| log.received.clone());
    let mouse: Vec<(i32, i32, i32)> = received
        .iter()
        .filter_map(|m| match &m.union {
            Some(M::MouseEvent(e)) => Some((e.mask, e.x, e.y)),
            _ => None,
        })
        .collect();
    assert_eq!(mouse, [(0, 40, 30), (0x08 | 1, 40, 30), (0x08 | 2, 40, 30)]);
    let keys: Vec<message::KeyEvent> = received
        .iter()
        .filter_map(|m| match &m.union {
            Some(M::KeyEvent(e)) => Some(e.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(keys.len(), 3);
    assert_eq!(
        (keys[0].mode, keys[0].union.clone(), keys[0].down),
        (
            i32::from(KeyboardMode::Map),
            Some(key_event::Union::Chr(38)),
            true
        )
    );
    assert_eq!(keys[1].mode, i32::from(KeyboardMode::Legacy));
    assert!(keys[1].press);
    assert_eq!(keys[1].modifiers, [i32::from(ControlKey::Shift)]);
    assert_eq!(
        keys[2].union,
        Some(key_event::Union::Seq("hello, world".into()))
    );
    let clipboard = received.iter().find_map(|m| match &m.union {
        Some(M::Clipboard(c)) => Some(String::from_utf8(c.content.clone()).unwrap()),
        _ => None,
    });
    assert_eq!(clipboard.as_deref(), Some("from the probe"));
    probe.send_mouse(Mouse::Wheel { dx: 0, dy: 2 }).unwrap();
    agent
        .wait_for("the wheel", |log| log.received.len() >= 8)
        .await;
    probe.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_without_its_keyframe_is_counted_and_refreshed_once() {
    let servers = Servers::from_env_or_start();
    // The first two frames (the keyframe among them) never leave the agent.
    let agent = agent_with(&servers, |o| {
        o.frames = 40;
        o.withhold = 2;
    })
    .await;
    let mut probe = connect(&servers, &agent).await;
    let frame = probe
        .next_frame(WAIT)
        .await
        .expect("a frame after the refresh");
    assert!(
        frame.keyframe,
        "decoding restarts at the requested keyframe"
    );
    let stats = probe.stats();
    assert!(stats.decode_errors >= 1, "{stats:?}");
    assert!(
        stats.errors[0].contains("without a keyframe"),
        "{:?}",
        stats.errors
    );
    let refreshes = agent.log(|log| {
        log.received
            .iter()
            .filter(|m| {
                matches!(
                    &m.union,
                    Some(M::Misc(message::Misc {
                        union: Some(message::misc::Union::RefreshVideo(true))
                    }))
                )
            })
            .count()
    });
    assert_eq!(refreshes, 1, "one refresh per missing keyframe");
    probe.close().await;
}
