//! The daemon's configuration: a TOML file (and `*.toml` drop-ins beside it) with one table per
//! subsystem, unknown keys refused, validated by a pure function.
//!
//! ```toml
//! [server]
//! socket = "/run/crius/crius.sock"
//!
//! [runtime]
//! state_dir = "/var/lib/crius"          # metadata, CNI cache; images and rootfs by default
//! run_dir = "/run/crius"                # pod namespaces and files, container state
//! default_handler = "runc"              # the handler of RunPodSandbox's "" runtime handler
//! monitor_path = "/usr/libexec/crius/crius-monitor"  # default: beside the crius binary
//! handlers = { runc = { path = "runc" }, crun = { path = "/usr/bin/crun" } }
//! # or just names, each run from PATH: handlers = ["runc", "crun"]
//!
//! [images]
//! root = "/var/lib/crius/images"
//! registries_conf = "/etc/containers/registries.conf"
//! auth_file = "/run/containers/0/auth.json"   # "" for none
//!
//! [rootfs]
//! root = "/var/lib/crius/rootfs"
//!
//! [network]
//! conf_dir = "/etc/cni/net.d"
//! plugin_dirs = ["/opt/cni/bin", "/usr/lib/cni"]
//! cache_dir = "/var/lib/crius/cni"
//!
//! [cgroups]
//! parent = "/crius"                     # pods whose kubelet config names no parent
//!
//! [streaming]
//! address = "127.0.0.1:0"               # exec/attach/port-forward URLs; port 0: any free port
//! ```
//!
//! Paths left out that live under `state_dir` or `run_dir` follow them: [`Config::load`]
//! fills them in, so `crius config` prints every path the daemon will use.

use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The CRI server.
    pub server: ServerConfig,
    /// The core and the OCI runtime.
    pub runtime: RuntimeConfig,
    /// The image store.
    pub images: ImagesConfig,
    /// Container root filesystems.
    pub rootfs: RootfsConfig,
    /// Pod networking (CNI).
    pub network: NetworkConfig,
    /// Pod cgroups.
    pub cgroups: CgroupsConfig,
    /// The exec, attach and port-forward streaming server.
    pub streaming: StreamingConfig,
}

/// `[server]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Unix socket the CRI is served on.
    pub socket: PathBuf,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            socket: PathBuf::from("/run/crius/crius.sock"),
        }
    }
}

/// `[runtime]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// Where metadata is persisted (and, by default, images, rootfs and the CNI cache).
    pub state_dir: PathBuf,
    /// Where runtime state that must not survive a reboot lives: pinned pod namespaces, the
    /// OCI runtime's container state.
    pub run_dir: PathBuf,
    /// The handler that runs pods asking for the default (`""`) runtime handler.
    pub default_handler: String,
    /// The `crius-monitor` binary (default: beside the `crius` executable).
    pub monitor_path: Option<PathBuf>,
    /// Runtime handlers (RuntimeClass names) and the OCI runtime binary of each.
    #[serde(deserialize_with = "handlers_from_names_or_table")]
    pub handlers: BTreeMap<String, HandlerConfig>,
}

/// `[runtime.handlers.<name>]`: one runtime handler.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandlerConfig {
    /// The OCI runtime binary: an absolute path, or a name looked up in `PATH`.
    pub path: PathBuf,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            state_dir: PathBuf::from("/var/lib/crius"),
            run_dir: PathBuf::from("/run/crius"),
            default_handler: "runc".to_string(),
            monitor_path: None,
            handlers: BTreeMap::from([(
                "runc".to_string(),
                HandlerConfig {
                    path: PathBuf::from("runc"),
                },
            )]),
        }
    }
}

/// Handlers as a table of `name = { path = ... }`, or as a list of names (each run from
/// `PATH` under its own name).
fn handlers_from_names_or_table<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, HandlerConfig>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Handlers {
        Names(Vec<String>),
        Table(BTreeMap<String, HandlerConfig>),
    }
    Ok(match Handlers::deserialize(deserializer)? {
        Handlers::Names(names) => names
            .into_iter()
            .map(|name| {
                let path = PathBuf::from(&name);
                (name, HandlerConfig { path })
            })
            .collect(),
        Handlers::Table(table) => table,
    })
}

/// `[images]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImagesConfig {
    /// Root of the content store (default `<state_dir>/images`).
    pub root: Option<PathBuf>,
    /// registries.conf (drop-ins from `<file>.d/`); a missing file means no rewrites.
    pub registries_conf: PathBuf,
    /// containers-auth.json consulted when a pull carries no credentials; empty for none.
    pub auth_file: PathBuf,
}

