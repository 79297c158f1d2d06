//! The node's images by id, found by id, id prefix, tag or digest reference.

use super::error::{Error, Result};
use super::image_name::{ImageName, is_image_id};
use crate::backend::image::ShortNames;
use crate::model::{ImageRecord, PulledImage, Timestamp};
use std::collections::BTreeMap;

/// Shortest hex prefix accepted as an abbreviated image id.
const MIN_ID_PREFIX: usize = 3;

/// How a lookup found an image: by one of its names, or by its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found<'a> {
    /// By a tag or digest reference (normalised).
    Name(&'a ImageRecord, ImageName),
    /// By id or id prefix.
    Id(&'a ImageRecord),
}

impl<'a> Found<'a> {
    /// The record found.
    pub fn record(&self) -> &'a ImageRecord {
        match self {
            Found::Name(record, _) | Found::Id(record) => record,
        }
    }
}

/// Image records by id.
#[derive(Debug, Default, Clone)]
pub struct ImageIndex {
    by_id: BTreeMap<String, ImageRecord>,
}

impl ImageIndex {
    /// Finds the image `text` names: an id (`sha256:<hex>` or bare hex, or a unique prefix of at
    /// least 3 digits), a tag or a digest reference, a short name meaning what `short` says
    /// (its alias, or the name under each search registry: the first one the node has wins).
    /// A malformed reference is InvalidArgument.
    pub fn lookup_resolving(&self, text: &str, short: &ShortNames) -> Result<Option<Found<'_>>> {
        if is_image_id(text) {
            let id = normalise_id(text);
            return Ok(self.by_id.get(&id).map(Found::Id));
        }
        let parsed = ImageName::parse(text);
        if parsed.is_ok() {
            // A short name nothing resolves names no image (it may still be an id prefix).
            let names = ImageName::candidates(text, short).unwrap_or_default();
            for name in names {
                if let Some(record) = self.by_name(&name) {
                    return Ok(Some(Found::Name(record, name)));
                }
            }
        }
        let hex = text.strip_prefix("sha256:").unwrap_or(text);
        let is_hex = hex.len() >= MIN_ID_PREFIX
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if is_hex {
            let prefix = format!("sha256:{hex}");
            let mut matches = self
                .by_id
                .range(prefix.clone()..)
                .take_while(|(id, _)| id.starts_with(&prefix));
            return match (matches.next(), matches.next()) {
                (Some((_, record)), None) => Ok(Some(Found::Id(record))),
                (None, _) => Ok(None),
                (Some((a, _)), Some((b, _))) => Err(Error::invalid(format!(
                    "image id prefix {text:?} is ambiguous: it matches {a} and {b}"
                ))),
            };
        }
        parsed.map(|_| None)
    }

    /// [`ImageIndex::lookup_resolving`] with Docker's rule for short names.
    #[cfg(test)]
    fn lookup(&self, text: &str) -> Result<Option<Found<'_>>> {
        self.lookup_resolving(text, &ShortNames::default())
    }

    fn by_name(&self, name: &ImageName) -> Option<&ImageRecord> {
        if let Some(digest) = &name.digest {
            let wanted = name.with_digest(digest);
            return self
                .by_id
                .values()
                .find(|r| r.repo_digests.contains(&wanted));
        }
        let wanted = name.tagged()?;
        self.by_id.values().find(|r| r.repo_tags.contains(&wanted))
    }

    /// Records a pull of `name` that produced `pulled`. A tag moves to the new image. Returns
    /// every record that changed, the pulled one first.
    pub fn insert_pulled(
        &mut self,
        name: &ImageName,
        pulled: &PulledImage,
        now: Timestamp,
    ) -> Vec<ImageRecord> {
        let mut changed = Vec::new();
        let tag = if name.digest.is_none() {
            name.tagged()
        } else {
            None
        };
        if let Some(tag) = &tag {
            for record in self.by_id.values_mut() {
                if record.id != pulled.id && record.repo_tags.contains(tag) {
                    record.repo_tags.retain(|t| t != tag);
                    changed.push(record.clone());
                }
            }
        }
        let record = self
            .by_id
            .entry(pulled.id.clone())
            .or_insert_with(|| ImageRecord {
                id: pulled.id.clone(),
                repo_tags: Vec::new(),
                repo_digests: Vec::new(),
                size: pulled.size,
                config: std::sync::Arc::new(pulled.config.clone()),
                pinned: false,
                pulled_at: now,
            });
        if let Some(tag) = tag
            && !record.repo_tags.contains(&tag)
        {
            record.repo_tags.push(tag);
        }
        let digest_ref = name.with_digest(&pulled.manifest_digest);
        if !record.repo_digests.contains(&digest_ref) {
            record.repo_digests.push(digest_ref);
        }
        changed.insert(0, record.clone());
        changed
    }

    /// Removes one tag from image `id`; returns the changed record.
    pub fn untag(&mut self, id: &str, tag: &str) -> Option<ImageRecord> {
        let record = self.by_id.get_mut(id)?;
        record.repo_tags.retain(|t| t != tag);
        Some(record.clone())
    }

    /// Adds a record read back from the store.
    pub fn restore(&mut self, record: ImageRecord) {
        self.by_id.insert(record.id.clone(), record);
    }

    /// Forgets image `id`.
    pub fn remove(&mut self, id: &str) -> Option<ImageRecord> {
        self.by_id.remove(id)
    }

    /// All images, in id order.
    pub fn values(&self) -> impl Iterator<Item = &ImageRecord> {
        self.by_id.values()
    }
}

