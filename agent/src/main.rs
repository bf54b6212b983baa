//! The `deskcast` command.

use clap::Parser;

/// deskcast: stream this X11 desktop to stock RustDesk clients.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {}

fn main() -> anyhow::Result<()> {
    let _cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    anyhow::bail!("the agent is not assembled yet; see the open issues")
}
