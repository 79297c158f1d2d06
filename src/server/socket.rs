//! The CRI socket file: created 0660, a stale one replaced, a live one refused.

use super::ServeError;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use tokio::net::UnixListener;

/// Binds the unix socket at `path`. A socket file nobody listens on is replaced; one another
/// process serves makes this fail with [`ServeError::SocketInUse`].
pub fn bind(path: &Path) -> Result<UnixListener, ServeError> {
    let fail = |message: String| ServeError::Socket {
        path: path.to_owned(),
        message,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| fail(format!("creating {}: {e}", parent.display())))?;
    }
    if path.symlink_metadata().is_ok() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(ServeError::SocketInUse(path.to_owned()));
        }
        std::fs::remove_file(path).map_err(|e| fail(format!("removing stale socket: {e}")))?;
    }
    // Bind and listen under a temporary name, then rename into place: the socket appears at
    // `path` only once it accepts connections, so a client that sees the file can connect.
    let staging = path.with_file_name(format!(
        ".{}.{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&staging);
    let listener = UnixListener::bind(&staging).map_err(|e| fail(e.to_string()))?;
    let placed = std::fs::set_permissions(&staging, std::fs::Permissions::from_mode(0o660))
        .map_err(|e| fail(format!("setting mode 0660: {e}")))
        .and_then(|()| {
            std::fs::rename(&staging, path)
                .map_err(|e| fail(format!("moving the socket into place: {e}")))
        });
    if let Err(e) = placed {
        let _ = std::fs::remove_file(&staging);
        return Err(e);
    }
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stale_socket_is_replaced_live_one_refused_mode_is_0660() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/crius.sock");
        let first = bind(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o660);
        assert!(matches!(bind(&path), Err(ServeError::SocketInUse(_))));
        drop(first);
        // The file stays behind with nobody listening: a stale socket.
        assert!(path.exists());
        let _second = bind(&path).unwrap();
    }
}
