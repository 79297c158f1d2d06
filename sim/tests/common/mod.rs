//! A simulated node serving CRI on a socket in a temporary directory, with clients.
#![allow(dead_code)]

use crius::runtime::{Runtime, RuntimeSettings};
use crius::server::{CriServer, Identity};
use crius::store::Store;
use crius_proto::cri;
use crius_proto::cri::image_service_client::ImageServiceClient;
use crius_proto::cri::runtime_service_client::RuntimeServiceClient;
use crius_sim::node::{SimNode, SimOptions};
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tonic::transport::{Channel, Endpoint, Uri};

/// A served simulated node.
pub struct TestNode {
    pub node: SimNode,
    pub core: Arc<Runtime>,
    pub runtime: RuntimeServiceClient<Channel>,
    pub images: ImageServiceClient<Channel>,
    pub socket: PathBuf,
    pub dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

/// Connects CRI clients to a unix socket.
pub async fn connect(socket: &Path) -> Channel {
    let socket = socket.to_owned();
    Endpoint::try_from("http://localhost")
        .unwrap()
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let socket = socket.clone();
            async move {
                // The socket file appears at bind(), a moment before listen(): retry briefly.
                let mut attempts = 0;
                loop {
                    match tokio::net::UnixStream::connect(&socket).await {
                        Ok(stream) => return Ok(TokioIo::new(stream)),
                        Err(e) if attempts >= 200 => return Err(e),
                        Err(_) => {
                            attempts += 1;
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                }
            }
        }))
        .await
        .expect("connect to the CRI socket")
}

impl TestNode {
    /// A node with a stepped clock and no faults.
    pub async fn start() -> TestNode {
        TestNode::with_options(SimOptions::default(), None).await
    }

    /// A node built from `options`, persisting in `store` when given.
    pub async fn with_options(options: SimOptions, store: Option<Store>) -> TestNode {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("crius.sock");
        let node = SimNode::new(options);
        let core = Arc::new(Runtime::new(
            node.backends(),
            RuntimeSettings::default(),
            store,
        ));
        core.recover().await.unwrap();
        drop(core.spawn_exit_watcher()); // runs detached
        let server = CriServer::new(
            core.clone(),
            Identity::crius(vec![String::new(), "runc".into()], "{}".into()),
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let path = socket.clone();
        let server = tokio::spawn(async move {
            server
                .serve(&path, async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        for _ in 0..200 {
            if socket.exists() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let channel = connect(&socket).await;
        TestNode {
            node,
            core,
            runtime: RuntimeServiceClient::new(channel.clone()),
            images: ImageServiceClient::new(channel),
            socket,
            dir,
            stop: Some(stop),
            server: Some(server),
        }
    }

    /// Stops serving and waits for the server to finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap();
        }
    }

    /// The pod log directory for tests.
    pub fn log_dir(&self) -> PathBuf {
        self.dir.path().join("pods")
    }

    /// Pulls `image`; returns its id.
    pub async fn pull(&mut self, image: &str) -> String {
        self.images
            .pull_image(cri::PullImageRequest {
                image: Some(image_spec(image)),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .image_ref
    }

    /// Runs a sandbox named `name`; returns its id.
    pub async fn run_pod(&mut self, name: &str) -> String {
        let config = self.pod_config(name, 0);
        self.runtime
            .run_pod_sandbox(cri::RunPodSandboxRequest {
                config: Some(config),
                runtime_handler: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .pod_sandbox_id
    }

    /// A pod config as kubelet would send it.
    pub fn pod_config(&self, name: &str, attempt: u32) -> cri::PodSandboxConfig {
        cri::PodSandboxConfig {
            metadata: Some(cri::PodSandboxMetadata {
                name: name.into(),
                uid: format!("uid-{name}"),
                namespace: "default".into(),
                attempt,
            }),
            hostname: name.into(),
            log_directory: self.log_dir().join(name).to_string_lossy().into_owned(),
            labels: HashMap::from([("io.kubernetes.pod.name".to_string(), name.to_string())]),
            ..Default::default()
        }
    }

    /// Creates a container running `command` in sandbox `pod`; returns its id.
    pub async fn create(&mut self, pod: &str, name: &str, image: &str, command: &[&str]) -> String {
        let sandbox_config = self.pod_config(pod, 0);
        let pod_id = self.pod_id(pod).await;
        self.runtime
            .create_container(cri::CreateContainerRequest {
                pod_sandbox_id: pod_id,
                config: Some(container_config(name, image, command)),
                sandbox_config: Some(sandbox_config),
            })
            .await
            .unwrap()
            .into_inner()
            .container_id
    }

    /// The id of the ready sandbox named `name`.
    pub async fn pod_id(&mut self, name: &str) -> String {
        let pods = self
            .runtime
            .list_pod_sandbox(cri::ListPodSandboxRequest {
                filter: Some(cri::PodSandboxFilter {
                    label_selector: HashMap::from([(
                        "io.kubernetes.pod.name".to_string(),
                        name.to_string(),
                    )]),
                    ..Default::default()
                }),
            })
            .await
            .unwrap()
            .into_inner()
            .items;
        pods.into_iter().next().expect("pod exists").id
    }

    /// ContainerStatus.
    pub async fn status(&mut self, id: &str) -> cri::ContainerStatus {
        self.runtime
            .container_status(cri::ContainerStatusRequest {
                container_id: id.into(),
                verbose: false,
            })
            .await
            .unwrap()
            .into_inner()
            .status
            .unwrap()
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// An ImageSpec for `image`.
pub fn image_spec(image: &str) -> cri::ImageSpec {
    cri::ImageSpec {
        image: image.into(),
        ..Default::default()
    }
}

/// A container config running `command` from `image`, logging to `<name>/0.log`.
pub fn container_config(name: &str, image: &str, command: &[&str]) -> cri::ContainerConfig {
    cri::ContainerConfig {
        metadata: Some(cri::ContainerMetadata {
            name: name.into(),
            attempt: 0,
        }),
        image: Some(image_spec(image)),
        command: command.iter().map(|s| s.to_string()).collect(),
        log_path: format!("{name}/0.log"),
        labels: HashMap::from([("app".to_string(), name.to_string())]),
        ..Default::default()
    }
}
