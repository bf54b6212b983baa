//! A scripted RustDesk peer, built from protocol and codec pieces, for the few things a stock
//! RustDesk host can do to a client but the real deskcast agent never does by design, so the
//! probe's handling of them cannot be tested against the agent:
//!
//! - answering hbbs's relay push with an address (`PunchHoleSent` / `LocalAddr`) instead of
//!   joining a relay, so the client must ask hbbs for the relay itself (Flow B) — deskcast always
//!   answers with `RelayResponse` (Flow A);
//! - a video stream whose first frames, the keyframe among them, never arrive, so the probe
//!   must ask for a refresh exactly once — deskcast always starts a viewer on a keyframe.
//!
//! Everything else the probe does is tested against the real agent (`tests/it/e2e`,
//! `tests/it/probe/cli.rs`). The peer registers over UDP with the protocol's `Mediator`, answers
//! pushes, runs the agent's side of the handshake, `Hash` and login, then streams a VP9 test
//! pattern and notes what the client sent.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use deskcast_codec::{Backend, Codec, EncoderConfig, Frame as RawFrame};
use deskcast_protocol::addr;
use deskcast_protocol::crypto::{Channel, IdentityKey};
use deskcast_protocol::framing::{FrameDecoder, Payload};
use deskcast_protocol::handshake::agent as handshake;
use deskcast_protocol::login::{
    self, Lockout, LockoutPolicy, LoginCheck, PeerInfoBuilder, StoredPassword,
};
use deskcast_protocol::message::video::{EncodedFrameRef, VideoCodec, VideoFrameRef};
use deskcast_protocol::message::{
    self, DisplayInfo, LocalAddr, Message, PunchHoleSent, SupportedEncoding, message::Union as M,
    rendezvous_message,
};
use deskcast_protocol::rendezvous::agent::{Event, Mediator, MediatorConfig, RelayInstructions};
use rand::SeedableRng as _;
use rand::rngs::StdRng;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpStream, UdpSocket};

/// The test pattern's size.
const WIDTH: u32 = 320;
const HEIGHT: u32 = 180;
/// The version the peer claims to be.
const VERSION: &str = "1.4.9";

/// What the peer does differently from the deskcast agent.
#[derive(Debug, Clone)]
pub struct Script {
    pub id: String,
    pub password: String,
    /// hbbs and the key the peer registers with.
    pub rendezvous: (SocketAddr, String),
    /// Answer hbbs's push with an address, so the client asks for a relay (Flow B).
    pub answer_with_address: bool,
    /// Frames streamed after a login.
    pub frames: u32,
    /// Encode but do not send this many first frames (the keyframe among them).
    pub withhold: u32,
}

impl Script {
    pub fn new(id: &str, password: &str, rendezvous: (SocketAddr, String)) -> Self {
        Self {
            id: id.to_owned(),
            password: password.to_owned(),
            rendezvous,
            answer_with_address: false,
            frames: 30,
            withhold: 0,
        }
    }
}

/// What the peer saw.
#[derive(Debug, Default)]
pub struct Log {
    pub registered: bool,
    /// Registrations hbbs refused.
    pub rejections: Vec<String>,
    /// Whether each session's handshake ended encrypted.
    pub encrypted: Vec<bool>,
    /// Keyframe requests (`Misc.refresh_video`) from clients.
    pub refreshes: u32,
    /// How sessions ended.
    pub ended: Vec<String>,
}

