//! The outcome of an exec or attach, as the client reads it from the error stream.
//!
//! Protocol v4 (`v4.channel.k8s.io`, over SPDY or WebSocket) writes a JSON `metav1.Status`;
//! the older protocols write the error text alone, and nothing on success.

use serde::Serialize;

/// A `metav1.Status`, with the fields in Kubernetes' order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    metadata: Metadata,
    status: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    message: String,
    #[serde(skip_serializing_if = "str::is_empty")]
    reason: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<Details>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct Metadata {}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct Details {
    causes: Vec<Cause>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct Cause {
    #[serde(skip_serializing_if = "str::is_empty")]
    reason: &'static str,
    message: String,
}

impl Status {
    /// The command ended with status 0 (or the attached container ended).
    pub fn success() -> Status {
        Status {
            metadata: Metadata {},
            status: "Success",
            message: String::new(),
            reason: "",
            details: None,
            code: None,
        }
    }

    /// The command ended with a non-zero `exit_code`: reason `NonZeroExitCode`, the code in
    /// the cause of type `ExitCode`, which kubectl turns into its own exit status.
    pub fn exit_code(cmd: &[String], exit_code: i32) -> Status {
        Status {
            metadata: Metadata {},
            status: "Failure",
            message: format!(
                "command terminated with non-zero exit code: error executing command {cmd:?}, exit code {exit_code}"
            ),
            reason: "NonZeroExitCode",
            details: Some(Details {
                causes: vec![Cause {
                    reason: "ExitCode",
                    message: exit_code.to_string(),
                }],
            }),
            code: None,
        }
    }

    /// The stream could not be served.
    pub fn internal(message: impl Into<String>) -> Status {
        let message = message.into();
        Status {
            metadata: Metadata {},
            status: "Failure",
            message: format!("Internal error occurred: {message}"),
            reason: "InternalError",
            details: Some(Details {
                causes: vec![Cause {
                    reason: "",
                    message,
                }],
            }),
            code: Some(500),
        }
    }

    /// Whether it reports success.
    pub fn is_success(&self) -> bool {
        self.status == "Success"
    }

    /// The bytes written on the error stream: JSON for protocol v4, otherwise the message
    /// alone (nothing on success).
    pub fn encode(&self, json: bool) -> Vec<u8> {
        if json {
            serde_json::to_vec(self).unwrap_or_default()
        } else if self.is_success() {
            Vec::new()
        } else {
            self.message.clone().into_bytes()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_read_as_kubernetes_writes_them() {
        assert_eq!(
            String::from_utf8(Status::success().encode(true)).unwrap(),
            r#"{"metadata":{},"status":"Success"}"#
        );
        let failed = Status::exit_code(&["sh".into(), "-c".into(), "exit 3".into()], 3);
        let json: serde_json::Value = serde_json::from_slice(&failed.encode(true)).unwrap();
        assert_eq!(json["status"], "Failure");
        assert_eq!(json["reason"], "NonZeroExitCode");
        assert_eq!(json["details"]["causes"][0]["reason"], "ExitCode");
        assert_eq!(json["details"]["causes"][0]["message"], "3");
        assert!(Status::success().encode(false).is_empty());
        assert!(
            String::from_utf8(failed.encode(false))
                .unwrap()
                .starts_with("command terminated with non-zero exit code")
        );
    }
}
