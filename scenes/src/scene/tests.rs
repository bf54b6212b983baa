//! Determinism and honesty of the scenes: same index, same bytes; damage covers every change.

use super::*;

const SMALL: Size = Size::new(320, 240);
const MEDIUM: Size = Size::new(640, 360);

fn frame(scene: &Scene, index: u64) -> Image {
    let mut img = Image::new(scene.size());
    scene.render(index, &mut img).expect("render");
    img
}

/// Asserts every pixel outside `damage` is equal in `a` and `b`; returns whether any pixel inside
/// differs.
fn check_damage(a: &Image, b: &Image, damage: &[Rect], what: &str) -> bool {
    let size = a.size();
    let mut changed_inside = false;
    for y in 0..size.height {
        for x in 0..size.width {
            let same = a.pixel(x, y) == b.pixel(x, y);
            let inside = damage.iter().any(|r| r.contains(x, y));
            assert!(
                same || inside,
                "{what}: pixel ({x}, {y}) changed outside the damage {damage:?}"
            );
            changed_inside |= inside && !same;
        }
    }
    changed_inside
}

#[test]
fn the_same_index_renders_the_same_bytes_in_separate_instances() {
    for kind in SceneKind::ALL {
        for size in [SMALL, MEDIUM] {
            let a = Scene::new(kind, size).unwrap();
            let b = Scene::new(kind, size).unwrap();
            for index in [0, 1, 7, 299, 12_345] {
                assert!(
                    frame(&a, index) == frame(&b, index),
                    "{kind} at {size}, frame {index}"
                );
            }
        }
    }
}

#[test]
fn rendering_does_not_depend_on_what_was_rendered_before() {
    let scene = Scene::new(SceneKind::Dragging, MEDIUM).unwrap();
    let fresh = frame(&scene, 40);
    let mut reused = Image::new(MEDIUM);
    for index in [3, 900, 40] {
        scene.render(index, &mut reused).unwrap();
    }
    assert!(fresh == reused);
}

#[test]
fn different_scenes_show_different_pictures() {
    let frames: Vec<(SceneKind, Image)> = SceneKind::ALL
        .into_iter()
        .map(|kind| (kind, frame(&Scene::new(kind, MEDIUM).unwrap(), 30)))
        .collect();
    for (i, (ka, a)) in frames.iter().enumerate() {
        for (kb, b) in &frames[i + 1..] {
            assert!(a != b, "{ka} and {kb} render the same frame 30");
        }
    }
}

#[test]
fn the_static_scene_never_changes() {
    let scene = Scene::new(SceneKind::Static, MEDIUM).unwrap();
    let first = frame(&scene, 0);
    for index in [1, 2, 30, 31, 1_000, 1 << 30] {
        assert!(
            frame(&scene, index) == first,
            "static frame {index} differs from frame 0"
        );
        assert!(
            scene.damage(index).is_empty(),
            "static frame {index} reports damage"
        );
        assert_eq!(scene.canonical(index), 0);
    }
}

#[test]
fn moving_scenes_change_every_frame_and_typing_every_keystroke() {
    for kind in [
        SceneKind::Scrolling,
        SceneKind::Dragging,
        SceneKind::Video,
        SceneKind::FullScreen,
    ] {
        let scene = Scene::new(kind, SMALL).unwrap();
        for index in 1..6 {
            assert!(
                frame(&scene, index - 1) != frame(&scene, index),
                "{kind} frame {index}"
            );
        }
    }
    let typing = Scene::new(SceneKind::Typing, SMALL).unwrap();
    assert!(
        frame(&typing, 3) == frame(&typing, 5),
        "typing changed between keystrokes"
    );
    assert!(
        frame(&typing, 5) != frame(&typing, 6),
        "typing did not change on a keystroke"
    );
}

#[test]
fn damage_covers_every_changed_pixel_and_every_damaged_frame_changes() {
    let cases = [
        (SceneKind::Typing, 0..40),
        (SceneKind::Scrolling, 0..8),
        (SceneKind::Dragging, 0..12),
        (SceneKind::Video, 0..4),
        (SceneKind::FullScreen, 0..3),
    ];
    for (kind, range) in cases {
        let scene = Scene::new(kind, SMALL).unwrap();
        let mut prev = frame(&scene, range.start);
        for index in range.start + 1..range.end {
            let next = frame(&scene, index);
            let damage = scene.damage(index);
            let changed = check_damage(&prev, &next, &damage, &format!("{kind} frame {index}"));
            assert_eq!(
                changed,
                !damage.is_empty(),
                "{kind} frame {index}: damage {damage:?}"
            );
            prev = next;
        }
    }
}

#[test]
fn typing_damage_is_honest_across_a_page_change() {
    let scene = Scene::new(SceneKind::Typing, SMALL).unwrap();
    let first_page = scene.typing.capacity(0);
    let turn = first_page * FRAMES_PER_KEYSTROKE;
    for index in [
        turn - FRAMES_PER_KEYSTROKE,
        turn,
        turn + FRAMES_PER_KEYSTROKE,
    ] {
        let before = frame(&scene, index - 1);
        let after = frame(&scene, index);
        let damage = scene.damage(index);
        assert!(check_damage(
            &before,
            &after,
            &damage,
            &format!("typing frame {index}")
        ));
    }
}

#[test]
fn damage_between_covers_skipped_frames() {
    let scene = Scene::new(SceneKind::Dragging, SMALL).unwrap();
    let damage = scene.damage_between(4, 9);
    assert!(check_damage(
        &frame(&scene, 4),
        &frame(&scene, 9),
        &damage,
        "dragging 4 → 9"
    ));
    assert_eq!(scene.damage_between(4, 100), vec![SMALL.rect()]);
    assert!(scene.damage_between(9, 9).is_empty());
}

#[test]
fn each_frame_carries_its_canonical_index_and_that_index_renders_the_same_picture() {
    for kind in SceneKind::ALL {
        let scene = Scene::new(kind, MEDIUM).unwrap();
        for index in [0, 1, 2, 4, 77, 1_000_001] {
            let img = frame(&scene, index);
            let canonical = scene.canonical(index);
            assert_eq!(
                u64::from(scene.marker().read(&img).unwrap()),
                canonical,
                "{kind} frame {index}"
            );
            assert!(
                frame(&scene, canonical) == img,
                "{kind}: frame {canonical} differs from {index}"
            );
        }
    }
}

#[test]
fn scene_names_and_sizes_parse_and_bad_ones_are_refused() {
    for kind in SceneKind::ALL {
        assert_eq!(kind.name().parse::<SceneKind>().unwrap(), kind);
    }
    assert_eq!(
        "nope".parse::<SceneKind>(),
        Err(Error::UnknownScene("nope".into()))
    );
    assert_eq!("1920x1080".parse::<Size>().unwrap(), Size::HD);
    assert!(matches!(
        "1920*1080".parse::<Size>(),
        Err(Error::BadSize(_))
    ));
    assert!(matches!(
        Scene::new(SceneKind::Video, Size::new(200, 100)),
        Err(Error::TooSmall { .. })
    ));
    let scene = Scene::new(SceneKind::Video, SMALL).unwrap();
    assert!(matches!(
        scene.render(0, &mut Image::new(MEDIUM)),
        Err(Error::SizeMismatch { .. })
    ));
}
