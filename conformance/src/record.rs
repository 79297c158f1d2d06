//! Recording: a transparent CRI proxy that forwards every call of both services (server
//! streams included) to an upstream runtime and writes the traffic as a trace.
//!
//! Values the runtime chooses are bound to symbols on first sight: sandbox ids (`$SB<n>`),
//! container ids (`$CTR_<name>_<attempt>`), image ids and references (`$IMG<n>`), other ids
//! (`$ID<n>`), addresses (`$IP<n>`) and streaming URLs (`$URL<n>`). Later requests and
//! answers name them by symbol; timestamps, sizes and usage compare by type
//! ([`crate::normalise`]).

use crate::client::{CriClient, MAX_MESSAGE_BYTES};
use crate::codec::RawCodec;
use crate::format::{Call, ErrorExpect, Header, Item, RuntimeId, Source, StreamEnd, StreamMsg};
use crate::methods::{self, Method};
use crate::normalise::{normalise, symbolise};
use crate::symbols::Symbols;
use bytes::Bytes;
use futures::Stream;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::future::Future;
use std::io::Write;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;
use tonic::Status;
use tonic::codec::Streaming;

/// Why recording stopped.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The listening socket could not be set up.
    #[error("cannot listen on {}: {source}", .path.display())]
    Listen {
        /// The socket path.
        path: std::path::PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The trace could not be written.
    #[error("cannot write the trace: {0}")]
    Write(#[from] std::io::Error),
    /// The gRPC server failed.
    #[error("proxy server failed: {0}")]
    Transport(String),
}

/// Response keys whose string values the recorder binds to symbols, with the name prefix.
const BOUND_KEYS: [(&str, &str); 7] = [
    ("podSandboxId", "SB"),
    ("containerId", "CTR"),
    ("imageRef", "IMG"),
    ("imageId", "IMG"),
    ("id", "ID"),
    ("ip", "IP"),
    ("url", "URL"),
];

/// Writes trace lines as traffic passes, binding symbols.
pub struct TraceWriter {
    out: Box<dyn Write + Send>,
    started: Instant,
    seq: u64,
    symbols: Symbols,
    /// value → symbol name.
    known: HashMap<String, String>,
    counters: HashMap<&'static str, u64>,
    /// Unary calls forwarded but not answered yet.
    in_flight: usize,
    /// Stream lines held back while calls are in flight, so that an event caused by a call
    /// follows that call's line (and binds symbols in file order).
    held: Vec<Held>,
}

/// A stream line waiting for in-flight calls to finish.
enum Held {
    Msg(u64, &'static Method, Value),
    End(u64, String),
}

impl TraceWriter {
    /// Starts a trace on `out` with `header`.
    pub fn new(mut out: Box<dyn Write + Send>, header: &Header) -> std::io::Result<TraceWriter> {
        writeln!(
            out,
            "{}",
            serde_json::to_string(header).expect("headers serialise")
        )?;
        out.flush()?;
        Ok(TraceWriter {
            out,
            started: Instant::now(),
            seq: 0,
            symbols: Symbols::new(),
            known: HashMap::new(),
            counters: HashMap::new(),
            in_flight: 0,
            held: Vec::new(),
        })
    }

    /// The header a recording of `runtime` for Kubernetes `k8s` starts with.
    pub fn header(k8s: &str, runtime: RuntimeId) -> Header {
        Header {
            kind: "header".into(),
            format: crate::format::FORMAT_VERSION,
            k8s: k8s.into(),
            cri_api: None,
            source: Source::Recorded,
            recorder: format!("crius-record {}", env!("CARGO_PKG_VERSION")),
            runtime,
            gates: BTreeMap::new(),
            clock: Some("wall".into()),
            notes: None,
            fault_plan: None,
        }
    }

    fn write(&mut self, item: &Item) {
        // A recorder that cannot write keeps forwarding: the traffic matters more.
        let _ = writeln!(self.out, "{}", item.to_json_line()).and_then(|_| self.out.flush());
    }

    fn fresh(&mut self, prefix: &'static str) -> String {
        let n = self.counters.entry(prefix).or_insert(0);
        *n += 1;
        format!("{prefix}{n}")
    }

    /// Binds every not-yet-known runtime-chosen value in `answer`.
    fn learn(&mut self, method: &Method, request: &Value, answer: &Value) {
        if let (Some(id), "CreateContainer") = (
            answer.get("containerId").and_then(Value::as_str),
            method.name,
        ) {
            let meta = request.pointer("/config/metadata");
            let name = meta
                .and_then(|m| m.get("name"))
                .and_then(Value::as_str)
                .unwrap_or("x");
            let attempt = meta
                .and_then(|m| m.get("attempt"))
                .and_then(Value::as_u64)
                .unwrap_or(0);
            let clean: String = name
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            let mut symbol = format!("CTR_{clean}_{attempt}");
            if self.symbols.get(&symbol).is_some() {
                symbol = self.fresh("CTR");
            }
            self.remember(&symbol, id);
        }
        self.walk(answer);
    }

    fn walk(&mut self, value: &Value) {
        match value {
            Value::Object(map) => {
                for (key, v) in map {
                    match (BOUND_KEYS.iter().find(|(k, _)| k == key), v) {
                        (Some((_, prefix)), Value::String(s))
                            if !s.is_empty() && !self.known.contains_key(s) =>
                        {
                            let name = self.fresh(prefix);
                            self.remember(&name, s);
                        }
                        _ => self.walk(v),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| self.walk(v)),
            _ => {}
        }
    }

    fn remember(&mut self, name: &str, value: &str) {
        self.known.insert(value.to_string(), name.to_string());
        self.symbols.bind(name, value);
    }

    /// Expected-answer form of `answer`, first sights written as `"$NAME"` (bound there).
    fn expectation(&mut self, method: &Method, request: &Value, answer: &Value) -> Value {
        self.learn(method, request, answer);
        normalise(answer, &self.symbols)
    }

    /// Notes that a unary call is being forwarded (its line comes with [`TraceWriter::call`]).
    pub fn begin(&mut self) {
        self.in_flight += 1;
    }

    /// Writes a finished call (ending a [`TraceWriter::begin`] for unary calls); returns its
    /// seq.
    pub fn call(
        &mut self,
        method: &Method,
        request: &Value,
        answer: &Result<Value, Status>,
        t: f64,
        dur: f64,
    ) -> u64 {
        let seq = self.write_call(method, request, answer, t, dur);
        if !method.streaming {
            self.in_flight = self.in_flight.saturating_sub(1);
        }
        if self.in_flight == 0 {
            for held in std::mem::take(&mut self.held) {
                match held {
                    Held::Msg(of, method, msg) => self.write_stream_msg(of, method, &msg),
                    Held::End(of, status) => self.write_stream_end(of, &status),
                }
            }
        }
        seq
    }

    fn write_call(
        &mut self,
        method: &Method,
        request: &Value,
        answer: &Result<Value, Status>,
        t: f64,
        dur: f64,
    ) -> u64 {
        self.seq += 1;
        let request_out = symbolise(request, &self.symbols);
        let (response, error) = match answer {
            Ok(_) if method.streaming => (None, None),
            Ok(v) => (Some(self.expectation(method, request, v)), None),
            Err(status) => (
                None,
                Some(ErrorExpect {
                    code: methods::code_name(status.code()).into(),
                    message: Some(symbolise(&json!(status.message()), &self.symbols)),
                }),
            ),
        };
        let call = Call {
            kind: "call".into(),
            seq: self.seq,
            t: Some(round(t)),
            svc: method.service.name().into(),
            method: method.name.into(),
            request: request_out,
            response,
            error,
            dur: Some(round(dur)),
            bind: BTreeMap::new(),
            ambient: false,
            order: None,
            group: None,
            note: None,
            deviation: None,
        };
        self.write(&Item::Call(call));
        self.seq
    }

    /// Writes one message of the stream of call `of` (held back while calls are in flight).
    pub fn stream_msg(&mut self, of: u64, method: &'static Method, msg: &Value) {
        if self.in_flight > 0 {
            self.held.push(Held::Msg(of, method, msg.clone()));
        } else {
            self.write_stream_msg(of, method, msg);
        }
    }

    fn write_stream_msg(&mut self, of: u64, method: &Method, msg: &Value) {
        let msg = self.expectation(method, &Value::Null, msg);
        self.write(&Item::StreamMsg(StreamMsg {
            kind: "stream_msg".into(),
            of,
            msg,
        }));
    }

    /// Writes the end of the stream of call `of` (held back while calls are in flight).
    pub fn stream_end(&mut self, of: u64, status: &str) {
        if self.in_flight > 0 {
            self.held.push(Held::End(of, status.to_string()));
        } else {
            self.write_stream_end(of, status);
        }
    }

    fn write_stream_end(&mut self, of: u64, status: &str) {
        self.write(&Item::StreamEnd(StreamEnd {
            kind: "stream_end".into(),
            of,
            status: status.into(),
        }));
    }

    fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}

fn round(seconds: f64) -> f64 {
    (seconds * 1e6).round() / 1e6
}

/// The proxy's shared state.
#[derive(Clone)]
struct Proxy {
    upstream: CriClient,
    writer: Arc<Mutex<TraceWriter>>,
}

impl Proxy {
    fn writer(&self) -> std::sync::MutexGuard<'_, TraceWriter> {
        self.writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn handle(
        self,
        req: http::Request<tonic::body::Body>,
    ) -> http::Response<tonic::body::Body> {
        let Some(method) = methods::by_path(req.uri().path()) else {
            return Status::unimplemented(format!("unknown method {}", req.uri().path()))
                .into_http();
        };
        let mut grpc = tonic::server::Grpc::new(RawCodec)
            .apply_max_message_size_config(Some(MAX_MESSAGE_BYTES), Some(MAX_MESSAGE_BYTES));
        let handler = Handler {
            proxy: self,
            method,
        };
        if method.streaming {
            grpc.server_streaming(handler, req).await
        } else {
            grpc.unary(handler, req).await
        }
    }
}

/// Forwards one call.
struct Handler {
    proxy: Proxy,
    method: &'static Method,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = Result<T, Status>> + Send>>;

impl tonic::server::UnaryService<Bytes> for Handler {
    type Response = Bytes;
    type Future = BoxFuture<tonic::Response<Bytes>>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let (proxy, method) = (self.proxy.clone(), self.method);
        Box::pin(async move {
            let bytes = request.into_inner();
            let mut pending = PendingCall::begin(&proxy, method, &bytes);
            let result = proxy.upstream.clone().unary(method, bytes).await;
            let answer = match &result {
                Ok(b) => method.decode_response(b).map_err(Status::internal),
                Err(status) => Err(status.clone()),
            };
            pending.record(&answer);
            result.map(tonic::Response::new)
        })
    }
}

/// A unary call forwarded upstream and not answered yet. Dropped unfinished (the client
/// cancelled, so the handler's future was dropped), it writes the call with the code
/// [`crate::format::CANCELLED`], so the in-flight count stays true and held stream lines are released.
struct PendingCall {
    writer: Arc<Mutex<TraceWriter>>,
    method: &'static Method,
    request: Value,
    t: f64,
    started: Instant,
    finished: bool,
}

impl PendingCall {
    fn begin(proxy: &Proxy, method: &'static Method, bytes: &Bytes) -> PendingCall {
        let t = {
            let mut writer = proxy.writer();
            writer.begin();
            writer.elapsed()
        };
        PendingCall {
            writer: proxy.writer.clone(),
            method,
            request: method
                .decode_request(bytes)
                .unwrap_or_else(|e| json!({ "undecodable": e })),
            t,
            started: Instant::now(),
            finished: false,
        }
    }

    fn record(&mut self, answer: &Result<Value, Status>) {
        self.finished = true;
        let dur = self.started.elapsed().as_secs_f64();
        self.writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .call(self.method, &self.request, answer, self.t, dur);
    }
}

impl Drop for PendingCall {
    fn drop(&mut self) {
        if !self.finished {
            self.record(&Err(Status::cancelled(
                "the client cancelled the call before the runtime answered",
            )));
        }
    }
}

impl tonic::server::ServerStreamingService<Bytes> for Handler {
    type Response = Bytes;
    type ResponseStream = RecordingStream;
    type Future = BoxFuture<tonic::Response<RecordingStream>>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let (proxy, method) = (self.proxy.clone(), self.method);
        Box::pin(async move {
            let bytes = request.into_inner();
            let t = proxy.writer().elapsed();
            let started = Instant::now();
            let result = proxy
                .upstream
                .clone()
                .server_streaming(method, bytes.clone())
                .await;
            let dur = started.elapsed().as_secs_f64();
            let request_json = method
                .decode_request(&bytes)
                .unwrap_or_else(|e| json!({ "undecodable": e }));
            let answer = result.as_ref().map(|_| json!({})).map_err(Clone::clone);
            let seq = proxy.writer().call(method, &request_json, &answer, t, dur);
            let inner = result?;
            Ok(tonic::Response::new(RecordingStream {
                inner,
                seq,
                method,
                writer: proxy.writer.clone(),
                ended: false,
            }))
        })
    }
}

/// An upstream server stream that records each message as it passes.
pub struct RecordingStream {
    inner: Streaming<Bytes>,
    seq: u64,
    method: &'static Method,
    writer: Arc<Mutex<TraceWriter>>,
    ended: bool,
}

impl RecordingStream {
    fn writer(&self) -> std::sync::MutexGuard<'_, TraceWriter> {
        self.writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Stream for RecordingStream {
    type Item = Result<Bytes, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = Pin::new(&mut self.inner).poll_next(cx);
        match &polled {
            Poll::Ready(Some(Ok(bytes))) => {
                let msg = self
                    .method
                    .decode_response(bytes)
                    .unwrap_or_else(|e| json!({ "undecodable": e }));
                let (seq, method) = (self.seq, self.method);
                self.writer().stream_msg(seq, method, &msg);
            }
            Poll::Ready(Some(Err(status))) => {
                let seq = self.seq;
                self.writer()
                    .stream_end(seq, methods::code_name(status.code()));
                self.ended = true;
            }
            Poll::Ready(None) if !self.ended => {
                let seq = self.seq;
                self.writer().stream_end(seq, "OK");
                self.ended = true;
            }
            _ => {}
        }
        polled
    }
}

impl Drop for RecordingStream {
    fn drop(&mut self) {
        if !self.ended {
            let seq = self.seq;
            self.writer().stream_end(seq, "Cancelled");
        }
    }
}

macro_rules! named_proxy {
    ($ty:ident, $name:literal) => {
        /// The proxy as one gRPC service, for tonic's router.
        #[derive(Clone)]
        struct $ty(Proxy);

        impl tonic::server::NamedService for $ty {
            const NAME: &'static str = $name;
        }

        impl tower::Service<http::Request<tonic::body::Body>> for $ty {
            type Response = http::Response<tonic::body::Body>;
            type Error = Infallible;
            type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

            fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
                Poll::Ready(Ok(()))
            }

            fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
                let proxy = self.0.clone();
                Box::pin(async move { Ok(proxy.handle(req).await) })
            }
        }
    };
}

named_proxy!(RuntimeProxy, "runtime.v1.RuntimeService");
named_proxy!(ImageProxy, "runtime.v1.ImageService");

/// Asks `upstream` who it is, for the header.
pub async fn identify(upstream: &CriClient) -> RuntimeId {
    let method = methods::by_name("Version").expect("Version is a CRI method");
    let request = method
        .encode_request(&json!({}))
        .expect("an empty request encodes");
    let answer = upstream
        .clone()
        .unary(method, request)
        .await
        .ok()
        .and_then(|b| method.decode_response(&b).ok());
    let field = |name: &str| {
        answer
            .as_ref()
            .and_then(|a| a.get(name))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    RuntimeId {
        name: field("runtimeName"),
        version: field("runtimeVersion"),
    }
}

/// Serves the recording proxy on the unix socket `listen` until `shutdown` completes,
/// forwarding to `upstream` and writing the trace with `writer`. An existing file at
/// `listen` is replaced.
pub async fn serve(
    listen: &Path,
    upstream: CriClient,
    writer: TraceWriter,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), RecordError> {
    let listen_err = |source| RecordError::Listen {
        path: listen.to_path_buf(),
        source,
    };
    if listen.exists() {
        std::fs::remove_file(listen).map_err(listen_err)?;
    }
    let listener = tokio::net::UnixListener::bind(listen).map_err(listen_err)?;
    let proxy = Proxy {
        upstream,
        writer: Arc::new(Mutex::new(writer)),
    };
    let served = tonic::transport::Server::builder()
        .add_service(RuntimeProxy(proxy.clone()))
        .add_service(ImageProxy(proxy))
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::UnixListenerStream::new(listener),
            shutdown,
        )
        .await
        .map_err(|e| RecordError::Transport(e.to_string()));
    let _ = std::fs::remove_file(listen);
    served
}
