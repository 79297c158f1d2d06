//! Reading a cgroup's usage from the hierarchy holding each controller.

use super::ResourceUsage;
use super::layout::Layout;
use crate::model::Timestamp;
use std::path::Path;

/// The usage of cgroup `path`; a controller the node lacks counts as zero.
pub(super) fn read(layout: &Layout, path: &str, timestamp: Timestamp) -> ResourceUsage {
    let dir = |controller: &str| {
        layout
            .for_controller(controller)
            .or(layout.v2_root())
            .map(|h| h.mount.join(path.trim_start_matches('/')))
    };
    let mut usage = ResourceUsage {
        timestamp,
        ..ResourceUsage::default()
    };
    if let Some(dir) = dir("cpuacct").filter(|_| layout.for_controller("cpuacct").is_some()) {
        usage.cpu_usage_ns = number(&dir.join("cpuacct.usage"));
    } else if let Some(dir) = dir("cpu") {
        usage.cpu_usage_ns = stat(&dir.join("cpu.stat"), "usage_usec").saturating_mul(1000);
    }
    if let Some(dir) = dir("memory") {
        let v2 = dir.join("memory.current").exists();
        let memory_stat = dir.join("memory.stat");
        let (total, inactive, rss) = if v2 {
            (
                number(&dir.join("memory.current")),
                stat(&memory_stat, "inactive_file"),
                stat(&memory_stat, "anon"),
            )
        } else {
            (
                number(&dir.join("memory.usage_in_bytes")),
                stat(&memory_stat, "total_inactive_file"),
                stat(&memory_stat, "total_rss"),
            )
        };
        usage.memory_usage_bytes = total;
        usage.memory_working_set_bytes = total.saturating_sub(inactive);
        usage.memory_rss_bytes = rss;
    }
    if let Some(dir) = dir("pids") {
        usage.pids = number(&dir.join("pids.current"));
    }
    usage
}

fn number(file: &Path) -> u64 {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

/// The value of `key` in a `key value` per line file.
fn stat(file: &Path, key: &str) -> u64 {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .find_map(|line| {
            let (k, v) = line.split_once(' ')?;
            (k == key).then(|| v.trim().parse().ok()).flatten()
        })
        .unwrap_or(0)
}
