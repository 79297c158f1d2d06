//! The fake streams: exec runs the fake shell against the container's files in virtual time,
//! attach relays what the container's main process writes from now on, and port-forward
//! reaches an echo service.
//!
//! - Exec: `cat` with no file (or `-`) copies standard input to standard output until
//!   end-of-file, since the fake shell cannot read input; every other command runs through the
//!   fake shell (`crate::shell`), its input read and dropped. An exec ends with its container:
//!   it then exits 137, as a process killed with its container's PID namespace would.
//! - Attach: the fake processes never read their input, so attached input is dropped.
//! - Port-forward: every pod listens on the ports it declares in its port mappings, or on
//!   every port when it declares none; each connection echoes what it receives, and
//!   finishes its side when the client finishes its own.
//!
//! Terminal sizes sent to a tty exec or attach are recorded for tests
//! ([`FakeStreams::terminal_sizes`]).

use crate::runtime::FakeRuntime;
use crate::shell::{Output, Program, RunState, Stream};
use async_trait::async_trait;
use crius::backend::Clock;
use crius::backend::OciRuntime;
use crius::backend::oci::{ExitNotice, OciError};
use crius::backend::streams::{
    AttachSession, ContainerStreams, ExecSession, ForwardTarget, PortStream, StreamOptions,
    StreamsError, TerminalSize,
};
use crius::error::ErrorKind;
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::{broadcast, mpsc, oneshot};

/// Capacity of each fake pipe.
const PIPE: usize = 64 * 1024;
/// The exit code of an exec whose container ended under it (SIGKILL).
const KILLED: i32 = 128 + 9;

/// Fake exec, attach and port-forward over the fake OCI runtime.
pub struct FakeStreams {
    clock: Arc<dyn Clock>,
    runtime: Arc<FakeRuntime>,
    sizes: Arc<Mutex<Vec<(String, TerminalSize)>>>,
}

impl FakeStreams {
    /// Streams into the containers of `runtime`, timed by `clock`.
    pub fn new(clock: Arc<dyn Clock>, runtime: Arc<FakeRuntime>) -> FakeStreams {
        FakeStreams {
            clock,
            runtime,
            sizes: Arc::default(),
        }
    }

    /// Every terminal size received so far, with the container it was for, in order.
    pub fn terminal_sizes(&self) -> Vec<(String, TerminalSize)> {
        self.sizes.lock().clone()
    }

    fn check_running(&self, id: &str) -> Result<(), StreamsError> {
        self.runtime.progress();
        self.runtime.with_files(id, |_| ()).map_err(|e| match e {
            OciError::NotFound { .. } => StreamsError::NotFound {
                what: format!("container {id}"),
            },
            _ => StreamsError::NotRunning { id: id.to_string() },
        })
    }

    /// A resize channel whose sizes are recorded under `id`.
    fn resizer(&self, id: &str) -> mpsc::Sender<TerminalSize> {
        let (sender, mut sizes) = mpsc::channel(16);
        let (id, record) = (id.to_string(), self.sizes.clone());
        tokio::spawn(async move {
            while let Some(size) = sizes.recv().await {
                record.lock().push((id.clone(), size));
            }
        });
        sender
    }
}

/// Reads and drops everything from `reader`.
fn drain(mut reader: impl AsyncRead + Unpin + Send + 'static) {
    tokio::spawn(async move {
        let mut buffer = vec![0u8; 8 * 1024];
        while matches!(reader.read(&mut buffer).await, Ok(n) if n > 0) {}
    });
}

/// Resolves when container `id` exits (or never, if the notices stop).
async fn container_exit(
    exits: &mut broadcast::Receiver<ExitNotice>,
    runtime: &FakeRuntime,
    id: &str,
) {
    loop {
        match exits.recv().await {
            Ok(notice) if notice.id == id => return,
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(_)) => {
                if runtime.with_files(id, |_| ()).is_err() {
                    return;
                }
            }
            Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
        }
    }
}

/// The output side of a fake process: where stdout and stderr go.
struct Pipes {
    stdout: DuplexStream,
    stderr: Option<DuplexStream>,
}

