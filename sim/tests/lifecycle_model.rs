//! Property test: random sequences of CRI operations against the core on the simulated node,
//! checked call by call against a small reference model.

use crius::error::ErrorKind;
use crius::model::{ContainerConfig, ContainerMetadata, ImageSpec, PodMetadata, SandboxConfig};
use crius::runtime::{
    ContainerFilter, ContainerState, Runtime, RuntimeSettings, SandboxFilter, SandboxState,
};
use crius::store::Store;
use crius_sim::node::{SimNode, SimOptions};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::time::Duration;

const PODS: u8 = 3;
const NAMES: u8 = 2;
const IMAGES: [&str; 2] = ["busybox", "nginx:1.27"];

#[derive(Debug, Clone)]
enum Op {
    Pull(usize),
    RemoveImage(usize),
    RunPod(u8),
    StopPod(u8),
    RemovePod(u8),
    Create {
        pod: u8,
        name: u8,
        image: usize,
        sleep: u8,
        exit: u8,
    },
    Start {
        pod: u8,
        name: u8,
    },
    Stop {
        pod: u8,
        name: u8,
    },
    Remove {
        pod: u8,
        name: u8,
    },
    Advance(u8),
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..IMAGES.len()).prop_map(Op::Pull),
        (0..IMAGES.len()).prop_map(Op::RemoveImage),
        (0..PODS).prop_map(Op::RunPod),
        (0..PODS).prop_map(Op::StopPod),
        (0..PODS).prop_map(Op::RemovePod),
        (0..PODS, 0..NAMES, 0..IMAGES.len(), 0u8..6, 0u8..3).prop_map(
            |(pod, name, image, sleep, exit)| Op::Create {
                pod,
                name,
                image,
                sleep,
                exit
            }
        ),
        (0..PODS, 0..NAMES).prop_map(|(pod, name)| Op::Start { pod, name }),
        (0..PODS, 0..NAMES).prop_map(|(pod, name)| Op::Stop { pod, name }),
        (0..PODS, 0..NAMES).prop_map(|(pod, name)| Op::Remove { pod, name }),
        (0u8..8).prop_map(Op::Advance),
        Just(Op::Restart),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ModelCtr {
    Created { sleep: u8, exit: u8, image: usize },
    Running { until: i64, exit: u8, image: usize },
    Exited { code: i32, image: usize },
}

#[derive(Debug, Default)]
struct Model {
    now: i64,
    images: [bool; 2],
    pods: BTreeMap<u8, (String, SandboxState)>,
    containers: BTreeMap<(u8, u8), (String, ModelCtr)>,
}

impl Model {
    /// Lets virtual time act: containers whose sleep is over exit.
    fn settle(&mut self) {
        for (_, ctr) in self.containers.values_mut() {
            if let ModelCtr::Running { until, exit, image } = *ctr
                && until <= self.now
            {
                *ctr = ModelCtr::Exited {
                    code: i32::from(exit),
                    image,
                };
            }
        }
    }

    fn kill_pod_containers(&mut self, pod: u8) {
        for ((p, _), (_, ctr)) in self.containers.iter_mut() {
            if *p == pod
                && let ModelCtr::Running { image, .. } = *ctr
            {
                *ctr = ModelCtr::Exited { code: 137, image };
            }
        }
    }

    fn image_in_use(&self, image: usize) -> bool {
        self.containers.values().any(|(_, c)| match *c {
            ModelCtr::Created { image: i, .. }
            | ModelCtr::Running { image: i, .. }
            | ModelCtr::Exited { image: i, .. } => i == image,
        })
    }
}

fn pod_config(pod: u8) -> SandboxConfig {
    SandboxConfig {
        metadata: PodMetadata {
            name: format!("pod{pod}"),
            uid: format!("uid{pod}"),
            namespace: "ns".into(),
            attempt: 0,
        },
        ..Default::default()
    }
}

