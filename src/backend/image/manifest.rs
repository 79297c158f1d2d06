//! Manifests, indexes and image configs as registries serve them: parsing, the media types we
//! accept, and choosing one platform from an index.

use super::failure::Failure;
use crate::model::{ImageConfig, StringMap};
use serde::Deserialize;
use std::collections::BTreeMap;

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker schema 1 (refused).
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
/// Docker schema 1, signed (refused).
pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// The `Accept` list of a manifest request. Schema 1 is listed so that a registry holding only
/// schema 1 says so, and the pull fails with a message naming it rather than "not found".
pub const ACCEPT: &[&str] = &[
    OCI_INDEX,
    DOCKER_LIST,
    OCI_MANIFEST,
    DOCKER_MANIFEST,
    DOCKER_SCHEMA1_SIGNED,
    DOCKER_SCHEMA1,
];

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type.
    #[serde(default)]
    pub media_type: String,
    /// `sha256:<hex>`.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
    /// Platform, in index entries.
    #[serde(default)]
    pub platform: Option<Platform>,
}

/// A platform, as index entries name them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Platform {
    /// CPU architecture (`amd64`, `arm64`).
    pub architecture: String,
    /// Operating system (`linux`).
    pub os: String,
    /// Variant (`v8`, `v7`).
    #[serde(default)]
    pub variant: Option<String>,
}

impl Platform {
    /// The platform of this machine (linux, `std::env::consts::ARCH` in Go's spelling).
    pub fn host() -> Platform {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        };
        Platform {
            architecture: architecture.to_string(),
            os: "linux".to_string(),
            variant: None,
        }
    }
}

/// A parsed manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manifest {
    /// One image: its config and layers, in order, lowest first.
    Image {
        /// The config blob.
        config: Descriptor,
        /// Layer blobs.
        layers: Vec<Descriptor>,
    },
    /// An index (or Docker manifest list) of per-platform manifests.
    Index(Vec<Descriptor>),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    schema_version: u32,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
}

/// Parses a manifest served for `what` (a reference, for messages).
pub fn parse(what: &str, body: &[u8]) -> Result<Manifest, Failure> {
    let raw: RawManifest = serde_json::from_slice(body)
        .map_err(|e| Failure::invalid(format!("manifest of {what} is not valid JSON: {e}")))?;
    let media_type = raw.media_type.as_deref().unwrap_or("");
    if raw.schema_version == 1
        || media_type == DOCKER_SCHEMA1
        || media_type == DOCKER_SCHEMA1_SIGNED
    {
        return Err(Failure::Other(
            crate::error::ErrorKind::FailedPrecondition,
            format!(
                "manifest of {what} is Docker image manifest schema 1, which crius does not support \
                 (deprecated since 2017): push the image again with a current client"
            ),
        ));
    }
    if raw.schema_version != 2 {
        return Err(Failure::invalid(format!(
            "manifest of {what} has unsupported schemaVersion {}",
            raw.schema_version
        )));
    }
    match (media_type, raw.manifests, raw.config, raw.layers) {
        (OCI_INDEX | DOCKER_LIST | "", Some(manifests), _, _) => Ok(Manifest::Index(manifests)),
        (OCI_MANIFEST | DOCKER_MANIFEST | "", None, Some(config), layers) => Ok(Manifest::Image {
            config,
            layers: layers.unwrap_or_default(),
        }),
        (other, _, _, _) => Err(Failure::invalid(format!(
            "manifest of {what} has unsupported media type {other:?} (not an image manifest or index)"
        ))),
    }
}

/// Picks the manifest for `want` from an index: same OS and architecture, the same variant if
/// `want` names one, otherwise an entry without a variant first.
pub fn select_platform<'a>(entries: &'a [Descriptor], want: &Platform) -> Option<&'a Descriptor> {
    let matching: Vec<&Descriptor> = entries
        .iter()
        .filter(|d| {
            d.media_type.is_empty()
                || d.media_type == OCI_MANIFEST
                || d.media_type == DOCKER_MANIFEST
        })
        .filter(|d| {
            d.platform
                .as_ref()
                .is_some_and(|p| p.os == want.os && p.architecture == want.architecture)
        })
        .collect();
    let variant = |d: &&Descriptor| d.platform.as_ref().and_then(|p| p.variant.clone());
    match &want.variant {
        Some(v) => matching
            .iter()
            .find(|d| variant(d).as_deref() == Some(v.as_str())),
        None => matching.iter().find(|d| variant(d).is_none()),
    }
    .or(matching.first())
    .copied()
}

/// Whether a layer media type is one we can unpack (a tar, compressed or not).
pub fn is_layer(media_type: &str) -> bool {
    media_type.is_empty() || media_type.contains(".tar") || media_type.contains("rootfs.diff.tar")
}

