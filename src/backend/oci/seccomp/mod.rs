//! The seccomp filter of a container's OCI spec: none (Unconfined, and every privileged
//! container, as containerd and CRI-O do), crius's RuntimeDefault profile ([`default`]), or a
//! Localhost profile read from a JSON file on the node.
//!
//! A Localhost file is the OCI runtime spec's `linux.seccomp` object (`defaultAction`,
//! `architectures`, `syscalls` with `names`, `action`, `errnoRet`, `args`). Docker-format
//! extensions (`archMap`, `includes`/`excludes` conditions, the singular `name`) are not
//! understood: unknown keys are ignored, so such a rule applies unconditionally.

pub mod default;

use crate::model::SecurityProfile;
use oci_spec::runtime::{
    Arch, Capability, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArgBuilder,
    LinuxSeccompBuilder, LinuxSeccompOperator, LinuxSyscall, LinuxSyscallBuilder,
};
use std::collections::HashSet;

/// Why a container's seccomp filter cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// The Localhost profile is missing or malformed (the request's fault).
    #[error("seccomp profile {path}: {message}")]
    Profile {
        /// The profile's path.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// The filter could not be assembled (our fault).
    #[error("building the seccomp filter: {0}")]
    Build(String),
}

/// The filter for `choice`, given whether the container is privileged and the capabilities it
/// holds; `None` means no filter.
pub fn filter(
    choice: &SecurityProfile,
    privileged: bool,
    capabilities: &HashSet<Capability>,
) -> Result<Option<LinuxSeccomp>, SeccompError> {
    if privileged {
        return Ok(None);
    }
    match choice {
        SecurityProfile::Unconfined => Ok(None),
        SecurityProfile::RuntimeDefault => runtime_default(capabilities).map(Some),
        SecurityProfile::Localhost(path) => localhost(path).map(Some),
    }
}

/// Reads a Localhost profile: the file must exist and hold a valid OCI seccomp object.
pub fn localhost(path: &str) -> Result<LinuxSeccomp, SeccompError> {
    let invalid = |message: String| SeccompError::Profile {
        path: path.to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| invalid(e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| invalid(format!("not a seccomp profile: {e}")))
}

/// The architectures a filter covers on this host: the native one and its compat ABIs.
pub fn architectures() -> Vec<Arch> {
    if cfg!(target_arch = "x86_64") {
        vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32]
    } else if cfg!(target_arch = "aarch64") {
        vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm]
    } else {
        vec![Arch::ScmpArchNative]
    }
}

fn errno_rule(names: &[&str], errno: u32) -> Result<LinuxSyscall, SeccompError> {
    LinuxSyscallBuilder::default()
        .names(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
        .action(LinuxSeccompAction::ScmpActErrno)
        .errno_ret(errno)
        .build()
        .map_err(|e| SeccompError::Build(e.to_string()))
}

/// crius's RuntimeDefault profile for a container holding `capabilities`: allow by default,
/// `EPERM` for [`default::RULES`] the capabilities do not lift, and without `CAP_SYS_ADMIN`
/// `EPERM` for `clone` with a namespace flag and `ENOSYS` for `clone3`.
pub fn runtime_default(capabilities: &HashSet<Capability>) -> Result<LinuxSeccomp, SeccompError> {
    let held = |caps: &[Capability]| caps.iter().any(|c| capabilities.contains(c));
    let mut syscalls = Vec::new();
    for rule in default::RULES {
        if !held(rule.lifted_by) {
            syscalls.push(errno_rule(rule.names, default::EPERM)?);
        }
    }
    if !capabilities.contains(&Capability::SysAdmin) {
        for flag in default::CLONE_NAMESPACE_FLAGS {
            let arg = LinuxSeccompArgBuilder::default()
                .index(0usize)
                .value(flag)
                .value_two(flag)
                .op(LinuxSeccompOperator::ScmpCmpMaskedEq)
                .build()
                .map_err(|e| SeccompError::Build(e.to_string()))?;
            let mut rule = errno_rule(&["clone"], default::EPERM)?;
            rule.set_args(Some(vec![arg]));
            syscalls.push(rule);
        }
        syscalls.push(errno_rule(&["clone3"], default::ENOSYS)?);
    }
    LinuxSeccompBuilder::default()
        .default_action(LinuxSeccompAction::ScmpActAllow)
        .architectures(architectures())
        .syscalls(syscalls)
        .build()
        .map_err(|e| SeccompError::Build(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocked(profile: &LinuxSeccomp, name: &str) -> bool {
        profile
            .syscalls()
            .iter()
            .flatten()
            .any(|s| s.names().iter().any(|n| n == name) && s.args().is_none())
    }

    #[test]
    fn runtime_default_blocks_unless_a_capability_lifts_the_rule() {
        let none = runtime_default(&HashSet::new()).unwrap();
        assert_eq!(none.default_action(), LinuxSeccompAction::ScmpActAllow);
        for name in ["unshare", "mount", "keyctl", "bpf", "reboot", "clone3"] {
            assert!(blocked(&none, name), "{name}");
        }
        assert!(!blocked(&none, "read"));
        let admin = runtime_default(&[Capability::SysAdmin].into_iter().collect()).unwrap();
        assert!(!blocked(&admin, "unshare") && !blocked(&admin, "clone3"));
        assert!(blocked(&admin, "keyctl") && blocked(&admin, "reboot"));
    }

    #[test]
    fn privileged_and_unconfined_get_no_filter() {
        let caps = HashSet::new();
        let choice = SecurityProfile::Localhost("/nonexistent/profile.json".into());
        assert!(filter(&choice, true, &caps).unwrap().is_none());
        assert!(
            filter(&SecurityProfile::Unconfined, false, &caps)
                .unwrap()
                .is_none()
        );
        let error = filter(&choice, false, &caps).unwrap_err();
        assert!(error.to_string().contains("/nonexistent/profile.json"));
    }
}
