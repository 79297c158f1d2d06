//! Pod lifecycle benchmark of the `crius-sim` daemon over its CRI socket.
//!
//! Run with `cargo bench -p crius-sim --bench lifecycle`. It measures, from
//! the outside and over the real gRPC transport:
//!
//! * **Phase A — throughput**: 1, 16 and 64 concurrent clients each run full
//!   pod lifecycles (RunPodSandbox, PullImage, CreateContainer,
//!   StartContainer, StopContainer, RemoveContainer, StopPodSandbox,
//!   RemovePodSandbox) for a fixed wall-clock budget; it prints lifecycles per
//!   second and the p50/p99 latency of every call.
//! * **Phase B — memory**: on a fresh daemon, 64 clients create 1,000 and
//!   then 10,000 live pods, each with one started container, and the daemon's
//!   `VmRSS`/`VmHWM` is read from `/proc/<pid>/status` at each milestone.
//!
//! Environment:
//!
//! * `CRIUS_BENCH_SECONDS` — seconds per concurrency level in phase A
//!   (default 3);
//! * `CRIUS_BENCH_QUICK=1` — a smoke run: 1 s per level and 200/1,000 pods.
//!
//! This is a benchmark, not a test: it asserts nothing about timings. It
//! panics only if the daemon fails a call.

use crius_proto::cri;
use crius_proto::cri::image_service_client::ImageServiceClient;
use crius_proto::cri::runtime_service_client::RuntimeServiceClient;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tonic::transport::{Channel, Endpoint, Uri};

/// The image every container runs.
const IMAGE: &str = "busybox";
/// Concurrency levels of phase A.
const LEVELS: [usize; 3] = [1, 16, 64];
/// Concurrent clients in phase B.
const MEMORY_CLIENTS: usize = 64;
/// Tonic channels (HTTP/2 connections) the clients of one level share.
const CHANNELS: usize = 4;

/// Benchmark settings, from the environment.
struct Settings {
    /// Wall-clock budget of each concurrency level in phase A.
    per_level: Duration,
    /// Live pod counts at which phase B measures memory, ascending.
    milestones: Vec<usize>,
}

impl Settings {
    fn from_env() -> Settings {
        let quick = std::env::var("CRIUS_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        let seconds = std::env::var("CRIUS_BENCH_SECONDS")
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0)
            .unwrap_or(if quick { 1.0 } else { 3.0 });
        Settings {
            per_level: Duration::from_secs_f64(seconds),
            milestones: if quick {
                vec![200, 1_000]
            } else {
                vec![1_000, 10_000]
            },
        }
    }
}

// ---------------------------------------------------------------------------
// The daemon under test.
// ---------------------------------------------------------------------------

/// A running `crius-sim serve` child process, killed when dropped (also
/// when the benchmark panics).
struct Daemon {
    child: Child,
    socket: PathBuf,
    /// Holds the socket and the pod log directories; removed on drop.
    dir: tempfile::TempDir,
}

