//! The SCIM API's part of the OpenAPI description (the binary merges the parts). SCIM resources
//! are described by their own schemas (RFC 7643, served at `/scim/v2/Schemas`), so the shapes here
//! are the envelopes: a resource, a list response, a search, a PATCH and an error.

use std::collections::BTreeMap;

use utoipa::OpenApi;

/// The SCIM routes of [`crate::router`].
#[derive(OpenApi)]
#[openapi(
    paths(
        crate::listing::list_users,
        crate::users::create_user,
        crate::listing::search_users,
        crate::users::read_user,
        crate::users::replace_user,
        crate::users::update_user,
        crate::users::delete_user,
        crate::listing::list_groups,
        crate::groups::create_group,
        crate::listing::search_groups,
        crate::groups::read_group,
        crate::groups::replace_group,
        crate::groups::update_group,
        crate::groups::delete_group,
        crate::discovery::service_provider_config,
        crate::discovery::resource_types,
        crate::discovery::resource_type_by_id,
        crate::discovery::schemas,
        crate::discovery::schema,
        crate::discovery::search_everything,
    ),
    tags((name = "scim", description = "SCIM 2.0 provisioning (RFC 7643, RFC 7644)"))
)]
pub struct ScimApi;

/// A SCIM resource: its `schemas`, `id` and `meta`, and the attributes its schemas define.
#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "describes SCIM JSON, for the API description")]
pub struct Resource(BTreeMap<String, serde_json::Value>);

/// `urn:ietf:params:scim:api:messages:2.0:ListResponse`.
#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "describes SCIM JSON, for the API description")]
#[schema(rename_all = "camelCase")]
pub struct ListResponse {
    schemas: Vec<String>,
    total_results: u64,
    #[schema(rename = "Resources")]
    resources: Option<Vec<Resource>>,
    start_index: Option<u64>,
    items_per_page: Option<u64>,
}

/// The query string of a listing (RFC 7644 §3.4.2).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
#[expect(
    dead_code,
    reason = "describes the query string, for the API description"
)]
pub struct ListingQuery {
    /// A SCIM filter, e.g. `userName eq "ada"`.
    filter: Option<String>,
    /// Attributes to return, comma-separated.
    attributes: Option<String>,
    /// Attributes to leave out, comma-separated.
    excluded_attributes: Option<String>,
    sort_by: Option<String>,
    /// `ascending` or `descending`.
    sort_order: Option<String>,
    /// 1-based.
    start_index: Option<u64>,
    count: Option<u64>,
}

/// The query string of a read: which attributes to return.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
#[expect(
    dead_code,
    reason = "describes the query string, for the API description"
)]
pub struct ResourceQuery {
    /// Attributes to return, comma-separated.
    attributes: Option<String>,
    /// Attributes to leave out, comma-separated.
    excluded_attributes: Option<String>,
}

/// `urn:ietf:params:scim:api:messages:2.0:SearchRequest`.
#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "describes SCIM JSON, for the API description")]
#[schema(rename_all = "camelCase")]
pub struct SearchRequest {
    schemas: Option<Vec<String>>,
    filter: Option<String>,
    attributes: Option<Vec<String>>,
    excluded_attributes: Option<Vec<String>>,
    sort_by: Option<String>,
    sort_order: Option<String>,
    start_index: Option<u64>,
    count: Option<u64>,
}

/// `urn:ietf:params:scim:api:messages:2.0:PatchOp`.
#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "describes SCIM JSON, for the API description")]
#[schema(rename_all = "camelCase")]
pub struct PatchOp {
    schemas: Vec<String>,
    #[schema(rename = "Operations")]
    operations: Vec<BTreeMap<String, serde_json::Value>>,
}

/// `urn:ietf:params:scim:api:messages:2.0:Error`: `status` is the HTTP status as a string.
#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "describes SCIM JSON, for the API description")]
#[schema(rename_all = "camelCase")]
pub struct ScimErrorBody {
    schemas: Vec<String>,
    status: String,
    scim_type: Option<String>,
    detail: Option<String>,
}
