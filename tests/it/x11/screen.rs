//! RandR: monitors and their changes, capture of one monitor, and resolution changes on Xvfb that
//! capture follows.

use deskcast::platform::x11::{
    CaptureArea, CaptureConfig, Capturer, Error, Monitor, Rect, Screen, Wake,
};
use deskcast_testkit::{Xvfb, require_tool};

use super::{Painter, after_ms, assert_same_pixels, options, pattern, xvfb};

fn xrandr(server: &Xvfb, args: &[&str]) {
    require_tool("xrandr", "x11-xserver-utils");
    let status = server.command("xrandr").args(args).status().unwrap();
    assert!(status.success(), "xrandr {args:?} failed");
}

fn two_monitors(server: &Xvfb) {
    xrandr(
        server,
        &["--setmonitor", "left", "640/160x720/90+0+0", "none"],
    );
    xrandr(
        server,
        &["--setmonitor", "right", "640/160x720/90+640+0", "none"],
    );
}

#[test]
fn monitors_are_listed_and_their_changes_noticed() {
    let server = xvfb(1280, 720);
    let screen = Screen::connect(&options(&server)).unwrap();
    assert_eq!(
        screen.monitors().unwrap(),
        [Monitor {
            name: "screen".into(),
            x: 0,
            y: 0,
            width: 1280,
            height: 720,
            // Xvfb names no primary output.
            primary: false
        }]
    );
    assert!(!screen.changed().unwrap());
    two_monitors(&server);
    let names: Vec<String> = screen
        .monitors()
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert!(
        names.contains(&"left".into()) && names.contains(&"right".into()),
        "{names:?}"
    );

    screen.set_resolution(None, 1024, 600).unwrap();
    let deadline = after_ms(10_000);
    while !screen.changed().unwrap() {
        assert!(
            std::time::Instant::now() < deadline,
            "no change notification"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn one_monitor_is_captured_and_damage_elsewhere_ignored() {
    let server = xvfb(1280, 720);
    two_monitors(&server);
    let painter = Painter::new(&server);
    painter.put(0, 0, 1280, &pattern(1280, 720, 3));
    let config = CaptureConfig {
        area: CaptureArea::Monitor("right".into()),
        ..CaptureConfig::default()
    };
    let mut capturer = Capturer::new(&options(&server), config).unwrap();
    assert_eq!(
        capturer.area(),
        Rect {
            x: 640,
            y: 0,
            width: 640,
            height: 720
        }
    );
    let frame = capturer.capture().unwrap();
    let want = painter.read(640, 0, 640, 720);
    assert_same_pixels(frame.data(), frame.stride(), &want, 640, 720);
    drop(frame);

    painter.fill(10, 10, 50, 50, 0xabcdef);
    assert!(capturer.next_frame(after_ms(500)).unwrap().is_none());
    painter.fill(700, 10, 5, 6, 0x010203);
    let frame = capturer
        .next_frame(after_ms(5000))
        .unwrap()
        .expect("a frame");
    assert_eq!(
        frame.damage(),
        [Rect {
            x: 60,
            y: 10,
            width: 5,
            height: 6
        }]
    );

    let missing = CaptureConfig {
        area: CaptureArea::Monitor("nowhere".into()),
        ..CaptureConfig::default()
    };
    assert!(matches!(
        Capturer::new(&options(&server), missing),
        Err(Error::NoSuchMonitor(_))
    ));
}

#[test]
fn a_new_resolution_is_set_and_capture_follows_it() {
    let server = xvfb(1280, 720);
    let screen = Screen::connect(&options(&server)).unwrap();
    let painter = Painter::new(&server);
    let mut capturer = Capturer::new(&options(&server), CaptureConfig::default()).unwrap();
    drop(capturer.capture().unwrap());
    let old_ids: Vec<_> = capturer.buffers().iter().map(|b| b.id).collect();
    assert!(screen.resolutions(None).unwrap().contains(&(1280, 720)));

    // A size the server has no mode for: the mode is made, added and switched to.
    screen.set_resolution(None, 800, 600).unwrap();
    assert_eq!(screen.size().unwrap(), (800, 600));
    assert!(screen.resolutions(None).unwrap().contains(&(800, 600)));
    assert_eq!(
        capturer.wait(after_ms(10_000)).unwrap(),
        Wake::ScreenChanged
    );
    let want = pattern(800, 600, 9);
    painter.put(0, 0, 800, &want);
    let frame = capturer.capture().unwrap();
    assert_eq!((frame.width(), frame.height()), (800, 600));
    assert_same_pixels(frame.data(), frame.stride(), &want, 800, 600);
    assert!(
        !old_ids.contains(&frame.buffer_id()),
        "buffers were made anew"
    );
    drop(frame);

    // Back to the first size, through the mode that exists.
    screen.set_resolution(Some("screen"), 1280, 720).unwrap();
    let frame = loop {
        match capturer.next_frame(after_ms(10_000)).unwrap() {
            Some(f) if f.width() == 1280 => break f,
            Some(_) => continue,
            None => panic!("no frame after the resize"),
        }
    };
    assert_eq!(frame.height(), 720);

    // Beyond what the server allows.
    let too_big = screen.set_resolution(None, 1920, 1080);
    assert!(matches!(too_big, Err(Error::Unsupported(_))), "{too_big:?}");
    assert!(matches!(
        screen.set_resolution(Some("nowhere"), 640, 480),
        Err(Error::NoSuchMonitor(_))
    ));
}
