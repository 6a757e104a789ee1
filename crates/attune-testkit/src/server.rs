//! A fault server on loopback that writes raw HTTP/1.1 by hand, so a test controls every byte and
//! every pause (docs/test-matrix.md §1). Each request is answered by a script with a [`Reply`]: the
//! bytes of an answer and the [`Fault`] they go out with. Plain threads, so a test on any runtime
//! (or none) can use it.

use std::io::Cursor;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::fault::{self, After, Fault};
use crate::http::{self, Request};

/// What the server does with one request: `answer`, acted out with `fault`.
#[derive(Debug, Clone)]
pub struct Reply {
    pub answer: Vec<u8>,
    pub fault: Fault,
    /// After a `Pass`, read the next request on the same connection (the answer must then not
    /// say `Connection: close`).
    pub keep_alive: bool,
}

impl Reply {
    /// These bytes, written at once, then closed.
    pub fn whole(answer: Vec<u8>) -> Reply {
        Reply {
            answer,
            fault: Fault::Pass,
            keep_alive: false,
        }
    }

    /// 200 with a JSON body and our API header.
    pub fn json(body: &str) -> Reply {
        Reply::whole(http::json(200, body))
    }

    /// This status with our API header, these headers and this body.
    pub fn status(status: u16, headers: &[(&str, &str)], body: &str) -> Reply {
        Reply::whole(http::response(
            status,
            Some("1.0"),
            headers,
            body.as_bytes(),
        ))
    }

    /// A fault with no answer of its own (`Stall`, `Refuse`, `Garbage`…).
    pub fn fault(fault: Fault) -> Reply {
        Reply::whole(Vec::new()).with(fault)
    }

    /// This reply, acted out with `fault`.
    pub fn with(mut self, fault: Fault) -> Reply {
        self.fault = fault;
        self
    }

    /// This reply without `Connection: close`, and the connection kept for the next request
    /// (as a real cloud does; a benchmark then pays no connection set-up per request).
    pub fn keep_alive(mut self) -> Reply {
        let text = String::from_utf8_lossy(&self.answer).replacen("Connection: close\r\n", "", 1);
        self.answer = text.into_bytes();
        self.keep_alive = true;
        self
    }
}

type Script = dyn Fn(&Request, usize) -> Reply + Send + Sync;

/// A running fault server. Requests are numbered from 0 in arrival order. Dropping it stops
/// accepting; connections in flight end with their peers.
pub struct FaultServer {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees `stop` and drops the listener.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

impl FaultServer {
    /// Starts a server on 127.0.0.1:0 answering each request with `script(request, n)`.
    pub fn start<F>(script: F) -> FaultServer
    where
        F: Fn(&Request, usize) -> Reply + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let script: Arc<Script> = Arc::new(script);
        let (seen2, stop2) = (seen.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                if stop2.load(Ordering::SeqCst) {
                    return;
                }
                let (seen, script) = (seen2.clone(), script.clone());
                std::thread::spawn(move || serve(stream, &seen, script.as_ref()));
            }
        });
        FaultServer { addr, seen, stop }
    }

    /// Always the same reply.
    pub fn always(reply: Reply) -> FaultServer {
        FaultServer::start(move |_, _| reply.clone())
    }

    /// The replies in order; the last one repeats.
    pub fn sequence(replies: Vec<Reply>) -> FaultServer {
        FaultServer::start(move |_, n| replies[n.min(replies.len() - 1)].clone())
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

fn serve(mut stream: TcpStream, seen: &Mutex<Vec<Request>>, script: &Script) {
    let _ = stream.set_nodelay(true);
    loop {
        let Some(req) = http::read_request(&mut stream) else {
            return;
        };
        let n = {
            let mut s = seen.lock().unwrap();
            s.push(req.clone());
            s.len() - 1
        };
        let reply = script(&req, n);
        let fault = reply.fault.clone();
        if !fault::replace_answer(&mut stream, &reply.fault) {
            fault::deliver(&mut stream, &mut Cursor::new(reply.answer), &reply.fault);
        }
        if !fault.leaves_open() {
            return;
        }
        if !(reply.keep_alive && reply.fault == Fault::Pass) {
            fault::end(&mut stream, After::Close);
            return;
        }
    }
}
