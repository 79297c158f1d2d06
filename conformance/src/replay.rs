//! Replaying a trace against a CRI endpoint: calls in file order, symbols bound from the
//! answers, matchers evaluated, world actions run through an optional [`World`] hook,
//! server streams read message by message, log files checked.

use crate::client::CriClient;
use crate::diff::Divergence;
use crate::format::{
    Action, CANCELLED, Call, ErrorExpect, FileCheck, Item, StreamEnd, StreamMsg, Trace,
};
use crate::matchers::{self, Mismatch};
use crate::methods::{self, Method};
use crate::normalise::normalise;
use crate::symbols::{self, Symbols};
use bytes::Bytes;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;
use tonic::Status;
use tonic::codec::Streaming;

/// Why a world action was not carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorldError {
    /// This world cannot do that; the action is reported as skipped.
    #[error("not supported by this world")]
    Unsupported,
    /// The action failed; reported as a divergence.
    #[error("{0}")]
    Failed(String),
}

/// The world behind the endpoint, for scripted events (the simulated node implements it;
/// a plain endpoint has none, and its actions other than `sleep` are skipped).
pub trait World: Send {
    /// Moves the runtime's clock forward by `by` (and runs whatever is due).
    fn advance(&mut self, by: Duration) -> Result<(), WorldError>;

    /// Makes the process of `container_id` exit with `exit_code` (`reason` e.g. `OOMKilled`).
    fn exit(
        &mut self,
        _container_id: &str,
        _exit_code: i32,
        _reason: Option<&str>,
    ) -> Result<(), WorldError> {
        Err(WorldError::Unsupported)
    }

    /// Makes `container_id` write `text` to `stream`.
    fn write_log(
        &mut self,
        _container_id: &str,
        _stream: &str,
        _text: &str,
    ) -> Result<(), WorldError> {
        Err(WorldError::Unsupported)
    }

    /// Any other verb (`kill_sandbox_network`, `restart_runtime`, `registry_fail`).
    fn other(&mut self, _action: &Action) -> Result<(), WorldError> {
        Err(WorldError::Unsupported)
    }
}

/// A line that was not carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Trace line.
    pub line: usize,
    /// What it was.
    pub what: String,
    /// Why it was skipped.
    pub why: String,
}

/// Knobs of a replay.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// How long to wait for a stream message or end, and for a unary answer.
    pub timeout: Duration,
    /// The value of `$LOG_ROOT` (a fresh directory under the system temp dir when `None`).
    pub log_root: Option<PathBuf>,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            timeout: Duration::from_secs(30),
            log_root: None,
        }
    }
}

/// What a replay found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Every divergence, tolerated ones included.
    pub divergences: Vec<Divergence>,
    /// Lines not carried out.
    pub skipped: Vec<Skipped>,
    /// One normalised outcome per call, stream line and file check (for snapshots).
    pub outcomes: Vec<Value>,
    /// The symbols bound by the end.
    pub symbols: Symbols,
}

impl Report {
    /// Whether every divergence is tolerated.
    pub fn conforms(&self) -> bool {
        self.failures().next().is_none()
    }

    /// The divergences that count.
    pub fn failures(&self) -> impl Iterator<Item = &Divergence> {
        self.divergences.iter().filter(|d| d.tolerated.is_none())
    }

    /// A readable account, naming `name` (the trace file).
    pub fn render(&self, name: &str) -> String {
        let failures = self.failures().count();
        let mut out = String::new();
        if failures == 0 {
            let _ = writeln!(
                out,
                "{name}: conforms ({} lines checked)",
                self.outcomes.len()
            );
        } else {
            let _ = writeln!(out, "{name}: {failures} divergence(s)");
        }
        for d in &self.divergences {
            let _ = write!(out, "{name}:{d}");
        }
        for s in &self.skipped {
            let _ = writeln!(out, "{name}:line {} {}: skipped: {}", s.line, s.what, s.why);
        }
        out
    }
}

/// Replays traces against one endpoint.
pub struct Replayer {
    client: CriClient,
    world: Option<Box<dyn World>>,
    options: ReplayOptions,
}

/// The state of one run.
struct Run<'r> {
    replayer: &'r mut Replayer,
    report: Report,
    streams: HashMap<u64, (&'static Method, Streaming<Bytes>)>,
}

impl Replayer {
    /// A replayer over `client`, without a world.
    pub fn new(client: CriClient) -> Replayer {
        Replayer {
            client,
            world: None,
            options: ReplayOptions::default(),
        }
    }

