//! Exec, attach and port-forward over WebSocket, with Kubernetes' channel protocols.
//!
//! Every message starts with its channel: one byte in the binary protocols, one ASCII digit in
//! the base64 ones (whose payload is then base64). Exec/attach channels: 0 stdin, 1 stdout,
//! 2 stderr, 3 error, 4 resize; `v5.channel.k8s.io` adds channel 255, on which the client
//! sends `[255, n]` to close its channel n (stdin's end-of-file). Port-forward (`?port=` in
//! the URL, one or more): port i uses channel 2i for data and 2i+1 for errors, and the first
//! message on each carries the port, two bytes little-endian.

use super::remote_command::{self, Client, Sink, Source, Target};
use crate::runtime::{PortForwardRequest, Runtime};
use async_trait::async_trait;
use base64::Engine as _;
use futures::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;

/// Exec/attach subprotocols crius speaks.
pub const EXEC_PROTOCOLS: [&str; 5] = [
    "v5.channel.k8s.io",
    "v4.channel.k8s.io",
    "v4.base64.channel.k8s.io",
    "channel.k8s.io",
    "base64.channel.k8s.io",
];
/// Port-forward subprotocols crius speaks.
pub const PORT_FORWARD_PROTOCOLS: [&str; 2] = ["v4.channel.k8s.io", "v4.base64.channel.k8s.io"];

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const RESIZE: u8 = 4;
const CLOSE: u8 = 255;
/// How long a finished session waits for the client's close handshake.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// The framing a subprotocol implies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framing {
    base64: bool,
    json_status: bool,
    close_channel: bool,
}

impl Framing {
    /// The framing of subprotocol `protocol` (`""` when the client named none).
    pub fn of(protocol: &str) -> Framing {
        Framing {
            base64: protocol.contains("base64"),
            json_status: protocol.starts_with("v4.") || protocol.starts_with("v5."),
            close_channel: protocol.starts_with("v5."),
        }
    }
}

enum Outgoing {
    Data(u8, Vec<u8>),
    Close,
}

/// The sending side, shared by every channel so messages keep their order.
#[derive(Clone)]
struct Sender(mpsc::Sender<Outgoing>);

struct ChannelSink {
    channel: u8,
    sender: Sender,
}

#[async_trait]
impl Sink for ChannelSink {
    async fn send(&mut self, data: &[u8]) -> Result<(), ()> {
        self.sender
            .0
            .send(Outgoing::Data(self.channel, data.to_vec()))
            .await
            .map_err(|_| ())
    }

    async fn close(&mut self) {}
}

/// A connection whose channels are open.
struct Channels {
    sender: Sender,
    inbound: HashMap<u8, mpsc::UnboundedReceiver<Vec<u8>>>,
    writer: tokio::task::JoinHandle<()>,
    /// Ends when the client closes the connection; taken by whoever waits for that.
    reader: Option<tokio::task::JoinHandle<()>>,
}

impl Channels {
    /// Starts the reader and writer of `io`; the client may send on `readable` channels.
    async fn open<IO>(io: IO, framing: Framing, readable: &[u8]) -> Channels
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
        let (sink, stream) = ws.split();
        let (tx, rx) = mpsc::channel(64);
        let mut senders = HashMap::new();
        let mut inbound = HashMap::new();
        for &channel in readable {
            let (s, r) = mpsc::unbounded_channel();
            senders.insert(channel, s);
            inbound.insert(channel, r);
        }
        Channels {
            sender: Sender(tx),
            inbound,
            writer: tokio::spawn(write_messages(sink, rx, framing)),
            reader: Some(tokio::spawn(read_messages(stream, senders, framing))),
        }
    }

    fn sink(&self, channel: u8) -> Box<dyn Sink> {
        Box::new(ChannelSink {
            channel,
            sender: self.sender.clone(),
        })
    }

    fn source(&mut self, channel: u8) -> Option<Box<dyn Source>> {
        self.inbound
            .remove(&channel)
            .map(|r| Box::new(r) as Box<dyn Source>)
    }

    /// Sends the close frame after everything queued and waits a little for the client's.
    async fn close(self) {
        let _ = self.sender.0.send(Outgoing::Close).await;
        drop(self.sender);
        let _ = self.writer.await;
        if let Some(reader) = self.reader {
            let abort = reader.abort_handle();
            if tokio::time::timeout(CLOSE_GRACE, reader).await.is_err() {
                abort.abort();
            }
        }
    }
}

async fn write_messages<S>(mut sink: S, mut outgoing: mpsc::Receiver<Outgoing>, framing: Framing)
where
    S: futures::Sink<Message> + Unpin,
{
    while let Some(item) = outgoing.recv().await {
        let message = match item {
            Outgoing::Data(channel, data) if framing.base64 => {
                let mut text = String::with_capacity(1 + data.len() * 4 / 3 + 4);
                text.push(char::from(b'0' + channel));
                base64::engine::general_purpose::STANDARD.encode_string(&data, &mut text);
                Message::Text(text.into())
            }
            Outgoing::Data(channel, data) => {
                let mut bytes = Vec::with_capacity(1 + data.len());
                bytes.push(channel);
                bytes.extend(data);
                Message::Binary(bytes.into())
            }
            Outgoing::Close => {
                let _ = sink.send(Message::Close(None)).await;
                return;
            }
        };
        if sink.send(message).await.is_err() {
            return;
        }
    }
}

