//! [`RuncConfig`]: which runtime binary, where state lives, deadlines.

use crate::backend::oci::spec::SpecEnv;
use std::path::PathBuf;
use std::time::Duration;

/// Configuration of a [`Runc`].
#[derive(Debug, Clone)]
pub struct RuncConfig {
    /// Name of the runtime handler (`runc`, `crun`), for messages.
    pub handler: String,
    /// The runtime binary.
    pub runtime_path: PathBuf,
    /// The runtime's state directory (`--root`); `None` means `<state_dir>/runtime`.
    pub runtime_root: Option<PathBuf>,
    /// Where bundles, pid files, exit files and control sockets live.
    pub state_dir: PathBuf,
    /// The `crius-monitor` binary.
    pub monitor_path: PathBuf,
    /// Deadline of every runtime call.
    pub timeout: Duration,
    /// Facts about the daemon for spec generation; `None` detects them.
    pub spec_env: Option<SpecEnv>,
    /// Process limit of each container, if any.
    pub pids_limit: Option<i64>,
}

impl RuncConfig {
    /// runc (`/usr/sbin/runc`, Debian's path) with state under `state_dir`.
    pub fn runc(state_dir: impl Into<PathBuf>, monitor_path: impl Into<PathBuf>) -> RuncConfig {
        RuncConfig {
            handler: "runc".to_string(),
            runtime_path: PathBuf::from("/usr/sbin/runc"),
            runtime_root: None,
            state_dir: state_dir.into(),
            monitor_path: monitor_path.into(),
            timeout: Duration::from_secs(30),
            spec_env: None,
            pids_limit: None,
        }
    }

    /// crun (`/usr/bin/crun`) with state under `state_dir`. crun refuses hybrid cgroup
    /// layouts; on such a node its creates fail at once with crun's message.
    pub fn crun(state_dir: impl Into<PathBuf>, monitor_path: impl Into<PathBuf>) -> RuncConfig {
        RuncConfig {
            handler: "crun".to_string(),
            runtime_path: PathBuf::from("/usr/bin/crun"),
            ..RuncConfig::runc(state_dir, monitor_path)
        }
    }
}
