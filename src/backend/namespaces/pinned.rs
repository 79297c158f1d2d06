//! [`PinnedNamespaces`]: pod namespaces without a pause container, as CRI-O's `pinns` does.
//!
//! # How a namespace is pinned
//!
//! A short-lived, dedicated OS thread calls `unshare(2)` for the pod's network, IPC and UTS
//! namespaces (and PID, for a pod-wide PID namespace). Network, IPC and UTS namespaces belong to
//! a *thread* (a task's `nsproxy`), so only that thread moves; the rest of the daemon, its tokio
//! workers included, is untouched. Inside the new namespaces the thread sets the hostname,
//! brings `lo` up and writes the pod's sysctls (`/proc/sys` resolves `net.*` and IPC sysctls
//! against the *calling task's* namespaces), then bind-mounts `/proc/thread-self/ns/<kind>`
//! onto `<run_dir>/<sandbox_id>/ns/<kind>`. The bind mounts keep the namespaces alive after the
//! thread exits; the thread is never reused, because it is in the pod's namespaces for good.
//!
//! Why not a helper process: the daemon's path is not known in tests and a `fork` in a
//! multi-threaded async process needs unsafe code; a thread needs neither, and the whole
//! operation is a handful of safe `nix` calls. A PID namespace is the exception: it cannot be
//! pinned without an init, so a pod-wide one gets a tiny reaper process (see [`pid_init`]),
//! whose pid is kept in `<run_dir>/<sandbox_id>/init.pid` and which `release` kills.
//!
//! # Layout
//!
//! `<run_dir>/<sandbox_id>/` holds `ns/{net,ipc,uts,pid}`, `hostname`, `hosts`, `resolv.conf`
//! and `shm/` (a 64 MiB tmpfs, unless the pod uses the host's IPC and so the host's `/dev/shm`).
//! Everything a pod owns is under that one directory, so [`PodNamespaces::release`] needs no
//! memory of what `create` did (it survives a daemon restart): it detaches every mount under the
//! directory, deepest first, then removes it. A `create` that fails part-way runs the same
//! release from a drop guard, so nothing leaks whatever step failed.

use super::{NamespaceError, PodNamespaces, files, loopback, mounts, pid_init, sysctl};
use crate::backend::oci::PodHandle;
use crate::error::ErrorKind;
use crate::model::{NamespaceMode, SandboxConfig};
use async_trait::async_trait;
use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Size of a pod's `/dev/shm`.
pub const SHM_SIZE_BYTES: u64 = 64 << 20;

/// Linux pod namespaces pinned by bind mounts under a run directory.
#[derive(Debug, Clone)]
pub struct PinnedNamespaces {
    run_dir: PathBuf,
    host_resolv_conf: PathBuf,
}

impl PinnedNamespaces {
    /// Pins pods' namespaces and keeps their files under `run_dir` (e.g. `/run/crius/pods`).
    pub fn new(run_dir: impl Into<PathBuf>) -> PinnedNamespaces {
        PinnedNamespaces {
            run_dir: run_dir.into(),
            host_resolv_conf: PathBuf::from("/etc/resolv.conf"),
        }
    }

    /// The resolv.conf copied into pods without a DNS config (default `/etc/resolv.conf`).
    pub fn with_host_resolv_conf(mut self, path: impl Into<PathBuf>) -> PinnedNamespaces {
        self.host_resolv_conf = path.into();
        self
    }

    /// The directory holding everything of one pod.
    pub fn pod_dir(&self, sandbox_id: &str) -> PathBuf {
        self.run_dir.join(sandbox_id)
    }
}

/// A namespace kind a pod can own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Net,
    Ipc,
    Uts,
    Pid,
}

impl Kind {
    fn flag(self) -> CloneFlags {
        match self {
            Kind::Net => CloneFlags::CLONE_NEWNET,
            Kind::Ipc => CloneFlags::CLONE_NEWIPC,
            Kind::Uts => CloneFlags::CLONE_NEWUTS,
            Kind::Pid => CloneFlags::CLONE_NEWPID,
        }
    }

