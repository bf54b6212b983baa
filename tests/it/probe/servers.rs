//! Reaching the agent: refusals from the rendezvous server, the client-initiated relay
//! (Flow B), a server without a key, and the relay going away.

use deskcast::probe::{Error, Probe, ProbeConfig, Route};
use deskcast_protocol::crypto::IdentityKey;
use deskcast_protocol::error::Rejected;
use deskcast_testkit::servers::{RendezvousOptions, Servers, TestRelay, TestRendezvous};
use rand::SeedableRng as _;

use super::agent::{AgentOptions, FakeAgent};
use super::{PASSWORD, WAIT, agent_with, connect, fresh_id};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_id_and_a_wrong_key_are_refused_by_the_rendezvous_server() {
    let servers = Servers::from_env_or_start();
    let server = servers.rendezvous.to_string();
    let unknown = Probe::connect(ProbeConfig::rendezvous(&server, &servers.key, &fresh_id()))
        .await
        .expect_err("nobody has this ID");
    assert!(
        matches!(unknown, Error::Rejected(Rejected::IdNotExist)),
        "{unknown}"
    );
    assert_eq!(unknown.to_string(), "ID does not exist");

    let agent = agent_with(&servers, |_| {}).await;
    let other_key = IdentityKey::generate(&mut rand::rngs::StdRng::seed_from_u64(4))
        .public_key()
        .to_base64();
    let mismatch = Probe::connect(ProbeConfig::rendezvous(&server, &other_key, agent.id()))
        .await
        .expect_err("the key is not the server's");
    assert!(
        matches!(mismatch, Error::Rejected(Rejected::LicenceMismatch)),
        "{mismatch}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_pairs_two_connections_and_passes_raw_bytes_both_ways() {
    use deskcast_protocol::message::RequestRelay;
    use deskcast_protocol::rendezvous::{generate_uuid, relay_request_frame};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let servers = Servers::from_env_or_start();
    let uuid = generate_uuid(&mut rand::rngs::OsRng);
    let request = relay_request_frame(RequestRelay {
        uuid,
        licence_key: servers.key.clone(),
        ..RequestRelay::default()
    })
    .unwrap();
    let mut a = tokio::net::TcpStream::connect(servers.relay).await.unwrap();
    a.write_all(&request).await.unwrap();
    // Bytes before the partner arrives are kept for it (an agent's SignedId), whatever
    // they are.
    a.write_all(b"early").await.unwrap();
    // Let the relay park the first half before the second arrives.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let mut b = tokio::net::TcpStream::connect(servers.relay).await.unwrap();
    b.write_all(&request).await.unwrap();
    let mut buf = [0u8; 5];
    tokio::time::timeout(WAIT, b.read_exact(&mut buf))
        .await
        .expect("in time")
        .expect("early bytes");
    assert_eq!(&buf, b"early");
    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let (mut b_read, mut b_write) = b.into_split();
    let sent = big.clone();
    // The writer half comes back: dropping it would half-close b, and hbbr ends a pair on
    // a half-close.
    let writer = tokio::spawn(async move { b_write.write_all(&sent).await.map(|()| b_write) });
    let mut got = vec![0u8; big.len()];
    tokio::time::timeout(WAIT, a.read_exact(&mut got))
        .await
        .expect("in time")
        .expect("b → a");
    assert!(got == big, "a megabyte arrives unchanged");
    let _b_write = writer.await.unwrap().unwrap();
    a.write_all(b"back").await.unwrap();
    let mut back = [0u8; 4];
    tokio::time::timeout(WAIT, b_read.read_exact(&mut back))
        .await
        .expect("in time")
        .expect("a → b");
    assert_eq!(&back, b"back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_offers_an_address_is_reached_through_a_relay_the_probe_asks_for() {
    let servers = Servers::from_env_or_start();
    let agent = agent_with(&servers, |o| o.answer_with_address = true).await;
    let mut probe = connect(&servers, &agent).await;
    assert!(
        matches!(probe.route(), Route::RelayedByProbe { .. }),
        "{:?}",
        probe.route()
    );
    assert!(probe.security().encrypted, "{:?}", probe.security());
    assert!(probe.next_frame(WAIT).await.expect("video").keyframe);
    probe.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_server_key_the_session_is_reported_unencrypted() {
    // hbbs started with an empty -k: it signs, but requires no key from clients.
    let relay = TestRelay::start();
    let hbbs = TestRendezvous::start_with(RendezvousOptions {
        require_key: false,
        ..RendezvousOptions::default().relay(relay.addr())
    });
    let mut options = AgentOptions::new(&fresh_id(), PASSWORD, Some((hbbs.addr(), String::new())));
    options.frames = 1;
    let agent = FakeAgent::start(options);
    agent.wait_registered().await;
    let mut probe = Probe::connect(
        ProbeConfig::rendezvous(&hbbs.addr().to_string(), "", agent.id()).password(PASSWORD),
    )
    .await
    .expect("an unencrypted session still works");
    let security = probe.security().clone();
    assert!(!security.encrypted);
    assert!(
        security
            .reason
            .as_deref()
            .unwrap_or("")
            .contains("no server key"),
        "{security:?}"
    );
    assert_eq!(
        agent.log(|log| log.encrypted.clone()),
        [false],
        "the agent saw the empty Message and continued in the clear"
    );
    assert!(probe.next_frame(WAIT).await.expect("video").keyframe);
    let config = ProbeConfig::rendezvous(&hbbs.addr().to_string(), "", agent.id());
    let mut strict = config.password(PASSWORD);
    strict.require_encryption = true;
    assert!(matches!(
        Probe::connect(strict).await,
        Err(Error::Insecure(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_relay_ends_the_session() {
    let mut servers = Servers::from_env_or_start();
    if servers.is_interop() {
        // The real relay is not ours to kill.
        return;
    }
    let agent = agent_with(&servers, |o| o.frames = u32::MAX).await;
    let mut probe = connect(&servers, &agent).await;
    probe.next_frame(WAIT).await.expect("video flows");
    servers.test_relay().expect("test relay").kill();
    let ended = loop {
        match probe.next_frame(WAIT).await {
            Ok(_) => continue,
            Err(error) => break error,
        }
    };
    assert!(matches!(ended, Error::Closed(_)), "{ended}");
    assert!(probe.ended().is_some());
    assert!(
        probe
            .send_mouse(deskcast::probe::Mouse::Move { x: 1, y: 1 })
            .is_err(),
        "nothing can be sent on an ended session"
    );
}
