//! The agent's configuration: one TOML file, read with clear errors, written without losing
//! anything the user wrote.
//!
//! The file lives at `$XDG_CONFIG_HOME/deskcast/deskcast.toml` (overridable with `--config` or
//! `DESKCAST_CONFIG`) and holds the agent's identity (ID, Ed25519 seed, uuid, salt, password
//! hash) next to the settings the user edits. It is created on first start with mode 0600 because
//! it holds the secret key. deskcast rewrites only the keys it owns, through `toml_edit`, so
//! comments and unknown keys survive. `DESKCAST_*` environment variables override settings for
//! one run and are never written back.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand::{Rng, RngCore};
use toml_edit::{DocumentMut, Item, Table, value};

/// Default TCP port of the direct-IP listener (RustDesk's `direct-access-port`).
pub const DEFAULT_DIRECT_PORT: u16 = 21118;
/// Default port of hbbs when the configured server has none.
pub const DEFAULT_RENDEZVOUS_PORT: u16 = 21116;
/// The alphabet RustDesk uses for salts and challenges; generated passwords use it too because it
/// has no look-alike characters.
const ALPHABET: &[u8] = deskcast_protocol::login::TOKEN_ALPHABET;
const SALT_LEN: usize = 32;
const PASSWORD_LEN: usize = 10;

/// Everything the agent needs to run, after the file and the environment were read.
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    /// Where it was read from (and where writes go).
    pub path: PathBuf,
    /// The RustDesk ID clients dial.
    pub id: String,
    /// The Ed25519 seed of the agent's long-term key (the public key is derived from it).
    pub secret_seed: [u8; 32],
    /// A stable identifier registered with hbbs next to the key.
    pub uuid: [u8; 16],
    /// The salt clients hash the password with; stable forever, or remembered passwords break.
    pub salt: String,
    /// SHA256(password ‖ salt), or `None` when no password is set (nobody can log in).
    pub password_hash: Option<[u8; 32]>,
    /// Rendezvous and relay settings.
    pub server: ServerConfig,
    /// The direct-IP listener.
    pub direct: DirectConfig,
    /// The X display to stream; `None` means `$DISPLAY`.
    pub display: Option<String>,
    /// Video limits and encoder choice.
    pub video: VideoConfig,
    /// What viewers may do.
    pub permissions: Permissions,
    /// The sound server to capture from (a PulseAudio address such as `unix:/run/user/1000/pulse/native`);
    /// `None` finds it as PulseAudio clients do.
    pub audio_server: Option<String>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Secrets stay out of logs.
        f.debug_struct("Config")
            .field("path", &self.path)
            .field("id", &self.id)
            .field("password_set", &self.password_hash.is_some())
            .field("server", &self.server)
            .field("direct", &self.direct)
            .field("display", &self.display)
            .field("video", &self.video)
            .field("permissions", &self.permissions)
            .field("audio_server", &self.audio_server)
            .finish_non_exhaustive()
    }
}

/// Rendezvous (hbbs) and relay (hbbr) settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerConfig {
    /// hbbs as `host[:port]`; `None` means no registration (direct IP only).
    pub rendezvous: Option<String>,
    /// The server's public key: the text of hbbs's `id_ed25519.pub` (base64 of 32 bytes).
    pub key: Option<String>,
    /// A relay to use instead of the one hbbs names, as `host[:port]`.
    pub relay: Option<String>,
    /// Accept viewers that did not complete the secure handshake (unencrypted sessions).
    pub allow_insecure: bool,
}

/// When the direct-IP listener runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectMode {
    /// On when no rendezvous server is configured, off otherwise.
    Auto,
    /// Always on.
    On,
    /// Always off.
    Off,
}

/// The direct-IP listener (LAN use; unencrypted, as in RustDesk).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirectConfig {
    /// When it runs.
    pub mode: DirectMode,
    /// Its TCP port.
    pub port: u16,
}

