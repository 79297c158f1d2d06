//! The server side of one SPDY/3.1 session: streams opened by the client, flow control, and
//! the frames that keep the session alive.
//!
//! One task reads frames and routes them; one task owns the write half and the header
//! compressor, so frames go out whole and header blocks are compressed in wire order.
//!
//! Flow control (SPDY/3.1): every stream and the session start with a 64 KiB window in each
//! direction. crius sends WINDOW_UPDATE (for the stream and for the session) as the
//! application consumes data, so a peer that honours windows never stalls. Windows crius sends
//! into are counted from the start, but only enforced once the peer shows that it speaks flow
//! control by sending a WINDOW_UPDATE or SETTINGS_INITIAL_WINDOW_SIZE: Kubernetes' spdystream
//! (kubectl, kubelet, crictl) does neither, and ignores windows.

use super::SpdyError;
use super::compression::{HeaderDecoder, HeaderEncoder, Headers};
use super::frame::{Frame, RstStatus, SETTINGS_INITIAL_WINDOW_SIZE};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{Notify, mpsc, oneshot};

/// The window every stream and the session start with.
pub const INITIAL_WINDOW: i64 = 64 * 1024;
/// The most data one frame crius sends carries.
const MAX_DATA_FRAME: usize = 32 * 1024;
/// Consumed bytes are acknowledged with WINDOW_UPDATE once this many have accumulated.
const UPDATE_THRESHOLD: usize = INITIAL_WINDOW as usize / 2;
/// How long a closed session waits for the client to close its side before dropping it.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

enum Outgoing {
    Frame(Frame),
    /// Flush, shut the write half down and stop.
    Close(oneshot::Sender<()>),
}

#[derive(Default)]
struct Flow {
    enforce: bool,
    initial: i64,
    session: i64,
    /// Send windows of open streams; a stream missing here was reset or is unknown.
    streams: HashMap<u32, i64>,
    closed: bool,
}

struct Shared {
    out: mpsc::Sender<Outgoing>,
    flow: Mutex<Flow>,
    changed: Notify,
}

impl Shared {
    async fn send(&self, frame: Frame) -> Result<(), SpdyError> {
        self.out
            .send(Outgoing::Frame(frame))
            .await
            .map_err(|_| SpdyError::Closed)
    }

    fn update(&self, change: impl FnOnce(&mut Flow)) {
        change(&mut self.flow.lock());
        self.changed.notify_waiters();
    }
}

/// A stream the client opened.
pub struct Stream {
    /// Stream id.
    pub id: u32,
    /// The headers of its SYN_STREAM.
    pub headers: Headers,
    /// What the client sends on it.
    pub reader: StreamReader,
    /// What crius sends on it.
    pub writer: StreamWriter,
}

/// The receiving side of a stream.
pub struct StreamReader {
    id: u32,
    data: mpsc::UnboundedReceiver<Vec<u8>>,
    shared: Arc<Shared>,
    unacknowledged: usize,
}

impl StreamReader {
    /// The next bytes the client sent; `None` once it has finished the stream (FIN or reset)
    /// or the session is gone.
    pub async fn recv(&mut self) -> Option<Vec<u8>> {
        let data = self.data.recv().await?;
        self.unacknowledged += data.len();
        if self.unacknowledged >= UPDATE_THRESHOLD {
            let delta = self.unacknowledged as u32;
            self.unacknowledged = 0;
            let _ = self
                .shared
                .send(Frame::WindowUpdate {
                    stream_id: self.id,
                    delta,
                })
                .await;
            let _ = self
                .shared
                .send(Frame::WindowUpdate {
                    stream_id: 0,
                    delta,
                })
                .await;
        }
        Some(data)
    }
}

/// The sending side of a stream.
#[derive(Clone)]
pub struct StreamWriter {
    id: u32,
    shared: Arc<Shared>,
}

impl StreamWriter {
    /// Sends `data`, in frames the windows allow, waiting for room when the peer enforces
    /// flow control.
    pub async fn write(&self, mut data: &[u8]) -> Result<(), SpdyError> {
        while !data.is_empty() {
            let n = self.reserve(data.len()).await?;
            let (chunk, rest) = data.split_at(n);
            self.shared
                .send(Frame::Data {
                    stream_id: self.id,
                    fin: false,
                    data: chunk.to_vec(),
                })
                .await?;
            data = rest;
        }
        Ok(())
    }

