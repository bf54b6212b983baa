//! Input and clipboard through the relay: the probe's mouse and keys reach an X test window;
//! clipboard text crosses both ways; nothing stays pressed after the viewer leaves.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deskcast::probe::{Key, KeyAction, Mouse, MouseButton};
use deskcast_protocol::message::ControlKey;
use deskcast_testkit::{Xvfb, require_tool};
use x11rb::protocol::xproto::ConnectionExt as _;

use super::{Desk, eventually};

/// `xev` on a window of its own at (100, 100), 200×150, printing what it receives.
struct TestWindow {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl TestWindow {
    fn open(server: &Xvfb) -> Self {
        require_tool("xev", "x11-utils");
        let mut child = server
            .command("xev")
            .args([
                "-geometry",
                "200x150+100+100",
                "-event",
                "keyboard",
                "-event",
                "button",
                "-event",
                "mouse",
            ])
            .env("LC_ALL", "C.UTF-8")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("xev");
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Self { child, lines }
    }

    fn text(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// The keysym names of the KeyPress events, in order, without the modifiers pressed to
    /// reach a character (Shift for `Z`, …).
    fn pressed_keysyms(&self) -> Vec<String> {
        let modifier = |k: &str| {
            ["Shift", "Control", "Alt", "Meta", "Super", "ISO_Level"]
                .iter()
                .any(|m| k.starts_with(m))
        };
        self.all_pressed_keysyms()
            .into_iter()
            .filter(|k| !modifier(k))
            .collect()
    }

    /// The keysym names of every KeyPress event, in order.
    fn all_pressed_keysyms(&self) -> Vec<String> {
        let lines = self.lines.lock().unwrap();
        let mut out = Vec::new();
        let mut in_press = false;
        for line in lines.iter() {
            if line.starts_with("KeyPress event") {
                in_press = true;
            } else if line.starts_with("KeyRelease event") {
                in_press = false;
            } else if in_press && let Some(rest) = line.split("keysym 0x").nth(1) {
                out.push(
                    rest.split(", ")
                        .nth(1)
                        .unwrap_or("")
                        .trim_end_matches(')')
                        .to_owned(),
                );
                in_press = false;
            }
        }
        out
    }
}

impl Drop for TestWindow {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether a top-level window is mapped (xev's, the only client here).
fn window_mapped(server: &Xvfb) -> bool {
    let (conn, screen) =
        x11rb::rust_connection::RustConnection::connect(Some(server.display())).unwrap();
    let root = x11rb::connection::Connection::setup(&conn).roots[screen].root;
    let tree = conn.query_tree(root).unwrap().reply().unwrap();
    tree.children.iter().any(|&w| {
        conn.get_window_attributes(w)
            .ok()
            .and_then(|c| c.reply().ok())
            .is_some_and(|a| a.map_state == x11rb::protocol::xproto::MapState::VIEWABLE)
    })
}

fn no_key_down(server: &Xvfb) -> bool {
    let (conn, _) =
        x11rb::rust_connection::RustConnection::connect(Some(server.display())).unwrap();
    conn.query_keymap().unwrap().reply().unwrap().keys == [0; 32]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mouse_and_keys_from_the_probe_reach_an_x_window() {
    let desk = Desk::start(640, 480).await;
    let window = TestWindow::open(&desk.xvfb);
    assert!(
        eventually(Duration::from_secs(10), || window_mapped(&desk.xvfb)).await,
        "xev's window appears"
    );
    let mut probe = desk.probe().await;
    probe
        .next_frame(Duration::from_secs(10))
        .await
        .expect("streaming");

    probe.send_mouse(Mouse::Move { x: 150, y: 160 }).unwrap();
    probe.click(150, 160, MouseButton::Left).unwrap();
    assert!(
        eventually(Duration::from_secs(5), || window
            .text()
            .contains("ButtonPress event"))
        .await,
        "the click reached the window:\n{}",
        window.text()
    );
    assert!(
        window.text().contains("MotionNotify event"),
        "the move reached the window"
    );
    assert!(
        window.text().contains("root:(150,160)"),
        "at the window coordinates of (150, 160):\n{}",
        window.text()
    );

    // Two notches up are two clicks of button 4 (press and release each).
    probe.send_mouse(Mouse::Wheel { dx: 0, dy: 2 }).unwrap();
    let wheel_lines = || window.text().matches(", button 4,").count();
    assert!(
        eventually(Duration::from_secs(5), || wheel_lines() >= 4).await,
        "the wheel reached the window:\n{}",
        window.text()
    );
    assert_eq!(wheel_lines(), 4, "{}", window.text());

    // Focus follows the pointer here: keys go to the window under it. All three modes.
    probe.send_key(&Key::Text("hi".into()), &[]).unwrap(); // translate
    probe
        .send_key(
            &Key::Map {
                code: 38,
                action: KeyAction::Press,
            },
            &[],
        )
        .unwrap(); // map: keycode 38 = a
    probe
        .send_key(
            &Key::Control {
                key: ControlKey::Return,
                action: KeyAction::Press,
            },
            &[],
        )
        .unwrap(); // legacy
    probe
        .send_key(
            &Key::Char {
                chr: 'Z',
                action: KeyAction::Press,
            },
            &[],
        )
        .unwrap(); // legacy char
    assert!(
        eventually(Duration::from_secs(5), || window.pressed_keysyms().len()
            >= 4)
        .await,
        "keys reached the window:\n{}",
        window.text()
    );
    let keys = window.pressed_keysyms();
    assert_eq!(keys, ["h", "i", "a", "Return", "Z"], "{}", window.text());

    // A key held down when the viewer leaves is released.
    probe
        .send_key(
            &Key::Map {
                code: 50,
                action: KeyAction::Down,
            },
            &[],
        )
        .unwrap(); // Shift_L
    assert!(eventually(Duration::from_secs(5), || !no_key_down(&desk.xvfb)).await);
    probe.close().await;
    assert!(
        eventually(Duration::from_secs(5), || no_key_down(&desk.xvfb)).await,
        "nothing stays pressed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clipboard_text_crosses_both_ways() {
    require_tool("xclip", "xclip");
    let desk = Desk::start(320, 240).await;
    let mut probe = desk.probe().await;
    probe
        .next_frame(Duration::from_secs(10))
        .await
        .expect("streaming");

    probe.set_clipboard("from the viewer ✓").unwrap();
    let read = || {
        desk.xvfb
            .command("xclip")
            .args(["-o", "-selection", "clipboard"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    assert!(
        eventually(Duration::from_secs(5), || read() == "from the viewer ✓").await,
        "xclip reads the viewer's text: {:?}",
        read()
    );

    let mut xclip = desk
        .xvfb
        .command("xclip")
        .args(["-i", "-selection", "clipboard"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    xclip
        .stdin
        .take()
        .unwrap()
        .write_all("from the desktop".as_bytes())
        .unwrap();
    let text = probe
        .next_clipboard(Duration::from_secs(5))
        .await
        .expect("the viewer gets the desktop's text");
    assert_eq!(text, "from the desktop");
    let _ = xclip.kill();
    let _ = xclip.wait();
    probe.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_only_desktop_ignores_the_viewers_input() {
    let desk = Desk::start_with(640, 480, &[("DESKCAST_ALLOW_INPUT", "false")]).await;
    let pointer = || {
        let (conn, screen) =
            x11rb::rust_connection::RustConnection::connect(Some(desk.xvfb.display())).unwrap();
        let root = x11rb::connection::Connection::setup(&conn).roots[screen].root;
        let p = conn.query_pointer(root).unwrap().reply().unwrap();
        (p.root_x, p.root_y)
    };
    let before = pointer();
    let mut probe = desk.probe().await;
    probe
        .next_frame(Duration::from_secs(10))
        .await
        .expect("a view-only viewer still sees the screen");
    let target = if before == (10, 20) {
        (30, 40)
    } else {
        (10, 20)
    };
    probe
        .send_mouse(Mouse::Move {
            x: target.0,
            y: target.1,
        })
        .unwrap();
    probe.click(target.0, target.1, MouseButton::Left).unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        pointer(),
        before,
        "the viewer's pointer move was not injected"
    );
    // Nor may it change the desktop's resolution.
    use deskcast_protocol::message::{DisplayResolution, Message, Resolution, misc};
    let change = DisplayResolution {
        display: 0,
        resolution: Some(Resolution {
            width: 320,
            height: 240,
        }),
    };
    probe
        .send(Message::from(misc::Union::ChangeDisplayResolution(change)))
        .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (conn, screen) =
        x11rb::rust_connection::RustConnection::connect(Some(desk.xvfb.display())).unwrap();
    let root = &x11rb::connection::Connection::setup(&conn).roots[screen];
    let size = conn.get_geometry(root.root).unwrap().reply().unwrap();
    assert_eq!(
        (size.width, size.height),
        (640, 480),
        "the resolution stays"
    );
    assert!(
        probe.ended().is_none(),
        "input from a view-only viewer is ignored, not fatal"
    );
    probe.close().await;
}