    /// The file name under `ns/`, which is also its name under `/proc/<pid>/ns/`.
    fn name(self) -> &'static str {
        match self {
            Kind::Net => "net",
            Kind::Ipc => "ipc",
            Kind::Uts => "uts",
            Kind::Pid => "pid",
        }
    }

    fn proc_name(self) -> &'static str {
        match self {
            Kind::Pid => "pid_for_children",
            other => other.name(),
        }
    }
}

/// Why a step of `create` failed.
enum Failure {
    Invalid(String),
    Failed(String),
}

impl Failure {
    fn into_error(self, sandbox_id: &str) -> NamespaceError {
        match self {
            Failure::Invalid(message) => NamespaceError::Invalid {
                sandbox_id: sandbox_id.to_string(),
                message,
            },
            Failure::Failed(message) => NamespaceError::Failed {
                sandbox_id: sandbox_id.to_string(),
                message,
                kind: ErrorKind::Internal,
            },
        }
    }
}

fn io_failed(what: String) -> impl FnOnce(std::io::Error) -> Failure {
    move |e| Failure::Failed(format!("{what}: {e}"))
}

/// Releases the pod directory when dropped, unless disarmed: the cleanup of a failed create.
struct ReleaseGuard<'a>(Option<&'a Path>);

impl Drop for ReleaseGuard<'_> {
    fn drop(&mut self) {
        if let Some(dir) = self.0
            && let Err(message) = release_dir(dir)
        {
            tracing::warn!(dir = %dir.display(), %message, "cleaning up a failed pod namespace create");
        }
    }
}

fn check_id(sandbox_id: &str) -> Result<(), Failure> {
    let valid = !sandbox_id.is_empty()
        && sandbox_id.len() <= 128
        && !sandbox_id.starts_with('.')
        && sandbox_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if valid {
        Ok(())
    } else {
        Err(Failure::Invalid(format!(
            "sandbox id {sandbox_id:?} is not usable as a file name"
        )))
    }
}

impl PinnedNamespaces {
    fn create_blocking(
        &self,
        sandbox_id: &str,
        config: &SandboxConfig,
        cgroup: &str,
    ) -> Result<PodHandle, Failure> {
        check_id(sandbox_id)?;
        let sysctls = sysctl::plan(config).map_err(Failure::Invalid)?;
        let hostname = files::hostname(config);
        files::check_single_line("hostname", &hostname).map_err(Failure::Invalid)?;
        let resolv = files::resolv_conf(config);
        if let Some(dns) = &config.dns {
            for value in dns.servers.iter().chain(&dns.searches).chain(&dns.options) {
                files::check_single_line("dns setting", value).map_err(Failure::Invalid)?;
            }
        }
        let options = &config.linux.namespace_options;
        let mut kinds = Vec::new();
        if options.network != NamespaceMode::Node {
            kinds.extend([Kind::Net, Kind::Uts]);
        }
        if options.ipc != NamespaceMode::Node {
            kinds.push(Kind::Ipc);
        }
        if options.pid == NamespaceMode::Pod {
            kinds.push(Kind::Pid);
        }

        let dir = self.pod_dir(sandbox_id);
        // Leftovers of an earlier attempt with this id go first.
        release_dir(&dir).map_err(Failure::Failed)?;
        let mut guard = ReleaseGuard(Some(&dir));
        let ns_dir = dir.join("ns");
        std::fs::create_dir_all(&ns_dir)
            .map_err(io_failed(format!("creating {}", ns_dir.display())))?;

        let mut files = Vec::new();
        let mut write = |container_path: &str, name: &str, content: &[u8]| -> Result<(), Failure> {
            let path = dir.join(name);
            std::fs::write(&path, content)
                .map_err(io_failed(format!("writing {}", path.display())))?;
            files.push((container_path.to_string(), path));
            Ok(())
        };
        write(
            "/etc/hostname",
            "hostname",
            format!("{hostname}\n").as_bytes(),
        )?;
        write("/etc/hosts", "hosts", files::hosts(&hostname).as_bytes())?;
        let resolv = match resolv {
            Some(text) => text.into_bytes(),
            None => std::fs::read(&self.host_resolv_conf).unwrap_or_default(),
        };
        write("/etc/resolv.conf", "resolv.conf", &resolv)?;
        if kinds.contains(&Kind::Ipc) {
            files.push(("/dev/shm".to_string(), mount_shm(&dir)?));
        } else {
            files.push(("/dev/shm".to_string(), PathBuf::from("/dev/shm")));
        }

        if !kinds.is_empty() {
            pin(&kinds, &ns_dir, &hostname, &sysctls)?;
        }
        let pinned = |kind: Kind| kinds.contains(&kind).then(|| ns_dir.join(kind.name()));
        let handle = PodHandle {
            cgroup: cgroup.to_string(),
            netns: pinned(Kind::Net),
            ipcns: pinned(Kind::Ipc),
            utsns: pinned(Kind::Uts),
            pidns: pinned(Kind::Pid),
            files,
        };
        guard.0 = None;
        Ok(handle)
    }
}

