//! What went wrong with a cloud call, decided from what the wire gave us (docs/design.md §3, §4,
//! §6.1).
//!
//! Pure functions only: a transport error, a status code, headers and a body go in; a
//! [`FailureKind`] comes out. Whether a kind is retried, counts against the circuit breaker or moves
//! the next attempt to another URL is a property of the kind, decided here once. What the person
//! is told is in [`UserMessage`], one table for every kind.

use std::fmt;
use std::time::{Duration, SystemTime};

use serde::Deserialize;

/// The API version this client speaks, sent as `X-Attune-Api` on every request
/// (docs/design.md §6.3).
pub const CLIENT_API: ApiVersion = ApiVersion { major: 1, minor: 0 };

/// The header both sides send with their API version.
pub const API_HEADER: &str = "X-Attune-Api";

/// Why a cloud call failed, in the terms that decide what happens next.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureKind {
    /// Refused, DNS, TLS, reset, or an answer cut off before its end: the server could not be
    /// heard. `detail` never contains a URL (GPII's URLs carry the key).
    Unreachable { detail: String },
    /// The server's TLS certificate is not trusted (expired, for another name, from an unknown
    /// or self-signed authority). Not retried: asking again gets the same certificate, and the
    /// person is told it is a certificate problem, not a network one (docs/test-matrix.md N18).
    Untrusted {
        problem: CertProblem,
        detail: String,
    },
    /// The connect timeout, the attempt timeout or the key-in deadline ran out.
    TooSlow,
    /// 429 or 500/502/503/504: the server is there but cannot serve us now.
    Busy {
        status: u16,
        retry_after: Option<Duration>,
    },
    /// The answer arrived whole but is not what the API promises (bad JSON, wrong shape).
    Malformed { detail: String },
    /// The answer is (or says it is) larger than the body cap.
    TooLarge { limit: usize, declared: Option<u64> },
    /// The server speaks another API major, or none at all while legacy GPII is not allowed.
    VersionMismatch { client: String, server: String },
    /// 401 on a resource with a token that has not expired: the server lost or revoked it
    /// (docs/design.md §6.2). Never silently re-granted.
    StaleToken,
    /// 401 at the token endpoint: the cloud does not accept this key (or these site credentials).
    KeyRejected { detail: String },
    /// The preferences behind this key are read-only (a snapset: GPII's `GPII_ERR_READONLY`).
    ReadOnly,
    /// Any other answer the server gave on purpose (400, 404, 501…): asking again will not help.
    Refused { status: u16, detail: String },
}

