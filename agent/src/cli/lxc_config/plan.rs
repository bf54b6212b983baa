//! From the host's devices and the user's choice to the configuration lines, grouped in sections
//! with comments that say what was chosen and why.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::Error;
use super::devices::{Host, NVIDIA_VENDOR, Node, Role};
use super::idmap::{self, Access, Groups, IdRange};

/// What to pass into the container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// GPU numbers as in `/dev/nvidiaN`; empty means all.
    pub gpus: Vec<u32>,
    /// DRI card and render nodes of the chosen GPUs.
    pub dri: bool,
    /// `/dev/snd`.
    pub sound: bool,
    /// `/dev/input` and `/dev/uinput`.
    pub input: bool,
    /// The container is unprivileged: add the ID-map lines and notes it needs.
    pub unprivileged: bool,
}

/// How a line is written: Proxmox's `key: value` or LXC's `key = value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[non_exhaustive]
pub enum Syntax {
    /// Plain LXC (`/var/lib/lxc/NAME/config`): `lxc.key = value`.
    Lxc,
    /// Proxmox (`/etc/pve/lxc/CTID.conf`): `lxc.key: value`.
    Pve,
}

/// The LXC keys this tool writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Key {
    /// `lxc.cgroup2.devices.allow`.
    Allow,
    /// `lxc.idmap`.
    Idmap,
    /// `lxc.mount.entry`.
    Mount,
}

impl Key {
    /// The key as LXC spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "lxc.cgroup2.devices.allow",
            Self::Idmap => "lxc.idmap",
            Self::Mount => "lxc.mount.entry",
        }
    }
}

/// One configuration line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The key.
    pub key: Key,
    /// The value, e.g. `c 195:0 rwm`.
    pub value: String,
}

impl Line {
    /// The line in the given syntax.
    pub fn render(&self, syntax: Syntax) -> String {
        match syntax {
            Syntax::Lxc => format!("{} = {}", self.key.as_str(), self.value),
            Syntax::Pve => format!("{}: {}", self.key.as_str(), self.value),
        }
    }
}

/// A titled group of lines with the comments that explain them.
#[derive(Debug, Clone, Default)]
pub struct Section {
    /// The title comment.
    pub title: String,
    /// Explanations and warnings, one sentence or so each.
    pub comments: Vec<String>,
    /// The configuration lines.
    pub lines: Vec<Line>,
}

/// The host's ID facts an unprivileged container needs.
#[derive(Debug, Clone, Default)]
pub struct HostIds {
    /// `/etc/group`.
    pub groups: Groups,
    /// root's ranges in `/etc/subuid`.
    pub subuid: Vec<IdRange>,
    /// root's ranges in `/etc/subgid`.
    pub subgid: Vec<IdRange>,
}

/// Everything to print or apply.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Comments that open the output.
    pub header: Vec<String>,
    /// The sections in order.
    pub sections: Vec<Section>,
    /// GIDs the ID map passes through that `/etc/subgid` does not yet delegate to root; the
    /// container does not start until `root:GID:1` lines are added for them.
    pub missing_subgid: Vec<u32>,
}

impl Plan {
    /// Chooses the nodes and writes the lines.
    pub fn build(host: &Host, sel: &Selection, ids: &HostIds) -> Result<Self, Error> {
        let present = host.gpus();
        if present.is_empty() {
            return Err(Error::NoNvidiaDevices);
        }
        let chosen: Vec<u32> = if sel.gpus.is_empty() {
            present.clone()
        } else {
            let mut wanted = sel.gpus.clone();
            wanted.sort_unstable();
            wanted.dedup();
            if let Some(&missing) = wanted.iter().find(|g| !present.contains(g)) {
                return Err(Error::GpuNotPresent {
                    wanted: missing,
                    present: join(present.iter()),
                });
            }
            wanted
        };
        let mut plan = Self {
            header: header(sel, &chosen, &present),
            ..Self::default()
        };
        let mut included: Vec<&Node> = Vec::new();
        let (section, nodes) = nvidia_section(host, &chosen);
        plan.sections.push(section);
        included.extend(&nodes);
        type Make = for<'h> fn(&'h Host, &[u32]) -> (Section, Vec<&'h Node>);
        let optional: [(bool, Make); 3] = [
            (sel.dri, dri_section),
            (sel.sound, sound_section),
            (sel.input, input_section),
        ];
        for (wanted, make) in optional {
            if wanted {
                let (section, nodes) = make(host, &chosen);
                plan.sections.push(section);
                included.extend(&nodes);
            }
        }
        if sel.unprivileged {
            let (section, missing) = unprivileged_section(&included, ids);
            plan.sections.push(section);
            plan.missing_subgid = missing;
        }
        Ok(plan)
    }

