//! Container configuration and its parts.

use super::StringMap;
use serde::{Deserialize, Serialize};

/// Identifies a container within its pod.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct ContainerMetadata {
    /// Container name, unique in the pod.
    pub name: String,
    /// Restart count of this container in its pod.
    pub attempt: u32,
}

/// The image a container runs, as kubelet names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ImageSpec {
    /// Image reference or id.
    pub image: String,
    /// Annotations kubelet attaches to the image request.
    pub annotations: StringMap,
    /// The reference as the user wrote it in the pod spec.
    pub user_specified_image: String,
    /// Runtime handler the image was pulled for.
    pub runtime_handler: String,
}

/// Mount propagation of a bind mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum MountPropagation {
    /// No propagation (private).
    #[default]
    Private,
    /// Host to container (rslave).
    HostToContainer,
    /// Both ways (rshared).
    Bidirectional,
}

/// A host path mounted into a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Mount {
    /// Path inside the container.
    pub container_path: String,
    /// Path on the host.
    pub host_path: String,
    /// Mounted read-only.
    pub readonly: bool,
    /// SELinux relabel requested.
    pub selinux_relabel: bool,
    /// Propagation mode.
    pub propagation: MountPropagation,
}

/// A host device made available in a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Device {
    /// Path inside the container.
    pub container_path: String,
    /// Path on the host.
    pub host_path: String,
    /// cgroup permissions, e.g. `rwm`.
    pub permissions: String,
}

/// Linux resource limits of a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct LinuxResources {
    /// CFS period in microseconds.
    pub cpu_period: i64,
    /// CFS quota in microseconds.
    pub cpu_quota: i64,
    /// CPU shares (relative weight).
    pub cpu_shares: i64,
    /// Memory limit in bytes; 0 means none.
    pub memory_limit_in_bytes: i64,
    /// OOM score adjustment.
    pub oom_score_adj: i64,
    /// CPUs the container may use.
    pub cpuset_cpus: String,
    /// Memory nodes the container may use.
    pub cpuset_mems: String,
    /// Huge page limits by page size.
    pub hugepage_limits: Vec<(String, u64)>,
    /// cgroup v2 settings passed through.
    pub unified: StringMap,
    /// Swap limit in bytes.
    pub memory_swap_limit_in_bytes: i64,
}

/// Capabilities to add and drop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Capabilities {
    /// Added capabilities (`CAP_` prefix optional, `ALL` allowed).
    pub add: Vec<String>,
    /// Dropped capabilities.
    pub drop: Vec<String>,
}

/// Linux security settings of a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct LinuxContainerSecurity {
    /// Runs privileged.
    pub privileged: bool,
    /// Capability changes.
    pub capabilities: Capabilities,
    /// Namespace choices.
    pub namespace_options: NamespaceOptionsRef,
    /// Numeric user, when set.
    pub run_as_user: Option<i64>,
    /// Numeric group, when set.
    pub run_as_group: Option<i64>,
    /// User name to resolve in the image, when set.
    pub run_as_username: String,
    /// Read-only root filesystem.
    pub readonly_rootfs: bool,
    /// Supplemental groups.
    pub supplemental_groups: Vec<i64>,
    /// Sets no_new_privs.
    pub no_new_privs: bool,
    /// Paths masked in the container; empty means the default list.
    pub masked_paths: Vec<String>,
    /// Paths made read-only; empty means the default list.
    pub readonly_paths: Vec<String>,
    /// Seccomp profile; ignored for privileged containers.
    #[serde(default)]
    pub seccomp: SecurityProfile,
}

/// A seccomp profile choice, as kubelet makes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum SecurityProfile {
    /// No filter (what kubelet asks for unless told otherwise).
    #[default]
    Unconfined,
    /// The runtime's own default profile.
    RuntimeDefault,
    /// A JSON profile on the node, by absolute path.
    Localhost(String),
}

/// Namespace options as a container sees them (a copy of the pod's, possibly changed).
pub type NamespaceOptionsRef = super::NamespaceOptions;

/// Linux-specific container settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct LinuxContainerConfig {
    /// Resource limits.
    pub resources: Option<LinuxResources>,
    /// Security settings.
    pub security: LinuxContainerSecurity,
}

/// Everything kubelet says about a container when it asks for one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ContainerConfig {
    /// Container identity in its pod.
    pub metadata: ContainerMetadata,
    /// Image to run.
    pub image: ImageSpec,
    /// Entrypoint override.
    pub command: Vec<String>,
    /// Arguments override.
    pub args: Vec<String>,
    /// Working directory override.
    pub working_dir: String,
    /// Environment variables, in order.
    pub envs: Vec<(String, String)>,
    /// Bind mounts.
    pub mounts: Vec<Mount>,
    /// Devices.
    pub devices: Vec<Device>,
    /// Labels (round-tripped exactly).
    pub labels: StringMap,
    /// Annotations (round-tripped exactly).
    pub annotations: StringMap,
    /// Log path relative to the pod's log directory.
    pub log_path: String,
    /// Keeps stdin open.
    pub stdin: bool,
    /// Closes stdin after the first attach ends.
    pub stdin_once: bool,
    /// Allocates a terminal.
    pub tty: bool,
    /// Signal to stop the container with, overriding the image's.
    pub stop_signal: Option<String>,
    /// Linux settings.
    pub linux: LinuxContainerConfig,
}

impl ContainerConfig {
    /// The process arguments by Kubernetes' rules: `command` replaces the image's entrypoint
    /// (and drops its cmd); `args` replace the image's cmd.
    pub fn process_args(&self, image: &super::ImageConfig) -> Vec<String> {
        let entrypoint = if self.command.is_empty() {
            &image.entrypoint
        } else {
            &self.command
        };
        let args = if !self.args.is_empty() || !self.command.is_empty() {
            &self.args
        } else {
            &image.cmd
        };
        entrypoint.iter().chain(args).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ImageConfig;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn process_args_follow_kubernetes_rules() {
        let image = ImageConfig {
            entrypoint: strings(&["/entry"]),
            cmd: strings(&["default"]),
            ..Default::default()
        };
        let mut config = ContainerConfig::default();
        assert_eq!(config.process_args(&image), strings(&["/entry", "default"]));
        config.args = strings(&["x"]);
        assert_eq!(config.process_args(&image), strings(&["/entry", "x"]));
        config.command = strings(&["/bin/sh"]);
        assert_eq!(config.process_args(&image), strings(&["/bin/sh", "x"]));
        config.args.clear();
        assert_eq!(config.process_args(&image), strings(&["/bin/sh"]));
    }
}
