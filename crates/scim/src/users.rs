//! `/scim/v2/Users`: provisioning, reading, replacing, patching, deprovisioning and listing users.
//!
//! A user's SCIM document is its columns (`id`, `userName`, `displayName`, `externalId`, `active`
//! from the status) plus the attributes kept as JSON (everything else the directory sent that the
//! User schema or the enterprise extension defines; unknown attributes and `password` are dropped).
//! `emails` is kept whole in JSON and its primary value is also the `email` column.

use std::collections::HashMap;

use axum::body::Bytes;
use configuration::EntityFrom;
use domain::{
    AuditAction, AuditEvent, EntityId, KeyOwner, Outcome, Status, TeamId, UserId, now_millis,
};
use serde_json::{Map, Value, json};
use store::{Listing, NewUser, Page, ProvisionedUser, UserFields};

use crate::auth::Caller;
use crate::evaluate::{get, key_of};
use crate::handlers::{Change, Managed};
use crate::listing::{Projection, Resource, ResourceType};
use crate::response;
use crate::schema::{self, ENTERPRISE_USER_SCHEMA, USER_ATTRIBUTES, USER_SCHEMA};
use crate::{ScimError, ScimState};

/// Attributes a client may not set: server-assigned, derived, or never kept (secrets).
const NOT_STORED: &[&str] = &["schemas", "id", "meta", "groups", "password"];

#[utoipa::path(
    post, path = "/scim/v2/Users", tag = "scim",
    request_body(content = crate::openapi::Resource, content_type = "application/scim+json"),
    responses(
        (status = 201, description = "Creates a user.", body = crate::openapi::Resource, content_type = "application/scim+json"),
    ),
)]
#[expect(
    dead_code,
    reason = "describes a route of the generic `handlers`, for the API description"
)]
pub(crate) fn create_user() {}

#[utoipa::path(
    get, path = "/scim/v2/Users/{id}", tag = "scim",
    params(("id" = String, Path, description = "The resource's id"), crate::openapi::ResourceQuery),
    responses(
        (status = 200, description = "One user.", body = crate::openapi::Resource, content_type = "application/scim+json"),
    ),
)]
#[expect(
    dead_code,
    reason = "describes a route of the generic `handlers`, for the API description"
)]
pub(crate) fn read_user() {}

#[utoipa::path(
    put, path = "/scim/v2/Users/{id}", tag = "scim",
    params(("id" = String, Path, description = "The resource's id")),
    request_body(content = crate::openapi::Resource, content_type = "application/scim+json"),
    responses(
        (status = 200, description = "Replaces a user.", body = crate::openapi::Resource, content_type = "application/scim+json"),
    ),
)]
#[expect(
    dead_code,
    reason = "describes a route of the generic `handlers`, for the API description"
)]
pub(crate) fn replace_user() {}

#[utoipa::path(
    patch, path = "/scim/v2/Users/{id}", tag = "scim",
    params(("id" = String, Path, description = "The resource's id")),
    request_body(content = crate::openapi::PatchOp, content_type = "application/scim+json"),
    responses(
        (status = 200, description = "Changes a user (RFC 7644 §3.5.2); deactivating releases its seat and revokes its keys.", body = crate::openapi::Resource, content_type = "application/scim+json"),
    ),
)]
#[expect(
    dead_code,
    reason = "describes a route of the generic `handlers`, for the API description"
)]
pub(crate) fn update_user() {}

#[utoipa::path(
    delete, path = "/scim/v2/Users/{id}", tag = "scim",
    params(("id" = String, Path, description = "The resource's id")),
    responses(
        (status = 204, description = "Deletes a user."),
    ),
)]
#[expect(
    dead_code,
    reason = "describes a route of the generic `handlers`, for the API description"
)]
pub(crate) fn delete_user() {}

/// Users, for the shared listing path.
pub(crate) struct Users;

impl Resource for Users {
    type Row = ProvisionedUser;
    const TYPE: ResourceType = ResourceType::User;
    const ATTRIBUTES: &'static [schema::Attribute] = USER_ATTRIBUTES;

    async fn fetch(
        state: &ScimState,
        listing: &Listing,
    ) -> Result<Page<ProvisionedUser>, ScimError> {
        Ok(state.store.list_provisioned_users(listing).await?)
    }

    async fn documents(
        state: &ScimState,
        users: &[ProvisionedUser],
        base: &str,
    ) -> Result<Vec<Value>, ScimError> {
        let ids: Vec<UserId> = users.iter().map(|u| u.user.id).collect();
        let mut teams = state.store.teams_of_users(&ids).await?;
        Ok(users
            .iter()
            .map(|user| document_of(user, &teams.remove(&user.user.id).unwrap_or_default(), base))
            .collect())
    }
}

