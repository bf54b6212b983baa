//! One viewer's session: handshake, login, then streaming, input, clipboard and cursor.
//!
//! The flow on one TCP stream (spec §4–§9):
//! 1. secure transports start with `SignedId` and wait for `PublicKey` (18 s); direct IP has no
//!    handshake;
//! 2. `Hash`, the permissions we do not grant, and the first `TestDelay`;
//! 3. `LoginRequest`s until one carries the right password (lockout applies);
//! 4. `LoginResponse` with `PeerInfo`, then video frames, cursor, clipboard, audio; input and
//!    options from the viewer.
//!
//! Messages are handled by family in the submodules (`login`, `video`, `input`, `misc`). A
//! misbehaving viewer ends its own session only: every error here closes this stream.

pub mod codec_choice;
pub mod input;
mod login;
mod misc;
pub mod qos;
mod video;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use deskcast_protocol::handshake::{self, Established, Insecure, Security};
use deskcast_protocol::message::{self, Message, message::Union};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::error::{Error, IoContext};
use crate::net::peer::{Outbox, PeerReader, spawn_writer};
use crate::pipeline::display::ViewerId;
use crate::runtime::Agent;
use crate::runtime::clipboard::ClipboardText;

/// How long the handshake may take (spec §4.3).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(18);
/// A viewer silent this long is gone (spec §9.1).
const SILENCE_TIMEOUT: Duration = Duration::from_secs(30);
/// A login must succeed within this time.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(120);

/// How the viewer reached us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Through hbbr; `secure` when hbbs handed the client our signed key.
    Relay {
        /// Run the handshake.
        secure: bool,
    },
    /// The direct-IP listener (no handshake, as in RustDesk; LAN use).
    Direct,
}

/// Runs one session to its end; the error says why it ended.
pub async fn run(
    agent: Arc<Agent>,
    stream: TcpStream,
    peer: SocketAddr,
    transport: Transport,
    shutdown: watch::Receiver<bool>,
) -> Result<(), Error> {
    let _ = stream.set_nodelay(true);
    crate::platform::socket::limit_unsent(&stream);
    let (read, mut write) = stream.into_split();
    let mut reader = PeerReader::new(read);
    let established = match transport {
        Transport::Relay { secure: true } => {
            let mut out = Vec::new();
            let expect = handshake::agent::send_signed_id(
                &agent.identity,
                &agent.config.id,
                &mut rand::rngs::OsRng,
                &mut out,
            )?;
            write.write_all(&out).await.context("sending SignedId")?;
            let payload = tokio::time::timeout(HANDSHAKE_TIMEOUT, reader.next_raw())
                .await
                .map_err(|_| Error::Timeout("waiting for the viewer's PublicKey"))??;
            expect.handle(&payload)?
        }
        Transport::Relay { secure: false } | Transport::Direct => {
            handshake::agent::without_handshake()
        }
    };
    let Established {
        channel,
        security,
        early_message,
        ..
    } = established;
    if let Security::Unencrypted(reason) = &security {
        if matches!(reason, Insecure::EmptyPublicKey) {
            // The client could not verify our key: hbbs may hold an old one.
            agent.force_register_pk();
        }
        let allowed = transport == Transport::Direct || agent.config.server.allow_insecure;
        if !allowed {
            let text = format!(
                "deskcast refuses unencrypted sessions ({}); give the client the server's key, or set \
                 server.allow_insecure on this desktop",
                describe(reason)
            );
            tracing::warn!(%peer, "{text}");
            let mut out = Vec::new();
            let close = Message::from(message::misc::Union::CloseReason(text.clone()));
            if deskcast_protocol::framing::encode_message(&close, &mut out).is_ok() {
                let _ = write.write_all(&out).await;
            }
            return Err(Error::Refused(text));
        }
        tracing::info!(%peer, reason = describe(reason), "unencrypted session");
    }
    reader.set_channel(channel.clone());
    let (outbox, writer) = spawn_writer(write, channel);
    let mut session = Session::new(Arc::clone(&agent), peer, transport, outbox);
    tracing::info!(viewer = session.viewer, %peer, encrypted = matches!(security, Security::Encrypted), "viewer connected");
    let result = session
        .run(&mut reader, early_message.map(|m| *m), shutdown)
        .await;
    session.finish(&result).await;
    drop(session);
    let _ = writer.await;
    result
}

fn describe(reason: &Insecure) -> &'static str {
    match reason {
        Insecure::NotRequested => "no handshake on this path",
        Insecure::EmptyMessage | Insecure::NoPeerKey => "the client had no key to check ours with",
        Insecure::EmptyPublicKey => "the client could not verify our key",
        Insecure::UnexpectedMessage => "the client skipped the handshake",
        _ => "the handshake fell back",
    }
}

/// The state of one session.
pub(crate) struct Session {
    agent: Arc<Agent>,
    viewer: ViewerId,
    peer: SocketAddr,
    transport: Transport,
    out: Outbox,
    challenge: String,
    /// After a successful login.
    active: Option<login::Active>,
    last_received: Instant,
    started: Instant,
    /// The TestDelay we sent and are waiting for.
    test_delay_sent: Option<Instant>,
}

impl Session {
    fn new(agent: Arc<Agent>, peer: SocketAddr, transport: Transport, out: Outbox) -> Self {
        let viewer = agent.next_viewer_id();
        let challenge = deskcast_protocol::login::generate_challenge(&mut rand::rngs::OsRng);
        let now = Instant::now();
        Self {
            agent,
            viewer,
            peer,
            transport,
            out,
            challenge,
            active: None,
            last_received: now,
            started: now,
            test_delay_sent: None,
        }
    }

