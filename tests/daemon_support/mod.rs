//! The node the end-to-end tests of `crius serve` run against: a local registry with a busybox
//! image (Debian's busybox-static with its applets hard-linked), a private CNI bridge and
//! subnet, a private cgroup parent, the `crius serve` binary, and leak checks. Shared by
//! tests/linux_daemon.rs and tests/linux_streams.rs.
#![allow(dead_code)]

use super::image_support::builder::{Compression, Entry, Image, layer};
use crius_proto::cri;
use crius_proto::cri::image_service_client::ImageServiceClient;
use crius_proto::cri::runtime_service_client::RuntimeServiceClient;
use nix::mount::{MntFlags, umount2};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tonic::transport::Channel;

pub const INSTALL: &str =
    "apt-get install runc containernetworking-plugins iproute2 docker-registry busybox-static";
pub const PLUGINS: &str = "/usr/lib/cni";
pub const RUNC: &str = "/usr/sbin/runc";

pub fn require_prerequisites() {
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
pub fn unique_tag() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    (std::process::id() << 12) ^ nanos
}

pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// busybox with its applets as hard links, as Debian's busybox package lays it out.
pub fn busybox_image() -> Image {
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
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
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
pub fn processes_mentioning(needle: &str) -> Vec<(i32, String)> {
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
pub fn cgroup_dirs(parent: &str) -> Vec<PathBuf> {
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
pub fn cgroup_children(dirs: &[PathBuf]) -> Vec<PathBuf> {
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
pub struct Node {
    pub _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub socket: PathBuf,
    pub config: PathBuf,
    pub bridge: String,
    pub network: String,
    pub cgroup_parent: String,
    pub daemon: Option<Child>,
}

impl Node {
    pub fn new(registry_host: &str) -> Node {
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

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("daemon.log")).unwrap_or_default()
    }

    /// Starts `crius serve` and waits for its socket.
    pub fn start(&mut self) {
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
    pub fn terminate(&mut self) -> std::process::ExitStatus {
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

    pub async fn clients(&self) -> (RuntimeServiceClient<Channel>, ImageServiceClient<Channel>) {
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
    pub fn leftovers(&self) -> Vec<String> {
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

pub fn pod_config(node: &Node, name: &str) -> cri::PodSandboxConfig {
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

pub fn container_config(name: &str, image: &str, command: &[&str]) -> cri::ContainerConfig {
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
