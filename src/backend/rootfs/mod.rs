//! Container root filesystems: an image's layers plus a writable layer per container.
//!
//! [`Overlay`] is the Linux implementation (`overlay`): overlayfs mounts of the image store's
//! unpacked layers; `mount` mounts and unmounts them whatever the number of layers, `fs_api`
//! wraps the new mount API, `usage` measures writable layers.

mod fs_api;
mod mount;
mod overlay;
mod usage;

pub use overlay::{LayerSource, Overlay};

use super::image::FsUsage;
use crate::error::{Classify, ErrorKind};
use async_trait::async_trait;
use std::path::PathBuf;

/// Failures of root filesystem handling.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    /// The image's content is not present.
    #[error("image {image_id} has no content in the layer store")]
    ImageMissing {
        /// Image id.
        image_id: String,
    },
    /// Building, mounting or removing failed.
    #[error("rootfs of container {container_id}: {message}")]
    Failed {
        /// Container id.
        container_id: String,
        /// What went wrong.
        message: String,
        /// Classification of the failure.
        kind: ErrorKind,
    },
}

impl Classify for RootfsError {
    fn kind(&self) -> ErrorKind {
        match self {
            RootfsError::ImageMissing { .. } => ErrorKind::NotFound,
            RootfsError::Failed { kind, .. } => *kind,
        }
    }
}

/// Builds and removes copy-on-write root filesystems.
#[async_trait]
pub trait RootfsStore: Send + Sync {
    /// Prepares a root filesystem for `container_id` from image `image_id`; returns its path.
    async fn prepare(&self, container_id: &str, image_id: &str) -> Result<PathBuf, RootfsError>;
    /// Removes the root filesystem of `container_id`; removing one that is gone succeeds.
    async fn remove(&self, container_id: &str) -> Result<(), RootfsError>;
    /// Bytes and inodes of the container's writable layer.
    async fn usage(&self, container_id: &str) -> Result<FsUsage, RootfsError>;
    /// Usage of the filesystem that holds writable layers.
    async fn fs_usage(&self) -> Result<FsUsage, RootfsError>;
}
