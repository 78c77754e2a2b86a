//! Sign-in with the group's OpenID Connect identity provider.
//!
//! Two ways in, one verifier:
//! - **API bearer tokens**: an access token (a JWT from the configured issuer, for the API's own
//!   audience: never an ID token) in `Authorization: Bearer …` becomes a [`Principal`] through
//!   [`Oidc::authenticate_token`].
//!   `access::authenticate`, which finds the caller for the inference and the admin API alike,
//!   calls it (through [`access::SignIn`], which [`Oidc`] implements) only for tokens shaped like a
//!   JWT; API keys keep their own path, and the surfaces never depend on this crate.
//! - **Web sign-in**: [`Oidc::router`] serves `/auth/login` (authorization code flow with `state`,
//!   `nonce` and PKCE S256) and `/auth/callback`, which opens a web session in the directory
//!   (`access::SessionCookies`); the session cookie then authenticates inference API calls too,
//!   never admin ones. Sign-out and `/auth/me` work without an identity provider and are served by
//!   the admin crate (`admin::auth_router`), with the one-time sign-in links.
//!
//! Invariants: a token is verified against the provider's published keys only, with the
//! configured algorithms only (never `none` or `HS*`), for the exact issuer and an accepted
//! audience; the request path reads only memory (provider keys, user index), except the
//! one store write that binds a user to the provider's account at their first sign-in or
//! provisions a new user (`provision`); a user is found by that account (`iss`, `sub`), never
//! by a name alone, and must belong to the entity the claims name; every web sign-in, successful
//! or not, is audited.
//!
//! # In detail
//!
//! Sign-in with the group's OpenID Connect provider. `Provider` fetches the discovery document and the
//! key set (JWKS) in the background at start (retried with back-off while the provider is down; start-up
//! never waits), refreshes keys every 15 minutes, and on a token whose `kid` is unknown refetches once,
//! single-flight and at most once per `jwks_min_refetch_secs`. `verify` checks signature, the `alg`
//! allow-list (never `none` or `HS*`, and the key's pinned `alg`), `iss` exactly, `aud` (access
//! tokens: the configured API audiences, never the client id; `typ: at+jwt` and `azp` when
//! configured), `exp`/`nbf`
//! with leeway (jsonwebtoken 10.4, RustCrypto backend), and names the reason of every refusal
//! (`Rejection`). `Oidc::router` serves `/auth/login` (code flow, `state`, `nonce`, PKCE S256; the flow
//! stored for every replica under the hash of a secret in the browser's `fabrique_sign_in` cookie
//! for 10 minutes (`login.rs`), taken once by the callback with that cookie and the flow's own
//! `state`: no login CSRF, no replay) and `/auth/callback`; every
//! callback is audited (`auth.sign_in`, success or denial with its reason). **Invariants:** the request
//! path reads memory only (keys, `identity::Directory`'s user index, sessions) except the one store
//! write that binds a user to the provider's `(iss, sub)` at first sign-in or provisions a new one
//! (`jit_provisioning`); users are found by that binding (`user_subjects`), never by name alone;
//! sessions are the directory's (`identity::Directory::open_session`: the SHA-256 of their secret,
//! the user's id, the provider's roles for `[sessions] role_ttl_secs`, stored for every replica). **Where it sits:** `Oidc` implements `access::SignIn`;
//! `access::authenticate` finds the caller for both APIs (`gateway::authenticate`, the admin API's `Caller`): a bearer shaped like a JWT (and not
//! `fabk_…`) goes to `Oidc::authenticate_token`, any other bearer to the directory's API keys, unchanged;
//! a request without a bearer to its session cookie (`access::session_principal`) on the inference
//! API only (admin routes change state and take explicit credentials). `role_map` grants its roles over the user's entity, or
//! the whole group for `group_admin` and for an auditor mapped with `scope = "group"`. HTTP to the provider uses
//! the workspace's reqwest (rustls), already built for the admin CLI.

mod claims;
mod login;
mod provider;
mod provision;
mod routes;
mod verify;

#[cfg(feature = "testing")]
pub mod testing;

