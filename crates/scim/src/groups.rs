//! `/scim/v2/Groups`: Fabrique teams. A team belongs to one entity (the token's, or for a
//! group-wide token the entity its members share) and its members are users of that entity;
//! members are changed by PUT or by PATCH on `members`. Every change reaches the directory's index
//! of users' teams before the answer, so the next request is admitted and charged accordingly.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use domain::{AuditAction, EntityId, TeamId, UserId};
use serde_json::{Map, Value, json};
use store::{Listing, Page, Team, TeamFields};

use crate::auth::Caller;
use crate::evaluate::get;
use crate::listing::{Resource, ResourceType};
use crate::patch;
use crate::response::{self, BaseUrl, check_if_match};
use crate::schema::{Attribute, GROUP_ATTRIBUTES, GROUP_SCHEMA};
use crate::users::{check_text, event, parse_body, path_text, projection, text_value, timestamp};
use crate::{ScimError, ScimState};

type Params = Query<HashMap<String, String>>;

#[utoipa::path(
    post, path = "/scim/v2/Groups", tag = "scim",
    request_body(content = crate::openapi::Resource, content_type = "application/scim+json"),
    responses(
        (status = 201, description = "Creates a group.", body = crate::openapi::Resource, content_type = "application/scim+json"),
        (status = "4XX", description = "A SCIM error (RFC 7644 §3.12)", body = crate::openapi::ScimErrorBody, content_type = "application/scim+json"),
    ),
    security(("scim_token" = []))
)]
pub(crate) async fn create(
    State(state): State<ScimState>,
    caller: Caller,
    BaseUrl(base): BaseUrl,
    Query(params): Params,
    body: Bytes,
) -> Result<Response, ScimError> {
    let projection = projection(&params)?;
    let document = parse_body(&body)?;
    let (fields, member_entity) = parse_group(&state, &caller, &document, caller.entity()).await?;
    let entity = caller.entity().or(member_entity).ok_or_else(|| {
        ScimError::invalid_value(
            "this SCIM token is not bound to an entity: give the group at least one member, whose entity it joins",
        )
    })?;
    let audit = event(
        &caller,
        AuditAction::TeamCreate,
        Some(entity),
        json!({"display_name": fields.display_name, "members": fields.members.len()}),
    );
    let team = state.store.create_team(entity, &fields, &audit).await?;
    state
        .directory
        .set_team_members(team.id, team.version, &fields.members);
    let body = projection.apply(document_of(&team, &fields.members, &base));
    Ok(response::resource(StatusCode::CREATED, &body, team.version))
}

#[utoipa::path(
    get, path = "/scim/v2/Groups/{id}", tag = "scim",
    params(("id" = String, Path, description = "The resource's id"), crate::openapi::ResourceQuery),
    responses(
        (status = 200, description = "One group.", body = crate::openapi::Resource, content_type = "application/scim+json"),
        (status = "4XX", description = "A SCIM error (RFC 7644 §3.12)", body = crate::openapi::ScimErrorBody, content_type = "application/scim+json"),
    ),
    security(("scim_token" = []))
)]
pub(crate) async fn read(
    State(state): State<ScimState>,
    caller: Caller,
    BaseUrl(base): BaseUrl,
    UrlPath(id): UrlPath<String>,
    Query(params): Params,
) -> Result<Response, ScimError> {
    let projection = projection(&params)?;
    let (team, members) = visible_team(&state, &caller, &id).await?;
    let body = projection.apply(document_of(&team, &members, &base));
    Ok(response::resource(StatusCode::OK, &body, team.version))
}