impl Default for ImagesConfig {
    fn default() -> Self {
        ImagesConfig {
            root: None,
            registries_conf: PathBuf::from("/etc/containers/registries.conf"),
            auth_file: PathBuf::from("/run/containers/0/auth.json"),
        }
    }
}

/// `[rootfs]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RootfsConfig {
    /// Where containers' writable layers and mounts live (default `<state_dir>/rootfs`).
    pub root: Option<PathBuf>,
}

/// `[network]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkConfig {
    /// CNI network configuration files; the first conflist in name order is used.
    pub conf_dir: PathBuf,
    /// Directories searched for CNI plugins, in order.
    pub plugin_dirs: Vec<PathBuf>,
    /// Per-pod attachment records (default `<state_dir>/cni`).
    pub cache_dir: Option<PathBuf>,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            conf_dir: PathBuf::from("/etc/cni/net.d"),
            plugin_dirs: vec![PathBuf::from("/opt/cni/bin"), PathBuf::from("/usr/lib/cni")],
            cache_dir: None,
        }
    }
}

/// `[cgroups]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CgroupsConfig {
    /// The parent of pod cgroups when kubelet names none.
    pub parent: String,
}

impl Default for CgroupsConfig {
    fn default() -> Self {
        CgroupsConfig {
            parent: "/crius".to_string(),
        }
    }
}

/// `[streaming]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamingConfig {
    /// Address (`ip:port`) the streaming server listens on; port 0 picks a free port. The
    /// server hands out single-use URLs to kubelet, which proxies them: loopback suffices.
    pub address: String,
}

impl Default for StreamingConfig {
    fn default() -> Self {
        StreamingConfig {
            address: crate::streaming::DEFAULT_ADDRESS.to_string(),
        }
    }
}

impl StreamingConfig {
    /// The address as a socket address; Invalid naming `streaming.address` unless it is one.
    pub fn socket_address(&self) -> Result<std::net::SocketAddr, ConfigError> {
        self.address.parse().map_err(|e| {
            ConfigError::Invalid(format!(
                "streaming.address {:?} must be an IP address and port such as \"127.0.0.1:0\": {e}",
                self.address
            ))
        })
    }
}

