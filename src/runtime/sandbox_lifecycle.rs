//! RunPodSandbox, StopPodSandbox and RemovePodSandbox.

use super::rollback::Rollback;
use super::{ContainerState, Error, Result, Runtime, Sandbox, SandboxState};
use crate::backend::network::PodNetworkRequest;
use crate::model::{NamespaceMode, SandboxConfig};
use futures::FutureExt;
use std::sync::Arc;
use std::time::Duration;

impl Runtime {
    /// RunPodSandbox: reserves the pod's name, then creates its cgroup, namespaces and network,
    /// in that order, undoing the finished steps if a later one fails. Returns the sandbox id.
    pub async fn run_pod_sandbox(
        &self,
        config: SandboxConfig,
        runtime_handler: &str,
    ) -> Result<String> {
        self.check_handler(runtime_handler)?;
        let config = Arc::new(config);
        let key = config.metadata.reservation_key();
        let id = self.backends.ids.new_id();
        {
            let mut state = self.state.lock();
            if let Some(holder) = state.sandbox_names.get(&key) {
                return Err(Error::new(
                    crate::error::ErrorKind::AlreadyExists,
                    format!("pod sandbox name {key:?} is reserved by sandbox {holder}"),
                ));
            }
            state.sandbox_names.insert(key.clone(), id.clone());
        }
        match self
            .create_sandbox_resources(&id, &config, runtime_handler)
            .await
        {
            Ok(sandbox) => {
                let persisted = {
                    let mut state = self.state.lock();
                    match self.persist(|s| s.put_sandbox(&sandbox)) {
                        Ok(()) => {
                            state.sandboxes.insert(id.clone(), sandbox.clone());
                            Ok(())
                        }
                        Err(e) => {
                            state.sandbox_names.remove(&key);
                            Err(e)
                        }
                    }
                };
                if let Err(e) = persisted {
                    self.release_sandbox_resources(&sandbox).await;
                    return Err(e);
                }
                Ok(id)
            }
            Err(e) => {
                self.state.lock().sandbox_names.remove(&key);
                Err(e)
            }
        }
    }

    async fn create_sandbox_resources(
        &self,
        id: &str,
        config: &Arc<SandboxConfig>,
        runtime_handler: &str,
    ) -> Result<Sandbox> {
        let name = &config.metadata.name;
        let mut rollback = Rollback::default();
        let result: Result<Sandbox> = async {
            let cgroups = self.backends.cgroups.clone();
            let cgroup = cgroups
                .create_pod(id, &config.linux.cgroup_parent)
                .await
                .map_err(|e| Error::backend(format!("creating cgroup of pod {name}"), e))?;
            let owned = id.to_string();
            rollback.push("cgroup", move || {
                async move {
                    let _ = cgroups.remove_pod(&owned).await;
                }
                .boxed()
            });

            let namespaces = self.backends.namespaces.clone();
            let pod = namespaces
                .create(id, config, &cgroup)
                .await
                .map_err(|e| Error::backend(format!("creating namespaces of pod {name}"), e))?;
            let owned = id.to_string();
            rollback.push("namespaces", move || {
                async move {
                    let _ = namespaces.release(&owned).await;
                }
                .boxed()
            });

            let addresses =
                if config.linux.namespace_options.network == NamespaceMode::Node {
                    Default::default()
                } else {
                    let request = PodNetworkRequest {
                        sandbox_id: id,
                        netns: pod.netns.clone(),
                        config,
                    };
                    self.backends.network.setup(request).await.map_err(|e| {
                        Error::backend(format!("setting up network of pod {name}"), e)
                    })?
                };
            Ok(Sandbox {
                id: id.to_string(),
                config: config.clone(),
                runtime_handler: runtime_handler.to_string(),
                state: SandboxState::Ready,
                created_at: self.backends.clock.now(),
                addresses,
                pod,
                resources: None,
            })
        }
        .await;
        match result {
            Ok(sandbox) => {
                rollback.commit();
                Ok(sandbox)
            }
            Err(e) => {
                rollback.unwind().await;
                Err(e)
            }
        }
    }

    /// Best-effort release of everything a sandbox holds (used when persisting it failed).
    async fn release_sandbox_resources(&self, sandbox: &Sandbox) {
        if !sandbox.host_network() {
            let request = PodNetworkRequest {
                sandbox_id: &sandbox.id,
                netns: sandbox.pod.netns.clone(),
                config: &sandbox.config,
            };
            let _ = self.backends.network.teardown(request).await;
        }
        let _ = self.backends.namespaces.release(&sandbox.id).await;
        let _ = self.backends.cgroups.remove_pod(&sandbox.id).await;
    }

