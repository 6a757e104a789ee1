//! Secrets, tokens, IP allow-lists and the limiter of failed token requests.
//!
//! - Client secrets are stored as `sha256:<salt>:<hash>` with a 16-byte random salt per
//!   credential and compared in constant time. A fast hash is enough because the secrets
//!   `credentials create` makes are 128 random bits (nothing to brute-force); a slow hash
//!   (argon2) would let anyone with a wrong secret burn CPU on every token request.
//! - Access tokens are 128 random bits, given out as 32 hex digits and stored only as their
//!   SHA-256, so a copy of the database does not hold usable tokens.
//! - A key is a secret that a person carries, so guessing keys at `/access_token` must be slow:
//!   failed requests drain a token bucket per (source address, client id), and failures of an
//!   authenticated client also one per client id (GPII has no such limit). One client's
//!   failures never refuse another client's correct credential, even from the same address
//!   (behind a reverse proxy every site shares one).
//! - The source address is the peer's, or, when the peer is a trusted proxy
//!   (`serve --trusted-proxy`), the rightmost untrusted hop of `X-Forwarded-For`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Lifetime of an access token (GPII's `defaultTokenLifeTimeInSeconds`).
pub const TOKEN_LIFETIME_SECS: i64 = 3600;

/// A stored client secret: salt and SHA-256 of salt‖secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretHash {
    salt: [u8; 16],
    hash: [u8; 32],
}

impl SecretHash {
    /// Hashes a new secret with a fresh random salt.
    pub fn new(secret: &str) -> Self {
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        SecretHash {
            salt,
            hash: salted(&salt, secret),
        }
    }

    /// Reads the stored form; `None` if it is not one we wrote.
    pub fn parse(stored: &str) -> Option<Self> {
        let mut parts = stored.split(':');
        if parts.next()? != "sha256" {
            return None;
        }
        let salt = hex::decode(parts.next()?).ok()?.try_into().ok()?;
        let hash = hex::decode(parts.next()?).ok()?.try_into().ok()?;
        parts.next().is_none().then_some(SecretHash { salt, hash })
    }

    /// Whether `secret` is the one hashed, in time independent of where they differ.
    pub fn matches(&self, secret: &str) -> bool {
        salted(&self.salt, secret).ct_eq(&self.hash).into()
    }
}

impl std::fmt::Display for SecretHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "sha256:{}:{}",
            hex::encode(self.salt),
            hex::encode(self.hash)
        )
    }
}

fn salted(salt: &[u8], secret: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(secret.as_bytes());
    h.finalize().into()
}

/// A fresh random secret or token: 128 bits as 32 hex digits.
pub fn random_token() -> String {
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// How a token is stored and looked up: SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A short, non-reversible tag for logs (8 hex digits of SHA-256), for tokens and client ids.
pub fn log_tag(secret: &str) -> String {
    token_hash(secret)[..8].to_owned()
}

/// IPv4 addresses mapped into IPv6 (`::ffff:10.0.0.1`, how a dual-stack socket reports IPv4
/// peers) as plain IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// Reads a `--trusted-proxy` value: a CIDR block (`10.0.0.0/8`) or one address.
pub fn parse_trusted_proxy(s: &str) -> Result<ipnet::IpNet, String> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .or_else(|_| {
            s.parse::<IpAddr>()
                .map(|a| ipnet::IpNet::from(canonical(a)))
        })
        .map_err(|_| format!("`{s}` is neither an address nor a CIDR block (e.g. 10.0.0.0/8)"))
}

