//! The agent and its servers going away: a restarted rendezvous server knows the agent again
//! within seconds; a relay that dies ends its sessions and the agent serves new ones.

use std::time::{Duration, Instant};

use super::{Desk, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_rendezvous_server_knows_the_agent_again_within_ten_seconds() {
    let mut desk = Desk::start(320, 240).await;
    if desk.servers.is_interop() {
        return; // Real hbbs is restarted by hand, not by this test.
    }
    let id = desk.id.clone();
    let hbbs = desk.servers.test_rendezvous().expect("test servers");
    assert!(hbbs.is_online(&id));
    hbbs.restart().expect("restart on the same port");
    assert!(!hbbs.is_online(&id), "a fresh server knows nobody");
    let started = Instant::now();
    while !desk.servers.test_rendezvous().unwrap().is_online(&id) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "not registered again within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // And clients can reach it again.
    let probe = desk.probe().await;
    probe.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_relay_ends_the_session_and_the_agent_serves_new_ones() {
    let mut desk = Desk::start(320, 240).await;
    if desk.servers.is_interop() {
        return;
    }
    let mut probe = desk.probe().await;
    probe
        .next_frame(Duration::from_secs(10))
        .await
        .expect("streaming");
    assert!(eventually(Duration::from_secs(5), || desk.viewers() == 1).await);
    desk.servers.test_relay().expect("test servers").kill();
    // The agent notices at once (the socket closes) and ends the session cleanly.
    assert!(
        eventually(Duration::from_secs(10), || desk.viewers() == 0).await,
        "the session ended on the agent"
    );
    let ended = loop {
        match probe.next_frame(Duration::from_secs(5)).await {
            Ok(_) => {}
            Err(error) => break error,
        }
    };
    assert!(
        matches!(ended, deskcast::probe::Error::Closed(_)),
        "the probe's session ended too, not just went quiet: {ended}"
    );
    assert!(probe.ended().is_some());
    assert!(
        probe
            .send_mouse(deskcast::probe::Mouse::Move { x: 1, y: 1 })
            .is_err(),
        "nothing can be sent on an ended session"
    );
    drop(probe);
    desk.servers
        .test_relay()
        .unwrap()
        .restart()
        .expect("the relay comes back");
    let mut again = desk.probe().await;
    again
        .next_frame(Duration::from_secs(10))
        .await
        .expect("a new session streams");
    again.close().await;
}
