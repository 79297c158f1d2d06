//! [`CgroupFs`]: pod cgroups by direct cgroupfs writes, on v1, hybrid and v2 layouts.
//!
//! Written here rather than with `cgroups-rs`: that crate picks v1 *or* v2 for the whole
//! machine, so on a hybrid node it ignores the unified hierarchy, and it reads more than we
//! need; what crius needs is a handful of `mkdir`, `rmdir` and reads of stat files.
//!
//! # Paths (the contract with the OCI backend)
//!
//! A pod's cgroup is `<cgroup_parent>/crius-<sandbox_id>` (parent `/crius` when kubelet gives
//! none), created in *every* mounted hierarchy (each v1 controller, named ones such as
//! `name=systemd`, and the unified one). A container's cgroup is
//! `<pod cgroup>/<container id>` in the same hierarchies: the OCI backend puts containers there
//! (as `linux.cgroupsPath`), and [`Cgroups::container_usage`] reads them there.
//!
//! Statistics come from the hierarchy holding each controller: `cpuacct.usage` or `cpu.stat`
//! `usage_usec`; `memory.usage_in_bytes` or `memory.current`; working set = usage −
//! inactive file cache; rss = `total_rss` (v1) or `anon` (v2); `pids.current`.

use super::layout::{CgroupMode, Hierarchy, Layout};
use super::{CgroupDriver, CgroupError, Cgroups, ResourceUsage};
use crate::error::ErrorKind;
use crate::model::LinuxResources;
use async_trait::async_trait;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The parent of pod cgroups when kubelet gives none.
pub const DEFAULT_PARENT: &str = "/crius";

/// cgroupfs pod cgroups.
#[derive(Debug, Clone)]
pub struct CgroupFs {
    layout: Arc<Layout>,
    pods: Arc<Mutex<HashMap<String, String>>>,
}

fn failed(id: &str, kind: ErrorKind, message: impl Into<String>) -> CgroupError {
    CgroupError::Failed {
        id: id.to_string(),
        message: message.into(),
        kind,
    }
}

fn usable_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
}

/// `/a/b` from kubelet's parent, refusing anything that climbs out of the hierarchy.
fn normalize_parent(parent: &str) -> Result<String, String> {
    let parent = if parent.trim_matches('/').is_empty() {
        DEFAULT_PARENT
    } else {
        parent
    };
    let parts: Vec<&str> = parent.split('/').filter(|p| !p.is_empty()).collect();
    if parts.iter().any(|p| !usable_name(p)) {
        return Err(format!("cgroup parent {parent:?} is not a cgroupfs path"));
    }
    Ok(format!("/{}", parts.join("/")))
}

/// `hierarchy mount + /a/b`.
fn in_hierarchy(hierarchy: &Hierarchy, path: &str) -> PathBuf {
    hierarchy.mount.join(path.trim_start_matches('/'))
}

impl CgroupFs {
    /// Pod cgroups on this machine's layout.
    pub fn new() -> Result<CgroupFs, String> {
        Ok(CgroupFs::with_layout(Layout::detect()?))
    }

