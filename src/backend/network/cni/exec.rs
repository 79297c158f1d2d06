//! Running one CNI plugin: environment, configuration on stdin, result on stdout, a deadline.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// The parameters of a plugin call that do not depend on the plugin.
#[derive(Debug, Clone)]
pub struct Call<'a> {
    /// `ADD`, `DEL`, `CHECK`, `STATUS` or `VERSION`.
    pub command: &'static str,
    /// `CNI_CONTAINERID`.
    pub container_id: &'a str,
    /// `CNI_NETNS`, empty when absent.
    pub netns: Option<&'a Path>,
    /// `CNI_IFNAME`.
    pub ifname: &'a str,
    /// `CNI_ARGS`.
    pub args: &'a str,
    /// Where plugins are looked for, in order (`CNI_PATH`).
    pub plugin_dirs: &'a [PathBuf],
    /// Deadline of the call.
    pub timeout: Duration,
}

/// Why a plugin call failed.
#[derive(Debug)]
pub enum PluginError {
    /// No executable of that name in the plugin directories.
    NotFound(String),
    /// The plugin overran the deadline and was killed.
    Timeout(String),
    /// The plugin ran and failed, or said something unreadable.
    Failed(String),
}

impl PluginError {
    /// The explanation.
    pub fn message(&self) -> &str {
        match self {
            PluginError::NotFound(m) | PluginError::Timeout(m) | PluginError::Failed(m) => m,
        }
    }
}

/// The executable of plugin `kind` in the first directory that has it.
pub fn find_plugin(kind: &str, dirs: &[PathBuf]) -> Result<PathBuf, PluginError> {
    use std::os::unix::fs::PermissionsExt;
    dirs.iter()
        .map(|dir| dir.join(kind))
        .find(|path| {
            path.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .ok_or_else(|| {
            let dirs: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
            PluginError::NotFound(format!(
                "CNI plugin {kind:?} not found in {}",
                dirs.join(":")
            ))
        })
}

/// Runs plugin `kind` with `config` on stdin; returns its stdout parsed as JSON (`None` when
/// it printed nothing, as DEL and CHECK may).
pub async fn run(
    kind: &str,
    call: &Call<'_>,
    config: &Value,
) -> Result<Option<Value>, PluginError> {
    let binary = find_plugin(kind, call.plugin_dirs)?;
    let cni_path = std::env::join_paths(call.plugin_dirs)
        .map_err(|e| PluginError::Failed(format!("CNI_PATH: {e}")))?;
    let stdin = serde_json::to_vec(config)
        .map_err(|e| PluginError::Failed(format!("encoding the config: {e}")))?;
    let what = format!(
        "CNI {} of plugin {kind} for {}",
        call.command, call.container_id
    );
    let mut child = tokio::process::Command::new(&binary)
        .env("CNI_COMMAND", call.command)
        .env("CNI_CONTAINERID", call.container_id)
        .env(
            "CNI_NETNS",
            call.netns.map(Path::as_os_str).unwrap_or_default(),
        )
        .env("CNI_IFNAME", call.ifname)
        .env("CNI_ARGS", call.args)
        .env("CNI_PATH", cni_path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| PluginError::Failed(format!("{what}: starting {}: {e}", binary.display())))?;
    let mut pipe = child.stdin.take().expect("stdin is piped");
    let finished = async move {
        // A plugin may exit without reading its stdin; that is its business, not an error.
        let _ = pipe.write_all(&stdin).await;
        drop(pipe);
        child.wait_with_output().await
    };
    // On timeout the future, and with it the child, is dropped: kill_on_drop kills it.
    let output = tokio::time::timeout(call.timeout, finished)
        .await
        .map_err(|_| PluginError::Timeout(format!("{what}: no answer within {:?}", call.timeout)))?
        .map_err(|e| PluginError::Failed(format!("{what}: {e}")))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(PluginError::Failed(format!(
            "{what}: {} ({})",
            plugin_error_message(&stdout, &String::from_utf8_lossy(&output.stderr)),
            output.status
        )));
    }
    if stdout.trim().is_empty() {
        return Ok(None);
    }
    serde_json::from_str(&stdout)
        .map(Some)
        .map_err(|e| PluginError::Failed(format!("{what}: unreadable result {stdout:?}: {e}")))
}

/// The message of a CNI error result (`{"code":…,"msg":…,"details":…}`), else stderr.
fn plugin_error_message(stdout: &str, stderr: &str) -> String {
    if let Ok(Value::Object(error)) = serde_json::from_str::<Value>(stdout) {
        let code = error.get("code").and_then(Value::as_u64).unwrap_or(0);
        let msg = error.get("msg").and_then(Value::as_str).unwrap_or("");
        let details = error.get("details").and_then(Value::as_str).unwrap_or("");
        let mut message = format!("error {code}: {msg}");
        if !details.is_empty() {
            message.push_str(&format!(": {details}"));
        }
        return message;
    }
    let text = if stderr.trim().is_empty() {
        stdout
    } else {
        stderr
    };
    text.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cni_error_results_are_read() {
        let message = plugin_error_message(
            r#"{"cniVersion":"1.0.0","code":7,"msg":"bad","details":"why"}"#,
            "",
        );
        assert_eq!(message, "error 7: bad: why");
        assert_eq!(plugin_error_message("", "panic: boom\n"), "panic: boom");
    }
}
