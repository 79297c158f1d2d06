//! cgroups: pod confinement and resource usage.
//!
//! [`CgroupFs`] is the Linux implementation (cgroupfs on v1, hybrid and v2 layouts).

use crate::error::{Classify, ErrorKind};
use crate::model::LinuxResources;
use crate::model::Timestamp;
use async_trait::async_trait;

mod cgroupfs;
mod layout;
mod limits;
mod stats;

pub use cgroupfs::{CgroupFs, DEFAULT_PARENT};
pub use layout::{CgroupMode, Hierarchy, Layout};

/// How cgroups are managed on the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupDriver {
    /// Direct cgroupfs writes.
    Cgroupfs,
    /// Through systemd.
    Systemd,
}

/// A sample of a container's or pod's resource usage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResourceUsage {
    /// When the sample was taken.
    pub timestamp: Timestamp,
    /// Cumulative CPU time in nanoseconds.
    pub cpu_usage_ns: u64,
    /// Working set in bytes.
    pub memory_working_set_bytes: u64,
    /// Resident memory in bytes.
    pub memory_rss_bytes: u64,
    /// Memory usage including cache, in bytes.
    pub memory_usage_bytes: u64,
    /// Number of processes.
    pub pids: u64,
}

/// Failures of cgroup handling.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// No cgroup for this id.
    #[error("no cgroup for {id}")]
    NotFound {
        /// Sandbox or container id.
        id: String,
    },
    /// Creating, updating, reading or removing failed.
    #[error("cgroup of {id}: {message}")]
    Failed {
        /// Sandbox or container id.
        id: String,
        /// What went wrong.
        message: String,
        /// Classification of the failure.
        kind: ErrorKind,
    },
}

impl Classify for CgroupError {
    fn kind(&self) -> ErrorKind {
        match self {
            CgroupError::NotFound { .. } => ErrorKind::NotFound,
            CgroupError::Failed { kind, .. } => *kind,
        }
    }
}

/// Creates pod cgroups and reads usage.
#[async_trait]
pub trait Cgroups: Send + Sync {
    /// The driver in use, reported to kubelet by RuntimeConfig.
    fn driver(&self) -> CgroupDriver;
    /// Creates the cgroup of pod `sandbox_id` under `parent`; returns its path.
    async fn create_pod(&self, sandbox_id: &str, parent: &str) -> Result<String, CgroupError>;
    /// Removes the pod's cgroup; removing one that is gone succeeds.
    async fn remove_pod(&self, sandbox_id: &str) -> Result<(), CgroupError>;
    /// Current usage of a container.
    async fn container_usage(&self, container_id: &str) -> Result<ResourceUsage, CgroupError>;
    /// Current usage of a whole pod.
    async fn pod_usage(&self, sandbox_id: &str) -> Result<ResourceUsage, CgroupError>;
    /// Applies new limits to the pod's cgroup (UpdatePodSandboxResources); zero or empty
    /// fields are left as they are.
    async fn update_pod(
        &self,
        sandbox_id: &str,
        resources: &LinuxResources,
    ) -> Result<(), CgroupError>;
}