/// The address a request comes from. The peer's, unless the peer is one of the `trusted`
/// proxies: then the rightmost `X-Forwarded-For` hop that is not a trusted proxy (the hops to
/// its right were appended by proxies we trust; anything to its left the client may have
/// written itself). When every hop is trusted, the leftmost; when a hop cannot be read, the
/// last trusted one before it (a garbled header must not let a client choose its address).
/// `forwarded_for` are the header's values in the order received.
pub fn client_address(peer: IpAddr, forwarded_for: &[&str], trusted: &[ipnet::IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    let mut current = canonical(peer);
    if !is_trusted(&current) {
        return current;
    }
    for hop in forwarded_for.iter().rev().flat_map(|v| v.rsplit(',')) {
        let hop = hop.trim();
        let parsed = hop
            .parse::<IpAddr>()
            .or_else(|_| hop.parse::<std::net::SocketAddr>().map(|a| a.ip()));
        let Ok(ip) = parsed.map(canonical) else {
            return current;
        };
        if !is_trusted(&ip) {
            return ip;
        }
        current = ip;
    }
    current
}

/// Whether `ip` is inside one of GPII's `allowedIPBlocks` (`"10.0.0.0/8"`, `"::1"`, …). IPv4
/// addresses mapped into IPv6 are compared as IPv4. Entries that do not parse allow nothing.
pub fn ip_allowed(ip: IpAddr, blocks: &[String]) -> bool {
    let ip = canonical(ip);
    blocks.iter().any(|b| {
        let b = b.trim();
        if b.contains('/') {
            // GPII's own test data has `192.168.1.1/128` for IPv4, which ipaddr.js rejects; we
            // do too (it allows nothing).
            b.parse::<ipnet::IpNet>().is_ok_and(|n| n.contains(&ip))
        } else {
            b.parse::<IpAddr>().is_ok_and(|a| a == ip)
        }
    })
}

/// How many failed token requests are tolerated, and how fast that allowance comes back.
#[derive(Debug, Clone, Copy)]
pub struct LimitPolicy {
    /// Failures allowed in a burst.
    pub burst: f64,
    /// Failures forgiven per second afterwards.
    pub per_second: f64,
}

/// Defaults: per source address and client id 10 failures, then one per 6 s (10 a minute);
/// per authenticated client id 60, then one per second (a site with many desktops keying in
/// with typos must not lock itself out, but one client cannot sweep the key space).
pub const PER_ADDRESS: LimitPolicy = LimitPolicy {
    burst: 10.0,
    per_second: 1.0 / 6.0,
};
pub const PER_CLIENT: LimitPolicy = LimitPolicy {
    burst: 60.0,
    per_second: 1.0,
};

/// Largest number of buckets kept per limiter (bounds memory under an attack from many
/// addresses or with many client ids): beyond it, full buckets are dropped, then the fullest.
const MAX_BUCKETS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    level: f64,
    at_ms: i64,
}

