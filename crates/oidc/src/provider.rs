//! The identity provider as Fabrique knows it: its discovery document and its signing keys, fetched
//! over HTTP and cached in memory.
//!
//! Key-cache policy: the key set (JWKS) is fetched after discovery and then refreshed every
//! [`KEY_REFRESH_INTERVAL`] in the background, so keys the provider removed stop verifying within
//! that time. A token whose `kid` is not cached triggers one refetch (the provider may have rotated
//! its keys), at most once per `jwks_min_refetch`: a flood of tokens with made-up key ids costs the
//! provider one request per interval, not one per token. Refetches are single-flight: concurrent
//! requests with the same new `kid` wait for one fetch.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::{ArcSwap, ArcSwapOption};
use jsonwebtoken::jwk::{JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

use access::Rejection;

/// How often the key set is refetched even when no unknown `kid` asks for it.
pub const KEY_REFRESH_INTERVAL: Duration = Duration::from_secs(15 * 60);
/// Per HTTP call to the provider; sign-in and a first token wait at most this long.
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// Discovery retries while the provider is down at start: doubling from the first, up to the last.
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(60);

/// The fields of the discovery document Fabrique uses.
#[derive(Debug, Clone, Deserialize)]
pub struct Metadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
}

/// One verification key from the provider's key set.
pub(crate) struct VerificationKey {
    pub key: DecodingKey,
    /// The `alg` the JWK pins, when it pins one: a token must then use exactly that.
    pub algorithm: Option<Algorithm>,
}

/// The cached key set, by key id.
#[derive(Default)]
pub(crate) struct KeySet {
    by_kid: HashMap<String, Arc<VerificationKey>>,
    /// Keys published without a `kid`; usable only by tokens without one, when there is exactly one.
    without_kid: Vec<Arc<VerificationKey>>,
}

impl KeySet {
    fn find(&self, kid: Option<&str>) -> Option<Arc<VerificationKey>> {
        match kid {
            Some(kid) => self.by_kid.get(kid).cloned(),
            None if self.without_kid.len() == 1 => self.without_kid.first().cloned(),
            None => None,
        }
    }

    /// Signing keys of a JWKS; encryption keys and keys this build cannot use are skipped.
    fn from_jwks(jwks: &JwkSet) -> KeySet {
        let mut set = KeySet::default();
        for jwk in &jwks.keys {
            if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
                continue;
            }
            let Ok(key) = DecodingKey::from_jwk(jwk) else {
                tracing::debug!(kid = ?jwk.common.key_id, "skipping a key of the provider's JWKS that cannot verify");
                continue;
            };
            let algorithm = jwk
                .common
                .key_algorithm
                .and_then(|a| a.to_string().parse::<Algorithm>().ok());
            let key = Arc::new(VerificationKey { key, algorithm });
            match &jwk.common.key_id {
                Some(kid) => {
                    set.by_kid.insert(kid.clone(), key);
                }
                None => set.without_kid.push(key),
            }
        }
        set
    }

    pub(crate) fn len(&self) -> usize {
        self.by_kid.len() + self.without_kid.len()
    }
}

/// Allows a refetch at most once per `min_interval`. Pure, so its rule is tested without a clock.
#[derive(Debug)]
pub(crate) struct RefetchGate {
    min_interval: Duration,
    last: Option<Instant>,
}

impl RefetchGate {
    pub(crate) fn new(min_interval: Duration) -> Self {
        RefetchGate {
            min_interval,
            last: None,
        }
    }

    /// Whether a refetch may run at `now`; when it may, `now` becomes the last refetch.
    pub(crate) fn allow(&mut self, now: Instant) -> bool {
        let allowed = self
            .last
            .is_none_or(|last| now.saturating_duration_since(last) >= self.min_interval);
        if allowed {
            self.last = Some(now);
        }
        allowed
    }
}

/// The provider: discovery, keys, and the HTTP client to reach it.
pub struct Provider {
    issuer: String,
    pub(crate) http: reqwest::Client,
    metadata: ArcSwapOption<Metadata>,
    keys: ArcSwap<KeySet>,
    /// Held across an on-demand fetch so that concurrent callers share it.
    gate: tokio::sync::Mutex<RefetchGate>,
}

/// Why the provider could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("GET {url}: {message}")]
    Http { url: String, message: String },
    #[error("the discovery document names the issuer `{found}`, expected `{expected}`")]
    IssuerMismatch { expected: String, found: String },
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("issuer", &self.issuer)
            .field("discovered", &self.metadata.load().is_some())
            .field("keys", &self.keys.load().len())
            .finish()
    }
}

