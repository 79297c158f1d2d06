//! Divergences between a trace and a runtime's answers, and how they read.

use crate::matchers::Mismatch;
use serde_json::Value;
use std::fmt;

/// One place where the runtime did not answer as the trace says.
#[derive(Debug, Clone, PartialEq)]
pub struct Divergence {
    /// Trace line (1-based).
    pub line: usize,
    /// The method, or what the line checks (`stream_msg of GetContainerEvents`, `file`).
    pub what: String,
    /// Where in the answer, e.g. `response.status.state`.
    pub path: String,
    /// What the trace expects there.
    pub expected: Value,
    /// What the runtime answered (`None`: absent).
    pub got: Option<Value>,
    /// Why they differ.
    pub why: String,
    /// Set when the divergence does not count: the line is ambient, or a recorded deviation
    /// explains it.
    pub tolerated: Option<String>,
}

impl Divergence {
    /// A divergence of line `line` from a matcher's mismatch.
    pub fn from_mismatch(line: usize, what: &str, mismatch: Mismatch) -> Divergence {
        Divergence {
            line,
            what: what.to_string(),
            path: mismatch.path,
            expected: mismatch.expected,
            got: mismatch.got,
            why: mismatch.why,
            tolerated: None,
        }
    }

    /// A divergence that is not about one field.
    pub fn other(line: usize, what: &str, why: impl Into<String>) -> Divergence {
        Divergence {
            line,
            what: what.to_string(),
            path: String::new(),
            expected: Value::Null,
            got: None,
            why: why.into(),
            tolerated: None,
        }
    }
}

fn compact(value: &Value) -> String {
    let text = value.to_string();
    if text.len() > 400 {
        format!(
            "{}… ({} bytes)",
            text.chars().take(400).collect::<String>(),
            text.len()
        )
    } else {
        text
    }
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match &self.tolerated {
            Some(reason) => format!(" (tolerated: {reason})"),
            None => String::new(),
        };
        write!(f, "line {} {}", self.line, self.what)?;
        if !self.path.is_empty() {
            write!(f, " at {}", self.path)?;
        }
        writeln!(f, ": {}{tag}", self.why)?;
        if !self.path.is_empty() || !self.expected.is_null() {
            writeln!(f, "  - expected: {}", compact(&self.expected))?;
            match &self.got {
                Some(got) => writeln!(f, "  + got:      {}", compact(got))?,
                None => writeln!(f, "  + got:      (absent)")?,
            }
        }
        Ok(())
    }
}
