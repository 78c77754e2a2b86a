//! `/scim/v2/Groups`: Fabrique teams. A team belongs to one entity (the token's, or for a
//! group-wide token the entity its members share) and its members are users of that entity;
//! members are changed by PUT or by PATCH on `members`. Every change reaches the directory's index
//! of users' teams before the answer, so the next request is admitted and charged accordingly.

use domain::{AuditAction, EntityId, TeamId, UserId};
use serde_json::{Map, Value, json};
use store::{Listing, Page, Team, TeamFields};

use crate::auth::Caller;
use crate::evaluate::get;
use crate::handlers::{Change, Managed};
use crate::listing::{Resource, ResourceType};
use crate::response;
use crate::schema::{Attribute, GROUP_ATTRIBUTES, GROUP_SCHEMA};
use crate::users::{check_text, event, text_value, timestamp};
use crate::{ScimError, ScimState};

#[utoipa::path(
    post, path = "/scim/v2/Groups", tag = "scim",
    request_body(content = crate::openapi::Resource, content_type = "application/scim+json"),
    responses(
        (status = 201, description = "Creates a group.", body = crate::openapi::Resource, content_type = "application/scim+json"),
    ),
)]
#[expect(
    dead_code,
    reason = "describes a route of the generic `handlers`, for the API description"
)]
pub(crate) fn create_group() {}

#[utoipa::path(
    get, path = "/scim/v2/Groups/{id}", tag = "scim",
    params(("id" = String, Path, description = "The resource's id"), crate::openapi::ResourceQuery),
    responses(
        (status = 200, description = "One group.", body = crate::openapi::Resource, content_type = "application/scim+json"),
    ),
)]
#[expect(
    dead_code,
    reason = "describes a route of the generic `handlers`, for the API description"
)]
pub(crate) fn read_group() {}

#[utoipa::path(
    put, path = "/scim/v2/Groups/{id}", tag = "scim",
    params(("id" = String, Path, description = "The resource's id")),
    request_body(content = crate::openapi::Resource, content_type = "application/scim+json"),
    responses(
        (status = 200, description = "Replaces a group.", body = crate::openapi::Resource, content_type = "application/scim+json"),
    ),
)]
#[expect(
    dead_code,
    reason = "describes a route of the generic `handlers`, for the API description"
)]
pub(crate) fn replace_group() {}

#[utoipa::path(
    patch, path = "/scim/v2/Groups/{id}", tag = "scim",
    params(("id" = String, Path, description = "The resource's id")),
    request_body(content = crate::openapi::PatchOp, content_type = "application/scim+json"),
    responses(
        (status = 200, description = "Changes a group, its members among others.", body = crate::openapi::Resource, content_type = "application/scim+json"),
    ),
)]
#[expect(
    dead_code,
    reason = "describes a route of the generic `handlers`, for the API description"
)]
pub(crate) fn update_group() {}

#[utoipa::path(
    delete, path = "/scim/v2/Groups/{id}", tag = "scim",
    params(("id" = String, Path, description = "The resource's id")),
    responses(
        (status = 204, description = "Deletes a group."),
    ),
)]
#[expect(
    dead_code,
    reason = "describes a route of the generic `handlers`, for the API description"
)]
pub(crate) fn delete_group() {}

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

impl Managed for Groups {
    /// The team and its members.
    type Found = (Team, Vec<UserId>);
    /// A Group document is checked with the team's entity, once the team is read.
    type Parsed = Value;
    const NOUN: &'static str = "group";
    const ATTEMPTS: usize = 1;

    async fn find(state: &ScimState, id: &str) -> Result<Option<(Team, Vec<UserId>)>, ScimError> {
        let Ok(id) = id.parse::<TeamId>() else {
            return Ok(None);
        };
        let Some(team) = state.store.team(id).await? else {
            return Ok(None);
        };
        let members = state.store.team_members(&[id]).await?.remove(&id);
        Ok(Some((team, members.unwrap_or_default())))
    }

    fn entity((team, _): &(Team, Vec<UserId>)) -> EntityId {
        team.entity_id
    }

    fn version((team, _): &(Team, Vec<UserId>)) -> i64 {
        team.version
    }

    async fn document(
        _: &ScimState,
        found: &(Team, Vec<UserId>),
        base: &str,
    ) -> Result<Value, ScimError> {
        Ok(Self::patched(found, base))
    }

    fn patched((team, members): &(Team, Vec<UserId>), base: &str) -> Value {
        document_of(team, members, base)
    }

    fn parse(_: &ScimState, document: Value) -> Result<Value, ScimError> {
        Ok(document)
    }

    async fn create(
        state: &ScimState,
        caller: &Caller,
        document: Value,
    ) -> Result<(Team, Vec<UserId>), ScimError> {
        let (fields, member_entity) =
            parse_group(state, caller, &document, caller.entity()).await?;
        let entity = caller.entity().or(member_entity).ok_or_else(|| {
            ScimError::invalid_value(
                "this SCIM token is not bound to an entity: give the group at least one member, whose entity it joins",
            )
        })?;
        let audit = event(
            caller,
            AuditAction::TeamCreate,
            Some(entity),
            json!({"display_name": fields.display_name, "members": fields.members.len()}),
        );
        let team = state.store.create_team(entity, &fields, &audit).await?;
        state
            .directory
            .set_team_members(team.id, team.version, &fields.members);
        Ok((team, fields.members))
    }

    async fn store(
        state: &ScimState,
        caller: &Caller,
        (team, _): &(Team, Vec<UserId>),
        document: Value,
        change: Change<'_>,
    ) -> Result<(Team, Vec<UserId>), ScimError> {
        let (fields, _) = parse_group(state, caller, &document, Some(team.entity_id)).await?;
        let members = fields.members.len();
        let (action, detail) = match change {
            Change::Replace => (
                AuditAction::TeamReplace,
                json!({"display_name": fields.display_name, "members": members}),
            ),
            Change::Patch(paths) => (
                AuditAction::TeamUpdate,
                json!({"operations": paths, "members": members}),
            ),
        };
        let audit = event(caller, action, Some(team.entity_id), detail);
        let updated = state
            .store
            .replace_team(team.id, team.version, &fields, &audit)
            .await?;
        state
            .directory
            .set_team_members(updated.id, updated.version, &fields.members);
        Ok((updated, fields.members))
    }

    async fn delete(
        state: &ScimState,
        caller: &Caller,
        (team, _): (Team, Vec<UserId>),
    ) -> Result<(), ScimError> {
        let audit = event(
            caller,
            AuditAction::TeamDelete,
            Some(team.entity_id),
            json!({"display_name": team.display_name}),
        );
        state.store.delete_team(team.id, &audit).await?;
        state.directory.remove_team(team.id);
        Ok(())
    }
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
