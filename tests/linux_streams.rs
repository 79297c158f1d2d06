//! Exec and port-forward end to end, as root: the real `crius serve` binary with the Linux
//! backends and its streaming server, driven over WebSocket (tokio-tungstenite as the client)
//! with URLs from the CRI's Exec and PortForward. The node (registry, CNI bridge, cgroup
//! parent, daemon) is set up by `tests/daemon_support`, shared with `tests/linux_daemon.rs`;
//! Drop guards remove whatever a failing test leaves.

mod image_support;

use crius_proto::cri;
use crius_proto::cri::runtime_service_client::RuntimeServiceClient;
use futures::{SinkExt, StreamExt};
use image_support::registry::TestRegistry;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tonic::transport::Channel;

mod daemon_support;

use daemon_support::*;

/// Starts container `name` running `command` in `pod` and waits until it runs.
async fn start_container(
    node: &Node,
    runtime: &mut RuntimeServiceClient<Channel>,
    pod: &str,
    pod_config: &cri::PodSandboxConfig,
    name: &str,
    command: &[&str],
) -> String {
    let container = runtime
        .create_container(cri::CreateContainerRequest {
            pod_sandbox_id: pod.to_string(),
            config: Some(container_config(name, "busybox", command)),
            sandbox_config: Some(pod_config.clone()),
        })
        .await
        .unwrap_or_else(|e| panic!("CreateContainer {name}: {e}; log:\n{}", node.log()))
        .into_inner()
        .container_id;
    runtime
        .start_container(cri::StartContainerRequest {
            container_id: container.clone(),
        })
        .await
        .unwrap_or_else(|e| panic!("StartContainer {name}: {e}; log:\n{}", node.log()));
    container
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens the WebSocket of streaming URL `url` (plus `query`) with subprotocol `protocol`.
async fn websocket(url: &str, query: &str, protocol: &str) -> Socket {
    let address = format!("{}{query}", url.replacen("http://", "ws://", 1));
    let mut request = address.as_str().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", protocol.parse().unwrap());
    let (socket, response) = tokio_tungstenite::connect_async(request)
        .await
        .unwrap_or_else(|e| panic!("WebSocket to {address}: {e}"));
    assert_eq!(
        response
            .headers()
            .get("Sec-WebSocket-Protocol")
            .and_then(|v| v.to_str().ok()),
        Some(protocol)
    );
    socket
}

/// What an exec sent back.
#[derive(Debug, Default)]
struct ExecOutcome {
    stdout: String,
    stderr: String,
    status: serde_json::Value,
}

/// Runs an exec session at `url` to its end: sends `input` on stdin (then closes it with v5's
/// close channel), collects the output and the status from the error channel.
async fn run_exec(url: &str, protocol: &str, input: Option<&[u8]>) -> ExecOutcome {
    let mut socket = websocket(url, "", protocol).await;
    if let Some(input) = input {
        let mut message = vec![0u8];
        message.extend_from_slice(input);
        socket.send(Message::Binary(message.into())).await.unwrap();
        socket
            .send(Message::Binary(vec![255u8, 0].into()))
            .await
            .unwrap();
    }
    let mut outcome = ExecOutcome::default();
    let mut error = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let next = tokio::time::timeout_at(deadline, socket.next())
            .await
            .unwrap_or_else(|_| panic!("the exec at {url} did not end within 60 s: {outcome:?}"));
        match next {
            Some(Ok(Message::Binary(data))) if !data.is_empty() => {
                let text = String::from_utf8_lossy(&data[1..]).into_owned();
                match data[0] {
                    1 => outcome.stdout.push_str(&text),
                    2 => outcome.stderr.push_str(&text),
                    3 => error.extend_from_slice(&data[1..]),
                    other => panic!("message on unexpected channel {other}"),
                }
            }
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
            Some(Ok(_)) => {}
        }
    }
    outcome.status = serde_json::from_slice(&error)
        .unwrap_or_else(|e| panic!("status {:?}: {e}", String::from_utf8_lossy(&error)));
    outcome
}

/// An Exec URL from the CRI.
async fn exec_url(
    runtime: &mut RuntimeServiceClient<Channel>,
    container: &str,
    cmd: &[&str],
    stdin: bool,
    tty: bool,
) -> String {
    runtime
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
        .expect("Exec")
        .into_inner()
        .url
}