fn normalise_id(text: &str) -> String {
    if text.starts_with("sha256:") {
        text.to_string()
    } else {
        format!("sha256:{text}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ImageConfig;

    fn pulled(id_digit: char) -> PulledImage {
        PulledImage {
            id: format!("sha256:{}", id_digit.to_string().repeat(64)),
            manifest_digest: format!("sha256:{}", "e".repeat(64)),
            size: 10,
            config: ImageConfig::default(),
        }
    }

    #[test]
    fn lookup_by_tag_digest_id_and_prefix() {
        let mut index = ImageIndex::default();
        let name = ImageName::parse("busybox").unwrap();
        index.insert_pulled(&name, &pulled('a'), 1);
        let id = format!("sha256:{}", "a".repeat(64));
        assert_eq!(index.lookup("busybox").unwrap().unwrap().record().id, id);
        assert_eq!(
            index
                .lookup("docker.io/library/busybox:latest")
                .unwrap()
                .unwrap()
                .record()
                .id,
            id
        );
        let digest_ref = format!("busybox@sha256:{}", "e".repeat(64));
        assert_eq!(index.lookup(&digest_ref).unwrap().unwrap().record().id, id);
        assert_eq!(index.lookup(&id).unwrap().unwrap().record().id, id);
        assert_eq!(index.lookup("aaaa").unwrap().unwrap().record().id, id);
        assert!(index.lookup("busybox:other").unwrap().is_none());
        assert!(index.lookup("Bad Ref").is_err());
    }

    #[test]
    fn a_short_name_finds_the_first_search_registry_the_node_has() {
        let mut index = ImageIndex::default();
        let quay = ImageName::parse("quay.io/tool:1").unwrap();
        let local = ImageName::parse("127.0.0.1:5000/tool:1").unwrap();
        index.insert_pulled(&quay, &pulled('a'), 1);
        index.insert_pulled(&local, &pulled('b'), 1);
        let short = |search: &[&str]| ShortNames {
            search_registries: search.iter().map(|s| s.to_string()).collect(),
            aliases: Default::default(),
        };
        let found = |search: &[&str]| {
            index
                .lookup_resolving("tool:1", &short(search))
                .unwrap()
                .map(|f| f.record().id.clone())
        };
        assert_eq!(
            found(&["docker.io", "127.0.0.1:5000", "quay.io"]),
            Some(format!("sha256:{}", "b".repeat(64)))
        );
        assert_eq!(
            found(&["quay.io", "127.0.0.1:5000"]),
            Some(format!("sha256:{}", "a".repeat(64)))
        );
        assert_eq!(found(&["docker.io"]), None);
        assert_eq!(found(&[]), None);
        // An id prefix still resolves whatever the search list says.
        assert!(index.lookup_resolving("aaaa", &short(&[])).unwrap().is_some());
    }

    #[test]
    fn a_tag_moves_to_the_newly_pulled_image() {
        let mut index = ImageIndex::default();
        let name = ImageName::parse("app:v1").unwrap();
        index.insert_pulled(&name, &pulled('a'), 1);
        let changed = index.insert_pulled(&name, &pulled('b'), 2);
        assert_eq!(changed.len(), 2);
        let old = index
            .lookup(&format!("sha256:{}", "a".repeat(64)))
            .unwrap()
            .unwrap();
        assert!(old.record().repo_tags.is_empty());
        let new = index.lookup("app:v1").unwrap().unwrap();
        assert_eq!(new.record().id, format!("sha256:{}", "b".repeat(64)));
    }
}