impl DirectConfig {
    /// Whether the listener runs given the server settings.
    pub fn enabled(&self, server: &ServerConfig) -> bool {
        match self.mode {
            DirectMode::On => true,
            DirectMode::Off => false,
            DirectMode::Auto => server.rendezvous.is_none(),
        }
    }
}

/// Video limits and encoder choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoConfig {
    /// The most frames per second any viewer gets.
    pub max_fps: u32,
    /// Use NVENC when the machine has it.
    pub nvenc: bool,
    /// The most NVENC sessions this agent opens (0 = no cap of our own).
    pub nvenc_max_sessions: u32,
}

/// What viewers may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permissions {
    /// Keyboard and mouse; off makes every session view-only.
    pub input: bool,
    /// Text clipboard in both directions.
    pub clipboard: bool,
    /// Desktop audio.
    pub audio: bool,
}

/// A problem with the configuration, naming the field and the fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read or written.
    #[error("{path}: {action}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What we tried.
        action: &'static str,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error(
        "{path}: not valid TOML: {detail}\n  fix: correct the syntax, or move the file away to start afresh"
    )]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        detail: String,
    },
    /// One setting has a bad value.
    #[error("{source_name}: `{field}`: {problem}\n  fix: {fix}")]
    Field {
        /// The file path, or the environment variable.
        source_name: String,
        /// The setting, as `section.key`.
        field: String,
        /// What is wrong.
        problem: String,
        /// What to do.
        fix: String,
    },
    /// No config directory could be found.
    #[error(
        "no configuration directory: neither XDG_CONFIG_HOME nor HOME is set\n  fix: set HOME, or pass --config PATH"
    )]
    NoConfigDir,
}

/// What [`load_or_create`] did besides reading, for the caller to tell the user.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LoadReport {
    /// The file did not exist and was created.
    pub created: bool,
    /// A password was generated; show it once (it is stored only as a hash).
    pub generated_password: Option<String>,
    /// Keys in the file that deskcast does not know (probably typos).
    pub unknown_keys: Vec<String>,
    /// The file is readable by others although it holds the secret key.
    pub too_open: bool,
}

/// The default path: `$XDG_CONFIG_HOME/deskcast/deskcast.toml` (or `~/.config/…`).
pub fn default_path(env: &Env) -> Result<PathBuf, ConfigError> {
    let base = match (env.get("XDG_CONFIG_HOME"), env.get("HOME")) {
        (Some(x), _) if !x.is_empty() => PathBuf::from(x),
        (_, Some(h)) if !h.is_empty() => Path::new(h).join(".config"),
        _ => return Err(ConfigError::NoConfigDir),
    };
    Ok(base.join("deskcast").join("deskcast.toml"))
}

/// The process environment as a value, so that tests can run side by side.
#[derive(Debug, Clone, Default)]
pub struct Env(BTreeMap<String, String>);

impl Env {
    /// The real environment of this process.
    pub fn from_process() -> Self {
        Self(std::env::vars().collect())
    }

    /// An environment built from pairs (tests).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        )
    }

    /// One variable.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
}

/// Reads the file at `path`, creating it (with a new identity and password) when it is missing
/// and filling in any identity part the user left out, then applies `DESKCAST_*` overrides.
pub fn load_or_create(path: &Path, env: &Env) -> Result<(Config, LoadReport), ConfigError> {
    let mut report = LoadReport::default();
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            report.created = true;
            TEMPLATE.to_owned()
        }
        Err(source) => {
            return Err(ConfigError::Io {
                path: path.into(),
                action: "reading",
                source,
            });
        }
    };
    let mut doc: DocumentMut =
        text.parse()
            .map_err(|e: toml_edit::TomlError| ConfigError::Syntax {
                path: path.into(),
                detail: e.to_string(),
            })?;
    let changed = fill_identity(&mut doc, &mut report);
    if report.created || changed {
        write_private(path, &doc.to_string())?;
    }
    report.too_open = fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0);
    let config = parse(path, &doc, env, &mut report)?;
    Ok((config, report))
}