impl Provider {
    pub fn new(issuer: &str, min_refetch: Duration) -> Result<Provider, ProviderError> {
        let http = reqwest::Client::builder()
            .timeout(HTTP_TIMEOUT)
            // The token endpoint answers directly; a redirect there would be a misconfiguration.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ProviderError::Http {
                url: issuer.to_owned(),
                message: e.to_string(),
            })?;
        Ok(Provider {
            issuer: issuer.to_owned(),
            http,
            metadata: ArcSwapOption::empty(),
            keys: ArcSwap::from_pointee(KeySet::default()),
            gate: tokio::sync::Mutex::new(RefetchGate::new(min_refetch)),
        })
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The discovery document, once fetched.
    pub fn metadata(&self) -> Option<Arc<Metadata>> {
        self.metadata.load_full()
    }

    /// Fetches the discovery document and then the key set.
    pub async fn discover(&self) -> Result<(), ProviderError> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        let metadata: Metadata = self.get_json(&url).await?;
        if metadata.issuer != self.issuer {
            return Err(ProviderError::IssuerMismatch {
                expected: self.issuer.clone(),
                found: metadata.issuer,
            });
        }
        let keys = self.fetch_keys(&metadata.jwks_uri).await?;
        tracing::info!(issuer = %self.issuer, keys = keys.len(), "identity provider discovered");
        self.keys.store(Arc::new(keys));
        self.metadata.store(Some(Arc::new(metadata)));
        Ok(())
    }

    /// Discovery at start, retried with back-off while the provider is down, then the periodic key
    /// refresh. Never returns; abort it at shutdown.
    pub async fn run(self: Arc<Self>) {
        let mut delay = RETRY_FIRST;
        while self.metadata.load().is_none() {
            match self.discover().await {
                Ok(()) => break,
                Err(error) => {
                    tracing::warn!(%error, retry_in = ?delay, "identity provider discovery failed");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(RETRY_MAX);
                }
            }
        }
        loop {
            tokio::time::sleep(KEY_REFRESH_INTERVAL).await;
            if let Err(error) = self.refresh_keys().await {
                tracing::warn!(%error, "refreshing the identity provider's keys failed");
            }
        }
    }

    /// The key for a token's `kid`: from the cache, or after one gated refetch.
    pub(crate) async fn key(&self, kid: Option<&str>) -> Result<Arc<VerificationKey>, Rejection> {
        if let Some(key) = self.keys.load().find(kid) {
            return Ok(key);
        }
        let mut gate = self.gate.lock().await;
        // Another request may have refetched while this one waited.
        if let Some(key) = self.keys.load().find(kid) {
            return Ok(key);
        }
        let discovered = self.metadata.load().is_some();
        if !gate.allow(Instant::now()) {
            return Err(if discovered {
                Rejection::UnknownKey
            } else {
                Rejection::IssuerUnavailable
            });
        }
        let fetched = if discovered {
            self.refresh_keys().await
        } else {
            self.discover().await
        };
        drop(gate);
        if let Err(error) = fetched {
            tracing::warn!(%error, "fetching the identity provider's keys failed");
            if !discovered {
                return Err(Rejection::IssuerUnavailable);
            }
        }
        self.keys.load().find(kid).ok_or(Rejection::UnknownKey)
    }

    /// The discovery document, fetching it now (gated like a key refetch) when start-up could not.
    pub(crate) async fn require_metadata(&self) -> Result<Arc<Metadata>, Rejection> {
        if let Some(metadata) = self.metadata.load_full() {
            return Ok(metadata);
        }
        let mut gate = self.gate.lock().await;
        if self.metadata.load().is_none()
            && gate.allow(Instant::now())
            && let Err(error) = self.discover().await
        {
            tracing::warn!(%error, "identity provider discovery failed");
        }
        drop(gate);
        self.metadata
            .load_full()
            .ok_or(Rejection::IssuerUnavailable)
    }

    async fn refresh_keys(&self) -> Result<(), ProviderError> {
        let Some(metadata) = self.metadata.load_full() else {
            return self.discover().await;
        };
        let keys = self.fetch_keys(&metadata.jwks_uri).await?;
        tracing::info!(keys = keys.len(), "identity provider keys refreshed");
        self.keys.store(Arc::new(keys));
        Ok(())
    }

    async fn fetch_keys(&self, url: &str) -> Result<KeySet, ProviderError> {
        let jwks: JwkSet = self.get_json(url).await?;
        Ok(KeySet::from_jwks(&jwks))
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
    ) -> Result<T, ProviderError> {
        let failed = |message: String| ProviderError::Http {
            url: url.to_owned(),
            message,
        };
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| failed(e.to_string()))?;
        if !response.status().is_success() {
            return Err(failed(format!("status {}", response.status())));
        }
        response.json().await.map_err(|e| failed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_allows_one_refetch_per_interval() {
        let start = Instant::now();
        let mut gate = RefetchGate::new(Duration::from_secs(60));
        assert!(gate.allow(start), "the first refetch always runs");
        assert!(!gate.allow(start));
        assert!(!gate.allow(start + Duration::from_secs(59)));
        assert!(gate.allow(start + Duration::from_secs(60)));
        assert!(!gate.allow(start + Duration::from_secs(61)));
    }

    #[test]
    fn a_zero_interval_never_throttles() {
        let start = Instant::now();
        let mut gate = RefetchGate::new(Duration::ZERO);
        assert!(gate.allow(start));
        assert!(gate.allow(start));
    }
}
