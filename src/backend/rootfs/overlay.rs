//! [`Overlay`]: the Linux [`RootfsStore`]. A container's root filesystem is an overlayfs of
//! its image's unpacked layers (read-only, shared) under a writable layer of its own.
//!
//! # Layout
//!
//! ```text
//! <root>/containers/<id>/upper/    the container's writes (what `usage` measures)
//! <root>/containers/<id>/work/     overlayfs's scratch directory
//! <root>/containers/<id>/merged/   the mount point, returned by `prepare`
//! <root>/empty/                    the lower layer of an image without layers
//! ```
//!
//! Everything of a container is under one directory, so `remove` needs no memory of what
//! `prepare` did and works after a daemon restart (the mounts outlive the daemon). How the
//! overlay is mounted whatever the number of layers is in [`super::mount`].

use super::mount::{self, OverlaySpec};
use super::usage::tree_usage;
use super::{RootfsError, RootfsStore};
use crate::backend::image::{FsUsage, ImageError, RegistryImageStore};
use crate::error::{Classify, ErrorKind};
use async_trait::async_trait;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where an [`Overlay`] finds an image's unpacked layers.
pub trait LayerSource: Send + Sync {
    /// The layer directories of image `image_id`, lowest (base) layer first; an unknown
    /// image is an error of kind NotFound.
    fn layer_dirs(&self, image_id: &str) -> Result<Vec<PathBuf>, ImageError>;
}

impl LayerSource for RegistryImageStore {
    fn layer_dirs(&self, image_id: &str) -> Result<Vec<PathBuf>, ImageError> {
        RegistryImageStore::layer_dirs(self, image_id)
    }
}

/// Container root filesystems as overlay mounts under a root directory.
#[derive(Clone)]
pub struct Overlay {
    root: PathBuf,
    layers: Arc<dyn LayerSource>,
}

impl std::fmt::Debug for Overlay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Overlay")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

fn failed(container_id: &str, kind: ErrorKind, message: impl Into<String>) -> RootfsError {
    RootfsError::Failed {
        container_id: container_id.to_string(),
        message: message.into(),
        kind,
    }
}

/// A container id usable as one path component.
fn usable_id(id: &str) -> bool {
    !id.is_empty()
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn make_dir(path: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(path)
}

impl Overlay {
    /// Root filesystems under `root` (e.g. `/var/lib/crius/rootfs`), created if missing,
    /// stacking the layers `layers` names.
    pub fn new(root: impl AsRef<Path>, layers: Arc<dyn LayerSource>) -> Result<Overlay, String> {
        let root = root.as_ref();
        for dir in [root.join("containers"), root.join("empty")] {
            make_dir(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        }
        // mountinfo shows resolved paths; so must ours, to find our mounts there.
        let root = root
            .canonicalize()
            .map_err(|e| format!("resolving {}: {e}", root.display()))?;
        Ok(Overlay { root, layers })
    }

    /// The root directory (resolved).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory holding everything of container `id`.
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.root.join("containers").join(id)
    }

    fn prepare_blocking(&self, id: &str, image_id: &str) -> Result<PathBuf, RootfsError> {
        if !usable_id(id) {
            return Err(failed(
                id,
                ErrorKind::InvalidArgument,
                "the id cannot name a directory",
            ));
        }
        let layers = self
            .layers
            .layer_dirs(image_id)
            .map_err(|e| match e.kind() {
                ErrorKind::NotFound => RootfsError::ImageMissing {
                    image_id: image_id.to_string(),
                },
                kind => failed(
                    id,
                    kind,
                    format!("finding the layers of image {image_id}: {e}"),
                ),
            })?;
        if let Some(gone) = layers.iter().find(|dir| !dir.is_dir()) {
            tracing::warn!(image_id, layer = %gone.display(), "image layer directory is missing");
            return Err(RootfsError::ImageMissing {
                image_id: image_id.to_string(),
            });
        }
        let dir = self.container_dir(id);
        let (upper, work, merged) = (dir.join("upper"), dir.join("work"), dir.join("merged"));
        if mount::is_mountpoint(&merged).map_err(|e| failed(id, ErrorKind::Internal, e))? {
            return Ok(merged);
        }
        let mut guard = DirGuard {
            dir: (!dir.exists()).then(|| dir.clone()),
        };
        for path in [&upper, &work, &merged] {
            make_dir(path).map_err(|e| {
                failed(
                    id,
                    ErrorKind::Internal,
                    format!("creating {}: {e}", path.display()),
                )
            })?;
        }
        // The merged root takes the upper directory's mode; make it what images expect.
        std::fs::set_permissions(&upper, std::fs::Permissions::from_mode(0o755)).map_err(|e| {
            failed(
                id,
                ErrorKind::Internal,
                format!("chmod {}: {e}", upper.display()),
            )
        })?;
        let mut lowers: Vec<PathBuf> = layers.into_iter().rev().collect();
        if lowers.is_empty() {
            lowers.push(self.root.join("empty"));
        }
        let spec = OverlaySpec {
            lowers: &lowers,
            upper: &upper,
            work: &work,
            target: &merged,
        };
        let method = mount::mount_overlay(&spec).map_err(|e| failed(id, ErrorKind::Unknown, e))?;
        tracing::debug!(
            container_id = id,
            image_id,
            layers = lowers.len(),
            ?method,
            "mounted rootfs"
        );
        guard.dir = None;
        Ok(merged)
    }

    fn remove_blocking(&self, id: &str) -> Result<(), RootfsError> {
        if !usable_id(id) {
            return Ok(());
        }
        let dir = self.container_dir(id);
        mount::unmount(&dir.join("merged")).map_err(|e| failed(id, ErrorKind::Internal, e))?;
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(failed(
                id,
                ErrorKind::Internal,
                format!("removing {}: {e}", dir.display()),
            )),
        }
    }

    fn usage_blocking(&self, id: &str) -> Result<FsUsage, RootfsError> {
        let upper = self.container_dir(id).join("upper");
        if !usable_id(id) || !upper.is_dir() {
            return Err(failed(id, ErrorKind::NotFound, "no writable layer"));
        }
        let (used_bytes, inodes_used) = tree_usage(&upper).map_err(|e| {
            failed(
                id,
                ErrorKind::Internal,
                format!("measuring {}: {e}", upper.display()),
            )
        })?;
        Ok(FsUsage {
            mountpoint: self.root.display().to_string(),
            used_bytes,
            inodes_used,
        })
    }

    fn fs_usage_blocking(&self) -> Result<FsUsage, RootfsError> {
        let containers = self.root.join("containers");
        let entries = std::fs::read_dir(&containers).map_err(|e| {
            failed(
                "",
                ErrorKind::Internal,
                format!("reading {}: {e}", containers.display()),
            )
        })?;
        let mut total = FsUsage {
            mountpoint: self.root.display().to_string(),
            ..FsUsage::default()
        };
        for entry in entries.flatten() {
            let upper = entry.path().join("upper");
            let (bytes, inodes) = tree_usage(&upper).map_err(|e| {
                failed(
                    "",
                    ErrorKind::Internal,
                    format!("measuring {}: {e}", upper.display()),
                )
            })?;
            total.used_bytes += bytes;
            total.inodes_used += inodes;
        }
        Ok(total)
    }

    /// Runs `work` on the blocking pool.
    async fn blocking<T: Send + 'static>(
        &self,
        id: &str,
        work: impl FnOnce(Overlay) -> Result<T, RootfsError> + Send + 'static,
    ) -> Result<T, RootfsError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || work(this))
            .await
            .map_err(|e| failed(id, ErrorKind::Internal, format!("rootfs task failed: {e}")))?
    }
}

