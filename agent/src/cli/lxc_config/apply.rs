//! `--apply`: adds the missing lines to a Proxmox container configuration, as a pure edit of the
//! text (this file) plus the backup-and-replace that `mod.rs` does around it.
//!
//! A Proxmox `CTID.conf` is a main section followed by `[snapshot]` and `[pve:pending]` sections;
//! the new lines go at the end of the main section, before the first `[section]`. `#` lines are
//! the container's description to Proxmox, so the edit adds no comments.

use std::fmt::Write as _;

use super::plan::{Key, Line, Syntax};

/// The outcome of planning an edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// The new file text.
    pub text: String,
    /// The lines added, as written.
    pub added: Vec<String>,
    /// The 0-based line index in the old text before which they go.
    pub at: usize,
    /// Things the user should know (e.g. an ID map left alone).
    pub notes: Vec<String>,
}

/// Whether the configuration says `unprivileged: 1` in its main section.
pub fn is_unprivileged(config: &str) -> bool {
    main_section(config).any(|line| {
        line.split_once(':')
            .is_some_and(|(k, v)| k.trim() == "unprivileged" && v.trim() == "1")
    })
}

/// Adds each wanted line that the main section does not already have (or cover).
pub fn plan_edit(config: &str, wanted: &[&Line]) -> Edit {
    let existing: Vec<(String, String)> = main_section(config).filter_map(split_line).collect();
    let mut notes = Vec::new();
    let have_idmap: Vec<&str> = values(&existing, Key::Idmap).collect();
    let want_idmap: Vec<&str> = wanted
        .iter()
        .filter(|l| l.key == Key::Idmap)
        .map(|l| l.value.as_str())
        .collect();
    let idmap_differs =
        !have_idmap.is_empty() && !want_idmap.is_empty() && have_idmap != want_idmap;
    if idmap_differs {
        notes.push(
            "The configuration already has its own lxc.idmap lines, which differ from the ones \
             above; they were left alone. Compare them by hand."
                .to_owned(),
        );
    }
    if existing
        .iter()
        .any(|(k, _)| k == "lxc.cgroup.devices.allow")
    {
        notes.push(
            "The configuration has cgroup v1 lines (lxc.cgroup.devices.allow); hosts with \
             cgroup v2 (Proxmox 7 and later) ignore them."
                .to_owned(),
        );
    }
    if existing
        .iter()
        .any(|(k, v)| is_dev_entry(k) && v.contains("/dev/nvidia"))
    {
        notes.push(
            "The configuration also passes NVIDIA nodes with Proxmox devN: entries; keep one \
             way of doing it."
                .to_owned(),
        );
    }
    let mut added = Vec::new();
    for line in wanted {
        let present = match line.key {
            Key::Allow => values(&existing, Key::Allow).any(|v| covers(v, &line.value)),
            Key::Mount => values(&existing, Key::Mount).any(|v| same_mount(v, &line.value)),
            Key::Idmap => idmap_differs || have_idmap.contains(&line.value.as_str()),
        };
        let rendered = line.render(Syntax::Pve);
        if !present && !added.contains(&rendered) {
            added.push(rendered);
        }
    }
    let lines: Vec<&str> = config.lines().collect();
    let at = insert_point(&lines);
    let mut text = String::new();
    for (i, line) in lines.iter().enumerate() {
        if i == at {
            for new in &added {
                let _ = writeln!(text, "{new}");
            }
        }
        let _ = writeln!(text, "{line}");
    }
    if at == lines.len() {
        for new in &added {
            let _ = writeln!(text, "{new}");
        }
    }
    Edit {
        text,
        added,
        at,
        notes,
    }
}

/// A unified diff (three lines of context) of inserting `edit.added` before line `edit.at`.
pub fn unified_diff(old: &str, edit: &Edit, old_label: &str, new_label: &str) -> String {
    let lines: Vec<&str> = old.lines().collect();
    let start = edit.at.saturating_sub(3);
    let end = (edit.at + 3).min(lines.len());
    let old_count = end - start;
    let new_count = old_count + edit.added.len();
    let first = |count: usize| if count == 0 { start } else { start + 1 };
    let mut out = format!("--- {old_label}\n+++ {new_label}\n");
    let _ = writeln!(
        out,
        "@@ -{},{old_count} +{},{new_count} @@",
        first(old_count),
        first(new_count)
    );
    for line in &lines[start..edit.at] {
        let _ = writeln!(out, " {line}");
    }
    for line in &edit.added {
        let _ = writeln!(out, "+{line}");
    }
    for line in &lines[edit.at..end] {
        let _ = writeln!(out, " {line}");
    }
    out
}

