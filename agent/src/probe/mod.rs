//! `deskcast probe`: a headless RustDesk-compatible client, as a library. It dials an agent by
//! ID through a rendezvous server and a relay (or directly by address), runs the client side
//! of the handshake and login, then receives, decodes and measures the video and the desktop
//! audio while it answers the agent's heartbeats, and injects input and clipboard text on
//! request.
//!
//! ```text
//! Unauthenticated::open(config) ── dial ── relay ── handshake ── Hash
//!        └── login(password) ──▶ Probe ── next_frame / next_audio / send_mouse / close
//! ```
//!
//! [`Probe::connect`] does both steps. After login a background task (on the caller's tokio
//! runtime) owns the connection: it echoes the agent's `TestDelay`s, sends its own once a
//! second to measure the round trip, decodes every video frame with
//! [`deskcast_codec::decode`] (each decoder must start at a keyframe), keeps the newest few
//! decoded frames for [`Probe::next_frame`], decodes the Opus audio (after the agent's
//! `AudioFormat`) into PCM kept for [`Probe::next_audio`], and collects clipboard text.
//!
//! Latency: the probe logs in with `my_platform = "deskcast-probe"`, and a deskcast agent then
//! stamps `EncodedVideoFrame.pts` with the capture instant on CLOCK_MONOTONIC in ms. On the
//! same machine the probe subtracts that from its own CLOCK_MONOTONIC when a frame is decoded
//! ([`Frame::latency`]). Stamps that cannot be this machine's clock (other machines, other
//! agents) give no latency; the `TestDelay` round trip is reported instead. Audio carries no
//! capture stamp: each [`AudioPacket`] has the CLOCK_MONOTONIC instant it was decoded, so a
//! caller that plays a sound at a known instant on the same machine can time its arrival.

mod audio;
mod conn;
mod dial;
mod input;
pub mod png;
mod session;
mod stats;

pub use audio::{AUDIO_CHANNELS, AUDIO_RATE, AudioFormat, AudioPacket};
pub use input::{Key, KeyAction, Mouse, MouseButton, clipboard_message};
pub use stats::{AudioSummary, Percentiles, Summary, monotonic_ms};

use std::sync::Arc;
use std::time::Duration;

use deskcast_codec::Codec;
use deskcast_codec::decode::Picture;
use deskcast_protocol::error::Rejected;
use deskcast_protocol::handshake::client::{self as handshake, ClientStart};
use deskcast_protocol::handshake::{Established, Insecure, Security};
use deskcast_protocol::login::{self, LoginError};
use deskcast_protocol::message::{
    self, BoolOption, ControlKey, Hash, LoginRequest, Message, OptionMessage, PeerInfo,
    PreferCodec, SupportedDecoding, login_response,
};
use tokio::sync::mpsc;

use self::conn::Conn;
use self::session::{Command, Shared};

/// The RustDesk client version whose behaviour the probe follows (`LoginRequest.version`,
/// `PunchHoleRequest.version`).
pub const PROBE_VERSION: &str = "1.4.9";
/// `LoginRequest.my_platform`: tells a deskcast agent to stamp captures on CLOCK_MONOTONIC.
pub const PROBE_PLATFORM: &str = "deskcast-probe";
/// How long the agent's `SignedId`, `Hash` and `LoginResponse` may each take.
const HANDSHAKE_WAIT: Duration = Duration::from_secs(18);

