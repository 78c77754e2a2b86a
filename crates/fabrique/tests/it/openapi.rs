//! `/openapi.json`: the description covers every route of the inference, admin and SCIM routers,
//! and describes nothing else.

use serde_json::Value;

use crate::authorization::router_routes;
use crate::harness::{TestServer, instant_sim, one_endpoint};

/// The sources of the `router`s the binary serves.
const ROUTERS: [&str; 3] = [
    include_str!("../../../gateway/src/api.rs"),
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
async fn every_operation_names_its_security_and_its_error_body() {
    let document: Value = serde_json::to_value(fabrique::openapi::document()).unwrap();
    let schemes = document["components"]["securitySchemes"]
        .as_object()
        .unwrap();
    for scheme in ["api_key", "scim_token", "metrics_token"] {
        assert_eq!(schemes[scheme]["scheme"], "bearer", "{scheme}");
    }
    let open = ["/healthz"];
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let name = format!("{method} {path}");
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
