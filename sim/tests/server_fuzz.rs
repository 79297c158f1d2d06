//! Fuzzing the server with generated requests: every answer is OK or a client-error code,
//! the server never panics, and what existed before is still there afterwards.

mod common;

use common::TestNode;
use crius_proto::cri;
use proptest::prelude::*;
use std::collections::HashMap;
use tonic::Code;

#[derive(Debug, Clone)]
enum Call {
    RunPod {
        name: String,
        uid: String,
        namespace: String,
        log_dir: String,
        netns_mode: i32,
        handler: String,
    },
    Create {
        pod: String,
        name: String,
        image: String,
        log_path: String,
        stop_signal: i32,
        propagation: i32,
    },
    Start(String),
    Stop {
        id: String,
        timeout: i64,
    },
    Remove(String),
    Status(String),
    ExecSync {
        id: String,
        cmd: Vec<String>,
        timeout: i64,
    },
    ListContainers {
        id: String,
        state: Option<i32>,
        labels: Vec<(String, String)>,
    },
    Pull(String),
    RemoveImage(String),
    StopPod(String),
    RemovePod(String),
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-z0-9-]{1,12}",
        "[ -~]{0,20}",
        "\\PC{0,8}",
        Just("x".repeat(300)),
        Just("../../etc".to_string()),
    ]
}

fn id() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[0-9a-f]{1,64}",
        "[ -~]{0,10}",
        Just("f".repeat(200))
    ]
}

fn call() -> impl Strategy<Value = Call> {
    prop_oneof![
        (
            text(),
            text(),
            text(),
            prop_oneof![
                Just(String::new()),
                Just("/tmp/fuzz-logs".to_string()),
                text()
            ],
            -2i32..6,
            prop_oneof![Just(String::new()), text()]
        )
            .prop_map(|(name, uid, namespace, log_dir, netns_mode, handler)| {
                Call::RunPod {
                    name,
                    uid,
                    namespace,
                    log_dir,
                    netns_mode,
                    handler,
                }
            }),
        (
            id(),
            text(),
            prop_oneof![Just("busybox".to_string()), text()],
            text(),
            -1i32..70,
            -1i32..4
        )
            .prop_map(|(pod, name, image, log_path, stop_signal, propagation)| {
                Call::Create {
                    pod,
                    name,
                    image,
                    log_path,
                    stop_signal,
                    propagation,
                }
            }),
        id().prop_map(Call::Start),
        (id(), -5i64..100).prop_map(|(id, timeout)| Call::Stop { id, timeout }),
        id().prop_map(Call::Remove),
        id().prop_map(Call::Status),
        (id(), proptest::collection::vec(text(), 0..3), -2i64..3)
            .prop_map(|(id, cmd, timeout)| Call::ExecSync { id, cmd, timeout }),
        (
            id(),
            proptest::option::of(-1i32..6),
            proptest::collection::vec((text(), text()), 0..2)
        )
            .prop_map(|(id, state, labels)| Call::ListContainers { id, state, labels }),
        text().prop_map(Call::Pull),
        text().prop_map(Call::RemoveImage),
        id().prop_map(Call::StopPod),
        id().prop_map(Call::RemovePod),
    ]
}

/// Codes a well-behaved server answers bad or unlucky input with.
fn acceptable(code: Code) -> bool {
    matches!(
        code,
        Code::InvalidArgument
            | Code::NotFound
            | Code::AlreadyExists
            | Code::FailedPrecondition
            | Code::DeadlineExceeded
    )
}

