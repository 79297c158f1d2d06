//! The fake pod network: hands out addresses from a subnet and takes them back.

use crate::fault_point::FaultPoint;
use crate::faults::CallSite;
use async_trait::async_trait;
use crius::backend::PodNetwork;
use crius::backend::network::{NetworkError, NetworkReadiness, PodAddresses, PodNetworkRequest};
use parking_lot::Mutex;
use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;

/// An IPv4 subnet in CIDR form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    base: u32,
    prefix: u8,
}

impl Subnet {
    /// Parses `a.b.c.d/n` with 8 ≤ n ≤ 30.
    pub fn parse(cidr: &str) -> Result<Subnet, String> {
        let (addr, prefix) = cidr
            .split_once('/')
            .ok_or_else(|| format!("subnet {cidr:?} is not in CIDR form a.b.c.d/n"))?;
        let addr: Ipv4Addr = addr.parse().map_err(|e| format!("subnet {cidr:?}: {e}"))?;
        let prefix: u8 = prefix
            .parse()
            .map_err(|e| format!("subnet {cidr:?}: {e}"))?;
        if !(8..=30).contains(&prefix) {
            return Err(format!(
                "subnet {cidr:?}: prefix length must be between 8 and 30"
            ));
        }
        let mask = u32::MAX << (32 - prefix);
        Ok(Subnet {
            base: u32::from(addr) & mask,
            prefix,
        })
    }

    /// Usable host addresses: all but the network address, the gateway (.1) and broadcast.
    fn hosts(&self) -> u32 {
        (1u32 << (32 - self.prefix)) - 3
    }

    fn host(&self, index: u32) -> Ipv4Addr {
        Ipv4Addr::from(self.base + 2 + index)
    }
}

struct State {
    subnet: Subnet,
    next: u32,
    in_use: BTreeSet<u32>,
    pods: HashMap<String, (Subnet, u32)>,
}

/// Fake CNI: one address per pod from the configured subnet.
pub struct FakeNetwork {
    state: Mutex<State>,
    readiness: Mutex<NetworkReadiness>,
    faults: FaultPoint,
}

impl FakeNetwork {
    /// A network handing out addresses of `subnet`.
    pub fn new(subnet: Subnet, faults: FaultPoint) -> FakeNetwork {
        FakeNetwork {
            state: Mutex::new(State {
                subnet,
                next: 0,
                in_use: BTreeSet::new(),
                pods: HashMap::new(),
            }),
            readiness: Mutex::new(NetworkReadiness::Ready),
            faults,
        }
    }

    /// Makes the network ready or not (as a missing CNI config would).
    pub fn set_readiness(&self, readiness: NetworkReadiness) {
        *self.readiness.lock() = readiness;
    }

    /// How many pods hold an address.
    pub fn attached(&self) -> usize {
        self.state.lock().pods.len()
    }
}

fn failed(
    sandbox_id: &str,
    operation: &'static str,
    kind: crius::error::ErrorKind,
    message: String,
) -> NetworkError {
    NetworkError::Failed {
        sandbox_id: sandbox_id.to_string(),
        operation,
        message,
        kind,
    }
}

#[async_trait]
impl PodNetwork for FakeNetwork {
    async fn readiness(&self) -> NetworkReadiness {
        self.readiness.lock().clone()
    }

    async fn setup(&self, pod: PodNetworkRequest<'_>) -> Result<PodAddresses, NetworkError> {
        if let NetworkReadiness::NotReady { message, .. } = self.readiness.lock().clone() {
            return Err(NetworkError::NotReady { message });
        }
        let site = CallSite::new("RunPodSandbox").pod(&pod.config.metadata.name);
        if let Some((kind, message)) = self.faults.enter(site).await {
            return Err(failed(pod.sandbox_id, "setup", kind, message));
        }
        let mut state = self.state.lock();
        if let Some((subnet, index)) = state.pods.get(pod.sandbox_id) {
            return Ok(PodAddresses {
                ip: subnet.host(*index).to_string(),
                additional_ips: Vec::new(),
            });
        }
        let hosts = state.subnet.hosts();
        if state.in_use.len() as u32 >= hosts {
            return Err(failed(
                pod.sandbox_id,
                "setup",
                crius::error::ErrorKind::ResourceExhausted,
                "no free address left in the pod subnet".to_string(),
            ));
        }
        let mut index = state.next % hosts;
        while state.in_use.contains(&index) {
            index = (index + 1) % hosts;
        }
        state.next = (index + 1) % hosts;
        state.in_use.insert(index);
        let subnet = state.subnet;
        state
            .pods
            .insert(pod.sandbox_id.to_string(), (subnet, index));
        Ok(PodAddresses {
            ip: subnet.host(index).to_string(),
            additional_ips: Vec::new(),
        })
    }

    async fn teardown(&self, pod: PodNetworkRequest<'_>) -> Result<(), NetworkError> {
        let site = CallSite::new("StopPodSandbox").pod(&pod.config.metadata.name);
        if let Some((kind, message)) = self.faults.enter(site).await {
            return Err(failed(pod.sandbox_id, "teardown", kind, message));
        }
        let mut state = self.state.lock();
        if let Some((subnet, index)) = state.pods.remove(pod.sandbox_id)
            && subnet == state.subnet
        {
            state.in_use.remove(&index);
        }
        Ok(())
    }

    async fn set_pod_cidr(&self, cidr: &str) -> Result<(), NetworkError> {
        let subnet = Subnet::parse(cidr).map_err(|message| {
            failed(
                "",
                "set_pod_cidr",
                crius::error::ErrorKind::InvalidArgument,
                message,
            )
        })?;
        let mut state = self.state.lock();
        if state.subnet != subnet {
            state.subnet = subnet;
            state.next = 0;
            state.in_use.clear();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnet_parsing_and_hosts() {
        let subnet = Subnet::parse("10.88.0.0/16").unwrap();
        assert_eq!(subnet.host(0), Ipv4Addr::new(10, 88, 0, 2));
        assert_eq!(subnet.hosts(), 65533);
        assert!(Subnet::parse("10.88.0.0").is_err());
        assert!(Subnet::parse("10.88.0.0/31").is_err());
        assert!(Subnet::parse("300.1.1.1/16").is_err());
    }
}
