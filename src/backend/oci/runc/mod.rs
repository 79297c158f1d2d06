//! [`Runc`]: [`OciRuntime`] with an OCI runtime binary (runc, or crun as a named handler) and
//! one `crius-monitor` per container.
//!
//! # State directory
//!
//! `<state_dir>/containers/<id>/` holds the bundle (`config.json`; the rootfs is the prepared
//! path of the request), `container.pid`, `monitor.pid`, the monitor's control socket `ctl`,
//! `monitor.log`, `runtime.log`, and `exit` once the container ended. The runtime's own state
//! is under `<state_dir>/runtime` (`--root`) unless configured. Nothing else is kept in memory
//! that the directory does not hold, so a new `Runc` over the same directory after a daemon
//! restart finds its containers, running or exited, and watches those still running.
//!
//! Every runtime call has a deadline ([`RuncConfig::timeout`]). A tty container runs with
//! pipes for now (the monitor has no pty yet).

mod command;
mod config;
mod exec;
mod monitor_client;
mod streams;
mod watch;

pub use config::RuncConfig;
pub use streams::RuncStreams;

use super::spec::{self, Extras, SpecEnv};
use super::{
    CreateContainer, ExecOutput, ExitNotice, ExitStatus, OciError, OciRuntime, ProcessState,
};
use crate::error::ErrorKind;
use crate::model::{LinuxResources, NamespaceMode};
use crate::monitor::{ExitRecord, MonitorArgs};
use async_trait::async_trait;
use command::{RuntimeCli, failed, process_alive};
use monitor_client::{ContainerDir, Launch};
use parking_lot::Mutex;
use std::collections::HashSet;
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// How long a container has to end after SIGKILL before `stop` gives up.
const KILL_GRACE: Duration = Duration::from_secs(10);
/// How long `state` waits for the monitor's exit record once the runtime says "stopped".
const EXIT_RECORD_WAIT: Duration = Duration::from_secs(3);

struct Inner {
    config: RuncConfig,
    cli: RuntimeCli,
    spec_env: SpecEnv,
    exits: broadcast::Sender<ExitNotice>,
    /// Containers whose exit has not been announced yet.
    watched: Mutex<HashSet<String>>,
    /// Numbers the pid files of concurrent execs.
    exec_serial: std::sync::atomic::AtomicU64,
}

impl Inner {
    fn dir(&self, id: &str) -> ContainerDir {
        ContainerDir {
            dir: self.config.state_dir.join("containers").join(id),
        }
    }
}

/// Containers run by an OCI runtime binary, each under its own `crius-monitor`.
pub struct Runc {
    inner: Arc<Inner>,
    watcher: tokio::task::JoinHandle<()>,
}

impl Drop for Runc {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}

fn to_status(record: ExitRecord) -> ExitStatus {
    ExitStatus {
        exit_code: record.exit_code,
        finished_at: record.finished_at,
        oom_killed: record.oom_killed,
    }
}

fn check_id(id: &str) -> Result<(), OciError> {
    let valid = !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if valid {
        Ok(())
    } else {
        Err(OciError::Failed {
            id: id.to_string(),
            operation: "create",
            message: "the id is not usable as a runtime container id".to_string(),
            kind: ErrorKind::InvalidArgument,
        })
    }
}

fn args(items: &[&str]) -> Vec<OsString> {
    items.iter().map(OsString::from).collect()
}

impl Runc {
    /// A runtime over `config.state_dir`, watching the containers found there still running.
    /// Must be called inside a tokio runtime (it starts the exit watcher).
    pub fn new(config: RuncConfig) -> Result<Runc, OciError> {
        let setup = |message: String| failed("-", "start the runtime", message);
        let spec_env = match config.spec_env.clone() {
            Some(env) => env,
            None => SpecEnv::detect().map_err(setup)?,
        };
        let spec_env = SpecEnv {
            pids_limit: spec_env.pids_limit.or(config.pids_limit),
            ..spec_env
        };
        let containers = config.state_dir.join("containers");
        std::fs::create_dir_all(&containers)
            .map_err(|e| setup(format!("creating {}: {e}", containers.display())))?;
        let root = config
            .runtime_root
            .clone()
            .unwrap_or_else(|| config.state_dir.join("runtime"));
        let cli = RuntimeCli {
            path: config.runtime_path.clone(),
            root,
            timeout: config.timeout,
        };
        let (exits, _) = broadcast::channel(1024);
        let inner = Arc::new(Inner {
            config,
            cli,
            spec_env,
            exits,
            watched: Mutex::new(HashSet::new()),
            exec_serial: std::sync::atomic::AtomicU64::new(0),
        });
        for entry in std::fs::read_dir(&containers)
            .into_iter()
            .flatten()
            .flatten()
        {
            let id = entry.file_name().to_string_lossy().into_owned();
            if inner.dir(&id).exit_record().is_none() && inner.dir(&id).config().exists() {
                inner.watched.lock().insert(id);
            }
        }
        let watcher = tokio::spawn(watch::watch_exits(Arc::downgrade(&inner)));
        Ok(Runc { inner, watcher })
    }

