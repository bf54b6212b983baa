//! Login (spec §5): checking `LoginRequest`s, then turning the session active — codec choice,
//! `PeerInfo`, the display subscription, input and cursor.

use std::sync::Arc;
use std::time::Instant;

use deskcast_codec::Codec;
use deskcast_protocol::login::{self, LoginCheck, LoginError};
use deskcast_protocol::message::{
    self, LoginRequest, Message, OptionMessage, PermissionInfo, SupportedDecoding, login_request,
    permission_info::Permission,
};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use super::codec_choice::ClientDecoders;
use super::input::InputHandle;
use super::qos::{Qos, QualityRatio};
use super::{Session, Transport};
use crate::error::Error;
use crate::pipeline::display::{DisplayEvent, Route};
use crate::runtime::Agent;
use crate::runtime::cursor::CursorWatch;

/// The platform string of the deskcast probe client: it gets capture times as `pts`.
pub(crate) const PROBE_PLATFORM: &str = "deskcast-probe";
/// Frame rate a viewer starts at unless it asks for less.
const START_FPS: u32 = 30;

/// BoolOption values (spec §9.2).
const YES: i32 = 2;
const NO: i32 = 1;

/// What a logged-in session holds.
pub(crate) struct Active {
    pub display_events: UnboundedReceiver<DisplayEvent>,
    pub display_events_tx: UnboundedSender<DisplayEvent>,
    pub cursor: Option<CursorWatch>,
    /// Index into the agent's displays.
    pub display: usize,
    pub route: Route,
    pub decoders: ClientDecoders,
    pub qos: Qos,
    pub input: Option<InputHandle>,
    /// The viewer is the deskcast probe.
    pub probe: bool,
    pub disable_clipboard: bool,
    pub disable_audio: bool,
    /// Cursor shapes already sent (re-selected by id afterwards), bounded.
    pub cursors_sent: Vec<u64>,
    /// When this viewer last moved the pointer (its own moves are not echoed back).
    pub last_input: Option<Instant>,
    /// This session's viewer id.
    pub viewer: crate::pipeline::display::ViewerId,
    /// Desktop audio, while the viewer listens.
    pub audio: Option<crate::runtime::audio::AudioSubscription>,
}

impl Active {
    /// Whether clipboard text may flow to and from this viewer.
    pub fn clipboard_allowed(&self) -> bool {
        !self.disable_clipboard
    }

    /// Releases what the session holds: the display subscription and every pressed key.
    pub fn leave(&mut self, agent: &Agent) {
        if let Some(d) = agent.display(self.display) {
            d.unsubscribe(self.viewer);
        }
        // Dropping the handle ends the input thread, which releases everything it pressed.
        self.input = None;
        self.audio = None;
    }
}

/// The `PermissionInfo { enabled: false }` messages for what this agent never grants.
pub(crate) fn withheld_permissions(agent: &Agent) -> Vec<Message> {
    let mut off = vec![
        Permission::File,
        Permission::Restart,
        Permission::BlockInput,
        Permission::PrivacyMode,
    ];
    if !agent.config.permissions.input {
        off.push(Permission::Keyboard);
    }
    if !agent.config.permissions.clipboard || agent.clipboard().is_none() {
        off.push(Permission::Clipboard);
    }
    if !agent.audio_available() {
        off.push(Permission::Audio);
    }
    off.into_iter()
        .map(|p| {
            Message::from(message::misc::Union::PermissionInfo(PermissionInfo {
                permission: p as i32,
                enabled: false,
            }))
        })
        .collect()
}

impl Session {
    pub(super) async fn on_login(&mut self, request: LoginRequest) -> Result<(), Error> {
        if self.active.is_some() {
            return Ok(());
        }
        if let Some(kind) = &request.union {
            let text = match kind {
                login_request::Union::FileTransfer(_) => "No permission of file transfer",
                login_request::Union::PortForward(_) => "No permission of IP tunneling",
                _ => "Connection not allowed",
            };
            self.out
                .send(LoginError::Other(text.into()).to_message())
                .await?;
            return Err(Error::Refused(format!(
                "{text}: deskcast serves remote-desktop sessions only"
            )));
        }
        let passwords = self.agent.passwords();
        if passwords.is_empty() {
            let text = "No password is set on this desktop: run `deskcast password set` there";
            self.out
                .send(LoginError::Other(text.into()).to_message())
                .await?;
            return Err(Error::Refused(text.into()));
        }
        let own_id = match self.transport {
            Transport::Direct => None,
            Transport::Relay { .. } => Some(self.agent.config.id.as_str()),
        };
        let check = LoginCheck {
            own_id,
            challenge: &self.challenge,
            passwords,
        };
        let verdict = self.agent.with_lockout(|lockout| {
            login::check_login(&request, &check, lockout, Instant::now(), self.peer.ip())
        });
        match verdict {
            Ok(()) => self.activate(&request).await,
            Err(error) => {
                tracing::info!(viewer = self.viewer, peer = %self.peer, %error, "login refused");
                self.out.send(error.to_message()).await?;
                match error {
                    // The client asks again on the same connection.
                    LoginError::EmptyPassword | LoginError::WrongPassword => Ok(()),
                    other => Err(Error::Refused(other.to_string())),
                }
            }
        }
    }

