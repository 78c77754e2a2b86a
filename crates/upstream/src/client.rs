//! The pooled HTTP client and the prepared form of each endpoint's address and credential.

use std::time::Duration;

use bytes::Bytes;
use domain::UpstreamPath;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, Uri};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// Why a call to a backend failed before a response arrived.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("could not connect: {0}")]
    Connect(String),
    #[error("no response headers within {0:?}")]
    Timeout(Duration),
    #[error("request failed: {0}")]
    Request(String),
    #[error("invalid endpoint URL `{0}`")]
    InvalidUrl(String),
}

/// An endpoint's address and credential, prepared once at start so each call only joins a path.
#[derive(Clone)]
pub struct EndpointTarget {
    scheme: http::uri::Scheme,
    authority: http::uri::Authority,
    /// Path prefix of the base URL, without a trailing slash (e.g. `/v1`).
    prefix: String,
    authorization: Option<HeaderValue>,
}

impl std::fmt::Debug for EndpointTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointTarget")
            .field("authority", &self.authority)
            .field("prefix", &self.prefix)
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl EndpointTarget {
    /// `base_url` includes the API prefix, e.g. `http://10.0.0.1:8000/v1`.
    pub fn new(base_url: &str, credential: Option<&str>) -> Result<Self, UpstreamError> {
        let invalid = || UpstreamError::InvalidUrl(base_url.to_owned());
        let uri: Uri = base_url.parse().map_err(|_| invalid())?;
        let parts = uri.into_parts();
        let scheme = parts.scheme.ok_or_else(invalid)?;
        let authority = parts.authority.ok_or_else(invalid)?;
        let prefix = parts
            .path_and_query
            .map(|p| p.path().trim_end_matches('/').to_owned())
            .unwrap_or_default();
        let authorization = match credential {
            Some(secret) => {
                let mut value =
                    HeaderValue::try_from(format!("Bearer {secret}")).map_err(|_| invalid())?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        Ok(EndpointTarget {
            scheme,
            authority,
            prefix,
            authorization,
        })
    }

    /// The host and port requests go to.
    pub fn authority(&self) -> &http::uri::Authority {
        &self.authority
    }

    /// The URI of `path` under the API prefix (`/chat/completions` → `…/v1/chat/completions`).
    pub fn api_uri(&self, path: &str) -> Result<Uri, UpstreamError> {
        self.uri(&format!("{}{}", self.prefix, path))
    }

    /// The URI of `path` at the server's origin, ignoring the API prefix (health checks).
    pub fn origin_uri(&self, path: &str) -> Result<Uri, UpstreamError> {
        self.uri(path)
    }

    /// The URI of an operation's path, under the API prefix or at the origin as it says.
    pub fn uri_of(&self, path: UpstreamPath) -> Result<Uri, UpstreamError> {
        match path {
            UpstreamPath::Api(path) => self.api_uri(path),
            UpstreamPath::Origin(path) => self.origin_uri(path),
        }
    }

    fn uri(&self, path_and_query: &str) -> Result<Uri, UpstreamError> {
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(path_and_query)
            .build()
            .map_err(|_| UpstreamError::InvalidUrl(path_and_query.to_owned()))
    }
}

/// One client for all backends: connections are pooled per origin and kept alive, with Nagle off so
/// streamed tokens leave as soon as they arrive.
#[derive(Clone)]
pub struct UpstreamClient {
    http: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl std::fmt::Debug for UpstreamClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UpstreamClient")
    }
}

impl UpstreamClient {
    pub fn new(connect_timeout: Duration) -> Self {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect_timeout));
        http.enforce_http(false);
        let tls = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(1024)
            .build(tls);
        UpstreamClient { http }
    }

    /// POSTs a JSON body; resolves when response headers arrive or `first_byte_timeout` passes.
    pub async fn post_json(
        &self,
        target: &EndpointTarget,
        path: UpstreamPath,
        body: Bytes,
        request_id: &HeaderValue,
        first_byte_timeout: Duration,
    ) -> Result<Response<Incoming>, UpstreamError> {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(target.uri_of(path)?)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header("x-request-id", request_id.clone())
            .body(Full::new(body))
            .map_err(|e| UpstreamError::Request(e.to_string()))?;
        if let Some(auth) = &target.authorization {
            request.headers_mut().insert(AUTHORIZATION, auth.clone());
        }
        self.send(request, first_byte_timeout).await
    }

    /// GETs a URI (health checks); returns the response status.
    pub async fn get_status(
        &self,
        target: &EndpointTarget,
        uri: Uri,
        timeout: Duration,
    ) -> Result<u16, UpstreamError> {
        let mut request = Request::builder()
            .method(Method::GET)
            .uri(uri)
            .body(Full::new(Bytes::new()))
            .map_err(|e| UpstreamError::Request(e.to_string()))?;
        if let Some(auth) = &target.authorization {
            request.headers_mut().insert(AUTHORIZATION, auth.clone());
        }
        let response = self.send(request, timeout).await?;
        Ok(response.status().as_u16())
    }

    async fn send(
        &self,
        request: Request<Full<Bytes>>,
        timeout: Duration,
    ) -> Result<Response<Incoming>, UpstreamError> {
        match tokio::time::timeout(timeout, self.http.request(request)).await {
            Err(_) => Err(UpstreamError::Timeout(timeout)),
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) if e.is_connect() => Err(UpstreamError::Connect(error_chain(&e))),
            Ok(Err(e)) => Err(UpstreamError::Request(error_chain(&e))),
        }
    }
}

/// The error and its sources on one line, so logs say *why* a connection failed.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_join_paths_under_the_prefix_and_at_the_origin() {
        let t = EndpointTarget::new("http://10.0.0.1:8000/v1/", Some("s3cret")).unwrap();
        assert_eq!(
            t.api_uri("/chat/completions").unwrap().to_string(),
            "http://10.0.0.1:8000/v1/chat/completions"
        );
        assert_eq!(
            t.origin_uri("/health").unwrap().to_string(),
            "http://10.0.0.1:8000/health"
        );
        assert!(!format!("{t:?}").contains("s3cret"));
    }

    #[test]
    fn urls_without_scheme_are_refused() {
        assert!(EndpointTarget::new("10.0.0.1:8000/v1", None).is_err());
    }
}
