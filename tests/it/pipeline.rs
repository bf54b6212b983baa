//! The display service against a real Xvfb and the software encoders: keyframes first, nothing
//! for a static screen, shared encoders, viewers that lag, resizes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use deskcast::pipeline::display::{Display, DisplayConfig, DisplayEvent, Route, Subscription};
use deskcast::pipeline::pool::EncodedFrame;
use deskcast::pipeline::slot::Slot;
use deskcast::platform::x11::{CaptureArea, Paths};
use deskcast_codec::{Backend, Codec};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use crate::x11::{Painter, options, xvfb};

const VP8: Route = Route {
    backend: Backend::Software,
    codec: Codec::Vp8,
    quality: 100,
};

struct Viewer {
    frames: Arc<Slot<Arc<EncodedFrame>>>,
    events: UnboundedReceiver<DisplayEvent>,
}

fn subscribe(display: &Display, viewer: u64, route: Route, fps: u32) -> Viewer {
    let frames = Arc::new(Slot::new());
    let (tx, events) = unbounded_channel();
    display.subscribe(Subscription {
        viewer,
        route,
        fps,
        bitrate_kbps: 1000,
        frames: Arc::clone(&frames),
        events: tx,
    });
    Viewer { frames, events }
}

fn config(server: &deskcast_testkit::Xvfb) -> DisplayConfig {
    DisplayConfig {
        connect: options(server),
        area: CaptureArea::Screen,
        paths: Paths::default(),
        threads: 1,
        nvenc: Default::default(),
    }
}

