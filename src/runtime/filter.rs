//! ListPodSandbox and ListContainers filters, as the CRI defines them: every field set must
//! match; ids match by unique prefix; a label selector matches when every pair is present.

use super::{Container, ContainerState, Sandbox, SandboxState};
use crate::model::StringMap;

/// Which sandboxes ListPodSandbox returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SandboxFilter {
    /// Sandbox id or id prefix.
    pub id: Option<String>,
    /// Required state.
    pub state: Option<SandboxState>,
    /// Labels that must all be present with these values.
    pub label_selector: StringMap,
}

/// Which containers ListContainers (and ListContainerStats) returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerFilter {
    /// Container id or id prefix.
    pub id: Option<String>,
    /// Required state.
    pub state: Option<ContainerState>,
    /// Sandbox id or id prefix.
    pub sandbox_id: Option<String>,
    /// Labels that must all be present with these values.
    pub label_selector: StringMap,
}

fn labels_match(labels: &StringMap, selector: &StringMap) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

impl SandboxFilter {
    /// Whether `sandbox` passes; `id` has been resolved to a full id beforehand.
    pub fn matches(&self, sandbox: &Sandbox) -> bool {
        self.id.as_ref().is_none_or(|id| sandbox.id == *id)
            && self.state.is_none_or(|s| sandbox.state == s)
            && labels_match(&sandbox.config.labels, &self.label_selector)
    }
}

impl ContainerFilter {
    /// Whether `container` passes; ids have been resolved to full ids beforehand.
    pub fn matches(&self, container: &Container) -> bool {
        self.id.as_ref().is_none_or(|id| container.id == *id)
            && self
                .sandbox_id
                .as_ref()
                .is_none_or(|id| container.sandbox_id == *id)
            && self.state.is_none_or(|s| container.state == s)
            && labels_match(&container.config.labels, &self.label_selector)
    }
}
