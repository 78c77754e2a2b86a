//! The request's trace: one root span per request and one child span per stage, with attributes
//! of OpenTelemetry's GenAI semantic conventions. Only names, counts and places are recorded —
//! never the content of prompts or answers.
//!
//! The spans are at DEBUG level on `telemetry::REQUEST_TARGET`: when no trace exporter is
//! configured they are disabled, and every call here returns at its first check.

use domain::Operation;
use http::HeaderValue;
use tracing::Span;
use tracing::field::Empty;

use crate::catalog::EndpointRoute;

/// The root span of one inference request.
pub(crate) fn request(
    operation: Operation,
    request_id: &HeaderValue,
    client_request_id: Option<&HeaderValue>,
) -> Span {
    tracing::debug_span!(
        target: telemetry::REQUEST_TARGET,
        "request",
        otel.name = operation_name(operation),
        otel.kind = "server",
        otel.status_code = Empty,
        gen_ai.operation.name = operation_name(operation),
        gen_ai.request.model = Empty,
        gen_ai.request.max_tokens = Empty,
        gen_ai.input.messages = Empty,
        gen_ai.response.model = Empty,
        gen_ai.provider.name = Empty,
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
        server.address = Empty,
        server.port = Empty,
        http.response.status_code = Empty,
        error.type = Empty,
        fabrique.request_id = request_id.to_str().unwrap_or(""),
        fabrique.client_request_id = client_request_id.and_then(|id| id.to_str().ok()),
        fabrique.entity = Empty,
        fabrique.classification = Empty,
        fabrique.endpoint = Empty,
        fabrique.attempts = Empty,
    )
}

/// The request's input as it was sent to the model (after the data policy's rewriting), for an
/// entity whose policy allows content in traces: chat messages, embedding input or FIM prompt.
pub(crate) fn input_content(request: &Span, object: &wire::object::RawObject<'_>) {
    let input = ["messages", "input", "prompt"]
        .into_iter()
        .find_map(|field| object.get(field));
    if let Some(input) = input {
        request.record("gen_ai.input.messages", input.get());
    }
}

/// A stage of the request path, under its request.
pub(crate) fn stage(request: &Span, name: &'static str) -> Span {
    tracing::debug_span!(
        target: telemetry::REQUEST_TARGET,
        parent: request,
        "stage",
        otel.name = name,
    )
}

/// Names the root span as the conventions ask, `{operation} {model}`, once the model is known.
pub(crate) fn name_after_model(request: &Span, operation: Operation, model: &str) {
    if !request.is_disabled() {
        telemetry::rename(request, format!("{} {model}", operation_name(operation)));
    }
}

/// `gen_ai.operation.name`: the conventions' names for what each route does.
pub(crate) fn operation_name(operation: Operation) -> &'static str {
    match operation {
        Operation::Chat => "chat",
        Operation::Embeddings => "embeddings",
        Operation::Fim => "text_completion",
        // No name in the conventions yet: the route's own.
        Operation::Rerank => "rerank",
    }
}

/// Where the request was sent: the endpoint, its server software, its address.
pub(crate) fn routed(request: &Span, endpoint: &EndpointRoute) {
    if request.is_disabled() {
        return;
    }
    let authority = endpoint.target.authority();
    request.record("fabrique.endpoint", endpoint.name.as_str());
    request.record("gen_ai.provider.name", endpoint.kind.provider_name());
    request.record("server.address", authority.host());
    request.record("server.port", authority.port_u16().map(i64::from));
}

/// How the request ended: the model that answered, the tokens, the status.
pub(crate) fn finished(
    request: &Span,
    response_model: Option<&str>,
    usage: &wire::Usage,
    status: u16,
    error_code: Option<&'static str>,
    attempts: u32,
) {
    if request.is_disabled() {
        return;
    }
    request.record("gen_ai.response.model", response_model);
    request.record("gen_ai.usage.input_tokens", integer(usage.prompt_tokens));
    request.record(
        "gen_ai.usage.output_tokens",
        integer(usage.completion_tokens),
    );
    request.record("http.response.status_code", i64::from(status));
    request.record("error.type", error_code);
    request.record("fabrique.attempts", i64::from(attempts));
    if status >= 500 {
        request.record("otel.status_code", "error");
    }
}

/// An attribute's integer: the OpenTelemetry layer keeps `i64`s as integers but turns `u64`s
/// into text.
pub(crate) fn integer(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
