//! Raw HTTP/1.1, just enough for loopback test servers: read one request, build a response.

use std::io::Read;
use std::time::Instant;

/// One request as a server saw it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The raw (still percent-encoded) path.
    pub path: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// When the whole request had arrived.
    pub at: Instant,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON, if it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// Reads one request (head and `Content-Length` body) byte by byte, so nothing of a following
/// request on the same connection is consumed. `None` when the peer closes first or the head is
/// larger than 1 MiB.
pub fn read_request(stream: &mut impl Read) -> Option<Request> {
    let head = read_head(stream, 1 << 20)?;
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_owned();
    let path = first.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        path,
        headers,
        body,
        at: Instant::now(),
    })
}

/// Reads up to and including the blank line that ends a message head.
pub fn read_head(stream: &mut impl Read, limit: usize) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if buf.len() > limit {
            return None;
        }
        stream.read_exact(&mut byte).ok()?;
        buf.push(byte[0]);
    }
    Some(buf)
}

/// Builds a whole response: status line, `Connection: close`, `Content-Length`, the given
/// headers (`X-Attune-Api` with `api` unless it is `None`).
pub fn response(status: u16, api: Option<&str>, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut head = head(status, api, headers, Some(body.len() as u64));
    head.extend_from_slice(body);
    head
}

/// Only the head of a response, with the given `Content-Length` (or none).
pub fn head(
    status: u16,
    api: Option<&str>,
    headers: &[(&str, &str)],
    length: Option<u64>,
) -> Vec<u8> {
    let mut s = format!("HTTP/1.1 {status} Whatever\r\nConnection: close\r\n");
    if let Some(v) = api {
        s.push_str(&format!("X-Attune-Api: {v}\r\n"));
    }
    if let Some(n) = length {
        s.push_str(&format!("Content-Length: {n}\r\n"));
    }
    for (n, v) in headers {
        s.push_str(&format!("{n}: {v}\r\n"));
    }
    s.push_str("\r\n");
    s.into_bytes()
}

/// A JSON response with our API header (`1.0`).
pub fn json(status: u16, body: &str) -> Vec<u8> {
    response(
        status,
        Some("1.0"),
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

/// GPII's error body.
pub fn gpii_error(message: &str) -> String {
    serde_json::json!({"isError": true, "message": message}).to_string()
}