async fn send(t: &mut TestNode, call: Call) -> Result<(), tonic::Status> {
    match call {
        Call::RunPod {
            name,
            uid,
            namespace,
            log_dir,
            netns_mode,
            handler,
        } => {
            let config = cri::PodSandboxConfig {
                metadata: Some(cri::PodSandboxMetadata {
                    name,
                    uid,
                    namespace,
                    attempt: 0,
                }),
                log_directory: log_dir,
                linux: Some(cri::LinuxPodSandboxConfig {
                    security_context: Some(cri::LinuxSandboxSecurityContext {
                        namespace_options: Some(cri::NamespaceOption {
                            network: netns_mode,
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            };
            t.runtime
                .run_pod_sandbox(cri::RunPodSandboxRequest {
                    config: Some(config),
                    runtime_handler: handler,
                })
                .await
                .map(drop)
        }
        Call::Create {
            pod,
            name,
            image,
            log_path,
            stop_signal,
            propagation,
        } => {
            let mut config = common::container_config(&name, &image, &["sleep", "5"]);
            config.log_path = log_path;
            config.stop_signal = stop_signal;
            config.mounts.push(cri::Mount {
                container_path: "/data".into(),
                host_path: "/tmp".into(),
                propagation,
                ..Default::default()
            });
            t.runtime
                .create_container(cri::CreateContainerRequest {
                    pod_sandbox_id: pod,
                    config: Some(config),
                    sandbox_config: None,
                })
                .await
                .map(drop)
        }
        Call::Start(id) => t
            .runtime
            .start_container(cri::StartContainerRequest { container_id: id })
            .await
            .map(drop),
        Call::Stop { id, timeout } => t
            .runtime
            .stop_container(cri::StopContainerRequest {
                container_id: id,
                timeout,
            })
            .await
            .map(drop),
        Call::Remove(id) => t
            .runtime
            .remove_container(cri::RemoveContainerRequest { container_id: id })
            .await
            .map(drop),
        Call::Status(id) => t
            .runtime
            .container_status(cri::ContainerStatusRequest {
                container_id: id,
                verbose: true,
            })
            .await
            .map(drop),
        Call::ExecSync { id, cmd, timeout } => t
            .runtime
            .exec_sync(cri::ExecSyncRequest {
                container_id: id,
                cmd,
                timeout,
            })
            .await
            .map(drop),
        Call::ListContainers { id, state, labels } => {
            let filter = cri::ContainerFilter {
                id,
                state: state.map(|state| cri::ContainerStateValue { state }),
                label_selector: labels.into_iter().collect::<HashMap<_, _>>(),
                ..Default::default()
            };
            t.runtime
                .list_containers(cri::ListContainersRequest {
                    filter: Some(filter),
                })
                .await
                .map(drop)
        }
        Call::Pull(image) => t
            .images
            .pull_image(cri::PullImageRequest {
                image: Some(common::image_spec(&image)),
                ..Default::default()
            })
            .await
            .map(drop),
        Call::RemoveImage(image) => t
            .images
            .remove_image(cri::RemoveImageRequest {
                image: Some(common::image_spec(&image)),
            })
            .await
            .map(drop),
        Call::StopPod(id) => t
            .runtime
            .stop_pod_sandbox(cri::StopPodSandboxRequest { pod_sandbox_id: id })
            .await
            .map(drop),
        Call::RemovePod(id) => t
            .runtime
            .remove_pod_sandbox(cri::RemovePodSandboxRequest { pod_sandbox_id: id })
            .await
            .map(drop),
    }
}

/// Whether `call` targets one of `ids` by a prefix of it.
fn names_kept(call: &Call, ids: &[&str]) -> bool {
    let target = match call {
        Call::Create { pod, .. } => pod,
        Call::Start(id)
        | Call::Remove(id)
        | Call::Status(id)
        | Call::StopPod(id)
        | Call::RemovePod(id) => id,
        Call::Stop { id, .. } | Call::ExecSync { id, .. } => id,
        _ => return false,
    };
    !target.is_empty() && ids.iter().any(|id| id.starts_with(target.as_str()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn generated_requests_get_clear_errors_and_lose_no_state(calls in proptest::collection::vec(call(), 1..30)) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async {
            let mut t = TestNode::start().await;
            t.pull("busybox").await;
            let keeper = t.run_pod("keeper").await;
            let kept = t.create("keeper", "kept", "busybox", &["sleep", "100"]).await;
            for call in calls {
                // Calls naming a prefix of the kept objects' ids may legitimately remove them;
                // every other call must leave them alone.
                if names_kept(&call, &[&keeper, &kept]) {
                    continue;
                }
                if let Err(status) = send(&mut t, call.clone()).await {
                    assert!(acceptable(status.code()), "{call:?} answered {:?}: {}", status.code(), status.message());
                    assert!(!status.message().is_empty(), "{call:?} gave an empty message");
                }
            }
            let status = t.status(&kept).await;
            assert_eq!(status.id, kept);
            let pod = t
                .runtime
                .pod_sandbox_status(cri::PodSandboxStatusRequest { pod_sandbox_id: keeper.clone(), verbose: false })
                .await
                .unwrap()
                .into_inner();
            assert_eq!(pod.status.unwrap().id, keeper);
        });
    }
}
