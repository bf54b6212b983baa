//! The servers alone, no agent: the rendezvous server's refusals as the probe reports them, and
//! the relay pairing two connections and passing raw bytes.

use deskcast::probe::{Error, Probe, ProbeConfig};
use deskcast_protocol::crypto::IdentityKey;
use deskcast_protocol::error::Rejected;
use deskcast_testkit::servers::Servers;
use rand::SeedableRng as _;

use super::{WAIT, fresh_id};

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

    // The key is checked before the ID is looked up.
    let other_key = IdentityKey::generate(&mut rand::rngs::StdRng::seed_from_u64(4))
        .public_key()
        .to_base64();
    let mismatch = Probe::connect(ProbeConfig::rendezvous(&server, &other_key, &fresh_id()))
        .await
        .expect_err("the key is not the server's");
    assert!(
        matches!(mismatch, Error::Rejected(Rejected::LicenceMismatch)),
        "{mismatch}"
    );
    assert_eq!(mismatch.to_string(), "Key mismatch");
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
