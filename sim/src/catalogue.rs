//! The simulated registry's catalogue: images whose shape a test or user wants to fix.
//!
//! Without a catalogue every well-formed reference pulls a synthetic image derived from the
//! reference. A catalogue file can give images a user, entrypoint, command, environment, size
//! and files, mark references as missing from the registry, or (with `strict = true`) make
//! every reference not listed missing.
//!
//! ```toml
//! strict = false
//!
//! [[image]]
//! reference = "docker.io/library/nginx:1.27"
//! user = "101"
//! entrypoint = ["/docker-entrypoint.sh"]
//! cmd = ["nginx", "-g", "daemon off;"]
//! env = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]
//! size = 73400320
//! files = { "/etc/nginx/nginx.conf" = "worker_processes 1;\n" }
//!
//! [[image]]
//! reference = "registry.example/private/app:v1"
//! missing = true
//! ```

use crius::runtime::image_name::ImageName;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// One catalogued image.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CatalogueImage {
    /// The reference it answers to (normalised when loaded).
    pub reference: String,
    /// The image's `User`.
    #[serde(default)]
    pub user: String,
    /// Entrypoint.
    #[serde(default)]
    pub entrypoint: Vec<String>,
    /// Default command.
    pub cmd: Option<Vec<String>>,
    /// Environment, `KEY=value`.
    pub env: Option<Vec<String>>,
    /// Working directory.
    #[serde(default)]
    pub working_dir: String,
    /// Stop signal.
    #[serde(default)]
    pub stop_signal: String,
    /// Size in bytes.
    pub size: Option<u64>,
    /// Files in the image, by absolute path.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    /// The registry does not have this image.
    #[serde(default)]
    pub missing: bool,
}

/// A set of catalogued images.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    /// When true, references that are not catalogued are missing from the registry.
    #[serde(default)]
    pub strict: bool,
    /// The images.
    #[serde(default, rename = "image")]
    pub images: Vec<CatalogueImage>,
}

/// Failures loading a catalogue.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    /// The file could not be read.
    #[error("reading image catalogue {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a valid catalogue.
    #[error("image catalogue {path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

impl Catalogue {
    /// Parses a catalogue; `origin` names it in errors.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Catalogue, CatalogueError> {
        let mut catalogue: Catalogue =
            toml::from_str(text).map_err(|e| CatalogueError::Invalid {
                path: origin.to_string(),
                message: e.to_string(),
            })?;
        for (index, image) in catalogue.images.iter_mut().enumerate() {
            let name = ImageName::parse(&image.reference).map_err(|e| CatalogueError::Invalid {
                path: origin.to_string(),
                message: format!("image[{index}].reference: {e}"),
            })?;
            image.reference = name.to_string();
        }
        Ok(catalogue)
    }

    /// Reads a catalogue file.
    pub fn load(path: &Path) -> Result<Catalogue, CatalogueError> {
        let text = std::fs::read_to_string(path).map_err(|source| CatalogueError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Catalogue::from_toml_str(&text, &path.display().to_string())
    }

    /// The catalogued image for a normalised reference.
    pub fn find(&self, reference: &str) -> Option<&CatalogueImage> {
        self.images
            .iter()
            .find(|image| image.reference == reference)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalises_references() {
        let catalogue = Catalogue::from_toml_str(
            "strict = true\n[[image]]\nreference = \"nginx\"\nuser = \"101\"\nfiles = { \"/a\" = \"b\" }\n",
            "test",
        )
        .unwrap();
        assert!(catalogue.strict);
        let image = catalogue.find("docker.io/library/nginx:latest").unwrap();
        assert_eq!(image.user, "101");
        assert_eq!(image.files["/a"], "b");
    }

    #[test]
    fn rejects_unknown_fields_and_bad_references() {
        let err = Catalogue::from_toml_str("[[image]]\nreference = \"x\"\ncolour = 1\n", "t")
            .unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
        let err = Catalogue::from_toml_str("[[image]]\nreference = \"Bad\"\n", "t").unwrap_err();
        assert!(err.to_string().contains("image[0].reference"), "{err}");
    }
}
