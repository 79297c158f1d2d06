//! Exec and port-forward over WebSocket against crius-sim, with independent clients: the
//! Python `kubernetes` client's `WSClient` and `PortForward` (protocol v4), and
//! `websocket-client` for the protocols it does not speak (v5's close channel, base64).
//!
//! Needs python3 with the Debian packages python3-kubernetes and python3-websocket, which
//! scripts/test installs. The clock runs only 5 times real time: a token's minute must outlast
//! the interpreter's start.

mod common;
#[path = "streaming/support.rs"]
#[allow(dead_code)]
mod support;

use serde_json::Value;
use std::time::Duration;
use support::StreamNode;

/// A python3 that has the client packages: `$CRIUS_TEST_PYTHON`, Debian's (where
/// python3-kubernetes installs), or the first on `PATH`.
async fn interpreter() -> String {
    let mut tried = Vec::new();
    let candidates = std::env::var("CRIUS_TEST_PYTHON")
        .into_iter()
        .chain(["/usr/bin/python3".to_string(), "python3".to_string()]);
    for python in candidates {
        let check = tokio::process::Command::new(&python)
            .args(["-c", "import kubernetes.stream.ws_client, websocket"])
            .output()
            .await;
        match check {
            Ok(out) if out.status.success() => return python,
            Ok(out) => tried.push(format!(
                "{python}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Err(e) => tried.push(format!("{python}: {e}")),
        }
    }
    panic!(
        "the WebSocket tests need python3 with the kubernetes and websocket-client packages: run \
         scripts/test, or apt-get install -y python3-kubernetes python3-websocket (tried {tried:?})"
    );
}

/// Runs `script` with `args` under python3 and parses the JSON it prints.
async fn python(script: &str, args: &[&str]) -> Value {
    let python = interpreter().await;
    let run = tokio::process::Command::new(&python)
        .arg("-c")
        .arg(script)
        .args(args)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the python client finished within 120 s")
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python client failed: {}\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("python printed {stdout:?}: {e}"))
}

/// Exec with the kubernetes client's WSClient (v4.channel.k8s.io). Arguments: URL, then
/// optionally a resize message to send at once.
const WSCLIENT_EXEC: &str = r#"
import json, sys
from kubernetes.client import Configuration
from kubernetes.stream.ws_client import WSClient, get_websocket_url
client = WSClient(Configuration(), get_websocket_url(sys.argv[1]), None, True)
if len(sys.argv) > 2:
    client.write_channel(4, sys.argv[2])
client.run_forever(timeout=60)
error = client._channels.get(3, "")
print(json.dumps({
    "open": client.is_open(),
    "stdout": client._channels.get(1, ""),
    "stderr": client._channels.get(2, ""),
    "error": error,
    "returncode": client.returncode,
}))
"#;

/// Exec with websocket-client. Arguments: URL, subprotocol, stdin text, whether to close
/// stdin with the v5 close channel ("close" or "").
const RAW_EXEC: &str = r#"
import base64, json, sys, websocket
url, protocol, stdin, close = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
ws = websocket.create_connection(url.replace("http://", "ws://", 1), subprotocols=[protocol], timeout=60)
b64 = "base64" in protocol
def send(channel, data):
    if b64:
        ws.send(chr(ord("0") + channel) + base64.b64encode(data).decode())
    else:
        ws.send_binary(bytes([channel]) + data)
if stdin:
    send(0, stdin.encode())
if close:
    ws.send_binary(bytes([255, 0]))
channels = {}
while True:
    try:
        opcode, frame = ws.recv_data_frame(True)
    except websocket.WebSocketConnectionClosedException:
        break
    if opcode == websocket.ABNF.OPCODE_CLOSE:
        break
    data = frame.data
    if b64:
        channel, payload = data[0] - ord("0"), base64.b64decode(data[1:])
    else:
        channel, payload = data[0], data[1:]
    channels[channel] = channels.get(channel, b"") + payload
print(json.dumps({
    "protocol": ws.subprotocol,
    "stdout": channels.get(1, b"").decode(),
    "stderr": channels.get(2, b"").decode(),
    "error": channels.get(3, b"").decode(),
}))
"#;

/// Port-forward with the kubernetes client's PortForward. Arguments: URL, port, bytes to
/// send through the echo.
const PORT_FORWARD: &str = r#"
import hashlib, json, os, sys, threading
from kubernetes.client import Configuration
from kubernetes.stream.ws_client import PortForward, create_websocket, get_websocket_url
url, port, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ws = create_websocket(Configuration(), get_websocket_url(url + "?port=%d" % port))
forward = PortForward(ws, [port])
sock = forward.socket(port)
sock.settimeout(60)
data = os.urandom(size)
threading.Thread(target=lambda: sock.sendall(data), daemon=True).start()
received = bytearray()
while len(received) < size:
    chunk = sock.recv(1 << 20)
    if not chunk:
        break
    received += chunk
print(json.dumps({
    "received": len(received),
    "intact": hashlib.sha256(received).hexdigest() == hashlib.sha256(data).hexdigest(),
    "error": forward.error(port),
}))
forward.close()
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_client_exec_gets_output_and_success() {
    let mut t = StreamNode::with_speed(5.0).await;
    let (_, ctr) = t.running("web", &["sleep", "infinity"], &[]).await;
    let url = t
        .exec_url(&ctr, &["sh", "-c", "echo hi; echo oops >&2"], false, false)
        .await;
    let out = python(WSCLIENT_EXEC, &[&url]).await;
    assert_eq!(out["open"], false);
    assert_eq!(out["stdout"], "hi\n");
    assert_eq!(out["stderr"], "oops\n");
    assert_eq!(out["error"], r#"{"metadata":{},"status":"Success"}"#);
    assert_eq!(out["returncode"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_client_exec_reads_the_exit_code() {
    let mut t = StreamNode::with_speed(5.0).await;
    let (_, ctr) = t.running("web", &["sleep", "infinity"], &[]).await;
    let url = t
        .exec_url(&ctr, &["sh", "-c", "exit 3"], false, false)
        .await;
    let out = python(WSCLIENT_EXEC, &[&url]).await;
    assert_eq!(out["returncode"], 3);
    let status: Value = serde_json::from_str(out["error"].as_str().unwrap()).unwrap();
    assert_eq!(status["reason"], "NonZeroExitCode");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tty_exec_over_websocket_accepts_a_resize() {
    let mut t = StreamNode::with_speed(5.0).await;
    let (_, ctr) = t.running("web", &["sleep", "infinity"], &[]).await;
    let url = t
        .exec_url(&ctr, &["sh", "-c", "sleep 10; echo done"], true, false)
        .await;
    let out = python(WSCLIENT_EXEC, &[&url, r#"{"Width":100,"Height":30}"#]).await;
    assert_eq!(out["stdout"], "done\n");
    assert_eq!(out["returncode"], 0);
    let sizes: Vec<_> = t
        .node
        .streams
        .terminal_sizes()
        .into_iter()
        .map(|(id, s)| (id, s.width, s.height))
        .collect();
    assert_eq!(sizes, vec![(ctr, 100, 30)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_closes_stdin_with_the_close_channel() {
    let mut t = StreamNode::with_speed(5.0).await;
    let (_, ctr) = t.running("web", &["sleep", "infinity"], &[]).await;
    let url = t.exec_url(&ctr, &["cat"], false, true).await;
    let out = python(
        RAW_EXEC,
        &[&url, "v5.channel.k8s.io", "hello over v5\n", "close"],
    )
    .await;
    assert_eq!(out["protocol"], "v5.channel.k8s.io");
    assert_eq!(out["stdout"], "hello over v5\n");
    assert_eq!(out["error"], r#"{"metadata":{},"status":"Success"}"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn base64_protocol_encodes_every_message() {
    let mut t = StreamNode::with_speed(5.0).await;
    let (_, ctr) = t.running("web", &["sleep", "infinity"], &[]).await;
    let url = t
        .exec_url(&ctr, &["sh", "-c", "echo hi; exit 4"], false, false)
        .await;
    let out = python(RAW_EXEC, &[&url, "base64.channel.k8s.io", "", ""]).await;
    assert_eq!(out["protocol"], "base64.channel.k8s.io");
    assert_eq!(out["stdout"], "hi\n");
    // Before v4 the error channel carries the message alone.
    let error = out["error"].as_str().unwrap();
    assert!(
        error.starts_with("command terminated with non-zero exit code")
            && error.ends_with("exit code 4"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_client_port_forward_echoes_ten_mebibytes() {
    let mut t = StreamNode::with_speed(5.0).await;
    let (pod, _) = t.running("web", &["sleep", "infinity"], &[]).await;
    let url = t.port_forward_url(&pod, &[8080]).await;
    let size = (10 * 1024 * 1024).to_string();
    let out = python(PORT_FORWARD, &[&url, "8080", &size]).await;
    assert_eq!(out["received"], 10 * 1024 * 1024);
    assert_eq!(out["intact"], true);
    assert_eq!(out["error"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_forward_to_an_undeclared_port_reports_on_the_error_channel() {
    let mut t = StreamNode::with_speed(5.0).await;
    let (pod, _) = t.running("web", &["sleep", "infinity"], &[8080]).await;
    let url = t.port_forward_url(&pod, &[9090]).await;
    let out = python(PORT_FORWARD, &[&url, "9090", "10"]).await;
    let error = out["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("port 9090") && error.contains("connection refused"),
        "{out}"
    );
}