impl FailureKind {
    /// Whether asking again may help (docs/design.md §4: transport errors, timeouts, 429, 500, 502,
    /// 503, 504 only).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            FailureKind::Unreachable { .. } | FailureKind::TooSlow | FailureKind::Busy { .. }
        )
    }

    /// Whether this failure says the cloud is down, for the circuit breaker. Busy counts too:
    /// a site of desktops hammering a cloud that answers 503 is the retry storm the breaker is
    /// for (docs/test-matrix.md N23). An answer of any other kind proves the cloud is there.
    pub fn counts_as_outage(&self) -> bool {
        self.is_retryable()
    }

    /// Whether the next attempt should go to the next URL of the cluster: only when this one
    /// could not be heard at all. A busy node is still the right place to hear Retry-After from.
    pub fn moves_to_next_url(&self) -> bool {
        matches!(
            self,
            FailureKind::Unreachable { .. } | FailureKind::TooSlow | FailureKind::Untrusted { .. }
        )
    }

    /// The Retry-After the server asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FailureKind::Busy { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The user-facing message for this kind.
    pub fn user_message(&self) -> UserMessage {
        match self {
            FailureKind::Unreachable { .. } | FailureKind::TooSlow => UserMessage::CantReach,
            FailureKind::Untrusted { problem, .. } => UserMessage::Untrusted(*problem),
            FailureKind::Busy { .. } => UserMessage::ServerTrouble,
            FailureKind::Malformed { .. } | FailureKind::TooLarge { .. } => UserMessage::Unreadable,
            FailureKind::VersionMismatch { client, server } => UserMessage::VersionMismatch {
                client: client.clone(),
                server: server.clone(),
            },
            FailureKind::StaleToken => UserMessage::StaleToken,
            FailureKind::KeyRejected { .. } => UserMessage::KeyRejected,
            FailureKind::ReadOnly => UserMessage::ReadOnly,
            FailureKind::Refused { .. } => UserMessage::Refused,
        }
    }

    /// A short, stable name for logs and `--json`.
    pub fn code(&self) -> &'static str {
        match self {
            FailureKind::Unreachable { .. } => "unreachable",
            FailureKind::Untrusted { .. } => "untrusted",
            FailureKind::TooSlow => "too_slow",
            FailureKind::Busy { .. } => "busy",
            FailureKind::Malformed { .. } => "malformed",
            FailureKind::TooLarge { .. } => "too_large",
            FailureKind::VersionMismatch { .. } => "version_mismatch",
            FailureKind::StaleToken => "stale_token",
            FailureKind::KeyRejected { .. } => "key_rejected",
            FailureKind::ReadOnly => "read_only",
            FailureKind::Refused { .. } => "refused",
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureKind::Unreachable { detail } => write!(f, "cloud unreachable: {detail}"),
            FailureKind::Untrusted { detail, .. } => {
                write!(f, "cloud certificate not trusted: {detail}")
            }
            FailureKind::TooSlow => {
                f.write_str("cloud too slow: a timeout or the deadline ran out")
            }
            FailureKind::Busy {
                status,
                retry_after,
            } => {
                write!(f, "cloud busy: HTTP {status}")?;
                if let Some(d) = retry_after {
                    write!(f, ", Retry-After {} s", d.as_secs())?;
                }
                Ok(())
            }
            FailureKind::Malformed { detail } => write!(f, "unreadable answer: {detail}"),
            FailureKind::TooLarge { limit, declared } => match declared {
                Some(n) => write!(
                    f,
                    "answer declared {n} bytes, more than the {limit}-byte cap"
                ),
                None => write!(f, "answer larger than the {limit}-byte cap"),
            },
            FailureKind::VersionMismatch { client, server } => {
                write!(f, "API version mismatch: client {client}, server {server}")
            }
            FailureKind::StaleToken => {
                f.write_str("the cloud no longer accepts a token that has not expired")
            }
            FailureKind::KeyRejected { detail } => write!(f, "key rejected: {detail}"),
            FailureKind::ReadOnly => f.write_str("these preferences are read-only"),
            FailureKind::Refused { status, detail } => {
                write!(f, "refused: HTTP {status}: {detail}")
            }
        }
    }
}

/// A failure code ([`FailureKind::code`]) in words, for `status` and the app's "Reason" line.
pub fn reason_words(code: &str) -> &'static str {
    match code {
        "unreachable" => "the preferences server could not be reached",
        "too_slow" => "the preferences server did not answer in time",
        "busy" => "the preferences server answered that it cannot serve now",
        "malformed" => "the preferences server's answer could not be read",
        "too_large" => "the preferences server's answer was too large",
        "version_mismatch" => "this Attune and the server speak different versions",
        "stale_token" => "the server no longer accepts this session's sign-in",
        "key_rejected" => "the preferences server did not accept the key",
        "read_only" => "these preferences cannot be changed",
        "refused" => "the preferences server refused the request",
        "untrusted" => "the preferences server's certificate is not trusted",
        _ => "the preferences server could not be used",
    }
}

/// What is wrong with a server certificate, as far as the person needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertProblem {
    Expired,
    WrongName,
    /// Self-signed, or signed by an authority this computer does not trust.
    UnknownAuthority,
    Other,
}