    /// The same replayer, running actions through `world`.
    pub fn with_world(mut self, world: Box<dyn World>) -> Replayer {
        self.world = Some(world);
        self
    }

    /// The same replayer, with `options`.
    pub fn with_options(mut self, options: ReplayOptions) -> Replayer {
        self.options = options;
        self
    }

    /// Replays `trace`, line by line, in file order.
    pub async fn run(&mut self, trace: &Trace) -> Report {
        let log_root = self.options.log_root.clone().unwrap_or_else(fresh_log_root);
        let mut run = Run {
            replayer: self,
            report: Report::default(),
            streams: HashMap::new(),
        };
        if let Err(e) = std::fs::create_dir_all(&log_root) {
            run.report.divergences.push(Divergence::other(
                0,
                "$LOG_ROOT",
                format!("cannot create {}: {e}", log_root.display()),
            ));
        }
        run.report
            .symbols
            .bind("LOG_ROOT", log_root.to_string_lossy());
        for entry in &trace.entries {
            match &entry.item {
                Item::Call(call) => run.call(entry.line, call).await,
                Item::Action(action) => run.action(entry.line, action).await,
                Item::StreamMsg(msg) => run.stream_msg(entry.line, msg).await,
                Item::StreamEnd(end) => run.stream_end(entry.line, end).await,
                Item::File(file) => run.file(entry.line, file),
            }
        }
        run.report
    }
}

fn fresh_log_root() -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    std::env::temp_dir().join(format!("crius-replay-{}-{nanos}", std::process::id()))
}

/// A unary answer as JSON, or the failure.
type Answer = Result<Value, Status>;