/// Token buckets of failed attempts, keyed by a string (client id or address). In memory and
/// per process: behind a load balancer each process limits on its own.
#[derive(Debug)]
pub struct FailureLimiter {
    policy: LimitPolicy,
    max_buckets: usize,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl FailureLimiter {
    pub fn new(policy: LimitPolicy) -> Self {
        Self::with_capacity(policy, MAX_BUCKETS)
    }

    /// A limiter that keeps at most `max_buckets` buckets.
    pub fn with_capacity(policy: LimitPolicy, max_buckets: usize) -> Self {
        FailureLimiter {
            policy,
            max_buckets: max_buckets.max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// The bucket's level at `now_ms`, without changing it.
    fn level_at(&self, b: &Bucket, now_ms: i64) -> f64 {
        let secs = (now_ms - b.at_ms).max(0) as f64 / 1000.0;
        (b.level + secs * self.policy.per_second).min(self.policy.burst)
    }

    fn refill(&self, b: &mut Bucket, now_ms: i64) {
        b.level = self.level_at(b, now_ms);
        b.at_ms = now_ms;
    }

    /// Makes room for one more bucket: drops the full ones (they hold nothing), and if that is
    /// not enough, the fullest tenth (the least drained say the least about an attacker).
    fn make_room(&self, map: &mut HashMap<String, Bucket>, now_ms: i64) {
        let burst = self.policy.burst;
        map.retain(|_, b| self.level_at(b, now_ms) < burst);
        if map.len() < self.max_buckets {
            return;
        }
        let mut by_level: Vec<(f64, String)> = map
            .iter()
            .map(|(k, b)| (self.level_at(b, now_ms), k.clone()))
            .collect();
        by_level.sort_by(|a, b| b.0.total_cmp(&a.0));
        let excess = map.len() + 1 - self.max_buckets * 9 / 10;
        for (_, k) in by_level.into_iter().take(excess) {
            map.remove(&k);
        }
    }

    /// `Err(seconds)` when `who` has no failures left: wait that long before trying again.
    pub fn check(&self, who: &str, now_ms: i64) -> Result<(), u64> {
        let Ok(mut map) = self.buckets.lock() else {
            return Ok(());
        };
        let Some(b) = map.get_mut(who) else {
            return Ok(());
        };
        self.refill(b, now_ms);
        if b.level >= 1.0 {
            Ok(())
        } else {
            let wait = (1.0 - b.level) / self.policy.per_second;
            Err(wait.ceil().max(1.0) as u64)
        }
    }

    /// Records one failure of `who`. True when this failure used up `who`'s last one (the
    /// start of a burst, worth an audit entry): once per burst, not per failure.
    pub fn fail(&self, who: &str, now_ms: i64) -> bool {
        let Ok(mut map) = self.buckets.lock() else {
            return false;
        };
        if map.len() >= self.max_buckets && !map.contains_key(who) {
            self.make_room(&mut map, now_ms);
        }
        let b = map.entry(who.to_owned()).or_insert(Bucket {
            level: self.policy.burst,
            at_ms: now_ms,
        });
        self.refill(b, now_ms);
        let had_one = b.level >= 1.0;
        b.level = (b.level - 1.0).max(0.0);
        had_one && b.level < 1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_hash_round_trips_and_rejects_others() {
        let h = SecretHash::new("s3cret");
        let back = SecretHash::parse(&h.to_string()).unwrap();
        assert_eq!(back, h);
        assert!(back.matches("s3cret"));
        assert!(!back.matches("s3cret "));
        assert!(!back.matches(""));
        assert_ne!(SecretHash::new("s3cret"), h, "salts differ");
        assert_eq!(SecretHash::parse("plain"), None);
        assert_eq!(SecretHash::parse("sha256:00:00"), None);
    }

    #[test]
    fn tokens_are_128_bits_and_distinct() {
        let a = random_token();
        assert_eq!(a.len(), 32);
        assert_ne!(a, random_token());
        assert_eq!(token_hash(&a).len(), 64);
    }

    #[test]
    fn ip_blocks_as_gpii_writes_them() {
        let blocks: Vec<String> = ["127.0.0.1/8", "172.0.0.0/8", "::1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert!(ip_allowed("127.3.4.5".parse().unwrap(), &blocks));
        assert!(ip_allowed("::1".parse().unwrap(), &blocks));
        assert!(ip_allowed("::ffff:127.0.0.1".parse().unwrap(), &blocks));
        assert!(!ip_allowed("10.0.0.1".parse().unwrap(), &blocks));
        assert!(!ip_allowed(
            "192.168.1.1".parse().unwrap(),
            &["192.168.1.1/128".to_owned()]
        ));
        assert!(!ip_allowed("127.0.0.1".parse().unwrap(), &[]));
    }

    #[test]
    fn limiter_memory_stays_bounded_when_every_failure_has_a_new_name() {
        let l = FailureLimiter::with_capacity(
            LimitPolicy {
                burst: 10.0,
                per_second: 0.0,
            },
            100,
        );
        l.fail("drained", 0);
        for _ in 0..9 {
            l.fail("drained", 0);
        }
        for i in 0..10_000 {
            l.fail(&format!("203.0.113.1 client-{i}"), 0);
        }
        let n = l.buckets.lock().unwrap().len();
        assert!(n <= 100, "{n} buckets kept");
        assert!(
            l.check("drained", 0).is_err(),
            "the most drained bucket is kept"
        );
    }

    fn nets(list: &[&str]) -> Vec<ipnet::IpNet> {
        list.iter()
            .map(|s| parse_trusted_proxy(s).unwrap())
            .collect()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let trusted = nets(&["10.0.0.0/8", "192.168.1.1"]);
        // Not from a trusted proxy: the header is the client's own words.
        assert_eq!(
            client_address(ip("203.0.113.9"), &["198.51.100.1"], &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_address(ip("10.0.0.2"), &["198.51.100.1"], &[]),
            ip("10.0.0.2")
        );
        // The rightmost untrusted hop; what the client wrote to its left is ignored.
        assert_eq!(
            client_address(
                ip("10.0.0.2"),
                &["1.2.3.4, 198.51.100.1, 192.168.1.1"],
                &trusted
            ),
            ip("198.51.100.1")
        );
        // Several header lines are one list, in order.
        assert_eq!(
            client_address(ip("10.0.0.2"), &["1.2.3.4", "198.51.100.7"], &trusted),
            ip("198.51.100.7")
        );
        // IPv4-mapped peers, ports, no header, all trusted, garbage.
        assert_eq!(
            client_address(ip("::ffff:10.0.0.2"), &["198.51.100.1:5555"], &trusted),
            ip("198.51.100.1")
        );
        assert_eq!(
            client_address(ip("10.0.0.2"), &[], &trusted),
            ip("10.0.0.2")
        );
        assert_eq!(
            client_address(ip("10.0.0.2"), &["10.9.9.9, 10.0.0.3"], &trusted),
            ip("10.9.9.9")
        );
        assert_eq!(
            client_address(ip("10.0.0.2"), &["198.51.100.1, garbage"], &trusted),
            ip("10.0.0.2")
        );
        assert!(parse_trusted_proxy("10.0.0.0/33").is_err());
        assert!(parse_trusted_proxy("proxy.local").is_err());
    }

    #[test]
    fn limiter_blocks_after_the_burst_and_forgives_with_time() {
        let l = FailureLimiter::new(LimitPolicy {
            burst: 3.0,
            per_second: 0.5,
        });
        assert_eq!(l.check("x", 0), Ok(()));
        for _ in 0..3 {
            l.fail("x", 0);
        }
        assert_eq!(l.check("x", 0), Err(2));
        assert_eq!(l.check("y", 0), Ok(()), "others are not affected");
        assert_eq!(l.check("x", 1000), Err(1));
        assert_eq!(l.check("x", 2000), Ok(()));
    }

    #[test]
    fn the_failure_that_uses_up_the_burst_is_told_once() {
        let l = FailureLimiter::new(LimitPolicy {
            burst: 2.0,
            per_second: 0.5,
        });
        let told: Vec<bool> = (0..4).map(|_| l.fail("x", 0)).collect();
        assert_eq!(told, [false, true, false, false]);
        assert!(!l.fail("y", 0), "others have their own burst");
        assert!(l.fail("x", 2000), "refilled by one, used up again");
    }
}
