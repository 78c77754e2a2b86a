//! `/admin/v1/users`: create users in an entity and list them: searched by the start of any word
//! of a name or an e-mail address whatever its case and accents, a page at a time by cursor
//! (`store::Store::search_users`), so the directory answers as fast at 100,000 users.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use domain::{AuditAction, Entity, EntityId, User};
use serde::Deserialize;
use serde_json::{Value, json};
use store::{NewUser, UserSearch};

use crate::authorize::{change_event, require_visible};
use crate::body::{check_email, check_name, check_slug, check_text, json, query};
use crate::caller::Caller;
use crate::listing::{page_json, window};
use crate::usage::report_entity;
use crate::{AdminAction, AdminError, AdminState};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateUser {
    /// The entity's slug.
    entity: String,
    user_name: String,
    email: String,
    display_name: Option<String>,
    external_id: Option<String>,
}

/// `POST /admin/v1/users` → 201 with the user, its entity shown by slug.
#[utoipa::path(
    post, path = "/admin/v1/users", tag = "admin",
    request_body = CreateUser,
    responses(
        (status = 201, description = "Creates a user in an entity.", body = crate::openapi::Object),
    ),
)]
pub(crate) async fn create(
    State(state): State<AdminState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), AdminError> {
    let request: CreateUser = json(body)?;
    let entity = entity_for(&state, &caller, AdminAction::CreateUser, &request.entity).await?;
    check_name("user_name", &request.user_name, 256)?;
    check_email("email", &request.email)?;
    if let Some(display_name) = &request.display_name {
        check_text("display_name", display_name, 200)?;
    }
    if let Some(external_id) = &request.external_id {
        check_text("external_id", external_id, 256)?;
    }
    let new = NewUser {
        entity_id: entity.id,
        user_name: request.user_name,
        email: request.email,
        display_name: request.display_name,
        external_id: request.external_id,
    };
    // The e-mail address is personal data: the audit detail names the account, not the person.
    let audit = change_event(
        &caller,
        AuditAction::UserCreate,
        Some(entity.id),
        json!({"user_name": new.user_name}),
    );
    let user = state.store.create_user(&new, &audit).await?;
    // Sign-in finds users in the in-memory index: the new user is there before the answer, in
    // their own entity.
    state
        .directory
        .upsert_user(identity::UserRecord::created(&user, &entity));
    // A seat if one is free; otherwise the user is created without one and may get one at first
    // use. A failure to store the seat is logged: the user exists either way.
    if let Err(error) = state
        .seats
        .assign_at_provisioning(&state.store, user.id, entity.id, &caller.actor())
        .await
    {
        tracing::error!(%error, user = %user.id, "could not store the new user's seat");
    }
    Ok((
        StatusCode::CREATED,
        Json(user_json(&state, &user, Some(&entity.slug))),
    ))
}

/// `GET /admin/v1/users` filters: the entity, a search, and the page (a cursor, or an offset).
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct UsersFilter {
    #[param(pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    entity: Option<String>,
    /// The start of any word of a user name, display name or e-mail address, whatever its case
    /// and accents ("heloise" and "dupont" find "Héloïse Dupont").
    q: Option<String>,
    /// The page after this cursor (the previous page's `next_cursor`).
    after: Option<String>,
    offset: Option<u64>,
    limit: Option<u64>,
}

/// `GET /admin/v1/users[?entity=<slug>][&q=<text>][&after=<cursor>|&offset=<n>][&limit=<n>]` →
/// `{"data": [user…], "next_cursor", "next_offset"}`, by user name; callers with rights over one
/// entity only see its users, with or without the filter.
#[utoipa::path(
    get, path = "/admin/v1/users", tag = "admin",
    params(UsersFilter),
    responses(
        (status = 200, description = "The users (of one entity with `entity`, those `q` finds), a page at a time: `next_cursor` is the next page's `after`.", body = crate::openapi::Listing),
    ),
)]
pub(crate) async fn list(
    State(state): State<AdminState>,
    caller: Caller,
    filter: Result<Query<UsersFilter>, QueryRejection>,
) -> Result<Json<Value>, AdminError> {
    let filter = query(filter)?;
    let window = window(filter.offset, filter.limit)?;
    // A blank search is no search: a form sends its empty box.
    let q = filter.q.filter(|q| !q.trim().is_empty());
    let after = filter.after.filter(|after| !after.is_empty());
    for (param, value) in [("q", &q), ("after", &after)] {
        if let Some(value) = value {
            check_text(param, value, 256)?;
        }
    }
    let action = AdminAction::ListUsers;
    let entity = report_entity(&state, &caller, action, filter.entity.as_deref()).await?;
    let search = UserSearch {
        entity: entity.as_ref().map(|e| e.id),
        query: q,
        offset: if after.is_some() { 0 } else { window.offset },
        after,
        limit: window.limit,
    };
    let users = state.store.search_users(&search).await?;
    let page = window.limit - 1;
    let next_cursor = (users.len() as u64 > page)
        .then(|| {
            users
                .get(usize::try_from(page).ok()? - 1)
                .map(store::cursor_of)
        })
        .flatten();
    let slugs = entity_slugs(&state).await?;
    let data: Vec<Value> = users
        .iter()
        .map(|u| user_json(&state, u, slugs.get(&u.entity_id).map(String::as_str)))
        .collect();
    let mut answer = page_json(data, window);
    answer["next_cursor"] = json!(next_cursor);
    Ok(Json(answer))
}

/// The entity named by `slug`, once the caller is allowed `action` on it. An unknown slug, or
/// another entity's to a caller with rights in their own, answers 404: the answer reveals nothing
/// about other entities.
pub(crate) async fn entity_for(
    state: &AdminState,
    caller: &Caller,
    action: AdminAction,
    slug: &str,
) -> Result<Entity, AdminError> {
    check_slug("entity", slug)?;
    let missing = || AdminError::NotFound(format!("no entity with slug `{slug}`"));
    match state.store.entity_by_slug(slug).await? {
        Some(entity) => {
            require_visible(state, caller, action, Some(entity.id), missing).await?;
            Ok(entity)
        }
        None => {
            require_visible(state, caller, action, None, missing).await?;
            Err(missing())
        }
    }
}

/// Every entity's slug by id, to show entities by slug in listings.
pub(crate) async fn entity_slugs(
    state: &AdminState,
) -> Result<HashMap<EntityId, String>, AdminError> {
    Ok(state
        .store
        .list_entities()
        .await?
        .into_iter()
        .map(|e| (e.id, e.slug))
        .collect())
}

fn user_json(state: &AdminState, user: &User, entity_slug: Option<&str>) -> Value {
    json!({
        "id": user.id,
        "entity": entity_slug,
        "entity_id": user.entity_id,
        "user_name": user.user_name,
        "email": user.email,
        "display_name": user.display_name,
        "external_id": user.external_id,
        "status": user.status,
        "seat": state.seats.holds(user.id),
        "created_at": user.created_at,
    })
}
