//! The pod sandbox record and its state machine.
//!
//! ```text
//!   RunPodSandbox ──► Ready ──StopPodSandbox──► NotReady ──RemovePodSandbox──► (gone)
//!                       └──────────────RemovePodSandbox (stops first)─────────────┘
//! ```
//!
//! A sandbox never returns to Ready: kubelet makes a new one with the next attempt number.

use crate::backend::network::PodAddresses;
use crate::backend::oci::PodHandle;
use crate::model::{SandboxConfig, Timestamp};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Whether a sandbox's shared resources are up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SandboxState {
    /// Namespaces, network and cgroup are in place.
    Ready,
    /// Stopped: its network is down and its containers are stopped.
    NotReady,
}

/// A pod sandbox as the core keeps and persists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sandbox {
    /// Full id.
    pub id: String,
    /// kubelet's configuration.
    pub config: Arc<SandboxConfig>,
    /// Runtime handler (RuntimeClass) it runs with; empty for the default.
    pub runtime_handler: String,
    /// Current state.
    pub state: SandboxState,
    /// When it was created.
    pub created_at: Timestamp,
    /// The pod's addresses (empty for host network).
    pub addresses: PodAddresses,
    /// The pod's shared namespaces, cgroup and files.
    pub pod: PodHandle,
    /// The pod-level limits last applied by UpdatePodSandboxResources.
    #[serde(default)]
    pub resources: Option<crate::model::LinuxResources>,
}

impl Sandbox {
    /// Whether the pod uses the node's network namespace.
    pub fn host_network(&self) -> bool {
        self.config.linux.namespace_options.network == crate::model::NamespaceMode::Node
    }
}
