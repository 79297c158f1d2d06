//! Reading a trace: JSON per line, then the checks that make replay well defined. Every
//! error names its 1-based line; no input makes the parser panic.

use crate::format::{
    ACTION_VERBS, Action, Call, Entry, ErrorExpect, FORMAT_VERSION, FileCheck, Header, Item,
    PREDEFINED_SYMBOLS, StreamEnd, StreamMsg, Trace,
};
use crate::matchers;
use crate::methods::{self, Method};
use crate::symbols;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// A trace that cannot be read, at `line`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub kind: ParseErrorKind,
}

/// What is wrong with a line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParseErrorKind {
    /// Not a JSON object.
    #[error("bad JSON: {0}")]
    Json(String),
    /// The first line is not a header.
    #[error("the first line must be the header (kind \"header\")")]
    MissingHeader,
    /// A second header.
    #[error("only the first line may be a header")]
    DuplicateHeader,
    /// An unknown `kind`.
    #[error("unknown kind {0:?} (expected header, call, action, stream_msg, stream_end or file)")]
    UnknownKind(String),
    /// A field is missing, unknown or of the wrong type.
    #[error("bad {kind} line: {message}")]
    Shape {
        /// The line's kind.
        kind: String,
        /// What serde said.
        message: String,
    },
    /// A header field with a bad value.
    #[error("bad header: {0}")]
    Header(String),
    /// Not one of the 41 CRI methods.
    #[error("unknown CRI method {0:?}")]
    UnknownMethod(String),
    /// `svc` does not own `method`.
    #[error("{method} belongs to {expected}, not {found}")]
    WrongService {
        /// The method.
        method: String,
        /// Its service.
        expected: &'static str,
        /// The service written.
        found: String,
    },
    /// `seq` not unique and increasing.
    #[error("seq {seq} does not follow {previous}")]
    Sequence {
        /// This seq.
        seq: u64,
        /// The previous one.
        previous: u64,
    },
    /// A symbol used before it is bound.
    #[error("symbol ${0} used before it is bound")]
    Unbound(String),
    /// A bind entry that is malformed or rebinds a symbol.
    #[error("bad bind: {0}")]
    Bind(String),
    /// A malformed matcher.
    #[error("{0}")]
    Matcher(String),
    /// The request does not decode as the method's request message.
    #[error("request is not a valid {method} request: {message}")]
    Request {
        /// The method.
        method: String,
        /// What the decoder said.
        message: String,
    },
    /// Response and error are contradictory or missing.
    #[error("{0}")]
    Expectation(String),
    /// A stream line about a call that is not an open stream.
    #[error("{0}")]
    Stream(String),
    /// An action with a bad verb or fields.
    #[error("{0}")]
    Action(String),
}

/// A trace file that cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file cannot be read.
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// The file does not parse.
    #[error("{}:{}", .path.display(), .error)]
    Parse {
        /// The file.
        path: PathBuf,
        /// The error with its line.
        error: ParseError,
    },
}

/// Reads and parses the trace at `path`.
pub fn load(path: &Path) -> Result<Trace, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text).map_err(|error| LoadError::Parse {
        path: path.to_path_buf(),
        error,
    })
}

/// What the checks remember between lines.
#[derive(Default)]
struct State {
    bound: HashSet<String>,
    last_seq: Option<u64>,
    /// seq → (method, stream still open).
    calls: HashMap<u64, (&'static Method, bool)>,
}

/// Parses and checks a whole trace.
pub fn parse(text: &str) -> Result<Trace, ParseError> {
    let mut header: Option<Header> = None;
    let mut entries = Vec::new();
    let mut state = State::default();
    state
        .bound
        .extend(PREDEFINED_SYMBOLS.iter().map(|s| s.to_string()));
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let err = |kind| ParseError { line, kind };
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let value: Value =
            serde_json::from_str(trimmed).map_err(|e| err(ParseErrorKind::Json(e.to_string())))?;
        let kind = value
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if !value.is_object() {
            return Err(err(ParseErrorKind::Json(
                "each line must be a JSON object".into(),
            )));
        }
        if header.is_none() {
            if kind != "header" {
                return Err(err(ParseErrorKind::MissingHeader));
            }
            header = Some(check_header(shape(value, &kind).map_err(err)?).map_err(err)?);
            continue;
        }
        let item = match kind.as_str() {
            "header" => return Err(err(ParseErrorKind::DuplicateHeader)),
            "call" => {
                Item::Call(check_call(shape(value, &kind).map_err(err)?, &mut state).map_err(err)?)
            }
            "action" => {
                Item::Action(check_action(shape(value, &kind).map_err(err)?, &state).map_err(err)?)
            }
            "stream_msg" => Item::StreamMsg(
                check_stream_msg(shape(value, &kind).map_err(err)?, &mut state).map_err(err)?,
            ),
            "stream_end" => Item::StreamEnd(
                check_stream_end(shape(value, &kind).map_err(err)?, &mut state).map_err(err)?,
            ),
            "file" => {
                Item::File(check_file(shape(value, &kind).map_err(err)?, &mut state).map_err(err)?)
            }
            other => return Err(err(ParseErrorKind::UnknownKind(other.to_string()))),
        };
        entries.push(Entry { line, item });
    }
    let header = header.ok_or(ParseError {
        line: text.lines().count().max(1),
        kind: ParseErrorKind::MissingHeader,
    })?;
    Ok(Trace { header, entries })
}

