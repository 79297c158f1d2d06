//! Exec and port-forward end to end, as root: the real `crius serve` binary with the Linux
//! backends and its streaming server, driven over WebSocket (tokio-tungstenite as the client)
//! with URLs from the CRI's Exec and PortForward. The node (registry, CNI bridge, cgroup
//! parent, daemon) is set up as in `tests/linux_daemon.rs`, whose helpers are copied here;
//! Drop guards remove whatever a failing test leaves.

mod image_support;

use crius_proto::cri;
use crius_proto::cri::image_service_client::ImageServiceClient;
use crius_proto::cri::runtime_service_client::RuntimeServiceClient;
use futures::{SinkExt, StreamExt};
use image_support::builder::{Compression, Entry, Image, layer};
use image_support::registry::TestRegistry;
use nix::mount::{MntFlags, umount2};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tonic::transport::Channel;

const INSTALL: &str =
    "apt-get install runc containernetworking-plugins iproute2 docker-registry busybox-static";
const PLUGINS: &str = "/usr/lib/cni";
const RUNC: &str = "/usr/sbin/runc";

fn require_prerequisites() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the daemon test mounts, pins namespaces and creates cgroups: run it as root"
    );
    for plugin in ["bridge", "host-local", "loopback"] {
        let path = Path::new(PLUGINS).join(plugin);
        assert!(path.is_file(), "{} is missing: {INSTALL}", path.display());
    }
    for file in [
        RUNC,
        "/usr/bin/docker-registry",
        "/bin/busybox",
        "/usr/sbin/ip",
    ] {
        assert!(Path::new(file).is_file(), "{file} is missing: {INSTALL}");
    }
}

/// A tag unique to this run: bridge, subnet and cgroup parent derive from it.
fn unique_tag() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    (std::process::id() << 12) ^ nanos
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// busybox with its applets as hard links, as Debian's busybox package lays it out.
fn busybox_image() -> Image {
    let busybox = std::fs::read("/bin/busybox")
        .unwrap_or_else(|e| panic!("reading /bin/busybox ({e}): {INSTALL}"));
    let mut entries = vec![
        Entry::Dir("bin/", 0o755),
        Entry::File("bin/busybox".into(), busybox, 0o755),
    ];
    for applet in [
        "bin/sh",
        "bin/echo",
        "bin/sleep",
        "bin/cat",
        "bin/ls",
        "bin/true",
        "bin/nc",
    ] {
        entries.push(Entry::HardLink(applet, "bin/busybox"));
    }
    entries.extend([
        Entry::Dir("etc/", 0o755),
        Entry::File(
            "etc/passwd".into(),
            b"root:x:0:0:root:/root:/bin/sh\n".to_vec(),
            0o644,
        ),
        Entry::File("etc/group".into(), b"root:x:0:\n".to_vec(), 0o644),
        Entry::Dir("tmp/", 0o1777),
    ]);
    Image::new(vec![layer(&entries, Compression::Gzip)], host_arch(), "sh")
}

/// Mount points at or under `dir`, deepest first.
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let mut points: Vec<PathBuf> = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(PathBuf::from)
        .filter(|p| p.starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    points
}

/// Pids of processes whose command line mentions `needle` (other than this test).
fn processes_mentioning(needle: &str) -> Vec<(i32, String)> {
    let me = std::process::id() as i32;
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid != me)
        .filter_map(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            text.contains(needle).then_some((pid, text))
        })
        .collect()
}

/// The directories of cgroup `parent` in every mounted hierarchy.
fn cgroup_dirs(parent: &str) -> Vec<PathBuf> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(" - cgroup ") || l.contains(" - cgroup2 "))
        .filter_map(|l| l.split(' ').nth(4))
        .map(|mount| Path::new(mount).join(parent.trim_start_matches('/')))
        .filter(|dir| dir.is_dir())
        .collect()
}

/// Subdirectories (pod and container cgroups) under `dirs`, deepest first.
fn cgroup_children(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending: Vec<PathBuf> = dirs.to_vec();
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                found.push(entry.path());
                pending.push(entry.path());
            }
        }
    }
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    found
}

/// One private node: directories, config, the daemon process. Drop cleans up whatever a
/// failing test left: the daemon, its processes, mounts, cgroups, the bridge.
struct Node {
    _dir: tempfile::TempDir,
    root: PathBuf,
    socket: PathBuf,
    config: PathBuf,
    bridge: String,
    network: String,
    cgroup_parent: String,
    daemon: Option<Child>,
}

