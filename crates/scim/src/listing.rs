//! Listing and searching (RFC 7644 §3.4.2, §3.4.3): query parameters, the filter's translation to
//! SQL, pagination and the `attributes` / `excludedAttributes` projection.
//!
//! The rule for filters: the parts of a filter that name a column (`id`, `userName`, `displayName`,
//! `externalId`, `active`, `meta.created`, `meta.lastModified`, and the primary e-mail as
//! `emails[primary eq true].value`) become a SQL condition on indexed columns that selects a
//! superset of the matches; the whole filter is then evaluated in Rust on what SQL returned. When
//! the translation is exact (every part named a column with an exact comparison: `eq`, `ne`, `pr`,
//! time comparisons, joined by `and`/`or`), pagination and the total count are done in SQL too;
//! otherwise the candidate rows are read, filtered in Rust, then paged. `userName eq "x"` is thus
//! one lookup in the unique index of folded user names, whatever the number of users.
//!
//! Candidates are bounded: an inexact filter whose SQL part still selects more than
//! [`MAX_CANDIDATES`] rows is refused with `400 tooMany` (RFC 7644 §3.12) rather than reading the
//! whole entity, or the whole group for a group-wide token; the client narrows it with a column
//! (`userName`, `externalId`, `displayName`, `meta.lastModified`, …).
//!
//! Users and groups are listed by one path, [`answer`], through the [`Resource`] trait.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value};
use store::{Column, Listing, Narrowing, Ordering, Page, TextMatch};

use crate::auth::Caller;
use crate::evaluate::{get, is_core, key_of, matches};
use crate::filter::{CompareOp, Filter, Path, parse_filter, parse_path};
use crate::response::{self, BaseUrl};
use crate::schema::{self, Attribute};
use crate::users::parse_body;
use crate::{ScimError, ScimState};

/// Results per page when the client does not say.
pub const DEFAULT_COUNT: u64 = 100;
/// The most results one page may hold (announced as `filter.maxResults`).
pub const MAX_COUNT: u64 = 1000;
/// The most paths `attributes` or `excludedAttributes` may name: every schema attribute and
/// sub-attribute fits, and applying the projection to a page stays cheap.
pub const MAX_PROJECTED_PATHS: usize = 200;

/// The most rows an inexact filter may leave to be evaluated in Rust for one request.
pub const MAX_CANDIDATES: u64 = 10_000;

/// A resource type that is listed and searched: users or groups.
pub(crate) trait Resource {
    /// A stored row.
    type Row;
    const TYPE: ResourceType;
    /// The attributes of its schema, for evaluating filters.
    const ATTRIBUTES: &'static [Attribute];
    /// The rows `listing` selects.
    async fn fetch(state: &ScimState, listing: &Listing) -> Result<Page<Self::Row>, ScimError>;
    /// The documents of `rows`, in order, with what they link to (a user's groups, a group's
    /// members).
    async fn documents(
        state: &ScimState,
        rows: &[Self::Row],
        base: &str,
    ) -> Result<Vec<Value>, ScimError>;
}

/// `GET /Users` and `GET /Groups`.
pub(crate) async fn list<R: Resource>(
    State(state): State<ScimState>,
    caller: Caller,
    BaseUrl(base): BaseUrl,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ScimError> {
    answer::<R>(&state, &caller, &base, ListRequest::from_query(&params)?).await
}

/// `POST /Users/.search` and `POST /Groups/.search`.
pub(crate) async fn search<R: Resource>(
    State(state): State<ScimState>,
    caller: Caller,
    BaseUrl(base): BaseUrl,
    body: Bytes,
) -> Result<Response, ScimError> {
    let request = ListRequest::from_search(&parse_body(&body)?)?;
    answer::<R>(&state, &caller, &base, request).await
}

/// The listing routes as the API description shows them: [`list`] and [`search`] serve both
/// resource types, so each route is described here rather than on the generic handler.
#[utoipa::path(
    get, path = "/scim/v2/Users", tag = "scim",
    params(crate::openapi::ListingQuery),
    responses(
        (status = 200, description = "Users, filtered, sorted and paged (RFC 7644 §3.4.2).", body = crate::openapi::ListResponse, content_type = "application/scim+json"),
    ),
)]
#[expect(
    dead_code,
    reason = "describes a route of the generic `list` or `search`, for the API description"
)]
pub(crate) fn list_users() {}

