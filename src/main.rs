//! `crius`: the container runtime daemon.

use clap::{Parser, Subcommand};
use crius::config::Config;
use std::path::PathBuf;
use std::process::ExitCode;

/// crius, a Kubernetes CRI runtime.
#[derive(Parser, Debug)]
#[command(name = "crius", version, about)]
struct Cli {
    /// Configuration file (drop-ins are read from `<file>.d/*.toml`).
    #[arg(long, env = "CRIUS_CONFIG", default_value = "/etc/crius/crius.toml", global = true)]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the effective configuration.
    Config,
    /// Serve the CRI with the Linux backends.
    Serve,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(&cli.config) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("crius: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Command::Config => {
            print!("{}", config.to_toml());
            ExitCode::SUCCESS
        }
        Command::Serve => {
            eprintln!(
                "crius: the Linux backends (registry pulls, overlayfs, runc, CNI, cgroups) are not \
                 built yet, so `crius serve` cannot run containers; `crius-sim serve` serves the \
                 same CRI over the simulated node"
            );
            ExitCode::FAILURE
        }
    }
}
