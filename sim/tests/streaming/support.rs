//! A simulated node with its streaming server, for the streaming tests: a scaled clock (20
//! times real time by default: sleeps pass quickly, yet a token's minute lasts 3 s of real
//! time, ample for a client to come), the CRI on a unix socket, and helpers that ask for
//! stream URLs.

use crate::common::{connect, container_config, image_spec};
use crius::runtime::{Runtime, RuntimeSettings};
use crius::server::{CriServer, Identity};
use crius::streaming::StreamingServer;
use crius_proto::cri;
use crius_proto::cri::image_service_client::ImageServiceClient;
use crius_proto::cri::runtime_service_client::RuntimeServiceClient;
use crius_sim::node::{SimNode, SimOptions};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tonic::transport::Channel;

/// A served node with a streaming server.
pub struct StreamNode {
    pub node: SimNode,
    pub core: Arc<Runtime>,
    pub cri: RuntimeServiceClient<Channel>,
    pub images: ImageServiceClient<Channel>,
    pub streaming: StreamingServer,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl StreamNode {
    pub async fn start() -> StreamNode {
        StreamNode::with_speed(20.0).await
    }

    /// A node whose clock runs `speed` times real time.
    pub async fn with_speed(speed: f64) -> StreamNode {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("crius.sock");
        let node = SimNode::new(SimOptions {
            speed: Some(speed),
            ..SimOptions::default()
        });
        drop(node.spawn_ticker(Duration::from_millis(2)));
        let core = Arc::new(Runtime::new(
            node.backends(),
            RuntimeSettings::default(),
            None,
        ));
        drop(core.spawn_exit_watcher());
        let streaming = StreamingServer::bind(core.clone(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let serving = streaming.clone();
        tokio::spawn(async move { serving.serve(std::future::pending()).await });
        let server = CriServer::new(
            core.clone(),
            Identity::crius(vec![String::new()], "{}".into()),
        )
        .with_streaming(streaming.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let path = socket.clone();
        tokio::spawn(async move {
            let _ = server
                .serve(&path, async {
                    let _ = stopped.await;
                })
                .await;
        });
        // The socket file appears at bind, a moment before the server listens.
        for _ in 0..400 {
            if tokio::net::UnixStream::connect(&socket).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let channel = connect(&socket).await;
        StreamNode {
            node,
            core,
            cri: RuntimeServiceClient::new(channel.clone()),
            images: ImageServiceClient::new(channel),
            streaming,
            _dir: dir,
            _stop: stop,
        }
    }

    /// Runs pod `pod` (declaring `ports`, if any) with a started container running `command`;
    /// returns (sandbox id, container id).
    pub async fn running(
        &mut self,
        pod: &str,
        command: &[&str],
        ports: &[i32],
    ) -> (String, String) {
        self.images
            .pull_image(cri::PullImageRequest {
                image: Some(image_spec("busybox")),
                ..Default::default()
            })
            .await
            .unwrap();
        let config = cri::PodSandboxConfig {
            metadata: Some(cri::PodSandboxMetadata {
                name: pod.into(),
                uid: format!("uid-{pod}"),
                namespace: "default".into(),
                attempt: 0,
            }),
            log_directory: self._dir.path().join(pod).to_string_lossy().into_owned(),
            labels: HashMap::from([("io.kubernetes.pod.name".to_string(), pod.to_string())]),
            port_mappings: ports
                .iter()
                .map(|&p| cri::PortMapping {
                    container_port: p,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let pod_id = self
            .cri
            .run_pod_sandbox(cri::RunPodSandboxRequest {
                config: Some(config.clone()),
                runtime_handler: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .pod_sandbox_id;
        let container = self
            .cri
            .create_container(cri::CreateContainerRequest {
                pod_sandbox_id: pod_id.clone(),
                config: Some(container_config("app", "busybox", command)),
                sandbox_config: Some(config),
            })
            .await
            .unwrap()
            .into_inner()
            .container_id;
        self.cri
            .start_container(cri::StartContainerRequest {
                container_id: container.clone(),
            })
            .await
            .unwrap();
        (pod_id, container)
    }

    /// Exec's URL (stdout and, without a terminal, stderr).
    pub async fn exec_url(
        &mut self,
        container: &str,
        cmd: &[&str],
        tty: bool,
        stdin: bool,
    ) -> String {
        self.cri
            .exec(cri::ExecRequest {
                container_id: container.into(),
                cmd: cmd.iter().map(|s| s.to_string()).collect(),
                tty,
                stdin,
                stdout: true,
                stderr: !tty,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .url
    }

    /// Attach's URL (stdout and stderr, no terminal).
    pub async fn attach_url(&mut self, container: &str) -> String {
        self.cri
            .attach(cri::AttachRequest {
                container_id: container.into(),
                stdin: false,
                tty: false,
                stdout: true,
                stderr: true,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .url
    }

    /// PortForward's URL.
    pub async fn port_forward_url(&mut self, pod: &str, ports: &[i32]) -> String {
        self.cri
            .port_forward(cri::PortForwardRequest {
                pod_sandbox_id: pod.into(),
                port: ports.to_vec(),
            })
            .await
            .unwrap()
            .into_inner()
            .url
    }
}

/// Host and path of an `http://host/path` URL.
pub fn split_url(url: &str) -> (String, String) {
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest.split_once('/').expect("a path");
    (host.to_string(), format!("/{path}"))
}

/// The status code of a plain GET of `url` (with `extra` header lines).
pub async fn http_status(url: &str, extra: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (host, path) = split_url(url);
    let mut socket = tokio::net::TcpStream::connect(&host).await.unwrap();
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n");
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let _ = socket.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status line")
}

/// A SHA-256-free checksum good enough to compare 10 MiB: FNV-1a 64 and the length.
pub fn fingerprint(bytes: &[u8]) -> (usize, u64) {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (bytes.len(), hash)
}

/// `len` bytes of a pattern that no shift of itself matches.
pub fn payload(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}
