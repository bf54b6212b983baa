//! `cargo xtask codegen`: regenerates `codec/src/nvenc/sys.rs`, the raw NVENC bindings.
//!
//! Where the header comes from: NVIDIA's `nvEncodeAPI.h` of Video Codec SDK 12.1 is MIT-licensed
//! and ships inside the `nvidia-video-codec-sdk` 0.4.0 crate on crates.io
//! (`src/sys/headers/nvEncodeAPI.h`). This command finds that crate in cargo's registry cache, or
//! lets `cargo fetch` bring it (through a throwaway manifest in a temporary directory: deskcast
//! never depends on that crate), checks that the header carries the MIT permission notice and an
//! API version of 12 or newer, and then:
//!
//! 1. writes a wrapper header that includes it and turns every `NV_…_VER` macro (function-like
//!    macros bindgen cannot evaluate) into a `static const uint32_t`, which clang evaluates;
//! 2. runs the `bindgen` CLI (`cargo install bindgen-cli`; it needs libclang, Debian
//!    `libclang-dev`) with newtype enums (a driver may return values this header does not know)
//!    and without function declarations (everything is reached through the function list that
//!    `NvEncodeAPICreateInstance` fills in, after `dlopen`);
//! 3. adds the codec, preset and profile GUIDs, which the header defines as `static const GUID`
//!    initialisers that bindgen skips, parsed from the header text;
//! 4. puts NVIDIA's licence notice and an `@generated` marker on top and formats the result.
//!
//! `cargo xtask codegen --check` regenerates into memory and fails if the committed file differs;
//! `--header PATH` uses another copy of the header.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail, ensure};

/// The crate whose bundled header we generate from, and the header's path inside it.
const SDK_CRATE: &str = "nvidia-video-codec-sdk";
const SDK_VERSION: &str = "0.4.0";
const HEADER_IN_CRATE: &str = "src/sys/headers/nvEncodeAPI.h";
/// Where the bindings go, relative to the workspace root.
const OUTPUT: &str = "codec/src/nvenc/sys.rs";
/// Prefix of the helper constants in the wrapper header; removed again afterwards.
const VER_PREFIX: &str = "DESKCAST_EVAL_";

/// Runs the command with the arguments after `codegen`.
pub(crate) fn run(root: &Path, args: &[String]) -> anyhow::Result<()> {
    let mut check = false;
    let mut header = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--check" => check = true,
            "--header" => header = Some(PathBuf::from(it.next().context("--header needs a path")?)),
            other => bail!("codegen: unknown argument `{other}`"),
        }
    }
    let header = match header {
        Some(h) => h,
        None => find_or_fetch_header()?,
    };
    let text =
        fs::read_to_string(&header).with_context(|| format!("reading {}", header.display()))?;
    let version = check_header(&text)?;
    let generated = generate(root, &header, &text, &version)?;
    let out = root.join(OUTPUT);
    if check {
        let current = fs::read_to_string(&out).unwrap_or_default();
        ensure!(
            current == generated,
            "{OUTPUT} is out of date; run `cargo xtask codegen`"
        );
        println!("codegen: {OUTPUT} is up to date (nvEncodeAPI.h {version})");
    } else {
        fs::write(&out, generated).with_context(|| format!("writing {}", out.display()))?;
        println!(
            "codegen: wrote {OUTPUT} from {} (API {version})",
            header.display()
        );
    }
    Ok(())
}

/// The header inside the SDK crate in cargo's registry cache, fetched first if absent.
fn find_or_fetch_header() -> anyhow::Result<PathBuf> {
    if let Some(found) = find_in_registry()? {
        return Ok(found);
    }
    let dir = std::env::temp_dir().join(format!("deskcast-codegen-{}", std::process::id()));
    fs::create_dir_all(dir.join("src"))?;
    fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"fetch-nvenc-header\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
             [dependencies]\n{SDK_CRATE} = {{ version = \"={SDK_VERSION}\", default-features = false }}\n\
             [workspace]\n"
        ),
    )?;
    fs::write(dir.join("src/lib.rs"), "")?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(&cargo)
        .arg("fetch")
        .current_dir(&dir)
        .status()
        .with_context(|| format!("running {cargo} fetch"))?;
    // Best effort: the directory only held the throwaway manifest.
    let _ = fs::remove_dir_all(&dir);
    ensure!(
        status.success(),
        "`cargo fetch` of {SDK_CRATE} {SDK_VERSION} failed"
    );
    find_in_registry()?.context("the fetched crate is not in cargo's registry cache")
}