impl Run<'_> {
    fn diverge(
        &mut self,
        line: usize,
        what: &str,
        mismatches: Vec<Mismatch>,
        tolerated: Option<String>,
    ) {
        for m in mismatches {
            let mut d = Divergence::from_mismatch(line, what, m);
            d.tolerated = tolerated.clone();
            self.report.divergences.push(d);
        }
    }

    fn outcome(&mut self, line: usize, what: &str, answer: &Answer) {
        let (status, body) = match answer {
            Ok(v) => ("OK", normalise(v, &self.report.symbols)),
            Err(s) => (
                methods::code_name(s.code()),
                normalise(&json!(s.message()), &self.report.symbols),
            ),
        };
        self.report
            .outcomes
            .push(json!({"line": line, "what": what, "status": status, "body": body}));
    }

    async fn call(&mut self, line: usize, call: &Call) {
        let method = methods::by_name(&call.method).expect("the parser checked the method");
        let request = match self.report.symbols.substitute(&call.request) {
            Ok(r) => r,
            Err(e) => {
                return self.report.divergences.push(Divergence::other(
                    line,
                    method.name,
                    format!("cannot send: {e}"),
                ));
            }
        };
        let bytes = match method.encode_request(&request) {
            Ok(b) => b,
            Err(e) => {
                return self.report.divergences.push(Divergence::other(
                    line,
                    method.name,
                    format!("cannot encode: {e}"),
                ));
            }
        };
        let timeout = self.replayer.options.timeout;
        let client = &mut self.replayer.client;
        let answer: Answer = if method.streaming {
            match tokio::time::timeout(timeout, client.server_streaming(method, bytes)).await {
                Ok(Ok(stream)) => {
                    self.streams.insert(call.seq, (method, stream));
                    Ok(json!({}))
                }
                Ok(Err(status)) => Err(status),
                Err(_) => Err(Status::deadline_exceeded(format!(
                    "no answer within {timeout:?} (replayer timeout)"
                ))),
            }
        } else {
            match tokio::time::timeout(timeout, client.unary(method, bytes)).await {
                Ok(Ok(b)) => method
                    .decode_response(&b)
                    .map_err(|e| Status::internal(format!("undecodable response: {e}"))),
                Ok(Err(status)) => Err(status),
                Err(_) => Err(Status::deadline_exceeded(format!(
                    "no answer within {timeout:?} (replayer timeout)"
                ))),
            }
        };
        if !method.streaming && call.error.as_ref().is_some_and(|e| e.code == CANCELLED) {
            // The recorded client gave up before the runtime answered: any answer is one the
            // recording allows.
            self.report.skipped.push(Skipped {
                line,
                what: method.name.into(),
                why: "the recorded client cancelled this call: any answer is accepted".into(),
            });
            return self.outcome(line, method.name, &answer);
        }
        self.bind(line, method.name, call, &request, &answer);
        let mut symbols = self.report.symbols.clone();
        let mismatches = expect(
            call.response.as_ref(),
            call.error.as_ref(),
            &answer,
            &mut symbols,
        );
        if mismatches.is_empty() {
            self.report.symbols = symbols;
        } else if let Some(deviation) = &call.deviation {
            let mut alt = self.report.symbols.clone();
            let has_alt = deviation.response.is_some() || deviation.error.is_some();
            let alt_mismatches = expect(
                deviation.response.as_ref(),
                deviation.error.as_ref(),
                &answer,
                &mut alt,
            );
            if has_alt && alt_mismatches.is_empty() {
                self.report.symbols = alt;
                self.report.skipped.push(Skipped {
                    line,
                    what: method.name.into(),
                    why: format!("answered as the deviation says: {}", deviation.reason),
                });
            } else if has_alt {
                self.diverge(line, method.name, alt_mismatches, None);
            } else {
                self.report.symbols = symbols;
                self.diverge(
                    line,
                    method.name,
                    mismatches,
                    Some(format!("deviation: {}", deviation.reason)),
                );
            }
        } else {
            self.report.symbols = symbols;
            let tolerated = call.ambient.then(|| "ambient call".to_string());
            self.diverge(line, method.name, mismatches, tolerated);
        }
        self.outcome(line, method.name, &answer);
    }

    fn bind(&mut self, line: usize, what: &str, call: &Call, request: &Value, answer: &Answer) {
        for (name, path) in &call.bind {
            let root = match (path.split('.').next(), answer) {
                (Some("request"), _) => Some(request),
                (_, Ok(response)) => Some(response),
                (_, Err(_)) => None,
            };
            match root
                .and_then(|r| symbols::resolve(r, path))
                .and_then(symbols::as_symbol_value)
            {
                Some(value) => self.report.symbols.bind(name, value),
                None => self.report.divergences.push(Divergence::other(
                    line,
                    what,
                    format!("cannot bind {name}: nothing at {path}"),
                )),
            }
        }
    }

    async fn action(&mut self, line: usize, action: &Action) {
        let what = format!("action {}", action.verb);
        let container = match action
            .container
            .as_deref()
            .map(|c| self.report.symbols.substitute_str(c, str::to_string))
        {
            Some(Err(e)) => {
                return self
                    .report
                    .divergences
                    .push(Divergence::other(line, &what, e.to_string()));
            }
            Some(Ok(c)) => c,
            None => String::new(),
        };
        let seconds = Duration::from_secs_f64(action.seconds.unwrap_or(0.0));
        if action.verb == "sleep" {
            tokio::time::sleep(seconds).await;
            return;
        }
        let Some(world) = self.replayer.world.as_mut() else {
            return self.report.skipped.push(Skipped {
                line,
                what,
                why: "no world hook over a plain endpoint".into(),
            });
        };
        let done = match action.verb.as_str() {
            "advance_clock" => world.advance(seconds),
            "exit" => world.exit(
                &container,
                action.exit_code.unwrap_or(0),
                action.reason.as_deref(),
            ),
            "write_log" => world.write_log(
                &container,
                action.stream.as_deref().unwrap_or("stdout"),
                action.text.as_deref().unwrap_or(""),
            ),
            _ => world.other(action),
        };
        // Let the runtime's background tasks (exit watchers, event streams) catch up.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        match done {
            Ok(()) => {}
            Err(WorldError::Unsupported) => self.report.skipped.push(Skipped {
                line,
                what,
                why: "not supported by this world".into(),
            }),
            Err(WorldError::Failed(why)) => self
                .report
                .divergences
                .push(Divergence::other(line, &what, why)),
        }
    }

    async fn stream_msg(&mut self, line: usize, msg: &StreamMsg) {
        let timeout = self.replayer.options.timeout;
        let Some((method, stream)) = self.streams.get_mut(&msg.of) else {
            return self.report.skipped.push(Skipped {
                line,
                what: "stream_msg".into(),
                why: format!("the stream of call {} is not open", msg.of),
            });
        };
        let what = format!("stream_msg of {}", method.name);
        let answer: Answer = match tokio::time::timeout(timeout, stream.message()).await {
            Ok(Ok(Some(bytes))) => method.decode_response(&bytes).map_err(Status::internal),
            Ok(Ok(None)) => Err(Status::ok("the stream ended")),
            Ok(Err(status)) => Err(status),
            Err(_) => Err(Status::deadline_exceeded(format!(
                "no message within {timeout:?}"
            ))),
        };
        let mut symbols = self.report.symbols.clone();
        let mismatches = expect(Some(&msg.msg), None, &answer, &mut symbols);
        self.report.symbols = symbols;
        self.diverge(line, &what, mismatches, None);
        self.outcome(line, &what, &answer);
    }

    async fn stream_end(&mut self, line: usize, end: &StreamEnd) {
        let timeout = self.replayer.options.timeout;
        let Some((method, mut stream)) = self.streams.remove(&end.of) else {
            return self.report.skipped.push(Skipped {
                line,
                what: "stream_end".into(),
                why: format!("the stream of call {} is not open", end.of),
            });
        };
        let what = format!("stream_end of {}", method.name);
        if end.status == "Cancelled" {
            return; // The client hung up: dropping the stream does the same.
        }
        let got = match tokio::time::timeout(timeout, stream.message()).await {
            Ok(Ok(None)) => "OK".to_string(),
            Ok(Err(status)) => methods::code_name(status.code()).to_string(),
            Ok(Ok(Some(bytes))) => format!(
                "another message: {}",
                method.decode_response(&bytes).unwrap_or_default()
            ),
            Err(_) => format!("still open after {timeout:?}"),
        };
        if got != end.status {
            self.report.divergences.push(Divergence {
                line,
                what: what.clone(),
                path: "status".into(),
                expected: json!(end.status),
                got: Some(json!(got)),
                why: "the stream ended differently".into(),
                tolerated: None,
            });
        }
        self.report
            .outcomes
            .push(json!({"line": line, "what": what, "status": got}));
    }

    fn file(&mut self, line: usize, file: &FileCheck) {
        let path = match self
            .report
            .symbols
            .substitute_str(&file.path, str::to_string)
        {
            Ok(p) => p,
            Err(e) => {
                return self.report.divergences.push(Divergence::other(
                    line,
                    "file",
                    e.to_string(),
                ));
            }
        };
        let text = std::fs::read_to_string(&path);
        let exists = text.is_ok();
        let mut mismatches = Vec::new();
        if exists != file.exists.unwrap_or(true) {
            mismatches.push(Mismatch {
                path: path.clone(),
                expected: json!({"exists": file.exists.unwrap_or(true)}),
                got: Some(json!({"exists": exists})),
                why: "the file's existence differs".into(),
            });
        }
        let lines: Vec<Value> = text
            .as_deref()
            .unwrap_or("")
            .lines()
            .map(|l| json!(l))
            .collect();
        if let (Some(expected), true) = (&file.expect_lines, exists) {
            let mut symbols = self.report.symbols.clone();
            matchers::compare(
                expected,
                Some(&json!(lines)),
                &mut symbols,
                "lines",
                &mut mismatches,
            );
            self.report.symbols = symbols;
        }
        self.diverge(line, &format!("file {path}"), mismatches, None);
        let answer = Ok(json!({"exists": exists, "lines": lines}));
        self.outcome(line, "file", &answer);
    }
}

