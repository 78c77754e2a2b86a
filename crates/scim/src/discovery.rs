//! Discovery (RFC 7644 §4): `/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas`.

use axum::extract::Path as UrlPath;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use crate::ScimError;
use crate::auth::Caller;
use crate::listing::{MAX_COUNT, list_response};
use crate::response::{BaseUrl, scim_json};
use crate::schema::{ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA, schema_json};

#[utoipa::path(
    get, path = "/scim/v2/ServiceProviderConfig", tag = "scim",
    responses(
        (status = 200, description = "What this service provider supports.", body = crate::openapi::Resource, content_type = "application/scim+json"),
    ),
)]
pub(crate) async fn service_provider_config(_caller: Caller, BaseUrl(base): BaseUrl) -> Response {
    scim_json(
        StatusCode::OK,
        &json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "documentationUri": "https://datatracker.ietf.org/doc/html/rfc7644",
            "patch": {"supported": true},
            "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {"supported": true, "maxResults": MAX_COUNT},
            "changePassword": {"supported": false},
            "sort": {"supported": true},
            "etag": {"supported": true},
            "authenticationSchemes": [{
                "type": "oauthbearertoken",
                "name": "OAuth Bearer Token",
                "description": "A SCIM token minted by `fabrique admin scim-tokens create`, sent as `Authorization: Bearer <token>`.",
                "primary": true,
            }],
            "meta": {
                "resourceType": "ServiceProviderConfig",
                "location": format!("{base}/ServiceProviderConfig"),
            },
        }),
    )
}

fn resource_type(id: &str, base: &str) -> Option<Value> {
    let (endpoint, description, schema, extensions) = match id {
        "User" => (
            "/Users",
            "Fabrique users",
            USER_SCHEMA,
            json!([{"schema": ENTERPRISE_USER_SCHEMA, "required": false}]),
        ),
        "Group" => ("/Groups", "Fabrique teams", GROUP_SCHEMA, json!([])),
        _ => return None,
    };
    Some(json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": id,
        "name": id,
        "endpoint": endpoint,
        "description": description,
        "schema": schema,
        "schemaExtensions": extensions,
        "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/{id}")},
    }))
}

#[utoipa::path(
    get, path = "/scim/v2/ResourceTypes", tag = "scim",
    responses(
        (status = 200, description = "The resource types: User and Group.", body = crate::openapi::ListResponse, content_type = "application/scim+json"),
    ),
)]
pub(crate) async fn resource_types(_caller: Caller, BaseUrl(base): BaseUrl) -> Response {
    let types: Vec<Value> = ["User", "Group"]
        .iter()
        .filter_map(|id| resource_type(id, &base))
        .collect();
    scim_json(StatusCode::OK, &list_response(2, 1, types))
}

#[utoipa::path(
    get, path = "/scim/v2/ResourceTypes/{id}", tag = "scim",
    params(("id" = String, Path, description = "The resource's id")),
    responses(
        (status = 200, description = "One resource type.", body = crate::openapi::Resource, content_type = "application/scim+json"),
    ),
)]
pub(crate) async fn resource_type_by_id(
    _caller: Caller,
    BaseUrl(base): BaseUrl,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ScimError> {
    resource_type(&id, &base)
        .map(|body| scim_json(StatusCode::OK, &body))
        .ok_or_else(|| ScimError::not_found(format!("no resource type `{id}`")))
}

#[utoipa::path(
    get, path = "/scim/v2/Schemas", tag = "scim",
    responses(
        (status = 200, description = "The schemas of the resources.", body = crate::openapi::ListResponse, content_type = "application/scim+json"),
    ),
)]
pub(crate) async fn schemas(_caller: Caller, BaseUrl(base): BaseUrl) -> Response {
    let all: Vec<Value> = [USER_SCHEMA, ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA]
        .iter()
        .filter_map(|id| schema_json(id, &base))
        .collect();
    scim_json(StatusCode::OK, &list_response(all.len() as u64, 1, all))
}

#[utoipa::path(
    get, path = "/scim/v2/Schemas/{id}", tag = "scim",
    params(("id" = String, Path, description = "The resource's id")),
    responses(
        (status = 200, description = "One schema, by its URN.", body = crate::openapi::Resource, content_type = "application/scim+json"),
    ),
)]
pub(crate) async fn schema(
    _caller: Caller,
    BaseUrl(base): BaseUrl,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ScimError> {
    schema_json(&id, &base)
        .map(|body| scim_json(StatusCode::OK, &body))
        .ok_or_else(|| ScimError::not_found(format!("no schema `{id}`")))
}

/// `POST /.search` across resource types is not offered; each type has its own `/.search`.
#[utoipa::path(
    post, path = "/scim/v2/.search", tag = "scim",
    request_body(content = crate::openapi::SearchRequest, content_type = "application/scim+json"),
    responses(
        (status = "4XX", description = "Not offered: each resource type has its own `/.search`", body = crate::openapi::ScimErrorBody, content_type = "application/scim+json"),
    ),
)]
pub(crate) async fn search_everything(_caller: Caller) -> ScimError {
    ScimError::not_implemented(
        "searching several resource types at once is not supported; use /Users/.search or /Groups/.search",
    )
}
