//! PullImage, ImageStatus, ListImages and RemoveImage over the image index and the image store.

use super::image_index::Found;
use super::image_name::ImageName;
use super::{ContainerImage, Error, Result, Runtime};
use crate::backend::image::RegistryAuth;
use crate::model::ImageRecord;

/// kubelet's error vocabulary for pulls: it maps a message starting with `RegistryUnavailable`
/// to that reason, and shows the message of a gRPC Unknown verbatim (cri-api errors.go).
const REGISTRY_UNAVAILABLE: &str = "RegistryUnavailable";

/// A pull failure as kubelet expects it: an unreachable registry is an Unknown error whose
/// message starts with `RegistryUnavailable`; others keep their kind.
fn pull_error(reference: &str, error: crate::backend::image::ImageError) -> Error {
    use crate::error::{Classify, ErrorKind};
    // The store's messages already name the reference.
    debug_assert!(!reference.is_empty());
    match error.kind() {
        ErrorKind::Unavailable => Error::new(
            ErrorKind::Unknown,
            format!("{REGISTRY_UNAVAILABLE}: {error}"),
        ),
        kind => Error::new(kind, error.to_string()),
    }
}

/// Whether a failed pull of one candidate of a short name lets the next one be tried (as
/// containers/image does: the image may simply live elsewhere).
fn is_worth_another_registry(error: &crate::backend::image::ImageError) -> bool {
    use crate::error::{Classify, ErrorKind};
    matches!(
        error.kind(),
        ErrorKind::NotFound | ErrorKind::Unavailable | ErrorKind::Unknown
    )
}

/// The error of a pull whose every candidate failed: the last failure's kind, every
/// failure's message.
fn every_registry_failed(
    reference: &str,
    mut failures: Vec<(&ImageName, crate::backend::image::ImageError)>,
) -> Error {
    let Some((_, last)) = failures.pop() else {
        return Error::invalid(format!("image {reference:?} resolves to no name"));
    };
    if failures.is_empty() {
        return pull_error(reference, last);
    }
    let earlier: Vec<String> = failures
        .iter()
        .map(|(name, e)| format!("{name}: {e}"))
        .collect();
    let last = pull_error(reference, last);
    Error::new(
        last.kind(),
        format!(
            "{last} (short name {reference:?}; also tried {})",
            earlier.join("; ")
        ),
    )
}

impl Runtime {
    /// PullImage: fetches `reference` and indexes it under its tag and digest. Returns the
    /// image id.
    ///
    /// A short name is tried under its alias or each unqualified-search registry in turn
    /// (the image store's registries configuration); the first that pulls wins and is the
    /// name the image gets.
    pub async fn pull_image(&self, reference: &str, auth: Option<&RegistryAuth>) -> Result<String> {
        let candidates = ImageName::candidates(reference, &self.backends.images.short_names())?;
        let mut failures = Vec::new();
        for name in candidates.iter() {
            let pulled = match self.backends.images.pull(&name.to_string(), auth).await {
                Ok(pulled) => pulled,
                Err(e) if is_worth_another_registry(&e) => {
                    failures.push((name, e));
                    continue;
                }
                Err(e) => return Err(pull_error(reference, e)),
            };
            let now = self.backends.clock.now();
            let mut state = self.state.lock();
            let changed = state.images.insert_pulled(name, &pulled, now);
            for record in &changed {
                self.persist(|s| s.put_image(record))?;
            }
            return Ok(pulled.id);
        }
        Err(every_registry_failed(reference, failures))
    }

    /// ImageStatus: the image `name` names, or `None` when the node does not have it.
    pub fn image_status(&self, name: &str) -> Result<Option<ImageRecord>> {
        let short = self.backends.images.short_names();
        let state = self.state.lock();
        Ok(state
            .images
            .lookup_resolving(name, &short)?
            .map(|found| found.record().clone()))
    }

    /// ListImages: every image, or those `filter` names.
    pub fn list_images(&self, filter: Option<&str>) -> Result<Vec<ImageRecord>> {
        let short = self.backends.images.short_names();
        let state = self.state.lock();
        match filter.filter(|f| !f.is_empty()) {
            Some(name) => Ok(state
                .images
                .lookup_resolving(name, &short)?
                .map(|f| f.record().clone())
                .into_iter()
                .collect()),
            None => Ok(state.images.values().cloned().collect()),
        }
    }

    /// RemoveImage: by one of several tags, drops that tag only; otherwise removes the image
    /// and its content. An image in use by a container is FailedPrecondition; an unknown one
    /// succeeds.
    pub async fn remove_image(&self, name: &str) -> Result<()> {
        let short = self.backends.images.short_names();
        let (record, untag_only) = {
            let mut state = self.state.lock();
            let Some(found) = state.images.lookup_resolving(name, &short)? else {
                return Ok(());
            };
            let record = found.record().clone();
            let tag = match &found {
                Found::Name(_, name) if name.digest.is_none() => name.tagged(),
                _ => None,
            };
            match tag {
                Some(tag) if record.repo_tags.len() > 1 => {
                    if let Some(updated) = state.images.untag(&record.id, &tag) {
                        self.persist(|s| s.put_image(&updated))?;
                    }
                    (record, true)
                }
                _ => (record, false),
            }
        };
        if untag_only {
            return Ok(());
        }
        let user = {
            let state = self.state.lock();
            state
                .containers
                .values()
                .find(|c| c.image.id == record.id)
                .map(|c| c.id.clone())
        };
        if let Some(container) = user {
            return Err(Error::precondition(format!(
                "image {} is in use by container {container}",
                record.id
            )));
        }
        self.backends
            .images
            .remove(&record.id)
            .await
            .map_err(|e| Error::backend(format!("removing image {}", record.id), e))?;
        let mut state = self.state.lock();
        self.persist(|s| s.delete_image(&record.id))?;
        state.images.remove(&record.id);
        Ok(())
    }

    /// The image a new container runs, resolved from the name kubelet gave.
    pub(super) fn image_for_container(&self, name: &str) -> Result<ContainerImage> {
        if name.is_empty() {
            return Err(Error::invalid("image.image must name an image"));
        }
        let short = self.backends.images.short_names();
        let state = self.state.lock();
        let found = state
            .images
            .lookup_resolving(name, &short)?
            .ok_or_else(|| Error::not_found(format!("image {name:?} not found: pull it first")))?;
        let record = found.record();
        let display_name = match &found {
            Found::Name(_, name) => name.to_string(),
            Found::Id(record) => record
                .repo_tags
                .first()
                .cloned()
                .unwrap_or_else(|| record.id.clone()),
        };
        Ok(ContainerImage {
            id: record.id.clone(),
            name: display_name,
            reference: record
                .repo_digests
                .first()
                .cloned()
                .unwrap_or_else(|| record.id.clone()),
            config: record.config.clone(),
        })
    }
}