/// Why the probe failed, split by who is at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration cannot work (our side).
    #[error("invalid probe configuration: {0}")]
    Config(String),
    /// A server or the agent could not be reached (environment).
    #[error("cannot connect to the {what} at {addr}: {source}")]
    Connect {
        /// Which server.
        what: &'static str,
        /// Its address.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A socket failed mid-way (environment).
    #[error("connection failed while {what}: {source}")]
    Io {
        /// What the probe was doing.
        what: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Nothing came in time.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    /// The rendezvous server or the agent refused ("ID does not exist", "Key mismatch",
    /// "Remote desktop is offline", a relay refusal).
    #[error("{0}")]
    Rejected(Rejected),
    /// The rendezvous server's answers leave no way to reach the agent.
    #[error("no route to the agent: {0}")]
    NoRoute(String),
    /// The agent refused the login, with its own words ("Wrong Password", "Please try 1
    /// minute later", "Too many wrong attempts", …).
    #[error("login refused: {0}")]
    Login(LoginError),
    /// The session is not encrypted and the configuration requires it.
    #[error("the session is not encrypted ({0}) and encryption is required")]
    Insecure(String),
    /// The agent broke the protocol.
    #[error("protocol error: {0}")]
    Protocol(deskcast_protocol::Error),
    /// The session ended: the agent's close reason, when it gave one.
    #[error("the session ended{}", .0.as_ref().map(|r| format!(": {r}")).unwrap_or_default())]
    Closed(Option<String>),
}

impl From<deskcast_protocol::Error> for Error {
    fn from(error: deskcast_protocol::Error) -> Self {
        match error {
            deskcast_protocol::Error::Rejected(rejected) => Self::Rejected(rejected),
            other => Self::Protocol(other),
        }
    }
}

/// Where the agent is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Target {
    /// By ID through a rendezvous server and a relay.
    Rendezvous {
        /// The rendezvous server, `host[:port]` (port 21116 by default).
        server: String,
        /// The server key (the text of hbbs's `id_ed25519.pub`); empty skips checking the
        /// agent's key, which leaves the session unencrypted.
        key: String,
        /// The agent's ID.
        id: String,
    },
    /// Directly, `host:port` of the agent's direct-access listener; no handshake, no
    /// encryption (spec §3.8).
    Direct {
        /// The address.
        addr: String,
    },
}

/// How to run a probe.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProbeConfig {
    /// Where the agent is.
    pub target: Target,
    /// The password; empty asks the agent for access without one.
    pub password: String,
    /// The codec to ask the agent for (`SupportedDecoding.prefer`); `None` leaves it the choice.
    pub prefer: Option<Codec>,
    /// The codecs announced as decodable; every one must have a decoder in this build.
    pub decode: Vec<Codec>,
    /// Fail instead of continuing when the session is not encrypted.
    pub require_encryption: bool,
    /// Decoded frames kept for [`Probe::next_frame`]; when full, the oldest is dropped.
    pub frame_queue: usize,
    /// Copy each decoded picture into [`Frame::picture`] (off: only the numbers).
    pub keep_pictures: bool,
    /// Ask for the desktop audio (off: the login says `disable_audio`).
    pub audio: bool,
    /// Decoded audio packets kept for [`Probe::next_audio`]; when full, the oldest is
    /// dropped. 0 only counts them.
    pub audio_queue: usize,
    /// Our display name (`LoginRequest.my_name`).
    pub my_name: String,
}

impl ProbeConfig {
    /// Dial `id` through the rendezvous server `server` with the server `key`.
    #[must_use]
    pub fn rendezvous(server: &str, key: &str, id: &str) -> Self {
        Self::new(Target::Rendezvous {
            server: server.to_owned(),
            key: key.trim().to_owned(),
            id: id.to_owned(),
        })
    }

    /// Connect straight to an agent's direct-access address `host:port`.
    #[must_use]
    pub fn direct(addr: &str) -> Self {
        Self::new(Target::Direct {
            addr: addr.to_owned(),
        })
    }

    fn new(target: Target) -> Self {
        Self {
            target,
            password: String::new(),
            prefer: None,
            decode: vec![Codec::Vp9, Codec::Vp8, Codec::H264],
            require_encryption: false,
            frame_queue: 4,
            keep_pictures: true,
            audio: true,
            // Ten seconds of 10 ms packets.
            audio_queue: 1000,
            my_name: "deskcast probe".to_owned(),
        }
    }

    /// Logs in with `password`.
    #[must_use]
    pub fn password(mut self, password: &str) -> Self {
        password.clone_into(&mut self.password);
        self
    }

    /// Asks the agent for `codec`.
    #[must_use]
    pub fn prefer(mut self, codec: Codec) -> Self {
        self.prefer = Some(codec);
        self
    }

    /// The `SupportedDecoding` the login announces.
    fn supported_decoding(&self) -> SupportedDecoding {
        let can = |codec| i32::from(self.decode.contains(&codec));
        let prefer = match self.prefer {
            Some(Codec::Vp9) => PreferCodec::Vp9,
            Some(Codec::Vp8) => PreferCodec::Vp8,
            Some(Codec::H264) => PreferCodec::H264,
            Some(Codec::H265) => PreferCodec::H265,
            Some(Codec::Av1) => PreferCodec::Av1,
            _ => PreferCodec::Auto,
        };
        SupportedDecoding {
            ability_vp9: can(Codec::Vp9),
            ability_vp8: can(Codec::Vp8),
            ability_h264: can(Codec::H264),
            ability_h265: can(Codec::H265),
            ability_av1: can(Codec::Av1),
            prefer: prefer.into(),
            ..SupportedDecoding::default()
        }
    }

