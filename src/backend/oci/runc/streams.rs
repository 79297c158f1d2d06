//! [`RuncStreams`]: [`ContainerStreams`] for the containers of a [`Runc`].
//!
//! - Exec is `runc exec` (the same binary, `--root` and process-group handling as ExecSync)
//!   with its standard streams piped to the session; the exit code is `runc exec`'s, which is
//!   the command's (128 + n when signal n killed it). Dropping the session before the command
//!   ended kills the command's process group and runc's, and the child is reaped. A terminal
//!   (`tty`) is refused as Unimplemented: pty support (`runc exec --tty --console-socket`) is
//!   pending.
//! - Attach is refused as Unimplemented: it needs an attach socket in `crius-monitor`, which
//!   holds the main process's streams, and the monitor has none yet.
//! - Port-forward connects to `127.0.0.1:<port>` from a short-lived OS thread that has entered
//!   the pod's network namespace (`setns`); the socket keeps that namespace and is handed to
//!   tokio. Pods on the node's network are reached directly.

use super::Runc;
use crate::backend::oci::{OciError, OciRuntime, ProcessState};
use crate::backend::streams::{
    AttachSession, ContainerStreams, ExecSession, ForwardTarget, PortStream, StreamOptions,
    StreamsError,
};
use crate::error::{Classify, ErrorKind};
use async_trait::async_trait;
use futures::FutureExt;
use nix::sched::{CloneFlags, setns};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;

/// How long a port-forward waits for the pod to accept the connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Exec and port-forward into the containers and pods of a [`Runc`]; attach is not built yet.
pub struct RuncStreams {
    runtime: Arc<Runc>,
}

impl RuncStreams {
    /// Streams into the containers `runtime` runs.
    pub fn new(runtime: Arc<Runc>) -> RuncStreams {
        RuncStreams { runtime }
    }

    /// NotFound or NotRunning unless container `id` runs.
    async fn check_running(&self, id: &str) -> Result<(), StreamsError> {
        match self.runtime.state(id).await {
            Ok(ProcessState::Running { .. }) => Ok(()),
            Ok(_) => Err(StreamsError::NotRunning { id: id.to_string() }),
            Err(OciError::NotFound { .. }) => Err(StreamsError::NotFound {
                what: format!("container {id}"),
            }),
            Err(e) => Err(StreamsError::Failed {
                operation: format!("exec in container {id}"),
                message: e.to_string(),
                kind: e.kind(),
            }),
        }
    }

    /// Where `runc exec` writes the command's host pid, unique to this exec.
    fn pid_file(&self, id: &str) -> PathBuf {
        let serial = self
            .runtime
            .inner
            .exec_serial
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.runtime
            .dir(id)
            .dir
            .join(format!("exec-{}-{serial}.pid", std::process::id()))
    }
}

fn unimplemented(operation: String, message: &str) -> StreamsError {
    StreamsError::Failed {
        operation,
        message: message.to_string(),
        kind: ErrorKind::Unimplemented,
    }
}

/// A running `runc exec`. Dropped before it was waited to its end, it kills the command's
/// process group and runc's; the child is killed on drop too and reaped by tokio.
struct ExecProcess {
    child: tokio::process::Child,
    pid_file: PathBuf,
    finished: bool,
}

impl ExecProcess {
    async fn wait(mut self, id: String) -> Result<i32, StreamsError> {
        let status = self.child.wait().await;
        self.finished = true;
        let status = status.map_err(|e| StreamsError::Failed {
            operation: format!("exec in container {id}"),
            message: format!("waiting for the runtime: {e}"),
            kind: ErrorKind::Internal,
        })?;
        Ok(status
            .code()
            .or_else(|| status.signal().map(|s| 128 + s))
            .unwrap_or(255))
    }
}

impl Drop for ExecProcess {
    fn drop(&mut self) {
        if !self.finished {
            let command = std::fs::read_to_string(&self.pid_file)
                .ok()
                .and_then(|p| p.trim().parse::<i32>().ok());
            let runtime = self.child.id().map(|pid| pid as i32);
            for group in command.into_iter().chain(runtime).map(Pid::from_raw) {
                let _ = killpg(group, Signal::SIGKILL);
            }
            let _ = self.child.start_kill();
        }
        let _ = std::fs::remove_file(&self.pid_file);
    }
}

