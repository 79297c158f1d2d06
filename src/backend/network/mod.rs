//! Pod networking: addresses, routes and published ports of a pod.
//!
//! [`Cni`] is the Linux implementation: CNI 1.0 plugins run from conflists.

use crate::error::{Classify, ErrorKind};
use crate::model::SandboxConfig;
use async_trait::async_trait;
use std::path::PathBuf;

mod cni;

pub use cni::{Cni, CniOptions, IPS_ANNOTATION, POD_CIDR_PLACEHOLDER, default_plugin_dirs};

/// What the network needs to know about a pod.
#[derive(Debug, Clone)]
pub struct PodNetworkRequest<'a> {
    /// Sandbox id.
    pub sandbox_id: &'a str,
    /// The pod's pinned network namespace.
    pub netns: Option<PathBuf>,
    /// The pod's configuration (metadata, port mappings, annotations).
    pub config: &'a SandboxConfig,
}

/// The addresses a pod was given.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PodAddresses {
    /// The primary IP.
    pub ip: String,
    /// Further IPs (e.g. the other address family).
    pub additional_ips: Vec<String>,
}

/// Whether the network can set up pods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkReadiness {
    /// Ready.
    Ready,
    /// Not ready, with a machine-readable reason and a message for people.
    NotReady {
        /// CamelCase reason, e.g. `NetworkPluginNotReady`.
        reason: String,
        /// Explanation.
        message: String,
    },
}

/// Failures of pod networking.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// The network is not ready.
    #[error("network not ready: {message}")]
    NotReady {
        /// Explanation.
        message: String,
    },
    /// A plugin failed.
    #[error("network {operation} for sandbox {sandbox_id}: {message}")]
    Failed {
        /// Sandbox id.
        sandbox_id: String,
        /// `setup` or `teardown`.
        operation: &'static str,
        /// What the plugin said.
        message: String,
        /// Classification of the failure.
        kind: ErrorKind,
    },
}

impl Classify for NetworkError {
    fn kind(&self) -> ErrorKind {
        match self {
            NetworkError::NotReady { .. } => ErrorKind::Unavailable,
            NetworkError::Failed { kind, .. } => *kind,
        }
    }
}

/// Connects pods to the network.
#[async_trait]
pub trait PodNetwork: Send + Sync {
    /// Whether pods can be set up now.
    async fn readiness(&self) -> NetworkReadiness;
    /// Attaches the pod and returns its addresses.
    async fn setup(&self, pod: PodNetworkRequest<'_>) -> Result<PodAddresses, NetworkError>;
    /// Detaches the pod; detaching one that is not attached succeeds.
    async fn teardown(&self, pod: PodNetworkRequest<'_>) -> Result<(), NetworkError>;
    /// Takes the node's pod CIDR from kubelet.
    async fn set_pod_cidr(&self, cidr: &str) -> Result<(), NetworkError>;
}
