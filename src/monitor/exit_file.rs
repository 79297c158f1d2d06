//! The exit record a monitor leaves when its container ends: `<container dir>/exit`, JSON,
//! written atomically (a temporary file renamed into place), read by the daemon.

use crate::model::Timestamp;
use serde::{Deserialize, Serialize};
use std::io::{self, Write};
use std::path::Path;

/// How a container ended, as the monitor saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitRecord {
    /// Exit code; 128 + the signal number when a signal ended it.
    pub exit_code: i32,
    /// When it ended, in nanoseconds since the Unix epoch.
    pub finished_at: Timestamp,
    /// Whether the kernel's OOM killer killed a process of the container.
    pub oom_killed: bool,
}

impl ExitRecord {
    /// Writes the record to `path` atomically.
    pub fn write(&self, path: &Path) -> io::Result<()> {
        let temporary = path.with_extension("tmp");
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(&serde_json::to_vec(self).map_err(io::Error::other)?)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    }

    /// Reads the record at `path`: `None` when there is none yet.
    pub fn read(path: &Path) -> io::Result<Option<ExitRecord>> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Nanoseconds since the Unix epoch, now.
pub fn now() -> Timestamp {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("exit");
        assert_eq!(ExitRecord::read(&path).unwrap(), None);
        let record = ExitRecord {
            exit_code: 137,
            finished_at: 5,
            oom_killed: true,
        };
        record.write(&path).unwrap();
        assert_eq!(ExitRecord::read(&path).unwrap(), Some(record));
        assert!(!dir.path().join("exit.tmp").exists());
    }
}
