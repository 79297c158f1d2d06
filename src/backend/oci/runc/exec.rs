//! ExecSync: `runc exec` with captured output, killed with its whole process group on timeout.
//!
//! runc starts the command in a session and process group of its own (runc's init calls
//! `setsid`), which the command's children share; `--pid-file` tells us its pid, which is that
//! group's id. On timeout the command's group and the runtime's own group (the runtime runs
//! as a group leader) get SIGKILL and `runc exec` is reaped, so nothing is left running.

use super::command::{RuntimeCli, failed};
use crate::backend::oci::{ExecOutput, OciError};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Most bytes kept of each output stream (16 MiB); the rest is read and dropped.
pub const OUTPUT_CAP: usize = 16 << 20;

/// Reads `reader` to its end, keeping at most [`OUTPUT_CAP`] bytes; returns whether it cut.
async fn read_capped(mut reader: impl AsyncRead + Unpin) -> (Vec<u8>, bool) {
    let mut kept = Vec::new();
    let mut truncated = false;
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        match reader.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = OUTPUT_CAP - kept.len();
                kept.extend_from_slice(&buffer[..n.min(room)]);
                truncated |= n > room;
            }
        }
    }
    (kept, truncated)
}

async fn read_optional(stream: Option<impl AsyncRead + Unpin>) -> (Vec<u8>, bool) {
    match stream {
        Some(stream) => read_capped(stream).await,
        None => (Vec::new(), false),
    }
}

fn note_truncation(id: &str, stream: &str, bytes: &mut Vec<u8>) {
    tracing::warn!(container = id, stream, "exec output truncated at 16 MiB");
    bytes.extend_from_slice(format!("\n[crius: {stream} truncated at 16 MiB]\n").as_bytes());
}

/// Runs `command` in container `id`.
pub(super) async fn exec_sync(
    cli: &RuntimeCli,
    id: &str,
    command: &[String],
    timeout: Option<Duration>,
    pid_file: &Path,
) -> Result<ExecOutput, OciError> {
    let mut runtime = cli.command();
    runtime
        .arg("exec")
        .arg("--pid-file")
        .arg(pid_file)
        .arg(id)
        .args(command)
        .process_group(0);
    let mut child = runtime
        .spawn()
        .map_err(|e| failed(id, "exec", format!("running {}: {e}", cli.path.display())))?;
    let group = child.id().map(|pid| Pid::from_raw(pid as i32));
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let work = async { tokio::join!(read_optional(stdout), read_optional(stderr), child.wait()) };
    let finished = match timeout {
        Some(limit) => tokio::time::timeout(limit, work).await.ok(),
        None => Some(work.await),
    };
    let exec_pid = std::fs::read_to_string(pid_file)
        .ok()
        .and_then(|p| p.trim().parse::<i32>().ok());
    let _ = std::fs::remove_file(pid_file);
    let Some(((mut out, out_cut), (mut err, err_cut), status)) = finished else {
        for group in exec_pid.map(Pid::from_raw).into_iter().chain(group) {
            let _ = killpg(group, Signal::SIGKILL);
        }
        let _ = child.wait().await;
        return Err(OciError::Timeout {
            id: id.to_string(),
            operation: "exec",
            timeout: timeout.unwrap_or_default(),
        });
    };
    let status = status.map_err(|e| {
        failed(
            id,
            "exec",
            format!("waiting for {}: {e}", cli.path.display()),
        )
    })?;
    if out_cut {
        note_truncation(id, "stdout", &mut out);
    }
    if err_cut {
        note_truncation(id, "stderr", &mut err);
    }
    let exit_code = status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(255);
    Ok(ExecOutput {
        stdout: out,
        stderr: err,
        exit_code,
    })
}
