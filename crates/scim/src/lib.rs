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

mod auth;
mod discovery;
mod error;
mod evaluate;
pub mod filter;
mod groups;
mod listing;
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
                .post(users::create)
                .fallback(response::method_not_allowed),
        )
        .route(
            "/scim/v2/Users/.search",
            post(listing::search::<users::Users>).fallback(response::method_not_allowed),
        )
        .route(
            "/scim/v2/Users/{id}",
            get(users::read)
                .put(users::replace)
                .patch(users::update)
                .delete(users::delete)
                .fallback(response::method_not_allowed),
        )
        .route(
            "/scim/v2/Groups",
            get(listing::list::<groups::Groups>)
                .post(groups::create)
                .fallback(response::method_not_allowed),
        )
        .route(
            "/scim/v2/Groups/.search",
            post(listing::search::<groups::Groups>).fallback(response::method_not_allowed),
        )
        .route(
            "/scim/v2/Groups/{id}",
            get(groups::read)
                .put(groups::replace)
                .patch(groups::update)
                .delete(groups::delete)
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