impl CertProblem {
    /// From rustls' description of an invalid peer certificate (reqwest only hands it on as
    /// text; rustls writes some `CertificateError`s in words and others by variant name).
    fn from_text(text: &str) -> CertProblem {
        let t = text.to_ascii_lowercase();
        let has = |words: &[&str]| words.iter().any(|w| t.contains(w));
        if has(&["expired", "notvalidyet", "not valid yet"]) {
            CertProblem::Expired
        } else if has(&["notvalidforname", "not valid for name"]) {
            CertProblem::WrongName
        } else if has(&["unknownissuer", "unknown issuer", "badsignature"]) {
            CertProblem::UnknownAuthority
        } else {
            CertProblem::Other
        }
    }
}

/// What is applied instead of the cloud's answer; it completes the message's second sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fallback {
    /// The cached answer, saved on this date (already formatted for the person).
    Cache { saved: String },
    /// The preferences sealed on the person's USB stick, saved on this date (docs/design.md
    /// §10.3).
    Stick { saved: String },
    /// The bundled snapset of the same name.
    Snapset,
    /// Nothing could be applied, and this process asks the cloud again by itself (the app,
    /// `attune listen`): "We'll keep trying."
    Nothing,
    /// Nothing could be applied, and nothing here asks again (the `attune` command, which
    /// exits): the person is told what to do instead, never that something keeps trying.
    NothingNoRetry,
}

/// What a person who got nothing applied can do when nothing keeps trying for them.
const TRY_AGAIN: &str =
    "Try again when the server is back, or key in with a snapset: `attune snapsets`.";

/// Every sentence the cloud path says to a person (docs/design.md §3), in one table.
///
/// These become the UI's text and are translated later; the lead's `messages.rs` may absorb
/// this table.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UserMessage {
    CantReach,
    ServerTrouble,
    Unreadable,
    VersionMismatch { client: String, server: String },
    StaleToken,
    KeyRejected,
    ReadOnly,
    Refused,
    Untrusted(CertProblem),
}

/// The exact guidance of docs/design.md §3 and §6.2 for a stale token.
pub const STALE_TOKEN_TEXT: &str = "Something has gone wrong. Please log out and log back in.";

impl UserMessage {
    /// Whether the failure leaves the person with applied settings from elsewhere (the fallback
    /// sentence applies) or the message stands alone.
    fn uses_fallback(&self) -> bool {
        matches!(
            self,
            UserMessage::CantReach
                | UserMessage::Untrusted(_)
                | UserMessage::ServerTrouble
                | UserMessage::Unreadable
                | UserMessage::VersionMismatch { .. }
        )
    }

    /// The text, given what was applied instead.
    pub fn text(&self, fallback: &Fallback) -> String {
        let cause = match self {
            UserMessage::CantReach => {
                match fallback {
                    Fallback::Nothing => {
                        return "Can't reach the server and there are no saved settings on this \
                                computer. We'll keep trying."
                            .to_owned()
                    }
                    Fallback::NothingNoRetry => {
                        return format!(
                            "Can't reach the server and there are no saved settings on this \
                             computer. {TRY_AGAIN}"
                        )
                    }
                    _ => {}
                }
                "Can't reach the preferences server.".to_owned()
            }
            UserMessage::ServerTrouble => "The preferences server is having problems.".to_owned(),
            UserMessage::Untrusted(problem) => format!(
                "The preferences server could not prove who it is: {}. Please tell the staff here.",
                match problem {
                    CertProblem::Expired => "its certificate has expired",
                    CertProblem::WrongName => "its certificate is for a different server",
                    CertProblem::UnknownAuthority => {
                        "its certificate is not from an authority this computer trusts"
                    }
                    CertProblem::Other => "its certificate is not valid",
                }
            ),
            UserMessage::Unreadable => {
                "The preferences server sent something we could not read.".to_owned()
            }
            UserMessage::VersionMismatch { client, server } => format!(
                "This computer's Attune and the server do not match (client API {client}, \
                 server API {server}). Please ask for Attune to be updated."
            ),
            UserMessage::StaleToken => return STALE_TOKEN_TEXT.to_owned(),
            UserMessage::KeyRejected => {
                return "This key was not accepted by the preferences server. Nothing has been \
                        changed on this computer."
                    .to_owned()
            }
            UserMessage::ReadOnly => {
                return "These settings come from a snapset, which cannot be changed.".to_owned()
            }
            UserMessage::Refused => {
                return "The preferences server did not accept the request.".to_owned()
            }
        };
        if !self.uses_fallback() {
            return cause;
        }
        let then = match fallback {
            Fallback::Cache { saved } => format!("Using your saved settings from {saved}."),
            Fallback::Stick { saved } => {
                format!("Using your settings from your USB key, saved {saved}.")
            }
            Fallback::Snapset => "Using the snapset on this computer.".to_owned(),
            Fallback::Nothing => {
                "There are no saved settings on this computer. We'll keep trying.".to_owned()
            }
            Fallback::NothingNoRetry => {
                format!("There are no saved settings on this computer. {TRY_AGAIN}")
            }
        };
        format!("{cause} {then}")
    }
}

