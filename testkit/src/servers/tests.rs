//! The test servers over real loopback sockets: pairing and raw relaying both ways, early bytes,
//! licence checks, killing the relay, restarting the rendezvous server on its port, and a
//! whole dial (registration over UDP, push, relay answer, signed key).

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use deskcast_protocol::crypto::{IdentityKey, IdentityPublicKey};
use deskcast_protocol::error::{Error, Rejected};
use deskcast_protocol::framing::FrameDecoder;
use deskcast_protocol::message::RequestRelay;
use deskcast_protocol::rendezvous::agent::{Event, Mediator, MediatorConfig, RelayInstructions};
use deskcast_protocol::rendezvous::client::{self as dial, DialConfig, DialResponse};
use deskcast_protocol::rendezvous::relay_request_frame;
use rand::SeedableRng as _;
use rand::rngs::StdRng;

use super::{RelayOptions, RendezvousOptions, Servers, TestRelay, TestRendezvous};

const WAIT: Duration = Duration::from_secs(10);

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// Opens a relay connection announcing `uuid` with `key`.
fn relay_conn(relay: SocketAddr, uuid: &str, key: &str) -> TcpStream {
    let mut stream = connect(relay);
    let frame = relay_request_frame(RequestRelay {
        uuid: uuid.into(),
        licence_key: key.into(),
        ..RequestRelay::default()
    })
    .unwrap();
    stream.write_all(&frame).unwrap();
    stream
}

fn read_n(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    stream
        .read_exact(&mut buf)
        .expect("bytes through the relay");
    buf
}

