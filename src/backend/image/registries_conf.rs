//! Registry configuration in the containers-registries.conf(5) version 2 format: the main
//! file (by default `/etc/containers/registries.conf`) and drop-ins `<file>.d/*.conf` read
//! after it in name order. A drop-in's `[[registry]]` replaces an earlier one with the same
//! prefix, its `unqualified-search-registries` replaces the earlier list, and `[aliases]`
//! merge.
//!
//! For a pull, [`RegistriesConf::endpoints`] turns a fully qualified repository into the
//! places to try, in order: mirrors first, then the (possibly rewritten) location. A blocked
//! registry is refused; there is no fallback past the rewritten location.

use super::ShortNames;
use super::failure::Failure;
use crate::error::ErrorKind;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The default main file.
pub const DEFAULT_PATH: &str = "/etc/containers/registries.conf";

/// When mirrors are used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum PullFromMirror {
    /// For every pull.
    #[default]
    All,
    /// Only for pulls by digest.
    DigestOnly,
    /// Only for pulls by tag.
    TagOnly,
}

/// One `[[registry.mirror]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Mirror {
    /// `host[:port][/path]`.
    pub location: String,
    /// Plain HTTP (or unverified TLS).
    #[serde(default)]
    pub insecure: bool,
    /// When this mirror is used.
    #[serde(default)]
    pub pull_from_mirror: Option<PullFromMirror>,
}

/// One `[[registry]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Registry {
    /// The references this applies to: `host[/path]` or `*.domain`. Defaults to `location`.
    #[serde(default)]
    pub prefix: String,
    /// Where to pull from instead of the prefix (a rewrite); defaults to the prefix.
    #[serde(default)]
    pub location: String,
    /// Plain HTTP (or unverified TLS).
    #[serde(default)]
    pub insecure: bool,
    /// Pulls are refused.
    #[serde(default)]
    pub blocked: bool,
    /// Mirrors only for pulls by digest (older spelling of `pull-from-mirror`).
    #[serde(default)]
    pub mirror_by_digest_only: bool,
    /// Mirrors, tried in order before the location.
    #[serde(default)]
    pub mirror: Vec<Mirror>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct File {
    #[serde(default)]
    unqualified_search_registries: Option<Vec<String>>,
    #[serde(default)]
    short_name_mode: Option<String>,
    #[serde(default)]
    credential_helpers: Option<Vec<String>>,
    #[serde(default)]
    registry: Vec<Registry>,
    #[serde(default)]
    aliases: BTreeMap<String, String>,
}

/// The merged configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistriesConf {
    /// Registries tried, in order, for a short name; `None` when no file sets the list
    /// (Docker's `docker.io` then applies), `Some(empty)` when one sets it empty.
    pub unqualified_search_registries: Option<Vec<String>>,
    /// Short name → fully qualified repository.
    pub aliases: BTreeMap<String, String>,
    /// Registry entries.
    pub registries: Vec<Registry>,
}

/// One place to pull a repository from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `host[:port]`.
    pub registry: String,
    /// Repository path on that registry.
    pub repository: String,
    /// Plain HTTP.
    pub insecure: bool,
    /// A mirror (failures fall through to the next endpoint).
    pub mirror: bool,
}

/// A configuration problem, naming the file and key.
fn conf_error(file: &Path, message: impl std::fmt::Display) -> Failure {
    Failure::Other(
        ErrorKind::InvalidArgument,
        format!("registries config {}: {message}", file.display()),
    )
}