    fn check(&self) -> Result<(), Error> {
        for &codec in &self.decode {
            deskcast_codec::decode::Decoder::new(codec)
                .map_err(|e| Error::Config(format!("cannot announce {codec}: {e}")))?;
        }
        if let Some(codec) = self.prefer
            && !self.decode.contains(&codec)
        {
            return Err(Error::Config(format!(
                "{codec} is preferred but not among the decodable codecs"
            )));
        }
        let id = match &self.target {
            Target::Rendezvous { id, .. } => id,
            Target::Direct { addr } => addr,
        };
        if id.trim().is_empty() {
            return Err(Error::Config("no agent ID or address".into()));
        }
        Ok(())
    }
}

/// How the connection reached the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Route {
    /// Through a relay the agent chose (Flow A).
    RelayedByAgent {
        /// The relay.
        relay: String,
        /// The pairing uuid.
        uuid: String,
    },
    /// Through a relay the probe asked for (Flow B).
    RelayedByProbe {
        /// The relay.
        relay: String,
        /// The pairing uuid.
        uuid: String,
    },
    /// Straight to the agent's direct-access port.
    Direct {
        /// The address.
        addr: String,
    },
}

/// Whether the session is encrypted, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSecurity {
    /// Every frame is sealed with the session key.
    pub encrypted: bool,
    /// Why not, when not.
    pub reason: Option<String>,
}

impl SessionSecurity {
    fn of(established: &Established, key_problem: Option<&str>) -> Self {
        let reason = match &established.security {
            Security::Encrypted => None,
            Security::Unencrypted(Insecure::NoPeerKey) => Some(format!(
                "the agent's key could not be checked: {}",
                key_problem.unwrap_or("no key")
            )),
            Security::Unencrypted(Insecure::SignedIdRejected(why)) => {
                Some(format!("the agent's SignedId was rejected: {why}"))
            }
            Security::Unencrypted(Insecure::NotRequested) => {
                Some("no handshake on a direct connection".into())
            }
            Security::Unencrypted(other) => Some(format!("{other:?}")),
            _ => Some("unknown".into()),
        };
        Self {
            encrypted: reason.is_none(),
            reason,
        }
    }
}

/// A decoded video frame.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Frame {
    /// 0 for the first frame decoded in this session, then counting up.
    pub index: u64,
    /// The display it shows (`VideoFrame.display`).
    pub display: i32,
    /// Its codec.
    pub codec: Codec,
    /// Whether it was a keyframe.
    pub keyframe: bool,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `EncodedVideoFrame.pts` as the agent sent it.
    pub pts_ms: i64,
    /// Size of the encoded frame.
    pub encoded_bytes: usize,
    /// How long decoding took.
    pub decode_time: Duration,
    /// Capture → decoded, when the agent stamps captures on this machine's CLOCK_MONOTONIC.
    pub latency: Option<Duration>,
    /// The picture, unless [`ProbeConfig::keep_pictures`] is off.
    pub picture: Option<Picture>,
}

/// Connected and (if possible) encrypted, `Hash` received: ready to log in.
#[derive(Debug)]
pub struct Unauthenticated {
    conn: Conn,
    config: ProbeConfig,
    hash: Hash,
    security: SessionSecurity,
    route: Route,
    username: String,
    session_id: u64,
}

