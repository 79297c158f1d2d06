//! [`RegistryImageStore`]: the Linux [`ImageStore`]. Pulls images from registries over the
//! OCI distribution API into a content-addressed store on disk, unpacking each layer once
//! into its own directory for the overlay root filesystems to stack.
//!
//! A pull resolves the reference through the registries configuration (mirrors, rewrites,
//! blocks, insecure registries; re-read when its files change), fetches the manifest (choosing the host's platform from an
//! index), the config and the layers. Layers download and unpack in parallel; a layer or
//! blob already being fetched by another pull is waited for, not fetched again (one task per
//! digest, which carries on if the pull that started it is dropped). The image record is
//! written last, so a crash leaves nothing half-visible and the next pull completes it.

use super::auth;
use super::content::{Content, ImageEntry, digest_hex, sha256_digest};
use super::download::download_blob;
use super::failure::Failure;
use super::manifest::{self, ConfigFile, Descriptor, Manifest, Platform};
use super::progress::{self, Progress};
use super::conf_watch::WatchedConf;
use super::registries_conf::{self, Endpoint};
use super::remote::Remote;
use super::unpack::unpack_layer;
use super::{FsUsage, ImageError, ImageStore, RegistryAuth, ShortNames};
use crate::error::ErrorKind;
use crate::model::PulledImage;
use async_trait::async_trait;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use oci_client::Reference;
use oci_client::secrets::RegistryAuth as ClientAuth;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How a [`RegistryImageStore`] is set up.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Root directory of the content store.
    pub root: PathBuf,
    /// The registries.conf main file; drop-ins are read from `<file>.d/`. Absent files are fine.
    pub registries_conf: PathBuf,
    /// A containers-auth.json file consulted when a pull carries no credentials.
    pub auth_file: Option<PathBuf>,
    /// The platform chosen from an index.
    pub platform: Platform,
    /// A download receiving nothing for this long is cancelled.
    pub stall_timeout: Duration,
    /// How often a pull logs its progress.
    pub progress_interval: Duration,
    /// TCP connect timeout for registries.
    pub connect_timeout: Duration,
}

impl RegistryOptions {
    /// Defaults for a store rooted at `root`: `/etc/containers/registries.conf`,
    /// `/run/containers/0/auth.json`, the host platform, a 5-minute stall timeout and a
    /// progress line every 10 seconds.
    pub fn new(root: impl Into<PathBuf>) -> RegistryOptions {
        RegistryOptions {
            root: root.into(),
            registries_conf: PathBuf::from(registries_conf::DEFAULT_PATH),
            auth_file: Some(PathBuf::from("/run/containers/0/auth.json")),
            platform: Platform::host(),
            stall_timeout: Duration::from_secs(300),
            progress_interval: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(30),
        }
    }
}

type SharedTask = Shared<BoxFuture<'static, Result<(), Failure>>>;

struct Inner {
    content: Content,
    /// registries.conf and its drop-ins, re-read when they change.
    conf: WatchedConf,
    options: RegistryOptions,
    /// Downloads and unpacks in progress, by `blob:<digest>` / `layer:<diff id>`.
    inflight: Mutex<HashMap<String, SharedTask>>,
    /// Pulls hold it shared; removal (garbage collection) holds it exclusively.
    gc: tokio::sync::RwLock<()>,
}

/// The Linux image store: registry pulls into a content store under a root directory.
#[derive(Clone)]
pub struct RegistryImageStore {
    inner: Arc<Inner>,
}

impl RegistryImageStore {
    /// Opens the store (creating its directories, discarding what a crash left half-made)
    /// and reads the registries configuration.
    pub fn open(options: RegistryOptions) -> Result<RegistryImageStore, ImageError> {
        let content = Content::open(&options.root).map_err(|f| f.into_error(""))?;
        let conf = WatchedConf::load(&options.registries_conf).map_err(|f| f.into_error(""))?;
        Ok(RegistryImageStore {
            inner: Arc::new(Inner {
                content,
                conf,
                options,
                inflight: Mutex::new(HashMap::new()),
                gc: tokio::sync::RwLock::new(()),
            }),
        })
    }

    /// The root directory of the content store.
    pub fn root(&self) -> &Path {
        self.inner.content.root()
    }

