//! `CgroupFs` on this machine's cgroup layout, as root: pod cgroups under a parent, usage of a
//! real process, removal, and nothing left behind. Each test uses its own parent cgroup.

use crius::backend::Cgroups;
use crius::backend::cgroups::{CgroupDriver, CgroupFs};
use crius::backend::suite::cgroups::cgroups_suite;
use crius::error::{Classify, ErrorKind};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

fn cgroups() -> CgroupFs {
    assert!(
        nix::unistd::geteuid().is_root(),
        "these tests create cgroups and must run as root"
    );
    CgroupFs::new().expect("a mounted cgroup hierarchy (mount cgroup2 on /sys/fs/cgroup)")
}

/// A parent cgroup private to one test, removed (empty children first) when dropped.
struct Parent {
    path: String,
    dirs: Vec<PathBuf>,
}

impl Parent {
    fn new(cgroups: &CgroupFs, test: &str) -> Parent {
        let path = format!("/crius-test-{test}-{}", std::process::id());
        Parent {
            dirs: cgroups.directories(&path),
            path,
        }
    }

    fn assert_gone(&self) {
        for dir in &self.dirs {
            let children: Vec<_> = std::fs::read_dir(dir)
                .map(|e| {
                    e.flatten()
                        .filter(|e| e.path().is_dir())
                        .map(|e| e.path())
                        .collect()
                })
                .unwrap_or_default();
            assert_eq!(
                children,
                Vec::<PathBuf>::new(),
                "cgroups left under {}",
                dir.display()
            );
        }
    }
}

impl Drop for Parent {
    fn drop(&mut self) {
        fn remove(dir: &std::path::Path) {
            if let Ok(entries) = std::fs::read_dir(dir) {
                for entry in entries.flatten().filter(|e| e.path().is_dir()) {
                    remove(&entry.path());
                }
            }
            let _ = std::fs::remove_dir(dir);
        }
        for dir in &self.dirs {
            remove(dir);
        }
    }
}

/// A busy process, killed when dropped.
struct Busy(Child);

impl Drop for Busy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn cgroupfs_passes_the_shared_suite() {
    let cgroups = cgroups();
    assert_eq!(cgroups.driver(), CgroupDriver::Cgroupfs);
    let parent = Parent::new(&cgroups, "suite");
    cgroups_suite(&cgroups, &parent.path, "linux-suite").await;
    parent.assert_gone();
}

