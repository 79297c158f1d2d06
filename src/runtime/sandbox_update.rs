//! UpdatePodSandboxResources: in-place resize of a pod's own cgroup.

use super::{Error, Result, Runtime, SandboxState};
use crate::model::LinuxResources;

impl Runtime {
    /// UpdatePodSandboxResources: applies the pod's new total limits (its containers' sum plus
    /// the sandbox overhead, as kubelet computes them) to the pod cgroup and records them.
    pub async fn update_pod_sandbox_resources(
        &self,
        id: &str,
        resources: LinuxResources,
    ) -> Result<()> {
        let sandbox = self
            .find_sandbox(id)?
            .ok_or_else(|| Error::not_found(format!("pod sandbox {id:?} not found")))?;
        if sandbox.state != SandboxState::Ready {
            return Err(Error::precondition(format!(
                "pod sandbox {} is not ready: only a ready pod can be resized",
                sandbox.id
            )));
        }
        self.backends
            .cgroups
            .update_pod(&sandbox.id, &resources)
            .await
            .map_err(|e| {
                Error::backend(format!("resizing pod {}", sandbox.config.metadata.name), e)
            })?;
        self.update_sandbox(&sandbox.id, |s| s.resources = Some(resources))
    }
}
