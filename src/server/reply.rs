//! Domain types to wire replies.

use crate::backend::cgroups::ResourceUsage;
use crate::backend::image::FsUsage;
use crate::model::{ImageRecord, Mount, MountPropagation, NamespaceMode, StringMap, Timestamp};
use crate::runtime::{
    Container, ContainerEvent, ContainerEventKind, ContainerState, ContainerStats, PodStats,
    Sandbox, SandboxState,
};
use crius_proto::cri;
use std::collections::HashMap;

fn map(labels: &StringMap) -> HashMap<String, String> {
    labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn u64_value(value: u64) -> Option<cri::UInt64Value> {
    Some(cri::UInt64Value { value })
}

fn sandbox_state(state: SandboxState) -> i32 {
    match state {
        SandboxState::Ready => cri::PodSandboxState::SandboxReady as i32,
        SandboxState::NotReady => cri::PodSandboxState::SandboxNotready as i32,
    }
}

fn container_state(state: ContainerState) -> i32 {
    match state {
        ContainerState::Created => cri::ContainerState::ContainerCreated as i32,
        ContainerState::Running => cri::ContainerState::ContainerRunning as i32,
        ContainerState::Exited => cri::ContainerState::ContainerExited as i32,
        ContainerState::Unknown => cri::ContainerState::ContainerUnknown as i32,
    }
}

fn namespace_mode(mode: NamespaceMode) -> i32 {
    match mode {
        NamespaceMode::Pod => cri::NamespaceMode::Pod as i32,
        NamespaceMode::Container => cri::NamespaceMode::Container as i32,
        NamespaceMode::Node => cri::NamespaceMode::Node as i32,
        NamespaceMode::Target => cri::NamespaceMode::Target as i32,
    }
}

fn pod_metadata(sandbox: &Sandbox) -> cri::PodSandboxMetadata {
    let m = &sandbox.config.metadata;
    cri::PodSandboxMetadata {
        name: m.name.clone(),
        uid: m.uid.clone(),
        namespace: m.namespace.clone(),
        attempt: m.attempt,
    }
}

fn container_metadata(container: &Container) -> cri::ContainerMetadata {
    cri::ContainerMetadata {
        name: container.config.metadata.name.clone(),
        attempt: container.config.metadata.attempt,
    }
}

/// A sandbox as ListPodSandbox shows it.
pub fn pod_sandbox(sandbox: &Sandbox) -> cri::PodSandbox {
    cri::PodSandbox {
        id: sandbox.id.clone(),
        metadata: Some(pod_metadata(sandbox)),
        state: sandbox_state(sandbox.state),
        created_at: sandbox.created_at,
        labels: map(&sandbox.config.labels),
        annotations: map(&sandbox.config.annotations),
        runtime_handler: sandbox.runtime_handler.clone(),
    }
}

/// A sandbox as PodSandboxStatus shows it.
pub fn pod_sandbox_status(sandbox: &Sandbox) -> cri::PodSandboxStatus {
    let options = &sandbox.config.linux.namespace_options;
    let network = (!sandbox.host_network()).then(|| cri::PodSandboxNetworkStatus {
        ip: sandbox.addresses.ip.clone(),
        additional_ips: sandbox
            .addresses
            .additional_ips
            .iter()
            .map(|ip| cri::PodIp { ip: ip.clone() })
            .collect(),
    });
    cri::PodSandboxStatus {
        id: sandbox.id.clone(),
        metadata: Some(pod_metadata(sandbox)),
        state: sandbox_state(sandbox.state),
        created_at: sandbox.created_at,
        network: Some(network.unwrap_or_default()),
        linux: Some(cri::LinuxPodSandboxStatus {
            namespaces: Some(cri::Namespace {
                options: Some(cri::NamespaceOption {
                    network: namespace_mode(options.network),
                    pid: namespace_mode(options.pid),
                    ipc: namespace_mode(options.ipc),
                    target_id: options.target_id.clone(),
                    userns_options: None,
                }),
            }),
        }),
        labels: map(&sandbox.config.labels),
        annotations: map(&sandbox.config.annotations),
        runtime_handler: sandbox.runtime_handler.clone(),
    }
}

fn image_spec(container: &Container) -> cri::ImageSpec {
    cri::ImageSpec {
        image: container.image.name.clone(),
        annotations: map(&container.config.image.annotations),
        user_specified_image: container.config.image.user_specified_image.clone(),
        runtime_handler: container.config.image.runtime_handler.clone(),
        image_ref: String::new(),
    }
}

/// A container as ListContainers shows it.
pub fn container(container: &Container) -> cri::Container {
    cri::Container {
        id: container.id.clone(),
        pod_sandbox_id: container.sandbox_id.clone(),
        metadata: Some(container_metadata(container)),
        image: Some(image_spec(container)),
        image_ref: container.image.reference.clone(),
        state: container_state(container.state),
        created_at: container.created_at,
        labels: map(&container.config.labels),
        annotations: map(&container.config.annotations),
        image_id: container.image.id.clone(),
    }
}

fn mount(mount: &Mount) -> cri::Mount {
    let propagation = match mount.propagation {
        MountPropagation::Private => cri::MountPropagation::PropagationPrivate,
        MountPropagation::HostToContainer => cri::MountPropagation::PropagationHostToContainer,
        MountPropagation::Bidirectional => cri::MountPropagation::PropagationBidirectional,
    };
    cri::Mount {
        container_path: mount.container_path.clone(),
        host_path: mount.host_path.clone(),
        readonly: mount.readonly,
        selinux_relabel: mount.selinux_relabel,
        propagation: propagation as i32,
        ..Default::default()
    }
}

/// A container as ContainerStatus shows it.
pub fn container_status(container: &Container) -> cri::ContainerStatus {
    let resources = container
        .config
        .linux
        .resources
        .as_ref()
        .map(|r| cri::ContainerResources {
            linux: Some(cri::LinuxContainerResources {
                cpu_period: r.cpu_period,
                cpu_quota: r.cpu_quota,
                cpu_shares: r.cpu_shares,
                memory_limit_in_bytes: r.memory_limit_in_bytes,
                oom_score_adj: r.oom_score_adj,
                cpuset_cpus: r.cpuset_cpus.clone(),
                cpuset_mems: r.cpuset_mems.clone(),
                hugepage_limits: r
                    .hugepage_limits
                    .iter()
                    .map(|(page_size, limit)| cri::HugepageLimit {
                        page_size: page_size.clone(),
                        limit: *limit,
                    })
                    .collect(),
                unified: map(&r.unified),
                memory_swap_limit_in_bytes: r.memory_swap_limit_in_bytes,
            }),
            windows: None,
        });
    let stop_signal = container
        .config
        .stop_signal
        .as_deref()
        .and_then(cri::Signal::from_str_name)
        .map_or(0, |s| s as i32);
    cri::ContainerStatus {
        id: container.id.clone(),
        metadata: Some(container_metadata(container)),
        state: container_state(container.state),
        created_at: container.created_at,
        started_at: container.started_at,
        finished_at: container.finished_at(),
        exit_code: container.exit_code(),
        image: Some(image_spec(container)),
        image_ref: container.image.reference.clone(),
        reason: container.reason().to_string(),
        message: container.message.clone(),
        labels: map(&container.config.labels),
        annotations: map(&container.config.annotations),
        mounts: container.config.mounts.iter().map(mount).collect(),
        log_path: container.log_path.clone(),
        resources,
        image_id: container.image.id.clone(),
        user: None,
        stop_signal,
    }
}

/// An image as ImageStatus and ListImages show it.
pub fn image(record: &ImageRecord) -> cri::Image {
    let user = record.config.user.split(':').next().unwrap_or("");
    let (uid, username) = match user.parse::<i64>() {
        Ok(uid) => (Some(cri::Int64Value { value: uid }), String::new()),
        Err(_) if user.is_empty() => (Some(cri::Int64Value { value: 0 }), String::new()),
        Err(_) => (None, user.to_string()),
    };
    cri::Image {
        id: record.id.clone(),
        repo_tags: record.repo_tags.clone(),
        repo_digests: record.repo_digests.clone(),
        size: record.size,
        uid,
        username,
        spec: Some(cri::ImageSpec {
            image: record.id.clone(),
            ..Default::default()
        }),
        pinned: record.pinned,
    }
}

/// Filesystem usage.
pub fn filesystem(usage: &FsUsage, timestamp: Timestamp) -> cri::FilesystemUsage {
    cri::FilesystemUsage {
        timestamp,
        fs_id: Some(cri::FilesystemIdentifier {
            mountpoint: usage.mountpoint.clone(),
        }),
        used_bytes: u64_value(usage.used_bytes),
        inodes_used: u64_value(usage.inodes_used),
    }
}

fn cpu(usage: &ResourceUsage) -> cri::CpuUsage {
    cri::CpuUsage {
        timestamp: usage.timestamp,
        usage_core_nano_seconds: u64_value(usage.cpu_usage_ns),
        usage_nano_cores: None,
        psi: None,
    }
}

fn memory(usage: &ResourceUsage) -> cri::MemoryUsage {
    cri::MemoryUsage {
        timestamp: usage.timestamp,
        working_set_bytes: u64_value(usage.memory_working_set_bytes),
        usage_bytes: u64_value(usage.memory_usage_bytes),
        rss_bytes: u64_value(usage.memory_rss_bytes),
        ..Default::default()
    }
}

/// Stats of one container.
pub fn container_stats(stats: &ContainerStats) -> cri::ContainerStats {
    let c = &stats.container;
    cri::ContainerStats {
        attributes: Some(cri::ContainerAttributes {
            id: c.id.clone(),
            metadata: Some(container_metadata(c)),
            labels: map(&c.config.labels),
            annotations: map(&c.config.annotations),
        }),
        cpu: Some(cpu(&stats.usage)),
        memory: Some(memory(&stats.usage)),
        writable_layer: Some(filesystem(&stats.writable_layer, stats.usage.timestamp)),
        swap: None,
        io: None,
    }
}

/// Stats of one pod.
pub fn pod_stats(stats: &PodStats) -> cri::PodSandboxStats {
    let s = &stats.sandbox;
    cri::PodSandboxStats {
        attributes: Some(cri::PodSandboxAttributes {
            id: s.id.clone(),
            metadata: Some(pod_metadata(s)),
            labels: map(&s.config.labels),
            annotations: map(&s.config.annotations),
        }),
        linux: Some(cri::LinuxPodSandboxStats {
            cpu: Some(cpu(&stats.usage)),
            memory: Some(memory(&stats.usage)),
            network: None,
            process: Some(cri::ProcessUsage {
                timestamp: stats.usage.timestamp,
                process_count: u64_value(stats.usage.pids),
            }),
            containers: stats.containers.iter().map(container_stats).collect(),
            io: None,
        }),
        windows: None,
    }
}

/// A container event for GetContainerEvents.
pub fn container_event(event: &ContainerEvent) -> cri::ContainerEventResponse {
    let kind = match event.kind {
        ContainerEventKind::Created => cri::ContainerEventType::ContainerCreatedEvent,
        ContainerEventKind::Started => cri::ContainerEventType::ContainerStartedEvent,
        ContainerEventKind::Stopped => cri::ContainerEventType::ContainerStoppedEvent,
        ContainerEventKind::Deleted => cri::ContainerEventType::ContainerDeletedEvent,
    };
    cri::ContainerEventResponse {
        container_id: event.container_id.clone(),
        container_event_type: kind as i32,
        created_at: event.at,
        pod_sandbox_status: event.sandbox.as_ref().map(pod_sandbox_status),
        containers_statuses: event.containers.iter().map(container_status).collect(),
    }
}
