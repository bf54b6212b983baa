//! The notification protocol against real Unix datagram sockets the tests bind (by path and in
//! the abstract namespace), with the environment passed as values.

use std::ffi::OsString;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

use super::{Error, Notifier, NotifyEnv, State};

fn env_with_socket(socket: impl Into<OsString>) -> NotifyEnv {
    NotifyEnv {
        notify_socket: Some(socket.into()),
        pid: 4242,
        ..NotifyEnv::default()
    }
}

fn receive(socket: &UnixDatagram) -> String {
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut buf = [0u8; 4096];
    let n = socket.recv(&mut buf).expect("a notification");
    String::from_utf8(buf[..n].to_vec()).expect("UTF-8")
}

#[test]
fn each_state_arrives_as_its_own_datagram_on_a_path_socket() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("notify");
    let manager = UnixDatagram::bind(&path).expect("bind");
    let notifier = Notifier::new(&env_with_socket(&path)).expect("notifier");
    assert!(notifier.is_enabled());

    notifier.ready().expect("send");
    assert_eq!(receive(&manager), "READY=1\n");
    notifier
        .status("serving 2 viewers\nat 60 fps")
        .expect("send");
    assert_eq!(receive(&manager), "STATUS=serving 2 viewers at 60 fps\n");
    notifier.watchdog().expect("send");
    assert_eq!(receive(&manager), "WATCHDOG=1\n");
    notifier.stopping().expect("send");
    assert_eq!(receive(&manager), "STOPPING=1\n");
    notifier
        .notify(&[State::Ready, State::Status("registered as 123456789")])
        .expect("send");
    assert_eq!(
        receive(&manager),
        "READY=1\nSTATUS=registered as 123456789\n"
    );
}

#[test]
fn an_abstract_socket_is_reached_through_its_at_name() {
    let name = format!(
        "deskcast-notify-test-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    );
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).expect("address");
    let manager = UnixDatagram::bind_addr(&addr).expect("bind");
    let notifier = Notifier::new(&env_with_socket(format!("@{name}"))).expect("notifier");
    notifier.ready().expect("send");
    assert_eq!(receive(&manager), "READY=1\n");
}

#[test]
fn without_notify_socket_every_call_is_a_no_op() {
    for socket in [None, Some(OsString::new())] {
        let notifier = Notifier::new(&NotifyEnv {
            notify_socket: socket,
            ..NotifyEnv::default()
        })
        .expect("notifier");
        assert!(!notifier.is_enabled());
        notifier.ready().expect("no-op");
        notifier.status("x").expect("no-op");
    }
    Notifier::disabled().watchdog().expect("no-op");
}

#[test]
fn a_relative_socket_path_is_rejected() {
    let err = Notifier::new(&env_with_socket("run/notify")).expect_err("relative");
    assert!(matches!(err, Error::BadSocket(_)), "{err:?}");
}

#[test]
fn a_vanished_manager_is_a_send_error_not_a_hang() {
    let dir = tempfile::tempdir().expect("tempdir");
    let notifier = Notifier::new(&env_with_socket(dir.path().join("gone"))).expect("notifier");
    let err = notifier.ready().expect_err("nobody listens");
    assert!(matches!(err, Error::Send(_)), "{err:?}");
}

#[test]
fn the_watchdog_interval_is_half_the_timeout_and_only_for_our_pid() {
    let with = |usec: &str, pid: Option<&str>| NotifyEnv {
        watchdog_usec: Some(usec.into()),
        watchdog_pid: pid.map(Into::into),
        pid: 4242,
        ..NotifyEnv::default()
    };
    let n = Notifier::new(&with("30000000", None)).expect("notifier");
    assert_eq!(n.watchdog_timeout(), Some(Duration::from_secs(30)));
    assert_eq!(n.watchdog_interval(), Some(Duration::from_secs(15)));
    let mine = Notifier::new(&with("1500000", Some("4242"))).expect("notifier");
    assert_eq!(mine.watchdog_interval(), Some(Duration::from_millis(750)));
    let theirs = Notifier::new(&with("30000000", Some("1"))).expect("notifier");
    assert_eq!(theirs.watchdog_timeout(), None);
    assert_eq!(Notifier::disabled().watchdog_interval(), None);
    for (usec, pid) in [("0", None), ("30s", None), ("30000000", Some("init"))] {
        let err = Notifier::new(&with(usec, pid)).expect_err("invalid");
        assert!(
            matches!(err, Error::BadWatchdog { .. }),
            "{usec} {pid:?}: {err:?}"
        );
    }
}
