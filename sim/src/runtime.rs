//! The fake OCI runtime: containers whose commands run in virtual time through the fake shell,
//! writing real CRI log files.
//!
//! Nothing runs by itself: [`FakeRuntime::progress`] runs every process whose next step is
//! due at the clock's current time. The simulated node calls it from a ticker (scaled clock)
//! or after each step of a stepped clock, and every query calls it first, so answers are always
//! up to date with the clock.

use crate::fault_point::FaultPoint;
use crate::faults::{CallSite, ProcessEffect};
use crate::images::FakeImages;
use crate::namespaces::FakeNamespaces;
use crate::shell::{FileSource, Output, Process, Program, RunState};
use crate::signal::signal_number;
use async_trait::async_trait;
use crius::backend::Clock;
use crius::backend::OciRuntime;
use crius::backend::oci::{
    CreateContainer, ExecOutput, ExitNotice, ExitStatus, OciError, ProcessState,
};
use crius::cri_log::CriLogWriter;
use crius::model::{LinuxResources, Timestamp};
use parking_lot::Mutex;
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// Exit code of a process killed by signal `n`.
fn killed_by(signal: i32) -> i32 {
    128 + signal
}

fn offset(duration: Duration) -> Timestamp {
    i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX)
}

fn since(from: Timestamp, to: Timestamp) -> Duration {
    Duration::from_nanos(u64::try_from(to.saturating_sub(from)).unwrap_or(0))
}

enum Status {
    /// Created: the program it will run, parsed (dropped once it starts).
    Created(Program),
    Running(Running),
    Exited(ExitStatus),
}

struct Running {
    started: Timestamp,
    pid: u32,
    process: Process,
    /// Planned end by the fault plan: when, and how.
    fault: Option<(Timestamp, ProcessEffect)>,
}

struct FakeContainer {
    name: String,
    pod: String,
    sandbox_id: String,
    image_id: String,
    mounts: Vec<(String, String)>,
    log_path: Option<PathBuf>,
    status: Status,
    resources: Option<LinuxResources>,
}

#[derive(Default)]
struct Inner {
    containers: HashMap<String, FakeContainer>,
    /// (when, container id) of every pending wake-up.
    timers: BTreeSet<(Timestamp, String)>,
    next_pid: u32,
}

/// Files a fake process can read: its mounts, its pod's files, its image's files.
struct ContainerFiles<'a> {
    mounts: &'a [(String, String)],
    sandbox_id: &'a str,
    image_id: &'a str,
    images: &'a FakeImages,
    namespaces: &'a FakeNamespaces,
}

impl FileSource for ContainerFiles<'_> {
    fn read(&self, path: &str) -> Option<Vec<u8>> {
        let mount = self
            .mounts
            .iter()
            .filter(|(inside, _)| {
                path == inside || path.starts_with(&format!("{}/", inside.trim_end_matches('/')))
            })
            .max_by_key(|(inside, _)| inside.len());
        if let Some((inside, host)) = mount {
            let rest = path[inside.len()..].trim_start_matches('/');
            let host = PathBuf::from(host);
            let target = if rest.is_empty() {
                host
            } else {
                host.join(rest)
            };
            return std::fs::read(target).ok();
        }
        self.namespaces
            .file(self.sandbox_id, path)
            .or_else(|| self.images.file(self.image_id, path))
    }
}

/// The fake OCI runtime.
pub struct FakeRuntime {
    clock: Arc<dyn Clock>,
    faults: FaultPoint,
    images: Arc<FakeImages>,
    namespaces: Arc<FakeNamespaces>,
    inner: Mutex<Inner>,
    exits: broadcast::Sender<ExitNotice>,
    outputs: broadcast::Sender<ContainerOutput>,
}

/// A chunk a container's main process wrote, as announced to attached clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerOutput {
    /// Container id.
    pub id: String,
    /// What it wrote, and on which stream.
    pub output: Output,
}

/// What [`FakeRuntime::usage`] tells the fake cgroups about a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessUsage {
    /// How long its process has run (until now or until it ended).
    pub ran_for: Duration,
    /// Whether it still runs.
    pub running: bool,
    /// Its memory limit, if any.
    pub memory_limit: Option<u64>,
}

impl FakeRuntime {
    /// A runtime on `clock`, reading files through the fake images and namespaces.
    pub fn new(
        clock: Arc<dyn Clock>,
        faults: FaultPoint,
        images: Arc<FakeImages>,
        namespaces: Arc<FakeNamespaces>,
    ) -> FakeRuntime {
        let (exits, _) = broadcast::channel(4096);
        let (outputs, _) = broadcast::channel(4096);
        FakeRuntime {
            clock,
            faults,
            images,
            namespaces,
            inner: Mutex::new(Inner {
                next_pid: 1000,
                ..Default::default()
            }),
            exits,
            outputs,
        }
    }

