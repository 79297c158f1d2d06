//! ContainerStats, ListContainerStats, PodSandboxStats and ListPodSandboxStats.

use super::{Container, ContainerFilter, Error, Result, Runtime, Sandbox, SandboxFilter};
use crate::backend::cgroups::ResourceUsage;
use crate::backend::image::FsUsage;

/// Usage of one container.
#[derive(Debug, Clone)]
pub struct ContainerStats {
    /// The container.
    pub container: Container,
    /// CPU, memory and process usage.
    pub usage: ResourceUsage,
    /// Its writable layer.
    pub writable_layer: FsUsage,
}

/// Usage of one pod and its containers.
#[derive(Debug, Clone)]
pub struct PodStats {
    /// The pod.
    pub sandbox: Sandbox,
    /// The pod's cgroup usage.
    pub usage: ResourceUsage,
    /// Its containers' usage.
    pub containers: Vec<ContainerStats>,
}

impl Runtime {
    /// ContainerStats of one container.
    pub async fn container_stats(&self, id: &str) -> Result<ContainerStats> {
        let container = self.get_container(id)?;
        self.stats_of(container).await
    }

    /// ListContainerStats: stats of the containers passing `filter`.
    pub async fn list_container_stats(
        &self,
        filter: &ContainerFilter,
    ) -> Result<Vec<ContainerStats>> {
        let containers = self.list_containers(filter).await?;
        let mut out = Vec::with_capacity(containers.len());
        for container in containers {
            out.push(self.stats_of(container).await?);
        }
        Ok(out)
    }

    /// PodSandboxStats of one pod.
    pub async fn pod_sandbox_stats(&self, id: &str) -> Result<PodStats> {
        let sandbox = self
            .find_sandbox(id)?
            .ok_or_else(|| Error::not_found(format!("pod sandbox {id:?} not found")))?;
        self.pod_stats_of(sandbox).await
    }

    /// ListPodSandboxStats: stats of the pods passing `filter`.
    pub async fn list_pod_sandbox_stats(&self, filter: &SandboxFilter) -> Result<Vec<PodStats>> {
        let sandboxes = self.list_pod_sandboxes(filter)?;
        let mut out = Vec::with_capacity(sandboxes.len());
        for sandbox in sandboxes {
            out.push(self.pod_stats_of(sandbox).await?);
        }
        Ok(out)
    }

    async fn stats_of(&self, container: Container) -> Result<ContainerStats> {
        let usage = self
            .backends
            .cgroups
            .container_usage(&container.id)
            .await
            .map_err(|e| {
                Error::backend(format!("reading usage of container {}", container.id), e)
            })?;
        let writable_layer = self
            .backends
            .rootfs
            .usage(&container.id)
            .await
            .map_err(|e| {
                Error::backend(
                    format!("reading disk usage of container {}", container.id),
                    e,
                )
            })?;
        Ok(ContainerStats {
            container,
            usage,
            writable_layer,
        })
    }

    async fn pod_stats_of(&self, sandbox: Sandbox) -> Result<PodStats> {
        let usage = self
            .backends
            .cgroups
            .pod_usage(&sandbox.id)
            .await
            .map_err(|e| {
                Error::backend(format!("reading usage of pod sandbox {}", sandbox.id), e)
            })?;
        let filter = ContainerFilter {
            sandbox_id: Some(sandbox.id.clone()),
            ..Default::default()
        };
        let containers = self.list_container_stats(&filter).await?;
        Ok(PodStats {
            sandbox,
            usage,
            containers,
        })
    }
}
