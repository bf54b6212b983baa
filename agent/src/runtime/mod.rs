//! The running agent: what every session shares (identity, displays, login policy, encoders,
//! cursor, clipboard), and the tasks that accept viewers (registration with hbbs, the direct-IP
//! listener).
//!
//! There is no global state: one [`Agent`] value, built from the configuration, is shared by
//! `Arc` with every task and thread.

pub mod audio;
pub mod clipboard;
pub mod cursor;
mod serve;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use deskcast_codec::{Backend, Capabilities, Codec};
use deskcast_protocol::crypto::IdentityKey;
use deskcast_protocol::login::{
    Lockout, LockoutPolicy, PLATFORM_LINUX, PeerInfoBuilder, StoredPassword,
};
use deskcast_protocol::message::{
    DisplayInfo, Features, PeerInfo, Resolution, SupportedEncoding, SupportedResolutions,
};
use tokio::sync::mpsc;

use crate::error::Error;
use crate::pipeline::display::{Display, DisplayConfig, NvencBudget, Route};
use crate::platform::x11::{CaptureArea, ConnectOptions, Monitor, Paths, Screen};
use crate::service::config::Config;
use crate::session::codec_choice::{self, ClientDecoders};
use crate::session::qos::QualityRatio;

pub use serve::{AgentHandle, Status, start};

/// The RustDesk version deskcast reports in `PeerInfo` and to hbbs (clients gate features on it;
/// spec §11). deskcast tolerates every message the gates up to it unlock.
pub const PEER_VERSION: &str = "1.4.9";

/// Commands for the registration task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RegistrarCommand {
    /// A client could not verify our key: register it again.
    ForceRegisterPk,
}

/// What every session shares.
pub struct Agent {
    /// The configuration, as loaded.
    pub config: Config,
    /// The agent's long-term key.
    pub identity: IdentityKey,
    /// How to reach the X server.
    pub x: ConnectOptions,
    passwords: Vec<StoredPassword>,
    lockout: Mutex<Lockout>,
    displays: Vec<Display>,
    monitors: Mutex<Vec<Monitor>>,
    screen: Mutex<Screen>,
    caps: Capabilities,
    nvenc: NvencBudget,
    cursor: Option<cursor::CursorHub>,
    clipboard: Option<clipboard::ClipboardHub>,
    audio: Option<Arc<audio::AudioHub>>,
    next_viewer: AtomicU64,
    registrar: Mutex<Option<mpsc::UnboundedSender<RegistrarCommand>>>,
    hostname: String,
    username: String,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("id", &self.config.id)
            .field("displays", &self.displays.len())
            .finish_non_exhaustive()
    }
}

impl Agent {
    /// Connects to the X server, starts a capture thread per monitor (idle until a viewer comes),
    /// the cursor and clipboard threads, and probes the encoders.
    pub fn new(config: Config) -> Result<Self, Error> {
        let x = ConnectOptions {
            display: config.display.clone(),
            xauthority: None,
        };
        let screen = Screen::connect(&x)?;
        let monitors = monitors_of(&screen)?;
        let area = |m: &Monitor| {
            if monitors.len() > 1 {
                CaptureArea::Monitor(m.name.clone())
            } else {
                CaptureArea::Screen
            }
        };
        let nvenc = NvencBudget::new(config.video.nvenc_max_sessions);
        let mut displays = Vec::new();
        for monitor in &monitors {
            let config = DisplayConfig {
                connect: x.clone(),
                area: area(monitor),
                paths: Paths::default(),
                threads: 0,
                nvenc: nvenc.clone(),
            };
            let (display, _thread) =
                Display::spawn(config).map_err(|e| Error::io("starting a capture thread", e))?;
            displays.push(display);
        }
        let caps = probe_encoders(&config);
        let identity = IdentityKey::from_seed(&config.secret_seed);
        let passwords = config
            .password_hash
            .map(StoredPassword::from_h1)
            .into_iter()
            .collect();
        Ok(Self {
            identity,
            passwords,
            lockout: Mutex::new(Lockout::new(LockoutPolicy::default())),
            displays,
            monitors: Mutex::new(monitors),
            screen: Mutex::new(screen),
            caps,
            nvenc,
            cursor: cursor::spawn(x.clone()),
            clipboard: if config.permissions.clipboard {
                clipboard::spawn(x.clone())
            } else {
                None
            },
            audio: match (&config.audio_server, config.permissions.audio) {
                (_, false) => None,
                (Some(server), true) => {
                    audio::AudioHub::at(crate::audio::ServerAddress::new(server.clone()))
                }
                (None, true) => audio::AudioHub::discover(),
            },
            next_viewer: AtomicU64::new(1),
            registrar: Mutex::new(None),
            hostname: nix::unistd::gethostname()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_default(),
            username: user_name(),
            x,
            config,
        })
    }

