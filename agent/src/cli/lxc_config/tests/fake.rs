//! A fake Proxmox host in a temporary directory: real device nodes made with mknod (the tests run
//! as root), a sysfs and procfs skeleton that tie DRI nodes and GPUs to PCI addresses, `/etc` and
//! `/etc/pve`. Majors are realistic but deliberately not the usual ones where a host would
//! differ (nvidia-uvm 508, nvidia-caps 511).

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use nix::sys::stat::{Mode, SFlag, makedev, mknod};

use crate::cli::lxc_config::{Request, Roots, Selection, Syntax};

pub const NVIDIA_MAJOR: u64 = 195;
pub const UVM_MAJOR: u64 = 508;
pub const CAPS_MAJOR: u64 = 511;
pub const DRI_MAJOR: u64 = 226;
pub const SND_MAJOR: u64 = 116;
pub const INPUT_MAJOR: u64 = 13;
pub const MISC_MAJOR: u64 = 10;

pub const VIDEO_GID: u32 = 44;
pub const AUDIO_GID: u32 = 29;
pub const RENDER_GID: u32 = 104;
pub const INPUT_GID: u32 = 105;

/// What the fake host has.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// NVIDIA GPUs (0 for none).
    pub gpus: u32,
    /// Whether the NVIDIA driver's /proc/driver/nvidia/gpus files exist.
    pub proc_info: bool,
    /// Whether /etc/subgid delegates the render and video GIDs to root.
    pub subgid_passthrough: bool,
}

impl Default for Shape {
    fn default() -> Self {
        Self {
            gpus: 2,
            proc_info: true,
            subgid_passthrough: false,
        }
    }
}

#[derive(Debug)]
pub struct FakeHost {
    pub dir: tempfile::TempDir,
}

impl FakeHost {
    pub fn new(shape: Shape) -> Self {
        let host = Self {
            dir: tempfile::tempdir().expect("temporary directory"),
        };
        for sub in ["dev", "sys", "proc", "etc", "pve/lxc"] {
            fs::create_dir_all(host.root().join(sub)).expect("mkdir");
        }
        host.unrelated_nodes();
        if shape.gpus > 0 {
            host.nvidia(shape);
        }
        // A BMC's display adapter (ASPEED) that is not NVIDIA's: card0.
        host.dri_card("0000:03:00.0", "0x1a03", 0, None);
        host.sound();
        host.input();
        host.etc(shape);
        host
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn roots(&self) -> Roots {
        Roots {
            dev: self.root().join("dev"),
            sys: self.root().join("sys"),
            proc: self.root().join("proc"),
            etc: self.root().join("etc"),
        }
    }

    pub fn request(&self, selection: Selection) -> Request {
        Request {
            selection,
            syntax: Syntax::Pve,
            apply: None,
            roots: self.roots(),
            pve_root: self.root().join("pve"),
        }
    }

    /// Makes a char device node `dev/REL` with the given numbers, mode and group.
    pub fn node(&self, rel: &str, major: u64, minor: u64, mode: u32, gid: u32) {
        let path = self.root().join("dev").join(rel);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        mknod(
            &path,
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(mode),
            makedev(major, minor),
        )
        .unwrap_or_else(|e| panic!("mknod {} (the tests must run as root): {e}", path.display()));
        // mknod applies the umask; set the mode exactly.
        fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(mode))
            .expect("chmod");
        std::os::unix::fs::chown(&path, Some(0), Some(gid)).expect("chown");
    }

    fn link(&self, rel: &str, target: &str) {
        let path = self.root().join("dev").join(rel);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        symlink(target, path).expect("symlink");
    }

    fn unrelated_nodes(&self) {
        self.node("null", 1, 3, 0o666, 0);
        self.node("tty", 5, 0, 0o666, 5);
        self.node("fuse", MISC_MAJOR, 229, 0o666, 0);
        self.node("pts/0", 136, 0, 0o620, 5);
        fs::create_dir_all(self.root().join("dev/shm")).expect("mkdir");
    }