    /// Output of every container's main process from now on (what attach shows), written
    /// before the exit notice of the write that ended it.
    pub fn subscribe_outputs(&self) -> broadcast::Receiver<ContainerOutput> {
        self.outputs.subscribe()
    }

    /// Runs `f` over the files of running container `id`, as a process started in it (an
    /// exec) sees them.
    pub fn with_files<R>(
        &self,
        id: &str,
        f: impl FnOnce(&dyn FileSource) -> R,
    ) -> Result<R, OciError> {
        let inner = self.inner.lock();
        let container = inner
            .containers
            .get(id)
            .ok_or_else(|| Self::not_found(id))?;
        if !matches!(container.status, Status::Running(_)) {
            return Err(OciError::WrongState {
                id: id.to_string(),
                operation: "exec",
                state: "not running".to_string(),
            });
        }
        let files = ContainerFiles {
            mounts: &container.mounts,
            sandbox_id: &container.sandbox_id,
            image_id: &container.image_id,
            images: &self.images,
            namespaces: &self.namespaces,
        };
        Ok(f(&files))
    }

    /// Runs every process whose next step is due now.
    pub fn progress(&self) {
        let now = self.clock.now();
        let mut inner = self.inner.lock();
        let mut exited = Vec::new();
        while let Some(first) = inner.timers.first() {
            if first.0 > now {
                break;
            }
            let Some((_, id)) = inner.timers.pop_first() else {
                break;
            };
            if let Some(exit) = self.advance_container(&mut inner, &id, now) {
                exited.push(ExitNotice { id, status: exit });
            }
        }
        drop(inner);
        for notice in exited {
            let _ = self.exits.send(notice);
        }
    }

    /// The earliest pending wake-up, if any process is waiting for time to pass.
    pub fn next_wake(&self) -> Option<Timestamp> {
        self.inner.lock().timers.first().map(|(t, _)| *t)
    }

    /// Usage inputs of a container for the fake cgroups.
    pub fn usage(&self, id: &str) -> Option<ProcessUsage> {
        let now = self.clock.now();
        let inner = self.inner.lock();
        let container = inner.containers.get(id)?;
        let memory_limit = container
            .resources
            .as_ref()
            .map(|r| r.memory_limit_in_bytes)
            .filter(|&l| l > 0)
            .map(|l| l as u64);
        let (ran_for, running) = match &container.status {
            Status::Created(_) => (Duration::ZERO, false),
            Status::Running(r) => (since(r.started, now), true),
            Status::Exited(_) => (Duration::ZERO, false),
        };
        Some(ProcessUsage {
            ran_for,
            running,
            memory_limit,
        })
    }

