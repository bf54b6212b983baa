//! XTEST input: the pointer on a two-monitor layout, buttons and wheels seen by a test window,
//! and keys read back by `xev` (Xlib's own lookup) on US and German layouts.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use deskcast::platform::x11::{Button, Injector, LockState, Screen};
use deskcast_testkit::{Xvfb, require_tool};
use x11rb::connection::Connection as _;
use x11rb::protocol::Event;
use x11rb::protocol::xproto::{ConnectionExt as _, CreateWindowAux, EventMask, WindowClass};
use x11rb::rust_connection::RustConnection;

use super::{after_ms, options, xvfb};

/// Runs a command against the server and checks that it worked.
fn run(server: &Xvfb, program: &str, args: &[&str]) {
    let status = server.command(program).args(args).status().unwrap();
    assert!(status.success(), "{program} {args:?} failed");
}

fn pointer(conn: &RustConnection) -> (i16, i16) {
    let root = conn.setup().roots[0].root;
    let p = conn.query_pointer(root).unwrap().reply().unwrap();
    (p.root_x, p.root_y)
}

/// No key is down on the server.
fn assert_no_key_down(server: &Xvfb) {
    let (conn, _) = RustConnection::connect(Some(server.display())).unwrap();
    let keys = conn.query_keymap().unwrap().reply().unwrap().keys;
    assert_eq!(keys, [0; 32], "keys still down");
}

#[test]
fn the_pointer_lands_where_asked_on_two_monitors() {
    require_tool("xrandr", "x11-xserver-utils");
    let server = xvfb(1280, 720);
    run(
        &server,
        "xrandr",
        &["--setmonitor", "left", "640/160x720/90+0+0", "none"],
    );
    run(
        &server,
        "xrandr",
        &["--setmonitor", "right", "640/160x720/90+640+0", "none"],
    );
    let monitors = Screen::connect(&options(&server))
        .unwrap()
        .monitors()
        .unwrap();
    let right = monitors
        .iter()
        .find(|m| m.name == "right")
        .expect("monitor right");
    assert_eq!(
        (right.x, right.y, right.width, right.height),
        (640, 0, 640, 720)
    );

    let (conn, _) = RustConnection::connect(Some(server.display())).unwrap();
    let mut injector = Injector::new(&options(&server)).unwrap();
    let (x, y) = right.to_global(100, 50);
    injector.move_to(x, y).unwrap();
    injector.sync().unwrap();
    assert_eq!(pointer(&conn), (740, 50));
    // Out of range in monitor coordinates clamps to the monitor's last pixel.
    let (x, y) = right.to_global(5000, -3);
    injector.move_to(x, y).unwrap();
    injector.sync().unwrap();
    assert_eq!(pointer(&conn), (1279, 0));
    let left = monitors.iter().find(|m| m.name == "left").unwrap();
    let (x, y) = left.to_global(639, 719);
    injector.move_to(x, y).unwrap();
    injector.sync().unwrap();
    assert_eq!(pointer(&conn), (639, 719));
    injector.move_by(-39, -19).unwrap();
    injector.sync().unwrap();
    assert_eq!(pointer(&conn), (600, 700));
}

#[test]
fn buttons_and_both_wheels_reach_a_window() {
    let server = xvfb(320, 200);
    let (conn, screen) = RustConnection::connect(Some(server.display())).unwrap();
    let root = conn.setup().roots[screen].root;
    let window = conn.generate_id().unwrap();
    let mask = EventMask::BUTTON_PRESS | EventMask::BUTTON_RELEASE;
    conn.create_window(
        0,
        window,
        root,
        0,
        0,
        320,
        200,
        0,
        WindowClass::INPUT_OUTPUT,
        0,
        &CreateWindowAux::new().event_mask(mask).override_redirect(1),
    )
    .unwrap();
    conn.map_window(window).unwrap();
    conn.get_input_focus().unwrap().reply().unwrap();

    let mut injector = Injector::new(&options(&server)).unwrap();
    injector.move_to(10, 10).unwrap();
    for b in [
        Button::Left,
        Button::Middle,
        Button::Right,
        Button::Back,
        Button::Forward,
    ] {
        injector.button(b, true).unwrap();
        injector.button(b, false).unwrap();
    }
    // Up 3, right 2, in RustDesk's signs.
    injector.wheel(-2, 3).unwrap();
    injector.button(Button::Left, true).unwrap();
    injector.release_all().unwrap();

    let mut presses = Vec::new();
    let mut releases = 0;
    let deadline = after_ms(10_000);
    while (presses.len() < 11 || releases < 11) && Instant::now() < deadline {
        match conn.poll_for_event().unwrap() {
            Some(Event::ButtonPress(e)) => presses.push(e.detail),
            Some(Event::ButtonRelease(_)) => releases += 1,
            Some(_) => {}
            None => std::thread::sleep(std::time::Duration::from_millis(5)),
        }
    }
    assert_eq!(presses, [1, 2, 3, 8, 9, 4, 4, 4, 7, 7, 1]);
    assert_eq!(releases, 11, "release_all released the held left button");
}

