//! Which user is on the other end of a loopback TCP connection (Linux).
//!
//! Loopback keeps other computers out, not other users of this one: on a shared desktop anyone
//! logged in (or any service account) can connect to 127.0.0.1. The local API therefore serves
//! only connections whose socket belongs to the user it runs as. The kernel lists every TCP socket
//! with its owner's uid in `/proc/net/tcp` and `/proc/net/tcp6`; the peer's socket is the row
//! whose local end is the peer's address and whose remote end is ours. A connection whose row
//! cannot be found is refused: this check fails closed.
//!
//! Reading procfs needs no `unsafe` (the workspace denies it), unlike `getsockopt(SO_PEERCRED)`,
//! which works only for Unix sockets anyway.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The kernel's tables of TCP sockets, IPv4 then IPv6.
pub const TCP_TABLES: [&str; 2] = ["/proc/net/tcp", "/proc/net/tcp6"];

/// Why a uid is not known.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerError {
    #[error("cannot read {path}: {detail}")]
    Read { path: String, detail: String },
    #[error("{path} has no readable {field} line")]
    NoUid { path: String, field: &'static str },
    #[error("no socket from {peer} to {local} is listed in /proc/net/tcp or /proc/net/tcp6")]
    NotFound { peer: SocketAddr, local: SocketAddr },
}

/// The effective uid of this process, from `/proc/self/status` (`Uid: real effective saved fs`).
pub fn own_uid() -> Result<u32, PeerError> {
    let path = "/proc/self/status";
    let text = std::fs::read_to_string(path).map_err(|e| PeerError::Read {
        path: path.to_owned(),
        detail: e.to_string(),
    })?;
    text.lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .ok_or(PeerError::NoUid {
            path: path.to_owned(),
            field: "Uid:",
        })
}

/// The uid owning the socket at `peer` that is connected to `local`, from the kernel's tables.
pub fn peer_uid(peer: SocketAddr, local: SocketAddr) -> Result<u32, PeerError> {
    for path in TCP_TABLES {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            // A kernel without IPv6 has no tcp6 table; the peer is then in the other one.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(PeerError::Read {
                    path: path.to_owned(),
                    detail: e.to_string(),
                })
            }
        };
        if let Some(uid) = find_uid(&text, peer, local) {
            return Ok(uid);
        }
    }
    Err(PeerError::NotFound { peer, local })
}

/// Finds, in the text of a `/proc/net/tcp` or `/proc/net/tcp6` table, the uid of the socket whose
/// local end is `peer` and whose remote end is `local`. The server's own end of the same
/// connection (local and remote the other way round) never matches.
pub fn find_uid(table: &str, peer: SocketAddr, local: SocketAddr) -> Option<u32> {
    let (peer, local) = (canonical(peer), canonical(local));
    table.lines().skip(1).find_map(|row| {
        // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid …
        let f: Vec<&str> = row.split_whitespace().collect();
        let (mine, theirs, uid) = (f.get(1)?, f.get(2)?, f.get(7)?);
        (parse_endpoint(mine)? == peer && parse_endpoint(theirs)? == local)
            .then(|| uid.parse().ok())
            .flatten()
    })
}

/// An address as the tables show it once IPv4-mapped IPv6 addresses are folded to IPv4.
fn canonical(a: SocketAddr) -> (IpAddr, u16) {
    (a.ip().to_canonical(), a.port())
}