    /// Ids of the containers of a pod.
    pub fn containers_of(&self, sandbox_id: &str) -> Vec<String> {
        let inner = self.inner.lock();
        inner
            .containers
            .iter()
            .filter(|(_, c)| c.sandbox_id == sandbox_id)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// How many containers the runtime holds.
    pub fn count(&self) -> usize {
        self.inner.lock().containers.len()
    }

    /// Runs container `id` up to `now`; returns its exit if it ended.
    fn advance_container(&self, inner: &mut Inner, id: &str, now: Timestamp) -> Option<ExitStatus> {
        let container = inner.containers.get_mut(id)?;
        let Status::Running(running) = &mut container.status else {
            return None;
        };
        let fault_due = running.fault.filter(|(at, _)| *at <= now);
        let until = fault_due.map(|(at, _)| at).unwrap_or(now);
        let files = ContainerFiles {
            mounts: &container.mounts,
            sandbox_id: &container.sandbox_id,
            image_id: &container.image_id,
            images: &self.images,
            namespaces: &self.namespaces,
        };
        let mut outputs = Vec::new();
        let state =
            running
                .process
                .run_until(since(running.started, until), &files, &mut |out: Output| {
                    outputs.push(out)
                });
        let started = running.started;
        let planned = running.fault;
        write_log(container.log_path.as_ref(), started, &outputs);
        if self.outputs.receiver_count() > 0 {
            for output in outputs {
                let _ = self.outputs.send(ContainerOutput {
                    id: id.to_string(),
                    output,
                });
            }
        }
        let exit = match (state, fault_due) {
            (RunState::Exited { code, at }, _) => Some(ExitStatus {
                exit_code: code,
                finished_at: started + offset(at),
                oom_killed: false,
            }),
            (RunState::Running { .. }, Some((at, effect))) => Some(ExitStatus {
                exit_code: effect.exit_code(),
                finished_at: at,
                oom_killed: effect.is_oom(),
            }),
            (RunState::Running { wake_at }, None) => {
                let wake = wake_at.map(|w| started + offset(w));
                let next = match (wake, planned.map(|(at, _)| at)) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                if let Some(next) = next {
                    inner.timers.insert((next.max(now), id.to_string()));
                }
                None
            }
        };
        if let Some(exit) = exit
            && let Some(container) = inner.containers.get_mut(id)
        {
            container.status = Status::Exited(exit);
        }
        exit
    }

    fn not_found(id: &str) -> OciError {
        OciError::NotFound { id: id.to_string() }
    }

    async fn fault(&self, method: &str, id: &str, operation: &'static str) -> Result<(), OciError> {
        let (name, pod) = {
            let inner = self.inner.lock();
            match inner.containers.get(id) {
                Some(c) => (c.name.clone(), c.pod.clone()),
                None => return Ok(()),
            }
        };
        let site = CallSite::new(method).container(&name).pod(&pod);
        match self.faults.enter(site).await {
            Some((kind, message)) => Err(OciError::Failed {
                id: id.to_string(),
                operation,
                message,
                kind,
            }),
            None => Ok(()),
        }
    }

    fn finish(&self, id: &str, exit: ExitStatus) {
        let mut inner = self.inner.lock();
        if let Some(container) = inner.containers.get_mut(id)
            && matches!(container.status, Status::Running(_))
        {
            container.status = Status::Exited(exit);
            drop(inner);
            let _ = self.exits.send(ExitNotice {
                id: id.to_string(),
                status: exit,
            });
        }
    }
}

fn write_log(path: Option<&PathBuf>, started: Timestamp, outputs: &[Output]) {
    let Some(path) = path else { return };
    if outputs.is_empty() {
        return;
    }
    let opened = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path);
    let Ok(file) = opened else {
        tracing::warn!(path = %path.display(), "cannot open container log");
        return;
    };
    let mut writer = CriLogWriter::new(std::io::BufWriter::new(file));
    for out in outputs {
        if let Err(e) = writer.write(out.stream, started + offset(out.at), &out.bytes) {
            tracing::warn!(path = %path.display(), error = %e, "cannot write container log");
            return;
        }
    }
    let _ = std::io::Write::flush(writer.get_mut());
}

