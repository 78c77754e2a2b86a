//! Logs, and OpenTelemetry traces of the request path over OTLP/HTTP when an endpoint is configured.
//!
//! The request path's spans are on [`REQUEST_TARGET`] at DEBUG level. Without an OTLP endpoint no
//! layer wants them (the log filter defaults to `info`), so each is a disabled span: one cached
//! interest check, no allocation. With one, the OpenTelemetry layer takes them and the log layer
//! still ignores them; a batch processor on its own thread sends them as protobuf.

use std::io::IsTerminal as _;
use std::time::Duration;

use bytes::Bytes;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

/// The `tracing` target of the request path's spans.
pub const REQUEST_TARGET: &str = "fabrique::request";

/// How long one export may take before it is given up.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// What was installed; [`Tracing::shutdown`] sends the spans still buffered.
#[derive(Debug)]
pub struct Tracing {
    provider: Option<SdkTracerProvider>,
}

/// The OTLP exporter could not be built from the configured endpoint.
#[derive(Debug, thiserror::Error)]
#[error("OpenTelemetry exporter for `{url}`: {source}")]
pub struct TracingError {
    url: String,
    source: opentelemetry_otlp::ExporterBuildError,
}

/// Starts logging (JSON lines when `json`, human-readable otherwise; `RUST_LOG` filters) and, when
/// `otlp_traces_url` is given, trace export to it. Must run inside the Tokio runtime, whose HTTP
/// client sends the spans. A second call (tests) keeps the first subscriber.
pub fn init(json: bool, otlp_traces_url: Option<&str>) -> Result<Tracing, TracingError> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let stderr = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let logs = if json {
        stderr.json().boxed()
    } else {
        // Colour only for a person at a terminal, never in files or CI logs.
        stderr.with_ansi(std::io::stderr().is_terminal()).boxed()
    };
    let provider = otlp_traces_url.map(provider).transpose()?;
    let spans = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("fabrique"))
            .with_location(false)
            .with_threads(false)
            .with_filter(Targets::new().with_target(REQUEST_TARGET, Level::DEBUG))
    });
    let _ = tracing_subscriber::registry()
        .with(logs.with_filter(filter))
        .with(spans)
        .try_init();
    Ok(Tracing { provider })
}

/// Renames an exported span. (`otel.name` recorded after a child span was opened is ignored by the
/// OpenTelemetry layer: the span has started by then.) A span no exporter wants is left alone.
pub fn rename(span: &tracing::Span, name: String) {
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    if !span.is_disabled() {
        span.context().span().update_name(name);
    }
}

/// Starts logging only.
pub fn init_logging(json: bool) {
    let _ = init(json, None);
}

impl Tracing {
    /// Exports what is buffered and stops the exporter's thread.
    pub async fn shutdown(self) {
        let Some(provider) = self.provider else {
            return;
        };
        // The provider waits for its thread, which waits for the runtime's HTTP client.
        let shutdown = tokio::task::spawn_blocking(move || provider.shutdown());
        if let Ok(Err(error)) = shutdown.await {
            tracing::warn!(%error, "last spans not exported");
        }
    }
}

fn provider(url: &str) -> Result<SdkTracerProvider, TracingError> {
    let client = OtlpHttp {
        client: reqwest::Client::builder()
            .timeout(EXPORT_TIMEOUT)
            .build()
            .unwrap_or_default(),
        runtime: tokio::runtime::Handle::current(),
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(url)
        .with_timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(|source| TracingError {
            url: url.to_owned(),
            source,
        })?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name("fabrique").build())
        .build())
}

/// The exporter's HTTP client: the workspace's reqwest on the server's runtime. The batch
/// processor calls it from its own thread, outside the runtime, so each request is spawned onto
/// the runtime and its result awaited from there.
#[derive(Debug)]
struct OtlpHttp {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for OtlpHttp {
    async fn send_bytes(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, opentelemetry_http::HttpError> {
        let (parts, body) = request.into_parts();
        let client = self.client.clone();
        let sent = self.runtime.spawn(async move {
            let response = client
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, headers, body))
        });
        let (status, headers, body) = sent.await??;
        let mut response = http::Response::new(body);
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        Ok(response)
    }
}