impl Managed for Users {
    type Found = ProvisionedUser;
    type Parsed = UserDocument;
    const NOUN: &'static str = "user";
    const ATTEMPTS: usize = 3;

    async fn find(state: &ScimState, id: &str) -> Result<Option<ProvisionedUser>, ScimError> {
        let Ok(id) = id.parse::<UserId>() else {
            return Ok(None);
        };
        Ok(state.store.provisioned_user(id).await?)
    }

    fn entity(user: &ProvisionedUser) -> EntityId {
        user.user.entity_id
    }

    fn version(user: &ProvisionedUser) -> i64 {
        user.version
    }

    async fn document(
        state: &ScimState,
        user: &ProvisionedUser,
        base: &str,
    ) -> Result<Value, ScimError> {
        full_document(state, user, base).await
    }

    fn patched(user: &ProvisionedUser, base: &str) -> Value {
        document_of(user, &[], base)
    }

    fn parse(state: &ScimState, document: Value) -> Result<UserDocument, ScimError> {
        UserDocument::parse(&document, mapped_attribute(state))
    }

    async fn create(
        state: &ScimState,
        caller: &Caller,
        parsed: UserDocument,
    ) -> Result<ProvisionedUser, ScimError> {
        let entity = entity_for(state, caller, &parsed).await?;
        let new = NewUser {
            entity_id: entity,
            user_name: parsed.fields.user_name.clone(),
            email: parsed.fields.email.clone(),
            display_name: parsed.fields.display_name.clone(),
            external_id: parsed.fields.external_id.clone(),
        };
        let audit = event(
            caller,
            AuditAction::UserProvision,
            Some(entity),
            json!({"user_name": new.user_name, "status": parsed.fields.status}),
        );
        let user = state
            .store
            .create_provisioned_user(
                &new,
                parsed.fields.status,
                &parsed.fields.attributes,
                &audit,
            )
            .await?;
        // A seat if one is free (the user may otherwise get one at first use); a suspended user
        // gets none and is refused with the reason.
        match user.user.status {
            Status::Active => {
                if let Err(error) = state
                    .seats
                    .assign_at_provisioning(&state.store, user.user.id, entity, &caller.actor())
                    .await
                {
                    tracing::error!(%error, user = %user.user.id, "could not store the new user's seat");
                }
            }
            Status::Suspended => state.seats.suspended(user.user.id),
        }
        // Sign-in finds users in the in-memory index: the new user is there before the answer.
        if let Some(entity) = state.store.entity(user.user.entity_id).await? {
            state
                .directory
                .upsert_user(identity::UserRecord::created(&user.user, &entity));
        }
        Ok(user)
    }

    async fn store(
        state: &ScimState,
        caller: &Caller,
        user: &ProvisionedUser,
        parsed: UserDocument,
        change: Change<'_>,
    ) -> Result<ProvisionedUser, ScimError> {
        let (action, detail) = match change {
            Change::Replace => (AuditAction::UserReplace, json!({})),
            Change::Patch(paths) => (AuditAction::UserUpdate, json!({"operations": paths})),
        };
        store_change(state, caller, user, parsed, action, detail).await
    }

    async fn delete(
        state: &ScimState,
        caller: &Caller,
        user: ProvisionedUser,
    ) -> Result<(), ScimError> {
        // First-use assignments still on their way to the store get there first, so the deletion
        // releases (and audits) them in its own transaction.
        state.seats.flush().await;
        let audit = event(
            caller,
            AuditAction::UserDeprovision,
            Some(user.user.entity_id),
            json!({"user_name": user.user.user_name}),
        );
        let revoked = state
            .store
            .delete_provisioned_user(user.user.id, &audit)
            .await?;
        for key in revoked {
            state.directory.revoke(key);
        }
        // The store released the seat with the deletion.
        state.seats.deleted(user.user.id);
        state.directory.remove_user(user.user.id);
        state.directory.remove_user_teams(user.user.id);
        Ok(())
    }
}

