//! Login after the handshake (spec §5): the `Hash` challenge, password verification
//! against a stored `SHA256(password ‖ salt)`, the `LoginResponse` the client understands,
//! and a brute-force [`Lockout`].
//!
//! Call order on the agent, per connection: send [`hash_message`] first (after the
//! handshake), then run [`check_login`] on every `LoginRequest` until one succeeds, answering
//! with [`login_success`] or [`LoginError::to_message`]. Keep the challenge for the whole
//! connection and the salt forever: clients remember `SHA256(password ‖ salt)`.

mod lockout;

use std::net::IpAddr;
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand_core::CryptoRngCore;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

pub use lockout::{Lockout, LockoutPolicy};

use crate::error::{ApiMisuse, Error};
use crate::message::{
    DisplayInfo, Features, Hash, LoginRequest, LoginResponse, Message, PeerInfo, SupportedEncoding,
    login_response, message,
};

/// The 32 symbols salts and challenges are drawn from: `[2-9a-km-np-z]` (no `0`, `1`, `l`
/// or `o`).
pub const TOKEN_ALPHABET: &[u8; 32] = b"23456789abcdefghijkmnpqrstuvwxyz";
/// Length of a salt.
pub const SALT_LEN: usize = 32;
/// Length of a challenge.
pub const CHALLENGE_LEN: usize = 6;
/// `PeerInfo.platform` for a Linux agent.
pub const PLATFORM_LINUX: &str = "Linux";

/// A random string of `len` symbols from [`TOKEN_ALPHABET`].
pub fn random_token(rng: &mut impl CryptoRngCore, len: usize) -> String {
    let mut bytes = vec![0u8; len];
    rng.fill_bytes(&mut bytes);
    // 256 is a multiple of 32, so masking keeps the choice uniform.
    bytes
        .iter()
        .map(|b| char::from(TOKEN_ALPHABET[usize::from(b & 31)]))
        .collect()
}

/// A new per-installation salt (keep it forever).
pub fn generate_salt(rng: &mut impl CryptoRngCore) -> String {
    random_token(rng, SALT_LEN)
}

/// A new per-connection challenge.
pub fn generate_challenge(rng: &mut impl CryptoRngCore) -> String {
    random_token(rng, CHALLENGE_LEN)
}

/// `Message { hash: Hash { salt, challenge } }`, the agent's first message after the
/// handshake.
#[must_use]
pub fn hash_message(salt: &str, challenge: &str) -> Message {
    message::Union::Hash(Hash {
        salt: salt.to_owned(),
        challenge: challenge.to_owned(),
    })
    .into()
}

/// A password as the agent stores it: `h1 = SHA256(password ‖ salt)`, never the plaintext.
#[derive(Clone)]
pub struct StoredPassword {
    h1: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for StoredPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredPassword").finish_non_exhaustive()
    }
}

impl StoredPassword {
    /// Hashes `password` with `salt`.
    #[must_use]
    pub fn new(password: &str, salt: &str) -> Self {
        Self::from_h1(h1(password, salt))
    }

    /// Wraps an `h1` computed elsewhere.
    #[must_use]
    pub fn from_h1(h1: [u8; 32]) -> Self {
        Self {
            h1: Zeroizing::new(h1),
        }
    }

    /// Parses RustDesk's storage form `"00" + base64(h1)`.
    ///
    /// # Errors
    /// [`ApiMisuse::InvalidKey`] for another form.
    pub fn from_storage(text: &str) -> Result<Self, Error> {
        let encoded = text
            .strip_prefix("00")
            .ok_or(ApiMisuse::InvalidKey("stored password must start with 00"))?;
        let bytes = Zeroizing::new(
            BASE64
                .decode(encoded)
                .map_err(|_| ApiMisuse::InvalidKey("stored password is not base64"))?,
        );
        let h1: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| ApiMisuse::InvalidKey("stored password must be 32 bytes"))?;
        Ok(Self::from_h1(h1))
    }

    /// RustDesk's storage form `"00" + base64(h1)`.
    #[must_use]
    pub fn to_storage(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("00{}", BASE64.encode(self.h1.as_ref())))
    }

    /// Whether `response` (a `LoginRequest.password`) answers `challenge`; constant time.
    #[must_use]
    pub fn matches(&self, challenge: &str, response: &[u8]) -> bool {
        let expected = response_from_h1(&self.h1, challenge);
        // Length mismatch short-circuits; the length is not secret.
        bool::from(expected.as_slice().ct_eq(response))
    }
}

