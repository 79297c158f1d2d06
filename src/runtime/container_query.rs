//! ContainerStatus and ListContainers.

use super::{Container, ContainerFilter, ContainerState, Result, Runtime};

impl Runtime {
    /// ContainerStatus: the container, with its exit recorded if it has ended.
    pub async fn container_status(&self, id: &str) -> Result<Container> {
        let container = self.get_container(id)?;
        self.sync_container(&container.id).await;
        self.get_container(&container.id)
    }

    /// ListContainers: containers passing `filter`, in id order. Id filters naming nothing give
    /// an empty list.
    pub async fn list_containers(&self, filter: &ContainerFilter) -> Result<Vec<Container>> {
        let Some(filter) = self.resolve_container_filter(filter) else {
            return Ok(Vec::new());
        };
        let running: Vec<String> = {
            let state = self.state.lock();
            state
                .containers
                .values()
                .filter(|c| c.state == ContainerState::Running && filter.matches(c))
                .map(|c| c.id.clone())
                .collect()
        };
        for id in &running {
            self.sync_container(id).await;
        }
        let state = self.state.lock();
        Ok(state
            .containers
            .values()
            .filter(|c| filter.matches(c))
            .cloned()
            .collect())
    }

    /// The filter with its id prefixes resolved to full ids; `None` if a prefix names nothing
    /// (or is ambiguous), so the answer is empty.
    pub(super) fn resolve_container_filter(
        &self,
        filter: &ContainerFilter,
    ) -> Option<ContainerFilter> {
        let state = self.state.lock();
        let mut resolved = filter.clone();
        if let Some(prefix) = &filter.id {
            let (id, _) = state.containers.find(prefix, "container").ok()??;
            resolved.id = Some(id.to_string());
        }
        if let Some(prefix) = &filter.sandbox_id {
            let (id, _) = state.sandboxes.find(prefix, "pod sandbox").ok()??;
            resolved.sandbox_id = Some(id.to_string());
        }
        Some(resolved)
    }
}
