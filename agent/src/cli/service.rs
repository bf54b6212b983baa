//! `deskcast service install|uninstall|status`: the systemd user service, from the command line.
//! The work is in [`crate::service::unit`]; this module parses options and words the reports.

use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::service::unit::{
    self, InstallOptions, InstallReport, Level, Manager, UNIT_NAME, UninstallReport, UserEnv,
    Written,
};

/// Options of `deskcast service`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub action: Action,
}

/// `deskcast service` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
#[non_exhaustive]
pub enum Action {
    /// Write the systemd user unit for this binary, enable it and start it.
    Install {
        /// The X display the service streams (default: $DISPLAY, else :0).
        #[arg(long)]
        display: Option<String>,
        /// Only write and enable the unit; do not ask systemd to start it now.
        #[arg(long)]
        no_start: bool,
        /// The binary the unit runs (default: this one).
        #[arg(long, value_name = "PATH")]
        exe: Option<PathBuf>,
    },
    /// Stop and disable the service and remove its unit.
    Uninstall,
    /// Show whether the unit is installed, enabled and running, and whether it starts at boot.
    Status,
}

/// Runs the subcommand for this process's user; the exit code is non-zero when `status` finds
/// something broken.
pub fn run(args: Args, out: &mut dyn Write) -> Result<ExitCode, unit::Error> {
    let env = UserEnv::from_process()?;
    let text = match args.action {
        Action::Install {
            display,
            no_start,
            exe,
        } => {
            let exe = match exe {
                Some(exe) => exe,
                None => std::env::current_exe().map_err(|source| unit::Error::Io {
                    action: "finding",
                    path: PathBuf::from("this program"),
                    source,
                })?,
            };
            let display = display
                .or_else(|| std::env::var("DISPLAY").ok().filter(|d| !d.is_empty()))
                .unwrap_or_else(|| ":0".to_owned());
            let opts = InstallOptions {
                exe,
                display,
                start: !no_start,
            };
            install_text(&unit::install(&env, &opts)?)
        }
        Action::Uninstall => uninstall_text(&unit::uninstall(&env)?),
        Action::Status => {
            let status = unit::status(&env);
            write_out(out, &status.render())?;
            let broken = status.checks().iter().any(|c| c.level == Level::Fail);
            return Ok(if broken {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            });
        }
    };
    write_out(out, &text)?;
    Ok(ExitCode::SUCCESS)
}

fn write_out(out: &mut dyn Write, text: &str) -> Result<(), unit::Error> {
    out.write_all(text.as_bytes())
        .map_err(|source| unit::Error::Io {
            action: "writing",
            path: PathBuf::from("standard output"),
            source,
        })
}

/// The install report in words, with the commands left to run.
pub fn install_text(r: &InstallReport) -> String {
    let mut out = String::new();
    let how = match r.written {
        Written::Created => "created",
        Written::Updated => "updated",
        Written::Unchanged => "unchanged",
    };
    let _ = writeln!(out, "Unit {} ({how}).", r.unit_path.display());
    match &r.manager {
        Manager::Done => {
            let _ = writeln!(out, "Enabled and started {UNIT_NAME}.");
        }
        other => {
            if let Manager::Unreachable(why) = other {
                let _ = writeln!(out, "Could not reach your systemd user manager: {why}");
            }
            if r.enabled {
                let _ = writeln!(
                    out,
                    "The unit is enabled (default.target.wants), so it starts with your user \
                     manager."
                );
            }
            let _ = writeln!(
                out,
                "To start it now, run in a login session of {}:\n    \
                 systemctl --user daemon-reload\n    \
                 systemctl --user enable --now {UNIT_NAME}",
                r.user
            );
        }
    }
    if !r.lingering {
        let _ = writeln!(
            out,
            "Your user manager runs only while {user} is logged in. To start deskcast at boot \
             without a login, let it linger (as root, or as {user} where polkit allows):\n    \
             loginctl enable-linger {user}",
            user = r.user
        );
    }
    out
}

/// The uninstall report in words.
pub fn uninstall_text(r: &UninstallReport) -> String {
    let mut out = String::new();
    let _ = if r.removed {
        writeln!(out, "Removed {}.", r.unit_path.display())
    } else {
        writeln!(out, "{} was not installed.", r.unit_path.display())
    };
    if let Manager::Unreachable(why) = &r.manager {
        let _ = writeln!(
            out,
            "Could not reach your systemd user manager ({why}); if the service still runs, \
             stop it in a login session with:\n    systemctl --user stop {UNIT_NAME}"
        );
    }
    out
}