/// A running scripted peer (its own thread and runtime); stops on drop.
pub struct ScriptedPeer {
    id: String,
    log: Arc<Mutex<Log>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ScriptedPeer {
    /// Starts the peer and waits until hbbs has recorded it.
    pub async fn start(script: Script) -> Self {
        let log = Arc::new(Mutex::new(Log::default()));
        let id = script.id.clone();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let peer = Arc::new(Peer {
            script,
            log: Arc::clone(&log),
            identity: IdentityKey::generate(&mut StdRng::from_entropy()),
            salt: "fixedsaltforthescriptedpeer23456".into(),
            lockout: Mutex::new(Lockout::new(LockoutPolicy::default())),
        });
        let thread = std::thread::spawn(move || {
            runtime.block_on(async move {
                tokio::spawn(peer.register());
                let _ = stopped.await;
            });
            runtime.shutdown_background();
        });
        let peer = Self {
            id,
            log,
            stop: Some(stop),
            thread: Some(thread),
        };
        peer.wait_for("its registration", |log| log.registered)
            .await;
        peer
    }

    /// The peer's ID.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Reads the log.
    pub fn log<T>(&self, f: impl FnOnce(&Log) -> T) -> T {
        f(&self.log.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Waits (up to 15 s) until `check` holds on the log.
    pub async fn wait_for(&self, what: &str, check: impl Fn(&Log) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !self.log(&check) {
            assert!(
                Instant::now() < deadline,
                "the scripted peer never saw {what}; it saw {:?}",
                self.log(|log| format!("{log:?}"))
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for ScriptedPeer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Peer {
    script: Script,
    log: Arc<Mutex<Log>>,
    identity: IdentityKey,
    salt: String,
    lockout: Mutex<Lockout>,
}

impl Peer {
    fn log(&self, f: impl FnOnce(&mut Log)) {
        f(&mut self.log.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// Registration and pushes: the protocol's `Mediator` on one UDP socket.
    async fn register(self: Arc<Self>) {
        let (hbbs, key) = self.script.rendezvous.clone();
        let bind = if hbbs.ip().is_loopback() {
            "127.0.0.1:0"
        } else {
            "0.0.0.0:0"
        };
        let udp = UdpSocket::bind(bind).await.expect("UDP socket");
        let mut config = MediatorConfig::new(
            &self.script.id,
            b"deskcast-scripted-peer",
            self.identity.public_key(),
            &hbbs.to_string(),
            VERSION,
        );
        config.licence_key = key;
        let mut mediator = Mediator::new(config, StdRng::from_entropy(), Instant::now());
        let mut buf = vec![0u8; 4096];
        loop {
            let wake = mediator
                .poll_timeout()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
            tokio::select! {
                received = udp.recv_from(&mut buf) => {
                    let Ok((len, from)) = received else { continue };
                    if from != hbbs {
                        continue;
                    }
                    if self.script.answer_with_address && self.answer_with_address(hbbs, &buf[..len]).await {
                        continue;
                    }
                    let _ = mediator.handle_datagram(Instant::now(), &buf[..len]);
                }
                () = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => {
                    mediator.handle_timeout(Instant::now());
                }
            }
            while let Some(datagram) = mediator.poll_transmit() {
                let _ = udp.send_to(&datagram, hbbs).await;
            }
            while let Some(event) = mediator.poll_event() {
                match event {
                    Event::Registered => self.log(|log| log.registered = true),
                    Event::Rejected(why) => self.log(|log| log.rejections.push(format!("{why:?}"))),
                    Event::Relay(relay) => {
                        tokio::spawn(Arc::clone(&self).relay(hbbs, relay));
                    }
                    _ => {}
                }
            }
        }
    }

    /// Answers a `PunchHole` with `PunchHoleSent`, or a `FetchLocalAddr` with `LocalAddr`,
    /// over TCP: an address instead of a relay, so the client asks for a relay itself
    /// (Flow B). `false` when the datagram is something else.
    async fn answer_with_address(&self, hbbs: SocketAddr, datagram: &[u8]) -> bool {
        let Ok(message) = message::decode_rendezvous(datagram) else {
            return false;
        };
        let relay_or = |relay: String| {
            if relay.is_empty() {
                deskcast_protocol::rendezvous::fallback_relay(&hbbs.to_string())
            } else {
                relay
            }
        };
        let Ok(mut stream) = TcpStream::connect(hbbs).await else {
            return true;
        };
        let answer = match message.union {
            Some(rendezvous_message::Union::PunchHole(push)) => {
                rendezvous_message::Union::PunchHoleSent(PunchHoleSent {
                    socket_addr: push.socket_addr,
                    id: self.script.id.clone(),
                    relay_server: relay_or(push.relay_server),
                    nat_type: push.nat_type,
                    version: VERSION.into(),
                    ..PunchHoleSent::default()
                })
            }
            Some(rendezvous_message::Union::FetchLocalAddr(push)) => {
                let local = stream.local_addr().expect("local address");
                rendezvous_message::Union::LocalAddr(LocalAddr {
                    socket_addr: push.socket_addr,
                    local_addr: addr::encode(local, SystemTime::now()),
                    relay_server: relay_or(push.relay_server),
                    id: self.script.id.clone(),
                    version: VERSION.into(),
                    ..LocalAddr::default()
                })
            }
            _ => return false,
        };
        let mut frame = Vec::new();
        let answer = message::RendezvousMessage::from(answer);
        deskcast_protocol::framing::encode_message(&answer, &mut frame).unwrap();
        let _ = stream.write_all(&frame).await;
        true
    }

    /// Flow A or B: join the relay first, then tell hbbs (so the client, told by hbbs, always
    /// arrives second: hbbr 1.1.17 was seen to park both halves when they arrive within
    /// microseconds of each other), then run the session.
    async fn relay(self: Arc<Self>, hbbs: SocketAddr, relay: RelayInstructions) {
        let Ok(mut stream) = TcpStream::connect(&relay.relay).await else {
            return;
        };
        if stream.write_all(&relay.to_relay).await.is_err() {
            return;
        }
        if let Ok(mut rendezvous) = TcpStream::connect(hbbs).await {
            let _ = rendezvous.write_all(&relay.to_rendezvous).await;
        }
        let mut conn = Conn::new(stream);
        let established = if relay.secure {
            let mut out = Vec::new();
            let mut rng = StdRng::from_entropy();
            let expect =
                handshake::send_signed_id(&self.identity, &self.script.id, &mut rng, &mut out)
                    .expect("SignedId");
            if conn.stream.write_all(&out).await.is_err() {
                return;
            }
            let Ok(payload) = conn.recv_raw().await else {
                return;
            };
            match expect.handle(&payload) {
                Ok(established) => established,
                Err(_) => return,
            }
        } else {
            handshake::without_handshake()
        };
        let encrypted = established.is_encrypted();
        self.log(|log| log.encrypted.push(encrypted));
        conn.channel = established.channel;
        if let Err(why) = self.session(conn).await {
            self.log(|log| log.ended.push(why));
        }
    }

    /// `Hash`, login, then streaming while noting keyframe requests.
    async fn session(&self, mut conn: Conn) -> Result<(), String> {
        let peer_ip = conn.stream.peer_addr().map_err(|e| e.to_string())?.ip();
        let challenge = login::generate_challenge(&mut StdRng::from_entropy());
        let stored = [StoredPassword::new(&self.script.password, &self.salt)];
        conn.send(&login::hash_message(&self.salt, &challenge))
            .await?;
        let mut stream: Option<Streamer> = None;
        let mut tick = tokio::time::interval(Duration::from_millis(33));
        loop {
            tokio::select! {
                received = conn.recv() => match received?.union {
                    Some(M::LoginRequest(request)) if stream.is_none() => {
                        let check = LoginCheck {
                            own_id: Some(&self.script.id),
                            challenge: &challenge,
                            passwords: &stored,
                        };
                        let verdict = login::check_login(
                            &request,
                            &check,
                            &mut self.lockout.lock().unwrap_or_else(PoisonError::into_inner),
                            Instant::now(),
                            peer_ip,
                        );
                        if let Err(error) = verdict {
                            conn.send(&error.to_message()).await?;
                            continue;
                        }
                        conn.send(&peer_info()).await?;
                        stream = Some(Streamer::new(self.script.frames, self.script.withhold));
                    }
                    Some(M::Misc(message::Misc { union: Some(message::misc::Union::RefreshVideo(true)) })) => {
                        self.log(|log| log.refreshes += 1);
                        if let Some(streamer) = &mut stream {
                            streamer.encoder.request_keyframe();
                        }
                    }
                    Some(M::Misc(message::Misc { union: Some(message::misc::Union::CloseReason(_)) })) => {
                        return Ok(());
                    }
                    _ => {}
                },
                _ = tick.tick(), if stream.as_ref().is_some_and(Streamer::more) => {
                    if let Some(streamer) = &mut stream {
                        streamer.send_next(&mut conn).await?;
                    }
                }
            }
        }
    }
}

fn peer_info() -> Message {
    let info = PeerInfoBuilder::new(VERSION, login::PLATFORM_LINUX)
        .hostname("scripted")
        .username("tester")
        .display(DisplayInfo::at(0, 0, WIDTH as i32, HEIGHT as i32, ":99"))
        .encoding(SupportedEncoding {
            vp8: true,
            ..SupportedEncoding::default()
        })
        .build()
        .expect("PeerInfo");
    login::login_success(info)
}

/// The BGRA pattern of frame `index`: gradients and a bar that moves.
fn pattern(index: u32) -> Vec<u8> {
    let (w, h) = (WIDTH as usize, HEIGHT as usize);
    let bar = (index as usize * 8) % w;
    let mut data = vec![0u8; w * h * 4];
    for (i, px) in data.chunks_exact_mut(4).enumerate() {
        let (x, y) = (i % w, i / w);
        px[0] = (x * 200 / w) as u8;
        px[1] = (y * 200 / h) as u8;
        px[2] = if (bar..bar + 16).contains(&x) {
            240
        } else {
            30
        };
        px[3] = 255;
    }
    data
}

/// Encodes the pattern in VP9 and sends it, frame by frame.
struct Streamer {
    encoder: Box<dyn deskcast_codec::Encoder>,
    next: u32,
    count: u32,
    withhold: u32,
}

impl Streamer {
    fn new(count: u32, withhold: u32) -> Self {
        let config = EncoderConfig {
            codec: Codec::Vp9,
            width: WIDTH,
            height: HEIGHT,
            fps: 30,
            bitrate_kbps: 2000,
            threads: 1,
        };
        Self {
            encoder: deskcast_codec::open(Backend::Software, &config).expect("encoder"),
            next: 0,
            count,
            withhold,
        }
    }

    fn more(&self) -> bool {
        self.next < self.count
    }

    async fn send_next(&mut self, conn: &mut Conn) -> Result<(), String> {
        let pixels = pattern(self.next);
        self.next += 1;
        let frame = RawFrame {
            data: &pixels,
            width: WIDTH,
            height: HEIGHT,
            stride: WIDTH as usize * 4,
            damage: &[],
            pts_ms: i64::from(self.next),
            buffer: None,
        };
        let error = |e: deskcast_codec::Error| e.to_string();
        self.encoder.send_frame(&frame).map_err(error)?;
        let Some(packet) = self.encoder.receive_packet().map_err(error)? else {
            return Ok(());
        };
        if self.next <= self.withhold {
            return Ok(());
        }
        let frames = [EncodedFrameRef {
            data: packet.data,
            key: packet.keyframe,
            pts: i64::from(self.next),
        }];
        conn.send(&VideoFrameRef {
            codec: VideoCodec::Vp9,
            display: 0,
            frames: &frames,
        })
        .await
    }
}

/// A framed, sealed stream (the peer's side).
struct Conn {
    stream: TcpStream,
    decoder: FrameDecoder,
    channel: Channel,
    buf: Vec<u8>,
}

impl Conn {
    fn new(stream: TcpStream) -> Self {
        let _ = stream.set_nodelay(true);
        Self {
            stream,
            decoder: FrameDecoder::new(),
            channel: Channel::plain(),
            buf: vec![0u8; 64 << 10],
        }
    }

    async fn fill(&mut self) -> Result<(), String> {
        let len = self
            .stream
            .read(&mut self.buf)
            .await
            .map_err(|e| e.to_string())?;
        if len == 0 {
            return Err("end of stream".into());
        }
        self.decoder.feed(&self.buf[..len]);
        Ok(())
    }

    async fn recv_raw(&mut self) -> Result<Vec<u8>, String> {
        loop {
            if let Some(frame) = self.decoder.next_frame().map_err(|e| e.to_string())? {
                return Ok(frame.to_vec());
            }
            self.fill().await?;
        }
    }

    async fn recv(&mut self) -> Result<Message, String> {
        loop {
            if let Some(frame) = self.decoder.next_frame().map_err(|e| e.to_string())? {
                let plain = self.channel.open(frame).map_err(|e| e.to_string())?;
                return message::decode_message(plain).map_err(|e| e.to_string());
            }
            self.fill().await?;
        }
    }

    async fn send(&mut self, message: &(impl Payload + ?Sized)) -> Result<(), String> {
        let mut out = Vec::new();
        self.channel
            .seal_message(message, &mut out)
            .map_err(|e| e.to_string())?;
        self.stream.write_all(&out).await.map_err(|e| e.to_string())
    }
}
