//! Fake cgroups: pod cgroups by name, and usage that moves with virtual time.

use crate::runtime::FakeRuntime;
use async_trait::async_trait;
use crius::backend::Cgroups;
use crius::backend::Clock;
use crius::backend::cgroups::{CgroupDriver, CgroupError, ResourceUsage};
use crius::model::LinuxResources;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;

/// CPU a fake process burns: a twentieth of a core.
const CPU_SHARE_DIVISOR: u128 = 20;
/// Memory every fake process starts with.
const BASE_MEMORY: u64 = 2 << 20;
/// Memory a fake process grows by per second of running, up to [`MAX_GROWTH`].
const GROWTH_PER_SECOND: u64 = 4 << 10;
const MAX_GROWTH: u64 = 16 << 20;
/// Memory a pod's own overhead uses.
const POD_OVERHEAD: u64 = 1 << 20;

/// Fake cgroup manager.
pub struct FakeCgroups {
    clock: Arc<dyn Clock>,
    runtime: Arc<FakeRuntime>,
    pods: Mutex<HashMap<String, String>>,
    limits: Mutex<HashMap<String, LinuxResources>>,
}

impl FakeCgroups {
    /// Usage derived from the fake runtime's processes.
    pub fn new(clock: Arc<dyn Clock>, runtime: Arc<FakeRuntime>) -> FakeCgroups {
        FakeCgroups {
            clock,
            runtime,
            pods: Mutex::new(HashMap::new()),
            limits: Mutex::new(HashMap::new()),
        }
    }

    /// The limits last applied to a pod by UpdatePodSandboxResources.
    pub fn pod_limits(&self, sandbox_id: &str) -> Option<LinuxResources> {
        self.limits.lock().get(sandbox_id).cloned()
    }

    /// How many pod cgroups exist.
    pub fn pods(&self) -> usize {
        self.pods.lock().len()
    }
}

#[async_trait]
impl Cgroups for FakeCgroups {
    fn driver(&self) -> CgroupDriver {
        CgroupDriver::Cgroupfs
    }

    async fn create_pod(&self, sandbox_id: &str, parent: &str) -> Result<String, CgroupError> {
        let parent = if parent.is_empty() {
            "/kubepods"
        } else {
            parent
        };
        let path = format!("{}/crius-{sandbox_id}", parent.trim_end_matches('/'));
        self.pods
            .lock()
            .insert(sandbox_id.to_string(), path.clone());
        Ok(path)
    }

    async fn remove_pod(&self, sandbox_id: &str) -> Result<(), CgroupError> {
        self.pods.lock().remove(sandbox_id);
        self.limits.lock().remove(sandbox_id);
        Ok(())
    }

    async fn container_usage(&self, container_id: &str) -> Result<ResourceUsage, CgroupError> {
        let usage = self
            .runtime
            .usage(container_id)
            .ok_or_else(|| CgroupError::NotFound {
                id: container_id.to_string(),
            })?;
        let cpu = (usage.ran_for.as_nanos() / CPU_SHARE_DIVISOR) as u64;
        let memory = if usage.running {
            let growth = (usage.ran_for.as_secs() * GROWTH_PER_SECOND).min(MAX_GROWTH);
            let wanted = BASE_MEMORY + growth;
            usage.memory_limit.map_or(wanted, |limit| wanted.min(limit))
        } else {
            0
        };
        Ok(ResourceUsage {
            timestamp: self.clock.now(),
            cpu_usage_ns: cpu,
            memory_working_set_bytes: memory,
            memory_rss_bytes: memory / 2,
            memory_usage_bytes: memory,
            pids: u64::from(usage.running),
        })
    }

    async fn pod_usage(&self, sandbox_id: &str) -> Result<ResourceUsage, CgroupError> {
        if !self.pods.lock().contains_key(sandbox_id) {
            return Err(CgroupError::NotFound {
                id: sandbox_id.to_string(),
            });
        }
        let mut total = ResourceUsage {
            timestamp: self.clock.now(),
            memory_working_set_bytes: POD_OVERHEAD,
            memory_usage_bytes: POD_OVERHEAD,
            ..Default::default()
        };
        for id in self.runtime.containers_of(sandbox_id) {
            if let Ok(usage) = self.container_usage(&id).await {
                total.cpu_usage_ns += usage.cpu_usage_ns;
                total.memory_working_set_bytes += usage.memory_working_set_bytes;
                total.memory_rss_bytes += usage.memory_rss_bytes;
                total.memory_usage_bytes += usage.memory_usage_bytes;
                total.pids += usage.pids;
            }
        }
        Ok(total)
    }

    async fn update_pod(
        &self,
        sandbox_id: &str,
        resources: &LinuxResources,
    ) -> Result<(), CgroupError> {
        if !self.pods.lock().contains_key(sandbox_id) {
            return Err(CgroupError::NotFound {
                id: sandbox_id.to_string(),
            });
        }
        self.limits
            .lock()
            .insert(sandbox_id.to_string(), resources.clone());
        Ok(())
    }
}