    /// A fresh viewer id.
    pub fn next_viewer_id(&self) -> u64 {
        self.next_viewer.fetch_add(1, Ordering::Relaxed)
    }

    /// The passwords a login may match (empty: nobody can log in).
    pub fn passwords(&self) -> &[StoredPassword] {
        &self.passwords
    }

    /// Runs `f` on the shared lockout state.
    pub fn with_lockout<T>(&self, f: impl FnOnce(&mut Lockout) -> T) -> T {
        f(&mut self.lockout.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The display service for display `index`.
    pub fn display(&self, index: usize) -> Option<&Display> {
        self.displays.get(index)
    }

    /// The monitors, in display-index order.
    pub fn monitors(&self) -> Vec<Monitor> {
        self.monitors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Re-reads the monitors after the screen changed.
    pub fn refresh_monitors(&self) {
        let screen = self.screen.lock().unwrap_or_else(PoisonError::into_inner);
        if let Ok(fresh) = monitors_of(&screen)
            && fresh.len() == self.displays.len()
        {
            *self.monitors.lock().unwrap_or_else(PoisonError::into_inner) = fresh;
        }
    }

    /// Width and height of display `index`.
    pub fn display_size(&self, index: usize) -> (u32, u32) {
        self.monitors()
            .get(index)
            .map_or((1920, 1080), |m| (m.width, m.height))
    }

    /// The display a viewer sees first: the primary monitor, else the first.
    pub fn primary_display(&self) -> usize {
        self.monitors().iter().position(|m| m.primary).unwrap_or(0)
    }

    /// Resolutions display `index` can switch to.
    pub fn resolutions(&self, index: usize) -> SupportedResolutions {
        let name = self.monitors().get(index).map(|m| m.name.clone());
        let screen = self.screen.lock().unwrap_or_else(PoisonError::into_inner);
        let sizes = screen
            .resolutions(name.as_deref().filter(|_| self.displays.len() > 1))
            .unwrap_or_default();
        SupportedResolutions {
            resolutions: sizes
                .into_iter()
                .map(|(w, h)| Resolution {
                    width: i32::try_from(w).unwrap_or(0),
                    height: i32::try_from(h).unwrap_or(0),
                })
                .collect(),
        }
    }

    /// Switches display `index` to `width`×`height` where the X server allows it.
    pub fn set_resolution(&self, index: usize, width: u32, height: u32) -> Result<(), Error> {
        let name = self.monitors().get(index).map(|m| m.name.clone());
        let screen = self.screen.lock().unwrap_or_else(PoisonError::into_inner);
        screen.set_resolution(
            name.as_deref().filter(|_| self.displays.len() > 1),
            width,
            height,
        )?;
        Ok(())
    }

    /// The encoder a viewer with these decoders and this quality gets.
    pub fn route_for(&self, decoders: &ClientDecoders, quality: QualityRatio) -> Route {
        let nvenc = self.config.video.nvenc && self.nvenc.available();
        let (backend, codec) = codec_choice::choose(decoders, &self.caps, nvenc);
        Route {
            backend,
            codec,
            quality: (quality.0 * 100.0).round() as u32,
        }
    }

    /// The `PeerInfo` for a viewer starting on display `current`.
    pub fn peer_info(&self, current: usize, _client_version: &str) -> Result<PeerInfo, Error> {
        let can = |codec| {
            self.caps.can(Backend::Software, codec)
                || (self.config.video.nvenc && self.caps.can(Backend::Nvenc, codec))
        };
        let encoding = SupportedEncoding {
            h264: can(Codec::H264),
            h265: can(Codec::H265),
            vp8: can(Codec::Vp8),
            av1: can(Codec::Av1),
            i444: None,
        };
        let mut builder = PeerInfoBuilder::new(PEER_VERSION, PLATFORM_LINUX)
            .username(&self.username)
            .hostname(&self.hostname)
            .encoding(encoding)
            .features(Features {
                privacy_mode: false,
                terminal: false,
            })
            .platform_additions(r#"{"is_wayland":false,"is_installed":true}"#)
            .current_display(i32::try_from(current).unwrap_or(0));
        for m in self.monitors() {
            let size = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
            builder = builder.display(DisplayInfo::at(
                m.x,
                m.y,
                size(m.width),
                size(m.height),
                &m.name,
            ));
        }
        let mut info = builder.build()?;
        info.resolutions = Some(self.resolutions(current));
        Ok(info)
    }

    /// What this machine can encode (probed once at start).
    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// The cursor hub, when the X server has XFIXES.
    pub fn cursor(&self) -> Option<&cursor::CursorHub> {
        self.cursor.as_ref()
    }

    /// The clipboard hub, when sharing is on and possible.
    pub fn clipboard(&self) -> Option<&clipboard::ClipboardHub> {
        self.clipboard.as_ref()
    }

    /// Whether desktop audio can be offered.
    pub fn audio_available(&self) -> bool {
        self.audio.is_some()
    }

    /// The shared audio capture, when there is a sound server.
    pub fn audio(&self) -> Option<&Arc<audio::AudioHub>> {
        self.audio.as_ref()
    }

    /// Asks the registration task to send `RegisterPk` again.
    pub fn force_register_pk(&self) {
        if let Some(tx) = &*self
            .registrar
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
        {
            let _ = tx.send(RegistrarCommand::ForceRegisterPk);
        }
    }

    fn set_registrar(&self, tx: mpsc::UnboundedSender<RegistrarCommand>) {
        *self
            .registrar
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(tx);
    }
}

/// The monitors of the screen; the whole screen as one monitor when RandR lists none.
fn monitors_of(screen: &Screen) -> Result<Vec<Monitor>, Error> {
    let mut monitors = screen.monitors()?;
    if monitors.is_empty() {
        let (width, height) = screen.size()?;
        monitors.push(Monitor {
            name: "screen".into(),
            x: 0,
            y: 0,
            width,
            height,
            primary: true,
        });
    }
    Ok(monitors)
}

/// What this machine can encode, with NVENC left out when the configuration turns it off.
fn probe_encoders(config: &Config) -> Capabilities {
    let caps = deskcast_codec::probe();
    for c in &caps.entries {
        match &c.status {
            Ok(()) => tracing::info!(backend = %c.backend, codec = %c.codec, "encoder available"),
            Err(why) => {
                tracing::debug!(backend = %c.backend, codec = %c.codec, %why, "encoder unavailable");
            }
        }
    }
    if !config.video.nvenc {
        tracing::info!("NVENC turned off in the configuration");
    }
    caps
}

fn user_name() -> String {
    std::env::var("USER")
        .ok()
        .or_else(|| {
            nix::unistd::User::from_uid(nix::unistd::getuid())
                .ok()
                .flatten()
                .map(|u| u.name)
        })
        .unwrap_or_default()
}

impl Agent {
    /// Wraps self for sharing.
    pub fn shared(self) -> Arc<Self> {
        Arc::new(self)
    }
}