/// Waits up to `within` for a frame in `viewer`'s slot, telling the display it was taken.
fn next_frame(display: &Display, viewer: &Viewer, within: Duration) -> Option<Arc<EncodedFrame>> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(frame) = viewer.frames.try_take() {
            display.frame_taken();
            return Some(frame);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

#[test]
fn a_new_viewer_gets_a_keyframe_then_only_changes() {
    let server = xvfb(320, 240);
    let painter = Painter::new(&server);
    let (display, _thread) = Display::spawn(config(&server)).unwrap();
    let viewer = subscribe(&display, 1, VP8, 30);
    let first = next_frame(&display, &viewer, Duration::from_secs(10)).expect("a first frame");
    assert!(
        first.keyframe,
        "the first frame of a new viewer is a keyframe"
    );
    assert_eq!(first.codec, Some(Codec::Vp8));

    assert!(
        next_frame(&display, &viewer, Duration::from_millis(1200)).is_none(),
        "a static screen sends nothing"
    );
    painter.fill(10, 10, 40, 30, 0xff0000);
    painter.sync();
    let change =
        next_frame(&display, &viewer, Duration::from_secs(5)).expect("a frame for the change");
    assert!(!change.keyframe, "a change is an inter frame");
    assert!(change.captured_us > first.captured_us);

    display.request_keyframe(1);
    painter.fill(60, 10, 10, 10, 0x00ff00);
    painter.sync();
    let key =
        next_frame(&display, &viewer, Duration::from_secs(5)).expect("a frame after the request");
    assert!(
        key.keyframe,
        "a requested keyframe comes with the next frame"
    );
}

#[test]
fn viewers_on_one_route_share_one_encode_and_a_lagging_one_does_not_stall_the_other() {
    let server = xvfb(320, 240);
    let painter = Painter::new(&server);
    let (display, _thread) = Display::spawn(config(&server)).unwrap();
    let a = subscribe(&display, 1, VP8, 60);
    let first_a = next_frame(&display, &a, Duration::from_secs(10)).unwrap();
    let b = subscribe(&display, 2, VP8, 60);
    // The new member makes the whole group start again from a keyframe.
    painter.fill(0, 0, 5, 5, 0x0000ff);
    painter.sync();
    let key_b = next_frame(&display, &b, Duration::from_secs(5)).unwrap();
    let key_a = next_frame(&display, &a, Duration::from_secs(5)).unwrap();
    assert!(key_a.keyframe && key_b.keyframe);
    assert!(
        Arc::ptr_eq(&key_a, &key_b),
        "one encode, shared by both viewers"
    );
    assert!(!Arc::ptr_eq(&first_a, &key_a));

    // B stops reading. A keeps getting frames once B's grace period has passed.
    let mut got = 0;
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut colour = 0x101010;
    while got < 5 && Instant::now() < deadline {
        colour += 0x030303;
        painter.fill(20, 20, 50, 50, colour);
        painter.sync();
        if next_frame(&display, &a, Duration::from_millis(400)).is_some() {
            got += 1;
        }
    }
    assert_eq!(
        got, 5,
        "a viewer that stopped reading must not stall the others"
    );
    // B drains its old frame and rejoins with a keyframe.
    assert!(b.frames.try_take().is_some());
    display.frame_taken();
    painter.fill(30, 30, 5, 5, 0xffffff);
    painter.sync();
    let rejoin = next_frame(&display, &b, Duration::from_secs(5)).expect("B gets frames again");
    assert!(
        rejoin.keyframe,
        "a viewer that lagged rejoins on a keyframe"
    );
}

#[test]
fn different_routes_get_their_own_encoders_and_leaving_frees_them() {
    let server = xvfb(320, 240);
    let (display, _thread) = Display::spawn(config(&server)).unwrap();
    let vp8 = subscribe(&display, 1, VP8, 30);
    let vp9 = subscribe(
        &display,
        2,
        Route {
            codec: Codec::Vp9,
            ..VP8
        },
        30,
    );
    let a = next_frame(&display, &vp8, Duration::from_secs(10)).unwrap();
    let b = next_frame(&display, &vp9, Duration::from_secs(10)).unwrap();
    assert_eq!((a.codec, b.codec), (Some(Codec::Vp8), Some(Codec::Vp9)));
    display.unsubscribe(1);
    display.unsubscribe(2);
    // With nobody subscribed the thread idles; a later viewer still gets a keyframe.
    let again = subscribe(&display, 3, VP8, 30);
    assert!(
        next_frame(&display, &again, Duration::from_secs(10))
            .unwrap()
            .keyframe
    );
}

#[test]
fn a_resize_is_announced_and_followed_by_a_keyframe_of_the_new_size() {
    let server = xvfb(640, 480);
    let (display, _thread) = Display::spawn(config(&server)).unwrap();
    let mut viewer = subscribe(&display, 1, VP8, 30);
    assert!(
        next_frame(&display, &viewer, Duration::from_secs(10))
            .unwrap()
            .keyframe
    );
    let screen = deskcast::platform::x11::Screen::connect(&options(&server)).unwrap();
    screen.set_resolution(None, 320, 240).unwrap();
    let frame =
        next_frame(&display, &viewer, Duration::from_secs(10)).expect("a frame after the resize");
    assert!(frame.keyframe, "a new size starts a new stream");
    assert_eq!(
        viewer.events.try_recv(),
        Ok(DisplayEvent::Resized {
            width: 320,
            height: 240
        })
    );
}

#[test]
fn an_encoder_that_cannot_open_falls_back_to_software_and_says_why() {
    // This machine has no NVIDIA driver: an NVENC route must fall back, not fail the viewer.
    if deskcast_codec::probe().can(Backend::Nvenc, Codec::H264) {
        return; // On an NVENC machine this route opens for real; nothing to show here.
    }
    let server = xvfb(320, 240);
    let (display, _thread) = Display::spawn(config(&server)).unwrap();
    let nvenc = Route {
        backend: Backend::Nvenc,
        codec: Codec::H264,
        quality: 100,
    };
    let mut viewer = subscribe(&display, 1, nvenc, 30);
    let frame =
        next_frame(&display, &viewer, Duration::from_secs(10)).expect("frames despite the failure");
    assert!(
        frame.keyframe,
        "the replacement encoder starts with a keyframe"
    );
    assert_eq!(
        frame.codec,
        Some(Codec::H264),
        "software H.264 replaces NVENC H.264"
    );
    match viewer.events.try_recv() {
        Ok(DisplayEvent::EncoderChanged { route, reason }) => {
            assert_eq!(route.backend, Backend::Software);
            assert!(
                reason.contains("nvenc") && reason.contains("software"),
                "{reason}"
            );
        }
        other => panic!("expected EncoderChanged, got {other:?}"),
    }
}
