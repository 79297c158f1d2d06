//! PodSandboxStatus and ListPodSandbox.

use super::{Container, Error, Result, Runtime, Sandbox, SandboxFilter};

impl Runtime {
    /// PodSandboxStatus: the sandbox and (for evented PLEG) its containers.
    pub async fn pod_sandbox_status(&self, id: &str) -> Result<(Sandbox, Vec<Container>)> {
        let sandbox = self
            .find_sandbox(id)?
            .ok_or_else(|| Error::not_found(format!("pod sandbox {id:?} not found")))?;
        let member_ids: Vec<String> = {
            let state = self.state.lock();
            state
                .containers_of(&sandbox.id)
                .map(|c| c.id.clone())
                .collect()
        };
        for container_id in &member_ids {
            self.sync_container(container_id).await;
        }
        let state = self.state.lock();
        let sandbox = state.sandboxes.get(&sandbox.id).cloned().unwrap_or(sandbox);
        let containers = state.containers_of(&sandbox.id).cloned().collect();
        Ok((sandbox, containers))
    }

    /// ListPodSandbox: sandboxes passing `filter`, in id order. An id filter naming no sandbox
    /// gives an empty list, as the CRI asks.
    pub fn list_pod_sandboxes(&self, filter: &SandboxFilter) -> Result<Vec<Sandbox>> {
        let state = self.state.lock();
        let mut filter = filter.clone();
        if let Some(prefix) = &filter.id {
            match state.sandboxes.find(prefix, "pod sandbox") {
                Ok(Some((id, _))) => filter.id = Some(id.to_string()),
                Ok(None) | Err(_) => return Ok(Vec::new()),
            }
        }
        Ok(state
            .sandboxes
            .values()
            .filter(|s| filter.matches(s))
            .cloned()
            .collect())
    }
}
