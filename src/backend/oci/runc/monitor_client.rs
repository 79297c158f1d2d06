//! The daemon's side of `crius-monitor`: the files of a container directory, starting a
//! monitor and waiting for its "created", and its control socket.

use super::command::failed;
use crate::backend::oci::OciError;
use crate::monitor::{ExitRecord, MonitorArgs, SyncMessage};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// The longest path a unix socket address holds.
const SOCKET_PATH_MAX: usize = 107;

/// The files of one container under `<state_dir>/containers/<id>/`.
#[derive(Debug, Clone)]
pub(super) struct ContainerDir {
    pub dir: PathBuf,
}

impl ContainerDir {
    pub fn config(&self) -> PathBuf {
        self.dir.join("config.json")
    }
    pub fn exit(&self) -> PathBuf {
        self.dir.join("exit")
    }
    pub fn pid(&self) -> PathBuf {
        self.dir.join("container.pid")
    }
    pub fn monitor_pid(&self) -> PathBuf {
        self.dir.join("monitor.pid")
    }
    pub fn ctl(&self) -> PathBuf {
        self.dir.join("ctl")
    }
    pub fn monitor_log(&self) -> PathBuf {
        self.dir.join("monitor.log")
    }

    /// The exit record, if the monitor wrote one.
    pub fn exit_record(&self) -> Option<ExitRecord> {
        ExitRecord::read(&self.exit()).ok().flatten()
    }

    /// The monitor's pid, from its pid file.
    pub fn monitor_pid_value(&self) -> Option<u32> {
        std::fs::read_to_string(self.monitor_pid())
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

/// Everything needed to start one monitor.
pub(super) struct Launch<'a> {
    pub monitor: &'a Path,
    pub args: MonitorArgs,
    pub dir: &'a ContainerDir,
    /// How long to wait for "created".
    pub timeout: Duration,
}

/// Starts the monitor and waits for its answer: the container's pid.
pub(super) async fn launch(launch: Launch<'_>) -> Result<u32, OciError> {
    let id = launch.args.id.clone();
    if launch.args.ctl.as_os_str().len() > SOCKET_PATH_MAX {
        return Err(failed(
            &id,
            "create",
            format!(
                "control socket path {} is too long for a unix socket; use a shorter state directory",
                launch.args.ctl.display()
            ),
        ));
    }
    let log = std::fs::File::create(launch.dir.monitor_log()).map_err(|e| {
        failed(
            &id,
            "create",
            format!("creating {}: {e}", launch.dir.monitor_log().display()),
        )
    })?;
    let mut child = tokio::process::Command::new(launch.monitor)
        .args(launch.args.to_args())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .map_err(|e| {
            failed(
                &id,
                "create",
                format!("starting {}: {e}", launch.monitor.display()),
            )
        })?;
    let stdout = child.stdout.take();
    let answer = async {
        let mut line = String::new();
        if let Some(stdout) = stdout {
            BufReader::new(stdout)
                .read_line(&mut line)
                .await
                .map(|_| line)
        } else {
            Ok(line)
        }
    };
    let answer = tokio::time::timeout(launch.timeout, answer).await;
    // The first monitor process exits as soon as its detached copy runs.
    let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
    let line = match answer {
        Ok(Ok(line)) => line,
        Ok(Err(e)) => {
            return Err(failed(
                &id,
                "create",
                format!("reading the monitor's answer: {e}"),
            ));
        }
        Err(_) => {
            return Err(OciError::Timeout {
                id,
                operation: "create",
                timeout: launch.timeout,
            });
        }
    };
    match serde_json::from_str::<SyncMessage>(line.trim()) {
        Ok(SyncMessage::Created { pid }) => Ok(pid),
        Ok(SyncMessage::Error(message)) => Err(failed(&id, "create", message)),
        Err(_) => {
            let log = std::fs::read_to_string(launch.dir.monitor_log()).unwrap_or_default();
            Err(failed(
                &id,
                "create",
                format!("the monitor ended without an answer: {}", log.trim()),
            ))
        }
    }
}

/// Sends `command` on the monitor's control socket; returns its answer line.
pub(super) async fn control(dir: &ContainerDir, command: &str) -> std::io::Result<String> {
    let exchange = async {
        let mut stream = tokio::net::UnixStream::connect(dir.ctl()).await?;
        stream.write_all(format!("{command}\n").as_bytes()).await?;
        let mut answer = String::new();
        BufReader::new(stream).read_line(&mut answer).await?;
        Ok(answer.trim().to_string())
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the monitor did not answer",
            ))
        })
}
