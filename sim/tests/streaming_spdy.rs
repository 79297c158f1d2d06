//! Exec, attach and port-forward over SPDY/3.1 against crius-sim, with an independent client.

mod common;
#[path = "streaming/spdy_client.rs"]
#[allow(dead_code)]
mod spdy_client;
#[path = "streaming/support.rs"]
#[allow(dead_code)]
mod support;

use crius_proto::cri;
use spdy_client::{ClientStream, Event, SpdyClient};
use std::future::Future;
use std::time::Duration;
use support::{StreamNode, fingerprint, payload};

const V4: &str = "v4.channel.k8s.io";

async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), future)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within 60 s"))
}

/// The streams of an exec or attach, opened as kubectl opens them (error first).
struct Command {
    client: SpdyClient,
    error: ClientStream,
    stdin: Option<ClientStream>,
    stdout: ClientStream,
    stderr: Option<ClientStream>,
    resize: Option<ClientStream>,
}

async fn connect_command(url: &str, protocols: &[&str], stdin: bool, tty: bool) -> Command {
    let mut client = SpdyClient::connect(url, protocols)
        .await
        .expect("upgrade accepted");
    let error = client.open(&[("streamtype", "error")]);
    let stdin = stdin.then(|| client.open(&[("streamtype", "stdin")]));
    let stdout = client.open(&[("streamtype", "stdout")]);
    let stderr = (!tty).then(|| client.open(&[("streamtype", "stderr")]));
    let resize = tty.then(|| client.open(&[("streamtype", "resize")]));
    Command {
        client,
        error,
        stdin,
        stdout,
        stderr,
        resize,
    }
}

