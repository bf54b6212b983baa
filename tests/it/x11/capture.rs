//! Capture: pixel-exact frames on every path, the fallback order, damage, buffer ownership and
//! the release of shared memory.

use std::collections::BTreeSet;

use deskcast::platform::x11::{
    BufferBacking, CaptureConfig, CapturePath, Capturer, Error, Paths, Rect, Wake,
};
use deskcast_testkit::{Xvfb, XvfbOptions};

use super::{Painter, after_ms, assert_same_pixels, options, pattern, xvfb};

fn only(path: CapturePath) -> CaptureConfig {
    CaptureConfig {
        paths: Paths {
            shm_fd: path == CapturePath::ShmFd,
            shm_sysv: path == CapturePath::ShmSysv,
            get_image: path == CapturePath::GetImage,
        },
        ..CaptureConfig::default()
    }
}

/// Draws a random pattern over the whole screen and checks one capture against it.
fn check_pattern(server: &Xvfb, config: CaptureConfig, expect: CapturePath) -> Capturer {
    let (w, h) = (640, 360);
    let painter = Painter::new(server);
    let want = pattern(w, h, 0x5eed);
    painter.put(0, 0, w as u16, &want);
    let mut capturer = Capturer::new(&options(server), config).expect("capturer");
    assert_eq!(capturer.path().path, expect, "{}", capturer.path());
    let frame = capturer.capture().expect("capture");
    assert_eq!((frame.width(), frame.height()), (w, h));
    assert_same_pixels(frame.data(), frame.stride(), &want, w, h);
    drop(frame);
    capturer
}

#[test]
fn a_pattern_is_captured_exactly_on_every_path() {
    let server = xvfb(640, 360);
    for path in [
        CapturePath::ShmFd,
        CapturePath::ShmSysv,
        CapturePath::GetImage,
    ] {
        let capturer = check_pattern(&server, only(path), path);
        let shared = path != CapturePath::GetImage;
        assert!(capturer.buffers().iter().all(|b| match b.backing {
            BufferBacking::Heap => !shared,
            _ => shared,
        }));
    }
}

#[test]
fn fd_passing_works_from_another_ipc_namespace_where_sysv_cannot() {
    let server = Xvfb::start_with(&XvfbOptions {
        width: 640,
        height: 360,
        separate_ipc: true,
        ..XvfbOptions::default()
    });
    check_pattern(&server, CaptureConfig::default(), CapturePath::ShmFd);

    // Without fd passing, the SysV attach fails across namespaces and GetImage takes over.
    let config = CaptureConfig {
        paths: Paths {
            shm_fd: false,
            ..Paths::default()
        },
        ..CaptureConfig::default()
    };
    let capturer = check_pattern(&server, config, CapturePath::GetImage);
    let attempts = &capturer.path().attempts;
    assert_eq!(attempts[0].path, CapturePath::ShmSysv);
    assert!(attempts[0].error.is_some(), "{attempts:?}");
}

#[test]
fn paths_fall_back_in_order_as_they_are_disabled() {
    let server = xvfb(320, 200);
    let opts = options(&server);
    let chosen = |paths: Paths| {
        Capturer::new(
            &opts,
            CaptureConfig {
                paths,
                ..CaptureConfig::default()
            },
        )
        .map(|c| c.path().path)
    };
    let all = Paths::default();
    assert_eq!(chosen(all).unwrap(), CapturePath::ShmFd);
    let no_fd = Paths {
        shm_fd: false,
        ..all
    };
    assert_eq!(chosen(no_fd).unwrap(), CapturePath::ShmSysv);
    let no_shm = Paths {
        shm_sysv: false,
        ..no_fd
    };
    assert_eq!(chosen(no_shm).unwrap(), CapturePath::GetImage);
    let none = Paths {
        get_image: false,
        ..no_shm
    };
    assert!(matches!(chosen(none), Err(Error::NoCapturePath(_))));

    // A server without MIT-SHM: both SHM paths say why, GetImage works.
    let plain = Xvfb::start_with(&XvfbOptions {
        width: 320,
        height: 200,
        extra_args: vec!["-extension".into(), "MIT-SHM".into()],
        ..XvfbOptions::default()
    });
    let capturer = Capturer::new(&options(&plain), CaptureConfig::default()).unwrap();
    let choice = capturer.path();
    assert_eq!(choice.path, CapturePath::GetImage);
    let reasons: Vec<_> = choice.attempts.iter().map(|a| a.path).collect();
    assert_eq!(
        reasons,
        [
            CapturePath::ShmFd,
            CapturePath::ShmSysv,
            CapturePath::GetImage
        ]
    );
    assert!(choice.to_string().contains("no MIT-SHM"), "{choice}");
}

#[test]
fn a_static_screen_produces_no_frames() {
    let server = xvfb(320, 200);
    let mut capturer = Capturer::new(&options(&server), CaptureConfig::default()).unwrap();
    let first = capturer.capture().unwrap();
    assert_eq!(
        first.damage(),
        [Rect {
            x: 0,
            y: 0,
            width: 320,
            height: 200
        }]
    );
    drop(first);
    let deadline = after_ms(1200);
    let mut frames = 0;
    while std::time::Instant::now() < deadline {
        if capturer.next_frame(deadline).unwrap().is_some() {
            frames += 1;
        }
    }
    assert_eq!(frames, 0);
}

