//! Wire requests to domain types, validating what the core relies on. Every rejection is
//! InvalidArgument naming the field.

use crate::model::{
    Capabilities, ContainerConfig, ContainerMetadata, Device, DnsConfig, ImageSpec,
    LinuxContainerConfig, LinuxContainerSecurity, LinuxResources, LinuxSandboxConfig, Mount,
    MountPropagation, NamespaceMode, NamespaceOptions, PodMetadata, PortMapping, Protocol,
    SandboxConfig, SecurityProfile, StringMap,
};
use crate::runtime::{ContainerFilter, ContainerState, Error, Result, SandboxFilter, SandboxState};
use crius_proto::cri;
use std::collections::HashMap;
use std::time::Duration;

/// Longest accepted name, uid or namespace (Kubernetes' DNS subdomain limit).
pub const MAX_NAME_LEN: usize = 253;
/// Most labels or annotations accepted on one object.
pub const MAX_MAP_ENTRIES: usize = 1024;
/// Largest total size of one object's labels or annotations (Kubernetes' annotation limit).
pub const MAX_MAP_BYTES: usize = 256 * 1024;
/// Longest accepted timeout, in seconds (a year).
pub const MAX_TIMEOUT_SECONDS: i64 = 365 * 24 * 3600;

fn required<T>(value: Option<T>, field: &str) -> Result<T> {
    value.ok_or_else(|| Error::invalid(format!("{field} is required")))
}

/// Checks a non-empty identifier field.
pub fn name(value: &str, field: &str) -> Result<()> {
    if value.is_empty() {
        return Err(Error::invalid(format!("{field} must not be empty")));
    }
    if value.len() > MAX_NAME_LEN {
        return Err(Error::invalid(format!(
            "{field} is {} bytes long; at most {MAX_NAME_LEN} are allowed",
            value.len()
        )));
    }
    if value.chars().any(|c| c.is_control() || c == '/') {
        return Err(Error::invalid(format!(
            "{field} {value:?} contains '/' or a control character"
        )));
    }
    Ok(())
}

/// Checks an id field (container or sandbox id or prefix).
pub fn id(value: &str, field: &str) -> Result<()> {
    if value.is_empty() {
        return Err(Error::invalid(format!("{field} must not be empty")));
    }
    if value.len() > 128 {
        return Err(Error::invalid(format!("{field} is too long to be an id")));
    }
    Ok(())
}

/// Converts labels or annotations, bounding their number and size.
pub fn string_map(map: HashMap<String, String>, field: &str) -> Result<StringMap> {
    if map.len() > MAX_MAP_ENTRIES {
        return Err(Error::invalid(format!(
            "{field} has {} entries; at most {MAX_MAP_ENTRIES} are allowed",
            map.len()
        )));
    }
    let bytes: usize = map.iter().map(|(k, v)| k.len() + v.len()).sum();
    if bytes > MAX_MAP_BYTES {
        return Err(Error::invalid(format!(
            "{field} total {bytes} bytes; at most {MAX_MAP_BYTES} are allowed"
        )));
    }
    if map.keys().any(|k| k.is_empty()) {
        return Err(Error::invalid(format!("{field} has an empty key")));
    }
    Ok(map.into_iter().collect())
}

/// A timeout in seconds: negative or absurd values are InvalidArgument.
pub fn timeout(seconds: i64, field: &str) -> Result<Duration> {
    if seconds < 0 {
        return Err(Error::invalid(format!(
            "{field} must not be negative (got {seconds})"
        )));
    }
    if seconds > MAX_TIMEOUT_SECONDS {
        return Err(Error::invalid(format!(
            "{field} of {seconds} s is beyond a year"
        )));
    }
    Ok(Duration::from_secs(seconds as u64))
}

fn namespace_mode(value: i32, field: &str) -> Result<NamespaceMode> {
    match cri::NamespaceMode::try_from(value) {
        Ok(cri::NamespaceMode::Pod) => Ok(NamespaceMode::Pod),
        Ok(cri::NamespaceMode::Container) => Ok(NamespaceMode::Container),
        Ok(cri::NamespaceMode::Node) => Ok(NamespaceMode::Node),
        Ok(cri::NamespaceMode::Target) => Ok(NamespaceMode::Target),
        Err(_) => Err(Error::invalid(format!(
            "{field} has unknown namespace mode {value}"
        ))),
    }
}

