//! Secrets at rest: AES-256-GCM under a master key from `AIOPS_SECRET_KEY` or
//! `<data_dir>/secret.key` (created on first start with mode 0600).
//!
//! Stored form: `v1:` + base64(nonce ‖ ciphertext). Secrets are never shown back in full;
//! `mask` gives the form pages and API answers use.

use crate::error::{AppError, AppResult};
use aes_gcm::aead::{Aead, KeyInit, OsRng};
use aes_gcm::{AeadCore, Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use std::path::Path;

pub struct Secrets {
    cipher: Aes256Gcm,
    /// First 16 hex characters of SHA-256(key): names the key without revealing it.
    key_id: String,
}

const PREFIX: &str = "v1:";
pub const KEY_FILE: &str = "secret.key";

fn parse_key(text: &str) -> AppResult<[u8; 32]> {
    let bytes = hex::decode(text.trim()).map_err(|_| {
        AppError::Internal("the master key must be 64 hex characters (32 bytes)".into())
    })?;
    bytes.try_into().map_err(|_| {
        AppError::Internal("the master key must be 64 hex characters (32 bytes)".into())
    })
}

impl Secrets {
    pub fn from_key(key: [u8; 32]) -> Secrets {
        use sha2::Digest;
        let id = hex::encode(sha2::Sha256::digest(key));
        Secrets {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key)),
            key_id: id[..16].to_string(),
        }
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The explicit key when given, else the key file in the data directory (created if absent).
    pub fn load(explicit: Option<&str>, data_dir: &Path) -> AppResult<Secrets> {
        if let Some(k) = explicit {
            return parse_key(k).map(Secrets::from_key);
        }
        let path = data_dir.join(KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => parse_key(&text)
                .map(Secrets::from_key)
                .map_err(|e| AppError::Internal(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key: [u8; 32] = rand::random();
                write_private(&path, &hex::encode(key))?;
                Ok(Secrets::from_key(key))
            }
            Err(e) => Err(AppError::Internal(format!(
                "cannot read the master key {}: {e}",
                path.display()
            ))),
        }
    }

    pub fn encrypt(&self, plain: &str) -> AppResult<String> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ct = self
            .cipher
            .encrypt(&nonce, plain.as_bytes())
            .map_err(|_| AppError::Internal("encryption failed".into()))?;
        let mut buf = nonce.to_vec();
        buf.extend_from_slice(&ct);
        Ok(format!("{PREFIX}{}", B64.encode(buf)))
    }

    pub fn decrypt(&self, stored: &str) -> AppResult<String> {
        let bad = || {
            AppError::Internal(
                "a stored secret cannot be decrypted: was the master key (AIOPS_SECRET_KEY or secret.key) changed?"
                    .into(),
            )
        };
        let raw = B64
            .decode(stored.strip_prefix(PREFIX).ok_or_else(bad)?)
            .map_err(|_| bad())?;
        if raw.len() < 12 {
            return Err(bad());
        }
        let (nonce, ct) = raw.split_at(12);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), ct)
            .map_err(|_| bad())?;
        String::from_utf8(plain).map_err(|_| bad())
    }
}

/// Show a token as `••••abcd` (last four characters only, and only for long tokens).
pub fn mask(plain: &str) -> String {
    let n = plain.chars().count();
    if n < 12 {
        return "••••".into();
    }
    let tail: String = plain.chars().skip(n - 4).collect();
    format!("••••{tail}")
}

fn write_private(path: &Path, text: &str) -> AppResult<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|e| {
        AppError::Internal(format!(
            "cannot create the master key {}: {e}",
            path.display()
        ))
    })?;
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| AppError::Internal(format!("cannot write {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper_detection() {
        let s = Secrets::from_key([7; 32]);
        let enc = s.encrypt("ghp_secret").unwrap();
        assert!(enc.starts_with("v1:") && !enc.contains("ghp_secret"));
        assert_ne!(
            enc,
            s.encrypt("ghp_secret").unwrap(),
            "fresh nonce each time"
        );
        assert_eq!(s.decrypt(&enc).unwrap(), "ghp_secret");
        let other = Secrets::from_key([8; 32]);
        assert!(
            other
                .decrypt(&enc)
                .unwrap_err()
                .to_string()
                .contains("master key")
        );
        assert!(s.decrypt("plain").is_err());
    }

    #[test]
    fn key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let a = Secrets::load(None, dir.path()).unwrap();
        let enc = a.encrypt("x").unwrap();
        let b = Secrets::load(None, dir.path()).unwrap();
        assert_eq!(b.decrypt(&enc).unwrap(), "x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(Secrets::load(Some("zz"), dir.path()).is_err());
        assert!(Secrets::load(Some(&"ab".repeat(32)), dir.path()).is_ok());
    }

    #[test]
    fn masks_show_only_the_tail() {
        assert_eq!(mask("ghp_1234567890abcd"), "••••abcd");
        assert_eq!(mask("short"), "••••");
    }
}
