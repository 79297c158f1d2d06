//! The content store on disk, content-addressed under one root:
//!
//! ```text
//! <root>/blobs/sha256/<hex>    verified blobs (manifests, configs, compressed layers)
//! <root>/layers/<hex>/         unpacked layers, named by their diff id (uncompressed digest)
//! <root>/images/<hex>.json     one record per image id (config digest)
//! <root>/tmp/                  downloads and unpacks in progress; emptied on open
//! ```
//!
//! Nothing becomes visible half-made: a blob is written under `tmp/` and renamed into place
//! after its digest and size are checked, a layer is unpacked under `tmp/` and renamed when
//! complete, and an image record is written last, when all its content is in place.

use super::failure::Failure;
use crate::backend::ids::hex;
use crate::model::ImageConfig;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// What the store keeps about one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageEntry {
    /// Image id, the config digest.
    pub id: String,
    /// The digest the reference resolved to (index digest for an index).
    pub manifest_digest: String,
    /// Compressed layers plus config, in bytes.
    pub size: u64,
    /// Runtime configuration.
    pub config: ImageConfig,
    /// Diff ids of the layers, lowest first.
    pub layers: Vec<String>,
    /// Every blob this image holds (manifests, config, layers).
    pub blobs: Vec<String>,
}

/// The on-disk store.
#[derive(Debug)]
pub struct Content {
    root: PathBuf,
    tmp_counter: AtomicU64,
}