/// Which endpoint answered: a 401 means different things at each (docs/design.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Token,
    Settings,
    Version,
}

/// The error an answer carried, from any of GPII's three shapes (docs/design.md §6.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ErrorBody {
    /// The human part (`message`, `error_description`, or the plain text).
    pub message: String,
    /// The machine part (`errorCode`, or OAuth's `error`), when there is one.
    pub code: Option<String>,
}

#[derive(Deserialize)]
struct GpiiError {
    #[serde(rename = "isError")]
    is_error: bool,
    #[serde(default)]
    message: Option<String>,
    #[serde(rename = "errorCode", default)]
    error_code: Option<String>,
}

#[derive(Deserialize)]
struct OauthError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// Longest piece of a server's error text we keep (it ends up in logs and reports).
const MAX_ERROR_TEXT: usize = 200;

/// Reads an error body in any of GPII's three shapes: `{"isError":true,"message",…,"errorCode"?}`,
/// OAuth's `{"error","error_description"}`, or plain text such as `Unauthorized`.
pub fn parse_error_body(body: &[u8]) -> ErrorBody {
    if let Ok(e) = serde_json::from_slice::<GpiiError>(body) {
        if e.is_error {
            return ErrorBody {
                message: clip(e.message.as_deref().unwrap_or("")),
                code: e.error_code.map(|c| clip(&c)),
            };
        }
    }
    if let Ok(e) = serde_json::from_slice::<OauthError>(body) {
        return ErrorBody {
            message: clip(e.error_description.as_deref().unwrap_or(&e.error)),
            code: Some(clip(&e.error)),
        };
    }
    ErrorBody {
        message: clip(String::from_utf8_lossy(body).trim()),
        code: None,
    }
}

fn clip(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_ERROR_TEXT)
        .collect();
    cleaned.trim().to_owned()
}

/// The longest `Retry-After` believed. A server asking for more is asking not to be called for a
/// long time, and an hour says that; taken at its word, a hostile or broken value would take the
/// cloud away from a long-running listener for days, or overflow the clock it is added to.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Parses `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date, relative to `now`,
/// at most [`MAX_RETRY_AFTER`]. Garbage, negative numbers and dates in the past give `None`:
/// the normal backoff applies.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        // More than u64 seconds is "a very long time": clamp rather than ignore.
        let secs = v.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    when.duration_since(now)
        .ok()
        .map(|d| d.min(MAX_RETRY_AFTER))
}

/// An `X-Attune-Api` value: `<major>.<minor>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion {
    pub major: u32,
    pub minor: u32,
}