/// Failures to load or validate the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file could not be read.
    #[error("reading {path}: {message}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A file is not valid TOML for this schema.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A value is not acceptable.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Loads `path`, then every `*.toml` in `<path>.d/` in name order; later files replace the
    /// tables they set. A missing main file means the defaults.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let mut merged = toml::Table::new();
        let mut files = Vec::new();
        if path.exists() {
            files.push(path.to_owned());
        }
        let dropins = PathBuf::from(format!("{}.d", path.display()));
        if let Ok(entries) = std::fs::read_dir(&dropins) {
            let mut extra: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            extra.sort();
            files.extend(extra);
        }
        for file in files {
            let text = std::fs::read_to_string(&file).map_err(|e| ConfigError::Read {
                path: file.clone(),
                message: e.to_string(),
            })?;
            let table: toml::Table =
                text.parse()
                    .map_err(|e: toml::de::Error| ConfigError::Parse {
                        path: file.clone(),
                        message: e.to_string(),
                    })?;
            for (key, value) in table {
                match (merged.get_mut(&key), value) {
                    (Some(toml::Value::Table(existing)), toml::Value::Table(new)) => {
                        existing.extend(new)
                    }
                    (_, value) => {
                        merged.insert(key, value);
                    }
                }
            }
        }
        let config: Config =
            toml::Value::Table(merged)
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::Parse {
                    path: path.to_owned(),
                    message: e.to_string(),
                })?;
        let config = config.with_derived_paths();
        config.validate()?;
        Ok(config)
    }

    /// The configuration with every path left out that follows `state_dir` filled in.
    pub fn with_derived_paths(mut self) -> Config {
        let state = self.runtime.state_dir.clone();
        self.images.root.get_or_insert_with(|| state.join("images"));
        self.rootfs.root.get_or_insert_with(|| state.join("rootfs"));
        self.network
            .cache_dir
            .get_or_insert_with(|| state.join("cni"));
        self
    }

    /// Root of the image content store.
    pub fn images_root(&self) -> PathBuf {
        self.images
            .root
            .clone()
            .unwrap_or_else(|| self.runtime.state_dir.join("images"))
    }

    /// Root of the container root filesystems.
    pub fn rootfs_root(&self) -> PathBuf {
        self.rootfs
            .root
            .clone()
            .unwrap_or_else(|| self.runtime.state_dir.join("rootfs"))
    }

    /// Directory of the CNI attachment records.
    pub fn cni_cache_dir(&self) -> PathBuf {
        self.network
            .cache_dir
            .clone()
            .unwrap_or_else(|| self.runtime.state_dir.join("cni"))
    }

    /// Directory of pinned pod namespaces and pod files.
    pub fn pods_dir(&self) -> PathBuf {
        self.runtime.run_dir.join("pods")
    }

    /// The metadata database.
    pub fn store_path(&self) -> PathBuf {
        self.runtime.state_dir.join("crius.redb")
    }

    /// The `crius-monitor` binary: as configured, else beside the running executable.
    pub fn monitor_path(&self) -> Result<PathBuf, ConfigError> {
        if let Some(path) = &self.runtime.monitor_path {
            return Ok(path.clone());
        }
        let exe = std::env::current_exe().map_err(|e| {
            ConfigError::Invalid(format!(
                "cannot find the crius executable to find crius-monitor beside it: {e}"
            ))
        })?;
        Ok(exe.with_file_name("crius-monitor"))
    }

    /// The registries' auth file, unless disabled with an empty path.
    pub fn auth_file(&self) -> Option<PathBuf> {
        (!self.images.auth_file.as_os_str().is_empty()).then(|| self.images.auth_file.clone())
    }

    /// Checks values no type can express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.server.socket.is_absolute() {
            return Err(ConfigError::Invalid(format!(
                "server.socket {} must be an absolute path",
                self.server.socket.display()
            )));
        }
        let mut absolute = vec![
            ("runtime.state_dir", Some(&self.runtime.state_dir)),
            ("runtime.run_dir", Some(&self.runtime.run_dir)),
            ("images.root", self.images.root.as_ref()),
            ("images.registries_conf", Some(&self.images.registries_conf)),
            ("runtime.monitor_path", self.runtime.monitor_path.as_ref()),
            ("rootfs.root", self.rootfs.root.as_ref()),
            ("network.conf_dir", Some(&self.network.conf_dir)),
            ("network.cache_dir", self.network.cache_dir.as_ref()),
        ];
        if !self.images.auth_file.as_os_str().is_empty() {
            absolute.push(("images.auth_file", Some(&self.images.auth_file)));
        }
        for (name, path) in absolute {
            if let Some(path) = path
                && !path.is_absolute()
            {
                return Err(ConfigError::Invalid(format!(
                    "{name} {} must be an absolute path",
                    path.display()
                )));
            }
        }
        if let Some(dir) = self.network.plugin_dirs.iter().find(|d| !d.is_absolute()) {
            return Err(ConfigError::Invalid(format!(
                "network.plugin_dirs entry {} must be an absolute path",
                dir.display()
            )));
        }
        if self.runtime.handlers.keys().any(|h| h.is_empty()) {
            return Err(ConfigError::Invalid(
                "runtime.handlers must not contain an empty name".into(),
            ));
        }
        if let Some((name, _)) = self
            .runtime
            .handlers
            .iter()
            .find(|(_, h)| h.path.as_os_str().is_empty())
        {
            return Err(ConfigError::Invalid(format!(
                "runtime.handlers.{name}.path must not be empty"
            )));
        }
        if !self
            .runtime
            .handlers
            .contains_key(&self.runtime.default_handler)
        {
            return Err(ConfigError::Invalid(format!(
                "runtime.default_handler {:?} is not one of runtime.handlers ({:?})",
                self.runtime.default_handler,
                self.runtime.handlers.keys().collect::<Vec<_>>()
            )));
        }
        let parent = self.cgroups.parent.trim_matches('/');
        if !self.cgroups.parent.starts_with('/')
            || parent.is_empty()
            || parent
                .split('/')
                .any(|p| p.is_empty() || p == "." || p == "..")
        {
            return Err(ConfigError::Invalid(format!(
                "cgroups.parent {:?} must be an absolute cgroup path such as \"/crius\"",
                self.cgroups.parent
            )));
        }
        self.streaming.socket_address()?;
        Ok(())
    }

    /// The configuration as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropins_override_tables_and_unknown_keys_fail() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("crius.toml");
        std::fs::write(&main, "[server]\nsocket = \"/run/a.sock\"\n").unwrap();
        std::fs::create_dir(dir.path().join("crius.toml.d")).unwrap();
        std::fs::write(
            dir.path().join("crius.toml.d/10-handlers.toml"),
            "[runtime]\nhandlers = [\"crun\"]\ndefault_handler = \"crun\"\n",
        )
        .unwrap();
        let config = Config::load(&main).unwrap();
        assert_eq!(config.server.socket, PathBuf::from("/run/a.sock"));
        assert_eq!(config.runtime.handlers.keys().collect::<Vec<_>>(), ["crun"]);
        assert_eq!(config.runtime.handlers["crun"].path, PathBuf::from("crun"));
        std::fs::write(&main, "[server]\nsockt = \"/x\"\n").unwrap();
        let err = Config::load(&main).unwrap_err().to_string();
        assert!(err.contains("sockt"), "{err}");
    }

    #[test]
    fn streaming_address_is_loaded_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("crius.toml");
        std::fs::write(&main, "[streaming]\naddress = \"[::1]:10010\"\n").unwrap();
        let config = Config::load(&main).unwrap();
        assert_eq!(
            config.streaming.socket_address().unwrap(),
            "[::1]:10010".parse().unwrap()
        );
        std::fs::write(&main, "[streaming]\naddress = \"nowhere\"\n").unwrap();
        let err = Config::load(&main).unwrap_err().to_string();
        assert!(err.contains("streaming.address"), "{err}");
    }

    #[test]
    fn relative_socket_is_invalid() {
        let mut config = Config::default();
        config.server.socket = PathBuf::from("crius.sock");
        assert!(config.validate().is_err());
    }

    #[test]
    fn derived_paths_follow_state_dir_and_print_as_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("crius.toml");
        std::fs::write(
            &main,
            "[runtime]\nstate_dir = \"/srv/crius\"\n[runtime.handlers.runc]\npath = \"/usr/sbin/runc\"\n\
             [network]\nplugin_dirs = [\"/usr/lib/cni\"]\ncache_dir = \"/srv/cni\"\n[images]\nauth_file = \"\"\n",
        )
        .unwrap();
        let config = Config::load(&main).unwrap();
        assert_eq!(config.images_root(), PathBuf::from("/srv/crius/images"));
        assert_eq!(config.rootfs_root(), PathBuf::from("/srv/crius/rootfs"));
        assert_eq!(config.cni_cache_dir(), PathBuf::from("/srv/cni"));
        assert_eq!(config.store_path(), PathBuf::from("/srv/crius/crius.redb"));
        assert_eq!(config.pods_dir(), PathBuf::from("/run/crius/pods"));
        assert_eq!(config.auth_file(), None);
        assert_eq!(
            config.runtime.handlers["runc"].path,
            PathBuf::from("/usr/sbin/runc")
        );
        assert_eq!(config.cgroups.parent, "/crius");
        assert_eq!(
            config.streaming.socket_address().unwrap(),
            "127.0.0.1:0".parse().unwrap()
        );
        // What `crius config` prints loads back to the same configuration.
        let printed = config.to_toml();
        assert!(
            printed.contains("[images]") && printed.contains("/srv/crius/images"),
            "{printed}"
        );
        std::fs::write(&main, &printed).unwrap();
        assert_eq!(Config::load(&main).unwrap(), config);
        assert_eq!(
            Config::default().with_derived_paths().images_root(),
            PathBuf::from("/var/lib/crius/images")
        );
    }

    #[test]
    fn invalid_values_are_named() {
        type Change = fn(&mut Config);
        let cases: Vec<(Change, &str)> = vec![
            (
                |c| c.runtime.run_dir = PathBuf::from("run"),
                "runtime.run_dir",
            ),
            (
                |c| c.images.root = Some(PathBuf::from("img")),
                "images.root",
            ),
            (
                |c| c.network.plugin_dirs = vec![PathBuf::from("bin")],
                "network.plugin_dirs",
            ),
            (
                |c| c.runtime.default_handler = "crun".into(),
                "runtime.default_handler",
            ),
            (
                |c| {
                    c.runtime.handlers.get_mut("runc").unwrap().path = PathBuf::new();
                },
                "runtime.handlers.runc.path",
            ),
            (|c| c.cgroups.parent = "crius".into(), "cgroups.parent"),
            (|c| c.cgroups.parent = "/a/../b".into(), "cgroups.parent"),
            (
                |c| c.streaming.address = "localhost:10010".into(),
                "streaming.address",
            ),
            (
                |c| c.streaming.address = "127.0.0.1".into(),
                "streaming.address",
            ),
        ];
        assert!(Config::default().validate().is_ok());
        for (change, name) in cases {
            let mut config = Config::default();
            change(&mut config);
            let err = config.validate().unwrap_err().to_string();
            assert!(err.contains(name), "{err} should name {name}");
        }
    }
}
