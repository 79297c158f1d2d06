//! Validation of a pod's sysctls: only namespaced ones, in a namespace the pod owns.
//!
//! Accepted: `net.*` when the pod has its own network namespace; `kernel.shm*`,
//! `kernel.msg*`, `kernel.sem` and `fs.mqueue.*` when it has its own IPC namespace. Anything
//! else would change the node, and is refused as invalid.

use crate::model::{NamespaceMode, SandboxConfig};
use std::path::PathBuf;

/// One validated sysctl, ready to be written under `/proc/sys` inside the pod's namespaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Sysctl {
    /// The dotted name, as reported in errors.
    pub name: String,
    /// Its path relative to `/proc/sys`.
    pub path: PathBuf,
    /// The value to write.
    pub value: String,
}

/// Validates every sysctl of `config`; the error is the message of an invalid-argument error.
pub(super) fn plan(config: &SandboxConfig) -> Result<Vec<Sysctl>, String> {
    let options = &config.linux.namespace_options;
    let own_net = options.network == NamespaceMode::Pod;
    let own_ipc = options.ipc == NamespaceMode::Pod;
    let mut planned = Vec::new();
    for (raw, value) in &config.linux.sysctls {
        // kubelet accepts both `net.ipv4.ip_forward` and `net/ipv4/ip_forward`; in the slash
        // form, dots belong to a component (e.g. an interface name `eth0.100`).
        let name = if raw.contains('/') {
            swap_separators(raw)
        } else {
            raw.clone()
        };
        let path = swap_separators(&name);
        let well_formed = name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
            && name.split('.').all(|part| !part.is_empty())
            && path
                .split('/')
                .all(|part| !part.is_empty() && part != "." && part != "..");
        if !well_formed {
            return Err(format!("sysctl {raw:?} is not a valid sysctl name"));
        }
        if value.contains(['\n', '\0']) {
            return Err(format!(
                "sysctl {raw:?}: value {value:?} contains a line break or NUL"
            ));
        }
        let net = name.starts_with("net.");
        let ipc = name.starts_with("kernel.shm")
            || name.starts_with("kernel.msg")
            || name == "kernel.sem"
            || name.starts_with("fs.mqueue.");
        if net && !own_net {
            return Err(format!(
                "sysctl {raw:?} needs the pod's own network namespace, but the pod uses the host's"
            ));
        }
        if ipc && !own_ipc {
            return Err(format!(
                "sysctl {raw:?} needs the pod's own IPC namespace, but the pod uses the host's"
            ));
        }
        if !net && !ipc {
            return Err(format!(
                "sysctl {raw:?} is not namespaced or not allowed in a pod"
            ));
        }
        planned.push(Sysctl {
            path: PathBuf::from(path),
            name,
            value: value.clone(),
        });
    }
    Ok(planned)
}

/// Swaps `.` and `/`: `net.ipv4.conf.eth0/100.forwarding` ↔ `net/ipv4/conf/eth0.100/forwarding`.
fn swap_separators(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            '.' => '/',
            '/' => '.',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(
        network: NamespaceMode,
        ipc: NamespaceMode,
        sysctls: &[(&str, &str)],
    ) -> SandboxConfig {
        let mut config = SandboxConfig::default();
        config.linux.namespace_options.network = network;
        config.linux.namespace_options.ipc = ipc;
        config.linux.sysctls = sysctls
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        config
    }

    #[test]
    fn namespaced_sysctls_are_accepted() {
        let c = config(
            NamespaceMode::Pod,
            NamespaceMode::Pod,
            &[
                ("net.ipv4.ip_unprivileged_port_start", "0"),
                ("kernel.shmmax", "1000000"),
                ("kernel.sem", "250 32000 32 128"),
                ("fs.mqueue.msg_max", "20"),
                ("net/ipv4/conf/eth0.100/forwarding", "1"),
            ],
        );
        let planned = plan(&c).unwrap();
        assert_eq!(planned.len(), 5);
        let vlan = planned.iter().find(|s| s.name.contains("100")).unwrap();
        assert_eq!(
            vlan.path,
            PathBuf::from("net/ipv4/conf/eth0.100/forwarding")
        );
        assert_eq!(vlan.name, "net.ipv4.conf.eth0/100.forwarding");
    }

    #[test]
    fn node_wide_or_host_namespace_sysctls_are_refused() {
        for (network, ipc, name) in [
            (NamespaceMode::Pod, NamespaceMode::Pod, "kernel.panic"),
            (
                NamespaceMode::Pod,
                NamespaceMode::Pod,
                "vm.overcommit_memory",
            ),
            (
                NamespaceMode::Node,
                NamespaceMode::Pod,
                "net.ipv4.ip_forward",
            ),
            (NamespaceMode::Pod, NamespaceMode::Node, "kernel.shmmax"),
            (NamespaceMode::Pod, NamespaceMode::Pod, "net.ipv4..x"),
            (NamespaceMode::Pod, NamespaceMode::Pod, "net/../../etc"),
            (NamespaceMode::Pod, NamespaceMode::Pod, ""),
        ] {
            assert!(
                plan(&config(network, ipc, &[(name, "1")])).is_err(),
                "{name} accepted"
            );
        }
        assert!(
            plan(&config(
                NamespaceMode::Pod,
                NamespaceMode::Pod,
                &[("net.ipv4.ip_forward", "1\n2")]
            ))
            .is_err()
        );
    }
}
