//! The Prometheus rendering of model, entity and endpoint series, and status classes.

use std::sync::Arc;

use super::*;

#[test]
fn renders_entity_and_model_series_and_endpoint_health() {
    let metrics = Metrics::new(&[("mistral-small".into(), "chat")], &["gpu-1".into()]);
    let model = metrics.model("mistral-small", "chat");
    let acme: Arc<str> = Arc::from("acme");
    let handles = model.entity(Some(&acme));
    assert!(
        Arc::ptr_eq(&handles, &model.entity(Some(&acme))),
        "created once"
    );
    handles.request(200);
    handles.request(429);
    handles.rate_limited.inc();
    handles.input_tokens.inc_by(12);
    handles.cost_micros.inc_by(7);
    handles.duration.observe(0.02);
    model.entity(None).request(503);
    metrics.unresolved_request("chat", Some("acme"), 404, None);
    metrics.backend_error("gpu-1", "connect");
    metrics.set_endpoint_up("gpu-1", false);
    metrics.set_circuit("gpu-1", "open");
    let text = metrics.render();
    for expected in [
        r#"fabrique_requests_total{entity="acme",model="mistral-small",route="chat",status="2xx"} 1"#,
        r#"fabrique_requests_total{entity="acme",model="mistral-small",route="chat",status="4xx"} 1"#,
        r#"fabrique_requests_total{entity="acme",model="mistral-small",route="chat",status="5xx"} 0"#,
        r#"fabrique_requests_total{entity="-",model="mistral-small",route="chat",status="5xx"} 1"#,
        r#"fabrique_requests_total{entity="acme",model="unknown",route="chat",status="4xx"} 1"#,
        r#"fabrique_tokens_total{entity="acme",model="mistral-small",direction="input"} 12"#,
        r#"fabrique_cost_micros_total{entity="acme",model="mistral-small"} 7"#,
        r#"fabrique_admission_rejections_total{entity="acme",model="mistral-small",reason="rate_limit_exceeded"} 1"#,
        r#"fabrique_admission_rejections_total{entity="acme",model="mistral-small",reason="budget_exceeded"} 0"#,
        r#"fabrique_request_duration_seconds_count{entity="acme",model="mistral-small"} 1"#,
        r#"fabrique_endpoint_up{endpoint="gpu-1"} 0"#,
        r#"fabrique_endpoint_circuit{endpoint="gpu-1",state="open"} 1"#,
        r#"fabrique_endpoint_circuit{endpoint="gpu-1",state="closed"} 0"#,
        "fabrique_backend_errors_total",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
    }
}

#[test]
fn status_classes() {
    assert_eq!(StatusClass::of(200), StatusClass::Success);
    assert_eq!(StatusClass::of(429), StatusClass::ClientError);
    assert_eq!(StatusClass::of(502), StatusClass::ServerError);
}