fn shape<T: DeserializeOwned>(value: Value, kind: &str) -> Result<T, ParseErrorKind> {
    serde_json::from_value(value).map_err(|e| ParseErrorKind::Shape {
        kind: kind.to_string(),
        message: e.to_string(),
    })
}

fn check_header(header: Header) -> Result<Header, ParseErrorKind> {
    if header.format != FORMAT_VERSION {
        return Err(ParseErrorKind::Header(format!(
            "format {} is not supported (only {FORMAT_VERSION})",
            header.format
        )));
    }
    let minor = header
        .k8s
        .strip_prefix("1.")
        .and_then(|m| m.parse::<u32>().ok());
    if minor.is_none() {
        return Err(ParseErrorKind::Header(format!(
            "k8s must look like \"1.36\", not {:?}",
            header.k8s
        )));
    }
    if let Some(clock) = &header.clock
        && clock != "wall"
        && clock != "virtual"
    {
        return Err(ParseErrorKind::Header(format!(
            "clock must be \"wall\" or \"virtual\", not {clock:?}"
        )));
    }
    Ok(header)
}

fn check_call(call: Call, state: &mut State) -> Result<Call, ParseErrorKind> {
    let method = methods::by_name(&call.method)
        .ok_or_else(|| ParseErrorKind::UnknownMethod(call.method.clone()))?;
    if call.svc != method.service.name() {
        return Err(ParseErrorKind::WrongService {
            method: call.method.clone(),
            expected: method.service.name(),
            found: call.svc.clone(),
        });
    }
    if let Some(previous) = state.last_seq
        && call.seq <= previous
    {
        return Err(ParseErrorKind::Sequence {
            seq: call.seq,
            previous,
        });
    }
    check_order(&call, state)?;
    check_request(&call, method, &state.bound)?;
    match (&call.response, &call.error, method.streaming) {
        (Some(_), Some(_), _) => {
            return Err(ParseErrorKind::Expectation(
                "a call has a response or an error, not both".into(),
            ));
        }
        (Some(_), None, true) => {
            return Err(ParseErrorKind::Expectation(format!(
                "{} streams: write its messages as stream_msg lines, not a response",
                method.name
            )));
        }
        (None, None, false) => {
            return Err(ParseErrorKind::Expectation(
                "a unary call needs a response or an error".into(),
            ));
        }
        _ => {}
    }
    for (name, path) in &call.bind {
        if !symbols::is_symbol_name(name) {
            return Err(ParseErrorKind::Bind(format!(
                "{name:?} is not a symbol name like \"$SB1\""
            )));
        }
        symbols::parse_path(path).map_err(|e| ParseErrorKind::Bind(e.to_string()))?;
        if !state.bound.insert(name[1..].to_string()) {
            return Err(ParseErrorKind::Bind(format!("{name} is already bound")));
        }
    }
    if let Some(response) = &call.response {
        check_expected(response, "response", &mut state.bound)?;
    }
    if let Some(error) = &call.error {
        check_error(error, &mut state.bound)?;
    }
    if let Some(deviation) = &call.deviation {
        if let Some(response) = &deviation.response {
            check_expected(response, "deviation.response", &mut state.bound)?;
        }
        if let Some(error) = &deviation.error {
            check_error(error, &mut state.bound)?;
        }
    }
    state.last_seq = Some(call.seq);
    let open = method.streaming && call.error.is_none();
    state.calls.insert(call.seq, (method, open));
    Ok(call)
}

fn check_order(call: &Call, state: &State) -> Result<(), ParseErrorKind> {
    match call.order.as_deref() {
        None | Some("strict") => Ok(()),
        Some(order) if order.starts_with("group:") && order.len() > 6 => Ok(()),
        Some(order) => match order
            .strip_prefix("after:")
            .and_then(|s| s.parse::<u64>().ok())
        {
            Some(seq) if state.calls.contains_key(&seq) => Ok(()),
            Some(seq) => Err(ParseErrorKind::Expectation(format!(
                "order after:{seq} names no earlier call"
            ))),
            None => Err(ParseErrorKind::Expectation(format!(
                "order must be strict, group:<id> or after:<seq>, not {order:?}"
            ))),
        },
    }
}

