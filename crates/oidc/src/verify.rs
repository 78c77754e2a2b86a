//! JWT verification: signature with the provider's key, `alg` in the allow-list (never `none`,
//! never a symmetric algorithm, never other than the key pins), `iss` exact, `aud` accepted,
//! `exp`/`nbf` with a small leeway. The token's own header chooses nothing but the key id.

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

/// Verifies `token` for one of `audiences` and returns its claims.
pub(crate) async fn verify(
    provider: &Provider,
    settings: &OidcConfig,
    audiences: &[String],
    token: &str,
) -> Result<Claims, Rejection> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| header_problem(token))?;
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
    jsonwebtoken::decode::<Claims>(token, &key.key, &validation)
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
        })
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