#[utoipa::path(
    put, path = "/scim/v2/Groups/{id}", tag = "scim",
    params(("id" = String, Path, description = "The resource's id")),
    request_body(content = crate::openapi::Resource, content_type = "application/scim+json"),
    responses(
        (status = 200, description = "Replaces a group.", body = crate::openapi::Resource, content_type = "application/scim+json"),
        (status = "4XX", description = "A SCIM error (RFC 7644 §3.12)", body = crate::openapi::ScimErrorBody, content_type = "application/scim+json"),
    ),
    security(("scim_token" = []))
)]
pub(crate) async fn replace(
    State(state): State<ScimState>,
    caller: Caller,
    BaseUrl(base): BaseUrl,
    UrlPath(id): UrlPath<String>,
    Query(params): Params,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ScimError> {
    let projection = projection(&params)?;
    let document = parse_body(&body)?;
    let (team, _) = visible_team(&state, &caller, &id).await?;
    check_if_match(&headers, team.version)?;
    let (fields, _) = parse_group(&state, &caller, &document, Some(team.entity_id)).await?;
    let audit = event(
        &caller,
        AuditAction::TeamReplace,
        Some(team.entity_id),
        json!({"display_name": fields.display_name, "members": fields.members.len()}),
    );
    let updated = state
        .store
        .replace_team(team.id, team.version, &fields, &audit)
        .await?;
    state
        .directory
        .set_team_members(updated.id, updated.version, &fields.members);
    let body = projection.apply(document_of(&updated, &fields.members, &base));
    Ok(response::resource(StatusCode::OK, &body, updated.version))
}

#[utoipa::path(
    patch, path = "/scim/v2/Groups/{id}", tag = "scim",
    params(("id" = String, Path, description = "The resource's id")),
    request_body(content = crate::openapi::PatchOp, content_type = "application/scim+json"),
    responses(
        (status = 200, description = "Changes a group, its members among others.", body = crate::openapi::Resource, content_type = "application/scim+json"),
        (status = "4XX", description = "A SCIM error (RFC 7644 §3.12)", body = crate::openapi::ScimErrorBody, content_type = "application/scim+json"),
    ),
    security(("scim_token" = []))
)]
pub(crate) async fn update(
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
    let (team, members) = visible_team(&state, &caller, &id).await?;
    check_if_match(&headers, team.version)?;
    let mut document = document_of(&team, &members, &base);
    patch::apply(&mut document, &operations, GROUP_ATTRIBUTES)?;
    let (fields, _) = parse_group(&state, &caller, &document, Some(team.entity_id)).await?;
    let audit = event(
        &caller,
        AuditAction::TeamUpdate,
        Some(team.entity_id),
        json!({"operations": paths, "members": fields.members.len()}),
    );
    let updated = state
        .store
        .replace_team(team.id, team.version, &fields, &audit)
        .await?;
    state
        .directory
        .set_team_members(updated.id, updated.version, &fields.members);
    let body = projection.apply(document_of(&updated, &fields.members, &base));
    Ok(response::resource(StatusCode::OK, &body, updated.version))
}

