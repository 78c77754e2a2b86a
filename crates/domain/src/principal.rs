//! Entities and the principals inside them: users and service accounts, and the roles they hold.

use serde::{Deserialize, Serialize};

use crate::{EntityId, ServiceAccountId, UnixMillis, UserId};

/// Lifecycle of an entity, a user or a service account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Active,
    Suspended,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Suspended => "suspended",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "active" => Some(Status::Active),
            "suspended" => Some(Status::Suspended),
            _ => None,
        }
    }
}

/// How a web session was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignInMethod {
    /// Through the identity provider (`/auth/callback`).
    Provider,
    /// With a one-time sign-in link an administrator minted.
    Link,
}

impl SignInMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            SignInMethod::Provider => "provider",
            SignInMethod::Link => "link",
        }
    }

    pub fn parse(s: &str) -> Option<SignInMethod> {
        match s {
            "provider" => Some(SignInMethod::Provider),
            "link" => Some(SignInMethod::Link),
            _ => None,
        }
    }
}

/// A subsidiary or business unit of the group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entity {
    pub id: EntityId,
    pub slug: String,
    pub name: String,
    pub status: Status,
    pub created_at: UnixMillis,
}

/// A person from the corporate directory. Always belongs to one entity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub entity_id: EntityId,
    pub user_name: String,
    pub email: String,
    pub display_name: Option<String>,
    pub external_id: Option<String>,
    pub status: Status,
    pub created_at: UnixMillis,
}

/// A person's account at the identity provider: the `iss` and `sub` of their tokens. A user is
/// bound to it at their first sign-in; the provider's `sub` never changes, whereas user names do.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SignInSubject {
    pub issuer: String,
    pub subject: String,
}

/// An application's identity. Belongs to an entity, except group-level accounts such as the bootstrap
/// administrator, which belong to the group itself (`entity_id: None`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceAccount {
    pub id: ServiceAccountId,
    pub entity_id: Option<EntityId>,
    pub name: String,
    pub status: Status,
    pub created_at: UnixMillis,
}

/// The roles a principal may hold (docs/product.md, "Who uses it"); a closed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    GroupAdmin,
    EntityAdmin,
    Auditor,
    FactoryEngineer,
    /// Risk: approves the factory's use cases (of an entity, or of the group).
    RiskOfficer,
    /// Compliance: approves the factory's use cases as a risk officer does, from the compliance
    /// function (of an entity, or of the group).
    ComplianceOfficer,
    User,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::GroupAdmin => "group_admin",
            Role::EntityAdmin => "entity_admin",
            Role::Auditor => "auditor",
            Role::FactoryEngineer => "factory_engineer",
            Role::RiskOfficer => "risk_officer",
            Role::ComplianceOfficer => "compliance_officer",
            Role::User => "user",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "group_admin" => Some(Role::GroupAdmin),
            "entity_admin" => Some(Role::EntityAdmin),
            "auditor" => Some(Role::Auditor),
            "factory_engineer" => Some(Role::FactoryEngineer),
            "risk_officer" => Some(Role::RiskOfficer),
            "compliance_officer" => Some(Role::ComplianceOfficer),
            "user" => Some(Role::User),
            _ => None,
        }
    }
}

/// A role held by a principal, scoped to one entity or (when `entity_id` is `None`) to the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RoleGrant {
    pub role: Role,
    pub entity_id: Option<EntityId>,
}
