//! The style sheet and scripts, compiled into the binary: no front-end build, nothing to deploy
//! beside it. Each is served under its name with a version (a hash of its bytes) in the query, so
//! browsers keep it for a year and fetch the new one after an upgrade.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use sha2::{Digest, Sha256};

/// An embedded file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asset {
    Style,
    Script,
    Chat,
}

impl Asset {
    pub const ALL: [Asset; 3] = [Asset::Style, Asset::Script, Asset::Chat];

    pub fn name(self) -> &'static str {
        match self {
            Asset::Style => "app.css",
            Asset::Script => "app.js",
            Asset::Chat => "chat.js",
        }
    }

    fn bytes(self) -> &'static str {
        match self {
            Asset::Style => include_str!("../assets/app.css"),
            Asset::Script => include_str!("../assets/app.js"),
            Asset::Chat => include_str!("../assets/chat.js"),
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Asset::Style => "text/css; charset=utf-8",
            Asset::Script | Asset::Chat => "text/javascript; charset=utf-8",
        }
    }

    /// The URL pages link to: the name and the content's version.
    pub fn href(self) -> &'static str {
        static HREFS: LazyLock<Vec<String>> = LazyLock::new(|| {
            Asset::ALL
                .iter()
                .map(|asset| {
                    let digest = Sha256::digest(asset.bytes().as_bytes());
                    format!("/assets/{}?v={}", asset.name(), hex::encode(&digest[..4]))
                })
                .collect()
        });
        let index = Asset::ALL.iter().position(|a| *a == self).unwrap_or(0);
        HREFS.get(index).map_or("", String::as_str)
    }
}

/// `GET /assets/{name}`.
pub async fn serve(Path(name): Path<String>) -> Response {
    let Some(asset) = Asset::ALL.into_iter().find(|a| a.name() == name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut response = asset.bytes().into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type()),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    response
}
