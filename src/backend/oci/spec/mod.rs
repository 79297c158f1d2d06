//! The OCI runtime spec (`config.json`) of a container, from kubelet's request.
//!
//! [`build`] is a pure function of the request, the rootfs's `/etc/passwd` and `/etc/group`,
//! and a [`SpecEnv`]: the few facts about the daemon's own process that change the spec (its
//! capability bounding set, its `oom_score_adj`, the host's devices). Tests inject a fixed
//! `SpecEnv`, so the snapshots in `tests/snapshots/` do not depend on the machine.
//!
//! The rules, in short (containerd's and CRI-O's where they agree):
//! - args by Kubernetes' rules ([`ContainerConfig::process_args`]); env is the image's, then
//!   kubelet's (a key kubelet sets replaces the image's), with a default `PATH`; cwd is
//!   kubelet's, else the image's, else `/`;
//! - the user from `run_as_user`/`run_as_group`/`run_as_username`, else the image's `User`
//!   ([`user`]);
//! - capabilities: CRI-O's default list with kubelet's add/drop (`ALL` included), limited to
//!   what the daemon holds; privileged means all of those, every host device, writable
//!   `/sys`, and no masked or read-only paths;
//! - `oom_score_adj` is raised to the daemon's own (a process without `CAP_SYS_RESOURCE` cannot
//!   lower it; containerd's `restrict_oom_score_adj`);
//! - namespaces: the pod's pinned network, IPC and UTS namespaces (and PID when the pod
//!   shares one) by path, a new mount namespace, and a new PID namespace otherwise;
//! - seccomp: none when privileged or Unconfined, crius's RuntimeDefault profile (relaxed by
//!   the capabilities the container holds), or a Localhost JSON file; a missing or malformed
//!   file is InvalidArgument naming its path ([`super::seccomp`]).
//!
//! [`ContainerConfig::process_args`]: crate::model::ContainerConfig::process_args

mod caps;
mod mounts;
mod resources;
mod user;

pub use caps::{DEFAULT_CAPABILITIES, from_mask, held_by_self};
pub use resources::{host_devices, linux_resources};
pub use user::{ResolvedUser, resolve as resolve_user};

use super::CreateContainer;
use crate::error::ErrorKind;
use crate::model::NamespaceMode;
use oci_spec::runtime::{
    Capability, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxDevice, LinuxNamespace,
    LinuxNamespaceBuilder, LinuxNamespaceType, ProcessBuilder, RootBuilder, Spec, SpecBuilder,
    UserBuilder,
};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// `PATH` of a container whose image and kubelet set none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Paths masked in a container unless kubelet gives its own list (containerd's and CRI-O's).
pub const DEFAULT_MASKED_PATHS: [&str; 11] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths made read-only in a container unless kubelet gives its own list.
pub const DEFAULT_READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Why a spec cannot be built.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SpecError {
    /// What is wrong.
    pub message: String,
    /// Classification: InvalidArgument for a request that cannot be honoured.
    pub kind: ErrorKind,
}

impl SpecError {
    fn invalid(message: impl Into<String>) -> SpecError {
        SpecError {
            message: message.into(),
            kind: ErrorKind::InvalidArgument,
        }
    }

    fn internal(error: impl std::fmt::Display) -> SpecError {
        SpecError {
            message: format!("building the OCI spec: {error}"),
            kind: ErrorKind::Internal,
        }
    }
}

/// Facts about the daemon's process and host that the spec depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecEnv {
    /// The daemon's own `oom_score_adj`: containers get at least this.
    pub oom_score_adj_floor: i32,
    /// The capabilities the daemon holds (its bounding set).
    pub capabilities: Vec<Capability>,
    /// The host's devices, given to privileged containers; `None` reads `/dev` when needed.
    pub host_devices: Option<Vec<LinuxDevice>>,
    /// Limit on the number of processes of each container, when set.
    pub pids_limit: Option<i64>,
}

