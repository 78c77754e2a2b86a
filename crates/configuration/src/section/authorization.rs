//! Section `[authorization]`: the Cedar policy set deciding admin requests.

use std::path::PathBuf;

use serde::Deserialize;

use crate::error::Collector;

/// Section `[authorization]`: who may do what on the admin API.
///
/// ```toml
/// [authorization]
/// policies = "/etc/fabrique/policies.cedar"
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizationConfig {
    /// Key `policies`: a file of Cedar policies replacing the default set shipped with Fabrique
    /// (docs/authorization.md). It is read and validated against Fabrique's schema when the server
    /// starts; the server refuses to start on any error, listing each with its line. Absent: the
    /// default set.
    pub policies: Option<PathBuf>,
}

/// As written; the keys are documented on [`AuthorizationConfig`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAuthorization {
    pub policies: Option<String>,
}

pub(crate) fn validate(raw: RawAuthorization, errors: &mut Collector) -> AuthorizationConfig {
    let policies = raw.policies.and_then(|path| {
        if path.trim().is_empty() {
            errors.push(
                "authorization.policies",
                "must name a file of Cedar policies (or be left out for the default set)",
            );
            None
        } else {
            Some(PathBuf::from(path))
        }
    });
    AuthorizationConfig { policies }
}
