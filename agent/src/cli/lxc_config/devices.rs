//! The host's device nodes as they really are: names, char or block, major and minor numbers,
//! owner group and mode, read with `stat`; and which PCI device each DRI node and GPU belongs to.
//!
//! Nothing here knows a major number in advance: NVIDIA's control devices share the GPUs' major,
//! `nvidia-uvm` and `nvidia-caps` get dynamic majors that differ from host to host.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::Error;

/// Where the host's trees are; the real host uses `/dev`, `/sys`, `/proc` and `/etc`.
#[derive(Debug, Clone)]
pub struct Roots {
    /// The device directory (`/dev`).
    pub dev: PathBuf,
    /// sysfs (`/sys`): which PCI device a DRI node belongs to.
    pub sys: PathBuf,
    /// procfs (`/proc`): the NVIDIA driver's GPU list with each GPU's device minor.
    pub proc: PathBuf,
    /// The configuration directory (`/etc`): `group`, `subuid`, `subgid`.
    pub etc: PathBuf,
}

impl Default for Roots {
    fn default() -> Self {
        Self {
            dev: PathBuf::from("/dev"),
            sys: PathBuf::from("/sys"),
            proc: PathBuf::from("/proc"),
            etc: PathBuf::from("/etc"),
        }
    }
}

/// Character or block device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum NodeKind {
    /// A block device (`b` in a cgroup rule).
    Block,
    /// A character device (`c` in a cgroup rule).
    Char,
}

impl NodeKind {
    /// The letter LXC's device rules use.
    pub fn letter(self) -> char {
        match self {
            Self::Block => 'b',
            Self::Char => 'c',
        }
    }
}

/// What a node is for, told by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Role {
    /// `/dev/dri/cardN`, a display (KMS) node.
    DriCard,
    /// `/dev/dri/renderDN`, a render node.
    DriRender,
    /// `/dev/input/*`.
    Input,
    /// `/dev/nvidia-caps/*` (MIG capabilities).
    NvidiaCap,
    /// `/dev/nvidiactl`.
    NvidiaCtl,
    /// `/dev/nvidiaN`: one GPU; the number is in the node's name.
    NvidiaGpu(u32),
    /// `/dev/nvidia-modeset`.
    NvidiaModeset,
    /// `/dev/nvidia-uvm` (CUDA's unified memory; NVENC through CUDA needs it).
    NvidiaUvm,
    /// `/dev/nvidia-uvm-tools`.
    NvidiaUvmTools,
    /// `/dev/snd/*`.
    Sound,
    /// `/dev/uinput`.
    Uinput,
}

/// One device node of interest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The path below the device root, e.g. `dri/renderD128`.
    pub path: String,
    /// Char or block.
    pub kind: NodeKind,
    /// The major number, from `st_rdev`.
    pub major: u64,
    /// The minor number, from `st_rdev`.
    pub minor: u64,
    /// The owning group.
    pub gid: u32,
    /// The permission bits.
    pub mode: u32,
    /// What the node is for.
    pub role: Role,
}

/// Which PCI device a DRI node belongs to, read from sysfs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PciOwner {
    /// The PCI address, e.g. `0000:01:00.0`.
    pub address: String,
    /// The vendor ID as sysfs writes it, e.g. `0x10de`; empty when unreadable.
    pub vendor: String,
}

/// The PCI vendor ID of NVIDIA as sysfs writes it.
pub const NVIDIA_VENDOR: &str = "0x10de";

/// Everything `lxc-config` needs to know about the host's devices.
#[derive(Debug, Clone, Default)]
pub struct Host {
    /// The nodes of interest, sorted by path.
    pub nodes: Vec<Node>,
    /// Every device node under the device root, as (kind, major) → minors; a rule for a whole
    /// major is only right when every one of these is meant.
    pub census: BTreeMap<(NodeKind, u64), BTreeSet<u64>>,
    /// DRI node path → its PCI device, where sysfs tells.
    pub dri_owner: BTreeMap<String, PciOwner>,
    /// NVIDIA device minor → PCI address, from the driver's `/proc/driver/nvidia/gpus`.
    pub gpu_address: BTreeMap<u64, String>,
}

impl Host {
    /// Reads the device nodes, sysfs and the NVIDIA driver's proc files under `roots`.
    pub fn scan(roots: &Roots) -> Result<Self, Error> {
        if !roots.dev.is_dir() {
            return Err(Error::Io {
                action: "reading the device directory",
                path: roots.dev.clone(),
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            });
        }
        let mut host = Self::default();
        for (dir, classify) in CLASSIFIERS {
            let dir_path = if dir.is_empty() {
                roots.dev.clone()
            } else {
                roots.dev.join(dir)
            };
            for (name, meta) in device_entries(&dir_path) {
                let Some(role) = classify(&name) else {
                    continue;
                };
                let path = if dir.is_empty() {
                    name
                } else {
                    format!("{dir}/{name}")
                };
                host.nodes.push(node(path, &meta, role));
            }
        }
        host.nodes.sort_by(|a, b| a.path.cmp(&b.path));
        census(&roots.dev, 0, &mut host.census);
        for node in &host.nodes {
            if matches!(node.role, Role::DriCard | Role::DriRender) {
                let name = node.path.trim_start_matches("dri/");
                if let Some(owner) = dri_owner(&roots.sys, name) {
                    host.dri_owner.insert(node.path.clone(), owner);
                }
            }
        }
        host.gpu_address = gpu_addresses(&roots.proc);
        Ok(host)
    }

