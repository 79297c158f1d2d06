//! Exec, attach and port-forward over SPDY/3.1, as kubelet's and kubectl's spdystream speak
//! it.
//!
//! The client upgrades with `Connection: Upgrade`, `Upgrade: SPDY/3.1` and one or more
//! `X-Stream-Protocol-Version` headers; crius picks the first one it supports, in the client's
//! order, and answers 101 naming it. Then the client opens the streams:
//!
//! - exec/attach (`v4.channel.k8s.io`, `v3…`, `v2…`, `channel.k8s.io`): one stream per
//!   `streamType` header (`error`, `stdin`, `stdout`, `stderr`, and `resize` from v3 on with a
//!   terminal). crius waits for all it expects, then runs the command.
//! - port-forward (`portforward.k8s.io`): a pair of streams per connection, `streamType`
//!   `error` and `data`, with the same `port` and `requestID` headers.

pub mod compression;
pub mod frame;
pub mod session;

use super::remote_command::{self, Client, Sink, Source, Target};
use crate::runtime::{PortForwardRequest, Runtime};
use async_trait::async_trait;
use compression::header;
use session::{Session, Stream, StreamReader, StreamWriter};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

/// The `Upgrade` token.
pub const UPGRADE_TOKEN: &str = "SPDY/3.1";
/// The header naming the stream protocol.
pub const PROTOCOL_HEADER: &str = "X-Stream-Protocol-Version";
/// Exec/attach protocols, newest first.
pub const EXEC_PROTOCOLS: [&str; 4] = [
    "v4.channel.k8s.io",
    "v3.channel.k8s.io",
    "v2.channel.k8s.io",
    "channel.k8s.io",
];
/// The port-forward protocol.
pub const PORT_FORWARD_PROTOCOLS: [&str; 1] = ["portforward.k8s.io"];
/// How long crius waits for the client to open the streams it announced.
const STREAM_CREATION_TIMEOUT: Duration = Duration::from_secs(30);

/// Failures of a SPDY session.
#[derive(Debug, thiserror::Error)]
pub enum SpdyError {
    /// The connection failed.
    #[error("SPDY connection: {0}")]
    Io(#[from] std::io::Error),
    /// The peer broke the protocol.
    #[error("SPDY protocol error: {0}")]
    Protocol(String),
    /// Header compression failed.
    #[error("SPDY header compression: {0}")]
    Compression(String),
    /// The session is closed.
    #[error("SPDY session closed")]
    Closed,
    /// The stream was reset.
    #[error("SPDY stream {0} was reset")]
    Reset(u32),
}

/// Picks the protocol: the first of the client's `offered` (in its order) that crius
/// `supports`. `Ok(None)` when the client offered none (the legacy protocol).
pub fn negotiate<'a>(offered: &[String], supports: &[&'a str]) -> Result<Option<&'a str>, String> {
    let offered: Vec<&str> = offered
        .iter()
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if offered.is_empty() {
        return Ok(None);
    }
    offered
        .iter()
        .find_map(|p| supports.iter().find(|s| *s == p).copied())
        .map(Some)
        .ok_or_else(|| {
            format!("none of the protocols {offered:?} is supported; crius supports {supports:?}")
        })
}

#[async_trait]
impl Source for StreamReader {
    async fn recv(&mut self) -> Option<Vec<u8>> {
        StreamReader::recv(self).await
    }
}

#[async_trait]
impl Sink for StreamWriter {
    async fn send(&mut self, data: &[u8]) -> Result<(), ()> {
        self.write(data).await.map_err(|_| ())
    }

    async fn close(&mut self) {
        let _ = StreamWriter::close(self).await;
    }
}

/// Serves exec or attach over an upgraded connection speaking `protocol`.
pub async fn serve_remote_command<IO>(io: IO, protocol: &str, runtime: Arc<Runtime>, target: Target)
where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    let (session, mut incoming) = match Session::start(io) {
        Ok(started) => started,
        Err(e) => {
            tracing::warn!(error = %e, "cannot start a SPDY session");
            return;
        }
    };
    let (stdin, stdout, stderr, tty) = match &target {
        Target::Exec(r) => (r.stdin, r.stdout, r.stderr, r.tty),
        Target::Attach(r) => (r.stdin, r.stdout, r.stderr, r.tty),
    };
    let resizable = matches!(protocol, "v4.channel.k8s.io" | "v3.channel.k8s.io");
    let mut expected: Vec<&str> = vec!["error"];
    expected.extend(
        [
            (stdin, "stdin"),
            (stdout, "stdout"),
            (stderr && !tty, "stderr"),
            (tty && resizable, "resize"),
        ]
        .into_iter()
        .filter_map(|(wanted, name)| wanted.then_some(name)),
    );
    let streams =
        match tokio::time::timeout(STREAM_CREATION_TIMEOUT, gather(&mut incoming, &expected)).await
        {
            Ok(Some(streams)) => streams,
            _ => {
                tracing::debug!(
                    ?expected,
                    "the client did not open the streams it announced"
                );
                session.close().await;
                return;
            }
        };
    let mut streams = streams;
    let mut take = |name: &str| streams.remove(name);
    let error = take("error").expect("gathered");
    let client = Client {
        stdin: take("stdin").map(|s| Box::new(s.reader) as Box<dyn Source>),
        stdout: take("stdout").map(|s| Box::new(s.writer) as Box<dyn Sink>),
        stderr: take("stderr").map(|s| Box::new(s.writer) as Box<dyn Sink>),
        resize: take("resize").map(|s| Box::new(s.reader) as Box<dyn Source>),
        error: Box::new(error.writer),
        json_status: protocol == "v4.channel.k8s.io",
    };
    remote_command::serve(&runtime, target, client).await;
    session.close().await;
}