fn container_config(name: u8, image: usize, sleep: u8, exit: u8) -> ContainerConfig {
    ContainerConfig {
        metadata: ContainerMetadata {
            name: format!("c{name}"),
            attempt: 0,
        },
        image: ImageSpec {
            image: IMAGES[image].into(),
            ..Default::default()
        },
        command: vec![
            "sh".into(),
            "-c".into(),
            format!("sleep {sleep}; exit {exit}"),
        ],
        ..Default::default()
    }
}

fn kind<T>(result: &Result<T, crius::runtime::Error>) -> Option<ErrorKind> {
    result.as_ref().err().map(|e| e.kind())
}

struct Harness {
    node: SimNode,
    store: Store,
    core: Runtime,
}

async fn check(h: &Harness, model: &Model) {
    let pods = h
        .core
        .list_pod_sandboxes(&SandboxFilter::default())
        .unwrap();
    let mut expected: Vec<(String, SandboxState)> = model.pods.values().cloned().collect();
    expected.sort();
    let mut got: Vec<(String, SandboxState)> =
        pods.iter().map(|p| (p.id.clone(), p.state)).collect();
    got.sort();
    assert_eq!(got, expected, "pods");
    let containers = h
        .core
        .list_containers(&ContainerFilter::default())
        .await
        .unwrap();
    let mut expected: Vec<(String, ContainerState, Option<i32>)> = model
        .containers
        .values()
        .map(|(id, c)| match *c {
            ModelCtr::Created { .. } => (id.clone(), ContainerState::Created, None),
            ModelCtr::Running { .. } => (id.clone(), ContainerState::Running, None),
            ModelCtr::Exited { code, .. } => (id.clone(), ContainerState::Exited, Some(code)),
        })
        .collect();
    expected.sort();
    let mut got: Vec<_> = containers
        .iter()
        .map(|c| (c.id.clone(), c.state, c.exit.map(|e| e.exit_code)))
        .collect();
    got.sort();
    assert_eq!(got, expected, "containers");
    for c in &containers {
        assert!(
            c.created_at <= c.started_at || c.started_at == 0,
            "created <= started"
        );
        if let Some(exit) = c.exit {
            assert!(c.started_at <= exit.finished_at, "started <= finished");
        }
        assert!(
            model.pods.values().any(|(id, _)| *id == c.sandbox_id),
            "container outlives its sandbox"
        );
    }
}

