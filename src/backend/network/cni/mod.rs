//! [`Cni`]: pod networking by CNI plugins, CNI spec 1.0 (results of 0.4.0, 0.3.x and 0.2.0
//! read too), written here rather than taken from a crate.
//!
//! - The configuration is the first usable file of the configuration directory (see
//!   [`config`]); it is re-read when older than a second, so a conflist written after start is
//!   picked up without a restart, and so is a change.
//! - Every plugin call has a deadline; a plugin that overruns is killed.
//! - Before ADD, the pod's attachment (network config, netns, `CNI_ARGS`, capabilities) is
//!   recorded in `<cache_dir>/<sandbox_id>.json`, and the ADD result added once it succeeds.
//!   Teardown runs DEL from that record (so DEL uses the configuration ADD used, with the ADD
//!   result as `prevResult`, even after a restart or a config change) and then drops it; a pod
//!   without a record was never attached, and its teardown succeeds without calling plugins.
//!   An ADD that fails part-way is undone by a DEL at once; if that DEL fails too, the record
//!   stays and the next teardown retries it. Plugins must tolerate DEL of missing state, as the
//!   spec requires.
//! - `lo` is not a plugin's business: the pod namespace backend brings it up.

mod config;
mod exec;
mod pod_args;
mod result;

pub use config::POD_CIDR_PLACEHOLDER;
pub use pod_args::IPS_ANNOTATION;

use super::{NetworkError, NetworkReadiness, PodAddresses, PodNetwork, PodNetworkRequest};
use crate::error::ErrorKind;
use async_trait::async_trait;
use config::{ConfList, version_at_least};
use exec::{Call, PluginError};
use parking_lot::Mutex;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where [`Cni`] finds its configuration and plugins, and how long it waits for them.
#[derive(Debug, Clone)]
pub struct CniOptions {
    /// Directory of network configuration files (e.g. `/etc/cni/net.d`).
    pub conf_dir: PathBuf,
    /// Directories searched for plugin executables, in order (e.g. `/opt/cni/bin`,
    /// `/usr/lib/cni`).
    pub plugin_dirs: Vec<PathBuf>,
    /// Directory of the per-pod attachment records (e.g. `/var/lib/crius/cni`).
    pub cache_dir: PathBuf,
    /// Deadline of every plugin call.
    pub timeout: Duration,
    /// Name of the pod's interface.
    pub ifname: String,
    /// How old the loaded configuration may get before the directory is read again.
    pub reload_interval: Duration,
}

impl CniOptions {
    /// Options with a 60 s plugin deadline, interface `eth0` and a 1 s reload interval.
    pub fn new(
        conf_dir: impl Into<PathBuf>,
        plugin_dirs: Vec<PathBuf>,
        cache_dir: impl Into<PathBuf>,
    ) -> CniOptions {
        CniOptions {
            conf_dir: conf_dir.into(),
            plugin_dirs,
            cache_dir: cache_dir.into(),
            timeout: Duration::from_secs(60),
            ifname: "eth0".to_string(),
            reload_interval: Duration::from_secs(1),
        }
    }
}

struct Loaded {
    at: Instant,
    pod_cidr: Option<String>,
    network: Result<Arc<ConfList>, String>,
}

/// What a pod was attached with; recorded before ADD, completed with its result.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Attachment {
    network: ConfList,
    netns: Option<PathBuf>,
    ifname: String,
    args: String,
    capabilities: Map<String, Value>,
    result: Option<Value>,
}

/// The CNI pod network.
pub struct Cni {
    options: CniOptions,
    pod_cidr: Mutex<Option<String>>,
    loaded: Mutex<Option<Loaded>>,
}

fn failed(
    sandbox_id: &str,
    operation: &'static str,
    kind: ErrorKind,
    message: impl Into<String>,
) -> NetworkError {
    NetworkError::Failed {
        sandbox_id: sandbox_id.to_string(),
        operation,
        message: message.into(),
        kind,
    }
}

fn plugin_failed(sandbox_id: &str, operation: &'static str, error: PluginError) -> NetworkError {
    let kind = match error {
        PluginError::NotFound(_) => ErrorKind::Unavailable,
        PluginError::Timeout(_) => ErrorKind::DeadlineExceeded,
        PluginError::Failed(_) => ErrorKind::Unknown,
    };
    failed(sandbox_id, operation, kind, error.message())
}

