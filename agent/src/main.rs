//! The `deskcast` command.

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use deskcast::cli;

/// deskcast: stream this X11 desktop to stock RustDesk clients.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// On a Proxmox host: print (or --apply) the LXC lines that pass GPUs and devices through.
    LxcConfig(cli::lxc_config::Args),
    /// Install, remove or inspect the systemd user service.
    Service(cli::service::Args),
}

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    // Logs go to standard error so that standard output carries only the command's result.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let mut stdout = std::io::stdout().lock();
    let code = match cli.command {
        Command::LxcConfig(args) => {
            cli::lxc_config::run(args, &mut stdout)?;
            ExitCode::SUCCESS
        }
        Command::Service(args) => cli::service::run(args, &mut stdout)?,
    };
    stdout.flush()?;
    Ok(code)
}
