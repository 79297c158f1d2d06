//! Finding and removing the mounts under a pod's run directory.

use nix::errno::Errno;
use nix::mount::{MntFlags, umount2};
use std::path::{Path, PathBuf};

/// Mount points at or under `dir`, deepest first, from `/proc/self/mountinfo`.
pub(super) fn mounts_under(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")?;
    let mut found: Vec<PathBuf> = text
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|field| PathBuf::from(unescape(field)))
        .filter(|point| point.starts_with(dir))
        .collect();
    found.sort_by_key(|point| std::cmp::Reverse(point.components().count()));
    found.dedup();
    Ok(found)
}

/// Detaches every mount at or under `dir` (stacked ones too). A missing `dir` is fine.
pub(super) fn unmount_all_under(dir: &Path) -> Result<(), String> {
    // Each pass detaches the top mount of every point; stacked mounts need further passes.
    for _ in 0..16 {
        let points = mounts_under(dir).map_err(|e| format!("reading /proc/self/mountinfo: {e}"))?;
        if points.is_empty() {
            return Ok(());
        }
        for point in points {
            match umount2(&point, MntFlags::MNT_DETACH) {
                Ok(()) | Err(Errno::EINVAL) | Err(Errno::ENOENT) => {}
                Err(e) => return Err(format!("unmounting {}: {e}", point.display())),
            }
        }
    }
    Err(format!("mounts under {} keep coming back", dir.display()))
}

/// Undoes mountinfo's octal escapes (`\040` for a space, and so on).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let value = bytes[i + 1..i + 4]
                .iter()
                .fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
            out.push(value as u8);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(unescape(r"/run/a\040b"), "/run/a b");
        assert_eq!(unescape(r"/plain"), "/plain");
        assert_eq!(unescape(r"/end\04"), r"/end\04");
    }
}
