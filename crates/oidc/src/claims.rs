//! From a verified token's claims to Fabrique's words: the user name, the entity a new user joins,
//! and the roles the provider's groups grant. Pure functions of the claims and the configuration.

use configuration::{MappedRole, OidcConfig, RoleScope, UserNameClaim};
use domain::{EntityId, RoleGrant};
use serde_json::Value;

use crate::verify::Claims;
use access::Rejection;

/// Who the claims say the caller is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The value of the configured user-name claim.
    pub user_name: String,
    pub subject: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    /// The entity slug the provider's claims give, from `entity_claim` (through `entity_map`): an
    /// existing user must belong to it.
    pub claimed_entity: Option<String>,
    /// The entity slug for a new user: the claimed one, else `default_entity`.
    pub entity_slug: Option<String>,
    /// The `role_map` roles of the caller's groups, each with its scope.
    pub roles: Vec<MappedRole>,
}

pub(crate) fn identity(settings: &OidcConfig, claims: &Claims) -> Result<Identity, Rejection> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
    let subject = text("sub").ok_or_else(|| Rejection::MissingClaim("sub".to_owned()))?;
    let user_name_claim = settings.user_name_claim.as_str();
    let user_name = match settings.user_name_claim {
        UserNameClaim::Sub => Some(subject.clone()),
        UserNameClaim::PreferredUsername | UserNameClaim::Email => text(user_name_claim),
    }
    .filter(|name| !name.trim().is_empty())
    .ok_or_else(|| Rejection::MissingClaim(user_name_claim.to_owned()))?;
    let claimed_entity = settings
        .entity_claim
        .as_deref()
        .and_then(text)
        .and_then(|value| {
            if settings.entity_map.is_empty() {
                Some(value)
            } else {
                settings.entity_map.get(&value).cloned()
            }
        });
    let entity_slug = claimed_entity
        .clone()
        .or_else(|| settings.default_entity.clone());
    let mut roles = Vec::new();
    if let Some(claim) = &settings.roles_claim {
        for group in strings(claims.get(claim)) {
            if let Some(&role) = settings.role_map.get(group)
                && !roles.contains(&role)
            {
                roles.push(role);
            }
        }
    }
    Ok(Identity {
        user_name,
        subject,
        email: text("email"),
        display_name: text("name"),
        claimed_entity,
        entity_slug,
        roles,
    })
}

/// The roles as grants: group-wide ones over the whole group, the others over the user's entity.
pub fn grants(roles: &[MappedRole], entity: EntityId) -> Vec<RoleGrant> {
    roles
        .iter()
        .map(|mapped| RoleGrant {
            role: mapped.role,
            entity_id: (mapped.scope == RoleScope::Entity).then_some(entity),
        })
        .collect()
}

/// A claim holding one string or an array of strings (providers use both for groups).
fn strings(value: Option<&Value>) -> impl Iterator<Item = &str> {
    let (one, many) = match value {
        Some(Value::String(s)) => (Some(s.as_str()), None),
        Some(Value::Array(items)) => (None, Some(items.iter().filter_map(Value::as_str))),
        _ => (None, None),
    };
    one.into_iter().chain(many.into_iter().flatten())
}

#[cfg(test)]
mod tests;
