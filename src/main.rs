//! `crius`: the container runtime daemon, and the conformance tools (`record`, `replay`).

use clap::{Parser, Subcommand};
use crius::config::Config;
use std::path::PathBuf;
use std::process::ExitCode;

/// crius, a Kubernetes CRI runtime.
#[derive(Parser, Debug)]
#[command(name = "crius", version, about)]
struct Cli {
    /// Configuration file (drop-ins are read from `<file>.d/*.toml`).
    #[arg(
        long,
        env = "CRIUS_CONFIG",
        default_value = "/etc/crius/crius.toml",
        global = true
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the effective configuration.
    Config,
    /// Serve the CRI with the Linux backends (needs root).
    Serve(ServeArgs),
    /// Record CRI traffic: a transparent proxy from --listen to --upstream that writes a trace.
    Record {
        /// Unix socket to serve the proxy on (point kubelet or crictl here).
        #[arg(long, env = "CRIUS_RECORD_LISTEN")]
        listen: PathBuf,
        /// The runtime to forward to, e.g. unix:///run/containerd/containerd.sock.
        #[arg(long, env = "CRIUS_RECORD_UPSTREAM")]
        upstream: String,
        /// Trace file to write (JSON Lines).
        #[arg(long)]
        out: PathBuf,
        /// Kubernetes minor of the kubelet being recorded.
        #[arg(long, default_value = "1.36")]
        k8s: String,
    },
    /// Replay a trace against a CRI runtime; exit status 0 if it conforms, 1 if not.
    Replay {
        /// The trace (JSON Lines).
        file: PathBuf,
        /// The runtime, e.g. unix:///run/crius/crius.sock.
        #[arg(long, env = "CRIUS_REPLAY_ENDPOINT")]
        endpoint: String,
        /// Directory standing for `$LOG_ROOT` (default: a fresh one under the temp dir).
        #[arg(long)]
        log_root: Option<PathBuf>,
        /// Seconds to wait for each answer or stream message.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
    },
}

/// Overrides of the configuration for `crius serve`.
#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// Unix socket to serve the CRI on (overrides `[server] socket`).
    #[arg(long, env = "CRIUS_SOCKET")]
    socket: Option<PathBuf>,
    /// Log filter (tracing's EnvFilter syntax).
    #[arg(long, env = "CRIUS_LOG", default_value = "info")]
    log: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Record {
            listen,
            upstream,
            out,
            k8s,
        } => tools(record(listen, upstream, out, k8s)),
        Command::Replay {
            file,
            endpoint,
            log_root,
            timeout,
        } => tools(replay(file, endpoint, log_root, timeout)),
        command => daemon(&cli.config, command),
    }
}

fn daemon(config: &std::path::Path, command: Command) -> ExitCode {
    let config = match Config::load(config) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("crius: {e}");
            return ExitCode::FAILURE;
        }
    };
    match command {
        Command::Config => {
            print!("{}", config.to_toml());
            ExitCode::SUCCESS
        }
        Command::Serve(args) => serve(config, args),
        _ => unreachable!("record and replay need no configuration"),
    }
}

fn serve(mut config: Config, args: ServeArgs) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&args.log))
        .with_writer(std::io::stderr)
        .init();
    if let Some(socket) = args.socket {
        config.server.socket = socket;
        if let Err(e) = config.validate() {
            eprintln!("crius: --socket: {e}");
            return ExitCode::FAILURE;
        }
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("crius: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(crius::daemon::serve(
        &config,
        crius::server::shutdown_signal(),
    )) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("crius: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a conformance tool on a tokio runtime; `Err` is printed and exits with status 2.
fn tools(future: impl std::future::Future<Output = Result<ExitCode, String>>) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("crius: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(future) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("crius: {e}");
            ExitCode::from(2)
        }
    }
}

async fn record(
    listen: PathBuf,
    upstream: String,
    out: PathBuf,
    k8s: String,
) -> Result<ExitCode, String> {
    use crius_conformance::client::CriClient;
    use crius_conformance::record::{self, TraceWriter};
    let upstream = CriClient::connect(&upstream)
        .await
        .map_err(|e| e.to_string())?;
    let header = TraceWriter::header(&k8s, record::identify(&upstream).await);
    let file =
        std::fs::File::create(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let writer = TraceWriter::new(Box::new(std::io::BufWriter::new(file)), &header)
        .map_err(|e| e.to_string())?;
    eprintln!(
        "crius: recording {} → upstream into {}",
        listen.display(),
        out.display()
    );
    record::serve(&listen, upstream, writer, crius::server::shutdown_signal())
        .await
        .map_err(|e| e.to_string())?;
    Ok(ExitCode::SUCCESS)
}

async fn replay(
    file: PathBuf,
    endpoint: String,
    log_root: Option<PathBuf>,
    timeout: u64,
) -> Result<ExitCode, String> {
    use crius_conformance::client::CriClient;
    use crius_conformance::replay::{ReplayOptions, Replayer};
    let trace = crius_conformance::load(&file).map_err(|e| e.to_string())?;
    let client = CriClient::connect(&endpoint)
        .await
        .map_err(|e| e.to_string())?;
    let options = ReplayOptions {
        timeout: std::time::Duration::from_secs(timeout),
        log_root,
    };
    let report = Replayer::new(client)
        .with_options(options)
        .run(&trace)
        .await;
    print!("{}", report.render(&file.display().to_string()));
    Ok(if report.conforms() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
