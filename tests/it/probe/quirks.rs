//! What a stock RustDesk peer can do and the deskcast agent never does, played by a
//! [`ScriptedPeer`]: answering with an address so the probe must ask for the relay itself
//! (Flow B), and a stream that starts without its keyframe (one refresh asked).

use deskcast::probe::{Probe, ProbeConfig, Route};
use deskcast_testkit::servers::Servers;

use super::scripted_peer::{Script, ScriptedPeer};
use super::{WAIT, fresh_id};

/// The password the scripted peer accepts.
const PASSWORD: &str = "correct horse";

/// A scripted peer registered with `servers`, tuned by `tune`.
async fn peer(servers: &Servers, tune: impl FnOnce(&mut Script)) -> ScriptedPeer {
    let mut script = Script::new(
        &fresh_id(),
        PASSWORD,
        (servers.rendezvous, servers.key.clone()),
    );
    tune(&mut script);
    ScriptedPeer::start(script).await
}

/// Connects a probe to `peer` through `servers` with the right password.
async fn connect(servers: &Servers, peer: &ScriptedPeer) -> Probe {
    let config = ProbeConfig::rendezvous(&servers.rendezvous.to_string(), &servers.key, peer.id());
    Probe::connect(config.password(PASSWORD))
        .await
        .expect("the probe connects and logs in")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_offers_an_address_is_reached_through_a_relay_the_probe_asks_for() {
    let servers = Servers::from_env_or_start();
    let peer = peer(&servers, |s| s.answer_with_address = true).await;
    let mut probe = connect(&servers, &peer).await;
    assert!(
        matches!(probe.route(), Route::RelayedByProbe { .. }),
        "{:?}",
        probe.route()
    );
    assert!(probe.security().encrypted, "{:?}", probe.security());
    assert_eq!(peer.log(|log| log.encrypted.clone()), [true]);
    assert!(probe.next_frame(WAIT).await.expect("video").keyframe);
    probe.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_without_its_keyframe_is_counted_and_refreshed_once() {
    let servers = Servers::from_env_or_start();
    // The first two frames (the keyframe among them) never leave the peer.
    let peer = peer(&servers, |s| {
        s.frames = 40;
        s.withhold = 2;
    })
    .await;
    let mut probe = connect(&servers, &peer).await;
    let frame = probe
        .next_frame(WAIT)
        .await
        .expect("a frame after the refresh");
    assert!(
        frame.keyframe,
        "decoding restarts at the requested keyframe"
    );
    let stats = probe.stats();
    assert!(stats.decode_errors >= 1, "{stats:?}");
    assert!(
        stats.errors[0].contains("without a keyframe"),
        "{:?}",
        stats.errors
    );
    assert_eq!(
        peer.log(|log| log.refreshes),
        1,
        "one refresh per missing keyframe"
    );
    probe.close().await;
}
