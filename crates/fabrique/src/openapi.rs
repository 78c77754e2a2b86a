//! The OpenAPI 3.1 description of the inference, admin and SCIM APIs, assembled from the parts
//! each surface crate derives from its handlers' annotations, and served at `/openapi.json`
//! (without authentication: it describes the API and holds no data).

use axum::Router;
use axum::response::IntoResponse as _;
use axum::routing::get;
use bytes::Bytes;
use http::{HeaderValue, header};
use utoipa::OpenApi as _;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{InfoBuilder, OpenApi};

/// The whole description.
pub fn document() -> OpenApi {
    let mut document = gateway::InferenceApi::openapi();
    document.merge(admin::openapi::AdminApi::openapi());
    document.merge(scim::openapi::ScimApi::openapi());
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
        let operations = [
            ("get", &mut item.get),
            ("put", &mut item.put),
            ("post", &mut item.post),
            ("patch", &mut item.patch),
            ("delete", &mut item.delete),
        ];
        for (method, operation) in operations {
            if let Some(operation) = operation {
                let words = path.split(|c: char| !c.is_ascii_alphanumeric());
                let words = words.filter(|word| !word.is_empty());
                let id = std::iter::once(method).chain(words).collect::<Vec<_>>();
                operation.operation_id = Some(id.join("_"));
            }
        }
    }
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
