//! Container lifecycle events for GetContainerEvents (kubelet's evented PLEG).

use super::{Container, Runtime, Sandbox};
use crate::model::Timestamp;
use tokio::sync::broadcast;

/// What happened to a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerEventKind {
    /// It was created.
    Created,
    /// It started.
    Started,
    /// Its process ended.
    Stopped,
    /// It was removed.
    Deleted,
}

/// One lifecycle event, with the pod's state at that moment as kubelet expects.
#[derive(Debug, Clone)]
pub struct ContainerEvent {
    /// The container.
    pub container_id: String,
    /// What happened.
    pub kind: ContainerEventKind,
    /// When.
    pub at: Timestamp,
    /// The container's pod, if it still exists.
    pub sandbox: Option<Sandbox>,
    /// Every container of the pod, after the event.
    pub containers: Vec<Container>,
}

impl Runtime {
    /// Subscribes to container events from now on.
    pub fn subscribe_events(&self) -> broadcast::Receiver<ContainerEvent> {
        self.events.subscribe()
    }

    /// Announces an event about container `id`, if anyone listens.
    pub(super) fn emit(&self, kind: ContainerEventKind, id: &str) {
        if self.events.receiver_count() == 0 {
            return;
        }
        let event = {
            let state = self.state.lock();
            let Some(container) = state.containers.get(id) else {
                return;
            };
            self.event_for(&state, kind, &container.sandbox_id, id)
        };
        let _ = self.events.send(event);
    }

    /// Announces that `removed` was deleted, if anyone listens.
    pub(super) fn emit_removed(&self, removed: Container) {
        if self.events.receiver_count() == 0 {
            return;
        }
        let event = {
            let state = self.state.lock();
            self.event_for(
                &state,
                ContainerEventKind::Deleted,
                &removed.sandbox_id,
                &removed.id,
            )
        };
        let _ = self.events.send(event);
    }

    fn event_for(
        &self,
        state: &super::State,
        kind: ContainerEventKind,
        sandbox_id: &str,
        id: &str,
    ) -> ContainerEvent {
        ContainerEvent {
            container_id: id.to_string(),
            kind,
            at: self.backends.clock.now(),
            sandbox: state.sandboxes.get(sandbox_id).cloned(),
            containers: state.containers_of(sandbox_id).cloned().collect(),
        }
    }
}