    /// StopPodSandbox: kills every running container of the pod, tears its network down and
    /// releases its namespaces. Stopping a stopped or unknown sandbox succeeds.
    pub async fn stop_pod_sandbox(&self, id: &str) -> Result<()> {
        let Some(sandbox) = self.find_sandbox(id)? else {
            return Ok(());
        };
        let running: Vec<String> = {
            let state = self.state.lock();
            state
                .containers_of(&sandbox.id)
                .filter(|c| {
                    c.state == ContainerState::Running || c.state == ContainerState::Unknown
                })
                .map(|c| c.id.clone())
                .collect()
        };
        for container_id in running {
            self.kill_container(&container_id).await?;
        }
        if sandbox.state == SandboxState::NotReady {
            return Ok(());
        }
        if !sandbox.host_network() {
            let request = PodNetworkRequest {
                sandbox_id: &sandbox.id,
                netns: sandbox.pod.netns.clone(),
                config: &sandbox.config,
            };
            self.backends.network.teardown(request).await.map_err(|e| {
                Error::backend(
                    format!(
                        "tearing down network of pod {}",
                        sandbox.config.metadata.name
                    ),
                    e,
                )
            })?;
        }
        self.backends
            .namespaces
            .release(&sandbox.id)
            .await
            .map_err(|e| {
                Error::backend(
                    format!(
                        "releasing namespaces of pod {}",
                        sandbox.config.metadata.name
                    ),
                    e,
                )
            })?;
        self.update_sandbox(&sandbox.id, |s| s.state = SandboxState::NotReady)
    }

    /// RemovePodSandbox: stops the sandbox if needed, removes all its containers (stopping
    /// running ones forcibly), its cgroup and its name. Removing an unknown sandbox succeeds.
    pub async fn remove_pod_sandbox(&self, id: &str) -> Result<()> {
        let Some(sandbox) = self.find_sandbox(id)? else {
            return Ok(());
        };
        self.stop_pod_sandbox(&sandbox.id).await?;
        let members: Vec<String> = {
            let state = self.state.lock();
            state
                .containers_of(&sandbox.id)
                .map(|c| c.id.clone())
                .collect()
        };
        for container_id in members {
            self.remove_container(&container_id).await?;
        }
        self.backends
            .cgroups
            .remove_pod(&sandbox.id)
            .await
            .map_err(|e| {
                Error::backend(
                    format!("removing cgroup of pod {}", sandbox.config.metadata.name),
                    e,
                )
            })?;
        let mut state = self.state.lock();
        if state.sandboxes.get(&sandbox.id).is_none() {
            return Ok(());
        }
        self.persist(|s| s.delete_sandbox(&sandbox.id))?;
        state.sandboxes.remove(&sandbox.id);
        state.members.remove(&sandbox.id);
        let key = sandbox.config.metadata.reservation_key();
        if state.sandbox_names.get(&key) == Some(&sandbox.id) {
            state.sandbox_names.remove(&key);
        }
        Ok(())
    }

    /// Stops a container at once (SIGKILL, no grace), as StopPodSandbox and removals require.
    async fn kill_container(&self, id: &str) -> Result<()> {
        self.stop_container(id, Duration::ZERO).await
    }

    /// A copy of the sandbox `id` (any unique prefix) names, or `None` if there is none.
    pub(super) fn find_sandbox(&self, id: &str) -> Result<Option<Sandbox>> {
        let state = self.state.lock();
        Ok(state
            .sandboxes
            .find(id, "pod sandbox")?
            .map(|(_, s)| s.clone()))
    }

    /// Applies `change` to sandbox `id` and persists it; a sandbox removed meanwhile is left alone.
    pub(super) fn update_sandbox(&self, id: &str, change: impl FnOnce(&mut Sandbox)) -> Result<()> {
        let mut state = self.state.lock();
        let Some(sandbox) = state.sandboxes.get(id) else {
            return Ok(());
        };
        let mut updated = sandbox.clone();
        change(&mut updated);
        self.persist(|s| s.put_sandbox(&updated))?;
        state.sandboxes.insert(id.to_string(), updated);
        Ok(())
    }
}
