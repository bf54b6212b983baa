//! `cargo xtask fuzz [--seconds N] [TARGET…]`: runs each cargo-fuzz target in `fuzz/` for a
//! bounded time (default 30 s each), one after the other, and stops at the first crash.
//!
//! Needs `cargo-fuzz` (`cargo install cargo-fuzz`). Its sanitizer flags (`-Zsanitizer=address`)
//! are nightly-only; on a stable toolchain `RUSTC_BOOTSTRAP=1` unlocks them, which is what
//! this command sets. Corpora grow in `fuzz/corpus/<target>`, crashes land in
//! `fuzz/artifacts/<target>` (both ignored by git).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};

/// Every target in `fuzz/Cargo.toml`.
const TARGETS: &[&str] = &[
    "frame_decoder",
    "message",
    "handshake_agent",
    "handshake_client",
    "rendezvous_agent",
];
const DEFAULT_SECONDS: u64 = 30;

/// Parses the arguments after `fuzz` and runs the chosen targets.
pub(crate) fn run(root: &Path, args: &[String]) -> anyhow::Result<()> {
    let mut seconds = DEFAULT_SECONDS;
    let mut targets = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => {
                let value = args.next().context("--seconds needs a number")?;
                seconds = value
                    .parse()
                    .with_context(|| format!("--seconds {value}: not a number"))?;
            }
            target if TARGETS.contains(&target) => targets.push(target),
            other => bail!(
                "unknown fuzz argument `{other}`; targets: {}",
                TARGETS.join(", ")
            ),
        }
    }
    if targets.is_empty() {
        targets = TARGETS.to_vec();
    }
    check_cargo_fuzz(root)?;
    let started = Instant::now();
    for target in &targets {
        println!("==> fuzz {target} for {seconds} s");
        crate::ci::cargo(
            root,
            &[
                "fuzz",
                "run",
                target,
                "--",
                &format!("-max_total_time={seconds}"),
                "-print_final_stats=1",
            ],
            &[("RUSTC_BOOTSTRAP", "1")],
        )
        .with_context(|| format!("fuzz target `{target}` failed; see fuzz/artifacts/{target}"))?;
    }
    println!(
        "xtask fuzz: {} target(s) ran {seconds} s each without a crash ({:.0?} in all)",
        targets.len(),
        started.elapsed()
    );
    Ok(())
}

fn check_cargo_fuzz(root: &Path) -> anyhow::Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let found = Command::new(&cargo)
        .args(["fuzz", "--version"])
        .current_dir(root)
        .output()
        .is_ok_and(|out| out.status.success());
    if !found {
        bail!("cargo-fuzz is missing; install it with `cargo install cargo-fuzz`");
    }
    Ok(())
}
