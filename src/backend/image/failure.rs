//! Failures inside the store. Cloneable, because one shared download reports its failure to
//! every pull waiting on it; turned into an [`ImageError`] naming the reference at the edge.

use super::ImageError;
use crate::error::ErrorKind;
use oci_client::errors::{OciDistributionError, OciErrorCode};

/// Why a step of a pull failed, with a message that says what and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The registry has no such manifest or blob.
    NotFound(String),
    /// The registry could not be reached, or answered 5xx.
    Unavailable(String),
    /// The registry refused our credentials.
    Unauthorized(String),
    /// Anything else.
    Other(ErrorKind, String),
}

impl Failure {
    /// A local failure (disk, unpacking).
    pub fn local(message: impl Into<String>) -> Failure {
        Failure::Other(ErrorKind::Internal, message.into())
    }

    /// Content that is not what the registry promised (digest, size, format).
    pub fn invalid(message: impl Into<String>) -> Failure {
        Failure::Other(ErrorKind::Unknown, message.into())
    }

    /// The message.
    pub fn message(&self) -> &str {
        match self {
            Failure::NotFound(m)
            | Failure::Unavailable(m)
            | Failure::Unauthorized(m)
            | Failure::Other(_, m) => m,
        }
    }

    /// This failure with `context: ` before its message.
    pub fn context(self, context: &str) -> Failure {
        let wrap = |m: String| format!("{context}: {m}");
        match self {
            Failure::NotFound(m) => Failure::NotFound(wrap(m)),
            Failure::Unavailable(m) => Failure::Unavailable(wrap(m)),
            Failure::Unauthorized(m) => Failure::Unauthorized(wrap(m)),
            Failure::Other(kind, m) => Failure::Other(kind, wrap(m)),
        }
    }

    /// Classifies an error of the registry client; `what` says what was being fetched from
    /// where (e.g. `manifest of 127.0.0.1:5000/busybox:1`).
    pub fn from_oci(what: &str, error: OciDistributionError) -> Failure {
        let message = format!("fetching {what}: {}", describe(&error));
        match &error {
            OciDistributionError::RegistryError { envelope, .. } => {
                let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
                let not_found = codes.iter().any(|c| {
                    matches!(
                        c,
                        OciErrorCode::ManifestUnknown
                            | OciErrorCode::BlobUnknown
                            | OciErrorCode::NameUnknown
                            | OciErrorCode::NotFound
                    )
                });
                let denied = codes
                    .iter()
                    .any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied));
                if not_found {
                    Failure::NotFound(message)
                } else if denied {
                    Failure::Unauthorized(message)
                } else {
                    Failure::invalid(message)
                }
            }
            OciDistributionError::ImageManifestNotFoundError(_) => Failure::NotFound(message),
            OciDistributionError::UnauthorizedError { .. }
            | OciDistributionError::AuthenticationFailure(_) => Failure::Unauthorized(message),
            OciDistributionError::ServerError { code, .. } => match code {
                404 => Failure::NotFound(message),
                401 | 403 => Failure::Unauthorized(message),
                500.. => Failure::Unavailable(message),
                _ => Failure::invalid(message),
            },
            // Connection refused, TLS failure, timeout, reset: the registry is not usable now.
            OciDistributionError::RequestError(_) => Failure::Unavailable(message),
            OciDistributionError::IoError(_) => Failure::Unavailable(message),
            _ => Failure::invalid(message),
        }
    }

    /// The error the trait returns, for a pull of `reference`.
    pub fn into_error(self, reference: &str) -> ImageError {
        let reference = reference.to_string();
        match self {
            Failure::NotFound(message) => ImageError::NotFound { reference, message },
            Failure::Unavailable(message) => ImageError::RegistryUnavailable { reference, message },
            Failure::Unauthorized(message) => ImageError::Unauthorized { reference, message },
            Failure::Other(kind, message) => ImageError::Failed {
                reference,
                message,
                kind,
            },
        }
    }
}

/// The error with its causes (reqwest hides the useful part, e.g. "connection refused").
fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}