impl RegistriesConf {
    /// Reads `file` (absent is fine) and its drop-ins `<file>.d/*.conf`.
    pub fn load(file: &Path) -> Result<RegistriesConf, Failure> {
        let mut conf = RegistriesConf::default();
        let mut files = Vec::new();
        if file.exists() {
            files.push(file.to_path_buf());
        }
        let mut dropins = PathBuf::from(file.as_os_str());
        dropins.as_mut_os_string().push(".d");
        if let Ok(listing) = std::fs::read_dir(&dropins) {
            let mut more: Vec<PathBuf> = listing
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "conf"))
                .collect();
            more.sort();
            files.extend(more);
        }
        for path in files {
            let text = std::fs::read_to_string(&path).map_err(|e| conf_error(&path, e))?;
            conf.merge(&path, &text)?;
        }
        Ok(conf)
    }

    /// Merges the text of one file, named `path` in errors.
    pub fn merge(&mut self, path: &Path, text: &str) -> Result<(), Failure> {
        let file: File = toml::from_str(text).map_err(|e| conf_error(path, e))?;
        let _ = (&file.short_name_mode, &file.credential_helpers);
        if let Some(list) = file.unqualified_search_registries {
            self.unqualified_search_registries = Some(list);
        }
        self.aliases.extend(file.aliases);
        for (i, mut registry) in file.registry.into_iter().enumerate() {
            if registry.prefix.is_empty() {
                registry.prefix = registry.location.clone();
            }
            if registry.location.is_empty() {
                registry.location = registry.prefix.clone();
            }
            if registry.prefix.is_empty() {
                return Err(conf_error(
                    path,
                    format!("registry[{i}]: needs prefix or location"),
                ));
            }
            if registry.prefix.starts_with("*.") && registry.location != registry.prefix {
                // A wildcard prefix cannot be rewritten (there is no single host to rewrite).
                if registry.location.starts_with("*.") {
                    registry.location = registry.prefix.clone();
                } else {
                    return Err(conf_error(
                        path,
                        format!(
                            "registry[{i}].location: a wildcard prefix {:?} cannot have a location",
                            registry.prefix
                        ),
                    ));
                }
            }
            for (j, mirror) in registry.mirror.iter().enumerate() {
                if mirror.location.is_empty() {
                    return Err(conf_error(
                        path,
                        format!("registry[{i}].mirror[{j}].location: must not be empty"),
                    ));
                }
            }
            self.registries.retain(|r| r.prefix != registry.prefix);
            self.registries.push(registry);
        }
        Ok(())
    }

    /// How short names resolve under this configuration.
    pub fn short_names(&self) -> ShortNames {
        let defaults = ShortNames::default();
        ShortNames {
            search_registries: self
                .unqualified_search_registries
                .clone()
                .unwrap_or(defaults.search_registries),
            aliases: self.aliases.clone(),
        }
    }

    /// The entry whose prefix matches `repo` (`host/path`) longest.
    pub fn find(&self, repo: &str) -> Option<&Registry> {
        self.registries
            .iter()
            .filter(|r| prefix_matches(&r.prefix, repo))
            .max_by_key(|r| {
                if r.prefix.starts_with("*.") {
                    0
                } else {
                    r.prefix.len()
                }
            })
    }

    /// Where to pull `repo` (`host/path`, no tag or digest) from, in order. `by_digest` says
    /// whether the pull names a digest (for `pull-from-mirror`).
    pub fn endpoints(&self, repo: &str, by_digest: bool) -> Result<Vec<Endpoint>, Failure> {
        let Some(entry) = self.find(repo) else {
            return Ok(vec![split(repo, false, false)]);
        };
        if entry.blocked {
            return Err(Failure::Other(
                ErrorKind::FailedPrecondition,
                format!(
                    "registry {} is blocked by the registries configuration (prefix {:?})",
                    host_of(repo),
                    entry.prefix
                ),
            ));
        }
        let rest = if entry.prefix.starts_with("*.") {
            ""
        } else {
            &repo[entry.prefix.len()..]
        };
        let mut out = Vec::new();
        for mirror in &entry.mirror {
            let when = mirror
                .pull_from_mirror
                .unwrap_or(if entry.mirror_by_digest_only {
                    PullFromMirror::DigestOnly
                } else {
                    PullFromMirror::All
                });
            let wanted = match when {
                PullFromMirror::All => true,
                PullFromMirror::DigestOnly => by_digest,
                PullFromMirror::TagOnly => !by_digest,
            };
            if wanted {
                out.push(split(
                    &format!("{}{rest}", mirror.location),
                    mirror.insecure,
                    true,
                ));
            }
        }
        let location = if entry.prefix.starts_with("*.") {
            repo.to_string()
        } else {
            format!("{}{rest}", entry.location)
        };
        out.push(split(&location, entry.insecure, false));
        Ok(out)
    }
}