#[test]
fn a_waker_interrupts_a_wait_on_a_static_screen() {
    let server = xvfb(320, 200);
    let mut capturer = Capturer::new(&options(&server), CaptureConfig::default()).unwrap();
    drop(capturer.capture().unwrap());
    let waker = capturer.waker();
    let other = waker.clone();
    let thread = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(100));
        other.wake();
    });
    assert_eq!(capturer.wait(after_ms(20_000)).unwrap(), Wake::Woken);
    thread.join().unwrap();
    // Wake-ups given before a wait coalesce into one return; the next wait sleeps to its
    // deadline.
    waker.wake();
    waker.wake();
    assert_eq!(capturer.wait(after_ms(20_000)).unwrap(), Wake::Woken);
    assert_eq!(capturer.wait(after_ms(300)).unwrap(), Wake::TimedOut);
}

#[test]
fn a_small_change_is_reported_as_one_small_rectangle() {
    let server = xvfb(640, 360);
    let painter = Painter::new(&server);
    let mut capturer = Capturer::new(&options(&server), CaptureConfig::default()).unwrap();
    drop(capturer.capture().unwrap());
    painter.fill(100, 50, 10, 7, 0x123456);
    assert_eq!(capturer.wait(after_ms(5000)).unwrap(), Wake::Damaged);
    let rect = Rect {
        x: 100,
        y: 50,
        width: 10,
        height: 7,
    };
    assert_eq!(capturer.pending_damage(), [rect]);
    let frame = capturer.capture().unwrap();
    assert_eq!(frame.damage(), [rect]);
    assert!(capturer.pending_damage().is_empty());
    let px = &frame.data()[50 * frame.stride() + 100 * 4..][..3];
    assert_eq!(px, [0x56, 0x34, 0x12]);
}

/// Many small changes, frames held and returned in turn: every frame (fetched in part into
/// buffers that held older frames) equals an independent full read of the screen.
#[test]
fn partial_grabs_into_reused_buffers_stay_exact() {
    let (w, h) = (320u32, 240u32);
    let server = xvfb(w, h);
    let painter = Painter::new(&server);
    painter.put(0, 0, w as u16, &pattern(w, h, 1));
    for path in [CapturePath::ShmFd, CapturePath::GetImage] {
        let mut capturer = Capturer::new(&options(&server), only(path)).unwrap();
        drop(capturer.capture().unwrap());
        let mut held = std::collections::VecDeque::new();
        let mut seed = 99u64;
        for round in 0..40 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
            let x = (seed >> 20) % u64::from(w - 20);
            let y = (seed >> 40) % u64::from(h - 20);
            let size = 1 + (seed >> 8) % 19;
            painter.fill(
                x as i16,
                y as i16,
                size as u16,
                size as u16,
                (seed >> 3) as u32,
            );
            let frame = capturer
                .next_frame(after_ms(5000))
                .unwrap()
                .expect("a frame");
            let want = painter.read(0, 0, w as u16, h as u16);
            assert_same_pixels(frame.data(), frame.stride(), &want, w, h);
            assert!(
                frame
                    .damage()
                    .iter()
                    .all(|r| r.width <= 20 && r.height <= 20),
                "{round}"
            );
            held.push_back(frame);
            if held.len() == 2 {
                held.pop_front();
            }
        }
    }
}

#[test]
fn buffers_are_lent_out_and_come_home_from_other_threads() {
    let server = xvfb(320, 200);
    let painter = Painter::new(&server);
    let config = CaptureConfig {
        buffers: 2,
        ..CaptureConfig::default()
    };
    let mut capturer = Capturer::new(&options(&server), config).unwrap();
    let a = capturer.capture().unwrap();
    let b = capturer.capture().unwrap();
    assert_ne!(a.buffer_id(), b.buffer_id());
    assert!(matches!(
        capturer.capture(),
        Err(Error::BuffersExhausted(2))
    ));

    // The encoder thread reads the frame and drops it; the buffer comes home.
    std::thread::spawn(move || assert_eq!(a.data().len(), 320 * 200 * 4))
        .join()
        .unwrap();
    painter.fill(0, 0, 5, 5, 0xff0000);
    let c = capturer
        .next_frame(after_ms(5000))
        .unwrap()
        .expect("a frame");
    let ids: BTreeSet<_> = capturer.buffers().iter().map(|i| i.id).collect();
    assert!(ids.contains(&c.buffer_id()) && ids.contains(&b.buffer_id()));

    // Latest frame wins: a skipped frame's damage moves into the frame that replaces it.
    drop(b);
    painter.fill(300, 190, 5, 5, 0x00ff00);
    let mut d = capturer
        .next_frame(after_ms(5000))
        .unwrap()
        .expect("a frame");
    let at = |f: &deskcast::platform::x11::CapturedFrame, x, y| {
        f.damage().iter().any(|r| r.x == x && r.y == y)
    };
    assert!(at(&d, 300, 190) && !at(&d, 0, 0), "{:?}", d.damage());
    assert!(matches!(
        capturer.capture(),
        Err(Error::BuffersExhausted(2))
    ));
    d.absorb(c);
    assert!(at(&d, 300, 190) && at(&d, 0, 0), "{:?}", d.damage());
    // The skipped frame's buffer went home.
    capturer.capture().unwrap();
}

