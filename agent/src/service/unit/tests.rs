//! The unit file against `systemd-analyze verify` (which exits 0 even on bad keys, so its
//! warnings are what counts), and install, status and uninstall in a temporary home with the
//! real `systemctl`, which cannot reach a user manager here (no systemd as PID 1, and the tests
//! give it an empty runtime directory), so the offline path is what runs.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{
    InstallOptions, Level, Manager, Probe, UNIT_NAME, UNIT_TEMPLATE, UserEnv, Written, install,
    render_unit, status, uninstall,
};
use crate::cli::service::{install_text, uninstall_text};

struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Self {
        let home = Self {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        let runtime = home.path().join("run");
        fs::create_dir_all(&runtime).expect("mkdir");
        fs::set_permissions(&runtime, fs::Permissions::from_mode(0o700)).expect("chmod");
        fs::create_dir_all(home.path().join("linger")).expect("mkdir");
        home
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn env(&self) -> UserEnv {
        UserEnv {
            user: "alice".to_owned(),
            home: self.path().to_owned(),
            config_home: Some(self.path().join("config")),
            runtime_dir: Some(self.path().join("run")),
            session_bus: None,
            path: std::env::var_os("PATH"),
            linger_dir: self.path().join("linger"),
        }
    }

    /// An executable at `rel` below the home.
    fn executable(&self, rel: &str) -> PathBuf {
        let path = self.path().join(rel);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(&path, "#!/bin/sh\nexit 0\n").expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod");
        path
    }

    /// `systemd-analyze --user verify FILE` with this home; returns its standard error.
    fn verify(&self, unit: &Path) -> String {
        deskcast_testkit::require_tool("systemd-analyze", "systemd");
        let output = Command::new("systemd-analyze")
            .args(["--user", "verify"])
            .arg(unit)
            .env_clear()
            .env("HOME", self.path())
            .env("XDG_RUNTIME_DIR", self.path().join("run"))
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .output()
            .expect("systemd-analyze");
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "verify failed: {stderr}");
        stderr
    }
}

fn options(exe: PathBuf) -> InstallOptions {
    InstallOptions {
        exe,
        display: ":1".to_owned(),
        start: true,
    }
}

#[test]
fn the_shipped_unit_passes_systemd_analyze_verify_without_a_warning() {
    let home = Home::new();
    // The shipped ExecStart is %h/.local/bin/deskcast; verify checks that it is executable.
    home.executable(".local/bin/deskcast");
    let unit = home.path().join(UNIT_NAME);
    fs::write(&unit, UNIT_TEMPLATE).expect("write");
    assert_eq!(home.verify(&unit), "");
    for line in [
        "Type=notify",
        "NotifyAccess=main",
        "WatchdogSec=30s",
        "Restart=on-failure",
        "NoNewPrivileges=yes",
        "WantedBy=default.target",
    ] {
        assert!(UNIT_TEMPLATE.lines().any(|l| l == line), "missing {line}");
    }
}

#[test]
fn verify_reports_a_bad_key_so_the_check_above_can_fail() {
    let home = Home::new();
    home.executable(".local/bin/deskcast");
    let unit = home.path().join(UNIT_NAME);
    let broken = UNIT_TEMPLATE.replace("Restart=on-failure", "Restart=sometimes\nWatchDogSec=5");
    fs::write(&unit, broken).expect("write");
    let warnings = home.verify(&unit);
    assert!(warnings.contains("sometimes"), "{warnings}");
    assert!(warnings.contains("WatchDogSec"), "{warnings}");
}