#[utoipa::path(
    post, path = "/scim/v2/Users/.search", tag = "scim",
    request_body(content = crate::openapi::SearchRequest, content_type = "application/scim+json"),
    responses(
        (status = 200, description = "Searches users with a body instead of a query string.", body = crate::openapi::ListResponse, content_type = "application/scim+json"),
    ),
)]
#[expect(
    dead_code,
    reason = "describes a route of the generic `list` or `search`, for the API description"
)]
pub(crate) fn search_users() {}

#[utoipa::path(
    get, path = "/scim/v2/Groups", tag = "scim",
    params(crate::openapi::ListingQuery),
    responses(
        (status = 200, description = "Groups (teams), filtered, sorted and paged.", body = crate::openapi::ListResponse, content_type = "application/scim+json"),
    ),
)]
#[expect(
    dead_code,
    reason = "describes a route of the generic `list` or `search`, for the API description"
)]
pub(crate) fn list_groups() {}

#[utoipa::path(
    post, path = "/scim/v2/Groups/.search", tag = "scim",
    request_body(content = crate::openapi::SearchRequest, content_type = "application/scim+json"),
    responses(
        (status = 200, description = "Searches groups with a body.", body = crate::openapi::ListResponse, content_type = "application/scim+json"),
    ),
)]
#[expect(
    dead_code,
    reason = "describes a route of the generic `list` or `search`, for the API description"
)]
pub(crate) fn search_groups() {}

/// The ListResponse to `request`, within the caller's entity.
pub(crate) async fn answer<R: Resource>(
    state: &ScimState,
    caller: &Caller,
    base: &str,
    request: ListRequest,
) -> Result<Response, ScimError> {
    let (narrowing, exact) = match &request.filter {
        Some(filter) => narrowing(R::TYPE, filter),
        None => (Narrowing::All, true),
    };
    let sort = request
        .sort_by
        .as_ref()
        .map(|path| sort_column(R::TYPE, path))
        .transpose()?
        .map(|column| (column, request.descending));
    let offset = request.start_index - 1;
    // Exact: SQL pages. Inexact: the candidates, one more than allowed to tell when there are too many.
    let page = match (exact, request.count) {
        (true, 0) => (0, 0),
        (true, count) => (offset, count),
        (false, _) => (0, MAX_CANDIDATES + 1),
    };
    let listing = Listing {
        entity: caller.entity(),
        narrowing,
        sort,
        page: Some(page),
    };
    let rows = R::fetch(state, &listing).await?;
    let documents = R::documents(state, &rows.items, base).await?;
    let (total, documents) = match request.filter.as_ref().filter(|_| !exact) {
        None => (rows.total, documents),
        Some(filter) => {
            let candidates = Candidates {
                total: rows.total,
                documents,
                attributes: R::ATTRIBUTES,
            };
            candidates.matching_page(filter, MAX_CANDIDATES, offset, request.count)?
        }
    };
    let resources = documents
        .into_iter()
        .map(|document| request.projection.apply(document))
        .collect();
    Ok(response::scim_json(
        StatusCode::OK,
        &list_response(total, request.start_index, resources),
    ))
}

/// What SQL selected for an inexact filter: at most one more document than allowed, and how many
/// rows it selected in all.
struct Candidates<'a> {
    total: u64,
    documents: Vec<Value>,
    attributes: &'a [Attribute],
}

