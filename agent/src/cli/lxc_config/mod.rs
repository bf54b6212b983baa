//! `deskcast lxc-config`, run on the Proxmox host: reads the real device nodes (NVIDIA GPUs and
//! their control devices, DRI, sound, input) and prints the `lxc.cgroup2.devices.allow` and
//! `lxc.mount.entry` lines a container needs, plus the ID map an unprivileged one needs; with
//! `--apply CTID` it adds the missing ones to `/etc/pve/lxc/CTID.conf` after a backup.
//!
//! The work is split so each part is testable on a fake tree: [`devices`] reads nodes, sysfs and
//! procfs under [`Roots`]; `plan` turns them and a [`Selection`] into lines; `apply` edits the
//! configuration text. [`execute`] ties them together with the caller's identity and clock passed
//! in as a [`Context`].

pub mod devices;
pub mod idmap;
pub mod plan;

mod apply;

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

pub use devices::{Host, Roots};
pub use plan::{HostIds, Plan, Selection, Syntax};

/// Options of `deskcast lxc-config`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// GPUs to pass through, by the number in /dev/nvidiaN (nvidia-smi's "Minor Number"),
    /// comma-separated; default: all.
    #[arg(long, value_delimiter = ',', value_name = "N,...")]
    pub gpu: Vec<u32>,
    /// Also pass the DRI card and render nodes of the chosen GPUs (/dev/dri).
    #[arg(long)]
    pub dri: bool,
    /// Also pass the sound devices (/dev/snd).
    #[arg(long)]
    pub sound: bool,
    /// Also pass the input devices (/dev/input, /dev/uinput).
    #[arg(long)]
    pub input: bool,
    /// The container is unprivileged: add the group notes and lxc.idmap lines it needs.
    #[arg(long)]
    pub unprivileged: bool,
    /// Add the missing lines to /etc/pve/lxc/CTID.conf (after a backup) and show the diff.
    #[arg(long, value_name = "CTID")]
    pub apply: Option<u32>,
    /// Line syntax of the printed output: Proxmox (`key: value`) or plain LXC (`key = value`).
    #[arg(long, value_enum, default_value_t = Syntax::Pve, conflicts_with = "apply")]
    pub syntax: Syntax,
    /// Where the device nodes are.
    #[arg(long, default_value = "/dev", value_name = "DIR")]
    pub dev_root: PathBuf,
    /// Where sysfs is (which PCI device a DRI node belongs to).
    #[arg(long, default_value = "/sys", value_name = "DIR")]
    pub sys_root: PathBuf,
    /// Where procfs is (the NVIDIA driver's GPU list).
    #[arg(long, default_value = "/proc", value_name = "DIR")]
    pub proc_root: PathBuf,
    /// Where the host's group, subuid and subgid files are.
    #[arg(long, default_value = "/etc", value_name = "DIR")]
    pub etc_root: PathBuf,
    /// Where Proxmox's cluster configuration is (containers in lxc/CTID.conf).
    #[arg(long, default_value = "/etc/pve", value_name = "DIR")]
    pub pve_root: PathBuf,
}

/// What to do, as values.
#[derive(Debug, Clone)]
pub struct Request {
    /// The devices wanted.
    pub selection: Selection,
    /// The printed syntax (ignored with `apply`, which writes Proxmox's).
    pub syntax: Syntax,
    /// The container whose configuration to edit.
    pub apply: Option<u32>,
    /// The host trees to read.
    pub roots: Roots,
    /// Proxmox's configuration root.
    pub pve_root: PathBuf,
}

impl From<Args> for Request {
    fn from(a: Args) -> Self {
        Self {
            selection: Selection {
                gpus: a.gpu,
                dri: a.dri,
                sound: a.sound,
                input: a.input,
                unprivileged: a.unprivileged,
            },
            syntax: a.syntax,
            apply: a.apply,
            roots: Roots {
                dev: a.dev_root,
                sys: a.sys_root,
                proc: a.proc_root,
                etc: a.etc_root,
            },
            pve_root: a.pve_root,
        }
    }
}

/// The caller's identity and clock.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    /// The effective user ID.
    pub euid: u32,
    /// Now, for the backup's name.
    pub now: SystemTime,
}

/// What [`execute`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The configuration was changed.
    Applied {
        /// The configuration file.
        config: PathBuf,
        /// The copy of it from before.
        backup: PathBuf,
        /// The lines added.
        added: Vec<String>,
    },
    /// The lines were printed.
    Printed,
    /// The configuration already had every line.
    Unchanged {
        /// The configuration file.
        config: PathBuf,
    },
}

/// What went wrong, by whose fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The host's environment: no NVIDIA nodes.
    #[error(
        "no NVIDIA GPU device nodes (/dev/nvidia0, ...) on this host: is the NVIDIA driver \
         installed and loaded? (`nvidia-smi` should list the GPUs)"
    )]
    NoNvidiaDevices,
    /// The user asked for a GPU the host does not have.
    #[error("GPU {wanted} is not on this host; it has GPU {present} (numbers as in /dev/nvidiaN)")]
    GpuNotPresent {
        /// The GPU asked for.
        wanted: u32,
        /// The GPUs present.
        present: String,
    },
    /// `--apply` names a container without a configuration.
    #[error("{} does not exist: is {ctid} the container's ID? (`pct list`)", path.display())]
    ConfigMissing {
        /// The container.
        ctid: u32,
        /// The file looked for.
        path: PathBuf,
    },
    /// `--apply` needs root.
    #[error("--apply edits {}, which only root may do: run it as root", path.display())]
    NotRoot {
        /// The file to edit.
        path: PathBuf,
    },
    /// `--unprivileged` for a privileged container.
    #[error(
        "--unprivileged was given, but container {ctid} is privileged (its configuration has no \
         `unprivileged: 1`); leave the option out"
    )]
    PrivilegeMismatch {
        /// The container.
        ctid: u32,
    },
    /// Reading or writing a file failed.
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