/// Reads the file at `path` without creating or changing anything; `Ok(None)` when it does
/// not exist yet.
pub fn load_existing(path: &Path, env: &Env) -> Result<Option<Config>, ConfigError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(ConfigError::Io {
                path: path.into(),
                action: "reading",
                source,
            });
        }
    };
    let doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| ConfigError::Syntax {
            path: path.into(),
            detail: e.to_string(),
        })?;
    parse(path, &doc, env, &mut LoadReport::default()).map(Some)
}

/// Stores a new password hash (and nothing else) in the file at `path`.
pub fn store_password_hash(path: &Path, hash: &[u8; 32]) -> Result<(), ConfigError> {
    edit(path, |doc| {
        set_str(secrets(doc), "password_hash", &BASE64.encode(hash));
    })
}

/// Stores a new ID in the file at `path`.
pub fn store_id(path: &Path, id: &str) -> Result<(), ConfigError> {
    check_id(id).map_err(|(problem, fix)| field_error(path, "id", problem, fix))?;
    edit(path, |doc| set_str(doc.as_table_mut(), "id", id))
}

/// A random password of the length and alphabet deskcast generates.
pub fn random_password() -> String {
    random_string(PASSWORD_LEN)
}

/// The configuration as TOML for `deskcast config show`, with secrets masked.
pub fn masked(config: &Config) -> String {
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "(not set)".into());
    format!(
        "# {path}\nid = \"{id}\"\n\n[server]\nrendezvous = \"{rv}\"\nkey = \"{key}\"\nrelay = \"{relay}\"\n\
         allow_insecure = {insecure}\n\n[direct]\nenabled = \"{direct}\"\nport = {port}\n\n\
         [display]\nname = \"{display}\"\n\n[video]\nmax_fps = {fps}\nnvenc = {nvenc}\n\
         nvenc_max_sessions = {cap}\n\n[permissions]\ninput = {input}\nclipboard = {clip}\naudio = {audio}\n\n\
         [secrets]\nsecret_key = \"********\"\nuuid = \"********\"\nsalt = \"********\"\npassword_hash = \"{pw}\"\n",
        path = config.path.display(),
        id = config.id,
        rv = opt(&config.server.rendezvous),
        key = opt(&config.server.key),
        relay = opt(&config.server.relay),
        insecure = config.server.allow_insecure,
        direct = match config.direct.mode {
            DirectMode::Auto => "auto",
            DirectMode::On => "on",
            DirectMode::Off => "off",
        },
        port = config.direct.port,
        display = config
            .display
            .clone()
            .unwrap_or_else(|| "(from $DISPLAY)".into()),
        fps = config.video.max_fps,
        nvenc = config.video.nvenc,
        cap = config.video.nvenc_max_sessions,
        input = config.permissions.input,
        clip = config.permissions.clipboard,
        audio = config.permissions.audio,
        pw = if config.password_hash.is_some() {
            "********"
        } else {
            "(not set)"
        },
    )
}

const TEMPLATE: &str = r#"# deskcast configuration. Edit freely: deskcast keeps your comments and settings.
# Every setting can be overridden for one run with an environment variable (DESKCAST_SERVER, …).

# The ID RustDesk clients dial. Change it with `deskcast id set NEW`.
id = ""

[server]
# Your hbbs as host[:port] (port 21116 when left out). Empty: no registration, direct IP only.
rendezvous = ""
# The content of hbbs's id_ed25519.pub. Needed for encrypted sessions through your relay.
key = ""
# A relay (hbbr) to use instead of the one hbbs names, as host[:port].
relay = ""
# Accept viewers whose secure handshake failed (their traffic is then unencrypted).
allow_insecure = false

[direct]
# Direct-IP listener for LAN clients: "auto" (on when no rendezvous server is set), "on", "off".
enabled = "auto"
# TCP port (0 picks any free port).
port = 21118

