//! StartContainer, StopContainer, RemoveContainer, ExecSync, UpdateContainerResources and
//! ReopenContainerLog.

use super::{Container, ContainerEventKind, ContainerState, Error, Result, Runtime, SandboxState};
use crate::backend::oci::{ExecOutput, OciError};
use crate::error::Classify;
use crate::model::LinuxResources;
use std::sync::Arc;
use std::time::Duration;

/// The signal a container is stopped with when neither kubelet nor its image names one.
const DEFAULT_STOP_SIGNAL: &str = "SIGTERM";

impl Runtime {
    /// StartContainer: starts a created container's process.
    pub async fn start_container(&self, id: &str) -> Result<()> {
        let container = self.get_container(id)?;
        if container.state != ContainerState::Created {
            return Err(Error::precondition(format!(
                "container {} is {:?}: only a created container can be started",
                container.id, container.state
            )));
        }
        let sandbox_ready = self
            .state
            .lock()
            .sandboxes
            .get(&container.sandbox_id)
            .is_some_and(|s| s.state == SandboxState::Ready);
        if !sandbox_ready {
            return Err(Error::precondition(format!(
                "pod sandbox {} of container {} is not ready",
                container.sandbox_id, container.id
            )));
        }
        self.backends.oci.start(&container.id).await.map_err(|e| {
            Error::backend(
                format!("starting container {}", container.config.metadata.name),
                e,
            )
        })?;
        let now = self.backends.clock.now();
        self.update_container(&container.id, |c| {
            if c.state == ContainerState::Created {
                c.state = ContainerState::Running;
                c.started_at = now.max(c.created_at);
            }
        })?;
        self.emit(ContainerEventKind::Started, &container.id);
        // A process that ended at once is seen now rather than at the next exit notice.
        self.sync_container(&container.id).await;
        Ok(())
    }

    /// StopContainer: sends the stop signal, then SIGKILL after `timeout`. Stopping a
    /// container that is not running, or an unknown one, succeeds.
    pub async fn stop_container(&self, id: &str, timeout: Duration) -> Result<()> {
        let Some(container) = self.find_container(id)? else {
            return Ok(());
        };
        if !matches!(
            container.state,
            ContainerState::Running | ContainerState::Unknown
        ) {
            return Ok(());
        }
        let signal = container
            .config
            .stop_signal
            .clone()
            .filter(|s| !s.is_empty())
            .or_else(|| Some(container.image.config.stop_signal.clone()).filter(|s| !s.is_empty()))
            .unwrap_or_else(|| DEFAULT_STOP_SIGNAL.to_string());
        match self
            .backends
            .oci
            .stop(&container.id, &signal, timeout)
            .await
        {
            Ok(exit) => self.record_exit(&container.id, exit),
            Err(OciError::NotFound { .. }) => {
                self.mark_lost(&container.id);
                Ok(())
            }
            Err(e) => Err(Error::backend(
                format!("stopping container {}", container.config.metadata.name),
                e,
            )),
        }
    }

    /// RemoveContainer: stops the container forcibly if it runs, deletes it from the OCI
    /// runtime, removes its root filesystem and frees its name. Removing an unknown container
    /// succeeds.
    pub async fn remove_container(&self, id: &str) -> Result<()> {
        let Some(container) = self.find_container(id)? else {
            return Ok(());
        };
        self.stop_container(&container.id, Duration::ZERO).await?;
        let name = &container.config.metadata.name;
        match self.backends.oci.delete(&container.id).await {
            Ok(()) | Err(OciError::NotFound { .. }) => {}
            Err(e) => return Err(Error::backend(format!("deleting container {name}"), e)),
        }
        self.backends
            .rootfs
            .remove(&container.id)
            .await
            .map_err(|e| Error::backend(format!("removing rootfs of container {name}"), e))?;
        {
            let mut state = self.state.lock();
            if state.containers.get(&container.id).is_none() {
                return Ok(());
            }
            self.persist(|s| s.delete_container(&container.id))?;
            state.containers.remove(&container.id);
            if let Some(members) = state.members.get_mut(&container.sandbox_id) {
                members.retain(|member| member != &container.id);
            }
            let pod = state
                .sandboxes
                .get(&container.sandbox_id)
                .map(|s| s.config.metadata.clone());
            if let Some(pod) = pod {
                let key = container.reservation_key(&pod);
                if state.container_names.get(&key) == Some(&container.id) {
                    state.container_names.remove(&key);
                }
            }
        }
        self.emit_removed(container);
        Ok(())
    }

