//! The administration API under /admin/v1 (its command-line client is the `admin-client` crate).
//!
//! Every route authenticates the caller through the [`identity::Directory`] (the same index the
//! inference path uses), then asks [`authorize`] whether the caller may perform the action on the
//! target entity, then acts. Each change writes its audit event in the same store transaction as
//! the change itself, with the caller's key id as actor; refused attempts are audited as `denied`.
//! Keys created or revoked here take effect in the directory at once, and rate limits and budgets
//! set here in the admission table.
//!
//! # Routes
//!
//! Entities (`entities.rs`): create, list,
//! and `PUT /admin/v1/entities/{entity}/status` (the store first, which releases a suspended
//! entity's seats in the same transaction, then `identity::Directory::suspend_entity`, which drops
//! the entity's keys and marks its users' entity suspended, and `seats::Seats::entity_suspended`, or
//! `reactivate_entity`, which re-reads its usable keys). Seats (`seats.rs`):
//! `GET/PUT /admin/v1/seats/pool`, `PUT /admin/v1/seats/entities/{entity}`, `GET /admin/v1/seats/report`,
//! `POST /admin/v1/seats/reclaim` (idle users' seats taken back now; group administrators)
//! (figures from `seats::Seats` in memory; an entity's administrators and auditors read only their
//! entity's). Audit log (`audit_log.rs`): `GET /admin/v1/audit[?entity=]` (an entity's readers get its
//! events only, `Store::list_entity_audit_chain`), `GET /admin/v1/audit/checkpoints` and
//! `POST /admin/v1/audit/verify` (group-wide readers: checkpoints sign the whole chain). Callers authenticate with an API key or, with `[oidc]`, an
//! access token (`caller.rs` → `access::authenticate`, never a session cookie). **Invariant:** every route
//! authenticates, authorizes and audits; it never reaches into the gateway.
//!
//! - **Knowledge libraries** (`libraries.rs`): `/v1/libraries` (create, list, get, delete),
//!   `/v1/libraries/{id}/documents` (add with the file as the body, list, delete) and
//!   `POST /v1/libraries/{id}/search`; Cedar decides on the library itself (its entity, readers,
//!   editors against the caller's reader tags), a library the caller may not read answers 404;
//!   audited `library.*`. The work is `knowledge::Libraries`'.
//! - **Legal holds** (`legal_holds.rs`): `GET/POST /admin/v1/legal-holds`,
//!   `DELETE /admin/v1/legal-holds/{id}` (group administrators place and lift, auditors read;
//!   audited `legal_hold.*`). A held user's or entity's content is refused to erasure (409
//!   `legal_hold`) and kept by the purge.
//! - **Role grants** (`role_grants.rs`): `GET/POST/DELETE /admin/v1/role-grants` (a user, a
//!   role, the entity it is held over or none for the group). Nobody grants or takes back a role
//!   wider than their own: group administrators anything, an entity administrator only roles over
//!   their entity that they hold there themselves (and `user`) — the `no_escalation` and
//!   `no_wider_grant` policies, which see the grant in the context. Audited `role.grant`,
//!   `role.revoke`; applied to the directory before the answer (`Directory::set_roles`); the
//!   last group administrator is never taken back (409).
//! - **Web sessions and sign-in links** (`sessions.rs`, `login_links.rs`, `auth.rs`):
//!   `GET /admin/v1/sessions`, `DELETE /admin/v1/sessions/{id}`,
//!   `DELETE /admin/v1/users/{user}/sessions` (the directory's sessions, ended at once, audited
//!   `session.revoke`); `POST /admin/v1/users/{user}/login-link` mints a one-time link (15 minutes,
//!   once, stored hashed; authorized like a key, `hands_out_roles`). [`auth_router`] serves the
//!   `/auth/…` routes that need no identity provider: `GET /auth/link/{token}` (opens a session
//!   with `access::SessionCookies`), `POST /auth/logout`, `GET /auth/me`.
//! - **Keys** (`keys.rs`): create (`models` checked against the configured names, `expires_at` or
//!   `expires_in_days` ≤ 3,650 days, `priority`; 400 naming the field), list (with `expires_at`,
//!   `expired`, `rotated_from`, `replaced_by`, `last_used_at`), revoke, and
//!   `POST /admin/v1/keys/{id}/rotate` (`grace_seconds` ≤ 30 days, default 1 day): the successor and
//!   the old key's expiry are written with one `key.rotate` event in one transaction
//!   (`Store::rotate_key`, which locks the old key's row first and refuses a revoked, expired or
//!   already rotated key), then applied to the directory.
//! - **Authorization** (`authorize.rs`, `policies.rs`, `policies/*.cedar*`; explained in
//!   docs/authorization.md): `authorize(principal, action, target entity)` is the one question routes
//!   ask; a Cedar policy set answers it. The schema and the default policy set are compiled in
//!   (`include_str!`) and validated strictly once, on first use; each decision builds one `Caller`
//!   entity (the caller's group-wide and entity-scoped roles), the action (`AdminAction::as_str`, the
//!   audit name) and the resource (`Entity` or `Group`). Key creation, revocation and rotation also pass
//!   the key owner's roles in the context (`authorize_carrying`), which the `no_escalation` policy reads
//!   so nobody hands out more than their entity. An evaluation error is a denial, logged. Route
//!   helpers: `require` (authorize, audit `denied` on refusal), `require_visible` (the same, but a
//!   caller with the right in some entity of theirs gets the object's 404 for another entity's object),
//!   `usage::report_entity` (narrows listings and reports to the caller's entity: users, keys, audit
//!   events, usage, chargeback). Rights: group administrators everything; entity administrators
//!   their entity's users, keys, limits, budgets, erasures and reads (not stored content); auditors
//!   (group-wide or of an entity) reads only, stored content included; factory engineers their entity's usage; `user` nothing. `[authorization] policies`
//!   replaces the default set: `fabrique::server::start` reads and validates the file
//!   (`admin::install_policies`, errors listed with their lines) before anything else, and the set
//!   is the process's (an `ArcSwapOption`, read once per decision).
//! - **Rate limits and budgets** (`limits.rs`, `budgets.rs`, `scopes.rs`, `rules.rs`): a scope is
//!   `{kind}/{id}` (`key`, `user`, `team`, `entity` by id or slug), looked up in the store with the
//!   entity it belongs to. That entity's administrators manage keys, users and teams; an entity's own
//!   rules are the group's allocation, read by its administrators and changed only by group
//!   administrators. A refused entity administrator gets the same 404 as for a missing scope (another
//!   entity's data is never confirmed), audited `denied`. A change is written with its audit event in
//!   one store transaction, then applied to the live `admission::Admission` (in `AdminState`), under one
//!   lock so memory ends as the store does when administrators race. A new budget starts with what the
//!   scope already spent this period according to usage records, as it would after a restart
//!   (`rules::spent_this_period`, shared with the loader in `fabrique::limits`); a reset records its
//!   instant in the store (`budgets.reset_at`) so usage before it stops counting after a restart too.
//!   Reads come from the live table (spent, reserved, remaining, `resets_at` in RFC 3339).
//! - **Audit trail** (`audit_log.rs`): `GET /admin/v1/audit` narrowed by entity, actor, action or
//!   action family, outcome and time (`store::AuditFilter`, one indexed-by-`seq` query, newest first,
//!   paged by `before`); `usage::report_entity` holds entity administrators and auditors to their
//!   entity, as for usage. `GET /admin/v1/audit/checkpoints`: group-wide readers only.
//! - **Teams** (`teams.rs`): `GET /admin/v1/teams`, the provisioned teams with their member
//!   counts, read by those who read the entity's users.
//! - **Data policies** (`data_policy.rs`): `GET /admin/v1/policies/effective?entity&use_case`,
//!   the data policy in force for an entity's callers or their requests naming a use case
//!   (`configuration::DataPolicies::effective`, the gateway's resolution), and
//!   `POST /admin/v1/policies/dry-run`, that policy tried on sample text (`policy::dry_run`:
//!   values found with their spans, types and actions, the refusal, the text the model would
//!   receive). Read by the entity's readers, narrowed like usage; audited `policy.read` and
//!   `policy.dry_run` (types and counts, never the text).
//! - **Use-case documents** (`use_case_documents.rs`): `GET/POST
//!   /admin/v1/use-cases/{slug}/documents` (list; add with the file as the body,
//!   `?filename=`, its `Content-Type` kept, 20 MiB at most, else 413 `document_too_large`),
//!   `GET/DELETE …/documents/{id}` (download as an attachment; delete). Cedar decides on the use
//!   case's owning entity with `context.use_case_owner` (the owners it names add, read and
//!   delete, as its factory engineers do; risk and compliance officers and auditors read);
//!   audited `use_case.document.add`, `.read` (lists and downloads), `.delete`. A high-risk
//!   version is approved only with the impact assessment `completed` and a document attached.
//! - **Permissions** (`permissions.rs`): `GET /admin/v1/permissions`, what the caller may do
//!   as the policy set decides it, for pages that show only what a person may reach.
//! - **GPU pool shares** (`pool_shares.rs`): `GET /admin/v1/pools` (every pool, scheduled or not,
//!   with its endpoints' circuit state, requests in flight, capacity and weight, from a snapshot of
//!   the gateway's `routing::Endpoints`), `PUT /admin/v1/pools/{pool}/shares/{entity}` (group
//!   administrators) checks a share against the live `scheduler::Pool`, applies it, then stores it with
//!   its audit event (`pool_share.set`), undoing it in memory if the store fails;
//!   `GET /admin/v1/pools/{pool}/shares` shows the pool's live state per entity.
//!
//! Content (`content.rs`): `POST /admin/v1/users/{id}/erase` (id or user name; group
//! administrators and the user's entity's administrators; `user.erase`, idempotent), `GET
//! /admin/v1/content?user&from&to[&limit]` (group administrators and auditors, an entity's auditors
//! for its users only; audited `content.read`), `POST /admin/v1/retention/purge` (group
//! administrators). A user of another entity is answered 404 like an unknown one, the refusal
//! audited. CLI `fabrique admin erase-user USER`.
//!
//! Usage reports (`usage.rs`, `chargeback.rs`): `GET /admin/v1/usage`, `/usage/active-users`,
//! `/usage/latency`, `/reports/chargeback` (JSON or CSV; `fabrique report chargeback` prints it
//! through the API). The policies let entity administrators, auditors and (usage only) factory
//! engineers read the usage (and, but for factory engineers, the audit events) of the entity their
//! role names; `usage::report_entity` narrows their reports to it and answers another entity's
//! slug with the same 404 as an unknown one (the refusal is audited). Successful reads are audited
//! too (`usage.read`, `chargeback.read`). Bounds: 366 days, 2,000 buckets, `limit` ≤ 10,000 groups,
//! 100,000 chargeback lines.

