//! Builds test images by hand (tar layers, config, manifests, indexes) and pushes them to a
//! registry through the distribution API.

use super::http;
use sha2::{Digest, Sha256};
use std::io::Write;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

pub fn sha256(bytes: &[u8]) -> String {
    format!(
        "sha256:{}",
        crius::backend::ids::hex(&Sha256::digest(bytes))
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
    None,
}

/// One tar entry. Paths are written into the header raw, so tests can build hostile ones.
#[derive(Debug, Clone)]
pub enum Entry {
    Dir(&'static str, u32),
    File(String, Vec<u8>, u32),
    Symlink(&'static str, &'static str),
    HardLink(&'static str, &'static str),
    /// A file with owner, setuid mode and an xattr.
    Owned {
        path: &'static str,
        uid: u64,
        gid: u64,
        mode: u32,
        xattr: Option<(&'static str, &'static [u8])>,
    },
    CharDev(&'static str, u32, u32),
}

/// A built layer blob.
#[derive(Debug, Clone)]
pub struct Layer {
    pub blob: Vec<u8>,
    pub diff_id: String,
    pub media_type: String,
}

fn raw_header(kind: tar::EntryType, path: &str, size: u64, mode: u32) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(mode);
    header.set_mtime(1_700_000_000);
    header.set_uid(0);
    header.set_gid(0);
    let name = &mut header.as_old_mut().name;
    name[..path.len()].copy_from_slice(path.as_bytes());
    header
}

fn set_link(header: &mut tar::Header, target: &str) {
    let link = &mut header.as_old_mut().linkname;
    link[..target.len()].copy_from_slice(target.as_bytes());
}

/// Builds a layer of `entries`, compressed as asked.
pub fn layer(entries: &[Entry], compression: Compression) -> Layer {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        match entry {
            Entry::Dir(path, mode) => {
                let mut h = raw_header(tar::EntryType::Directory, path, 0, *mode);
                h.set_cksum();
                builder.append(&h, &[][..]).unwrap();
            }
            Entry::File(path, data, mode) => {
                let mut h = raw_header(tar::EntryType::Regular, path, data.len() as u64, *mode);
                h.set_cksum();
                builder.append(&h, &data[..]).unwrap();
            }
            Entry::Symlink(path, target) => {
                let mut h = raw_header(tar::EntryType::Symlink, path, 0, 0o777);
                set_link(&mut h, target);
                h.set_cksum();
                builder.append(&h, &[][..]).unwrap();
            }
            Entry::HardLink(path, target) => {
                let mut h = raw_header(tar::EntryType::Link, path, 0, 0o644);
                set_link(&mut h, target);
                h.set_cksum();
                builder.append(&h, &[][..]).unwrap();
            }
            Entry::Owned {
                path,
                uid,
                gid,
                mode,
                xattr,
            } => {
                if let Some((name, value)) = xattr {
                    let key = format!("SCHILY.xattr.{name}");
                    builder
                        .append_pax_extensions([(key.as_str(), *value)])
                        .unwrap();
                }
                let data = b"owned\n";
                let mut h = raw_header(tar::EntryType::Regular, path, data.len() as u64, *mode);
                h.set_uid(*uid);
                h.set_gid(*gid);
                h.set_cksum();
                builder.append(&h, &data[..]).unwrap();
            }
            Entry::CharDev(path, major, minor) => {
                let mut h = raw_header(tar::EntryType::Char, path, 0, 0o666);
                h.set_device_major(*major).unwrap();
                h.set_device_minor(*minor).unwrap();
                h.set_cksum();
                builder.append(&h, &[][..]).unwrap();
            }
        }
    }
    let tar = builder.into_inner().unwrap();
    let diff_id = sha256(&tar);
    let (blob, media_type) = match compression {
        Compression::None => (tar, "application/vnd.oci.image.layer.v1.tar"),
        Compression::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(&tar).unwrap();
            (
                enc.finish().unwrap(),
                "application/vnd.oci.image.layer.v1.tar+gzip",
            )
        }
        Compression::Zstd => (
            zstd::encode_all(&tar[..], 1).unwrap(),
            "application/vnd.oci.image.layer.v1.tar+zstd",
        ),
    };
    Layer {
        blob,
        diff_id,
        media_type: media_type.to_string(),
    }
}

/// The busybox base layer: /bin/busybox from busybox-static, /bin/sh, /etc/passwd.
pub fn busybox_layer(compression: Compression) -> Layer {
    let busybox = std::fs::read("/bin/busybox").unwrap_or_else(|e| {
        panic!("reading /bin/busybox ({e}): the image tests need it; run: apt-get install docker-registry busybox-static")
    });
    layer(
        &[
            Entry::Dir("bin/", 0o755),
            Entry::File("bin/busybox".into(), busybox, 0o755),
            Entry::Symlink("bin/sh", "busybox"),
            Entry::Dir("etc/", 0o755),
            Entry::File(
                "etc/passwd".into(),
                b"root:x:0:0:root:/root:/bin/sh\n".to_vec(),
                0o644,
            ),
        ],
        compression,
    )
}

/// An image: config and layers.
#[derive(Debug, Clone)]
pub struct Image {
    pub config: Vec<u8>,
    pub layers: Vec<Layer>,
}