async fn apply(h: &mut Harness, model: &mut Model, op: &Op) {
    match *op {
        Op::Pull(i) => {
            h.core.pull_image(IMAGES[i], None).await.unwrap();
            model.images[i] = true;
        }
        Op::RemoveImage(i) => {
            let result = h.core.remove_image(IMAGES[i]).await;
            let expected =
                (model.images[i] && model.image_in_use(i)).then_some(ErrorKind::FailedPrecondition);
            assert_eq!(kind(&result), expected, "RemoveImage {result:?}");
            if result.is_ok() {
                model.images[i] = false;
            }
        }
        Op::RunPod(p) => {
            let result = h.core.run_pod_sandbox(pod_config(p), "").await;
            let expected = model
                .pods
                .contains_key(&p)
                .then_some(ErrorKind::AlreadyExists);
            assert_eq!(kind(&result), expected, "RunPodSandbox {result:?}");
            if let Ok(id) = result {
                model.pods.insert(p, (id, SandboxState::Ready));
            }
        }
        Op::StopPod(p) => {
            let id = model
                .pods
                .get(&p)
                .map(|(id, _)| id.clone())
                .unwrap_or_else(|| "0123456789abcdef".repeat(4));
            h.core.stop_pod_sandbox(&id).await.unwrap();
            if let Some(pod) = model.pods.get_mut(&p) {
                pod.1 = SandboxState::NotReady;
                model.kill_pod_containers(p);
            }
        }
        Op::RemovePod(p) => {
            let id = model
                .pods
                .get(&p)
                .map(|(id, _)| id.clone())
                .unwrap_or_else(|| "fedcba9876543210".repeat(4));
            h.core.remove_pod_sandbox(&id).await.unwrap();
            model.pods.remove(&p);
            model.containers.retain(|(pod, _), _| *pod != p);
        }
        Op::Create {
            pod,
            name,
            image,
            sleep,
            exit,
        } => {
            let sandbox = model.pods.get(&pod).cloned();
            let id = sandbox
                .as_ref()
                .map(|(id, _)| id.clone())
                .unwrap_or_else(|| "aaaa".repeat(16));
            let result = h
                .core
                .create_container(&id, container_config(name, image, sleep, exit))
                .await;
            let expected = match sandbox {
                None => Some(ErrorKind::NotFound),
                Some((_, SandboxState::NotReady)) => Some(ErrorKind::FailedPrecondition),
                Some(_) if !model.images[image] => Some(ErrorKind::NotFound),
                Some(_) if model.containers.contains_key(&(pod, name)) => {
                    Some(ErrorKind::AlreadyExists)
                }
                Some(_) => None,
            };
            assert_eq!(kind(&result), expected, "CreateContainer {result:?}");
            if let Ok(id) = result {
                model
                    .containers
                    .insert((pod, name), (id, ModelCtr::Created { sleep, exit, image }));
            }
        }
        Op::Start { pod, name } => {
            let entry = model.containers.get(&(pod, name)).cloned();
            let id = entry
                .as_ref()
                .map(|(id, _)| id.clone())
                .unwrap_or_else(|| "bbbb".repeat(16));
            let result = h.core.start_container(&id).await;
            let pod_ready = model
                .pods
                .get(&pod)
                .is_some_and(|(_, s)| *s == SandboxState::Ready);
            let expected = match entry {
                None => Some(ErrorKind::NotFound),
                Some((_, ModelCtr::Created { .. })) if pod_ready => None,
                Some(_) => Some(ErrorKind::FailedPrecondition),
            };
            assert_eq!(kind(&result), expected, "StartContainer {result:?}");
            if result.is_ok()
                && let Some((_, ModelCtr::Created { sleep, exit, image })) = entry
            {
                let until = model.now + i64::from(sleep) * 1_000_000_000;
                model
                    .containers
                    .insert((pod, name), (id, ModelCtr::Running { until, exit, image }));
                model.settle();
            }
        }
        Op::Stop { pod, name } => {
            let id = model
                .containers
                .get(&(pod, name))
                .map(|(id, _)| id.clone())
                .unwrap_or_else(|| "cccc".repeat(16));
            h.core
                .stop_container(&id, Duration::from_secs(10))
                .await
                .unwrap();
            if let Some((_, ctr)) = model.containers.get_mut(&(pod, name))
                && let ModelCtr::Running { image, .. } = *ctr
            {
                *ctr = ModelCtr::Exited { code: 143, image };
            }
        }
        Op::Remove { pod, name } => {
            let id = model
                .containers
                .get(&(pod, name))
                .map(|(id, _)| id.clone())
                .unwrap_or_else(|| "dddd".repeat(16));
            h.core.remove_container(&id).await.unwrap();
            model.containers.remove(&(pod, name));
        }
        Op::Advance(secs) => {
            h.node.advance(Duration::from_secs(u64::from(secs)));
            model.now += i64::from(secs) * 1_000_000_000;
            model.settle();
        }
        Op::Restart => {
            let before = h
                .core
                .list_containers(&ContainerFilter::default())
                .await
                .unwrap();
            h.core = Runtime::new(
                h.node.backends(),
                RuntimeSettings::default(),
                Some(h.store.clone()),
            );
            h.core.recover().await.unwrap();
            let after = h
                .core
                .list_containers(&ContainerFilter::default())
                .await
                .unwrap();
            assert_eq!(
                before, after,
                "a restart from the store gives back the same containers"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_lifecycles_match_the_model(ops in proptest::collection::vec(op(), 1..40)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let node = SimNode::new(SimOptions::default());
            let store = Store::in_memory().unwrap();
            let core = Runtime::new(node.backends(), RuntimeSettings::default(), Some(store.clone()));
            let mut h = Harness { node, store, core };
            let mut model = Model::default();
            for op in &ops {
                apply(&mut h, &mut model, op).await;
                check(&h, &model).await;
            }
        });
    }
}
