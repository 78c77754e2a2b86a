//! The administrators' console, served at `/console` by `fabrique serve` on the API's listener:
//! pages rendered on the server (`maud`), a style sheet compiled in, no script, French by default
//! and English (the `browser` crate's language, cookies, CSRF and security headers, shared with
//! the employee chat, so one sign-in serves both).
//!
//! **What each role sees is what Cedar lets it see**, because the console decides nothing itself:
//! every page is one or a few calls to the admin API's router (`admin_api`), in process, as the
//! person signed in (`access::Vouched`, a request extension no HTTP client can set). The admin
//! API authenticates nothing more, but authorizes, narrows to the caller's entity and audits each
//! call exactly as it does for a key: an entity administrator's users page lists their entity's
//! users, another entity's answers 404, an auditor's attempt at a change is refused (403) and
//! audited. A page the caller may not read says so rather than showing nothing. A page whose reads
//! are audited (the overview, the policies) has the admin API gather their events
//! (`access::PageReads`) and hands them together to the audit channel the gateway's access
//! decisions go through (`usage::AuditSink`, journaled), before it shows what they read: each read
//! audited as the API audits it, and no statement on the page's path for the audit.
//!
//! **Pages** (`views/`): the overview — seats per entity, usage over time by entity, team, model
//! or use case drawn as an SVG chart on the server (`chart`, with `plotters`), the month's
//! chargeback with its CSV; users (searched, paged by cursor); keys (created — the secret shown
//! once, on the answer to the form, never again —, rotated, revoked); web sessions (ended); role
//! grants (granted, taken back); SCIM tokens (created — the secret shown once —, revoked); seats
//! (reservations, reclaim); teams; GPU pools (live figures, weights changed by group administrators);
//! the AI Factory's use cases (status, risk class, owners, deployed weights; one use case's
//! versions and their diff, transitions with reasons, evaluation runs, usage and feedback per
//! version, the lifecycle moves the person's roles allow, and the documents attached to it —
//! downloaded, attached with a `multipart/form-data` form, deleted); data policies (the one in force
//! for an entity or a use case, tried on sample text in a dry run that marks each value found and
//! shows what the model would receive); the audit trail (filtered by entity, actor, action,
//! outcome and time, paged, exported as JSON Lines, its chain verified). The navigation shows the sections the policy set lets the person
//! reach, and forms likewise (`reach`, from `GET /admin/v1/permissions`).
//!
//! **Security.** Every state change is a `POST` form checked by `browser::Visitor::check` (same
//! origin, a token bound to this browser and person) before it reaches the admin API; every page
//! carries the strict Content-Security-Policy (`browser::secure`) and `no-store`.
//!
//! **Invariants:** the console reaches no state but through the admin API's router; no state
//! change without a verified CSRF token; no inline script or style.

mod admin_api;
mod assets;
mod chart;
mod pages;
mod reach;
mod text;
mod views;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use browser::Csrf;
use identity::Directory;

use crate::admin_api::AdminApi;

/// The console's state, shared by its routes.
pub struct Console {
    directory: Arc<Directory>,
    sign_in: Option<Arc<dyn access::SignIn>>,
    csrf: Csrf,
    cookie_secure: bool,
    admin: AdminApi,
    zone: reports::Zone,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console").finish_non_exhaustive()
    }
}

/// What the console is made of, given by `fabrique serve`.
pub struct Parts {
    pub directory: Arc<Directory>,
    pub sign_in: Option<Arc<dyn access::SignIn>>,
    /// Send the cookies with `Secure` (behind HTTPS).
    pub cookie_secure: bool,
    /// The admin API's router (`admin::router`), called in process for the person signed in.
    pub admin: Router,
    /// The group's time zone: the month of the chargeback, the days of the charts.
    pub zone: reports::Zone,
    /// The journaled audit channel, where the pages' reads are recorded.
    pub audit: usage::AuditSink,
}

impl Console {
    pub fn new(parts: Parts) -> Arc<Console> {
        Arc::new(Console {
            directory: parts.directory,
            sign_in: parts.sign_in,
            csrf: Csrf::default(),
            cookie_secure: parts.cookie_secure,
            admin: AdminApi {
                router: parts.admin,
                audit: parts.audit,
            },
            zone: parts.zone,
        })
    }
}

impl browser::Gate for Console {
    fn directory(&self) -> &Directory {
        &self.directory
    }
    fn sign_in(&self) -> Option<&dyn access::SignIn> {
        self.sign_in.as_deref()
    }
    fn csrf(&self) -> &Csrf {
        &self.csrf
    }
    fn cookie_secure(&self) -> bool {
        self.cookie_secure
    }
}

/// The console's routes, all under `/console`.
pub fn router(console: Arc<Console>) -> Router {
    Router::new()
        .route("/console", get(views::overview::page))
        .route(
            "/console/chargeback.csv",
            get(views::overview::chargeback_csv),
        )
        .route("/console/assets/{name}", get(assets::serve))
        .route("/console/lang", post(views::choose_language))
        .route("/console/users", get(views::directory::users))
        .route("/console/teams", get(views::teams::page))
        .route(
            "/console/keys",
            get(views::keys::page).post(views::keys::create),
        )
        .route("/console/keys/{id}/{change}", post(views::keys::change))
        .route("/console/sessions", get(views::directory::sessions))
        .route(
            "/console/sessions/{id}/revoke",
            post(views::directory::end_session),
        )
        .route("/console/roles", get(views::roles::page))
        .route("/console/roles/{change}", post(views::roles::change))
        .route(
            "/console/scim-tokens",
            get(views::scim_tokens::page).post(views::scim_tokens::create),
        )
        .route(
            "/console/scim-tokens/{id}/revoke",
            post(views::scim_tokens::revoke),
        )
        .route("/console/seats", get(views::seats::page))
        .route("/console/seats/reclaim", post(views::seats::reclaim))
        .route(
            "/console/seats/entities/{entity}",
            post(views::seats::reserve),
        )
        .route("/console/pools", get(views::pools::page))
        .route(
            "/console/pools/{pool}/shares/{entity}",
            post(views::pools::set_share),
        )
        .route("/console/use-cases", get(views::use_cases::list))
        .route("/console/use-cases/{slug}", get(views::use_cases::page))
        .route(
            "/console/use-cases/{slug}/versions/{number}",
            post(views::use_cases::transition),
        )
        .route(
            "/console/use-cases/{slug}/evaluations",
            post(views::use_cases::evaluate),
        )
        .route(
            "/console/use-cases/{slug}/documents",
            post(views::use_case_documents::attach),
        )
        .route(
            "/console/use-cases/{slug}/documents/{id}",
            get(views::use_case_documents::download),
        )
        .route(
            "/console/use-cases/{slug}/documents/{id}/delete",
            post(views::use_case_documents::detach),
        )
        .route("/console/policies", get(views::policies::page))
        .route("/console/policies/dry-run", post(views::policies::dry_run))
        .route("/console/audit", get(views::audit::page))
        .route("/console/audit/verify", post(views::audit::verify))
        .route("/console/audit/export", get(views::audit::export))
        .route(
            "/console/content",
            get(views::content::page).post(views::content::read),
        )
        .route("/console/content/erase", post(views::content::erase))
        .layer(axum::middleware::map_response(browser::secure))
        .with_state(console)
}
