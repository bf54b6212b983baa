//! `deskcast-test-servers`: the loopback rendezvous server and relay of
//! `deskcast_testkit::servers`, for manual runs and for `cargo xtask bench`.
//!
//! ```text
//! deskcast-test-servers [--rendezvous ADDR] [--relay ADDR] [--relay-key] [--stdin]
//! ```
//!
//! Defaults: rendezvous on 127.0.0.1:21116 (UDP and TCP), relay on 127.0.0.1:21117. It prints
//! three lines — `rendezvous ADDR`, `relay ADDR`, `key KEY` — then serves until it gets SIGINT
//! or SIGTERM (or, with `--stdin`, until its standard input closes, which suits a parent that
//! holds a pipe). `--relay-key` makes the relay require the key, as `hbbr -k _`.

// Printing the addresses and key is this program's output.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Read as _;
use std::net::SocketAddr;
use std::process::ExitCode;

use deskcast_testkit::servers::{RelayOptions, RendezvousOptions, TestRelay, TestRendezvous};

const USAGE: &str =
    "usage: deskcast-test-servers [--rendezvous ADDR] [--relay ADDR] [--relay-key] [--stdin]";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("deskcast-test-servers: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let mut rendezvous: SocketAddr = ([127, 0, 0, 1], 21116).into();
    let mut relay: SocketAddr = ([127, 0, 0, 1], 21117).into();
    let mut relay_key = false;
    let mut watch_stdin = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut address = |name: &str| {
            let value = args
                .next()
                .ok_or(format!("{name} needs an address\n{USAGE}"))?;
            value
                .parse::<SocketAddr>()
                .map_err(|_| format!("{name} {value:?}: expected IP:PORT"))
        };
        match arg.as_str() {
            "--rendezvous" => rendezvous = address("--rendezvous")?,
            "--relay" => relay = address("--relay")?,
            "--relay-key" => relay_key = true,
            "--stdin" => watch_stdin = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let rendezvous = TestRendezvous::bind(RendezvousOptions {
        bind: rendezvous,
        relays: vec![relay.to_string()],
        ..RendezvousOptions::default()
    })
    .map_err(|e| format!("rendezvous server on {rendezvous}: {e}"))?;
    let relay = TestRelay::bind(RelayOptions {
        bind: relay,
        licence_key: relay_key.then(|| rendezvous.key_base64()),
    })
    .map_err(|e| format!("relay on {relay}: {e}"))?;
    println!("rendezvous {}", rendezvous.addr());
    println!("relay {}", relay.addr());
    println!("key {}", rendezvous.key_base64());
    wait_for_the_end(watch_stdin)?;
    drop((rendezvous, relay));
    Ok(())
}

/// Returns when a SIGINT or SIGTERM arrives, or stdin reaches its end (with `watch_stdin`).
fn wait_for_the_end(watch_stdin: bool) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let result = runtime.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| e.to_string())?;
        let stdin_closed = async {
            if !watch_stdin {
                return std::future::pending().await;
            }
            let _ = tokio::task::spawn_blocking(|| {
                let mut sink = [0u8; 256];
                let mut stdin = std::io::stdin();
                while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
            })
            .await;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
            () = stdin_closed => {}
        }
        Ok(())
    });
    // A thread still blocked on stdin must not hold the exit up.
    runtime.shutdown_background();
    result
}
