//! crius's RuntimeDefault profile: allow every system call but those that reach past the
//! container's namespaces into the kernel or the host, and fail those with `EPERM`.
//!
//! The list follows what the container ecosystem's default profiles block (Docker/moby,
//! containerd, CRI-O), written here as a deny list: everything else stays allowed, so a new
//! harmless system call works without a profile update. A capability the container holds lifts
//! the rules that exist only because the kernel would let that capability through, as the
//! ecosystem's profiles do (a container granted `CAP_SYS_ADMIN` may mount and unshare).
//!
//! Left allowed on purpose: `ptrace` (safe since Linux 4.8, the oldest kernel we run on),
//! `personality` (the deny-all-but-safe-personas rule needs argument conditions that OR badly
//! in runc; the kernel already refuses the dangerous personas to unprivileged callers),
//! `adjtimex`/`clock_adjtime` (reading the clock state is useful and writing needs
//! `CAP_SYS_TIME` in the kernel) and `get_mempolicy` (read only).

use oci_spec::runtime::Capability;

/// `EPERM`, what a blocked system call returns.
pub const EPERM: u32 = 1;
/// `ENOSYS`, what `clone3` returns so that libc falls back to `clone`, whose flags a filter
/// can inspect (`clone3` passes them in memory).
pub const ENOSYS: u32 = 38;

/// The namespace flags of `clone` that create namespaces (`CLONE_NEWNS`, `CLONE_NEWCGROUP`,
/// `CLONE_NEWUTS`, `CLONE_NEWIPC`, `CLONE_NEWUSER`, `CLONE_NEWPID`, `CLONE_NEWNET`): refused
/// unless the container holds `CAP_SYS_ADMIN`, like `unshare`.
pub const CLONE_NAMESPACE_FLAGS: [u64; 7] = [
    0x0002_0000,
    0x0200_0000,
    0x0400_0000,
    0x0800_0000,
    0x1000_0000,
    0x2000_0000,
    0x4000_0000,
];

/// A group of blocked system calls and the capabilities any one of which lifts the block.
pub struct Rule {
    /// Why these are blocked.
    pub reason: &'static str,
    /// System call names (names a kernel or libseccomp lacks are ignored by runc).
    pub names: &'static [&'static str],
    /// Capabilities that lift the rule; empty means none does.
    pub lifted_by: &'static [Capability],
}

/// The blocked groups.
pub const RULES: &[Rule] = &[
    Rule {
        reason: "namespaces, mounts and host administration",
        names: &[
            "unshare",
            "setns",
            "mount",
            "umount",
            "umount2",
            "pivot_root",
            "fsopen",
            "fsconfig",
            "fsmount",
            "fspick",
            "move_mount",
            "open_tree",
            "mount_setattr",
            "quotactl",
            "quotactl_fd",
            "lookup_dcookie",
            "fanotify_init",
            "swapon",
            "swapoff",
            "sethostname",
            "setdomainname",
            "nfsservctl",
        ],
        lifted_by: &[Capability::SysAdmin],
    },
    Rule {
        reason: "kernel memory and program loading",
        names: &["bpf"],
        lifted_by: &[Capability::SysAdmin, Capability::Bpf],
    },
    Rule {
        reason: "performance counters read other processes and the kernel",
        names: &["perf_event_open"],
        lifted_by: &[Capability::SysAdmin, Capability::Perfmon],
    },
    Rule {
        reason: "the kernel log",
        names: &["syslog"],
        lifted_by: &[Capability::SysAdmin, Capability::Syslog],
    },
    Rule {
        reason: "rebooting or replacing the kernel",
        names: &["reboot", "kexec_load", "kexec_file_load"],
        lifted_by: &[Capability::SysBoot],
    },
    Rule {
        reason: "kernel modules",
        names: &[
            "init_module",
            "finit_module",
            "delete_module",
            "create_module",
            "get_kernel_syms",
            "query_module",
        ],
        lifted_by: &[Capability::SysModule],
    },
    Rule {
        reason: "the host's clock is not namespaced",
        names: &["settimeofday", "stime", "clock_settime", "clock_settime64"],
        lifted_by: &[Capability::SysTime],
    },
    Rule {
        reason: "reading or comparing other processes' memory",
        names: &[
            "process_vm_readv",
            "process_vm_writev",
            "kcmp",
            "userfaultfd",
        ],
        lifted_by: &[Capability::SysPtrace],
    },
    Rule {
        reason: "process accounting is host-wide",
        names: &["acct"],
        lifted_by: &[Capability::SysPacct],
    },
    Rule {
        reason: "raw I/O ports",
        names: &["iopl", "ioperm"],
        lifted_by: &[Capability::SysRawio],
    },
    Rule {
        reason: "NUMA placement of other processes' memory",
        names: &[
            "move_pages",
            "migrate_pages",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
        lifted_by: &[Capability::SysNice],
    },
    Rule {
        reason: "file handles bypass the mount namespace",
        names: &["open_by_handle_at", "name_to_handle_at"],
        lifted_by: &[Capability::DacReadSearch],
    },
    Rule {
        reason: "terminal hang-up",
        names: &["vhangup"],
        lifted_by: &[Capability::SysTtyConfig],
    },
    Rule {
        reason: "not namespaced, obsolete or a frequent source of kernel exploits",
        names: &[
            "keyctl",
            "add_key",
            "request_key",
            "uselib",
            "_sysctl",
            "vm86",
            "vm86old",
            "io_uring_setup",
            "io_uring_enter",
            "io_uring_register",
        ],
        lifted_by: &[],
    },
];