    async fn activate(&mut self, request: &LoginRequest) -> Result<(), Error> {
        let options = request.option.unwrap_or_default();
        let decoders = client_decoders(options.supported_decoding.as_ref());
        let agent = Arc::clone(&self.agent);
        let display = agent.primary_display();
        let mut qos = Qos::new(agent.config.video.max_fps, START_FPS);
        let (tx, rx) = unbounded_channel();
        let mut active = Active {
            display_events: rx,
            display_events_tx: tx,
            cursor: agent.cursor().map(CursorWatch::new),
            display,
            route: agent.route_for(&decoders, QualityRatio::BALANCED),
            decoders,
            qos: {
                apply_rate_options(&mut qos, &options);
                qos
            },
            input: None,
            probe: request.my_platform == PROBE_PLATFORM,
            disable_clipboard: !agent.config.permissions.clipboard,
            disable_audio: !agent.config.permissions.audio,
            cursors_sent: Vec::new(),
            last_input: None,
            viewer: self.viewer,
            audio: None,
        };
        apply_toggles(&mut active, &options, &agent);
        active.route = agent.route_for(
            &active.decoders,
            quality_of(&options).unwrap_or(QualityRatio::BALANCED),
        );
        if agent.config.permissions.input && options.disable_keyboard != YES {
            active.input = InputHandle::spawn(&agent)
                .map_err(|e| tracing::warn!(error = %e, "input unavailable"))
                .ok();
        }
        let peer_info = agent.peer_info(display, &request.version)?;
        self.out.send(login::login_success(peer_info)).await?;
        tracing::info!(
            viewer = self.viewer,
            who = %request.my_name,
            client = %request.version,
            route = ?active.route,
            "viewer logged in"
        );
        self.active = Some(active);
        self.subscribe_display().await?;
        self.update_audio().await?;
        self.send_cursor().await
    }
}

/// The viewer's decoders from `SupportedDecoding` (absent → VP9 only, as RustDesk does).
pub(crate) fn client_decoders(decoding: Option<&SupportedDecoding>) -> ClientDecoders {
    let Some(d) = decoding else {
        return ClientDecoders::VP9_ONLY;
    };
    let prefer = match d.prefer {
        1 => Some(Codec::Vp9),
        2 => Some(Codec::H264),
        3 => Some(Codec::H265),
        4 => Some(Codec::Vp8),
        5 => Some(Codec::Av1),
        _ => None,
    };
    ClientDecoders {
        vp8: d.ability_vp8 > 0,
        vp9: true,
        av1: d.ability_av1 > 0,
        h264: d.ability_h264 > 0,
        h265: d.ability_h265 > 0,
        prefer,
    }
}

/// The quality ratio an `OptionMessage` asks for, if it says anything about quality.
pub(crate) fn quality_of(options: &OptionMessage) -> Option<QualityRatio> {
    if options.custom_image_quality > 0 {
        return Some(QualityRatio::from_custom(options.custom_image_quality));
    }
    QualityRatio::from_image_quality(options.image_quality)
}

/// Frame-rate and quality options into the viewer's QoS.
pub(crate) fn apply_rate_options(qos: &mut Qos, options: &OptionMessage) {
    if options.custom_fps > 0 {
        qos.set_client_fps(options.custom_fps.unsigned_abs());
    }
    if let Some(q) = quality_of(options) {
        qos.set_quality(q);
    }
}

/// Clipboard and audio switches (NotSet leaves them as they are).
pub(crate) fn apply_toggles(active: &mut Active, options: &OptionMessage, agent: &Agent) {
    match options.disable_clipboard {
        YES => active.disable_clipboard = true,
        NO => active.disable_clipboard = !agent.config.permissions.clipboard,
        _ => {}
    }
    match options.disable_audio {
        YES => active.disable_audio = true,
        NO => active.disable_audio = !agent.config.permissions.audio,
        _ => {}
    }
}