#[async_trait]
impl OciRuntime for FakeRuntime {
    async fn create(&self, request: CreateContainer) -> Result<(), OciError> {
        let site = CallSite::new("CreateContainer")
            .container(&request.config.metadata.name)
            .image(&request.config.image.image);
        if let Some((kind, message)) = self.faults.enter(site).await {
            return Err(OciError::Failed {
                id: request.id,
                operation: "create",
                message,
                kind,
            });
        }
        if let Some(path) = &request.log_path {
            let created = path
                .parent()
                .map(std::fs::create_dir_all)
                .transpose()
                .and_then(|_| {
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)
                });
            if let Err(e) = created {
                return Err(OciError::Failed {
                    id: request.id,
                    operation: "create",
                    message: format!("creating log file {}: {e}", path.display()),
                    kind: crius::error::ErrorKind::Internal,
                });
            }
        }
        let argv = request.config.process_args(&request.image);
        let program = Program::parse(&argv, request.config.stdin);
        let pod = request
            .config
            .labels
            .get("io.kubernetes.pod.name")
            .cloned()
            .unwrap_or_default();
        let container = FakeContainer {
            name: request.config.metadata.name.clone(),
            pod,
            sandbox_id: request.sandbox_id.clone(),
            image_id: request.image_id.clone(),
            mounts: request
                .config
                .mounts
                .iter()
                .map(|m| (m.container_path.clone(), m.host_path.clone()))
                .collect(),
            log_path: request.log_path.clone(),
            status: Status::Created(program),
            resources: request.config.linux.resources.clone(),
        };
        let mut inner = self.inner.lock();
        if inner.containers.contains_key(&request.id) {
            return Err(OciError::WrongState {
                id: request.id,
                operation: "create",
                state: "existing".to_string(),
            });
        }
        inner.containers.insert(request.id, container);
        Ok(())
    }

    async fn start(&self, id: &str) -> Result<(), OciError> {
        self.fault("StartContainer", id, "start").await?;
        let now = self.clock.now();
        let exit = {
            let mut inner = self.inner.lock();
            inner.next_pid = inner.next_pid.wrapping_add(1).max(1000);
            let pid = inner.next_pid;
            let container = inner
                .containers
                .get_mut(id)
                .ok_or_else(|| Self::not_found(id))?;
            let Status::Created(program) = &container.status else {
                return Err(OciError::WrongState {
                    id: id.to_string(),
                    operation: "start",
                    state: "not created".to_string(),
                });
            };
            let process = program.start();
            let fault = self
                .faults
                .process_fault(&container.name, &container.pod)
                .map(|f| (now + offset(f.after), f.effect));
            container.status = Status::Running(Running {
                started: now,
                pid,
                process,
                fault,
            });
            self.advance_container(&mut inner, id, now)
        };
        if let Some(status) = exit {
            let _ = self.exits.send(ExitNotice {
                id: id.to_string(),
                status,
            });
        }
        Ok(())
    }

    async fn stop(
        &self,
        id: &str,
        signal: &str,
        timeout: Duration,
    ) -> Result<ExitStatus, OciError> {
        self.progress();
        self.fault("StopContainer", id, "stop").await?;
        let signal = if timeout.is_zero() {
            9
        } else {
            signal_number(signal).unwrap_or(15)
        };
        let status = {
            let inner = self.inner.lock();
            let container = inner
                .containers
                .get(id)
                .ok_or_else(|| Self::not_found(id))?;
            match &container.status {
                Status::Exited(exit) => return Ok(*exit),
                Status::Created(_) => {
                    return Err(OciError::WrongState {
                        id: id.to_string(),
                        operation: "stop",
                        state: "created".to_string(),
                    });
                }
                Status::Running(_) => ExitStatus {
                    exit_code: killed_by(signal),
                    finished_at: self.clock.now(),
                    oom_killed: false,
                },
            }
        };
        self.finish(id, status);
        Ok(status)
    }

    async fn state(&self, id: &str) -> Result<ProcessState, OciError> {
        self.progress();
        let inner = self.inner.lock();
        let container = inner
            .containers
            .get(id)
            .ok_or_else(|| Self::not_found(id))?;
        Ok(match &container.status {
            Status::Created(_) => ProcessState::Created,
            Status::Running(r) => ProcessState::Running { pid: r.pid },
            Status::Exited(exit) => ProcessState::Exited(*exit),
        })
    }

    async fn delete(&self, id: &str) -> Result<(), OciError> {
        self.progress();
        self.fault("RemoveContainer", id, "delete").await?;
        let mut inner = self.inner.lock();
        match inner
            .containers
            .get(id)
            .map(|c| matches!(c.status, Status::Running(_)))
        {
            None => Err(Self::not_found(id)),
            Some(true) => Err(OciError::WrongState {
                id: id.to_string(),
                operation: "delete",
                state: "running".to_string(),
            }),
            Some(false) => {
                inner.containers.remove(id);
                inner.timers.retain(|(_, timer_id)| timer_id != id);
                Ok(())
            }
        }
    }

    async fn exec_sync(
        &self,
        id: &str,
        command: &[String],
        timeout: Option<Duration>,
    ) -> Result<ExecOutput, OciError> {
        self.progress();
        self.fault("ExecSync", id, "exec").await?;
        let mut output = ExecOutput::default();
        let limit = timeout.unwrap_or(Duration::from_secs(365 * 24 * 3600));
        let state = self.with_files(id, |files| {
            let mut process = Program::parse(command, false).start();
            process.run_until(limit, files, &mut |out: Output| {
                let target = match out.stream {
                    crius::cri_log::Stream::Stdout => &mut output.stdout,
                    crius::cri_log::Stream::Stderr => &mut output.stderr,
                };
                target.extend_from_slice(&out.bytes);
            })
        })?;
        let ended = match state {
            RunState::Exited { code, at } => Some((code, at)),
            RunState::Running { .. } => None,
        };
        match (ended, timeout) {
            (Some((code, at)), _) => {
                self.clock.sleep(at).await;
                output.exit_code = code;
                Ok(output)
            }
            (None, Some(timeout)) => {
                self.clock.sleep(timeout).await;
                Err(OciError::Timeout {
                    id: id.to_string(),
                    operation: "exec",
                    timeout,
                })
            }
            (None, None) => std::future::pending().await,
        }
    }

    async fn update_resources(&self, id: &str, resources: &LinuxResources) -> Result<(), OciError> {
        self.fault("UpdateContainerResources", id, "update").await?;
        let mut inner = self.inner.lock();
        let container = inner
            .containers
            .get_mut(id)
            .ok_or_else(|| Self::not_found(id))?;
        container.resources = Some(resources.clone());
        Ok(())
    }

    async fn reopen_log(&self, id: &str) -> Result<(), OciError> {
        self.fault("ReopenContainerLog", id, "reopen log").await?;
        let inner = self.inner.lock();
        let container = inner
            .containers
            .get(id)
            .ok_or_else(|| Self::not_found(id))?;
        if let Some(path) = &container.log_path {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| OciError::Failed {
                    id: id.to_string(),
                    operation: "reopen log",
                    message: format!("{}: {e}", path.display()),
                    kind: crius::error::ErrorKind::Internal,
                })?;
        }
        Ok(())
    }

    fn exits(&self) -> broadcast::Receiver<ExitNotice> {
        self.exits.subscribe()
    }
}
