//! The monitor's command line: built by the daemon with [`MonitorArgs::to_args`], read by the
//! monitor with [`MonitorArgs::parse`], so both sides share one definition.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

/// Everything the daemon tells a monitor on its command line.
///
/// ```text
/// crius-monitor --id <container id> --bundle <dir> --runtime <path> [--runtime-root <dir>]
///               --pid-file <path> --exit-file <path> --ctl <socket path>
///               --monitor-pid-file <path> [--log <path>] [--stdin] [--timeout <seconds>]
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorArgs {
    /// Container id, as the runtime knows it.
    pub id: String,
    /// The OCI bundle (holds `config.json`).
    pub bundle: PathBuf,
    /// The OCI runtime binary (runc or crun).
    pub runtime: PathBuf,
    /// The runtime's state directory (`--root`), when not its default.
    pub runtime_root: Option<PathBuf>,
    /// Where the runtime writes the container's pid.
    pub pid_file: PathBuf,
    /// Where the monitor writes the exit record (JSON, atomically).
    pub exit_file: PathBuf,
    /// The unix socket the monitor listens on for commands (`reopen`).
    pub ctl: PathBuf,
    /// Where the monitor writes its own pid.
    pub monitor_pid_file: PathBuf,
    /// The CRI log file, if any.
    pub log: Option<PathBuf>,
    /// Keep the container's stdin open (a pipe) rather than `/dev/null`.
    pub stdin: bool,
    /// How long `<runtime> create` may take.
    pub timeout: Duration,
    /// Set by the monitor on the copy of itself it detaches (internal).
    pub detached: bool,
}

impl MonitorArgs {
    /// The command-line arguments (without the program name).
    pub fn to_args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = Vec::new();
        let mut pair = |key: &str, value: OsString| {
            args.push(key.into());
            args.push(value);
        };
        pair("--id", self.id.clone().into());
        pair("--bundle", self.bundle.clone().into());
        pair("--runtime", self.runtime.clone().into());
        if let Some(root) = &self.runtime_root {
            pair("--runtime-root", root.clone().into());
        }
        pair("--pid-file", self.pid_file.clone().into());
        pair("--exit-file", self.exit_file.clone().into());
        pair("--ctl", self.ctl.clone().into());
        pair("--monitor-pid-file", self.monitor_pid_file.clone().into());
        if let Some(log) = &self.log {
            pair("--log", log.clone().into());
        }
        pair(
            "--timeout",
            self.timeout.as_secs().max(1).to_string().into(),
        );
        if self.stdin {
            args.push("--stdin".into());
        }
        if self.detached {
            args.push("--detached".into());
        }
        args
    }

    /// Parses the arguments (without the program name).
    pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<MonitorArgs, String> {
        let mut args = args.into_iter();
        let mut id = None;
        let mut bundle = None;
        let mut runtime = None;
        let mut runtime_root = None;
        let mut pid_file = None;
        let mut exit_file = None;
        let mut ctl = None;
        let mut monitor_pid_file = None;
        let mut log = None;
        let mut stdin = false;
        let mut detached = false;
        let mut timeout = Duration::from_secs(60);
        while let Some(arg) = args.next() {
            let key = arg.to_string_lossy().into_owned();
            if key == "--stdin" {
                stdin = true;
                continue;
            }
            if key == "--detached" {
                detached = true;
                continue;
            }
            let value = args.next().ok_or(format!("{key} needs a value"))?;
            let path = PathBuf::from(&value);
            match key.as_str() {
                "--id" => id = Some(value.to_string_lossy().into_owned()),
                "--bundle" => bundle = Some(path),
                "--runtime" => runtime = Some(path),
                "--runtime-root" => runtime_root = Some(path),
                "--pid-file" => pid_file = Some(path),
                "--exit-file" => exit_file = Some(path),
                "--ctl" => ctl = Some(path),
                "--monitor-pid-file" => monitor_pid_file = Some(path),
                "--log" => log = Some(path),
                "--timeout" => {
                    let secs: u64 = value
                        .to_string_lossy()
                        .parse()
                        .map_err(|e| format!("--timeout {value:?}: {e}"))?;
                    timeout = Duration::from_secs(secs);
                }
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        let required =
            |value: Option<PathBuf>, name: &str| value.ok_or(format!("{name} is required"));
        Ok(MonitorArgs {
            id: id.ok_or("--id is required")?,
            bundle: required(bundle, "--bundle")?,
            runtime: required(runtime, "--runtime")?,
            runtime_root,
            pid_file: required(pid_file, "--pid-file")?,
            exit_file: required(exit_file, "--exit-file")?,
            ctl: required(ctl, "--ctl")?,
            monitor_pid_file: required(monitor_pid_file, "--monitor-pid-file")?,
            log,
            stdin,
            timeout,
            detached,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_round_trip() {
        let args = MonitorArgs {
            id: "abc".into(),
            bundle: "/b".into(),
            runtime: "/usr/bin/runc".into(),
            runtime_root: Some("/run/r".into()),
            pid_file: "/b/pid".into(),
            exit_file: "/b/exit".into(),
            ctl: "/b/ctl".into(),
            monitor_pid_file: "/b/monitor.pid".into(),
            log: Some("/var/log/x.log".into()),
            stdin: true,
            timeout: Duration::from_secs(7),
            detached: false,
        };
        assert_eq!(MonitorArgs::parse(args.to_args()).unwrap(), args);
        let mut no_log = args.clone();
        no_log.log = None;
        no_log.runtime_root = None;
        no_log.detached = true;
        assert_eq!(MonitorArgs::parse(no_log.to_args()).unwrap(), no_log);
        assert!(MonitorArgs::parse(vec!["--id".into()]).is_err());
        assert!(MonitorArgs::parse(vec!["--bogus".into(), "x".into()]).is_err());
    }
}
