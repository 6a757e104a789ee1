//! A fault server on loopback that writes raw HTTP/1.1 by hand, so a test controls every byte and
//! every pause: refuse, stall, trickle, cut, reset, slice (TEST-MATRIX §1).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request as the server saw it.
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
}

/// What happens after the bytes of a reply are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    Close,
    /// `SO_LINGER 0`, then close: the peer gets an RST.
    Reset,
    /// Keep the connection open and silent.
    Hold,
}

/// What the server does with one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Write `data` (in slices of at most `slice.0` bytes, `slice.1` apart, if given), then `after`.
    Bytes {
        data: Vec<u8>,
        slice: Option<(usize, Duration)>,
        after: After,
    },
    /// Never answer.
    Stall,
    /// Write `head`, then one byte every `every`, forever.
    Slowloris { head: Vec<u8>, every: Duration },
    /// Wait, then reply.
    Delay(Duration, Box<Reply>),
}

/// Builds a whole response: status line, `Content-Length`, `Connection: close`, the given
/// headers (`X-Attune-Api: 1.0` is added unless `api` is `None`).
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

impl Reply {
    /// A whole response, written at once, then closed.
    pub fn whole(data: Vec<u8>) -> Reply {
        Reply::Bytes {
            data,
            slice: None,
            after: After::Close,
        }
    }

    /// 200 with a JSON body and our API header.
    pub fn json(body: &str) -> Reply {
        Reply::whole(response(
            200,
            Some("1.0"),
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        ))
    }

    pub fn status(status: u16, headers: &[(&str, &str)], body: &str) -> Reply {
        Reply::whole(response(status, Some("1.0"), headers, body.as_bytes()))
    }
}

type Script = dyn Fn(&Request, usize) -> Reply + Send + Sync;

/// A running fault server. Requests are numbered from 0 in arrival order.
pub struct FaultServer {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Request>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultServer {
    /// Starts a server on 127.0.0.1:0 answering each request with `script(request, n)`.
    pub async fn start<F>(script: F) -> FaultServer
    where
        F: Fn(&Request, usize) -> Reply + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script: Arc<Script> = Arc::new(script);
        let seen2 = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let seen = seen2.clone();
                let script = script.clone();
                tokio::spawn(async move {
                    serve(stream, seen, script).await;
                });
            }
        });
        FaultServer { addr, seen, task }
    }

    /// Always the same reply.
    pub async fn always(reply: Reply) -> FaultServer {
        FaultServer::start(move |_, _| reply.clone()).await
    }

    /// The replies in order; the last one repeats.
    pub async fn sequence(replies: Vec<Reply>) -> FaultServer {
        FaultServer::start(move |_, n| replies[n.min(replies.len() - 1)].clone()).await
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.seen.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

async fn serve(mut stream: TcpStream, seen: Arc<Mutex<Vec<Request>>>, script: Arc<Script>) {
    let Some(req) = read_request(&mut stream).await else {
        return;
    };
    let n = {
        let mut s = seen.lock().unwrap();
        s.push(req.clone());
        s.len() - 1
    };
    let reply = script(&req, n);
    act(&mut stream, reply).await;
}

fn act<'a>(
    stream: &'a mut TcpStream,
    reply: Reply,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>> {
    Box::pin(async move {
        match reply {
            Reply::Stall => std::future::pending::<()>().await,
            Reply::Delay(d, r) => {
                tokio::time::sleep(d).await;
                act(stream, *r).await;
            }
            Reply::Slowloris { head, every } => {
                if stream.write_all(&head).await.is_err() {
                    return;
                }
                loop {
                    tokio::time::sleep(every).await;
                    if stream.write_all(b"x").await.is_err() {
                        return;
                    }
                }
            }
            Reply::Bytes { data, slice, after } => {
                match slice {
                    None => {
                        let _ = stream.write_all(&data).await;
                    }
                    Some((max, pause)) => {
                        // Slice sizes vary 1..=max, deterministically.
                        let mut i = 0;
                        let mut k = 0usize;
                        while i < data.len() {
                            let len = (k * 7 % max + 1).min(data.len() - i);
                            if stream.write_all(&data[i..i + len]).await.is_err() {
                                return;
                            }
                            let _ = stream.flush().await;
                            i += len;
                            k += 1;
                            tokio::time::sleep(pause).await;
                        }
                    }
                }
                let _ = stream.flush().await;
                match after {
                    After::Close => {
                        let _ = stream.shutdown().await;
                    }
                    After::Reset => {
                        let _ = stream.set_zero_linger();
                    }
                    After::Hold => std::future::pending::<()>().await,
                }
            }
        }
    })
}

async fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 || buf.len() > 1 << 20 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
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
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Request {
        method,
        path,
        headers,
        body,
        at: Instant::now(),
    })
}