impl Daemon {
    /// Starts the daemon on a socket in a new temporary directory and waits
    /// until it accepts connections.
    fn start() -> Daemon {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let socket = dir.path().join("crius.sock");
        let child = Command::new(env!("CARGO_BIN_EXE_crius-sim"))
            .arg("serve")
            .arg("--socket")
            .arg(&socket)
            .args(["--speed", "1000", "--log", "warn"])
            .stdin(Stdio::null())
            .spawn()
            .expect("start crius-sim");
        let mut daemon = Daemon { child, socket, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::os::unix::net::UnixStream::connect(&daemon.socket).is_err() {
            if let Some(status) = daemon.child.try_wait().expect("poll crius-sim") {
                panic!("crius-sim exited before serving: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "crius-sim did not serve its socket within 10 s"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        daemon
    }

    /// Where pods of phase A keep their logs.
    fn log_root(&self) -> PathBuf {
        self.dir.path().join("pods")
    }

    /// CPU time the daemon has used so far.
    fn cpu(&self) -> Duration {
        cpu_time(&self.child.id().to_string())
    }

    /// The daemon's resident set size and its peak, in bytes.
    fn memory(&self) -> Memory {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("read the daemon's /proc status");
        let field = |name: &str| -> u64 {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
                .map(|kib| kib * 1024)
                .unwrap_or_else(|| panic!("no {name} in /proc status"))
        };
        Memory {
            rss: field("VmRSS:"),
            hwm: field("VmHWM:"),
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU time (user + system) process `pid` has used so far, from
/// `/proc/<pid>/stat`; assumes the usual 100 clock ticks per second.
fn cpu_time(pid: &str) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc stat");
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')').expect("a /proc stat line") + 2..];
    let ticks: u64 = rest
        .split(' ')
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

/// A memory reading of the daemon.
#[derive(Clone, Copy)]
struct Memory {
    rss: u64,
    hwm: u64,
}

/// Bytes as MiB.
fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

// ---------------------------------------------------------------------------
// Clients.
// ---------------------------------------------------------------------------

/// Opens one HTTP/2 connection (a tonic channel) to the unix socket.
async fn connect(socket: &Path) -> Channel {
    let socket = socket.to_owned();
    Endpoint::try_from("http://localhost")
        .expect("a valid placeholder URI")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let socket = socket.clone();
            async move {
                tokio::net::UnixStream::connect(socket)
                    .await
                    .map(TokioIo::new)
            }
        }))
        .await
        .expect("connect to the CRI socket")
}

/// The CRI runtime and image clients of one benchmark task.
#[derive(Clone)]
struct Client {
    runtime: RuntimeServiceClient<Channel>,
    images: ImageServiceClient<Channel>,
}

impl Client {
    fn new(channel: Channel) -> Client {
        Client {
            runtime: RuntimeServiceClient::new(channel.clone()),
            images: ImageServiceClient::new(channel),
        }
    }
}

/// `CHANNELS` connections to the daemon, handed out round-robin.
async fn clients(socket: &Path, count: usize) -> Vec<Client> {
    let mut channels = Vec::with_capacity(CHANNELS);
    for _ in 0..CHANNELS {
        channels.push(connect(socket).await);
    }
    (0..count)
        .map(|i| Client::new(channels[i % CHANNELS].clone()))
        .collect()
}

// ---------------------------------------------------------------------------
// Requests.
// ---------------------------------------------------------------------------

/// The CRI calls of a lifecycle, in order; the index into latency tables.
#[derive(Clone, Copy)]
enum Call {
    RunPodSandbox,
    PullImage,
    CreateContainer,
    StartContainer,
    StopContainer,
    RemoveContainer,
    StopPodSandbox,
    RemovePodSandbox,
}

impl Call {
    const ALL: [Call; 8] = [
        Call::RunPodSandbox,
        Call::PullImage,
        Call::CreateContainer,
        Call::StartContainer,
        Call::StopContainer,
        Call::RemoveContainer,
        Call::StopPodSandbox,
        Call::RemovePodSandbox,
    ];

    fn name(self) -> &'static str {
        match self {
            Call::RunPodSandbox => "RunPodSandbox",
            Call::PullImage => "PullImage",
            Call::CreateContainer => "CreateContainer",
            Call::StartContainer => "StartContainer",
            Call::StopContainer => "StopContainer",
            Call::RemoveContainer => "RemoveContainer",
            Call::StopPodSandbox => "StopPodSandbox",
            Call::RemovePodSandbox => "RemovePodSandbox",
        }
    }
}

/// Latencies in microseconds: one list per [`Call`], plus whole lifecycles.
#[derive(Default)]
struct Latencies {
    calls: [Vec<u32>; 8],
    lifecycles: Vec<u32>,
}

impl Latencies {
    fn merge(&mut self, other: Latencies) {
        for (mine, theirs) in self.calls.iter_mut().zip(other.calls) {
            mine.extend(theirs);
        }
        self.lifecycles.extend(other.lifecycles);
    }
}

/// Microseconds since `start`, saturating.
fn micros_since(start: Instant) -> u32 {
    start.elapsed().as_micros().min(u32::MAX as u128) as u32
}

/// Runs `call`, recording its latency when `latencies` is given; panics on
/// a CRI error, naming the call.
async fn timed<T>(
    latencies: Option<&mut Latencies>,
    call: Call,
    request: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> T {
    let start = Instant::now();
    let response = request.await;
    if let Some(latencies) = latencies {
        latencies.calls[call as usize].push(micros_since(start));
    }
    match response {
        Ok(response) => response.into_inner(),
        Err(status) => panic!("{} failed: {status}", call.name()),
    }
}

/// A pod config as kubelet would send it for pod number `n`; with a log
/// directory under `log_root` when given.
fn pod_config(n: u64, log_root: Option<&Path>) -> cri::PodSandboxConfig {
    let name = format!("bench-{n}");
    cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: name.clone(),
            uid: format!("uid-{n:016x}"),
            namespace: "bench".into(),
            attempt: 0,
        }),
        hostname: name.clone(),
        log_directory: log_root
            .map(|root| root.join(&name).to_string_lossy().into_owned())
            .unwrap_or_default(),
        labels: HashMap::from([("io.kubernetes.pod.name".to_string(), name)]),
        ..Default::default()
    }
}