    /// Every configuration line, in order.
    pub fn lines(&self) -> impl Iterator<Item = &Line> {
        self.sections.iter().flat_map(|s| s.lines.iter())
    }

    /// The whole output: comments and lines.
    pub fn render(&self, syntax: Syntax) -> String {
        let mut out = String::new();
        for line in &self.header {
            let _ = writeln!(out, "# {line}");
        }
        for section in &self.sections {
            let _ = writeln!(out, "\n# {}", section.title);
            for comment in &section.comments {
                for piece in wrap(comment, COMMENT_WIDTH) {
                    let _ = writeln!(out, "#   {piece}");
                }
            }
            for line in &section.lines {
                let _ = writeln!(out, "{}", line.render(syntax));
            }
        }
        out
    }
}

fn header(sel: &Selection, chosen: &[u32], present: &[u32]) -> Vec<String> {
    let mut what = vec![if chosen == present {
        format!("all GPUs ({})", join(chosen.iter()))
    } else {
        format!(
            "GPU {} (the host has {})",
            join(chosen.iter()),
            join(present.iter())
        )
    }];
    for (on, name) in [(sel.dri, "DRI"), (sel.sound, "sound"), (sel.input, "input")] {
        if on {
            what.push(name.to_owned());
        }
    }
    what.push(if sel.unprivileged {
        "unprivileged container".to_owned()
    } else {
        "privileged container".to_owned()
    });
    vec![
        format!("deskcast lxc-config: {}.", what.join(", ")),
        "Device numbers were read from this host's nodes; another host may differ.".to_owned(),
        "The container sees the change when it restarts.".to_owned(),
    ]
}

fn nvidia_section<'h>(host: &'h Host, chosen: &[u32]) -> (Section, Vec<&'h Node>) {
    let mut section = Section {
        title: format!(
            "NVIDIA: GPU {}, control and CUDA devices",
            join(chosen.iter())
        ),
        ..Section::default()
    };
    let mut nodes: Vec<&Node> = host
        .nodes
        .iter()
        .filter(|n| match n.role {
            Role::NvidiaGpu(i) => chosen.contains(&i),
            Role::NvidiaCtl
            | Role::NvidiaModeset
            | Role::NvidiaUvm
            | Role::NvidiaUvmTools
            | Role::NvidiaCap => true,
            _ => false,
        })
        .collect();
    // GPUs first, then the control, CUDA and capability devices.
    nodes.sort_by_key(|n| {
        let rank = match n.role {
            Role::NvidiaGpu(i) => i64::from(i) - i64::from(u32::MAX),
            Role::NvidiaCtl => 1,
            Role::NvidiaModeset => 2,
            Role::NvidiaUvm => 3,
            Role::NvidiaUvmTools => 4,
            _ => 5,
        };
        (rank, n.path.clone())
    });
    for &gpu in chosen {
        let address = host
            .with_role(Role::NvidiaGpu(gpu))
            .find_map(|n| host.gpu_address.get(&n.minor));
        if let Some(address) = address {
            section
                .comments
                .push(format!("GPU {gpu} is PCI {address}."));
        }
    }
    for (role, name, why) in [
        (Role::NvidiaCtl, "nvidiactl", "every NVIDIA client needs it"),
        (
            Role::NvidiaUvm,
            "nvidia-uvm",
            "CUDA, and so NVENC, fails without it; load it with `nvidia-modprobe -u -c=0`",
        ),
    ] {
        if host.with_role(role).next().is_none() {
            section
                .comments
                .push(format!("Warning: this host has no /dev/{name}: {why}."));
        }
    }
    section.lines = device_lines(host, &nodes);
    (section, nodes)
}

