//! The streaming server: where kubelet's client goes with the URL an Exec, Attach or
//! PortForward RPC returned.
//!
//! The RPC validates the request and stores it under a single-use token
//! ([`request_cache`]); the URL is `http://<address>/<exec|attach|portforward>/<token>`. The
//! client (kubelet proxying kubectl, or crictl) upgrades that HTTP/1.1 request to SPDY/3.1
//! ([`spdy`]) or WebSocket ([`websocket`]); [`remote_command`] then connects the streams to
//! the container through the core.
//!
//! - [`http`]: routing, token lookup, protocol negotiation and the upgrade.
//! - [`status`]: the exit status as the client reads it from the error stream.
//!
//! Plain HTTP on a loopback address by default. TLS is not implemented yet: bind to a
//! non-loopback address only on a trusted network.

pub mod http;
pub mod remote_command;
pub mod request_cache;
pub mod spdy;
pub mod status;
pub mod websocket;

use crate::runtime::{Error, Runtime, StreamRequest};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use request_cache::RequestCache;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// The default bind address: loopback, any free port.
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:0";

/// The streaming server: its address, its token cache and its listener.
#[derive(Clone)]
pub struct StreamingServer {
    runtime: Arc<Runtime>,
    cache: Arc<RequestCache>,
    address: SocketAddr,
    listener: Arc<parking_lot::Mutex<Option<TcpListener>>>,
}

impl StreamingServer {
    /// Binds `address` (port 0 picks a free port). Tokens come from the runtime's id source
    /// and expire by its clock.
    pub async fn bind(
        runtime: Arc<Runtime>,
        address: SocketAddr,
    ) -> std::io::Result<StreamingServer> {
        let listener = TcpListener::bind(address).await?;
        let address = listener.local_addr()?;
        let backends = runtime.backends();
        let cache = Arc::new(RequestCache::new(
            backends.clock.clone(),
            backends.ids.clone(),
        ));
        Ok(StreamingServer {
            runtime,
            cache,
            address,
            listener: Arc::new(parking_lot::Mutex::new(Some(listener))),
        })
    }

    /// The address it listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stores `request` under a fresh token and returns the URL its client goes to;
    /// ResourceExhausted when too many requests wait.
    pub fn url(&self, request: StreamRequest) -> Result<String, Error> {
        let kind = match request {
            StreamRequest::Exec(_) => "exec",
            StreamRequest::Attach(_) => "attach",
            StreamRequest::PortForward(_) => "portforward",
        };
        let token = self.cache.insert(request)?;
        Ok(format!("http://{}/{kind}/{token}", self.address))
    }

    /// Serves until `shutdown` completes; sessions already upgraded run on to their end.
    /// Serving twice is an error.
    pub async fn serve(&self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        let listener = self.listener.lock().take().ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                "the streaming server is already serving",
            )
        })?;
        tracing::info!(address = %self.address, "serving exec, attach and port-forward streams");
        tokio::pin!(shutdown);
        loop {
            let (connection, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        tracing::warn!(error = %e, "streaming server: accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = &mut shutdown => return Ok(()),
            };
            let _ = connection.set_nodelay(true);
            let (cache, runtime) = (self.cache.clone(), self.runtime.clone());
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let (cache, runtime) = (cache.clone(), runtime.clone());
                    async move {
                        Ok::<_, std::convert::Infallible>(
                            http::handle(cache, runtime, request).await,
                        )
                    }
                });
                let served = http1::Builder::new()
                    .serve_connection(TokioIo::new(connection), service)
                    .with_upgrades()
                    .await;
                if let Err(e) = served {
                    tracing::debug!(%peer, error = %e, "streaming connection ended with an error");
                }
            });
        }
    }
}