fn namespace_options(
    options: Option<cri::NamespaceOption>,
    field: &str,
) -> Result<NamespaceOptions> {
    let Some(options) = options else {
        return Ok(NamespaceOptions::default());
    };
    Ok(NamespaceOptions {
        network: namespace_mode(options.network, &format!("{field}.network"))?,
        pid: namespace_mode(options.pid, &format!("{field}.pid"))?,
        ipc: namespace_mode(options.ipc, &format!("{field}.ipc"))?,
        target_id: options.target_id,
    })
}

/// RunPodSandbox's config.
pub fn sandbox_config(config: Option<cri::PodSandboxConfig>) -> Result<SandboxConfig> {
    let config = required(config, "config")?;
    let metadata = required(config.metadata, "config.metadata")?;
    name(&metadata.name, "config.metadata.name")?;
    name(&metadata.namespace, "config.metadata.namespace")?;
    name(&metadata.uid, "config.metadata.uid")?;
    if !config.log_directory.is_empty() && !config.log_directory.starts_with('/') {
        return Err(Error::invalid(format!(
            "config.log_directory {:?} must be an absolute path",
            config.log_directory
        )));
    }
    if config.hostname.len() > 64 {
        return Err(Error::invalid("config.hostname is longer than 64 bytes"));
    }
    let linux = config.linux.unwrap_or_default();
    let security = linux.security_context.unwrap_or_default();
    let port_mappings = config
        .port_mappings
        .into_iter()
        .enumerate()
        .map(|(i, p)| port_mapping(p, i))
        .collect::<Result<_>>()?;
    Ok(SandboxConfig {
        metadata: PodMetadata {
            name: metadata.name,
            uid: metadata.uid,
            namespace: metadata.namespace,
            attempt: metadata.attempt,
        },
        hostname: config.hostname,
        log_directory: config.log_directory,
        dns: config.dns_config.map(|d| DnsConfig {
            servers: d.servers,
            searches: d.searches,
            options: d.options,
        }),
        port_mappings,
        labels: string_map(config.labels, "config.labels")?,
        annotations: string_map(config.annotations, "config.annotations")?,
        linux: LinuxSandboxConfig {
            cgroup_parent: linux.cgroup_parent,
            namespace_options: namespace_options(
                security.namespace_options,
                "config.linux.security_context.namespace_options",
            )?,
            sysctls: linux.sysctls.into_iter().collect(),
            privileged: security.privileged,
            readonly_rootfs: security.readonly_rootfs,
            supplemental_groups: security.supplemental_groups,
            run_as_user: security.run_as_user.map(|v| v.value),
            run_as_group: security.run_as_group.map(|v| v.value),
        },
    })
}

fn port_mapping(mapping: cri::PortMapping, index: usize) -> Result<PortMapping> {
    let field = format!("config.port_mappings[{index}]");
    let protocol = match cri::Protocol::try_from(mapping.protocol) {
        Ok(cri::Protocol::Tcp) => Protocol::Tcp,
        Ok(cri::Protocol::Udp) => Protocol::Udp,
        Ok(cri::Protocol::Sctp) => Protocol::Sctp,
        Err(_) => {
            return Err(Error::invalid(format!(
                "{field}.protocol {} is unknown",
                mapping.protocol
            )));
        }
    };
    let valid_port = |p: i32| (0..=65535).contains(&p);
    if !valid_port(mapping.container_port) || !valid_port(mapping.host_port) {
        return Err(Error::invalid(format!(
            "{field} has a port outside 0..=65535"
        )));
    }
    Ok(PortMapping {
        protocol,
        container_port: mapping.container_port,
        host_port: mapping.host_port,
        host_ip: mapping.host_ip,
    })
}

