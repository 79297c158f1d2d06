//! Fake root filesystems: one writable layer per container, over image content that must be
//! present in the fake image store.

use crate::images::FakeImages;
use async_trait::async_trait;
use crius::backend::RootfsStore;
use crius::backend::image::FsUsage;
use crius::backend::rootfs::RootfsError;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// Bytes every writable layer starts with (directories and whiteouts of a real one).
const LAYER_BASE_BYTES: u64 = 4096;

/// Fake rootfs store.
pub struct FakeRootfs {
    images: Arc<FakeImages>,
    layers: Mutex<HashMap<String, String>>,
}

impl FakeRootfs {
    /// Layers over the content of `images`.
    pub fn new(images: Arc<FakeImages>) -> FakeRootfs {
        FakeRootfs {
            images,
            layers: Mutex::new(HashMap::new()),
        }
    }

    /// The image a container's rootfs was made from.
    pub fn image_of(&self, container_id: &str) -> Option<String> {
        self.layers.lock().get(container_id).cloned()
    }

    /// How many rootfs exist.
    pub fn count(&self) -> usize {
        self.layers.lock().len()
    }
}

#[async_trait]
impl RootfsStore for FakeRootfs {
    async fn prepare(&self, container_id: &str, image_id: &str) -> Result<PathBuf, RootfsError> {
        if !self.images.has(image_id) {
            return Err(RootfsError::ImageMissing {
                image_id: image_id.to_string(),
            });
        }
        self.layers
            .lock()
            .insert(container_id.to_string(), image_id.to_string());
        Ok(PathBuf::from(format!(
            "/run/crius-sim/rootfs/{container_id}"
        )))
    }

    async fn remove(&self, container_id: &str) -> Result<(), RootfsError> {
        self.layers.lock().remove(container_id);
        Ok(())
    }

    async fn usage(&self, container_id: &str) -> Result<FsUsage, RootfsError> {
        if !self.layers.lock().contains_key(container_id) {
            return Err(RootfsError::Failed {
                container_id: container_id.to_string(),
                message: "no writable layer".to_string(),
                kind: crius::error::ErrorKind::NotFound,
            });
        }
        Ok(FsUsage {
            mountpoint: "/var/lib/crius-sim/containers".to_string(),
            used_bytes: LAYER_BASE_BYTES,
            inodes_used: 1,
        })
    }

    async fn fs_usage(&self) -> Result<FsUsage, RootfsError> {
        let count = self.layers.lock().len() as u64;
        Ok(FsUsage {
            mountpoint: "/var/lib/crius-sim/containers".to_string(),
            used_bytes: count * LAYER_BASE_BYTES,
            inodes_used: count,
        })
    }
}