/// Writes a replacement (PUT, or PATCH's result) and keeps the key directory in step with the
/// user's status.
async fn store_change(
    state: &ScimState,
    caller: &Caller,
    user: &ProvisionedUser,
    parsed: UserDocument,
    action: AuditAction,
    mut detail: Value,
) -> Result<ProvisionedUser, ScimError> {
    // A user's entity is fixed at provisioning: moving users between entities would move their
    // keys, budgets and seats, which is done by deprovisioning and provisioning again.
    if let EntityFrom::EnterpriseAttribute(_) = &state.config.entity_from
        && parsed.mapped_value.is_some()
    {
        let entity = entity_for(state, caller, &parsed).await?;
        if entity != user.user.entity_id {
            return Err(ScimError::mutability(
                "this change would move the user to another entity; deprovision and provision the user instead",
            ));
        }
    }
    let before = user.user.status;
    let after = parsed.fields.status;
    detail["user_name"] = json!(parsed.fields.user_name);
    if before != after {
        detail["status"] = json!(after);
    }
    let audit = event(caller, action, Some(user.user.entity_id), detail);
    if after == Status::Suspended {
        // As for deletion: pending assignments reach the store before the suspension releases them.
        state.seats.flush().await;
    }
    let updated = state
        .store
        .replace_provisioned_user(user.user.id, user.version, &parsed.fields, &audit)
        .await?;
    if after == Status::Suspended {
        // Before the answer, the suspended user's keys fail from the next request on. From memory,
        // by owner: nothing read after the commit can fail and leave a key live, and a retry that
        // finds the user already suspended stops them too.
        state.directory.stop_owner(KeyOwner::User(user.user.id));
    }
    match (before, after) {
        (Status::Active, Status::Suspended) => {
            // The store released the seat with the change; memory follows before the answer.
            state.seats.suspended(user.user.id);
        }
        (Status::Suspended, Status::Active) => {
            state.seats.reactivated(user.user.id);
            state
                .directory
                .restore_owner(&state.store, KeyOwner::User(user.user.id))
                .await?;
        }
        _ => {}
    }
    // Keep sign-in's user index current: new name, new status, from the next request on.
    if let Some(record) = state.directory.user_by_id(user.user.id) {
        state.directory.upsert_user(identity::UserRecord {
            user_name: parsed.fields.user_name.as_str().into(),
            status: after,
            ..(*record).clone()
        });
    }
    Ok(updated)
}

/// The entity a new user goes to, per `[scim] entity_from`.
async fn entity_for(
    state: &ScimState,
    caller: &Caller,
    parsed: &UserDocument,
) -> Result<EntityId, ScimError> {
    let (attribute, value) = match (&state.config.entity_from, &parsed.mapped_value) {
        (EntityFrom::EnterpriseAttribute(attribute), Some(value)) => (attribute, value),
        _ => {
            return caller.entity().ok_or_else(|| {
                ScimError::invalid_value(
                    "this SCIM token is not bound to an entity, so the user's entity must come from the attribute named by `[scim] entity_from`",
                )
            });
        }
    };
    let Some(slug) = state.config.entity_map.get(value) else {
        return Err(ScimError::invalid_value(format!(
            "unknown {attribute} `{value}`: it is not in `[scim.entity_map]`"
        )));
    };
    let entity = state.store.entity_by_slug(slug).await?.ok_or_else(|| {
        ScimError::invalid_value(format!(
            "{attribute} `{value}` maps to entity `{slug}`, which does not exist"
        ))
    })?;
    if entity.status != Status::Active {
        return Err(ScimError::invalid_value(format!(
            "{attribute} `{value}` maps to entity `{slug}`, which is suspended"
        )));
    }
    if !caller.sees(entity.id) {
        return Err(ScimError::invalid_value(format!(
            "{attribute} `{value}` maps to entity `{slug}`, outside this SCIM token's entity"
        )));
    }
    Ok(entity.id)
}

fn mapped_attribute(state: &ScimState) -> Option<&str> {
    match &state.config.entity_from {
        EntityFrom::EnterpriseAttribute(name) => Some(name.as_str()),
        EntityFrom::Token => None,
    }
}

/// A user document checked and split into the store's fields.
pub(crate) struct UserDocument {
    pub fields: UserFields,
    /// The value of the enterprise attribute `[scim] entity_from` names, when present.
    pub mapped_value: Option<String>,
}

