//! A tiny scripted HTTP registry for cases a real registry will not produce: schema 1
//! manifests, a bearer-token challenge, a blob that stalls half-way.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A request as the handler sees it.
pub struct Request {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
}

/// What to answer.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Send only this many body bytes, then hang until the server stops.
    pub stall_after: Option<usize>,
}

impl Reply {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: body.into(),
            stall_after: None,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

pub struct FakeRegistry {
    pub host: String,
    stop: Arc<AtomicBool>,
}

impl FakeRegistry {
    pub fn start(
        handler: impl Fn(&Request, &str) -> Reply + Send + Sync + 'static,
    ) -> FakeRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let handler = Arc::new(handler);
        let (stop2, host2) = (stop.clone(), host.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (handler, stop, host) = (handler.clone(), stop2.clone(), host2.clone());
                std::thread::spawn(move || serve(stream, &*handler, &stop, &host));
            }
        });
        FakeRegistry { host, stop }
    }
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(&self.host);
    }
}

fn serve(
    mut stream: TcpStream,
    handler: &(dyn Fn(&Request, &str) -> Reply + Send + Sync),
    stop: &AtomicBool,
    host: &str,
) {
    loop {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match stream.read(&mut byte) {
                Ok(1) => head.push(byte[0]),
                _ => return,
            }
        }
        let text = String::from_utf8_lossy(&head).to_string();
        let mut lines = text.split("\r\n");
        let mut first = lines.next().unwrap_or("").split(' ');
        let method = first.next().unwrap_or("").to_string();
        let path = first.next().unwrap_or("").to_string();
        let authorization = lines
            .filter_map(|l| l.split_once(':'))
            .find(|(n, _)| n.eq_ignore_ascii_case("authorization"))
            .map(|(_, v)| v.trim().to_string());
        let reply = handler(
            &Request {
                method: method.clone(),
                path,
                authorization,
            },
            host,
        );
        let mut out = format!(
            "HTTP/1.1 {} X\r\nContent-Length: {}\r\n",
            reply.status,
            reply.body.len()
        );
        for (n, v) in &reply.headers {
            out.push_str(&format!("{n}: {v}\r\n"));
        }
        out.push_str("\r\n");
        if stream.write_all(out.as_bytes()).is_err() {
            return;
        }
        if method == "HEAD" {
            continue;
        }
        let send = reply.stall_after.unwrap_or(reply.body.len());
        if stream.write_all(&reply.body[..send]).is_err() {
            return;
        }
        if reply.stall_after.is_some() {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
            }
            return;
        }
    }
}