    /// Pod cgroups on a given layout.
    pub fn with_layout(layout: Layout) -> CgroupFs {
        CgroupFs {
            layout: Arc::new(layout),
            pods: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The detected layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The directories of cgroup `path` in every hierarchy.
    pub fn directories(&self, path: &str) -> Vec<PathBuf> {
        self.layout
            .hierarchies
            .iter()
            .map(|h| in_hierarchy(h, path))
            .collect()
    }

    /// The cgroup path of a pod: remembered, else found by name (after a restart).
    fn pod_path(&self, sandbox_id: &str) -> Option<String> {
        if let Some(path) = self.pods.lock().get(sandbox_id) {
            return Some(path.clone());
        }
        let found = find_dir(
            &self.layout.reference().mount,
            &format!("crius-{sandbox_id}"),
            None,
        )?;
        self.pods
            .lock()
            .insert(sandbox_id.to_string(), found.clone());
        Some(found)
    }

    fn create_blocking(&self, sandbox_id: &str, parent: &str) -> Result<String, CgroupError> {
        if !usable_name(sandbox_id) {
            return Err(failed(
                sandbox_id,
                ErrorKind::InvalidArgument,
                "the sandbox id is not a cgroup name",
            ));
        }
        let parent = normalize_parent(parent)
            .map_err(|m| failed(sandbox_id, ErrorKind::InvalidArgument, m))?;
        let path = format!("{parent}/crius-{sandbox_id}");
        for hierarchy in &self.layout.hierarchies {
            make_cgroup(hierarchy, &path, self.layout.mode)
                .map_err(|m| failed(sandbox_id, ErrorKind::Internal, m))?;
        }
        self.pods
            .lock()
            .insert(sandbox_id.to_string(), path.clone());
        Ok(path)
    }

    fn remove_blocking(&self, sandbox_id: &str) -> Result<(), CgroupError> {
        if !usable_name(sandbox_id) {
            return Ok(());
        }
        let Some(path) = self.pod_path(sandbox_id) else {
            return Ok(());
        };
        for dir in self.directories(&path) {
            remove_tree(&dir).map_err(|(kind, m)| failed(sandbox_id, kind, m))?;
        }
        self.pods.lock().remove(sandbox_id);
        Ok(())
    }

    fn container_path(&self, container_id: &str) -> Option<String> {
        if !usable_name(container_id) {
            return None;
        }
        let reference = self.layout.reference();
        let known: Vec<String> = self.pods.lock().values().cloned().collect();
        known
            .into_iter()
            .map(|pod| format!("{pod}/{container_id}"))
            .find(|path| in_hierarchy(reference, path).is_dir())
            .or_else(|| find_dir(&reference.mount, container_id, Some("crius-")))
    }

    fn usage_of(&self, id: &str, path: &str) -> Result<ResourceUsage, CgroupError> {
        if !in_hierarchy(self.layout.reference(), path).is_dir() {
            return Err(CgroupError::NotFound { id: id.to_string() });
        }
        let timestamp = crate::backend::Clock::now(&crate::backend::clock::SystemClock);
        Ok(super::stats::read(&self.layout, path, timestamp))
    }
}

/// `mkdir -p` of `path` in `hierarchy`, preparing fresh levels: cpuset v1 levels inherit
/// their parent's CPUs and memory nodes (else no process could join), and in v2 mode the
/// parent levels delegate the controllers they have.
fn make_cgroup(hierarchy: &Hierarchy, path: &str, mode: CgroupMode) -> Result<(), String> {
    let mut dir = hierarchy.mount.clone();
    let cpuset = !hierarchy.unified && hierarchy.controllers.iter().any(|c| c == "cpuset");
    for part in path.split('/').filter(|p| !p.is_empty()) {
        if mode == CgroupMode::V2 && hierarchy.unified {
            delegate_controllers(&dir);
        }
        let parent = dir.clone();
        dir.push(part);
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("creating {}: {e}", dir.display())),
        }
        if cpuset {
            for file in ["cpuset.cpus", "cpuset.mems"] {
                let value = std::fs::read_to_string(parent.join(file)).unwrap_or_default();
                std::fs::write(dir.join(file), value.trim())
                    .map_err(|e| format!("writing {}: {e}", dir.join(file).display()))?;
            }
        }
    }
    if mode == CgroupMode::V2 && hierarchy.unified {
        delegate_controllers(&dir);
    }
    Ok(())
}

/// Enables, one by one, the cpu, memory and pids controllers a v2 cgroup has for its children.
/// Best effort: a controller the parent lacks, or a cgroup with processes of its own, refuses.
fn delegate_controllers(dir: &Path) {
    let available = std::fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
    for controller in ["cpu", "memory", "pids"] {
        if available.split_whitespace().any(|c| c == controller) {
            let _ = std::fs::write(dir.join("cgroup.subtree_control"), format!("+{controller}"));
        }
    }
}

/// Removes a cgroup and its (empty) descendants, deepest first; kills nothing. A missing
/// cgroup is fine; one with processes is a FailedPrecondition.
fn remove_tree(dir: &Path) -> Result<(), (ErrorKind, String)> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err((
                ErrorKind::Internal,
                format!("reading {}: {e}", dir.display()),
            ));
        }
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_tree(&entry.path())?;
        }
    }
    match std::fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) if e.raw_os_error() == Some(nix::libc::EBUSY) => Err((
            ErrorKind::FailedPrecondition,
            format!("{} still has processes: {e}", dir.display()),
        )),
        Err(e) => Err((
            ErrorKind::Internal,
            format!("removing {}: {e}", dir.display()),
        )),
    }
}

