//! `cargo xtask tidy`: the project's rules that no compiler lint covers.
//!
//! - every `.rs` file opens with a `//!` module doc;
//! - no `#[ignore]` (gate GPU tests by an environment variable instead);
//! - `protocol` does no I/O and never reads the clock, and depends on no runtime or socket crate;
//! - `unsafe` appears only in the FFI modules (`agent::platform`, `codec::nvenc`, `codec::software`);
//! - hand-written files stay under 1,000 lines;
//! - the README's test command is the one `.ci/run` runs.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// The command README.md tells a new user to run for the tests, and that `.ci/run` runs.
pub(crate) const TEST_COMMAND: &str = "cargo xtask ci";

const SOURCE_DIRS: &[&str] = &[
    "protocol", "codec", "agent", "testkit", "xtask", "tests", "benches", "fuzz",
];
const UNSAFE_ALLOWED: &[&str] = &[
    "agent/src/platform/",
    "codec/src/decode/",
    "codec/src/nvenc/",
    "codec/src/software/",
];
const MAX_LINES: usize = 1_000;
const PROTOCOL_FORBIDDEN_TEXT: &[&str] = &[
    "Instant::now",
    "SystemTime::now",
    "tokio",
    "std::net::TcpStream",
    "std::net::UdpSocket",
    "std::net::TcpListener",
    "std::fs",
    "async fn",
];
const PROTOCOL_FORBIDDEN_DEPS: &[&str] =
    &["tokio", "async-std", "smol", "mio", "socket2", "futures-io"];

/// Runs every check and reports all violations at once.
pub(crate) fn run(root: &Path) -> anyhow::Result<()> {
    let problems = check(root)?;
    if problems.is_empty() {
        return Ok(());
    }
    for p in &problems {
        eprintln!("tidy: {p}");
    }
    bail!("{} tidy problem(s)", problems.len())
}

/// Every violation in the tree under `root`, as one line each.
pub(crate) fn check(root: &Path) -> anyhow::Result<Vec<String>> {
    let mut problems = Vec::new();
    let mut files = Vec::new();
    for dir in SOURCE_DIRS {
        collect_rs(&root.join(dir), &mut files)?;
    }
    files.sort();
    for file in &files {
        let text =
            fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let rel = file
            .strip_prefix(root)
            .unwrap_or(file)
            .to_string_lossy()
            .replace('\\', "/");
        check_file(&rel, &text, &mut problems);
    }
    check_protocol_manifest(root, &mut problems)?;
    check_test_command(root, &mut problems)?;
    Ok(problems)
}

fn check_file(rel: &str, text: &str, problems: &mut Vec<String>) {
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    if !first.starts_with("//!") {
        problems.push(format!("{rel}: must open with a `//!` module doc"));
    }
    let generated = text.lines().take(5).any(|l| l.contains("@generated"));
    let lines = text.lines().count();
    if !generated && lines > MAX_LINES {
        problems.push(format!(
            "{rel}: {lines} lines; split it (limit {MAX_LINES})"
        ));
    }
    let unsafe_ok = UNSAFE_ALLOWED.iter().any(|p| rel.starts_with(p));
    let code_only = blank_comments_and_strings(text);
    for (n, code) in code_only.lines().enumerate() {
        if code.contains("#[ignore") {
            problems.push(format!(
                "{rel}:{}: #[ignore]; gate the test by an environment variable",
                n + 1
            ));
        }
        if !unsafe_ok && has_word(code, "unsafe") {
            problems.push(format!(
                "{rel}:{}: `unsafe` outside the FFI modules {UNSAFE_ALLOWED:?}",
                n + 1
            ));
        }
        if rel.starts_with("protocol/") {
            for bad in PROTOCOL_FORBIDDEN_TEXT {
                if code.contains(bad) {
                    problems.push(format!(
                        "{rel}:{}: `{bad}` in the sans-IO protocol crate",
                        n + 1
                    ));
                }
            }
        }
    }
}

fn check_protocol_manifest(root: &Path, problems: &mut Vec<String>) -> anyhow::Result<()> {
    let manifest =
        fs::read_to_string(root.join("protocol/Cargo.toml")).context("protocol/Cargo.toml")?;
    for line in manifest.lines() {
        let name = line.split(['=', '.', ' ']).next().unwrap_or("").trim();
        if PROTOCOL_FORBIDDEN_DEPS.contains(&name) {
            problems.push(format!(
                "protocol/Cargo.toml: depends on `{name}`; the protocol crate does no I/O"
            ));
        }
    }
    Ok(())
}