    /// Finishes crius's side of the stream (an empty data frame with FIN).
    pub async fn close(&self) -> Result<(), SpdyError> {
        self.shared
            .send(Frame::Data {
                stream_id: self.id,
                fin: true,
                data: Vec::new(),
            })
            .await
    }

    /// Ends the stream abnormally.
    pub async fn reset(&self, status: RstStatus) {
        self.shared.update(|flow| {
            flow.streams.remove(&self.id);
        });
        let _ = self
            .shared
            .send(Frame::RstStream {
                stream_id: self.id,
                status: status as u32,
            })
            .await;
    }

    /// Takes room for up to `wanted` bytes from the stream's and the session's windows.
    async fn reserve(&self, wanted: usize) -> Result<usize, SpdyError> {
        loop {
            let changed = self.shared.changed.notified();
            {
                let mut flow = self.shared.flow.lock();
                if flow.closed {
                    return Err(SpdyError::Closed);
                }
                let enforce = flow.enforce;
                let session = flow.session;
                let window = flow
                    .streams
                    .get_mut(&self.id)
                    .ok_or(SpdyError::Reset(self.id))?;
                let room = if enforce {
                    (*window).min(session)
                } else {
                    i64::MAX
                };
                if room > 0 {
                    let n = wanted
                        .min(MAX_DATA_FRAME)
                        .min(usize::try_from(room).unwrap_or(usize::MAX));
                    *window -= n as i64;
                    flow.session -= n as i64;
                    return Ok(n);
                }
            }
            changed.await;
        }
    }
}

/// A running session.
pub struct Session {
    shared: Arc<Shared>,
    reader_done: Option<oneshot::Receiver<()>>,
    reader: tokio::task::AbortHandle,
}

impl Session {
    /// Starts serving SPDY on `io` (an upgraded connection); streams the client opens come out
    /// of the returned receiver, already answered with SYN_REPLY.
    pub fn start<IO>(io: IO) -> Result<(Session, mpsc::UnboundedReceiver<Stream>), SpdyError>
    where
        IO: AsyncRead + AsyncWrite + Send + 'static,
    {
        let encoder = HeaderEncoder::new()?;
        let (read_half, write_half) = tokio::io::split(io);
        let (out, outgoing) = mpsc::channel(64);
        let shared = Arc::new(Shared {
            out,
            flow: Mutex::new(Flow {
                initial: INITIAL_WINDOW,
                session: INITIAL_WINDOW,
                ..Flow::default()
            }),
            changed: Notify::new(),
        });
        tokio::spawn(write_frames(write_half, encoder, outgoing));
        let (streams_tx, streams) = mpsc::unbounded_channel();
        let (done_tx, reader_done) = oneshot::channel();
        let reader = tokio::spawn(read_frames(
            BufReader::new(read_half),
            shared.clone(),
            streams_tx,
            done_tx,
        ));
        Ok((
            Session {
                shared,
                reader_done: Some(reader_done),
                reader: reader.abort_handle(),
            },
            streams,
        ))
    }

    /// Says GOAWAY, sends what is queued, shuts crius's side of the connection down and waits
    /// (a little) for the client to close its side.
    pub async fn close(mut self) {
        let _ = self
            .shared
            .send(Frame::GoAway {
                last_good_stream_id: 0,
                status: 0,
            })
            .await;
        let (flushed_tx, flushed) = oneshot::channel();
        if self
            .shared
            .out
            .send(Outgoing::Close(flushed_tx))
            .await
            .is_ok()
        {
            let _ = flushed.await;
        }
        if let Some(done) = self.reader_done.take() {
            let _ = tokio::time::timeout(CLOSE_GRACE, done).await;
        }
        self.reader.abort();
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.shared.update(|flow| flow.closed = true);
    }
}

async fn write_frames<W: AsyncWrite + Unpin>(
    mut writer: W,
    mut encoder: HeaderEncoder,
    mut outgoing: mpsc::Receiver<Outgoing>,
) {
    let mut buffer = Vec::with_capacity(64 * 1024);
    while let Some(item) = outgoing.recv().await {
        let mut next = Some(item);
        buffer.clear();
        // Coalesce what is queued into one write.
        while let Some(item) = next.take() {
            match item {
                Outgoing::Frame(frame) => {
                    if let Err(e) = frame.encode(&mut encoder, &mut buffer) {
                        tracing::warn!(error = %e, "cannot encode a SPDY frame");
                        return;
                    }
                }
                Outgoing::Close(flushed) => {
                    let _ = writer.write_all(&buffer).await;
                    let _ = writer.flush().await;
                    let _ = writer.shutdown().await;
                    let _ = flushed.send(());
                    return;
                }
            }
            if buffer.len() < 256 * 1024 {
                next = outgoing.try_recv().ok();
            }
        }
        if writer.write_all(&buffer).await.is_err() || writer.flush().await.is_err() {
            return;
        }
    }
}

