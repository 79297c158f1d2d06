//! The daemon's configuration: a TOML file (and `*.toml` drop-ins beside it) with one table per
//! subsystem, unknown keys refused, validated by a pure function.
//!
//! ```toml
//! [server]
//! socket = "/run/crius/crius.sock"
//!
//! [runtime]
//! state_dir = "/var/lib/crius"
//! handlers = ["runc", "crun"]
//! ```

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The CRI server.
    pub server: ServerConfig,
    /// The core.
    pub runtime: RuntimeConfig,
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
    /// Where metadata is persisted.
    pub state_dir: PathBuf,
    /// Runtime handlers (RuntimeClass names) besides the default.
    pub handlers: Vec<String>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            state_dir: PathBuf::from("/var/lib/crius"),
            handlers: vec!["runc".to_string()],
        }
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
            let table: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError::Parse {
                path: file.clone(),
                message: e.to_string(),
            })?;
            for (key, value) in table {
                match (merged.get_mut(&key), value) {
                    (Some(toml::Value::Table(existing)), toml::Value::Table(new)) => existing.extend(new),
                    (_, value) => {
                        merged.insert(key, value);
                    }
                }
            }
        }
        let config: Config = toml::Value::Table(merged).try_into().map_err(|e: toml::de::Error| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks values no type can express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.server.socket.is_absolute() {
            return Err(ConfigError::Invalid(format!(
                "server.socket {} must be an absolute path",
                self.server.socket.display()
            )));
        }
        if self.runtime.handlers.iter().any(|h| h.is_empty()) {
            return Err(ConfigError::Invalid("runtime.handlers must not contain an empty name".into()));
        }
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
        std::fs::write(dir.path().join("crius.toml.d/10-handlers.toml"), "[runtime]\nhandlers = [\"crun\"]\n").unwrap();
        let config = Config::load(&main).unwrap();
        assert_eq!(config.server.socket, PathBuf::from("/run/a.sock"));
        assert_eq!(config.runtime.handlers, vec!["crun".to_string()]);
        std::fs::write(&main, "[server]\nsockt = \"/x\"\n").unwrap();
        let err = Config::load(&main).unwrap_err().to_string();
        assert!(err.contains("sockt"), "{err}");
    }

    #[test]
    fn relative_socket_is_invalid() {
        let mut config = Config::default();
        config.server.socket = PathBuf::from("crius.sock");
        assert!(config.validate().is_err());
    }
}
