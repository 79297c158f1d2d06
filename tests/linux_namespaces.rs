//! `PinnedNamespaces` on this machine, as root: real namespaces, hostname, sysctls, pod files,
//! and nothing left behind. A missing prerequisite fails the test naming the package.

use crius::backend::PodNamespaces;
use crius::backend::namespaces::{NamespaceError, PinnedNamespaces};
use crius::backend::oci::PodHandle;
use crius::backend::suite::namespaces::namespaces_suite;
use crius::error::{Classify, ErrorKind};
use crius::model::{DnsConfig, NamespaceMode, SandboxConfig};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const INSTALL: &str = "apt-get install util-linux iproute2";

fn require_root_and(commands: &[&str]) {
    assert!(
        nix::unistd::geteuid().is_root(),
        "these tests pin namespaces and must run as root"
    );
    for command in commands {
        let found = std::env::var_os("PATH")
            .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(command).is_file()))
            .unwrap_or(false);
        assert!(found, "{command} is missing: {INSTALL}");
    }
}

/// A run directory in a tempdir; on drop, whatever a failing test left pinned is released.
struct RunDir {
    dir: tempfile::TempDir,
    namespaces: PinnedNamespaces,
    ids: parking_lot::Mutex<Vec<String>>,
}

impl RunDir {
    fn new() -> RunDir {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let namespaces = PinnedNamespaces::new(dir.path().join("pods"));
        RunDir {
            dir,
            namespaces,
            ids: parking_lot::Mutex::new(Vec::new()),
        }
    }

    async fn create(&self, id: &str, config: &SandboxConfig) -> Result<PodHandle, NamespaceError> {
        self.ids.lock().push(id.to_string());
        self.namespaces.create(id, config, "/crius/test").await
    }

    fn mounts(&self) -> Vec<String> {
        let root = self.dir.path().to_string_lossy().into_owned();
        std::fs::read_to_string("/proc/self/mountinfo")
            .expect("mountinfo")
            .lines()
            .filter_map(|line| line.split(' ').nth(4).map(str::to_string))
            .filter(|point| point.starts_with(&root))
            .collect()
    }

