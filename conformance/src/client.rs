//! A CRI client for any method of the [dispatch table](crate::methods): connects to a
//! `unix://` endpoint and sends encoded requests through a pass-through codec.

use crate::codec::RawCodec;
use crate::methods::Method;
use bytes::Bytes;
use hyper_util::rt::TokioIo;
use std::path::PathBuf;
use tonic::codec::Streaming;
use tonic::transport::{Channel, Endpoint, Uri};
use tonic::{Request, Status};

/// Largest message accepted, as kubelet's client allows.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// Why a connection to a CRI endpoint failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The endpoint is not a `unix://` address.
    #[error("unsupported endpoint {0:?}: expected unix:///path/to/socket")]
    Endpoint(String),
    /// The socket could not be reached.
    #[error("cannot connect to {endpoint}: {message}")]
    Connect {
        /// The endpoint.
        endpoint: String,
        /// What the transport said.
        message: String,
    },
}

/// The socket path of a `unix://` endpoint (`unix:///run/x.sock`, `unix:/run/x.sock` or a
/// bare absolute path).
pub fn socket_path(endpoint: &str) -> Result<PathBuf, ConnectError> {
    let path = endpoint
        .strip_prefix("unix://")
        .or_else(|| endpoint.strip_prefix("unix:"))
        .unwrap_or(endpoint);
    if path.starts_with('/') {
        Ok(PathBuf::from(path))
    } else {
        Err(ConnectError::Endpoint(endpoint.to_string()))
    }
}

/// Opens a channel to the CRI runtime at `endpoint`.
pub async fn connect(endpoint: &str) -> Result<Channel, ConnectError> {
    let socket = socket_path(endpoint)?;
    Endpoint::try_from("http://localhost")
        .expect("a static URI")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let socket = socket.clone();
            async move {
                tokio::net::UnixStream::connect(socket)
                    .await
                    .map(TokioIo::new)
            }
        }))
        .await
        .map_err(|e| ConnectError::Connect {
            endpoint: endpoint.to_string(),
            message: format!(
                "{e}: {}",
                std::error::Error::source(&e)
                    .map(|s| s.to_string())
                    .unwrap_or_default()
            ),
        })
}

/// Calls CRI methods with encoded messages.
#[derive(Debug, Clone)]
pub struct CriClient {
    grpc: tonic::client::Grpc<Channel>,
}

impl CriClient {
    /// A client over `channel`.
    pub fn new(channel: Channel) -> CriClient {
        CriClient {
            grpc: tonic::client::Grpc::new(channel)
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
        }
    }

    /// Connects to `endpoint`.
    pub async fn connect(endpoint: &str) -> Result<CriClient, ConnectError> {
        Ok(CriClient::new(connect(endpoint).await?))
    }

    /// Calls a unary method.
    pub async fn unary(&mut self, method: &Method, request: Bytes) -> Result<Bytes, Status> {
        self.ready().await?;
        let path = http::uri::PathAndQuery::from_static(method.path);
        self.grpc
            .unary(Request::new(request), path, RawCodec)
            .await
            .map(|r| r.into_inner())
    }

    /// Calls a server-streaming method; an immediate failure is the `Err`.
    pub async fn server_streaming(
        &mut self,
        method: &Method,
        request: Bytes,
    ) -> Result<Streaming<Bytes>, Status> {
        self.ready().await?;
        let path = http::uri::PathAndQuery::from_static(method.path);
        self.grpc
            .server_streaming(Request::new(request), path, RawCodec)
            .await
            .map(|r| r.into_inner())
    }

    async fn ready(&mut self) -> Result<(), Status> {
        self.grpc
            .ready()
            .await
            .map_err(|e| Status::unavailable(format!("runtime not ready: {e}")))
    }
}