/// Whether the peer closed the stream (EOF or reset) before `WAIT`.
fn closed(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

#[test]
fn the_relay_pairs_two_connections_and_passes_bytes_both_ways() {
    let relay = TestRelay::start();
    let mut a = relay_conn(relay.addr(), "pair-1", "");
    // Bytes sent before the partner arrives are kept and delivered first.
    a.write_all(b"early bytes from a").unwrap();
    let mut b = relay_conn(relay.addr(), "pair-1", "");
    assert_eq!(read_n(&mut b, 18), b"early bytes from a");

    // Large transfers in both directions at once, from separate threads.
    let big_a = pattern(3 << 20, 1);
    let big_b = pattern(2 << 20, 2);
    let (mut a_writer, mut b_writer) = (a.try_clone().unwrap(), b.try_clone().unwrap());
    let (send_a, send_b) = (big_a.clone(), big_b.clone());
    let writers = [
        std::thread::spawn(move || a_writer.write_all(&send_a).unwrap()),
        std::thread::spawn(move || b_writer.write_all(&send_b).unwrap()),
    ];
    assert!(read_n(&mut b, big_a.len()) == big_a, "a → b intact");
    assert!(read_n(&mut a, big_b.len()) == big_b, "b → a intact");
    for writer in writers {
        writer.join().unwrap();
    }
    assert_eq!(relay.stats().paired, 1);

    // Closing one side closes the other.
    drop(a);
    assert!(closed(&mut b), "the pair ends when one side leaves");
}

#[test]
fn pairs_are_kept_apart_by_uuid() {
    let relay = TestRelay::start();
    let mut a1 = relay_conn(relay.addr(), "uuid-one", "");
    let mut a2 = relay_conn(relay.addr(), "uuid-two", "");
    let mut b2 = relay_conn(relay.addr(), "uuid-two", "");
    let mut b1 = relay_conn(relay.addr(), "uuid-one", "");
    a1.write_all(b"one").unwrap();
    a2.write_all(b"two").unwrap();
    assert_eq!(read_n(&mut b1, 3), b"one");
    assert_eq!(read_n(&mut b2, 3), b"two");
    b1.write_all(b"1").unwrap();
    assert_eq!(read_n(&mut a1, 1), b"1");
    assert_eq!(relay.stats().paired, 2);
}

#[test]
fn a_relay_with_a_key_drops_strangers_without_a_word() {
    let relay = TestRelay::start_with(RelayOptions {
        licence_key: Some("the-key".into()),
        ..RelayOptions::default()
    });
    let mut wrong = relay_conn(relay.addr(), "u", "another-key");
    assert!(closed(&mut wrong), "a wrong key is closed silently");
    let mut not_a_request = connect(relay.addr());
    not_a_request.write_all(&[0x0c, 1, 2, 3]).unwrap();
    assert!(closed(&mut not_a_request), "garbage is closed silently");
    let mut a = relay_conn(relay.addr(), "u", "the-key");
    let mut b = relay_conn(relay.addr(), "u", "the-key");
    a.write_all(b"ok").unwrap();
    assert_eq!(read_n(&mut b, 2), b"ok");
    let stats = relay.stats();
    assert_eq!((stats.refused, stats.paired), (2, 1), "{stats:?}");
}

#[test]
fn killing_the_relay_closes_paired_and_parked_connections() {
    let mut relay = TestRelay::start();
    let mut a = relay_conn(relay.addr(), "k", "");
    let mut b = relay_conn(relay.addr(), "k", "");
    a.write_all(b"x").unwrap();
    assert_eq!(read_n(&mut b, 1), b"x");
    // Parked (or not even accepted yet: the listener's queue goes with it).
    let mut parked = relay_conn(relay.addr(), "alone", "");
    parked.write_all(b"waiting").unwrap();
    relay.kill();
    assert!(closed(&mut a) && closed(&mut b), "the pair is gone");
    assert!(closed(&mut parked), "the parked connection is gone");
    assert!(
        TcpStream::connect(relay.addr()).is_err(),
        "nothing listens after a kill"
    );
    // A killed relay can come back on its port.
    relay.restart().unwrap();
    let mut c = relay_conn(relay.addr(), "again", "");
    let mut d = relay_conn(relay.addr(), "again", "");
    c.write_all(b"y").unwrap();
    assert_eq!(read_n(&mut d, 1), b"y");
}

/// A minimal controlled side: the protocol's registration machine on a real UDP socket.
struct Agent {
    udp: UdpSocket,
    hbbs: SocketAddr,
    mediator: Mediator<StdRng>,
    identity: IdentityKey,
}

impl Agent {
    fn new(id: &str, hbbs: SocketAddr, key: &str) -> Self {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        udp.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let identity = IdentityKey::generate(&mut StdRng::seed_from_u64(9));
        let mut config = MediatorConfig::new(
            id,
            b"test-machine",
            identity.public_key(),
            &hbbs.to_string(),
            "1.4.9",
        );
        config.licence_key = key.to_owned();
        let mediator = Mediator::new(config, StdRng::seed_from_u64(3), Instant::now());
        Self {
            udp,
            hbbs,
            mediator,
            identity,
        }
    }

    /// Drives the machine until `want` picks an event, or panics after `WAIT`.
    fn until<T>(&mut self, mut want: impl FnMut(Event) -> Option<T>) -> T {
        let deadline = Instant::now() + WAIT;
        let mut buf = [0u8; 2048];
        while Instant::now() < deadline {
            self.mediator.handle_timeout(Instant::now());
            while let Some(datagram) = self.mediator.poll_transmit() {
                self.udp.send_to(&datagram, self.hbbs).unwrap();
            }
            while let Some(event) = self.mediator.poll_event() {
                if let Some(found) = want(event) {
                    return found;
                }
            }
            if let Ok((len, from)) = self.udp.recv_from(&mut buf)
                && from == self.hbbs
            {
                let _ = self.mediator.handle_datagram(Instant::now(), &buf[..len]);
            }
        }
        panic!("the awaited rendezvous event did not come");
    }

    fn register(&mut self) {
        self.until(|e| matches!(e, Event::Registered).then_some(()));
    }

    fn relay(&mut self) -> RelayInstructions {
        self.until(|e| match e {
            Event::Relay(relay) => Some(relay),
            _ => None,
        })
    }
}

/// Sends a dial to hbbs and returns the connection, to read the answer from.
fn dial(hbbs: SocketAddr, id: &str, key: &str) -> TcpStream {
    let mut stream = connect(hbbs);
    let frame = dial::punch_hole_request_frame(&DialConfig::new(id, key, "1.4.9")).unwrap();
    stream.write_all(&frame).unwrap();
    stream
}

fn answer(stream: &mut TcpStream) -> Result<DialResponse, Error> {
    let mut decoder = FrameDecoder::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(payload) = decoder.next_frame().unwrap() {
            return dial::handle_response(payload);
        }
        let len = stream.read(&mut buf).expect("an answer from hbbs");
        assert!(len > 0, "hbbs closed without answering");
        decoder.feed(&buf[..len]);
    }
}

