//! The console's style sheet, compiled into the binary and served under its name with a version
//! (a hash of its bytes) in the query, so browsers keep it and fetch the new one after an upgrade.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use sha2::{Digest, Sha256};

const STYLE_NAME: &str = "console.css";
const STYLE: &str = include_str!("../assets/console.css");

/// The URL pages link the style sheet at.
pub(crate) fn style_href() -> &'static str {
    static HREF: LazyLock<String> = LazyLock::new(|| {
        let digest = Sha256::digest(STYLE.as_bytes());
        format!(
            "/console/assets/{STYLE_NAME}?v={}",
            hex::encode(&digest[..4])
        )
    });
    &HREF
}

/// `GET /console/assets/{name}`.
pub(crate) async fn serve(Path(name): Path<String>) -> Response {
    if name != STYLE_NAME {
        return StatusCode::NOT_FOUND.into_response();
    }
    let mut response = STYLE.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    response
}
