//! A small OpenID Connect provider of the tests' own, on loopback (feature `testing`).
//!
//! It publishes a discovery document and a key set of generated keys, approves every
//! authorization request at once (redirecting back with a code), and exchanges a code for tokens
//! only with the right PKCE verifier. Tests mint access tokens with [`TestIssuer::token`] (for the
//! API audience [`API_AUDIENCE`], `typ: at+jwt`, issued to the client), rotate keys with
//! [`TestIssuer::publish`]/[`TestIssuer::unpublish`], and count key-set fetches.

#![expect(
    clippy::expect_used,
    reason = "a test fixture: a broken fixture should stop the test loudly"
)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use http::{HeaderValue, StatusCode, header};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::login::{pkce_challenge, random_token};

/// The audience of the access tokens this provider issues: the API's, never the client id.
pub const API_AUDIENCE: &str = "fabrique-api";
/// The header `typ` of access tokens (RFC 9068); ID tokens say `JWT`.
const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// A signing key and its public JWK.
pub struct TestKey {
    pub kid: String,
    pub algorithm: Algorithm,
    encoding: EncodingKey,
    jwk: Jwk,
}

impl std::fmt::Debug for TestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish()
    }
}

impl TestKey {
    /// A fresh 2048-bit RSA key for RS256.
    pub fn rsa(kid: &str) -> TestKey {
        use rsa::pkcs1::EncodeRsaPrivateKey as _;
        let private = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).expect("RSA key");
        let der = private.to_pkcs1_der().expect("PKCS#1");
        TestKey::new(
            kid,
            Algorithm::RS256,
            EncodingKey::from_rsa_der(der.as_bytes()),
        )
    }

    /// A fresh P-256 key for ES256.
    pub fn ec(kid: &str) -> TestKey {
        use p256::pkcs8::EncodePrivateKey as _;
        let private = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let der = private.to_pkcs8_der().expect("PKCS#8");
        TestKey::new(
            kid,
            Algorithm::ES256,
            EncodingKey::from_ec_der(der.as_bytes()),
        )
    }

    fn new(kid: &str, algorithm: Algorithm, encoding: EncodingKey) -> TestKey {
        let mut jwk = Jwk::from_encoding_key(&encoding, algorithm).expect("public JWK");
        jwk.common.key_id = Some(kid.to_owned());
        TestKey {
            kid: kid.to_owned(),
            algorithm,
            encoding,
            jwk,
        }
    }

    /// `claims` signed with this key, `kid` in the header, `typ: JWT` (as ID tokens say).
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_as("JWT", claims)
    }

    /// `claims` signed with this key, `kid` and `typ` in the header.
    pub fn sign_as(&self, typ: &str, claims: &Value) -> String {
        let mut header = Header::new(self.algorithm);
        header.kid = Some(self.kid.clone());
        header.typ = Some(typ.to_owned());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("signing")
    }
}

/// The running provider. Stops when dropped.
pub struct TestIssuer {
    issuer: String,
    addr: SocketAddr,
    state: Arc<IssuerState>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for TestIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestIssuer")
            .field("issuer", &self.issuer)
            .finish()
    }
}

struct IssuerState {
    issuer: String,
    client_id: String,
    /// Published keys; the last one signs.
    keys: Mutex<Vec<Arc<TestKey>>>,
    /// Authorization codes not yet exchanged.
    codes: Mutex<HashMap<String, Grant>>,
    /// Claims put in the ID tokens of the next sign-ins (besides iss, aud, nonce, times).
    sign_in_claims: Mutex<Map<String, Value>>,
    jwks_fetches: AtomicUsize,
    token_requests: AtomicUsize,
}

struct Grant {
    client_id: String,
    redirect_uri: String,
    code_challenge: String,
    nonce: Option<String>,
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestIssuer {
    /// Starts on a free loopback port, with one RSA key `rsa-1`, for client `client_id`.
    pub async fn start(client_id: &str) -> TestIssuer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        TestIssuer::serve(listener, client_id)
    }

    /// Starts on `addr` (to play a provider that comes up after Fabrique).
    pub async fn start_at(addr: SocketAddr, client_id: &str) -> TestIssuer {
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
        TestIssuer::serve(listener, client_id)
    }