impl Candidates<'_> {
    /// The documents `filter` matches, `count` from `offset`, and how many match in all; `tooMany`
    /// when there were more than `limit` candidates.
    fn matching_page(
        self,
        filter: &Filter,
        limit: u64,
        offset: u64,
        count: u64,
    ) -> Result<(u64, Vec<Value>), ScimError> {
        if self.total > limit {
            return Err(ScimError::too_many(format!(
                "the filter leaves {} candidates to examine, more than {limit}: narrow it with an exact comparison on id, externalId, displayName, userName, active, meta.created or meta.lastModified",
                self.total
            )));
        }
        let mut documents = self.documents;
        documents.retain(|document| matches(filter, document, self.attributes));
        let total = documents.len() as u64;
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let count = usize::try_from(count).unwrap_or(usize::MAX);
        Ok((
            total,
            documents.into_iter().skip(start).take(count).collect(),
        ))
    }
}

/// A listing request, from a query string or a search body.
#[derive(Debug, Default)]
pub(crate) struct ListRequest {
    pub filter: Option<Filter>,
    /// 1-based.
    pub start_index: u64,
    pub count: u64,
    pub sort_by: Option<Path>,
    pub descending: bool,
    pub projection: Projection,
}

/// Which attributes a response shows.
#[derive(Debug, Default, Clone)]
pub(crate) struct Projection {
    pub attributes: Vec<Path>,
    pub excluded: Vec<Path>,
}

impl ListRequest {
    /// From `GET` query parameters.
    pub fn from_query(query: &HashMap<String, String>) -> Result<ListRequest, ScimError> {
        let get = |name: &str| {
            query
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let number = |name: &str| -> Result<Option<i64>, ScimError> {
            get(name)
                .map(|v| {
                    v.trim().parse::<i64>().map_err(|_| {
                        ScimError::invalid_value(format!("`{name}` must be an integer, not `{v}`"))
                    })
                })
                .transpose()
        };
        build(
            get("filter").map(str::to_owned),
            number("startIndex")?,
            number("count")?,
            get("sortBy").map(str::to_owned),
            get("sortOrder").map(str::to_owned),
            Projection::parse(get("attributes"), get("excludedAttributes"))?,
        )
    }

    /// From a `POST …/.search` body.
    pub fn from_search(body: &Value) -> Result<ListRequest, ScimError> {
        let text = |name: &str| -> Result<Option<String>, ScimError> {
            match get(body, name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(ScimError::invalid_value(format!(
                    "`{name}` must be a string"
                ))),
            }
        };
        let number = |name: &str| -> Result<Option<i64>, ScimError> {
            match get(body, name) {
                None | Some(Value::Null) => Ok(None),
                Some(value) => value.as_i64().map(Some).ok_or_else(|| {
                    ScimError::invalid_value(format!("`{name}` must be an integer"))
                }),
            }
        };
        let list = |name: &str| -> Result<Option<String>, ScimError> {
            match get(body, name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Array(items)) => Ok(Some(
                    items
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(","),
                )),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(ScimError::invalid_value(format!(
                    "`{name}` must be an array of attribute names"
                ))),
            }
        };
        build(
            text("filter")?,
            number("startIndex")?,
            number("count")?,
            text("sortBy")?,
            text("sortOrder")?,
            Projection::parse(
                list("attributes")?.as_deref(),
                list("excludedAttributes")?.as_deref(),
            )?,
        )
    }
}

