//! The simulated registry and image store: pulls synthetic images, real in shape.

use crate::catalogue::{Catalogue, CatalogueImage};
use crate::fault_point::FaultPoint;
use crate::faults::CallSite;
use async_trait::async_trait;
use crius::backend::ImageStore;
use crius::backend::ids::hex;
use crius::backend::image::{FsUsage, ImageError, RegistryAuth};
use crius::model::{ImageConfig, PulledImage};
use crius::runtime::image_name::ImageName;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};

const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Content of one pulled image: its files, for `cat` in fake containers.
#[derive(Debug, Clone)]
struct Content {
    size: u64,
    files: BTreeMap<String, String>,
}

/// Fake image store over a synthetic registry.
pub struct FakeImages {
    catalogue: Catalogue,
    faults: FaultPoint,
    content: Mutex<HashMap<String, Content>>,
}

fn sha256(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    format!("sha256:{}", hex(&hasher.finalize()))
}

fn default_files() -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "/etc/passwd".to_string(),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
                .to_string(),
        ),
        (
            "/etc/group".to_string(),
            "root:x:0:\nnogroup:x:65534:\n".to_string(),
        ),
        (
            "/etc/os-release".to_string(),
            "NAME=\"crius-sim\"\nID=crius-sim\n".to_string(),
        ),
    ])
}

impl FakeImages {
    /// A store pulling from `catalogue`, failing as `faults` says.
    pub fn new(catalogue: Catalogue, faults: FaultPoint) -> FakeImages {
        FakeImages {
            catalogue,
            faults,
            content: Mutex::new(HashMap::new()),
        }
    }

    /// Whether image `id` has content here.
    pub fn has(&self, id: &str) -> bool {
        self.content.lock().contains_key(id)
    }

    /// A file of image `id`, if it has one at `path`.
    pub fn file(&self, id: &str, path: &str) -> Option<Vec<u8>> {
        self.content
            .lock()
            .get(id)?
            .files
            .get(path)
            .map(|f| f.clone().into_bytes())
    }

    /// The synthetic image for a reference, or the catalogued one.
    fn resolve(&self, name: &ImageName) -> Result<(PulledImage, Content), ImageError> {
        let reference = name.to_string();
        let entry = self.catalogue.find(&reference);
        let missing = match entry {
            Some(image) => image.missing,
            None => self.catalogue.strict,
        };
        if missing {
            return Err(ImageError::NotFound {
                reference,
                message: "manifest unknown".to_string(),
            });
        }
        let default_entry = CatalogueImage::default();
        let entry = entry.unwrap_or(&default_entry);
        let manifest_digest = match &name.digest {
            Some(digest) => digest.clone(),
            None => sha256(&[
                "manifest",
                &name.repository(),
                name.tag.as_deref().unwrap_or(""),
            ]),
        };
        let config = ImageConfig {
            user: entry.user.clone(),
            entrypoint: entry.entrypoint.clone(),
            cmd: entry.cmd.clone().unwrap_or_else(|| vec!["sh".to_string()]),
            env: entry
                .env
                .clone()
                .unwrap_or_else(|| vec![DEFAULT_PATH.to_string()]),
            working_dir: entry.working_dir.clone(),
            stop_signal: entry.stop_signal.clone(),
            labels: Default::default(),
            volumes: Vec::new(),
        };
        let config_json = serde_json::to_string(&config).unwrap_or_default();
        let id = sha256(&["config", &manifest_digest, &config_json]);
        let size = entry.size.unwrap_or_else(|| {
            let spread = u64::from_str_radix(&id[7..15], 16).unwrap_or(0) % (48 << 20);
            (2 << 20) + spread
        });
        let mut files = default_files();
        files.extend(entry.files.clone());
        let pulled = PulledImage {
            id,
            manifest_digest,
            size: size.max(1),
            config,
        };
        Ok((
            pulled,
            Content {
                size: size.max(1),
                files,
            },
        ))
    }
}

#[async_trait]
impl ImageStore for FakeImages {
    async fn pull(
        &self,
        reference: &str,
        _auth: Option<&RegistryAuth>,
    ) -> Result<PulledImage, ImageError> {
        let name = ImageName::parse(reference).map_err(|e| ImageError::Failed {
            reference: reference.to_string(),
            message: e.to_string(),
            kind: e.kind(),
        })?;
        if let Some((kind, message)) = self
            .faults
            .enter(CallSite::new("PullImage").image(reference))
            .await
        {
            return Err(ImageError::Failed {
                reference: reference.to_string(),
                message,
                kind,
            });
        }
        let (pulled, content) = self.resolve(&name)?;
        self.content.lock().insert(pulled.id.clone(), content);
        Ok(pulled)
    }

    async fn remove(&self, id: &str) -> Result<(), ImageError> {
        if let Some((kind, message)) = self
            .faults
            .enter(CallSite::new("RemoveImage").image(id))
            .await
        {
            return Err(ImageError::Failed {
                reference: id.to_string(),
                message,
                kind,
            });
        }
        self.content.lock().remove(id);
        Ok(())
    }

    async fn fs_usage(&self) -> Result<FsUsage, ImageError> {
        if let Some((kind, message)) = self.faults.enter(CallSite::new("ImageFsInfo")).await {
            return Err(ImageError::Failed {
                reference: String::new(),
                message,
                kind,
            });
        }
        let content = self.content.lock();
        Ok(FsUsage {
            mountpoint: "/var/lib/crius-sim/images".to_string(),
            used_bytes: content.values().map(|c| c.size).sum(),
            inodes_used: content.values().map(|c| c.files.len() as u64 + 1).sum(),
        })
    }
}