fn find_in_registry() -> anyhow::Result<Option<PathBuf>> {
    let home = match std::env::var_os("CARGO_HOME") {
        Some(h) => PathBuf::from(h),
        None => PathBuf::from(std::env::var_os("HOME").context("neither CARGO_HOME nor HOME")?)
            .join(".cargo"),
    };
    let Ok(indexes) = fs::read_dir(home.join("registry/src")) else {
        return Ok(None);
    };
    for index in indexes {
        let candidate = index?
            .path()
            .join(format!("{SDK_CRATE}-{SDK_VERSION}"))
            .join(HEADER_IN_CRATE);
        if candidate.is_file() {
            return Ok(Some(candidate));
        }
    }
    Ok(None)
}

/// Checks the licence notice and the API version; returns the version as "major.minor".
fn check_header(text: &str) -> anyhow::Result<String> {
    let notice = licence_notice(text)?;
    ensure!(
        notice.contains("Permission is hereby granted, free of charge")
            && notice.contains("NVIDIA Corporation"),
        "the header does not carry NVIDIA's MIT permission notice; refusing to use it"
    );
    let number = |name: &str| -> anyhow::Result<u32> {
        text.lines()
            .find_map(|l| {
                l.strip_prefix("#define ")?
                    .strip_prefix(name)?
                    .trim()
                    .parse()
                    .ok()
            })
            .with_context(|| format!("no `#define {name}` in the header"))
    };
    let (major, minor) = (
        number("NVENCAPI_MAJOR_VERSION")?,
        number("NVENCAPI_MINOR_VERSION")?,
    );
    ensure!(
        major >= 12,
        "nvEncodeAPI.h {major}.{minor} is too old: AV1 needs API 12 or newer"
    );
    Ok(format!("{major}.{minor}"))
}

/// The header's opening comment: NVIDIA's copyright and MIT permission notice.
fn licence_notice(text: &str) -> anyhow::Result<&str> {
    let start = text
        .find("/*")
        .context("the header has no opening comment")?;
    let end = text[start..]
        .find("*/")
        .context("unterminated opening comment")?;
    Ok(&text[start..start + end + 2])
}