impl ApiVersion {
    /// Parses `1`, `1.0` or `1.2`; anything else is `None`.
    pub fn parse(s: &str) -> Option<ApiVersion> {
        let s = s.trim();
        let (major, minor) = match s.split_once('.') {
            Some((a, b)) => (a, b),
            None => (s, "0"),
        };
        let all_digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(major) || !all_digits(minor) {
            return None;
        }
        Some(ApiVersion {
            major: major.parse().ok()?,
            minor: minor.parse().ok()?,
        })
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// docs/design.md §6.3: compatible means the same API major. A server that sends no version at all
/// is a legacy GPII cloud, accepted only when the site says `cloud.legacy_gpii = true`.
pub fn check_version(
    client: ApiVersion,
    server_header: Option<&str>,
    legacy_gpii: bool,
) -> Result<(), FailureKind> {
    let mismatch = |server: String| FailureKind::VersionMismatch {
        client: client.to_string(),
        server,
    };
    match server_header {
        None if legacy_gpii => Ok(()),
        None => Err(mismatch("none (a GPII cloud?)".to_owned())),
        Some(raw) => match ApiVersion::parse(raw) {
            Some(v) if v.major == client.major => Ok(()),
            Some(v) => Err(mismatch(v.to_string())),
            None => Err(mismatch(format!("unreadable {:?}", clip(raw)))),
        },
    }
}

/// The statuses docs/design.md §4 retries.
pub fn is_busy_status(status: u16) -> bool {
    matches!(status, 429 | 500 | 502 | 503 | 504)
}

/// What an answer's status line, headers and body mean, before its body is parsed as data.
///
/// `api_header` is the `X-Attune-Api` value, `retry_after` the raw `Retry-After`, `now` the wall
/// clock (HTTP-dates are wall-clock). A busy status wins over the version check, since a load
/// balancer in front of the cloud answers 502/503 without our header.
#[allow(clippy::too_many_arguments)]
pub fn classify_answer(
    endpoint: Endpoint,
    status: u16,
    api_header: Option<&str>,
    retry_after: Option<&str>,
    body: &[u8],
    legacy_gpii: bool,
    now: SystemTime,
) -> Result<(), FailureKind> {
    if is_busy_status(status) {
        return Err(FailureKind::Busy {
            status,
            retry_after: retry_after.and_then(|v| parse_retry_after(v, now)),
        });
    }
    check_version(CLIENT_API, api_header, legacy_gpii)?;
    if (200..300).contains(&status) {
        return Ok(());
    }
    let e = parse_error_body(body);
    match (endpoint, status) {
        (Endpoint::Token, 401) => Err(FailureKind::KeyRejected { detail: e.message }),
        (Endpoint::Settings, 401) => Err(FailureKind::StaleToken),
        (_, 404) if e.code.as_deref() == Some("GPII_ERR_READONLY") => Err(FailureKind::ReadOnly),
        _ => Err(FailureKind::Refused {
            status,
            detail: match e.code {
                Some(c) if c != e.message => format!("{c}: {}", e.message),
                _ => e.message,
            },
        }),
    }
}

/// Classifies a transport error from reqwest. The URL is stripped first (`without_url`), so
/// nothing derived from the error can leak the key; the cause chain is kept, since the top-level
/// text ("error sending request") says nothing.
pub fn classify_transport(err: reqwest::Error) -> FailureKind {
    let err = err.without_url();
    if err.is_timeout() {
        return FailureKind::TooSlow;
    }
    let what = if err.is_connect() {
        "could not connect"
    } else if err.is_body() || err.is_decode() {
        "the answer was cut off"
    } else {
        "the connection failed"
    };
    let mut chain = Vec::new();
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(&err);
    while let Some(s) = source {
        chain.push(s.to_string());
        source = s.source();
    }
    let detail = if chain.is_empty() {
        format!("{what}: {err}")
    } else {
        format!("{what}: {}", chain.join(": "))
    };
    if let Some(cert) = chain
        .iter()
        .find(|c| c.contains("invalid peer certificate"))
    {
        return FailureKind::Untrusted {
            problem: CertProblem::from_text(cert),
            detail,
        };
    }
    FailureKind::Unreachable { detail }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Duration = Duration::from_secs(1_750_000_000);

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + NOW
    }

    #[test]
    fn every_failure_code_has_its_own_words() {
        let kinds = [
            FailureKind::Unreachable {
                detail: String::new(),
            },
            FailureKind::Untrusted {
                problem: CertProblem::Expired,
                detail: String::new(),
            },
            FailureKind::TooSlow,
            FailureKind::Busy {
                status: 503,
                retry_after: None,
            },
            FailureKind::Malformed {
                detail: String::new(),
            },
            FailureKind::TooLarge {
                limit: 1,
                declared: None,
            },
            FailureKind::VersionMismatch {
                client: "1.0".to_owned(),
                server: "2.0".to_owned(),
            },
            FailureKind::StaleToken,
            FailureKind::KeyRejected {
                detail: String::new(),
            },
            FailureKind::ReadOnly,
            FailureKind::Refused {
                status: 400,
                detail: String::new(),
            },
        ];
        let words: std::collections::BTreeSet<&str> =
            kinds.iter().map(|k| reason_words(k.code())).collect();
        assert_eq!(words.len(), kinds.len());
        assert!(!words.contains(reason_words("no such code")));
    }

    #[test]
    fn retry_after_forms() {
        let in_an_hour = httpdate::fmt_http_date(now() + Duration::from_secs(3600));
        let an_hour_ago = httpdate::fmt_http_date(now() - Duration::from_secs(3600));
        let in_a_year = httpdate::fmt_http_date(now() + Duration::from_secs(366 * 86400));
        let cases: &[(&str, Option<Duration>)] = &[
            ("1", Some(Duration::from_secs(1))),
            (" 120 ", Some(Duration::from_secs(120))),
            ("0", Some(Duration::ZERO)),
            ("3600", Some(Duration::from_secs(3600))),
            ("3601", Some(MAX_RETRY_AFTER)),
            ("99999999999999999999", Some(MAX_RETRY_AFTER)),
            ("99999999999999999999999", Some(MAX_RETRY_AFTER)),
            (&in_an_hour, Some(Duration::from_secs(3600))),
            (&in_a_year, Some(MAX_RETRY_AFTER)),
            (&an_hour_ago, None),
            ("-5", None),
            ("1.5", None),
            ("soon", None),
            ("", None),
            ("Wed, 99 Foo 2025 00:00:00 GMT", None),
        ];
        for (raw, want) in cases {
            assert_eq!(parse_retry_after(raw, now()), *want, "Retry-After {raw:?}");
        }
    }

    #[test]
    fn the_three_gpii_error_shapes() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            (
                r#"{"isError":true,"message":"Unauthorized"}"#,
                "Unauthorized",
                None,
            ),
            (
                r#"{"isError":true,"message":"read only","errorCode":"GPII_ERR_READONLY","statusCode":404}"#,
                "read only",
                Some("GPII_ERR_READONLY"),
            ),
            (
                r#"{"error":"server_error","error_description":"Unauthorized"}"#,
                "Unauthorized",
                Some("server_error"),
            ),
            (
                r#"{"error":"invalid_grant"}"#,
                "invalid_grant",
                Some("invalid_grant"),
            ),
            ("Unauthorized", "Unauthorized", None),
            ("Unauthorized\n", "Unauthorized", None),
            ("", "", None),
            (
                r#"{"isError":false,"message":"x"}"#,
                r#"{"isError":false,"message":"x"}"#,
                None,
            ),
        ];
        for (body, message, code) in cases {
            let e = parse_error_body(body.as_bytes());
            assert_eq!(e.message, *message, "body {body:?}");
            assert_eq!(e.code.as_deref(), *code, "body {body:?}");
        }
    }

    #[test]
    fn error_text_is_clipped_and_cleaned() {
        let long = "x".repeat(10_000);
        assert_eq!(
            parse_error_body(long.as_bytes()).message.len(),
            MAX_ERROR_TEXT
        );
        assert_eq!(parse_error_body(b"a\x1b[31mb").message, "a [31mb");
        assert_eq!(
            parse_error_body(&[0xff, 0xfe, b'o', b'k']).message,
            "\u{fffd}\u{fffd}ok"
        );
    }

    #[test]
    fn versions_compatible_by_major() {
        let c = ApiVersion { major: 1, minor: 0 };
        let cases: &[(Option<&str>, bool, Option<&str>)] = &[
            (Some("1.0"), false, None),
            (Some("1.7"), false, None),
            (Some("1"), false, None),
            (Some("2.0"), false, Some("2.0")),
            (Some("0.9"), true, Some("0.9")),
            (Some("banana"), true, Some("unreadable \"banana\"")),
            (None, true, None),
            (None, false, Some("none (a GPII cloud?)")),
        ];
        for (header, legacy, mismatch) in cases {
            let got = check_version(c, *header, *legacy);
            match mismatch {
                None => assert_eq!(got, Ok(()), "{header:?} legacy={legacy}"),
                Some(server) => assert_eq!(
                    got,
                    Err(FailureKind::VersionMismatch {
                        client: "1.0".to_owned(),
                        server: (*server).to_owned()
                    }),
                    "{header:?} legacy={legacy}"
                ),
            }
        }
    }

    #[test]
    fn answers_classified() {
        use Endpoint::*;
        let v = Some("1.0");
        let unauthorized = br#"{"isError":true,"message":"Unauthorized"}"#.as_slice();
        let readonly = br#"{"isError":true,"message":"ro","errorCode":"GPII_ERR_READONLY"}"#;
        type Case<'a> = (
            Endpoint,
            u16,
            Option<&'a str>,
            Option<&'a str>,
            &'a [u8],
            &'a str,
        );
        let cases: &[Case] = &[
            (Settings, 200, v, None, b"{}", "ok"),
            (Settings, 204, v, None, b"", "ok"),
            (Settings, 429, None, Some("1"), b"", "busy"),
            (Settings, 500, v, None, b"", "busy"),
            (Settings, 502, None, None, b"<html>", "busy"),
            (Settings, 503, None, Some("3600"), b"", "busy"),
            (Settings, 504, v, None, b"", "busy"),
            (Settings, 501, v, None, b"", "refused"),
            (
                Settings,
                400,
                v,
                None,
                br#"{"isError":true,"message":"bad"}"#,
                "refused",
            ),
            (Token, 401, v, None, b"Unauthorized", "key_rejected"),
            (Token, 401, v, None, unauthorized, "key_rejected"),
            (Settings, 401, v, None, unauthorized, "stale_token"),
            (Settings, 401, v, None, b"Unauthorized", "stale_token"),
            (Settings, 404, v, None, readonly, "read_only"),
            (Settings, 404, v, None, b"Not Found", "refused"),
            (Settings, 200, Some("2.0"), None, b"{}", "version_mismatch"),
            (Settings, 401, Some("2.0"), None, b"", "version_mismatch"),
            (Settings, 200, None, None, b"{}", "version_mismatch"),
        ];
        for (ep, status, api, ra, body, want) in cases {
            let got = classify_answer(*ep, *status, *api, *ra, body, false, now());
            let code = got.as_ref().err().map_or("ok", FailureKind::code);
            assert_eq!(code, *want, "{ep:?} {status} api={api:?}");
        }
        assert_eq!(
            classify_answer(Settings, 503, None, Some("3600"), b"", false, now()),
            Err(FailureKind::Busy {
                status: 503,
                retry_after: Some(Duration::from_secs(3600))
            })
        );
        assert_eq!(
            classify_answer(Settings, 200, None, None, b"{}", true, now()),
            Ok(())
        );
    }

    #[test]
    fn retry_and_routing_properties_per_kind() {
        let busy = FailureKind::Busy {
            status: 503,
            retry_after: None,
        };
        let unreachable = FailureKind::Unreachable {
            detail: String::new(),
        };
        // (kind, retryable, outage, next url)
        let cases: Vec<(FailureKind, bool, bool, bool)> = vec![
            (unreachable, true, true, true),
            (FailureKind::TooSlow, true, true, true),
            (busy, true, true, false),
            (
                FailureKind::Malformed {
                    detail: String::new(),
                },
                false,
                false,
                false,
            ),
            (
                FailureKind::TooLarge {
                    limit: 1,
                    declared: None,
                },
                false,
                false,
                false,
            ),
            (
                FailureKind::VersionMismatch {
                    client: "1.0".into(),
                    server: "2.0".into(),
                },
                false,
                false,
                false,
            ),
            (FailureKind::StaleToken, false, false, false),
            (
                FailureKind::KeyRejected {
                    detail: String::new(),
                },
                false,
                false,
                false,
            ),
            (FailureKind::ReadOnly, false, false, false),
            (
                FailureKind::Refused {
                    status: 400,
                    detail: String::new(),
                },
                false,
                false,
                false,
            ),
        ];
        for (k, retry, outage, next) in cases {
            assert_eq!(k.is_retryable(), retry, "{k:?}");
            assert_eq!(k.counts_as_outage(), outage, "{k:?}");
            assert_eq!(k.moves_to_next_url(), next, "{k:?}");
        }
    }

    #[test]
    fn messages_follow_design_section_3() {
        let cache = Fallback::Cache {
            saved: "12 May 2025".to_owned(),
        };
        let unreachable = FailureKind::Unreachable {
            detail: "refused".into(),
        };
        let cases: Vec<(FailureKind, Fallback, &str)> = vec![
            (
                unreachable.clone(),
                cache.clone(),
                "Can't reach the preferences server. Using your saved settings from 12 May 2025.",
            ),
            (
                FailureKind::TooSlow,
                cache.clone(),
                "Can't reach the preferences server. Using your saved settings from 12 May 2025.",
            ),
            (
                unreachable,
                Fallback::Nothing,
                "Can't reach the server and there are no saved settings on this computer. \
                 We'll keep trying.",
            ),
            (
                FailureKind::Busy {
                    status: 503,
                    retry_after: None,
                },
                cache.clone(),
                "The preferences server is having problems. Using your saved settings from \
                 12 May 2025.",
            ),
            (
                FailureKind::Malformed { detail: "x".into() },
                Fallback::Snapset,
                "The preferences server sent something we could not read. Using the snapset on \
                 this computer.",
            ),
            (
                FailureKind::VersionMismatch {
                    client: "1.0".into(),
                    server: "2.0".into(),
                },
                cache,
                "This computer's Attune and the server do not match (client API 1.0, server API \
                 2.0). Please ask for Attune to be updated. Using your saved settings from 12 May \
                 2025.",
            ),
            (
                FailureKind::StaleToken,
                Fallback::Nothing,
                "Something has gone wrong. Please log out and log back in.",
            ),
            (
                FailureKind::TooSlow,
                Fallback::Stick {
                    saved: "2026-11-23".to_owned(),
                },
                "Can't reach the preferences server. Using your settings from your USB key, \
                 saved 2026-11-23.",
            ),
        ];
        for (k, fb, want) in cases {
            assert_eq!(k.user_message().text(&fb), want, "{k:?} {fb:?}");
        }
        assert!(FailureKind::KeyRejected {
            detail: String::new()
        }
        .user_message()
        .text(&Fallback::Nothing)
        .starts_with("This key was not accepted"));
    }

    #[test]
    fn nothing_applied_promises_a_retry_only_where_something_retries() {
        let unreachable = FailureKind::Unreachable {
            detail: "refused".into(),
        };
        let busy = FailureKind::Busy {
            status: 503,
            retry_after: None,
        };
        for kind in [unreachable, busy] {
            let alone = kind.user_message().text(&Fallback::NothingNoRetry);
            assert!(!alone.contains("keep trying"), "{alone}");
            assert!(
                alone.ends_with(
                    "Try again when the server is back, or key in with a snapset: \
                     `attune snapsets`."
                ),
                "{alone}"
            );
            let retried = kind.user_message().text(&Fallback::Nothing);
            assert!(retried.ends_with("We'll keep trying."), "{retried}");
        }
    }
}