fn usable_id(sandbox_id: &str) -> bool {
    !sandbox_id.is_empty()
        && !sandbox_id.starts_with('.')
        && sandbox_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// The stdin of one plugin: its configuration with the list's name and version, the pod's
/// capabilities it declares, and the previous result.
fn plugin_stdin(
    network: &ConfList,
    plugin: &Map<String, Value>,
    caps: &Map<String, Value>,
    prev: Option<&Value>,
) -> Value {
    let mut conf = plugin.clone();
    conf.insert("name".into(), Value::String(network.name.clone()));
    conf.insert(
        "cniVersion".into(),
        Value::String(network.cni_version.clone()),
    );
    if let Some(runtime) = pod_args::runtime_config(plugin, caps) {
        conf.insert("runtimeConfig".into(), runtime);
    }
    if let Some(prev) = prev {
        conf.insert("prevResult".into(), prev.clone());
    }
    Value::Object(conf)
}

fn plugin_type(plugin: &Map<String, Value>) -> &str {
    plugin
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

impl Cni {
    /// A CNI network configured by `options`.
    pub fn new(options: CniOptions) -> Cni {
        Cni {
            options,
            pod_cidr: Mutex::new(None),
            loaded: Mutex::new(None),
        }
    }

    /// The network configuration in use, re-read when stale; the error says why there is none.
    fn network(&self) -> Result<Arc<ConfList>, String> {
        let pod_cidr = self.pod_cidr.lock().clone();
        let mut loaded = self.loaded.lock();
        if let Some(current) = loaded.as_ref()
            && current.at.elapsed() < self.options.reload_interval
            && current.pod_cidr == pod_cidr
        {
            return current.network.clone();
        }
        let network = config::load_dir(&self.options.conf_dir, pod_cidr.as_deref()).map(Arc::new);
        *loaded = Some(Loaded {
            at: Instant::now(),
            pod_cidr,
            network: network.clone(),
        });
        network
    }

    fn record_path(&self, sandbox_id: &str) -> PathBuf {
        self.options.cache_dir.join(format!("{sandbox_id}.json"))
    }

    fn read_record(&self, sandbox_id: &str) -> Result<Option<Attachment>, String> {
        let path = self.record_path(sandbox_id);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| format!("reading {}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("reading {}: {e}", path.display())),
        }
    }

    fn write_record(&self, sandbox_id: &str, attachment: &Attachment) -> Result<(), String> {
        let path = self.record_path(sandbox_id);
        let temporary = path.with_extension("json.tmp");
        let bytes = serde_json::to_vec(attachment)
            .map_err(|e| format!("encoding {}: {e}", path.display()))?;
        std::fs::create_dir_all(&self.options.cache_dir)
            .and_then(|()| std::fs::write(&temporary, bytes))
            .and_then(|()| std::fs::rename(&temporary, &path))
            .map_err(|e| format!("writing {}: {e}", path.display()))
    }

    fn remove_record(&self, sandbox_id: &str) -> Result<(), String> {
        match std::fs::remove_file(self.record_path(sandbox_id)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(format!(
                "removing {}: {e}",
                self.record_path(sandbox_id).display()
            )),
            _ => Ok(()),
        }
    }

    fn call<'a>(
        &'a self,
        command: &'static str,
        sandbox_id: &'a str,
        attachment: &'a Attachment,
    ) -> Call<'a> {
        Call {
            command,
            container_id: sandbox_id,
            netns: attachment.netns.as_deref(),
            ifname: &attachment.ifname,
            args: &attachment.args,
            plugin_dirs: &self.options.plugin_dirs,
            timeout: self.options.timeout,
        }
    }

    /// ADD through the whole list, each plugin getting the previous one's result.
    async fn add(&self, sandbox_id: &str, attachment: &Attachment) -> Result<Value, PluginError> {
        let call = self.call("ADD", sandbox_id, attachment);
        let mut prev: Option<Value> = None;
        for plugin in &attachment.network.plugins {
            let stdin = plugin_stdin(
                &attachment.network,
                plugin,
                &attachment.capabilities,
                prev.as_ref(),
            );
            let kind = plugin_type(plugin);
            let result = exec::run(kind, &call, &stdin).await?;
            prev = Some(result.ok_or_else(|| {
                PluginError::Failed(format!("CNI ADD of plugin {kind} gave no result"))
            })?);
        }
        prev.ok_or_else(|| PluginError::Failed("the network has no plugins".to_string()))
    }

    /// DEL through the list in reverse; every plugin is tried, the first failure is returned.
    async fn del(&self, sandbox_id: &str, attachment: &Attachment) -> Result<(), PluginError> {
        let call = self.call("DEL", sandbox_id, attachment);
        let prev = attachment
            .result
            .as_ref()
            .filter(|_| version_at_least(&attachment.network.cni_version, "0.4.0"));
        let mut first_error = None;
        for plugin in attachment.network.plugins.iter().rev() {
            let stdin = plugin_stdin(&attachment.network, plugin, &attachment.capabilities, prev);
            if let Err(error) = exec::run(plugin_type(plugin), &call, &stdin).await {
                tracing::warn!(sandbox_id, error = error.message(), "CNI DEL failed");
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// CNI CHECK of an attached pod: whether its networking is still as ADD left it. A pod
    /// that is not attached is NotFound; networks older than 0.4.0 or with `disableCheck`
    /// pass without calling plugins.
    pub async fn check(&self, sandbox_id: &str) -> Result<(), NetworkError> {
        let attachment = self
            .read_record(sandbox_id)
            .map_err(|m| failed(sandbox_id, "check", ErrorKind::Internal, m))?
            .filter(|a| a.result.is_some())
            .ok_or_else(|| {
                failed(
                    sandbox_id,
                    "check",
                    ErrorKind::NotFound,
                    "the pod is not attached",
                )
            })?;
        if attachment.network.disable_check
            || !version_at_least(&attachment.network.cni_version, "0.4.0")
        {
            return Ok(());
        }
        let call = self.call("CHECK", sandbox_id, &attachment);
        for plugin in &attachment.network.plugins {
            let stdin = plugin_stdin(
                &attachment.network,
                plugin,
                &attachment.capabilities,
                attachment.result.as_ref(),
            );
            exec::run(plugin_type(plugin), &call, &stdin)
                .await
                .map_err(|e| plugin_failed(sandbox_id, "check", e))?;
        }
        Ok(())
    }

    /// Why the network cannot set up pods now, if it cannot: no configuration, a missing
    /// plugin, or (CNI ≥ 1.1.0) a plugin whose STATUS fails.
    async fn not_ready_because(&self) -> Option<String> {
        let network = match self.network() {
            Ok(network) => network,
            Err(message) => return Some(format!("cni config uninitialized: {message}")),
        };
        for kind in network.plugin_types() {
            if let Err(error) = exec::find_plugin(kind, &self.options.plugin_dirs) {
                return Some(error.message().to_string());
            }
        }
        if version_at_least(&network.cni_version, "1.1.0") {
            let call = Call {
                command: "STATUS",
                container_id: "",
                netns: None,
                ifname: "",
                args: "",
                plugin_dirs: &self.options.plugin_dirs,
                timeout: self.options.timeout,
            };
            for plugin in &network.plugins {
                let stdin = plugin_stdin(&network, plugin, &Map::new(), None);
                if let Err(error) = exec::run(plugin_type(plugin), &call, &stdin).await {
                    return Some(error.message().to_string());
                }
            }
        }
        None
    }

    /// Undoes a failed ADD; keeps the record for a later teardown when DEL fails too.
    async fn roll_back(&self, sandbox_id: &str, attachment: &Attachment) {
        match self.del(sandbox_id, attachment).await {
            Ok(()) => {
                if let Err(message) = self.remove_record(sandbox_id) {
                    tracing::warn!(sandbox_id, %message, "dropping the CNI record after a failed ADD");
                }
            }
            Err(error) => {
                tracing::warn!(
                    sandbox_id,
                    error = error.message(),
                    "CNI DEL after a failed ADD; teardown will retry"
                );
            }
        }
    }
}

#[async_trait]
impl PodNetwork for Cni {
    async fn readiness(&self) -> NetworkReadiness {
        match self.not_ready_because().await {
            None => NetworkReadiness::Ready,
            Some(message) => NetworkReadiness::NotReady {
                reason: "NetworkPluginNotReady".to_string(),
                message: format!("Network plugin returns error: {message}"),
            },
        }
    }

    async fn setup(&self, pod: PodNetworkRequest<'_>) -> Result<PodAddresses, NetworkError> {
        let id = pod.sandbox_id;
        if !usable_id(id) {
            return Err(failed(
                id,
                "setup",
                ErrorKind::InvalidArgument,
                "the sandbox id is not usable as a file name",
            ));
        }
        let record = self
            .read_record(id)
            .map_err(|m| failed(id, "setup", ErrorKind::Internal, m))?;
        if let Some(result) = record.as_ref().and_then(|r| r.result.as_ref()) {
            return result::addresses(result)
                .map_err(|m| failed(id, "setup", ErrorKind::Internal, m));
        }
        let network = self
            .network()
            .map_err(|message| NetworkError::NotReady { message })?;
        let capabilities = pod_args::capabilities(pod.config)
            .map_err(|m| failed(id, "setup", ErrorKind::InvalidArgument, m))?;
        let mut attachment = Attachment {
            network: (*network).clone(),
            netns: pod.netns.clone(),
            ifname: self.options.ifname.clone(),
            args: pod_args::cni_args(id, pod.config),
            capabilities,
            result: None,
        };
        self.write_record(id, &attachment)
            .map_err(|m| failed(id, "setup", ErrorKind::Internal, m))?;
        let result = match self.add(id, &attachment).await {
            Ok(result) => result,
            Err(error) => {
                self.roll_back(id, &attachment).await;
                return Err(plugin_failed(id, "setup", error));
            }
        };
        let addresses = match result::addresses(&result) {
            Ok(addresses) => addresses,
            Err(message) => {
                attachment.result = Some(result);
                self.roll_back(id, &attachment).await;
                return Err(failed(id, "setup", ErrorKind::Unknown, message));
            }
        };
        attachment.result = Some(result);
        if let Err(message) = self.write_record(id, &attachment) {
            self.roll_back(id, &attachment).await;
            return Err(failed(id, "setup", ErrorKind::Internal, message));
        }
        Ok(addresses)
    }

    async fn teardown(&self, pod: PodNetworkRequest<'_>) -> Result<(), NetworkError> {
        let id = pod.sandbox_id;
        if !usable_id(id) {
            return Ok(());
        }
        let Some(mut attachment) = self
            .read_record(id)
            .map_err(|m| failed(id, "teardown", ErrorKind::Internal, m))?
        else {
            return Ok(());
        };
        if let Some(netns) = pod.netns {
            attachment.netns = Some(netns);
        }
        self.del(id, &attachment)
            .await
            .map_err(|e| plugin_failed(id, "teardown", e))?;
        self.remove_record(id)
            .map_err(|m| failed(id, "teardown", ErrorKind::Internal, m))
    }

    async fn set_pod_cidr(&self, cidr: &str) -> Result<(), NetworkError> {
        let valid = cidr.split_once('/').is_some_and(|(addr, prefix)| {
            addr.parse::<std::net::IpAddr>().is_ok() && prefix.parse::<u8>().is_ok_and(|p| p <= 128)
        });
        if !valid {
            return Err(failed(
                "",
                "set_pod_cidr",
                ErrorKind::InvalidArgument,
                format!("{cidr:?} is not a CIDR"),
            ));
        }
        *self.pod_cidr.lock() = Some(cidr.to_string());
        Ok(())
    }
}

impl std::fmt::Debug for Cni {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cni")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// The conventional plugin directories that exist on this machine: `/opt/cni/bin` (upstream)
/// and `/usr/lib/cni` (Debian's `containernetworking-plugins`).
pub fn default_plugin_dirs() -> Vec<PathBuf> {
    ["/opt/cni/bin", "/usr/lib/cni", "/usr/libexec/cni"]
        .iter()
        .map(PathBuf::from)
        .filter(|dir| Path::new(dir).is_dir())
        .collect()
}
