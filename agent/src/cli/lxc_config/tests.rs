//! `lxc-config` on fake hosts made of real device nodes (mknod, as root): the printed lines
//! against hand-reviewed golden files, LXC's own parser (liblxc through python3-lxc) on them,
//! `--apply` on a Proxmox configuration with snapshots, and every error.
//!
//! Set `DESKCAST_UPDATE_GOLDEN=1` to rewrite the golden files, then review every changed line.

mod fake;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fake::{FakeHost, Shape};

use super::apply::{plan_edit, unified_diff};
use super::plan::{Key, Line};
use super::{Context, Error, Outcome, Request, Selection, Syntax, execute, utc_stamp};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/lxc-config")
}

/// Compares `actual` with the golden file `name` (or rewrites it when asked to).
fn check_golden(name: &str, actual: &str) {
    let path = golden_dir().join(name);
    if std::env::var_os("DESKCAST_UPDATE_GOLDEN").is_some() {
        fs::create_dir_all(golden_dir()).expect("golden dir");
        fs::write(&path, actual).expect("write golden");
        return;
    }
    let expected = fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with DESKCAST_UPDATE_GOLDEN=1 and review it",
            path.display()
        )
    });
    assert_eq!(
        actual,
        expected,
        "output differs from {} (DESKCAST_UPDATE_GOLDEN=1 rewrites it; review the diff)",
        path.display()
    );
}

fn root_context() -> Context {
    Context {
        euid: 0,
        now: UNIX_EPOCH + Duration::from_secs(1_767_225_600), // 2026-01-01T00:00:00Z
    }
}

/// Runs `lxc-config` without `--apply` and returns what it printed.
fn print(host: &FakeHost, selection: Selection, syntax: Syntax) -> String {
    let mut request = host.request(selection);
    request.syntax = syntax;
    let mut out = Vec::new();
    let outcome = execute(&request, &root_context(), &mut out).expect("lxc-config");
    assert_eq!(outcome, Outcome::Printed);
    String::from_utf8(out).expect("UTF-8")
}

fn gpus(list: &[u32]) -> Selection {
    Selection {
        gpus: list.to_vec(),
        ..Selection::default()
    }
}

/// Each scenario: host shape, selection, syntax, golden file.
fn scenarios() -> Vec<(Shape, Selection, Syntax, &'static str)> {
    let one = Shape {
        gpus: 1,
        ..Shape::default()
    };
    let two = Shape::default();
    let everything = |list: &[u32], unprivileged| Selection {
        gpus: list.to_vec(),
        dri: true,
        sound: true,
        input: true,
        unprivileged,
    };
    vec![
        (one, Selection::default(), Syntax::Pve, "one-gpu.conf"),
        (one, Selection::default(), Syntax::Lxc, "one-gpu.lxc.conf"),
        (
            one,
            Selection {
                unprivileged: true,
                ..Selection::default()
            },
            Syntax::Pve,
            "one-gpu-unprivileged.conf",
        ),
        (two, Selection::default(), Syntax::Pve, "two-gpus.conf"),
        (
            two,
            Selection {
                dri: true,
                ..gpus(&[1])
            },
            Syntax::Pve,
            "two-gpus-gpu1-dri.conf",
        ),
        (
            Shape {
                proc_info: false,
                ..two
            },
            Selection {
                dri: true,
                ..gpus(&[1])
            },
            Syntax::Pve,
            "two-gpus-gpu1-dri-unmapped.conf",
        ),
        (
            two,
            everything(&[], false),
            Syntax::Pve,
            "two-gpus-dri-sound-input.conf",
        ),
        (
            two,
            everything(&[0], true),
            Syntax::Pve,
            "two-gpus-gpu0-all-unprivileged.conf",
        ),
        (
            Shape {
                subgid_passthrough: true,
                ..two
            },
            everything(&[0], true),
            Syntax::Lxc,
            "two-gpus-gpu0-all-unprivileged-subgid.lxc.conf",
        ),
    ]
}

#[test]
fn printed_lines_match_the_reviewed_golden_files() {
    for (shape, selection, syntax, golden) in scenarios() {
        let host = FakeHost::new(shape);
        check_golden(golden, &print(&host, selection, syntax));
    }
}

