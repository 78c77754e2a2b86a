//! What every surface that serves pages to a browser shares — the employee chat (`web`) and the
//! administrators' console (`console`): who is at the browser ([`Visitor`], through `access`, the
//! one way every surface finds its caller, with the same session cookies), their language
//! ([`Lang`]: French by default, English when the browser prefers it or the person chose it),
//! the surfaces' own cookies (`HttpOnly`, `SameSite=Strict`, `Secure` behind HTTPS), CSRF tokens
//! bound to the browser and the person ([`Csrf`]), and the security headers of every page
//! ([`secure`]: a strict Content-Security-Policy without inline script or style, `nosniff`,
//! `no-referrer`, no framing), and what their pages' frames share: the sentence tables
//! ([`sentences!`]) and the frame's own sentences ([`Common`]), the skip link and the language
//! switch (`frame`).
//!
//! **Invariant:** no state change passes [`Visitor::check`] without a token made by this
//! process's key for this browser and this person, from the same origin.

pub mod cookies;
pub mod csrf;
pub mod frame;
pub mod lang;
pub mod text;
pub mod visitor;

use axum::response::Response;
use http::{HeaderValue, header};

pub use csrf::{BROWSER_COOKIE, Csrf, Forgery, TOKEN_FIELD, TOKEN_HEADER};
pub use lang::{LANG_COOKIE, Lang};
pub use text::Common;
pub use visitor::{Gate, Person, Visitor};

/// The Content-Security-Policy of every page: only the surface's own scripts, styles and
/// connections; no inline code, no plugins, no framing, forms posted only to the same origin.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
    frame-ancestors 'none'; base-uri 'none'";

/// The security headers of every response of a page-serving surface (a response middleware).
pub async fn secure(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}
