//! Section `[oidc]`: sign-in with the group's OpenID Connect identity provider, and the access
//! tokens (JWT) it issues accepted on the API. The typed values and their rules.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use domain::Role;
use serde::Deserialize;

use crate::error::Collector;
use crate::rules::{NameRule, credential, name_problem, url_problem};

/// What a `role_map` entry grants: a role, over the whole group or over the user's entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MappedRole {
    pub role: Role,
    pub scope: RoleScope,
}

/// Over what a role is granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoleScope {
    /// The whole group: every entity.
    Group,
    /// The entity of the signed-in user.
    Entity,
}

/// Section `[oidc]`. Absent: no sign-in, and only API keys authenticate.
#[derive(Clone, PartialEq)]
pub struct OidcConfig {
    /// Key `issuer`: required; the issuer identifier, compared byte for byte with the `iss` of
    /// every token and with the `issuer` of the discovery document fetched from
    /// `{issuer}/.well-known/openid-configuration`. `https://`, or `http://` on a loopback host
    /// (127.0.0.1, `localhost`, `[::1]`) for trials and tests.
    pub issuer: String,
    /// Key `client_id`: required, not blank; Fabrique's client registered at the provider.
    pub client_id: String,
    /// Key `client_secret_env`: optional, the *name* of the environment variable holding the
    /// client secret (a public client sends none). Here: the resolved value, which `Debug` redacts.
    pub client_secret: Option<String>,
    /// Key `redirect_url`: required; the absolute URL of Fabrique's `/auth/callback` as the browser
    /// reaches it, registered at the provider.
    pub redirect_url: String,
    /// Key `scopes`: the scopes asked for at sign-in; must contain `openid`. Default
    /// `["openid", "profile", "email"]`.
    pub scopes: Vec<String>,
    /// Key `audiences`: the `aud` values of the access tokens accepted as API bearers: the API's
    /// own identifier at the provider (Keycloak: an audience mapper; Entra ID: the Application ID
    /// URI), never `client_id`, which is the audience of ID tokens (an ID token is no API
    /// credential: browsers hold it and providers see it again as `id_token_hint`). A token is
    /// accepted when its `aud` contains one of them. Default: none, and then no access token is
    /// accepted, only web sign-in. ID tokens at sign-in must always name `client_id`.
    pub audiences: Vec<String>,
    /// Key `require_access_token_type`: accept as bearers only tokens whose header says
    /// `typ: at+jwt` (RFC 9068), which ID tokens never say. Default `false`; turn it on when the
    /// provider sets it.
    pub require_access_token_type: bool,
    /// Key `authorized_parties`: when not empty, an access token is accepted only if its `azp`
    /// (or RFC 9068's `client_id`) claim, the client it was issued to, is one of these. Default:
    /// empty, any client.
    pub authorized_parties: Vec<String>,
    /// Key `algorithms`: the signature algorithms accepted, among `RS256`, `RS384`, `RS512`,
    /// `PS256`, `PS384`, `PS512`, `ES256`, `ES384` and `EdDSA`. Symmetric (`HS*`) and `none` are
    /// refused: a public key must never be usable as a shared secret. Default `["RS256", "ES256"]`.
    pub algorithms: Vec<JwtAlgorithm>,
    /// Key `user_name_claim`: which claim names the Fabrique user (`user_name`):
    /// `preferred_username`, `email` or `sub`. Default `preferred_username`.
    pub user_name_claim: UserNameClaim,
    /// Key `entity_claim`: optional, the claim giving the caller's entity: a new user joins it,
    /// and a user of another entity is refused (`entity_mismatch`), so a name created in one
    /// entity cannot capture the sign-in of another entity's employee.
    pub entity_claim: Option<String>,
    /// Key `entity_map`: claim value → entity slug. Empty (the default): the claim's value is the
    /// slug itself. When not empty, a value missing from the map gives no entity.
    pub entity_map: BTreeMap<String, String>,
    /// Key `default_entity`: optional, the entity slug of a new user whose claims give none.
    pub default_entity: Option<String>,
    /// Key `roles_claim`: optional, the claim (a string or an array of strings, e.g. `groups`)
    /// whose values `role_map` turns into roles.
    pub roles_claim: Option<String>,
    /// Key `role_map`: group name → role (`group_admin`, `entity_admin`, `auditor`,
    /// `factory_engineer`, `risk_officer`, `compliance_officer`, `user`), or →
    /// `{ role = "auditor", scope = "group" }` for an auditor of
    /// the whole group. `group_admin` is always granted group-wide; the others over the user's
    /// entity unless `scope = "group"`, which only `auditor` may have. These roles are added to
    /// the user's stored grants for as long as the token or the session lasts, and are never
    /// stored.
    pub role_map: BTreeMap<String, MappedRole>,
    /// Key `jit_provisioning`: create a user signing in for the first time (just-in-time), in the
    /// entity given by `entity_claim`/`default_entity`. Default `false`: unknown users are refused.
    pub jit_provisioning: bool,
    /// Key `leeway_secs`: clock skew tolerated on `exp` and `nbf`, in seconds, at most 300.
    /// Default 30.
    pub leeway: Duration,
    /// Key `jwks_min_refetch_secs`: a token signed by a key id not in the cached key set makes
    /// Fabrique fetch the provider's keys again, at most once per this many seconds, so a flood of
    /// forged tokens cannot hammer the provider. Default 60; `0` means no limit (tests).
    pub jwks_min_refetch: Duration,
}