[display]
# The X display to stream; empty means $DISPLAY.
name = ""

[video]
max_fps = 60
# Encode on NVIDIA NVENC when available; software VP9/VP8/H.264 otherwise.
nvenc = true
# The most NVENC sessions this agent opens (GeForce cards allow 8 per system); 0 = no cap.
nvenc_max_sessions = 0

[permissions]
# false makes every session view-only.
input = true
clipboard = true
audio = true

[audio]
# The sound server to capture desktop audio from; empty finds it as PulseAudio clients do
# ($PULSE_SERVER, then $XDG_RUNTIME_DIR/pulse/native).
server = ""

# Written by deskcast. Keep this file private (mode 0600): it holds the agent's secret key.
[secrets]
"#;

/// Generates whatever identity part is missing; true when the document changed.
fn fill_identity(doc: &mut DocumentMut, report: &mut LoadReport) -> bool {
    let mut changed = false;
    if doc
        .get("id")
        .and_then(Item::as_str)
        .is_none_or(str::is_empty)
    {
        set_str(doc.as_table_mut(), "id", &random_id());
        changed = true;
    }
    let s = secrets(doc);
    let missing =
        |s: &Table, key: &str| s.get(key).and_then(Item::as_str).is_none_or(str::is_empty);
    if missing(s, "secret_key") {
        let mut seed = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut seed);
        set_str(s, "secret_key", &BASE64.encode(seed));
        changed = true;
    }
    if missing(s, "uuid") {
        let mut uuid = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut uuid);
        set_str(s, "uuid", &BASE64.encode(uuid));
        changed = true;
    }
    if missing(s, "salt") {
        set_str(s, "salt", &random_string(SALT_LEN));
        changed = true;
    }
    if missing(s, "password_hash") && report.created {
        // Only a new file gets a password: a user who removed it on purpose keeps logins off.
        let password = random_password();
        let salt = s
            .get("salt")
            .and_then(Item::as_str)
            .unwrap_or_default()
            .to_owned();
        set_str(
            s,
            "password_hash",
            &BASE64.encode(password_hash(&password, &salt)),
        );
        report.generated_password = Some(password);
        changed = true;
    }
    changed
}

/// SHA256(password ‖ salt): what the file stores instead of the password.
pub fn password_hash(password: &str, salt: &str) -> [u8; 32] {
    deskcast_protocol::login::h1(password, salt)
}

