//! The clipboard against xclip (both directions, up to 1 MiB, INCR) and against itself.

use std::io::Write as _;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use deskcast::platform::x11::{Clipboard, ClipboardConfig, ClipboardEvent, ClipboardSetter, Error};
use deskcast_testkit::{Xvfb, require_tool};

use super::{after_ms, options, xvfb};

/// A clipboard running on its own thread, as the agent runs it.
struct Running {
    setter: ClipboardSetter,
    events: Receiver<ClipboardEvent>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Running {
    fn start(server: &Xvfb, config: ClipboardConfig) -> Self {
        let mut clipboard = Clipboard::new(&options(server), config).unwrap();
        let setter = clipboard.setter();
        let (tx, events) = channel();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match clipboard.wait(after_ms(50)) {
                    Ok(Some(event)) => {
                        let _ = tx.send(event);
                    }
                    Ok(None) => {}
                    Err(e) => panic!("clipboard: {e}"),
                }
            }
        });
        Self {
            setter,
            events,
            stop,
            thread: Some(thread),
        }
    }

    fn next_event(&self) -> ClipboardEvent {
        self.events
            .recv_timeout(Duration::from_secs(20))
            .expect("a clipboard event")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let joined = t.join();
            if !std::thread::panicking() {
                joined.unwrap();
            }
        }
    }
}

/// `xclip -o` of the clipboard in `target`, retried until it gives `want` (ownership is taken
/// asynchronously by the clipboard thread).
fn xclip_reads(server: &Xvfb, target: &str, want: &[u8]) {
    require_tool("xclip", "xclip");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = server
            .command("xclip")
            .args(["-o", "-selection", "clipboard", "-t", target])
            .output()
            .unwrap();
        if out.stdout == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "xclip -t {target} read {} bytes: {:?}",
            out.stdout.len(),
            String::from_utf8_lossy(&out.stdout[..out.stdout.len().min(200)])
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Puts `text` on the clipboard with `xclip -i` (which stays behind to serve it).
fn xclip_writes(server: &Xvfb, text: &[u8]) {
    require_tool("xclip", "xclip");
    let mut child = server
        .command("xclip")
        .args(["-i", "-selection", "clipboard"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(text).unwrap();
    assert!(child.wait().unwrap().success());
}

/// Text of about `len` bytes mixing ASCII and multi-byte characters.
fn big_text(len: usize) -> String {
    let mut text = String::with_capacity(len + 8);
    let mut i = 0u32;
    while text.len() < len {
        text.push_str(&format!("line {i}: grüße € ☃\n"));
        i += 1;
    }
    text
}

#[test]
fn text_set_here_is_read_by_xclip_in_every_target() {
    let server = xvfb(64, 64);
    let clipboard = Running::start(&server, ClipboardConfig::default());
    clipboard
        .setter
        .set_text("héllo wörld €".to_owned())
        .unwrap();
    xclip_reads(&server, "UTF8_STRING", "héllo wörld €".as_bytes());
    xclip_reads(&server, "TEXT", "héllo wörld €".as_bytes());
    xclip_reads(&server, "STRING", b"h\xe9llo w\xf6rld ?");
    let targets = server
        .command("xclip")
        .args(["-o", "-selection", "clipboard", "-t", "TARGETS"])
        .output()
        .unwrap()
        .stdout;
    let targets = String::from_utf8(targets).unwrap();
    for t in ["TARGETS", "UTF8_STRING", "STRING", "TEXT", "TIMESTAMP"] {
        assert!(
            targets.lines().any(|l| l == t),
            "{t} missing from {targets:?}"
        );
    }
}

#[test]
fn text_set_by_xclip_is_seen_here() {
    let server = xvfb(64, 64);
    let clipboard = Running::start(&server, ClipboardConfig::default());
    xclip_writes(&server, "from xclip: ünïcödé ✓".as_bytes());
    assert_eq!(
        clipboard.next_event(),
        ClipboardEvent::Text("from xclip: ünïcödé ✓".to_owned())
    );
    // Our own text is not reported back to us.
    clipboard.setter.set_text("ours".to_owned()).unwrap();
    xclip_reads(&server, "UTF8_STRING", b"ours");
    xclip_writes(&server, b"theirs again");
    assert_eq!(
        clipboard.next_event(),
        ClipboardEvent::Text("theirs again".to_owned())
    );
}

#[test]
fn a_mebibyte_goes_both_ways_with_xclip() {
    let server = xvfb(64, 64);
    let clipboard = Running::start(&server, ClipboardConfig::default());
    let text = big_text(1 << 20);
    // More than one INCR chunk out to xclip.
    clipboard.setter.set_text(text.clone()).unwrap();
    xclip_reads(&server, "UTF8_STRING", text.as_bytes());
    let other = big_text((1 << 20) + 17).replace("line", "zeile");
    xclip_writes(&server, other.as_bytes());
    assert_eq!(clipboard.next_event(), ClipboardEvent::Text(other));
}

#[test]
fn incr_between_two_clipboards_and_the_size_cap() {
    let server = xvfb(64, 64);
    // Small chunks: a 1 MiB text crosses in many INCR steps.
    let small_chunks = ClipboardConfig {
        incr_chunk: 4096,
        ..ClipboardConfig::default()
    };
    let a = Running::start(&server, small_chunks);
    let b = Running::start(&server, ClipboardConfig::default());
    let text = big_text(1 << 20);
    a.setter.set_text(text.clone()).unwrap();
    assert_eq!(b.next_event(), ClipboardEvent::Text(text));

    // A cap below the text: the reader drains and drops it, in one piece or in chunks.
    let capped = Running::start(
        &server,
        ClipboardConfig {
            max_bytes: 1000,
            ..ClipboardConfig::default()
        },
    );
    let too_big = "x".repeat(5000);
    assert!(matches!(
        capped.setter.set_text(too_big.clone()),
        Err(Error::ClipboardTooLarge {
            size: 5000,
            cap: 1000
        })
    ));
    a.setter.set_text(too_big.clone()).unwrap();
    assert!(matches!(capped.next_event(), ClipboardEvent::TooLarge { size } if size >= 5000));
    xclip_writes(&server, too_big.as_bytes());
    assert!(matches!(capped.next_event(), ClipboardEvent::TooLarge { size } if size > 1000));
}