/// A `sleep 3600` container config, logging to `app/0.log` when `logs`.
fn container_config(logs: bool) -> cri::ContainerConfig {
    cri::ContainerConfig {
        metadata: Some(cri::ContainerMetadata {
            name: "app".into(),
            attempt: 0,
        }),
        image: Some(image_spec()),
        command: vec!["sleep".into(), "3600".into()],
        log_path: if logs {
            "app/0.log".into()
        } else {
            String::new()
        },
        labels: HashMap::from([("app".to_string(), "app".to_string())]),
        ..Default::default()
    }
}

fn image_spec() -> cri::ImageSpec {
    cri::ImageSpec {
        image: IMAGE.into(),
        ..Default::default()
    }
}

/// Pulls the image (phase B and warm-up; phase A pulls inside lifecycles).
async fn pull(client: &mut Client, latencies: Option<&mut Latencies>) {
    let request = cri::PullImageRequest {
        image: Some(image_spec()),
        ..Default::default()
    };
    timed(
        latencies,
        Call::PullImage,
        client.images.pull_image(request),
    )
    .await;
}

/// Runs pod `n` with one started container; returns the pod and container
/// ids. Records latencies when `latencies` is given.
async fn start_pod(
    client: &mut Client,
    n: u64,
    log_root: Option<&Path>,
    mut latencies: Option<&mut Latencies>,
    pull_image: bool,
) -> (String, String) {
    let config = pod_config(n, log_root);
    let run = cri::RunPodSandboxRequest {
        config: Some(config.clone()),
        runtime_handler: String::new(),
    };
    let pod = timed(
        latencies.as_deref_mut(),
        Call::RunPodSandbox,
        client.runtime.run_pod_sandbox(run),
    )
    .await
    .pod_sandbox_id;
    if pull_image {
        pull(client, latencies.as_deref_mut()).await;
    }
    let create = cri::CreateContainerRequest {
        pod_sandbox_id: pod.clone(),
        config: Some(container_config(log_root.is_some())),
        sandbox_config: Some(config),
    };
    let container = timed(
        latencies.as_deref_mut(),
        Call::CreateContainer,
        client.runtime.create_container(create),
    )
    .await
    .container_id;
    let start = cri::StartContainerRequest {
        container_id: container.clone(),
    };
    timed(
        latencies,
        Call::StartContainer,
        client.runtime.start_container(start),
    )
    .await;
    (pod, container)
}

/// One full lifecycle of pod `n`, recording every call's latency.
async fn lifecycle(client: &mut Client, n: u64, log_root: &Path, latencies: &mut Latencies) {
    let begin = Instant::now();
    let (pod, container) = start_pod(client, n, Some(log_root), Some(&mut *latencies), true).await;
    let stop = cri::StopContainerRequest {
        container_id: container.clone(),
        timeout: 0,
    };
    timed(
        Some(&mut *latencies),
        Call::StopContainer,
        client.runtime.stop_container(stop),
    )
    .await;
    let remove = cri::RemoveContainerRequest {
        container_id: container,
    };
    timed(
        Some(&mut *latencies),
        Call::RemoveContainer,
        client.runtime.remove_container(remove),
    )
    .await;
    let stop = cri::StopPodSandboxRequest {
        pod_sandbox_id: pod.clone(),
    };
    timed(
        Some(&mut *latencies),
        Call::StopPodSandbox,
        client.runtime.stop_pod_sandbox(stop),
    )
    .await;
    let remove = cri::RemovePodSandboxRequest {
        pod_sandbox_id: pod,
    };
    timed(
        Some(&mut *latencies),
        Call::RemovePodSandbox,
        client.runtime.remove_pod_sandbox(remove),
    )
    .await;
    latencies.lifecycles.push(micros_since(begin));
}

// ---------------------------------------------------------------------------
// Phase A: throughput.
// ---------------------------------------------------------------------------

/// The outcome of one concurrency level.
struct Level {
    clients: usize,
    lifecycles: usize,
    elapsed: Duration,
    /// CPU time the daemon and the benchmark's clients used during the level.
    daemon_cpu: Duration,
    client_cpu: Duration,
    latencies: Latencies,
}

