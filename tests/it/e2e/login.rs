//! Logging in through the rendezvous server and relay: the right password, a wrong one, lockout.

use deskcast::probe::{Error, Probe, Unauthenticated};
use deskcast_protocol::login::LoginError;

use super::{Desk, PASSWORD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_right_password_logs_in_encrypted_with_the_real_display() {
    let desk = Desk::start(800, 600).await;
    let probe = desk.probe().await;
    assert!(
        probe.security().encrypted,
        "relay sessions are end-to-end encrypted: {:?}",
        probe.security()
    );
    let info = probe.peer_info();
    assert_eq!(info.platform, "Linux");
    assert_eq!(info.displays.len(), 1);
    assert_eq!(
        (info.displays[0].width, info.displays[0].height),
        (800, 600)
    );
    assert!(!info.version.is_empty());
    probe.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_refused_then_repeated_failures_lock_out() {
    let desk = Desk::start(320, 240).await;
    let open = || Unauthenticated::open(desk.probe_config());

    // A wrong password: the agent's own words, and the connection stays for another try.
    let failure = open()
        .await
        .unwrap()
        .login_with("wrong")
        .await
        .expect_err("refused");
    assert!(
        matches!(failure.error, Error::Login(LoginError::WrongPassword)),
        "{:?}",
        failure.error
    );
    let retry = failure
        .retry
        .expect("the agent keeps the connection for a retry");
    // Retrying on the same connection with the right password works (the same Hash).
    let probe = retry
        .login_with(PASSWORD)
        .await
        .map_err(|f| f.error)
        .expect("the retry logs in");
    probe.close().await;

    // Six more failures in a minute lock this peer out, even with the right password.
    let mut last = None;
    for _ in 0..7 {
        let failure = open()
            .await
            .unwrap()
            .login_with("still wrong")
            .await
            .expect_err("refused");
        last = Some(failure.error);
    }
    assert!(
        matches!(last, Some(Error::Login(LoginError::TryLater))),
        "{last:?}"
    );
    let locked = open()
        .await
        .unwrap()
        .login_with(PASSWORD)
        .await
        .expect_err("locked out");
    assert!(
        matches!(locked.error, Error::Login(LoginError::TryLater)),
        "{:?}",
        locked.error
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_ip_works_without_a_rendezvous_server() {
    let xvfb = deskcast_testkit::Xvfb::start(320, 240);
    let dir = tempfile::tempdir().unwrap();
    let env = deskcast::service::config::Env::from_pairs([
        ("DESKCAST_DISPLAY", xvfb.display()),
        ("DESKCAST_PASSWORD", PASSWORD),
        ("DESKCAST_DIRECT_PORT", "0"),
        ("DESKCAST_AUDIO_SERVER", "unix:/nonexistent"),
    ]);
    let (config, _) =
        deskcast::service::config::load_or_create(&dir.path().join("d.toml"), &env).unwrap();
    assert!(config.server.rendezvous.is_none());
    let agent = std::sync::Arc::new(deskcast::runtime::Agent::new(config).unwrap());
    let handle = deskcast::runtime::start(agent).await.unwrap();
    let port = handle
        .status
        .borrow()
        .direct
        .expect("direct IP is on without a rendezvous server")
        .port();
    let config =
        deskcast::probe::ProbeConfig::direct(&format!("127.0.0.1:{port}")).password(PASSWORD);
    let mut probe = Probe::connect(config).await.expect("direct login");
    assert!(
        !probe.security().encrypted,
        "direct IP has no handshake, as in RustDesk"
    );
    let frame = probe
        .next_frame(std::time::Duration::from_secs(10))
        .await
        .expect("a frame");
    assert!(frame.keyframe);
    probe.close().await;
    handle.shutdown().await;
}