impl Node {
    fn new(registry_host: &str) -> Node {
        let tag = unique_tag();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let bridge = format!("cre{:05x}", tag & 0xfffff);
        let network = format!("crius-e2e-{tag:08x}");
        let subnet = format!("10.{}.{}.0/24", 150 + tag % 50, (tag >> 8) % 256);
        let cgroup_parent = format!("/crius-e2e-{tag:08x}");
        let net_d = root.join("net.d");
        std::fs::create_dir_all(&net_d).unwrap();
        let conflist = serde_json::json!({
            "cniVersion": "1.0.0",
            "name": network,
            "plugins": [{
                "type": "bridge",
                "bridge": bridge,
                "isGateway": true,
                "ipMasq": false,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{ "subnet": subnet }]],
                    "routes": [{ "dst": "0.0.0.0/0" }],
                    "dataDir": root.join("ipam"),
                }
            }]
        });
        std::fs::write(
            net_d.join("10-e2e.conflist"),
            serde_json::to_vec_pretty(&conflist).unwrap(),
        )
        .unwrap();
        let registries = root.join("registries.conf");
        std::fs::write(
            &registries,
            format!(
                "[[registry]]\nprefix = \"docker.io/library/busybox\"\nlocation = \"{registry_host}/library/busybox\"\ninsecure = true\n\n\
                 [[registry]]\nlocation = \"{registry_host}\"\ninsecure = true\n"
            ),
        )
        .unwrap();
        let socket = root.join("crius.sock");
        let config = root.join("crius.toml");
        std::fs::write(
            &config,
            format!(
                "[server]\nsocket = \"{socket}\"\n\n\
                 [runtime]\nstate_dir = \"{root}/state\"\nrun_dir = \"{root}/run\"\n\
                 handlers = {{ runc = {{ path = \"{RUNC}\" }} }}\n\n\
                 [images]\nregistries_conf = \"{registries}\"\nauth_file = \"\"\n\n\
                 [network]\nconf_dir = \"{net_d}\"\nplugin_dirs = [\"{PLUGINS}\"]\n\n\
                 [cgroups]\nparent = \"{cgroup_parent}\"\n",
                socket = socket.display(),
                root = root.display(),
                registries = registries.display(),
                net_d = net_d.display(),
            ),
        )
        .unwrap();
        Node {
            _dir: dir,
            root,
            socket,
            config,
            bridge,
            network,
            cgroup_parent,
            daemon: None,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("daemon.log")).unwrap_or_default()
    }

    /// Starts `crius serve` and waits for its socket.
    fn start(&mut self) {
        let log = std::fs::File::create(self.root.join("daemon.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_crius"))
            .arg("--config")
            .arg(&self.config)
            .arg("serve")
            .env("CRIUS_LOG", "info,crius=debug")
            .env_remove("CRIUS_SOCKET")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("starting crius serve");
        self.daemon = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.socket.exists() {
            if let Ok(Some(status)) = self.daemon.as_mut().unwrap().try_wait() {
                panic!(
                    "crius serve exited with {status} before serving; its log:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no socket after 30 s; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM; the exit status.
    fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.daemon.take().expect("daemon running");
        kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "crius serve did not exit within 20 s of SIGTERM; log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    async fn clients(&self) -> (RuntimeServiceClient<Channel>, ImageServiceClient<Channel>) {
        let channel =
            crius_conformance::client::connect(&format!("unix://{}", self.socket.display()))
                .await
                .expect("connecting to the CRI socket");
        (
            RuntimeServiceClient::new(channel.clone()),
            ImageServiceClient::new(channel),
        )
    }

    /// Everything that must be gone once pods are removed and the daemon stopped.
    fn leftovers(&self) -> Vec<String> {
        let mut left = Vec::new();
        for point in mounts_under(&self.root) {
            left.push(format!("mount {}", point.display()));
        }
        let pods = self.root.join("run/pods");
        for entry in std::fs::read_dir(&pods).into_iter().flatten().flatten() {
            left.push(format!("pod directory {}", entry.path().display()));
        }
        let containers = self.root.join("state/rootfs/containers");
        for entry in std::fs::read_dir(&containers)
            .into_iter()
            .flatten()
            .flatten()
        {
            left.push(format!("rootfs directory {}", entry.path().display()));
        }
        for cgroup in cgroup_children(&cgroup_dirs(&self.cgroup_parent)) {
            left.push(format!("cgroup {}", cgroup.display()));
        }
        for (pid, cmdline) in processes_mentioning(&self.root.display().to_string()) {
            left.push(format!("process {pid}: {cmdline}"));
        }
        let ipam = self.root.join("ipam").join(&self.network);
        for entry in std::fs::read_dir(&ipam).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.parse::<std::net::IpAddr>().is_ok() {
                left.push(format!("address reservation {name}"));
            }
        }
        left
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.daemon.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let root = self.root.display().to_string();
        for (pid, _) in processes_mentioning(&root) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        // Container processes are in the pod cgroups; kill them there, then remove them.
        let parents = cgroup_dirs(&self.cgroup_parent);
        for cgroup in cgroup_children(&parents) {
            if let Ok(procs) = std::fs::read_to_string(cgroup.join("cgroup.procs")) {
                for pid in procs.lines().filter_map(|p| p.parse::<i32>().ok()) {
                    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(200));
        for cgroup in cgroup_children(&parents).into_iter().chain(parents) {
            let _ = std::fs::remove_dir(&cgroup);
        }
        for _ in 0..4 {
            for point in mounts_under(&self.root) {
                let _ = umount2(&point, MntFlags::MNT_DETACH);
            }
        }
        let _ = Command::new("ip")
            .args(["link", "delete", &self.bridge])
            .stderr(Stdio::null())
            .status();
    }
}

fn pod_config(node: &Node, name: &str) -> cri::PodSandboxConfig {
    cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: name.into(),
            uid: format!("uid-{name}"),
            namespace: "e2e".into(),
            attempt: 0,
        }),
        hostname: name.into(),
        log_directory: node.root.join("logs").join(name).display().to_string(),
        labels: HashMap::from([("app".to_string(), name.to_string())]),
        linux: Some(cri::LinuxPodSandboxConfig::default()),
        ..Default::default()
    }
}