/// Connects to `127.0.0.1:port` inside the network namespace `netns`, on the calling thread,
/// which must be a thread of its own: it stays in that namespace.
fn connect_in_namespace(netns: &Path, port: u16) -> Result<std::net::TcpStream, String> {
    let namespace = std::fs::File::open(netns)
        .map_err(|e| format!("opening the network namespace {}: {e}", netns.display()))?;
    setns(&namespace, CloneFlags::CLONE_NEWNET)
        .map_err(|e| format!("entering the network namespace {}: {e}", netns.display()))?;
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    std::net::TcpStream::connect_timeout(&address, CONNECT_TIMEOUT).map_err(|e| e.to_string())
}

#[async_trait]
impl ContainerStreams for RuncStreams {
    async fn exec(
        &self,
        container_id: &str,
        cmd: &[String],
        options: StreamOptions,
    ) -> Result<ExecSession, StreamsError> {
        let operation = format!("exec in container {container_id}");
        if options.tty {
            return Err(unimplemented(
                operation,
                "exec with a terminal (tty) is not supported yet: pty support (runc exec --tty \
                 --console-socket) is pending; exec without a terminal works",
            ));
        }
        if cmd.is_empty() {
            return Err(StreamsError::Failed {
                operation,
                message: "no command given".to_string(),
                kind: ErrorKind::InvalidArgument,
            });
        }
        self.check_running(container_id).await?;
        let pid_file = self.pid_file(container_id);
        let cli = &self.runtime.inner.cli;
        let mut command = cli.command();
        command
            .arg("exec")
            .arg("--pid-file")
            .arg(&pid_file)
            .arg(container_id)
            .args(cmd)
            .process_group(0);
        if options.stdin {
            command.stdin(Stdio::piped());
        }
        let mut child = command.spawn().map_err(|e| StreamsError::Failed {
            operation: operation.clone(),
            message: format!("running {}: {e}", cli.path.display()),
            kind: ErrorKind::Internal,
        })?;
        let missing = |stream: &str| StreamsError::Failed {
            operation: operation.clone(),
            message: format!("the runtime's {stream} pipe is missing"),
            kind: ErrorKind::Internal,
        };
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().ok_or_else(|| missing("stdout"))?;
        let stderr = child.stderr.take().ok_or_else(|| missing("stderr"))?;
        let process = ExecProcess {
            child,
            pid_file,
            finished: false,
        };
        tracing::debug!(container = container_id, ?cmd, "exec started");
        Ok(ExecSession {
            stdin: stdin.map(|s| Box::new(s) as _),
            stdout: Box::new(stdout),
            stderr: Box::new(stderr),
            resize: None,
            exit: process.wait(container_id.to_string()).boxed(),
        })
    }

    async fn attach(
        &self,
        container_id: &str,
        _options: StreamOptions,
    ) -> Result<AttachSession, StreamsError> {
        Err(unimplemented(
            format!("attach to container {container_id}"),
            "attach is not supported yet: it needs an attach socket in crius-monitor (which \
             holds the container's streams), and the monitor has none yet",
        ))
    }

    async fn port_forward(
        &self,
        target: &ForwardTarget,
        port: u16,
    ) -> Result<Box<dyn PortStream>, StreamsError> {
        let unavailable = |message: String| StreamsError::PortUnavailable {
            sandbox_id: target.sandbox_id.clone(),
            port,
            message,
        };
        let Some(netns) = target.netns.clone() else {
            let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            let connect = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address));
            return match connect.await {
                Ok(Ok(stream)) => Ok(Box::new(stream)),
                Ok(Err(e)) => Err(unavailable(e.to_string())),
                Err(_) => Err(unavailable("timed out".to_string())),
            };
        };
        let (sender, receiver) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("crius-port-forward".to_string())
            .spawn(move || {
                let _ = sender.send(connect_in_namespace(&netns, port));
            })
            .map_err(|e| StreamsError::Failed {
                operation: format!("port-forward to pod {}", target.sandbox_id),
                message: format!("starting a thread: {e}"),
                kind: ErrorKind::Internal,
            })?;
        let stream = receiver
            .await
            .map_err(|_| unavailable("the connecting thread ended without an answer".into()))?
            .map_err(unavailable)?;
        stream
            .set_nonblocking(true)
            .and_then(|()| TcpStream::from_std(stream))
            .map(|s| Box::new(s) as Box<dyn PortStream>)
            .map_err(|e| unavailable(format!("handing the connection to tokio: {e}")))
    }
}