impl Pipes {
    /// Writes one chunk; with a terminal (no stderr pipe) everything goes to stdout.
    async fn write(&mut self, out: &Output) -> std::io::Result<()> {
        let pipe = match (out.stream, self.stderr.as_mut()) {
            (Stream::Stderr, Some(stderr)) => stderr,
            _ => &mut self.stdout,
        };
        pipe.write_all(&out.bytes).await
    }
}

/// One exec'd command.
struct ExecJob {
    clock: Arc<dyn Clock>,
    runtime: Arc<FakeRuntime>,
    id: String,
    cmd: Vec<String>,
    pipes: Pipes,
    stdin: Option<DuplexStream>,
    exits: broadcast::Receiver<ExitNotice>,
}

impl ExecJob {
    async fn run(mut self, mut exit: oneshot::Sender<i32>) {
        let code = if reads_stdin(&self.cmd) {
            self.cat(&mut exit).await
        } else {
            self.shell(&mut exit).await
        };
        drop(self.pipes);
        if let Some(code) = code {
            let _ = exit.send(code);
        }
    }

    /// `cat` of standard input.
    async fn cat(&mut self, exit: &mut oneshot::Sender<i32>) -> Option<i32> {
        let Some(mut stdin) = self.stdin.take() else {
            return Some(0);
        };
        let copy = tokio::io::copy(&mut stdin, &mut self.pipes.stdout);
        tokio::select! {
            copied = copy => Some(if copied.is_ok() { 0 } else { 1 }),
            _ = exit.closed() => None,
            _ = container_exit(&mut self.exits, &self.runtime, &self.id) => Some(KILLED),
        }
    }

    /// Any other command, through the fake shell.
    async fn shell(&mut self, exit: &mut oneshot::Sender<i32>) -> Option<i32> {
        if let Some(stdin) = self.stdin.take() {
            drain(stdin);
        }
        let mut process = Program::parse(&self.cmd, false).start();
        let started = self.clock.now();
        loop {
            let elapsed =
                Duration::from_nanos(u64::try_from(self.clock.now() - started).unwrap_or(0));
            let ran = self.runtime.with_files(&self.id, |files| {
                let mut outputs = Vec::new();
                let state = process.run_until(elapsed, files, &mut |out: Output| outputs.push(out));
                (state, outputs)
            });
            let Ok((state, outputs)) = ran else {
                return Some(KILLED);
            };
            for out in &outputs {
                if self.pipes.write(out).await.is_err() {
                    return None;
                }
            }
            let wait = match state {
                RunState::Exited { code, .. } => return Some(code),
                RunState::Running { wake_at } => wake_at.map(|at| at.saturating_sub(elapsed)),
            };
            let clock = self.clock.clone();
            let sleep = async move {
                match wait {
                    Some(Duration::ZERO) => tokio::task::yield_now().await,
                    Some(wait) => clock.sleep(wait).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = sleep => {}
                _ = exit.closed() => return None,
                _ = container_exit(&mut self.exits, &self.runtime, &self.id) => return Some(KILLED),
            }
        }
    }
}

/// Whether `cmd` is `cat` reading its standard input.
fn reads_stdin(cmd: &[String]) -> bool {
    let Some((name, args)) = cmd.split_first() else {
        return false;
    };
    name.rsplit('/').next() == Some("cat") && args.iter().all(|a| a == "-")
}

/// Pipes for a session: (stdout writer, stdout reader, stderr writer, stderr reader); with a
/// terminal the stderr reader is at end-of-file at once.
fn output_pipes(tty: bool) -> (Pipes, DuplexStream, DuplexStream) {
    let (stdout, stdout_reader) = tokio::io::duplex(PIPE);
    let (stderr, stderr_reader) = tokio::io::duplex(PIPE);
    let stderr = if tty { None } else { Some(stderr) };
    (Pipes { stdout, stderr }, stdout_reader, stderr_reader)
}

#[async_trait]
impl ContainerStreams for FakeStreams {
    async fn exec(
        &self,
        container_id: &str,
        cmd: &[String],
        options: StreamOptions,
    ) -> Result<ExecSession, StreamsError> {
        let exits = self.runtime.exits();
        self.check_running(container_id)?;
        if cmd.is_empty() {
            return Err(StreamsError::Failed {
                operation: format!("exec in container {container_id}"),
                message: "empty command".into(),
                kind: ErrorKind::InvalidArgument,
            });
        }
        let (pipes, stdout, stderr) = output_pipes(options.tty);
        let (stdin_writer, stdin) = if options.stdin {
            let (writer, reader) = tokio::io::duplex(PIPE);
            (Some(writer), Some(reader))
        } else {
            (None, None)
        };
        let (exit_sender, exit) = oneshot::channel();
        let job = ExecJob {
            clock: self.clock.clone(),
            runtime: self.runtime.clone(),
            id: container_id.to_string(),
            cmd: cmd.to_vec(),
            pipes,
            stdin,
            exits,
        };
        tokio::spawn(job.run(exit_sender));
        let operation = format!("exec {cmd:?} in container {container_id}");
        Ok(ExecSession {
            stdin: stdin_writer.map(|w| Box::new(w) as _),
            stdout: Box::new(stdout),
            stderr: Box::new(stderr),
            resize: options.tty.then(|| self.resizer(container_id)),
            exit: Box::pin(async move {
                exit.await.map_err(|_| StreamsError::Failed {
                    operation,
                    message: "the fake process was abandoned".into(),
                    kind: ErrorKind::Internal,
                })
            }),
        })
    }