impl Unauthenticated {
    /// Reaches the agent, runs the handshake and reads its `Hash`.
    ///
    /// # Errors
    /// [`Error::Config`], [`Error::Connect`], [`Error::Rejected`] (e.g. "ID does not exist"),
    /// [`Error::NoRoute`], [`Error::Timeout`], [`Error::Insecure`], [`Error::Closed`] (the
    /// agent refused the session, with its reason) or [`Error::Protocol`].
    pub async fn open(config: ProbeConfig) -> Result<Self, Error> {
        config.check()?;
        let (mut conn, security, route, username) = match &config.target {
            Target::Rendezvous { server, key, id } => {
                let dialled = dial::by_id(server, key, id).await?;
                let (peer, problem) = match dialled.peer {
                    Ok(peer) => (Some(peer), None),
                    Err(problem) => (None, Some(problem)),
                };
                let mut conn = Conn::new(dialled.stream);
                let established = handshake(&mut conn, peer).await?;
                let security = SessionSecurity::of(&established, problem.as_deref());
                conn.set_channel(established.channel);
                (conn, security, dialled.route, id.clone())
            }
            Target::Direct { addr } => {
                let conn = Conn::new(dial::direct(addr).await?);
                let security = SessionSecurity {
                    encrypted: false,
                    reason: Some("direct connections have no handshake".into()),
                };
                let route = Route::Direct { addr: addr.clone() };
                (conn, security, route, addr.clone())
            }
        };
        if config.require_encryption && !security.encrypted {
            return Err(Error::Insecure(security.reason.unwrap_or_default()));
        }
        if let Some(reason) = &security.reason {
            tracing::warn!(%reason, "the session is not encrypted");
        }
        let hash = loop {
            let message = conn.recv_within(HANDSHAKE_WAIT, "the agent's Hash").await?;
            match message.union {
                Some(message::message::Union::Hash(hash)) => break hash,
                Some(message::message::Union::TestDelay(delay)) => {
                    session::echo_test_delay(&mut conn, delay).await?;
                }
                // The agent refuses the session (e.g. an unencrypted one) in its own words.
                Some(message::message::Union::Misc(message::Misc {
                    union: Some(message::misc::Union::CloseReason(reason)),
                })) => return Err(Error::Closed(Some(reason))),
                // An empty message is a handshake filler; a SignedId after we decided to go
                // unencrypted is ignored, as RustDesk clients do (spec §4.3).
                None | Some(message::message::Union::SignedId(_)) => {}
                Some(_) => {
                    return Err(Error::Protocol(
                        deskcast_protocol::error::PeerMisbehaved::UnexpectedMessage {
                            expected: "Hash",
                            found: message::message_kind(&message),
                        }
                        .into(),
                    ));
                }
            }
        };
        Ok(Self {
            conn,
            config,
            hash,
            security,
            route,
            username,
            session_id: rand::random(),
        })
    }

    /// Whether the session is encrypted.
    #[must_use]
    pub fn security(&self) -> &SessionSecurity {
        &self.security
    }

    /// Logs in with the configured password.
    ///
    /// # Errors
    /// As [`login_with`](Self::login_with).
    pub async fn login(self) -> Result<Probe, LoginFailure> {
        let password = self.config.password.clone();
        self.login_with(&password).await
    }

    /// Logs in with `password` (with the same `Hash`, as a client retrying after "Wrong
    /// Password" does). A refusal hands the connection back for another try, unless the agent
    /// closed it.
    ///
    /// # Errors
    /// [`LoginFailure`] carrying [`Error::Login`] with the agent's words, or a connection
    /// error.
    pub async fn login_with(mut self, password: &str) -> Result<Probe, LoginFailure> {
        match self.try_login(password).await {
            Ok(info) => Ok(Probe::start(self, info)),
            Err(error @ Error::Login(_)) => Err(LoginFailure {
                error,
                retry: Some(Box::new(self)),
            }),
            Err(error) => Err(LoginFailure { error, retry: None }),
        }
    }

    async fn try_login(&mut self, password: &str) -> Result<PeerInfo, Error> {
        let response = if password.is_empty() {
            Vec::new()
        } else {
            login::client_response(password, &self.hash.salt, &self.hash.challenge).to_vec()
        };
        let request = LoginRequest {
            username: self.username.clone(),
            password: response,
            my_id: "deskcast-probe".into(),
            my_name: self.config.my_name.clone(),
            option: Some(OptionMessage {
                supported_decoding: Some(self.config.supported_decoding()),
                // Unset leaves audio as the agent permits, as RustDesk clients do.
                disable_audio: if self.config.audio {
                    BoolOption::NotSet
                } else {
                    BoolOption::Yes
                }
                .into(),
                ..OptionMessage::default()
            }),
            session_id: self.session_id,
            version: PROBE_VERSION.into(),
            my_platform: PROBE_PLATFORM.into(),
            ..LoginRequest::default()
        };
        let request: Message = message::message::Union::LoginRequest(request).into();
        self.conn.send(&request).await?;
        loop {
            let message = self
                .conn
                .recv_within(HANDSHAKE_WAIT, "the agent's LoginResponse")
                .await?;
            match message.union {
                Some(message::message::Union::LoginResponse(response)) => {
                    return match response.union {
                        Some(login_response::Union::PeerInfo(info)) => Ok(info),
                        Some(login_response::Union::Error(text)) => {
                            Err(Error::Login(LoginError::from_wire(&text)))
                        }
                        None => Err(Error::Login(LoginError::Other(String::new()))),
                    };
                }
                Some(message::message::Union::TestDelay(delay)) => {
                    session::echo_test_delay(&mut self.conn, delay).await?;
                }
                Some(message::message::Union::Misc(misc)) => {
                    if let Some(message::misc::Union::CloseReason(reason)) = misc.union {
                        return Err(Error::Closed(Some(reason)));
                    }
                }
                // Permission notes, message boxes and the like need no answer before login.
                _ => {}
            }
        }
    }
}