/// Sends `payload` through a port-forward to `port` of `pod` and returns what came back, or
/// the error the server reported on the port's error channel.
async fn forward_once(
    runtime: &mut RuntimeServiceClient<Channel>,
    pod: &str,
    port: u16,
    payload: &[u8],
) -> Result<Vec<u8>, String> {
    let url = runtime
        .port_forward(cri::PortForwardRequest {
            pod_sandbox_id: pod.into(),
            port: vec![i32::from(port)],
        })
        .await
        .expect("PortForward")
        .into_inner()
        .url;
    let mut socket = websocket(&url, &format!("?port={port}"), "v4.channel.k8s.io").await;
    let mut message = vec![0u8];
    message.extend_from_slice(payload);
    socket.send(Message::Binary(message.into())).await.unwrap();
    let mut seen_port = [false; 2];
    let mut echoed = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while echoed.len() < payload.len() {
        let next = match tokio::time::timeout_at(deadline, socket.next()).await {
            Ok(next) => next,
            Err(_) => return Err(format!("timed out; echoed so far {echoed:?}")),
        };
        match next {
            Some(Ok(Message::Binary(data))) if !data.is_empty() => {
                let channel = usize::from(data[0]);
                assert!(channel < 2, "message on unexpected channel {channel}");
                let body = &data[1..];
                if !seen_port[channel] {
                    assert_eq!(body, port.to_le_bytes(), "the first message names the port");
                    seen_port[channel] = true;
                } else if channel == 0 {
                    echoed.extend_from_slice(body);
                } else {
                    return Err(String::from_utf8_lossy(body).into_owned());
                }
            }
            Some(Ok(Message::Close(_))) | None => return Err("closed".into()),
            Some(Err(e)) => return Err(e.to_string()),
            Some(Ok(_)) => {}
        }
    }
    let _ = socket.close(None).await;
    Ok(echoed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_and_port_forward_reach_a_running_pod() {
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
    let pod_config = pod_config(&node, "streams");
    let pod = runtime
        .run_pod_sandbox(cri::RunPodSandboxRequest {
            config: Some(pod_config.clone()),
            runtime_handler: String::new(),
        })
        .await
        .unwrap_or_else(|e| panic!("RunPodSandbox: {e}; log:\n{}", node.log()))
        .into_inner()
        .pod_sandbox_id;
    let sleeper = start_container(
        &node,
        &mut runtime,
        &pod,
        &pod_config,
        "sleeper",
        &["sleep", "100"],
    )
    .await;
    let echo = start_container(
        &node,
        &mut runtime,
        &pod,
        &pod_config,
        "echo",
        &["nc", "-ll", "-p", "8080", "-e", "/bin/cat"],
    )
    .await;

    // Exec over v4 and v5: output, exit status, standard input.
    let url = exec_url(&mut runtime, &sleeper, &["echo", "hi"], false, false).await;
    let out = run_exec(&url, "v4.channel.k8s.io", None).await;
    assert_eq!(out.stdout, "hi\n", "{out:?}; log:\n{}", node.log());
    assert_eq!(out.status["status"], "Success", "{out:?}");

    let url = exec_url(
        &mut runtime,
        &sleeper,
        &["sh", "-c", "echo oops >&2; exit 3"],
        false,
        false,
    )
    .await;
    let out = run_exec(&url, "v5.channel.k8s.io", None).await;
    assert_eq!(out.stderr, "oops\n", "{out:?}");
    assert_eq!(out.status["status"], "Failure", "{out:?}");
    assert_eq!(out.status["reason"], "NonZeroExitCode", "{out:?}");
    assert_eq!(
        out.status["details"]["causes"][0]["message"], "3",
        "{out:?}"
    );

    let url = exec_url(&mut runtime, &sleeper, &["cat"], true, false).await;
    let out = run_exec(&url, "v5.channel.k8s.io", Some(b"through stdin\n")).await;
    assert_eq!(out.stdout, "through stdin\n", "{out:?}");
    assert_eq!(out.status["status"], "Success", "{out:?}");

    // A terminal is refused with a reason, not faked.
    let url = exec_url(&mut runtime, &sleeper, &["sh"], false, true).await;
    let out = run_exec(&url, "v5.channel.k8s.io", None).await;
    assert_eq!(out.status["status"], "Failure", "{out:?}");
    let message = out.status["message"].as_str().unwrap_or_default();
    assert!(message.contains("pty"), "{out:?}");

    // Port-forward into the pod's network namespace, to the nc echo server (retrying while
    // it starts listening).
    let payload = b"round trip through the pod\n";
    let deadline = Instant::now() + Duration::from_secs(20);
    let echoed = loop {
        match forward_once(&mut runtime, &pod, 8080, payload).await {
            Ok(echoed) => break echoed,
            Err(e) if Instant::now() < deadline => {
                eprintln!("port-forward not ready yet: {e}");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => panic!("port-forward failed: {e}; log:\n{}", node.log()),
        }
    };
    assert_eq!(echoed, payload);
    let refused = forward_once(&mut runtime, &pod, 8081, payload).await;
    assert!(
        refused.as_ref().is_err_and(|e| e.contains("8081")),
        "{refused:?}"
    );

    for container in [&sleeper, &echo] {
        runtime
            .stop_container(cri::StopContainerRequest {
                container_id: container.clone(),
                timeout: 1,
            })
            .await
            .unwrap_or_else(|e| panic!("StopContainer: {e}; log:\n{}", node.log()));
        runtime
            .remove_container(cri::RemoveContainerRequest {
                container_id: container.clone(),
            })
            .await
            .unwrap_or_else(|e| panic!("RemoveContainer: {e}; log:\n{}", node.log()));
    }
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
    drop((runtime, images));
    let exit = node.terminate();
    assert!(
        exit.success(),
        "crius serve exited with {exit}; log:\n{}",
        node.log()
    );
    let left = node.leftovers();
    assert!(
        left.is_empty(),
        "left behind: {left:#?}\nlog:\n{}",
        node.log()
    );
}