fn mount_shm(dir: &Path) -> Result<PathBuf, Failure> {
    let shm = dir.join("shm");
    std::fs::create_dir_all(&shm).map_err(io_failed(format!("creating {}", shm.display())))?;
    mount(
        Some("shm"),
        &shm,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some(format!("mode=1777,size={SHM_SIZE_BYTES}").as_str()),
    )
    .map_err(|e| Failure::Failed(format!("mounting a tmpfs on {}: {e}", shm.display())))?;
    Ok(shm)
}

/// Creates the namespaces in a dedicated thread, sets them up and bind-mounts them in `ns_dir`.
fn pin(
    kinds: &[Kind],
    ns_dir: &Path,
    hostname: &str,
    sysctls: &[sysctl::Sysctl],
) -> Result<(), Failure> {
    for kind in kinds {
        let target = ns_dir.join(kind.name());
        std::fs::File::create(&target)
            .map_err(io_failed(format!("creating {}", target.display())))?;
    }
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new()
            .name("crius-pin-ns".to_string())
            .spawn_scoped(scope, || {
                pin_in_this_thread(kinds, ns_dir, hostname, sysctls)
            })
            .map_err(io_failed("spawning the namespace thread".to_string()))?;
        thread
            .join()
            .unwrap_or_else(|_| Err(Failure::Failed("the namespace thread panicked".to_string())))
    })
}

/// The body of the dedicated thread: it ends in the pod's namespaces and must then exit.
fn pin_in_this_thread(
    kinds: &[Kind],
    ns_dir: &Path,
    hostname: &str,
    sysctls: &[sysctl::Sysctl],
) -> Result<(), Failure> {
    let flags = kinds
        .iter()
        .fold(CloneFlags::empty(), |flags, kind| flags | kind.flag());
    unshare(flags).map_err(|e| Failure::Failed(format!("unshare({flags:?}): {e}")))?;
    if kinds.contains(&Kind::Uts) {
        nix::unistd::sethostname(hostname)
            .map_err(|e| Failure::Failed(format!("setting hostname {hostname:?}: {e}")))?;
    }
    if kinds.contains(&Kind::Net) {
        loopback::bring_up().map_err(io_failed(
            "bringing lo up in the pod network namespace".to_string(),
        ))?;
    }
    for sysctl in sysctls {
        let path = Path::new("/proc/sys").join(&sysctl.path);
        let written = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|mut file| file.write_all(sysctl.value.as_bytes()));
        match written {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Failure::Invalid(format!(
                    "sysctl {} does not exist",
                    sysctl.name
                )));
            }
            Err(e) if e.raw_os_error() == Some(nix::libc::EINVAL) => {
                return Err(Failure::Invalid(format!(
                    "sysctl {}: value {:?} refused: {e}",
                    sysctl.name, sysctl.value
                )));
            }
            Err(e) => {
                return Err(Failure::Failed(format!(
                    "setting sysctl {}: {e}",
                    sysctl.name
                )));
            }
        }
    }
    if kinds.contains(&Kind::Pid) {
        let reaper = pid_init::spawn_reaper()
            .map_err(|e| Failure::Failed(format!("forking the pod's PID 1: {e}")))?;
        let record = ns_dir.with_file_name(INIT_PID_FILE);
        std::fs::write(&record, reaper.to_string())
            .map_err(io_failed(format!("writing {}", record.display())))?;
    }
    for kind in kinds {
        let source = PathBuf::from("/proc/thread-self/ns").join(kind.proc_name());
        let target = ns_dir.join(kind.name());
        mount(
            Some(&source),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| {
            Failure::Failed(format!(
                "bind-mounting {} on {}: {e}",
                source.display(),
                target.display()
            ))
        })?;
    }
    Ok(())
}

