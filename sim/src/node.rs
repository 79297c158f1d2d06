//! The simulated node: every fake wired together over one virtual clock and one fault plan.

use crate::catalogue::Catalogue;
use crate::cgroups::FakeCgroups;
use crate::clock::VirtualClock;
use crate::fault_point::FaultPoint;
use crate::faults::FaultInjector;
use crate::ids::SeededIds;
use crate::images::FakeImages;
use crate::namespaces::FakeNamespaces;
use crate::network::{FakeNetwork, Subnet};
use crate::rootfs::FakeRootfs;
use crate::runtime::FakeRuntime;
use crate::streams::FakeStreams;
use crius::backend::{Backends, Clock};
use crius::model::Timestamp;
use std::sync::Arc;
use std::time::Duration;

/// The default pod subnet.
pub const DEFAULT_SUBNET: &str = "10.88.0.0/16";
/// 2026-01-01T00:00:00Z: where stepped clocks start unless told otherwise.
pub const DEFAULT_ORIGIN: Timestamp = 1_767_225_600_000_000_000;

/// How to build a simulated node.
pub struct SimOptions {
    /// Seed of the id sequence.
    pub seed: u64,
    /// `Some(speed)` for a clock running at that factor of real time from now; `None` for a
    /// stepped clock starting at [`DEFAULT_ORIGIN`].
    pub speed: Option<f64>,
    /// Pod subnet.
    pub subnet: Subnet,
    /// Registry catalogue.
    pub catalogue: Catalogue,
    /// Fault plan.
    pub faults: Arc<FaultInjector>,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            seed: 0,
            speed: None,
            subnet: Subnet::parse(DEFAULT_SUBNET).expect("the default subnet is valid"),
            catalogue: Catalogue::default(),
            faults: Arc::new(FaultInjector::none()),
        }
    }
}

/// Every fake of the simulated node, with handles for tests to inspect them.
pub struct SimNode {
    /// The virtual clock.
    pub clock: Arc<VirtualClock>,
    /// The fake OCI runtime.
    pub runtime: Arc<FakeRuntime>,
    /// The fake registry and image store.
    pub images: Arc<FakeImages>,
    /// The fake rootfs store.
    pub rootfs: Arc<FakeRootfs>,
    /// The fake network.
    pub network: Arc<FakeNetwork>,
    /// The fake cgroups.
    pub cgroups: Arc<FakeCgroups>,
    /// The fake pod namespaces.
    pub namespaces: Arc<FakeNamespaces>,
    /// The fake exec, attach and port-forward.
    pub streams: Arc<FakeStreams>,
    /// The fault injector.
    pub faults: Arc<FaultInjector>,
    ids: Arc<SeededIds>,
}

impl SimNode {
    /// Builds a node from `options`.
    pub fn new(options: SimOptions) -> SimNode {
        let clock = Arc::new(match options.speed {
            Some(speed) => VirtualClock::scaled(crius::backend::clock::SystemClock.now(), speed),
            None => VirtualClock::stepped(DEFAULT_ORIGIN),
        });
        let dyn_clock: Arc<dyn Clock> = clock.clone();
        let faults = FaultPoint::new(options.faults.clone(), dyn_clock.clone());
        let images = Arc::new(FakeImages::new(options.catalogue, faults.clone()));
        let namespaces = Arc::new(FakeNamespaces::new(faults.clone()));
        let runtime = Arc::new(FakeRuntime::new(
            dyn_clock.clone(),
            faults.clone(),
            images.clone(),
            namespaces.clone(),
        ));
        SimNode {
            rootfs: Arc::new(FakeRootfs::new(images.clone())),
            network: Arc::new(FakeNetwork::new(options.subnet, faults)),
            cgroups: Arc::new(FakeCgroups::new(dyn_clock.clone(), runtime.clone())),
            streams: Arc::new(FakeStreams::new(dyn_clock, runtime.clone())),
            clock,
            runtime,
            images,
            namespaces,
            faults: options.faults,
            ids: Arc::new(SeededIds::new(options.seed)),
        }
    }

    /// The backend bundle for a [`crius::runtime::Runtime`].
    pub fn backends(&self) -> Backends {
        Backends {
            oci: self.runtime.clone(),
            images: self.images.clone(),
            rootfs: self.rootfs.clone(),
            network: self.network.clone(),
            cgroups: self.cgroups.clone(),
            namespaces: self.namespaces.clone(),
            clock: self.clock.clone(),
            ids: self.ids.clone(),
            streams: self.streams.clone(),
        }
    }

    /// Steps the clock forward and runs every process whose time has come.
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
        self.runtime.progress();
    }

    /// For a running clock: keeps processes moving with time, waking when the next one is due
    /// (checking at least every `period` of real time).
    pub fn spawn_ticker(&self, period: Duration) -> tokio::task::JoinHandle<()> {
        let runtime = Arc::downgrade(&self.runtime);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(period);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                interval.tick().await;
                let Some(runtime) = runtime.upgrade() else {
                    return;
                };
                runtime.progress();
            }
        })
    }
}
