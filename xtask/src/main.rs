//! `cargo xtask`: the project's automation, in Rust so it needs nothing but cargo.

// xtask talks to the person at the terminal; printing is its job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod bench;
mod ci;
mod codegen;
mod fuzz;
mod interop;
mod tidy;

use std::path::PathBuf;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  ci      fmt check, tidy, clippy -D warnings, tests, docs -D warnings, benches build
  tidy    the project's own rules (module docs, no #[ignore], sans-IO protocol, unsafe placement)
  codegen regenerate codec/src/nvenc/sys.rs from nvEncodeAPI.h (needs bindgen-cli, libclang)
  bench   deskcast vs ffmpeg/GStreamer on the same scenes: report under target/bench-report
  fuzz    [--seconds N] [TARGET...]  run the cargo-fuzz targets in fuzz/ (default 30 s each)
  interop --hbbs PATH --hbbr PATH [--keep] [-- FILTER...]  end-to-end tests against real
          hbbs/hbbr in a network namespace (needs root)
";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    match args.first().map(String::as_str) {
        Some("ci") => ci::run(&root),
        Some("tidy") => tidy::run(&root),
        Some("codegen") => codegen::run(&root, &args[1..]),
        Some("bench") => bench::run(&root, &args[1..]),
        Some("fuzz") => fuzz::run(&root, &args[1..]),
        Some("interop") => interop::run(&root, &args[1..]),
        Some("-h" | "--help" | "help") | None => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => anyhow::bail!("unknown command `{other}`\n\n{USAGE}"),
    }
}

/// The workspace root: xtask lives one level below it.
fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}
