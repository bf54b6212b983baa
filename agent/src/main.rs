//! The `deskcast` command.

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use deskcast::cli;

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
    let env = deskcast::service::config::Env::from_process();
    let mut stdout = std::io::stdout().lock();
    let code = match cli.command {
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
    };
    stdout.flush()?;
    Ok(code)
}
