//! Network configuration lists: the first usable file of the configuration directory.
//!
//! Files are taken in name order (`10-bridge.conflist` before `20-other.conf`), as kubelet's
//! other runtimes do. A `.conflist` is a list; a single `.conf` or `.json` plugin configuration
//! is upgraded to a list of one. Unparsable files are skipped and reported.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// The placeholder a conflist may use for the node's pod CIDR (from kubelet's
/// `UpdateRuntimeConfig`); such a file is used only once the CIDR is known.
pub const POD_CIDR_PLACEHOLDER: &str = "{{podCIDR}}";

/// One network configuration list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfList {
    /// Network name.
    pub name: String,
    /// CNI version of the list, given to every plugin.
    pub cni_version: String,
    /// Whether CHECK is disabled for this network.
    pub disable_check: bool,
    /// Plugin configurations, in order.
    pub plugins: Vec<Map<String, Value>>,
    /// The file it came from.
    pub source: PathBuf,
}

impl ConfList {
    /// Parses a conflist (or, with `single`, one plugin configuration).
    pub fn parse(text: &str, single: bool, source: &Path) -> Result<ConfList, String> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| format!("{}: {e}", source.display()))?;
        let Value::Object(object) = value else {
            return Err(format!("{}: not a JSON object", source.display()));
        };
        let field = |name: &str| object.get(name).and_then(Value::as_str).map(str::to_string);
        let name = field("name").ok_or_else(|| format!("{}: no network name", source.display()))?;
        let cni_version = field("cniVersion").unwrap_or_else(|| "0.2.0".to_string());
        let plugins = if single || !object.contains_key("plugins") {
            vec![object.clone()]
        } else {
            let Some(Value::Array(list)) = object.get("plugins") else {
                return Err(format!("{}: plugins is not a list", source.display()));
            };
            list.iter()
                .map(|p| {
                    p.as_object()
                        .cloned()
                        .ok_or_else(|| format!("{}: a plugin is not an object", source.display()))
                })
                .collect::<Result<Vec<_>, _>>()?
        };
        if plugins.is_empty() {
            return Err(format!("{}: no plugins", source.display()));
        }
        for plugin in &plugins {
            let kind = plugin
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if kind.is_empty() || kind.contains('/') || kind.starts_with('.') {
                return Err(format!(
                    "{}: plugin type {kind:?} is not a plugin name",
                    source.display()
                ));
            }
        }
        Ok(ConfList {
            name,
            cni_version,
            disable_check: object
                .get("disableCheck")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            plugins,
            source: source.to_path_buf(),
        })
    }

    /// The plugin types in order.
    pub fn plugin_types(&self) -> impl Iterator<Item = &str> {
        self.plugins
            .iter()
            .map(|p| p.get("type").and_then(Value::as_str).unwrap_or_default())
    }
}

/// Loads the first usable configuration of `dir`; the error explains why there is none.
pub fn load_dir(dir: &Path, pod_cidr: Option<&str>) -> Result<ConfList, String> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("no network config in {}: {e}", dir.display()))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("conflist" | "conf" | "json")
            ) && path.is_file()
        })
        .collect();
    paths.sort();
    let mut problems = Vec::new();
    for path in paths {
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) => {
                problems.push(format!("{}: {e}", path.display()));
                continue;
            }
        };
        let text = if text.contains(POD_CIDR_PLACEHOLDER) {
            match pod_cidr {
                Some(cidr) => text.replace(POD_CIDR_PLACEHOLDER, cidr),
                None => {
                    problems.push(format!("{}: waits for the pod CIDR", path.display()));
                    continue;
                }
            }
        } else {
            text
        };
        let single = path.extension().and_then(|e| e.to_str()) != Some("conflist");
        match ConfList::parse(&text, single, &path) {
            Ok(list) => return Ok(list),
            Err(problem) => problems.push(problem),
        }
    }
    if problems.is_empty() {
        Err(format!("no network config found in {}", dir.display()))
    } else {
        Err(format!(
            "no usable network config in {}: {}",
            dir.display(),
            problems.join("; ")
        ))
    }
}

/// Compares dotted versions numerically (`0.4.0` < `1.0.0`); unparsable parts count as 0.
pub fn version_at_least(version: &str, minimum: &str) -> bool {
    let parts = |v: &str| {
        v.split('.')
            .map(|p| p.parse::<u32>().unwrap_or(0))
            .collect::<Vec<_>>()
    };
    parts(version) >= parts(minimum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_conf_is_upgraded_to_a_list() {
        let text = r#"{"cniVersion":"0.4.0","name":"n","type":"bridge","bridge":"b0"}"#;
        let list = ConfList::parse(text, true, Path::new("x.conf")).unwrap();
        assert_eq!(list.plugins.len(), 1);
        assert_eq!(list.plugin_types().collect::<Vec<_>>(), ["bridge"]);
        assert_eq!(list.cni_version, "0.4.0");
    }

    #[test]
    fn first_usable_file_in_name_order_wins() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("05-broken.conflist"), "{").unwrap();
        std::fs::write(
            dir.path().join("20-b.conflist"),
            r#"{"cniVersion":"1.0.0","name":"b","plugins":[{"type":"x"}]}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("10-a.conf"),
            r#"{"cniVersion":"1.0.0","name":"a","type":"y"}"#,
        )
        .unwrap();
        std::fs::write(dir.path().join("00-ignored.txt"), "").unwrap();
        assert_eq!(load_dir(dir.path(), None).unwrap().name, "a");
        let empty = tempfile::tempdir().unwrap();
        assert!(
            load_dir(empty.path(), None)
                .unwrap_err()
                .contains("no network config")
        );
    }

    #[test]
    fn pod_cidr_template_waits_for_the_cidr() {
        let dir = tempfile::tempdir().unwrap();
        let text = r#"{"cniVersion":"1.0.0","name":"t","plugins":[{"type":"bridge","ipam":{"subnet":"{{podCIDR}}"}}]}"#;
        std::fs::write(dir.path().join("10-t.conflist"), text).unwrap();
        assert!(load_dir(dir.path(), None).unwrap_err().contains("pod CIDR"));
        let list = load_dir(dir.path(), Some("10.9.0.0/24")).unwrap();
        assert_eq!(list.plugins[0]["ipam"]["subnet"], "10.9.0.0/24");
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(version_at_least("1.0.0", "0.4.0"));
        assert!(version_at_least("0.10.0", "0.4.0"));
        assert!(!version_at_least("0.3.1", "0.4.0"));
    }
}
