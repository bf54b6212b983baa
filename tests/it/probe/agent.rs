//! A stand-in agent, built only from protocol and codec pieces, for testing the probe while
//! the real agent's session layer is being written. It is NOT the agent: the end-to-end tests
//! of issue 5 run the probe against `deskcast run`.
//!
//! It registers over UDP with the protocol's `Mediator`, answers relay pushes (Flow A; Flow B
//! when told to answer a `PunchHole` with an address), or listens for direct connections;
//! then it runs the agent's handshake, `Hash`, login with a `Lockout`, and streams a known
//! test pattern with `pts` on CLOCK_MONOTONIC, as a deskcast agent does for a probe. What the
//! client sends (input, clipboard, close) is logged for the tests to check.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use deskcast::probe::monotonic_ms;
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
    self, Clipboard, ClipboardFormat, DisplayInfo, LocalAddr, LoginRequest, Message, PunchHoleSent,
    SupportedEncoding, TestDelay, message::Union as M, rendezvous_message,
};
use deskcast_protocol::rendezvous::agent::{Event, Mediator, MediatorConfig, RelayInstructions};
use rand::SeedableRng as _;
use rand::rngs::StdRng;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

/// The test pattern's size.
pub const WIDTH: u32 = 640;
pub const HEIGHT: u32 = 360;

/// How the stand-in agent behaves.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    pub id: String,
    pub password: String,
    /// hbbs and its key; `None` for a direct-access agent only.
    pub rendezvous: Option<(SocketAddr, String)>,
    /// Answer `PunchHole` with `PunchHoleSent` (an address), so the client asks for a relay.
    pub answer_with_address: bool,
    /// Frames streamed after a login (then the screen is "static").
    pub frames: u32,
    pub fps: u32,
    /// Clipboard text sent right after a login, and whether it is zstd-compressed.
    pub clipboard: Option<(String, bool)>,
    /// Encode but do not send this many first frames, so the stream starts without its
    /// keyframe (a broken agent).
    pub withhold: u32,
}

impl AgentOptions {
    pub fn new(id: &str, password: &str, rendezvous: Option<(SocketAddr, String)>) -> Self {
        Self {
            id: id.to_owned(),
            password: password.to_owned(),
            rendezvous,
            answer_with_address: false,
            frames: 30,
            fps: 30,
            clipboard: None,
            withhold: 0,
        }
    }
}

/// What the stand-in agent saw.
#[derive(Debug, Default)]
pub struct Log {
    pub registered: bool,
    /// Sessions that reached the login step.
    pub sessions: u32,
    /// Whether each session's handshake ended encrypted.
    pub encrypted: Vec<bool>,
    /// The client's `LoginRequest`s.
    pub logins: Vec<LoginRequest>,
    /// Input, clipboard and `Misc` messages from clients, in order.
    pub received: Vec<Message>,
    /// Codecs streamed.
    pub codecs: Vec<Codec>,
    /// Close reasons clients gave.
    pub close_reasons: Vec<String>,
    /// Echoes of the agent's own `TestDelay`s.
    pub echoes: u32,
    /// Registrations hbbs refused.
    pub rejections: Vec<String>,
    /// How sessions ended.
    pub ended: Vec<String>,
}

impl Log {
    /// A one-line account, for failure messages.
    fn outline(&self) -> String {
        let kinds: Vec<&str> = self.received.iter().map(message::message_kind).collect();
        format!(
            "registered {}, rejections {:?}, sessions {}, encrypted {:?}, logins {}, received \
             {kinds:?}, closes {:?}, ended {:?}",
            self.registered,
            self.rejections,
            self.sessions,
            self.encrypted,
            self.logins.len(),
            self.close_reasons,
            self.ended,
        )
    }
}