/// The file holding the host pid of the PID namespace's reaper.
const INIT_PID_FILE: &str = "init.pid";

/// Kills the reaper of the pod's PID namespace, if it has one and it still runs; the pid is
/// trusted only while that process is in the pinned namespace (pids get reused).
fn kill_reaper(dir: &Path) -> Result<(), String> {
    use nix::sys::signal::{Signal, kill};
    use std::os::unix::fs::MetadataExt;
    let Ok(text) = std::fs::read_to_string(dir.join(INIT_PID_FILE)) else {
        return Ok(());
    };
    let Ok(pid) = text.trim().parse::<i32>() else {
        return Ok(());
    };
    let pinned =
        std::fs::metadata(dir.join("ns").join(Kind::Pid.name())).map(|m| (m.dev(), m.ino()));
    let running = std::fs::metadata(format!("/proc/{pid}/ns/pid")).map(|m| (m.dev(), m.ino()));
    let own_child = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok())
        })
        == Some(std::process::id());
    let pid = nix::unistd::Pid::from_raw(pid);
    let Ok(running) = running else { return Ok(()) };
    // In the pinned namespace, or (a create that failed before pinning it) our own unreaped
    // child, whose pid cannot have been reused.
    if pinned.is_ok_and(|pinned| pinned == running) || own_child {
        kill(pid, Signal::SIGKILL).map_err(|e| format!("killing the pod's PID 1 ({pid}): {e}"))?;
    } else {
        return Ok(());
    }
    // Our own child is reaped here; after a daemon restart it is not ours (ECHILD), and init
    // reaps it.
    let _ = nix::sys::wait::waitpid(pid, None);
    Ok(())
}

/// Detaches every mount under a pod directory and removes it; a missing directory is fine.
fn release_dir(dir: &Path) -> Result<(), String> {
    if !dir.exists() {
        return Ok(());
    }
    kill_reaper(dir)?;
    mounts::unmount_all_under(dir)?;
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(format!("removing {}: {e}", dir.display()))
        }
        _ => Ok(()),
    }
}

#[async_trait]
impl PodNamespaces for PinnedNamespaces {
    async fn create(
        &self,
        sandbox_id: &str,
        config: &SandboxConfig,
        cgroup: &str,
    ) -> Result<PodHandle, NamespaceError> {
        let this = self.clone();
        let (id, config, cgroup) = (sandbox_id.to_string(), config.clone(), cgroup.to_string());
        tokio::task::spawn_blocking(move || {
            this.create_blocking(&id, &config, &cgroup)
                .map_err(|f| f.into_error(&id))
        })
        .await
        .unwrap_or_else(|e| {
            Err(Failure::Failed(format!("namespace task: {e}")).into_error(sandbox_id))
        })
    }

    async fn release(&self, sandbox_id: &str) -> Result<(), NamespaceError> {
        check_id(sandbox_id).map_err(|f| f.into_error(sandbox_id))?;
        let dir = self.pod_dir(sandbox_id);
        tokio::task::spawn_blocking(move || release_dir(&dir))
            .await
            .unwrap_or_else(|e| Err(format!("namespace task: {e}")))
            .map_err(|message| Failure::Failed(message).into_error(sandbox_id))
    }
}
