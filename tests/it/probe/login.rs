//! Logging in: the right password over an encrypted relay, a wrong one refused in the agent's
//! words (and retried on the same connection), the lockout, and direct-IP access.

use deskcast::probe::{Error, Probe, ProbeConfig, Route, Unauthenticated};
use deskcast_protocol::login::LoginError;
use deskcast_testkit::servers::Servers;

use super::agent::{AgentOptions, FakeAgent};
use super::{PASSWORD, WAIT, agent_with, connect, dial};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_right_password_logs_in_over_an_encrypted_relay() {
    let servers = Servers::from_env_or_start();
    let agent = agent_with(&servers, |_| {}).await;
    let probe = connect(&servers, &agent).await;
    assert!(probe.security().encrypted, "{:?}", probe.security());
    let relay = servers.relay.to_string();
    assert!(
        matches!(probe.route(), Route::RelayedByAgent { relay: r, .. } if *r == relay),
        "{:?}",
        probe.route()
    );
    assert_eq!(probe.peer_info().platform, "Linux");
    assert_eq!(probe.peer_info().displays.len(), 1);

    let login = agent.log(|log| log.logins[0].clone());
    assert_eq!(login.username, agent.id(), "username is the dialled ID");
    assert_eq!(login.my_platform, "deskcast-probe");
    assert_eq!(login.password.len(), 32);
    let decoding = login.option.unwrap().supported_decoding.unwrap();
    assert_eq!(
        (
            decoding.ability_vp9,
            decoding.ability_vp8,
            decoding.ability_h264
        ),
        (1, 1, 1)
    );
    assert_eq!(agent.log(|log| log.encrypted.clone()), [true]);

    probe.close().await;
    agent
        .wait_for("the probe's close reason", |log| log.close_reasons == [""])
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_refused_in_the_agents_words_and_can_be_retried() {
    let servers = Servers::from_env_or_start();
    let agent = agent_with(&servers, |_| {}).await;
    let pending = Unauthenticated::open(dial(&servers, &agent).password("guess"))
        .await
        .expect("handshake");
    let failure = pending.login().await.expect_err("a wrong password");
    assert!(
        matches!(failure.error, Error::Login(LoginError::WrongPassword)),
        "{}",
        failure.error
    );
    assert_eq!(failure.error.to_string(), "login refused: Wrong Password");
    // Same connection, same Hash, the right password.
    let retry = failure.retry.expect("the connection stays open");
    let probe = retry.login_with(PASSWORD).await.expect("the retry logs in");
    assert_eq!(agent.log(|log| log.logins.len()), 2);
    assert_eq!(agent.log(|log| log.sessions), 1, "one connection");
    probe.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_lock_the_probe_out() {
    let servers = Servers::from_env_or_start();
    let agent = agent_with(&servers, |_| {}).await;
    let mut pending = Unauthenticated::open(dial(&servers, &agent))
        .await
        .expect("handshake");
    for attempt in 0..6 {
        let failure = pending.login_with("guess").await.expect_err("wrong");
        assert!(
            matches!(failure.error, Error::Login(LoginError::WrongPassword)),
            "attempt {attempt}: {}",
            failure.error
        );
        pending = *failure.retry.expect("still open");
    }
    let failure = pending.login_with(PASSWORD).await.expect_err("locked out");
    assert!(
        matches!(failure.error, Error::Login(LoginError::TryLater)),
        "{}",
        failure.error
    );
    // A new connection from the same address is locked out too.
    let error = Probe::connect(dial(&servers, &agent))
        .await
        .expect_err("still locked out");
    assert_eq!(
        error.to_string(),
        "login refused: Please try 1 minute later"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_connection_has_no_handshake_and_logs_in_by_address() {
    let agent = FakeAgent::start(AgentOptions::new("direct-agent", PASSWORD, None));
    let addr = agent.direct_addr().to_string();
    let mut probe = Probe::connect(ProbeConfig::direct(&addr).password(PASSWORD))
        .await
        .expect("direct login");
    assert!(!probe.security().encrypted);
    assert!(matches!(probe.route(), Route::Direct { .. }));
    let login = agent.log(|log| log.logins[0].clone());
    assert_eq!(login.username, addr, "username is the address dialled");
    let frame = probe.next_frame(WAIT).await.expect("video");
    assert!(frame.keyframe);
    probe.close().await;
}
