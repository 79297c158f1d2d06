//! Status, RuntimeConfig, UpdateRuntimeConfig and ImageFsInfo.

use super::{Error, Result, Runtime};
use crate::backend::cgroups::CgroupDriver;
use crate::backend::image::FsUsage;
use crate::backend::network::NetworkReadiness;
use crate::model::Timestamp;

/// The runtime's own readiness and its network's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeStatus {
    /// Whether the runtime can run containers (`RuntimeReady`).
    pub runtime_ready: bool,
    /// The network's readiness (`NetworkReady`).
    pub network: NetworkReadiness,
}

/// Usage of the filesystems that hold images and containers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFsInfo {
    /// When measured.
    pub timestamp: Timestamp,
    /// The image filesystem.
    pub images: FsUsage,
    /// The container (writable layer) filesystem.
    pub containers: FsUsage,
}

impl Runtime {
    /// Status: runtime and network readiness.
    pub async fn status(&self) -> RuntimeStatus {
        RuntimeStatus {
            runtime_ready: true,
            network: self.backends.network.readiness().await,
        }
    }

    /// RuntimeConfig: the cgroup driver in use.
    pub fn cgroup_driver(&self) -> CgroupDriver {
        self.backends.cgroups.driver()
    }

    /// UpdateRuntimeConfig: takes the node's pod CIDR.
    pub async fn update_pod_cidr(&self, cidr: &str) -> Result<()> {
        if cidr.is_empty() {
            return Ok(());
        }
        self.backends
            .network
            .set_pod_cidr(cidr)
            .await
            .map_err(|e| Error::backend(format!("setting pod CIDR {cidr}"), e))
    }

    /// ImageFsInfo: usage of the image and container filesystems.
    pub async fn image_fs_info(&self) -> Result<ImageFsInfo> {
        let images = self
            .backends
            .images
            .fs_usage()
            .await
            .map_err(|e| Error::backend("measuring the image filesystem", e))?;
        let containers = self
            .backends
            .rootfs
            .fs_usage()
            .await
            .map_err(|e| Error::backend("measuring the container filesystem", e))?;
        Ok(ImageFsInfo {
            timestamp: self.backends.clock.now(),
            images,
            containers,
        })
    }
}