/// CreateContainer's config.
pub fn container_config(config: Option<cri::ContainerConfig>) -> Result<ContainerConfig> {
    let config = required(config, "config")?;
    let metadata = required(config.metadata, "config.metadata")?;
    name(&metadata.name, "config.metadata.name")?;
    let image = required(config.image, "config.image")?;
    if image.image.is_empty() {
        return Err(Error::invalid("config.image.image must name an image"));
    }
    let linux = config.linux.unwrap_or_default();
    let mut security = linux.security_context.unwrap_or_default();
    let stop_signal = match cri::Signal::try_from(config.stop_signal) {
        Ok(cri::Signal::RuntimeDefault) => None,
        Ok(signal) => Some(signal.as_str_name().to_string()),
        Err(_) => {
            return Err(Error::invalid(format!(
                "config.stop_signal {} is unknown",
                config.stop_signal
            )));
        }
    };
    let mounts = config
        .mounts
        .into_iter()
        .enumerate()
        .map(|(i, m)| mount(m, i))
        .collect::<Result<_>>()?;
    let capabilities = security.capabilities.unwrap_or_default();
    #[allow(deprecated)]
    let seccomp = seccomp_profile(
        security.seccomp.take(),
        &security.seccomp_profile_path,
        "config.linux.security_context",
    )?;
    Ok(ContainerConfig {
        metadata: ContainerMetadata {
            name: metadata.name,
            attempt: metadata.attempt,
        },
        image: image_spec(image)?,
        command: config.command,
        args: config.args,
        working_dir: config.working_dir,
        envs: config
            .envs
            .into_iter()
            .map(|kv| (kv.key, kv.value))
            .collect(),
        mounts,
        devices: config
            .devices
            .into_iter()
            .map(|d| Device {
                container_path: d.container_path,
                host_path: d.host_path,
                permissions: d.permissions,
            })
            .collect(),
        labels: string_map(config.labels, "config.labels")?,
        annotations: string_map(config.annotations, "config.annotations")?,
        log_path: config.log_path,
        stdin: config.stdin,
        stdin_once: config.stdin_once,
        tty: config.tty,
        stop_signal,
        linux: LinuxContainerConfig {
            resources: linux.resources.map(resources),
            security: LinuxContainerSecurity {
                privileged: security.privileged,
                capabilities: Capabilities {
                    add: capabilities.add_capabilities,
                    drop: capabilities.drop_capabilities,
                },
                namespace_options: namespace_options(
                    security.namespace_options,
                    "config.linux.security_context.namespace_options",
                )?,
                run_as_user: security.run_as_user.map(|v| v.value),
                run_as_group: security.run_as_group.map(|v| v.value),
                run_as_username: security.run_as_username,
                readonly_rootfs: security.readonly_rootfs,
                supplemental_groups: security.supplemental_groups,
                no_new_privs: security.no_new_privs,
                masked_paths: security.masked_paths,
                readonly_paths: security.readonly_paths,
                seccomp,
            },
        },
    })
}

/// The seccomp profile from `seccomp`, else from the deprecated `seccomp_profile_path`
/// (`runtime/default`, `docker/default`, `unconfined`, `localhost/<path>`); neither set means
/// unconfined, as containerd and CRI-O read it. A Localhost profile must be an absolute path.
fn seccomp_profile(
    profile: Option<cri::SecurityProfile>,
    deprecated_path: &str,
    field: &str,
) -> Result<SecurityProfile> {
    let localhost = |path: &str, field: String| {
        if path.starts_with('/') {
            Ok(SecurityProfile::Localhost(path.to_string()))
        } else {
            Err(Error::invalid(format!(
                "{field} {path:?} must be an absolute path to a seccomp profile"
            )))
        }
    };
    if let Some(profile) = profile {
        return match cri::security_profile::ProfileType::try_from(profile.profile_type) {
            Ok(cri::security_profile::ProfileType::RuntimeDefault) => {
                Ok(SecurityProfile::RuntimeDefault)
            }
            Ok(cri::security_profile::ProfileType::Unconfined) => Ok(SecurityProfile::Unconfined),
            Ok(cri::security_profile::ProfileType::Localhost) => localhost(
                &profile.localhost_ref,
                format!("{field}.seccomp.localhost_ref"),
            ),
            Err(_) => Err(Error::invalid(format!(
                "{field}.seccomp.profile_type {} is unknown",
                profile.profile_type
            ))),
        };
    }
    match deprecated_path {
        "" | "unconfined" => Ok(SecurityProfile::Unconfined),
        "runtime/default" | "docker/default" => Ok(SecurityProfile::RuntimeDefault),
        path => match path.strip_prefix("localhost/") {
            Some(rest) => localhost(rest, format!("{field}.seccomp_profile_path")),
            None => Err(Error::invalid(format!(
                "{field}.seccomp_profile_path {path:?} is not runtime/default, unconfined or \
                 localhost/<path>"
            ))),
        },
    }
}