impl Image {
    /// An image of `layers` for `arch`, with a config naming `cmd`.
    pub fn new(layers: Vec<Layer>, arch: &str, cmd: &str) -> Image {
        let diff_ids: Vec<&str> = layers.iter().map(|l| l.diff_id.as_str()).collect();
        let config = serde_json::json!({
            "architecture": arch,
            "os": "linux",
            "config": {
                "User": "1000:1000",
                "Entrypoint": ["/bin/busybox"],
                "Cmd": [cmd],
                "Env": ["PATH=/bin"],
                "WorkingDir": "/",
                "StopSignal": "SIGTERM",
                "Labels": {"test": "crius"},
                "Volumes": {"/data": {}}
            },
            "rootfs": {"type": "layers", "diff_ids": diff_ids}
        });
        Image {
            config: serde_json::to_vec(&config).unwrap(),
            layers,
        }
    }

    pub fn id(&self) -> String {
        sha256(&self.config)
    }

    /// Config plus compressed layers, as the store reports size.
    pub fn size(&self) -> u64 {
        self.config.len() as u64 + self.layers.iter().map(|l| l.blob.len() as u64).sum::<u64>()
    }

    /// The manifest, OCI or Docker schema 2.
    pub fn manifest(&self, docker: bool) -> Vec<u8> {
        let (mt, config_mt) = if docker {
            (
                DOCKER_MANIFEST,
                "application/vnd.docker.container.image.v1+json",
            )
        } else {
            (OCI_MANIFEST, "application/vnd.oci.image.config.v1+json")
        };
        let layers: Vec<serde_json::Value> = self
            .layers
            .iter()
            .map(|l| {
                let media_type = if docker { "application/vnd.docker.image.rootfs.diff.tar.gzip" } else { l.media_type.as_str() };
                serde_json::json!({"mediaType": media_type, "digest": sha256(&l.blob), "size": l.blob.len()})
            })
            .collect();
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": mt,
            "config": {"mediaType": config_mt, "digest": self.id(), "size": self.config.len()},
            "layers": layers
        }))
        .unwrap()
    }
}

/// Index (or manifest list) over `(manifest bytes, arch, variant)`.
pub fn index(entries: &[(&[u8], &str, Option<&str>)], docker: bool) -> Vec<u8> {
    let (mt, child) = if docker {
        (DOCKER_LIST, DOCKER_MANIFEST)
    } else {
        (OCI_INDEX, OCI_MANIFEST)
    };
    let manifests: Vec<serde_json::Value> = entries
        .iter()
        .map(|(m, arch, variant)| {
            let mut platform = serde_json::json!({"architecture": arch, "os": "linux"});
            if let Some(v) = variant {
                platform["variant"] = serde_json::json!(v);
            }
            serde_json::json!({"mediaType": child, "digest": sha256(m), "size": m.len(), "platform": platform})
        })
        .collect();
    serde_json::to_vec(
        &serde_json::json!({"schemaVersion": 2, "mediaType": mt, "manifests": manifests}),
    )
    .unwrap()
}

/// Pushes to `host:port`, optionally with Basic credentials.
pub struct Pusher {
    pub host: String,
    pub basic: Option<String>,
}

impl Pusher {
    fn headers<'a>(&'a self, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut h: Vec<(&str, &str)> = extra.to_vec();
        if let Some(b) = &self.basic {
            h.push(("Authorization", b.as_str()));
        }
        h
    }

    pub fn push_blob(&self, repo: &str, data: &[u8]) {
        let digest = sha256(data);
        let head = http::request(
            "HEAD",
            &format!("http://{}/v2/{repo}/blobs/{digest}", self.host),
            &self.headers(&[]),
            b"",
        )
        .unwrap();
        if head.status == 200 {
            return;
        }
        let start = http::request(
            "POST",
            &format!("http://{}/v2/{repo}/blobs/uploads/", self.host),
            &self.headers(&[]),
            b"",
        )
        .unwrap();
        assert_eq!(
            start.status,
            202,
            "starting upload: {}",
            String::from_utf8_lossy(&start.body)
        );
        let location = start
            .header("location")
            .expect("upload location")
            .to_string();
        let url = if location.starts_with("http") {
            location
        } else {
            format!("http://{}{location}", self.host)
        };
        let sep = if url.contains('?') { '&' } else { '?' };
        let put = http::request(
            "PUT",
            &format!("{url}{sep}digest={digest}"),
            &self.headers(&[("Content-Type", "application/octet-stream")]),
            data,
        )
        .unwrap();
        assert_eq!(
            put.status,
            201,
            "finishing upload: {}",
            String::from_utf8_lossy(&put.body)
        );
    }

    pub fn push_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> String {
        let put = http::request(
            "PUT",
            &format!("http://{}/v2/{repo}/manifests/{reference}", self.host),
            &self.headers(&[("Content-Type", media_type)]),
            body,
        )
        .unwrap();
        assert_eq!(
            put.status,
            201,
            "pushing manifest {repo}:{reference}: {}",
            String::from_utf8_lossy(&put.body)
        );
        sha256(body)
    }

    /// Pushes the image's blobs and manifest under `tag`; returns the manifest digest.
    pub fn push_image(&self, repo: &str, tag: &str, image: &Image, docker: bool) -> String {
        self.push_blobs(repo, image);
        let mt = if docker {
            DOCKER_MANIFEST
        } else {
            OCI_MANIFEST
        };
        self.push_manifest(repo, tag, mt, &image.manifest(docker))
    }

    pub fn push_blobs(&self, repo: &str, image: &Image) {
        self.push_blob(repo, &image.config);
        for l in &image.layers {
            self.push_blob(repo, &l.blob);
        }
    }
}
