//! Sealed files for personal data on a shared machine (the preference cache, the outbox): each is
//! encrypted with XChaCha20-Poly1305 under a key derived (HKDF-SHA256, RFC 5869) from the
//! person's key and a random per-install secret, and named by a keyed hash of the person's key.
//! Without the person's key, a sealed file reveals nothing, not even whose it is.

use std::path::{Path, PathBuf};

use attune_model::key::Key;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::Sha256;

const NONCE_LEN: usize = 24;
const SECRET_FILE: &str = "install.secret";

/// The per-install secret and what is derived from it.
#[derive(Clone)]
pub struct Sealer {
    secret: [u8; 32],
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(<secret>)")
    }
}

impl Sealer {
    /// Loads the install secret from `dir`, creating it (0600) on first use. `Ok((sealer,
    /// fresh))`: `fresh` is true when a new secret was made (every older sealed file is now
    /// unreadable and should be swept).
    pub fn open(dir: &Path) -> std::io::Result<(Sealer, bool)> {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let sp = dir.join(SECRET_FILE);
        if let Ok(b) = std::fs::read(&sp) {
            if b.len() == 32 {
                let mut secret = [0u8; 32];
                secret.copy_from_slice(&b);
                return Ok((Sealer { secret }, false));
            }
            tracing::warn!(len = b.len(), "install secret damaged; making a new one");
        }
        let key = XChaCha20Poly1305::generate_key(&mut OsRng);
        let mut secret = [0u8; 32];
        secret.copy_from_slice(&key);
        attune_settings::atomic::atomic_write(&sp, &secret)?;
        std::fs::set_permissions(&sp, std::fs::Permissions::from_mode(0o600))?;
        Ok((Sealer { secret }, true))
    }

    /// 32 bytes derived from the person's key: HKDF's extract step is HMAC keyed by the install
    /// secret, so each output is a keyed hash of the person's key; `purpose` separates uses.
    fn derive(&self, key: &Key, purpose: &[u8]) -> [u8; 32] {
        let hk = hkdf::Hkdf::<Sha256>::new(Some(&self.secret), key.expose().as_bytes());
        let mut okm = [0u8; 32];
        // 32 bytes is far below HKDF-SHA256's limit of 8160 bytes: expand cannot fail.
        let _ = hk.expand(purpose, &mut okm);
        okm
    }

    /// The file for `key` and `kind` in `dir`: a name that reveals nothing of the key.
    pub fn path(&self, dir: &Path, key: &Key, kind: &str) -> PathBuf {
        let mut purpose = b"attune file name v1 ".to_vec();
        purpose.extend_from_slice(kind.as_bytes());
        dir.join(format!(
            "{}.{kind}",
            hex::encode(self.derive(key, &purpose))
        ))
    }

    fn cipher(&self, key: &Key, kind: &str) -> XChaCha20Poly1305 {
        let mut purpose = b"attune seal key v1 ".to_vec();
        purpose.extend_from_slice(kind.as_bytes());
        XChaCha20Poly1305::new(&self.derive(key, &purpose).into())
    }

    /// Seals `plain` for `key`; `magic` starts the file, `aad` binds it to its name.
    pub fn seal(
        &self,
        key: &Key,
        kind: &str,
        magic: &[u8],
        aad: &[u8],
        plain: &[u8],
    ) -> Option<Vec<u8>> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher(key, kind)
            .encrypt(&nonce, Payload { msg: plain, aad })
            .ok()?;
        let mut out = Vec::with_capacity(magic.len() + NONCE_LEN + sealed.len());
        out.extend_from_slice(magic);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Some(out)
    }

    /// Opens what [`Sealer::seal`] made; `None` for anything damaged, foreign or not ours.
    pub fn open_sealed(
        &self,
        key: &Key,
        kind: &str,
        magic: &[u8],
        aad: &[u8],
        bytes: &[u8],
    ) -> Option<Vec<u8>> {
        let rest = bytes.strip_prefix(magic)?;
        if rest.len() < NONCE_LEN {
            return None;
        }
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        self.cipher(key, kind)
            .decrypt(XNonce::from_slice(nonce), Payload { msg: sealed, aad })
            .ok()
    }
}
