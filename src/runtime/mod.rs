//! The core: pod sandbox and container state machines and every CRI operation over the
//! backend traits.
//!
//! Each CRI call is a method on [`Runtime`], defined in a file named for it
//! (`sandbox_run.rs`, `container_create.rs`, ...). The core holds its state in memory under one
//! lock that is never held across an `await`; backend calls happen outside it and their results
//! are committed afterwards, re-checking that the object is still there. Every committed change
//! is written through to the [`Store`] when one is configured.

mod container;
mod container_create;
mod container_lifecycle;
mod container_query;
mod error;
mod events;
mod exits;
mod filter;
mod id_index;
mod image_index;
pub mod image_name;
mod images;
mod recovery;
mod rollback;
mod sandbox;
mod sandbox_lifecycle;
mod sandbox_query;
mod sandbox_update;
mod stats;
mod status;
mod streams;

pub use container::{Container, ContainerImage, ContainerState};
pub use error::{Error, Result};
pub use events::{ContainerEvent, ContainerEventKind};
pub use filter::{ContainerFilter, SandboxFilter};
pub use sandbox::{Sandbox, SandboxState};
pub use stats::{ContainerStats, PodStats};
pub use status::{ImageFsInfo, RuntimeStatus};
pub use streams::{AttachRequest, ExecRequest, PortForwardRequest, StreamRequest};

use crate::backend::Backends;
use crate::store::Store;
use id_index::IdIndex;
use image_index::ImageIndex;
use parking_lot::Mutex;
use std::collections::HashMap;
use tokio::sync::broadcast;

/// Settings of the core that do not belong to any backend.
#[derive(Debug, Clone)]
pub struct RuntimeSettings {
    /// Runtime handlers (RuntimeClass names) besides the default `""`.
    pub runtime_handlers: Vec<String>,
    /// How many container events a slow GetContainerEvents subscriber may fall behind.
    pub event_buffer: usize,
}

impl Default for RuntimeSettings {
    fn default() -> Self {
        RuntimeSettings {
            runtime_handlers: vec!["runc".to_string()],
            event_buffer: 1024,
        }
    }
}

/// Everything the core knows, guarded by one lock.
#[derive(Default)]
struct State {
    sandboxes: IdIndex<Sandbox>,
    containers: IdIndex<Container>,
    /// Container ids of each sandbox (a pod has few: a vector is leaner than a set).
    members: HashMap<String, Vec<String>>,
    /// Reserved sandbox names (`name_namespace_uid_attempt`) → sandbox id.
    sandbox_names: HashMap<String, String>,
    /// Reserved container names → container id.
    container_names: HashMap<String, String>,
    images: ImageIndex,
}

impl State {
    fn containers_of(&self, sandbox_id: &str) -> impl Iterator<Item = &Container> {
        self.members
            .get(sandbox_id)
            .into_iter()
            .flatten()
            .filter_map(|id| self.containers.get(id))
    }
}

/// The container runtime core.
pub struct Runtime {
    backends: Backends,
    settings: RuntimeSettings,
    state: Mutex<State>,
    store: Option<Store>,
    events: broadcast::Sender<ContainerEvent>,
}

impl Runtime {
    /// A core over `backends`, persisting to `store` when given. Call
    /// [`Runtime::recover`] to read back what the store holds.
    pub fn new(backends: Backends, settings: RuntimeSettings, store: Option<Store>) -> Runtime {
        let (events, _) = broadcast::channel(settings.event_buffer.max(1));
        Runtime {
            backends,
            settings,
            state: Mutex::new(State::default()),
            store,
            events,
        }
    }

    /// The backends this core drives.
    pub fn backends(&self) -> &Backends {
        &self.backends
    }

    /// Whether `handler` names a configured runtime handler.
    fn check_handler(&self, handler: &str) -> Result<()> {
        if handler.is_empty() || self.settings.runtime_handlers.iter().any(|h| h == handler) {
            Ok(())
        } else {
            Err(Error::not_found(format!(
                "runtime handler {handler:?} is not configured (configured: {:?})",
                self.settings.runtime_handlers
            )))
        }
    }

    /// Runs `write` against the store, if there is one, turning its failure into an error.
    fn persist(
        &self,
        write: impl FnOnce(&Store) -> Result<(), crate::store::StoreError>,
    ) -> Result<()> {
        match &self.store {
            Some(store) => write(store).map_err(|e| Error::backend("persisting metadata", e)),
            None => Ok(()),
        }
    }
}
