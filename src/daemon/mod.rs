//! `crius serve`: the CRI over the Linux backends.
//!
//! [`serve`] builds the backends from the configuration (`backends`), opens the metadata store
//! under `state_dir`, reads back what it holds ([`Runtime::recover`]), follows container exits,
//! makes the daemon the reaper of its descendants' orphans (`reaper`), starts the exec, attach
//! and port-forward streaming server on `[streaming] address` and serves the CRI on the
//! configured socket until SIGTERM or SIGINT. Containers and pods outlive the daemon: a
//! restart finds them again through the store.

mod backends;
mod cgroup_parent;
pub mod reaper;

pub use backends::linux_backends;
pub use cgroup_parent::WithDefaultParent;

use crate::config::Config;
use crate::runtime::{Runtime, RuntimeSettings};
use crate::server::{CriServer, Identity};
use crate::store::Store;
use crate::streaming::StreamingServer;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::sync::Arc;

/// Serves the CRI with the Linux backends until `shutdown` completes.
pub async fn serve(
    config: &Config,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), String> {
    reaper::become_subreaper()?;
    for dir in [&config.runtime.state_dir, &config.runtime.run_dir] {
        private_dir(dir)?;
    }
    let backends = linux_backends(config)?;
    let store = Store::open(&config.store_path()).map_err(|e| e.to_string())?;
    // The OCI runtime runs every container with the default handler's binary (a container
    // create does not say which handler its pod asked for), so only that one is offered.
    let handlers = vec![config.runtime.default_handler.clone()];
    for ignored in config
        .runtime
        .handlers
        .keys()
        .filter(|h| !handlers.contains(h))
    {
        tracing::warn!(
            handler = %ignored,
            "runtime handler configured but not offered: crius runs one OCI runtime, the default handler's"
        );
    }
    let settings = RuntimeSettings {
        runtime_handlers: handlers.clone(),
        ..RuntimeSettings::default()
    };
    let core = Arc::new(Runtime::new(backends, settings, Some(store)));
    core.recover()
        .await
        .map_err(|e| format!("recovering from the store: {e}"))?;
    let _exit_watcher = core.spawn_exit_watcher();
    let _reaper = reaper::spawn_orphan_reaper()?;
    let info = serde_json::json!({
        "backend": "linux",
        "stateDir": config.runtime.state_dir,
        "runDir": config.runtime.run_dir,
        "defaultHandler": config.runtime.default_handler,
        "cniConfDir": config.network.conf_dir,
    })
    .to_string();
    let mut handlers_with_default = vec![String::new()];
    handlers_with_default.extend(handlers);
    let address = config
        .streaming
        .socket_address()
        .map_err(|e| e.to_string())?;
    let streaming = StreamingServer::bind(core.clone(), address)
        .await
        .map_err(|e| format!("streaming.address {address}: {e}"))?;
    let streams = streaming.clone();
    let streaming_task = tokio::spawn(async move { streams.serve(std::future::pending()).await });
    let server = CriServer::new(core, Identity::crius(handlers_with_default, info))
        .with_streaming(streaming);
    let served = server
        .serve(&config.server.socket, shutdown)
        .await
        .map_err(|e| e.to_string());
    streaming_task.abort();
    served
}

/// Creates `dir` (mode 0700 when new).
fn private_dir(dir: &Path) -> Result<(), String> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("creating {}: {e}", dir.display()))
}
