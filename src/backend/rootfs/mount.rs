//! Mounting and unmounting one overlay filesystem.
//!
//! `mount(2)` takes its options in one page, so `lowerdir=` of absolute paths fits about 50
//! layers of 64-hex-digit directories. Three ways, tried in this order:
//!
//! 1. the classic `mount(2)` with absolute paths, when the options fit in a page;
//! 2. the new mount API with one `lowerdir+` parameter per layer (Linux 6.8+), no length
//!    limit but overlayfs's own 500 layers;
//! 3. on older kernels, `mount(2)` with layer paths relative to their common parent, from a
//!    short-lived thread that has unshared its filesystem context (`CLONE_FS`) and `chdir`ed
//!    there: the daemon's working directory never changes.

use super::fs_api::FsContext;
use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, unshare};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The longest option string `mount(2)` takes (a page, with its NUL).
const MAX_OPTIONS: usize = 4095;

/// One overlay to mount.
pub(super) struct OverlaySpec<'a> {
    /// Lower directories, topmost first (as `lowerdir=` lists them).
    pub lowers: &'a [PathBuf],
    pub upper: &'a Path,
    pub work: &'a Path,
    pub target: &'a Path,
}

impl OverlaySpec<'_> {
    fn options(&self, lowers: &[String]) -> String {
        format!(
            "lowerdir={},upperdir={},workdir={}",
            lowers.join(":"),
            self.upper.display(),
            self.work.display()
        )
    }
}

/// Which way an overlay was mounted (for logs and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Method {
    Options,
    LowerdirPlus,
    RelativeLowers,
}

/// Mounts the overlay at `spec.target`, choosing the first way that can.
pub(super) fn mount_overlay(spec: &OverlaySpec<'_>) -> Result<Method, String> {
    for path in spec
        .lowers
        .iter()
        .map(PathBuf::as_path)
        .chain([spec.upper, spec.work])
    {
        let bytes = path.as_os_str().as_bytes();
        if bytes.iter().any(|b| matches!(b, b':' | b',' | b'\\')) {
            return Err(format!(
                "{} contains ':', ',' or '\\', which overlayfs options cannot carry",
                path.display()
            ));
        }
    }
    let absolute: Vec<String> = spec
        .lowers
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let options = spec.options(&absolute);
    if options.len() <= MAX_OPTIONS {
        classic_mount(spec.target, &options)?;
        return Ok(Method::Options);
    }
    match mount_lowerdir_plus(spec) {
        Ok(()) => Ok(Method::LowerdirPlus),
        Err(Plus::Unsupported(why)) => {
            tracing::debug!(target = %spec.target.display(), why, "no lowerdir+; mounting with relative layer paths");
            mount_relative(spec)?;
            Ok(Method::RelativeLowers)
        }
        Err(Plus::Failed(message)) => Err(message),
    }
}

fn classic_mount(target: &Path, options: &str) -> Result<(), String> {
    mount(
        Some("overlay"),
        target,
        Some("overlay"),
        MsFlags::empty(),
        Some(options),
    )
    .map_err(|e| format!("mounting overlay on {}: {e}", target.display()))
}

enum Plus {
    /// The kernel has no new mount API or no `lowerdir+`.
    Unsupported(String),
    Failed(String),
}

fn mount_lowerdir_plus(spec: &OverlaySpec<'_>) -> Result<(), Plus> {
    let target = spec.target.display();
    let context = FsContext::open(c"overlay").map_err(|e| match e.raw_os_error() {
        Some(libc_errno) if libc_errno == Errno::ENOSYS as i32 => {
            Plus::Unsupported(format!("fsopen: {e}"))
        }
        _ => Plus::Failed(format!("fsopen(overlay) for {target}: {e}")),
    })?;
    let failed = |what: String, e: std::io::Error| {
        let detail = context.messages();
        Plus::Failed(
            format!("mounting overlay on {target}: {what}: {e} {detail}")
                .trim_end()
                .to_string(),
        )
    };
    for (n, lower) in spec.lowers.iter().enumerate() {
        if let Err(e) = context.set_string("lowerdir+", lower.as_os_str().as_bytes()) {
            if n == 0 && e.raw_os_error() == Some(Errno::EINVAL as i32) {
                return Err(Plus::Unsupported(format!(
                    "lowerdir+: {e} {}",
                    context.messages()
                )));
            }
            return Err(failed(format!("lowerdir+ {}", lower.display()), e));
        }
    }
    context
        .set_string("upperdir", spec.upper.as_os_str().as_bytes())
        .map_err(|e| failed(format!("upperdir {}", spec.upper.display()), e))?;
    context
        .set_string("workdir", spec.work.as_os_str().as_bytes())
        .map_err(|e| failed(format!("workdir {}", spec.work.display()), e))?;
    context
        .create()
        .map_err(|e| failed("creating the superblock".into(), e))?;
    context
        .mount_at(spec.target)
        .map_err(|e| failed("attaching the mount".into(), e))
}

