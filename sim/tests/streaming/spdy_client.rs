//! An independent SPDY/3.1 client, written from the SPDY/3 draft for these tests: it shares no
//! code with crius's server (its own framing, its own header compression context and its own
//! copy of the dictionary, built from the draft's word list).
//!
//! It speaks flow control strictly: it announces SETTINGS_INITIAL_WINDOW_SIZE, sends
//! WINDOW_UPDATE only after 48 KiB of a stream have arrived, and checks that the server never sends beyond the 64 KiB windows (per
//! stream and per session); it waits for the server's WINDOW_UPDATEs before sending beyond
//! its own windows.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Notify, mpsc};

const WINDOW: i64 = 65536;
const ACK_AFTER: i64 = 48 * 1024;

/// The SPDY/3 header dictionary, rebuilt from its parts as the draft lists them.
fn dictionary() -> Vec<u8> {
    let words = "options head post put delete trace accept accept-charset accept-encoding accept-language \
        accept-ranges age allow authorization cache-control connection content-base content-encoding \
        content-language content-length content-location content-md5 content-range content-type date etag \
        expect expires from host if-match if-modified-since if-none-match if-range if-unmodified-since \
        last-modified location max-forwards pragma proxy-authenticate proxy-authorization range referer \
        retry-after server te trailer transfer-encoding upgrade user-agent vary via warning www-authenticate \
        method get status";
    let mut dict = Vec::new();
    let mut push = |w: &str| {
        dict.extend((w.len() as u32).to_be_bytes());
        dict.extend(w.as_bytes());
    };
    words.split_whitespace().for_each(&mut push);
    [
        "200 OK",
        "version",
        "HTTP/1.1",
        "url",
        "public",
        "set-cookie",
        "keep-alive",
        "origin",
    ]
    .into_iter()
    .for_each(&mut push);
    dict.extend(
        "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505\
         203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request\
         401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented\
         503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 \
         Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,\
         application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=\
         gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
            .as_bytes(),
    );
    assert_eq!(dict.len(), 1423, "the SPDY/3 dictionary is 1423 bytes");
    dict
}

/// What arrives on a stream.
#[derive(Debug)]
pub enum Event {
    Data(Vec<u8>),
    Fin,
    Reset(u32),
}

struct Flow {
    send: HashMap<u32, i64>,
    session_send: i64,
    received: HashMap<u32, i64>,
    session_received: i64,
    violation: Option<String>,
}

struct Shared {
    frames: mpsc::UnboundedSender<Vec<u8>>,
    compress: Mutex<Compress>,
    flow: Mutex<Flow>,
    changed: Notify,
    streams: Mutex<HashMap<u32, mpsc::UnboundedSender<Event>>>,
}

fn control(kind: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x80, 0x03];
    frame.extend(kind.to_be_bytes());
    frame.push(flags);
    frame.extend(&(payload.len() as u32).to_be_bytes()[1..]);
    frame.extend(payload);
    frame
}

fn data_frame(id: u32, fin: bool, data: &[u8]) -> Vec<u8> {
    let mut frame = id.to_be_bytes().to_vec();
    frame.push(u8::from(fin));
    frame.extend(&(data.len() as u32).to_be_bytes()[1..]);
    frame.extend(data);
    frame
}

impl Shared {
    fn window_update(&self, id: u32, delta: u32) {
        let mut payload = id.to_be_bytes().to_vec();
        payload.extend(delta.to_be_bytes());
        let _ = self.frames.send(control(9, 0, &payload));
    }
}

/// A client connection.
pub struct SpdyClient {
    shared: Arc<Shared>,
    next_id: u32,
    /// The protocol the server chose (its `X-Stream-Protocol-Version`).
    pub protocol: Option<String>,
    /// The GOAWAY status, once received.
    pub goaway: Arc<Mutex<Option<u32>>>,
}

/// A stream the client opened.
pub struct ClientStream {
    pub id: u32,
    events: mpsc::UnboundedReceiver<Event>,
    shared: Arc<Shared>,
}

/// The answer to an upgrade request that was refused.
#[derive(Debug)]
pub struct Refused {
    pub status: u16,
}