fn build(
    filter: Option<String>,
    start_index: Option<i64>,
    count: Option<i64>,
    sort_by: Option<String>,
    sort_order: Option<String>,
    projection: Projection,
) -> Result<ListRequest, ScimError> {
    let filter = filter
        .filter(|f| !f.trim().is_empty())
        .map(|f| parse_filter(&f).map_err(|e| ScimError::invalid_filter(e.to_string())))
        .transpose()?;
    // RFC 7644 §3.4.2.4: a startIndex below 1 is 1, a negative count is 0.
    let start_index = u64::try_from(start_index.unwrap_or(1).max(1)).unwrap_or(1);
    let count = u64::try_from(count.unwrap_or(DEFAULT_COUNT as i64).max(0)).unwrap_or(0);
    let count = count.min(MAX_COUNT);
    let sort_by = sort_by
        .map(|s| parse_path(&s).map_err(|e| ScimError::invalid_path(format!("sortBy: {e}"))))
        .transpose()?;
    let descending = match sort_order.as_deref() {
        None => false,
        Some(order) if order.eq_ignore_ascii_case("ascending") => false,
        Some(order) if order.eq_ignore_ascii_case("descending") => true,
        Some(other) => {
            return Err(ScimError::invalid_value(format!(
                "sortOrder must be `ascending` or `descending`, not `{other}`"
            )));
        }
    };
    Ok(ListRequest {
        filter,
        start_index,
        count,
        sort_by,
        descending,
        projection,
    })
}

impl Projection {
    pub fn parse(
        attributes: Option<&str>,
        excluded: Option<&str>,
    ) -> Result<Projection, ScimError> {
        let paths = |text: Option<&str>, name: &str| -> Result<Vec<Path>, ScimError> {
            let texts: Vec<&str> = text
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .take(MAX_PROJECTED_PATHS + 1)
                .collect();
            if texts.len() > MAX_PROJECTED_PATHS {
                return Err(ScimError::invalid_path(format!(
                    "{name}: more than {MAX_PROJECTED_PATHS} attribute paths"
                )));
            }
            texts
                .into_iter()
                .map(|s| parse_path(s).map_err(|e| ScimError::invalid_path(format!("{name}: {e}"))))
                .collect()
        };
        Ok(Projection {
            attributes: paths(attributes, "attributes")?,
            excluded: paths(excluded, "excludedAttributes")?,
        })
    }

    /// Applies the projection to a resource document. `id` and `schemas` are always returned.
    pub fn apply(&self, document: Value) -> Value {
        let Value::Object(mut object) = document else {
            return document;
        };
        if !self.attributes.is_empty() {
            let mut kept = Map::new();
            for key in ["schemas", "id"] {
                if let Some(value) = object.remove(key) {
                    kept.insert(key.to_owned(), value);
                }
            }
            for path in &self.attributes {
                copy_path(&object, &mut kept, path);
            }
            object = kept;
        }
        for path in &self.excluded {
            remove_path(&mut object, path);
        }
        Value::Object(object)
    }
}

fn copy_path(from: &Map<String, Value>, to: &mut Map<String, Value>, path: &Path) {
    let (source, target) = match &path.schema {
        Some(urn) if !is_core(urn) => {
            let Some(key) = key_of(from, urn) else { return };
            let Some(Value::Object(extension)) = from.get(&key) else {
                return;
            };
            if path.attribute.is_empty() {
                to.insert(key, Value::Object(extension.clone()));
                return;
            }
            let entry = to.entry(key).or_insert_with(|| Value::Object(Map::new()));
            let Some(target) = entry.as_object_mut() else {
                return;
            };
            (extension, target)
        }
        _ => (from, to),
    };
    let Some(key) = key_of(source, &path.attribute) else {
        return;
    };
    let Some(value) = source.get(&key) else {
        return;
    };
    match (&path.sub_attribute, value) {
        (Some(sub), Value::Object(inner)) => {
            if let Some(sub_key) = key_of(inner, sub) {
                let entry = target
                    .entry(key)
                    .or_insert_with(|| Value::Object(Map::new()));
                if let (Some(entry), Some(sub_value)) = (entry.as_object_mut(), inner.get(&sub_key))
                {
                    entry.insert(sub_key, sub_value.clone());
                }
            }
        }
        (Some(sub), Value::Array(items)) => {
            let projected: Vec<Value> = items
                .iter()
                .filter_map(|item| {
                    let inner = item.as_object()?;
                    let sub_key = key_of(inner, sub)?;
                    let mut one = Map::new();
                    one.insert(sub_key.clone(), inner.get(&sub_key)?.clone());
                    Some(Value::Object(one))
                })
                .collect();
            target.insert(key, Value::Array(projected));
        }
        _ => {
            target.insert(key, value.clone());
        }
    }
}