async fn read_frames<R: AsyncRead + Unpin>(
    mut reader: R,
    shared: Arc<Shared>,
    streams: mpsc::UnboundedSender<Stream>,
    done: oneshot::Sender<()>,
) {
    let mut decoder = HeaderDecoder::new();
    let mut inbound: HashMap<u32, mpsc::UnboundedSender<Vec<u8>>> = HashMap::new();
    let mut last_stream = 0u32;
    loop {
        let frame = match Frame::read(&mut reader, &mut decoder).await {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(e) => {
                tracing::debug!(error = %e, "SPDY session ended");
                break;
            }
        };
        let handled = match frame {
            Frame::SynStream {
                stream_id,
                fin,
                headers,
                ..
            } => {
                open_stream(
                    &shared,
                    &streams,
                    &mut inbound,
                    &mut last_stream,
                    stream_id,
                    fin,
                    headers,
                )
                .await
            }
            Frame::Data {
                stream_id,
                fin,
                data,
            } => {
                if let Some(sender) = inbound.get(&stream_id)
                    && !data.is_empty()
                {
                    let _ = sender.send(data);
                }
                if fin {
                    inbound.remove(&stream_id);
                }
                Ok(())
            }
            Frame::RstStream { stream_id, .. } => {
                inbound.remove(&stream_id);
                shared.update(|flow| {
                    flow.streams.remove(&stream_id);
                });
                Ok(())
            }
            Frame::Settings { entries, .. } => {
                for (_, id, value) in entries {
                    if id == SETTINGS_INITIAL_WINDOW_SIZE {
                        shared.update(|flow| {
                            let delta = i64::from(value) - flow.initial;
                            flow.initial = i64::from(value);
                            flow.enforce = true;
                            flow.streams.values_mut().for_each(|w| *w += delta);
                        });
                    }
                }
                Ok(())
            }
            Frame::Ping { id } if id % 2 == 1 => shared.send(Frame::Ping { id }).await,
            Frame::WindowUpdate { stream_id, delta } => {
                shared.update(|flow| {
                    flow.enforce = true;
                    if stream_id == 0 {
                        flow.session += i64::from(delta);
                    } else if let Some(window) = flow.streams.get_mut(&stream_id) {
                        *window += i64::from(delta);
                    }
                });
                Ok(())
            }
            Frame::GoAway { .. }
            | Frame::Ping { .. }
            | Frame::SynReply { .. }
            | Frame::Headers { .. }
            | Frame::Ignored { .. } => Ok(()),
        };
        if handled.is_err() {
            break;
        }
    }
    shared.update(|flow| flow.closed = true);
    let _ = done.send(());
}

async fn open_stream(
    shared: &Arc<Shared>,
    streams: &mpsc::UnboundedSender<Stream>,
    inbound: &mut HashMap<u32, mpsc::UnboundedSender<Vec<u8>>>,
    last_stream: &mut u32,
    stream_id: u32,
    fin: bool,
    headers: Headers,
) -> Result<(), SpdyError> {
    // Client streams have odd, increasing ids.
    if stream_id.is_multiple_of(2) || stream_id <= *last_stream {
        return shared
            .send(Frame::RstStream {
                stream_id,
                status: RstStatus::ProtocolError as u32,
            })
            .await;
    }
    *last_stream = stream_id;
    let (sender, data) = mpsc::unbounded_channel();
    if !fin {
        inbound.insert(stream_id, sender);
    }
    shared.update(|flow| {
        let initial = flow.initial;
        flow.streams.insert(stream_id, initial);
    });
    shared
        .send(Frame::SynReply {
            stream_id,
            fin: false,
            headers: Vec::new(),
        })
        .await?;
    let stream = Stream {
        id: stream_id,
        headers,
        reader: StreamReader {
            id: stream_id,
            data,
            shared: shared.clone(),
            unacknowledged: 0,
        },
        writer: StreamWriter {
            id: stream_id,
            shared: shared.clone(),
        },
    };
    if streams.send(stream).is_err() {
        inbound.remove(&stream_id);
        shared
            .send(Frame::RstStream {
                stream_id,
                status: RstStatus::RefusedStream as u32,
            })
            .await?;
    }
    Ok(())
}