fn container_config(name: &str, image: &str, command: &[&str]) -> cri::ContainerConfig {
    cri::ContainerConfig {
        metadata: Some(cri::ContainerMetadata {
            name: name.into(),
            attempt: 0,
        }),
        image: Some(cri::ImageSpec {
            image: image.into(),
            ..Default::default()
        }),
        command: command.iter().map(|s| s.to_string()).collect(),
        log_path: format!("{name}/0.log"),
        linux: Some(cri::LinuxContainerConfig {
            security_context: Some(cri::LinuxContainerSecurityContext {
                run_as_user: Some(cri::Int64Value { value: 0 }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Starts container `name` running `command` in `pod` and waits until it runs.
async fn start_container(
    node: &Node,
    runtime: &mut RuntimeServiceClient<Channel>,
    pod: &str,
    pod_config: &cri::PodSandboxConfig,
    name: &str,
    command: &[&str],
) -> String {
    let container = runtime
        .create_container(cri::CreateContainerRequest {
            pod_sandbox_id: pod.to_string(),
            config: Some(container_config(name, "busybox", command)),
            sandbox_config: Some(pod_config.clone()),
        })
        .await
        .unwrap_or_else(|e| panic!("CreateContainer {name}: {e}; log:\n{}", node.log()))
        .into_inner()
        .container_id;
    runtime
        .start_container(cri::StartContainerRequest {
            container_id: container.clone(),
        })
        .await
        .unwrap_or_else(|e| panic!("StartContainer {name}: {e}; log:\n{}", node.log()));
    container
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens the WebSocket of streaming URL `url` (plus `query`) with subprotocol `protocol`.
async fn websocket(url: &str, query: &str, protocol: &str) -> Socket {
    let address = format!("{}{query}", url.replacen("http://", "ws://", 1));
    let mut request = address.as_str().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", protocol.parse().unwrap());
    let (socket, response) = tokio_tungstenite::connect_async(request)
        .await
        .unwrap_or_else(|e| panic!("WebSocket to {address}: {e}"));
    assert_eq!(
        response
            .headers()
            .get("Sec-WebSocket-Protocol")
            .and_then(|v| v.to_str().ok()),
        Some(protocol)
    );
    socket
}

/// What an exec sent back.
#[derive(Debug, Default)]
struct ExecOutcome {
    stdout: String,
    stderr: String,
    status: serde_json::Value,
}

/// Runs an exec session at `url` to its end: sends `input` on stdin (then closes it with v5's
/// close channel), collects the output and the status from the error channel.
async fn run_exec(url: &str, protocol: &str, input: Option<&[u8]>) -> ExecOutcome {
    let mut socket = websocket(url, "", protocol).await;
    if let Some(input) = input {
        let mut message = vec![0u8];
        message.extend_from_slice(input);
        socket.send(Message::Binary(message.into())).await.unwrap();
        socket
            .send(Message::Binary(vec![255u8, 0].into()))
            .await
            .unwrap();
    }
    let mut outcome = ExecOutcome::default();
    let mut error = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let next = tokio::time::timeout_at(deadline, socket.next())
            .await
            .unwrap_or_else(|_| panic!("the exec at {url} did not end within 60 s: {outcome:?}"));
        match next {
            Some(Ok(Message::Binary(data))) if !data.is_empty() => {
                let text = String::from_utf8_lossy(&data[1..]).into_owned();
                match data[0] {
                    1 => outcome.stdout.push_str(&text),
                    2 => outcome.stderr.push_str(&text),
                    3 => error.extend_from_slice(&data[1..]),
                    other => panic!("message on unexpected channel {other}"),
                }
            }
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
            Some(Ok(_)) => {}
        }
    }
    outcome.status = serde_json::from_slice(&error)
        .unwrap_or_else(|e| panic!("status {:?}: {e}", String::from_utf8_lossy(&error)));
    outcome
}

/// An Exec URL from the CRI.
async fn exec_url(
    runtime: &mut RuntimeServiceClient<Channel>,
    container: &str,
    cmd: &[&str],
    stdin: bool,
    tty: bool,
) -> String {
    runtime
        .exec(cri::ExecRequest {
            container_id: container.into(),
            cmd: cmd.iter().map(|s| s.to_string()).collect(),
            tty,
            stdin,
            stdout: true,
            stderr: !tty,
            ..Default::default()
        })
        .await
        .expect("Exec")
        .into_inner()
        .url
}

/// Sends `payload` through a port-forward to `port` of `pod` and returns what came back, or
/// the error the server reported on the port's error channel.
async fn forward_once(
    runtime: &mut RuntimeServiceClient<Channel>,
    pod: &str,
    port: u16,
    payload: &[u8],
) -> Result<Vec<u8>, String> {
    let url = runtime
        .port_forward(cri::PortForwardRequest {
            pod_sandbox_id: pod.into(),
            port: vec![i32::from(port)],
        })
        .await
        .expect("PortForward")
        .into_inner()
        .url;
    let mut socket = websocket(&url, &format!("?port={port}"), "v4.channel.k8s.io").await;
    let mut message = vec![0u8];
    message.extend_from_slice(payload);
    socket.send(Message::Binary(message.into())).await.unwrap();
    let mut seen_port = [false; 2];
    let mut echoed = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while echoed.len() < payload.len() {
        let next = match tokio::time::timeout_at(deadline, socket.next()).await {
            Ok(next) => next,
            Err(_) => return Err(format!("timed out; echoed so far {echoed:?}")),
        };
        match next {
            Some(Ok(Message::Binary(data))) if !data.is_empty() => {
                let channel = usize::from(data[0]);
                assert!(channel < 2, "message on unexpected channel {channel}");
                let body = &data[1..];
                if !seen_port[channel] {
                    assert_eq!(body, port.to_le_bytes(), "the first message names the port");
                    seen_port[channel] = true;
                } else if channel == 0 {
                    echoed.extend_from_slice(body);
                } else {
                    return Err(String::from_utf8_lossy(body).into_owned());
                }
            }
            Some(Ok(Message::Close(_))) | None => return Err("closed".into()),
            Some(Err(e)) => return Err(e.to_string()),
            Some(Ok(_)) => {}
        }
    }
    let _ = socket.close(None).await;
    Ok(echoed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_and_port_forward_reach_a_running_pod() {
    require_prerequisites();
    let registry = TestRegistry::start();
    registry
        .pusher()
        .push_image("library/busybox", "latest", &busybox_image(), false);
    let mut node = Node::new(&registry.host);
    node.start();
    let (mut runtime, mut images) = node.clients().await;
    images
        .pull_image(cri::PullImageRequest {
            image: Some(cri::ImageSpec {
                image: "busybox".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("PullImage: {e}; log:\n{}", node.log()));
    let pod_config = pod_config(&node, "streams");
    let pod = runtime
        .run_pod_sandbox(cri::RunPodSandboxRequest {
            config: Some(pod_config.clone()),
            runtime_handler: String::new(),
        })
        .await
        .unwrap_or_else(|e| panic!("RunPodSandbox: {e}; log:\n{}", node.log()))
        .into_inner()
        .pod_sandbox_id;
    let sleeper = start_container(
        &node,
        &mut runtime,
        &pod,
        &pod_config,
        "sleeper",
        &["sleep", "100"],
    )
    .await;
    let echo = start_container(
        &node,
        &mut runtime,
        &pod,
        &pod_config,
        "echo",
        &["nc", "-ll", "-p", "8080", "-e", "/bin/cat"],
    )
    .await;

    // Exec over v4 and v5: output, exit status, standard input.
    let url = exec_url(&mut runtime, &sleeper, &["echo", "hi"], false, false).await;
    let out = run_exec(&url, "v4.channel.k8s.io", None).await;
    assert_eq!(out.stdout, "hi\n", "{out:?}; log:\n{}", node.log());
    assert_eq!(out.status["status"], "Success", "{out:?}");

    let url = exec_url(
        &mut runtime,
        &sleeper,
        &["sh", "-c", "echo oops >&2; exit 3"],
        false,
        false,
    )
    .await;
    let out = run_exec(&url, "v5.channel.k8s.io", None).await;
    assert_eq!(out.stderr, "oops\n", "{out:?}");
    assert_eq!(out.status["status"], "Failure", "{out:?}");
    assert_eq!(out.status["reason"], "NonZeroExitCode", "{out:?}");
    assert_eq!(
        out.status["details"]["causes"][0]["message"], "3",
        "{out:?}"
    );

    let url = exec_url(&mut runtime, &sleeper, &["cat"], true, false).await;
    let out = run_exec(&url, "v5.channel.k8s.io", Some(b"through stdin\n")).await;
    assert_eq!(out.stdout, "through stdin\n", "{out:?}");
    assert_eq!(out.status["status"], "Success", "{out:?}");

    // A terminal is refused with a reason, not faked.
    let url = exec_url(&mut runtime, &sleeper, &["sh"], false, true).await;
    let out = run_exec(&url, "v5.channel.k8s.io", None).await;
    assert_eq!(out.status["status"], "Failure", "{out:?}");
    let message = out.status["message"].as_str().unwrap_or_default();
    assert!(message.contains("pty"), "{out:?}");

    // Port-forward into the pod's network namespace, to the nc echo server (retrying while
    // it starts listening).
    let payload = b"round trip through the pod\n";
    let deadline = Instant::now() + Duration::from_secs(20);
    let echoed = loop {
        match forward_once(&mut runtime, &pod, 8080, payload).await {
            Ok(echoed) => break echoed,
            Err(e) if Instant::now() < deadline => {
                eprintln!("port-forward not ready yet: {e}");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => panic!("port-forward failed: {e}; log:\n{}", node.log()),
        }
    };
    assert_eq!(echoed, payload);
    let refused = forward_once(&mut runtime, &pod, 8081, payload).await;
    assert!(
        refused.as_ref().is_err_and(|e| e.contains("8081")),
        "{refused:?}"
    );

    for container in [&sleeper, &echo] {
        runtime
            .stop_container(cri::StopContainerRequest {
                container_id: container.clone(),
                timeout: 1,
            })
            .await
            .unwrap_or_else(|e| panic!("StopContainer: {e}; log:\n{}", node.log()));
        runtime
            .remove_container(cri::RemoveContainerRequest {
                container_id: container.clone(),
            })
            .await
            .unwrap_or_else(|e| panic!("RemoveContainer: {e}; log:\n{}", node.log()));
    }
    runtime
        .stop_pod_sandbox(cri::StopPodSandboxRequest {
            pod_sandbox_id: pod.clone(),
        })
        .await
        .unwrap_or_else(|e| panic!("StopPodSandbox: {e}; log:\n{}", node.log()));
    runtime
        .remove_pod_sandbox(cri::RemovePodSandboxRequest {
            pod_sandbox_id: pod.clone(),
        })
        .await
        .unwrap_or_else(|e| panic!("RemovePodSandbox: {e}; log:\n{}", node.log()));
    drop((runtime, images));
    let exit = node.terminate();
    assert!(
        exit.success(),
        "crius serve exited with {exit}; log:\n{}",
        node.log()
    );
    let left = node.leftovers();
    assert!(
        left.is_empty(),
        "left behind: {left:#?}\nlog:\n{}",
        node.log()
    );
}
