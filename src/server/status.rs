//! The one place where core errors become gRPC statuses.

use crate::error::ErrorKind;
use crate::runtime::Error;
use tonic::{Code, Status};

/// The gRPC code for an error kind.
pub fn code(kind: ErrorKind) -> Code {
    match kind {
        ErrorKind::InvalidArgument => Code::InvalidArgument,
        ErrorKind::NotFound => Code::NotFound,
        ErrorKind::AlreadyExists => Code::AlreadyExists,
        ErrorKind::FailedPrecondition => Code::FailedPrecondition,
        ErrorKind::DeadlineExceeded => Code::DeadlineExceeded,
        ErrorKind::Unavailable => Code::Unavailable,
        ErrorKind::ResourceExhausted => Code::ResourceExhausted,
        ErrorKind::Unimplemented => Code::Unimplemented,
        ErrorKind::Cancelled => Code::Cancelled,
        ErrorKind::Unknown => Code::Unknown,
        ErrorKind::Internal => Code::Internal,
    }
}

/// The status a failed call answers with.
pub fn to_status(error: Error) -> Status {
    Status::new(code(error.kind()), error.message().to_string())
}

/// The answer to an RPC crius does not implement yet, saying why.
pub fn unimplemented(method: &str, reason: &str) -> Status {
    Status::unimplemented(format!(
        "{method} is not implemented by crius yet: {reason}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_maps_to_the_code_of_the_same_name() {
        for kind in ErrorKind::ALL {
            let status = to_status(Error::new(kind, "boom"));
            assert_eq!(format!("{:?}", status.code()), kind.grpc_name());
            assert_eq!(status.message(), "boom");
        }
    }
}