fn mount(mount: cri::Mount, index: usize) -> Result<Mount> {
    let field = format!("config.mounts[{index}]");
    if !mount.container_path.starts_with('/') {
        return Err(Error::invalid(format!(
            "{field}.container_path {:?} must be absolute",
            mount.container_path
        )));
    }
    let propagation = match cri::MountPropagation::try_from(mount.propagation) {
        Ok(cri::MountPropagation::PropagationPrivate) => MountPropagation::Private,
        Ok(cri::MountPropagation::PropagationHostToContainer) => MountPropagation::HostToContainer,
        Ok(cri::MountPropagation::PropagationBidirectional) => MountPropagation::Bidirectional,
        Err(_) => {
            return Err(Error::invalid(format!(
                "{field}.propagation {} is unknown",
                mount.propagation
            )));
        }
    };
    Ok(Mount {
        container_path: mount.container_path,
        host_path: mount.host_path,
        readonly: mount.readonly,
        selinux_relabel: mount.selinux_relabel,
        propagation,
    })
}

/// LinuxContainerResources.
pub fn resources(r: cri::LinuxContainerResources) -> LinuxResources {
    LinuxResources {
        cpu_period: r.cpu_period,
        cpu_quota: r.cpu_quota,
        cpu_shares: r.cpu_shares,
        memory_limit_in_bytes: r.memory_limit_in_bytes,
        oom_score_adj: r.oom_score_adj,
        cpuset_cpus: r.cpuset_cpus,
        cpuset_mems: r.cpuset_mems,
        hugepage_limits: r
            .hugepage_limits
            .into_iter()
            .map(|h| (h.page_size, h.limit))
            .collect(),
        unified: r.unified.into_iter().collect(),
        memory_swap_limit_in_bytes: r.memory_swap_limit_in_bytes,
    }
}

/// UpdatePodSandboxResources' limits: the containers' sum plus the sandbox overhead. At least
/// one of the two is required.
pub fn pod_resources(
    resources: Option<cri::LinuxContainerResources>,
    overhead: Option<cri::LinuxContainerResources>,
) -> Result<LinuxResources> {
    let add = |a: i64, b: i64| if a > 0 && b > 0 { a + b } else { a.max(b) };
    match (
        resources.map(self::resources),
        overhead.map(self::resources),
    ) {
        (None, None) => Err(Error::invalid("resources or overhead is required")),
        (Some(total), None) | (None, Some(total)) => Ok(total),
        (Some(mut total), Some(overhead)) => {
            total.memory_limit_in_bytes =
                add(total.memory_limit_in_bytes, overhead.memory_limit_in_bytes);
            total.cpu_shares = add(total.cpu_shares, overhead.cpu_shares);
            if total.cpu_quota > 0 && overhead.cpu_quota > 0 {
                total.cpu_quota += overhead.cpu_quota;
            }
            Ok(total)
        }
    }
}

/// An ImageSpec naming an image.
pub fn image_spec(spec: cri::ImageSpec) -> Result<ImageSpec> {
    Ok(ImageSpec {
        image: spec.image,
        annotations: string_map(spec.annotations, "image.annotations")?,
        user_specified_image: spec.user_specified_image,
        runtime_handler: spec.runtime_handler,
    })
}

/// The image name of a request's ImageSpec, required and non-empty.
pub fn image_name(spec: Option<cri::ImageSpec>) -> Result<String> {
    let spec = required(spec, "image")?;
    if spec.image.is_empty() {
        return Err(Error::invalid("image.image must name an image"));
    }
    Ok(spec.image)
}

fn optional_id(value: String) -> Option<String> {
    (!value.is_empty()).then_some(value)
}

fn selector(map: HashMap<String, String>) -> Result<StringMap> {
    string_map(map, "filter.label_selector")
}

/// ListPodSandbox's filter.
pub fn sandbox_filter(filter: Option<cri::PodSandboxFilter>) -> Result<SandboxFilter> {
    let Some(filter) = filter else {
        return Ok(SandboxFilter::default());
    };
    let state = match filter.state {
        None => None,
        Some(value) => Some(match cri::PodSandboxState::try_from(value.state) {
            Ok(cri::PodSandboxState::SandboxReady) => SandboxState::Ready,
            Ok(cri::PodSandboxState::SandboxNotready) => SandboxState::NotReady,
            Err(_) => {
                return Err(Error::invalid(format!(
                    "filter.state {} is unknown",
                    value.state
                )));
            }
        }),
    };
    Ok(SandboxFilter {
        id: optional_id(filter.id),
        state,
        label_selector: selector(filter.label_selector)?,
    })
}

