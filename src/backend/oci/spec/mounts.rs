//! The container's mounts: the kernel filesystems every container has, the pod's files, and
//! kubelet's bind mounts.

use super::SpecError;
use crate::backend::oci::PodHandle;
use crate::model::{Mount as CriMount, MountPropagation};
use oci_spec::runtime::{Mount, MountBuilder};
use std::path::Path;

fn mount(destination: &str, typ: &str, source: &str, options: &[&str]) -> Result<Mount, SpecError> {
    MountBuilder::default()
        .destination(destination)
        .typ(typ)
        .source(source)
        .options(options.iter().map(|o| o.to_string()).collect::<Vec<_>>())
        .build()
        .map_err(SpecError::internal)
}

fn bind(destination: &str, source: &Path, options: Vec<String>) -> Result<Mount, SpecError> {
    MountBuilder::default()
        .destination(destination)
        .typ("bind")
        .source(source)
        .options(options)
        .build()
        .map_err(SpecError::internal)
}

/// `/proc`, `/dev`, `/dev/pts`, `/dev/mqueue`, `/sys` and `/sys/fs/cgroup` (read-only unless
/// privileged).
fn kernel_filesystems(privileged: bool) -> Result<Vec<Mount>, SpecError> {
    let ro = if privileged { "rw" } else { "ro" };
    Ok(vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"])?,
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        )?,
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        )?,
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        )?,
        mount("/sys", "sysfs", "sysfs", &["nosuid", "noexec", "nodev", ro])?,
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "relatime", ro],
        )?,
    ])
}

/// The pod's `/etc/hostname`, `/etc/hosts`, `/etc/resolv.conf` and `/dev/shm`.
fn pod_files(pod: &PodHandle, readonly_rootfs: bool) -> Result<Vec<Mount>, SpecError> {
    let mut mounts = Vec::new();
    for (destination, source) in &pod.files {
        let mut options = vec!["rbind".to_string(), "rprivate".to_string()];
        if destination == "/dev/shm" {
            options.extend(["nosuid", "nodev", "noexec"].map(String::from));
        } else if readonly_rootfs {
            options.push("ro".to_string());
        }
        mounts.push(bind(destination, source, options)?);
    }
    Ok(mounts)
}

fn propagation(mode: MountPropagation) -> &'static str {
    match mode {
        MountPropagation::Private => "rprivate",
        MountPropagation::HostToContainer => "rslave",
        MountPropagation::Bidirectional => "rshared",
    }
}

fn normalized(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".to_string()
    } else {
        trimmed.to_string()
    }
}

/// Every mount of the container, in mounting order. kubelet's mounts replace a kernel
/// filesystem or pod file at the same destination; they are sorted by depth so a parent
/// directory is mounted before what is mounted inside it.
pub fn container_mounts(
    cri: &[CriMount],
    pod: &PodHandle,
    privileged: bool,
    readonly_rootfs: bool,
) -> Result<Vec<Mount>, SpecError> {
    let mut cri: Vec<&CriMount> = cri.iter().collect();
    for m in &cri {
        if !m.container_path.starts_with('/') {
            return Err(SpecError::invalid(format!(
                "mount destination {:?} is not absolute",
                m.container_path
            )));
        }
        if m.host_path.is_empty() {
            return Err(SpecError::invalid(format!(
                "mount {:?} has no host path",
                m.container_path
            )));
        }
    }
    cri.sort_by_key(|m| {
        normalized(&m.container_path)
            .split('/')
            .filter(|p| !p.is_empty())
            .count()
    });
    let taken: Vec<String> = cri.iter().map(|m| normalized(&m.container_path)).collect();
    let free = |m: &Mount| !taken.contains(&normalized(&m.destination().to_string_lossy()));
    let mut mounts: Vec<Mount> = kernel_filesystems(privileged)?
        .into_iter()
        .filter(free)
        .collect();
    mounts.extend(pod_files(pod, readonly_rootfs)?.into_iter().filter(free));
    for m in cri {
        let options = vec![
            "rbind".to_string(),
            propagation(m.propagation).to_string(),
            if m.readonly { "ro" } else { "rw" }.to_string(),
        ];
        mounts.push(bind(&m.container_path, Path::new(&m.host_path), options)?);
    }
    Ok(mounts)
}

/// The rootfs propagation a set of kubelet mounts needs: `rshared` for a bidirectional mount,
/// `rslave` for host-to-container, else none (runc's default, rprivate).
pub fn rootfs_propagation(cri: &[CriMount]) -> Option<String> {
    if cri
        .iter()
        .any(|m| m.propagation == MountPropagation::Bidirectional)
    {
        Some("rshared".to_string())
    } else if cri
        .iter()
        .any(|m| m.propagation == MountPropagation::HostToContainer)
    {
        Some("rslave".to_string())
    } else {
        None
    }
}
