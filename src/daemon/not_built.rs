//! Stand-ins for Linux backends that are not written yet. Each refuses every call with
//! `Unimplemented` and says what is missing; none pretends to work. Replace the line that
//! builds it in `backends.rs` when the real backend lands.

use crate::backend::streams::{
    AttachSession, ContainerStreams, ExecSession, ForwardTarget, PortStream, StreamOptions,
    StreamsError,
};
use crate::error::ErrorKind;
use async_trait::async_trait;

/// Exec, attach and port-forward before the Linux streams backend exists.
#[derive(Debug, Default)]
pub struct StreamsNotBuilt;

fn refuse(operation: &str) -> StreamsError {
    StreamsError::Failed {
        operation: operation.to_string(),
        message: "the Linux streams backend (exec, attach, port-forward into containers) is not \
                  built into crius yet"
            .to_string(),
        kind: ErrorKind::Unimplemented,
    }
}

#[async_trait]
impl ContainerStreams for StreamsNotBuilt {
    async fn exec(
        &self,
        _container_id: &str,
        _cmd: &[String],
        _options: StreamOptions,
    ) -> Result<ExecSession, StreamsError> {
        Err(refuse("exec"))
    }

    async fn attach(
        &self,
        _container_id: &str,
        _options: StreamOptions,
    ) -> Result<AttachSession, StreamsError> {
        Err(refuse("attach"))
    }

    async fn port_forward(
        &self,
        _target: &ForwardTarget,
        _port: u16,
    ) -> Result<Box<dyn PortStream>, StreamsError> {
        Err(refuse("port-forward"))
    }
}
