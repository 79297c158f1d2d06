//! Capability sets: CRI-O's default list, CRI add/drop (with `ALL`), and what the daemon holds.

use super::SpecError;
use oci_spec::runtime::Capability;
use std::str::FromStr;

/// CRI-O's default capabilities of a container.
pub const DEFAULT_CAPABILITIES: [Capability; 9] = [
    Capability::Chown,
    Capability::DacOverride,
    Capability::Fsetid,
    Capability::Fowner,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setpcap,
    Capability::NetBindService,
    Capability::Kill,
];

/// Every capability by its number (`capabilities(7)`), as the kernel's bit masks count them.
const BY_NUMBER: [Capability; 41] = [
    Capability::Chown,
    Capability::DacOverride,
    Capability::DacReadSearch,
    Capability::Fowner,
    Capability::Fsetid,
    Capability::Kill,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setpcap,
    Capability::LinuxImmutable,
    Capability::NetBindService,
    Capability::NetBroadcast,
    Capability::NetAdmin,
    Capability::NetRaw,
    Capability::IpcLock,
    Capability::IpcOwner,
    Capability::SysModule,
    Capability::SysRawio,
    Capability::SysChroot,
    Capability::SysPtrace,
    Capability::SysPacct,
    Capability::SysAdmin,
    Capability::SysBoot,
    Capability::SysNice,
    Capability::SysResource,
    Capability::SysTime,
    Capability::SysTtyConfig,
    Capability::Mknod,
    Capability::Lease,
    Capability::AuditWrite,
    Capability::AuditControl,
    Capability::Setfcap,
    Capability::MacOverride,
    Capability::MacAdmin,
    Capability::Syslog,
    Capability::WakeAlarm,
    Capability::BlockSuspend,
    Capability::AuditRead,
    Capability::Perfmon,
    Capability::Bpf,
    Capability::CheckpointRestore,
];

/// The capabilities in a kernel bit mask such as `CapBnd` of `/proc/self/status`.
pub fn from_mask(mask: u64) -> Vec<Capability> {
    BY_NUMBER
        .iter()
        .enumerate()
        .filter(|(bit, _)| mask & (1u64 << bit) != 0)
        .map(|(_, cap)| *cap)
        .collect()
}

/// The bounding set of the calling process, from `/proc/self/status`.
pub fn held_by_self() -> Result<Vec<Capability>, String> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("reading /proc/self/status: {e}"))?;
    let mask = status
        .lines()
        .find_map(|line| line.strip_prefix("CapBnd:"))
        .ok_or("no CapBnd in /proc/self/status")?;
    let mask = u64::from_str_radix(mask.trim(), 16)
        .map_err(|e| format!("CapBnd {:?}: {e}", mask.trim()))?;
    Ok(from_mask(mask))
}

/// `CAP_X`, `cap_x` or `X` as a capability.
fn parse(name: &str) -> Result<Capability, SpecError> {
    let upper = name.trim().to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    Capability::from_str(bare)
        .map_err(|_| SpecError::invalid(format!("unknown capability {name:?}")))
}

fn is_all(name: &str) -> bool {
    name.trim().eq_ignore_ascii_case("ALL")
}

/// The capability set of a container: the defaults, then `ALL` in `add`, then `ALL` in `drop`,
/// then the named additions, then the named drops (containerd's order), limited to `held`.
pub fn resolve(
    add: &[String],
    drop: &[String],
    held: &[Capability],
) -> Result<Vec<Capability>, SpecError> {
    let mut caps: Vec<Capability> = DEFAULT_CAPABILITIES.to_vec();
    if add.iter().any(|c| is_all(c)) {
        caps = held.to_vec();
    }
    if drop.iter().any(|c| is_all(c)) {
        caps.clear();
    }
    for name in add.iter().filter(|c| !is_all(c)) {
        let cap = parse(name)?;
        if !caps.contains(&cap) {
            caps.push(cap);
        }
    }
    for name in drop.iter().filter(|c| !is_all(c)) {
        let cap = parse(name)?;
        caps.retain(|c| *c != cap);
    }
    caps.retain(|c| held.contains(c));
    Ok(caps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn masks_count_from_bit_zero() {
        assert_eq!(from_mask(0b1), vec![Capability::Chown]);
        let all = from_mask(0x1ff_ffff_ffff);
        assert_eq!(all.len(), 41);
        assert!(!from_mask(0x1ff_feff_ffff).contains(&Capability::SysResource));
    }

    #[test]
    fn add_and_drop_follow_containerd() {
        let held = from_mask(u64::MAX);
        let caps = resolve(
            &names(&["NET_ADMIN", "cap_sys_time"]),
            &names(&["KILL"]),
            &held,
        )
        .unwrap();
        assert!(caps.contains(&Capability::NetAdmin) && caps.contains(&Capability::SysTime));
        assert!(!caps.contains(&Capability::Kill));
        let caps = resolve(&names(&["CHOWN"]), &names(&["ALL"]), &held).unwrap();
        assert_eq!(caps, vec![Capability::Chown]);
        let caps = resolve(&names(&["ALL"]), &names(&["SYS_ADMIN"]), &held).unwrap();
        assert_eq!(caps.len(), 40);
        assert!(resolve(&names(&["NOPE"]), &[], &held).is_err());
    }

    #[test]
    fn capabilities_the_daemon_lacks_are_left_out() {
        let held = from_mask(0x1ff_feff_ffff);
        let caps = resolve(&names(&["SYS_RESOURCE"]), &[], &held).unwrap();
        assert!(!caps.contains(&Capability::SysResource));
    }
}
