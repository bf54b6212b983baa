//! The systemd user unit (`dist/deskcast.service`): installing it with the real binary path,
//! enabling and starting it through `systemctl --user`, removing it, and reporting its state.
//!
//! Everything that depends on the user's session comes in as a [`UserEnv`] value. Where the user's
//! service manager cannot be reached (inside a container image build, or with systemd not
//! running), installation still writes the unit and enables it the way `systemctl enable` would,
//! with the `default.target.wants` link, so that it starts with the user's manager; the report
//! says which commands are left to run.
//!
//! [`ServiceStatus`] is plain data with [`ServiceStatus::checks`], so `deskcast doctor` can reuse
//! the same checks.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

mod status;

pub use status::{Check, Level, Probe, ServiceStatus, status};

/// The unit's file name.
pub const UNIT_NAME: &str = "deskcast.service";

/// The unit as shipped, with `ExecStart=%h/.local/bin/deskcast run` and `DISPLAY=:0`.
pub const UNIT_TEMPLATE: &str = include_str!("../../../dist/deskcast.service");

const TEMPLATE_EXEC: &str = "ExecStart=%h/.local/bin/deskcast run";
const TEMPLATE_DISPLAY: &str = "Environment=DISPLAY=:0";

/// The user's session as it matters to systemd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserEnv {
    /// The user's name (for `loginctl enable-linger`).
    pub user: String,
    /// `$HOME`.
    pub home: PathBuf,
    /// `$XDG_CONFIG_HOME`, if set.
    pub config_home: Option<PathBuf>,
    /// `$XDG_RUNTIME_DIR`, which `systemctl --user` needs to find the manager.
    pub runtime_dir: Option<PathBuf>,
    /// `$DBUS_SESSION_BUS_ADDRESS`, another way `systemctl --user` finds it.
    pub session_bus: Option<OsString>,
    /// `$PATH`, to find `systemctl`.
    pub path: Option<OsString>,
    /// Where logind keeps one file per lingering user (`/var/lib/systemd/linger`).
    pub linger_dir: PathBuf,
}

impl UserEnv {
    /// This process's user and environment.
    pub fn from_process() -> Result<Self, Error> {
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .ok_or(Error::NoHome)?;
        let user = std::env::var("USER")
            .ok()
            .filter(|u| !u.is_empty())
            .or_else(|| {
                nix::unistd::User::from_uid(nix::unistd::getuid())
                    .ok()
                    .flatten()
                    .map(|u| u.name)
            })
            .unwrap_or_else(|| nix::unistd::getuid().to_string());
        let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
        Ok(Self {
            user,
            home,
            config_home: var("XDG_CONFIG_HOME").map(PathBuf::from),
            runtime_dir: var("XDG_RUNTIME_DIR").map(PathBuf::from),
            session_bus: var("DBUS_SESSION_BUS_ADDRESS"),
            path: var("PATH"),
            linger_dir: PathBuf::from("/var/lib/systemd/linger"),
        })
    }

    /// `$XDG_CONFIG_HOME/systemd/user` (or `~/.config/systemd/user`).
    pub fn unit_dir(&self) -> PathBuf {
        self.config_home
            .clone()
            .unwrap_or_else(|| self.home.join(".config"))
            .join("systemd/user")
    }

    /// Where the unit goes.
    pub fn unit_path(&self) -> PathBuf {
        self.unit_dir().join(UNIT_NAME)
    }

    /// The link `systemctl enable` makes for `WantedBy=default.target`.
    pub fn wants_link(&self) -> PathBuf {
        self.unit_dir().join("default.target.wants").join(UNIT_NAME)
    }

    /// Whether logind starts this user's manager at boot.
    pub fn lingering(&self) -> bool {
        self.linger_dir.join(&self.user).exists()
    }

    /// `systemctl --user ARGS` with only this value's session variables.
    fn systemctl(&self, args: &[&str]) -> Result<String, String> {
        let mut cmd = Command::new("systemctl");
        cmd.arg("--user").args(args).env_clear();
        cmd.env("HOME", &self.home).env("USER", &self.user);
        for (name, value) in [
            ("PATH", self.path.clone()),
            (
                "XDG_RUNTIME_DIR",
                self.runtime_dir.clone().map(OsString::from),
            ),
            ("DBUS_SESSION_BUS_ADDRESS", self.session_bus.clone()),
        ] {
            if let Some(value) = value {
                cmd.env(name, value);
            }
        }
        let output = cmd
            .output()
            .map_err(|e| format!("cannot run systemctl: {e}"))?;
        let stdout = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        if output.status.success() {
            return Ok(stdout);
        }
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        Err(if stderr.is_empty() { stdout } else { stderr })
    }
}

