//! `[cgroups] parent`: the parent of pod cgroups when kubelet names none, put in front of any
//! [`Cgroups`] backend.

use crate::backend::cgroups::{CgroupDriver, CgroupError, Cgroups, ResourceUsage};
use async_trait::async_trait;
use std::sync::Arc;

/// A [`Cgroups`] that fills in a configured parent for pods without one.
pub struct WithDefaultParent {
    inner: Arc<dyn Cgroups>,
    parent: String,
}

impl WithDefaultParent {
    /// Pods without a parent go under `parent` in `inner`.
    pub fn new(inner: Arc<dyn Cgroups>, parent: impl Into<String>) -> WithDefaultParent {
        WithDefaultParent {
            inner,
            parent: parent.into(),
        }
    }
}

#[async_trait]
impl Cgroups for WithDefaultParent {
    fn driver(&self) -> CgroupDriver {
        self.inner.driver()
    }

    async fn create_pod(&self, sandbox_id: &str, parent: &str) -> Result<String, CgroupError> {
        let parent = if parent.trim_matches('/').is_empty() {
            self.parent.as_str()
        } else {
            parent
        };
        self.inner.create_pod(sandbox_id, parent).await
    }

    async fn remove_pod(&self, sandbox_id: &str) -> Result<(), CgroupError> {
        self.inner.remove_pod(sandbox_id).await
    }

    async fn container_usage(&self, container_id: &str) -> Result<ResourceUsage, CgroupError> {
        self.inner.container_usage(container_id).await
    }

    async fn pod_usage(&self, sandbox_id: &str) -> Result<ResourceUsage, CgroupError> {
        self.inner.pod_usage(sandbox_id).await
    }

    async fn update_pod(
        &self,
        sandbox_id: &str,
        resources: &crate::model::LinuxResources,
    ) -> Result<(), CgroupError> {
        self.inner.update_pod(sandbox_id, resources).await
    }
}