    /// ExecSync: runs `command` in a running container and returns its output and exit code.
    /// A `timeout` of zero means none; an overrun is DeadlineExceeded.
    pub async fn exec_sync(
        &self,
        id: &str,
        command: &[String],
        timeout: Duration,
    ) -> Result<ExecOutput> {
        if command.is_empty() {
            return Err(Error::invalid("cmd must not be empty"));
        }
        let container = self.running_container(id).await?;
        let timeout = (!timeout.is_zero()).then_some(timeout);
        self.backends
            .oci
            .exec_sync(&container.id, command, timeout)
            .await
            .map_err(|e| {
                let what = format!(
                    "exec {:?} in container {}",
                    command, container.config.metadata.name
                );
                Error::new(e.kind(), format!("{what}: {e}"))
            })
    }

    /// UpdateContainerResources: applies new limits to a created or running container.
    pub async fn update_container_resources(
        &self,
        id: &str,
        resources: LinuxResources,
    ) -> Result<()> {
        let container = self.get_container(id)?;
        if !matches!(
            container.state,
            ContainerState::Created | ContainerState::Running
        ) {
            return Err(Error::precondition(format!(
                "container {} is {:?}: resources can only be updated while it is created or running",
                container.id, container.state
            )));
        }
        self.backends
            .oci
            .update_resources(&container.id, &resources)
            .await
            .map_err(|e| {
                Error::backend(
                    format!("updating resources of container {}", container.id),
                    e,
                )
            })?;
        self.update_container(&container.id, |c| {
            let mut config = (*c.config).clone();
            config.linux.resources = Some(resources);
            c.config = Arc::new(config);
        })
    }

    /// ReopenContainerLog: makes the container's log writer reopen its log path (after kubelet
    /// rotated the file). The container must be running.
    pub async fn reopen_container_log(&self, id: &str) -> Result<()> {
        let container = self.running_container(id).await?;
        self.backends
            .oci
            .reopen_log(&container.id)
            .await
            .map_err(|e| Error::backend(format!("reopening log of container {}", container.id), e))
    }

    /// The container `id` names, after syncing its state; FailedPrecondition unless it runs.
    pub(super) async fn running_container(&self, id: &str) -> Result<Container> {
        let container = self.get_container(id)?;
        self.sync_container(&container.id).await;
        let container = self.get_container(&container.id)?;
        if container.state != ContainerState::Running {
            return Err(Error::precondition(format!(
                "container {} is not running (state {:?})",
                container.id, container.state
            )));
        }
        Ok(container)
    }

    /// A copy of the container `id` (any unique prefix) names; NotFound if none.
    pub(super) fn get_container(&self, id: &str) -> Result<Container> {
        self.find_container(id)?
            .ok_or_else(|| Error::not_found(format!("container {id:?} not found")))
    }

    /// A copy of the container `id` (any unique prefix) names, or `None`.
    pub(super) fn find_container(&self, id: &str) -> Result<Option<Container>> {
        let state = self.state.lock();
        Ok(state
            .containers
            .find(id, "container")?
            .map(|(_, c)| c.clone()))
    }

    /// Applies `change` to container `id` and persists it; one removed meanwhile is left alone.
    pub(super) fn update_container(
        &self,
        id: &str,
        change: impl FnOnce(&mut Container),
    ) -> Result<()> {
        let mut state = self.state.lock();
        let Some(container) = state.containers.get(id) else {
            return Ok(());
        };
        let mut updated = container.clone();
        change(&mut updated);
        if &updated == container {
            return Ok(());
        }
        self.persist(|s| s.put_container(&updated))?;
        state.containers.insert(id.to_string(), updated);
        Ok(())
    }
}