    /// The configuration in use.
    pub fn config(&self) -> &RuncConfig {
        &self.inner.config
    }

    fn dir(&self, id: &str) -> ContainerDir {
        self.inner.dir(id)
    }

    fn known(&self, id: &str) -> Result<ContainerDir, OciError> {
        let dir = self.dir(id);
        if check_id(id).is_ok() && dir.dir.is_dir() {
            Ok(dir)
        } else {
            Err(OciError::NotFound { id: id.to_string() })
        }
    }

    /// Waits up to `limit` for the exit record.
    async fn wait_exit(&self, dir: &ContainerDir, limit: Duration) -> Option<ExitRecord> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(record) = dir.exit_record() {
                return Some(record);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The status the runtime reports, with the container's pid.
    async fn runtime_state(&self, id: &str) -> Result<(String, u32), OciError> {
        let output = self
            .inner
            .cli
            .run(id, "state", &args(&["state", id]), None)
            .await?;
        let value: serde_json::Value = serde_json::from_slice(&output.stdout)
            .map_err(|e| failed(id, "state", format!("reading the runtime's state: {e}")))?;
        let status = value
            .get("status")
            .and_then(|s| s.as_str())
            .unwrap_or("unknown")
            .to_string();
        let pid = value.get("pid").and_then(|p| p.as_u64()).unwrap_or(0) as u32;
        Ok((status, pid))
    }

    async fn create_spec(
        &self,
        request: &CreateContainer,
    ) -> Result<oci_spec::runtime::Spec, OciError> {
        let options = &request.config.linux.security.namespace_options;
        let mut extras = Extras::default();
        if options.pid == NamespaceMode::Target {
            let pid =
                std::fs::read_to_string(self.dir(&options.target_id).pid()).unwrap_or_default();
            extras.target_pid_ns = pid
                .trim()
                .parse::<u32>()
                .ok()
                .map(|pid| PathBuf::from(format!("/proc/{pid}/ns/pid")));
        }
        let env = self.inner.spec_env.clone();
        let id = request.id.clone();
        let request = request.clone();
        let built = tokio::task::spawn_blocking(move || spec::build(&request, &env, &extras)).await;
        let mut spec = match built {
            Ok(Ok(spec)) => spec,
            Ok(Err(e)) => {
                return Err(OciError::Failed {
                    id,
                    operation: "create",
                    message: e.message,
                    kind: e.kind,
                });
            }
            Err(e) => return Err(failed(&id, "create", format!("building the spec: {e}"))),
        };
        if let Some(process) = spec.process_mut()
            && process.terminal() == Some(true)
        {
            tracing::warn!("tty requested: the container gets pipes (no pty support yet)");
            process.set_terminal(Some(false));
        }
        Ok(spec)
    }

    async fn create_inner(
        &self,
        request: &CreateContainer,
        dir: &ContainerDir,
    ) -> Result<(), OciError> {
        let id = &request.id;
        let spec = self.create_spec(request).await?;
        let json = serde_json::to_vec_pretty(&spec)
            .map_err(|e| failed(id, "create", format!("writing the spec: {e}")))?;
        std::fs::write(dir.config(), json).map_err(|e| {
            failed(
                id,
                "create",
                format!("writing {}: {e}", dir.config().display()),
            )
        })?;
        if let Some(parent) = request.log_path.as_ref().and_then(|p| p.parent()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                failed(
                    id,
                    "create",
                    format!("creating the log directory {}: {e}", parent.display()),
                )
            })?;
        }
        let config = &self.inner.config;
        let monitor_args = MonitorArgs {
            id: id.clone(),
            bundle: dir.dir.clone(),
            runtime: config.runtime_path.clone(),
            runtime_root: Some(self.inner.cli.root.clone()),
            pid_file: dir.pid(),
            exit_file: dir.exit(),
            ctl: dir.ctl(),
            monitor_pid_file: dir.monitor_pid(),
            log: request.log_path.clone(),
            stdin: request.config.stdin,
            timeout: config.timeout,
            detached: false,
        };
        monitor_client::launch(Launch {
            monitor: &config.monitor_path,
            args: monitor_args,
            dir,
            timeout: config.timeout + Duration::from_secs(5),
        })
        .await
        .map_err(|e| match e {
            OciError::Failed {
                id,
                operation,
                message,
                kind,
            } => OciError::Failed {
                id,
                operation,
                message: format!("runtime handler {:?}: {message}", config.handler),
                kind,
            },
            other => other,
        })?;
        Ok(())
    }

    /// Undoes a failed create: the runtime's container, the monitor, the directory.
    async fn discard(&self, id: &str, dir: &ContainerDir) {
        let _ = self
            .inner
            .cli
            .output(id, "delete", &args(&["delete", "--force", id]), None)
            .await;
        if let Some(pid) = dir.monitor_pid_value()
            && process_alive(pid, id)
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = std::fs::remove_dir_all(&dir.dir);
    }

    async fn kill(&self, id: &str, signal: &str) -> Result<(), OciError> {
        match self
            .inner
            .cli
            .run(id, "stop", &args(&["kill", id, signal]), None)
            .await
        {
            Ok(_) => Ok(()),
            // The process may have ended between the state check and the kill.
            Err(_) if self.dir(id).exit_record().is_some() => Ok(()),
            Err(e) => match self.runtime_state(id).await {
                Ok((status, _)) if status == "stopped" => Ok(()),
                _ => Err(e),
            },
        }
    }
}