impl SpecEnv {
    /// The facts of the calling process: `/proc/self/oom_score_adj` and `CapBnd`.
    pub fn detect() -> Result<SpecEnv, String> {
        let oom = std::fs::read_to_string("/proc/self/oom_score_adj")
            .map_err(|e| format!("reading /proc/self/oom_score_adj: {e}"))?;
        let oom_score_adj_floor = oom
            .trim()
            .parse()
            .map_err(|e| format!("/proc/self/oom_score_adj {:?}: {e}", oom.trim()))?;
        Ok(SpecEnv {
            oom_score_adj_floor,
            capabilities: held_by_self()?,
            host_devices: None,
            pids_limit: None,
        })
    }
}

/// What [`build`] needs beyond the request: resolved by the runtime from other containers.
#[derive(Debug, Clone, Default)]
pub struct Extras {
    /// The PID namespace of the target container, for [`NamespaceMode::Target`].
    pub target_pid_ns: Option<PathBuf>,
}

fn namespace(typ: LinuxNamespaceType, path: Option<&Path>) -> Result<LinuxNamespace, SpecError> {
    let mut builder = LinuxNamespaceBuilder::default().typ(typ);
    if let Some(path) = path {
        builder = builder.path(path);
    }
    builder.build().map_err(SpecError::internal)
}

/// The namespaces a container joins or creates.
fn namespaces(
    request: &CreateContainer,
    extras: &Extras,
) -> Result<Vec<LinuxNamespace>, SpecError> {
    let pod = &request.pod;
    let mut list = vec![namespace(LinuxNamespaceType::Mount, None)?];
    for (typ, path) in [
        (LinuxNamespaceType::Network, &pod.netns),
        (LinuxNamespaceType::Ipc, &pod.ipcns),
        (LinuxNamespaceType::Uts, &pod.utsns),
    ] {
        if let Some(path) = path {
            list.push(namespace(typ, Some(path))?);
        }
    }
    let options = &request.config.linux.security.namespace_options;
    match options.pid {
        NamespaceMode::Node => {}
        NamespaceMode::Pod if pod.pidns.is_some() => {
            list.push(namespace(LinuxNamespaceType::Pid, pod.pidns.as_deref())?)
        }
        NamespaceMode::Target => {
            let path = extras.target_pid_ns.as_deref().ok_or_else(|| {
                SpecError::invalid(format!(
                    "no PID namespace of target container {:?}",
                    options.target_id
                ))
            })?;
            list.push(namespace(LinuxNamespaceType::Pid, Some(path))?);
        }
        NamespaceMode::Pod | NamespaceMode::Container => {
            list.push(namespace(LinuxNamespaceType::Pid, None)?)
        }
    }
    Ok(list)
}

/// The environment: the image's, then kubelet's (replacing the same keys), `PATH` by default.
fn environment(request: &CreateContainer) -> Vec<String> {
    let mut env: Vec<(String, String)> = Vec::new();
    let mut set = |key: &str, value: &str| match env.iter_mut().find(|(k, _)| k == key) {
        Some(entry) => entry.1 = value.to_string(),
        None => env.push((key.to_string(), value.to_string())),
    };
    for item in &request.image.env {
        let (key, value) = item.split_once('=').unwrap_or((item, ""));
        set(key, value);
    }
    for (key, value) in &request.config.envs {
        set(key, value);
    }
    if !env.iter().any(|(k, _)| k == "PATH") {
        env.insert(0, ("PATH".to_string(), DEFAULT_PATH.to_string()));
    }
    if request.config.tty && !env.iter().any(|(k, _)| k == "TERM") {
        env.push(("TERM".to_string(), "xterm".to_string()));
    }
    env.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
}

fn hostname(request: &CreateContainer) -> Option<String> {
    request.pod.utsns.as_ref()?;
    let (_, path) = request
        .pod
        .files
        .iter()
        .find(|(inside, _)| inside == "/etc/hostname")?;
    let name = std::fs::read_to_string(path).ok()?;
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_string())
}