impl Level {
    fn per_second(&self) -> f64 {
        self.lifecycles as f64 / self.elapsed.as_secs_f64()
    }

    /// Lifecycles per second of daemon CPU time: throughput if the daemon
    /// had one core to itself.
    fn per_daemon_cpu_second(&self) -> f64 {
        self.lifecycles as f64 / self.daemon_cpu.as_secs_f64().max(1e-9)
    }

    /// CPU use of the daemon and of the clients, in cores.
    fn cores_used(&self) -> (f64, f64) {
        let wall = self.elapsed.as_secs_f64();
        (
            self.daemon_cpu.as_secs_f64() / wall,
            self.client_cpu.as_secs_f64() / wall,
        )
    }
}

/// Runs lifecycles from `concurrency` tasks until `budget` has passed.
async fn throughput(
    daemon: &Daemon,
    concurrency: usize,
    budget: Duration,
    next_pod: &Arc<AtomicU64>,
) -> Level {
    let log_root = Arc::new(daemon.log_root());
    let clients = clients(&daemon.socket, concurrency).await;
    let (daemon_cpu, client_cpu) = (daemon.cpu(), cpu_time("self"));
    let start = Instant::now();
    let deadline = start + budget;
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|mut client| {
            let next_pod = next_pod.clone();
            let log_root = log_root.clone();
            tokio::spawn(async move {
                let mut latencies = Latencies::default();
                while Instant::now() < deadline {
                    let n = next_pod.fetch_add(1, Ordering::Relaxed);
                    lifecycle(&mut client, n, &log_root, &mut latencies).await;
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Latencies::default();
    for task in tasks {
        latencies.merge(task.await.expect("a lifecycle task panicked"));
    }
    Level {
        clients: concurrency,
        lifecycles: latencies.lifecycles.len(),
        elapsed: start.elapsed(),
        daemon_cpu: daemon.cpu().saturating_sub(daemon_cpu),
        client_cpu: cpu_time("self").saturating_sub(client_cpu),
        latencies,
    }
}

/// The `q`-quantile (0..=1) of `values` (sorted in place), nearest rank.
fn quantile(values: &mut [u32], q: f64) -> u32 {
    if values.is_empty() {
        return 0;
    }
    values.sort_unstable();
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

/// The markdown table of one level: per-call p50/p99 in microseconds.
fn level_table(level: &mut Level) -> String {
    let mut out = format!(
        "### {} client(s): {:.0} lifecycles/s ({} in {:.2} s; daemon {:.2} cores, clients {:.2} cores)\n\n",
        level.clients,
        level.per_second(),
        level.lifecycles,
        level.elapsed.as_secs_f64(),
        level.cores_used().0,
        level.cores_used().1,
    );
    out.push_str("| call | calls | p50 µs | p99 µs |\n|---|---:|---:|---:|\n");
    for call in Call::ALL {
        let values = &mut level.latencies.calls[call as usize];
        let count = values.len();
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            call.name(),
            count,
            quantile(values, 0.50),
            quantile(values, 0.99)
        ));
    }
    let whole = &mut level.latencies.lifecycles;
    let count = whole.len();
    out.push_str(&format!(
        "| *whole lifecycle* | {} | {} | {} |\n",
        count,
        quantile(whole, 0.50),
        quantile(whole, 0.99)
    ));
    out
}

// ---------------------------------------------------------------------------
// Phase B: memory.
// ---------------------------------------------------------------------------

/// Starts pods numbered `from..to` (each with one running container) from
/// `MEMORY_CLIENTS` tasks.
async fn fill(clients: &[Client], from: u64, to: u64) {
    let next = Arc::new(AtomicU64::new(from));
    let tasks: Vec<_> = clients
        .iter()
        .cloned()
        .map(|mut client| {
            let next = next.clone();
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= to {
                        break;
                    }
                    start_pod(&mut client, n, None, None, false).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a pod-starting task panicked");
    }
}

/// A memory milestone: live pods and the daemon's memory then.
struct Milestone {
    pods: usize,
    memory: Memory,
    took: Duration,
}

/// Phase B on a fresh daemon: an idle reading, then one per milestone.
async fn memory(milestones: &[usize]) -> Vec<Milestone> {
    let daemon = Daemon::start();
    let clients = clients(&daemon.socket, MEMORY_CLIENTS).await;
    // Let the daemon settle before the idle reading.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut readings = vec![Milestone {
        pods: 0,
        memory: daemon.memory(),
        took: Duration::ZERO,
    }];
    pull(&mut clients[0].clone(), None).await;
    let mut live = 0;
    for &target in milestones {
        let start = Instant::now();
        fill(&clients, live as u64, target as u64).await;
        let took = start.elapsed();
        live = target;
        // Give the exit watcher and ticker a moment, then read.
        tokio::time::sleep(Duration::from_millis(200)).await;
        readings.push(Milestone {
            pods: live,
            memory: daemon.memory(),
            took,
        });
    }
    readings
}

fn memory_table(readings: &[Milestone]) -> String {
    let mut out = String::from(
        "| live pods (1 container each) | VmRSS MiB | VmHWM MiB | KiB/pod over idle | fill time s |\n",
    );
    out.push_str("|---:|---:|---:|---:|---:|\n");
    let idle = readings.first().map(|m| m.memory.rss).unwrap_or(0);
    for m in readings {
        let per_pod = if m.pods == 0 {
            "—".to_string()
        } else {
            format!(
                "{:.1}",
                m.memory.rss.saturating_sub(idle) as f64 / 1024.0 / m.pods as f64
            )
        };
        out.push_str(&format!(
            "| {} | {:.1} | {:.1} | {} | {:.2} |\n",
            m.pods,
            mib(m.memory.rss),
            mib(m.memory.hwm),
            per_pod,
            m.took.as_secs_f64()
        ));
    }
    out
}

// ---------------------------------------------------------------------------
// Report.
// ---------------------------------------------------------------------------

/// Today's date (UTC) as `YYYY-MM-DD`, from the days-since-epoch count.
fn today() -> String {
    let days = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0) as i64;
    // Shift the epoch to 0000-03-01 so that leap days end each 400-year era's years.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153; // 0 = March
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    // `cargo bench` passes `--bench`; a filter argument or `--list` is ignored.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let settings = Settings::from_env();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    eprintln!(
        "crius-sim lifecycle bench: {:.1} s per level, milestones {:?}, {cores} cores",
        settings.per_level.as_secs_f64(),
        settings.milestones
    );

    // Phase A.
    let mut levels = Vec::new();
    {
        let daemon = Daemon::start();
        // Warm up: the first pull of the image is the slow one.
        pull(&mut clients(&daemon.socket, 1).await.remove(0), None).await;
        let next_pod = Arc::new(AtomicU64::new(0));
        for concurrency in LEVELS {
            let mut level = throughput(&daemon, concurrency, settings.per_level, &next_pod).await;
            println!("{}", level_table(&mut level));
            levels.push(level);
        }
    }

    // Phase B.
    let readings = memory(&settings.milestones).await;
    let memory = memory_table(&readings);
    println!("### Memory\n\n{memory}");

    // The block for the README.
    let mut summary = format!("## crius-sim figures ({}, {cores} cores)\n\n", today());
    summary.push_str(&format!(
        "Full pod lifecycles (8 CRI calls) over the unix socket, {:.0} s per level, `--speed 1000`:\n\n",
        settings.per_level.as_secs_f64()
    ));
    summary.push_str(
        "| clients | lifecycles/s | per daemon CPU-s | daemon / client cores | lifecycle p50 µs | lifecycle p99 µs | slowest call p99 µs |\n",
    );
    summary.push_str("|---:|---:|---:|---:|---:|---:|---|\n");
    for level in &mut levels {
        let (slowest, slowest_p99) = Call::ALL
            .iter()
            .map(|&call| {
                (
                    call.name(),
                    quantile(&mut level.latencies.calls[call as usize], 0.99),
                )
            })
            .max_by_key(|&(_, p99)| p99)
            .unwrap_or(("—", 0));
        let (daemon_cores, client_cores) = level.cores_used();
        summary.push_str(&format!(
            "| {} | {:.0} | {:.0} | {daemon_cores:.2} / {client_cores:.2} | {} | {} | {} {} |\n",
            level.clients,
            level.per_second(),
            level.per_daemon_cpu_second(),
            quantile(&mut level.latencies.lifecycles, 0.50),
            quantile(&mut level.latencies.lifecycles, 0.99),
            slowest,
            slowest_p99
        ));
    }
    summary.push_str(&format!(
        "\nDaemon memory with live pods ({MEMORY_CLIENTS} clients filling):\n\n{memory}"
    ));
    println!("{summary}");
}