/// A refused login, with the connection when another try is possible.
#[derive(Debug)]
pub struct LoginFailure {
    /// Why.
    pub error: Error,
    /// The connection, still at the login step, when the agent did not close it.
    pub retry: Option<Box<Unauthenticated>>,
}

impl From<LoginFailure> for Error {
    fn from(failure: LoginFailure) -> Self {
        failure.error
    }
}

/// A logged-in probe session.
#[derive(Debug)]
pub struct Probe {
    shared: Arc<Shared>,
    commands: mpsc::UnboundedSender<Command>,
    peer_info: PeerInfo,
    security: SessionSecurity,
    route: Route,
}

impl Probe {
    /// Reaches the agent and logs in.
    ///
    /// # Errors
    /// As [`Unauthenticated::open`] and [`Unauthenticated::login`].
    pub async fn connect(config: ProbeConfig) -> Result<Self, Error> {
        Ok(Unauthenticated::open(config).await?.login().await?)
    }

    fn start(unauthenticated: Unauthenticated, peer_info: PeerInfo) -> Self {
        let Unauthenticated {
            conn,
            config,
            security,
            route,
            ..
        } = unauthenticated;
        let (shared, commands) = session::spawn(conn, &config);
        Self {
            shared,
            commands,
            peer_info,
            security,
            route,
        }
    }

    /// The agent's `PeerInfo` from the login.
    #[must_use]
    pub fn peer_info(&self) -> &PeerInfo {
        &self.peer_info
    }

    /// Whether the session is encrypted.
    #[must_use]
    pub fn security(&self) -> &SessionSecurity {
        &self.security
    }

    /// How the connection reached the agent.
    #[must_use]
    pub fn route(&self) -> &Route {
        &self.route
    }

    /// The next decoded frame (the oldest one kept), waiting up to `timeout`.
    ///
    /// # Errors
    /// [`Error::Timeout`], or [`Error::Closed`] once the session has ended and every kept
    /// frame was taken.
    pub async fn next_frame(&mut self, timeout: Duration) -> Result<Frame, Error> {
        self.shared
            .wait(timeout, "a video frame", |state| state.frames.pop_front())
            .await
    }

    /// Every decoded frame kept so far, oldest first, without waiting.
    pub fn take_frames(&mut self) -> Vec<Frame> {
        self.shared.with(|state| state.frames.drain(..).collect())
    }

    /// The next decoded audio packet (the oldest one kept), waiting up to `timeout`.
    ///
    /// # Errors
    /// [`Error::Timeout`], or [`Error::Closed`] once the session has ended and every kept
    /// packet was taken.
    pub async fn next_audio(&mut self, timeout: Duration) -> Result<AudioPacket, Error> {
        self.shared
            .wait(timeout, "an audio packet", |state| state.audio.pop_front())
            .await
    }

    /// Every decoded audio packet kept so far, oldest first, without waiting.
    pub fn take_audio(&mut self) -> Vec<AudioPacket> {
        self.shared.with(|state| state.audio.drain(..).collect())
    }

    /// The audio format the agent announced, once it has.
    #[must_use]
    pub fn audio_format(&self) -> Option<AudioFormat> {
        self.shared.with(|state| state.stats.audio_format)
    }

    /// Turns the desktop audio on or off, as a client's mute does (`Misc.option` with
    /// `disable_audio`).
    ///
    /// # Errors
    /// [`Error::Closed`] when the session has ended.
    pub fn set_audio(&self, on: bool) -> Result<(), Error> {
        let option = OptionMessage {
            disable_audio: if on { BoolOption::No } else { BoolOption::Yes }.into(),
            ..OptionMessage::default()
        };
        self.send(message::misc::Union::Option(option).into())
    }

