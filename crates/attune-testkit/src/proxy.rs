//! A TCP fault proxy on loopback, in front of a real server (the real `attune-cloud`): the
//! network faults of docs/test-matrix.md §1 between an unmodified client and an unmodified server.
//! Toxiproxy's model, small: one listener, a [`Fault`] that can be changed between requests, and
//! a count of connections accepted. Requests pass through untouched; the fault acts on what comes
//! back (see [`crate::fault`]).

use std::io::Read;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::fault::{self, After, Fault};

/// A running proxy.
pub struct FaultProxy {
    pub addr: SocketAddr,
    fault: Arc<Mutex<Fault>>,
    connections: Arc<AtomicUsize>,
    received: Arc<Mutex<Vec<u8>>>,
}

impl FaultProxy {
    /// Starts a proxy on 127.0.0.1:0 to `upstream`.
    pub fn start(upstream: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let fault = Arc::new(Mutex::new(Fault::Pass));
        let connections = Arc::new(AtomicUsize::new(0));
        let received = Arc::new(Mutex::new(Vec::new()));
        let (f, c, r) = (fault.clone(), connections.clone(), received.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                c.fetch_add(1, Ordering::SeqCst);
                let fault = f.lock().unwrap().clone();
                let record = r.clone();
                std::thread::spawn(move || handle(client, upstream, &fault, &record));
            }
        });
        FaultProxy {
            addr,
            fault,
            connections,
            received,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sets the fault for connections accepted from now on.
    pub fn set(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
    }

    /// Everything the upstream has sent through the proxy so far, in order of arrival.
    pub fn received(&self) -> Vec<u8> {
        self.received.lock().unwrap().clone()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

fn handle(mut client: TcpStream, upstream: SocketAddr, fault: &Fault, record: &Mutex<Vec<u8>>) {
    if fault.replaces_answer() {
        if !matches!(fault, Fault::Refuse | Fault::Blackhole) {
            // Take the request first: closing with it unread would send an RST instead.
            read_some(&mut client);
        }
        fault::replace_answer(&mut client, fault);
        return;
    }
    let Ok(server) = TcpStream::connect(upstream) else {
        fault::end(&mut client, After::Reset);
        return;
    };
    let (mut c_in, mut s_out) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut c_in, &mut s_out);
        let _ = s_out.shutdown(Shutdown::Write);
    });
    let mut server = Tee {
        inner: server,
        record,
    };
    fault::deliver(&mut client, &mut server, fault);
    if fault.leaves_open() {
        let _ = client.shutdown(Shutdown::Write);
    }
}

fn read_some(s: &mut TcpStream) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = [0u8; 4096];
    let _ = s.read(&mut buf);
}

/// A reader that keeps a copy of what it reads.
struct Tee<'a> {
    inner: TcpStream,
    record: &'a Mutex<Vec<u8>>,
}

impl Read for Tee<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.record.lock().unwrap().extend_from_slice(&buf[..n]);
        Ok(n)
    }
}