/// The OCI spec of the container `request` describes.
pub fn build(request: &CreateContainer, env: &SpecEnv, extras: &Extras) -> Result<Spec, SpecError> {
    let config = &request.config;
    let security = &config.linux.security;
    let privileged = security.privileged;
    let args = config.process_args(&request.image);
    if args.is_empty() {
        return Err(SpecError::invalid(
            "the container has no command: neither kubelet nor the image gives one",
        ));
    }
    let cwd = [
        config.working_dir.as_str(),
        request.image.working_dir.as_str(),
    ]
    .into_iter()
    .find(|d| !d.is_empty())
    .unwrap_or("/");
    let user = user::resolve(security, &request.image.user, &request.rootfs)?;
    let caps: HashSet<Capability> = if privileged {
        env.capabilities.iter().copied().collect()
    } else {
        caps::resolve(
            &security.capabilities.add,
            &security.capabilities.drop,
            &env.capabilities,
        )?
        .into_iter()
        .collect()
    };
    let capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(caps.clone())
        .effective(caps.clone())
        .permitted(caps.clone())
        .inheritable(HashSet::new())
        .ambient(HashSet::new())
        .build()
        .map_err(SpecError::internal)?;
    let seccomp =
        super::seccomp::filter(&security.seccomp, privileged, &caps).map_err(|e| match e {
            super::seccomp::SeccompError::Profile { .. } => SpecError::invalid(e.to_string()),
            super::seccomp::SeccompError::Build(_) => SpecError::internal(e),
        })?;
    let mut process = ProcessBuilder::default()
        .terminal(config.tty)
        .user(
            UserBuilder::default()
                .uid(user.uid)
                .gid(user.gid)
                .additional_gids(user.additional_gids)
                .build()
                .map_err(SpecError::internal)?,
        )
        .args(args)
        .env(environment(request))
        .cwd(cwd)
        .capabilities(capabilities)
        .no_new_privileges(security.no_new_privs)
        .build()
        .map_err(SpecError::internal)?;
    process.set_rlimits(None);
    process.set_oom_score_adj(
        config
            .linux
            .resources
            .as_ref()
            .map(|r| (r.oom_score_adj.clamp(-1000, 1000) as i32).max(env.oom_score_adj_floor)),
    );

    let mut devices = resources::cri_devices(&config.devices)?;
    if privileged {
        let host = env.host_devices.clone().unwrap_or_else(host_devices);
        devices.extend(host.into_iter().map(|d| (d, "rwm".to_string())));
    }
    let rules = resources::device_rules(privileged, &devices)?;
    let limits = linux_resources(config.linux.resources.as_ref(), rules, env.pids_limit)?;
    let (masked, readonly): (Vec<String>, Vec<String>) = if privileged {
        (Vec::new(), Vec::new())
    } else {
        let or_default = |given: &[String], default: &[&str]| {
            if given.is_empty() {
                default.iter().map(|p| p.to_string()).collect()
            } else {
                given.to_vec()
            }
        };
        (
            or_default(&security.masked_paths, &DEFAULT_MASKED_PATHS),
            or_default(&security.readonly_paths, &DEFAULT_READONLY_PATHS),
        )
    };
    let mut linux = LinuxBuilder::default()
        .resources(limits)
        .cgroups_path(format!(
            "{}/{}",
            request.pod.cgroup.trim_end_matches('/'),
            request.id
        ))
        .namespaces(namespaces(request, extras)?)
        .devices(devices.into_iter().map(|(d, _)| d).collect::<Vec<_>>())
        .masked_paths(masked)
        .readonly_paths(readonly)
        .build()
        .map_err(SpecError::internal)?;
    linux.set_rootfs_propagation(mounts::rootfs_propagation(&config.mounts));
    linux.set_seccomp(seccomp);

    let mut spec = SpecBuilder::default()
        .version("1.0.2")
        .root(
            RootBuilder::default()
                .path(&request.rootfs)
                .readonly(security.readonly_rootfs)
                .build()
                .map_err(SpecError::internal)?,
        )
        .mounts(mounts::container_mounts(
            &config.mounts,
            &request.pod,
            privileged,
            security.readonly_rootfs,
        )?)
        .process(process)
        .linux(linux)
        .build()
        .map_err(SpecError::internal)?;
    spec.set_hostname(hostname(request));
    spec.set_annotations(None);
    spec.set_hooks(None);
    Ok(spec)
}
