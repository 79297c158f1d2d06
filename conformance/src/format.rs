//! The trace format: one JSON object per line (see `conformance/README.md`). These are the
//! lines as written; [`crate::parse`] reads and checks them, [`crate::record`] writes them.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The only format version there is.
pub const FORMAT_VERSION: u32 = 1;

/// Symbols every replay defines before the first line.
pub const PREDEFINED_SYMBOLS: [&str; 1] = ["LOG_ROOT"];

/// The error code a recording writes for a unary call its client cancelled before the
/// runtime answered; a replay accepts any answer to such a call.
pub const CANCELLED: &str = "Cancelled";

/// Line 1: what the trace is and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// Always `"header"`.
    pub kind: String,
    /// [`FORMAT_VERSION`].
    pub format: u32,
    /// Kubernetes minor whose kubelet the calls follow, e.g. `"1.36"`.
    pub k8s: String,
    /// The cri-api release, e.g. `"v0.36.0"`.
    #[serde(rename = "criApi", default, skip_serializing_if = "Option::is_none")]
    pub cri_api: Option<String>,
    /// Where the calls came from.
    pub source: Source,
    /// The tool that wrote the trace, e.g. `"crius-record 0.1"` or `"hand"`.
    pub recorder: String,
    /// The runtime that answered (the recorded peer).
    pub runtime: RuntimeId,
    /// Kubelet feature gates that shape the calls.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub gates: BTreeMap<String, bool>,
    /// `"wall"` or `"virtual"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// A crius-sim fault plan (TOML text) that a simulated replay applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault_plan: Option<String>,
}

/// Where a trace's calls came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Recorded from a kubelet talking to a real runtime.
    Recorded,
    /// Written by hand, following kubelet's call patterns.
    Synthetic,
}

/// The runtime of a header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeId {
    /// e.g. `containerd`.
    pub name: String,
    /// e.g. `2.1.4`.
    #[serde(default)]
    pub version: String,
}

/// A CRI call and what it answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Call {
    /// Always `"call"`.
    pub kind: String,
    /// Unique, increasing sequence number.
    pub seq: u64,
    /// Seconds since the start of the trace when the call was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub t: Option<f64>,
    /// `RuntimeService` or `ImageService`.
    pub svc: String,
    /// The CRI method, e.g. `CreateContainer`.
    pub method: String,
    /// The request in proto3 JSON (with symbols).
    #[serde(default = "empty_object")]
    pub request: Value,
    /// The expected response (proto3 JSON with symbols and matchers), for unary calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Value>,
    /// The expected failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorExpect>,
    /// How long the call took, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dur: Option<f64>,
    /// Symbols bound from this call: `$NAME` → path such as `response.containerId`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub bind: BTreeMap<String, String>,
    /// A periodic background call, checked for shape only.
    #[serde(default, skip_serializing_if = "is_false")]
    pub ambient: bool,
    /// `strict` (default), `group:<id>` or `after:<seq>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    /// The group of calls that may run in any order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Where crius deliberately differs from the recorded peer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deviation: Option<Deviation>,
}

/// An expected gRPC failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorExpect {
    /// The gRPC code name, e.g. `NotFound`.
    pub code: String,
    /// The message: a string or a matcher; any message when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Value>,
}

/// A deliberate difference of crius from the recorded peer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deviation {
    /// Why crius differs.
    pub reason: String,
    /// What crius answers instead (unary calls).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Value>,
    /// The failure crius answers instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorExpect>,
}

/// A scripted world event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    /// Always `"action"`.
    pub kind: String,
    /// Seconds since the start of the trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub t: Option<f64>,
    /// The verb: one of [`ACTION_VERBS`].
    #[serde(rename = "do")]
    pub verb: String,
    /// Duration for `advance_clock` and `sleep`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    /// The container of `exit` and `write_log`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// Exit code for `exit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Reason for `exit`, e.g. `OOMKilled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `stdout` or `stderr` for `write_log`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// Text for `write_log`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The action verbs the format knows.
pub const ACTION_VERBS: [&str; 7] = [
    "advance_clock",
    "sleep",
    "exit",
    "write_log",
    "kill_sandbox_network",
    "restart_runtime",
    "registry_fail",
];

/// One message of a server stream opened by call `of`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamMsg {
    /// Always `"stream_msg"`.
    pub kind: String,
    /// The `seq` of the streaming call.
    pub of: u64,
    /// The message (proto3 JSON with symbols and matchers).
    pub msg: Value,
}

/// The end of a server stream opened by call `of`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamEnd {
    /// Always `"stream_end"`.
    pub kind: String,
    /// The `seq` of the streaming call.
    pub of: u64,
    /// `OK`, or the gRPC code it ended with (`Cancelled`: the client hung up).
    pub status: String,
}

/// A side-channel check of a file the runtime writes (CRI logs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileCheck {
    /// Always `"file"`.
    pub kind: String,
    /// The path (with symbols).
    pub path: String,
    /// Whether the file exists (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exists: Option<bool>,
    /// The file's lines: a list (in order; strings or matchers) or a matcher such as
    /// `$unordered`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_lines: Option<Value>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Any line after the header.
// Calls are most lines of a trace, so boxing them would not save memory.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// `kind: call`.
    Call(Call),
    /// `kind: action`.
    Action(Action),
    /// `kind: stream_msg`.
    StreamMsg(StreamMsg),
    /// `kind: stream_end`.
    StreamEnd(StreamEnd),
    /// `kind: file`.
    File(FileCheck),
}

impl Item {
    /// The line as JSON text.
    pub fn to_json_line(&self) -> String {
        let text = match self {
            Item::Call(x) => serde_json::to_string(x),
            Item::Action(x) => serde_json::to_string(x),
            Item::StreamMsg(x) => serde_json::to_string(x),
            Item::StreamEnd(x) => serde_json::to_string(x),
            Item::File(x) => serde_json::to_string(x),
        };
        text.expect("trace lines serialise")
    }
}

/// A line with its 1-based line number in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Line number.
    pub line: usize,
    /// The line.
    pub item: Item,
}

/// A parsed, checked trace.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// Line 1.
    pub header: Header,
    /// Everything after it (comments and blank lines dropped).
    pub entries: Vec<Entry>,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

fn is_false(b: &bool) -> bool {
    !*b
}