fn dri_section<'h>(host: &'h Host, chosen: &[u32]) -> (Section, Vec<&'h Node>) {
    let mut section = Section {
        title: "DRI: display and render nodes".to_owned(),
        ..Section::default()
    };
    let all: Vec<&Node> = host
        .nodes
        .iter()
        .filter(|n| matches!(n.role, Role::DriCard | Role::DriRender))
        .collect();
    if all.is_empty() {
        section.comments.push(
            "This host has no /dev/dri nodes; NVIDIA's appear with `modprobe nvidia-drm`."
                .to_owned(),
        );
        return (section, all);
    }
    let addresses: Option<BTreeMap<u32, &String>> = chosen
        .iter()
        .map(|&gpu| {
            let minor = host.with_role(Role::NvidiaGpu(gpu)).next()?.minor;
            Some((gpu, host.gpu_address.get(&minor)?))
        })
        .collect();
    let nodes: Vec<&Node> = match addresses {
        Some(addresses) if !host.dri_owner.is_empty() => {
            let owner = |n: &Node| host.dri_owner.get(&n.path).map(|o| &o.address);
            for (gpu, address) in &addresses {
                let mine: Vec<&str> = all
                    .iter()
                    .filter(|n| owner(n) == Some(*address))
                    .map(|n| n.path.as_str())
                    .collect();
                section.comments.push(if mine.is_empty() {
                    format!("GPU {gpu} ({address}) has no DRI node; is nvidia-drm loaded?")
                } else {
                    format!("GPU {gpu} ({address}) has {}.", dev_paths(mine.into_iter()))
                });
            }
            let wanted: BTreeSet<&String> = addresses.values().copied().collect();
            all.into_iter()
                .filter(|n| owner(n).is_some_and(|a| wanted.contains(a)))
                .collect()
        }
        _ => {
            let nvidia: Vec<&Node> = all
                .iter()
                .copied()
                .filter(|n| {
                    host.dri_owner
                        .get(&n.path)
                        .is_some_and(|o| o.vendor == NVIDIA_VENDOR)
                })
                .collect();
            let (chosen_nodes, which) = if nvidia.is_empty() {
                (all, "all DRI nodes")
            } else {
                (nvidia, "every NVIDIA DRI node")
            };
            section.comments.push(format!(
                "Could not tell which DRI node belongs to which GPU (the driver's \
                 /proc/driver/nvidia/gpus or sysfs is missing), so this includes {which}: {}.",
                dev_paths(chosen_nodes.iter().map(|n| n.path.as_str()))
            ));
            chosen_nodes
        }
    };
    section.lines = device_lines(host, &nodes);
    (section, nodes)
}

fn sound_section<'h>(host: &'h Host, _chosen: &[u32]) -> (Section, Vec<&'h Node>) {
    let nodes: Vec<&Node> = host.with_role(Role::Sound).collect();
    let mut section = Section {
        title: "Sound: ALSA devices".to_owned(),
        ..Section::default()
    };
    if nodes.is_empty() {
        section
            .comments
            .push("This host has no /dev/snd nodes.".to_owned());
    }
    section.lines = device_lines(host, &nodes);
    (section, nodes)
}

fn input_section<'h>(host: &'h Host, _chosen: &[u32]) -> (Section, Vec<&'h Node>) {
    let nodes: Vec<&Node> = host
        .nodes
        .iter()
        .filter(|n| matches!(n.role, Role::Input | Role::Uinput))
        .collect();
    let mut section = Section {
        title: "Input: evdev devices and uinput".to_owned(),
        comments: vec![
            "deskcast injects input through XTEST and needs none of these; they are for \
             programs in the container that read or create input devices."
                .to_owned(),
        ],
        ..Section::default()
    };
    if host.with_role(Role::Uinput).next().is_none() {
        section
            .comments
            .push("This host has no /dev/uinput; `modprobe uinput` creates it.".to_owned());
    }
    section.lines = device_lines(host, &nodes);
    (section, nodes)
}

/// The allow rules and mount entries for `nodes`.
fn device_lines(host: &Host, nodes: &[&Node]) -> Vec<Line> {
    let mut lines = allow_lines(host, nodes);
    lines.extend(mount_lines(host, nodes));
    lines
}

/// One rule per node, or one per major where every node of that major on the host is included
/// (and the major is not the shared "misc" major of `/dev/uinput`).
fn allow_lines(host: &Host, nodes: &[&Node]) -> Vec<Line> {
    let mut by_major: BTreeMap<_, (BTreeSet<u64>, bool)> = BTreeMap::new();
    for node in nodes {
        let entry = by_major
            .entry((node.kind, node.major))
            .or_insert_with(|| (BTreeSet::new(), true));
        entry.0.insert(node.minor);
        entry.1 &= node.role != Role::Uinput;
    }
    let mut lines = Vec::new();
    for ((kind, major), (minors, collapsible)) in by_major {
        let everything = host
            .census
            .get(&(kind, major))
            .is_some_and(|all| all.is_subset(&minors));
        let letter = kind.letter();
        if collapsible && everything {
            lines.push(Line {
                key: Key::Allow,
                value: format!("{letter} {major}:* rwm"),
            });
        } else {
            lines.extend(minors.iter().map(|minor| Line {
                key: Key::Allow,
                value: format!("{letter} {major}:{minor} rwm"),
            }));
        }
    }
    lines
}