fn parse(
    path: &Path,
    doc: &DocumentMut,
    env: &Env,
    report: &mut LoadReport,
) -> Result<Config, ConfigError> {
    let file = path.display().to_string();
    let r = Reader {
        doc,
        file: &file,
        env,
    };
    report.unknown_keys = unknown_keys(doc);

    let id = r.string("id", "DESKCAST_ID")?.unwrap_or_default();
    check_id(&id).map_err(|(p, f)| r.error("id", "DESKCAST_ID", p, f))?;
    let secret_seed = r.secret::<32>(
        "secret_key",
        "delete the line to generate a new key (clients will see a new identity)",
    )?;
    let uuid = r.secret::<16>("uuid", "delete the line to generate a new one")?;
    let salt = r.secret_str("salt")?;
    let stored_hash = match r.secret_str_opt("password_hash") {
        Some(s) => Some(decode_fixed::<32>(&s).ok_or_else(|| {
            r.error(
                "secrets.password_hash",
                "",
                "not base64 of 32 bytes".into(),
                "run `deskcast password set`".into(),
            )
        })?),
        None => None,
    };

    let rendezvous = r.host_port(
        "server.rendezvous",
        "DESKCAST_SERVER",
        "hbbs.example.com:21116",
    )?;
    let key = r
        .string("server.key", "DESKCAST_KEY")?
        .map(|k| k.trim().to_owned())
        .filter(|s| !s.is_empty());
    if let Some(k) = &key
        && decode_fixed::<32>(k).is_none()
    {
        return Err(r.error(
            "server.key",
            "DESKCAST_KEY",
            "not base64 of a 32-byte public key".into(),
            "paste the content of id_ed25519.pub from the directory hbbs runs in".into(),
        ));
    }
    let relay = r.host_port("server.relay", "DESKCAST_RELAY", "hbbr.example.com:21117")?;
    let allow_insecure = r
        .bool("server.allow_insecure", "DESKCAST_ALLOW_INSECURE")?
        .unwrap_or(false);

    let mode = match r.string("direct.enabled", "DESKCAST_DIRECT")?.as_deref() {
        None | Some("auto") => DirectMode::Auto,
        Some("on" | "true" | "yes") => DirectMode::On,
        Some("off" | "false" | "no") => DirectMode::Off,
        Some(other) => {
            return Err(r.error(
                "direct.enabled",
                "DESKCAST_DIRECT",
                format!("`{other}` is not a mode"),
                "use \"auto\", \"on\" or \"off\"".into(),
            ));
        }
    };
    let port = r
        .int("direct.port", "DESKCAST_DIRECT_PORT", 0, 65_535)?
        .map_or(DEFAULT_DIRECT_PORT, |p| p as u16);
    let display = r
        .string("display.name", "DESKCAST_DISPLAY")?
        .filter(|s| !s.is_empty());
    let max_fps = r
        .int("video.max_fps", "DESKCAST_MAX_FPS", 1, 240)?
        .map_or(60, |v| v as u32);
    let nvenc = r.bool("video.nvenc", "DESKCAST_NVENC")?.unwrap_or(true);
    let nvenc_max_sessions = r
        .int(
            "video.nvenc_max_sessions",
            "DESKCAST_NVENC_MAX_SESSIONS",
            0,
            64,
        )?
        .map_or(0, |v| v as u32);
    let permissions = Permissions {
        input: r
            .bool("permissions.input", "DESKCAST_ALLOW_INPUT")?
            .unwrap_or(true),
        clipboard: r
            .bool("permissions.clipboard", "DESKCAST_ALLOW_CLIPBOARD")?
            .unwrap_or(true),
        audio: r
            .bool("permissions.audio", "DESKCAST_ALLOW_AUDIO")?
            .unwrap_or(true),
    };
    let audio_server = r
        .string("audio.server", "DESKCAST_AUDIO_SERVER")?
        .filter(|s| !s.is_empty());
    // A password from the environment (containers) replaces the stored one for this run.
    let password_hash = match env.get("DESKCAST_PASSWORD") {
        Some(pw) if !pw.is_empty() => Some(password_hash(pw, &salt)),
        _ => stored_hash,
    };
    Ok(Config {
        path: path.to_path_buf(),
        id,
        secret_seed,
        uuid,
        salt,
        password_hash,
        server: ServerConfig {
            rendezvous,
            key,
            relay,
            allow_insecure,
        },
        direct: DirectConfig { mode, port },
        display,
        video: VideoConfig {
            max_fps,
            nvenc,
            nvenc_max_sessions,
        },
        permissions,
        audio_server,
    })
}

/// Reads typed values from the document, with environment overrides and named errors.
struct Reader<'a> {
    doc: &'a DocumentMut,
    file: &'a str,
    env: &'a Env,
}

