//! `/openapi.json`: the description covers every route of the inference, files and batches, admin
//! and SCIM routers, and describes nothing else.

use serde_json::Value;

use crate::authorization::router_routes;
use crate::harness::{TestServer, instant_sim, one_endpoint};

/// The sources of the `router`s the binary serves.
const ROUTERS: [&str; 4] = [
    include_str!("../../../gateway/src/api.rs"),
    include_str!("../../../batch/src/lib.rs"),
    include_str!("../../../admin/src/lib.rs"),
    include_str!("../../../scim/src/lib.rs"),
];

#[tokio::test]
async fn the_description_has_every_route_of_the_routers_and_no_other() {
    let t = TestServer::start(vec![instant_sim()], &one_endpoint("")).await;
    let response = t.http.get(t.url("/openapi.json")).send().await.unwrap();
    assert_eq!(response.status(), 200, "served without authentication");
    let document: Value = response.json().await.unwrap();
    assert_eq!(document["openapi"], "3.1.0");

    let routes: Vec<(String, String)> = ROUTERS.iter().flat_map(|s| router_routes(s)).collect();
    assert!(routes.len() >= 60, "the routers read as {routes:?}");
    let missing: Vec<_> = routes
        .iter()
        .filter(|(method, path)| document["paths"][path][method.to_lowercase()].is_null())
        .collect();
    assert!(missing.is_empty(), "routes not described: {missing:?}");

    let paths = document["paths"].as_object().unwrap();
    let described: Vec<(String, String)> = paths
        .iter()
        .flat_map(|(path, item)| {
            let methods = item.as_object().unwrap().keys();
            methods.map(|method| (method.to_uppercase(), path.clone()))
        })
        .collect();
    let stale: Vec<_> = described.iter().filter(|d| !routes.contains(d)).collect();
    assert!(stale.is_empty(), "described but not routed: {stale:?}");
}

#[tokio::test]
async fn every_operation_has_its_own_id_and_names_its_security_and_its_error_body() {
    let document: Value = serde_json::to_value(fabrique::openapi::document()).unwrap();
    let schemes = document["components"]["securitySchemes"]
        .as_object()
        .unwrap();
    for scheme in ["api_key", "scim_token", "metrics_token"] {
        assert_eq!(schemes[scheme]["scheme"], "bearer", "{scheme}");
    }
    let open = ["/healthz"];
    let mut operation_ids = std::collections::HashSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let name = format!("{method} {path}");
            let id = operation["operationId"].as_str().unwrap_or_default();
            assert!(
                operation_ids.insert(id.to_owned()),
                "{name}: id `{id}` is taken"
            );
            if !open.contains(&path.as_str()) {
                assert!(operation["security"].is_array(), "{name} names no security");
            }
            let responses = operation["responses"].as_object().unwrap();
            let errors = responses.keys().filter(|status| status.starts_with('4'));
            assert!(
                errors.count() > 0 || open.contains(&path.as_str()) || path == "/readyz",
                "{name} describes no error"
            );
        }
    }
}

#[test]
fn each_surface_names_its_security_and_its_error_body() {
    // Said once in `fabrique::openapi`, not on each handler: every operation has them all the same.
    let document: Value = serde_json::to_value(fabrique::openapi::document()).unwrap();
    let surfaces = [
        ("/v1/", "api_key", "application/json", "ErrorBody"),
        ("/admin/v1/", "api_key", "application/json", "ErrorBody"),
        (
            "/scim/v2/",
            "scim_token",
            "application/scim+json",
            "ScimErrorBody",
        ),
    ];
    let mut described = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        let Some((_, scheme, content_type, body)) = surfaces.iter().find(|s| path.starts_with(s.0))
        else {
            continue;
        };
        for (method, operation) in item.as_object().unwrap() {
            let name = format!("{method} {path}");
            assert_eq!(
                operation["security"],
                serde_json::json!([{ *scheme: [] }]),
                "{name}"
            );
            let error = &operation["responses"]["4XX"]["content"][content_type]["schema"];
            assert_eq!(
                resolve(&document, error),
                document["components"]["schemas"][body],
                "{name}"
            );
            described += 1;
        }
    }
    assert!(described >= 70, "{described} operations");
}

#[test]
fn every_reference_resolves_and_scope_kinds_are_enumerated() {
    let document: Value = serde_json::to_value(fabrique::openapi::document()).unwrap();
    let mut references = Vec::new();
    collect_references(&document, &mut references);
    assert!(references.len() > 10, "{references:?}");
    let unresolved: Vec<_> = references
        .iter()
        .filter(|r| resolve(&document, &serde_json::json!({ "$ref": r })).is_null())
        .collect();
    assert!(unresolved.is_empty(), "unresolvable: {unresolved:?}");

    let parameters = &document["paths"]["/admin/v1/limits/{kind}/{id}"]["get"]["parameters"];
    let kind = parameters
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "kind")
        .expect("a `kind` parameter");
    let kinds = &resolve(&document, &kind["schema"])["enum"];
    assert_eq!(kinds, &serde_json::json!(["key", "user", "team", "entity"]));
}

#[test]
fn a_stream_is_described_event_by_event() {
    // Schemathesis reads a stream as events `{"data", "event", …}`, each checked against the schema.
    let document: Value = serde_json::to_value(fabrique::openapi::document()).unwrap();
    for path in ["/v1/chat/completions", "/v1/fim/completions"] {
        let content = &document["paths"][path]["post"]["responses"]["200"]["content"];
        let event = resolve(&document, &content["text/event-stream"]["schema"]);
        assert_eq!(event["type"], "object", "{path}: {event}");
        assert!(
            event["required"]
                .as_array()
                .is_some_and(|r| r.contains(&"data".into())),
            "{path}: {event}"
        );
    }
}

/// Every `$ref` of a JSON document.
fn collect_references(value: &Value, references: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value.as_str()) {
                    ("$ref", Some(reference)) => references.push(reference.to_owned()),
                    _ => collect_references(value, references),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_references(v, references)),
        _ => {}
    }
}

/// The schema `schema` is or refers to (`#/components/…`); `Null` when the reference leads nowhere.
fn resolve(document: &Value, schema: &Value) -> Value {
    match schema["$ref"].as_str() {
        Some(reference) => reference
            .strip_prefix('#')
            .and_then(|pointer| document.pointer(pointer))
            .cloned()
            .unwrap_or(Value::Null),
        None => schema.clone(),
    }
}