mod audit_log;
mod auth;
mod authorize;
mod body;
mod bootstrap;
mod budgets;
mod caller;
mod canaries;
mod chargeback;
mod content;
mod data_policy;
mod entities;
mod error;
mod evaluations;
mod keys;
mod legal_holds;
mod libraries;
mod limits;
mod listing;
mod login_links;
pub mod openapi;
mod permissions;
mod policies;
mod pool_shares;
mod role_grants;
mod rules;
mod scim_tokens;
mod scopes;
mod seats;
mod sessions;
mod teams;
mod usage;
mod use_case_documents;
mod use_cases;
mod users;

use std::sync::Arc;

use axum::Router;
use axum::routing::{delete, get, post, put};
use identity::{Directory, ScimTokens};
use store::Store;

pub use auth::auth_router;
pub use authorize::{AdminAction, authorize, authorize_carrying};
pub use bootstrap::{
    BOOTSTRAP_ACCOUNT_NAME, BootstrapError, BootstrapOutcome, BootstrapSettings, MIN_SECRET_LEN,
    bootstrap_admin,
};
pub use canaries::check_canaries;
pub use error::AdminError;
pub use evaluations::{EvalJob, Evaluator};
pub use libraries::{MAX_PASSAGES, may_read_library};
pub use listing::MAX_PAGE;
pub use login_links::{LINK_LIFETIME, mint_for as mint_login_link};
pub use policies::{DEFAULT_POLICIES, SCHEMA as POLICY_SCHEMA, install as install_policies};
pub use rules::{spent_this_period, stored_budget, stored_limits};
pub use use_cases::refresh_registry;

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
    /// The configured models' public names, which a key's `models` must name: those in force,
    /// which a configuration reload swaps.
    pub model_names: Arc<arc_swap::ArcSwap<Vec<String>>>,
    /// The live seat state: users created here get a seat, and the pool is set here.
    pub seats: Arc<::seats::Seats>,
    /// The live rate limits and budgets the request path enforces (`counters.admission()`,
    /// changed with the store), and where the group counts them: budgets' statuses and resets go
    /// through it, so with Redis they are the group's, not this replica's.
    pub counters: counters::Counters,
    /// The group's time zone (`[admission] time_zone`): usage buckets and chargeback months.
    pub zone: reports::Zone,
    /// The GPU pools' live schedulers, whose entity shares the pool routes set; `None` when
    /// scheduling is off.
    pub scheduler: Option<Arc<scheduler::Scheduler>>,
    /// The endpoints' live state, owned by the gateway and read here as snapshots (health,
    /// circuit, requests in flight) for `GET /admin/v1/pools`: the set in force, which a
    /// configuration reload swaps.
    pub endpoints: Arc<arc_swap::ArcSwap<routing::Endpoints>>,
    /// Stored content (retention `full`), read back and purged here; `None` in set-ups without a
    /// content store, where those routes answer 404.
    pub content: Option<Arc<retention::ContentStore>>,
    /// Sign-in, when configured: the identity provider's access tokens are accepted as bearers,
    /// with the roles its claims map to.
    pub sign_in: Option<Arc<dyn access::SignIn>>,
    /// Opens web sessions and writes their cookies (`[sessions]`).
    pub cookies: access::SessionCookies,
    /// The AI Factory's live registry, which the gateway reads; rebuilt here after each change.
    pub factory: Arc<factory::Live>,
    /// The group's and the entities' data policies, which a use case's may only tighten: those
    /// in force, which a configuration reload swaps.
    pub data_policies: Arc<arc_swap::ArcSwap<configuration::DataPolicies>>,
    /// Runs evaluations through the gateway; `None` where none can run (starting one answers 403).
    pub evaluator: Option<Arc<dyn Evaluator>>,
    /// Knowledge libraries; `None` in set-ups without them, where `/v1/libraries` answers 404.
    pub libraries: Option<Arc<knowledge::Libraries>>,
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
        .route("/admin/v1/teams", get(teams::list))
        .route("/admin/v1/users/{id}/erase", post(content::erase))
        .route(
            "/admin/v1/users/{id}/sessions",
            delete(sessions::revoke_user),
        )
        .route("/admin/v1/users/{id}/login-link", post(login_links::create))
        .route(
            "/admin/v1/role-grants",
            get(role_grants::list)
                .post(role_grants::grant)
                .delete(role_grants::revoke),
        )
        .route("/admin/v1/sessions", get(sessions::list))
        .route("/admin/v1/sessions/{id}", delete(sessions::revoke))
        .route("/admin/v1/content", get(content::read))
        .route("/admin/v1/retention/purge", post(content::purge))
        .route(
            "/admin/v1/legal-holds",
            get(legal_holds::list).post(legal_holds::place),
        )
        .route("/admin/v1/legal-holds/{id}", delete(legal_holds::lift))
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
        .route("/admin/v1/seats/reclaim", post(seats::reclaim))
        .route("/admin/v1/permissions", get(permissions::list))
        .route("/admin/v1/policies/effective", get(data_policy::effective))
        .route("/admin/v1/policies/dry-run", post(data_policy::dry_run))
        .route("/admin/v1/pools", get(pool_shares::pools))
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
        .route("/admin/v1/audit/verify", post(audit_log::verify))
        .route("/admin/v1/usage", get(usage::totals))
        .route("/admin/v1/usage/active-users", get(usage::active_users))
        .route("/admin/v1/usage/latency", get(usage::latency))
        .route("/admin/v1/reports/chargeback", get(chargeback::report))
        .route(
            "/admin/v1/use-cases",
            get(use_cases::list).post(use_cases::create),
        )
        .route("/admin/v1/use-cases/export", get(use_cases::export))
        .route(
            "/admin/v1/use-cases/{slug}",
            get(use_cases::get).patch(use_cases::update),
        )
        .route(
            "/admin/v1/use-cases/{slug}/versions",
            post(use_cases::create_version),
        )
        .route(
            "/admin/v1/use-cases/{slug}/versions/{number}",
            put(use_cases::update_version),
        )
        .route(
            "/admin/v1/use-cases/{slug}/versions/{number}/diff",
            get(use_cases::diff),
        )
        .route(
            "/admin/v1/use-cases/{slug}/versions/{number}/transitions",
            post(use_cases::transition),
        )
        .route(
            "/admin/v1/use-cases/{slug}/rollout",
            put(use_cases::set_rollout),
        )
        .route("/admin/v1/use-cases/{slug}/stats", get(use_cases::stats))
        .route(
            "/admin/v1/use-cases/{slug}/transitions",
            get(use_cases::transitions),
        )
        .route(
            "/admin/v1/use-cases/{slug}/rollout/check",
            post(canaries::check),
        )
        .route(
            "/admin/v1/use-cases/{slug}/documents",
            get(use_case_documents::list)
                .post(use_case_documents::add)
                .layer(axum::extract::DefaultBodyLimit::max(
                    factory::MAX_USE_CASE_DOCUMENT_BYTES,
                )),
        )
        .route(
            "/admin/v1/use-cases/{slug}/documents/{id}",
            get(use_case_documents::download).delete(use_case_documents::delete),
        )
        .route(
            "/admin/v1/use-cases/{slug}/suites/{name}",
            get(evaluations::get_suite).put(evaluations::put_suite),
        )
        .route(
            "/admin/v1/use-cases/{slug}/evaluations",
            get(evaluations::list).post(evaluations::start),
        )
        .route(
            "/v1/libraries",
            get(libraries::list).post(libraries::create),
        )
        .route(
            "/v1/libraries/{id}",
            get(libraries::get).delete(libraries::delete),
        )
        .route(
            "/v1/libraries/{id}/documents",
            get(libraries::list_documents)
                .post(libraries::add_document)
                .layer(axum::extract::DefaultBodyLimit::max(
                    knowledge::extract::MAX_DOCUMENT_BYTES + 64 * 1024,
                )),
        )
        .route(
            "/v1/libraries/{id}/documents/{document}",
            delete(libraries::delete_document),
        )
        .route("/v1/libraries/{id}/search", post(libraries::search))
        .route("/admin/v1/evaluations/{id}", get(evaluations::get))
        .route(
            "/admin/v1/evaluations/{id}/results",
            get(evaluations::results),
        )
        .with_state(state)
}
