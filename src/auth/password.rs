//! argon2id password hashing (PHC strings), and verification of the hashes the Python aiops
//! stored (Werkzeug `pbkdf2:sha256:<iterations>$<salt>$<hex>`), which are replaced by argon2id
//! at the next successful login.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};

use crate::error::AppError;

/// At most one password hash per core at a time: each argon2 evaluation holds ~19 MiB, and a
/// burst of logins on hundreds of blocking threads would otherwise hold them all at once.
struct HashGate {
    free: std::sync::Mutex<usize>,
    cv: std::sync::Condvar,
}

struct Slot(&'static HashGate);

impl Drop for Slot {
    fn drop(&mut self) {
        let mut n = self.0.free.lock().unwrap_or_else(|p| p.into_inner());
        *n += 1;
        self.0.cv.notify_one();
    }
}

fn slot() -> Slot {
    static GATE: std::sync::OnceLock<HashGate> = std::sync::OnceLock::new();
    let gate = GATE.get_or_init(|| HashGate {
        free: std::sync::Mutex::new(
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
        ),
        cv: std::sync::Condvar::new(),
    });
    let mut n = gate.free.lock().unwrap_or_else(|p| p.into_inner());
    while *n == 0 {
        n = gate.cv.wait(n).unwrap_or_else(|p| p.into_inner());
    }
    *n -= 1;
    Slot(gate)
}

pub fn hash_password(password: &str) -> Result<String, AppError> {
    let _slot = slot();
    // A random 16-byte salt from the OS (argon2's getrandom feature).
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| AppError::Internal(format!("password hashing failed: {e}")))
}

/// Whether a stored hash is in a legacy format (to be rehashed after a successful login).
pub fn is_legacy(stored: &str) -> bool {
    stored.starts_with("pbkdf2:")
}

/// Werkzeug's `pbkdf2:<sha256|sha512>[:<iterations>]$<salt>$<hex digest>`.
fn verify_werkzeug(password: &str, stored: &str) -> bool {
    use subtle::ConstantTimeEq;
    let mut parts = stored.splitn(3, '$');
    let (Some(method), Some(salt), Some(hexdigest)) = (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let mut m = method.split(':');
    if m.next() != Some("pbkdf2") {
        return false;
    }
    let algo = m.next().unwrap_or("sha256");
    let iterations: u32 = m.next().and_then(|i| i.parse().ok()).unwrap_or(600_000);
    let Ok(want) = hex::decode(hexdigest) else {
        return false;
    };
    let mut out = vec![0u8; want.len().clamp(1, 64)];
    match algo {
        "sha256" => pbkdf2::pbkdf2_hmac::<pbkdf2::sha2::Sha256>(
            password.as_bytes(),
            salt.as_bytes(),
            iterations,
            &mut out,
        ),
        "sha512" => pbkdf2::pbkdf2_hmac::<pbkdf2::sha2::Sha512>(
            password.as_bytes(),
            salt.as_bytes(),
            iterations,
            &mut out,
        ),
        _ => return false,
    }
    out.len() == want.len() && bool::from(out.ct_eq(&want))
}

/// Constant-time verification; an unparseable stored hash never matches.
pub fn verify_password(password: &str, stored: &str) -> bool {
    let _slot = slot();
    if is_legacy(stored) {
        return verify_werkzeug(password, stored);
    }
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash to verify against when the user does not exist, so timing does not reveal emails.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        // Not through the gate's slot twice: verify_password holds one while this runs.
        Argon2::default()
            .hash_password(b"not-a-real-password")
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_round_trip() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("x", "garbage"));
    }

    #[test]
    fn werkzeug_pbkdf2_hashes_verify() {
        // generate_password_hash("secret-pass", method="pbkdf2:sha256:1000", salt_length=8)
        // computed independently: pbkdf2_hmac(sha256, b"secret-pass", b"abcdefgh", 1000).
        let mut out = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<pbkdf2::sha2::Sha256>(b"secret-pass", b"abcdefgh", 1000, &mut out);
        let stored = format!("pbkdf2:sha256:1000$abcdefgh${}", hex::encode(out));
        assert!(is_legacy(&stored));
        assert!(verify_password("secret-pass", &stored));
        assert!(!verify_password("secret-pasS", &stored));
        assert!(!verify_password("secret-pass", "pbkdf2:md5:1000$abc$00"));
        assert!(!verify_password("secret-pass", "pbkdf2:sha256:1000$abc"));
        // A known vector (Werkzeug docs style): sha256, 1 iteration, salt "salt".
        let mut one = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<pbkdf2::sha2::Sha256>(b"password", b"salt", 1, &mut one);
        assert_eq!(
            hex::encode(one),
            "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b"
        );
    }

    #[test]
    fn hashes_made_by_argon2_0_5_still_verify() {
        // hash_password("correct horse battery staple") with argon2 0.5.3, before the upgrade
        // to 0.6: stored hashes must keep verifying.
        let old = "$argon2id$v=19$m=19456,t=2,p=1$yxvMq6lNKiAwLlCKRiqxOA$RD6ICZp0sN6nqtBkFkDhV9kx/Znv47v38DJlWLjLufM";
        assert!(verify_password("correct horse battery staple", old));
        assert!(!verify_password("correct horse battery stapler", old));
        let new = hash_password("correct horse battery staple").unwrap();
        assert!(new.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{new}");
    }
}
