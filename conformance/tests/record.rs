//! Records traffic through the proxy in front of one simulated node, then replays the
//! recording against a fresh node: it must conform.

mod common;

use common::SimServer;
use crius_conformance::client::{CriClient, connect};
use crius_conformance::record::{self, TraceWriter};
use crius_conformance::replay::ReplayOptions;
use crius_conformance::{Replayer, parse};
use crius_proto::cri;
use crius_proto::cri::image_service_client::ImageServiceClient;
use crius_proto::cri::runtime_service_client::RuntimeServiceClient;
use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A `Write` into shared memory.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn kubelet_like_traffic(channel: tonic::transport::Channel, log_dir: String) {
    let mut rt = RuntimeServiceClient::new(channel.clone());
    let mut img = ImageServiceClient::new(channel);
    rt.version(cri::VersionRequest {
        version: "0.1.0".into(),
    })
    .await
    .unwrap();
    let mut events = rt
        .get_container_events(cri::GetEventsRequest {})
        .await
        .unwrap()
        .into_inner();
    let config = cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: "rec".into(),
            uid: "uid-rec".into(),
            namespace: "default".into(),
            attempt: 0,
        }),
        hostname: "rec".into(),
        log_directory: log_dir,
        labels: HashMap::from([("io.kubernetes.pod.uid".to_string(), "uid-rec".to_string())]),
        ..Default::default()
    };
    let sb = rt
        .run_pod_sandbox(cri::RunPodSandboxRequest {
            config: Some(config.clone()),
            runtime_handler: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .pod_sandbox_id;
    rt.pod_sandbox_status(cri::PodSandboxStatusRequest {
        pod_sandbox_id: sb.clone(),
        verbose: false,
    })
    .await
    .unwrap();
    let image = cri::ImageSpec {
        image: "busybox".into(),
        ..Default::default()
    };
    img.image_status(cri::ImageStatusRequest {
        image: Some(image.clone()),
        verbose: false,
    })
    .await
    .unwrap();
    let image_ref = img
        .pull_image(cri::PullImageRequest {
            image: Some(image.clone()),
            auth: None,
            sandbox_config: Some(config.clone()),
        })
        .await
        .unwrap()
        .into_inner()
        .image_ref;
    let ctr = rt
        .create_container(cri::CreateContainerRequest {
            pod_sandbox_id: sb.clone(),
            config: Some(cri::ContainerConfig {
                metadata: Some(cri::ContainerMetadata {
                    name: "app".into(),
                    attempt: 0,
                }),
                image: Some(cri::ImageSpec {
                    image: image_ref,
                    ..Default::default()
                }),
                command: vec!["sh".into(), "-c".into(), "echo hi; sleep 3600".into()],
                log_path: "app/0.log".into(),
                ..Default::default()
            }),
            sandbox_config: Some(config),
        })
        .await
        .unwrap()
        .into_inner()
        .container_id;
    rt.start_container(cri::StartContainerRequest {
        container_id: ctr.clone(),
    })
    .await
    .unwrap();
    for _ in 0..2 {
        tokio::time::timeout(Duration::from_secs(5), events.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
    drop(events);
    rt.list_containers(cri::ListContainersRequest {
        filter: Some(Default::default()),
    })
    .await
    .unwrap();
    let mut stream = rt
        .stream_containers(cri::StreamContainersRequest { filter: None })
        .await
        .unwrap()
        .into_inner();
    while stream.message().await.unwrap().is_some() {}
    rt.container_status(cri::ContainerStatusRequest {
        container_id: ctr.clone(),
        verbose: false,
    })
    .await
    .unwrap();
    rt.stop_container(cri::StopContainerRequest {
        container_id: ctr.clone(),
        timeout: 2,
    })
    .await
    .unwrap();
    rt.remove_container(cri::RemoveContainerRequest {
        container_id: ctr.clone(),
    })
    .await
    .unwrap();
    let missing = rt
        .container_status(cri::ContainerStatusRequest {
            container_id: ctr,
            verbose: false,
        })
        .await;
    assert_eq!(missing.unwrap_err().code(), tonic::Code::NotFound);
    rt.stop_pod_sandbox(cri::StopPodSandboxRequest {
        pod_sandbox_id: sb.clone(),
    })
    .await
    .unwrap();
    rt.remove_pod_sandbox(cri::RemovePodSandboxRequest { pod_sandbox_id: sb })
        .await
        .unwrap();
    let checkpoint = rt
        .checkpoint_container(cri::CheckpointContainerRequest::default())
        .await;
    assert_eq!(checkpoint.unwrap_err().code(), tonic::Code::Unimplemented);
}

/// A recording proxy in front of `upstream`, writing into memory.
struct Recording {
    sink: Shared,
    socket: std::path::PathBuf,
    stop: tokio::sync::oneshot::Sender<()>,
    proxy: tokio::task::JoinHandle<Result<(), record::RecordError>>,
}

impl Recording {
    async fn start(upstream: &SimServer) -> Recording {
        let socket = upstream.dir.path().join("proxy.sock");
        let client = CriClient::connect(&upstream.endpoint()).await.unwrap();
        let header = TraceWriter::header("1.36", record::identify(&client).await);
        assert_eq!(header.runtime.name, "crius");
        let sink = Shared::default();
        let writer = TraceWriter::new(Box::new(sink.clone()), &header).unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let path = socket.clone();
        let proxy = tokio::spawn(async move {
            record::serve(&path, client, writer, async {
                let _ = stopped.await;
            })
            .await
        });
        for _ in 0..400 {
            if socket.exists() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Recording {
            sink,
            socket,
            stop,
            proxy,
        }
    }

    async fn channel(&self) -> tonic::transport::Channel {
        connect(&format!("unix://{}", self.socket.display()))
            .await
            .unwrap()
    }

    /// Stops the proxy; the trace text.
    async fn finish(self) -> String {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let _ = self.stop.send(());
        self.proxy.await.unwrap().unwrap();
        String::from_utf8(self.sink.0.lock().unwrap().clone()).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_of_the_simulated_node_replays_against_a_fresh_one() {
    let upstream = SimServer::start(None).await;
    let recording = Recording::start(&upstream).await;
    let channel = recording.channel().await;
    let log_dir = upstream
        .dir
        .path()
        .join("pods/rec")
        .to_string_lossy()
        .into_owned();
    kubelet_like_traffic(channel, log_dir).await;
    let text = recording.finish().await;
    let trace = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    for needle in [
        "\"$SB1\"",
        "\"$CTR_app_0\"",
        "\"stream_msg\"",
        "\"Cancelled\"",
        "\"NotFound\"",
        "\"Unimplemented\"",
    ] {
        assert!(
            text.contains(needle),
            "{needle} missing from the recording:\n{text}"
        );
    }

    let fresh = SimServer::start(None).await;
    let client = CriClient::connect(&fresh.endpoint()).await.unwrap();
    let options = ReplayOptions {
        timeout: Duration::from_secs(5),
        log_root: None,
    };
    let report = Replayer::new(client)
        .with_world(fresh.world())
        .with_options(options)
        .run(&trace)
        .await;
    assert!(report.conforms(), "{}\n{text}", report.render("recording"));
    fresh.shutdown().await;
    upstream.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_the_client_cancels_is_recorded_as_cancelled_and_replays() {
    // The pull never answers: its latency is virtual time, and nobody steps the clock.
    let upstream = SimServer::start(Some(
        "[[call]]\nmethod = \"PullImage\"\nimage = \"*slow*\"\nlatency = \"1h\"\n",
    ))
    .await;
    let recording = Recording::start(&upstream).await;
    let channel = recording.channel().await;
    let mut img = ImageServiceClient::new(channel.clone());
    let gave_up = tokio::time::timeout(
        Duration::from_millis(300),
        img.pull_image(cri::PullImageRequest {
            image: Some(cri::ImageSpec {
                image: "example.com/slow:1".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
    )
    .await;
    assert!(gave_up.is_err(), "PullImage answered despite its latency");
    // The proxy notices the reset stream; give it a moment before the next call.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let log_dir = upstream
        .dir
        .path()
        .join("pods/rec")
        .to_string_lossy()
        .into_owned();
    kubelet_like_traffic(channel, log_dir).await;
    let text = recording.finish().await;

    let lines: Vec<&str> = text.lines().collect();
    let cancelled = lines
        .iter()
        .position(|l| l.contains("\"PullImage\"") && l.contains("\"Cancelled\""))
        .unwrap_or_else(|| panic!("no cancelled PullImage line:\n{text}"));
    let event = lines
        .iter()
        .position(|l| l.contains("\"stream_msg\""))
        .unwrap_or_else(|| panic!("the event stayed held back after the cancelled call:\n{text}"));
    assert!(cancelled < event, "{text}");

    let trace = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let fresh = SimServer::start(None).await;
    let client = CriClient::connect(&fresh.endpoint()).await.unwrap();
    let report = Replayer::new(client)
        .with_world(fresh.world())
        .with_options(ReplayOptions {
            timeout: Duration::from_secs(5),
            log_root: None,
        })
        .run(&trace)
        .await;
    assert!(report.conforms(), "{}\n{text}", report.render("recording"));
    assert!(
        report
            .skipped
            .iter()
            .any(|s| s.what == "PullImage" && s.why.contains("cancelled")),
        "{}",
        report.render("recording")
    );
    fresh.shutdown().await;
    upstream.shutdown().await;
}