/// What went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `$HOME` is not set.
    #[error("HOME is not set, so there is no place for a user unit")]
    NoHome,
    /// The binary's path cannot be written in a unit's `ExecStart=`.
    #[error("cannot name {} in ExecStart=: {why}", path.display())]
    BadExecutable {
        /// The path.
        path: PathBuf,
        /// Why not.
        why: &'static str,
    },
    /// The shipped unit lacks a line install rewrites (a bug in this build).
    #[error("the built-in unit has no `{0}` line")]
    Template(&'static str),
    /// A file could not be read or written.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

/// The unit text for `exe` (absolute) and the X display.
pub fn render_unit(exe: &Path, display: &str) -> Result<String, Error> {
    let bad = |why| Error::BadExecutable {
        path: exe.to_owned(),
        why,
    };
    let text = exe.to_str().ok_or_else(|| bad("not UTF-8"))?;
    if !exe.is_absolute() {
        return Err(bad("not an absolute path"));
    }
    if text
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || "\"'\\".contains(c))
    {
        return Err(bad(
            "it has spaces, quotes or backslashes; install it elsewhere",
        ));
    }
    if display.is_empty() || display.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::BadExecutable {
            path: PathBuf::from(display),
            why: "the display name has spaces or is empty",
        });
    }
    let exec = format!("ExecStart={} run", text.replace('%', "%%"));
    let display_line = format!("Environment=DISPLAY={}", display.replace('%', "%%"));
    let mut out = String::new();
    let (mut saw_exec, mut saw_display) = (false, false);
    for line in UNIT_TEMPLATE.lines() {
        let line = if line == TEMPLATE_EXEC {
            saw_exec = true;
            exec.as_str()
        } else if line == TEMPLATE_DISPLAY {
            saw_display = true;
            display_line.as_str()
        } else {
            line
        };
        let _ = writeln!(out, "{line}");
    }
    match (saw_exec, saw_display) {
        (false, _) => Err(Error::Template(TEMPLATE_EXEC)),
        (_, false) => Err(Error::Template(TEMPLATE_DISPLAY)),
        _ => Ok(out),
    }
}

/// Options of `service install`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallOptions {
    /// The binary the unit runs.
    pub exe: PathBuf,
    /// The X display.
    pub display: String,
    /// Whether to enable and start it now (else only write and enable by link).
    pub start: bool,
}

/// How the unit file was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Written {
    /// It did not exist.
    Created,
    /// It existed with the same text.
    Unchanged,
    /// It existed with other text and was replaced.
    Updated,
}

/// What `systemctl --user` made of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Manager {
    /// It did what was asked.
    Done,
    /// Not asked (`--no-start`).
    Skipped,
    /// It could not be reached or refused; the text says why.
    Unreachable(String),
}

/// The result of `service install`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallReport {
    /// The unit file.
    pub unit_path: PathBuf,
    /// How it was written.
    pub written: Written,
    /// Whether the `default.target.wants` link exists now.
    pub enabled: bool,
    /// The reload, enable and start through the manager.
    pub manager: Manager,
    /// Whether the user lingers (the manager starts at boot).
    pub lingering: bool,
    /// The user.
    pub user: String,
}

/// Writes the unit, enables it and (unless told not to) starts it.
pub fn install(env: &UserEnv, opts: &InstallOptions) -> Result<InstallReport, Error> {
    let text = render_unit(&opts.exe, &opts.display)?;
    let unit_path = env.unit_path();
    let written = match fs::read_to_string(&unit_path) {
        Ok(old) if old == text => Written::Unchanged,
        Ok(_) => Written::Updated,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Written::Created,
        Err(e) => return Err(io_error("reading", &unit_path, e)),
    };
    if written != Written::Unchanged {
        write_file(&unit_path, &text)?;
    }
    let manager = if opts.start {
        env.systemctl(&["daemon-reload"])
            .and_then(|_| env.systemctl(&["enable", "--now", UNIT_NAME]))
            .map_or_else(Manager::Unreachable, |_| Manager::Done)
    } else {
        Manager::Skipped
    };
    if manager != Manager::Done {
        link_wants(env)?;
    }
    Ok(InstallReport {
        unit_path,
        written,
        enabled: env.wants_link().symlink_metadata().is_ok(),
        manager,
        lingering: env.lingering(),
        user: env.user.clone(),
    })
}

/// The result of `service uninstall`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UninstallReport {
    /// The unit file.
    pub unit_path: PathBuf,
    /// Whether a unit file was there to remove.
    pub removed: bool,
    /// The stop, disable and reload through the manager.
    pub manager: Manager,
}

/// Stops and disables the service, removes the unit and its link, and reloads the manager.
pub fn uninstall(env: &UserEnv) -> Result<UninstallReport, Error> {
    let manager = env
        .systemctl(&["disable", "--now", UNIT_NAME])
        .map_or_else(Manager::Unreachable, |_| Manager::Done);
    let link = env.wants_link();
    if link.symlink_metadata().is_ok() {
        fs::remove_file(&link).map_err(|e| io_error("removing", &link, e))?;
    }
    let unit_path = env.unit_path();
    let removed = match fs::remove_file(&unit_path) {
        Ok(()) => true,
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => return Err(io_error("removing", &unit_path, e)),
    };
    let manager = match manager {
        Manager::Done => env
            .systemctl(&["daemon-reload"])
            .map_or_else(Manager::Unreachable, |_| Manager::Done),
        other => other,
    };
    Ok(UninstallReport {
        unit_path,
        removed,
        manager,
    })
}

/// `default.target.wants/deskcast.service → ../deskcast.service`, as `systemctl enable` makes it.
fn link_wants(env: &UserEnv) -> Result<(), Error> {
    let link = env.wants_link();
    if link.symlink_metadata().is_ok() {
        return Ok(());
    }
    let dir = link.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| io_error("creating", dir, e))?;
    std::os::unix::fs::symlink(Path::new("..").join(UNIT_NAME), &link)
        .map_err(|e| io_error("linking", &link, e))
}

fn write_file(path: &Path, text: &str) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| io_error("creating", dir, e))?;
    let tmp = path.with_extension("service.tmp");
    fs::write(&tmp, text)
        .and_then(|()| fs::rename(&tmp, path))
        .map_err(|e| io_error("writing", path, e))
}

fn io_error(action: &'static str, path: &Path, source: io::Error) -> Error {
    Error::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests;