/// The lines of the main section (before the first `[section]` header).
fn main_section(config: &str) -> impl Iterator<Item = &str> {
    config.lines().take_while(|l| !is_section_header(l))
}

fn is_section_header(line: &str) -> bool {
    line.trim_start().starts_with('[')
}

/// After the last non-blank line of the main section.
fn insert_point(lines: &[&str]) -> usize {
    let main_end = lines
        .iter()
        .position(|l| is_section_header(l))
        .unwrap_or(lines.len());
    lines[..main_end]
        .iter()
        .rposition(|l| !l.trim().is_empty())
        .map_or(0, |i| i + 1)
}

/// `lxc.key: value` or `lxc.key = value` → (key, value), both trimmed.
fn split_line(line: &str) -> Option<(String, String)> {
    let line = line.trim();
    if line.starts_with('#') {
        return None;
    }
    let cut = line.find([':', '='])?;
    let key = line[..cut].trim();
    let value = line[cut + 1..].trim();
    Some((key.to_owned(), value.to_owned()))
}

/// Proxmox's own device pass-through keys: `dev0`, `dev1`, ...
fn is_dev_entry(key: &str) -> bool {
    key.strip_prefix("dev")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn values(existing: &[(String, String)], key: Key) -> impl Iterator<Item = &str> {
    existing
        .iter()
        .filter(move |(k, _)| k == key.as_str())
        .map(|(_, v)| v.as_str())
}

/// Whether the device rule `have` (e.g. `c 195:* rwm`) allows everything `want` allows.
fn covers(have: &str, want: &str) -> bool {
    let (Some(have), Some(want)) = (DeviceRule::parse(have), DeviceRule::parse(want)) else {
        return false;
    };
    let field = |h: Option<u64>, w: Option<u64>| h.is_none() || h == w;
    let device = have.kind == 'a'
        || (have.kind == want.kind
            && field(have.major, want.major)
            && field(have.minor, want.minor));
    device && want.access.chars().all(|c| have.access.contains(c))
}

/// Two mount entries with the same source and target (whatever their options) are the same mount.
fn same_mount(have: &str, want: &str) -> bool {
    let fields = |s: &str| {
        let mut it = s.split_whitespace();
        let source = it.next().map(|p| p.trim_end_matches('/').to_owned());
        let target = it
            .next()
            .map(|p| p.trim_start_matches('/').trim_end_matches('/').to_owned());
        (source, target)
    };
    let (hs, ht) = fields(have);
    hs.is_some() && ht.is_some() && (hs, ht) == fields(want)
}

/// A cgroup device rule: `TYPE MAJOR:MINOR ACCESS`, `*` for any number; `a` alone for all.
#[derive(Debug)]
struct DeviceRule {
    kind: char,
    major: Option<u64>,
    minor: Option<u64>,
    access: String,
}

impl DeviceRule {
    fn parse(text: &str) -> Option<Self> {
        let mut it = text.split_whitespace();
        let kind = it.next()?;
        let kind = match kind {
            "a" | "b" | "c" => kind.chars().next()?,
            _ => return None,
        };
        let Some(numbers) = it.next() else {
            return (kind == 'a').then(|| Self {
                kind,
                major: None,
                minor: None,
                access: "rwm".to_owned(),
            });
        };
        let (major, minor) = numbers.split_once(':')?;
        let number = |s: &str| -> Option<Option<u64>> {
            if s == "*" {
                Some(None)
            } else {
                s.parse().ok().map(Some)
            }
        };
        Some(Self {
            kind,
            major: number(major)?,
            minor: number(minor)?,
            access: it.next().unwrap_or("rwm").to_owned(),
        })
    }
}
