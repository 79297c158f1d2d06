//! Writing resource limits into a cgroup, in the v1 or v2 file vocabulary.

use super::layout::{Hierarchy, Layout};
use crate::model::LinuxResources;
use std::path::Path;

/// cgroup v2 `cpu.weight` for v1 `cpu.shares` (2..=262144 onto 1..=10000), the conversion
/// runc and the kernel documentation use.
pub fn shares_to_weight(shares: i64) -> u64 {
    let shares = shares.clamp(2, 262_144) as u64;
    1 + ((shares - 2) * 9999) / 262_142
}

/// The files and values that express `resources` in `hierarchy`, leaving unset (zero or empty)
/// fields alone.
fn settings(hierarchy: &Hierarchy, resources: &LinuxResources) -> Vec<(String, String)> {
    let has = |controller: &str| hierarchy.controllers.iter().any(|c| c == controller);
    let mut out = Vec::new();
    if hierarchy.unified {
        if has("cpu") {
            if resources.cpu_shares > 0 {
                out.push((
                    "cpu.weight".into(),
                    shares_to_weight(resources.cpu_shares).to_string(),
                ));
            }
            if resources.cpu_period > 0 || resources.cpu_quota != 0 {
                let quota = if resources.cpu_quota > 0 {
                    resources.cpu_quota.to_string()
                } else {
                    "max".into()
                };
                let period = if resources.cpu_period > 0 {
                    resources.cpu_period
                } else {
                    100_000
                };
                out.push(("cpu.max".into(), format!("{quota} {period}")));
            }
        }
        if has("memory") && resources.memory_limit_in_bytes > 0 {
            out.push((
                "memory.max".into(),
                resources.memory_limit_in_bytes.to_string(),
            ));
        }
        if has("cpuset") {
            push_cpuset(&mut out, resources);
        }
        for (key, value) in resources.unified.iter() {
            out.push((key.clone(), value.clone()));
        }
    } else {
        if has("cpu") {
            if resources.cpu_shares > 0 {
                out.push(("cpu.shares".into(), resources.cpu_shares.to_string()));
            }
            if resources.cpu_period > 0 {
                out.push(("cpu.cfs_period_us".into(), resources.cpu_period.to_string()));
            }
            if resources.cpu_quota != 0 {
                out.push(("cpu.cfs_quota_us".into(), resources.cpu_quota.to_string()));
            }
        }
        if has("memory") && resources.memory_limit_in_bytes > 0 {
            out.push((
                "memory.limit_in_bytes".into(),
                resources.memory_limit_in_bytes.to_string(),
            ));
        }
        if has("cpuset") {
            push_cpuset(&mut out, resources);
        }
    }
    out
}

fn push_cpuset(out: &mut Vec<(String, String)>, resources: &LinuxResources) {
    if !resources.cpuset_cpus.is_empty() {
        out.push(("cpuset.cpus".into(), resources.cpuset_cpus.clone()));
    }
    if !resources.cpuset_mems.is_empty() {
        out.push(("cpuset.mems".into(), resources.cpuset_mems.clone()));
    }
}

/// Writes `resources` into the cgroup at `path` in every hierarchy of `layout`.
pub(super) fn apply(layout: &Layout, path: &str, resources: &LinuxResources) -> Result<(), String> {
    for hierarchy in &layout.hierarchies {
        let dir = hierarchy.mount.join(path.trim_start_matches('/'));
        for (file, value) in settings(hierarchy, resources) {
            if file.contains('/') || file.starts_with('.') {
                return Err(format!("{file:?} is not a cgroup file name"));
            }
            write(&dir.join(&file), &value)?;
        }
    }
    Ok(())
}

fn write(file: &Path, value: &str) -> Result<(), String> {
    std::fs::write(file, value).map_err(|e| format!("writing {value:?} to {}: {e}", file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn hierarchy(unified: bool, controllers: &[&str]) -> Hierarchy {
        Hierarchy {
            mount: PathBuf::from("/sys/fs/cgroup"),
            controllers: controllers.iter().map(|c| c.to_string()).collect(),
            unified,
        }
    }

    #[test]
    fn shares_map_onto_weights_like_runc() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(0), 1);
    }

    #[test]
    fn v1_and_v2_vocabularies() {
        let resources = LinuxResources {
            cpu_shares: 512,
            cpu_quota: 50_000,
            cpu_period: 100_000,
            memory_limit_in_bytes: 64 << 20,
            ..Default::default()
        };
        let v1 = settings(&hierarchy(false, &["cpu", "cpuacct"]), &resources);
        assert_eq!(
            v1,
            vec![
                ("cpu.shares".to_string(), "512".to_string()),
                ("cpu.cfs_period_us".to_string(), "100000".to_string()),
                ("cpu.cfs_quota_us".to_string(), "50000".to_string()),
            ]
        );
        let v1_memory = settings(&hierarchy(false, &["memory"]), &resources);
        assert_eq!(
            v1_memory,
            vec![(
                "memory.limit_in_bytes".to_string(),
                (64u64 << 20).to_string()
            )]
        );
        let v2 = settings(&hierarchy(true, &["cpu", "memory"]), &resources);
        assert_eq!(
            v2,
            vec![
                ("cpu.weight".to_string(), "20".to_string()),
                ("cpu.max".to_string(), "50000 100000".to_string()),
                ("memory.max".to_string(), (64u64 << 20).to_string()),
            ]
        );
        assert!(settings(&hierarchy(false, &["cpu"]), &LinuxResources::default()).is_empty());
    }
}