fn remove_path(object: &mut Map<String, Value>, path: &Path) {
    let container = match &path.schema {
        Some(urn) if !is_core(urn) => {
            let Some(key) = key_of(object, urn) else {
                return;
            };
            if path.attribute.is_empty() {
                object.remove(&key);
                return;
            }
            match object.get_mut(&key).and_then(Value::as_object_mut) {
                Some(extension) => extension,
                None => return,
            }
        }
        _ => object,
    };
    let Some(key) = key_of(container, &path.attribute) else {
        return;
    };
    if key == "id" || key == "schemas" {
        return;
    }
    match &path.sub_attribute {
        None => {
            container.remove(&key);
        }
        Some(sub) => match container.get_mut(&key) {
            Some(Value::Object(inner)) => {
                if let Some(sub_key) = key_of(inner, sub) {
                    inner.remove(&sub_key);
                }
            }
            Some(Value::Array(items)) => {
                for inner in items.iter_mut().filter_map(Value::as_object_mut) {
                    if let Some(sub_key) = key_of(inner, sub) {
                        inner.remove(&sub_key);
                    }
                }
            }
            _ => {}
        },
    }
}

/// Which resource type a filter is translated for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResourceType {
    User,
    Group,
}

/// The column a path names, if it names one.
pub(crate) fn column_of(resource: ResourceType, path: &Path) -> Option<Column> {
    if path.schema.as_deref().is_some_and(|urn| !is_core(urn)) || path.filter.is_some() {
        return None;
    }
    let name = path.attribute.to_ascii_lowercase();
    let sub = path.sub_attribute.as_deref().map(str::to_ascii_lowercase);
    match (resource, name.as_str(), sub.as_deref()) {
        (_, "id", None) => Some(Column::Id),
        (_, "displayname", None) => Some(Column::DisplayName),
        (_, "externalid", None) => Some(Column::ExternalId),
        (_, "meta", Some("created")) => Some(Column::CreatedAt),
        (_, "meta", Some("lastmodified")) => Some(Column::UpdatedAt),
        (ResourceType::User, "username", None) => Some(Column::UserName),
        (ResourceType::User, "active", None) => Some(Column::Status),
        _ => None,
    }
}

/// Whether a path is `emails[primary eq true].value`: the primary e-mail column.
fn is_primary_email(path: &Path) -> bool {
    let Some(filter) = &path.filter else {
        return false;
    };
    path.schema.as_deref().is_none_or(is_core)
        && path.attribute.eq_ignore_ascii_case("emails")
        && path
            .sub_attribute
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("value"))
        && matches!(
            filter.as_ref(),
            Filter::Compare { path: inner, op: CompareOp::Eq, value: Value::Bool(true) }
                if inner.attribute.eq_ignore_ascii_case("primary") && inner.sub_attribute.is_none()
        )
}

/// The SQL narrowing of a filter, and whether it selects exactly the filter's matches.
pub(crate) fn narrowing(resource: ResourceType, filter: &Filter) -> (Narrowing, bool) {
    match filter {
        Filter::And(operands) => {
            let (narrowings, exact) = narrowings(resource, operands);
            (Narrowing::And(narrowings), exact)
        }
        Filter::Or(operands) => {
            let (narrowings, exact) = narrowings(resource, operands);
            (Narrowing::Or(narrowings), exact)
        }
        Filter::Not(_) | Filter::Has(_) => (Narrowing::All, false),
        Filter::Present(path) => match column_of(resource, path) {
            Some(Column::UserName | Column::Id | Column::CreatedAt | Column::UpdatedAt) => {
                (Narrowing::All, true)
            }
            Some(column @ (Column::DisplayName | Column::ExternalId)) => {
                (Narrowing::Present(column), true)
            }
            _ => (Narrowing::All, false),
        },
        Filter::Compare { path, op, value } => {
            let column = if resource == ResourceType::User && is_primary_email(path) {
                Some(Column::Email)
            } else {
                column_of(resource, path)
            };
            let Some(column) = column else {
                return (Narrowing::All, false);
            };
            compare_narrowing(column, *op, value)
        }
    }
}

