//! The core's error: a kind for the gRPC boundary and a message that names what was asked.

use crate::error::{Classify, ErrorKind};
use std::fmt;

/// An error of the core, carrying the kind that `server/` maps to a gRPC code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

/// Results of the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }

    /// The request is malformed.
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidArgument, message)
    }

    /// The object does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::NotFound, message)
    }

    /// The object's state forbids the operation.
    pub fn precondition(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::FailedPrecondition, message)
    }

    /// A failure inside crius.
    pub fn internal(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Internal, message)
    }

    /// Wraps a subsystem error, keeping its kind and prefixing what the core was doing.
    pub fn backend<E: Classify + fmt::Display>(context: impl fmt::Display, error: E) -> Self {
        Error::new(error.kind(), format!("{context}: {error}"))
    }

    /// The kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl Classify for Error {
    fn kind(&self) -> ErrorKind {
        self.kind
    }
}
