//! Heartbeats against the real agent: the probe echoes the agent's `TestDelay`s (the agent sends
//! its next one only after the echo of the last) and measures the round trip of its own.

use std::time::{Duration, Instant};

use crate::e2e::Desk;

use super::WAIT;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_are_answered_and_round_trips_measured() {
    let desk = Desk::start(320, 240).await;
    let mut probe = desk.probe().await;
    probe.next_frame(WAIT).await.expect("a frame");
    let deadline = Instant::now() + WAIT;
    loop {
        let stats = probe.stats();
        // A second TestDelay from the agent means it got the echo of the first.
        if stats.heartbeats >= 2 && stats.rtt.is_some() {
            assert!(stats.agent_rtt_ms.is_some(), "{stats:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "heartbeats {} and round trips {:?} after {WAIT:?}",
            stats.heartbeats,
            stats.rtt
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stats = probe.close().await;
    assert!(stats.rtt.expect("round trips").samples >= 1);
}