#[utoipa::path(
    delete, path = "/scim/v2/Groups/{id}", tag = "scim",
    params(("id" = String, Path, description = "The resource's id")),
    responses(
        (status = 204, description = "Deletes a group."),
        (status = "4XX", description = "A SCIM error (RFC 7644 §3.12)", body = crate::openapi::ScimErrorBody, content_type = "application/scim+json"),
    ),
    security(("scim_token" = []))
)]
pub(crate) async fn delete(
    State(state): State<ScimState>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ScimError> {
    let (team, _) = visible_team(&state, &caller, &id).await?;
    check_if_match(&headers, team.version)?;
    let audit = event(
        &caller,
        AuditAction::TeamDelete,
        Some(team.entity_id),
        json!({"display_name": team.display_name}),
    );
    state.store.delete_team(team.id, &audit).await?;
    state.directory.remove_team(team.id);
    Ok(StatusCode::NO_CONTENT)
}

/// Groups, for the shared listing path.
pub(crate) struct Groups;

impl Resource for Groups {
    type Row = Team;
    const TYPE: ResourceType = ResourceType::Group;
    const ATTRIBUTES: &'static [Attribute] = GROUP_ATTRIBUTES;

    async fn fetch(state: &ScimState, listing: &Listing) -> Result<Page<Team>, ScimError> {
        Ok(state.store.list_teams(listing).await?)
    }

    async fn documents(
        state: &ScimState,
        teams: &[Team],
        base: &str,
    ) -> Result<Vec<Value>, ScimError> {
        let ids: Vec<TeamId> = teams.iter().map(|t| t.id).collect();
        let mut members = state.store.team_members(&ids).await?;
        Ok(teams
            .iter()
            .map(|team| document_of(team, &members.remove(&team.id).unwrap_or_default(), base))
            .collect())
    }
}

async fn visible_team(
    state: &ScimState,
    caller: &Caller,
    id: &str,
) -> Result<(Team, Vec<UserId>), ScimError> {
    let not_found = || ScimError::not_found(format!("no group with id `{id}`"));
    let id: TeamId = id.parse().map_err(|_| not_found())?;
    let team = state.store.team(id).await?.ok_or_else(not_found)?;
    if !caller.sees(team.entity_id) {
        return Err(not_found());
    }
    let members = state
        .store
        .team_members(&[id])
        .await?
        .remove(&id)
        .unwrap_or_default();
    Ok((team, members))
}

/// Checks a Group document and its members. `entity`: the team's entity when known; otherwise the
/// members must all belong to one entity the token may see, which is returned.
async fn parse_group(
    state: &ScimState,
    caller: &Caller,
    document: &Value,
    entity: Option<EntityId>,
) -> Result<(TeamFields, Option<EntityId>), ScimError> {
    if !document.is_object() {
        return Err(ScimError::invalid_syntax("a Group must be a JSON object"));
    }
    let display_name = match get(document, "displayName") {
        Some(value) if !value.is_null() => text_value("displayName", value)?,
        _ => return Err(ScimError::invalid_value("`displayName` is required")),
    };
    check_text("displayName", &display_name, 256)?;
    let external_id = match get(document, "externalId") {
        Some(value) if !value.is_null() => {
            let external_id = text_value("externalId", value)?;
            check_text("externalId", &external_id, 256)?;
            Some(external_id)
        }
        _ => None,
    };
    let mut members = Vec::new();
    match get(document, "members") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for item in items {
                let value = get(item, "value").and_then(Value::as_str).ok_or_else(|| {
                    ScimError::invalid_value("every member needs a string `value`, the user's id")
                })?;
                let unknown = || {
                    ScimError::invalid_value(format!(
                        "member `{value}` is not a user of this group's entity (groups cannot contain groups)"
                    ))
                };
                let id: UserId = value.parse().map_err(|_| unknown())?;
                if !members.contains(&id) {
                    members.push(id);
                }
            }
        }
        Some(_) => return Err(ScimError::invalid_value("`members` must be an array")),
    }
    let member_entity = match entity {
        Some(entity) => {
            check_members(state, entity, &members).await?;
            None
        }
        None => common_entity(state, caller, &members).await?,
    };
    Ok((
        TeamFields {
            display_name,
            external_id,
            attributes: Value::Object(Map::new()).to_string(),
            members,
        },
        member_entity,
    ))
}

async fn check_members(
    state: &ScimState,
    entity: EntityId,
    members: &[UserId],
) -> Result<(), ScimError> {
    let found = state.store.users_in_entity(entity, members).await?;
    if let Some(missing) = members.iter().find(|m| !found.contains(m)) {
        return Err(ScimError::invalid_value(format!(
            "member `{missing}` is not a user of this group's entity"
        )));
    }
    Ok(())
}

/// The one entity all `members` belong to (for a group-wide token creating a group).
async fn common_entity(
    state: &ScimState,
    caller: &Caller,
    members: &[UserId],
) -> Result<Option<EntityId>, ScimError> {
    let mut entity = None;
    for member in members {
        let user = state
            .store
            .user(*member)
            .await?
            .filter(|u| caller.sees(u.entity_id))
            .ok_or_else(|| ScimError::invalid_value(format!("member `{member}` is not a user")))?;
        match entity {
            None => entity = Some(user.entity_id),
            Some(e) if e == user.entity_id => {}
            Some(_) => {
                return Err(ScimError::invalid_value(
                    "a group's members must all belong to one entity",
                ));
            }
        }
    }
    Ok(entity)
}

fn document_of(team: &Team, members: &[UserId], base: &str) -> Value {
    let mut document = json!({
        "schemas": [GROUP_SCHEMA],
        "id": team.id,
        "displayName": team.display_name,
        "meta": {
            "resourceType": "Group",
            "created": timestamp(team.created_at),
            "lastModified": timestamp(team.updated_at),
            "location": format!("{base}/Groups/{}", team.id),
            "version": response::etag(team.version),
        },
    });
    if let Some(external_id) = &team.external_id {
        document["externalId"] = json!(external_id);
    }
    if !members.is_empty() {
        document["members"] = Value::Array(
            members
                .iter()
                .map(
                    |id| json!({"value": id, "$ref": format!("{base}/Users/{id}"), "type": "User"}),
                )
                .collect(),
        );
    }
    document
}
