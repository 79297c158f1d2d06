//! One trait per subsystem, and the bundle the core holds them in.
//!
//! Each trait is small and named for its role; implementations are named for their technology
//! (the simulated node's fakes live in the `crius-sim` crate). Traits take and return domain
//! types from [`crate::model`], never wire types.

pub mod cgroups;
pub mod clock;
pub mod ids;
pub mod image;
pub mod namespaces;
pub mod network;
pub mod oci;
pub mod rootfs;
pub mod streams;
#[cfg(feature = "suite")]
pub mod suite;

use std::sync::Arc;

pub use cgroups::Cgroups;
pub use clock::Clock;
pub use ids::IdSource;
pub use image::ImageStore;
pub use namespaces::PodNamespaces;
pub use network::PodNetwork;
pub use oci::OciRuntime;
pub use rootfs::RootfsStore;
pub use streams::ContainerStreams;

/// Every backend the core drives, as trait objects so any one can be swapped for a fake.
#[derive(Clone)]
pub struct Backends {
    /// Runs containers.
    pub oci: Arc<dyn OciRuntime>,
    /// Pulls and removes image content.
    pub images: Arc<dyn ImageStore>,
    /// Builds container root filesystems.
    pub rootfs: Arc<dyn RootfsStore>,
    /// Connects pods to the network.
    pub network: Arc<dyn PodNetwork>,
    /// Confines pods and containers and reports their usage.
    pub cgroups: Arc<dyn Cgroups>,
    /// Holds the pod's shared namespaces and files.
    pub namespaces: Arc<dyn PodNamespaces>,
    /// Tells the time and sleeps.
    pub clock: Arc<dyn Clock>,
    /// Mints object ids.
    pub ids: Arc<dyn IdSource>,
    /// Opens exec, attach and port-forward streams.
    pub streams: Arc<dyn ContainerStreams>,
}
