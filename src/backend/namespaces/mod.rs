//! The namespaces and files a pod's containers share, kept alive without a pause container.
//!
//! [`PinnedNamespaces`] is the Linux implementation (the role of CRI-O's `pinns`).

use super::oci::PodHandle;
use crate::error::{Classify, ErrorKind};
use crate::model::SandboxConfig;
use async_trait::async_trait;

mod files;
mod loopback;
mod mounts;
mod pid_init;
mod pinned;
mod sysctl;

pub use pinned::PinnedNamespaces;

/// Failures of pod namespace handling.
#[derive(Debug, thiserror::Error)]
pub enum NamespaceError {
    /// The configuration asks for something that cannot be done.
    #[error("sandbox {sandbox_id}: {message}")]
    Invalid {
        /// Sandbox id.
        sandbox_id: String,
        /// What is wrong.
        message: String,
    },
    /// Creating or releasing failed.
    #[error("namespaces of sandbox {sandbox_id}: {message}")]
    Failed {
        /// Sandbox id.
        sandbox_id: String,
        /// What went wrong.
        message: String,
        /// Classification of the failure.
        kind: ErrorKind,
    },
}

impl Classify for NamespaceError {
    fn kind(&self) -> ErrorKind {
        match self {
            NamespaceError::Invalid { .. } => ErrorKind::InvalidArgument,
            NamespaceError::Failed { kind, .. } => *kind,
        }
    }
}

/// Pins a pod's namespaces and writes its shared files (hostname, hosts, resolv.conf, shm).
#[async_trait]
pub trait PodNamespaces: Send + Sync {
    /// Creates the pod's namespaces and files; `cgroup` is the pod's cgroup path.
    async fn create(
        &self,
        sandbox_id: &str,
        config: &SandboxConfig,
        cgroup: &str,
    ) -> Result<PodHandle, NamespaceError>;
    /// Releases them; releasing what is gone succeeds.
    async fn release(&self, sandbox_id: &str) -> Result<(), NamespaceError>;
}