    /// The nodes with the given role.
    pub fn with_role(&self, role: Role) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(move |n| n.role == role)
    }

    /// The GPU numbers present (`/dev/nvidiaN`), sorted.
    pub fn gpus(&self) -> Vec<u32> {
        self.nodes
            .iter()
            .filter_map(|n| match n.role {
                Role::NvidiaGpu(i) => Some(i),
                _ => None,
            })
            .collect()
    }
}

/// A classifier for the names in one directory below the device root ("" is the root itself).
type Classifier = fn(&str) -> Option<Role>;

const CLASSIFIERS: &[(&str, Classifier)] = &[
    ("", classify_top),
    ("nvidia-caps", |_| Some(Role::NvidiaCap)),
    ("dri", classify_dri),
    ("snd", |_| Some(Role::Sound)),
    ("input", |_| Some(Role::Input)),
];

fn classify_top(name: &str) -> Option<Role> {
    match name {
        "nvidiactl" => Some(Role::NvidiaCtl),
        "nvidia-modeset" => Some(Role::NvidiaModeset),
        "nvidia-uvm" => Some(Role::NvidiaUvm),
        "nvidia-uvm-tools" => Some(Role::NvidiaUvmTools),
        "uinput" => Some(Role::Uinput),
        _ => number_after(name, "nvidia").map(Role::NvidiaGpu),
    }
}

fn classify_dri(name: &str) -> Option<Role> {
    if number_after(name, "card").is_some() {
        Some(Role::DriCard)
    } else if number_after(name, "renderD").is_some() {
        Some(Role::DriRender)
    } else {
        None
    }
}

/// `Some(N)` when `name` is `prefix` followed by decimal digits only.
fn number_after(name: &str, prefix: &str) -> Option<u32> {
    let digits = name.strip_prefix(prefix)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The char and block device entries directly in `dir` (symbolic links are skipped), by name.
fn device_entries(dir: &Path) -> Vec<(String, fs::Metadata)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue;
        };
        let ft = meta.file_type();
        if !(ft.is_char_device() || ft.is_block_device()) {
            continue;
        }
        if let Ok(name) = entry.file_name().into_string() {
            out.push((name, meta));
        }
    }
    out
}

fn node(path: String, meta: &fs::Metadata, role: Role) -> Node {
    let (kind, major, minor) = device_number(meta);
    Node {
        path,
        kind,
        major,
        minor,
        gid: meta.gid(),
        mode: meta.mode() & 0o7777,
        role,
    }
}

/// Kind, major and minor of a device node's metadata.
fn device_number(meta: &fs::Metadata) -> (NodeKind, u64, u64) {
    let kind = if meta.file_type().is_block_device() {
        NodeKind::Block
    } else {
        NodeKind::Char
    };
    let rdev = meta.rdev();
    (
        kind,
        nix::sys::stat::major(rdev),
        nix::sys::stat::minor(rdev),
    )
}

/// How deep below the device root the census looks (`/dev/snd/by-path/…` is deep enough).
const CENSUS_DEPTH: usize = 3;

/// Records every device node below `dir` by (kind, major).
fn census(dir: &Path, depth: usize, out: &mut BTreeMap<(NodeKind, u64), BTreeSet<u64>>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = path.symlink_metadata() else {
            continue;
        };
        let ft = meta.file_type();
        if ft.is_char_device() || ft.is_block_device() {
            let (kind, major, minor) = device_number(&meta);
            out.entry((kind, major)).or_default().insert(minor);
        } else if ft.is_dir() && depth < CENSUS_DEPTH {
            census(&path, depth + 1, out);
        }
    }
}

/// The PCI device behind `/sys/class/drm/NAME/device`.
fn dri_owner(sys: &Path, name: &str) -> Option<PciOwner> {
    let device = sys.join("class/drm").join(name).join("device");
    let real = fs::canonicalize(&device).ok()?;
    let address = real.file_name()?.to_str()?.to_owned();
    let vendor = fs::read_to_string(real.join("vendor"))
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    Some(PciOwner { address, vendor })
}

/// Device minor → PCI address, from `/proc/driver/nvidia/gpus/ADDRESS/information`.
fn gpu_addresses(proc: &Path) -> BTreeMap<u64, String> {
    let mut out = BTreeMap::new();
    let Ok(entries) = fs::read_dir(proc.join("driver/nvidia/gpus")) else {
        return out;
    };
    for entry in entries.flatten() {
        let Ok(address) = entry.file_name().into_string() else {
            continue;
        };
        let Ok(info) = fs::read_to_string(entry.path().join("information")) else {
            continue;
        };
        let minor = info.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == "Device Minor").then(|| value.trim().parse::<u64>().ok())?
        });
        if let Some(minor) = minor {
            out.insert(minor, address.to_ascii_lowercase());
        }
    }
    out
}
