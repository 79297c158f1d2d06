//! The shared pod backend suites (network, namespaces, cgroups) against the fakes, built as
//! the simulated node builds them. The Linux backends pass the same suites in
//! `tests/linux_*.rs`.

use async_trait::async_trait;
use crius::backend::suite::cgroups::cgroups_suite;
use crius::backend::suite::namespaces::namespaces_suite;
use crius::backend::suite::network::{NetworkPod, NetworkPods, network_suite};
use crius::model::SandboxConfig;
use crius_sim::node::{DEFAULT_SUBNET, SimNode, SimOptions};
use std::path::PathBuf;

struct FakePods;

#[async_trait]
impl NetworkPods for FakePods {
    async fn pod(&self, name: &str) -> NetworkPod {
        let mut config = SandboxConfig::default();
        config.metadata.name = name.to_string();
        config.metadata.namespace = "suite".to_string();
        NetworkPod {
            sandbox_id: format!("sb-{name}"),
            netns: Some(PathBuf::from(format!("/run/crius-sim/ns/sb-{name}/net"))),
            config,
        }
    }
}

#[tokio::test]
async fn fake_network_passes_the_network_suite() {
    let node = SimNode::new(SimOptions::default());
    network_suite(node.network.as_ref(), DEFAULT_SUBNET, &FakePods).await;
    assert_eq!(
        node.network.attached(),
        0,
        "the suite leaves no pod attached"
    );
}

#[tokio::test]
async fn fake_namespaces_pass_the_namespaces_suite() {
    let node = SimNode::new(SimOptions::default());
    namespaces_suite(node.namespaces.as_ref(), "fake").await;
    assert_eq!(
        node.namespaces.pinned(),
        0,
        "the suite leaves nothing pinned"
    );
}

#[tokio::test]
async fn fake_cgroups_pass_the_cgroups_suite() {
    let node = SimNode::new(SimOptions::default());
    cgroups_suite(
        node.cgroups.as_ref(),
        "/kubepods/besteffort/podsuite",
        "fake",
    )
    .await;
    assert_eq!(node.cgroups.pods(), 0, "the suite leaves no pod cgroup");
}
