//! Disk usage of a directory tree, by walking it: allocated bytes and inodes, each inode
//! counted once however many hard links name it, without crossing into other filesystems.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Bytes allocated and inodes used under `root` (itself included). A missing `root` is zero.
pub(super) fn tree_usage(root: &Path) -> std::io::Result<(u64, u64)> {
    let top = match std::fs::symlink_metadata(root) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, 0)),
        Err(e) => return Err(e),
    };
    let mut seen = HashSet::new();
    let mut bytes = 0u64;
    let mut inodes = 0u64;
    let mut count = |meta: &std::fs::Metadata| {
        if seen.insert((meta.dev(), meta.ino())) {
            bytes += meta.blocks() * 512;
            inodes += 1;
        }
    };
    count(&top);
    let device = top.dev();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            // Removed while we walk (a container writing): not an error.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let meta = match entry.path().symlink_metadata() {
                Ok(meta) => meta,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if meta.dev() != device {
                continue;
            }
            count(&meta);
            if meta.is_dir() {
                pending.push(entry.path());
            }
        }
    }
    Ok((bytes, inodes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hard_links_count_once_and_missing_is_zero() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        std::fs::write(dir.path().join("d/a"), vec![1u8; 64 * 1024]).unwrap();
        std::fs::hard_link(dir.path().join("d/a"), dir.path().join("b")).unwrap();
        let (bytes, inodes) = tree_usage(dir.path()).unwrap();
        assert_eq!(inodes, 3, "root, d, and the file once");
        assert!(bytes >= 64 * 1024, "{bytes}");
        assert!(bytes < 2 * 64 * 1024 + 3 * 8192, "{bytes}");
        assert_eq!(tree_usage(&dir.path().join("nope")).unwrap(), (0, 0));
    }
}