/// Removes a container directory `prepare` created if `prepare` fails after creating it.
struct DirGuard {
    dir: Option<PathBuf>,
}

impl Drop for DirGuard {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            let _ = mount::unmount(&dir.join("merged"));
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

#[async_trait]
impl RootfsStore for Overlay {
    async fn prepare(&self, container_id: &str, image_id: &str) -> Result<PathBuf, RootfsError> {
        let (id, image) = (container_id.to_string(), image_id.to_string());
        self.blocking(container_id, move |o| o.prepare_blocking(&id, &image))
            .await
    }

    async fn remove(&self, container_id: &str) -> Result<(), RootfsError> {
        let id = container_id.to_string();
        self.blocking(container_id, move |o| o.remove_blocking(&id))
            .await
    }

    async fn usage(&self, container_id: &str) -> Result<FsUsage, RootfsError> {
        let id = container_id.to_string();
        self.blocking(container_id, move |o| o.usage_blocking(&id))
            .await
    }

    async fn fs_usage(&self) -> Result<FsUsage, RootfsError> {
        self.blocking("", |o| o.fs_usage_blocking()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoImages;

    impl LayerSource for NoImages {
        fn layer_dirs(&self, image_id: &str) -> Result<Vec<PathBuf>, ImageError> {
            Err(ImageError::NotFound {
                reference: image_id.to_string(),
                message: "none".into(),
            })
        }
    }

    #[tokio::test]
    async fn unknown_image_and_bad_ids_fail_cleanly_and_remove_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let overlay = Overlay::new(dir.path().join("rootfs"), Arc::new(NoImages)).unwrap();
        let err = overlay.prepare("c1", "sha256:nope").await.unwrap_err();
        assert!(matches!(err, RootfsError::ImageMissing { .. }), "{err}");
        assert!(!overlay.container_dir("c1").exists());
        let err = overlay.prepare("../x", "sha256:nope").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        overlay.remove("c1").await.unwrap();
        overlay.remove("../x").await.unwrap();
        assert_eq!(
            overlay.usage("c1").await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
        assert_eq!(overlay.fs_usage().await.unwrap().used_bytes, 0);
    }
}