/// The narrowings of operands, and whether every one is exact.
fn narrowings(resource: ResourceType, operands: &[Filter]) -> (Vec<Narrowing>, bool) {
    let mut exact = true;
    let narrowings = operands
        .iter()
        .map(|operand| {
            let (narrowing, operand_exact) = narrowing(resource, operand);
            exact &= operand_exact;
            narrowing
        })
        .collect();
    (narrowings, exact)
}

fn compare_narrowing(column: Column, op: CompareOp, value: &Value) -> (Narrowing, bool) {
    match (column, value) {
        (Column::Status, Value::Bool(active)) => {
            let wanted = match op {
                CompareOp::Eq => *active,
                CompareOp::Ne => !*active,
                _ => return (Narrowing::All, false),
            };
            let status = if wanted { "active" } else { "suspended" };
            (
                Narrowing::Text {
                    column,
                    matching: TextMatch::Equal,
                    value: status.to_owned(),
                },
                true,
            )
        }
        (Column::CreatedAt | Column::UpdatedAt, Value::String(text)) => {
            let Ok(time) = text.parse::<jiff::Timestamp>() else {
                return (Narrowing::All, false);
            };
            let ordering = match op {
                CompareOp::Eq => Ordering::Equal,
                CompareOp::Gt => Ordering::Greater,
                CompareOp::Ge => Ordering::GreaterOrEqual,
                CompareOp::Lt => Ordering::Less,
                CompareOp::Le => Ordering::LessOrEqual,
                _ => return (Narrowing::All, false),
            };
            // Stored times have millisecond precision; a finer bound is not exact.
            let exact = time.subsec_nanosecond() % 1_000_000 == 0;
            (
                Narrowing::Time {
                    column,
                    ordering,
                    millis: time.as_millisecond(),
                },
                exact,
            )
        }
        (Column::Status | Column::CreatedAt | Column::UpdatedAt, _) => (Narrowing::All, false),
        (_, Value::String(text)) => {
            let (matching, exact) = match op {
                CompareOp::Eq => (TextMatch::Equal, true),
                CompareOp::Ne => (TextMatch::NotEqual, true),
                CompareOp::Co => (TextMatch::Contains, false),
                CompareOp::Sw => (TextMatch::StartsWith, false),
                CompareOp::Ew => (TextMatch::EndsWith, false),
                _ => return (Narrowing::All, false),
            };
            (
                Narrowing::Text {
                    column,
                    matching,
                    value: text.clone(),
                },
                exact,
            )
        }
        _ => (Narrowing::All, false),
    }
}

/// The column to sort by, or an error naming the attributes that can be sorted on.
pub(crate) fn sort_column(resource: ResourceType, path: &Path) -> Result<Column, ScimError> {
    if resource == ResourceType::User && is_primary_email(path) {
        return Ok(Column::Email);
    }
    column_of(resource, path)
        .filter(|c| *c != Column::Status)
        .ok_or_else(|| {
            ScimError::invalid_value(match resource {
                ResourceType::User => "sortBy supports id, userName, displayName, externalId, emails[primary eq true].value, meta.created and meta.lastModified",
                ResourceType::Group => "sortBy supports id, displayName, externalId, meta.created and meta.lastModified",
            })
        })
}

/// A ListResponse body.
pub(crate) fn list_response(total: u64, start_index: u64, resources: Vec<Value>) -> Value {
    serde_json::json!({
        "schemas": [schema::LIST_RESPONSE],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

#[cfg(test)]
mod tests;
