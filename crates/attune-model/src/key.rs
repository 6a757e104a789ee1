//! The person's key (GPII's `gpiiKey`). A key is a secret: it never appears in logs or debug
//! output, only a short hash of it.

use std::fmt;

/// A GPII key: an opaque user id such as a UUID or `snapset_1a`.
///
/// `Debug` and `Display` print `key#` and a short, stable, non-cryptographic fingerprint, never
/// the key itself; use [`Key::expose`] where the real value is needed (HTTP paths, file lookups).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(String);

/// Longest key we accept; GPII keys are UUIDs or short names.
pub const MAX_KEY_LEN: usize = 256;

/// Why a string is not a usable key.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    #[error("the key is empty")]
    Empty,
    #[error("the key is too long ({0} characters, at most {MAX_KEY_LEN})")]
    TooLong(usize),
    #[error("the key contains a control character, a slash or whitespace")]
    BadCharacter,
}

impl Key {
    /// Validates and wraps a key. Surrounding whitespace (and a UTF-8 BOM) is trimmed, since keys
    /// are often typed or read from files that end with a newline.
    pub fn parse(raw: &str) -> Result<Key, KeyError> {
        let k = raw.trim_start_matches('\u{feff}').trim();
        if k.is_empty() {
            return Err(KeyError::Empty);
        }
        let n = k.chars().count();
        if n > MAX_KEY_LEN {
            return Err(KeyError::TooLong(n));
        }
        if k.chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '/' || c == '\\')
        {
            return Err(KeyError::BadCharacter);
        }
        Ok(Key(k.to_owned()))
    }

    /// The key itself. Never log this.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A short fingerprint for logs: 8 hex digits of FNV-1a over the key. Not a secret-keeping
    /// hash — it only keeps the key out of casual view in logs, and lets two log lines be matched.
    pub fn fingerprint(&self) -> String {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self.0.as_bytes() {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        format!("{:08x}", (h >> 32) as u32 ^ (h as u32))
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key#{}", self.fingerprint())
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key#{}", self.fingerprint())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_key() {
        let k = Key::parse("  secret-uuid-1234\n").unwrap();
        assert_eq!(k.expose(), "secret-uuid-1234");
        assert!(!format!("{k:?} {k}").contains("secret"));
        assert_eq!(format!("{k}"), format!("key#{}", k.fingerprint()));
    }

    #[test]
    fn bad_keys_are_rejected_with_a_reason() {
        assert_eq!(Key::parse(" \n"), Err(KeyError::Empty));
        assert_eq!(Key::parse("a/b"), Err(KeyError::BadCharacter));
        assert_eq!(Key::parse("a b"), Err(KeyError::BadCharacter));
        assert!(matches!(
            Key::parse(&"x".repeat(300)),
            Err(KeyError::TooLong(300))
        ));
        assert_eq!(
            Key::parse("\u{feff}snapset_1a").unwrap().expose(),
            "snapset_1a"
        );
    }
}