#[test]
fn install_writes_a_verified_unit_for_the_binary_and_enables_it_offline() {
    let home = Home::new();
    let exe = home.executable("opt/deskcast/bin/deskcast");
    let env = home.env();
    let report = install(&env, &options(exe.clone())).expect("install");
    assert_eq!(
        report.unit_path,
        home.path().join("config/systemd/user/deskcast.service")
    );
    assert_eq!(report.written, Written::Created);
    let Manager::Unreachable(why) = &report.manager else {
        panic!(
            "systemctl --user cannot work here, yet: {:?}",
            report.manager
        );
    };
    assert!(!why.is_empty());
    assert!(report.enabled);
    assert!(!report.lingering);

    let text = fs::read_to_string(&report.unit_path).expect("unit");
    assert!(
        text.lines()
            .any(|l| l == format!("ExecStart={} run", exe.display()))
    );
    assert!(text.lines().any(|l| l == "Environment=DISPLAY=:1"));
    assert!(!text.contains("%h/.local/bin"));
    assert_eq!(home.verify(&report.unit_path), "");
    // The link is the one `systemctl enable` makes, and it leads to the unit.
    let link = env.wants_link();
    assert_eq!(
        fs::read_link(&link).expect("link"),
        Path::new("..").join(UNIT_NAME)
    );
    assert_eq!(fs::read_to_string(&link).expect("through the link"), text);

    let words = install_text(&report);
    for needle in [
        "systemctl --user daemon-reload",
        "systemctl --user enable --now deskcast.service",
        "loginctl enable-linger alice",
    ] {
        assert!(words.contains(needle), "{needle} missing from:\n{words}");
    }

    let again = install(&env, &options(exe.clone())).expect("install again");
    assert_eq!(again.written, Written::Unchanged);
    let other_display = InstallOptions {
        display: ":7".to_owned(),
        ..options(exe)
    };
    assert_eq!(
        install(&env, &other_display).expect("install").written,
        Written::Updated
    );
}

#[test]
fn status_reports_each_part_as_data_and_checks() {
    let home = Home::new();
    let env = home.env();
    let before = status(&env);
    assert!(!before.installed);
    let checks = before.checks();
    assert_eq!(checks.len(), 1);
    assert_eq!((checks[0].name, checks[0].level), ("unit", Level::Fail));
    assert_eq!(checks[0].fix.as_deref(), Some("deskcast service install"));

    let exe = home.executable("bin/deskcast");
    install(&env, &options(exe.clone())).expect("install");
    let after = status(&env);
    assert!(after.installed && after.enabled && after.exec_ok && !after.lingering);
    assert_eq!(after.exec.as_deref(), Some(exe.as_path()));
    assert!(
        matches!(after.active, Probe::Unknown(_)),
        "{:?}",
        after.active
    );
    let levels: Vec<_> = after.checks().iter().map(|c| (c.name, c.level)).collect();
    assert_eq!(
        levels,
        [
            ("unit", Level::Ok),
            ("binary", Level::Ok),
            ("enabled", Level::Ok),
            ("running", Level::Warn),
            ("linger", Level::Warn),
        ]
    );
    assert!(after.render().contains("fix: loginctl enable-linger alice"));

    fs::write(home.path().join("linger/alice"), "").expect("linger");
    fs::remove_file(&exe).expect("remove the binary");
    let checks = status(&env).checks();
    let level = |name| checks.iter().find(|c| c.name == name).map(|c| c.level);
    assert_eq!(level("linger"), Some(Level::Ok));
    assert_eq!(level("binary"), Some(Level::Fail));
}

#[test]
fn uninstall_removes_the_unit_and_its_link() {
    let home = Home::new();
    let env = home.env();
    install(&env, &options(home.executable("bin/deskcast"))).expect("install");
    let report = uninstall(&env).expect("uninstall");
    assert!(report.removed);
    assert!(matches!(report.manager, Manager::Unreachable(_)));
    assert!(uninstall_text(&report).contains("systemctl --user stop deskcast.service"));
    assert!(!env.unit_path().exists());
    assert!(env.wants_link().symlink_metadata().is_err());
    assert!(!status(&env).enabled);
    assert!(!uninstall(&env).expect("again").removed);
}

#[test]
fn render_unit_escapes_percent_and_refuses_paths_systemd_would_split() {
    let text = render_unit(Path::new("/opt/100%/deskcast"), ":0").expect("render");
    assert!(
        text.lines()
            .any(|l| l == "ExecStart=/opt/100%%/deskcast run")
    );
    for bad in ["deskcast", "/opt/my apps/deskcast", "/opt/\"x\"/deskcast"] {
        assert!(render_unit(Path::new(bad), ":0").is_err(), "{bad}");
    }
    assert!(render_unit(Path::new("/usr/bin/deskcast"), "").is_err());
}