/// The hex part of a `sha256:` digest, refusing anything else (digests name files).
pub fn digest_hex(digest: &str) -> Result<&str, Failure> {
    match digest.strip_prefix("sha256:") {
        Some(hex)
            if hex.len() == 64
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
        {
            Ok(hex)
        }
        _ => Err(Failure::invalid(format!(
            "unsupported or malformed digest {digest:?} (want sha256:<64 hex>)"
        ))),
    }
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

fn io_failure(what: &str, path: &Path, e: std::io::Error) -> Failure {
    Failure::local(format!("{what} {}: {e}", path.display()))
}

impl Content {
    /// Opens (creating) the store at `root`, discarding anything a crash left in `tmp/`.
    pub fn open(root: &Path) -> Result<Content, Failure> {
        for dir in ["blobs/sha256", "layers", "images"] {
            let path = root.join(dir);
            std::fs::create_dir_all(&path).map_err(|e| io_failure("creating", &path, e))?;
        }
        let tmp = root.join("tmp");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| io_failure("clearing", &tmp, e))?;
        }
        std::fs::create_dir_all(&tmp).map_err(|e| io_failure("creating", &tmp, e))?;
        Ok(Content {
            root: root.to_path_buf(),
            tmp_counter: AtomicU64::new(0),
        })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A fresh path under `tmp/`.
    pub fn temp_path(&self, label: &str) -> PathBuf {
        let n = self.tmp_counter.fetch_add(1, Ordering::Relaxed);
        self.root
            .join("tmp")
            .join(format!("{label}-{}-{n}", std::process::id()))
    }

    /// Where blob `digest` lives.
    pub fn blob_path(&self, digest: &str) -> Result<PathBuf, Failure> {
        Ok(self.root.join("blobs/sha256").join(digest_hex(digest)?))
    }

    /// Whether blob `digest` of `size` bytes is present.
    pub fn has_blob(&self, digest: &str, size: u64) -> bool {
        self.blob_path(digest)
            .ok()
            .and_then(|p| std::fs::metadata(p).ok())
            .is_some_and(|m| m.len() == size)
    }

    /// Stores a small blob held in memory (manifest, config) after checking its digest.
    pub fn put_small_blob(&self, digest: &str, bytes: &[u8]) -> Result<(), Failure> {
        let actual = sha256_digest(bytes);
        if actual != digest {
            return Err(Failure::invalid(format!(
                "content has digest {actual}, expected {digest}"
            )));
        }
        let path = self.blob_path(digest)?;
        if path.exists() {
            return Ok(());
        }
        let tmp = self.temp_path("blob");
        std::fs::write(&tmp, bytes).map_err(|e| io_failure("writing", &tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| io_failure("renaming into", &path, e))
    }

    /// Where the unpacked layer with `diff_id` lives.
    pub fn layer_path(&self, diff_id: &str) -> Result<PathBuf, Failure> {
        Ok(self.root.join("layers").join(digest_hex(diff_id)?))
    }

    fn record_path(&self, id: &str) -> Result<PathBuf, Failure> {
        Ok(self
            .root
            .join("images")
            .join(format!("{}.json", digest_hex(id)?)))
    }

    /// The record of image `id`, if the store has it.
    pub fn image(&self, id: &str) -> Result<Option<ImageEntry>, Failure> {
        let path = self.record_path(id)?;
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                Failure::local(format!("image record {} is corrupt: {e}", path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_failure("reading", &path, e)),
        }
    }

    /// Writes the record of an image whose content is all in place.
    pub fn put_image(&self, entry: &ImageEntry) -> Result<(), Failure> {
        let path = self.record_path(&entry.id)?;
        let tmp = self.temp_path("image");
        let bytes = serde_json::to_vec_pretty(entry)
            .map_err(|e| Failure::local(format!("encoding image record: {e}")))?;
        std::fs::write(&tmp, bytes).map_err(|e| io_failure("writing", &tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| io_failure("renaming into", &path, e))
    }

    /// Every image record.
    pub fn images(&self) -> Result<Vec<ImageEntry>, Failure> {
        let dir = self.root.join("images");
        let mut out = Vec::new();
        for item in std::fs::read_dir(&dir).map_err(|e| io_failure("listing", &dir, e))? {
            let item = item.map_err(|e| io_failure("listing", &dir, e))?;
            let name = item.file_name().to_string_lossy().into_owned();
            if let Some(hex) = name.strip_suffix(".json")
                && let Some(entry) = self.image(&format!("sha256:{hex}"))?
            {
                out.push(entry);
            }
        }
        Ok(out)
    }

    /// Drops the record of image `id` (if any), then every blob and layer no remaining image
    /// holds. Callers make sure no pull is in progress.
    pub fn remove_image(&self, id: &str) -> Result<(), Failure> {
        let path = self.record_path(id)?;
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_failure("removing", &path, e)),
        }
        self.collect_garbage()
    }

    /// Removes blobs and layers no image record names.
    pub fn collect_garbage(&self) -> Result<(), Failure> {
        let images = self.images()?;
        let blobs: HashSet<String> = images
            .iter()
            .flat_map(|i| {
                i.blobs
                    .iter()
                    .map(|d| d.trim_start_matches("sha256:").to_string())
            })
            .collect();
        let layers: HashSet<String> = images
            .iter()
            .flat_map(|i| {
                i.layers
                    .iter()
                    .map(|d| d.trim_start_matches("sha256:").to_string())
            })
            .collect();
        for (dir, keep) in [
            (self.root.join("blobs/sha256"), &blobs),
            (self.root.join("layers"), &layers),
        ] {
            for item in std::fs::read_dir(&dir).map_err(|e| io_failure("listing", &dir, e))? {
                let item = item.map_err(|e| io_failure("listing", &dir, e))?;
                if keep.contains(&*item.file_name().to_string_lossy()) {
                    continue;
                }
                let path = item.path();
                let removed = if item.file_type().is_ok_and(|t| t.is_dir()) {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
                removed.map_err(|e| io_failure("removing", &path, e))?;
                tracing::debug!(path = %path.display(), "removed unreferenced image content");
            }
        }
        Ok(())
    }

    /// Bytes (allocated blocks) and inodes under the root; hard links counted once.
    pub fn usage(&self) -> Result<(u64, u64), Failure> {
        let mut seen = HashSet::new();
        let mut bytes = 0;
        let mut inodes = 0;
        let mut stack = vec![self.root.clone()];
        while let Some(dir) = stack.pop() {
            let listing = match std::fs::read_dir(&dir) {
                Ok(listing) => listing,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_failure("listing", &dir, e)),
            };
            for item in listing {
                let Ok(item) = item else { continue };
                let Ok(meta) = std::fs::symlink_metadata(item.path()) else {
                    continue;
                };
                if !seen.insert((meta.dev(), meta.ino())) {
                    continue;
                }
                bytes += meta.blocks() * 512;
                inodes += 1;
                if meta.is_dir() {
                    stack.push(item.path());
                }
            }
        }
        Ok((bytes, inodes))
    }
}