/// `mount(2)` with lower layers named relative to their common parent, from a thread with
/// its own working directory.
pub(super) fn mount_relative(spec: &OverlaySpec<'_>) -> Result<(), String> {
    let parent = spec
        .lowers
        .first()
        .and_then(|p| p.parent())
        .ok_or("no lower layers")?
        .to_owned();
    let mut names = Vec::with_capacity(spec.lowers.len());
    for lower in spec.lowers {
        match (lower.parent(), lower.file_name()) {
            (Some(p), Some(name)) if p == parent => names.push(name.to_string_lossy().into_owned()),
            _ => {
                return Err(format!(
                    "{} layers do not fit in a mount option page and do not share a directory \
                     (this kernel has no overlayfs lowerdir+)",
                    spec.lowers.len()
                ));
            }
        }
    }
    let options = spec.options(&names);
    if options.len() > MAX_OPTIONS {
        return Err(format!(
            "{} layers do not fit in a mount option page even as relative paths \
             (this kernel has no overlayfs lowerdir+)",
            spec.lowers.len()
        ));
    }
    let target = spec.target.to_owned();
    std::thread::Builder::new()
        .name("overlay-mount".into())
        .spawn(move || {
            // The thread's cwd is its own after this, so chdir leaves the daemon's alone.
            unshare(CloneFlags::CLONE_FS).map_err(|e| format!("unshare(CLONE_FS): {e}"))?;
            nix::unistd::chdir(&parent).map_err(|e| format!("chdir {}: {e}", parent.display()))?;
            classic_mount(&target, &options)
        })
        .map_err(|e| format!("starting the mount thread: {e}"))?
        .join()
        .map_err(|_| "the mount thread panicked".to_string())?
}

/// Unmounts everything mounted at `target` (stacked mounts too): a normal unmount, and a
/// lazy one when the mount is busy. Nothing mounted there is fine.
pub(super) fn unmount(target: &Path) -> Result<(), String> {
    for _ in 0..16 {
        if !is_mountpoint(target)? {
            return Ok(());
        }
        match umount2(target, MntFlags::empty()) {
            Ok(()) => {}
            Err(Errno::EBUSY) => {
                tracing::warn!(target = %target.display(), "rootfs busy; detaching it lazily");
                umount2(target, MntFlags::MNT_DETACH)
                    .map_err(|e| format!("detaching {}: {e}", target.display()))?;
            }
            Err(Errno::EINVAL) | Err(Errno::ENOENT) => return Ok(()),
            Err(e) => return Err(format!("unmounting {}: {e}", target.display())),
        }
    }
    Err(format!("mounts on {} keep coming back", target.display()))
}

/// Whether something is mounted exactly at `path`, from `/proc/self/mountinfo`.
pub(super) fn is_mountpoint(path: &Path) -> Result<bool, String> {
    Ok(mount_points()?.iter().any(|p| p == path))
}

/// Every mount point of this mount namespace.
pub(super) fn mount_points() -> Result<Vec<PathBuf>, String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("reading /proc/self/mountinfo: {e}"))?;
    Ok(text
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|field| PathBuf::from(std::ffi::OsStr::from_bytes(&unescape(field))))
        .collect())
}

/// Undoes mountinfo's octal escapes (`\040` for a space, and so on).
fn unescape(field: &str) -> Vec<u8> {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escape = bytes.get(i + 1..i + 4);
        match escape {
            Some(digits)
                if bytes[i] == b'\\' && digits.iter().all(|b| (b'0'..=b'7').contains(b)) =>
            {
                let value = digits
                    .iter()
                    .fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
                out.push(value as u8);
                i += 4;
            }
            _ => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(unescape(r"/a\040b\134c"), b"/a b\\c".to_vec());
        assert_eq!(unescape(r"/tail\04"), b"/tail\\04".to_vec());
        assert_eq!(unescape(r"/end\040"), b"/end ".to_vec());
    }

    /// The fallback for kernels without `lowerdir+`: 55 layers of 64-character names are
    /// over 4,096 bytes as absolute paths, under it as relative ones. Needs root (skipped
    /// without it: the root tests in tests/linux_rootfs.rs cover the other two ways).
    #[test]
    fn relative_lowers_mount_without_moving_the_daemon_cwd() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: mounting needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let layers_dir = dir.path().join("layers");
        let mut lowers = Vec::new();
        for n in 0..55 {
            let layer = layers_dir.join(format!("{n:064}"));
            std::fs::create_dir_all(&layer).unwrap();
            std::fs::write(layer.join(format!("f{n}")), n.to_string()).unwrap();
            lowers.push(layer);
        }
        lowers.reverse();
        let absolute: usize = lowers.iter().map(|l| l.as_os_str().len() + 1).sum();
        assert!(
            absolute > MAX_OPTIONS,
            "absolute lowerdirs must exceed a page: {absolute}"
        );
        let (upper, work, target) = (
            dir.path().join("u"),
            dir.path().join("w"),
            dir.path().join("m"),
        );
        for d in [&upper, &work, &target] {
            std::fs::create_dir(d).unwrap();
        }
        let cwd = std::env::current_dir().unwrap();
        let spec = OverlaySpec {
            lowers: &lowers,
            upper: &upper,
            work: &work,
            target: &target,
        };
        mount_relative(&spec).unwrap();
        let seen = std::fs::read_to_string(target.join("f0")).map_err(|e| e.to_string());
        let seen_top = std::fs::read_to_string(target.join("f54")).map_err(|e| e.to_string());
        unmount(&target).unwrap();
        assert_eq!(std::env::current_dir().unwrap(), cwd);
        assert_eq!(seen.unwrap(), "0");
        assert_eq!(seen_top.unwrap(), "54");
        assert!(!is_mountpoint(&target).unwrap());
    }
}