/// liblxc (the parser `lxc-start` uses) loads every generated file in LXC syntax, and reads back
/// exactly the values written, key by key.
#[test]
fn liblxc_parses_the_generated_lines() {
    let python = Path::new("/usr/bin/python3");
    let probe = Command::new(python).args(["-c", "import lxc"]).status();
    assert!(
        probe.is_ok_and(|s| s.success()),
        "liblxc's Python binding is missing: apt-get install python3-lxc"
    );
    for (shape, selection, _, golden) in scenarios() {
        let host = FakeHost::new(shape);
        let text = print(&host, selection, Syntax::Lxc);
        let config = host.root().join("lxc.conf");
        fs::write(&config, &text).expect("write");
        let script = "import lxc, sys\n\
            c = lxc.Container('probe', sys.argv[2])\n\
            assert c.load_config(sys.argv[1]), 'liblxc rejected the file'\n\
            for key in sys.argv[3:]:\n\
            \x20   v = c.get_config_item(key)\n\
            \x20   for item in (v if isinstance(v, list) else v.splitlines()):\n\
            \x20       print(key + ' = ' + item)\n";
        let output = Command::new(python)
            .args(["-c", script])
            .arg(&config)
            .arg(host.root().join("lxcpath"))
            .args(["lxc.cgroup2.devices.allow", "lxc.mount.entry", "lxc.idmap"])
            .output()
            .expect("python3");
        assert!(
            output.status.success(),
            "{golden}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let mut parsed: Vec<String> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        let mut written: Vec<String> = text
            .lines()
            .filter(|l| l.starts_with("lxc."))
            .map(str::to_owned)
            .collect();
        parsed.sort();
        written.sort();
        assert_eq!(parsed, written, "{golden}: liblxc read back other values");
    }
}

#[test]
fn a_gpu_the_host_lacks_is_an_error_naming_the_ones_it_has() {
    let host = FakeHost::new(Shape::default());
    let err = execute(
        &host.request(gpus(&[0, 2])),
        &root_context(),
        &mut Vec::new(),
    )
    .expect_err("GPU 2 does not exist");
    assert!(
        matches!(&err, Error::GpuNotPresent { wanted: 2, present } if present == "0, 1"),
        "{err:?}"
    );
}

#[test]
fn a_host_without_nvidia_nodes_is_an_error() {
    let host = FakeHost::new(Shape {
        gpus: 0,
        ..Shape::default()
    });
    let err = execute(
        &host.request(Selection::default()),
        &root_context(),
        &mut Vec::new(),
    )
    .expect_err("no NVIDIA nodes");
    assert!(matches!(err, Error::NoNvidiaDevices), "{err:?}");
}

/// A Proxmox container configuration with a description, some GPU lines already present and a
/// snapshot section (which must stay untouched).
const CONFIG_101: &str = "\
#Desktop for the design team
arch: amd64
cores: 8
features: nesting=1
hostname: desk1
memory: 16384
net0: name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,ip=dhcp,type=veth
ostype: debian
parent: before-gpu
rootfs: local-lvm:vm-101-disk-0,size=32G
swap: 512
unprivileged: 1
lxc.cgroup2.devices.allow: c 195:* rwm
lxc.mount.entry: /dev/nvidia0 dev/nvidia0 none bind,optional,create=file

[before-gpu]
arch: amd64
cores: 8
hostname: desk1
memory: 16384
ostype: debian
rootfs: local-lvm:vm-101-disk-0,size=32G
snaptime: 1767000000
swap: 512
unprivileged: 1
";

fn apply_request(host: &FakeHost, ctid: u32) -> Request {
    let mut request = host.request(Selection {
        dri: true,
        sound: true,
        ..gpus(&[0])
    });
    request.apply = Some(ctid);
    request
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn apply_adds_only_missing_lines_keeps_a_backup_and_a_second_run_changes_nothing() {
    let host = FakeHost::new(Shape::default());
    let lxc_dir = host.root().join("pve/lxc");
    let config = lxc_dir.join("101.conf");
    fs::write(&config, CONFIG_101).expect("write");
    let request = apply_request(&host, 101);

    let mut out = Vec::new();
    let outcome = execute(&request, &root_context(), &mut out).expect("apply");
    let Outcome::Applied { backup, added, .. } = outcome else {
        panic!("expected a change, got {outcome:?}");
    };
    let after = fs::read_to_string(&config).expect("read");
    check_golden("apply-101.after.conf", &after);
    // The backup is the old file, named with the injected time.
    assert_eq!(fs::read_to_string(&backup).expect("backup"), CONFIG_101);
    assert_eq!(
        backup.file_name().expect("name"),
        "101.conf.deskcast-20260101T000000Z.bak"
    );
    // Nothing already present (or covered by `c 195:* rwm`) was added again.
    assert!(!added.iter().any(|l| l.contains(" 195:")), "{added:?}");
    assert!(
        !added.iter().any(|l| l.contains("/dev/nvidia0 ")),
        "{added:?}"
    );
    // The main section grew at its end; the snapshot section is byte for byte the same.
    let (old_main, old_snap) = CONFIG_101.split_once("\n[before-gpu]").expect("snapshot");
    let (new_main, new_snap) = after.split_once("\n[before-gpu]").expect("snapshot");
    assert_eq!(old_snap, new_snap);
    assert!(new_main.starts_with(old_main.trim_end()));
    assert!(
        added.iter().any(|l| l.starts_with("lxc.idmap: ")),
        "{added:?}"
    );
    let printed = String::from_utf8(out).expect("UTF-8");
    assert!(
        printed.contains("add to /etc/subgid:\n    root:29:1\n    root:44:1\n    root:104:1\n"),
        "{printed}"
    );
    // The printed diff, applied by patch(1) to the backup, gives the new file.
    let diff_start = printed.find("--- ").expect("a diff");
    let diff_end = printed.find("Added ").expect("a summary");
    let diff = &printed[diff_start..diff_end];
    check_golden(
        "apply-101.diff",
        &diff.replace(&host.root().display().to_string(), "{ROOT}"),
    );
    let patched = host.root().join("patched.conf");
    let patch = Command::new("patch")
        .arg(format!("--output={}", patched.display()))
        .arg(&backup)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(diff.as_bytes())?;
            child.wait()
        })
        .expect("patch (apt-get install patch)");
    assert!(patch.success());
    assert_eq!(fs::read_to_string(&patched).expect("patched"), after);

    let files_before = files_in(&lxc_dir);
    let mut out = Vec::new();
    let later = Context {
        now: root_context().now + Duration::from_secs(60),
        ..root_context()
    };
    let outcome = execute(&request, &later, &mut out).expect("second apply");
    assert!(matches!(outcome, Outcome::Unchanged { .. }), "{outcome:?}");
    assert!(String::from_utf8_lossy(&out).contains("nothing changed"));
    assert_eq!(fs::read_to_string(&config).expect("read"), after);
    assert_eq!(
        files_in(&lxc_dir),
        files_before,
        "no new backup, no stray file"
    );
}

