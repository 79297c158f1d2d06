//! The gRPC server: the CRI RuntimeService and ImageService on a unix socket.
//!
//! The only module that knows tonic and the generated CRI types. Requests are validated and
//! converted in [`request`], replies built in [`reply`], and errors mapped in [`status`].

mod image_service;
pub mod reply;
pub mod request;
mod runtime_service;
pub mod socket;
pub mod status;

use crate::runtime::Runtime;
use crius_proto::cri::image_service_server::ImageServiceServer;
use crius_proto::cri::runtime_service_server::RuntimeServiceServer;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;

/// The Kubernetes API version crius answers Version with (the CRI's own convention).
pub const KUBE_API_VERSION: &str = "0.1.0";
/// The CRI version crius speaks.
pub const CRI_API_VERSION: &str = "v1";
/// How long in-flight calls may run once shutdown has begun.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(2);
/// Largest message accepted or sent, as kubelet's client allows.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// How the runtime introduces itself.
#[derive(Debug, Clone)]
pub struct Identity {
    /// `runtime_name` in Version.
    pub name: String,
    /// `runtime_version` in Version.
    pub version: String,
    /// Runtime handlers announced in Status.
    pub handlers: Vec<String>,
    /// JSON shown by verbose Status (`crictl info`).
    pub info: String,
}

impl Identity {
    /// crius, at this crate's version.
    pub fn crius(handlers: Vec<String>, info: String) -> Identity {
        Identity {
            name: "crius".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            handlers,
            info,
        }
    }
}

/// Both CRI services over one core.
#[derive(Clone)]
pub struct CriServer {
    runtime: Arc<Runtime>,
    identity: Arc<Identity>,
    streaming: Option<crate::streaming::StreamingServer>,
}

impl CriServer {
    /// Services answering from `runtime`.
    pub fn new(runtime: Arc<Runtime>, identity: Identity) -> CriServer {
        CriServer {
            runtime,
            identity: Arc::new(identity),
            streaming: None,
        }
    }

    /// Answers Exec, Attach and PortForward with URLs of `streaming` (without one they are
    /// Unimplemented).
    pub fn with_streaming(mut self, streaming: crate::streaming::StreamingServer) -> CriServer {
        self.streaming = Some(streaming);
        self
    }

    /// Serves both services on the unix socket at `path` until `shutdown` completes, then
    /// removes the socket. See [`socket::bind`] for how an existing socket file is treated.
    pub async fn serve(
        self,
        path: &Path,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ServeError> {
        let listener = socket::bind(path)?;
        let incoming = tokio_stream::wrappers::UnixListenerStream::new(listener);
        let runtime_service = RuntimeServiceServer::new(self.clone())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        let image_service = ImageServiceServer::new(self)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        tracing::info!(socket = %path.display(), "serving CRI");
        let stopping = std::sync::Arc::new(tokio::sync::Notify::new());
        let announce = stopping.clone();
        let shutdown = async move {
            shutdown.await;
            announce.notify_one();
        };
        let server = tonic::transport::Server::builder()
            .add_service(runtime_service)
            .add_service(image_service)
            .serve_with_incoming_shutdown(incoming, shutdown);
        // Clients such as kubelet keep their connection open for good: once shutdown begins,
        // in-flight calls get a grace period, then the server stops regardless.
        let served = tokio::select! {
            served = server => served.map_err(|e| ServeError::Transport(e.to_string())),
            _ = async {
                stopping.notified().await;
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            } => {
                tracing::warn!("connections still open after the shutdown grace period; closing them");
                Ok(())
            }
        };
        let _ = std::fs::remove_file(path);
        served
    }
}

/// Failures to serve.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Another process is serving on the socket.
    #[error("another runtime is already listening on {0}; stop it or choose another --socket")]
    SocketInUse(std::path::PathBuf),
    /// The socket could not be set up.
    #[error("cannot listen on {path}: {message}")]
    Socket {
        /// Socket path.
        path: std::path::PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The gRPC transport failed.
    #[error("gRPC server failed: {0}")]
    Transport(String),
}

/// Resolves when the process receives SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM");
            return std::future::pending().await;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
    }
}