/// The complete text of `sys.rs`.
fn generate(root: &Path, header: &Path, text: &str, version: &str) -> anyhow::Result<String> {
    let versions = struct_version_macros(text);
    let guids = guids(text)?;
    let work = std::env::temp_dir().join(format!("deskcast-bindgen-{}", std::process::id()));
    fs::create_dir_all(&work)?;
    let wrapper = work.join("wrapper.h");
    let header_abs = fs::canonicalize(header)?;
    let mut w = format!("#include \"{}\"\n", header_abs.display());
    for name in &versions {
        writeln!(w, "static const uint32_t {VER_PREFIX}{name} = {name};")?;
    }
    fs::write(&wrapper, w)?;
    let output = Command::new("bindgen")
        .arg(&wrapper)
        .args([
            "--rust-target",
            "1.88",
            "--rust-edition",
            "2024",
            "--default-enum-style",
            "newtype",
            "--ignore-functions",
            "--allowlist-item",
            "_?NV.*|_?GUID|NVENC.*|PNV.*|DESKCAST_EVAL_.*",
            "--blocklist-item",
            "NV_ENC_.*_GUID",
            "--blocklist-item",
            "NVENCAPI_STRUCT_VERSION",
            "--no-prepend-enum-name",
            "--with-derive-partialeq",
            "--with-derive-eq",
            "--no-partialeq",
            "_?NV_ENCODE_API_FUNCTION_LIST",
            "--formatter",
            "none",
            "--",
            "-x",
            "c",
        ])
        .output()
        .context("running `bindgen` (install it with `cargo install bindgen-cli`)")?;
    let _ = fs::remove_dir_all(&work);
    ensure!(
        output.status.success(),
        "bindgen failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let bindings = String::from_utf8(output.stdout)?.replace(VER_PREFIX, "");
    let mut out = String::new();
    writeln!(
        out,
        "//! Raw NVENC API bindings (nvEncodeAPI.h {version}, NVIDIA Video Codec SDK), layer 1 of 3."
    )?;
    writeln!(
        out,
        "//! @generated by `cargo xtask codegen` from the header bundled in the {SDK_CRATE} {SDK_VERSION}"
    )?;
    writeln!(out, "//! crate (`{HEADER_IN_CRATE}`); do not edit by hand.")?;
    writeln!(out, "//! Header SHA-256: {}.", sha256(header)?)?;
    writeln!(out, "//!")?;
    writeln!(
        out,
        "//! The header's licence notice, which these bindings carry with them:"
    )?;
    writeln!(out, "//!")?;
    writeln!(out, "//! ```text")?;
    for line in licence_notice(text)?.lines() {
        writeln!(out, "//! {}", line.trim_end()).map(|()| ())?;
    }
    writeln!(out, "//! ```")?;
    out.push_str(concat!(
        "\n#![allow(non_camel_case_types, non_snake_case, non_upper_case_globals, dead_code)]\n",
        "#![allow(missing_debug_implementations, unused_qualifications, unused_imports)]\n",
        "#![allow(unsafe_op_in_unsafe_fn, clippy::all, clippy::pedantic, clippy::nursery)]\n",
        "#![allow(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]\n",
        "#![allow(clippy::multiple_unsafe_ops_per_block, rustdoc::all)]\n\n",
    ));
    out.push_str(&bindings);
    out.push_str("\n// The GUIDs the header defines as `static const GUID` initialisers.\n");
    for (name, g) in &guids {
        writeln!(
            out,
            "pub const {name}: GUID = GUID {{ Data1: {:#010x}, Data2: {:#06x}, Data3: {:#06x}, \
             Data4: [{}] }};",
            g[0],
            g[1],
            g[2],
            g[3..]
                .iter()
                .map(|b| format!("{b:#04x}"))
                .collect::<Vec<_>>()
                .join(", ")
        )?;
    }
    rustfmt(root, &out)
}

/// The file's SHA-256 as hex, through coreutils' `sha256sum`.
fn sha256(path: &Path) -> anyhow::Result<String> {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .context("running sha256sum")?;
    ensure!(out.status.success(), "sha256sum failed");
    let text = String::from_utf8(out.stdout)?;
    Ok(text
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned())
}

/// Names of the `#define NV_…_VER …` struct-version macros.
fn struct_version_macros(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let name = l.strip_prefix("#define ")?.split_whitespace().next()?;
            (name.starts_with("NV")
                && name.ends_with("_VER")
                && l.contains("NVENCAPI_STRUCT_VERSION"))
            .then(|| name.to_owned())
        })
        .collect()
}

/// `static const GUID NAME = { 0x…, 0x…, 0x…, { 0x…, … } };` definitions, as 11 numbers each.
fn guids(text: &str) -> anyhow::Result<Vec<(String, Vec<u32>)>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("static const GUID ") {
        rest = rest[at + "static const GUID ".len()..].trim_start();
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let end = rest
            .find("};")
            .with_context(|| format!("unterminated GUID {name}"))?;
        let body = &rest[..end];
        let numbers = body
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter_map(|t| t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")))
            .map(|h| u32::from_str_radix(h, 16))
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("GUID {name}: bad hex number"))?;
        ensure!(
            numbers.len() == 11,
            "GUID {name}: {} numbers, not 11",
            numbers.len()
        );
        out.push((name, numbers));
        rest = &rest[end..];
    }
    ensure!(!out.is_empty(), "no GUIDs found in the header");
    Ok(out)
}

/// Formats `code` the way `cargo fmt` does in this workspace.
fn rustfmt(root: &Path, code: &str) -> anyhow::Result<String> {
    use std::io::Write as _;
    let mut child = Command::new("rustfmt")
        .args(["--edition", "2024", "--emit", "stdout", "--config-path"])
        .arg(root.join("rustfmt.toml"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("running rustfmt")?;
    child
        .stdin
        .take()
        .context("rustfmt stdin")?
        .write_all(code.as_bytes())?;
    let output = child.wait_with_output()?;
    ensure!(
        output.status.success(),
        "rustfmt failed on the generated bindings"
    );
    Ok(String::from_utf8(output.stdout)?)
}