    /// The next clipboard text the agent sent, waiting up to `timeout`.
    ///
    /// # Errors
    /// [`Error::Timeout`] or [`Error::Closed`].
    pub async fn next_clipboard(&mut self, timeout: Duration) -> Result<String, Error> {
        self.shared
            .wait(timeout, "clipboard text", |state| {
                state.clipboard.pop_front()
            })
            .await
    }

    /// Every clipboard text received and not yet taken, oldest first.
    pub fn clipboard_updates(&mut self) -> Vec<String> {
        self.shared
            .with(|state| state.clipboard.drain(..).collect())
    }

    /// What was measured so far.
    #[must_use]
    pub fn stats(&self) -> Summary {
        self.shared.with(|state| state.stats.summary())
    }

    /// Why the session ended, once it has.
    #[must_use]
    pub fn ended(&self) -> Option<Error> {
        self.shared
            .with(|state| state.ended.clone().map(Error::Closed))
    }

    /// Sends a mouse action.
    ///
    /// # Errors
    /// [`Error::Closed`] when the session has ended.
    pub fn send_mouse(&self, mouse: Mouse) -> Result<(), Error> {
        self.send(mouse.to_message(&[]))
    }

    /// Moves to `(x, y)` and clicks `button` there.
    ///
    /// # Errors
    /// [`Error::Closed`] when the session has ended.
    pub fn click(&self, x: i32, y: i32, button: MouseButton) -> Result<(), Error> {
        self.send_mouse(Mouse::Move { x, y })?;
        self.send_mouse(Mouse::Down { button, x, y })?;
        self.send_mouse(Mouse::Up { button, x, y })
    }

    /// Sends a key event with `modifiers` held.
    ///
    /// # Errors
    /// [`Error::Closed`] when the session has ended.
    pub fn send_key(&self, key: &Key, modifiers: &[ControlKey]) -> Result<(), Error> {
        self.send(key.to_message(modifiers))
    }

    /// Types `text` in translate mode.
    ///
    /// # Errors
    /// [`Error::Closed`] when the session has ended.
    pub fn type_text(&self, text: &str) -> Result<(), Error> {
        self.send_key(&Key::Text(text.to_owned()), &[])
    }

    /// Sets the agent's clipboard to `text`.
    ///
    /// # Errors
    /// [`Error::Closed`] when the session has ended.
    pub fn set_clipboard(&self, text: &str) -> Result<(), Error> {
        self.send(clipboard_message(text))
    }

    /// Asks for a keyframe (`Misc.refresh_video`).
    ///
    /// # Errors
    /// [`Error::Closed`] when the session has ended.
    pub fn refresh_video(&self) -> Result<(), Error> {
        self.send(message::misc::Union::RefreshVideo(true).into())
    }

    /// Sends any message (for tests of the agent's handling of odd input).
    ///
    /// # Errors
    /// [`Error::Closed`] when the session has ended.
    pub fn send(&self, message: Message) -> Result<(), Error> {
        self.commands
            .send(Command::Send(Box::new(message)))
            .map_err(|_| self.ended().unwrap_or(Error::Closed(None)))
    }

    /// Closes politely (`Misc.close_reason`, then end of stream) and returns the summary.
    pub async fn close(self) -> Summary {
        let (done, closed) = tokio::sync::oneshot::channel();
        if self.commands.send(Command::Close(done)).is_ok() {
            let _ = closed.await;
        }
        self.stats()
    }
}

/// Runs the client's side of the handshake on `conn` (spec §4.3).
async fn handshake(
    conn: &mut Conn,
    peer: Option<handshake::PeerIdentity>,
) -> Result<Established, Error> {
    let mut out = Vec::new();
    let established = match handshake::start(peer, &mut out)? {
        ClientStart::ExpectSignedId(expect) => {
            let payload = tokio::time::timeout(HANDSHAKE_WAIT, conn.recv_raw())
                .await
                .map_err(|_| Error::Timeout("the agent's SignedId"))??;
            expect.handle(&payload, &mut rand::rngs::OsRng, &mut out)?
        }
        ClientStart::Established(established) => established,
        _ => return Err(Error::Config("unknown handshake state".into())),
    };
    conn.send_raw(&out).await?;
    Ok(established)
}

#[cfg(test)]
mod tests;
