//! CreateContainer.

use super::rollback::Rollback;
use super::{
    Container, ContainerEventKind, ContainerImage, ContainerState, Error, Result, Runtime,
};
use super::{Sandbox, SandboxState, container::name_key};
use crate::backend::oci::CreateContainer;
use crate::error::ErrorKind;
use crate::model::ContainerConfig;
use futures::FutureExt;
use std::path::{Component, Path};
use std::sync::Arc;

impl Runtime {
    /// CreateContainer: resolves the image, reserves the name, prepares the root filesystem
    /// and creates the container in the OCI runtime. Returns the container id.
    pub async fn create_container(
        &self,
        sandbox_id: &str,
        config: ContainerConfig,
    ) -> Result<String> {
        let sandbox = self
            .find_sandbox(sandbox_id)?
            .ok_or_else(|| Error::not_found(format!("pod sandbox {sandbox_id:?} not found")))?;
        if sandbox.state != SandboxState::Ready {
            return Err(Error::precondition(format!(
                "pod sandbox {} is not ready: containers can only be created in a ready sandbox",
                sandbox.id
            )));
        }
        let image = self.image_for_container(&config.image.image)?;
        let log_path = container_log_path(&sandbox, &config)?;
        let config = Arc::new(config);
        let key = name_key(&config.metadata, &sandbox.config.metadata);
        let id = self.backends.ids.new_id();
        {
            let mut state = self.state.lock();
            if let Some(holder) = state.container_names.get(&key) {
                return Err(Error::new(
                    ErrorKind::AlreadyExists,
                    format!("container name {key:?} is reserved by container {holder}"),
                ));
            }
            state.container_names.insert(key.clone(), id.clone());
        }
        let created = self
            .create_container_resources(&id, &sandbox, &config, &image, &log_path)
            .await;
        let container = match created {
            Ok(()) => Container {
                id: id.clone(),
                sandbox_id: sandbox.id.clone(),
                config,
                image,
                log_path,
                state: ContainerState::Created,
                created_at: self.backends.clock.now(),
                started_at: 0,
                exit: None,
                message: String::new(),
            },
            Err(e) => {
                self.state.lock().container_names.remove(&key);
                return Err(e);
            }
        };
        let committed = {
            let mut state = self.state.lock();
            let sandbox_ready = state
                .sandboxes
                .get(&sandbox.id)
                .is_some_and(|s| s.state == SandboxState::Ready);
            if !sandbox_ready {
                Err(Error::precondition(format!(
                    "pod sandbox {} was stopped or removed while container {} was being created",
                    sandbox.id, container.config.metadata.name
                )))
            } else {
                self.persist(|s| s.put_container(&container)).map(|()| {
                    state
                        .members
                        .entry(sandbox.id.clone())
                        .or_default()
                        .push(id.clone());
                    state.containers.insert(id.clone(), container.clone());
                })
            }
        };
        if let Err(e) = committed {
            self.state.lock().container_names.remove(&key);
            let _ = self.backends.oci.delete(&id).await;
            let _ = self.backends.rootfs.remove(&id).await;
            return Err(e);
        }
        self.emit(ContainerEventKind::Created, &id);
        Ok(id)
    }

    async fn create_container_resources(
        &self,
        id: &str,
        sandbox: &Sandbox,
        config: &Arc<ContainerConfig>,
        image: &ContainerImage,
        log_path: &str,
    ) -> Result<()> {
        let name = &config.metadata.name;
        let mut rollback = Rollback::default();
        let result: Result<()> = async {
            let rootfs_store = self.backends.rootfs.clone();
            let rootfs = rootfs_store
                .prepare(id, &image.id)
                .await
                .map_err(|e| Error::backend(format!("preparing rootfs of container {name}"), e))?;
            let owned = id.to_string();
            rollback.push("rootfs", move || {
                async move {
                    let _ = rootfs_store.remove(&owned).await;
                }
                .boxed()
            });
            let request = CreateContainer {
                id: id.to_string(),
                sandbox_id: sandbox.id.clone(),
                config: config.clone(),
                image_id: image.id.clone(),
                image: image.config.clone(),
                rootfs,
                log_path: (!log_path.is_empty()).then(|| log_path.into()),
                pod: sandbox.pod.clone(),
            };
            self.backends
                .oci
                .create(request)
                .await
                .map_err(|e| Error::backend(format!("creating container {name}"), e))
        }
        .await;
        match result {
            Ok(()) => {
                rollback.commit();
                Ok(())
            }
            Err(e) => {
                rollback.unwind().await;
                Err(e)
            }
        }
    }
}

/// The absolute log path of a container: the pod's log directory joined with the container's
/// relative log path, which must stay inside it. Empty when either is empty.
fn container_log_path(sandbox: &Sandbox, config: &ContainerConfig) -> Result<String> {
    let directory = &sandbox.config.log_directory;
    if directory.is_empty() || config.log_path.is_empty() {
        return Ok(String::new());
    }
    let relative = Path::new(&config.log_path);
    let escapes = relative
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir));
    if escapes {
        return Err(Error::invalid(format!(
            "log_path {:?} must be relative to the pod's log directory and stay inside it",
            config.log_path
        )));
    }
    Ok(Path::new(directory)
        .join(relative)
        .to_string_lossy()
        .into_owned())
}
