//! The container record and its state machine.
//!
//! ```text
//!   CreateContainer ──► Created ──StartContainer──► Running ──exit / StopContainer──► Exited
//!                          │                                                           │
//!                          └──────────────── RemoveContainer (stops first) ────────────┴──► (gone)
//! ```
//!
//! `Unknown` is entered only when the OCI runtime has lost a container (after a restart whose
//! monitor is gone); such a container can only be stopped or removed.

use crate::backend::oci::ExitStatus;
use crate::model::{ContainerConfig, ImageConfig, Timestamp};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The lifecycle state of a container, as the CRI names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ContainerState {
    /// Created, not started.
    Created,
    /// Its process runs.
    Running,
    /// Its process has ended.
    Exited,
    /// Its process state is not known.
    Unknown,
}

/// The image a container was created from, resolved when it was created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerImage {
    /// Image id (config digest).
    pub id: String,
    /// The name kubelet asked for, normalised (e.g. `docker.io/library/busybox:latest`).
    pub name: String,
    /// A digest reference of the image, or its id when it has none.
    pub reference: String,
    /// The image's runtime configuration.
    pub config: Arc<ImageConfig>,
}

/// A container as the core keeps and persists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Container {
    /// Full id.
    pub id: String,
    /// Its pod sandbox.
    pub sandbox_id: String,
    /// kubelet's configuration (resources updated by UpdateContainerResources).
    pub config: Arc<ContainerConfig>,
    /// Resolved image.
    pub image: ContainerImage,
    /// Absolute log path; empty when kubelet asked for none.
    pub log_path: String,
    /// Current state.
    pub state: ContainerState,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it started (0 if it never did).
    pub started_at: Timestamp,
    /// How it ended, once it has.
    pub exit: Option<ExitStatus>,
    /// Explanation of the last state change, for kubelet.
    pub message: String,
}

impl Container {
    /// The reason kubelet shows for an exited container.
    pub fn reason(&self) -> &'static str {
        match (self.state, self.exit) {
            (ContainerState::Exited, Some(exit)) if exit.oom_killed => "OOMKilled",
            (ContainerState::Exited, Some(exit)) if exit.exit_code == 0 => "Completed",
            (ContainerState::Exited, Some(_)) => "Error",
            (ContainerState::Unknown, _) => "Unknown",
            _ => "",
        }
    }

    /// When it finished (0 while it has not).
    pub fn finished_at(&self) -> Timestamp {
        self.exit.map(|e| e.finished_at).unwrap_or(0)
    }

    /// Exit code (0 while it has not ended).
    pub fn exit_code(&self) -> i32 {
        self.exit.map(|e| e.exit_code).unwrap_or(0)
    }

    /// Records that the process ended. Returns whether the state changed.
    ///
    /// A container whose exit is seen before its start was committed counts as started at its
    /// finish time, so created ≤ started ≤ finished always holds.
    pub fn record_exit(&mut self, exit: ExitStatus) -> bool {
        match self.state {
            ContainerState::Exited => false,
            ContainerState::Created | ContainerState::Running | ContainerState::Unknown => {
                if self.started_at == 0 {
                    self.started_at = exit.finished_at.max(self.created_at);
                }
                let finished_at = exit.finished_at.max(self.started_at);
                self.exit = Some(ExitStatus {
                    finished_at,
                    ..exit
                });
                self.state = ContainerState::Exited;
                true
            }
        }
    }

    /// The reservation key of its name: `name_pod_namespace_uid_attempt`.
    pub fn reservation_key(&self, pod: &crate::model::PodMetadata) -> String {
        name_key(&self.config.metadata, pod)
    }
}

/// The reservation key of a container name in its pod.
pub fn name_key(meta: &crate::model::ContainerMetadata, pod: &crate::model::PodMetadata) -> String {
    format!(
        "{}_{}_{}_{}_{}",
        meta.name, pod.name, pod.namespace, pod.uid, meta.attempt
    )
}