#[test]
fn apply_refuses_without_root_without_a_config_and_for_a_privileged_container() {
    let host = FakeHost::new(Shape::default());
    let config = host.root().join("pve/lxc/102.conf");
    fs::write(&config, "arch: amd64\nhostname: desk2\n").expect("write");

    let user = Context {
        euid: 1000,
        ..root_context()
    };
    let err = execute(&apply_request(&host, 102), &user, &mut Vec::new()).expect_err("not root");
    assert!(matches!(err, Error::NotRoot { .. }), "{err:?}");

    let err = execute(&apply_request(&host, 999), &root_context(), &mut Vec::new())
        .expect_err("no such container");
    assert!(
        matches!(&err, Error::ConfigMissing { ctid: 999, path } if path.ends_with("lxc/999.conf")),
        "{err:?}"
    );

    let mut request = apply_request(&host, 102);
    request.selection.unprivileged = true;
    let err = execute(&request, &root_context(), &mut Vec::new()).expect_err("privileged");
    assert!(
        matches!(err, Error::PrivilegeMismatch { ctid: 102 }),
        "{err:?}"
    );
    assert_eq!(
        fs::read_to_string(&config).expect("read"),
        "arch: amd64\nhostname: desk2\n",
        "a refused run leaves the file alone"
    );
}

#[test]
fn apply_appends_before_trailing_blank_lines_and_after_a_missing_final_newline() {
    let host = FakeHost::new(Shape {
        gpus: 1,
        ..Shape::default()
    });
    let config = host.root().join("pve/lxc/103.conf");
    let mut request = host.request(Selection::default());
    request.apply = Some(103);
    for (before, tail) in [
        ("arch: amd64\nhostname: desk3\n\n", "create=dir\n\n"),
        ("arch: amd64\nhostname: desk3", "create=dir\n"),
    ] {
        fs::write(&config, before).expect("write");
        execute(&request, &root_context(), &mut Vec::new()).expect("apply");
        let after = fs::read_to_string(&config).expect("read");
        assert!(
            after.starts_with("arch: amd64\nhostname: desk3\nlxc.cgroup2.devices.allow: "),
            "{after:?}"
        );
        assert!(after.ends_with(tail), "{after:?}");
    }
}

