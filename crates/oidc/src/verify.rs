//! JWT verification: signature with the provider's key, `alg` in the allow-list (never `none`,
//! never a symmetric algorithm, never other than the key pins), `iss` exact, `aud` accepted,
//! `exp`/`nbf` with a small leeway. The token's own header chooses nothing but the key id.
//!
//! An access token and an ID token are told apart by what they are for ([`TokenUse`]): an access
//! token must name the API's own audience (never the client id, an ID token's audience), say
//! `typ: at+jwt` where the configuration requires it, and have been issued to an authorized
//! party when the configuration lists them; an ID token must name the client id.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use configuration::{JwtAlgorithm, OidcConfig};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};

use crate::provider::Provider;
use access::Rejection;

/// A verified token's claims.
pub type Claims = Map<String, Value>;

/// What a token is presented for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenUse {
    /// A bearer on the API.
    Access,
    /// The web sign-in's proof of who signed in.
    Id,
}

/// The `typ` of RFC 9068 access tokens, short and as a media type.
const ACCESS_TOKEN_TYPES: [&str; 2] = ["at+jwt", "application/at+jwt"];

/// Verifies `token` for `token_use` and returns its claims.
pub(crate) async fn verify(
    provider: &Provider,
    settings: &OidcConfig,
    token_use: TokenUse,
    token: &str,
) -> Result<Claims, Rejection> {
    let id_audience = [settings.client_id.clone()];
    let audiences = match token_use {
        TokenUse::Access if settings.audiences.is_empty() => {
            return Err(Rejection::AccessTokensOff);
        }
        TokenUse::Access => settings.audiences.as_slice(),
        TokenUse::Id => id_audience.as_slice(),
    };
    let header = jsonwebtoken::decode_header(token).map_err(|_| header_problem(token))?;
    if token_use == TokenUse::Access
        && settings.require_access_token_type
        && !header.typ.as_deref().is_some_and(|typ| {
            ACCESS_TOKEN_TYPES
                .iter()
                .any(|t| typ.eq_ignore_ascii_case(t))
        })
    {
        return Err(Rejection::NotAnAccessToken);
    }
    if !settings
        .algorithms
        .iter()
        .any(|a| to_algorithm(*a) == header.alg)
    {
        return Err(Rejection::AlgorithmNotAllowed(format!("{:?}", header.alg)));
    }
    let key = provider.key(header.kid.as_deref()).await?;
    if key.algorithm.is_some_and(|pinned| pinned != header.alg) {
        return Err(Rejection::AlgorithmNotAllowed(format!("{:?}", header.alg)));
    }
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[settings.issuer.as_str()]);
    validation.set_audience(audiences);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    validation.validate_nbf = true;
    validation.leeway = settings.leeway.as_secs();
    let claims = jsonwebtoken::decode::<Claims>(token, &key.key, &validation)
        .map(|data| data.claims)
        .map_err(|error| match error.kind() {
            ErrorKind::ExpiredSignature => Rejection::Expired,
            ErrorKind::ImmatureSignature => Rejection::NotYetValid,
            ErrorKind::InvalidIssuer => Rejection::WrongIssuer,
            ErrorKind::InvalidAudience => Rejection::WrongAudience,
            ErrorKind::InvalidSignature => Rejection::BadSignature,
            ErrorKind::InvalidAlgorithm => {
                Rejection::AlgorithmNotAllowed(format!("{:?}", header.alg))
            }
            ErrorKind::MissingRequiredClaim(claim) => Rejection::MissingClaim(claim.clone()),
            // A key of another family than the algorithm (an EC key for RS256…) cannot have
            // produced the signature.
            ErrorKind::InvalidKeyFormat
            | ErrorKind::InvalidRsaKey(_)
            | ErrorKind::InvalidEcdsaKey
            | ErrorKind::InvalidEddsaKey => Rejection::BadSignature,
            other => Rejection::Malformed(format!("{other:?}")),
        })?;
    if token_use == TokenUse::Access && !authorized_party(settings, &claims) {
        return Err(Rejection::UnauthorizedParty);
    }
    Ok(claims)
}

/// Whether the client the token was issued to (`azp`, or RFC 9068's `client_id`) may call the
/// API: any client when `authorized_parties` is empty.
fn authorized_party(settings: &OidcConfig, claims: &Claims) -> bool {
    if settings.authorized_parties.is_empty() {
        return true;
    }
    ["azp", "client_id"]
        .iter()
        .find_map(|claim| claims.get(*claim).and_then(Value::as_str))
        .is_some_and(|party| settings.authorized_parties.iter().any(|p| p == party))
}

/// Why the header did not decode: an algorithm jsonwebtoken does not even name (`none`) gets its
/// own reason, anything else is malformed.
fn header_problem(token: &str) -> Rejection {
    #[derive(serde::Deserialize)]
    struct RawHeader {
        alg: String,
    }
    let header = token
        .split('.')
        .next()
        .and_then(|part| URL_SAFE_NO_PAD.decode(part).ok())
        .and_then(|bytes| serde_json::from_slice::<RawHeader>(&bytes).ok());
    match header {
        Some(header) => Rejection::AlgorithmNotAllowed(header.alg),
        None => Rejection::Malformed("the header does not decode".to_owned()),
    }
}

pub(crate) fn to_algorithm(algorithm: JwtAlgorithm) -> Algorithm {
    match algorithm {
        JwtAlgorithm::Rs256 => Algorithm::RS256,
        JwtAlgorithm::Rs384 => Algorithm::RS384,
        JwtAlgorithm::Rs512 => Algorithm::RS512,
        JwtAlgorithm::Ps256 => Algorithm::PS256,
        JwtAlgorithm::Ps384 => Algorithm::PS384,
        JwtAlgorithm::Ps512 => Algorithm::PS512,
        JwtAlgorithm::Es256 => Algorithm::ES256,
        JwtAlgorithm::Es384 => Algorithm::ES384,
        JwtAlgorithm::EdDsa => Algorithm::EdDSA,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unnamed_algorithm_is_reported_as_such() {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert_eq!(
            header_problem(&format!("{header}.e30.")),
            Rejection::AlgorithmNotAllowed("none".to_owned())
        );
        assert!(matches!(header_problem("!!.e30."), Rejection::Malformed(_)));
    }
}
