//! Learning exits: a poll, every 100 ms, of the exit files of the containers still running.
//!
//! A poll rather than inotify: one `stat` per running container per tick is cheap, needs no
//! watch descriptors, and survives the directory being created after the watch starts.

use super::Inner;
use crate::backend::oci::{ExitNotice, ExitStatus};
use std::sync::Weak;
use std::time::Duration;

/// How often exit files are looked for.
pub(super) const POLL: Duration = Duration::from_millis(100);

/// Announces the exit of every watched container once; ends when the runtime is dropped.
pub(super) async fn watch_exits(inner: Weak<Inner>) {
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        let ids: Vec<String> = inner.watched.lock().iter().cloned().collect();
        for id in ids {
            let Some(record) = inner.dir(&id).exit_record() else {
                continue;
            };
            if inner.watched.lock().remove(&id) {
                let _ = inner.exits.send(ExitNotice {
                    id,
                    status: ExitStatus {
                        exit_code: record.exit_code,
                        finished_at: record.finished_at,
                        oom_killed: record.oom_killed,
                    },
                });
            }
        }
    }
}
