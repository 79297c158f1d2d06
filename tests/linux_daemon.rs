//! End to end, as root: the real `crius serve` binary with the Linux backends, driven over its
//! socket with the generated CRI clients. A local docker-registry serves a busybox image
//! (Debian's busybox-static with its applets hard-linked), reached through a registries.conf
//! rewrite of `docker.io/library/busybox`; CNI is a private bridge with its own subnet; pod
//! cgroups go under a private parent. After the pod is gone and the daemon has exited on
//! SIGTERM, nothing may be left: mounts, pinned namespaces, cgroups, processes, addresses.

mod image_support;

use crius_proto::cri;
use crius_proto::cri::runtime_service_client::RuntimeServiceClient;
use image_support::registry::TestRegistry;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tonic::transport::Channel;

mod daemon_support;

use daemon_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crius_serve_runs_a_pod_and_a_container_and_leaves_nothing_behind() {
    require_prerequisites();
    let registry = TestRegistry::start();
    registry
        .pusher()
        .push_image("library/busybox", "latest", &busybox_image(), false);
    let mut node = Node::new(&registry.host);
    node.start();
    let (mut runtime, mut images) = node.clients().await;

    let version = runtime
        .version(cri::VersionRequest::default())
        .await
        .expect("Version")
        .into_inner();
    assert_eq!(version.runtime_name, "crius");
    assert_eq!(version.runtime_api_version, "v1");

    let status = runtime
        .status(cri::StatusRequest { verbose: false })
        .await
        .expect("Status")
        .into_inner();
    let conditions: HashMap<String, bool> = status
        .status
        .expect("a status")
        .conditions
        .into_iter()
        .map(|c| (c.r#type, c.status))
        .collect();
    assert_eq!(
        conditions.get("RuntimeReady"),
        Some(&true),
        "{conditions:?}"
    );
    assert_eq!(
        conditions.get("NetworkReady"),
        Some(&true),
        "{conditions:?}; log:\n{}",
        node.log()
    );

    let pulled = images
        .pull_image(cri::PullImageRequest {
            image: Some(cri::ImageSpec {
                image: "busybox".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("PullImage: {e}; log:\n{}", node.log()))
        .into_inner();
    assert!(pulled.image_ref.starts_with("sha256:"), "{pulled:?}");

    let pod_config = pod_config(&node, "web");
    let pod = runtime
        .run_pod_sandbox(cri::RunPodSandboxRequest {
            config: Some(pod_config.clone()),
            runtime_handler: String::new(),
        })
        .await
        .unwrap_or_else(|e| panic!("RunPodSandbox: {e}; log:\n{}", node.log()))
        .into_inner()
        .pod_sandbox_id;
    let pod_status = runtime
        .pod_sandbox_status(cri::PodSandboxStatusRequest {
            pod_sandbox_id: pod.clone(),
            verbose: false,
        })
        .await
        .expect("PodSandboxStatus")
        .into_inner()
        .status
        .expect("a pod status");
    assert_eq!(pod_status.state, cri::PodSandboxState::SandboxReady as i32);
    let ip: std::net::Ipv4Addr = pod_status
        .network
        .expect("pod network status")
        .ip
        .parse()
        .expect("the pod has an IPv4 address");
    assert_eq!(ip.octets()[0], 10, "{ip}");

    let container = runtime
        .create_container(cri::CreateContainerRequest {
            pod_sandbox_id: pod.clone(),
            config: Some(container_config(
                "hello",
                "busybox",
                &["sh", "-c", "echo hello; sleep 100"],
            )),
            sandbox_config: Some(pod_config.clone()),
        })
        .await
        .unwrap_or_else(|e| panic!("CreateContainer: {e}; log:\n{}", node.log()))
        .into_inner()
        .container_id;
    runtime
        .start_container(cri::StartContainerRequest {
            container_id: container.clone(),
        })
        .await
        .unwrap_or_else(|e| panic!("StartContainer: {e}; log:\n{}", node.log()));
    let status = runtime
        .container_status(cri::ContainerStatusRequest {
            container_id: container.clone(),
            verbose: false,
        })
        .await
        .expect("ContainerStatus")
        .into_inner()
        .status
        .expect("a container status");
    assert_eq!(
        status.state,
        cri::ContainerState::ContainerRunning as i32,
        "{status:?}"
    );
    let log_path = PathBuf::from(&status.log_path);
    assert_eq!(log_path, node.root.join("logs/web/hello/0.log"));
    let deadline = Instant::now() + Duration::from_secs(10);
    let log = loop {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        if log.contains("hello") || Instant::now() > deadline {
            break log;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        log.lines().any(|l| l.ends_with(" stdout F hello")),
        "the CRI log has no hello line: {log:?}"
    );

    runtime
        .stop_container(cri::StopContainerRequest {
            container_id: container.clone(),
            timeout: 1,
        })
        .await
        .unwrap_or_else(|e| panic!("StopContainer: {e}; log:\n{}", node.log()));
    let status = runtime
        .container_status(cri::ContainerStatusRequest {
            container_id: container.clone(),
            verbose: false,
        })
        .await
        .expect("ContainerStatus")
        .into_inner()
        .status
        .expect("a container status");
    assert_eq!(
        status.state,
        cri::ContainerState::ContainerExited as i32,
        "{status:?}"
    );
    runtime
        .remove_container(cri::RemoveContainerRequest {
            container_id: container.clone(),
        })
        .await
        .unwrap_or_else(|e| panic!("RemoveContainer: {e}; log:\n{}", node.log()));

    runtime
        .stop_pod_sandbox(cri::StopPodSandboxRequest {
            pod_sandbox_id: pod.clone(),
        })
        .await
        .unwrap_or_else(|e| panic!("StopPodSandbox: {e}; log:\n{}", node.log()));
    runtime
        .remove_pod_sandbox(cri::RemovePodSandboxRequest {
            pod_sandbox_id: pod.clone(),
        })
        .await
        .unwrap_or_else(|e| panic!("RemovePodSandbox: {e}; log:\n{}", node.log()));
    let pods = runtime
        .list_pod_sandbox(cri::ListPodSandboxRequest::default())
        .await
        .expect("ListPodSandbox")
        .into_inner()
        .items;
    assert!(pods.is_empty(), "{pods:?}");

    drop((runtime, images));
    let exit = node.terminate();
    assert!(
        exit.success(),
        "crius serve exited with {exit} on SIGTERM; log:\n{}",
        node.log()
    );
    assert!(!node.socket.exists(), "the socket is left behind");
    let left = node.leftovers();
    assert!(
        left.is_empty(),
        "left behind: {left:#?}\nlog:\n{}",
        node.log()
    );
}

/// The state of container `id`.
async fn container_state(runtime: &mut RuntimeServiceClient<Channel>, id: &str) -> i32 {
    runtime
        .container_status(cri::ContainerStatusRequest {
            container_id: id.into(),
            verbose: false,
        })
        .await
        .expect("ContainerStatus")
        .into_inner()
        .status
        .expect("a container status")
        .state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_daemon_finds_its_pod_and_running_container() {
    require_prerequisites();
    let registry = TestRegistry::start();
    registry
        .pusher()
        .push_image("library/busybox", "latest", &busybox_image(), false);
    let mut node = Node::new(&registry.host);
    node.start();
    let (mut runtime, mut images) = node.clients().await;
    images
        .pull_image(cri::PullImageRequest {
            image: Some(cri::ImageSpec {
                image: "busybox".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("PullImage: {e}; log:\n{}", node.log()));
    let pod_config = pod_config(&node, "kept");
    let pod = runtime
        .run_pod_sandbox(cri::RunPodSandboxRequest {
            config: Some(pod_config.clone()),
            runtime_handler: String::new(),
        })
        .await
        .unwrap_or_else(|e| panic!("RunPodSandbox: {e}; log:\n{}", node.log()))
        .into_inner()
        .pod_sandbox_id;
    let container = runtime
        .create_container(cri::CreateContainerRequest {
            pod_sandbox_id: pod.clone(),
            config: Some(container_config("sleeper", "busybox", &["sleep", "100"])),
            sandbox_config: Some(pod_config),
        })
        .await
        .unwrap_or_else(|e| panic!("CreateContainer: {e}; log:\n{}", node.log()))
        .into_inner()
        .container_id;
    runtime
        .start_container(cri::StartContainerRequest {
            container_id: container.clone(),
        })
        .await
        .unwrap_or_else(|e| panic!("StartContainer: {e}; log:\n{}", node.log()));
    drop((runtime, images));
    let exit = node.terminate();
    assert!(exit.success(), "first daemon exited with {exit}");

    node.start();
    let (mut runtime, mut images) = node.clients().await;
    let listed = images
        .list_images(cri::ListImagesRequest::default())
        .await
        .expect("ListImages")
        .into_inner()
        .images;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let pods = runtime
        .list_pod_sandbox(cri::ListPodSandboxRequest::default())
        .await
        .expect("ListPodSandbox")
        .into_inner()
        .items;
    assert_eq!(pods.len(), 1, "{pods:?}");
    assert_eq!(pods[0].id, pod);
    assert_eq!(pods[0].state, cri::PodSandboxState::SandboxReady as i32);
    assert_eq!(
        container_state(&mut runtime, &container).await,
        cri::ContainerState::ContainerRunning as i32,
        "the container kept running across the restart; log:\n{}",
        node.log()
    );

    runtime
        .stop_pod_sandbox(cri::StopPodSandboxRequest {
            pod_sandbox_id: pod.clone(),
        })
        .await
        .unwrap_or_else(|e| panic!("StopPodSandbox: {e}; log:\n{}", node.log()));
    assert_eq!(
        container_state(&mut runtime, &container).await,
        cri::ContainerState::ContainerExited as i32,
        "stopping the pod stops its containers"
    );
    runtime
        .remove_pod_sandbox(cri::RemovePodSandboxRequest {
            pod_sandbox_id: pod.clone(),
        })
        .await
        .unwrap_or_else(|e| panic!("RemovePodSandbox: {e}; log:\n{}", node.log()));
    drop((runtime, images));
    let exit = node.terminate();
    assert!(exit.success(), "second daemon exited with {exit}");
    let left = node.leftovers();
    assert!(
        left.is_empty(),
        "left behind: {left:#?}\nlog:\n{}",
        node.log()
    );
}
