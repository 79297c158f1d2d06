//! The monitor's CRI log file: written by the stream readers, reopened on request.

use crate::cri_log::{CriLogWriter, Stream};
use std::fs::{File, OpenOptions};
use std::io;
use std::path::PathBuf;

/// The container's log, or nowhere when kubelet asked for none.
pub struct LogSink {
    path: Option<PathBuf>,
    writer: Option<CriLogWriter<File>>,
}

fn open(path: &PathBuf) -> io::Result<CriLogWriter<File>> {
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    Ok(CriLogWriter::new(file))
}

impl LogSink {
    /// Opens (creating, appending) the log at `path`, if any.
    pub fn open(path: Option<PathBuf>) -> io::Result<LogSink> {
        let writer = path.as_ref().map(open).transpose()?;
        Ok(LogSink { path, writer })
    }

    /// Writes output of `stream` read at `timestamp`. Write errors are reported once and the
    /// output is dropped: the container must not block on a full disk.
    pub fn write(&mut self, stream: Stream, timestamp: i64, bytes: &[u8]) {
        if let Some(writer) = &mut self.writer
            && let Err(e) = writer.write(stream, timestamp, bytes)
        {
            eprintln!("crius-monitor: writing the log: {e}");
        }
    }

    /// Closes the log and opens its path again (after kubelet rotated it).
    pub fn reopen(&mut self) -> io::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        if let Some(writer) = &mut self.writer {
            let _ = writer.flush();
        }
        self.writer = Some(open(path)?);
        Ok(())
    }

    /// Flushes what is buffered.
    pub fn flush(&mut self) {
        if let Some(writer) = &mut self.writer {
            let _ = writer.flush();
        }
    }
}