fn host_of(repo: &str) -> &str {
    repo.split('/').next().unwrap_or(repo)
}

fn split(location: &str, insecure: bool, mirror: bool) -> Endpoint {
    let (registry, repository) = location.split_once('/').unwrap_or((location, ""));
    Endpoint {
        registry: registry.to_string(),
        repository: repository.to_string(),
        insecure,
        mirror,
    }
}

/// Whether `prefix` covers `repo`: equal, or followed by `/`; `*.domain` covers any host
/// under domain.
fn prefix_matches(prefix: &str, repo: &str) -> bool {
    if let Some(domain) = prefix.strip_prefix("*.") {
        let host = host_of(repo);
        return host.ends_with(&format!(".{domain}"));
    }
    repo == prefix || (repo.starts_with(prefix) && repo[prefix.len()..].starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(text: &str) -> RegistriesConf {
        let mut conf = RegistriesConf::default();
        conf.merge(Path::new("test.conf"), text).unwrap();
        conf
    }

    #[test]
    fn short_names_default_to_docker_hub_until_a_file_sets_the_list() {
        assert_eq!(conf("").short_names(), ShortNames::default());
        let mut merged = conf(
            r#"
            unqualified-search-registries = ["quay.io", "docker.io"]
            [aliases]
            "tool" = "quay.io/team/tool"
            "#,
        );
        merged
            .merge(
                Path::new("drop-in.conf"),
                "unqualified-search-registries = []\n[aliases]\n\"other\" = \"example.com/other\"\n",
            )
            .unwrap();
        let short = merged.short_names();
        assert!(short.search_registries.is_empty(), "{short:?}");
        assert_eq!(
            short.aliases.keys().collect::<Vec<_>>(),
            vec!["other", "tool"]
        );
    }

    #[test]
    fn mirrors_come_first_then_the_rewritten_location() {
        let conf = conf(
            r#"
            unqualified-search-registries = ["docker.io"]
            [[registry]]
            prefix = "registry.k8s.io"
            location = "127.0.0.1:5000/k8s"
            insecure = true
            [[registry.mirror]]
            location = "mirror.local/k8s"
            [aliases]
            "pause" = "registry.k8s.io/pause"
            "#,
        );
        let eps = conf.endpoints("registry.k8s.io/pause", false).unwrap();
        assert_eq!(eps.len(), 2);
        assert_eq!(
            (
                eps[0].registry.as_str(),
                eps[0].repository.as_str(),
                eps[0].mirror
            ),
            ("mirror.local", "k8s/pause", true)
        );
        assert_eq!(
            (
                eps[1].registry.as_str(),
                eps[1].repository.as_str(),
                eps[1].insecure
            ),
            ("127.0.0.1:5000", "k8s/pause", true)
        );
        assert_eq!(conf.aliases["pause"], "registry.k8s.io/pause");
        assert!(
            conf.endpoints("registry.k8s.iox/pause", false).unwrap()[0].registry
                == "registry.k8s.iox"
        );
    }

    #[test]
    fn blocked_and_digest_only_mirrors() {
        let conf = conf(
            r#"
            [[registry]]
            location = "bad.example"
            blocked = true
            [[registry]]
            prefix = "*.example.org"
            mirror-by-digest-only = true
            [[registry.mirror]]
            location = "m.local"
            "#,
        );
        let err = conf.endpoints("bad.example/x", false).unwrap_err();
        assert!(err.message().contains("blocked"), "{err:?}");
        assert_eq!(conf.endpoints("a.example.org/x", false).unwrap().len(), 1);
        assert_eq!(
            conf.endpoints("a.example.org/x", true).unwrap()[0].registry,
            "m.local"
        );
    }

    #[test]
    fn unknown_keys_name_file_and_key() {
        let mut conf = RegistriesConf::default();
        let err = conf
            .merge(
                Path::new("/etc/x.conf"),
                "[[registry]]\nlocation = \"a\"\ninsecur = true\n",
            )
            .unwrap_err();
        assert!(
            err.message().contains("/etc/x.conf") && err.message().contains("insecur"),
            "{err:?}"
        );
    }
}
