//! End-to-end: the CRI over a unix socket against the simulated node.

mod common;

use common::{TestNode, container_config, image_spec};
use crius::cri_log::{Stream, join_records, parse_line};
use crius_proto::cri;
use std::collections::HashMap;
use std::time::Duration;
use tonic::Code;

#[tokio::test]
async fn version_status_and_runtime_config() {
    let mut t = TestNode::start().await;
    let version = t
        .runtime
        .version(cri::VersionRequest {
            version: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(version.runtime_name, "crius");
    assert_eq!(version.runtime_api_version, "v1");
    assert_eq!(version.runtime_version, env!("CARGO_PKG_VERSION"));
    let status = t
        .runtime
        .status(cri::StatusRequest { verbose: true })
        .await
        .unwrap()
        .into_inner();
    let conditions = status.status.unwrap().conditions;
    let types: Vec<_> = conditions
        .iter()
        .map(|c| (c.r#type.as_str(), c.status))
        .collect();
    assert_eq!(types, vec![("RuntimeReady", true), ("NetworkReady", true)]);
    assert!(status.info.contains_key("config"));
    let config = t
        .runtime
        .runtime_config(cri::RuntimeConfigRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        config.linux.unwrap().cgroup_driver,
        cri::CgroupDriver::Cgroupfs as i32
    );
}

#[tokio::test]
async fn network_not_ready_is_reported_with_reason() {
    let mut t = TestNode::start().await;
    t.node
        .network
        .set_readiness(crius::backend::network::NetworkReadiness::NotReady {
            reason: "NetworkPluginNotReady".into(),
            message: "no CNI configuration".into(),
        });
    let status = t
        .runtime
        .status(cri::StatusRequest { verbose: false })
        .await
        .unwrap()
        .into_inner();
    let network = &status.status.unwrap().conditions[1];
    assert!(!network.status);
    assert_eq!(network.reason, "NetworkPluginNotReady");
    assert_eq!(network.message, "no CNI configuration");
}

#[tokio::test]
async fn whole_pod_lifecycle_with_logs_exit_code_and_idempotent_teardown() {
    let mut t = TestNode::start().await;
    let image_id = t.pull("busybox").await;
    assert!(image_id.starts_with("sha256:"));
    let pod = t.run_pod("web").await;
    let ctr = t
        .create(
            "web",
            "app",
            "busybox",
            &["sh", "-c", "echo hello; echo oops >&2; sleep 5; exit 3"],
        )
        .await;
    let created = t.status(&ctr).await;
    assert_eq!(created.state, cri::ContainerState::ContainerCreated as i32);
    assert_eq!(
        created.image.as_ref().unwrap().image,
        "docker.io/library/busybox:latest"
    );
    assert_eq!(created.image_id, image_id);
    assert!(
        created
            .image_ref
            .starts_with("docker.io/library/busybox@sha256:")
    );

    t.runtime
        .start_container(cri::StartContainerRequest {
            container_id: ctr.clone(),
        })
        .await
        .unwrap();
    let running = t.status(&ctr).await;
    assert_eq!(running.state, cri::ContainerState::ContainerRunning as i32);
    assert!(running.started_at >= running.created_at);

    let log = std::fs::read_to_string(&running.log_path).unwrap();
    let lines: Vec<_> = log.lines().map(|l| parse_line(l).unwrap()).collect();
    let records = join_records(lines);
    assert_eq!(
        records,
        vec![
            (Stream::Stdout, "hello".to_string()),
            (Stream::Stderr, "oops".to_string())
        ]
    );

    t.node.advance(Duration::from_secs(5));
    let exited = t.status(&ctr).await;
    assert_eq!(exited.state, cri::ContainerState::ContainerExited as i32);
    assert_eq!(exited.exit_code, 3);
    assert_eq!(exited.reason, "Error");
    assert_eq!(exited.finished_at - exited.started_at, 5_000_000_000);

    // Stop and remove are idempotent, as kubelet expects.
    for _ in 0..2 {
        t.runtime
            .stop_container(cri::StopContainerRequest {
                container_id: ctr.clone(),
                timeout: 10,
            })
            .await
            .unwrap();
        t.runtime
            .stop_pod_sandbox(cri::StopPodSandboxRequest {
                pod_sandbox_id: pod.clone(),
            })
            .await
            .unwrap();
    }
    for _ in 0..2 {
        t.runtime
            .remove_container(cri::RemoveContainerRequest {
                container_id: ctr.clone(),
            })
            .await
            .unwrap();
        t.runtime
            .remove_pod_sandbox(cri::RemovePodSandboxRequest {
                pod_sandbox_id: pod.clone(),
            })
            .await
            .unwrap();
    }
    let err = t
        .runtime
        .container_status(cri::ContainerStatusRequest {
            container_id: ctr.clone(),
            verbose: false,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = t
        .runtime
        .pod_sandbox_status(cri::PodSandboxStatusRequest {
            pod_sandbox_id: pod.clone(),
            verbose: false,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert_eq!(t.node.network.attached(), 0);
    assert_eq!(t.node.cgroups.pods(), 0);
    assert_eq!(t.node.rootfs.count(), 0);
    t.shutdown().await;
}

#[tokio::test]
async fn stop_container_kills_with_signal_exit_code() {
    let mut t = TestNode::start().await;
    t.pull("busybox").await;
    t.run_pod("p").await;
    let ctr = t
        .create("p", "sleeper", "busybox", &["sleep", "3600"])
        .await;
    t.runtime
        .start_container(cri::StartContainerRequest {
            container_id: ctr.clone(),
        })
        .await
        .unwrap();
    t.node.advance(Duration::from_secs(1));
    t.runtime
        .stop_container(cri::StopContainerRequest {
            container_id: ctr.clone(),
            timeout: 30,
        })
        .await
        .unwrap();
    let status = t.status(&ctr).await;
    assert_eq!(status.exit_code, 143, "SIGTERM ends it with 128+15");
    assert_eq!(status.reason, "Error");
    let err = t
        .runtime
        .exec_sync(cri::ExecSyncRequest {
            container_id: ctr.clone(),
            cmd: vec!["true".into()],
            timeout: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
}

#[tokio::test]
async fn exec_sync_output_exit_code_and_timeout() {
    let mut t = TestNode::with_options(
        crius_sim::node::SimOptions {
            speed: Some(1000.0),
            ..Default::default()
        },
        None,
    )
    .await;
    t.pull("busybox").await;
    t.run_pod("p").await;
    let ctr = t
        .create("p", "app", "busybox", &["sleep", "infinity"])
        .await;
    t.runtime
        .start_container(cri::StartContainerRequest {
            container_id: ctr.clone(),
        })
        .await
        .unwrap();
    let out = t
        .runtime
        .exec_sync(cri::ExecSyncRequest {
            container_id: ctr[..12].to_string(),
            cmd: vec![
                "sh".into(),
                "-c".into(),
                "echo out; echo err >&2; exit 3".into(),
            ],
            timeout: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(out.stderr, b"err\n");
    assert_eq!(out.exit_code, 3);
    let err = t
        .runtime
        .exec_sync(cri::ExecSyncRequest {
            container_id: ctr.clone(),
            cmd: vec!["sleep".into(), "10".into()],
            timeout: 1,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded);
    let err = t
        .runtime
        .exec_sync(cri::ExecSyncRequest {
            container_id: ctr.clone(),
            cmd: vec!["true".into()],
            timeout: -1,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn cat_reads_mounted_host_files_and_image_files() {
    let mut t = TestNode::start().await;
    t.pull("busybox").await;
    t.run_pod("p").await;
    let host_dir = t.dir.path().join("config");
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::write(host_dir.join("greeting"), "from the host\n").unwrap();
    let mut config = container_config(
        "reader",
        "busybox",
        &["sh", "-c", "cat /etc/app/greeting /etc/hostname"],
    );
    config.mounts.push(cri::Mount {
        container_path: "/etc/app".into(),
        host_path: host_dir.to_string_lossy().into_owned(),
        readonly: true,
        ..Default::default()
    });
    let pod_id = t.pod_id("p").await;
    let ctr = t
        .runtime
        .create_container(cri::CreateContainerRequest {
            pod_sandbox_id: pod_id,
            config: Some(config),
            sandbox_config: None,
        })
        .await
        .unwrap()
        .into_inner()
        .container_id;
    t.runtime
        .start_container(cri::StartContainerRequest {
            container_id: ctr.clone(),
        })
        .await
        .unwrap();
    let status = t.status(&ctr).await;
    assert_eq!(status.reason, "Completed");
    let log = std::fs::read_to_string(&status.log_path).unwrap();
    let text: Vec<_> = join_records(log.lines().map(|l| parse_line(l).unwrap()))
        .into_iter()
        .map(|(_, l)| l)
        .collect();
    assert_eq!(text, vec!["from the host".to_string(), "p".to_string()]);
}

#[tokio::test]
async fn list_filters_prefixes_and_label_selectors() {
    let mut t = TestNode::start().await;
    t.pull("busybox").await;
    let a = t.run_pod("a").await;
    let b = t.run_pod("b").await;
    let ca = t.create("a", "one", "busybox", &["sleep", "100"]).await;
    let cb = t.create("b", "two", "busybox", &["sleep", "100"]).await;
    t.runtime
        .start_container(cri::StartContainerRequest {
            container_id: ca.clone(),
        })
        .await
        .unwrap();
    t.runtime
        .stop_pod_sandbox(cri::StopPodSandboxRequest {
            pod_sandbox_id: b.clone(),
        })
        .await
        .unwrap();

    let list = |filter: cri::ContainerFilter| {
        let mut client = t.runtime.clone();
        async move {
            let mut ids: Vec<String> = client
                .list_containers(cri::ListContainersRequest {
                    filter: Some(filter),
                })
                .await
                .unwrap()
                .into_inner()
                .containers
                .into_iter()
                .map(|c| c.id)
                .collect();
            ids.sort();
            ids
        }
    };
    let mut both = vec![ca.clone(), cb.clone()];
    both.sort();
    assert_eq!(list(cri::ContainerFilter::default()).await, both);
    let running = cri::ContainerFilter {
        state: Some(cri::ContainerStateValue {
            state: cri::ContainerState::ContainerRunning as i32,
        }),
        ..Default::default()
    };
    assert_eq!(list(running).await, vec![ca.clone()]);
    let by_pod_prefix = cri::ContainerFilter {
        pod_sandbox_id: b[..8].to_string(),
        ..Default::default()
    };
    assert_eq!(list(by_pod_prefix).await, vec![cb.clone()]);
    let by_label = cri::ContainerFilter {
        label_selector: HashMap::from([("app".to_string(), "two".to_string())]),
        ..Default::default()
    };
    assert_eq!(list(by_label).await, vec![cb.clone()]);
    let unknown = cri::ContainerFilter {
        id: "ffffffffffff".into(),
        ..Default::default()
    };
    assert!(list(unknown).await.is_empty());

    let ready = t
        .runtime
        .list_pod_sandbox(cri::ListPodSandboxRequest {
            filter: Some(cri::PodSandboxFilter {
                state: Some(cri::PodSandboxStateValue {
                    state: cri::PodSandboxState::SandboxReady as i32,
                }),
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner()
        .items;
    assert_eq!(
        ready.iter().map(|p| p.id.clone()).collect::<Vec<_>>(),
        vec![a.clone()]
    );

    // A unique prefix resolves; the prefix both ids share is ambiguous (or empty): either way
    // InvalidArgument.
    let status = t.status(&ca[..10]).await;
    assert_eq!(status.id, ca);
    let common = ca
        .chars()
        .zip(cb.chars())
        .take_while(|(x, y)| x == y)
        .count();
    let err = t
        .runtime
        .container_status(cri::ContainerStatusRequest {
            container_id: ca[..common].to_string(),
            verbose: false,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{}", err.message());
}

#[tokio::test]
async fn names_are_reserved_until_removal() {
    let mut t = TestNode::start().await;
    t.pull("busybox").await;
    let pod = t.run_pod("p").await;
    let config = t.pod_config("p", 0);
    let err = t
        .runtime
        .run_pod_sandbox(cri::RunPodSandboxRequest {
            config: Some(config.clone()),
            runtime_handler: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    let ctr = t.create("p", "app", "busybox", &["true"]).await;
    let err = t
        .runtime
        .create_container(cri::CreateContainerRequest {
            pod_sandbox_id: pod.clone(),
            config: Some(container_config("app", "busybox", &["true"])),
            sandbox_config: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    t.runtime
        .remove_container(cri::RemoveContainerRequest { container_id: ctr })
        .await
        .unwrap();
    t.create("p", "app", "busybox", &["true"]).await;
    t.runtime
        .remove_pod_sandbox(cri::RemovePodSandboxRequest {
            pod_sandbox_id: pod,
        })
        .await
        .unwrap();
    t.runtime
        .run_pod_sandbox(cri::RunPodSandboxRequest {
            config: Some(config),
            runtime_handler: String::new(),
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn images_must_be_pulled_and_in_use_images_stay() {
    let mut t = TestNode::start().await;
    t.run_pod("p").await;
    let pod = t.pod_id("p").await;
    let err = t
        .runtime
        .create_container(cri::CreateContainerRequest {
            pod_sandbox_id: pod.clone(),
            config: Some(container_config("app", "nginx:1.27", &["true"])),
            sandbox_config: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let absent = t
        .images
        .image_status(cri::ImageStatusRequest {
            image: Some(image_spec("nginx:1.27")),
            verbose: false,
        })
        .await
        .unwrap();
    assert!(absent.into_inner().image.is_none());
    let id = t.pull("nginx:1.27").await;
    let again = t.pull("docker.io/library/nginx:1.27").await;
    assert_eq!(id, again, "the same reference gives the same image");
    let image = t
        .images
        .image_status(cri::ImageStatusRequest {
            image: Some(image_spec("nginx:1.27")),
            verbose: false,
        })
        .await
        .unwrap()
        .into_inner()
        .image
        .unwrap();
    assert_eq!(
        image.repo_tags,
        vec!["docker.io/library/nginx:1.27".to_string()]
    );
    assert!(image.size > 0);
    assert_eq!(image.uid, Some(cri::Int64Value { value: 0 }));
    let ctr = t.create("p", "app", "nginx:1.27", &["sleep", "10"]).await;
    let err = t
        .images
        .remove_image(cri::RemoveImageRequest {
            image: Some(image_spec(&id)),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    t.runtime
        .remove_container(cri::RemoveContainerRequest { container_id: ctr })
        .await
        .unwrap();
    for _ in 0..2 {
        t.images
            .remove_image(cri::RemoveImageRequest {
                image: Some(image_spec(&id)),
            })
            .await
            .unwrap();
    }
    let listed = t
        .images
        .list_images(cri::ListImagesRequest { filter: None })
        .await
        .unwrap()
        .into_inner()
        .images;
    assert!(listed.is_empty());
    let fs = t
        .images
        .image_fs_info(cri::ImageFsInfoRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        fs.image_filesystems[0].used_bytes,
        Some(cri::UInt64Value { value: 0 })
    );
}

#[tokio::test]
async fn bad_input_gets_invalid_argument_naming_the_field() {
    let mut t = TestNode::start().await;
    let cases: Vec<(Option<cri::PodSandboxConfig>, &str)> = vec![
        (None, "config"),
        (Some(cri::PodSandboxConfig::default()), "config.metadata"),
        (
            Some(cri::PodSandboxConfig {
                metadata: Some(cri::PodSandboxMetadata {
                    name: "x".repeat(300),
                    uid: "u".into(),
                    namespace: "n".into(),
                    attempt: 0,
                }),
                ..Default::default()
            }),
            "config.metadata.name",
        ),
        (
            Some(cri::PodSandboxConfig {
                metadata: Some(cri::PodSandboxMetadata {
                    name: "x".into(),
                    uid: String::new(),
                    namespace: "n".into(),
                    attempt: 0,
                }),
                ..Default::default()
            }),
            "config.metadata.uid",
        ),
        (
            Some(cri::PodSandboxConfig {
                metadata: Some(cri::PodSandboxMetadata {
                    name: "x".into(),
                    uid: "u".into(),
                    namespace: "n".into(),
                    attempt: 0,
                }),
                log_directory: "relative/logs".into(),
                ..Default::default()
            }),
            "config.log_directory",
        ),
    ];
    for (config, field) in cases {
        let err = t
            .runtime
            .run_pod_sandbox(cri::RunPodSandboxRequest {
                config,
                runtime_handler: String::new(),
            })
            .await
            .unwrap_err();
        assert_eq!(
            err.code(),
            Code::InvalidArgument,
            "{field}: {}",
            err.message()
        );
        assert!(
            err.message().contains(field),
            "message {:?} should name {field}",
            err.message()
        );
    }
    let err = t
        .runtime
        .run_pod_sandbox(cri::RunPodSandboxRequest {
            config: Some(t.pod_config("p", 0)),
            runtime_handler: "kata".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    t.pull("busybox").await;
    let pod = t.run_pod("p").await;
    let mut escaping = container_config("esc", "busybox", &["true"]);
    escaping.log_path = "../../etc/evil.log".into();
    let err = t
        .runtime
        .create_container(cri::CreateContainerRequest {
            pod_sandbox_id: pod.clone(),
            config: Some(escaping),
            sandbox_config: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("log_path"));
    let err = t
        .runtime
        .stop_container(cri::StopContainerRequest {
            container_id: "abc".into(),
            timeout: -5,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = t
        .runtime
        .start_container(cri::StartContainerRequest {
            container_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = t
        .runtime
        .start_container(cri::StartContainerRequest {
            container_id: "feedface".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = t
        .images
        .pull_image(cri::PullImageRequest {
            image: Some(image_spec("Not A Reference")),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = t
        .runtime
        .exec(cri::ExecRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);
    assert!(err.message().contains("streaming"));
}

#[tokio::test]
async fn container_events_stream_lifecycle() {
    let mut t = TestNode::start().await;
    t.pull("busybox").await;
    let mut events = t
        .runtime
        .get_container_events(cri::GetEventsRequest {})
        .await
        .unwrap()
        .into_inner();
    t.run_pod("p").await;
    let ctr = t
        .create("p", "app", "busybox", &["sh", "-c", "sleep 2"])
        .await;
    t.runtime
        .start_container(cri::StartContainerRequest {
            container_id: ctr.clone(),
        })
        .await
        .unwrap();
    t.node.advance(Duration::from_secs(2));
    t.runtime
        .remove_container(cri::RemoveContainerRequest {
            container_id: ctr.clone(),
        })
        .await
        .unwrap();
    let mut kinds = Vec::new();
    while kinds.len() < 4 {
        let event = tokio::time::timeout(Duration::from_secs(5), events.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(event.container_id, ctr);
        assert!(event.pod_sandbox_status.is_some());
        kinds.push(event.container_event_type);
    }
    use cri::ContainerEventType as E;
    assert_eq!(
        kinds,
        vec![
            E::ContainerCreatedEvent as i32,
            E::ContainerStartedEvent as i32,
            E::ContainerStoppedEvent as i32,
            E::ContainerDeletedEvent as i32
        ]
    );
}

#[tokio::test]
async fn stats_move_with_virtual_time() {
    let mut t = TestNode::start().await;
    t.pull("busybox").await;
    let pod = t.run_pod("p").await;
    let ctr = t.create("p", "app", "busybox", &["sleep", "1000"]).await;
    t.runtime
        .start_container(cri::StartContainerRequest {
            container_id: ctr.clone(),
        })
        .await
        .unwrap();
    let cpu =
        |stats: cri::ContainerStats| stats.cpu.unwrap().usage_core_nano_seconds.unwrap().value;
    let first = t
        .runtime
        .container_stats(cri::ContainerStatsRequest {
            container_id: ctr.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .stats
        .unwrap();
    t.node.advance(Duration::from_secs(10));
    let second = t
        .runtime
        .container_stats(cri::ContainerStatsRequest {
            container_id: ctr.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .stats
        .unwrap();
    assert!(cpu(second.clone()) > cpu(first.clone()));
    assert!(second.memory.unwrap().working_set_bytes.unwrap().value > 0);
    let pods = t
        .runtime
        .list_pod_sandbox_stats(cri::ListPodSandboxStatsRequest { filter: None })
        .await
        .unwrap()
        .into_inner()
        .stats;
    assert_eq!(pods.len(), 1);
    assert_eq!(pods[0].attributes.as_ref().unwrap().id, pod);
    assert_eq!(pods[0].linux.as_ref().unwrap().containers.len(), 1);
}

#[tokio::test]
async fn state_survives_a_restart_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.redb");
    let (pod, ctr, listed) = {
        let mut t = TestNode::with_options(
            Default::default(),
            Some(crius::store::Store::open(&db).unwrap()),
        )
        .await;
        t.pull("busybox").await;
        let pod = t.run_pod("p").await;
        let ctr = t
            .create("p", "app", "busybox", &["sh", "-c", "exit 4"])
            .await;
        t.runtime
            .start_container(cri::StartContainerRequest {
                container_id: ctr.clone(),
            })
            .await
            .unwrap();
        let listed = t
            .runtime
            .list_containers(cri::ListContainersRequest { filter: None })
            .await
            .unwrap()
            .into_inner()
            .containers;
        t.shutdown().await;
        (pod, ctr, listed)
    };
    let mut t = TestNode::with_options(
        Default::default(),
        Some(crius::store::Store::open(&db).unwrap()),
    )
    .await;
    let again = t
        .runtime
        .list_containers(cri::ListContainersRequest { filter: None })
        .await
        .unwrap()
        .into_inner()
        .containers;
    assert_eq!(listed, again);
    let status = t.status(&ctr).await;
    assert_eq!(status.exit_code, 4);
    let images = t
        .images
        .list_images(cri::ListImagesRequest { filter: None })
        .await
        .unwrap()
        .into_inner()
        .images;
    assert_eq!(images.len(), 1);
    let err = t
        .runtime
        .run_pod_sandbox(cri::RunPodSandboxRequest {
            config: Some(t.pod_config("p", 0)),
            runtime_handler: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Code::AlreadyExists,
        "the name stays reserved across the restart"
    );
    t.runtime
        .remove_pod_sandbox(cri::RemovePodSandboxRequest {
            pod_sandbox_id: pod,
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn a_failed_network_setup_rolls_back_and_frees_the_name() {
    use crius_sim::faults::{FaultInjector, FaultPlan};
    let plan = FaultPlan::builder()
        .call("RunPodSandbox")
        .pod("p")
        .times(1)
        .code(crius::error::ErrorKind::Unavailable)
        .message("CNI ADD failed")
        .done()
        .build();
    let options = crius_sim::node::SimOptions {
        faults: std::sync::Arc::new(FaultInjector::new(plan).unwrap()),
        ..Default::default()
    };
    let mut t = TestNode::with_options(options, None).await;
    let config = t.pod_config("p", 0);
    let err = t
        .runtime
        .run_pod_sandbox(cri::RunPodSandboxRequest {
            config: Some(config.clone()),
            runtime_handler: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert!(
        err.message().contains("CNI ADD failed"),
        "{}",
        err.message()
    );
    assert_eq!(t.node.cgroups.pods(), 0, "the pod cgroup was removed");
    assert_eq!(
        t.node.namespaces.pinned(),
        0,
        "the namespaces were released"
    );
    // Nothing half-made is listed, and kubelet's retry with the same name succeeds.
    let pods = t
        .runtime
        .list_pod_sandbox(cri::ListPodSandboxRequest { filter: None })
        .await
        .unwrap()
        .into_inner()
        .items;
    assert!(pods.is_empty());
    t.runtime
        .run_pod_sandbox(cri::RunPodSandboxRequest {
            config: Some(config),
            runtime_handler: String::new(),
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn a_planned_oom_kill_is_reported_as_oomkilled() {
    use crius_sim::faults::{FaultInjector, FaultPlan};
    let plan = FaultPlan::builder()
        .oom("hog", Duration::from_secs(3))
        .build();
    let options = crius_sim::node::SimOptions {
        faults: std::sync::Arc::new(FaultInjector::new(plan).unwrap()),
        ..Default::default()
    };
    let mut t = TestNode::with_options(options, None).await;
    t.pull("busybox").await;
    t.run_pod("p").await;
    let ctr = t.create("p", "hog", "busybox", &["sleep", "3600"]).await;
    t.runtime
        .start_container(cri::StartContainerRequest {
            container_id: ctr.clone(),
        })
        .await
        .unwrap();
    t.node.advance(Duration::from_secs(2));
    assert_eq!(
        t.status(&ctr).await.state,
        cri::ContainerState::ContainerRunning as i32
    );
    t.node.advance(Duration::from_secs(1));
    let status = t.status(&ctr).await;
    assert_eq!(status.state, cri::ContainerState::ContainerExited as i32);
    assert_eq!(status.exit_code, 137);
    assert_eq!(status.reason, "OOMKilled");
    assert_eq!(status.finished_at - status.started_at, 3_000_000_000);
}

#[tokio::test]
async fn a_pod_resize_reaches_the_pod_cgroup_with_its_overhead() {
    let mut t = TestNode::start().await;
    let pod = t.run_pod("p").await;
    let limits = |memory: i64, shares: i64| cri::LinuxContainerResources {
        memory_limit_in_bytes: memory,
        cpu_shares: shares,
        ..Default::default()
    };
    t.runtime
        .update_pod_sandbox_resources(cri::UpdatePodSandboxResourcesRequest {
            pod_sandbox_id: pod[..8].to_string(),
            resources: Some(limits(100 << 20, 1024)),
            overhead: Some(limits(10 << 20, 24)),
        })
        .await
        .unwrap();
    let applied = t.node.cgroups.pod_limits(&pod).unwrap();
    assert_eq!(applied.memory_limit_in_bytes, 110 << 20);
    assert_eq!(applied.cpu_shares, 1048);
    let err = t
        .runtime
        .update_pod_sandbox_resources(cri::UpdatePodSandboxResourcesRequest {
            pod_sandbox_id: pod.clone(),
            resources: None,
            overhead: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    t.runtime
        .stop_pod_sandbox(cri::StopPodSandboxRequest {
            pod_sandbox_id: pod.clone(),
        })
        .await
        .unwrap();
    let err = t
        .runtime
        .update_pod_sandbox_resources(cri::UpdatePodSandboxResourcesRequest {
            pod_sandbox_id: pod.clone(),
            resources: Some(limits(1 << 20, 2)),
            overhead: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    let err = t
        .runtime
        .update_pod_sandbox_resources(cri::UpdatePodSandboxResourcesRequest {
            pod_sandbox_id: "feedfacefeed".into(),
            resources: Some(limits(1 << 20, 2)),
            overhead: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
}
