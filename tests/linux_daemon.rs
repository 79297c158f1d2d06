//! End to end, as root: the real `crius serve` binary with the Linux backends, driven over its
//! socket with the generated CRI clients. A local docker-registry serves a busybox image
//! (Debian's busybox-static with its applets hard-linked), reached through a registries.conf
//! rewrite of `docker.io/library/busybox`; CNI is a private bridge with its own subnet; pod
//! cgroups go under a private parent. After the pod is gone and the daemon has exited on
//! SIGTERM, nothing may be left: mounts, pinned namespaces, cgroups, processes, addresses.

mod image_support;

use crius_proto::cri;
use crius_proto::cri::image_service_client::ImageServiceClient;
use crius_proto::cri::runtime_service_client::RuntimeServiceClient;
use image_support::builder::{Compression, Entry, Image, layer};
use image_support::registry::TestRegistry;
use nix::mount::{MntFlags, umount2};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crius_serve_runs_a_pod_and_a_container_and_leaves_nothing_behind() {
    require_prerequisites();
    let registry = TestRegistry::start();
    registry
        .pusher()
        .push_image("library/busybox", "latest", &busybox_image(), false);
    let mut node = Node::new(&registry.host);
    node.start();
    let (mut runtime, mut images) = node.clients().await;

    let version = runtime
        .version(cri::VersionRequest::default())
        .await
        .expect("Version")
        .into_inner();
    assert_eq!(version.runtime_name, "crius");
    assert_eq!(version.runtime_api_version, "v1");

    let status = runtime
        .status(cri::StatusRequest { verbose: false })
        .await
        .expect("Status")
        .into_inner();
    let conditions: HashMap<String, bool> = status
        .status
        .expect("a status")
        .conditions
        .into_iter()
        .map(|c| (c.r#type, c.status))
        .collect();
    assert_eq!(
        conditions.get("RuntimeReady"),
        Some(&true),
        "{conditions:?}"
    );
    assert_eq!(
        conditions.get("NetworkReady"),
        Some(&true),
        "{conditions:?}; log:\n{}",
        node.log()
    );

    let pulled = images
        .pull_image(cri::PullImageRequest {
            image: Some(cri::ImageSpec {
                image: "busybox".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("PullImage: {e}; log:\n{}", node.log()))
        .into_inner();
    assert!(pulled.image_ref.starts_with("sha256:"), "{pulled:?}");

    let pod_config = pod_config(&node, "web");
    let pod = runtime
        .run_pod_sandbox(cri::RunPodSandboxRequest {
            config: Some(pod_config.clone()),
            runtime_handler: String::new(),
        })
        .await
        .unwrap_or_else(|e| panic!("RunPodSandbox: {e}; log:\n{}", node.log()))
        .into_inner()
        .pod_sandbox_id;
    let pod_status = runtime
        .pod_sandbox_status(cri::PodSandboxStatusRequest {
            pod_sandbox_id: pod.clone(),
            verbose: false,
        })
        .await
        .expect("PodSandboxStatus")
        .into_inner()
        .status
        .expect("a pod status");
    assert_eq!(pod_status.state, cri::PodSandboxState::SandboxReady as i32);
    let ip: std::net::Ipv4Addr = pod_status
        .network
        .expect("pod network status")
        .ip
        .parse()
        .expect("the pod has an IPv4 address");
    assert_eq!(ip.octets()[0], 10, "{ip}");

    let container = runtime
        .create_container(cri::CreateContainerRequest {
            pod_sandbox_id: pod.clone(),
            config: Some(container_config(
                "hello",
                "busybox",
                &["sh", "-c", "echo hello; sleep 100"],
            )),
            sandbox_config: Some(pod_config.clone()),
        })
        .await
        .unwrap_or_else(|e| panic!("CreateContainer: {e}; log:\n{}", node.log()))
        .into_inner()
        .container_id;
    runtime
        .start_container(cri::StartContainerRequest {
            container_id: container.clone(),
        })
        .await
        .unwrap_or_else(|e| panic!("StartContainer: {e}; log:\n{}", node.log()));
    let status = runtime
        .container_status(cri::ContainerStatusRequest {
            container_id: container.clone(),
            verbose: false,
        })
        .await
        .expect("ContainerStatus")
        .into_inner()
        .status
        .expect("a container status");
    assert_eq!(
        status.state,
        cri::ContainerState::ContainerRunning as i32,
        "{status:?}"
    );
    let log_path = PathBuf::from(&status.log_path);
    assert_eq!(log_path, node.root.join("logs/web/hello/0.log"));
    let deadline = Instant::now() + Duration::from_secs(10);
    let log = loop {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        if log.contains("hello") || Instant::now() > deadline {
            break log;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        log.lines().any(|l| l.ends_with(" stdout F hello")),
        "the CRI log has no hello line: {log:?}"
    );

    runtime
        .stop_container(cri::StopContainerRequest {
            container_id: container.clone(),
            timeout: 1,
        })
        .await
        .unwrap_or_else(|e| panic!("StopContainer: {e}; log:\n{}", node.log()));
    let status = runtime
        .container_status(cri::ContainerStatusRequest {
            container_id: container.clone(),
            verbose: false,
        })
        .await
        .expect("ContainerStatus")
        .into_inner()
        .status
        .expect("a container status");
    assert_eq!(
        status.state,
        cri::ContainerState::ContainerExited as i32,
        "{status:?}"
    );
    runtime
        .remove_container(cri::RemoveContainerRequest {
            container_id: container.clone(),
        })
        .await
        .unwrap_or_else(|e| panic!("RemoveContainer: {e}; log:\n{}", node.log()));

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
    let pods = runtime
        .list_pod_sandbox(cri::ListPodSandboxRequest::default())
        .await
        .expect("ListPodSandbox")
        .into_inner()
        .items;
    assert!(pods.is_empty(), "{pods:?}");

    drop((runtime, images));
    let exit = node.terminate();
    assert!(
        exit.success(),
        "crius serve exited with {exit} on SIGTERM; log:\n{}",
        node.log()
    );
    assert!(!node.socket.exists(), "the socket is left behind");
    let left = node.leftovers();
    assert!(
        left.is_empty(),
        "left behind: {left:#?}\nlog:\n{}",
        node.log()
    );
}

/// The state of container `id`.
async fn container_state(runtime: &mut RuntimeServiceClient<Channel>, id: &str) -> i32 {
    runtime
        .container_status(cri::ContainerStatusRequest {
            container_id: id.into(),
            verbose: false,
        })
        .await
        .expect("ContainerStatus")
        .into_inner()
        .status
        .expect("a container status")
        .state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_daemon_finds_its_pod_and_running_container() {
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
    let pod_config = pod_config(&node, "kept");
    let pod = runtime
        .run_pod_sandbox(cri::RunPodSandboxRequest {
            config: Some(pod_config.clone()),
            runtime_handler: String::new(),
        })
        .await
        .unwrap_or_else(|e| panic!("RunPodSandbox: {e}; log:\n{}", node.log()))
        .into_inner()
        .pod_sandbox_id;
    let container = runtime
        .create_container(cri::CreateContainerRequest {
            pod_sandbox_id: pod.clone(),
            config: Some(container_config("sleeper", "busybox", &["sleep", "100"])),
            sandbox_config: Some(pod_config),
        })
        .await
        .unwrap_or_else(|e| panic!("CreateContainer: {e}; log:\n{}", node.log()))
        .into_inner()
        .container_id;
    runtime
        .start_container(cri::StartContainerRequest {
            container_id: container.clone(),
        })
        .await
        .unwrap_or_else(|e| panic!("StartContainer: {e}; log:\n{}", node.log()));
    drop((runtime, images));
    let exit = node.terminate();
    assert!(exit.success(), "first daemon exited with {exit}");

    node.start();
    let (mut runtime, mut images) = node.clients().await;
    let listed = images
        .list_images(cri::ListImagesRequest::default())
        .await
        .expect("ListImages")
        .into_inner()
        .images;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let pods = runtime
        .list_pod_sandbox(cri::ListPodSandboxRequest::default())
        .await
        .expect("ListPodSandbox")
        .into_inner()
        .items;
    assert_eq!(pods.len(), 1, "{pods:?}");
    assert_eq!(pods[0].id, pod);
    assert_eq!(pods[0].state, cri::PodSandboxState::SandboxReady as i32);
    assert_eq!(
        container_state(&mut runtime, &container).await,
        cri::ContainerState::ContainerRunning as i32,
        "the container kept running across the restart; log:\n{}",
        node.log()
    );

    runtime
        .stop_pod_sandbox(cri::StopPodSandboxRequest {
            pod_sandbox_id: pod.clone(),
        })
        .await
        .unwrap_or_else(|e| panic!("StopPodSandbox: {e}; log:\n{}", node.log()));
    assert_eq!(
        container_state(&mut runtime, &container).await,
        cri::ContainerState::ContainerExited as i32,
        "stopping the pod stops its containers"
    );
    runtime
        .remove_pod_sandbox(cri::RemovePodSandboxRequest {
            pod_sandbox_id: pod.clone(),
        })
        .await
        .unwrap_or_else(|e| panic!("RemovePodSandbox: {e}; log:\n{}", node.log()));
    drop((runtime, images));
    let exit = node.terminate();
    assert!(exit.success(), "second daemon exited with {exit}");
    let left = node.leftovers();
    assert!(
        left.is_empty(),
        "left behind: {left:#?}\nlog:\n{}",
        node.log()
    );
}