    /// The unpacked layer directories of image `id`, lowest (base) layer first. Overlayfs
    /// wants them the other way round: `lowerdir=` lists the topmost first. Each directory
    /// holds whiteouts as overlayfs reads them (character device 0/0; opaque directories
    /// carry `trusted.overlay.opaque=y`). The directories are shared between images and must
    /// be mounted read-only. An unknown image is NotFound.
    pub fn layer_dirs(&self, id: &str) -> Result<Vec<PathBuf>, ImageError> {
        let entry = self
            .inner
            .content
            .image(id)
            .map_err(|f| f.into_error(id))?
            .ok_or_else(|| ImageError::NotFound {
                reference: id.to_string(),
                message: "the image store holds no image with this id".to_string(),
            })?;
        entry
            .layers
            .iter()
            .map(|diff_id| {
                self.inner
                    .content
                    .layer_path(diff_id)
                    .map_err(|f| f.into_error(id))
            })
            .collect()
    }
}

#[async_trait]
impl ImageStore for RegistryImageStore {
    async fn pull(
        &self,
        reference: &str,
        auth: Option<&RegistryAuth>,
    ) -> Result<PulledImage, ImageError> {
        let progress = Arc::new(Progress::new(reference));
        let work = self.inner.clone().pull(reference, auth, progress.clone());
        let result = progress::logged(&progress, self.inner.options.progress_interval, work).await;
        match &result {
            Ok(image) => {
                tracing::info!(reference, id = %image.id, bytes = progress.bytes(), "pulled image")
            }
            Err(f) => tracing::warn!(reference, error = %f.message(), "pull failed"),
        }
        result.map_err(|f| f.into_error(reference))
    }

    async fn remove(&self, id: &str) -> Result<(), ImageError> {
        if digest_hex(id).is_err() {
            return Ok(());
        }
        let _exclusive = self.inner.gc.write().await;
        let inner = self.inner.clone();
        let id_owned = id.to_string();
        tokio::task::spawn_blocking(move || inner.content.remove_image(&id_owned))
            .await
            .map_err(|e| Failure::local(format!("removal task failed: {e}")))
            .and_then(|r| r)
            .map_err(|f| f.into_error(id))
    }

    fn short_names(&self) -> ShortNames {
        self.inner.conf.current().short_names()
    }

    async fn fs_usage(&self) -> Result<FsUsage, ImageError> {
        let inner = self.inner.clone();
        let (used_bytes, inodes_used) = tokio::task::spawn_blocking(move || inner.content.usage())
            .await
            .map_err(|e| Failure::local(format!("usage task failed: {e}")))
            .and_then(|r| r)
            .map_err(|f| f.into_error(""))?;
        Ok(FsUsage {
            mountpoint: self.inner.content.root().display().to_string(),
            used_bytes,
            inodes_used,
        })
    }
}

/// The image a manifest resolved to.
struct Resolved {
    remote: Remote,
    /// Digest the reference resolved to (the index's, for an index).
    top_digest: String,
    /// Manifests fetched (index and image manifest), to keep as blobs.
    manifests: Vec<(String, Vec<u8>)>,
    config: Descriptor,
    layers: Vec<Descriptor>,
}

