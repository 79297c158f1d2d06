//! The error vocabulary shared by every subsystem.
//!
//! Each subsystem has its own `thiserror` enum; each of them can say which [`ErrorKind`] it is,
//! and the core carries that kind up to `server/`, where one function maps it to a gRPC code.

use std::fmt;

/// What sort of failure an error is, independent of the subsystem that raised it.
///
/// The variants follow the gRPC codes kubelet reacts to (see `shared/kubelet-cri.md` §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ErrorKind {
    /// The request itself is malformed.
    InvalidArgument,
    /// The named object does not exist.
    NotFound,
    /// An object with that name or id exists already.
    AlreadyExists,
    /// The object is not in a state that allows the operation.
    FailedPrecondition,
    /// The operation did not finish within its deadline.
    DeadlineExceeded,
    /// A dependency (registry, network plugin, OCI runtime) is not available right now.
    Unavailable,
    /// A limit was reached.
    ResourceExhausted,
    /// crius does not implement this operation.
    Unimplemented,
    /// The operation was cancelled.
    Cancelled,
    /// A failure whose cause cannot be classified; kubelet shows its message verbatim.
    Unknown,
    /// A bug or an unexpected condition inside crius or a backend.
    Internal,
}

impl ErrorKind {
    /// Every kind, in declaration order.
    pub const ALL: [ErrorKind; 11] = [
        ErrorKind::InvalidArgument,
        ErrorKind::NotFound,
        ErrorKind::AlreadyExists,
        ErrorKind::FailedPrecondition,
        ErrorKind::DeadlineExceeded,
        ErrorKind::Unavailable,
        ErrorKind::ResourceExhausted,
        ErrorKind::Unimplemented,
        ErrorKind::Cancelled,
        ErrorKind::Unknown,
        ErrorKind::Internal,
    ];

    /// The gRPC name of the code this kind maps to (`NotFound`, `InvalidArgument`, ...).
    pub fn grpc_name(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "InvalidArgument",
            ErrorKind::NotFound => "NotFound",
            ErrorKind::AlreadyExists => "AlreadyExists",
            ErrorKind::FailedPrecondition => "FailedPrecondition",
            ErrorKind::DeadlineExceeded => "DeadlineExceeded",
            ErrorKind::Unavailable => "Unavailable",
            ErrorKind::ResourceExhausted => "ResourceExhausted",
            ErrorKind::Unimplemented => "Unimplemented",
            ErrorKind::Cancelled => "Cancelled",
            ErrorKind::Unknown => "Unknown",
            ErrorKind::Internal => "Internal",
        }
    }

    /// Parses a gRPC code name as written by [`ErrorKind::grpc_name`].
    pub fn from_grpc_name(name: &str) -> Option<ErrorKind> {
        ErrorKind::ALL
            .into_iter()
            .find(|kind| kind.grpc_name() == name)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.grpc_name())
    }
}

/// Implemented by every subsystem error so the core can classify it without matching strings.
pub trait Classify {
    /// The kind of this error.
    fn kind(&self) -> ErrorKind;
}
