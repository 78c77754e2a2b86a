//! The OpenAPI 3.1 description of the inference, admin and SCIM APIs, assembled from the parts
//! each surface crate derives from its handlers' annotations, and served at `/openapi.json`
//! (without authentication: it describes the API and holds no data).
//!
//! What every route of a surface shares is said here once, not on each handler: its security
//! scheme (an API key for `/v1` and `/admin/v1`, a SCIM token for `/scim/v2`) and its `4XX`
//! answer (the OpenAI-style error, or the SCIM error of RFC 7644 §3.12). A handler describes its
//! own `4XX` only where it has more to say; the operational routes name their own security.

use axum::Router;
use axum::response::IntoResponse as _;
use axum::routing::get;
use bytes::Bytes;
use http::{HeaderValue, header};
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Components, ContentBuilder, InfoBuilder, OpenApi, Ref, ResponseBuilder};
use utoipa::{OpenApi as _, ToSchema};

/// What the routes under one path prefix share.
struct Surface {
    prefix: &'static str,
    security: &'static str,
    error: &'static str,
    content_type: &'static str,
    description: &'static str,
}

const SURFACES: [Surface; 3] = [
    Surface {
        prefix: "/v1/",
        security: "api_key",
        error: "ErrorBody",
        content_type: "application/json",
        description: "Refused: the error's `code` says why",
    },
    Surface {
        prefix: "/admin/v1/",
        security: "api_key",
        error: "ErrorBody",
        content_type: "application/json",
        description: "Refused: the error's `code` says why",
    },
    Surface {
        prefix: "/scim/v2/",
        security: "scim_token",
        error: "ScimErrorBody",
        content_type: "application/scim+json",
        description: "A SCIM error (RFC 7644 §3.12)",
    },
];

/// The whole description.
pub fn document() -> OpenApi {
    let mut document = gateway::InferenceApi::openapi();
    document.merge(admin::openapi::AdminApi::openapi());
    document.merge(scim::openapi::ScimApi::openapi());
    document.merge(batch::openapi::BatchesApi::openapi());
    document.info = InfoBuilder::new()
        .title("Fabrique")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "OpenAI- and Mistral-compatible inference with governance, the administration API \
             and SCIM 2.0 provisioning. Errors of the inference and admin APIs are OpenAI-style \
             `{\"error\": {\"message\", \"type\", \"param\", \"code\"}}`; SCIM errors follow RFC 7644.",
        ))
        .build();
    name_operations(&mut document);
    describe_surfaces(&mut document);
    let components = document.components.get_or_insert_with(Default::default);
    let bearer = |description: &str| {
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(description))
                .build(),
        )
    };
    components.add_security_scheme(
        "api_key",
        bearer(
            "An API key (`fabk_…`), or with `[oidc]` the identity provider's access token; \
             the admin API refuses session cookies",
        ),
    );
    components.add_security_scheme(
        "scim_token",
        bearer("A SCIM token, created with `POST /admin/v1/scim-tokens`"),
    );
    components.add_security_scheme(
        "metrics_token",
        bearer("The token named by `[server] metrics_token_env`, when one is configured"),
    );
    document
}

/// utoipa names an operation after its handler, and handlers of different routes share names
/// (`list`, `get`), where OpenAPI wants each id unique: ids are made of the method and the path
/// instead (`get_admin_v1_limits_kind_id`), unique as routes are.
fn name_operations(document: &mut OpenApi) {
    for (path, item) in &mut document.paths.paths {
        for (method, operation) in operations(item) {
            let words = path.split(|c: char| !c.is_ascii_alphanumeric());
            let words = words.filter(|word| !word.is_empty());
            let id = std::iter::once(method).chain(words).collect::<Vec<_>>();
            operation.operation_id = Some(id.join("_"));
        }
    }
}

/// The operations of a path, with their methods.
fn operations(item: &mut PathItem) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("get", &mut item.get),
        ("put", &mut item.put),
        ("post", &mut item.post),
        ("patch", &mut item.patch),
        ("delete", &mut item.delete),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.as_mut().map(|o| (method, o)))
}

/// Each operation of a surface gets the surface's security and `4XX` answer, unless it names its
/// own; the error bodies are registered as schemas.
fn describe_surfaces(document: &mut OpenApi) {
    for (path, item) in &mut document.paths.paths {
        let Some(surface) = SURFACES.iter().find(|s| path.starts_with(s.prefix)) else {
            continue;
        };
        for (_, operation) in operations(item) {
            describe(operation, surface);
        }
    }
    let components = document.components.get_or_insert_with(Default::default);
    register::<wire::ErrorBody>(components);
    register::<scim::openapi::ScimErrorBody>(components);
}

fn describe(operation: &mut Operation, surface: &Surface) {
    let no_scopes: [&str; 0] = [];
    operation
        .security
        .get_or_insert_with(|| vec![SecurityRequirement::new(surface.security, no_scopes)]);
    operation
        .responses
        .responses
        .entry("4XX".to_owned())
        .or_insert_with(|| {
            let schema = Ref::from_schema_name(surface.error);
            let content = ContentBuilder::new().schema(Some(schema)).build();
            ResponseBuilder::new()
                .description(surface.description)
                .content(surface.content_type, content)
                .build()
                .into()
        });
}

/// `T`'s schema and those it refers to, among the components.
fn register<T: ToSchema>(components: &mut Components) {
    let mut schemas = vec![(T::name().into_owned(), T::schema())];
    T::schemas(&mut schemas);
    components.schemas.extend(schemas);
}

/// `GET /openapi.json`, rendered once.
pub fn router() -> anyhow::Result<Router> {
    let json = Bytes::from(document().to_json()?);
    Ok(Router::new().route(
        "/openapi.json",
        get(move || {
            let json = json.clone();
            async move {
                let mut response = json.into_response();
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                response
            }
        }),
    ))
}
