//! cgroup resources and devices of a container.

use super::SpecError;
use crate::model::{Device, LinuxResources as CriResources};
use oci_spec::runtime::{
    LinuxCpuBuilder, LinuxDevice, LinuxDeviceBuilder, LinuxDeviceCgroup, LinuxDeviceCgroupBuilder,
    LinuxDeviceType, LinuxHugepageLimitBuilder, LinuxMemoryBuilder, LinuxPidsBuilder,
    LinuxResources, LinuxResourcesBuilder,
};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// The cgroup limits of `resources` (none of them when `None`) and the device rules, for the
/// spec and for `runc update`.
pub fn linux_resources(
    resources: Option<&CriResources>,
    device_rules: Vec<LinuxDeviceCgroup>,
    pids_limit: Option<i64>,
) -> Result<LinuxResources, SpecError> {
    let mut builder = LinuxResourcesBuilder::default().devices(device_rules);
    if let Some(limit) = pids_limit.filter(|l| *l > 0) {
        builder = builder.pids(
            LinuxPidsBuilder::default()
                .limit(limit)
                .build()
                .map_err(SpecError::internal)?,
        );
    }
    let Some(r) = resources else {
        return builder.build().map_err(SpecError::internal);
    };
    let mut cpu = LinuxCpuBuilder::default();
    if r.cpu_shares > 0 {
        cpu = cpu.shares(r.cpu_shares as u64);
    }
    if r.cpu_quota != 0 {
        cpu = cpu.quota(r.cpu_quota);
    }
    if r.cpu_period > 0 {
        cpu = cpu.period(r.cpu_period as u64);
    }
    if !r.cpuset_cpus.is_empty() {
        cpu = cpu.cpus(r.cpuset_cpus.clone());
    }
    if !r.cpuset_mems.is_empty() {
        cpu = cpu.mems(r.cpuset_mems.clone());
    }
    builder = builder.cpu(cpu.build().map_err(SpecError::internal)?);
    let mut memory = LinuxMemoryBuilder::default();
    if r.memory_limit_in_bytes > 0 {
        memory = memory.limit(r.memory_limit_in_bytes);
    }
    if r.memory_swap_limit_in_bytes > 0 {
        memory = memory.swap(r.memory_swap_limit_in_bytes);
    }
    builder = builder.memory(memory.build().map_err(SpecError::internal)?);
    if !r.hugepage_limits.is_empty() {
        let limits = r
            .hugepage_limits
            .iter()
            .map(|(size, limit)| {
                LinuxHugepageLimitBuilder::default()
                    .page_size(size.clone())
                    .limit(i64::try_from(*limit).unwrap_or(i64::MAX))
                    .build()
                    .map_err(SpecError::internal)
            })
            .collect::<Result<Vec<_>, _>>()?;
        builder = builder.hugepage_limits(limits);
    }
    if !r.unified.is_empty() {
        builder = builder.unified(
            r.unified
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<std::collections::HashMap<_, _>>(),
        );
    }
    builder.build().map_err(SpecError::internal)
}

fn rule(
    allow: bool,
    device: Option<&LinuxDevice>,
    access: &str,
) -> Result<LinuxDeviceCgroup, SpecError> {
    let mut builder = LinuxDeviceCgroupBuilder::default()
        .allow(allow)
        .access(access);
    if let Some(device) = device {
        builder = builder
            .typ(device.typ())
            .major(device.major())
            .minor(device.minor());
    }
    builder.build().map_err(SpecError::internal)
}

/// The device node at `path` as a container device at `container_path`, or `None` when it is
/// not a character or block device.
fn device_at(path: &Path, container_path: &Path) -> Result<Option<LinuxDevice>, SpecError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| SpecError::invalid(format!("device {}: {e}", path.display())))?;
    let typ = if meta.file_type().is_char_device() {
        LinuxDeviceType::C
    } else if meta.file_type().is_block_device() {
        LinuxDeviceType::B
    } else {
        return Ok(None);
    };
    let rdev = meta.rdev();
    let device = LinuxDeviceBuilder::default()
        .path(container_path)
        .typ(typ)
        .major(nix::sys::stat::major(rdev) as i64)
        .minor(nix::sys::stat::minor(rdev) as i64)
        .file_mode(meta.mode() & 0o777)
        .uid(meta.uid())
        .gid(meta.gid())
        .build()
        .map_err(SpecError::internal)?;
    Ok(Some(device))
}

/// kubelet's devices: a device node, or every device node under a directory.
pub fn cri_devices(devices: &[Device]) -> Result<Vec<(LinuxDevice, String)>, SpecError> {
    let mut out = Vec::new();
    for device in devices {
        let host = Path::new(&device.host_path);
        let inside = if device.container_path.is_empty() {
            host
        } else {
            Path::new(&device.container_path)
        };
        let permissions = if device.permissions.is_empty() {
            "rwm".to_string()
        } else {
            device.permissions.clone()
        };
        if host.is_dir() {
            for found in walk_devices(host)? {
                let relative = found
                    .path()
                    .strip_prefix(host)
                    .map_err(SpecError::internal)?
                    .to_path_buf();
                let mut found = found;
                found.set_path(inside.join(relative));
                out.push((found, permissions.clone()));
            }
        } else {
            match device_at(host, inside)? {
                Some(found) => out.push((found, permissions)),
                None => {
                    return Err(SpecError::invalid(format!(
                        "{} is not a device",
                        host.display()
                    )));
                }
            }
        }
    }
    Ok(out)
}

/// Every device node under `dir` (recursively, skipping the pseudo-terminal, shm and mqueue
/// directories), as devices at the same path.
fn walk_devices(dir: &Path) -> Result<Vec<LinuxDevice>, SpecError> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                if !["/dev/pts", "/dev/shm", "/dev/mqueue"]
                    .contains(&path.to_string_lossy().as_ref())
                {
                    stack.push(path);
                }
            } else if (kind.is_char_device() || kind.is_block_device())
                && let Ok(Some(device)) = device_at(&path, &path)
            {
                found.push(device);
            }
        }
    }
    Ok(found)
}

/// Every device node of the host, for privileged containers.
pub fn host_devices() -> Vec<LinuxDevice> {
    walk_devices(Path::new("/dev")).unwrap_or_default()
}

/// The device cgroup rules: everything for a privileged container; else deny all (runc adds
/// its default allow list) and allow kubelet's devices with their permissions.
pub fn device_rules(
    privileged: bool,
    devices: &[(LinuxDevice, String)],
) -> Result<Vec<LinuxDeviceCgroup>, SpecError> {
    if privileged {
        return Ok(vec![rule(true, None, "rwm")?]);
    }
    let mut rules = vec![rule(false, None, "rwm")?];
    for (device, permissions) in devices {
        rules.push(rule(true, Some(device), permissions)?);
    }
    Ok(rules)
}
