//! Sign-ins in progress, kept by the browser: between the redirect to the provider and its
//! callback, each flow's `state`, `nonce` and PKCE verifier travel in a cookie sealed with
//! XChaCha20-Poly1305 (RustCrypto's `chacha20poly1305`) under a key of this process.
//!
//! So nothing is kept on the server for a sign-in that has not finished — a flood of anonymous
//! `/auth/login` costs no memory and locks nobody out — and the callback accepts a `state` only
//! from the browser that started the flow (its cookie), which closes login CSRF: a callback URL
//! made with someone else's flow carries no cookie of theirs. The cookie lives [`PENDING_TTL`],
//! and its expiry is sealed inside it. A restart (or another replica, whose key differs) makes
//! flows in progress start again.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use domain::UnixMillis;
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How long a user has to come back from the provider.
pub const PENDING_TTL: Duration = Duration::from_secs(10 * 60);

/// The flow cookie's name.
pub const FLOW_COOKIE: &str = "fabrique_sign_in";

/// What binds the sealed text to its use, so no other sealed value of this process passes for it.
const ASSOCIATED_DATA: &[u8] = b"fabrique sign-in flow v1";

const NONCE_LEN: usize = 24;

/// One flow's secrets, sealed into the browser's cookie until the callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PendingLogin {
    pub state: String,
    pub nonce: String,
    pub code_verifier: String,
    expires_at: UnixMillis,
}

impl PendingLogin {
    /// A fresh flow at `now`: state, nonce and PKCE verifier.
    pub(crate) fn start(now: UnixMillis) -> PendingLogin {
        let ttl = i64::try_from(PENDING_TTL.as_millis()).unwrap_or(i64::MAX);
        PendingLogin {
            state: random_token(),
            nonce: random_token(),
            code_verifier: random_token(),
            expires_at: now.saturating_add(ttl),
        }
    }

    pub(crate) fn code_challenge(&self) -> String {
        pkce_challenge(&self.code_verifier)
    }
}

/// Seals flows into cookie values and opens them again; the key is this process's, random.
pub(crate) struct FlowSealer {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for FlowSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FlowSealer(<key>)")
    }
}

impl FlowSealer {
    pub(crate) fn new() -> FlowSealer {
        FlowSealer {
            cipher: XChaCha20Poly1305::new(&XChaCha20Poly1305::generate_key(&mut OsRng)),
        }
    }

    /// The cookie value carrying `login`: base64url of nonce ‖ ciphertext and tag.
    pub(crate) fn seal(&self, login: &PendingLogin) -> String {
        let plaintext = serde_json::to_vec(login).unwrap_or_default();
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let payload = Payload {
            msg: &plaintext,
            aad: ASSOCIATED_DATA,
        };
        // Encryption fails only for inputs beyond 256 GiB.
        let sealed = self.cipher.encrypt(&nonce, payload).unwrap_or_default();
        let mut bytes = Vec::with_capacity(NONCE_LEN + sealed.len());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&sealed);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The flow a cookie value carries, if this process sealed it and it has not expired at `now`.
    pub(crate) fn open(&self, value: &str, now: UnixMillis) -> Option<PendingLogin> {
        let bytes = URL_SAFE_NO_PAD.decode(value).ok()?;
        if bytes.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let payload = Payload {
            msg: ciphertext,
            aad: ASSOCIATED_DATA,
        };
        let plaintext = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), payload)
            .ok()?;
        let login: PendingLogin = serde_json::from_slice(&plaintext).ok()?;
        (now < login.expires_at).then_some(login)
    }
}

/// 32 random bytes from the operating system, base64url: for state, nonce and PKCE verifier.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The S256 code challenge of a verifier (RFC 7636 §4.2).
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_challenge_is_the_rfc_7636_example() {
        // RFC 7636, appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn a_sealed_flow_opens_until_it_expires_and_only_under_its_key() {
        let sealer = FlowSealer::new();
        let login = PendingLogin::start(0);
        let cookie = sealer.seal(&login);
        assert!(!cookie.contains(&login.state), "the state is not in clear");
        assert_eq!(sealer.open(&cookie, 1), Some(login.clone()));
        let ttl = i64::try_from(PENDING_TTL.as_millis()).unwrap();
        assert_eq!(sealer.open(&cookie, ttl), None, "expired");
        assert_eq!(FlowSealer::new().open(&cookie, 1), None, "another key");
    }

    #[test]
    fn a_tampered_or_malformed_cookie_opens_nothing() {
        let sealer = FlowSealer::new();
        let cookie = sealer.seal(&PendingLogin::start(0));
        let mut bytes = URL_SAFE_NO_PAD.decode(&cookie).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert_eq!(sealer.open(&URL_SAFE_NO_PAD.encode(bytes), 1), None);
        assert_eq!(sealer.open("", 1), None);
        assert_eq!(sealer.open("not base64!", 1), None);
        assert_eq!(sealer.open("c2hvcnQ", 1), None);
    }
}
