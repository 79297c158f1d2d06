//! Setting extended attributes, which neither std nor nix offer.
#![allow(unsafe_code)]

use nix::libc;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Sets attribute `name` of the open file `fd` to `value`.
pub fn fset(fd: BorrowedFd<'_>, name: &str, value: &[u8]) -> io::Result<()> {
    let name = CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "attribute name holds NUL"))?;
    // SAFETY: `fd` is an open descriptor borrowed for the call, `name` is a NUL-terminated
    // string that outlives the call, and `value` is a valid slice of `value.len()` bytes.
    let rc = unsafe {
        libc::fsetxattr(
            fd.as_raw_fd(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