/// A running stand-in agent (its own thread and runtime); stops on drop.
pub struct FakeAgent {
    id: String,
    log: Arc<Mutex<Log>>,
    direct: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeAgent {
    /// Starts the agent; with a rendezvous server it registers (see [`wait_registered`]).
    pub fn start(options: AgentOptions) -> Self {
        let log = Arc::new(Mutex::new(Log::default()));
        let id = options.id.clone();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let direct = std::net::TcpListener::bind("127.0.0.1:0").expect("direct listener");
        direct.set_nonblocking(true).unwrap();
        let direct_addr = direct.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let shared = Arc::new(Agent {
            options,
            log: Arc::clone(&log),
            identity: IdentityKey::generate(&mut StdRng::from_entropy()),
            salt: "fixedsaltforthetestagent23456789".into(),
            lockout: Mutex::new(Lockout::new(LockoutPolicy::default())),
        });
        let thread = std::thread::spawn(move || {
            runtime.block_on(async move {
                let agent = Arc::clone(&shared);
                let direct = TcpListener::from_std(direct).expect("direct listener");
                tokio::spawn(async move { agent.listen_direct(direct).await });
                if shared.options.rendezvous.is_some() {
                    let agent = Arc::clone(&shared);
                    tokio::spawn(async move { agent.register().await });
                }
                let _ = stopped.await;
            });
            runtime.shutdown_background();
        });
        Self {
            id,
            log,
            direct: direct_addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The agent's ID.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The direct-access address.
    pub fn direct_addr(&self) -> SocketAddr {
        self.direct
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
                "the stand-in agent never saw: {what}; it saw {}",
                self.log(Log::outline)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until hbbs has recorded the agent.
    pub async fn wait_registered(&self) {
        self.wait_for("its registration", |log| log.registered)
            .await;
    }
}

impl Drop for FakeAgent {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The BGRA test pattern of frame `index`: gradients, fine grey stripes (luma detail) and a
/// red bar that moves; the bar's edges fall on even pixels, so 4:2:0 chroma can follow them.
pub fn pattern(index: u32) -> Vec<u8> {
    let (w, h) = (WIDTH as usize, HEIGHT as usize);
    let mut data = vec![0u8; w * h * 4];
    let bar = ((index as usize * 10) % w) & !1;
    for (i, px) in data.chunks_exact_mut(4).enumerate() {
        let (x, y) = (i % w, i / w);
        let stripe = if (y / 3) % 2 == 0 { 40 } else { 0 };
        let in_bar = (bar..bar + 24).contains(&x);
        px[0] = (x * 200 / w) as u8 + stripe;
        px[1] = (y * 200 / h) as u8 + stripe;
        px[2] = if in_bar { 240 } else { 30 + stripe };
        px[3] = 255;
    }
    data
}

struct Agent {
    options: AgentOptions,
    log: Arc<Mutex<Log>>,
    identity: IdentityKey,
    salt: String,
    lockout: Mutex<Lockout>,
}

impl Agent {
    fn log(&self, f: impl FnOnce(&mut Log)) {
        f(&mut self.log.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// Registration and pushes: the protocol's `Mediator` on one UDP socket.
    async fn register(self: Arc<Self>) {
        let (hbbs, key) = self
            .options
            .rendezvous
            .clone()
            .expect("a rendezvous server");
        let bind = if hbbs.ip().is_loopback() {
            "127.0.0.1:0"
        } else {
            "0.0.0.0:0"
        };
        let udp = UdpSocket::bind(bind).await.expect("UDP socket");
        let mut config = MediatorConfig::new(
            &self.options.id,
            b"deskcast-probe-test-agent",
            self.identity.public_key(),
            &hbbs.to_string(),
            "1.4.9",
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
                    if self.options.answer_with_address && self.answer_with_address(hbbs, &buf[..len]).await {
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
                        let agent = Arc::clone(&self);
                        tokio::spawn(async move { agent.relay(hbbs, relay).await });
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
                    id: self.options.id.clone(),
                    relay_server: relay_or(push.relay_server),
                    nat_type: push.nat_type,
                    version: "1.4.9".into(),
                    ..PunchHoleSent::default()
                })
            }
            Some(rendezvous_message::Union::FetchLocalAddr(push)) => {
                let local = stream.local_addr().expect("local address");
                rendezvous_message::Union::LocalAddr(LocalAddr {
                    socket_addr: push.socket_addr,
                    local_addr: addr::encode(local, SystemTime::now()),
                    relay_server: relay_or(push.relay_server),
                    id: self.options.id.clone(),
                    version: "1.4.9".into(),
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
                handshake::send_signed_id(&self.identity, &self.options.id, &mut rng, &mut out)
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
        self.session(conn, Some(&self.options.id)).await;
    }

    async fn listen_direct(self: Arc<Self>, listener: TcpListener) {
        while let Ok((stream, _)) = listener.accept().await {
            let agent = Arc::clone(&self);
            tokio::spawn(async move {
                agent.log(|log| log.encrypted.push(false));
                agent.session(Conn::new(stream), None).await;
            });
        }
    }

    /// `Hash`, login, then streaming while handling what the client sends.
    async fn session(&self, mut conn: Conn, own_id: Option<&str>) {
        self.log(|log| log.sessions += 1);
        let peer_ip = conn.stream.peer_addr().map(|a| a.ip()).ok();
        let challenge = login::generate_challenge(&mut StdRng::from_entropy());
        let stored = [StoredPassword::new(&self.options.password, &self.salt)];
        if conn
            .send(&login::hash_message(&self.salt, &challenge))
            .await
            .is_err()
        {
            return;
        }
        let mut stream: Option<Streamer> = None;
        let mut tick = tokio::time::interval(Duration::from_secs(1) / self.options.fps);
        // The agent's heartbeat: one TestDelay a second while none is out (spec §9.1).
        let mut heartbeat = tokio::time::interval(Duration::from_secs(1));
        let mut ping_sent: Option<Instant> = None;
        let mut last_delay = 0u32;
        loop {
            tokio::select! {
                received = conn.recv() => {
                    let message = match received {
                        Ok(message) => message,
                        Err(why) => {
                            self.log(|log| log.ended.push(why));
                            return;
                        }
                    };
                    match message.union {
                        Some(M::LoginRequest(request)) if stream.is_none() => {
                            self.log(|log| log.logins.push(request.clone()));
                            let check = LoginCheck { own_id, challenge: &challenge, passwords: &stored };
                            let verdict = login::check_login(
                                &request,
                                &check,
                                &mut self.lockout.lock().unwrap_or_else(PoisonError::into_inner),
                                Instant::now(),
                                peer_ip.unwrap_or(std::net::Ipv4Addr::LOCALHOST.into()),
                            );
                            match verdict {
                                Ok(()) => {
                                    let codec = choose_codec(&request);
                                    self.log(|log| log.codecs.push(codec));
                                    if conn.send(&peer_info(codec)).await.is_err() {
                                        return;
                                    }
                                    if let Some((text, compress)) = &self.options.clipboard {
                                        let _ = conn.send(&clipboard(text, *compress)).await;
                                    }
                                    let mut streamer = Streamer::new(codec, self.options.frames);
                                    streamer.withhold = self.options.withhold;
                                    stream = Some(streamer);
                                }
                                Err(error) => {
                                    if conn.send(&error.to_message()).await.is_err() {
                                        return;
                                    }
                                }
                            }
                        }
                        Some(M::TestDelay(delay)) if delay.from_client => {
                            let echo: Message = M::TestDelay(delay).into();
                            let _ = conn.send(&echo).await;
                        }
                        Some(M::TestDelay(_)) => {
                            if let Some(sent) = ping_sent.take() {
                                last_delay = sent.elapsed().as_millis() as u32;
                            }
                            self.log(|log| log.echoes += 1);
                        }
                        Some(M::Misc(misc)) => {
                            if let Some(message::misc::Union::CloseReason(reason)) = &misc.union {
                                self.log(|log| log.close_reasons.push(reason.clone()));
                                return;
                            }
                            if let (Some(message::misc::Union::RefreshVideo(true)), Some(s)) = (&misc.union, &mut stream) {
                                s.keyframe_next();
                            }
                            self.log(|log| log.received.push(M::Misc(misc).into()));
                        }
                        Some(other) => self.log(|log| log.received.push(other.into())),
                        None => {}
                    }
                }
                _ = heartbeat.tick(), if ping_sent.is_none() => {
                    let ping: Message = M::TestDelay(TestDelay {
                        last_delay,
                        target_bitrate: 3000,
                        ..TestDelay::default()
                    })
                    .into();
                    ping_sent = Some(Instant::now());
                    if conn.send(&ping).await.is_err() {
                        return;
                    }
                }
                _ = tick.tick(), if stream.as_ref().is_some_and(Streamer::more) => {
                    if let Some(streamer) = &mut stream
                        && streamer.send_next(&mut conn).await.is_err()
                    {
                        self.log(|log| log.ended.push("sending a frame failed".into()));
                        return;
                    }
                }
            }
        }
    }
}

/// The client's preference when it can decode it, else VP9.
fn choose_codec(request: &LoginRequest) -> Codec {
    use message::PreferCodec;
    let decoding = request
        .option
        .as_ref()
        .and_then(|o| o.supported_decoding)
        .unwrap_or_default();
    match PreferCodec::try_from(decoding.prefer) {
        Ok(PreferCodec::Vp8) if decoding.ability_vp8 > 0 => Codec::Vp8,
        Ok(PreferCodec::H264) if decoding.ability_h264 > 0 => Codec::H264,
        _ => Codec::Vp9,
    }
}

fn peer_info(codec: Codec) -> Message {
    let info = PeerInfoBuilder::new("1.4.9", login::PLATFORM_LINUX)
        .hostname("stand-in")
        .username("tester")
        .display(DisplayInfo::at(0, 0, WIDTH as i32, HEIGHT as i32, ":99"))
        .encoding(SupportedEncoding {
            vp8: true,
            h264: codec == Codec::H264,
            ..SupportedEncoding::default()
        })
        .build()
        .expect("PeerInfo");
    login::login_success(info)
}

fn clipboard(text: &str, compress: bool) -> Message {
    let content = if compress {
        zstd::encode_all(text.as_bytes(), 3).unwrap()
    } else {
        text.as_bytes().to_vec()
    };
    M::Clipboard(Clipboard {
        compress,
        content,
        format: ClipboardFormat::Text.into(),
        ..Clipboard::default()
    })
    .into()
}

/// Encodes and sends the pattern, frame by frame.
struct Streamer {
    codec: Codec,
    encoder: Box<dyn deskcast_codec::Encoder>,
    next: u32,
    count: u32,
    withhold: u32,
}

impl Streamer {
    fn new(codec: Codec, count: u32) -> Self {
        let config = EncoderConfig {
            codec,
            width: WIDTH,
            height: HEIGHT,
            fps: 30,
            bitrate_kbps: 8000,
            threads: 1,
        };
        Self {
            codec,
            encoder: deskcast_codec::open(Backend::Software, &config).expect("encoder"),
            next: 0,
            count,
            withhold: 0,
        }
    }

    fn more(&self) -> bool {
        self.next < self.count
    }

    fn keyframe_next(&mut self) {
        self.encoder.request_keyframe();
    }

    async fn send_next(&mut self, conn: &mut Conn) -> Result<(), ()> {
        let pixels = pattern(self.next);
        self.next += 1;
        // The capture instant on CLOCK_MONOTONIC, as a deskcast agent stamps it for a probe.
        let captured = monotonic_ms() as i64;
        let frame = RawFrame {
            data: &pixels,
            width: WIDTH,
            height: HEIGHT,
            stride: WIDTH as usize * 4,
            damage: &[],
            pts_ms: captured,
            buffer: None,
        };
        self.encoder.send_frame(&frame).map_err(drop)?;
        let packet = self.encoder.receive_packet().map_err(drop)?.ok_or(())?;
        let (data, key) = (packet.data.to_vec(), packet.keyframe);
        if self.next <= self.withhold {
            return Ok(());
        }
        let codec = match self.codec {
            Codec::Vp8 => VideoCodec::Vp8,
            Codec::H264 => VideoCodec::H264,
            _ => VideoCodec::Vp9,
        };
        let frames = [EncodedFrameRef {
            data: &data,
            key,
            pts: captured,
        }];
        conn.send(&VideoFrameRef {
            codec,
            display: 0,
            frames: &frames,
        })
        .await
        .map_err(drop)
    }
}

/// A framed, sealed stream (the agent's side).
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

    async fn recv_raw(&mut self) -> Result<Vec<u8>, ()> {
        loop {
            if let Some(frame) = self.decoder.next_frame().map_err(drop)? {
                return Ok(frame.to_vec());
            }
            let len = self.stream.read(&mut self.buf).await.map_err(drop)?;
            if len == 0 {
                return Err(());
            }
            self.decoder.feed(&self.buf[..len]);
        }
    }

    async fn recv(&mut self) -> Result<Message, String> {
        loop {
            if let Some(frame) = self.decoder.next_frame().map_err(|e| e.to_string())? {
                let plain = self.channel.open(frame).map_err(|e| e.to_string())?;
                return message::decode_message(plain).map_err(|e| e.to_string());
            }
            let len = self
                .stream
                .read(&mut self.buf)
                .await
                .map_err(|e| e.to_string())?;
            if len == 0 {
                return Err("end of stream".into());
            }
            self.decoder.feed(&self.buf[..len]);
        }
    }

    async fn send(&mut self, message: &(impl Payload + ?Sized)) -> Result<(), ()> {
        let mut out = Vec::new();
        self.channel.seal_message(message, &mut out).map_err(drop)?;
        self.stream.write_all(&out).await.map_err(drop)
    }
}
