//! `crius-sim`: the simulated node, serving CRI on a unix socket with no root.

use clap::{Parser, Subcommand};
use crius::runtime::{Runtime, RuntimeSettings};
use crius::server::{CriServer, Identity};
use crius::store::Store;
use crius::streaming::StreamingServer;
use crius_sim::catalogue::Catalogue;
use crius_sim::faults::{FaultInjector, FaultPlan};
use crius_sim::network::Subnet;
use crius_sim::node::{DEFAULT_SUBNET, SimNode, SimOptions};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// The crius simulated node: the CRI over in-memory fakes, in virtual time.
#[derive(Parser, Debug)]
#[command(name = "crius-sim", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the CRI on a unix socket.
    Serve(ServeArgs),
}

#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// Unix socket to serve the CRI on.
    #[arg(
        long,
        env = "CRIUS_SIM_SOCKET",
        default_value = "/tmp/crius-sim/crius.sock"
    )]
    socket: PathBuf,
    /// Fault plan (TOML) to inject failures from.
    #[arg(long, env = "CRIUS_SIM_FAULT_PLAN")]
    fault_plan: Option<PathBuf>,
    /// Image catalogue (TOML) fixing the shape of some images.
    #[arg(long, env = "CRIUS_SIM_CATALOGUE")]
    catalogue: Option<PathBuf>,
    /// Speed of virtual time relative to real time.
    #[arg(long, env = "CRIUS_SIM_SPEED", default_value_t = 1.0)]
    speed: f64,
    /// Directory to persist pods, containers and images in (memory only when absent).
    #[arg(long, env = "CRIUS_SIM_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Seed of ids.
    #[arg(long, env = "CRIUS_SIM_SEED", default_value_t = 0)]
    seed: u64,
    /// Subnet pod addresses come from.
    #[arg(long, env = "CRIUS_SIM_SUBNET", default_value = DEFAULT_SUBNET)]
    subnet: String,
    /// Address of the exec/attach/port-forward streaming server (port 0: any free port).
    #[arg(long, env = "CRIUS_SIM_STREAMING_ADDRESS", default_value = crius::streaming::DEFAULT_ADDRESS)]
    streaming_address: std::net::SocketAddr,
    /// Log filter (tracing's EnvFilter syntax).
    #[arg(long, env = "CRIUS_LOG", default_value = "info")]
    log: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(&args.log))
                .with_writer(std::io::stderr)
                .init();
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(runtime) => runtime,
                Err(e) => {
                    eprintln!("crius-sim: cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(serve(args)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(message) => {
                    eprintln!("crius-sim: {message}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    if !(args.speed.is_finite() && args.speed > 0.0) {
        return Err(format!(
            "--speed must be a positive number, got {}",
            args.speed
        ));
    }
    let faults = match &args.fault_plan {
        Some(path) => {
            let plan = FaultPlan::load(path).map_err(|e| e.to_string())?;
            FaultInjector::new(plan).map_err(|e| e.to_string())?
        }
        None => FaultInjector::none(),
    };
    let catalogue = match &args.catalogue {
        Some(path) => Catalogue::load(path).map_err(|e| e.to_string())?,
        None => Catalogue::default(),
    };
    let subnet = Subnet::parse(&args.subnet).map_err(|e| format!("--subnet: {e}"))?;
    let node = SimNode::new(SimOptions {
        seed: args.seed,
        speed: Some(args.speed),
        subnet,
        catalogue,
        faults: Arc::new(faults),
    });
    let store = match &args.state_dir {
        Some(dir) => Some(Store::open(&dir.join("crius-sim.redb")).map_err(|e| e.to_string())?),
        None => None,
    };
    let settings = RuntimeSettings::default();
    let handlers = settings.runtime_handlers.clone();
    let core = Arc::new(Runtime::new(node.backends(), settings, store));
    core.recover().await.map_err(|e| e.to_string())?;
    let _exit_watcher = core.spawn_exit_watcher();
    let _ticker = node.spawn_ticker(Duration::from_millis(10));
    let info = serde_json::json!({
        "backend": "simulated",
        "speed": args.speed,
        "subnet": args.subnet,
        "stateDir": args.state_dir,
        "faultPlan": args.fault_plan,
    })
    .to_string();
    let mut handlers_with_default = vec![String::new()];
    handlers_with_default.extend(handlers);
    let streaming = StreamingServer::bind(core.clone(), args.streaming_address)
        .await
        .map_err(|e| format!("--streaming-address {}: {e}", args.streaming_address))?;
    let streams = streaming.clone();
    let _streaming = tokio::spawn(async move { streams.serve(std::future::pending()).await });
    let server = CriServer::new(core, Identity::crius(handlers_with_default, info))
        .with_streaming(streaming);
    server
        .serve(&args.socket, crius::server::shutdown_signal())
        .await
        .map_err(|e| e.to_string())
}
