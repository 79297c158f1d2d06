//! The PID 1 of a pod-wide PID namespace.
//!
//! A PID namespace cannot be pinned empty: the kernel refuses `pid_for_children` until the
//! namespace has an init, and once its init exits no process can enter it again. So a pod-wide
//! PID namespace gets a tiny reaper, forked from the pinning thread right after
//! `unshare(CLONE_NEWPID)`: it closes every inherited descriptor, starts its own session and
//! reaps orphans until `release` kills it (which also kills what is left in the namespace).
//! This is the only pod that has a process of its own; pods with the PID mode `CONTAINER` or
//! `NODE` have none.
#![allow(unsafe_code)]

use nix::libc;
use nix::sys::signal::{
    SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal, sigaction, sigprocmask,
};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::{ForkResult, Pid, fork, setsid};

/// Forks the reaper from the calling thread (whose PID namespace for children is the pod's);
/// returns its host pid.
pub(super) fn spawn_reaper() -> nix::Result<Pid> {
    // SAFETY: the child runs only async-signal-safe code (raw syscalls through libc and nix
    // wrappers that do not allocate or take locks) and never returns from `reap_forever`, so
    // no state copied from other threads of the daemon (allocator, locks) is ever touched.
    match unsafe { fork() }? {
        ForkResult::Parent { child } => Ok(child),
        ForkResult::Child => reap_forever(),
    }
}

extern "C" fn on_child_exit(_: libc::c_int) {}

fn reap_forever() -> ! {
    let _ = setsid();
    // SAFETY: close_range(2) only closes descriptors; nothing in this process uses them again
    // (the daemon's sockets and database files must not be held open by the pod).
    unsafe { libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32) };
    let handler = SigAction::new(
        SigHandler::Handler(on_child_exit),
        SaFlags::SA_NOCLDSTOP,
        SigSet::empty(),
    );
    // SAFETY: the handler does nothing, so it is trivially async-signal-safe; it only exists so
    // that SIGCHLD interrupts `sigsuspend` (an ignored signal would not).
    let _ = unsafe { sigaction(Signal::SIGCHLD, &handler) };
    let mut child = SigSet::empty();
    child.add(Signal::SIGCHLD);
    let _ = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&child), None);
    loop {
        while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            if status == nix::sys::wait::WaitStatus::StillAlive {
                break;
            }
        }
        // SIGCHLD is blocked outside of this call, so no exit is missed between the reaping
        // above and the wait.
        let _ = SigSet::empty().suspend();
    }
}
