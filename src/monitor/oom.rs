//! Whether the kernel OOM-killed a process of the container: the `oom_kill` counter of its
//! memory cgroup (`memory.oom_control` on v1, `memory.events` on v2), compared before and after.

use std::path::{Path, PathBuf};

/// The OOM kill counter of one memory cgroup.
#[derive(Debug, Clone)]
pub struct OomCounter {
    file: PathBuf,
    baseline: u64,
}

/// `oom_kill <n>` in a flat-keyed cgroup file.
fn read_counter(file: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix("oom_kill "))
        .and_then(|n| n.trim().parse().ok())
}

/// Mount points of the v1 memory hierarchy and of the v2 hierarchy, from mountinfo text.
fn mount_points(mountinfo: &str) -> (Option<PathBuf>, Option<PathBuf>) {
    let mut v1 = None;
    let mut v2 = None;
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let point = left.split(' ').nth(4).map(PathBuf::from);
        let mut right = right.split(' ');
        let fstype = right.next();
        let options = right.nth(1).unwrap_or("");
        match fstype {
            Some("cgroup") if options.split(',').any(|o| o == "memory") => v1 = v1.or(point),
            Some("cgroup2") => v2 = v2.or(point),
            _ => {}
        }
    }
    (v1, v2)
}

/// The counter file of the memory cgroup of `pid`, from `/proc/<pid>/cgroup` and mountinfo.
fn counter_file(proc_cgroup: &str, mountinfo: &str) -> Option<PathBuf> {
    let (v1, v2) = mount_points(mountinfo);
    let mut v2_path = None;
    for line in proc_cgroup.lines() {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        let relative = path.trim_start_matches('/');
        if controllers.split(',').any(|c| c == "memory")
            && let Some(mount) = &v1
        {
            return Some(mount.join(relative).join("memory.oom_control"));
        }
        if controllers.is_empty() {
            v2_path = v2.as_ref().map(|m| m.join(relative).join("memory.events"));
        }
    }
    v2_path
}

impl OomCounter {
    /// The counter of the memory cgroup `pid` is in, with its current value as the baseline;
    /// `None` when the cgroup has no counter (no memory controller, or a kernel before 4.13).
    pub fn for_pid(pid: u32) -> Option<OomCounter> {
        let proc_cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
        let file = counter_file(&proc_cgroup, &mountinfo)?;
        let baseline = read_counter(&file)?;
        Some(OomCounter { file, baseline })
    }

    /// Whether the counter went up since the baseline.
    pub fn fired(&self) -> bool {
        read_counter(&self.file).is_some_and(|now| now > self.baseline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
30 25 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
35 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 30 0:32 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu";

    #[test]
    fn finds_the_v1_memory_counter_on_a_hybrid_layout() {
        let cgroup = "9:name=systemd:/\n4:memory:/crius/pod/ctr\n0::/\n";
        assert_eq!(
            counter_file(cgroup, MOUNTINFO),
            Some(PathBuf::from(
                "/sys/fs/cgroup/memory/crius/pod/ctr/memory.oom_control"
            ))
        );
    }

    #[test]
    fn finds_the_v2_counter_without_a_v1_memory_hierarchy() {
        let mountinfo = "31 25 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw";
        assert_eq!(
            counter_file("0::/crius/pod/ctr\n", mountinfo),
            Some(PathBuf::from("/sys/fs/cgroup/crius/pod/ctr/memory.events"))
        );
    }

    #[test]
    fn reads_the_oom_kill_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("memory.oom_control");
        std::fs::write(&file, "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n").unwrap();
        assert_eq!(read_counter(&file), Some(2));
        let counter = OomCounter {
            file: file.clone(),
            baseline: 2,
        };
        assert!(!counter.fired());
        std::fs::write(&file, "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n").unwrap();
        assert!(counter.fired());
    }
}