use std::sync::Arc;

use access::SessionCookies;
use configuration::OidcConfig;
use domain::{AuditAction, AuditEvent, Outcome, now_millis};
use identity::{Directory, Principal};
use store::Store;

pub use access::COOKIE_NAME;
pub use access::{Rejection, SignInError};
pub use claims::{Identity, grants};
pub use login::{FLOW_COOKIE, PENDING_TTL, pkce_challenge};
pub use provider::{KEY_REFRESH_INTERVAL, Metadata, Provider, ProviderError};
pub use verify::Claims;

/// Everything sign-in needs; shared as `Arc<Oidc>` by the gateway and the `/auth` routes.
#[derive(Debug)]
pub struct Oidc {
    settings: OidcConfig,
    provider: Arc<Provider>,
    directory: Arc<Directory>,
    store: Store,
    cookies: SessionCookies,
}

impl Oidc {
    /// Prepares sign-in; nothing is fetched yet (see [`Oidc::spawn_discovery`]). Sessions are
    /// opened with `cookies`.
    pub fn new(
        settings: OidcConfig,
        directory: Arc<Directory>,
        store: Store,
        cookies: SessionCookies,
    ) -> Result<Arc<Oidc>, ProviderError> {
        let provider = Arc::new(Provider::new(&settings.issuer, settings.jwks_min_refetch)?);
        Ok(Arc::new(Oidc {
            settings,
            provider,
            directory,
            store,
            cookies,
        }))
    }

    /// Starts discovery in the background: start-up does not wait for the provider, and a provider
    /// that is down is retried with back-off. Requests arriving before discovery succeeds try once
    /// themselves (gated like a key refetch) or get `issuer_unavailable`.
    pub fn spawn_discovery(&self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(Arc::clone(&self.provider).run())
    }

    pub fn provider(&self) -> &Provider {
        &self.provider
    }

    pub fn settings(&self) -> &OidcConfig {
        &self.settings
    }

    /// The principal of an API access token. No store access unless the user is new and
    /// `jit_provisioning` is on.
    pub async fn authenticate_token(&self, token: &str) -> Result<Arc<Principal>, SignInError> {
        let claims = verify::verify(
            &self.provider,
            &self.settings,
            verify::TokenUse::Access,
            token,
        )
        .await?;
        let identity = claims::identity(&self.settings, &claims)?;
        let user =
            provision::user_of(&self.directory, &self.store, &self.settings, &identity).await?;
        provision::require_active(&user)?;
        let extra = claims::grants(&identity.roles, user.entity_id);
        Ok(Arc::new(Principal::of_user(&user, &extra)))
    }

    /// The `/auth/…` routes.
    pub fn router(self: &Arc<Self>) -> axum::Router {
        routes::router(Arc::clone(self))
    }

    /// Appends a sign-in's audit event; a failure to audit is logged, never hidden.
    async fn audit_sign_in(
        &self,
        user: Option<&identity::UserRecord>,
        user_name: Option<&str>,
        result: Result<(), &SignInError>,
    ) {
        let (outcome, reason) = match result {
            Ok(()) => (Outcome::Success, "signed_in"),
            Err(error) => (Outcome::Denied, error.reason()),
        };
        let event = AuditEvent {
            at: now_millis(),
            actor: user.map_or_else(|| "anonymous".to_owned(), |u| u.id.to_string()),
            action: AuditAction::AuthSignIn,
            entity_id: user.map(|u| u.entity_id),
            target: user.map_or_else(String::new, |u| u.id.to_string()),
            outcome,
            detail: serde_json::json!({
                "reason": reason,
                "user_name": user_name,
                "issuer": self.settings.issuer,
            })
            .to_string(),
        };
        if let Err(error) = self.store.append_audit(&event).await {
            tracing::error!(%error, "could not audit a sign-in");
        }
    }
}

#[async_trait::async_trait]
impl access::SignIn for Oidc {
    async fn token(&self, token: &str) -> Result<Arc<Principal>, SignInError> {
        self.authenticate_token(token).await
    }
}