async fn read_messages<S, E>(
    mut stream: S,
    mut senders: HashMap<u8, mpsc::UnboundedSender<Vec<u8>>>,
    framing: Framing,
) where
    S: futures::Stream<Item = Result<Message, E>> + Unpin,
{
    while let Some(Ok(message)) = stream.next().await {
        let (channel, data) = match message {
            Message::Binary(bytes) if !framing.base64 => match bytes.split_first() {
                Some((&channel, data)) => (channel, data.to_vec()),
                None => continue,
            },
            // The binary protocols accept text messages too (some clients send strings).
            Message::Text(text) if !framing.base64 => match text.as_bytes().split_first() {
                Some((&channel, data)) => (channel, data.to_vec()),
                None => continue,
            },
            Message::Text(text) => {
                let Some((&digit, payload)) = text.as_bytes().split_first() else {
                    continue;
                };
                let Some(channel) = digit.checked_sub(b'0') else {
                    continue;
                };
                match base64::engine::general_purpose::STANDARD.decode(payload) {
                    Ok(data) => (channel, data),
                    Err(_) => continue,
                }
            }
            Message::Close(_) => break,
            _ => continue,
        };
        if framing.close_channel && channel == CLOSE {
            if let Some(closed) = data.first() {
                senders.remove(closed);
            }
            continue;
        }
        if let Some(sender) = senders.get(&channel)
            && !data.is_empty()
        {
            let _ = sender.send(data);
        }
    }
}

/// Serves exec or attach on an upgraded connection speaking `protocol`.
pub async fn serve_remote_command<IO>(io: IO, protocol: &str, runtime: Arc<Runtime>, target: Target)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let framing = Framing::of(protocol);
    let (stdin, stdout, stderr, tty) = match &target {
        Target::Exec(r) => (r.stdin, r.stdout, r.stderr, r.tty),
        Target::Attach(r) => (r.stdin, r.stdout, r.stderr, r.tty),
    };
    let mut channels = Channels::open(io, framing, &[STDIN, RESIZE]).await;
    // An empty message on the lowest channel crius writes tells the client it is connected.
    let first = if stdout {
        STDOUT
    } else if stderr {
        STDERR
    } else {
        ERROR
    };
    let _ = channels
        .sender
        .0
        .send(Outgoing::Data(first, Vec::new()))
        .await;
    let client = Client {
        stdin: if stdin { channels.source(STDIN) } else { None },
        stdout: stdout.then(|| channels.sink(STDOUT)),
        stderr: (stderr && !tty).then(|| channels.sink(STDERR)),
        error: channels.sink(ERROR),
        resize: if tty { channels.source(RESIZE) } else { None },
        json_status: framing.json_status,
    };
    remote_command::serve(&runtime, target, client).await;
    channels.close().await;
}

/// Serves port-forward to `ports` on an upgraded connection until the client closes it.
pub async fn serve_port_forward<IO>(
    io: IO,
    protocol: &str,
    runtime: Arc<Runtime>,
    request: PortForwardRequest,
    ports: Vec<u16>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let framing = Framing::of(protocol);
    let data_channels: Vec<u8> = (0..ports.len()).map(|i| (2 * i) as u8).collect();
    let mut channels = Channels::open(io, framing, &data_channels).await;
    let mut forwards = Vec::new();
    for (i, port) in ports.into_iter().enumerate() {
        let (data, error) = ((2 * i) as u8, (2 * i + 1) as u8);
        for channel in [data, error] {
            let _ = channels
                .sender
                .0
                .send(Outgoing::Data(channel, port.to_le_bytes().to_vec()))
                .await;
        }
        let from_client = channels.inbound.remove(&data).expect("opened above");
        forwards.push(tokio::spawn(forward(
            runtime.clone(),
            request.sandbox_id.clone(),
            port,
            from_client,
            channels.sink(data),
            channels.sink(error),
        )));
    }
    // The connection lives until the client closes it.
    if let Some(reader) = channels.reader.take() {
        let _ = reader.await;
    }
    for forward in forwards {
        forward.abort();
    }
    channels.close().await;
}

async fn forward(
    runtime: Arc<Runtime>,
    sandbox_id: String,
    port: u16,
    mut from_client: mpsc::UnboundedReceiver<Vec<u8>>,
    mut to_client: Box<dyn Sink>,
    mut errors: Box<dyn Sink>,
) {
    let connection = match runtime.open_port(&sandbox_id, port).await {
        Ok(connection) => connection,
        Err(e) => {
            let message = format!(
                "error forwarding port {port} to pod {sandbox_id}: {}",
                e.message()
            );
            let _ = errors.send(message.as_bytes()).await;
            return;
        }
    };
    let (mut from_pod, mut to_pod) = tokio::io::split(connection);
    let upstream = async {
        while let Some(bytes) = from_client.recv().await {
            if to_pod.write_all(&bytes).await.is_err() {
                break;
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
                    if to_client.send(&buffer[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
    };
    tokio::join!(upstream, downstream);
}
