//! Brings `lo` up in the calling thread's network namespace (a fresh one has it down), so the
//! CNI configuration needs no `loopback` plugin. Two `ioctl`s on a datagram socket: the only
//! unsafe code of the namespace backend.
#![allow(unsafe_code)]

use nix::libc;
use std::io;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;

/// Sets `IFF_UP` on `lo` in the network namespace of the calling thread.
pub(super) fn bring_up() -> io::Result<()> {
    // Binding the wildcard address needs no configured address, so it works while lo is down.
    let socket = UdpSocket::bind("0.0.0.0:0")?;
    // SAFETY: `ifreq` is a plain C struct of integers, arrays and a union of such; all-zero
    // bytes are a valid value of it.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo\0") {
        *slot = *byte as libc::c_char;
    }
    // SAFETY: the fd is a live socket owned by `socket`; SIOCGIFFLAGS reads `ifr_name` and
    // writes `ifr_ifru.ifru_flags` of the `ifreq` we pass by exclusive pointer.
    if unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS, &mut request) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: SIOCGIFFLAGS just filled the `ifru_flags` member of the union.
    unsafe { request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: as above; SIOCSIFFLAGS only reads the `ifreq`.
    if unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS, &request) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
