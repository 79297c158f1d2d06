//! Exec and attach once the client's streams are connected, whatever carries them (SPDY
//! streams or WebSocket channels): input in, output out, terminal sizes applied, and the
//! outcome written on the error stream.

use super::status::Status;
use crate::backend::streams::{InputWriter, OutputReader, TerminalSize};
use crate::runtime::{AttachRequest, ExecRequest, Runtime};
use async_trait::async_trait;
use futures::future::BoxFuture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// Bytes the client sends on one stream.
#[async_trait]
pub trait Source: Send + 'static {
    /// The next bytes; `None` once the client has closed the stream.
    async fn recv(&mut self) -> Option<Vec<u8>>;
}

/// A stream crius sends to the client on.
#[async_trait]
pub trait Sink: Send {
    /// Sends `data`; an error means the client is gone.
    async fn send(&mut self, data: &[u8]) -> Result<(), ()>;
    /// Ends the stream.
    async fn close(&mut self);
}

#[async_trait]
impl Source for mpsc::UnboundedReceiver<Vec<u8>> {
    async fn recv(&mut self) -> Option<Vec<u8>> {
        mpsc::UnboundedReceiver::recv(self).await
    }
}

/// The client's side of an exec or attach.
pub struct Client {
    /// Standard input from the client.
    pub stdin: Option<Box<dyn Source>>,
    /// Standard output to the client.
    pub stdout: Option<Box<dyn Sink>>,
    /// Standard error to the client.
    pub stderr: Option<Box<dyn Sink>>,
    /// The error stream, where the outcome goes.
    pub error: Box<dyn Sink>,
    /// Terminal sizes, as a stream of JSON objects `{"Width":80,"Height":24}`.
    pub resize: Option<Box<dyn Source>>,
    /// Whether the outcome is a JSON Status (protocol v4 and later) or bare text.
    pub json_status: bool,
}

/// What the client came for.
pub enum Target {
    /// Exec.
    Exec(ExecRequest),
    /// Attach.
    Attach(AttachRequest),
}

struct Opened {
    stdin: Option<InputWriter>,
    stdout: OutputReader,
    stderr: OutputReader,
    resize: Option<mpsc::Sender<TerminalSize>>,
    exit: Option<BoxFuture<'static, Result<i32, crate::backend::streams::StreamsError>>>,
}

async fn open(runtime: &Runtime, target: &Target) -> Result<Opened, crate::runtime::Error> {
    Ok(match target {
        Target::Exec(request) => {
            let s = runtime.open_exec(request).await?;
            Opened {
                stdin: s.stdin,
                stdout: s.stdout,
                stderr: s.stderr,
                resize: s.resize,
                exit: Some(s.exit),
            }
        }
        Target::Attach(request) => {
            let s = runtime.open_attach(request).await?;
            Opened {
                stdin: s.stdin,
                stdout: s.stdout,
                stderr: s.stderr,
                resize: s.resize,
                exit: None,
            }
        }
    })
}

/// Serves one exec or attach to its end: the process's exit (exec) or the container's
/// (attach), or the client going away.
pub async fn serve(runtime: &Runtime, target: Target, client: Client) {
    let Client {
        stdin,
        stdout,
        stderr,
        mut error,
        resize,
        json_status,
    } = client;
    let opened = match open(runtime, &target).await {
        Ok(opened) => opened,
        Err(e) => {
            finish(&mut *error, &Status::internal(e.message()), json_status).await;
            return;
        }
    };
    let stdin_task = match (stdin, opened.stdin) {
        (Some(source), Some(writer)) => Some(tokio::spawn(pump_stdin(source, writer))),
        _ => None,
    };
    let resize_task = match (resize, opened.resize) {
        (Some(source), Some(sender)) => Some(tokio::spawn(pump_resize(source, sender))),
        _ => None,
    };
    let exit = async {
        match opened.exit {
            Some(exit) => Some(exit.await),
            None => None,
        }
    };
    let (_, _, exit) = tokio::join!(
        pump_output(opened.stdout, stdout),
        pump_output(opened.stderr, stderr),
        exit
    );
    let status = match (&target, exit) {
        (_, None) | (_, Some(Ok(0))) => Status::success(),
        (Target::Exec(request), Some(Ok(code))) => Status::exit_code(&request.cmd, code),
        (Target::Attach(_), Some(Ok(_))) => Status::success(),
        (_, Some(Err(e))) => Status::internal(format!("error executing command in container: {e}")),
    };
    finish(&mut *error, &status, json_status).await;
    for task in [stdin_task, resize_task].into_iter().flatten() {
        task.abort();
    }
}

async fn finish(error: &mut dyn Sink, status: &Status, json: bool) {
    let bytes = status.encode(json);
    if !bytes.is_empty() {
        let _ = error.send(&bytes).await;
    }
    error.close().await;
}

async fn pump_stdin(mut source: Box<dyn Source>, mut writer: InputWriter) {
    while let Some(data) = source.recv().await {
        if writer.write_all(&data).await.is_err() {
            return;
        }
    }
    let _ = writer.shutdown().await;
}

async fn pump_resize(mut source: Box<dyn Source>, sender: mpsc::Sender<TerminalSize>) {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Size {
        width: u16,
        height: u16,
    }
    let mut pending = Vec::new();
    while let Some(data) = source.recv().await {
        pending.extend(data);
        let mut sizes = serde_json::Deserializer::from_slice(&pending).into_iter::<Size>();
        let mut used = 0;
        let mut parsed = Vec::new();
        loop {
            match sizes.next() {
                Some(Ok(size)) => {
                    used = sizes.byte_offset();
                    parsed.push(TerminalSize {
                        width: size.width,
                        height: size.height,
                    });
                }
                Some(Err(e)) if e.is_eof() => break,
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "ignoring a malformed terminal size");
                    used = pending.len();
                    break;
                }
                None => break,
            }
        }
        for size in parsed {
            if sender.send(size).await.is_err() {
                return;
            }
        }
        pending.drain(..used);
    }
}

/// Copies a process's output to the client until it ends, then ends the client's stream.
/// Output nobody asked for is read and dropped, so the process never blocks on it.
async fn pump_output(mut reader: OutputReader, mut sink: Option<Box<dyn Sink>>) {
    let mut buffer = vec![0u8; 32 * 1024];
    loop {
        let n = match reader.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(target) = sink.as_mut()
            && target.send(&buffer[..n]).await.is_err()
        {
            // The client is gone: stop reading so the process sees it too.
            return;
        }
    }
    if let Some(mut sink) = sink {
        sink.close().await;
    }
}