/// Compares an answer with the expected response or error.
fn expect(
    response: Option<&Value>,
    error: Option<&ErrorExpect>,
    answer: &Answer,
    symbols: &mut Symbols,
) -> Vec<Mismatch> {
    let mut out = Vec::new();
    match (response, error, answer) {
        (Some(expected), _, Ok(got)) => {
            matchers::compare(expected, Some(got), symbols, "response", &mut out)
        }
        (None, None, Ok(_)) => {}
        (_, None, Err(status)) => out.push(Mismatch {
            path: "status".into(),
            expected: json!("OK"),
            got: Some(
                json!({"code": methods::code_name(status.code()), "message": status.message()}),
            ),
            why: "the call failed".into(),
        }),
        (_, Some(expected), Ok(got)) => out.push(Mismatch {
            path: "status".into(),
            expected: json!({"code": expected.code}),
            got: Some(json!({"code": "OK", "response": got})),
            why: "the call succeeded".into(),
        }),
        (_, Some(expected), Err(status)) => {
            let code = methods::code_name(status.code());
            if code != expected.code {
                out.push(Mismatch {
                    path: "error.code".into(),
                    expected: json!(expected.code),
                    got: Some(json!({"code": code, "message": status.message()})),
                    why: "different gRPC code".into(),
                });
            } else if let Some(message) = &expected.message {
                matchers::compare(
                    message,
                    Some(&json!(status.message())),
                    symbols,
                    "error.message",
                    &mut out,
                );
            }
        }
    }
    out
}
