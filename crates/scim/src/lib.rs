//! SCIM 2.0 provisioning (RFC 7643, RFC 7644) under `/scim/v2`: the corporate directory creates,
//! changes, suspends and deletes Fabrique's users, and manages teams as SCIM Groups.
//!
//! Every request authenticates a SCIM bearer token through the in-memory [`ScimTokens`] index
//! (never the database). A token bound to an entity sees and changes only that entity's users and
//! teams: another entity's resource answers 404, as if it did not exist. Every change goes through
//! a `store` function that writes the change and its audit event (actor `scim:<token id>`) in one
//! transaction. A user created active gets a seat if one is free; suspension and deletion
//! release it (in the store's transaction, then in `seats::Seats`). Suspending a user
//! (`active: false`) removes their API keys from the key [`Directory`] before the answer, so they are refused from the next request on; reactivation
//! restores the keys that were merely suspended; deletion revokes them for good.
//!
//! Resources are handled as JSON documents: a user's document is built from its columns and the
//! attributes kept as JSON, PATCH operations apply to the document, and the result is validated
//! and split back into columns and JSON exactly as a PUT body is. Filters run the same way: the
//! part that names columns narrows the rows in SQL, and the whole filter is then evaluated on the
//! documents of the rows SQL returned (see `listing`).
//!
//! # In detail
//!
//! SCIM 2.0 provisioning (RFC 7643/7644) under `/scim/v2`: Users, Groups (Fabrique teams),
//! ServiceProviderConfig, ResourceTypes, Schemas (core User, Group, enterprise extension). Modules:
//! `filter` (hand-written recursive-descent parser of the §3.4.2.2 grammar and of PATCH paths; errors
//! give the character position — the one crate on crates.io parses neither PATCH paths nor gives
//! positions), `evaluate` (a filter on a resource's JSON document; `caseExact` from `schema`), `patch`
//! (operations on the JSON document), `listing` (query parameters, the filter → SQL rule, paging,
//! `attributes`/`excludedAttributes`), `handlers` (create, read, replace, patch and delete, written
//! once for every resource type), `users`, `groups`, `discovery`, `auth`, `error` (the SCIM error
//! body, only at the edge).
//! **Invariants:** authentication is one SHA-256 and one lookup in `identity::ScimTokens`, never a
//! database read; a token bound to an entity sees only that entity (another entity's resource is a
//! 404); every change goes through one `store` function that writes it with its audit event (actor
//! `scim:<token id>`) in one transaction — user creation, change, suspension and deletion each pass
//! through `store::provisioning`, which releases the user's seat (with a `seat.release` event) in the
//! same transaction as a suspension or deletion; a user created active gets a seat
//! (`seats::Seats::assign_at_provisioning`) if one is free; PATCH and PUT produce a whole
//! document that is validated and stored the same way, so an invalid PATCH changes nothing.
//! **Filter → SQL rule:** the parts of a filter naming a column (`id`, `userName`, `displayName`,
//! `externalId`, `active`, `meta.created`, `meta.lastModified`, and `emails[primary eq true].value`
//! for the primary e-mail) become a condition on indexed columns selecting a superset of the matches;
//! case-insensitive attributes compare `*_folded` columns filled by Fabrique's own folding, so SQLite
//! and PostgreSQL agree whatever their collation. The whole filter is then evaluated in Rust on the
//! rows SQL returned. Only when the translation is exact (column comparisons with `eq`/`ne`/`pr`/time
//! orderings, joined by `and`/`or`) are paging and `totalResults` done in SQL; otherwise the entity's
//! candidate rows are read and paged in Rust. Attributes without columns (`name`, `phoneNumbers`,
//! `title`, the enterprise extension…) are kept as a JSON object in `users.attributes` and returned as
//! given. **Deprovisioning:** `active: false` suspends the user and removes their keys from the key
//! directory before the answer (the keys stay stored, merely suspended); `active: true` puts them
//! back; DELETE is a soft delete (`deleted_at`; the row stays for usage and audit history, the user
//! name becomes free, team memberships go) that revokes the keys for good. A user's entity comes from
//! the token or, with `[scim] entity_from`, from an enterprise attribute through `[scim.entity_map]`;
//! it is fixed at provisioning (a change that would move the user is refused with `mutability`).
//! **Boundary:** `scim::router(ScimState)`. Depends on `store`, `identity`, `configuration`; not on
//! `admin` or `gateway`.

