//! Image references: parsing and normalising them the way Docker and every CRI runtime do.
//!
//! `busybox` means `docker.io/library/busybox:latest`; `quay.io/a/b@sha256:...` keeps its
//! digest; a first component with a dot, a colon or `localhost` is a registry host.
//!
//! A short name (no registry host) may mean several names: [`ImageName::candidates`] lists
//! them in the order containers-registries.conf(5) gives, an alias first, then each
//! unqualified-search registry.

use super::error::{Error, Result};
use crate::backend::image::{DOCKER_HUB, ShortNames};
use std::fmt;

/// The registry assumed for references without one.
pub const DEFAULT_REGISTRY: &str = DOCKER_HUB;
const MAX_NAME_LEN: usize = 255;

/// A parsed, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageName {
    /// Registry host (and port).
    pub domain: String,
    /// Repository path within the registry.
    pub path: String,
    /// Tag, if the reference has one (or `latest` added by normalisation).
    pub tag: Option<String>,
    /// Digest, `algorithm:hex`, if the reference has one.
    pub digest: Option<String>,
}

impl ImageName {
    /// Parses and normalises `reference`; a missing tag becomes `latest` unless a digest is given.
    pub fn parse(reference: &str) -> Result<ImageName> {
        let invalid =
            |why: &str| Error::invalid(format!("invalid image reference {reference:?}: {why}"));
        if reference.is_empty() {
            return Err(invalid("empty"));
        }
        let (name_and_tag, digest) = match reference.split_once('@') {
            Some((name, digest)) => {
                validate_digest(digest).map_err(|why| invalid(&why))?;
                (name, Some(digest.to_string()))
            }
            None => (reference, None),
        };
        let last_slash = name_and_tag.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match name_and_tag[last_slash..].rfind(':') {
            Some(colon) => {
                let at = last_slash + colon;
                (&name_and_tag[..at], Some(&name_and_tag[at + 1..]))
            }
            None => (name_and_tag, None),
        };
        if let Some(tag) = tag {
            validate_tag(tag).map_err(|why| invalid(&why))?;
        }
        if name.len() > MAX_NAME_LEN {
            return Err(invalid("repository name longer than 255 characters"));
        }
        let (domain, path) = split_domain(name);
        if domain.is_empty() {
            return Err(invalid("empty registry host"));
        }
        for component in path.split('/') {
            validate_component(component).map_err(|why| invalid(&why))?;
        }
        let tag = match (tag, &digest) {
            (Some(tag), _) => Some(tag.to_string()),
            (None, None) => Some("latest".to_string()),
            (None, Some(_)) => None,
        };
        Ok(ImageName {
            domain,
            path,
            tag,
            digest,
        })
    }

    /// The names `reference` may mean, in the order to try them. A reference with a registry
    /// host means itself. A short one means its alias when `short` has one (the alias names a
    /// repository; the reference's tag or digest is kept), else the name under each search
    /// registry in turn (`library/` added on Docker Hub). A short name with neither is
    /// InvalidArgument.
    pub fn candidates(reference: &str, short: &ShortNames) -> Result<Vec<ImageName>> {
        let parsed = ImageName::parse(reference)?;
        let Some((name, suffix)) = short_name_parts(reference) else {
            return Ok(vec![parsed]);
        };
        if let Some(repository) = short.aliases.get(name) {
            return Ok(vec![ImageName::parse(&format!("{repository}{suffix}"))?]);
        }
        if short.search_registries.is_empty() {
            return Err(Error::invalid(format!(
                "image {reference:?} is a short name, no alias covers it and the registries \
                 configuration lists no unqualified-search-registries: use a fully qualified \
                 reference"
            )));
        }
        short
            .search_registries
            .iter()
            .map(|registry| ImageName::parse(&format!("{registry}/{name}{suffix}")))
            .collect()
    }

    /// `domain/path`.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// `domain/path:tag`, when the reference is tagged.
    pub fn tagged(&self) -> Option<String> {
        self.tag
            .as_ref()
            .map(|tag| format!("{}:{tag}", self.repository()))
    }

    /// `domain/path@digest` for a given manifest digest.
    pub fn with_digest(&self, digest: &str) -> String {
        format!("{}@{digest}", self.repository())
    }
}

impl fmt::Display for ImageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.domain, self.path)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Whether `text` is an image id: `sha256:<64 hex>` or 64 bare hex digits.
pub fn is_image_id(text: &str) -> bool {
    let hex = text.strip_prefix("sha256:").unwrap_or(text);
    hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Whether `first`, a reference's first path component, names a registry host.
fn is_registry_host(first: &str) -> bool {
    first.contains('.') || first.contains(':') || first == "localhost"
}

/// For a short name (no registry host), its name part and the rest (`:tag`, `@digest`, or
/// both, as written); `None` for a reference that names its registry.
fn short_name_parts(reference: &str) -> Option<(&str, &str)> {
    let name_end = reference.find('@').unwrap_or(reference.len());
    let last_slash = reference[..name_end].rfind('/').map_or(0, |i| i + 1);
    let name_end = reference[last_slash..name_end]
        .find(':')
        .map_or(name_end, |colon| last_slash + colon);
    let name = &reference[..name_end];
    match name.split_once('/') {
        Some((first, _)) if is_registry_host(first) => None,
        _ => Some((name, &reference[name_end..])),
    }
}

fn split_domain(name: &str) -> (String, String) {
    match name.split_once('/') {
        // Docker Hub keeps official images under `library/`, however the name was spelt.
        Some((first, rest)) if first == DEFAULT_REGISTRY && !rest.contains('/') => {
            (first.to_string(), format!("library/{rest}"))
        }
        Some((first, rest)) if is_registry_host(first) => (first.to_string(), rest.to_string()),
        Some(_) => (DEFAULT_REGISTRY.to_string(), name.to_string()),
        None => (DEFAULT_REGISTRY.to_string(), format!("library/{name}")),
    }
}

fn validate_component(component: &str) -> Result<(), String> {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() {
        return Err("empty path component".into());
    }
    if !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return Err(format!(
            "path component {component:?} must start and end with a lower-case letter or digit"
        ));
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if alnum(b) {
            i += 1;
            continue;
        }
        // Separators: one '.', one or two '_', or any run of '-'.
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &component[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !ok {
            return Err(format!(
                "path component {component:?} has an invalid separator {sep:?} (names are lower case)"
            ));
        }
    }
    Ok(())
}

fn validate_tag(tag: &str) -> Result<(), String> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= 128
        && word(bytes[0])
        && bytes.iter().all(|&b| word(b) || b == b'.' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!("invalid tag {tag:?}"))
    }
}

