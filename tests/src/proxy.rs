//! A TCP fault proxy on loopback, in front of a real server (the real `attune-cloud`): the
//! network faults of TEST-MATRIX §1 between an unmodified client and an unmodified server.
//! Toxiproxy's model, small: one listener, a [`Toxic`] that can be changed between requests, and a
//! count of connections accepted.
//!
//! Faults that act "mid-body" act on the first response of each connection (for Attune's client,
//! the token answer): after the response head and `body_bytes` bytes of its body.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the proxy does to each new connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Toxic {
    /// Pass everything through.
    Pass,
    /// Accept, then reset at once (a refused connection, as near as a listener can get).
    Refuse,
    /// Accept and never answer, never close.
    Blackhole,
    /// Wait this long before passing the response through.
    Latency(Duration),
    /// Forward the request; never send anything back.
    StallHeaders,
    /// Send the head and `body_bytes` of the body, then silence.
    StallMidBody { body_bytes: usize },
    /// Send the head and `body_bytes` of the body, then reset (`SO_LINGER 0`).
    ResetMidBody { body_bytes: usize },
    /// Send the head and `body_bytes` of the body, then close cleanly (short of Content-Length).
    Truncate { body_bytes: usize },
    /// Answer with bytes that are not HTTP.
    Garbage,
    /// Answer 200 with a body of this many bytes (`Content-Length` declared).
    Oversized { bytes: usize },
    /// Answer with this status and extra header lines (e.g. `Retry-After: 3600`) and a GPII
    /// error body, as an overloaded server or load balancer in front of it would.
    Status { status: u16, headers: Vec<String> },
    /// Pass through, but the first response says it speaks this API version (a server of
    /// another major).
    ApiVersion(String),
}

/// A running proxy; dropping it stops accepting (connections in flight end with their peers).
pub struct FaultProxy {
    pub addr: SocketAddr,
    toxic: Arc<Mutex<Toxic>>,
    connections: Arc<AtomicUsize>,
}

impl FaultProxy {
    /// Starts a proxy on 127.0.0.1:0 to `upstream`.
    pub fn start(upstream: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let toxic = Arc::new(Mutex::new(Toxic::Pass));
        let connections = Arc::new(AtomicUsize::new(0));
        let (t, c) = (toxic.clone(), connections.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                c.fetch_add(1, Ordering::SeqCst);
                let toxic = t.lock().unwrap().clone();
                std::thread::spawn(move || handle(client, upstream, toxic));
            }
        });
        FaultProxy {
            addr,
            toxic,
            connections,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sets the fault for connections accepted from now on.
    pub fn set(&self, toxic: Toxic) {
        *self.toxic.lock().unwrap() = toxic;
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

fn handle(mut client: TcpStream, upstream: SocketAddr, toxic: Toxic) {
    match toxic {
        Toxic::Refuse => {
            reset(&client);
            return;
        }
        Toxic::Blackhole => {
            park(client);
            return;
        }
        Toxic::Garbage => {
            read_some(&mut client);
            let _ =
                client.write_all(b"\x16\x03\x01\x02\x00garbage\xff\xfe not http at all\r\n\r\n");
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
        Toxic::Status { status, headers } => {
            read_some(&mut client);
            let body = br#"{"isError":true,"message":"unavailable"}"#;
            let mut head = format!(
                "HTTP/1.1 {status} Fault\r\nX-Attune-Api: 1.0\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            for h in headers {
                head.push_str(&h);
                head.push_str("\r\n");
            }
            head.push_str("\r\n");
            let _ = client.write_all(head.as_bytes());
            let _ = client.write_all(body);
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
        Toxic::Oversized { bytes } => {
            read_some(&mut client);
            let head = format!(
                "HTTP/1.1 200 OK\r\nX-Attune-Api: 1.0\r\nContent-Type: application/json\r\n\
                 Content-Length: {bytes}\r\n\r\n"
            );
            let _ = client.write_all(head.as_bytes());
            let chunk = vec![b' '; 64 * 1024];
            let mut left = bytes;
            while left > 0 {
                let n = left.min(chunk.len());
                if client.write_all(&chunk[..n]).is_err() {
                    return;
                }
                left -= n;
            }
            return;
        }
        _ => {}
    }
    let Ok(server) = TcpStream::connect(upstream) else {
        reset(&client);
        return;
    };
    // Requests pass through untouched.
    let (mut c_in, mut s_out) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut c_in, &mut s_out);
        let _ = s_out.shutdown(Shutdown::Write);
    });
    let mut server = server;
    match toxic {
        Toxic::Pass => pipe(&mut server, &mut client),
        Toxic::Latency(d) => {
            let mut first = [0u8; 1];
            if server.read_exact(&mut first).is_err() {
                return;
            }
            std::thread::sleep(d);
            let _ = client.write_all(&first);
            pipe(&mut server, &mut client);
        }
        Toxic::ApiVersion(version) => {
            let Some(head) = head_and_body_prefix(&mut server, 0) else {
                return;
            };
            let head = String::from_utf8_lossy(&head)
                .lines()
                .map(|l| {
                    if l.to_ascii_lowercase().starts_with("x-attune-api:") {
                        format!("X-Attune-Api: {version}")
                    } else {
                        l.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join("\r\n");
            let _ = client.write_all(head.as_bytes());
            let _ = client.write_all(b"\r\n\r\n");
            pipe(&mut server, &mut client);
        }
        Toxic::StallHeaders => {
            let mut sink = Vec::new();
            let _ = server.read_to_end(&mut sink);
            park(client);
        }
        Toxic::StallMidBody { body_bytes }
        | Toxic::ResetMidBody { body_bytes }
        | Toxic::Truncate { body_bytes } => {
            let Some(prefix) = head_and_body_prefix(&mut server, body_bytes) else {
                return;
            };
            let _ = client.write_all(&prefix);
            let _ = client.flush();
            match toxic {
                Toxic::StallMidBody { .. } => park(client),
                Toxic::ResetMidBody { .. } => reset(&client),
                _ => {
                    let _ = client.shutdown(Shutdown::Both);
                }
            }
        }
        _ => {}
    }
}

/// Reads the response head and the first `body_bytes` of its body from `server`.
fn head_and_body_prefix(server: &mut TcpStream, body_bytes: usize) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        server.read_exact(&mut byte).ok()?;
        buf.push(byte[0]);
    }
    let mut body = vec![0u8; body_bytes];
    server.read_exact(&mut body).ok()?;
    buf.extend_from_slice(&body);
    Some(buf)
}

fn pipe(from: &mut TcpStream, to: &mut TcpStream) {
    let _ = std::io::copy(from, to);
    let _ = to.shutdown(Shutdown::Write);
}

fn read_some(s: &mut TcpStream) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = [0u8; 4096];
    let _ = s.read(&mut buf);
}

/// Holds the connection open and silent until the peer goes away.
fn park(mut s: TcpStream) {
    let mut buf = [0u8; 4096];
    while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
}

/// Closes with an RST: `SO_LINGER` 0, then close.
fn reset(s: &TcpStream) {
    let _ = socket2::SockRef::from(s).set_linger(Some(Duration::ZERO));
    let _ = s.shutdown(Shutdown::Read);
}
