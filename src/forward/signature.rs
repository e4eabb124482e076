//! The Standard Webhooks headers of a forwarded push: `webhook-id`,
//! `webhook-timestamp` and, with a secret, `webhook-signature`.
//!
//! The id comes from the push's SHA-256, so it is the same for every retry
//! of a push, to every target, and from any database that holds the push: a
//! receiver that keeps the ids it has seen drops every duplicate. The
//! signature is `v1,` and the base64 HMAC-SHA256 of `id.timestamp.body`
//! under the secret's key, as the specification says, so any Standard
//! Webhooks library verifies it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::forwarding::SigningSecret;

/// The `webhook-id` of a push: `msg_` and the first 16 bytes of its SHA-256
/// in hex.
pub fn message_id(sha256: &[u8; 32]) -> String {
    let mut id = String::with_capacity(4 + 32);
    id.push_str("msg_");
    for byte in &sha256[..16] {
        id.push_str(&format!("{byte:02x}"));
    }
    id
}

/// The `webhook-signature` of `body` sent as `id` at `timestamp` (Unix
/// seconds).
pub fn sign(secret: &SigningSecret, id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.key()).expect("HMAC takes a key of any length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Computed independently, with Python's `hmac` module:
    /// `base64.b64encode(hmac.new(base64.b64decode(key), b"msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{\"test\": 2432232314}", "sha256").digest())`.
    #[test]
    fn the_signature_is_the_base64_hmac_of_id_timestamp_and_body() {
        let secret = SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let signature = sign(
            &secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn the_id_is_the_same_for_the_same_push_and_differs_between_pushes() {
        let a = message_id(&[1; 32]);
        assert_eq!(a, message_id(&[1; 32]));
        assert_ne!(a, message_id(&[2; 32]));
        assert_eq!(a, format!("msg_{}", "01".repeat(16)));
    }
}
