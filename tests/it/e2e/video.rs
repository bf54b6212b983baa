//! Video through the relay: what the probe decodes is what the X screen shows; a static screen
//! costs no frames; several viewers watch at once.

use std::time::Duration;

use deskcast_codec::Codec;

use super::{Desk, eventually};
use crate::x11::Painter;

/// PSNR over B, G, R of two BGRX/BGRA images of the same size.
pub(crate) fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    let (mut sum, mut n) = (0f64, 0f64);
    for (pa, pb) in a.chunks_exact(4).zip(b.chunks_exact(4)) {
        for c in 0..3 {
            let d = f64::from(pa[c]) - f64::from(pb[c]);
            sum += d * d;
            n += 1.0;
        }
    }
    let mse = sum / n;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0 * 255.0 / mse).log10()
    }
}

/// A desktop-like picture: a background, windows with borders and title bars, rows of "text".
pub(crate) fn draw_desktop(painter: &Painter, width: u16, height: u16) {
    painter.fill(0, 0, width, height, 0x2f4f6f);
    for (i, (x, y, w, h)) in [
        (40, 30, 300, 200),
        (220, 160, 340, 220),
        (420, 60, 180, 120),
    ]
    .into_iter()
    .enumerate()
    {
        painter.fill(x, y, w, h, 0x808080);
        painter.fill(x + 2, y + 2, w - 4, 22, [0x3366cc, 0xcc6633, 0x339966][i]);
        painter.fill(x + 2, y + 26, w - 4, h - 28, 0xf0f0f0);
        for row in 0..(h as i16 - 40) / 14 {
            for word in 0..6 {
                let wx = x + 8 + word * 40;
                if wx + 30 < x + w as i16 {
                    painter.fill(wx, y + 34 + row * 14, 30, 8, 0x202020);
                }
            }
        }
    }
    painter.sync();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decoded_frames_match_the_screen_and_a_static_screen_sends_nothing() {
    let desk = Desk::start(640, 480).await;
    let painter = Painter::new(&desk.xvfb);
    draw_desktop(&painter, 640, 480);
    for codec in [Codec::Vp9, Codec::Vp8, Codec::H264] {
        let mut probe = deskcast::probe::Probe::connect(
            desk.probe_config().password(super::PASSWORD).prefer(codec),
        )
        .await
        .expect("login");
        let first = probe
            .next_frame(Duration::from_secs(15))
            .await
            .expect("a first frame");
        assert!(first.keyframe, "{codec}: the first frame is a keyframe");
        assert_eq!(first.codec, codec, "the preferred codec is used");
        assert_eq!((first.width, first.height), (640, 480));
        assert!(
            first.latency.is_some(),
            "the agent stamps captures for the probe"
        );
        // Let the encoder refine the picture, then compare the newest frame with the screen.
        painter.fill(600, 450, 10, 10, 0x00ff00);
        painter.sync();
        tokio::time::sleep(Duration::from_millis(700)).await;
        let newest = probe.take_frames().pop().unwrap_or(first);
        let decoded = newest.picture.expect("pictures are kept").to_bgra();
        let screen = painter.read(0, 0, 640, 480);
        let quality = psnr(&decoded, &screen);
        assert!(
            quality >= 30.0,
            "{codec}: PSNR {quality:.1} dB against the X screen"
        );

        // Nothing changes on screen: no new frames.
        let _ = probe.take_frames();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let extra = probe.take_frames();
        assert!(
            extra.is_empty(),
            "{codec}: a static screen sent {} frames",
            extra.len()
        );
        let stats = probe.close().await;
        assert!(stats.frames >= 1);
        assert_eq!(
            (stats.keyframes, stats.decode_errors),
            (1, 0),
            "{codec}: {stats:?}"
        );
        assert_eq!(
            stats.latency.map(|l| l.samples as u64),
            Some(stats.frames),
            "{codec}: every frame's capture is stamped"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_probes_watch_at_once() {
    let desk = Desk::start(320, 240).await;
    let painter = Painter::new(&desk.xvfb);
    let mut a = desk.probe().await;
    let mut b = desk.probe().await;
    assert!(
        a.next_frame(Duration::from_secs(10))
            .await
            .expect("a sees the screen")
            .keyframe
    );
    assert!(
        b.next_frame(Duration::from_secs(10))
            .await
            .expect("b sees the screen")
            .keyframe
    );
    assert!(eventually(Duration::from_secs(5), || desk.viewers() == 2).await);
    painter.fill(10, 10, 50, 50, 0xff00ff);
    painter.sync();
    a.next_frame(Duration::from_secs(5))
        .await
        .expect("a sees the change");
    b.next_frame(Duration::from_secs(5))
        .await
        .expect("b sees the change");
    a.close().await;
    // b goes on alone.
    painter.fill(100, 100, 20, 20, 0x00ffff);
    painter.sync();
    b.next_frame(Duration::from_secs(5))
        .await
        .expect("b keeps streaming after a leaves");
    b.close().await;
    assert!(
        eventually(Duration::from_secs(5), || desk.viewers() == 0).await,
        "sessions end when probes leave"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolution_the_client_asks_for_is_set_and_streamed() {
    use deskcast_protocol::message::{DisplayResolution, Message, Resolution, misc};
    let desk = Desk::start(1024, 768).await;
    let mut probe = desk.probe().await;
    let first = probe
        .next_frame(Duration::from_secs(10))
        .await
        .expect("streaming");
    assert_eq!((first.width, first.height), (1024, 768));
    let change = DisplayResolution {
        display: 0,
        resolution: Some(Resolution {
            width: 800,
            height: 600,
        }),
    };
    probe
        .send(Message::from(misc::Union::ChangeDisplayResolution(change)))
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let frame = probe
            .next_frame(Duration::from_secs(5))
            .await
            .expect("frames keep coming");
        if (frame.width, frame.height) == (800, 600) {
            assert!(frame.keyframe, "a new size starts with a keyframe");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the stream never switched to 800x600"
        );
    }
    probe.close().await;
}