/// Waits for one stream of each `expected` type; `None` if the session ends first.
async fn gather(
    incoming: &mut mpsc::UnboundedReceiver<Stream>,
    expected: &[&str],
) -> Option<HashMap<String, Stream>> {
    let mut streams = HashMap::new();
    while streams.len() < expected.len() {
        let stream = incoming.recv().await?;
        let kind = header(&stream.headers, "streamtype")
            .unwrap_or_default()
            .to_ascii_lowercase();
        if expected.contains(&kind.as_str()) && !streams.contains_key(&kind) {
            streams.insert(kind, stream);
        } else {
            tracing::debug!(stream_type = %kind, "unexpected stream");
            stream.writer.reset(frame::RstStatus::RefusedStream).await;
        }
    }
    Some(streams)
}

/// Serves port-forward over an upgraded connection until the client closes it.
pub async fn serve_port_forward<IO>(io: IO, runtime: Arc<Runtime>, request: PortForwardRequest)
where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    let (session, mut incoming) = match Session::start(io) {
        Ok(started) => started,
        Err(e) => {
            tracing::warn!(error = %e, "cannot start a SPDY session");
            return;
        }
    };
    // Streams wait here for their partner, keyed by request id.
    let mut waiting: HashMap<String, (Option<Stream>, Option<Stream>)> = HashMap::new();
    while let Some(stream) = incoming.recv().await {
        let kind = header(&stream.headers, "streamtype")
            .unwrap_or_default()
            .to_ascii_lowercase();
        // Clients older than request ids pair a data stream with the error stream opened just
        // before it.
        let key = match (header(&stream.headers, "requestid"), kind.as_str()) {
            (Some(id), _) => id.to_string(),
            (None, "data") => stream.id.saturating_sub(2).to_string(),
            (None, _) => stream.id.to_string(),
        };
        let pair = waiting.entry(key.clone()).or_default();
        match kind.as_str() {
            "error" if pair.0.is_none() => pair.0 = Some(stream),
            "data" if pair.1.is_none() => pair.1 = Some(stream),
            _ => {
                stream.writer.reset(frame::RstStatus::ProtocolError).await;
                continue;
            }
        }
        if matches!(waiting.get(&key), Some((Some(_), Some(_))))
            && let Some((Some(error), Some(data))) = waiting.remove(&key)
        {
            let sandbox_id = request.sandbox_id.clone();
            tokio::spawn(forward_pair(runtime.clone(), sandbox_id, error, data));
        }
    }
    session.close().await;
}

/// Connects one error/data pair to its port.
async fn forward_pair(runtime: Arc<Runtime>, sandbox_id: String, error: Stream, data: Stream) {
    let port = header(&data.headers, "port")
        .and_then(|p| p.parse::<u16>().ok())
        .filter(|&p| p != 0);
    let Some(port) = port else {
        let _ = error.writer.write(b"invalid or missing port header").await;
        let _ = error.writer.close().await;
        data.writer.reset(frame::RstStatus::ProtocolError).await;
        return;
    };
    let connection = match runtime.open_port(&sandbox_id, port).await {
        Ok(connection) => connection,
        Err(e) => {
            let message = format!(
                "error forwarding port {port} to pod {sandbox_id}: {}",
                e.message()
            );
            let _ = error.writer.write(message.as_bytes()).await;
            let _ = error.writer.close().await;
            let _ = data.writer.close().await;
            return;
        }
    };
    let (mut from_pod, mut to_pod) = tokio::io::split(connection);
    let Stream {
        reader: mut from_client,
        writer: to_client,
        ..
    } = data;
    let upstream = async {
        while let Some(bytes) = from_client.recv().await {
            if to_pod.write_all(&bytes).await.is_err() {
                return;
            }
        }
        let _ = to_pod.shutdown().await;
    };
    let downstream = async {
        let mut buffer = vec![0u8; 32 * 1024];
        loop {
            match from_pod.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to_client.write(&buffer[..n]).await.is_err() {
                        return;
                    }
                }
            }
        }
        let _ = to_client.close().await;
    };
    tokio::join!(upstream, downstream);
    let _ = error.writer.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_follows_the_clients_order() {
        let offered = vec![
            "v5.channel.k8s.io".to_string(),
            "v3.channel.k8s.io".into(),
            "v4.channel.k8s.io".into(),
        ];
        assert_eq!(
            negotiate(&offered, &EXEC_PROTOCOLS),
            Ok(Some("v3.channel.k8s.io"))
        );
        assert_eq!(
            negotiate(
                &["v2.channel.k8s.io, channel.k8s.io".into()],
                &EXEC_PROTOCOLS
            ),
            Ok(Some("v2.channel.k8s.io"))
        );
        assert_eq!(negotiate(&[], &EXEC_PROTOCOLS), Ok(None));
        assert!(negotiate(&["v9".into()], &EXEC_PROTOCOLS).is_err());
    }
}
