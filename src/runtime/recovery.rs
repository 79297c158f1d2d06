//! Start-up: reading the store back into memory.

use super::{ContainerState, Error, Result, Runtime};

impl Runtime {
    /// Loads every persisted sandbox, container and image, re-reserves their names, and syncs
    /// running containers with the OCI runtime (whose monitors kept them alive meanwhile).
    pub async fn recover(&self) -> Result<()> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let snapshot = store
            .load()
            .map_err(|e| Error::backend("reading metadata back", e))?;
        {
            let mut state = self.state.lock();
            for image in snapshot.images {
                state.images.restore(image);
            }
            for sandbox in snapshot.sandboxes {
                state.sandbox_names.insert(
                    sandbox.config.metadata.reservation_key(),
                    sandbox.id.clone(),
                );
                state.sandboxes.insert(sandbox.id.clone(), sandbox);
            }
            for container in snapshot.containers {
                let Some(pod) = state
                    .sandboxes
                    .get(&container.sandbox_id)
                    .map(|s| s.config.metadata.clone())
                else {
                    tracing::warn!(container = %container.id, "container without its sandbox in the store; dropped");
                    continue;
                };
                state
                    .container_names
                    .insert(container.reservation_key(&pod), container.id.clone());
                state
                    .members
                    .entry(container.sandbox_id.clone())
                    .or_default()
                    .push(container.id.clone());
                state.containers.insert(container.id.clone(), container);
            }
        }
        let counts = {
            let state = self.state.lock();
            (
                state.sandboxes.len(),
                state.containers.len(),
                state
                    .containers
                    .values()
                    .filter(|c| c.state == ContainerState::Running)
                    .count(),
            )
        };
        tracing::info!(
            sandboxes = counts.0,
            containers = counts.1,
            running = counts.2,
            "recovered state"
        );
        self.sync_running_containers().await;
        Ok(())
    }
}