    async fn run(
        &mut self,
        reader: &mut PeerReader,
        early: Option<Message>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), Error> {
        self.greet().await?;
        if let Some(message) = early {
            self.handle(message).await?;
        }
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut clipboard = self.agent.clipboard().map(|c| c.subscribe());
        loop {
            let active = self.active.as_mut();
            let (display_events, cursor, audio) = match active {
                Some(a) => (
                    Some(&mut a.display_events),
                    a.cursor.as_mut(),
                    a.audio.as_mut(),
                ),
                None => (None, None, None),
            };
            tokio::select! {
                message = reader.next_message() => {
                    self.last_received = Instant::now();
                    self.handle(message?).await?;
                }
                _ = tick.tick() => self.on_tick().await?,
                Some(event) = async { match display_events { Some(rx) => rx.recv().await, None => std::future::pending().await } } => {
                    self.on_display_event(event).await?;
                }
                changed = async { match cursor { Some(c) => c.changed().await, None => std::future::pending().await } } => {
                    if changed.is_ok() {
                        self.send_cursor().await?;
                    }
                }
                update = async { match clipboard.as_mut() { Some(rx) => rx.recv().await, None => std::future::pending().await } } => {
                    match update {
                        Ok(update) => self.on_clipboard(update).await?,
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => clipboard = None,
                    }
                }
                packet = async { match audio { Some(a) => a.packets.recv().await, None => std::future::pending().await } } => {
                    match packet {
                        Ok(packet) => self.send_audio(&packet),
                        // Old audio was dropped for this viewer: that is the point.
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                            if let Some(a) = self.active.as_mut() {
                                a.audio = None;
                            }
                        }
                    }
                }
                _ = shutdown.changed() => {
                    return Err(Error::Refused("the agent is shutting down".into()));
                }
            }
        }
    }

    /// What the agent sends right after the handshake (spec §5.2).
    async fn greet(&mut self) -> Result<(), Error> {
        let hash = deskcast_protocol::login::hash_message(&self.agent.config.salt, &self.challenge);
        self.out.send(hash).await?;
        for message in login::withheld_permissions(&self.agent) {
            self.out.send(message).await?;
        }
        self.send_test_delay().await
    }

    /// Dispatches one message by family.
    async fn handle(&mut self, message: Message) -> Result<(), Error> {
        let Some(union) = message.union else {
            // The client's "I have no key for you" empty message (spec §4.5), or a union
            // member newer than this agent: nothing to do.
            return Ok(());
        };
        match union {
            Union::LoginRequest(request) => self.on_login(request).await,
            Union::TestDelay(delay) => self.on_test_delay(delay).await,
            Union::Misc(misc) => self.on_misc(misc).await,
            other => {
                let Some(active) = self.active.as_mut() else {
                    // Before login only login, heartbeats and close reasons count.
                    return Ok(());
                };
                match other {
                    Union::MouseEvent(event) => active.input_mouse(event),
                    Union::KeyEvent(event) => active.input_key(event),
                    Union::PointerDeviceEvent(_) => {}
                    Union::Clipboard(clip) => self.on_viewer_clipboard(std::slice::from_ref(&clip)),
                    Union::MultiClipboards(multi) => self.on_viewer_clipboard(&multi.clipboards),
                    other => tracing::debug!(
                        viewer = self.viewer,
                        kind = message::message_kind(&Message { union: Some(other) }),
                        "ignored"
                    ),
                }
                Ok(())
            }
        }
    }

    async fn on_tick(&mut self) -> Result<(), Error> {
        let now = Instant::now();
        if now - self.last_received > SILENCE_TIMEOUT {
            return Err(Error::Timeout("waiting for the viewer (30 s of silence)"));
        }
        if self.active.is_none() && now - self.started > LOGIN_TIMEOUT {
            return Err(Error::Timeout("waiting for a login"));
        }
        if self.test_delay_sent.is_none() {
            self.send_test_delay().await?;
        }
        Ok(())
    }

    async fn on_clipboard(&mut self, update: ClipboardText) -> Result<(), Error> {
        if update.origin == Some(self.viewer) {
            return Ok(());
        }
        let Some(active) = self.active.as_ref() else {
            return Ok(());
        };
        if !active.clipboard_allowed() {
            return Ok(());
        }
        self.out.send(misc::clipboard_message(&update.text)).await
    }

    fn on_viewer_clipboard(&mut self, clips: &[message::Clipboard]) {
        let (Some(active), Some(hub)) = (self.active.as_ref(), self.agent.clipboard()) else {
            return;
        };
        if !active.clipboard_allowed() {
            return;
        }
        if let Some(text) = clips.iter().find_map(misc::clipboard_text) {
            hub.set_from_viewer(self.viewer, text);
        }
    }

    /// Ends the session: releases input and the display, says goodbye if we are the ones closing.
    async fn finish(&mut self, result: &Result<(), Error>) {
        if let Some(mut active) = self.active.take() {
            active.leave(&self.agent);
        }
        match result {
            Err(Error::PeerClosed) | Ok(()) => {}
            Err(Error::Refused(reason)) => self.out.close(reason).await,
            Err(Error::Timeout(what)) => self.out.close(&format!("Timeout {what}")).await,
            Err(e) => {
                self.out
                    .close(&format!("Closed by the remote desktop: {e}"))
                    .await;
            }
        }
        tracing::info!(viewer = self.viewer, peer = %self.peer, ended = %result.as_ref().err().map_or("normally".to_owned(), ToString::to_string), "viewer left");
    }
}
