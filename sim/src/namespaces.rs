//! Fake pod namespaces: names them and keeps the pod's files (hostname, hosts, resolv.conf)
//! in memory, where fake containers can `cat` them.

use crate::fault_point::FaultPoint;
use crate::faults::CallSite;
use async_trait::async_trait;
use crius::backend::PodNamespaces;
use crius::backend::namespaces::NamespaceError;
use crius::backend::oci::PodHandle;
use crius::model::{DnsConfig, NamespaceMode, SandboxConfig};
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

/// Fake namespace pinning.
pub struct FakeNamespaces {
    /// The configuration of each pod, from which its files are rendered when read.
    pods: Mutex<HashMap<String, Arc<PodFiles>>>,
    faults: FaultPoint,
}

impl FakeNamespaces {
    /// Empty.
    pub fn new(faults: FaultPoint) -> FakeNamespaces {
        FakeNamespaces {
            pods: Mutex::new(HashMap::new()),
            faults,
        }
    }

    /// A file the pod provides to its containers (`/etc/hostname`, `/etc/hosts`, `/etc/resolv.conf`).
    pub fn file(&self, sandbox_id: &str, path: &str) -> Option<Vec<u8>> {
        let pod = self.pods.lock().get(sandbox_id)?.clone();
        pod_files(&pod).remove(path)
    }

    /// How many pods hold namespaces.
    pub fn pinned(&self) -> usize {
        self.pods.lock().len()
    }
}

/// What a pod's files are made from.
struct PodFiles {
    hostname: String,
    dns: Option<DnsConfig>,
}

impl PodFiles {
    fn of(config: &SandboxConfig) -> PodFiles {
        let hostname = if config.hostname.is_empty() {
            config.metadata.name.clone()
        } else {
            config.hostname.clone()
        };
        PodFiles {
            hostname,
            dns: config.dns.clone(),
        }
    }
}

fn pod_files(config: &PodFiles) -> BTreeMap<String, Vec<u8>> {
    let hostname = &config.hostname;
    let mut resolv = String::new();
    if let Some(dns) = &config.dns {
        for server in &dns.servers {
            resolv.push_str(&format!("nameserver {server}\n"));
        }
        if !dns.searches.is_empty() {
            resolv.push_str(&format!("search {}\n", dns.searches.join(" ")));
        }
        if !dns.options.is_empty() {
            resolv.push_str(&format!("options {}\n", dns.options.join(" ")));
        }
    }
    BTreeMap::from([
        ("/etc/hostname".to_string(), format!("{hostname}\n").into_bytes()),
        (
            "/etc/hosts".to_string(),
            format!("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{hostname}\n").into_bytes(),
        ),
        ("/etc/resolv.conf".to_string(), resolv.into_bytes()),
    ])
}

#[async_trait]
impl PodNamespaces for FakeNamespaces {
    async fn create(
        &self,
        sandbox_id: &str,
        config: &SandboxConfig,
        cgroup: &str,
    ) -> Result<PodHandle, NamespaceError> {
        // RunPodSandbox faults strike where CNI ADD would fail (FakeNetwork::setup); a
        // host-network pod has no network step, so its faults strike here instead.
        let host_network = config.linux.namespace_options.network == NamespaceMode::Node;
        let site = CallSite::new("RunPodSandbox").pod(&config.metadata.name);
        let fault = if host_network {
            self.faults.enter(site).await
        } else {
            None
        };
        if let Some((kind, message)) = fault {
            return Err(NamespaceError::Failed {
                sandbox_id: sandbox_id.to_string(),
                message,
                kind,
            });
        }
        let options = &config.linux.namespace_options;
        let pinned = |mode: NamespaceMode, kind: &str| {
            (mode != NamespaceMode::Node)
                .then(|| PathBuf::from(format!("/run/crius-sim/ns/{sandbox_id}/{kind}")))
        };
        let handle = PodHandle {
            cgroup: cgroup.to_string(),
            netns: pinned(options.network, "net"),
            ipcns: pinned(options.ipc, "ipc"),
            utsns: pinned(options.network, "uts"),
            pidns: (options.pid == NamespaceMode::Pod)
                .then(|| PathBuf::from(format!("/run/crius-sim/ns/{sandbox_id}/pid"))),
            files: Vec::new(),
        };
        self.pods
            .lock()
            .insert(sandbox_id.to_string(), Arc::new(PodFiles::of(config)));
        Ok(handle)
    }

    async fn release(&self, sandbox_id: &str) -> Result<(), NamespaceError> {
        self.pods.lock().remove(sandbox_id);
        Ok(())
    }
}
