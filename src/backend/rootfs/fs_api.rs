//! The new mount API (`fsopen`, `fsconfig`, `fsmount`, `move_mount`, Linux 5.2+), which nix
//! does not wrap. It lets overlayfs take its lower layers one `lowerdir+` parameter at a time
//! (Linux 6.8+), so no option string has to fit in a page however many layers an image has.
//!
//! The only unsafe code of the rootfs backend: four raw syscalls on C strings that outlive
//! each call and file descriptors we own.
#![allow(unsafe_code)]

use nix::libc;
use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

const FSOPEN_CLOEXEC: libc::c_uint = 0x1;
const FSMOUNT_CLOEXEC: libc::c_uint = 0x1;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;

/// A filesystem context being configured (the fd `fsopen` returns).
pub(super) struct FsContext {
    fd: OwnedFd,
}

fn cstring(what: &str, bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{what} contains a NUL byte"),
        )
    })
}

/// Turns a raw syscall return into an fd or the errno.
fn fd_result(ret: libc::c_long) -> io::Result<OwnedFd> {
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the syscall succeeded and returned a new file descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as libc::c_int) })
}

fn unit_result(ret: libc::c_long) -> io::Result<()> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

impl FsContext {
    /// `fsopen(fstype, FSOPEN_CLOEXEC)`.
    pub(super) fn open(fstype: &CStr) -> io::Result<FsContext> {
        // SAFETY: `fstype` is a valid NUL-terminated string for the duration of the call.
        let ret = unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) };
        Ok(FsContext {
            fd: fd_result(ret)?,
        })
    }

    /// `fsconfig(FSCONFIG_SET_STRING, key, value)`.
    pub(super) fn set_string(&self, key: &str, value: &[u8]) -> io::Result<()> {
        let key = cstring("parameter name", key.as_bytes())?;
        let value = cstring("parameter value", value)?;
        // SAFETY: the fd is an open fs context we own; key and value are valid NUL-terminated
        // strings that outlive the call; aux must be 0 for FSCONFIG_SET_STRING.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                self.fd.as_raw_fd(),
                FSCONFIG_SET_STRING,
                key.as_ptr(),
                value.as_ptr(),
                0 as libc::c_int,
            )
        };
        unit_result(ret)
    }

    /// `fsconfig(FSCONFIG_CMD_CREATE)`: makes the superblock.
    pub(super) fn create(&self) -> io::Result<()> {
        // SAFETY: the fd is an open fs context we own; the command takes no key or value.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                self.fd.as_raw_fd(),
                FSCONFIG_CMD_CREATE,
                std::ptr::null::<libc::c_char>(),
                std::ptr::null::<libc::c_void>(),
                0 as libc::c_int,
            )
        };
        unit_result(ret)
    }

    /// The messages the filesystem logged into the context (`e overlay: ...`), joined, to
    /// explain a failure better than an errno.
    pub(super) fn messages(&self) -> String {
        let mut lines = Vec::new();
        let mut buf = [0u8; 1024];
        for _ in 0..16 {
            match nix::unistd::read(&self.fd, &mut buf) {
                Ok(n) if n > 0 => lines.push(String::from_utf8_lossy(&buf[..n]).trim().to_string()),
                _ => break,
            }
        }
        lines.join("; ")
    }

    /// `fsmount` then `move_mount` onto `target`.
    pub(super) fn mount_at(&self, target: &Path) -> io::Result<()> {
        // SAFETY: the fd is a created fs context we own; no attribute flags are passed.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_fsmount,
                self.fd.as_raw_fd(),
                FSMOUNT_CLOEXEC,
                0 as libc::c_uint,
            )
        };
        let mount = fd_result(ret)?;
        let target = cstring("mount target", target.as_os_str().as_bytes())?;
        let empty = c"";
        // SAFETY: `mount` is the detached mount fd we own, the paths are valid NUL-terminated
        // strings for the duration of the call.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_move_mount,
                mount.as_raw_fd(),
                empty.as_ptr(),
                libc::AT_FDCWD,
                target.as_ptr(),
                MOVE_MOUNT_F_EMPTY_PATH,
            )
        };
        unit_result(ret)
    }
}
