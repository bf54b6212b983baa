//! The player against a real Xvfb: what lands on the screen is the rendered frame.

use std::sync::atomic::AtomicBool;

use deskcast_testkit::Xvfb;
use x11rb::protocol::xproto::ConnectionExt as _;

use super::*;
use crate::scene::SceneKind;

/// The root window's pixels as BGR triples (the X server's padding byte is not compared).
fn screen_bgr(display: &str, size: Size) -> Vec<u8> {
    let (conn, screen) = x11rb::connect(Some(display)).expect("connect");
    let root = conn.setup().roots[screen].root;
    let reply = conn
        .get_image(
            ImageFormat::Z_PIXMAP,
            root,
            0,
            0,
            size.width as u16,
            size.height as u16,
            !0,
        )
        .unwrap()
        .reply()
        .unwrap();
    reply
        .data
        .chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect()
}

fn rendered_bgr(scene: &Scene, index: u64) -> Vec<u8> {
    let mut img = Image::new(scene.size());
    scene.render(index, &mut img).unwrap();
    img.data()
        .chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect()
}

#[test]
fn the_screen_shows_exactly_the_rendered_frame_after_steps_and_skips() {
    let size = Size::new(640, 360);
    let xvfb = Xvfb::start(size.width, size.height);
    for (kind, steps) in [
        (SceneKind::Typing, &[0u64, 3, 4, 6, 30][..]),
        (SceneKind::Dragging, &[0, 1, 2, 9, 40][..]),
        (SceneKind::Static, &[0, 1, 2][..]),
    ] {
        let scene = Scene::new(kind, size).unwrap();
        let mut player = Player::connect(Some(xvfb.display()), scene.clone()).unwrap();
        for &index in steps {
            let shown = player.show(index).unwrap();
            assert_eq!(shown.canonical, scene.canonical(index));
            assert!(
                screen_bgr(xvfb.display(), size) == rendered_bgr(&scene, index),
                "{kind}: the screen differs from frame {index}"
            );
        }
    }
}

#[test]
fn play_shows_increasing_frames_and_accounts_for_every_one() {
    let size = Size::new(320, 240);
    let xvfb = Xvfb::start(size.width, size.height);
    let scene = Scene::new(SceneKind::Video, size).unwrap();
    let mut player = Player::connect(Some(xvfb.display()), scene.clone()).unwrap();
    let log = play(&mut player, 60, Some(12), &AtomicBool::new(false)).unwrap();
    assert_eq!(log.shown.len() as u64 + log.skipped, 12);
    assert!(
        log.shown
            .windows(2)
            .all(|w| w[0].index < w[1].index && w[0].unix_ns <= w[1].unix_ns)
    );
    let last = log.shown.last().unwrap().index;
    assert_eq!(last, 11);
    assert!(screen_bgr(xvfb.display(), size) == rendered_bgr(&scene, last));
}

#[test]
fn a_scene_for_another_screen_size_is_refused() {
    let xvfb = Xvfb::start(640, 480);
    let scene = Scene::new(SceneKind::Static, Size::new(320, 240)).unwrap();
    let err = Player::connect(Some(xvfb.display()), scene).unwrap_err();
    assert!(matches!(err, PlayerError::ScreenSize { .. }), "{err}");
}