impl SpdyClient {
    /// POSTs `url` asking for SPDY/3.1 with `protocols`; on 101 starts the session.
    pub async fn connect(url: &str, protocols: &[&str]) -> Result<SpdyClient, Refused> {
        let (host, path) = super::support::split_url(url);
        let mut socket = TcpStream::connect(&host).await.unwrap();
        let mut request = format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nContent-Length: 0\r\n"
        );
        for p in protocols {
            request.push_str(&format!("X-Stream-Protocol-Version: {p}\r\n"));
        }
        request.push_str("\r\n");
        socket.write_all(request.as_bytes()).await.unwrap();
        // Read the response head byte by byte: SPDY frames may follow at once.
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8];
            if socket.read(&mut byte).await.unwrap() == 0 {
                break;
            }
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).to_string();
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if status != 101 {
            return Err(Refused { status });
        }
        let protocol = head.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("x-stream-protocol-version")
                .then(|| value.trim().to_string())
        });
        assert!(
            head.to_ascii_lowercase().contains("upgrade: spdy/3.1"),
            "{head}"
        );
        let (reader, mut writer) = socket.into_split();
        let (frames, mut outgoing) = mpsc::unbounded_channel::<Vec<u8>>();
        tokio::spawn(async move {
            while let Some(frame) = outgoing.recv().await {
                if writer.write_all(&frame).await.is_err() {
                    return;
                }
            }
            let _ = writer.shutdown().await;
        });
        let mut compress = Compress::new(Compression::default(), true);
        assert_eq!(compress.set_dictionary(&dictionary()).unwrap(), 0xe3c6_a7c2);
        let shared = Arc::new(Shared {
            frames,
            compress: Mutex::new(compress),
            flow: Mutex::new(Flow {
                send: HashMap::new(),
                session_send: WINDOW,
                received: HashMap::new(),
                session_received: 0,
                violation: None,
            }),
            changed: Notify::new(),
            streams: Mutex::new(HashMap::new()),
        });
        // SETTINGS_INITIAL_WINDOW_SIZE (id 7): announce that this client does flow control.
        let mut settings = 1u32.to_be_bytes().to_vec();
        settings.extend(7u32.to_be_bytes());
        settings.extend((WINDOW as u32).to_be_bytes());
        let _ = shared.frames.send(control(4, 0, &settings));
        let goaway = Arc::new(Mutex::new(None));
        tokio::spawn(read_loop(reader, shared.clone(), goaway.clone()));
        Ok(SpdyClient {
            shared,
            next_id: 1,
            protocol,
            goaway,
        })
    }

    /// Opens a stream with `headers` (SYN_STREAM, priority 0).
    pub fn open(&mut self, headers: &[(&str, &str)]) -> ClientStream {
        let id = self.next_id;
        self.next_id += 2;
        let (events_tx, events) = mpsc::unbounded_channel();
        self.shared.streams.lock().unwrap().insert(id, events_tx);
        self.shared.flow.lock().unwrap().send.insert(id, WINDOW);
        let mut block = (headers.len() as u32).to_be_bytes().to_vec();
        for (name, value) in headers {
            block.extend((name.len() as u32).to_be_bytes());
            block.extend(name.as_bytes());
            block.extend((value.len() as u32).to_be_bytes());
            block.extend(value.as_bytes());
        }
        let compressed = {
            let mut z = self.shared.compress.lock().unwrap();
            let mut out = Vec::with_capacity(block.len() + 1024);
            z.compress_vec(&block, &mut out, FlushCompress::Sync)
                .unwrap();
            assert!(out.len() < out.capacity(), "header block fits the buffer");
            out
        };
        let mut payload = id.to_be_bytes().to_vec();
        payload.extend(0u32.to_be_bytes());
        payload.extend([0, 0]);
        payload.extend(compressed);
        let _ = self.shared.frames.send(control(1, 0, &payload));
        ClientStream {
            id,
            events,
            shared: self.shared.clone(),
        }
    }

    /// Sends PING `id`.
    pub fn ping(&self, id: u32) {
        let _ = self.shared.frames.send(control(6, 0, &id.to_be_bytes()));
    }

    /// A flow control breach by the server, if one was seen.
    pub fn violation(&self) -> Option<String> {
        self.shared.flow.lock().unwrap().violation.clone()
    }
}

/// The sending side of a client stream, usable while the stream is being read.
#[derive(Clone)]
pub struct StreamSender {
    id: u32,
    shared: Arc<Shared>,
}

impl StreamSender {
    /// Sends `data`, within the server's windows.
    pub async fn send(&self, mut data: &[u8]) {
        while !data.is_empty() {
            let changed = self.shared.changed.notified();
            let room = {
                let mut flow = self.shared.flow.lock().unwrap();
                let room = flow.send[&self.id].min(flow.session_send).min(16 * 1024);
                if room > 0 {
                    let n = (room as usize).min(data.len());
                    *flow.send.get_mut(&self.id).unwrap() -= n as i64;
                    flow.session_send -= n as i64;
                    n
                } else {
                    0
                }
            };
            if room == 0 {
                changed.await;
                continue;
            }
            let _ = self
                .shared
                .frames
                .send(data_frame(self.id, false, &data[..room]));
            data = &data[room..];
        }
    }

