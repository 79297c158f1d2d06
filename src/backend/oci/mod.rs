//! The OCI runtime: creates, starts, stops and inspects container processes.
//!
//! [`Runc`] is the Linux implementation: an OCI runtime binary (runc; crun as a named handler)
//! driven by its command line, one `crius-monitor` process per container ([`crate::monitor`]),
//! and specs built by [`spec`].

mod runc;
pub mod seccomp;
pub mod spec;

pub use runc::{Runc, RuncConfig, RuncStreams};

use crate::error::{Classify, ErrorKind};
use crate::model::{ContainerConfig, ImageConfig, LinuxResources, Timestamp};
use async_trait::async_trait;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// What the OCI runtime needs to create one container.
#[derive(Debug, Clone)]
pub struct CreateContainer {
    /// Container id.
    pub id: String,
    /// Id of the pod sandbox it belongs to.
    pub sandbox_id: String,
    /// kubelet's configuration of the container.
    pub config: Arc<ContainerConfig>,
    /// Id of the image it runs.
    pub image_id: String,
    /// The image's configuration (entrypoint, cmd, env, user...).
    pub image: Arc<ImageConfig>,
    /// The prepared root filesystem.
    pub rootfs: PathBuf,
    /// Absolute path of the CRI log file, or `None` when kubelet asked for no log.
    pub log_path: Option<PathBuf>,
    /// The pod's shared resources the container joins.
    pub pod: PodHandle,
}

/// The parts of a pod sandbox its containers join.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PodHandle {
    /// The pod's cgroup path.
    pub cgroup: String,
    /// The pinned network namespace, unless the pod uses the host's.
    pub netns: Option<PathBuf>,
    /// The pinned IPC namespace, unless the pod uses the host's.
    pub ipcns: Option<PathBuf>,
    /// The pinned UTS namespace.
    pub utsns: Option<PathBuf>,
    /// The pinned PID namespace, when the pod shares one.
    pub pidns: Option<PathBuf>,
    /// Files the pod provides to its containers (hostname, hosts, resolv.conf, /dev/shm).
    pub files: Vec<(String, PathBuf)>,
}

/// How a container process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExitStatus {
    /// Exit code; 128 + signal number for a process killed by a signal.
    pub exit_code: i32,
    /// When it ended.
    pub finished_at: Timestamp,
    /// Whether the kernel's OOM killer ended it.
    pub oom_killed: bool,
}

/// The process state of a container as the OCI runtime sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessState {
    /// Created, not started.
    Created,
    /// Running with this host pid.
    Running {
        /// Host pid of the container's init process.
        pid: u32,
    },
    /// Ended.
    Exited(ExitStatus),
}

/// A container exit, as announced on [`OciRuntime::exits`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitNotice {
    /// Container id.
    pub id: String,
    /// How it ended.
    pub status: ExitStatus,
}

/// The result of a command run to completion in a container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOutput {
    /// Captured standard output.
    pub stdout: Vec<u8>,
    /// Captured standard error.
    pub stderr: Vec<u8>,
    /// Exit code.
    pub exit_code: i32,
}

/// Failures of the OCI runtime.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// The runtime has no container with this id.
    #[error("container {id} not found in the OCI runtime")]
    NotFound {
        /// Container id.
        id: String,
    },
    /// The container is not in a state that allows the operation.
    #[error("container {id}: {operation} not possible while {state}")]
    WrongState {
        /// Container id.
        id: String,
        /// What was asked.
        operation: &'static str,
        /// The state it is in.
        state: String,
    },
    /// The operation overran its deadline.
    #[error("container {id}: {operation} timed out after {timeout:?}")]
    Timeout {
        /// Container id.
        id: String,
        /// What was asked.
        operation: &'static str,
        /// The deadline.
        timeout: Duration,
    },
    /// The runtime refused the request or failed to carry it out.
    #[error("container {id}: {operation} failed: {message}")]
    Failed {
        /// Container id.
        id: String,
        /// What was asked.
        operation: &'static str,
        /// What the runtime said.
        message: String,
        /// Classification of the failure.
        kind: ErrorKind,
    },
}

impl Classify for OciError {
    fn kind(&self) -> ErrorKind {
        match self {
            OciError::NotFound { .. } => ErrorKind::NotFound,
            OciError::WrongState { .. } => ErrorKind::FailedPrecondition,
            OciError::Timeout { .. } => ErrorKind::DeadlineExceeded,
            OciError::Failed { kind, .. } => *kind,
        }
    }
}

/// Runs containers: the role of runc or crun with their monitor.
#[async_trait]
pub trait OciRuntime: Send + Sync {
    /// Creates the container without starting its process.
    async fn create(&self, request: CreateContainer) -> Result<(), OciError>;
    /// Starts a created container's process.
    async fn start(&self, id: &str) -> Result<(), OciError>;
    /// Stops a running container: `signal` first, SIGKILL once `timeout` has passed.
    /// Returns once the process has ended.
    async fn stop(&self, id: &str, signal: &str, timeout: Duration)
    -> Result<ExitStatus, OciError>;
    /// The container's current process state.
    async fn state(&self, id: &str) -> Result<ProcessState, OciError>;
    /// Removes a created or exited container from the runtime.
    async fn delete(&self, id: &str) -> Result<(), OciError>;
    /// Runs `command` in a running container and waits for it, up to `timeout` when given.
    async fn exec_sync(
        &self,
        id: &str,
        command: &[String],
        timeout: Option<Duration>,
    ) -> Result<ExecOutput, OciError>;
    /// Changes the resource limits of a created or running container.
    async fn update_resources(&self, id: &str, resources: &LinuxResources) -> Result<(), OciError>;
    /// Makes the container's log writer reopen its log file (after rotation).
    async fn reopen_log(&self, id: &str) -> Result<(), OciError>;
    /// A stream of container exits, as they happen. A receiver that lags should resynchronise
    /// with [`OciRuntime::state`].
    fn exits(&self) -> broadcast::Receiver<ExitNotice>;
}