fn check_test_command(root: &Path, problems: &mut Vec<String>) -> anyhow::Result<()> {
    let readme = fs::read_to_string(root.join("README.md")).context("README.md")?;
    if !readme.lines().any(|l| l.trim() == TEST_COMMAND) {
        problems.push(format!(
            "README.md: the test command `{TEST_COMMAND}` must stand on a line of its own"
        ));
    }
    let ci = fs::read_to_string(root.join(".ci/run")).context(".ci/run")?;
    if !ci.lines().any(|l| l.trim() == TEST_COMMAND) {
        problems.push(format!(
            ".ci/run: must run the README's test command `{TEST_COMMAND}`"
        ));
    }
    Ok(())
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if !matches!(name, "target" | "corpus" | "artifacts") && !name.starts_with('.') {
                collect_rs(&path, out)?;
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// `text` with comments and the insides of string and char literals replaced by spaces; line
/// breaks are kept so line numbers still match.
fn blank_comments_and_strings(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r' && matches!(next, Some('"' | '#')) && !prev_is_ident(&chars, i) {
            let hashes = chars[i + 1..].iter().take_while(|&&h| h == '#').count();
            if chars.get(i + 1 + hashes) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            out.push('"');
            i += 2 + hashes;
            while i < chars.len() {
                let closes = chars[i] == '"'
                    && chars[i + 1..]
                        .iter()
                        .take(hashes)
                        .filter(|&&h| h == '#')
                        .count()
                        == hashes;
                if closes {
                    out.push('"');
                    i += 1 + hashes;
                    break;
                }
                out.push(blank(chars[i]));
                i += 1;
            }
        } else if c == '"' {
            out.push('"');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < chars.len() {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
            out.push('"');
            i += 1;
        } else if c == '\'' && next == Some('\\') {
            // An escaped char literal: skip to its closing quote.
            out.push(' ');
            i += 2;
            while i < chars.len() && chars[i] != '\'' {
                out.push(' ');
                i += 1;
            }
            out.push_str("  ");
            i += 1;
        } else if c == '\'' && chars.get(i + 2) == Some(&'\'') {
            out.push_str("   ");
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn prev_is_ident(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

fn has_word(code: &str, word: &str) -> bool {
    code.match_indices(word).any(|(i, _)| {
        let before = code[..i].chars().next_back();
        let after = code[i + word.len()..].chars().next();
        let is_ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        !is_ident(before) && !is_ident(after)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workspace_is_tidy() {
        let root = crate::workspace_root();
        let problems = check(&root).expect("tidy ran");
        assert!(
            problems.is_empty(),
            "tidy problems:\n{}",
            problems.join("\n")
        );
    }

    #[test]
    fn each_rule_catches_its_violation() {
        let mut p = Vec::new();
        check_file("codec/src/x.rs", "fn f() {}\n", &mut p);
        assert!(p[0].contains("module doc"), "{p:?}");

        p.clear();
        check_file("codec/src/x.rs", "//! doc\n#[ignore]\nfn t() {}\n", &mut p);
        assert!(p[0].contains("#[ignore]"), "{p:?}");

        p.clear();
        check_file(
            "agent/src/session/x.rs",
            "//! doc\nfn f() { unsafe { g() } }\n",
            &mut p,
        );
        assert!(p[0].contains("unsafe"), "{p:?}");
        p.clear();
        check_file(
            "agent/src/platform/x11/shm.rs",
            "//! doc\nfn f() { unsafe { g() } }\n",
            &mut p,
        );
        check_file(
            "agent/src/lib.rs",
            "//! doc\n#![deny(unsafe_code)]\n",
            &mut p,
        );
        assert!(p.is_empty(), "{p:?}");

        check_file(
            "protocol/src/x.rs",
            "//! doc\nlet t = std::time::Instant::now();\n",
            &mut p,
        );
        assert!(p[0].contains("Instant::now"), "{p:?}");

        p.clear();
        check_file(
            "agent/src/a.rs",
            "//! doc\nconst S: &str = \"no #[ignore], unsafe\"; // unsafe\n",
            &mut p,
        );
        check_file(
            "agent/src/b.rs",
            "//! doc\nconst S: &str = r#\"unsafe \"quoted\"\"#;\n/* unsafe */ fn f<'a>() {}\n",
            &mut p,
        );
        assert!(p.is_empty(), "{p:?}");

        let long = format!("//! doc\n{}", "let x = 1;\n".repeat(MAX_LINES));
        check_file("agent/src/big.rs", &long, &mut p);
        assert!(p[0].contains("split it"), "{p:?}");
        p.clear();
        let generated = format!(
            "//! Bindings. @generated\n{}",
            "let x = 1;\n".repeat(MAX_LINES)
        );
        check_file("codec/src/nvenc/sys.rs", &generated, &mut p);
        assert!(p.is_empty(), "{p:?}");
    }
}
