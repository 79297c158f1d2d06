//! The HTTP side: routes `/exec/<token>`, `/attach/<token>` and `/portforward/<token>`,
//! takes the token's request from the cache and upgrades the connection to SPDY or WebSocket.

use super::remote_command::Target;
use super::{spdy, websocket};
use crate::runtime::{Runtime, StreamRequest};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{
    CONNECTION, HeaderMap, HeaderValue, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY,
    SEC_WEBSOCKET_PROTOCOL, UPGRADE,
};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// Response bodies of the streaming server.
pub type Body = Full<Bytes>;

fn plain(status: StatusCode, message: impl Into<String>) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(message.into() + "\n")));
    *response.status_mut() = status;
    response.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Whether header `name` lists `token` (comma-separated, any case).
fn lists(headers: &HeaderMap, name: hyper::header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

fn values(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_string)
        .collect()
}

/// Answers one request.
pub async fn handle(
    cache: Arc<super::request_cache::RequestCache>,
    runtime: Arc<Runtime>,
    request: Request<Incoming>,
) -> Response<Body> {
    let path = request.uri().path().to_string();
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let (kind, token) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if !matches!(kind, "exec" | "attach" | "portforward") || token.is_empty() || token.contains('/')
    {
        return plain(StatusCode::NOT_FOUND, "404 page not found");
    }
    let cached = match cache.consume(token) {
        Some(cached) => cached,
        None => {
            return plain(
                StatusCode::NOT_FOUND,
                format!("{kind} token {token:?} is unknown, used or expired"),
            );
        }
    };
    let stream = match (kind, cached) {
        ("exec", StreamRequest::Exec(r)) => Stream::Command(Target::Exec(r)),
        ("attach", StreamRequest::Attach(r)) => Stream::Command(Target::Attach(r)),
        ("portforward", StreamRequest::PortForward(r)) => Stream::PortForward(r),
        _ => {
            return plain(
                StatusCode::NOT_FOUND,
                format!("token {token:?} is not a {kind} token"),
            );
        }
    };
    let headers = request.headers();
    let upgrading = lists(headers, CONNECTION, "upgrade");
    if upgrading && lists(headers, UPGRADE, "websocket") {
        upgrade_websocket(request, runtime, stream)
    } else if upgrading && lists(headers, UPGRADE, spdy::UPGRADE_TOKEN) {
        upgrade_spdy(request, runtime, stream)
    } else {
        plain(
            StatusCode::BAD_REQUEST,
            "exec, attach and port-forward need a connection upgrade to SPDY/3.1 or WebSocket",
        )
    }
}

enum Stream {
    Command(Target),
    PortForward(crate::runtime::PortForwardRequest),
}

fn switching(upgrade: &'static str) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    response
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    response
        .headers_mut()
        .insert(UPGRADE, HeaderValue::from_static(upgrade));
    response
}

fn upgrade_spdy(
    mut request: Request<Incoming>,
    runtime: Arc<Runtime>,
    stream: Stream,
) -> Response<Body> {
    let supported: &[&str] = match stream {
        Stream::Command(_) => &spdy::EXEC_PROTOCOLS,
        Stream::PortForward(_) => &spdy::PORT_FORWARD_PROTOCOLS,
    };
    let offered = values(request.headers(), spdy::PROTOCOL_HEADER);
    let protocol = match spdy::negotiate(&offered, supported) {
        Ok(protocol) => protocol,
        Err(message) => {
            let mut response = plain(StatusCode::FORBIDDEN, message);
            if let Ok(accepted) = HeaderValue::from_str(&supported.join(", ")) {
                response
                    .headers_mut()
                    .insert("X-Accepted-Stream-Protocol-Versions", accepted);
            }
            return response;
        }
    };
    let on_upgrade = hyper::upgrade::on(&mut request);
    let mut response = switching(spdy::UPGRADE_TOKEN);
    if let Some(protocol) = protocol {
        response
            .headers_mut()
            .insert(spdy::PROTOCOL_HEADER, HeaderValue::from_static(protocol));
    }
    tokio::spawn(async move {
        let io = match on_upgrade.await {
            Ok(upgraded) => TokioIo::new(upgraded),
            Err(e) => {
                tracing::debug!(error = %e, "SPDY upgrade failed");
                return;
            }
        };
        match stream {
            // A client that names no protocol speaks the first one, channel.k8s.io.
            Stream::Command(target) => {
                spdy::serve_remote_command(
                    io,
                    protocol.unwrap_or("channel.k8s.io"),
                    runtime,
                    target,
                )
                .await
            }
            Stream::PortForward(request) => spdy::serve_port_forward(io, runtime, request).await,
        }
    });
    response
}

fn upgrade_websocket(
    mut request: Request<Incoming>,
    runtime: Arc<Runtime>,
    stream: Stream,
) -> Response<Body> {
    let Some(key) = request
        .headers()
        .get(SEC_WEBSOCKET_KEY)
        .map(|k| k.as_bytes().to_vec())
    else {
        return plain(StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key");
    };
    let supported: &[&str] = match stream {
        Stream::Command(_) => &websocket::EXEC_PROTOCOLS,
        Stream::PortForward(_) => &websocket::PORT_FORWARD_PROTOCOLS,
    };
    let offered = values(request.headers(), SEC_WEBSOCKET_PROTOCOL.as_str());
    let protocol = match spdy::negotiate(&offered, supported) {
        Ok(protocol) => protocol,
        Err(message) => return plain(StatusCode::BAD_REQUEST, message),
    };
    let ports = match &stream {
        Stream::PortForward(_) => match query_ports(request.uri().query().unwrap_or("")) {
            Ok(ports) => ports,
            Err(message) => return plain(StatusCode::BAD_REQUEST, message),
        },
        Stream::Command(_) => Vec::new(),
    };
    let on_upgrade = hyper::upgrade::on(&mut request);
    let mut response = switching("websocket");
    if let Ok(accept) = HeaderValue::from_str(&derive_accept_key(&key)) {
        response.headers_mut().insert(SEC_WEBSOCKET_ACCEPT, accept);
    }
    if let Some(protocol) = protocol {
        response
            .headers_mut()
            .insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(protocol));
    }
    tokio::spawn(async move {
        let io = match on_upgrade.await {
            Ok(upgraded) => TokioIo::new(upgraded),
            Err(e) => {
                tracing::debug!(error = %e, "WebSocket upgrade failed");
                return;
            }
        };
        let protocol = protocol.unwrap_or("");
        match stream {
            Stream::Command(target) => {
                websocket::serve_remote_command(io, protocol, runtime, target).await
            }
            Stream::PortForward(request) => {
                websocket::serve_port_forward(io, protocol, runtime, request, ports).await
            }
        }
    });
    response
}

/// The `port` query parameters (repeated, or comma-separated).
fn query_ports(query: &str) -> Result<Vec<u16>, String> {
    let mut ports = Vec::new();
    for (name, value) in query.split('&').filter_map(|pair| pair.split_once('=')) {
        if name != "port" {
            continue;
        }
        for port in value.split(',').filter(|p| !p.is_empty()) {
            let port = port
                .parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| format!("invalid port {port:?}"))?;
            ports.push(port);
        }
    }
    if ports.is_empty() {
        return Err("query parameter \"port\" is required".into());
    }
    Ok(ports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_come_from_the_query() {
        assert_eq!(query_ports("port=80&port=8080"), Ok(vec![80, 8080]));
        assert_eq!(query_ports("port=80,81"), Ok(vec![80, 81]));
        assert!(query_ports("").is_err());
        assert!(query_ports("port=http").is_err());
    }
}
