//! Unprivileged containers: who may open a node once it is inside, and the `lxc.idmap` lines that
//! pass a host group through so that its members inside may.
//!
//! In an unprivileged container the host's IDs are shifted (container 0 is host 100000 on a
//! stock Proxmox host), so a bind-mounted node owned by host `root:render` shows up as
//! `nobody:nogroup`. A node with mode `0666` still works; a `0660` node works only for a container
//! group mapped onto the node's host group. The map keeps the numbers equal (container GID 104 is
//! host GID 104) and shifts everything else as before.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use super::devices::Node;

/// Who may read and write a node, from its mode and group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Access {
    /// Everyone (`o+rw`): works in an unprivileged container as is.
    Everyone,
    /// The members of this (non-root) group.
    Group(u32),
    /// Only host root (or the root group): nobody in an unprivileged container.
    RootOnly,
}

impl Access {
    /// The access a node grants.
    pub fn of(node: &Node) -> Self {
        if node.mode & 0o006 == 0o006 {
            Self::Everyone
        } else if node.mode & 0o060 == 0o060 && node.gid != 0 {
            Self::Group(node.gid)
        } else {
            Self::RootOnly
        }
    }
}

/// The host's groups by GID, from `/etc/group`.
#[derive(Debug, Clone, Default)]
pub struct Groups {
    by_gid: BTreeMap<u32, String>,
}

impl Groups {
    /// Reads `etc/group`; a missing or odd file yields no names (GIDs are then shown bare).
    pub fn read(etc: &Path) -> Self {
        let text = fs::read_to_string(etc.join("group")).unwrap_or_default();
        let by_gid = text
            .lines()
            .filter_map(|line| {
                let mut fields = line.split(':');
                let name = fields.next()?;
                let gid = fields.nth(1)?.parse().ok()?;
                (!name.is_empty()).then(|| (gid, name.to_owned()))
            })
            .collect();
        Self { by_gid }
    }

    /// `render (GID 104)`, or `GID 104` when the group has no name.
    pub fn describe(&self, gid: u32) -> String {
        match self.by_gid.get(&gid) {
            Some(name) => format!("{name} (GID {gid})"),
            None => format!("GID {gid}"),
        }
    }

    /// The group's name.
    pub fn name(&self, gid: u32) -> Option<&str> {
        self.by_gid.get(&gid).map(String::as_str)
    }
}

/// A range of host IDs delegated to root for containers (`root:START:COUNT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    /// The first host ID.
    pub start: u64,
    /// How many IDs.
    pub count: u64,
}

/// What Proxmox sets up for root when `/etc/subuid` or `/etc/subgid` says nothing.
pub const PROXMOX_DEFAULT_RANGE: IdRange = IdRange {
    start: 100_000,
    count: 65_536,
};

/// root's delegated ranges in `etc/subuid` or `etc/subgid` (`file` is the file name).
pub fn root_ranges(etc: &Path, file: &str) -> Vec<IdRange> {
    let text = fs::read_to_string(etc.join(file)).unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let mut fields = line.trim().split(':');
            let owner = fields.next()?;
            let start = fields.next()?.parse().ok()?;
            let count = fields.next()?.parse().ok()?;
            (owner == "root" || owner == "0").then_some(IdRange { start, count })
        })
        .collect()
}

/// The range containers are shifted into: root's first range of at least 65,536 IDs.
pub fn shift_range(ranges: &[IdRange]) -> Option<IdRange> {
    ranges.iter().copied().find(|r| r.count >= 65_536)
}

/// Whether root may map host ID `id` one to one (some range covers it).
pub fn delegated(ranges: &[IdRange], id: u64) -> bool {
    ranges
        .iter()
        .any(|r| r.start <= id && id < r.start.saturating_add(r.count))
}

/// The `lxc.idmap` values: users shifted by `uid`, groups shifted by `gid` except the GIDs in
/// `through`, which map to themselves. GIDs at or beyond `gid.count` cannot be passed through and
/// must be filtered out by the caller.
pub fn idmap_values(uid: IdRange, gid: IdRange, through: &BTreeSet<u32>) -> Vec<String> {
    let mut out = vec![format!("u 0 {} {}", uid.start, uid.count)];
    let mut next: u64 = 0;
    for &g in through {
        let g = u64::from(g);
        if g > next {
            out.push(format!("g {next} {} {}", gid.start + next, g - next));
        }
        out.push(format!("g {g} {g} 1"));
        next = g + 1;
    }
    if next < gid.count {
        out.push(format!(
            "g {next} {} {}",
            gid.start + next,
            gid.count - next
        ));
    }
    out
}