/// The SysV segment ids alive on the machine.
fn sysv_segments() -> BTreeSet<i32> {
    let table = std::fs::read_to_string("/proc/sysvipc/shm").unwrap();
    table
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1)?.parse().ok())
        .collect()
}

/// The number of mappings of memfd capture buffers in a process.
fn capture_memfd_mappings(pid: u32) -> usize {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    maps.lines()
        .filter(|l| l.contains("memfd:deskcast-capture"))
        .count()
}

/// Polls `done` for up to 10 s: the server releases its side after reading our disconnect.
fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let deadline = after_ms(10_000);
    while std::time::Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    done()
}

#[test]
fn sysv_segments_are_released_on_drop_and_on_panic() {
    let server = xvfb(320, 200);
    let opts = options(&server);

    let (tx, rx) = std::sync::mpsc::channel();
    let crashed = std::thread::spawn(move || {
        let mut capturer = Capturer::new(&opts, only(CapturePath::ShmSysv)).unwrap();
        let ids: Vec<i32> = capturer
            .buffers()
            .iter()
            .filter_map(|b| match b.backing {
                BufferBacking::SysV { shmid } => Some(shmid),
                _ => None,
            })
            .collect();
        let _held = (capturer.capture().unwrap(), capturer.capture().unwrap());
        tx.send(ids).unwrap();
        panic!("the capture thread dies holding two frames");
    })
    .join();
    assert!(crashed.is_err());
    let ids = rx.recv().unwrap();
    assert_eq!(ids.len(), 3);
    assert!(
        eventually(|| sysv_segments().is_disjoint(&ids.iter().copied().collect())),
        "segments {ids:?} leaked"
    );

    // A frame that outlives its capturer still reads, and releases its segment when dropped.
    let mut capturer = Capturer::new(&options(&server), only(CapturePath::ShmSysv)).unwrap();
    let ids: BTreeSet<i32> = capturer
        .buffers()
        .iter()
        .filter_map(|b| match b.backing {
            BufferBacking::SysV { shmid } => Some(shmid),
            _ => None,
        })
        .collect();
    assert!(ids.is_subset(&sysv_segments()));
    let frame = capturer.capture().unwrap();
    drop(capturer);
    assert_eq!(frame.data().len(), 320 * 200 * 4);
    drop(frame);
    assert!(
        eventually(|| sysv_segments().is_disjoint(&ids)),
        "segments {ids:?} leaked"
    );
}

#[test]
fn memfd_buffers_are_unmapped_here_and_in_the_server() {
    let server = xvfb(320, 200);
    let mut capturer = Capturer::new(&options(&server), only(CapturePath::ShmFd)).unwrap();
    let inodes: Vec<u64> = capturer
        .buffers()
        .iter()
        .filter_map(|b| match b.backing {
            BufferBacking::Memfd { inode } => Some(inode),
            _ => None,
        })
        .collect();
    assert_eq!(inodes.len(), 3);
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let mapped = |inode: u64| {
        maps.lines()
            .any(|l| l.split_whitespace().nth(4) == Some(&inode.to_string()))
    };
    assert!(inodes.iter().all(|&i| mapped(i)));
    assert_eq!(capture_memfd_mappings(server.pid()), 3);

    let frame = capturer.capture().unwrap();
    drop(capturer);
    drop(frame);
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    assert!(
        !maps.lines().any(|l| inodes
            .iter()
            .any(|i| l.split_whitespace().nth(4) == Some(&i.to_string()))),
        "a capture buffer is still mapped here"
    );
    assert!(eventually(|| capture_memfd_mappings(server.pid()) == 0));
}

#[test]
fn a_lost_server_is_a_typed_error_and_reconnecting_works() {
    let mut server = xvfb(320, 200);
    let mut capturer = Capturer::new(&options(&server), CaptureConfig::default()).unwrap();
    let frame = capturer.capture().unwrap();
    server.kill();
    // The first requests may still go into the socket buffer; the loss shows once it is read.
    let error = (0..100)
        .find_map(|_| capturer.capture().err())
        .expect("capture fails without a server");
    assert!(error.is_disconnected(), "{error}");
    // Frames in hand stay readable.
    assert_eq!(frame.data().len(), 320 * 200 * 4);
    let error = capturer.wait(after_ms(100)).unwrap_err();
    assert!(error.is_disconnected(), "{error}");

    let server = xvfb(320, 200);
    let mut capturer = Capturer::new(&options(&server), CaptureConfig::default()).unwrap();
    capturer.capture().unwrap();
}