/// The claim that names the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserNameClaim {
    PreferredUsername,
    Email,
    Sub,
}

impl UserNameClaim {
    pub fn as_str(self) -> &'static str {
        match self {
            UserNameClaim::PreferredUsername => "preferred_username",
            UserNameClaim::Email => "email",
            UserNameClaim::Sub => "sub",
        }
    }
}

/// The asymmetric JWS algorithms Fabrique accepts; a closed set without `none` or `HS*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JwtAlgorithm {
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
    Es256,
    Es384,
    EdDsa,
}

impl JwtAlgorithm {
    pub const ALL: [JwtAlgorithm; 9] = [
        JwtAlgorithm::Rs256,
        JwtAlgorithm::Rs384,
        JwtAlgorithm::Rs512,
        JwtAlgorithm::Ps256,
        JwtAlgorithm::Ps384,
        JwtAlgorithm::Ps512,
        JwtAlgorithm::Es256,
        JwtAlgorithm::Es384,
        JwtAlgorithm::EdDsa,
    ];

    /// The `alg` header value.
    pub fn as_str(self) -> &'static str {
        match self {
            JwtAlgorithm::Rs256 => "RS256",
            JwtAlgorithm::Rs384 => "RS384",
            JwtAlgorithm::Rs512 => "RS512",
            JwtAlgorithm::Ps256 => "PS256",
            JwtAlgorithm::Ps384 => "PS384",
            JwtAlgorithm::Ps512 => "PS512",
            JwtAlgorithm::Es256 => "ES256",
            JwtAlgorithm::Es384 => "ES384",
            JwtAlgorithm::EdDsa => "EdDSA",
        }
    }

    pub fn parse(value: &str) -> Option<JwtAlgorithm> {
        JwtAlgorithm::ALL.into_iter().find(|a| a.as_str() == value)
    }
}

/// As written; the keys are documented on [`OidcConfig`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOidc {
    pub issuer: String,
    pub client_id: String,
    pub client_secret_env: Option<String>,
    pub redirect_url: String,
    pub scopes: Option<Vec<String>>,
    pub audiences: Option<Vec<String>>,
    pub require_access_token_type: Option<bool>,
    pub authorized_parties: Option<Vec<String>>,
    pub algorithms: Option<Vec<String>>,
    pub user_name_claim: Option<UserNameClaim>,
    pub entity_claim: Option<String>,
    pub entity_map: Option<BTreeMap<String, String>>,
    pub default_entity: Option<String>,
    pub roles_claim: Option<String>,
    pub role_map: Option<BTreeMap<String, RawMappedRole>>,
    pub jit_provisioning: Option<bool>,
    pub leeway_secs: Option<u64>,
    pub jwks_min_refetch_secs: Option<u64>,
}

/// A `role_map` value: a role's name (`"auditor"`), or a table naming its scope
/// (`{ role = "auditor", scope = "group" }`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawMappedRole {
    pub role: domain::Role,
    pub scope: Option<RoleScope>,
}

