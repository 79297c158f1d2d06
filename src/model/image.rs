//! Images as the core indexes them.

use super::{StringMap, Timestamp};
use serde::{Deserialize, Serialize};

/// The parts of an image's configuration that decide how a container runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ImageConfig {
    /// `User` of the image (`uid`, `name`, `uid:gid` or `name:group`); empty means root.
    pub user: String,
    /// Entrypoint.
    pub entrypoint: Vec<String>,
    /// Default command.
    pub cmd: Vec<String>,
    /// Environment, `KEY=value`.
    pub env: Vec<String>,
    /// Working directory.
    pub working_dir: String,
    /// Signal to stop containers of this image with.
    pub stop_signal: String,
    /// Image labels.
    pub labels: StringMap,
    /// Declared volumes.
    pub volumes: Vec<String>,
}

/// What a pull produced: one image, identified by its config digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PulledImage {
    /// Image id: the digest of its config, `sha256:<hex>`.
    pub id: String,
    /// The manifest digest the reference resolved to, `sha256:<hex>`.
    pub manifest_digest: String,
    /// Unpacked size in bytes (never 0: kubelet refuses a zero-sized image).
    pub size: u64,
    /// Runtime configuration.
    pub config: ImageConfig,
}

/// An image known to the node, with every name it goes by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// Image id (config digest).
    pub id: String,
    /// Fully qualified tags, e.g. `docker.io/library/busybox:latest`.
    pub repo_tags: Vec<String>,
    /// Fully qualified digest references, e.g. `docker.io/library/busybox@sha256:...`.
    pub repo_digests: Vec<String>,
    /// Size in bytes.
    pub size: u64,
    /// Runtime configuration, shared with the containers created from the image.
    pub config: std::sync::Arc<ImageConfig>,
    /// Pinned images are never garbage-collected by kubelet.
    pub pinned: bool,
    /// When the image was first pulled.
    pub pulled_at: Timestamp,
}
