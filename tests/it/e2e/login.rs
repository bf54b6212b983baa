//! Logging in through the rendezvous server and relay: the right password, a wrong one, lockout;
//! a client without the server key (refused unless the desktop allows unencrypted sessions);
//! direct IP.

use deskcast::probe::{Error, Probe, ProbeConfig, Route, Unauthenticated};
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
    let relay = desk.servers.relay.to_string();
    assert!(
        matches!(probe.route(), Route::RelayedByAgent { relay: r, .. } if *r == relay),
        "the agent asked for the relay it was given: {:?}",
        probe.route()
    );
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
    assert_eq!(failure.error.to_string(), "login refused: Wrong Password");
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
    assert_eq!(
        locked.error.to_string(),
        "login refused: Please try 1 minute later"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_without_the_server_key_is_refused_unless_unencrypted_sessions_are_allowed() {
    use deskcast_testkit::servers::{RendezvousOptions, TestRelay, TestRendezvous};
    // hbbs started with an empty -k: it signs, but requires no key from clients, so a client
    // without the key reaches the agent yet cannot check the agent's key.
    let relay = TestRelay::start();
    let hbbs = TestRendezvous::start_with(RendezvousOptions {
        require_key: false,
        ..RendezvousOptions::default().relay(relay.addr())
    });
    let (server, relay) = (hbbs.addr().to_string(), relay.addr().to_string());
    let keyless = [
        ("DESKCAST_SERVER", server.as_str()),
        ("DESKCAST_KEY", ""),
        ("DESKCAST_RELAY", relay.as_str()),
    ];
    let config = |id: &str| ProbeConfig::rendezvous(&server, "", id).password(PASSWORD);

    let strict = Desk::start_with(320, 240, &keyless).await;
    let refused = Probe::connect(config(&strict.id))
        .await
        .expect_err("deskcast refuses unencrypted sessions by default");
    assert!(
        matches!(&refused, Error::Closed(Some(reason)) if reason.contains("refuses unencrypted sessions")),
        "the agent's own words: {refused}"
    );

    let allow = [keyless.as_slice(), &[("DESKCAST_ALLOW_INSECURE", "true")]].concat();
    let lenient = Desk::start_with(320, 240, &allow).await;
    let mut probe = Probe::connect(config(&lenient.id))
        .await
        .expect("allowed, an unencrypted session works");
    let security = probe.security().clone();
    assert!(!security.encrypted);
    assert!(
        security
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("no server key")),
        "{security:?}"
    );
    assert!(
        probe
            .next_frame(std::time::Duration::from_secs(10))
            .await
            .expect("video")
            .keyframe
    );
    probe.close().await;
    let mut required = config(&lenient.id);
    required.require_encryption = true;
    assert!(matches!(
        Probe::connect(required).await,
        Err(Error::Insecure(_))
    ));
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
    let config = ProbeConfig::direct(&format!("127.0.0.1:{port}")).password(PASSWORD);
    let mut probe = Probe::connect(config).await.expect("direct login");
    assert!(
        !probe.security().encrypted,
        "direct IP has no handshake, as in RustDesk"
    );
    assert!(
        matches!(probe.route(), Route::Direct { .. }),
        "{:?}",
        probe.route()
    );
    let frame = probe
        .next_frame(std::time::Duration::from_secs(10))
        .await
        .expect("a frame");
    assert!(frame.keyframe);
    probe.close().await;
    handle.shutdown().await;
}