/// `0100007F:1F91` (IPv4) or 32 hex digits and a port (IPv6). The kernel prints each 32-bit word
/// of the address as the number its bytes (in network order) make in this machine's byte order,
/// so the bytes come back with `to_ne_bytes`.
fn parse_endpoint(s: &str) -> Option<(IpAddr, u16)> {
    let (addr, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |h: &str| u32::from_str_radix(h, 16).ok().map(u32::to_ne_bytes);
    let ip = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(addr)?)),
        32 => {
            let mut b = [0u8; 16];
            for (i, chunk) in b.chunks_exact_mut(4).enumerate() {
                chunk.copy_from_slice(&word(addr.get(i * 8..i * 8 + 8)?)?);
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return None,
    };
    Some((ip.to_canonical(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hex form the kernel prints for an IPv4 address on this machine.
    fn hex4(ip: Ipv4Addr) -> String {
        format!("{:08X}", u32::from_ne_bytes(ip.octets()))
    }

    fn hex6(ip: Ipv6Addr) -> String {
        ip.octets()
            .chunks_exact(4)
            .map(|c| format!("{:08X}", u32::from_ne_bytes([c[0], c[1], c[2], c[3]])))
            .collect()
    }

    const HEADER: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode";

    fn row(sl: u32, local: &str, remote: &str, uid: u32) -> String {
        format!("{sl:4}: {local} {remote} 01 00000000:00000000 00:00000000 00000000 {uid:5}        0 4242 1 0000000000000000 20 4 30 10 -1")
    }

    #[test]
    fn the_peers_row_gives_its_uid_and_the_servers_own_end_does_not_match() {
        let lo = Ipv4Addr::LOCALHOST;
        let (api, client) = (SocketAddr::from((lo, 8081)), SocketAddr::from((lo, 40_000)));
        let (a, c) = (format!("{}:1F91", hex4(lo)), format!("{}:9C40", hex4(lo)));
        let table = [
            HEADER.to_owned(),
            row(0, &a, "00000000:0000", 1000),
            // The server's end of the connection: local = api, remote = client.
            row(1, &a, &c, 1000),
            // The client's end: local = client, remote = api, owned by someone else.
            row(2, &c, &a, 1001),
        ]
        .join("\n");

        assert_eq!(find_uid(&table, client, api), Some(1001));
        assert_eq!(
            find_uid(&table, SocketAddr::from((lo, 40_001)), api),
            None,
            "another port"
        );
        assert_eq!(find_uid(HEADER, client, api), None, "empty table");
    }

    #[test]
    fn ipv6_rows_are_read_and_garbage_is_skipped() {
        let lo = Ipv6Addr::LOCALHOST;
        let (api, client) = (SocketAddr::from((lo, 8081)), SocketAddr::from((lo, 40_000)));
        let (a, c) = (format!("{}:1F91", hex6(lo)), format!("{}:9C40", hex6(lo)));
        let table = [
            HEADER.to_owned(),
            "   0: not-an-address 00:00 01 x x x x".to_owned(),
            "   1:".to_owned(),
            row(2, &c, &a, 65534),
        ]
        .join("\n");

        assert_eq!(find_uid(&table, client, api), Some(65534));
    }

    #[test]
    fn ipv4_mapped_rows_match_ipv4_addresses() {
        let mapped = Ipv4Addr::LOCALHOST.to_ipv6_mapped();
        let (a, c) = (
            format!("{}:1F91", hex6(mapped)),
            format!("{}:9C40", hex6(mapped)),
        );
        let table = [HEADER.to_owned(), row(0, &c, &a, 7)].join("\n");
        let v4 = |p: u16| SocketAddr::from((Ipv4Addr::LOCALHOST, p));

        assert_eq!(find_uid(&table, v4(40_000), v4(8081)), Some(7));
    }

    #[test]
    fn a_real_loopback_connection_is_ours() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server_end, peer) = listener.accept().unwrap();

        let uid = peer_uid(peer, server_end.local_addr().unwrap());

        assert_eq!(uid, Ok(own_uid().unwrap()));
        assert_eq!(peer, client.local_addr().unwrap());
    }

    #[test]
    fn a_connection_that_is_not_there_is_not_found() {
        let a = SocketAddr::from((Ipv4Addr::LOCALHOST, 1));
        assert_eq!(
            peer_uid(a, a),
            Err(PeerError::NotFound { peer: a, local: a })
        );
    }
}
