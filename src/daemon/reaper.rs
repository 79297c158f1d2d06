//! The daemon as a child subreaper: orphans of the processes it starts (runc's children, a
//! monitor whose parent exited, CNI plugins' helpers) are re-parented to crius rather than to
//! init, and this module reaps the ones nobody waits for.
//!
//! Ownership is decided by time, because the daemon has many owners of child processes (tokio
//! process handles, the OCI runtime's monitors, pod PID-namespace inits) and no shared
//! registry: an owner waits for its child as soon as SIGCHLD arrives. A zombie child that is
//! still unreaped after [`GRACE`] (same pid, same start time) has no owner waiting, so it is
//! reaped here. A child that is alive is never touched.

use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::signal::unix::{SignalKind, signal};

/// How long a zombie child stays for its owner before it is reaped here.
pub const GRACE: Duration = Duration::from_secs(2);

/// Makes this process the reaper of its descendants' orphans (`PR_SET_CHILD_SUBREAPER`).
pub fn become_subreaper() -> Result<(), String> {
    nix::sys::prctl::set_child_subreaper(true)
        .map_err(|e| format!("prctl(PR_SET_CHILD_SUBREAPER): {e}"))
}

/// A zombie child: pid and start time (in clock ticks since boot, to tell reused pids apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Zombie {
    pid: i32,
    start: u64,
}

/// Reaps unowned zombie children until the task is dropped; wakes on SIGCHLD.
pub fn spawn_orphan_reaper() -> Result<tokio::task::JoinHandle<()>, String> {
    let mut sigchld =
        signal(SignalKind::child()).map_err(|e| format!("listening for SIGCHLD: {e}"))?;
    let me = std::process::id() as i32;
    Ok(tokio::spawn(async move {
        let mut seen: HashMap<i32, (u64, Instant)> = HashMap::new();
        // The first pass runs at once: a child may have exited before SIGCHLD was watched.
        let mut first = true;
        loop {
            if !first {
                let wait = if seen.is_empty() {
                    Duration::from_secs(60)
                } else {
                    GRACE / 2
                };
                tokio::select! {
                    _ = sigchld.recv() => {}
                    _ = tokio::time::sleep(wait) => {}
                }
            }
            first = false;
            let zombies = match tokio::task::spawn_blocking(move || zombie_children(me)).await {
                Ok(zombies) => zombies,
                Err(_) => continue,
            };
            seen.retain(|pid, (start, _)| {
                zombies.iter().any(|z| z.pid == *pid && z.start == *start)
            });
            for zombie in zombies {
                let since = seen
                    .entry(zombie.pid)
                    .or_insert((zombie.start, Instant::now()))
                    .1;
                if since.elapsed() >= GRACE {
                    seen.remove(&zombie.pid);
                    reap(zombie.pid);
                }
            }
        }
    }))
}

fn reap(pid: i32) {
    match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::Exited(_, code)) => tracing::debug!(pid, code, "reaped an orphan"),
        Ok(WaitStatus::Signaled(_, signal, _)) => tracing::debug!(pid, ?signal, "reaped an orphan"),
        Ok(_) => {}
        // Its owner got there first.
        Err(e) => tracing::trace!(pid, error = %e, "orphan already reaped"),
    }
}

/// The zombie children of process `parent`, from `/proc/<pid>/stat`.
fn zombie_children(parent: i32) -> Vec<Zombie> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let (state, ppid, start) = parse_stat(&stat)?;
            (state == 'Z' && ppid == parent).then_some(Zombie { pid, start })
        })
        .collect()
}

/// State, parent pid and start time from a `/proc/<pid>/stat` line. The command name is in
/// parentheses and may hold spaces and parentheses itself, so fields count from the last `)`.
fn parse_stat(stat: &str) -> Option<(char, i32, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let ppid = fields.get(1)?.parse().ok()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((state, ppid, start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_parse_past_odd_command_names() {
        let line =
            "4242 (we (ird) name) Z 17 4242 4242 0 -1 4194564 1 0 0 0 0 0 0 0 20 0 1 0 987654 0 0";
        assert_eq!(parse_stat(line), Some(('Z', 17, 987654)));
        assert_eq!(parse_stat("1 (init) S"), None);
    }

    #[tokio::test]
    async fn an_unwaited_zombie_child_is_reaped_after_the_grace() {
        // std's Child is never waited for here, so only the reaper can collect it.
        let child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        let reaper = spawn_orphan_reaper().unwrap();
        let deadline = Instant::now() + GRACE * 4;
        let gone = loop {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"));
            if stat.is_err() {
                break true;
            }
            if Instant::now() > deadline {
                break false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        reaper.abort();
        drop(child);
        assert!(gone, "zombie {pid} was not reaped");
    }
}