/// ListContainers' filter.
pub fn container_filter(filter: Option<cri::ContainerFilter>) -> Result<ContainerFilter> {
    let Some(filter) = filter else {
        return Ok(ContainerFilter::default());
    };
    let state = match filter.state {
        None => None,
        Some(value) => Some(match cri::ContainerState::try_from(value.state) {
            Ok(cri::ContainerState::ContainerCreated) => ContainerState::Created,
            Ok(cri::ContainerState::ContainerRunning) => ContainerState::Running,
            Ok(cri::ContainerState::ContainerExited) => ContainerState::Exited,
            Ok(cri::ContainerState::ContainerUnknown) => ContainerState::Unknown,
            Err(_) => {
                return Err(Error::invalid(format!(
                    "filter.state {} is unknown",
                    value.state
                )));
            }
        }),
    };
    Ok(ContainerFilter {
        id: optional_id(filter.id),
        state,
        sandbox_id: optional_id(filter.pod_sandbox_id),
        label_selector: selector(filter.label_selector)?,
    })
}

/// ListContainerStats' filter.
pub fn container_stats_filter(
    filter: Option<cri::ContainerStatsFilter>,
) -> Result<ContainerFilter> {
    let Some(filter) = filter else {
        return Ok(ContainerFilter::default());
    };
    Ok(ContainerFilter {
        id: optional_id(filter.id),
        state: None,
        sandbox_id: optional_id(filter.pod_sandbox_id),
        label_selector: selector(filter.label_selector)?,
    })
}

/// ListPodSandboxStats' filter.
pub fn sandbox_stats_filter(filter: Option<cri::PodSandboxStatsFilter>) -> Result<SandboxFilter> {
    let Some(filter) = filter else {
        return Ok(SandboxFilter::default());
    };
    Ok(SandboxFilter {
        id: optional_id(filter.id),
        state: None,
        label_selector: selector(filter.label_selector)?,
    })
}

/// PullImage's credentials.
pub fn auth(auth: Option<cri::AuthConfig>) -> Option<crate::backend::image::RegistryAuth> {
    auth.map(|a| crate::backend::image::RegistryAuth {
        username: a.username,
        password: a.password,
        auth: a.auth,
        server_address: a.server_address,
        identity_token: a.identity_token,
        registry_token: a.registry_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(profile_type: cri::security_profile::ProfileType, r: &str) -> cri::SecurityProfile {
        cri::SecurityProfile {
            profile_type: profile_type as i32,
            localhost_ref: r.to_string(),
        }
    }

    #[test]
    fn seccomp_profiles_from_the_field_or_the_deprecated_path() {
        use cri::security_profile::ProfileType;
        let field = "config.linux.security_context";
        let convert = |p, path: &str| seccomp_profile(p, path, field);
        assert_eq!(convert(None, "").unwrap(), SecurityProfile::Unconfined);
        assert_eq!(
            convert(Some(profile(ProfileType::RuntimeDefault, "")), "unconfined").unwrap(),
            SecurityProfile::RuntimeDefault
        );
        assert_eq!(
            convert(Some(profile(ProfileType::Unconfined, "")), "").unwrap(),
            SecurityProfile::Unconfined
        );
        assert_eq!(
            convert(Some(profile(ProfileType::Localhost, "/p/a.json")), "").unwrap(),
            SecurityProfile::Localhost("/p/a.json".into())
        );
        assert_eq!(
            convert(None, "runtime/default").unwrap(),
            SecurityProfile::RuntimeDefault
        );
        assert_eq!(
            convert(None, "docker/default").unwrap(),
            SecurityProfile::RuntimeDefault
        );
        assert_eq!(
            convert(None, "localhost//var/lib/kubelet/seccomp/a.json").unwrap(),
            SecurityProfile::Localhost("/var/lib/kubelet/seccomp/a.json".into())
        );
        for (p, path) in [
            (Some(profile(ProfileType::Localhost, "a.json")), ""),
            (Some(profile(ProfileType::Localhost, "")), ""),
            (None, "localhost/relative.json"),
            (None, "bogus"),
        ] {
            let error = convert(p, path).unwrap_err();
            assert!(error.to_string().contains(field), "{error}");
        }
        let unknown = cri::SecurityProfile {
            profile_type: 9,
            localhost_ref: String::new(),
        };
        assert!(convert(Some(unknown), "").is_err());
    }
}
