//! Pod sandbox configuration and its parts.

use super::StringMap;
use serde::{Deserialize, Serialize};

/// Identifies a pod sandbox to kubelet: the four parts are reserved together as its name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct PodMetadata {
    /// Pod name.
    pub name: String,
    /// Pod UID.
    pub uid: String,
    /// Pod namespace.
    pub namespace: String,
    /// How many sandboxes kubelet created for this pod before this one.
    pub attempt: u32,
}

impl PodMetadata {
    /// The reservation key: `name_namespace_uid_attempt`, as CRI runtimes name sandboxes.
    pub fn reservation_key(&self) -> String {
        format!(
            "{}_{}_{}_{}",
            self.name, self.namespace, self.uid, self.attempt
        )
    }
}

/// How a namespace of a pod or container is shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum NamespaceMode {
    /// One namespace per pod, shared by its containers.
    #[default]
    Pod,
    /// A namespace of the container's own.
    Container,
    /// The host's namespace.
    Node,
    /// The namespace of another container (`target_id`).
    Target,
}

/// Namespace choices of a pod or container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct NamespaceOptions {
    /// Network namespace mode.
    pub network: NamespaceMode,
    /// PID namespace mode.
    pub pid: NamespaceMode,
    /// IPC namespace mode.
    pub ipc: NamespaceMode,
    /// Container whose namespace is joined when a mode is [`NamespaceMode::Target`].
    pub target_id: String,
}

/// Transport protocol of a port mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Protocol {
    /// TCP.
    #[default]
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

/// A port of the pod published on the node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PortMapping {
    /// Protocol.
    pub protocol: Protocol,
    /// Port inside the pod.
    pub container_port: i32,
    /// Port on the node; 0 means not published.
    pub host_port: i32,
    /// Node address to bind; empty means all.
    pub host_ip: String,
}

/// Resolver configuration for the pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DnsConfig {
    /// Name servers.
    pub servers: Vec<String>,
    /// Search domains.
    pub searches: Vec<String>,
    /// resolv.conf options.
    pub options: Vec<String>,
}

/// Linux-specific pod settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct LinuxSandboxConfig {
    /// Parent cgroup of the pod.
    pub cgroup_parent: String,
    /// Namespace choices.
    pub namespace_options: NamespaceOptions,
    /// Namespaced sysctls to set in the pod.
    pub sysctls: StringMap,
    /// Whether the pod's infrastructure runs privileged.
    pub privileged: bool,
    /// Read-only root filesystem for the sandbox.
    pub readonly_rootfs: bool,
    /// Supplemental groups of the pod.
    pub supplemental_groups: Vec<i64>,
    /// User the sandbox runs as, when set.
    pub run_as_user: Option<i64>,
    /// Group the sandbox runs as, when set.
    pub run_as_group: Option<i64>,
}

/// Everything kubelet says about a pod sandbox when it asks for one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SandboxConfig {
    /// Pod identity.
    pub metadata: PodMetadata,
    /// Hostname inside the pod.
    pub hostname: String,
    /// Directory where container logs of this pod go; container log paths are relative to it.
    pub log_directory: String,
    /// Resolver configuration.
    pub dns: Option<DnsConfig>,
    /// Published ports.
    pub port_mappings: Vec<PortMapping>,
    /// Labels (kubelet's, round-tripped exactly).
    pub labels: StringMap,
    /// Annotations (kubelet's, round-tripped exactly).
    pub annotations: StringMap,
    /// Linux settings.
    pub linux: LinuxSandboxConfig,
}