impl Inner {
    async fn pull(
        self: Arc<Self>,
        reference: &str,
        auth: Option<&RegistryAuth>,
        progress: Arc<Progress>,
    ) -> Result<PulledImage, Failure> {
        let parsed: Reference = reference.parse().map_err(|e| {
            Failure::Other(
                ErrorKind::InvalidArgument,
                format!("malformed image reference {reference:?}: {e}"),
            )
        })?;
        let want = match (parsed.digest(), parsed.tag()) {
            (Some(digest), _) => digest.to_string(),
            (None, Some(tag)) => tag.to_string(),
            (None, None) => "latest".to_string(),
        };
        let repo = format!("{}/{}", parsed.registry(), parsed.repository());
        let endpoints = self
            .conf
            .current()
            .endpoints(&repo, parsed.digest().is_some())?;
        let request_auth = match auth {
            Some(auth) => auth::from_request(auth)?,
            None => None,
        };
        let resolved = self.resolve(endpoints, request_auth, &want).await?;
        let config_what = format!(
            "config {} of {}",
            resolved.config.digest,
            resolved.remote.repo()
        );
        let _shared = self.gc.read().await;
        self.clone()
            .ensure_blob(
                resolved.remote.clone(),
                resolved.config.clone(),
                progress.clone(),
            )
            .await?;
        let config_path = self.content.blob_path(&resolved.config.digest)?;
        let config_bytes = tokio::fs::read(&config_path)
            .await
            .map_err(|e| Failure::local(format!("reading {}: {e}", config_path.display())))?;
        let config = ConfigFile::parse(&config_what, &config_bytes)?;
        let diff_ids = &config.rootfs.diff_ids;
        if diff_ids.len() != resolved.layers.len() {
            return Err(Failure::invalid(format!(
                "{config_what} lists {} layer diff ids, the manifest {} layers",
                diff_ids.len(),
                resolved.layers.len()
            )));
        }
        for layer in &resolved.layers {
            if !manifest::is_layer(&layer.media_type) {
                return Err(Failure::Other(
                    ErrorKind::FailedPrecondition,
                    format!(
                        "layer {} of {} has media type {:?}, which is not a container image layer",
                        layer.digest,
                        resolved.remote.repo(),
                        layer.media_type
                    ),
                ));
            }
        }
        progress.expect(
            resolved.layers.len() as u64,
            resolved.layers.iter().map(|l| l.size).sum(),
        );
        let layer_tasks = resolved.layers.iter().zip(diff_ids).map(|(desc, diff_id)| {
            self.clone().ensure_layer(
                resolved.remote.clone(),
                desc.clone(),
                diff_id.clone(),
                progress.clone(),
            )
        });
        futures::future::try_join_all(layer_tasks).await?;
        for (digest, body) in &resolved.manifests {
            self.content.put_small_blob(digest, body)?;
        }
        let mut blobs: Vec<String> = resolved.manifests.iter().map(|(d, _)| d.clone()).collect();
        blobs.push(resolved.config.digest.clone());
        blobs.extend(resolved.layers.iter().map(|l| l.digest.clone()));
        let id = resolved.config.digest.clone();
        if let Some(previous) = self.content.image(&id)? {
            for blob in previous.blobs {
                if !blobs.contains(&blob) {
                    blobs.push(blob);
                }
            }
        }
        let entry = ImageEntry {
            id: id.clone(),
            manifest_digest: resolved.top_digest.clone(),
            size: resolved.config.size + resolved.layers.iter().map(|l| l.size).sum::<u64>(),
            config: config.image_config(),
            layers: diff_ids.clone(),
            blobs,
        };
        self.content.put_image(&entry)?;
        Ok(PulledImage {
            id,
            manifest_digest: entry.manifest_digest,
            size: entry.size.max(1),
            config: entry.config,
        })
    }

    /// Fetches the manifest from the first endpoint that has it (a failing mirror falls
    /// through to the next endpoint; the last endpoint's failure is the pull's), and resolves
    /// an index to the platform's image manifest.
    async fn resolve(
        &self,
        endpoints: Vec<Endpoint>,
        request_auth: Option<ClientAuth>,
        want: &str,
    ) -> Result<Resolved, Failure> {
        let mut last = None;
        let mut found = None;
        for endpoint in endpoints {
            let auth = match (&request_auth, &self.options.auth_file) {
                (Some(auth), _) => auth.clone(),
                (None, Some(file)) => auth::from_file(
                    file,
                    &format!("{}/{}", endpoint.registry, endpoint.repository),
                )?
                .unwrap_or(ClientAuth::Anonymous),
                (None, None) => ClientAuth::Anonymous,
            };
            let is_mirror = endpoint.mirror;
            let remote = Remote::new(endpoint, auth, self.options.connect_timeout);
            match remote.manifest(want).await {
                Ok(body) => {
                    found = Some((remote, body));
                    break;
                }
                Err(failure) if is_mirror => {
                    tracing::warn!(mirror = %remote.repo(), error = %failure.message(), "mirror failed; trying the next endpoint");
                    last = Some(failure);
                }
                Err(failure) => return Err(failure),
            }
        }
        let Some((remote, body)) = found else {
            return Err(last.unwrap_or_else(|| Failure::local("no registry endpoint to pull from")));
        };
        let top_digest = sha256_digest(&body);
        if want.contains(':') && top_digest != want {
            return Err(Failure::invalid(format!(
                "manifest {want} of {} has digest {top_digest}; refusing tampered content",
                remote.repo()
            )));
        }
        let what = format!("{}:{want}", remote.repo());
        let mut manifests = vec![(top_digest.clone(), body.clone())];
        let (config, layers) = match manifest::parse(&what, &body)? {
            Manifest::Image { config, layers } => (config, layers),
            Manifest::Index(entries) => {
                let platform = &self.options.platform;
                let chosen = manifest::select_platform(&entries, platform).ok_or_else(|| {
                    let have: Vec<String> = entries
                        .iter()
                        .filter_map(|e| e.platform.as_ref())
                        .map(|p| {
                            format!(
                                "{}/{}{}",
                                p.os,
                                p.architecture,
                                p.variant
                                    .as_ref()
                                    .map(|v| format!("/{v}"))
                                    .unwrap_or_default()
                            )
                        })
                        .collect();
                    Failure::NotFound(format!(
                        "index {what} has no image for {}/{} (it has: {})",
                        platform.os,
                        platform.architecture,
                        have.join(", ")
                    ))
                })?;
                let child = remote.manifest(&chosen.digest).await?;
                let child_digest = sha256_digest(&child);
                if child_digest != chosen.digest {
                    return Err(Failure::invalid(format!(
                        "manifest {} of {} has digest {child_digest}; refusing tampered content",
                        chosen.digest,
                        remote.repo()
                    )));
                }
                let child_what = format!("{}@{}", remote.repo(), chosen.digest);
                let parsed = manifest::parse(&child_what, &child)?;
                manifests.push((child_digest, child));
                match parsed {
                    Manifest::Image { config, layers } => (config, layers),
                    Manifest::Index(_) => {
                        return Err(Failure::invalid(format!(
                            "{child_what} is an index inside an index, which is not supported"
                        )));
                    }
                }
            }
        };
        Ok(Resolved {
            remote,
            top_digest,
            manifests,
            config,
            layers,
        })
    }

