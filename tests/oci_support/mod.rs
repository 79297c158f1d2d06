//! Fixtures for the `Runc` tests: a busybox rootfs, a pod cgroup, pod files, a runtime over a
//! private state directory, and a drop guard that removes whatever a test left, even when it
//! fails: runtime containers, monitors, container processes, cgroups.

#![allow(dead_code)]

use crius::backend::Cgroups;
use crius::backend::cgroups::CgroupFs;
use crius::backend::oci::{CreateContainer, OciRuntime, PodHandle, ProcessState, Runc, RuncConfig};
use crius::model::{ContainerConfig, ImageConfig, NamespaceMode};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const INSTALL: &str = "apt-get install runc busybox";
pub const RUNC: &str = "/usr/sbin/runc";
pub const BUSYBOX: &str = "/bin/busybox";

/// Fails (never skips) when a prerequisite is missing.
pub fn require() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "these tests run containers and must run as root"
    );
    assert!(Path::new(RUNC).is_file(), "{RUNC} is missing: {INSTALL}");
    assert!(
        Path::new(BUSYBOX).is_file(),
        "{BUSYBOX} is missing: {INSTALL}"
    );
}

/// The shared libraries a dynamic executable needs, from `ldd`.
fn libraries(binary: &Path) -> Vec<PathBuf> {
    let Ok(output) = std::process::Command::new("ldd").arg(binary).output() else {
        return Vec::new();
    };
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .filter(|word| word.starts_with('/'))
        .map(PathBuf::from)
        .collect()
}

/// A rootfs of busybox: the binary, a hard link per applet in `bin/`, its libraries if it is
/// dynamic, `/etc/passwd` and `/etc/group`, and the mount points.
pub fn busybox_rootfs(root: &Path) {
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy(BUSYBOX, bin.join("busybox")).unwrap();
    let list = std::process::Command::new(BUSYBOX)
        .arg("--list")
        .output()
        .expect("busybox --list");
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let link = bin.join(applet);
        if !link.exists() {
            std::fs::hard_link(bin.join("busybox"), link).unwrap();
        }
    }
    for library in libraries(Path::new(BUSYBOX)) {
        let target = root.join(library.strip_prefix("/").unwrap());
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&library, &target).unwrap();
    }
    for dir in ["proc", "dev", "sys", "etc", "tmp", "root"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/tmp:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(
        root.join("etc/group"),
        "root:x:0:\nuser:x:1000:\nextra:x:2000:user\n",
    )
    .unwrap();
}

/// One test's world: a rootfs, a pod, a runtime. Dropping it removes everything.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub rootfs: PathBuf,
    pub pod: PodHandle,
    pub cgroups: CgroupFs,
    pub sandbox_id: String,
    pub parent: String,
    pub config: RuncConfig,
}

impl Fixture {
    pub async fn new(test: &str) -> Fixture {
        require();
        let dir = tempfile::Builder::new()
            .prefix("oci")
            .tempdir()
            .expect("a temporary directory");
        let rootfs = dir.path().join("rootfs");
        busybox_rootfs(&rootfs);
        let cgroups = CgroupFs::new().expect("a mounted cgroup hierarchy");
        let parent = format!("/crius-oci-{test}-{}", std::process::id());
        let sandbox_id = format!("pod-{test}");
        let cgroup = cgroups
            .create_pod(&sandbox_id, &parent)
            .await
            .expect("the pod cgroup");
        let files_dir = dir.path().join("pod");
        std::fs::create_dir_all(files_dir.join("shm")).unwrap();
        let mut files = Vec::new();
        for (inside, name, content) in [
            ("/etc/hostname", "hostname", "oci-test\n"),
            ("/etc/hosts", "hosts", "127.0.0.1 localhost oci-test\n"),
            ("/etc/resolv.conf", "resolv.conf", "nameserver 127.0.0.1\n"),
        ] {
            std::fs::write(files_dir.join(name), content).unwrap();
            files.push((inside.to_string(), files_dir.join(name)));
        }
        files.push(("/dev/shm".to_string(), files_dir.join("shm")));
        let pod = PodHandle {
            cgroup,
            files,
            ..Default::default()
        };
        let mut config = RuncConfig::runc(
            dir.path().join("state"),
            env!("CARGO_BIN_EXE_crius-monitor"),
        );
        config.timeout = Duration::from_secs(20);
        Fixture {
            dir,
            rootfs,
            pod,
            cgroups,
            sandbox_id,
            parent,
            config,
        }
    }

    pub fn runtime(&self) -> Runc {
        Runc::new(self.config.clone()).expect("the runtime")
    }

    pub fn log_path(&self, id: &str) -> PathBuf {
        self.dir.path().join("logs").join(format!("{id}.log"))
    }

    /// A request running `args` in its own PID namespace and the host's others.
    pub fn request(&self, id: &str, args: &[&str]) -> CreateContainer {
        let mut config = ContainerConfig {
            command: args.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        config.metadata.name = id.to_string();
        config.linux.security.namespace_options.pid = NamespaceMode::Container;
        CreateContainer {
            id: id.to_string(),
            sandbox_id: self.sandbox_id.clone(),
            config: Arc::new(config),
            image_id: "busybox".to_string(),
            image: Arc::new(ImageConfig::default()),
            rootfs: self.rootfs.clone(),
            log_path: Some(self.log_path(id)),
            pod: self.pod.clone(),
        }
    }

    /// The cgroup directories of container `id`.
    pub fn container_cgroups(&self, id: &str) -> Vec<PathBuf> {
        self.cgroups
            .directories(&format!("{}/{id}", self.pod.cgroup))
    }

    pub fn log(&self, id: &str) -> String {
        std::fs::read_to_string(self.log_path(id)).unwrap_or_default()
    }
}

/// Kills every process in `dir` and below, then removes the cgroups, deepest first.
fn clear_cgroup(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten().filter(|e| e.path().is_dir()) {
            clear_cgroup(&entry.path());
        }
    }
    for _ in 0..50 {
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        if procs.trim().is_empty() {
            break;
        }
        for pid in procs.lines().filter_map(|p| p.trim().parse::<i32>().ok()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = std::fs::remove_dir(dir);
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let root = self.config.state_dir.join("runtime");
        let containers = self.config.state_dir.join("containers");
        for entry in std::fs::read_dir(&containers)
            .into_iter()
            .flatten()
            .flatten()
        {
            let id = entry.file_name().to_string_lossy().into_owned();
            let _ = std::process::Command::new(RUNC)
                .arg("--root")
                .arg(&root)
                .args(["delete", "--force", &id])
                .output();
            if let Ok(pid) = std::fs::read_to_string(entry.path().join("monitor.pid"))
                && let Ok(pid) = pid.trim().parse::<i32>()
                && std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| c.windows(id.len()).any(|w| w == id.as_bytes()))
            {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        for dir in self.cgroups.directories(&self.parent) {
            clear_cgroup(&dir);
        }
    }
}

/// Polls `state` until the container has exited.
pub async fn wait_exited(
    runtime: &dyn OciRuntime,
    id: &str,
    limit: Duration,
) -> crius::backend::oci::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        match runtime.state(id).await.expect("state") {
            ProcessState::Exited(status) => return status,
            other => assert!(
                Instant::now() < deadline,
                "{id} still {other:?} after {limit:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls until `check` holds.
pub async fn eventually(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Host processes whose command line contains `needle`.
pub fn processes_with(needle: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| {
                    String::from_utf8_lossy(&c)
                        .replace('\0', " ")
                        .contains(needle)
                })
                .unwrap_or(false)
        })
        .collect()
}
