//! Running the OCI runtime's command line with a deadline.

use crate::backend::oci::OciError;
use crate::error::ErrorKind;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// The runtime binary, its state directory and its deadline.
#[derive(Debug, Clone)]
pub(super) struct RuntimeCli {
    pub path: PathBuf,
    pub root: PathBuf,
    pub timeout: Duration,
}

pub(super) fn failed(id: &str, operation: &'static str, message: impl Into<String>) -> OciError {
    OciError::Failed {
        id: id.to_string(),
        operation,
        message: message.into(),
        kind: ErrorKind::Internal,
    }
}

/// What the runtime printed, as one line: its `msg="..."` if it logged one, else the text.
fn message(output: &Output) -> String {
    let text = String::from_utf8_lossy(&output.stderr);
    let text = text.trim();
    let text = if text.is_empty() {
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    } else {
        text.to_string()
    };
    if text.is_empty() {
        output.status.to_string()
    } else {
        text
    }
}

impl RuntimeCli {
    /// A command for the runtime with `--root` set.
    pub fn command(&self) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(&self.path);
        command.arg("--root").arg(&self.root);
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    /// Runs `<runtime> --root R <args>`, feeding `input` on stdin, killing it after the deadline.
    /// A non-zero exit is an error carrying what the runtime printed.
    pub async fn run(
        &self,
        id: &str,
        operation: &'static str,
        args: &[OsString],
        input: Option<&[u8]>,
    ) -> Result<Output, OciError> {
        let output = self.output(id, operation, args, input).await?;
        if output.status.success() {
            Ok(output)
        } else {
            Err(failed(
                id,
                operation,
                format!("{}: {}", self.path.display(), message(&output)),
            ))
        }
    }

    /// Like [`RuntimeCli::run`], returning the output whatever the exit status.
    pub async fn output(
        &self,
        id: &str,
        operation: &'static str,
        args: &[OsString],
        input: Option<&[u8]>,
    ) -> Result<Output, OciError> {
        let mut command = self.command();
        command.args(args);
        if input.is_some() {
            command.stdin(Stdio::piped());
        }
        let mut child = command.spawn().map_err(|e| {
            failed(
                id,
                operation,
                format!("running {}: {e}", self.path.display()),
            )
        })?;
        if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
            let _ = stdin.write_all(input).await;
        }
        match tokio::time::timeout(self.timeout, child.wait_with_output()).await {
            Ok(Ok(output)) => Ok(output),
            Ok(Err(e)) => Err(failed(
                id,
                operation,
                format!("waiting for {}: {e}", self.path.display()),
            )),
            Err(_) => Err(OciError::Timeout {
                id: id.to_string(),
                operation,
                timeout: self.timeout,
            }),
        }
    }
}

/// Whether `pid` is a live (not zombie) process whose command line mentions `marker`.
pub(super) fn process_alive(pid: u32, marker: &str) -> bool {
    let proc_dir = Path::new("/proc").join(pid.to_string());
    let Ok(stat) = std::fs::read_to_string(proc_dir.join("stat")) else {
        return false;
    };
    let state = stat
        .rsplit_once(") ")
        .and_then(|(_, rest)| rest.chars().next());
    if matches!(state, Some('Z') | Some('X') | None) {
        return false;
    }
    std::fs::read(proc_dir.join("cmdline"))
        .map(|cmdline| {
            cmdline
                .split(|b| *b == 0)
                .any(|arg| arg == marker.as_bytes())
        })
        .unwrap_or(false)
}