/// Bind mounts: a whole directory where all of its device nodes are included, else each node.
fn mount_lines(host: &Host, nodes: &[&Node]) -> Vec<Line> {
    let chosen: BTreeSet<&str> = nodes.iter().map(|n| n.path.as_str()).collect();
    let mut done_dirs = BTreeSet::new();
    let mut lines = Vec::new();
    for node in nodes {
        let (path, create) = match node.path.split_once('/') {
            Some((dir, _)) => {
                let whole = host
                    .nodes
                    .iter()
                    .filter(|n| n.path.split_once('/').is_some_and(|(d, _)| d == dir))
                    .all(|n| chosen.contains(n.path.as_str()));
                if !whole {
                    (node.path.as_str(), "file")
                } else if done_dirs.insert(dir) {
                    (dir, "dir")
                } else {
                    continue;
                }
            }
            None => (node.path.as_str(), "file"),
        };
        lines.push(Line {
            key: Key::Mount,
            value: format!("/dev/{path} dev/{path} none bind,optional,create={create}"),
        });
    }
    lines
}

/// The notes and ID map, and the GIDs `/etc/subgid` must still delegate.
fn unprivileged_section(nodes: &[&Node], ids: &HostIds) -> (Section, Vec<u32>) {
    let mut section = Section {
        title: "Unprivileged container: groups and ID map".to_owned(),
        comments: vec![
            "Inside, host-owned nodes show up as nobody:nogroup, so a node works there only \
             if everyone may use it or its group is mapped through to the same GID."
                .to_owned(),
        ],
        ..Section::default()
    };
    let gid_range = shift(&ids.subgid, "subgid", &mut section.comments);
    let uid_range = shift(&ids.subuid, "subuid", &mut section.comments);
    let mut everyone = Vec::new();
    let mut by_group: BTreeMap<u32, Vec<&str>> = BTreeMap::new();
    for node in nodes {
        match Access::of(node) {
            Access::Everyone => everyone.push(node.path.as_str()),
            Access::Group(gid) => by_group.entry(gid).or_default().push(&node.path),
            Access::RootOnly => section.comments.push(format!(
                "/dev/{} (mode {:04o}, group {}) opens only for host root: give it a group on \
                 the host (a udev rule) or leave it out.",
                node.path,
                node.mode,
                ids.groups.describe(node.gid)
            )),
        }
    }
    if !everyone.is_empty() {
        section.comments.push(format!(
            "Usable by everyone as they are: {}.",
            dev_paths(everyone.into_iter())
        ));
    }
    let mut through = BTreeSet::new();
    let mut missing = Vec::new();
    for (gid, paths) in &by_group {
        let group = ids.groups.describe(*gid);
        if u64::from(*gid) >= gid_range.count {
            section.comments.push(format!(
                "{} belong to {group}, which is beyond the container's {} GIDs and cannot \
                 be mapped; change the nodes' group on the host.",
                dev_paths(paths.iter().copied()),
                gid_range.count
            ));
            continue;
        }
        through.insert(*gid);
        let name = ids.groups.name(*gid).unwrap_or("GROUP");
        section.comments.push(format!(
            "{} {} to {group}: mapped through below. Inside the container, give a group \
             GID {gid} (`groupmod -g {gid} {name}`) and add the desktop user to it.",
            dev_paths(paths.iter().copied()),
            if paths.len() == 1 {
                "belongs"
            } else {
                "belong"
            }
        ));
        if !idmap::delegated(&ids.subgid, u64::from(*gid)) {
            missing.push(*gid);
            section.comments.push(format!(
                "Host: /etc/subgid must let root map GID {gid}; add the line `root:{gid}:1`."
            ));
        }
    }
    if through.is_empty() {
        section
            .comments
            .push("No group needs mapping, so the container keeps its default ID map.".to_owned());
    } else {
        section.lines = idmap::idmap_values(uid_range, gid_range, &through)
            .into_iter()
            .map(|value| Line {
                key: Key::Idmap,
                value,
            })
            .collect();
    }
    (section, missing)
}

/// root's range for shifting container IDs, or Proxmox's default with a comment saying so.
fn shift(ranges: &[IdRange], file: &str, comments: &mut Vec<String>) -> IdRange {
    idmap::shift_range(ranges).unwrap_or_else(|| {
        let d = idmap::PROXMOX_DEFAULT_RANGE;
        comments.push(format!(
            "/etc/{file} has no range of 65536 IDs for root; assumed Proxmox's root:{}:{}.",
            d.start, d.count
        ));
        d
    })
}

/// Comment text width, so that `#   ` and the text stay within 100 columns.
const COMMENT_WIDTH: usize = 96;

/// Splits `text` at spaces into lines of at most `width` characters (longer words stay whole).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for word in text.split(' ') {
        if !current.is_empty() && current.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(word);
    }
    lines.push(current);
    lines
}

/// `/dev/a, /dev/b` for paths below the device root.
fn dev_paths<'a>(paths: impl Iterator<Item = &'a str>) -> String {
    join(paths.map(|p| format!("/dev/{p}")))
}

/// `a, b, c`.
fn join<T: std::fmt::Display>(items: impl Iterator<Item = T>) -> String {
    items.map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
}
