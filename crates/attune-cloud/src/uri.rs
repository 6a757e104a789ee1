//! JavaScript's `encodeURIComponent`: how GPII's clients write the device in
//! `GET /{key}/settings/{device}`, and how document ids and JSON keys go into CouchDB's paths and
//! query strings.

/// Every byte but ASCII letters, digits and `-_.!~*'()` as `%XX`.
///
/// ```
/// assert_eq!(attune_cloud::uri::encode_component(r#"{"id":"a b"}"#), "%7B%22id%22%3A%22a%20b%22%7D");
/// ```
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