#[tokio::test]
async fn a_process_in_a_container_cgroup_shows_usage() {
    let cgroups = cgroups();
    let parent = Parent::new(&cgroups, "usage");
    let pod = cgroups
        .create_pod("usage-pod", &parent.path)
        .await
        .expect("create the pod cgroup");
    assert_eq!(pod, format!("{}/crius-usage-pod", parent.path));
    let container = format!("{pod}/usage-ctr");
    for dir in cgroups.directories(&container) {
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        // A fresh v1 cpuset cgroup has no CPUs; inherit the pod's, as the OCI runtime would.
        for file in ["cpuset.cpus", "cpuset.mems"] {
            if let Ok(value) = std::fs::read_to_string(dir.parent().unwrap().join(file)) {
                std::fs::write(dir.join(file), value.trim()).unwrap();
            }
        }
    }
    // The process joins the cgroups before it execs, so its memory is charged there (v1 does
    // not move charges of a process that migrates).
    let procs: Vec<String> = cgroups
        .directories(&container)
        .iter()
        .map(|dir| dir.join("cgroup.procs").display().to_string())
        .collect();
    let busy = Busy(
        Command::new("sh")
            .args(["-c", r#"for f in "$@"; do echo $$ > "$f" || exit 1; done; exec sh -c 'x=0; while :; do x=$((x+1)); done'"#, "sh"])
            .args(&procs)
            .spawn()
            .expect("sh"),
    );
    tokio::time::sleep(Duration::from_millis(500)).await;

    let usage = cgroups
        .container_usage("usage-ctr")
        .await
        .expect("container usage");
    assert!(
        usage.cpu_usage_ns > 10_000_000,
        "the busy process used CPU: {usage:?}"
    );
    assert!(
        usage.memory_usage_bytes > 0,
        "the process uses memory: {usage:?}"
    );
    assert!(
        usage.memory_working_set_bytes > 0
            && usage.memory_working_set_bytes <= usage.memory_usage_bytes
    );
    assert_eq!(usage.pids, 1, "one process: {usage:?}");
    let pod_usage = cgroups.pod_usage("usage-pod").await.expect("pod usage");
    assert!(
        pod_usage.cpu_usage_ns >= usage.cpu_usage_ns,
        "the pod counts its container: {pod_usage:?}"
    );
    assert_eq!(pod_usage.pids, 1);

    let error = cgroups
        .remove_pod("usage-pod")
        .await
        .expect_err("removing a pod with a live process");
    assert_eq!(error.kind(), ErrorKind::FailedPrecondition, "{error}");
    drop(busy);
    tokio::time::sleep(Duration::from_millis(100)).await;
    cgroups
        .remove_pod("usage-pod")
        .await
        .expect("remove once the process is gone");
    let error = cgroups
        .container_usage("usage-ctr")
        .await
        .expect_err("usage after removal");
    assert_eq!(error.kind(), ErrorKind::NotFound);
    parent.assert_gone();
}

#[tokio::test]
async fn a_restarted_daemon_finds_and_removes_its_pod_cgroups() {
    let cgroups = cgroups();
    let parent = Parent::new(&cgroups, "restart");
    let pod = cgroups
        .create_pod("restart-pod", &parent.path)
        .await
        .expect("create");
    let restarted = CgroupFs::new().unwrap();
    restarted
        .pod_usage("restart-pod")
        .await
        .expect("usage of a pod created before the restart");
    restarted
        .remove_pod("restart-pod")
        .await
        .expect("remove after a restart");
    for dir in cgroups.directories(&pod) {
        assert!(!dir.exists(), "{} is left", dir.display());
    }
    let error = cgroups
        .create_pod("bad", "/kubepods/../../etc")
        .await
        .expect_err("a parent climbing out");
    assert_eq!(error.kind(), ErrorKind::InvalidArgument);
    parent.assert_gone();
}

#[tokio::test]
async fn a_pod_resize_writes_its_limits_into_the_pod_cgroup() {
    let cgroups = cgroups();
    let parent = Parent::new(&cgroups, "resize");
    let pod = cgroups
        .create_pod("resize-pod", &parent.path)
        .await
        .expect("create");
    let resources = crius::model::LinuxResources {
        cpu_shares: 512,
        cpu_quota: 50_000,
        cpu_period: 100_000,
        memory_limit_in_bytes: 96 << 20,
        ..Default::default()
    };
    cgroups
        .update_pod("resize-pod", &resources)
        .await
        .expect("resize");
    let layout = cgroups.layout();
    let read = |controller: &str, v1: &str, v2: &str| -> Option<String> {
        let hierarchy = layout.for_controller(controller)?;
        let file = if hierarchy.unified { v2 } else { v1 };
        let dir = hierarchy.mount.join(pod.trim_start_matches('/'));
        Some(
            std::fs::read_to_string(dir.join(file))
                .expect(file)
                .trim()
                .to_string(),
        )
    };
    let memory =
        read("memory", "memory.limit_in_bytes", "memory.max").expect("a memory controller");
    assert_eq!(memory, (96u64 << 20).to_string());
    let quota = read("cpu", "cpu.cfs_quota_us", "cpu.max").expect("a cpu controller");
    assert!(quota.starts_with("50000"), "cpu quota {quota:?}");
    let shares = read("cpu", "cpu.shares", "cpu.weight").unwrap();
    assert!(
        shares == "512" || shares == "20",
        "cpu shares/weight {shares:?}"
    );
    let error = cgroups
        .update_pod("no-such-pod", &resources)
        .await
        .expect_err("an unknown pod");
    assert_eq!(error.kind(), ErrorKind::NotFound);
    cgroups.remove_pod("resize-pod").await.expect("remove");
    parent.assert_gone();
}
