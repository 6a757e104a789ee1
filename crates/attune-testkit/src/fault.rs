//! One fault vocabulary for the fault server (which writes every byte itself) and the fault proxy
//! (which stands in front of a real server), and the code that acts a fault out on a socket.
//!
//! A fault is what the client sees of an *answer*: the fault server's scripted bytes, or the
//! proxy's upstream response. Faults that act "mid-body" act on the first response of a
//! connection: after its head and `body_bytes` bytes of its body.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use crate::http;

/// How a connection ends once the bytes of a fault are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Close cleanly.
    Close,
    /// `SO_LINGER 0`, then close: the peer gets an RST.
    Reset,
    /// Keep the connection open and silent until the peer goes away.
    Hold,
}

/// What happens to an answer on its way to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The answer, untouched.
    Pass,
    /// Accept, then reset at once (a refused connection, as near as a listener can get).
    Refuse,
    /// Accept and never answer, never close (the proxy does not even forward the request).
    Blackhole,
    /// Take the request; never send anything back (the proxy forwards it).
    Stall,
    /// Wait this long before the answer.
    Delay(Duration),
    /// The answer in slices of 1..=`max` bytes (sizes vary deterministically), `pause` apart.
    Slice { max: usize, pause: Duration },
    /// The answer's head and `body_bytes` of its body, then `after` (`Hold`: a stall mid-body;
    /// `Reset`; `Close`: a body short of its `Content-Length`).
    Cut { body_bytes: usize, after: After },
    /// The answer's head, then one byte every `every`, forever.
    Slowloris { every: Duration },
    /// Bytes that are not HTTP instead of the answer.
    Garbage,
    /// 200 with a body of this many bytes (`Content-Length` declared) instead of the answer.
    Oversized { bytes: usize },
    /// This status, these extra headers (e.g. `Retry-After: 3600`) and a GPII error body instead
    /// of the answer, as an overloaded server or a load balancer in front of it would.
    Status {
        status: u16,
        headers: Vec<(String, String)>,
    },
    /// The answer, but its head says it speaks this API version (a server of another major).
    ApiVersion(String),
}

impl Fault {
    /// Whether the fault replaces the answer entirely (no answer, or an upstream, is needed).
    pub fn replaces_answer(&self) -> bool {
        matches!(
            self,
            Fault::Refuse
                | Fault::Blackhole
                | Fault::Garbage
                | Fault::Oversized { .. }
                | Fault::Status { .. }
        )
    }

    /// Whether the connection is still open once the fault is acted out (the answer went out
    /// whole, however slowly): the caller then ends it, or reads the next request.
    pub fn leaves_open(&self) -> bool {
        matches!(
            self,
            Fault::Pass | Fault::Delay(_) | Fault::Slice { .. } | Fault::ApiVersion(_)
        )
    }
}

/// Acts out a fault that replaces the answer ([`Fault::replaces_answer`]). Returns `false`, doing
/// nothing, for any other fault.
pub fn replace_answer(client: &mut TcpStream, fault: &Fault) -> bool {
    match fault {
        Fault::Refuse => end(client, After::Reset),
        Fault::Blackhole => end(client, After::Hold),
        Fault::Garbage => {
            let _ =
                client.write_all(b"\x16\x03\x01\x02\x00garbage\xff\xfe not http at all\r\n\r\n");
            end(client, After::Close);
        }
        Fault::Status { status, headers } => {
            let mut h: Vec<(&str, &str)> = vec![("Content-Type", "application/json")];
            h.extend(headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
            let body = http::gpii_error("unavailable");
            let _ = client.write_all(&http::response(*status, Some("1.0"), &h, body.as_bytes()));
            end(client, After::Close);
        }
        Fault::Oversized { bytes } => {
            let head = http::head(
                200,
                Some("1.0"),
                &[("Content-Type", "application/json")],
                Some(*bytes as u64),
            );
            let _ = client.write_all(&head);
            let chunk = vec![b' '; 64 * 1024];
            let mut left = *bytes;
            while left > 0 {
                let n = left.min(chunk.len());
                if client.write_all(&chunk[..n]).is_err() {
                    return true;
                }
                left -= n;
            }
        }
        _ => return false,
    }
    true
}

/// Acts out any fault but those that replace the answer, reading the answer from `answer` (the
/// scripted bytes or the upstream connection). `Pass` copies until `answer` ends; the caller
/// decides how the connection ends after it.
pub fn deliver(client: &mut TcpStream, answer: &mut impl Read, fault: &Fault) {
    match fault {
        Fault::Pass => {
            let _ = std::io::copy(answer, client);
        }
        Fault::Stall => {
            let mut sink = Vec::new();
            let _ = answer.read_to_end(&mut sink);
            end(client, After::Hold);
        }
        Fault::Delay(d) => {
            // The proxy waits for the upstream's first byte, so the delay adds to the server's.
            let mut first = [0u8; 1];
            if answer.read_exact(&mut first).is_err() {
                return;
            }
            std::thread::sleep(*d);
            let _ = client.write_all(&first);
            let _ = std::io::copy(answer, client);
        }
        Fault::Slice { max, pause } => {
            let mut k = 0usize;
            loop {
                let mut slice = vec![0u8; k * 7 % max + 1];
                let n = read_up_to(answer, &mut slice);
                if n == 0 || client.write_all(&slice[..n]).is_err() {
                    return;
                }
                let _ = client.flush();
                k += 1;
                std::thread::sleep(*pause);
            }
        }
        Fault::Cut { body_bytes, after } => {
            let Some(mut prefix) = http::read_head(answer, 1 << 20) else {
                return;
            };
            let mut body = vec![0u8; *body_bytes];
            if answer.read_exact(&mut body).is_err() {
                return;
            }
            prefix.extend_from_slice(&body);
            let _ = client.write_all(&prefix);
            let _ = client.flush();
            end(client, *after);
        }
        Fault::Slowloris { every } => {
            let Some(head) = http::read_head(answer, 1 << 20) else {
                return;
            };
            if client.write_all(&head).is_err() {
                return;
            }
            loop {
                std::thread::sleep(*every);
                if client.write_all(b"x").is_err() {
                    return;
                }
            }
        }
        Fault::ApiVersion(version) => {
            let Some(head) = http::read_head(answer, 1 << 20) else {
                return;
            };
            let head = String::from_utf8_lossy(&head)
                .trim_end()
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
            let _ = std::io::copy(answer, client);
        }
        _ => {
            replace_answer(client, fault);
        }
    }
}

/// Reads until `buf` is full or `from` ends; the count read.
fn read_up_to(from: &mut impl Read, buf: &mut [u8]) -> usize {
    let mut n = 0;
    while n < buf.len() {
        match from.read(&mut buf[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    n
}

/// Ends a connection as `after` says.
pub fn end(s: &mut TcpStream, after: After) {
    match after {
        After::Close => {
            let _ = s.flush();
            let _ = s.shutdown(Shutdown::Write);
        }
        After::Reset => {
            let _ = socket2::SockRef::from(&*s).set_linger(Some(Duration::ZERO));
            let _ = s.shutdown(Shutdown::Read);
        }
        After::Hold => {
            let mut buf = [0u8; 4096];
            while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
        }
    }
}