fn validate_digest(digest: &str) -> Result<(), String> {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return Err(format!("digest {digest:?} lacks an algorithm"));
    };
    let expected_len = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return Err(format!("unsupported digest algorithm {algorithm:?}")),
    };
    if hex.len() != expected_len
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(format!(
            "digest {digest:?} is not {expected_len} lower-case hex digits"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn short_names_get_registry_library_and_latest() {
        assert_eq!(
            ImageName::parse("busybox").unwrap().to_string(),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            ImageName::parse("user/app:1.0").unwrap().to_string(),
            "docker.io/user/app:1.0"
        );
        assert_eq!(
            ImageName::parse("localhost/app").unwrap().to_string(),
            "localhost/app:latest"
        );
    }

    #[test]
    fn registry_with_port_and_digest() {
        let name = ImageName::parse(&format!("127.0.0.1:5000/a/b:v1@sha256:{HEX}")).unwrap();
        assert_eq!(name.domain, "127.0.0.1:5000");
        assert_eq!(name.path, "a/b");
        assert_eq!(name.tag.as_deref(), Some("v1"));
        assert_eq!(name.digest.as_deref(), Some(&*format!("sha256:{HEX}")));
        let digest_only = ImageName::parse(&format!("quay.io/x@sha256:{HEX}")).unwrap();
        assert_eq!(digest_only.tag, None);
        assert_eq!(digest_only.tagged(), None);
    }

    #[test]
    fn malformed_references_are_invalid() {
        for bad in [
            "",
            "Busybox",
            "a//b",
            "a:",
            "a@sha256:12",
            "a@md5:00",
            "-a",
            "a:-x",
            "a__-b",
            "a..b",
        ] {
            let err = ImageName::parse(bad).unwrap_err();
            assert_eq!(
                err.kind(),
                crate::error::ErrorKind::InvalidArgument,
                "{bad}"
            );
        }
        assert!(ImageName::parse(&"a".repeat(300)).is_err());
    }

    fn short(search: &[&str], aliases: &[(&str, &str)]) -> ShortNames {
        ShortNames {
            search_registries: search.iter().map(|s| s.to_string()).collect(),
            aliases: aliases
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn shown(names: Vec<ImageName>) -> Vec<String> {
        names.into_iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn docker_hub_names_get_library_however_spelt() {
        assert_eq!(
            ImageName::parse("docker.io/busybox").unwrap().to_string(),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            ImageName::parse("docker.io/team/app:1").unwrap().to_string(),
            "docker.io/team/app:1"
        );
    }

    #[test]
    fn short_names_try_each_search_registry_in_order() {
        let names = ImageName::candidates(
            "busybox:1.36",
            &short(&["quay.io", "docker.io", "127.0.0.1:5000"], &[]),
        )
        .unwrap();
        assert_eq!(
            shown(names),
            vec![
                "quay.io/busybox:1.36",
                "docker.io/library/busybox:1.36",
                "127.0.0.1:5000/busybox:1.36"
            ]
        );
        let digest = format!("sha256:{}", "a".repeat(64));
        let names =
            ImageName::candidates(&format!("team/app@{digest}"), &short(&["quay.io"], &[]))
                .unwrap();
        assert_eq!(shown(names), vec![format!("quay.io/team/app@{digest}")]);
    }

    #[test]
    fn an_alias_wins_and_keeps_the_tag() {
        let policy = short(&["docker.io"], &[("tool", "registry.example.com/team/tool")]);
        assert_eq!(
            shown(ImageName::candidates("tool:2", &policy).unwrap()),
            vec!["registry.example.com/team/tool:2"]
        );
        assert_eq!(
            shown(ImageName::candidates("tool", &policy).unwrap()),
            vec!["registry.example.com/team/tool:latest"]
        );
    }

    #[test]
    fn qualified_names_mean_themselves_and_unresolvable_short_names_are_invalid() {
        let none = short(&[], &[]);
        assert_eq!(
            shown(ImageName::candidates("localhost/app", &none).unwrap()),
            vec!["localhost/app:latest"]
        );
        assert_eq!(
            shown(ImageName::candidates("127.0.0.1:5000/app:1", &none).unwrap()),
            vec!["127.0.0.1:5000/app:1"]
        );
        let err = ImageName::candidates("app", &none).unwrap_err();
        assert_eq!(err.kind(), crate::error::ErrorKind::InvalidArgument);
        assert!(err.to_string().contains("unqualified-search-registries"), "{err}");
        assert!(ImageName::candidates("Bad Name", &short(&["docker.io"], &[])).is_err());
    }

    #[test]
    fn image_ids_are_recognised() {
        assert!(is_image_id(&format!("sha256:{HEX}")));
        assert!(is_image_id(HEX));
        assert!(!is_image_id("sha256:abc"));
        assert!(!is_image_id("busybox"));
    }
}