#[test]
fn a_dial_through_the_test_rendezvous_comes_back_signed() {
    let servers = Servers::start();
    let mut agent = Agent::new("555666777", servers.rendezvous, &servers.key);
    agent.register();

    let mut client = dial(servers.rendezvous, "555666777", &servers.key);
    let relay = agent.relay();
    assert_eq!(
        relay.relay,
        servers.relay.to_string(),
        "hbbs names its relay"
    );
    connect(servers.rendezvous)
        .write_all(&relay.to_rendezvous)
        .unwrap();
    let DialResponse::Relay {
        uuid,
        relay_server,
        signed_pk,
    } = answer(&mut client).expect("a relay answer")
    else {
        panic!("expected a relay answer");
    };
    assert_eq!((uuid, relay_server), (relay.uuid, relay.relay));
    let server_key = IdentityPublicKey::from_base64(&servers.key).unwrap();
    let peer = dial::verify_peer_key(&server_key, &signed_pk, "555666777").expect("signed");
    assert_eq!(peer.key, agent.identity.public_key());

    // Unknown IDs and wrong keys get hbbs's failures.
    let mut unknown = dial(servers.rendezvous, "111222333", &servers.key);
    assert!(matches!(
        answer(&mut unknown),
        Err(Error::Rejected(Rejected::IdNotExist))
    ));
    let wrong_key = IdentityKey::generate(&mut StdRng::seed_from_u64(1))
        .public_key()
        .to_base64();
    let mut mismatch = dial(servers.rendezvous, "555666777", &wrong_key);
    assert!(matches!(
        answer(&mut mismatch),
        Err(Error::Rejected(Rejected::LicenceMismatch))
    ));
}

#[test]
fn a_restart_keeps_the_port_and_forgets_every_registration() {
    let relay = TestRelay::start();
    let mut hbbs = TestRendezvous::start_with(RendezvousOptions::default().relay(relay.addr()));
    let (addr, key) = (hbbs.addr(), hbbs.key_base64());
    let mut agent = Agent::new("444555666", addr, &key);
    agent.register();
    assert!(hbbs.is_online("444555666"));

    hbbs.restart().unwrap();
    assert_eq!(hbbs.addr(), addr, "same port");
    assert_eq!(hbbs.key_base64(), key, "same key");
    assert!(!hbbs.is_online("444555666"), "fresh state");
    let mut client = dial(addr, "444555666", &key);
    assert!(matches!(
        answer(&mut client),
        Err(Error::Rejected(Rejected::IdNotExist))
    ));

    // The agent's next registrations reach the new server (hbbs asks for the key again).
    let mut agent = Agent::new("444555666", addr, &key);
    agent.register();
    assert!(hbbs.is_online("444555666"));

    hbbs.stop();
    assert!(!hbbs.is_online("444555666"));
    assert!(
        TcpStream::connect(addr).is_err(),
        "nothing listens when stopped"
    );
}
