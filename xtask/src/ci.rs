//! `cargo xtask ci`: everything CI checks, in the order that fails fastest.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};

/// Runs every check; stops at the first failure.
pub(crate) fn run(root: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    step("tidy", || crate::tidy::run(root))?;
    step("fmt", || {
        cargo(root, &["fmt", "--all", "--", "--check"], &[])
    })?;
    step("clippy", || {
        cargo(
            root,
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--locked",
                "--",
                "-D",
                "warnings",
            ],
            &[],
        )
    })?;
    step("test", || {
        cargo(root, &["test", "--workspace", "--locked"], &[])
    })?;
    step("doc", || {
        cargo(
            root,
            &[
                "doc",
                "--workspace",
                "--no-deps",
                "--locked",
                "--document-private-items",
            ],
            &[("RUSTDOCFLAGS", "-D warnings")],
        )
    })?;
    step("bench build", || {
        cargo(root, &["bench", "--workspace", "--no-run", "--locked"], &[])
    })?;
    println!("xtask ci: all green in {:.0?}", started.elapsed());
    Ok(())
}

fn step(name: &str, f: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<()> {
    println!("==> {name}");
    let started = Instant::now();
    f().with_context(|| format!("step `{name}` failed"))?;
    println!("<== {name} ({:.1?})", started.elapsed());
    Ok(())
}

/// Runs `cargo args…` in `root` with extra environment variables.
pub(crate) fn cargo(root: &Path, args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(&cargo)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(root)
        .status()
        .with_context(|| format!("running {cargo}"))?;
    if !status.success() {
        bail!("`cargo {}` exited with {status}", args.join(" "));
    }
    Ok(())
}