mod auth;
mod discovery;
mod error;
mod evaluate;
pub mod filter;
mod groups;
mod handlers;
mod listing;
pub mod openapi;
pub mod patch;
mod response;
pub mod schema;
mod users;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use configuration::ScimConfig;
use identity::{Directory, ScimTokens};
use store::Store;

pub use error::ScimError;

/// What the SCIM routes share.
#[derive(Clone)]
pub struct ScimState {
    pub store: Store,
    /// The inference keys, so that deprovisioning takes effect on the request path at once.
    pub directory: Arc<Directory>,
    pub tokens: Arc<ScimTokens>,
    pub config: Arc<ScimConfig>,
    /// Seats: assigned at provisioning while the pool allows, released on suspension and deletion.
    pub seats: Arc<seats::Seats>,
}

/// The SCIM API with full paths (`/scim/v2/…`), for the binary to merge. Unknown paths under
/// `/scim/v2` answer a SCIM 404, and methods a route does not serve a SCIM 405.
pub fn router(state: ScimState) -> Router {
    Router::new()
        .route(
            "/scim/v2/Users",
            get(listing::list::<users::Users>)
                .post(handlers::create::<users::Users>)
                .fallback(response::method_not_allowed),
        )
        .route(
            "/scim/v2/Users/.search",
            post(listing::search::<users::Users>).fallback(response::method_not_allowed),
        )
        .route(
            "/scim/v2/Users/{id}",
            get(handlers::read::<users::Users>)
                .put(handlers::replace::<users::Users>)
                .patch(handlers::update::<users::Users>)
                .delete(handlers::delete::<users::Users>)
                .fallback(response::method_not_allowed),
        )
        .route(
            "/scim/v2/Groups",
            get(listing::list::<groups::Groups>)
                .post(handlers::create::<groups::Groups>)
                .fallback(response::method_not_allowed),
        )
        .route(
            "/scim/v2/Groups/.search",
            post(listing::search::<groups::Groups>).fallback(response::method_not_allowed),
        )
        .route(
            "/scim/v2/Groups/{id}",
            get(handlers::read::<groups::Groups>)
                .put(handlers::replace::<groups::Groups>)
                .patch(handlers::update::<groups::Groups>)
                .delete(handlers::delete::<groups::Groups>)
                .fallback(response::method_not_allowed),
        )
        .route(
            "/scim/v2/ServiceProviderConfig",
            get(discovery::service_provider_config).fallback(response::method_not_allowed),
        )
        .route(
            "/scim/v2/ResourceTypes",
            get(discovery::resource_types).fallback(response::method_not_allowed),
        )
        .route(
            "/scim/v2/ResourceTypes/{id}",
            get(discovery::resource_type_by_id).fallback(response::method_not_allowed),
        )
        .route(
            "/scim/v2/Schemas",
            get(discovery::schemas).fallback(response::method_not_allowed),
        )
        .route(
            "/scim/v2/Schemas/{id}",
            get(discovery::schema).fallback(response::method_not_allowed),
        )
        .route(
            "/scim/v2/.search",
            post(discovery::search_everything).fallback(response::method_not_allowed),
        )
        .route("/scim/v2", axum::routing::any(response::unknown_path))
        .route(
            "/scim/v2/{*rest}",
            axum::routing::any(response::unknown_path),
        )
        .with_state(state)
}
