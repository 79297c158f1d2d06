//! Learning that container processes ended: from the OCI runtime's exit notices, and by asking
//! it directly whenever a running container is looked at.

use super::{ContainerEventKind, ContainerState, Result, Runtime};
use crate::backend::oci::{ExitStatus, ProcessState};
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;

impl Runtime {
    /// Records that container `id` ended with `exit`, once; emits a stopped event.
    pub(super) fn record_exit(&self, id: &str, exit: ExitStatus) -> Result<()> {
        let mut changed = false;
        self.update_container(id, |c| changed = c.record_exit(exit))?;
        if changed {
            self.emit(ContainerEventKind::Stopped, id);
        }
        Ok(())
    }

    /// Marks a container whose process the OCI runtime no longer knows as exited, with exit
    /// code 255 and a message saying so.
    pub(super) fn mark_lost(&self, id: &str) {
        let now = self.backends.clock.now();
        let mut changed = false;
        let result = self.update_container(id, |c| {
            changed = c.record_exit(ExitStatus {
                exit_code: 255,
                finished_at: now,
                oom_killed: false,
            });
            if changed {
                c.message = "the OCI runtime lost the container's process".to_string();
            }
        });
        if let Err(e) = result {
            tracing::warn!(container = id, error = %e, "could not record a lost container");
        } else if changed {
            self.emit(ContainerEventKind::Stopped, id);
        }
    }

    /// Asks the OCI runtime about a running container and records its exit if it has ended.
    pub(super) async fn sync_container(&self, id: &str) {
        let running = self
            .state
            .lock()
            .containers
            .get(id)
            .is_some_and(|c| c.state == ContainerState::Running);
        if !running {
            return;
        }
        match self.backends.oci.state(id).await {
            Ok(ProcessState::Exited(exit)) => {
                if let Err(e) = self.record_exit(id, exit) {
                    tracing::warn!(container = id, error = %e, "could not record an exit");
                }
            }
            Ok(_) => {}
            Err(crate::backend::oci::OciError::NotFound { .. }) => self.mark_lost(id),
            Err(e) => tracing::warn!(container = id, error = %e, "could not read container state"),
        }
    }

    /// Syncs every running container (after missed exit notices, and at start-up).
    pub async fn sync_running_containers(&self) {
        let running: Vec<String> = self
            .state
            .lock()
            .containers
            .values()
            .filter(|c| c.state == ContainerState::Running)
            .map(|c| c.id.clone())
            .collect();
        for id in running {
            self.sync_container(&id).await;
        }
    }

    /// Follows the OCI runtime's exit notices until the runtime is dropped, so that container
    /// states and events change as processes end, without anyone asking.
    pub fn spawn_exit_watcher(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let mut exits = self.backends.oci.exits();
        let runtime = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let notice = exits.recv().await;
                let Some(runtime) = runtime.upgrade() else {
                    return;
                };
                match notice {
                    Ok(notice) => {
                        if let Err(e) = runtime.record_exit(&notice.id, notice.status) {
                            tracing::warn!(container = %notice.id, error = %e, "could not record an exit");
                        }
                    }
                    Err(RecvError::Lagged(missed)) => {
                        tracing::debug!(missed, "exit notices missed; resyncing");
                        runtime.sync_running_containers().await;
                    }
                    Err(RecvError::Closed) => return,
                }
            }
        })
    }
}
