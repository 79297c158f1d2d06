//! The streaming server's tokens and the checks of the Exec, Attach and PortForward RPCs.

mod common;
#[path = "streaming/spdy_client.rs"]
#[allow(dead_code)]
mod spdy_client;
#[path = "streaming/support.rs"]
#[allow(dead_code)]
mod support;

use crius_proto::cri;
use spdy_client::SpdyClient;
use std::time::Duration;
use support::{StreamNode, http_status};
use tonic::Code;

const SPDY_EXEC: &str =
    "Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_used_token_is_not_found() {
    let mut t = StreamNode::start().await;
    let (_, ctr) = t.running("web", &["sleep", "infinity"], &[]).await;
    let url = t.exec_url(&ctr, &["echo", "hi"], false, false).await;
    let mut client = SpdyClient::connect(&url, &["v4.channel.k8s.io"])
        .await
        .expect("first use upgrades");
    let mut error = client.open(&[("streamtype", "error")]);
    let _stdout = client.open(&[("streamtype", "stdout")]);
    let _stderr = client.open(&[("streamtype", "stderr")]);
    let status = tokio::time::timeout(Duration::from_secs(30), error.read_to_end())
        .await
        .unwrap();
    assert_eq!(status, br#"{"metadata":{},"status":"Success"}"#);
    assert_eq!(http_status(&url, SPDY_EXEC).await, 404);
    assert_eq!(http_status(&url, "").await, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_expires_after_a_minute() {
    let mut t = StreamNode::start().await;
    let (_, ctr) = t.running("web", &["sleep", "infinity"], &[]).await;
    let url = t.exec_url(&ctr, &["echo", "hi"], false, false).await;
    t.node.clock.advance(Duration::from_secs(61));
    assert_eq!(http_status(&url, SPDY_EXEC).await, 404);
    // A fresh token works.
    let url = t.exec_url(&ctr, &["echo", "hi"], false, false).await;
    assert!(
        SpdyClient::connect(&url, &["v4.channel.k8s.io"])
            .await
            .is_ok()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_and_tokens_of_another_kind_are_not_found() {
    let mut t = StreamNode::start().await;
    let (pod, ctr) = t.running("web", &["sleep", "infinity"], &[]).await;
    let base = format!("http://{}", t.streaming.address());
    assert_eq!(
        http_status(&format!("{base}/exec/nosuchtoken"), SPDY_EXEC).await,
        404
    );
    assert_eq!(http_status(&format!("{base}/logs/x"), "").await, 404);
    let exec = t.exec_url(&ctr, &["echo", "hi"], false, false).await;
    assert_eq!(
        http_status(&exec.replace("/exec/", "/attach/"), SPDY_EXEC).await,
        404
    );
    // A token is spent by its first request, even one that does not upgrade.
    let forward = t.port_forward_url(&pod, &[80]).await;
    assert_eq!(http_status(&forward, "").await, 400);
    assert_eq!(http_status(&forward, "").await, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_than_a_thousand_waiting_requests_are_resource_exhausted() {
    // Real time: a thousand RPCs must not outlast the tokens' minute.
    let mut t = StreamNode::with_speed(1.0).await;
    let (pod, _) = t.running("web", &["sleep", "infinity"], &[]).await;
    for _ in 0..1000 {
        t.port_forward_url(&pod, &[80]).await;
    }
    let refused = t
        .cri
        .port_forward(cri::PortForwardRequest {
            pod_sandbox_id: pod.clone(),
            port: vec![80],
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    // Expired requests make room.
    t.node.clock.advance(Duration::from_secs(61));
    t.port_forward_url(&pod, &[80]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rpcs_check_their_requests() {
    let mut t = StreamNode::start().await;
    let (pod, ctr) = t.running("web", &["sleep", "infinity"], &[]).await;
    let exec =
        |cmd: &[&str], tty: bool, stdin: bool, stdout: bool, stderr: bool| cri::ExecRequest {
            container_id: ctr.clone(),
            cmd: cmd.iter().map(|s| s.to_string()).collect(),
            tty,
            stdin,
            stdout,
            stderr,
            ..Default::default()
        };
    let code = |r: Result<tonic::Response<cri::ExecResponse>, tonic::Status>| r.unwrap_err().code();
    assert_eq!(
        code(t.cri.exec(exec(&[], false, false, true, false)).await),
        Code::InvalidArgument
    );
    assert_eq!(
        code(t.cri.exec(exec(&["sh"], true, false, true, true)).await),
        Code::InvalidArgument
    );
    assert_eq!(
        code(t.cri.exec(exec(&["sh"], false, false, false, false)).await),
        Code::InvalidArgument
    );
    let unknown = cri::ExecRequest {
        container_id: "nosuch".into(),
        ..exec(&["sh"], false, false, true, false)
    };
    assert_eq!(code(t.cri.exec(unknown).await), Code::NotFound);
    let forward = |sandbox: &str, port: i32| cri::PortForwardRequest {
        pod_sandbox_id: sandbox.into(),
        port: vec![port],
    };
    assert_eq!(
        t.cri
            .port_forward(forward("nosuch", 80))
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    assert_eq!(
        t.cri
            .port_forward(forward(&pod, 0))
            .await
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );
    assert_eq!(
        t.cri
            .port_forward(forward(&pod, 70000))
            .await
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );
    t.cri
        .stop_container(cri::StopContainerRequest {
            container_id: ctr.clone(),
            timeout: 0,
        })
        .await
        .unwrap();
    assert_eq!(
        code(t.cri.exec(exec(&["sh"], false, false, true, false)).await),
        Code::FailedPrecondition
    );
    let attach = cri::AttachRequest {
        container_id: ctr.clone(),
        stdout: true,
        ..Default::default()
    };
    assert_eq!(
        t.cri.attach(attach).await.unwrap_err().code(),
        Code::FailedPrecondition
    );
    t.cri
        .stop_pod_sandbox(cri::StopPodSandboxRequest {
            pod_sandbox_id: pod.clone(),
        })
        .await
        .unwrap();
    assert_eq!(
        t.cri
            .port_forward(forward(&pod, 80))
            .await
            .unwrap_err()
            .code(),
        Code::FailedPrecondition
    );
}

#[tokio::test]
async fn without_a_streaming_server_the_rpcs_are_unimplemented() {
    let mut t = common::TestNode::start().await;
    let refused = t
        .runtime
        .exec(cri::ExecRequest {
            container_id: "x".into(),
            cmd: vec!["sh".into()],
            stdout: true,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unimplemented);
}