impl Reader<'_> {
    fn item(&self, field: &str) -> Option<&Item> {
        let mut parts = field.split('.');
        let first = self.doc.get(parts.next()?)?;
        parts.try_fold(first, |item, key| item.get(key))
    }

    fn error(&self, field: &str, var: &str, problem: String, fix: String) -> ConfigError {
        let source_name = match self.env.get(var) {
            Some(_) if !var.is_empty() => format!("environment variable {var}"),
            _ => self.file.to_owned(),
        };
        ConfigError::Field {
            source_name,
            field: field.to_owned(),
            problem,
            fix,
        }
    }

    fn string(&self, field: &str, var: &str) -> Result<Option<String>, ConfigError> {
        if let Some(v) = self.env.get(var) {
            return Ok(Some(v.to_owned()));
        }
        match self.item(field) {
            None => Ok(None),
            Some(item) => item.as_str().map(|s| Some(s.to_owned())).ok_or_else(|| {
                self.error(
                    field,
                    var,
                    "must be a string".into(),
                    format!("write it in quotes: {field} = \"…\""),
                )
            }),
        }
    }

    /// An optional `host[:port]` setting; empty means unset.
    fn host_port(
        &self,
        field: &str,
        var: &str,
        example: &str,
    ) -> Result<Option<String>, ConfigError> {
        let value = self.string(field, var)?.filter(|s| !s.is_empty());
        if let Some(host) = &value {
            check_host_port(host).map_err(|p| {
                self.error(
                    field,
                    var,
                    p,
                    format!("write host or host:port, e.g. {example}"),
                )
            })?;
        }
        Ok(value)
    }

    fn bool(&self, field: &str, var: &str) -> Result<Option<bool>, ConfigError> {
        if let Some(v) = self.env.get(var) {
            return match v {
                "1" | "true" | "yes" | "on" => Ok(Some(true)),
                "0" | "false" | "no" | "off" => Ok(Some(false)),
                _ => Err(self.error(
                    field,
                    var,
                    format!("`{v}` is not a boolean"),
                    "use true or false".into(),
                )),
            };
        }
        match self.item(field) {
            None => Ok(None),
            Some(item) => item.as_bool().map(Some).ok_or_else(|| {
                self.error(
                    field,
                    var,
                    "must be true or false".into(),
                    format!("write {field} = true or false"),
                )
            }),
        }
    }

    fn int(&self, field: &str, var: &str, min: i64, max: i64) -> Result<Option<i64>, ConfigError> {
        let range = || format!("use a whole number from {min} to {max}");
        let v = if let Some(v) = self.env.get(var) {
            v.trim()
                .parse::<i64>()
                .map_err(|_| self.error(field, var, format!("`{v}` is not a number"), range()))?
        } else {
            match self.item(field) {
                None => return Ok(None),
                Some(item) => item
                    .as_integer()
                    .ok_or_else(|| self.error(field, var, "must be a number".into(), range()))?,
            }
        };
        if !(min..=max).contains(&v) {
            return Err(self.error(field, var, format!("{v} is out of range"), range()));
        }
        Ok(Some(v))
    }

    fn secret_str_opt(&self, key: &str) -> Option<String> {
        self.item(&format!("secrets.{key}"))
            .and_then(Item::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    }

    fn secret_str(&self, key: &str) -> Result<String, ConfigError> {
        self.secret_str_opt(key).ok_or_else(|| {
            self.error(
                &format!("secrets.{key}"),
                "",
                "missing".into(),
                "delete the line; deskcast generates it".into(),
            )
        })
    }

    fn secret<const N: usize>(&self, key: &str, fix: &str) -> Result<[u8; N], ConfigError> {
        let s = self.secret_str(key)?;
        decode_fixed::<N>(&s).ok_or_else(|| {
            self.error(
                &format!("secrets.{key}"),
                "",
                format!("not base64 of {N} bytes"),
                fix.to_owned(),
            )
        })
    }
}

fn unknown_keys(doc: &DocumentMut) -> Vec<String> {
    const KNOWN: &[(&str, &[&str])] = &[
        ("server", &["rendezvous", "key", "relay", "allow_insecure"]),
        ("direct", &["enabled", "port"]),
        ("display", &["name"]),
        ("video", &["max_fps", "nvenc", "nvenc_max_sessions"]),
        ("permissions", &["input", "clipboard", "audio"]),
        ("audio", &["server"]),
        ("secrets", &["secret_key", "uuid", "salt", "password_hash"]),
    ];
    let mut unknown = Vec::new();
    for (key, item) in doc.iter() {
        match (
            KNOWN.iter().find(|(section, _)| *section == key),
            item.as_table(),
        ) {
            (Some((_, keys)), Some(table)) => {
                unknown.extend(
                    table
                        .iter()
                        .filter(|(k, _)| !keys.contains(k))
                        .map(|(k, _)| format!("{key}.{k}")),
                );
            }
            _ if key == "id" => {}
            _ => unknown.push(key.to_owned()),
        }
    }
    unknown
}