    /// Ends the client's side (FIN).
    pub fn finish(&self) {
        let _ = self.shared.frames.send(data_frame(self.id, true, &[]));
    }
}

impl ClientStream {
    /// A sender for this stream.
    pub fn sender(&self) -> StreamSender {
        StreamSender {
            id: self.id,
            shared: self.shared.clone(),
        }
    }

    /// Sends `data`, within the server's windows.
    pub async fn send(&self, data: &[u8]) {
        self.sender().send(data).await
    }

    /// Ends the client's side (FIN).
    pub fn finish(&self) {
        self.sender().finish()
    }

    /// The next event (`None`: the connection is gone).
    pub async fn next(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// Everything until FIN, reset or the end of the connection.
    pub async fn read_to_end(&mut self) -> Vec<u8> {
        let mut all = Vec::new();
        while let Some(Event::Data(data)) = self.events.recv().await {
            all.extend(data);
        }
        all
    }
}

async fn read_loop(
    mut reader: tokio::net::tcp::OwnedReadHalf,
    shared: Arc<Shared>,
    goaway: Arc<Mutex<Option<u32>>>,
) {
    let mut inflate = Decompress::new(true);
    let dict = dictionary();
    loop {
        let mut head = [0u8; 8];
        if reader.read_exact(&mut head).await.is_err() {
            break;
        }
        let length = u32::from_be_bytes([0, head[5], head[6], head[7]]) as usize;
        let flags = head[4];
        let mut payload = vec![0u8; length];
        if reader.read_exact(&mut payload).await.is_err() {
            break;
        }
        let word = |at: usize| u32::from_be_bytes(payload[at..at + 4].try_into().unwrap());
        if head[0] & 0x80 == 0 {
            let id = u32::from_be_bytes(head[..4].try_into().unwrap());
            on_data(&shared, id, flags & 1 != 0, payload);
            continue;
        }
        assert_eq!(
            u16::from_be_bytes([head[0] & 0x7f, head[1]]),
            3,
            "SPDY version 3"
        );
        match u16::from_be_bytes([head[2], head[3]]) {
            2 => {
                // SYN_REPLY: its header block must decompress.
                let mut out = Vec::with_capacity(4096);
                let mut input = &payload[4..];
                loop {
                    let before = inflate.total_in();
                    match inflate.decompress_vec(input, &mut out, FlushDecompress::Sync) {
                        Ok(_) => {}
                        Err(e) if e.needs_dictionary().is_some() => {
                            inflate.set_dictionary(&dict).unwrap();
                        }
                        Err(e) => panic!("bad header block from the server: {e}"),
                    }
                    input = &input[(inflate.total_in() - before) as usize..];
                    if input.is_empty() {
                        break;
                    }
                }
                assert!(out.len() >= 4, "a header block has a count");
            }
            3 => {
                let (id, status) = (word(0), word(4));
                if let Some(events) = shared.streams.lock().unwrap().remove(&id) {
                    let _ = events.send(Event::Reset(status));
                }
            }
            6 => {}
            7 => *goaway.lock().unwrap() = Some(word(4)),
            9 => {
                let (id, delta) = (word(0), i64::from(word(4)));
                let mut flow = shared.flow.lock().unwrap();
                if id == 0 {
                    flow.session_send += delta;
                } else if let Some(window) = flow.send.get_mut(&id) {
                    *window += delta;
                }
                drop(flow);
                shared.changed.notify_waiters();
            }
            _ => {}
        }
    }
    shared.streams.lock().unwrap().clear();
}

fn on_data(shared: &Shared, id: u32, fin: bool, data: Vec<u8>) {
    let len = data.len() as i64;
    let mut acks = Vec::new();
    {
        let mut flow = shared.flow.lock().unwrap();
        let received = flow.received.entry(id).or_insert(0);
        *received += len;
        let stream_total = *received;
        flow.session_received += len;
        if stream_total > WINDOW || flow.session_received > WINDOW {
            let session = flow.session_received;
            flow.violation.get_or_insert(format!(
                "server sent {stream_total} unacknowledged bytes on stream {id} ({session} on the session)"
            ));
        }
        if stream_total >= ACK_AFTER {
            acks.push((id, stream_total));
            flow.received.insert(id, 0);
        }
        if flow.session_received >= ACK_AFTER {
            acks.push((0, flow.session_received));
            flow.session_received = 0;
        }
    }
    for (stream, delta) in acks {
        shared.window_update(stream, delta as u32);
    }
    let mut streams = shared.streams.lock().unwrap();
    if let Some(events) = streams.get(&id) {
        if !data.is_empty() {
            let _ = events.send(Event::Data(data));
        }
        if fin {
            let _ = events.send(Event::Fin);
            streams.remove(&id);
        }
    }
}