/// `SHA256(password ‖ salt)`.
#[must_use]
pub fn h1(password: &str, salt: &str) -> [u8; 32] {
    Sha256::new()
        .chain_update(password.as_bytes())
        .chain_update(salt.as_bytes())
        .finalize()
        .into()
}

/// `SHA256(h1 ‖ challenge)`, what a client puts in `LoginRequest.password`.
#[must_use]
pub fn response_from_h1(h1: &[u8; 32], challenge: &str) -> [u8; 32] {
    Sha256::new()
        .chain_update(h1)
        .chain_update(challenge.as_bytes())
        .finalize()
        .into()
}

/// The client's side: `SHA256(SHA256(password ‖ salt) ‖ challenge)`.
#[must_use]
pub fn client_response(password: &str, salt: &str, challenge: &str) -> [u8; 32] {
    response_from_h1(&h1(password, salt), challenge)
}

/// A login refusal, as the strings RustDesk clients react to (spec §5.5).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LoginError {
    /// `"Empty Password"`: the client shows its password dialog.
    EmptyPassword,
    /// `"Wrong Password"`: the client asks again, with the same `Hash`.
    WrongPassword,
    /// `"2FA Required"`.
    TwoFactorRequired,
    /// `"Wrong 2FA Code"`.
    WrongTwoFactorCode,
    /// `"No Password Access"`: wait for the local user to accept.
    NoPasswordAccess,
    /// `"Offline"`: also the answer when `username` is not our ID.
    Offline,
    /// `"Too many wrong attempts"`: ends the session on the client.
    TooManyAttempts,
    /// `"Please try 1 minute later"`: ends the session on the client.
    TryLater,
    /// `"Connection not allowed"`.
    ConnectionNotAllowed,
    /// Any other text; the client shows a "Login Error" dialog and ends the session.
    Other(String),
}

impl LoginError {
    /// The wire text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::EmptyPassword => "Empty Password",
            Self::WrongPassword => "Wrong Password",
            Self::TwoFactorRequired => "2FA Required",
            Self::WrongTwoFactorCode => "Wrong 2FA Code",
            Self::NoPasswordAccess => "No Password Access",
            Self::Offline => "Offline",
            Self::TooManyAttempts => "Too many wrong attempts",
            Self::TryLater => "Please try 1 minute later",
            Self::ConnectionNotAllowed => "Connection not allowed",
            Self::Other(text) => text,
        }
    }

    /// Parses the wire text (the client's side).
    #[must_use]
    pub fn from_wire(text: &str) -> Self {
        [
            Self::EmptyPassword,
            Self::WrongPassword,
            Self::TwoFactorRequired,
            Self::WrongTwoFactorCode,
            Self::NoPasswordAccess,
            Self::Offline,
            Self::TooManyAttempts,
            Self::TryLater,
            Self::ConnectionNotAllowed,
        ]
        .into_iter()
        .find(|known| known.as_str() == text)
        .unwrap_or_else(|| Self::Other(text.to_owned()))
    }

    /// `Message { login_response: LoginResponse { error } }`.
    #[must_use]
    pub fn to_message(&self) -> Message {
        message::Union::LoginResponse(LoginResponse {
            union: Some(login_response::Union::Error(self.as_str().to_owned())),
            enable_trusted_devices: false,
        })
        .into()
    }
}

impl std::fmt::Display for LoginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a `LoginRequest` is checked against.
#[derive(Debug, Clone, Copy)]
pub struct LoginCheck<'a> {
    /// Our ID, which `username` must equal; `None` for direct IP access, where the client
    /// puts the address it dialled there.
    pub own_id: Option<&'a str>,
    /// This connection's challenge.
    pub challenge: &'a str,
    /// Every acceptable password (e.g. permanent and temporary).
    pub passwords: &'a [StoredPassword],
}

