//! API key format, digests and the scope rules.

use super::model::{ApiKey, Scope, Timestamp};
use rand::RngCore;
use sha2::{Digest, Sha256};

pub const KEY_PREFIX: &str = "aiops_";
pub const KEY_LEN: usize = KEY_PREFIX.len() + 64;
pub const DISPLAY_PREFIX_LEN: usize = 12;

/// A new key: `aiops_` + 64 lower-case hex characters (32 random bytes).
pub fn generate_key() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{KEY_PREFIX}{}", hex::encode(bytes))
}

/// Keys are high-entropy, so a plain SHA-256 digest is a safe and fast verifier.
pub fn digest(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

pub fn display_prefix(key: &str) -> String {
    key.chars().take(DISPLAY_PREFIX_LEN).collect()
}

/// Shape check before any lookup: right prefix, right length, hex body.
pub fn looks_like_key(key: &str) -> bool {
    key.len() == KEY_LEN
        && key.starts_with(KEY_PREFIX)
        && key[KEY_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_hexdigit())
}

/// Does a set of scopes grant `wanted`? `admin` implies every scope.
pub fn scopes_grant(scopes: &[Scope], wanted: Scope) -> bool {
    scopes.contains(&wanted) || scopes.contains(&Scope::Admin)
}

/// The scopes a user may hold at all: admins may hold everything, others read and write.
pub fn scopes_allowed_for_user(is_admin: bool) -> Vec<Scope> {
    if is_admin {
        Scope::ALL.to_vec()
    } else {
        vec![Scope::Read, Scope::Write]
    }
}

/// Parse and check requested scopes for a new or edited key.
/// `granter` is what the caller holds: a key can never mint a key with more than itself, and a
/// non-admin user can never hold `admin`.
pub fn check_requested_scopes(
    requested: &[String],
    granter: &[Scope],
    user_is_admin: bool,
) -> Result<Vec<Scope>, String> {
    if requested.is_empty() {
        return Err("At least one scope is required".into());
    }
    let mut out = Vec::new();
    for raw in requested {
        let s = raw.trim().to_ascii_lowercase();
        let scope = Scope::parse(&s)
            .ok_or_else(|| format!("Invalid scope: {raw}. Valid scopes: read, write, admin"))?;
        if scope == Scope::Admin && !user_is_admin {
            return Err("Only administrators can hold keys with the admin scope".into());
        }
        if !scopes_grant(granter, scope) {
            return Err(format!(
                "Cannot grant scope '{}': the key used for this request does not hold it",
                scope.as_str()
            ));
        }
        if !out.contains(&scope) {
            out.push(scope);
        }
    }
    Ok(out)
}

/// Why a key cannot be used right now, if it cannot.
pub fn key_unusable(key: &ApiKey, now: Timestamp) -> Option<&'static str> {
    if !key.is_active {
        Some("API key has been revoked")
    } else if key.expires_at.is_some_and(|e| e <= now) {
        Some("API key has expired")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ApiKeyId, UserId};
    use chrono::Duration;

    #[test]
    fn generated_keys_have_the_documented_shape() {
        let k = generate_key();
        assert_eq!(k.len(), 70);
        assert!(looks_like_key(&k));
        assert_eq!(display_prefix(&k).len(), 12);
        assert_ne!(generate_key(), k);
        assert!(!looks_like_key("aiops_xyz"));
        assert!(!looks_like_key(&k.replace("aiops_", "other_")));
        assert_eq!(digest(&k).len(), 64);
        assert_eq!(digest(&k), digest(&k));
    }

    #[test]
    fn admin_implies_everything() {
        assert!(scopes_grant(&[Scope::Admin], Scope::Write));
        assert!(scopes_grant(&[Scope::Read], Scope::Read));
        assert!(!scopes_grant(&[Scope::Read], Scope::Write));
    }

    #[test]
    fn keys_cannot_escalate() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        // read-only key cannot mint write
        assert!(check_requested_scopes(&s(&["write"]), &[Scope::Read], true).is_err());
        // non-admin can never hold admin, even from a session that holds everything it may
        let err = check_requested_scopes(&s(&["admin"]), &Scope::ALL, false).unwrap_err();
        assert!(err.contains("administrators"));
        // admin key may mint anything
        assert_eq!(
            check_requested_scopes(&s(&["read", "write", "read"]), &[Scope::Admin], true).unwrap(),
            vec![Scope::Read, Scope::Write]
        );
        assert!(check_requested_scopes(&[], &Scope::ALL, true).is_err());
        assert!(
            check_requested_scopes(&s(&["root"]), &Scope::ALL, true)
                .unwrap_err()
                .starts_with("Invalid scope: root")
        );
    }

    #[test]
    fn expiry_and_revocation() {
        let now = crate::domain::model::now();
        let mut k = ApiKey {
            id: ApiKeyId(1),
            user_id: UserId(1),
            name: "k".into(),
            key_digest: String::new(),
            key_prefix: String::new(),
            scopes: vec![Scope::Read],
            is_active: true,
            last_used_at: None,
            expires_at: None,
            created_at: now,
            updated_at: now,
            legacy_bcrypt: None,
            project_id: None,
        };
        assert!(key_unusable(&k, now).is_none());
        k.expires_at = Some(now - Duration::seconds(1));
        assert_eq!(key_unusable(&k, now), Some("API key has expired"));
        k.expires_at = None;
        k.is_active = false;
        assert_eq!(key_unusable(&k, now), Some("API key has been revoked"));
    }
}
