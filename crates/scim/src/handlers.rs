//! The handlers of one resource, written once for Users and Groups: create (`POST`), read
//! (`GET`), replace (`PUT`), change (`PATCH`) and delete. They hold what SCIM says of every
//! resource — the `attributes` projection, visibility (another entity's resource is a 404),
//! `If-Match`, a PATCH applied to the resource's document and stored as a PUT would be — while
//! what differs per resource (how a document is checked and stored, what else must change before
//! the answer) is its [`Managed`] implementation. Generic handlers cannot carry their routes'
//! descriptions: each resource's module describes its routes on stubs, as `listing` does.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use domain::EntityId;
use serde_json::Value;

use crate::auth::Caller;
use crate::listing::{Projection, Resource};
use crate::patch;
use crate::response::{self, BaseUrl, check_if_match};
use crate::users::{parse_body, path_text, projection};
use crate::{ScimError, ScimState};

type Params = Query<HashMap<String, String>>;

/// What a change stores: a whole document (`PUT`), or the result of PATCH operations, named for
/// the audit event.
pub(crate) enum Change<'a> {
    Replace,
    Patch(&'a [String]),
}

/// A resource type the handlers create, read, change and delete.
pub(crate) trait Managed: Resource {
    /// A resource as read: its row and what its document links to.
    type Found;
    /// A document checked on its own, before the resource it replaces is read.
    type Parsed;
    /// How a 404 names the resource (`user`, `group`).
    const NOUN: &'static str;
    /// How many times a PATCH without `If-Match` re-reads and re-applies when a concurrent change
    /// won the race.
    const ATTEMPTS: usize;

    /// The resource `id`, whoever may see it; `None` when there is none.
    async fn find(state: &ScimState, id: &str) -> Result<Option<Self::Found>, ScimError>;
    fn entity(found: &Self::Found) -> EntityId;
    fn version(found: &Self::Found) -> i64;
    /// The document a read answers with.
    async fn document(
        state: &ScimState,
        found: &Self::Found,
        base: &str,
    ) -> Result<Value, ScimError>;
    /// The document PATCH operations apply to.
    fn patched(found: &Self::Found, base: &str) -> Value;
    fn parse(state: &ScimState, document: Value) -> Result<Self::Parsed, ScimError>;
    async fn create(
        state: &ScimState,
        caller: &Caller,
        parsed: Self::Parsed,
    ) -> Result<Self::Found, ScimError>;
    /// Stores `parsed` in place of `found`, which it read at its version.
    async fn store(
        state: &ScimState,
        caller: &Caller,
        found: &Self::Found,
        parsed: Self::Parsed,
        change: Change<'_>,
    ) -> Result<Self::Found, ScimError>;
    async fn delete(
        state: &ScimState,
        caller: &Caller,
        found: Self::Found,
    ) -> Result<(), ScimError>;
}

pub(crate) async fn create<R: Managed>(
    State(state): State<ScimState>,
    caller: Caller,
    BaseUrl(base): BaseUrl,
    Query(params): Params,
    body: Bytes,
) -> Result<Response, ScimError> {
    let projection = projection(&params)?;
    let parsed = R::parse(&state, parse_body(&body)?)?;
    let created = R::create(&state, &caller, parsed).await?;
    answer::<R>(&state, &created, &base, &projection, StatusCode::CREATED).await
}

pub(crate) async fn read<R: Managed>(
    State(state): State<ScimState>,
    caller: Caller,
    BaseUrl(base): BaseUrl,
    UrlPath(id): UrlPath<String>,
    Query(params): Params,
) -> Result<Response, ScimError> {
    let projection = projection(&params)?;
    let found = visible::<R>(&state, &caller, &id).await?;
    answer::<R>(&state, &found, &base, &projection, StatusCode::OK).await
}

pub(crate) async fn replace<R: Managed>(
    State(state): State<ScimState>,
    caller: Caller,
    BaseUrl(base): BaseUrl,
    UrlPath(id): UrlPath<String>,
    Query(params): Params,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ScimError> {
    let projection = projection(&params)?;
    let parsed = R::parse(&state, parse_body(&body)?)?;
    let found = visible::<R>(&state, &caller, &id).await?;
    check_if_match(&headers, R::version(&found))?;
    let updated = R::store(&state, &caller, &found, parsed, Change::Replace).await?;
    answer::<R>(&state, &updated, &base, &projection, StatusCode::OK).await
}

pub(crate) async fn update<R: Managed>(
    State(state): State<ScimState>,
    caller: Caller,
    BaseUrl(base): BaseUrl,
    UrlPath(id): UrlPath<String>,
    Query(params): Params,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ScimError> {
    let projection = projection(&params)?;
    let operations = patch::parse_request(&parse_body(&body)?)?;
    let paths: Vec<String> = operations
        .iter()
        .map(|o| format!("{:?} {}", o.op, path_text(o.path.as_ref())))
        .collect();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let found = visible::<R>(&state, &caller, &id).await?;
        check_if_match(&headers, R::version(&found))?;
        let mut document = R::patched(&found, &base);
        patch::apply(&mut document, &operations, R::ATTRIBUTES)?;
        let parsed = R::parse(&state, document)?;
        match R::store(&state, &caller, &found, parsed, Change::Patch(&paths)).await {
            Err(error)
                if error.status == StatusCode::PRECONDITION_FAILED
                    && attempt < R::ATTEMPTS
                    && headers.get(header::IF_MATCH).is_none() =>
            {
                continue;
            }
            Err(error) => return Err(error),
            Ok(updated) => {
                return answer::<R>(&state, &updated, &base, &projection, StatusCode::OK).await;
            }
        }
    }
}

pub(crate) async fn delete<R: Managed>(
    State(state): State<ScimState>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ScimError> {
    let found = visible::<R>(&state, &caller, &id).await?;
    check_if_match(&headers, R::version(&found))?;
    R::delete(&state, &caller, found).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The resource `id` if it exists and the caller's token may see it; 404 otherwise.
async fn visible<R: Managed>(
    state: &ScimState,
    caller: &Caller,
    id: &str,
) -> Result<R::Found, ScimError> {
    let not_found = || ScimError::not_found(format!("no {} with id `{id}`", R::NOUN));
    let found = R::find(state, id).await?.ok_or_else(not_found)?;
    if !caller.sees(R::entity(&found)) {
        return Err(not_found());
    }
    Ok(found)
}

async fn answer<R: Managed>(
    state: &ScimState,
    found: &R::Found,
    base: &str,
    projection: &Projection,
    status: StatusCode,
) -> Result<Response, ScimError> {
    let body = projection.apply(R::document(state, found, base).await?);
    Ok(response::resource(status, &body, R::version(found)))
}