    async fn attach(
        &self,
        container_id: &str,
        options: StreamOptions,
    ) -> Result<AttachSession, StreamsError> {
        let mut outputs = self.runtime.subscribe_outputs();
        let mut exits = self.runtime.exits();
        self.check_running(container_id)?;
        let (mut pipes, stdout, stderr) = output_pipes(options.tty);
        let (runtime, id) = (self.runtime.clone(), container_id.to_string());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    biased;
                    output = outputs.recv() => match output {
                        Ok(o) if o.id == id => {
                            if pipes.write(&o.output).await.is_err() {
                                return;
                            }
                        }
                        Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                    _ = container_exit(&mut exits, &runtime, &id) => break,
                }
            }
            // What the process wrote before it ended was announced before its exit.
            while let Ok(o) = outputs.try_recv() {
                if o.id == id && pipes.write(&o.output).await.is_err() {
                    return;
                }
            }
        });
        let stdin = options.stdin.then(|| {
            let (writer, reader) = tokio::io::duplex(PIPE);
            drain(reader);
            Box::new(writer) as _
        });
        Ok(AttachSession {
            stdin,
            stdout: Box::new(stdout),
            stderr: Box::new(stderr),
            resize: options.tty.then(|| self.resizer(container_id)),
        })
    }

    async fn port_forward(
        &self,
        target: &ForwardTarget,
        port: u16,
    ) -> Result<Box<dyn PortStream>, StreamsError> {
        if !target.declared_ports.is_empty() && !target.declared_ports.contains(&port) {
            return Err(StreamsError::PortUnavailable {
                sandbox_id: target.sandbox_id.clone(),
                port,
                message: format!(
                    "connection refused (the simulated pod listens only on its declared ports {:?})",
                    target.declared_ports
                ),
            });
        }
        let (client, service) = tokio::io::duplex(PIPE);
        tokio::spawn(async move {
            let (mut from_client, mut to_client) = tokio::io::split(service);
            let _ = tokio::io::copy(&mut from_client, &mut to_client).await;
            let _ = to_client.shutdown().await;
        });
        Ok(Box::new(client))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_cat_without_files_reads_stdin() {
        let argv = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(reads_stdin(&argv(&["cat"])));
        assert!(reads_stdin(&argv(&["/bin/cat", "-"])));
        assert!(!reads_stdin(&argv(&["cat", "/etc/hostname"])));
        assert!(!reads_stdin(&argv(&["sh", "-c", "cat"])));
    }
}