    fn serve(listener: tokio::net::TcpListener, client_id: &str) -> TestIssuer {
        let addr = listener.local_addr().expect("address");
        let issuer = format!("http://{addr}");
        let state = Arc::new(IssuerState {
            issuer: issuer.clone(),
            client_id: client_id.to_owned(),
            keys: Mutex::new(vec![Arc::new(TestKey::rsa("rsa-1"))]),
            codes: Mutex::new(HashMap::new()),
            sign_in_claims: Mutex::new(Map::new()),
            jwks_fetches: AtomicUsize::new(0),
            token_requests: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .with_state(Arc::clone(&state));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TestIssuer {
            issuer,
            addr,
            state,
            task,
        }
    }

    /// The issuer identifier (also its base URL).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Standard claims of a valid access token for `user_name`: issuer, audience
    /// [`API_AUDIENCE`], issued to (`azp`) the client, five minutes to live. Tests change what
    /// they need before signing.
    pub fn claims(&self, user_name: &str) -> Value {
        let now = now_secs();
        json!({
            "iss": self.issuer,
            "aud": API_AUDIENCE,
            "azp": self.state.client_id,
            "sub": format!("sub-{user_name}"),
            "preferred_username": user_name,
            "email": format!("{user_name}@example.test"),
            "iat": now,
            "nbf": now,
            "exp": now + 300,
        })
    }

    /// `claims` signed with the current key as an access token (`typ: at+jwt`).
    pub fn sign(&self, claims: &Value) -> String {
        self.current_key().sign_as(ACCESS_TOKEN_TYPE, claims)
    }

    /// A valid access token for `user_name`.
    pub fn token(&self, user_name: &str) -> String {
        self.sign(&self.claims(user_name))
    }

    /// The key that signs now.
    pub fn current_key(&self) -> Arc<TestKey> {
        let keys = self.state.keys.lock();
        Arc::clone(keys.last().expect("at least one key"))
    }

    /// Publishes `key`, which signs from now on.
    pub fn publish(&self, key: TestKey) {
        self.state.keys.lock().push(Arc::new(key));
    }

    /// Stops publishing the key `kid`.
    pub fn unpublish(&self, kid: &str) {
        self.state.keys.lock().retain(|key| key.kid != kid);
    }

    /// Claims added to the ID tokens of the next sign-ins (user name, groups, entity…).
    pub fn set_sign_in_claims(&self, claims: Value) {
        if let Value::Object(map) = claims {
            *self.state.sign_in_claims.lock() = map;
        }
    }

    /// How many times the key set was fetched.
    pub fn jwks_fetches(&self) -> usize {
        self.state.jwks_fetches.load(Ordering::SeqCst)
    }

    /// How many token requests were made (successful or not).
    pub fn token_requests(&self) -> usize {
        self.state.token_requests.load(Ordering::SeqCst)
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

async fn discovery(State(state): State<Arc<IssuerState>>) -> Json<Value> {
    let base = &state.issuer;
    Json(json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "jwks_uri": format!("{base}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "code_challenge_methods_supported": ["S256"],
    }))
}

async fn jwks(State(state): State<Arc<IssuerState>>) -> Json<JwkSet> {
    state.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    let keys = state.keys.lock().iter().map(|k| k.jwk.clone()).collect();
    Json(JwkSet { keys })
}

#[derive(Deserialize)]
struct AuthorizeQuery {
    response_type: String,
    client_id: String,
    redirect_uri: String,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

/// Approves at once: redirects back with a code bound to the PKCE challenge.
async fn authorize(
    State(state): State<Arc<IssuerState>>,
    Query(query): Query<AuthorizeQuery>,
) -> Response {
    let valid = query.response_type == "code"
        && query.client_id == state.client_id
        && query.code_challenge_method.as_deref() == Some("S256");
    let Some(code_challenge) = query.code_challenge.filter(|_| valid) else {
        return (StatusCode::BAD_REQUEST, "invalid authorization request").into_response();
    };
    let code = random_token();
    state.codes.lock().insert(
        code.clone(),
        Grant {
            client_id: query.client_id,
            redirect_uri: query.redirect_uri.clone(),
            code_challenge,
            nonce: query.nonce,
        },
    );
    let mut params = vec![("code", code)];
    if let Some(s) = query.state {
        params.push(("state", s));
    }
    let Ok(location) = url::Url::parse_with_params(&query.redirect_uri, &params) else {
        return (StatusCode::BAD_REQUEST, "invalid redirect_uri").into_response();
    };
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::try_from(location.as_str()) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: String,
    code: String,
    redirect_uri: String,
    client_id: String,
    code_verifier: Option<String>,
}

/// Exchanges a code: once, for the client and redirect it was issued to, with the PKCE verifier
/// whose S256 challenge the authorization carried.
async fn token(State(state): State<Arc<IssuerState>>, Form(form): Form<TokenForm>) -> Response {
    state.token_requests.fetch_add(1, Ordering::SeqCst);
    let invalid =
        |error: &str| (StatusCode::BAD_REQUEST, Json(json!({"error": error}))).into_response();
    if form.grant_type != "authorization_code" {
        return invalid("unsupported_grant_type");
    }
    let Some(grant) = state.codes.lock().remove(&form.code) else {
        return invalid("invalid_grant");
    };
    if grant.client_id != form.client_id || grant.redirect_uri != form.redirect_uri {
        return invalid("invalid_grant");
    }
    let verified = form
        .code_verifier
        .is_some_and(|verifier| pkce_challenge(&verifier) == grant.code_challenge);
    if !verified {
        return invalid("invalid_grant");
    }
    let now = now_secs();
    let mut claims = state.sign_in_claims.lock().clone();
    claims.insert("iss".into(), json!(state.issuer));
    claims.insert("aud".into(), json!(state.client_id));
    claims.insert("iat".into(), json!(now));
    claims.insert("exp".into(), json!(now + 300));
    if let Some(nonce) = grant.nonce {
        claims.insert("nonce".into(), json!(nonce));
    }
    let key = {
        let keys = state.keys.lock();
        Arc::clone(keys.last().expect("at least one key"))
    };
    let id_token = key.sign(&Value::Object(claims.clone()));
    claims.remove("nonce");
    claims.insert("aud".into(), json!(API_AUDIENCE));
    claims.insert("azp".into(), json!(state.client_id));
    let access_token = key.sign_as(ACCESS_TOKEN_TYPE, &Value::Object(claims));
    Json(json!({
        "access_token": access_token,
        "id_token": id_token,
        "token_type": "Bearer",
        "expires_in": 300,
    }))
    .into_response()
}
