//! Connecting: DISPLAY, XAUTHORITY, a refused cookie, no server, and a server that goes away
//! under each kind of connection.

use std::path::Path;

use deskcast::platform::x11::{
    Clipboard, ClipboardConfig, ConnectOptions, CursorWatcher, Error, Fault, Injector, Screen,
};
use deskcast_testkit::{Xvfb, XvfbOptions, require_tool};

use super::{after_ms, options, xvfb};

/// Writes an authority file with one cookie for `display` (":N"), using xauth.
fn write_cookie(file: &Path, display: &str, cookie: &str) {
    require_tool("xauth", "xauth");
    let status = std::process::Command::new("xauth")
        .arg("-f")
        .arg(file)
        .args(["add", display, "MIT-MAGIC-COOKIE-1", cookie])
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn an_explicit_authority_file_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let server_auth = dir.path().join("server");
    let client_auth = dir.path().join("client");
    let cookie = "00112233445566778899aabbccddeeff";
    // The server loads every cookie in its file, whatever display it is for.
    write_cookie(&server_auth, ":999", cookie);
    let server = Xvfb::start_with(&XvfbOptions {
        width: 64,
        height: 64,
        extra_args: vec!["-auth".into(), server_auth.display().to_string()],
        ..XvfbOptions::default()
    });
    write_cookie(&client_auth, server.display(), cookie);

    let with = ConnectOptions {
        display: Some(server.display().to_owned()),
        xauthority: Some(client_auth.clone()),
    };
    Screen::connect(&with).unwrap();

    let wrong = dir.path().join("wrong");
    write_cookie(&wrong, server.display(), "ffeeddccbbaa99887766554433221100");
    let refused = Screen::connect(&ConnectOptions {
        xauthority: Some(wrong),
        ..with.clone()
    })
    .unwrap_err();
    assert!(matches!(refused, Error::Connect { .. }), "{refused}");
    assert_eq!(refused.fault(), Fault::Environment);

    let unreadable = Screen::connect(&ConnectOptions {
        xauthority: Some(dir.path().join("absent")),
        ..with
    })
    .unwrap_err();
    assert!(
        matches!(unreadable, Error::Xauthority { .. }),
        "{unreadable}"
    );
}

#[test]
fn the_environment_is_used_when_nothing_is_given() {
    let server = xvfb(64, 64);
    // A child process gets DISPLAY; this process's environment stays untouched.
    let out = server.command("xdpyinfo").output().unwrap();
    assert!(out.status.success());
    // No server on a display: a typed connect error, not a panic.
    let nowhere = ConnectOptions {
        display: Some(":4999".into()),
        xauthority: None,
    };
    assert!(matches!(
        Screen::connect(&nowhere),
        Err(Error::Connect { .. })
    ));
}

#[test]
fn every_connection_reports_a_lost_server_as_disconnected() {
    let mut server = xvfb(64, 64);
    let opts = options(&server);
    let screen = Screen::connect(&opts).unwrap();
    let mut injector = Injector::new(&opts).unwrap();
    let mut cursor = CursorWatcher::new(&opts).unwrap();
    let mut clipboard = Clipboard::new(&opts, ClipboardConfig::default()).unwrap();
    server.kill();

    let lost = |e: Error| assert!(e.is_disconnected(), "{e}");
    lost(screen.monitors().unwrap_err());
    // Input only writes; the loss shows once the socket errs (a write after a failed one).
    let error = (0..100)
        .find_map(|i| injector.move_to(i, i).and_then(|()| injector.sync()).err())
        .expect("input fails without a server");
    lost(error);
    lost(cursor.wait_change(after_ms(2000)).unwrap_err());
    lost(clipboard.wait(after_ms(2000)).unwrap_err());
    // Dropping the injector tries to release keys and must not panic either.
    drop(injector);
}