impl<'de> Deserialize<'de> for RawMappedRole {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RawMappedRole;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "a role name, or a table `{ role = \"…\", scope = \"group\" | \"entity\" }`",
                )
            }
            fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<RawMappedRole, E> {
                use serde::de::IntoDeserializer;
                let role = domain::Role::deserialize(name.into_deserializer())?;
                Ok(RawMappedRole { role, scope: None })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<RawMappedRole, A::Error> {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Table {
                    role: domain::Role,
                    scope: Option<RoleScope>,
                }
                let table = Table::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(RawMappedRole {
                    role: table.role,
                    scope: table.scope,
                })
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

const DEFAULT_SCOPES: [&str; 3] = ["openid", "profile", "email"];
const DEFAULT_LEEWAY_SECS: u64 = 30;
const MAX_LEEWAY_SECS: u64 = 300;
const DEFAULT_JWKS_MIN_REFETCH_SECS: u64 = 60;

pub(crate) fn validate(
    raw: RawOidc,
    env: &dyn Fn(&str) -> Option<String>,
    errors: &mut Collector,
) -> OidcConfig {
    if let Some(problem) = issuer_problem(&raw.issuer) {
        errors.push("oidc.issuer", problem);
    }
    if raw.client_id.trim().is_empty() {
        errors.push("oidc.client_id", "must not be blank");
    }
    let client_secret = raw
        .client_secret_env
        .and_then(|variable| credential(&variable, "oidc.client_secret_env", env, errors));
    if let Some(problem) = url_problem(&raw.redirect_url) {
        errors.push("oidc.redirect_url", problem);
    }
    let scopes = raw
        .scopes
        .unwrap_or_else(|| DEFAULT_SCOPES.map(str::to_owned).to_vec());
    if !scopes.iter().any(|s| s == "openid") {
        errors.push(
            "oidc.scopes",
            "must contain `openid`, without which the provider issues no ID token",
        );
    }
    for (index, scope) in scopes.iter().enumerate() {
        if scope.is_empty() || scope.chars().any(|c| c.is_whitespace() || c.is_control()) {
            errors.push(
                format!("oidc.scopes[{index}]"),
                format!("`{scope}` is not a scope: it must be non-empty, without spaces"),
            );
        }
    }
    let audiences = raw.audiences.unwrap_or_default();
    for (index, audience) in audiences.iter().enumerate() {
        if audience.trim().is_empty() {
            errors.push(format!("oidc.audiences[{index}]"), "must not be blank");
        } else if *audience == raw.client_id {
            errors.push(
                format!("oidc.audiences[{index}]"),
                format!(
                    "`{audience}` is the client id, the audience of ID tokens: name the API's own \
                     audience, so that an ID token is never accepted as a bearer"
                ),
            );
        }
    }
    let authorized_parties = raw.authorized_parties.unwrap_or_default();
    if !authorized_parties.is_empty() && audiences.is_empty() {
        errors.push(
            "oidc.authorized_parties",
            "has no effect without `audiences`: no access token is accepted",
        );
    }
    let algorithms = algorithms(raw.algorithms, errors);
    for (value, slug) in raw.entity_map.iter().flatten() {
        if let Some(problem) = name_problem(slug, NameRule::Slug) {
            errors.push(format!("oidc.entity_map.{value}"), problem);
        }
    }
    if let Some(slug) = &raw.default_entity
        && let Some(problem) = name_problem(slug, NameRule::Slug)
    {
        errors.push("oidc.default_entity", problem);
    }
    let jit_provisioning = raw.jit_provisioning.unwrap_or(false);
    if jit_provisioning && raw.entity_claim.is_none() && raw.default_entity.is_none() {
        errors.push(
            "oidc.jit_provisioning",
            "a new user needs an entity: set `entity_claim` or `default_entity`",
        );
    }
    if raw.role_map.as_ref().is_some_and(|map| !map.is_empty()) && raw.roles_claim.is_none() {
        errors.push(
            "oidc.role_map",
            "has no effect without `roles_claim`, the claim whose values it maps",
        );
    }
    let mut role_map = BTreeMap::new();
    for (group, &mapped) in raw.role_map.iter().flatten() {
        match mapped_role(mapped) {
            Ok(mapped) => {
                role_map.insert(group.clone(), mapped);
            }
            Err(problem) => errors.push(format!("oidc.role_map.{group}"), problem),
        }
    }
    let leeway_secs = raw.leeway_secs.unwrap_or(DEFAULT_LEEWAY_SECS);
    if leeway_secs > MAX_LEEWAY_SECS {
        errors.push(
            "oidc.leeway_secs",
            format!("must be at most {MAX_LEEWAY_SECS}, found {leeway_secs}"),
        );
    }
    OidcConfig {
        issuer: raw.issuer,
        client_id: raw.client_id,
        client_secret,
        redirect_url: raw.redirect_url,
        scopes,
        audiences,
        require_access_token_type: raw.require_access_token_type.unwrap_or(false),
        authorized_parties,
        algorithms,
        user_name_claim: raw
            .user_name_claim
            .unwrap_or(UserNameClaim::PreferredUsername),
        entity_claim: raw.entity_claim,
        entity_map: raw.entity_map.unwrap_or_default(),
        default_entity: raw.default_entity,
        roles_claim: raw.roles_claim,
        role_map,
        jit_provisioning,
        leeway: Duration::from_secs(leeway_secs),
        jwks_min_refetch: Duration::from_secs(
            raw.jwks_min_refetch_secs
                .unwrap_or(DEFAULT_JWKS_MIN_REFETCH_SECS),
        ),
    }
}

fn algorithms(raw: Option<Vec<String>>, errors: &mut Collector) -> Vec<JwtAlgorithm> {
    let Some(names) = raw else {
        return vec![JwtAlgorithm::Rs256, JwtAlgorithm::Es256];
    };
    if names.is_empty() {
        errors.push("oidc.algorithms", "at least one algorithm is required");
    }
    let mut algorithms = Vec::new();
    for (index, name) in names.iter().enumerate() {
        let key = format!("oidc.algorithms[{index}]");
        match JwtAlgorithm::parse(name) {
            Some(algorithm) if algorithms.contains(&algorithm) => {
                errors.push(key, format!("`{name}` is listed twice"));
            }
            Some(algorithm) => algorithms.push(algorithm),
            None if name.eq_ignore_ascii_case("none") => errors.push(
                key,
                "`none` is refused: an unsigned token proves nothing".to_owned(),
            ),
            None if name.to_ascii_uppercase().starts_with("HS") => errors.push(
                key,
                format!("`{name}` is refused: symmetric algorithms would let a public key serve as a shared secret"),
            ),
            None => errors.push(
                key,
                format!(
                    "unknown algorithm `{name}`; expected one of {}",
                    JwtAlgorithm::ALL
                        .map(|a| format!("`{}`", a.as_str()))
                        .join(", ")
                ),
            ),
        }
    }
    algorithms
}

/// Why `issuer` cannot be an issuer identifier, if it cannot.
fn issuer_problem(issuer: &str) -> Option<String> {
    if let Some(problem) = url_problem(issuer) {
        return Some(problem);
    }
    if let Some(rest) = issuer.strip_prefix("http://") {
        let host = rest.split(['/', ':']).next().unwrap_or_default();
        let loopback = rest.starts_with("[::1]") || host == "localhost" || host.starts_with("127.");
        if !loopback {
            return Some(format!(
                "`{issuer}` must use https:// (plain http:// is accepted on a loopback host only)"
            ));
        }
    }
    None
}

/// A `role_map` value's scope: `group_admin` is group-wide by nature, `auditor` may be either, the
/// other roles only ever act within one entity.
fn mapped_role(raw: RawMappedRole) -> Result<MappedRole, String> {
    let role = raw.role;
    let scope = match (role, raw.scope) {
        (Role::GroupAdmin, None | Some(RoleScope::Group)) => RoleScope::Group,
        (Role::GroupAdmin, Some(RoleScope::Entity)) => {
            return Err("`group_admin` is granted over the whole group; \
                 for one entity's administrators, map to `entity_admin`"
                .to_owned());
        }
        (Role::Auditor, Some(scope)) => scope,
        (_, None | Some(RoleScope::Entity)) => RoleScope::Entity,
        (_, Some(RoleScope::Group)) => {
            return Err(format!(
                "`{}` is granted over the user's entity only; `scope = \"group\"` is for \
                 `auditor` (and `group_admin`, always group-wide)",
                role.as_str()
            ));
        }
    };
    Ok(MappedRole { role, scope })
}

impl fmt::Debug for OidcConfig {
    /// Written by hand so that the client secret never reaches a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("redirect_url", &self.redirect_url)
            .field("scopes", &self.scopes)
            .field("audiences", &self.audiences)
            .field("require_access_token_type", &self.require_access_token_type)
            .field("authorized_parties", &self.authorized_parties)
            .field("algorithms", &self.algorithms)
            .field("user_name_claim", &self.user_name_claim)
            .field("entity_claim", &self.entity_claim)
            .field("entity_map", &self.entity_map)
            .field("default_entity", &self.default_entity)
            .field("roles_claim", &self.roles_claim)
            .field("role_map", &self.role_map)
            .field("jit_provisioning", &self.jit_provisioning)
            .field("leeway", &self.leeway)
            .field("jwks_min_refetch", &self.jwks_min_refetch)
            .finish()
    }
}