    fn nvidia(&self, shape: Shape) {
        for gpu in 0..shape.gpus {
            self.node(
                &format!("nvidia{gpu}"),
                NVIDIA_MAJOR,
                u64::from(gpu),
                0o666,
                0,
            );
            let address = format!("0000:{:02x}:00.0", gpu + 1);
            self.dri_card(&address, "0x10de", gpu + 1, Some(128 + gpu));
            if shape.proc_info {
                let dir = self.root().join("proc/driver/nvidia/gpus").join(&address);
                fs::create_dir_all(&dir).expect("mkdir");
                fs::write(
                    dir.join("information"),
                    format!(
                        "Model: \t\t NVIDIA GeForce RTX 5060 Ti\nIRQ:   \t\t 160\n\
                         GPU UUID: \t GPU-00000000-0000-0000-0000-00000000000{gpu}\n\
                         Video BIOS: \t 98.06.1f.00.4c\nBus Type: \t PCIe\n\
                         DMA Size: \t 52 bits\nDMA Mask: \t 0xfffffffffffff\n\
                         Bus Location: \t {address}\nDevice Minor: \t {gpu}\n\
                         GPU Excluded:\t No\n"
                    ),
                )
                .expect("write");
            }
        }
        self.node("nvidiactl", NVIDIA_MAJOR, 255, 0o666, 0);
        self.node("nvidia-modeset", NVIDIA_MAJOR, 254, 0o666, 0);
        self.node("nvidia-uvm", UVM_MAJOR, 0, 0o666, 0);
        self.node("nvidia-uvm-tools", UVM_MAJOR, 1, 0o666, 0);
        self.node("nvidia-caps/nvidia-cap1", CAPS_MAJOR, 1, 0o400, 0);
        self.node("nvidia-caps/nvidia-cap2", CAPS_MAJOR, 2, 0o444, 0);
    }

    /// `dri/cardN` (and `renderDM`) of the PCI device at `address`, with its sysfs links.
    fn dri_card(&self, address: &str, vendor: &str, card: u32, render: Option<u32>) {
        let pci = self.root().join("sys/devices/pci0000:00").join(address);
        fs::create_dir_all(&pci).expect("mkdir");
        fs::write(pci.join("vendor"), format!("{vendor}\n")).expect("write");
        let mut names = vec![(format!("card{card}"), u64::from(card), VIDEO_GID)];
        if let Some(r) = render {
            names.push((format!("renderD{r}"), u64::from(r), RENDER_GID));
        }
        for (name, minor, gid) in names {
            self.node(&format!("dri/{name}"), DRI_MAJOR, minor, 0o660, gid);
            let class = self.root().join("sys/class/drm").join(&name);
            fs::create_dir_all(&class).expect("mkdir");
            symlink(
                PathBuf::from("../../../devices/pci0000:00").join(address),
                class.join("device"),
            )
            .expect("symlink");
        }
        self.link(
            &format!("dri/by-path/pci-{address}-card"),
            &format!("../card{card}"),
        );
    }

    fn sound(&self) {
        for (name, minor) in [
            ("seq", 1),
            ("timer", 33),
            ("controlC0", 0),
            ("pcmC0D0p", 16),
        ] {
            self.node(&format!("snd/{name}"), SND_MAJOR, minor, 0o660, AUDIO_GID);
        }
        self.link("snd/by-path/pci-0000:00:1f.3", "../controlC0");
    }

    fn input(&self) {
        for (name, minor) in [("mice", 63), ("event0", 64), ("event1", 65)] {
            self.node(
                &format!("input/{name}"),
                INPUT_MAJOR,
                minor,
                0o660,
                INPUT_GID,
            );
        }
        self.link("input/by-id/usb-keyboard-event-kbd", "../event0");
        self.node("uinput", MISC_MAJOR, 223, 0o600, 0);
    }

    fn etc(&self, shape: Shape) {
        let etc = self.root().join("etc");
        fs::write(
            etc.join("group"),
            "root:x:0:\ndaemon:x:1:\ntty:x:5:\naudio:x:29:\nvideo:x:44:\nusers:x:100:\n\
             render:x:104:\ninput:x:105:\nnogroup:x:65534:\n",
        )
        .expect("write");
        fs::write(etc.join("subuid"), "root:100000:65536\n").expect("write");
        let mut subgid = String::from("root:100000:65536\n");
        if shape.subgid_passthrough {
            subgid.push_str("root:44:1\nroot:104:1\n");
        }
        fs::write(etc.join("subgid"), subgid).expect("write");
    }
}
