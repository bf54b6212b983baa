//! `deskcast service status`: whether the unit is installed, its binary present, enabled, running,
//! and whether the user lingers; as data, as checks with one-line fixes, and as text.

use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use super::{UNIT_NAME, UserEnv};

/// An answer that may be unavailable.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Probe {
    /// The manager's answer, e.g. `active`, `inactive`, `failed`.
    Known(String),
    /// The manager could not be asked; the text says why.
    Unknown(String),
}

/// The service's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceStatus {
    /// The user.
    pub user: String,
    /// Where the unit is (or would be).
    pub unit_path: PathBuf,
    /// Whether the unit file exists.
    pub installed: bool,
    /// The program in the unit's `ExecStart=`.
    pub exec: Option<PathBuf>,
    /// Whether that program exists and is executable.
    pub exec_ok: bool,
    /// Whether the `default.target.wants` link exists.
    pub enabled: bool,
    /// `systemctl --user is-active`.
    pub active: Probe,
    /// Whether the user's manager starts at boot.
    pub lingering: bool,
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Level {
    /// Fine.
    Ok,
    /// Works, but not as well as it could, or unknown.
    Warn,
    /// Broken.
    Fail,
}

impl Level {
    /// The mark `doctor` and `status` print.
    pub fn mark(self) -> &'static str {
        match self {
            Self::Ok => "✅",
            Self::Warn => "⚠️",
            Self::Fail => "❌",
        }
    }
}

/// One check with its result and, unless fine, the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Short name, e.g. `enabled`.
    pub name: &'static str,
    /// The outcome.
    pub level: Level,
    /// What was found.
    pub detail: String,
    /// The one-line fix.
    pub fix: Option<String>,
}

/// Reads the unit, the link, the linger flag, and asks the manager whether it runs.
pub fn status(env: &UserEnv) -> ServiceStatus {
    let unit_path = env.unit_path();
    let unit = fs::read_to_string(&unit_path).ok();
    let exec = unit.as_deref().and_then(|u| exec_program(u, env));
    let exec_ok = exec.as_ref().is_some_and(|p| {
        fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    });
    let active = match env.systemctl(&["is-active", UNIT_NAME]) {
        Ok(state) => Probe::Known(state),
        // is-active exits non-zero for every state but "active" and still prints the state.
        Err(text) if is_state_word(&text) => Probe::Known(text),
        Err(text) => Probe::Unknown(text),
    };
    ServiceStatus {
        user: env.user.clone(),
        installed: unit.is_some(),
        unit_path,
        exec,
        exec_ok,
        enabled: env.wants_link().symlink_metadata().is_ok(),
        active,
        lingering: env.lingering(),
    }
}

impl ServiceStatus {
    /// The checks, in order: unit, binary, enabled, running, linger.
    pub fn checks(&self) -> Vec<Check> {
        let check = |name, level, detail: String, fix: Option<&str>| Check {
            name,
            level,
            detail,
            fix: fix.map(str::to_owned),
        };
        let unit = self.unit_path.display();
        if !self.installed {
            return vec![check(
                "unit",
                Level::Fail,
                format!("{unit} does not exist"),
                Some("deskcast service install"),
            )];
        }
        let mut out = vec![check("unit", Level::Ok, format!("{unit}"), None)];
        let program = self
            .exec
            .as_ref()
            .map_or_else(|| "nothing".to_owned(), |p| p.display().to_string());
        out.push(if self.exec_ok {
            check("binary", Level::Ok, program, None)
        } else {
            check(
                "binary",
                Level::Fail,
                format!("ExecStart= runs {program}, which is missing or not executable"),
                Some("run `deskcast service install` with the binary to use"),
            )
        });
        out.push(if self.enabled {
            check(
                "enabled",
                Level::Ok,
                "starts with the user's manager".into(),
                None,
            )
        } else {
            let fix = format!("systemctl --user enable {UNIT_NAME}");
            check("enabled", Level::Warn, "not enabled".into(), Some(&fix))
        });
        out.push(match &self.active {
            Probe::Known(state) if state == "active" => {
                check("running", Level::Ok, "active".into(), None)
            }
            Probe::Known(state) => check(
                "running",
                Level::Fail,
                state.clone(),
                Some("systemctl --user start deskcast; journalctl --user -u deskcast -e"),
            ),
            Probe::Unknown(why) => check(
                "running",
                Level::Warn,
                format!("cannot ask the user's service manager: {why}"),
                Some("log in as the user (or set XDG_RUNTIME_DIR=/run/user/$(id -u)) and retry"),
            ),
        });
        out.push(if self.lingering {
            check("linger", Level::Ok, "starts at boot".into(), None)
        } else {
            let fix = format!("loginctl enable-linger {}", self.user);
            check(
                "linger",
                Level::Warn,
                "starts only while the user is logged in".into(),
                Some(&fix),
            )
        });
        out
    }

    /// The checks as text, one per line, fixes indented below.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for c in self.checks() {
            let _ = writeln!(out, "{} {:<8} {}", c.level.mark(), c.name, c.detail);
            if let Some(fix) = c.fix {
                let _ = writeln!(out, "   fix: {fix}");
            }
        }
        out
    }
}

/// The program `ExecStart=` runs, with `%h` expanded and its `-@:+!` prefixes dropped.
fn exec_program(unit: &str, env: &UserEnv) -> Option<PathBuf> {
    let value = unit
        .lines()
        .find_map(|l| l.trim().strip_prefix("ExecStart="))?
        .trim_start_matches(['-', '@', ':', '+', '!']);
    let program = value.split_whitespace().next()?;
    let home = env.home.to_string_lossy();
    Some(PathBuf::from(
        program.replace("%h", &home).replace("%%", "%"),
    ))
}

/// `is-active` prints one lower-case word such as `inactive` or `failed`.
fn is_state_word(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
}
