//! The preamble every entity-scoped listing shares, as an extractor: the caller authenticated, the
//! `entity` filter read, and the entity the listing covers decided once, by the listing's action.
//!
//! [`Listed`] follows [`report_entity`] (a slug; callers allowed the action only in their entity
//! get theirs, and naming another answers 404); [`ListedRules`] follows [`listing_entity`] (a slug
//! or an id, as rule scopes name entities). Keys and SCIM tokens come in pages of at most
//! [`MAX_PAGE`] rows (`offset`, `limit`; the answer's `next_offset`).

use std::marker::PhantomData;

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use domain::{Entity, EntityId};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use store::Window;

use crate::body::query;
use crate::caller::Caller;
use crate::scopes::listing_entity;
use crate::usage::report_entity;
use crate::{AdminAction, AdminError, AdminState};

/// A listing route's action: what the caller must be allowed, group-wide or in an entity.
pub(crate) trait ListAction {
    const ACTION: AdminAction;
}

/// The entity a listing of users, keys or SCIM tokens covers (`None`: every entity), and the
/// rows of it to read.
pub(crate) struct Listed<A> {
    pub entity: Option<Entity>,
    pub window: Window,
    action: PhantomData<A>,
}

/// The entity a listing of rate limits or budgets covers; `None`: every entity.
pub(crate) struct ListedRules<A> {
    pub entity: Option<EntityId>,
    action: PhantomData<A>,
}

/// The query string of an entity-scoped listing: `?entity=`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct EntityFilter {
    #[param(pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    pub entity: Option<String>,
}

/// The most rows one page of a listing holds, and the size of a page when `limit` is not given.
pub const MAX_PAGE: u64 = 1000;

/// `?entity=<slug>&offset=<n>&limit=<n>` of the paged listings (users, keys, SCIM tokens).
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct PagedFilter {
    #[param(pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    entity: Option<String>,
    offset: Option<u64>,
    limit: Option<u64>,
}

/// The rows to read for `?offset&limit`: one more than the page, to tell whether another page
/// follows.
pub(crate) fn window(offset: Option<u64>, limit: Option<u64>) -> Result<Window, AdminError> {
    let limit = limit.unwrap_or(MAX_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(AdminError::bad_field(
            "limit",
            format!("`limit` must be between 1 and {MAX_PAGE}"),
        ));
    }
    // The databases count rows in signed 64 bits: a larger offset is the caller's error, not theirs.
    let offset = offset.unwrap_or(0);
    if i64::try_from(offset).is_err() {
        return Err(AdminError::bad_field(
            "offset",
            format!("`offset` must be at most {}", i64::MAX),
        ));
    }
    Ok(Window {
        offset,
        limit: limit + 1,
    })
}

/// `{"data": [...], "next_offset": <offset of the next page, or null>}`, from the rows `window`
/// read (one more than the page when another page follows).
pub(crate) fn page_json(mut data: Vec<Value>, window: Window) -> Value {
    let limit = window.limit - 1;
    let more = data.len() as u64 > limit;
    data.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    json!({ "data": data, "next_offset": more.then(|| window.offset + limit) })
}

/// The caller and the query string of a listing request.
async fn caller_and_filter<F: DeserializeOwned>(
    parts: &mut Parts,
    state: &AdminState,
) -> Result<(Caller, F), AdminError> {
    let caller = Caller::from_request_parts(parts, state).await?;
    let filter: F = query(Query::from_request_parts(parts, state).await)?;
    Ok((caller, filter))
}

impl<A: ListAction> FromRequestParts<AdminState> for Listed<A> {
    type Rejection = AdminError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AdminState,
    ) -> Result<Self, Self::Rejection> {
        let (caller, filter) = caller_and_filter::<PagedFilter>(parts, state).await?;
        let window = window(filter.offset, filter.limit)?;
        let entity = report_entity(state, &caller, A::ACTION, filter.entity.as_deref()).await?;
        Ok(Listed {
            entity,
            window,
            action: PhantomData,
        })
    }
}

impl<A: ListAction> FromRequestParts<AdminState> for ListedRules<A> {
    type Rejection = AdminError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AdminState,
    ) -> Result<Self, Self::Rejection> {
        let (caller, filter) = caller_and_filter::<EntityFilter>(parts, state).await?;
        let entity = listing_entity(state, &caller, A::ACTION, filter.entity.as_deref()).await?;
        Ok(ListedRules {
            entity,
            action: PhantomData,
        })
    }
}

/// The listing actions, one type each for the extractors above.
pub(crate) struct ListKeys;
/// Teams are read as the directory's users are.
pub(crate) struct ListTeams;
pub(crate) struct ListScimTokens;
pub(crate) struct ListSessions;
pub(crate) struct ListLegalHolds;
pub(crate) struct ReadRateLimits;
pub(crate) struct ReadBudgets;

impl ListAction for ListTeams {
    const ACTION: AdminAction = AdminAction::ListUsers;
}
impl ListAction for ListKeys {
    const ACTION: AdminAction = AdminAction::ListKeys;
}
impl ListAction for ListScimTokens {
    const ACTION: AdminAction = AdminAction::ListScimTokens;
}
impl ListAction for ListSessions {
    const ACTION: AdminAction = AdminAction::ListSessions;
}
impl ListAction for ListLegalHolds {
    const ACTION: AdminAction = AdminAction::ListLegalHolds;
}
impl ListAction for ReadRateLimits {
    const ACTION: AdminAction = AdminAction::ReadRateLimits;
}
impl ListAction for ReadBudgets {
    const ACTION: AdminAction = AdminAction::ReadBudgets;
}

#[cfg(test)]
mod tests {
    use super::window;

    #[test]
    fn an_offset_past_what_the_databases_count_is_refused_as_the_callers_error() {
        let Err(refused) = window(Some(1 << 63), None) else {
            panic!("an offset of 2^63 was accepted");
        };
        assert_eq!(refused.status(), axum::http::StatusCode::BAD_REQUEST);
        assert_eq!(
            window(Some(i64::MAX as u64), None).unwrap().offset,
            i64::MAX as u64
        );
    }
}
