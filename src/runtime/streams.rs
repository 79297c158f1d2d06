//! Exec, Attach and PortForward: the checks made when kubelet asks for a stream, and the
//! opening of the stream when its client connects to the streaming server.
//!
//! The RPCs only validate and describe the request ([`StreamRequest`]); the streaming server
//! keeps it under a single-use token and, when the client comes with that token, calls
//! [`Runtime::open_exec`], [`Runtime::open_attach`] or [`Runtime::open_port`], which check again
//! (the container may have stopped in between) and call the streams backend.

use super::{Error, Result, Runtime, SandboxState};
use crate::backend::streams::{
    AttachSession, ExecSession, ForwardTarget, PortStream, StreamOptions,
};

/// An Exec request, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecRequest {
    /// Full container id.
    pub container_id: String,
    /// Command line.
    pub cmd: Vec<String>,
    /// Whether the command gets a terminal.
    pub tty: bool,
    /// Whether the client sends standard input.
    pub stdin: bool,
    /// Whether the client wants standard output.
    pub stdout: bool,
    /// Whether the client wants standard error.
    pub stderr: bool,
}

/// An Attach request, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachRequest {
    /// Full container id.
    pub container_id: String,
    /// Whether the container has a terminal.
    pub tty: bool,
    /// Whether the client sends standard input.
    pub stdin: bool,
    /// Whether the client wants standard output.
    pub stdout: bool,
    /// Whether the client wants standard error.
    pub stderr: bool,
}

/// A PortForward request, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortForwardRequest {
    /// Full sandbox id.
    pub sandbox_id: String,
    /// Ports kubelet named (the WebSocket client names its own in the URL; SPDY per stream).
    pub ports: Vec<u16>,
}

/// A stream kubelet asked for, waiting for its client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamRequest {
    /// Exec.
    Exec(ExecRequest),
    /// Attach.
    Attach(AttachRequest),
    /// PortForward.
    PortForward(PortForwardRequest),
}

/// The checks the CRI makes of the stream flags of Exec and Attach.
fn check_flags(tty: bool, stdin: bool, stdout: bool, stderr: bool) -> Result<()> {
    if tty && stderr {
        return Err(Error::invalid(
            "tty and stderr cannot both be true: a terminal merges standard error into standard output",
        ));
    }
    if !stdin && !stdout && !stderr {
        return Err(Error::invalid(
            "one of stdin, stdout, or stderr must be set",
        ));
    }
    Ok(())
}

/// A port number as the CRI sends it (int32), checked.
fn port_number(port: i32) -> Result<u16> {
    u16::try_from(port)
        .ok()
        .filter(|&p| p != 0)
        .ok_or_else(|| Error::invalid(format!("port {port} is not between 1 and 65535")))
}

impl Runtime {
    /// Exec: checks that the container runs and the request makes sense; returns it with the
    /// container's full id.
    pub async fn prepare_exec(&self, mut request: ExecRequest) -> Result<ExecRequest> {
        if request.cmd.is_empty() {
            return Err(Error::invalid("cmd must not be empty"));
        }
        check_flags(request.tty, request.stdin, request.stdout, request.stderr)?;
        request.container_id = self.streamable_container(&request.container_id).await?;
        Ok(request)
    }

    /// Attach: checks that the container runs and the request makes sense.
    pub async fn prepare_attach(&self, mut request: AttachRequest) -> Result<AttachRequest> {
        check_flags(request.tty, request.stdin, request.stdout, request.stderr)?;
        request.container_id = self.streamable_container(&request.container_id).await?;
        Ok(request)
    }

    /// PortForward: checks that the sandbox is ready and the ports are valid.
    pub fn prepare_port_forward(
        &self,
        sandbox_id: &str,
        ports: &[i32],
    ) -> Result<PortForwardRequest> {
        let ports = ports
            .iter()
            .map(|&p| port_number(p))
            .collect::<Result<Vec<_>>>()?;
        let target = self.forward_target(sandbox_id)?;
        Ok(PortForwardRequest {
            sandbox_id: target.sandbox_id,
            ports,
        })
    }

    /// Starts an exec session for a client that has come with its token.
    pub async fn open_exec(&self, request: &ExecRequest) -> Result<ExecSession> {
        let id = self.streamable_container(&request.container_id).await?;
        let options = StreamOptions {
            stdin: request.stdin,
            tty: request.tty,
        };
        self.backends
            .streams
            .exec(&id, &request.cmd, options)
            .await
            .map_err(|e| Error::backend(format!("exec {:?} in container {id}", request.cmd), e))
    }

    /// Attaches to a container for a client that has come with its token.
    pub async fn open_attach(&self, request: &AttachRequest) -> Result<AttachSession> {
        let id = self.streamable_container(&request.container_id).await?;
        let options = StreamOptions {
            stdin: request.stdin,
            tty: request.tty,
        };
        self.backends
            .streams
            .attach(&id, options)
            .await
            .map_err(|e| Error::backend(format!("attach to container {id}"), e))
    }

    /// Connects to `port` of a ready sandbox.
    pub async fn open_port(&self, sandbox_id: &str, port: u16) -> Result<Box<dyn PortStream>> {
        let target = self.forward_target(sandbox_id)?;
        self.backends
            .streams
            .port_forward(&target, port)
            .await
            .map_err(|e| {
                Error::backend(
                    format!("port-forward to port {port} of pod {sandbox_id}"),
                    e,
                )
            })
    }

    /// The full id of the running container `id` names; FailedPrecondition unless it runs.
    async fn streamable_container(&self, id: &str) -> Result<String> {
        Ok(self.running_container(id).await?.id)
    }

    /// Where a port-forward into the ready sandbox `id` goes.
    fn forward_target(&self, id: &str) -> Result<ForwardTarget> {
        let sandbox = self
            .find_sandbox(id)?
            .ok_or_else(|| Error::not_found(format!("pod sandbox {id:?} not found")))?;
        if sandbox.state != SandboxState::Ready {
            return Err(Error::precondition(format!(
                "pod sandbox {} is not ready",
                sandbox.id
            )));
        }
        let declared_ports = sandbox
            .config
            .port_mappings
            .iter()
            .filter_map(|m| u16::try_from(m.container_port).ok())
            .filter(|&p| p != 0)
            .collect();
        Ok(ForwardTarget {
            netns: sandbox.pod.netns.clone(),
            sandbox_id: sandbox.id,
            declared_ports,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_follow_the_cri_rules() {
        assert!(check_flags(true, true, true, false).is_ok());
        assert!(check_flags(false, false, false, true).is_ok());
        assert_eq!(
            check_flags(true, false, true, true).unwrap_err().kind(),
            crate::error::ErrorKind::InvalidArgument
        );
        assert_eq!(
            check_flags(false, false, false, false).unwrap_err().kind(),
            crate::error::ErrorKind::InvalidArgument
        );
    }

    #[test]
    fn ports_must_fit_in_sixteen_bits() {
        assert_eq!(port_number(8080).unwrap(), 8080);
        assert!(port_number(0).is_err());
        assert!(port_number(65536).is_err());
        assert!(port_number(-1).is_err());
    }
}