/// Checks one `LoginRequest` from `peer` at `now`, recording the outcome in `lockout`.
///
/// Order: a locked-out peer is refused without looking at the password; then the username;
/// then an empty password ([`LoginError::EmptyPassword`], not counted as a failure); then
/// the password itself. Approval by a local user and 2FA are the caller's business.
///
/// # Errors
/// The [`LoginError`] to send back.
pub fn check_login(
    request: &LoginRequest,
    check: &LoginCheck<'_>,
    lockout: &mut Lockout,
    now: Instant,
    peer: IpAddr,
) -> Result<(), LoginError> {
    lockout.check(now, peer)?;
    if check.own_id.is_some_and(|id| id != request.username) {
        return Err(LoginError::Offline);
    }
    if request.password.is_empty() {
        return Err(LoginError::EmptyPassword);
    }
    // Check every password so the time taken does not say which one matched.
    let matched = check.passwords.iter().fold(false, |matched, stored| {
        stored.matches(check.challenge, &request.password) | matched
    });
    if matched {
        lockout.record_success(peer);
        Ok(())
    } else {
        lockout.record_failure(now, peer);
        Err(LoginError::WrongPassword)
    }
}

/// `Message { login_response: LoginResponse { peer_info } }`.
#[must_use]
pub fn login_success(peer_info: PeerInfo) -> Message {
    message::Union::LoginResponse(LoginResponse {
        union: Some(login_response::Union::PeerInfo(peer_info)),
        enable_trusted_devices: false,
    })
    .into()
}

impl DisplayInfo {
    /// An online display at `(x, y)` in global desktop coordinates, with scale 1.0.
    #[must_use]
    pub fn at(x: i32, y: i32, width: i32, height: i32, name: &str) -> Self {
        Self {
            x,
            y,
            width,
            height,
            name: name.to_owned(),
            online: true,
            scale: 1.0,
            ..Self::default()
        }
    }
}

/// Builds a `PeerInfo` that current clients accept: non-empty displays, a valid current
/// display, a platform and a version.
#[derive(Debug, Clone)]
pub struct PeerInfoBuilder {
    info: PeerInfo,
}

impl PeerInfoBuilder {
    /// Starts with the agent's version (e.g. `"1.4.9"`; never empty) and platform (e.g.
    /// [`PLATFORM_LINUX`]).
    #[must_use]
    pub fn new(version: &str, platform: &str) -> Self {
        Self {
            info: PeerInfo {
                version: version.to_owned(),
                platform: platform.to_owned(),
                features: Some(Features::default()),
                encoding: Some(SupportedEncoding::default()),
                ..PeerInfo::default()
            },
        }
    }

    /// The logged-in OS user.
    #[must_use]
    pub fn username(mut self, username: &str) -> Self {
        username.clone_into(&mut self.info.username);
        self
    }

    /// The host name.
    #[must_use]
    pub fn hostname(mut self, hostname: &str) -> Self {
        hostname.clone_into(&mut self.info.hostname);
        self
    }

    /// Adds a display.
    #[must_use]
    pub fn display(mut self, display: DisplayInfo) -> Self {
        self.info.displays.push(display);
        self
    }

    /// The index of the display shown first.
    #[must_use]
    pub fn current_display(mut self, index: i32) -> Self {
        self.info.current_display = index;
        self
    }

    /// What the agent can encode (VP9 is implied).
    #[must_use]
    pub fn encoding(mut self, encoding: SupportedEncoding) -> Self {
        self.info.encoding = Some(encoding);
        self
    }

    /// Feature flags.
    #[must_use]
    pub fn features(mut self, features: Features) -> Self {
        self.info.features = Some(features);
        self
    }

    /// A one-level JSON object such as `{"is_wayland":false}`.
    #[must_use]
    pub fn platform_additions(mut self, json: &str) -> Self {
        json.clone_into(&mut self.info.platform_additions);
        self
    }

    /// The finished `PeerInfo`.
    ///
    /// # Errors
    /// [`ApiMisuse::NoDisplays`], or [`ApiMisuse::InvalidConfig`] for a current display out
    /// of range or an empty version.
    pub fn build(self) -> Result<PeerInfo, Error> {
        let info = self.info;
        if info.displays.is_empty() {
            return Err(ApiMisuse::NoDisplays.into());
        }
        let count = info.displays.len();
        if usize::try_from(info.current_display).map_or(true, |i| i >= count) {
            return Err(ApiMisuse::InvalidConfig("current display out of range").into());
        }
        if info.version.is_empty() {
            return Err(ApiMisuse::InvalidConfig("PeerInfo.version must not be empty").into());
        }
        Ok(info)
    }
}

#[cfg(test)]
mod tests;