fn line(key: Key, value: &str) -> Line {
    Line {
        key,
        value: value.to_owned(),
    }
}

#[test]
fn existing_rules_cover_narrower_ones_and_mounts_match_by_source_and_target() {
    let config = "lxc.cgroup2.devices.allow: c 226:* rw\n\
                  lxc.cgroup2.devices.allow = c 508:0 rwm\n\
                  lxc.mount.entry: /dev/dri/ /dev/dri none bind,create=dir\n";
    let wanted = [
        line(Key::Allow, "c 226:128 rwm"), // 226:* lacks m: still needed
        line(Key::Allow, "c 508:0 rwm"),   // present (LXC's `=` syntax)
        line(Key::Allow, "b 508:0 rwm"),   // a block rule is another rule
        line(Key::Mount, "/dev/dri dev/dri none bind,optional,create=dir"),
    ];
    let edit = plan_edit(config, &wanted.iter().collect::<Vec<_>>());
    assert_eq!(
        edit.added,
        [
            "lxc.cgroup2.devices.allow: c 226:128 rwm",
            "lxc.cgroup2.devices.allow: b 508:0 rwm"
        ]
    );
    let all = plan_edit("lxc.cgroup2.devices.allow: a\n", &[&wanted[0], &wanted[2]]);
    assert!(all.added.is_empty(), "`a` allows everything");
}

#[test]
fn an_own_idmap_is_left_alone_with_a_note() {
    let config = "unprivileged: 1\nlxc.idmap: u 0 100000 65536\nlxc.idmap: g 0 100000 65536\n";
    let wanted = [
        line(Key::Idmap, "u 0 100000 65536"),
        line(Key::Idmap, "g 0 100000 104"),
        line(Key::Idmap, "g 104 104 1"),
    ];
    let edit = plan_edit(config, &wanted.iter().collect::<Vec<_>>());
    assert!(edit.added.is_empty(), "{:?}", edit.added);
    assert!(edit.notes.iter().any(|n| n.contains("lxc.idmap")));
}

#[test]
fn a_diff_at_the_start_of_an_empty_file_uses_zero_ranges() {
    let wanted = [line(Key::Allow, "c 1:3 rwm")];
    let edit = plan_edit("", &wanted.iter().collect::<Vec<_>>());
    assert_eq!(
        unified_diff("", &edit, "a", "b"),
        "--- a\n+++ b\n@@ -0,0 +1,1 @@\n+lxc.cgroup2.devices.allow: c 1:3 rwm\n"
    );
}

/// The backup's time stamp agrees with date(1) across leap days, century rules and the epoch.
#[test]
fn utc_stamp_agrees_with_date() {
    for secs in [
        0u64,
        951_782_400,   // 2000-02-29
        4_107_456_000, // 2100-02-28, no leap day in 2100
        1_767_225_599,
        1_709_208_000 + 86_399,
    ] {
        let expected = Command::new("date")
            .args(["-u", "-d", &format!("@{secs}"), "+%Y%m%dT%H%M%SZ"])
            .output()
            .expect("date");
        let expected = String::from_utf8_lossy(&expected.stdout).trim().to_owned();
        assert_eq!(
            utc_stamp(SystemTime::UNIX_EPOCH + Duration::from_secs(secs)),
            expected
        );
    }
}

#[test]
fn command_line_options_become_the_request() {
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: super::Args,
    }
    let cli = Cli::try_parse_from([
        "lxc-config",
        "--gpu",
        "0,1",
        "--dri",
        "--input",
        "--apply",
        "101",
        "--pve-root",
        "/tmp/pve",
    ])
    .expect("parse");
    let request = Request::from(cli.args);
    assert_eq!(
        request.selection,
        Selection {
            gpus: vec![0, 1],
            dri: true,
            input: true,
            ..Selection::default()
        }
    );
    assert_eq!(request.apply, Some(101));
    assert_eq!(request.roots.dev, Path::new("/dev"));
    assert_eq!(request.pve_root, Path::new("/tmp/pve"));
    let both = Cli::try_parse_from(["lxc-config", "--apply", "1", "--syntax", "lxc"]);
    assert!(both.is_err(), "--apply writes Proxmox syntax only");
}
