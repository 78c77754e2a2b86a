//! The administration API under /admin/v1 (its command-line client is the `admin-client` crate).
//!
//! Every route authenticates the caller through the [`identity::Directory`] (the same index the
//! inference path uses), then asks [`authorize`] whether the caller may perform the action on the
//! target entity, then acts. Each change writes its audit event in the same store transaction as
//! the change itself, with the caller's key id as actor; refused attempts are audited as `denied`.
//! Keys created or revoked here take effect in the directory at once, and rate limits and budgets
//! set here in the admission table.

mod audit_log;
mod authorize;
mod body;
mod bootstrap;
mod budgets;
mod caller;
mod chargeback;
mod content;
mod entities;
mod error;
mod keys;
mod limits;
mod policies;
mod pool_shares;
mod rules;
mod scim_tokens;
mod scopes;
mod seats;
mod usage;
mod users;

use std::sync::Arc;

use axum::Router;
use axum::routing::{delete, get, post, put};
use identity::{Directory, ScimTokens};
use store::Store;

pub use authorize::{AdminAction, authorize, authorize_carrying};
pub use bootstrap::{BOOTSTRAP_ACCOUNT_NAME, BootstrapOutcome, bootstrap_admin};
pub use error::AdminError;
pub use policies::{DEFAULT_POLICIES, SCHEMA as POLICY_SCHEMA, install as install_policies};
pub use rules::{spent_this_period, stored_budget, stored_limits};
pub use users::MAX_PAGE;

/// What the admin routes share: durable state, the live key index, and the public key audit
/// checkpoints are signed with (shown to auditors; `None` when this process signs none).
#[derive(Clone)]
pub struct AdminState {
    pub store: Store,
    pub directory: Arc<Directory>,
    pub audit_public_key: Option<evidence::PublicKey>,
    /// The live SCIM token index, updated as tokens are created and revoked.
    pub scim_tokens: Arc<ScimTokens>,
    /// The configured classification levels, which a key's `classification` must name.
    pub classifications: domain::ClassificationLadder,
    /// The configured models' public names, which a key's `models` must name.
    pub model_names: Arc<[String]>,
    /// The live seat state: users created here get a seat, and the pool is set here.
    pub seats: Arc<::seats::Seats>,
    /// The live rate limits and budgets the request path enforces, changed with the store.
    pub admission: Arc<admission::Admission>,
    /// The group's time zone (`[admission] time_zone`): usage buckets and chargeback months.
    pub zone: reports::Zone,
    /// The GPU pools' live schedulers, whose entity shares the pool routes set; `None` when
    /// scheduling is off.
    pub scheduler: Option<Arc<scheduler::Scheduler>>,
    /// Stored content (retention `full`), read back and purged here; `None` in set-ups without a
    /// content store, where those routes answer 404.
    pub content: Option<Arc<retention::ContentStore>>,
    /// Sign-in, when configured: the identity provider's access tokens are accepted as bearers,
    /// with the roles its claims map to.
    pub sign_in: Option<Arc<dyn access::SignIn>>,
}

/// The admin API, with full paths (`/admin/v1/…`) so the binary can merge it with the inference
/// router. It sets no fallback, as merged routers may have only one.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route(
            "/admin/v1/entities",
            get(entities::list).post(entities::create),
        )
        .route(
            "/admin/v1/entities/{entity}/status",
            put(entities::set_status),
        )
        .route("/admin/v1/users", get(users::list).post(users::create))
        .route("/admin/v1/users/{id}/erase", post(content::erase))
        .route("/admin/v1/content", get(content::read))
        .route("/admin/v1/retention/purge", post(content::purge))
        .route("/admin/v1/keys", get(keys::list).post(keys::create))
        .route("/admin/v1/keys/{id}", delete(keys::revoke))
        .route("/admin/v1/keys/{id}/rotate", post(keys::rotate))
        .route(
            "/admin/v1/scim-tokens",
            get(scim_tokens::list).post(scim_tokens::create),
        )
        .route("/admin/v1/scim-tokens/{id}", delete(scim_tokens::revoke))
        .route(
            "/admin/v1/seats/pool",
            get(seats::pool).put(seats::set_pool),
        )
        .route(
            "/admin/v1/seats/entities/{entity}",
            put(seats::set_reservation),
        )
        .route("/admin/v1/seats/report", get(seats::report))
        .route("/admin/v1/limits", get(limits::list))
        .route(
            "/admin/v1/limits/{kind}/{id}",
            get(limits::get).put(limits::set).delete(limits::delete),
        )
        .route("/admin/v1/budgets", get(budgets::list))
        .route(
            "/admin/v1/budgets/{kind}/{id}",
            get(budgets::get).put(budgets::set).delete(budgets::delete),
        )
        .route("/admin/v1/budgets/{kind}/{id}/reset", post(budgets::reset))
        .route("/admin/v1/pools/{pool}/shares", get(pool_shares::list))
        .route(
            "/admin/v1/pools/{pool}/shares/{entity}",
            put(pool_shares::set),
        )
        .route("/admin/v1/audit", get(audit_log::list))
        .route("/admin/v1/audit/checkpoints", get(audit_log::checkpoints))
        .route("/admin/v1/usage", get(usage::totals))
        .route("/admin/v1/usage/active-users", get(usage::active_users))
        .route("/admin/v1/usage/latency", get(usage::latency))
        .route("/admin/v1/reports/chargeback", get(chargeback::report))
        .with_state(state)
}