/// Sets `table[key]` to the string `new`, keeping the comments around the key and the value.
fn set_str(table: &mut Table, key: &str, new: &str) {
    match table.get_mut(key) {
        Some(Item::Value(old)) => {
            let decor = old.decor().clone();
            *old = new.into();
            *old.decor_mut() = decor;
        }
        _ => {
            table.insert(key, value(new));
        }
    }
}

fn secrets(doc: &mut DocumentMut) -> &mut Table {
    if !doc.get("secrets").is_some_and(Item::is_table) {
        doc.insert("secrets", Item::Table(Table::new()));
    }
    doc["secrets"]
        .as_table_mut()
        .expect("just inserted as a table")
}

fn edit(path: &Path, f: impl FnOnce(&mut DocumentMut)) -> Result<(), ConfigError> {
    let text = fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.into(),
        action: "reading",
        source,
    })?;
    let mut doc: DocumentMut =
        text.parse()
            .map_err(|e: toml_edit::TomlError| ConfigError::Syntax {
                path: path.into(),
                detail: e.to_string(),
            })?;
    f(&mut doc);
    write_private(path, &doc.to_string())
}

/// Writes `text` to `path` atomically (temporary file + rename) with mode 0600.
fn write_private(path: &Path, text: &str) -> Result<(), ConfigError> {
    let io = |action, source| ConfigError::Io {
        path: path.into(),
        action,
        source,
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| io("creating its directory", e))?;
    }
    let tmp = path.with_extension("toml.tmp");
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| io("creating a temporary file", e))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| io("writing", e))?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600))
        .map_err(|e| io("setting mode 0600", e))?;
    fs::rename(&tmp, path).map_err(|e| io("replacing", e))
}

fn field_error(path: &Path, field: &str, problem: String, fix: String) -> ConfigError {
    ConfigError::Field {
        source_name: path.display().to_string(),
        field: field.to_owned(),
        problem,
        fix,
    }
}

/// hbbs accepts IDs of 6 characters or more; RustDesk clients accept digits or
/// `^[a-zA-Z][\w-]{5,15}$`.
fn check_id(id: &str) -> Result<(), (String, String)> {
    let digits = id.len() >= 6 && id.len() <= 16 && id.bytes().all(|b| b.is_ascii_digit());
    let custom = (6..=16).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_alphabetic())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if digits || custom {
        Ok(())
    } else {
        Err((
            format!("`{id}` is not a RustDesk ID"),
            "use 6–16 digits, or a letter followed by 5–15 letters, digits, `_` or `-`".into(),
        ))
    }
}

fn check_host_port(s: &str) -> Result<(), String> {
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') || h.starts_with('[') => (h, Some(p)),
        _ => (s, None),
    };
    if host.is_empty() || host.contains(char::is_whitespace) || host.contains('/') {
        return Err(format!("`{s}` is not a host name or address"));
    }
    if let Some(p) = port
        && !matches!(p.parse::<u16>(), Ok(n) if n != 0)
    {
        return Err(format!("`{p}` is not a port number"));
    }
    Ok(())
}

fn decode_fixed<const N: usize>(s: &str) -> Option<[u8; N]> {
    BASE64.decode(s.trim()).ok()?.try_into().ok()
}

fn random_id() -> String {
    rand::rngs::OsRng
        .gen_range(100_000_000u32..=999_999_999)
        .to_string()
}

fn random_string(len: usize) -> String {
    let mut rng = rand::rngs::OsRng;
    (0..len)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests;
