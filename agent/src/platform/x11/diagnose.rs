//! What `deskcast doctor` needs to know about the X server: which extensions it has, which
//! capture path works (and why the better ones do not), whether input injection works.

use x11rb::connection::RequestConnection as _;

use super::capture::{CaptureConfig, Capturer, PathChoice};
use super::connection::{ConnectOptions, Connection};
use super::error::{Context as _, Error};
use super::input::Injector;

/// The extensions deskcast uses, with what it uses each one for.
pub const EXTENSIONS: &[(&str, &str)] = &[
    (
        "MIT-SHM",
        "shared-memory capture (without it every frame is copied through the socket)",
    ),
    ("DAMAGE", "capturing only when the screen changes"),
    (
        "XFIXES",
        "damage regions, cursor shapes and clipboard changes",
    ),
    ("XTEST", "keyboard and mouse input from viewers"),
    ("RANDR", "monitors and resolution changes"),
];

/// What the X server offers.
#[derive(Debug)]
#[non_exhaustive]
pub struct Diagnosis {
    /// The display name connected to.
    pub display: String,
    /// Each of [`EXTENSIONS`] and whether the server has it.
    pub extensions: Vec<(&'static str, bool)>,
    /// The capture path a capturer chose, or why capture cannot work.
    pub capture: Result<PathChoice, Error>,
    /// Whether an input injector could be made.
    pub input: Result<(), Error>,
}

/// Connects and looks; fails only when the X server cannot be reached at all.
pub fn diagnose(options: &ConnectOptions) -> Result<Diagnosis, Error> {
    let x = Connection::open(options)?;
    let mut extensions = Vec::new();
    for (name, _) in EXTENSIONS {
        let present = x
            .conn
            .extension_information(name)
            .ctx("QueryExtension")?
            .is_some();
        extensions.push((*name, present));
    }
    let display = options
        .display
        .clone()
        .or_else(|| std::env::var("DISPLAY").ok())
        .unwrap_or_default();
    drop(x);
    let capture = Capturer::new(options, CaptureConfig::default()).map(|c| c.path().clone());
    let input = Injector::new(options).map(drop);
    Ok(Diagnosis {
        display,
        extensions,
        capture,
        input,
    })
}
