//! Interactive streams into containers and pods: exec, attach and port-forward.
//!
//! The streaming server (`crate::streaming`) carries these streams to kubelet's client over
//! SPDY or WebSocket; this trait is where they meet the containers. Sessions are plain byte
//! pipes (tokio `AsyncRead`/`AsyncWrite`), so an implementation can hand over a pty, a pipe
//! to a `runc exec` child or an in-memory fake alike.

use crate::error::{Classify, ErrorKind};
use async_trait::async_trait;
use futures::future::BoxFuture;
use std::path::PathBuf;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;

/// Bytes coming out of a process (its stdout or stderr); end-of-file when the stream closes.
pub type OutputReader = Box<dyn AsyncRead + Send + Unpin>;
/// The process's standard input; shutting it down gives the process end-of-file.
pub type InputWriter = Box<dyn AsyncWrite + Send + Unpin>;

/// A bidirectional byte stream to a port inside a pod.
pub trait PortStream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> PortStream for T {}

/// The size of a terminal, in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TerminalSize {
    /// Columns.
    pub width: u16,
    /// Rows.
    pub height: u16,
}

/// What the caller wants connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamOptions {
    /// Whether the caller sends standard input (otherwise the process reads `/dev/null`).
    pub stdin: bool,
    /// Whether the process gets a terminal: then its stderr is merged into stdout and it can
    /// be resized.
    pub tty: bool,
}

/// A command running in a container, with its streams.
pub struct ExecSession {
    /// Standard input, when [`StreamOptions::stdin`] was asked for.
    pub stdin: Option<InputWriter>,
    /// Standard output (with a terminal: everything the process writes).
    pub stdout: OutputReader,
    /// Standard error; at end-of-file at once with a terminal.
    pub stderr: OutputReader,
    /// Terminal size changes, when [`StreamOptions::tty`] was asked for.
    pub resize: Option<mpsc::Sender<TerminalSize>>,
    /// Resolves with the command's exit code once it has ended (128 + n when signal n
    /// killed it). Dropping the session abandons the command.
    pub exit: BoxFuture<'static, Result<i32, StreamsError>>,
}

/// The streams of a container's main process, from now on. Its output ends when the container
/// exits.
pub struct AttachSession {
    /// The process's standard input, when asked for (and the container keeps stdin open).
    pub stdin: Option<InputWriter>,
    /// Standard output (with a terminal: everything).
    pub stdout: OutputReader,
    /// Standard error; at end-of-file at once with a terminal.
    pub stderr: OutputReader,
    /// Terminal size changes, when asked for.
    pub resize: Option<mpsc::Sender<TerminalSize>>,
}

/// The pod a port-forward goes into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardTarget {
    /// Sandbox id.
    pub sandbox_id: String,
    /// The pod's pinned network namespace (`None`: the node's).
    pub netns: Option<PathBuf>,
    /// The container ports the pod declares in its port mappings. Advisory: a pod may listen
    /// on ports it does not declare, and the Linux implementation connects regardless.
    pub declared_ports: Vec<u16>,
}

/// Failures of the streams backend.
#[derive(Debug, thiserror::Error)]
pub enum StreamsError {
    /// No such container or pod.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for, e.g. `container 3f2a…`.
        what: String,
    },
    /// The container is not running.
    #[error("container {id} is not running")]
    NotRunning {
        /// Container id.
        id: String,
    },
    /// Nothing accepts connections on the port.
    #[error("pod {sandbox_id}: cannot connect to port {port}: {message}")]
    PortUnavailable {
        /// Sandbox id.
        sandbox_id: String,
        /// Port.
        port: u16,
        /// Why.
        message: String,
    },
    /// The operation failed.
    #[error("{operation} failed: {message}")]
    Failed {
        /// What was asked, e.g. `exec in container 3f2a…`.
        operation: String,
        /// What went wrong.
        message: String,
        /// Classification.
        kind: ErrorKind,
    },
}

impl Classify for StreamsError {
    fn kind(&self) -> ErrorKind {
        match self {
            StreamsError::NotFound { .. } => ErrorKind::NotFound,
            StreamsError::NotRunning { .. } => ErrorKind::FailedPrecondition,
            StreamsError::PortUnavailable { .. } => ErrorKind::Unavailable,
            StreamsError::Failed { kind, .. } => *kind,
        }
    }
}

/// Opens interactive streams: the role of `runc exec -t`, the monitor's attach socket and a
/// connection made inside the pod's network namespace.
#[async_trait]
pub trait ContainerStreams: Send + Sync {
    /// Starts `cmd` in running container `container_id` and returns its streams.
    async fn exec(
        &self,
        container_id: &str,
        cmd: &[String],
        options: StreamOptions,
    ) -> Result<ExecSession, StreamsError>;
    /// Connects to the main process of running container `container_id`.
    async fn attach(
        &self,
        container_id: &str,
        options: StreamOptions,
    ) -> Result<AttachSession, StreamsError>;
    /// Connects to `port` on the pod's loopback address, inside its network namespace.
    async fn port_forward(
        &self,
        target: &ForwardTarget,
        port: u16,
    ) -> Result<Box<dyn PortStream>, StreamsError>;
}
