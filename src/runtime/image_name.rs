//! Image references: parsing and normalising them the way Docker and every CRI runtime do.
//!
//! `busybox` means `docker.io/library/busybox:latest`; `quay.io/a/b@sha256:...` keeps its
//! digest; a first component with a dot, a colon or `localhost` is a registry host.

use super::error::{Error, Result};
use std::fmt;

/// The registry assumed for references without one.
pub const DEFAULT_REGISTRY: &str = "docker.io";
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

fn split_domain(name: &str) -> (String, String) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first.to_string(), rest.to_string())
        }
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

    #[test]
    fn image_ids_are_recognised() {
        assert!(is_image_id(&format!("sha256:{HEX}")));
        assert!(is_image_id(HEX));
        assert!(!is_image_id("sha256:abc"));
        assert!(!is_image_id("busybox"));
    }
}