impl UserDocument {
    /// Checks `document`; `mapped_attribute` is the enterprise attribute `[scim] entity_from`
    /// names, if any.
    pub(crate) fn parse(
        document: &Value,
        mapped_attribute: Option<&str>,
    ) -> Result<UserDocument, ScimError> {
        let Value::Object(input) = document else {
            return Err(ScimError::invalid_syntax("a User must be a JSON object"));
        };
        let mut attributes = Map::new();
        let mut user_name = None;
        let mut display_name = None;
        let mut external_id = None;
        for (name, value) in input {
            if NOT_STORED.iter().any(|n| n.eq_ignore_ascii_case(name)) || value.is_null() {
                continue;
            }
            if name.eq_ignore_ascii_case("userName") {
                user_name = Some(text_value("userName", value)?);
            } else if name.eq_ignore_ascii_case("displayName") {
                display_name = Some(text_value("displayName", value)?);
            } else if name.eq_ignore_ascii_case("externalId") {
                external_id = Some(text_value("externalId", value)?);
            } else if name.eq_ignore_ascii_case("active") {
                attributes.insert("active".to_owned(), Value::Bool(boolean("active", value)?));
            } else if name.eq_ignore_ascii_case(ENTERPRISE_USER_SCHEMA) {
                let Value::Object(fields) = value else {
                    return Err(ScimError::invalid_value(format!(
                        "`{ENTERPRISE_USER_SCHEMA}` must be an object"
                    )));
                };
                let extension = canonical_fields(fields, schema::ENTERPRISE_ATTRIBUTES);
                if !extension.is_empty() {
                    attributes.insert(ENTERPRISE_USER_SCHEMA.to_owned(), Value::Object(extension));
                }
            } else if let Some(definition) = schema::find(USER_ATTRIBUTES, name) {
                let value = if definition.multi_valued && !value.is_array() {
                    Value::Array(vec![value.clone()])
                } else {
                    value.clone()
                };
                attributes.insert(definition.name.to_owned(), value);
            }
        }
        let user_name =
            user_name.ok_or_else(|| ScimError::invalid_value("`userName` is required"))?;
        check_text("userName", &user_name, 256)?;
        if user_name.chars().any(char::is_whitespace) && user_name.trim() != user_name {
            return Err(ScimError::invalid_value(
                "`userName` must not start or end with spaces",
            ));
        }
        if let Some(display_name) = &display_name {
            check_text("displayName", display_name, 256)?;
        }
        if let Some(external_id) = &external_id {
            check_text("externalId", external_id, 256)?;
        }
        one_primary(&mut attributes);
        let email = primary_email(&attributes)?;
        let status = match attributes.get("active") {
            Some(Value::Bool(false)) => Status::Suspended,
            _ => Status::Active,
        };
        let mapped_value = mapped_attribute.and_then(|name| {
            attributes
                .get(ENTERPRISE_USER_SCHEMA)
                .and_then(|extension| get(extension, name))
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        Ok(UserDocument {
            fields: UserFields {
                user_name,
                email,
                display_name,
                external_id,
                status,
                attributes: Value::Object(attributes).to_string(),
            },
            mapped_value,
        })
    }
}

/// Top-level and first-level names in their canonical spelling; unknown names are dropped.
fn canonical_fields(
    fields: &Map<String, Value>,
    definitions: &[schema::Attribute],
) -> Map<String, Value> {
    let mut out = Map::new();
    for (name, value) in fields {
        if value.is_null() {
            continue;
        }
        if let Some(definition) = schema::find(definitions, name) {
            out.insert(definition.name.to_owned(), value.clone());
        }
    }
    out
}

/// At most one value of each multi-valued attribute is primary (RFC 7643 §2.4): the last one
/// marked wins, as it is the one a PATCH just added.
fn one_primary(attributes: &mut Map<String, Value>) {
    for value in attributes.values_mut() {
        let Value::Array(items) = value else { continue };
        let last = items
            .iter()
            .rposition(|item| get(item, "primary") == Some(&Value::Bool(true)));
        if let Some(last) = last {
            for (index, item) in items.iter_mut().enumerate() {
                if index != last
                    && let Some(object) = item.as_object_mut()
                    && let Some(key) = key_of(object, "primary")
                    && object.get(&key) == Some(&Value::Bool(true))
                {
                    object.insert(key, Value::Bool(false));
                }
            }
        }
    }
}

/// The primary e-mail address: the one marked primary, else the first; empty when none.
fn primary_email(attributes: &Map<String, Value>) -> Result<String, ScimError> {
    let Some(emails) = attributes.get("emails") else {
        return Ok(String::new());
    };
    let Value::Array(items) = emails else {
        return Err(ScimError::invalid_value("`emails` must be an array"));
    };
    let chosen = items
        .iter()
        .find(|item| get(item, "primary") == Some(&Value::Bool(true)))
        .or_else(|| items.first());
    match chosen.and_then(|item| get(item, "value")) {
        None => Ok(String::new()),
        Some(Value::String(email)) => {
            check_text("emails.value", email, 320)?;
            Ok(email.clone())
        }
        Some(_) => Err(ScimError::invalid_value("`emails.value` must be a string")),
    }
}

/// The SCIM document of a user: its attributes, columns, groups and `meta`.
pub(crate) fn document_of(
    user: &ProvisionedUser,
    groups: &[(TeamId, String)],
    base: &str,
) -> Value {
    let mut document: Map<String, Value> = match serde_json::from_str(&user.attributes) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    let u = &user.user;
    let mut schemas = vec![json!(USER_SCHEMA)];
    if document.contains_key(ENTERPRISE_USER_SCHEMA) {
        schemas.push(json!(ENTERPRISE_USER_SCHEMA));
    }
    // `active` is shown when the directory set it, or when the user is not active.
    if document.contains_key("active") || u.status != Status::Active {
        document.insert("active".to_owned(), json!(u.status == Status::Active));
    }
    if !document.contains_key("emails") && !u.email.is_empty() {
        document.insert(
            "emails".to_owned(),
            json!([{"value": u.email, "primary": true}]),
        );
    }
    document.insert("schemas".to_owned(), Value::Array(schemas));
    document.insert("id".to_owned(), json!(u.id));
    document.insert("userName".to_owned(), json!(u.user_name));
    if let Some(display_name) = &u.display_name {
        document.insert("displayName".to_owned(), json!(display_name));
    }
    if let Some(external_id) = &u.external_id {
        document.insert("externalId".to_owned(), json!(external_id));
    }
    if !groups.is_empty() {
        document.insert(
            "groups".to_owned(),
            Value::Array(
                groups
                    .iter()
                    .map(|(id, name)| {
                        json!({"value": id, "$ref": format!("{base}/Groups/{id}"), "display": name, "type": "direct"})
                    })
                    .collect(),
            ),
        );
    }
    document.insert(
        "meta".to_owned(),
        json!({
            "resourceType": "User",
            "created": timestamp(u.created_at),
            "lastModified": timestamp(user.updated_at),
            "location": format!("{base}/Users/{}", u.id),
            "version": response::etag(user.version),
        }),
    );
    Value::Object(document)
}

async fn full_document(
    state: &ScimState,
    user: &ProvisionedUser,
    base: &str,
) -> Result<Value, ScimError> {
    let groups = state
        .store
        .teams_of_users(&[user.user.id])
        .await?
        .remove(&user.user.id)
        .unwrap_or_default();
    Ok(document_of(user, &groups, base))
}

/// RFC 3339 with milliseconds, UTC.
pub(crate) fn timestamp(millis: i64) -> String {
    jiff::Timestamp::from_millisecond(millis)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

pub(crate) fn parse_body(body: &Bytes) -> Result<Value, ScimError> {
    if body.is_empty() {
        return Err(ScimError::invalid_syntax(
            "the request body must be a JSON object",
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| ScimError::invalid_syntax(format!("the request body is not valid JSON: {e}")))
}

pub(crate) fn projection(params: &HashMap<String, String>) -> Result<Projection, ScimError> {
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    Projection::parse(get("attributes"), get("excludedAttributes"))
}

pub(crate) fn event(
    caller: &Caller,
    action: AuditAction,
    entity: Option<EntityId>,
    detail: Value,
) -> AuditEvent {
    AuditEvent {
        at: now_millis(),
        actor: caller.actor(),
        action,
        entity_id: entity,
        target: String::new(),
        outcome: Outcome::Success,
        detail: detail.to_string(),
    }
}

pub(crate) fn text_value(name: &str, value: &Value) -> Result<String, ScimError> {
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| ScimError::invalid_value(format!("`{name}` must be a string")))
}

/// A boolean, also accepted as the strings `"true"` / `"false"` in any case, as some directories
/// send them.
fn boolean(name: &str, value: &Value) -> Result<bool, ScimError> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(ScimError::invalid_value(format!(
            "`{name}` must be a boolean"
        ))),
    }
}

pub(crate) fn check_text(name: &str, value: &str, max: usize) -> Result<(), ScimError> {
    if value.trim().is_empty() {
        return Err(ScimError::invalid_value(format!(
            "`{name}` must not be empty"
        )));
    }
    if value.chars().count() > max {
        return Err(ScimError::invalid_value(format!(
            "`{name}` must be at most {max} characters"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(ScimError::invalid_value(format!(
            "`{name}` must not contain control characters"
        )));
    }
    Ok(())
}

pub(crate) fn path_text(path: Option<&crate::filter::Path>) -> String {
    match path {
        None => "(no path)".to_owned(),
        Some(path) => {
            let mut text = String::new();
            if let Some(schema) = &path.schema {
                text.push_str(schema);
                if !path.attribute.is_empty() {
                    text.push(':');
                }
            }
            text.push_str(&path.attribute);
            if path.filter.is_some() {
                text.push_str("[…]");
            }
            if let Some(sub) = &path.sub_attribute {
                text.push('.');
                text.push_str(sub);
            }
            text
        }
    }
}
