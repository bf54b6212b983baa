//! The `deskcast` command.

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use deskcast::cli;

/// The `alloc-count` build counts every heap allocation, for `deskcast encode-stream`.
#[cfg(feature = "alloc-count")]
#[global_allocator]
static ALLOCATOR: &stats_alloc::StatsAlloc<std::alloc::System> = &stats_alloc::INSTRUMENTED_SYSTEM;

/// deskcast: stream this X11 desktop to stock RustDesk clients.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    config: cli::settings::ConfigPath,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the agent: register with the rendezvous server and stream this desktop.
    Run(cli::run::Args),
    /// Check everything deskcast needs here; each problem comes with its fix.
    Doctor(cli::doctor::Args),
    /// Print or change the ID clients dial.
    Id(cli::settings::IdArgs),
    /// Set the password clients log in with.
    Password(cli::settings::PasswordArgs),
    /// Show the effective configuration, or where it is.
    Config(cli::settings::ConfigArgs),
    /// On a Proxmox host: print (or --apply) the LXC lines that pass GPUs and devices through.
    LxcConfig(cli::lxc_config::Args),
    /// Install, remove or inspect the systemd user service.
    Service(cli::service::Args),
    /// Connect to an agent like a RustDesk client and measure fps, bitrate and latency.
    Probe(cli::probe::Args),
    /// Benchmarks: capture and encode like a session, writing the stream to standard output.
    #[command(hide = true)]
    EncodeStream(cli::encode_stream::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The agent logs what it does; the one-shot commands only warn.
    let default_filter = if matches!(cli.command, Command::Run(_)) {
        "info"
    } else {
        "warn"
    };
    // Logs go to standard error so that standard output carries only the command's result.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .init();
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            // One clear message, no backtrace: every error says what to fix.
            #[allow(clippy::print_stderr)] // The command's own failure report.
            {
                eprintln!("deskcast: {e:#}");
            }
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let env = deskcast::service::config::Env::from_process();
    let mut stdout = std::io::stdout().lock();
    let code = match cli.command {
        Command::Run(args) => {
            cli::run::run(args, &cli.config, &env, &mut stdout)?;
            ExitCode::SUCCESS
        }
        Command::Doctor(args) => {
            if cli::doctor::run(&args, &cli.config, &env, &mut stdout) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Command::Id(args) => {
            cli::settings::run_id(args, &cli.config, &env, &mut stdout)?;
            ExitCode::SUCCESS
        }
        Command::Password(args) => {
            let mut stdin = std::io::stdin().lock();
            cli::settings::run_password(args, &cli.config, &env, &mut stdin, &mut stdout)?;
            ExitCode::SUCCESS
        }
        Command::Config(args) => {
            cli::settings::run_config(args, &cli.config, &env, &mut stdout)?;
            ExitCode::SUCCESS
        }
        Command::LxcConfig(args) => {
            cli::lxc_config::run(args, &mut stdout)?;
            ExitCode::SUCCESS
        }
        Command::Service(args) => cli::service::run(args, &mut stdout)?,
        Command::Probe(args) => {
            let (mut stdin, mut stderr) = (std::io::stdin().lock(), std::io::stderr());
            cli::probe::run(&args, &mut stdin, &mut stdout, &mut stderr)
        }
        Command::EncodeStream(args) => {
            let mut stderr = std::io::stderr();
            cli::encode_stream::run(&args, allocation_counter(), &mut stdout, &mut stderr)?;
            ExitCode::SUCCESS
        }
    };
    stdout.flush()?;
    Ok(code)
}

/// Heap allocations (and reallocations) so far, in the `alloc-count` build.
#[cfg(feature = "alloc-count")]
fn allocation_counter() -> Option<cli::encode_stream::AllocationCounter> {
    Some(|| {
        let stats = ALLOCATOR.stats();
        (stats.allocations + stats.reallocations) as u64
    })
}

#[cfg(not(feature = "alloc-count"))]
fn allocation_counter() -> Option<cli::encode_stream::AllocationCounter> {
    None
}
