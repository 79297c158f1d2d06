//! Image content: pulling it from a registry, measuring it, dropping it.
//!
//! The core keeps the image index (names, ids, records); a store only fetches and holds
//! content, so both backends share the CRI's naming semantics.
//!
//! The Linux store is [`RegistryImageStore`] (`registry`): `remote` talks to one registry
//! endpoint, `registries_conf` decides which endpoints, `auth` which credentials, `manifest`
//! parses what comes back, `download` fetches verified blobs into `content` (the on-disk
//! store), `unpack` turns layer tars into directories, `progress` logs a pull as it goes.

mod auth;
mod conf_watch;
mod content;
mod download;
pub mod failure;
mod manifest;
mod progress;
pub mod registries_conf;
pub mod registry;
mod remote;
mod unpack;
mod xattr;

pub use conf_watch::WatchedConf;
pub use manifest::Platform;
pub use registry::{RegistryImageStore, RegistryOptions};

use crate::error::{Classify, ErrorKind};
use crate::model::PulledImage;
use async_trait::async_trait;
use std::collections::BTreeMap;

/// The registry Docker and every CRI runtime assume for a name without one.
pub const DOCKER_HUB: &str = "docker.io";

/// How short image names (names without a registry host, such as `busybox`) resolve: the
/// `[aliases]` and `unqualified-search-registries` of containers-registries.conf(5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShortNames {
    /// Registries tried in order for a short name no alias covers. Empty: short names that
    /// no alias covers cannot be pulled.
    pub search_registries: Vec<String>,
    /// Short name (without tag or digest) → fully qualified repository.
    pub aliases: BTreeMap<String, String>,
}

impl Default for ShortNames {
    /// Docker's rule, which kubelet users expect: `docker.io`, no aliases.
    fn default() -> ShortNames {
        ShortNames {
            search_registries: vec![DOCKER_HUB.to_string()],
            aliases: BTreeMap::new(),
        }
    }
}

/// Credentials for a registry, as kubelet passes them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryAuth {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
    /// Base64 `user:password`.
    pub auth: String,
    /// Registry server address.
    pub server_address: String,
    /// Identity token for the token endpoint.
    pub identity_token: String,
    /// Bearer token for the registry.
    pub registry_token: String,
}

/// Disk usage of a filesystem crius writes to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FsUsage {
    /// Where the filesystem is mounted (a path kubelet can resolve to a device).
    pub mountpoint: String,
    /// Bytes in use.
    pub used_bytes: u64,
    /// Inodes in use.
    pub inodes_used: u64,
}

/// Failures of image content handling.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The registry has no such image.
    #[error("image {reference} not found: {message}")]
    NotFound {
        /// The reference asked for.
        reference: String,
        /// What the registry said.
        message: String,
    },
    /// The registry could not be reached or answered with a server error.
    #[error("registry unavailable for {reference}: {message}")]
    RegistryUnavailable {
        /// The reference asked for.
        reference: String,
        /// What went wrong.
        message: String,
    },
    /// The registry refused the credentials.
    #[error("not authorized to pull {reference}: {message}")]
    Unauthorized {
        /// The reference asked for.
        reference: String,
        /// What the registry said.
        message: String,
    },
    /// Any other pull failure, with its classification.
    #[error("pulling {reference}: {message}")]
    Failed {
        /// The reference asked for.
        reference: String,
        /// What went wrong.
        message: String,
        /// Classification of the failure.
        kind: ErrorKind,
    },
}

impl Classify for ImageError {
    fn kind(&self) -> ErrorKind {
        match self {
            ImageError::NotFound { .. } => ErrorKind::NotFound,
            ImageError::RegistryUnavailable { .. } => ErrorKind::Unavailable,
            ImageError::Unauthorized { .. } => ErrorKind::Unknown,
            ImageError::Failed { kind, .. } => *kind,
        }
    }
}

/// Fetches and holds image content.
#[async_trait]
pub trait ImageStore: Send + Sync {
    /// Fetches the image `reference` (fully qualified, e.g. `docker.io/library/busybox:latest`
    /// or `...@sha256:...`) and makes it ready to run.
    async fn pull(
        &self,
        reference: &str,
        auth: Option<&RegistryAuth>,
    ) -> Result<PulledImage, ImageError>;
    /// Drops the content of image `id` that no other image shares.
    async fn remove(&self, id: &str) -> Result<(), ImageError>;
    /// Usage of the filesystem that holds image content.
    async fn fs_usage(&self) -> Result<FsUsage, ImageError>;
    /// How short names resolve now (a store whose configuration changes answers the current
    /// one). Docker's rule unless a store says otherwise.
    fn short_names(&self) -> ShortNames {
        ShortNames::default()
    }
}
