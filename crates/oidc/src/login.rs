//! Sign-ins in progress: between the redirect to the provider and its callback, Fabrique remembers
//! each flow's `state`, `nonce` and PKCE verifier, in memory, for [`PENDING_TTL`], at most
//! [`MAX_PENDING`] at once (a flood of `/auth/login` cannot grow memory without bound).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use parking_lot::Mutex;
use rand::RngCore as _;
use sha2::{Digest, Sha256};

use access::SignInError;

/// How long a user has to come back from the provider.
pub const PENDING_TTL: Duration = Duration::from_secs(10 * 60);
/// The most sign-ins in progress at once.
pub const MAX_PENDING: usize = 10_000;

/// One flow's secrets, kept until its callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PendingLogin {
    pub nonce: String,
    pub code_verifier: String,
    started: Instant,
}

/// What the redirect to the provider carries.
#[derive(Debug)]
pub(crate) struct LoginStart {
    pub state: String,
    pub nonce: String,
    pub code_challenge: String,
}

#[derive(Debug, Default)]
pub(crate) struct PendingLogins {
    by_state: Mutex<HashMap<String, PendingLogin>>,
}

impl PendingLogins {
    /// Starts a flow at `now`: fresh state, nonce and PKCE pair.
    pub(crate) fn start(&self, now: Instant) -> Result<LoginStart, SignInError> {
        let mut pending = self.by_state.lock();
        if pending.len() >= MAX_PENDING {
            pending.retain(|_, login| now.saturating_duration_since(login.started) < PENDING_TTL);
            if pending.len() >= MAX_PENDING {
                return Err(SignInError::TooManyPending);
            }
        }
        let state = random_token();
        let nonce = random_token();
        let code_verifier = random_token();
        let code_challenge = pkce_challenge(&code_verifier);
        pending.insert(
            state.clone(),
            PendingLogin {
                nonce: nonce.clone(),
                code_verifier,
                started: now,
            },
        );
        Ok(LoginStart {
            state,
            nonce,
            code_challenge,
        })
    }

    /// Ends the flow of `state`: each state is usable once, and only within [`PENDING_TTL`].
    pub(crate) fn finish(&self, state: &str, now: Instant) -> Option<PendingLogin> {
        let login = self.by_state.lock().remove(state)?;
        (now.saturating_duration_since(login.started) < PENDING_TTL).then_some(login)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.by_state.lock().len()
    }
}

/// 32 random bytes from the operating system, base64url: for state, nonce, PKCE verifier and
/// session ids.
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
    fn a_state_is_used_once_and_expires() {
        let logins = PendingLogins::default();
        let now = Instant::now();
        let first = logins.start(now).unwrap();
        let login = logins.finish(&first.state, now).unwrap();
        assert_eq!(login.nonce, first.nonce);
        assert_eq!(pkce_challenge(&login.code_verifier), first.code_challenge);
        assert!(logins.finish(&first.state, now).is_none(), "used once");
        let second = logins.start(now).unwrap();
        assert!(logins.finish(&second.state, now + PENDING_TTL).is_none());
        assert!(logins.finish("made-up", now).is_none());
    }

    #[test]
    fn pending_sign_ins_are_bounded_and_expired_ones_make_room() {
        let logins = PendingLogins::default();
        let now = Instant::now();
        for _ in 0..MAX_PENDING {
            logins.start(now).unwrap();
        }
        assert!(matches!(
            logins.start(now),
            Err(SignInError::TooManyPending)
        ));
        assert!(logins.start(now + PENDING_TTL).is_ok());
        assert_eq!(logins.len(), 1);
    }
}
