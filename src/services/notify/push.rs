//! Web Push delivery: the VAPID key pair (RFC 8292, ES256), the encrypted message (RFC 8291
//! aes128gcm, by `web-push-native`), and the request to the push service (RFC 8030) sent with
//! the server's reqwest client.
//!
//! The VAPID token is signed here rather than by `web-push-native`'s helper, whose `aud` drops
//! the endpoint's port (RFC 8292 §2: the audience is the origin, port included).

use crate::domain::notify::{PushSubscription, origin_of};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use web_push_native::jwt_simple::algorithms::{
    ECDSAP256KeyPairLike, ECDSAP256PublicKeyLike, ES256KeyPair,
};
use web_push_native::jwt_simple::claims::Claims;
use web_push_native::p256;

/// How long a push service keeps an undelivered notice, and a VAPID token's lifetime.
const TTL_SECS: u64 = 12 * 60 * 60;

/// The server's VAPID key pair.
pub struct Vapid {
    key: ES256KeyPair,
    public_b64: String,
}

impl Vapid {
    pub fn generate() -> Vapid {
        Vapid::of(ES256KeyPair::generate())
    }

    fn of(key: ES256KeyPair) -> Vapid {
        let public_b64 = B64.encode(key.public_key().public_key().to_bytes_uncompressed());
        Vapid { key, public_b64 }
    }

    /// From the 32-byte private scalar, base64url (what is sealed in the store).
    pub fn from_b64(secret: &str) -> crate::error::AppResult<Vapid> {
        let bad = || {
            crate::error::AppError::Internal(
                "the stored VAPID key is damaged; delete the setting notify.vapid_key to make a new one (browsers must then enrol again)".into(),
            )
        };
        let raw = B64.decode(secret.trim()).map_err(|_| bad())?;
        ES256KeyPair::from_bytes(&raw)
            .map(Vapid::of)
            .map_err(|_| bad())
    }

    pub fn secret_b64(&self) -> String {
        B64.encode(self.key.to_bytes())
    }

    /// The uncompressed public point, base64url (the browser's `applicationServerKey`).
    pub fn public_b64(&self) -> String {
        self.public_b64.clone()
    }

    /// `Authorization: vapid t=<JWT>, k=<public key>` for a push to `endpoint`.
    pub fn authorization(&self, endpoint: &reqwest::Url, subject: &str) -> Result<String, String> {
        let claims = Claims::create(std::time::Duration::from_secs(TTL_SECS).into())
            .with_audience(origin_of(endpoint))
            .with_subject(subject);
        let token = self
            .key
            .sign(claims)
            .map_err(|e| format!("cannot sign the VAPID token: {e}"))?;
        Ok(format!("vapid t={token}, k={}", self.public_b64))
    }
}

fn decode_b64(s: &str) -> Option<Vec<u8>> {
    B64.decode(s.trim().trim_end_matches('=')).ok()
}

/// Check a subscription's keys: a P-256 point and a 16-byte secret, base64url.
pub fn check_keys(p256dh: &str, auth: &str) -> Result<(), String> {
    keys(p256dh, auth).map(|_| ())
}

fn keys(p256dh: &str, auth: &str) -> Result<(p256::PublicKey, web_push_native::Auth), String> {
    let public = decode_b64(p256dh)
        .and_then(|b| p256::PublicKey::from_sec1_bytes(&b).ok())
        .ok_or("keys.p256dh: not a base64url P-256 public key (send the browser's PushSubscription.toJSON())")?;
    let auth = decode_b64(auth).filter(|b| b.len() == 16).ok_or(
        "keys.auth: not a base64url 16-byte secret (send the browser's PushSubscription.toJSON())",
    )?;
    Ok((public, web_push_native::Auth::clone_from_slice(&auth)))
}

/// What the push service said.
#[derive(Debug)]
pub enum Outcome {
    Sent,
    /// 404/410: the subscription expired or was withdrawn; forget it.
    Gone,
    Failed(String),
}

/// Encrypt `payload` for `sub` and POST it to its push service.
pub async fn send(
    client: &reqwest::Client,
    vapid: &Vapid,
    subject: &str,
    sub: &PushSubscription,
    payload: &[u8],
    urgency: &str,
) -> Outcome {
    let (public, auth) = match keys(&sub.p256dh, &sub.auth) {
        Ok(k) => k,
        Err(e) => return Outcome::Failed(e),
    };
    let endpoint = match reqwest::Url::parse(&sub.endpoint) {
        Ok(u) => u,
        Err(e) => return Outcome::Failed(format!("bad endpoint: {e}")),
    };
    let body = match web_push_native::encrypt(payload.to_vec(), &public, &auth) {
        Ok(b) => b,
        Err(e) => return Outcome::Failed(format!("cannot encrypt: {e}")),
    };
    let authorization = match vapid.authorization(&endpoint, subject) {
        Ok(a) => a,
        Err(e) => return Outcome::Failed(e),
    };
    let res = client
        .post(endpoint)
        .header("TTL", TTL_SECS.to_string())
        .header("Urgency", urgency)
        .header("Content-Encoding", "aes128gcm")
        .header("Content-Type", "application/octet-stream")
        .header("Authorization", authorization)
        .body(body)
        .send()
        .await;
    match res {
        Ok(r) if r.status().is_success() => Outcome::Sent,
        Ok(r) if matches!(r.status().as_u16(), 404 | 410) => Outcome::Gone,
        Ok(r) => Outcome::Failed(format!("push service answered {}", r.status())),
        // The endpoint is a capability URL: keep it out of the log.
        Err(e) => Outcome::Failed(e.without_url().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use web_push_native::jwt_simple::algorithms::ES256PublicKey;
    use web_push_native::jwt_simple::prelude::{NoCustomClaims, VerificationOptions};

    #[test]
    fn the_token_names_the_origin_with_its_port_and_verifies() {
        let v = Vapid::generate();
        let url = reqwest::Url::parse("http://127.0.0.1:4567/push/x").unwrap();
        let h = v.authorization(&url, "mailto:a@b").unwrap();
        let (t, k) = h
            .strip_prefix("vapid t=")
            .and_then(|r| r.split_once(", k="))
            .unwrap();
        assert_eq!(k, v.public_b64());
        let pk = ES256PublicKey::from_bytes(&B64.decode(k).unwrap()).unwrap();
        let opts = VerificationOptions {
            allowed_audiences: Some(["http://127.0.0.1:4567".to_string()].into()),
            ..Default::default()
        };
        let c = pk.verify_token::<NoCustomClaims>(t, Some(opts)).unwrap();
        assert_eq!(c.subject.as_deref(), Some("mailto:a@b"));
        assert!(c.expires_at.is_some());
    }

    #[test]
    fn keys_round_trip_through_the_sealed_form() {
        let v = Vapid::generate();
        let w = Vapid::from_b64(&v.secret_b64()).unwrap();
        assert_eq!(v.public_b64(), w.public_b64());
        assert!(Vapid::from_b64("not base64!").is_err());
    }

    #[test]
    fn subscription_keys_are_checked() {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        let sk = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let pk = B64.encode(sk.public_key().to_encoded_point(false).as_bytes());
        assert!(check_keys(&pk, &B64.encode([1u8; 16])).is_ok());
        assert!(
            check_keys(&pk, &B64.encode([1u8; 15]))
                .unwrap_err()
                .contains("auth")
        );
        assert!(
            check_keys("AAAA", &B64.encode([1u8; 16]))
                .unwrap_err()
                .contains("p256dh")
        );
    }
}