/// Runs `deskcast lxc-config` as the current user, now, writing its report to `out`.
pub fn run(args: Args, out: &mut dyn Write) -> Result<Outcome, Error> {
    let context = Context {
        euid: nix::unistd::geteuid().as_raw(),
        now: SystemTime::now(),
    };
    execute(&Request::from(args), &context, out)
}

/// Reads the host, prints the lines and, when asked, applies them.
pub fn execute(req: &Request, ctx: &Context, out: &mut dyn Write) -> Result<Outcome, Error> {
    let Some(ctid) = req.apply else {
        let plan = plan(req, &req.selection)?;
        write_out(out, &plan.render(req.syntax))?;
        return Ok(Outcome::Printed);
    };
    let config_path = req.pve_root.join("lxc").join(format!("{ctid}.conf"));
    if ctx.euid != 0 {
        return Err(Error::NotRoot { path: config_path });
    }
    let old = match fs::read_to_string(&config_path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Error::ConfigMissing {
                ctid,
                path: config_path,
            });
        }
        Err(source) => return Err(io_error("reading", &config_path, source)),
    };
    let unprivileged = apply::is_unprivileged(&old);
    if req.selection.unprivileged && !unprivileged {
        return Err(Error::PrivilegeMismatch { ctid });
    }
    let selection = Selection {
        unprivileged,
        ..req.selection.clone()
    };
    let plan = plan(req, &selection)?;
    write_out(out, &plan.render(Syntax::Pve))?;
    let wanted: Vec<_> = plan.lines().collect();
    let edit = apply::plan_edit(&old, &wanted);
    let mut report = String::from("\n");
    for note in &edit.notes {
        report.push_str(&format!("Note: {note}\n"));
    }
    if edit.added.is_empty() {
        report.push_str(&format!(
            "{} already has every line; nothing changed.\n",
            config_path.display()
        ));
        write_out(out, &report)?;
        return Ok(Outcome::Unchanged {
            config: config_path,
        });
    }
    let backup = write_backup(&config_path, &old, ctx.now)?;
    replace(&config_path, &edit.text)?;
    let label = config_path.display().to_string();
    report.push_str(&apply::unified_diff(&old, &edit, &label, &label));
    report.push_str(&format!(
        "Added {} line(s) to {label}; the old version is in {}.\n",
        edit.added.len(),
        backup.display()
    ));
    if !plan.missing_subgid.is_empty() && edit.added.iter().any(|l| l.starts_with("lxc.idmap")) {
        report.push_str(
            "Before restarting, let root map the passed-through groups, or the container will \
             not start; add to /etc/subgid:\n",
        );
        for gid in &plan.missing_subgid {
            report.push_str(&format!("    root:{gid}:1\n"));
        }
    }
    report.push_str(&format!(
        "Restart the container to use them: pct reboot {ctid}\n"
    ));
    write_out(out, &report)?;
    Ok(Outcome::Applied {
        config: config_path,
        backup,
        added: edit.added,
    })
}

fn plan(req: &Request, selection: &Selection) -> Result<Plan, Error> {
    let host = Host::scan(&req.roots)?;
    let ids = HostIds {
        groups: idmap::Groups::read(&req.roots.etc),
        subuid: idmap::root_ranges(&req.roots.etc, "subuid"),
        subgid: idmap::root_ranges(&req.roots.etc, "subgid"),
    };
    Plan::build(&host, selection, &ids)
}

/// Copies the old text to `CTID.conf.deskcast-YYYYMMDDTHHMMSSZ.bak` beside it, never overwriting.
fn write_backup(config: &Path, old: &str, now: SystemTime) -> Result<PathBuf, Error> {
    let name = config
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stamp = utc_stamp(now);
    let mut last = config.to_owned();
    for attempt in 0..100 {
        let suffix = if attempt == 0 {
            String::new()
        } else {
            format!("-{attempt}")
        };
        let backup = config.with_file_name(format!("{name}.deskcast-{stamp}{suffix}.bak"));
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&backup)
        {
            Ok(mut file) => {
                file.write_all(old.as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(|e| io_error("writing the backup", &backup, e))?;
                return Ok(backup);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = backup,
            Err(e) => return Err(io_error("creating the backup", &backup, e)),
        }
    }
    Err(io_error(
        "creating the backup",
        &last,
        io::Error::from(io::ErrorKind::AlreadyExists),
    ))
}

/// Writes `text` to a temporary file beside `path` and renames it over `path`, keeping the mode.
fn replace(path: &Path, text: &str) -> Result<(), Error> {
    let mode = fs::metadata(path)
        .map(|m| m.permissions().mode())
        .map_err(|e| io_error("reading", path, e))?;
    let tmp = path.with_extension(format!("conf.deskcast-tmp.{}", std::process::id()));
    let write = || -> io::Result<()> {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io_error("writing", path, e)
    })
}

fn write_out(out: &mut dyn Write, text: &str) -> Result<(), Error> {
    out.write_all(text.as_bytes())
        .map_err(|e| io_error("writing", Path::new("standard output"), e))
}

fn io_error(action: &'static str, path: &Path, source: io::Error) -> Error {
    Error::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// `YYYYMMDDTHHMMSSZ` in UTC.
pub fn utc_stamp(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm, in the proleptic
    // Gregorian calendar).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests;