fn check_request(
    call: &Call,
    method: &Method,
    bound: &HashSet<String>,
) -> Result<(), ParseErrorKind> {
    if !call.request.is_object() {
        return Err(ParseErrorKind::Request {
            method: method.name.into(),
            message: "the request must be an object".into(),
        });
    }
    require_bound(&call.request, bound)?;
    // Try the request with every symbol standing for a placeholder string.
    let mut placeholders = symbols::Symbols::new();
    for name in bound {
        placeholders.bind(name, "sym");
    }
    let concrete = placeholders
        .substitute(&call.request)
        .map_err(|e| ParseErrorKind::Unbound(e.0))?;
    method
        .encode_request(&concrete)
        .map(|_| ())
        .map_err(|message| ParseErrorKind::Request {
            method: method.name.into(),
            message,
        })
}

/// Every symbol in plain strings of `value` must be bound.
fn require_bound(value: &Value, bound: &HashSet<String>) -> Result<(), ParseErrorKind> {
    match value {
        Value::String(s) if s.starts_with("$$") => Ok(()),
        Value::String(s) => {
            let names = symbols::whole(s).into_iter().chain(symbols::embedded(s));
            for name in names {
                if !bound.contains(name) {
                    return Err(ParseErrorKind::Unbound(name.to_string()));
                }
            }
            Ok(())
        }
        Value::Array(items) => items.iter().try_for_each(|v| require_bound(v, bound)),
        Value::Object(map) => map.values().try_for_each(|v| require_bound(v, bound)),
        _ => Ok(()),
    }
}

fn check_expected(
    expected: &Value,
    path: &str,
    bound: &mut HashSet<String>,
) -> Result<(), ParseErrorKind> {
    matchers::validate(expected, path).map_err(ParseErrorKind::Matcher)?;
    matchers::check_symbols(expected, bound).map_err(ParseErrorKind::Unbound)
}

fn check_error(error: &ErrorExpect, bound: &mut HashSet<String>) -> Result<(), ParseErrorKind> {
    if !methods::is_code_name(&error.code) || error.code == "OK" {
        return Err(ParseErrorKind::Expectation(format!(
            "{:?} is not a gRPC error code name",
            error.code
        )));
    }
    match &error.message {
        Some(message) => check_expected(message, "error.message", bound),
        None => Ok(()),
    }
}

fn check_action(action: Action, state: &State) -> Result<Action, ParseErrorKind> {
    let bad = |why: &str| {
        Err(ParseErrorKind::Action(format!(
            "action {}: {why}",
            action.verb
        )))
    };
    if !ACTION_VERBS.contains(&action.verb.as_str()) {
        return Err(ParseErrorKind::Action(format!(
            "unknown action {:?} (known: {})",
            action.verb,
            ACTION_VERBS.join(", ")
        )));
    }
    match action.verb.as_str() {
        "advance_clock" | "sleep" => match action.seconds {
            Some(s) if s.is_finite() && s >= 0.0 => {}
            _ => return bad("needs seconds, a non-negative number"),
        },
        "exit" if action.container.is_none() || action.exit_code.is_none() => {
            return bad("needs container and exit_code");
        }
        "write_log" if action.container.is_none() || action.text.is_none() => {
            return bad("needs container and text");
        }
        _ => {}
    }
    if let Some(container) = &action.container {
        require_bound(&Value::String(container.clone()), &state.bound)?;
    }
    Ok(action)
}

fn open_stream(of: u64, state: &State) -> Result<&'static Method, ParseErrorKind> {
    match state.calls.get(&of) {
        Some((method, true)) => Ok(method),
        Some((method, false)) if method.streaming => Err(ParseErrorKind::Stream(format!(
            "the stream of call {of} has ended"
        ))),
        Some((method, false)) => Err(ParseErrorKind::Stream(format!(
            "call {of} ({}) does not stream",
            method.name
        ))),
        None => Err(ParseErrorKind::Stream(format!(
            "no earlier call has seq {of}"
        ))),
    }
}

fn check_stream_msg(msg: StreamMsg, state: &mut State) -> Result<StreamMsg, ParseErrorKind> {
    open_stream(msg.of, state)?;
    check_expected(&msg.msg, "msg", &mut state.bound)?;
    Ok(msg)
}

fn check_stream_end(end: StreamEnd, state: &mut State) -> Result<StreamEnd, ParseErrorKind> {
    let method = open_stream(end.of, state)?;
    if !methods::is_code_name(&end.status) {
        return Err(ParseErrorKind::Stream(format!(
            "{:?} is not OK or a gRPC code name",
            end.status
        )));
    }
    state.calls.insert(end.of, (method, false));
    Ok(end)
}

fn check_file(file: FileCheck, state: &mut State) -> Result<FileCheck, ParseErrorKind> {
    require_bound(&Value::String(file.path.clone()), &state.bound)?;
    if let Some(lines) = &file.expect_lines {
        if !lines.is_array() && matchers::as_matcher(lines).is_none() {
            return Err(ParseErrorKind::Matcher(
                "expect_lines must be a list or a matcher".into(),
            ));
        }
        check_expected(lines, "expect_lines", &mut state.bound)?;
    }
    Ok(file)
}

#[cfg(test)]
mod tests;