impl Command {
    /// Reads stdout and stderr to their end, then the error stream: (stdout, stderr, error).
    async fn outcome(&mut self) -> (String, String, String) {
        let stdout = self.stdout.read_to_end().await;
        let stderr = match self.stderr.as_mut() {
            Some(s) => s.read_to_end().await,
            None => Vec::new(),
        };
        let error = self.error.read_to_end().await;
        let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
        (text(stdout), text(stderr), text(error))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_echo_returns_output_and_success_status() {
    let mut t = StreamNode::start().await;
    let (_, ctr) = t.running("web", &["sleep", "infinity"], &[]).await;
    let url = t.exec_url(&ctr, &["echo", "hi"], false, false).await;
    assert!(
        url.starts_with(&format!("http://{}/exec/", t.streaming.address())),
        "{url}"
    );
    let mut exec = connect_command(&url, &[V4, "v3.channel.k8s.io"], false, false).await;
    assert_eq!(exec.client.protocol.as_deref(), Some(V4));
    let (stdout, stderr, status) = within("exec", exec.outcome()).await;
    assert_eq!(stdout, "hi\n");
    assert_eq!(stderr, "");
    assert_eq!(status, r#"{"metadata":{},"status":"Success"}"#);
    assert_eq!(exec.client.violation(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_exit_code_comes_back_as_a_failure_status() {
    let mut t = StreamNode::start().await;
    let (_, ctr) = t.running("web", &["sleep", "infinity"], &[]).await;
    let url = t
        .exec_url(&ctr, &["sh", "-c", "echo oops >&2; exit 3"], false, false)
        .await;
    let mut exec = connect_command(&url, &[V4], false, false).await;
    let (stdout, stderr, status) = within("exec", exec.outcome()).await;
    assert_eq!((stdout.as_str(), stderr.as_str()), ("", "oops\n"));
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["status"], "Failure");
    assert_eq!(status["reason"], "NonZeroExitCode");
    assert_eq!(status["details"]["causes"][0]["reason"], "ExitCode");
    assert_eq!(status["details"]["causes"][0]["message"], "3");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .starts_with("command terminated with non-zero exit code")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn older_protocols_get_the_error_as_text() {
    let mut t = StreamNode::start().await;
    let (_, ctr) = t.running("web", &["sleep", "infinity"], &[]).await;
    let url = t
        .exec_url(&ctr, &["sh", "-c", "exit 3"], false, false)
        .await;
    let mut exec = connect_command(
        &url,
        &["v9.channel.k8s.io", "v2.channel.k8s.io"],
        false,
        false,
    )
    .await;
    assert_eq!(exec.client.protocol.as_deref(), Some("v2.channel.k8s.io"));
    let (_, _, status) = within("exec", exec.outcome()).await;
    assert!(
        status.starts_with("command terminated with non-zero exit code"),
        "{status}"
    );
    assert!(status.ends_with("exit code 3"), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_protocols_are_refused() {
    let mut t = StreamNode::start().await;
    let (_, ctr) = t.running("web", &["sleep", "infinity"], &[]).await;
    let url = t.exec_url(&ctr, &["echo", "hi"], false, false).await;
    let refused = SpdyClient::connect(&url, &["v9.channel.k8s.io"])
        .await
        .err()
        .expect("refused");
    assert_eq!(refused.status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_cat_echoes_stdin_until_it_closes() {
    let mut t = StreamNode::start().await;
    let (_, ctr) = t.running("web", &["sleep", "infinity"], &[]).await;
    let url = t.exec_url(&ctr, &["cat"], false, true).await;
    let mut exec = connect_command(&url, &[V4], true, false).await;
    let input = payload(300 * 1024);
    let stdin = exec.stdin.take().unwrap();
    let sent = input.clone();
    let writer = tokio::spawn(async move {
        stdin.send(b"hello\n").await;
        stdin.send(&sent).await;
        stdin.finish();
        stdin
    });
    let stdout = within("cat", exec.stdout.read_to_end()).await;
    let mut expected = b"hello\n".to_vec();
    expected.extend(&input);
    assert_eq!(fingerprint(&stdout), fingerprint(&expected));
    let _ = writer.await.unwrap();
    let status = within("status", exec.error.read_to_end()).await;
    assert_eq!(status, br#"{"metadata":{},"status":"Success"}"#);
    assert_eq!(exec.client.violation(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tty_exec_accepts_terminal_sizes() {
    let mut t = StreamNode::start().await;
    let (_, ctr) = t.running("web", &["sleep", "infinity"], &[]).await;
    let url = t.exec_url(&ctr, &["cat"], true, true).await;
    let mut exec = connect_command(&url, &[V4], true, true).await;
    let resize = exec.resize.take().unwrap();
    resize
        .send(br#"{"Width":80,"Height":24}{"Width":120,"#)
        .await;
    resize.send(br#""Height":40}"#).await;
    within("resize", async {
        while t.node.streams.terminal_sizes().len() < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    let sizes: Vec<_> = t
        .node
        .streams
        .terminal_sizes()
        .into_iter()
        .map(|(id, s)| (id, s.width, s.height))
        .collect();
    assert_eq!(sizes, vec![(ctr.clone(), 80, 24), (ctr.clone(), 120, 40)]);
    let stdin = exec.stdin.take().unwrap();
    stdin.send(b"typed").await;
    stdin.finish();
    let (stdout, _, status) = within("tty exec", exec.outcome()).await;
    assert_eq!(stdout, "typed");
    assert_eq!(status, r#"{"metadata":{},"status":"Success"}"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_streams_the_containers_lines_until_it_stops() {
    let mut t = StreamNode::start().await;
    let (_, ctr) = t
        .running(
            "web",
            &[
                "sh",
                "-c",
                "while true; do echo tick; echo tock >&2; sleep 1; done",
            ],
            &[],
        )
        .await;
    let url = t.attach_url(&ctr).await;
    let mut attach = connect_command(&url, &[V4], false, false).await;
    let mut seen = Vec::new();
    within("ticks", async {
        while String::from_utf8_lossy(&seen).matches("tick\n").count() < 3 {
            match attach.stdout.next().await {
                Some(Event::Data(data)) => seen.extend(data),
                other => panic!("attach ended early: {other:?}"),
            }
        }
    })
    .await;
    assert!(
        String::from_utf8_lossy(&seen).matches("tick\n").count() >= 3,
        "{:?}",
        String::from_utf8_lossy(&seen)
    );
    t.cri
        .stop_container(cri::StopContainerRequest {
            container_id: ctr.clone(),
            timeout: 0,
        })
        .await
        .unwrap();
    let (_, stderr, status) = within("attach end", attach.outcome()).await;
    assert!(stderr.contains("tock\n"), "{stderr:?}");
    assert_eq!(status, r#"{"metadata":{},"status":"Success"}"#);
}

/// Opens one port-forward pair (error stream first, as kubectl does).
fn forward_pair(
    client: &mut SpdyClient,
    port: &str,
    request: &str,
) -> (ClientStream, ClientStream) {
    let error = client.open(&[
        ("streamtype", "error"),
        ("port", port),
        ("requestid", request),
    ]);
    let data = client.open(&[
        ("streamtype", "data"),
        ("port", port),
        ("requestid", request),
    ]);
    error.finish();
    (error, data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_forward_echoes_ten_mebibytes_intact() {
    let mut t = StreamNode::start().await;
    let (pod, _) = t.running("web", &["sleep", "infinity"], &[]).await;
    let url = t.port_forward_url(&pod, &[8080]).await;
    let mut client = SpdyClient::connect(&url, &["portforward.k8s.io"])
        .await
        .expect("upgrade accepted");
    assert_eq!(client.protocol.as_deref(), Some("portforward.k8s.io"));
    let (mut error, mut data) = forward_pair(&mut client, "8080", "0");
    let sent = payload(10 * 1024 * 1024);
    let sender = data.sender();
    let echo = async {
        let mut echoed = Vec::with_capacity(sent.len());
        while echoed.len() < sent.len() {
            match data.next().await {
                Some(Event::Data(bytes)) => echoed.extend(bytes),
                other => panic!("echo stream ended after {} bytes: {other:?}", echoed.len()),
            }
        }
        echoed
    };
    let (echoed, ()) = within("10 MiB echo", async {
        tokio::join!(echo, sender.send(&sent))
    })
    .await;
    assert_eq!(fingerprint(&echoed), fingerprint(&sent));
    data.finish();
    assert!(within("FIN", data.read_to_end()).await.is_empty());
    assert!(within("error stream", error.read_to_end()).await.is_empty());
    assert_eq!(client.violation(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_forward_to_an_undeclared_port_reports_on_the_error_stream() {
    let mut t = StreamNode::start().await;
    let (pod, _) = t.running("web", &["sleep", "infinity"], &[8080]).await;
    let url = t.port_forward_url(&pod, &[9090]).await;
    let mut client = SpdyClient::connect(&url, &["portforward.k8s.io"])
        .await
        .unwrap();
    let (mut error, mut data) = forward_pair(&mut client, "9090", "0");
    let message = String::from_utf8(within("error", error.read_to_end()).await).unwrap();
    assert!(
        message.contains("port 9090") && message.contains("connection refused"),
        "{message}"
    );
    assert!(within("data", data.read_to_end()).await.is_empty());
    // The declared port works on the same connection.
    let (_, data) = forward_pair(&mut client, "8080", "1");
    data.send(b"ping").await;
    let mut data = data;
    match within("echo", data.next()).await {
        Some(Event::Data(bytes)) => assert_eq!(bytes, b"ping"),
        other => panic!("no echo: {other:?}"),
    }
}