    fn assert_clean(&self) {
        assert_eq!(
            self.mounts(),
            Vec::<String>::new(),
            "mounts left under the run directory"
        );
        let pods = self.dir.path().join("pods");
        let left: Vec<_> = std::fs::read_dir(&pods)
            .map(|entries| entries.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        assert_eq!(
            left,
            Vec::<PathBuf>::new(),
            "pod directories left in {}",
            pods.display()
        );
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        for point in self.mounts().iter().rev() {
            let _ = nix::mount::umount2(Path::new(point), nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

fn pod(name: &str) -> SandboxConfig {
    let mut config = SandboxConfig::default();
    config.metadata.name = name.to_string();
    config.metadata.namespace = "test".to_string();
    config.metadata.uid = format!("uid-{name}");
    config
}

fn run_in(flag: &str, ns: &Path, args: &[&str]) -> String {
    let output = Command::new("nsenter")
        .arg(format!("{flag}={}", ns.display()))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("nsenter: {e}: {INSTALL}"));
    assert!(
        output.status.success(),
        "nsenter {flag} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn inode(path: &Path) -> u64 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .ino()
}

/// How many processes of the node are in the PID namespace with this inode.
fn processes_in_pid_namespace(ns_inode: u64) -> usize {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .chars()
                .all(|c| c.is_ascii_digit())
        })
        .filter(|e| std::fs::metadata(e.path().join("ns/pid")).is_ok_and(|m| m.ino() == ns_inode))
        .count()
}

#[tokio::test]
async fn pinned_namespaces_pass_the_shared_suite() {
    require_root_and(&[]);
    let run = RunDir::new();
    namespaces_suite(&run.namespaces, "linux-suite").await;
    run.assert_clean();
}

#[tokio::test]
async fn pod_namespaces_are_real_with_hostname_sysctls_and_files() {
    require_root_and(&["nsenter", "ip"]);
    let run = RunDir::new();
    let mut config = pod("web");
    config.hostname = "web-pinned".to_string();
    config.linux.namespace_options.pid = NamespaceMode::Pod;
    config.dns = Some(DnsConfig {
        servers: vec!["10.96.0.10".into()],
        searches: vec!["test.svc.cluster.local".into()],
        options: vec!["ndots:5".into()],
    });
    let host_port_start =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start").unwrap();
    let pod_port_start = if host_port_start.trim() == "543" {
        "544"
    } else {
        "543"
    };
    let host_shmmni = std::fs::read_to_string("/proc/sys/kernel/shmmni").unwrap();
    let pod_shmmni = if host_shmmni.trim() == "1234" {
        "1235"
    } else {
        "1234"
    };
    config.linux.sysctls.insert(
        "net.ipv4.ip_unprivileged_port_start".into(),
        pod_port_start.into(),
    );
    config
        .linux
        .sysctls
        .insert("kernel.shmmni".into(), pod_shmmni.into());

    let handle = run.create("real", &config).await.expect("create");
    let netns = handle.netns.clone().expect("a network namespace");
    let ipcns = handle.ipcns.clone().expect("an IPC namespace");
    let utsns = handle.utsns.clone().expect("a UTS namespace");
    let pidns = handle.pidns.clone().expect("a PID namespace");
    for (pinned, host) in [
        (&netns, "net"),
        (&ipcns, "ipc"),
        (&utsns, "uts"),
        (&pidns, "pid"),
    ] {
        assert_ne!(
            inode(pinned),
            inode(&Path::new("/proc/self/ns").join(host)),
            "{host} namespace is the host's"
        );
    }

    assert_eq!(run_in("--uts", &utsns, &["hostname"]), "web-pinned");
    let lo = run_in("--net", &netns, &["ip", "-o", "link", "show", "lo"]);
    assert!(lo.contains("UP"), "lo is up in the pod: {lo}");
    let pod_value = run_in(
        "--net",
        &netns,
        &["cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start"],
    );
    assert_eq!(
        pod_value, pod_port_start,
        "the net sysctl is set in the pod"
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start").unwrap(),
        host_port_start,
        "the host's value is untouched"
    );
    assert_eq!(
        run_in("--ipc", &ipcns, &["cat", "/proc/sys/kernel/shmmni"]),
        pod_shmmni
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/shmmni").unwrap(),
        host_shmmni
    );

    let file = |name: &str| {
        let (_, path) = handle
            .files
            .iter()
            .find(|(c, _)| c == name)
            .unwrap_or_else(|| panic!("no {name}"));
        path.clone()
    };
    assert_eq!(
        std::fs::read_to_string(file("/etc/hostname")).unwrap(),
        "web-pinned\n"
    );
    assert!(
        std::fs::read_to_string(file("/etc/hosts"))
            .unwrap()
            .contains("127.0.1.1\tweb-pinned")
    );
    assert_eq!(
        std::fs::read_to_string(file("/etc/resolv.conf")).unwrap(),
        "search test.svc.cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n"
    );
    let shm = nix::sys::statvfs::statvfs(&file("/dev/shm")).expect("statvfs of the pod's shm");
    assert_eq!(
        shm.blocks() * shm.fragment_size(),
        64 << 20,
        "the pod's /dev/shm is a 64 MiB tmpfs"
    );

    let pid_inode = inode(&pidns);
    assert!(
        processes_in_pid_namespace(pid_inode) >= 1,
        "the pod's PID namespace has its PID 1"
    );
    run.namespaces.release("real").await.expect("release");
    run.namespaces.release("real").await.expect("release again");
    run.assert_clean();
    assert_eq!(
        processes_in_pid_namespace(pid_inode),
        0,
        "the pod's PID 1 is gone after release"
    );
}

#[tokio::test]
async fn pod_without_dns_config_gets_the_hosts_resolv_conf_and_host_ipc_uses_host_shm() {
    require_root_and(&[]);
    let run = RunDir::new();
    let host_resolv = run.dir.path().join("host-resolv.conf");
    std::fs::write(&host_resolv, "nameserver 192.0.2.53\n").unwrap();
    let namespaces =
        PinnedNamespaces::new(run.dir.path().join("pods")).with_host_resolv_conf(&host_resolv);
    let mut config = pod("hostipc");
    config.linux.namespace_options.ipc = NamespaceMode::Node;
    let handle = namespaces
        .create("hostipc", &config, "")
        .await
        .expect("create");
    assert_eq!(handle.ipcns, None);
    let files: std::collections::BTreeMap<_, _> = handle.files.iter().cloned().collect();
    assert_eq!(files["/dev/shm"], PathBuf::from("/dev/shm"));
    assert_eq!(
        std::fs::read_to_string(&files["/etc/resolv.conf"]).unwrap(),
        "nameserver 192.0.2.53\n"
    );
    namespaces.release("hostipc").await.expect("release");
    run.assert_clean();
}

#[tokio::test]
async fn unsafe_or_failing_sysctls_are_refused_and_nothing_leaks() {
    require_root_and(&[]);
    let run = RunDir::new();
    let cases: [(&str, NamespaceMode, &str, &str); 4] = [
        ("node-wide", NamespaceMode::Pod, "kernel.panic", "10"),
        ("host-net", NamespaceMode::Node, "net.ipv4.ip_forward", "1"),
        (
            "missing",
            NamespaceMode::Pod,
            "net.ipv4.no_such_sysctl_here",
            "1",
        ),
        (
            "bad-value",
            NamespaceMode::Pod,
            "net.ipv4.ip_unprivileged_port_start",
            "not-a-number",
        ),
    ];
    for (id, network, name, value) in cases {
        let mut config = pod(id);
        config.linux.namespace_options.network = network;
        config.linux.sysctls.insert(name.into(), value.into());
        let error = run.create(id, &config).await.expect_err(name);
        assert_eq!(
            error.kind(),
            ErrorKind::InvalidArgument,
            "{name}={value}: {error}"
        );
        run.assert_clean();
    }
    let error = run
        .create("../escape", &pod("escape"))
        .await
        .expect_err("a path as sandbox id");
    assert_eq!(error.kind(), ErrorKind::InvalidArgument);
    run.assert_clean();
}