    /// Runs `work` as the one task for `key`, or waits for the task already running it. The
    /// task carries on if every waiter is dropped, and leaves the table when done.
    async fn shared(
        self: &Arc<Self>,
        key: String,
        work: BoxFuture<'static, Result<(), Failure>>,
    ) -> Result<(), Failure> {
        let task = {
            let mut inflight = self.inflight.lock();
            match inflight.get(&key) {
                Some(task) => task.clone(),
                None => {
                    let inner = self.clone();
                    let done_key = key.clone();
                    let handle = tokio::spawn(async move {
                        let result = work.await;
                        inner.inflight.lock().remove(&done_key);
                        result
                    });
                    let label = key.clone();
                    let task = async move {
                        handle.await.unwrap_or_else(|e| {
                            Err(Failure::local(format!("{label}: task failed: {e}")))
                        })
                    }
                    .boxed()
                    .shared();
                    inflight.insert(key, task.clone());
                    task
                }
            }
        };
        task.await
    }

    /// Makes blob `desc` present, downloading it once however many pulls want it.
    async fn ensure_blob(
        self: Arc<Self>,
        remote: Remote,
        desc: Descriptor,
        progress: Arc<Progress>,
    ) -> Result<(), Failure> {
        if self.content.has_blob(&desc.digest, desc.size) {
            return Ok(());
        }
        digest_hex(&desc.digest)?;
        let inner = self.clone();
        let stall = self.options.stall_timeout;
        let key = format!("blob:{}", desc.digest);
        let work =
            async move { download_blob(&inner.content, &remote, &desc, &progress, stall).await }
                .boxed();
        self.shared(key, work).await
    }

    /// Makes the layer with `diff_id` present, unpacked from blob `desc`, once.
    async fn ensure_layer(
        self: Arc<Self>,
        remote: Remote,
        desc: Descriptor,
        diff_id: String,
        progress: Arc<Progress>,
    ) -> Result<(), Failure> {
        let dest = self.content.layer_path(&diff_id)?;
        if dest.exists() {
            progress.layer_done();
            return Ok(());
        }
        let inner = self.clone();
        let key = format!("layer:{diff_id}");
        let task_progress = progress.clone();
        let work = async move {
            if dest.exists() {
                return Ok(());
            }
            inner.clone().ensure_blob(remote, desc.clone(), task_progress).await?;
            let blob = inner.content.blob_path(&desc.digest)?;
            let tmp = inner.content.temp_path("layer");
            tokio::task::spawn_blocking(move || {
                std::fs::create_dir(&tmp).map_err(|e| Failure::local(format!("creating {}: {e}", tmp.display())))?;
                let result = unpack_layer(&blob, &tmp, &diff_id).and_then(|unpacked| {
                    std::fs::rename(&tmp, &dest).map_err(|e| Failure::local(format!("renaming into {}: {e}", dest.display())))?;
                    tracing::debug!(layer = %diff_id, entries = unpacked.entries, bytes = unpacked.tar_bytes, "unpacked layer");
                    Ok(())
                });
                if result.is_err() {
                    let _ = std::fs::remove_dir_all(&tmp);
                }
                result
            })
            .await
            .map_err(|e| Failure::local(format!("unpack task failed: {e}")))?
        }
        .boxed();
        self.shared(key, work).await?;
        progress.layer_done();
        Ok(())
    }
}
