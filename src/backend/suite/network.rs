//! Shared checks of the `network` backend trait ([`crate::backend::PodNetwork`]).

use crate::backend::PodNetwork;
use crate::backend::network::{NetworkReadiness, PodNetworkRequest};
use crate::model::SandboxConfig;
use async_trait::async_trait;
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// A pod the suite can attach: what a [`PodNetworkRequest`] borrows.
#[derive(Debug, Clone)]
pub struct NetworkPod {
    pub sandbox_id: String,
    pub netns: Option<PathBuf>,
    pub config: SandboxConfig,
}

impl NetworkPod {
    pub fn request(&self) -> PodNetworkRequest<'_> {
        PodNetworkRequest {
            sandbox_id: &self.sandbox_id,
            netns: self.netns.clone(),
            config: &self.config,
        }
    }
}

/// Makes pods for the suite: the Linux side pins a real network namespace for each, and
/// releases them all when the test ends.
#[async_trait]
pub trait NetworkPods: Send + Sync {
    /// A fresh pod named `name` (unique within the run).
    async fn pod(&self, name: &str) -> NetworkPod;
}

/// Whether `ip` is an IPv4 address inside `subnet` (`a.b.c.d/n`).
pub fn in_subnet(ip: &str, subnet: &str) -> bool {
    let Some((base, prefix)) = subnet.split_once('/') else {
        return false;
    };
    let (Ok(ip), Ok(base), Ok(prefix)) = (
        ip.parse::<Ipv4Addr>(),
        base.parse::<Ipv4Addr>(),
        prefix.parse::<u32>(),
    ) else {
        return false;
    };
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix.min(32))
    };
    u32::from(ip) & mask == u32::from(base) & mask
}

/// The checks every [`PodNetwork`] passes; `subnet` is the pod subnet it hands addresses from.
pub async fn network_suite(network: &dyn PodNetwork, subnet: &str, pods: &dyn NetworkPods) {
    assert_eq!(
        network.readiness().await,
        NetworkReadiness::Ready,
        "a configured network is ready"
    );

    let a = pods.pod("suite-a").await;
    let b = pods.pod("suite-b").await;
    let never = pods.pod("suite-never").await;

    let first = network.setup(a.request()).await.expect("setup of pod a");
    assert!(!first.ip.is_empty(), "setup gives an address");
    assert!(
        in_subnet(&first.ip, subnet),
        "address {} of pod a is in subnet {subnet}",
        first.ip
    );
    let again = network
        .setup(a.request())
        .await
        .expect("setup of pod a again");
    assert_eq!(
        again, first,
        "setting up an attached pod again gives the same addresses"
    );

    let second = network.setup(b.request()).await.expect("setup of pod b");
    assert!(
        in_subnet(&second.ip, subnet),
        "address {} of pod b is in subnet {subnet}",
        second.ip
    );
    assert_ne!(first.ip, second.ip, "two pods get different addresses");

    network
        .teardown(a.request())
        .await
        .expect("teardown of pod a");
    network
        .teardown(a.request())
        .await
        .expect("teardown of pod a again is a no-op");
    network
        .teardown(never.request())
        .await
        .expect("teardown of a pod never set up succeeds");

    let third = network
        .setup(a.request())
        .await
        .expect("setup of pod a after its teardown");
    assert!(
        in_subnet(&third.ip, subnet),
        "re-attached pod a gets an address in {subnet}"
    );
    assert_ne!(
        third.ip, second.ip,
        "re-attached pod a does not get pod b's address"
    );

    network
        .teardown(a.request())
        .await
        .expect("final teardown of pod a");
    network
        .teardown(b.request())
        .await
        .expect("final teardown of pod b");
}

#[cfg(test)]
mod tests {
    #[test]
    fn subnet_membership() {
        assert!(super::in_subnet("10.88.3.4", "10.88.0.0/16"));
        assert!(!super::in_subnet("10.89.0.1", "10.88.0.0/16"));
        assert!(!super::in_subnet("fd00::1", "10.88.0.0/16"));
    }
}