/// One KeyPress as xev printed it; `filtered` ones went to the input method (dead keys).
#[derive(Debug, Clone)]
struct Press {
    state: u32,
    keysym: u32,
    text: String,
    filtered: bool,
}

/// `xev -root` printing keyboard events, read on a thread.
struct Xev {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Xev {
    fn start(server: &Xvfb) -> Self {
        require_tool("xev", "x11-utils");
        let mut child = server
            .command("xev")
            .args(["-root", "-event", "keyboard"])
            .env("LANG", "C.UTF-8")
            .env("LC_ALL", "C.UTF-8")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        // Ready once xev has selected key presses on the root window.
        let (conn, screen) = RustConnection::connect(Some(server.display())).unwrap();
        let root = conn.setup().roots[screen].root;
        let deadline = after_ms(10_000);
        loop {
            let attrs = conn.get_window_attributes(root).unwrap().reply().unwrap();
            if attrs.all_event_masks.contains(EventMask::KEY_PRESS) {
                break;
            }
            assert!(Instant::now() < deadline, "xev did not start");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        Self { child, lines }
    }

    fn presses(&self) -> Vec<Press> {
        let lines = self.lines.lock().unwrap();
        let mut out = Vec::new();
        let mut current: Option<Press> = None;
        for line in lines.iter() {
            let line = line.trim();
            if line.starts_with("KeyPress event") {
                current = Some(Press {
                    state: 0,
                    keysym: 0,
                    text: String::new(),
                    filtered: false,
                });
            } else if line.starts_with("KeyRelease event") {
                current = None;
            } else if let Some(p) = current.as_mut() {
                if let Some(rest) = line.strip_prefix("state 0x") {
                    let state = rest.split(',').next().unwrap();
                    p.state = u32::from_str_radix(state, 16).unwrap();
                    let keysym = rest.split("keysym 0x").nth(1).unwrap();
                    p.keysym = u32::from_str_radix(keysym.split(',').next().unwrap(), 16).unwrap();
                } else if line.starts_with("XmbLookupString gives") {
                    let bytes: Vec<u8> = line
                        .split_once('(')
                        .map(|(_, rest)| rest.split(')').next().unwrap())
                        .unwrap_or("")
                        .split_whitespace()
                        .map(|h| u8::from_str_radix(h, 16).unwrap())
                        .collect();
                    p.text = String::from_utf8(bytes).unwrap();
                } else if let Some(verdict) = line.strip_prefix("XFilterEvent returns: ") {
                    p.filtered = verdict == "True";
                    out.push(p.clone());
                }
            }
        }
        out
    }

    /// Waits until the typed text is `want` (or 10 s pass) and returns the presses.
    fn wait_text(&self, want: &str) -> Vec<Press> {
        let deadline = after_ms(10_000);
        loop {
            let presses = self.presses();
            let text: String = presses
                .iter()
                .filter(|p| !p.filtered)
                .map(|p| p.text.as_str())
                .collect();
            if text == want || Instant::now() > deadline {
                assert_eq!(text, want);
                return presses;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    fn clear(&self) {
        self.lines.lock().unwrap().clear();
    }
}

impl Drop for Xev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn ascii_text_map_mode_and_named_keys_on_a_us_layout() {
    let server = xvfb(320, 200);
    run(&server, "setxkbmap", &["us"]);
    let xev = Xev::start(&server);
    let mut injector = Injector::new(&options(&server)).unwrap();

    let text = "Hello, World! 0123456789 ~`{}[]|\\:;\"'<>?/.-_=+*&^%$#@";
    injector.type_text(text).unwrap();
    xev.wait_text(text);
    xev.clear();

    // Map mode: X keycode 38 is the A key (evdev 30 + 8).
    injector.keycode(38, true).unwrap();
    injector.keycode(38, false).unwrap();
    // Legacy mode: a held Shift is lifted for a final character, and kept for a capital.
    injector.control_key(29, true).unwrap();
    injector.type_char('b').unwrap();
    injector.type_char('C').unwrap();
    injector.control_key(29, false).unwrap();
    // Named keys: Tab, BackSpace.
    injector.control_key(31, true).unwrap();
    injector.control_key(31, false).unwrap();
    let presses = xev.wait_text("abC\t");
    assert_eq!(presses.last().unwrap().keysym, 0xff09);
    injector.control_key(2, true).unwrap();
    injector.control_key(2, false).unwrap();
    let deadline = after_ms(10_000);
    while !xev.presses().iter().any(|p| p.keysym == 0xff08) {
        assert!(Instant::now() < deadline, "no BackSpace");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(injector.keycode(3, true).is_err());
    injector.release_all().unwrap();
    assert_no_key_down(&server);
}

#[test]
fn altgr_and_absent_characters_on_a_german_layout() {
    let server = xvfb(320, 200);
    let xev = Xev::start(&server);
    let mut injector = Injector::new(&options(&server)).unwrap();
    // The layout changes after the injector loaded its keymap: it must notice.
    run(&server, "setxkbmap", &["de"]);
    injector.type_text("z").unwrap();
    xev.wait_text("z");
    xev.clear();

    let altgr = "@€{}[]\\~|µ";
    injector.type_text(altgr).unwrap();
    let presses = xev.wait_text(altgr);
    for p in presses.iter().filter(|p| !p.text.is_empty()) {
        assert_ne!(
            p.state & 0x80,
            0,
            "{:?} was typed without AltGr (Mod5)",
            p.text
        );
    }
    xev.clear();

    // Umlauts are on the layout; ^ and ` are dead keys there; the rest is on no key at all.
    let mixed = "äöüß ÄÖÜ ^` ☃ ǅ 日本";
    injector.type_text(mixed).unwrap();
    xev.wait_text(mixed);
    injector.release_all().unwrap();
    assert_no_key_down(&server);

    // Borrowed keycodes are given back.
    let (conn, _) = RustConnection::connect(Some(server.display())).unwrap();
    let setup = conn.setup();
    let map = conn
        .get_keyboard_mapping(setup.min_keycode, setup.max_keycode - setup.min_keycode + 1)
        .unwrap()
        .reply()
        .unwrap();
    assert!(!map.keysyms.contains(&0x0100_2603), "☃ is still mapped");
}

#[test]
fn map_mode_dead_keys_compose_in_the_client() {
    let server = xvfb(320, 200);
    run(&server, "setxkbmap", &["de"]);
    let xev = Xev::start(&server);
    let mut injector = Injector::new(&options(&server)).unwrap();
    // On the German layout keycode 21 is the dead acute key and 26 is E.
    for code in [21, 26] {
        injector.keycode(code, true).unwrap();
        injector.keycode(code, false).unwrap();
    }
    xev.wait_text("é");
}

#[test]
fn caps_lock_is_brought_in_step_and_nothing_stays_pressed() {
    let server = xvfb(320, 200);
    run(&server, "setxkbmap", &["us"]);
    let xev = Xev::start(&server);
    let mut injector = Injector::new(&options(&server)).unwrap();
    let locks = |caps| LockState {
        caps: Some(caps),
        num: Some(caps),
    };
    injector.sync_locks(locks(true)).unwrap();
    injector.sync_locks(locks(true)).unwrap();
    injector.sync().unwrap();
    let (conn, _) = RustConnection::connect(Some(server.display())).unwrap();
    let root = conn.setup().roots[0].root;
    let mask =
        |conn: &RustConnection| u16::from(conn.query_pointer(root).unwrap().reply().unwrap().mask);
    assert_eq!(mask(&conn) & 0x02, 0x02, "Caps Lock is on");
    // Text comes out as sent, whatever the lock says.
    injector.type_text("aB").unwrap();
    xev.wait_text("aB");
    injector.sync_locks(locks(false)).unwrap();
    injector.sync().unwrap();
    assert_eq!(mask(&conn) & 0x02, 0);

    // Keys held at the end of a session are released when the injector goes away.
    injector.control_key(4, true).unwrap();
    injector.control_key(29, true).unwrap();
    injector.keycode(38, true).unwrap();
    injector.button(Button::Right, true).unwrap();
    drop(injector);
    assert_no_key_down(&server);
    assert_eq!(
        mask(&conn) & 0x1f05,
        0,
        "no modifier or button is left down"
    );
}