/// CRI signal names (`SIGTERM`, `TERM`, `15`) as runc and crun take them.
fn signal_name(signal: &str) -> String {
    let signal = signal.trim();
    if signal.is_empty() {
        return "TERM".to_string();
    }
    let upper = signal.to_ascii_uppercase();
    upper.strip_prefix("SIG").unwrap_or(&upper).to_string()
}

#[async_trait]
impl OciRuntime for Runc {
    async fn create(&self, request: CreateContainer) -> Result<(), OciError> {
        check_id(&request.id)?;
        let dir = self.dir(&request.id);
        match std::fs::create_dir(&dir.dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(OciError::WrongState {
                    id: request.id,
                    operation: "create",
                    state: "existing".to_string(),
                });
            }
            Err(e) => {
                return Err(failed(
                    &request.id,
                    "create",
                    format!("creating {}: {e}", dir.dir.display()),
                ));
            }
        }
        match self.create_inner(&request, &dir).await {
            Ok(()) => {
                self.inner.watched.lock().insert(request.id);
                Ok(())
            }
            Err(e) => {
                self.discard(&request.id, &dir).await;
                Err(e)
            }
        }
    }

    async fn start(&self, id: &str) -> Result<(), OciError> {
        match self.state(id).await? {
            ProcessState::Created => {}
            other => {
                return Err(OciError::WrongState {
                    id: id.to_string(),
                    operation: "start",
                    state: format!("{other:?}"),
                });
            }
        }
        self.inner
            .cli
            .run(id, "start", &args(&["start", id]), None)
            .await
            .map(drop)
    }

    async fn stop(
        &self,
        id: &str,
        signal: &str,
        timeout: Duration,
    ) -> Result<ExitStatus, OciError> {
        let dir = self.known(id)?;
        match self.state(id).await? {
            ProcessState::Exited(status) => return Ok(status),
            ProcessState::Created => {
                return Err(OciError::WrongState {
                    id: id.to_string(),
                    operation: "stop",
                    state: "created".to_string(),
                });
            }
            ProcessState::Running { .. } => {}
        }
        if !timeout.is_zero() {
            self.kill(id, &signal_name(signal)).await?;
            if let Some(record) = self.wait_exit(&dir, timeout).await {
                return Ok(to_status(record));
            }
        }
        self.kill(id, "KILL").await?;
        match self.wait_exit(&dir, KILL_GRACE).await {
            Some(record) => Ok(to_status(record)),
            None => Err(OciError::Timeout {
                id: id.to_string(),
                operation: "stop",
                timeout: timeout + KILL_GRACE,
            }),
        }
    }

    async fn state(&self, id: &str) -> Result<ProcessState, OciError> {
        let dir = self.known(id)?;
        if let Some(record) = dir.exit_record() {
            return Ok(ProcessState::Exited(to_status(record)));
        }
        let (status, pid) = match self.runtime_state(id).await {
            Ok(state) => state,
            Err(e) => {
                return match dir.exit_record() {
                    Some(record) => Ok(ProcessState::Exited(to_status(record))),
                    None if !dir.config().exists() => {
                        Err(OciError::NotFound { id: id.to_string() })
                    }
                    None => Err(e),
                };
            }
        };
        match status.as_str() {
            "created" | "creating" => Ok(ProcessState::Created),
            "stopped" => match self.wait_exit(&dir, EXIT_RECORD_WAIT).await {
                Some(record) => Ok(ProcessState::Exited(to_status(record))),
                None => {
                    tracing::warn!(
                        container = id,
                        "stopped without an exit record (monitor gone?)"
                    );
                    Ok(ProcessState::Exited(ExitStatus {
                        exit_code: 255,
                        finished_at: crate::monitor::now(),
                        oom_killed: false,
                    }))
                }
            },
            _ => Ok(ProcessState::Running { pid }),
        }
    }

    async fn delete(&self, id: &str) -> Result<(), OciError> {
        let dir = self.known(id)?;
        if let ProcessState::Running { .. } = self.state(id).await? {
            return Err(OciError::WrongState {
                id: id.to_string(),
                operation: "delete",
                state: "running".to_string(),
            });
        }
        if let Err(e) = self
            .inner
            .cli
            .run(id, "delete", &args(&["delete", "--force", id]), None)
            .await
            && self.runtime_state(id).await.is_ok()
        {
            return Err(e);
        }
        // A created container's monitor sees its init killed, writes the exit record and ends.
        if let Some(pid) = dir.monitor_pid_value() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while process_alive(pid, id) && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        self.inner.watched.lock().remove(id);
        std::fs::remove_dir_all(&dir.dir)
            .map_err(|e| failed(id, "delete", format!("removing {}: {e}", dir.dir.display())))
    }

    async fn exec_sync(
        &self,
        id: &str,
        command: &[String],
        timeout: Option<Duration>,
    ) -> Result<ExecOutput, OciError> {
        if !matches!(self.state(id).await?, ProcessState::Running { .. }) {
            return Err(OciError::WrongState {
                id: id.to_string(),
                operation: "exec",
                state: "not running".to_string(),
            });
        }
        let serial = self
            .inner
            .exec_serial
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let pid_file = self
            .dir(id)
            .dir
            .join(format!("exec-{}-{serial}.pid", std::process::id()));
        exec::exec_sync(&self.inner.cli, id, command, timeout, &pid_file).await
    }

    async fn update_resources(&self, id: &str, resources: &LinuxResources) -> Result<(), OciError> {
        if let ProcessState::Exited(_) = self.state(id).await? {
            return Err(OciError::WrongState {
                id: id.to_string(),
                operation: "update",
                state: "exited".to_string(),
            });
        }
        let mut limits =
            spec::linux_resources(Some(resources), Vec::new(), self.inner.spec_env.pids_limit)
                .map_err(|e| failed(id, "update", e.message))?;
        limits.set_devices(None);
        let json = serde_json::to_vec(&limits).map_err(|e| failed(id, "update", e.to_string()))?;
        self.inner
            .cli
            .run(
                id,
                "update",
                &args(&["update", "--resources", "-", id]),
                Some(&json),
            )
            .await
            .map(drop)
    }

    async fn reopen_log(&self, id: &str) -> Result<(), OciError> {
        let dir = self.known(id)?;
        if dir.exit_record().is_some() {
            return Err(OciError::WrongState {
                id: id.to_string(),
                operation: "reopen log",
                state: "exited".to_string(),
            });
        }
        match monitor_client::control(&dir, "reopen").await {
            Ok(answer) if answer == "ok" => Ok(()),
            Ok(answer) => Err(failed(
                id,
                "reopen log",
                format!("the monitor answered {answer:?}"),
            )),
            Err(e) => Err(failed(
                id,
                "reopen log",
                format!("talking to the monitor at {}: {e}", dir.ctl().display()),
            )),
        }
    }

    fn exits(&self) -> broadcast::Receiver<ExitNotice> {
        self.inner.exits.subscribe()
    }
}