/// The cgroup path (relative to `root`) of the first directory named `name`, optionally only
/// one whose parent's name starts with `parent_prefix`; searched breadth-first, 10 levels.
fn find_dir(root: &Path, name: &str, parent_prefix: Option<&str>) -> Option<String> {
    let mut level = vec![root.to_path_buf()];
    for _ in 0..10 {
        let mut next = Vec::new();
        for dir in level {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                    continue;
                }
                let path = entry.path();
                let parent_ok = parent_prefix.is_none_or(|prefix| {
                    dir.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(prefix))
                });
                if entry.file_name().to_str() == Some(name) && parent_ok {
                    let relative = path.strip_prefix(root).ok()?;
                    return Some(format!("/{}", relative.display()));
                }
                next.push(path);
            }
        }
        level = next;
    }
    None
}

async fn blocking<T: Send + 'static>(
    id: &str,
    work: impl FnOnce() -> Result<T, CgroupError> + Send + 'static,
) -> Result<T, CgroupError> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(failed(id, ErrorKind::Internal, format!("cgroup task: {e}"))))
}

#[async_trait]
impl Cgroups for CgroupFs {
    fn driver(&self) -> CgroupDriver {
        CgroupDriver::Cgroupfs
    }

    async fn create_pod(&self, sandbox_id: &str, parent: &str) -> Result<String, CgroupError> {
        let (this, id, parent) = (self.clone(), sandbox_id.to_string(), parent.to_string());
        blocking(sandbox_id, move || this.create_blocking(&id, &parent)).await
    }

    async fn remove_pod(&self, sandbox_id: &str) -> Result<(), CgroupError> {
        let (this, id) = (self.clone(), sandbox_id.to_string());
        blocking(sandbox_id, move || this.remove_blocking(&id)).await
    }

    async fn container_usage(&self, container_id: &str) -> Result<ResourceUsage, CgroupError> {
        let (this, id) = (self.clone(), container_id.to_string());
        blocking(container_id, move || {
            let path = this
                .container_path(&id)
                .ok_or_else(|| CgroupError::NotFound { id: id.clone() })?;
            this.usage_of(&id, &path)
        })
        .await
    }

    async fn pod_usage(&self, sandbox_id: &str) -> Result<ResourceUsage, CgroupError> {
        let (this, id) = (self.clone(), sandbox_id.to_string());
        blocking(sandbox_id, move || {
            if !usable_name(&id) {
                return Err(CgroupError::NotFound { id: id.clone() });
            }
            let path = this
                .pod_path(&id)
                .ok_or_else(|| CgroupError::NotFound { id: id.clone() })?;
            this.usage_of(&id, &path)
        })
        .await
    }

    async fn update_pod(
        &self,
        sandbox_id: &str,
        resources: &LinuxResources,
    ) -> Result<(), CgroupError> {
        let (this, id, resources) = (self.clone(), sandbox_id.to_string(), resources.clone());
        blocking(sandbox_id, move || {
            if !usable_name(&id) {
                return Err(CgroupError::NotFound { id: id.clone() });
            }
            let path = this
                .pod_path(&id)
                .ok_or_else(|| CgroupError::NotFound { id: id.clone() })?;
            super::limits::apply(&this.layout, &path, &resources)
                .map_err(|m| failed(&id, ErrorKind::Internal, m))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_are_normalized_and_checked() {
        assert_eq!(normalize_parent("").unwrap(), "/crius");
        assert_eq!(
            normalize_parent("/kubepods/burstable/pod1234/").unwrap(),
            "/kubepods/burstable/pod1234"
        );
        assert_eq!(normalize_parent("kubepods").unwrap(), "/kubepods");
        assert!(normalize_parent("/kubepods/../etc").is_err());
        assert!(normalize_parent("/kubepods.slice/x y").is_err());
    }
}