/// The parts of an image config file we use.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ConfigFile {
    /// Runtime configuration.
    #[serde(default)]
    pub config: Option<RuntimeConfig>,
    /// The uncompressed digests of the layers.
    pub rootfs: RootFs,
}

/// `rootfs` of an image config.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Digest of each uncompressed layer tar, in order.
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

/// `config` of an image config file (Docker's capitalised keys).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RuntimeConfig {
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    entrypoint: Option<Vec<String>>,
    #[serde(default)]
    cmd: Option<Vec<String>>,
    #[serde(default)]
    env: Option<Vec<String>>,
    #[serde(default)]
    working_dir: Option<String>,
    #[serde(default)]
    stop_signal: Option<String>,
    #[serde(default)]
    labels: Option<StringMap>,
    #[serde(default)]
    volumes: Option<BTreeMap<String, serde_json::Value>>,
}

impl ConfigFile {
    /// Parses the config blob of `what`.
    pub fn parse(what: &str, body: &[u8]) -> Result<ConfigFile, Failure> {
        let config: ConfigFile = serde_json::from_slice(body)
            .map_err(|e| Failure::invalid(format!("image config of {what} is not valid: {e}")))?;
        if !config.rootfs.kind.is_empty() && config.rootfs.kind != "layers" {
            return Err(Failure::invalid(format!(
                "image config of {what} has rootfs.type {:?}; only \"layers\" is supported",
                config.rootfs.kind
            )));
        }
        Ok(config)
    }

    /// The runtime configuration the core keeps.
    pub fn image_config(&self) -> ImageConfig {
        let c = self.config.clone().unwrap_or_default();
        ImageConfig {
            user: c.user.unwrap_or_default(),
            entrypoint: c.entrypoint.unwrap_or_default(),
            cmd: c.cmd.unwrap_or_default(),
            env: c.env.unwrap_or_default(),
            working_dir: c.working_dir.unwrap_or_default(),
            stop_signal: c.stop_signal.unwrap_or_default(),
            labels: c.labels.unwrap_or_default(),
            volumes: c.volumes.unwrap_or_default().into_keys().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(arch: &str, variant: Option<&str>, digest: &str) -> Descriptor {
        Descriptor {
            media_type: OCI_MANIFEST.to_string(),
            digest: digest.to_string(),
            size: 1,
            platform: Some(Platform {
                architecture: arch.to_string(),
                os: "linux".to_string(),
                variant: variant.map(str::to_string),
            }),
        }
    }

    #[test]
    fn schema1_is_refused_by_name() {
        let body = br#"{"schemaVersion":1,"name":"x","tag":"1","fsLayers":[]}"#;
        let err = parse("r/x:1", body).unwrap_err();
        assert!(err.message().contains("schema 1"), "{err:?}");
    }

    #[test]
    fn platform_prefers_exact_variant_then_none() {
        let entries = vec![
            entry("arm", Some("v7"), "a"),
            entry("amd64", Some("v3"), "b"),
            entry("amd64", None, "c"),
        ];
        let amd64 = Platform {
            architecture: "amd64".into(),
            os: "linux".into(),
            variant: None,
        };
        assert_eq!(select_platform(&entries, &amd64).unwrap().digest, "c");
        let v3 = Platform {
            variant: Some("v3".into()),
            ..amd64.clone()
        };
        assert_eq!(select_platform(&entries, &v3).unwrap().digest, "b");
        let s390 = Platform {
            architecture: "s390x".into(),
            ..amd64
        };
        assert!(select_platform(&entries, &s390).is_none());
    }

    #[test]
    fn config_fields_are_read() {
        let body = br#"{"architecture":"amd64","os":"linux","config":{"User":"1000:1000","Entrypoint":["/bin/sh"],
            "Cmd":["-c","true"],"Env":["A=1"],"WorkingDir":"/w","StopSignal":"SIGINT","Labels":{"l":"v"},
            "Volumes":{"/data":{}}},"rootfs":{"type":"layers","diff_ids":["sha256:00"]}}"#;
        let config = ConfigFile::parse("x", body).unwrap();
        let c = config.image_config();
        assert_eq!(c.user, "1000:1000");
        assert_eq!(c.entrypoint, vec!["/bin/sh"]);
        assert_eq!(c.cmd, vec!["-c", "true"]);
        assert_eq!(c.env, vec!["A=1"]);
        assert_eq!(c.working_dir, "/w");
        assert_eq!(c.stop_signal, "SIGINT");
        assert_eq!(c.labels.get("l").map(String::as_str), Some("v"));
        assert_eq!(c.volumes, vec!["/data"]);
        assert_eq!(config.rootfs.diff_ids, vec!["sha256:00"]);
    }
}
