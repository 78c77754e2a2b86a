//! The HTTP request each command sends: method, path, query and JSON body. One small function
//! per group of commands, so adding a command means adding one arm next to its siblings.

use reqwest::Method;
use serde_json::{Value, json};

use crate::command::{
    AdminCommand, AuditArgs, EntitiesCommand, HoldsCommand, KeysCommand, PoliciesCommand,
    PolicyTarget, PoolCommand, PoolsCommand, RoleArgs, RolesCommand, ScimTokensCommand,
    SeatsCommand, SessionsCommand, UsersCommand,
};
use crate::limits;

/// One call of the admin API, before it is sent.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Request {
    pub(crate) method: Method,
    /// From `/admin/v1`, with every id percent-encoded.
    pub(crate) path: String,
    pub(crate) query: Vec<(&'static str, String)>,
    pub(crate) body: Option<Value>,
    /// A body sent as it is (a suite's JSON Lines), instead of `body`.
    pub(crate) text: Option<String>,
    /// A file sent as it is (a library's document), instead of `body`.
    pub(crate) file: Option<Vec<u8>>,
    /// The file's media type (`application/octet-stream` when `None`).
    pub(crate) media_type: Option<&'static str>,
}

impl Request {
    /// A request with no query and no body.
    pub(crate) fn to(method: Method, path: impl Into<String>) -> Request {
        Request {
            method,
            path: path.into(),
            query: Vec::new(),
            body: None,
            text: None,
            file: None,
            media_type: None,
        }
    }

    pub(crate) fn with_file(self, file: Vec<u8>) -> Request {
        Request {
            file: Some(file),
            ..self
        }
    }

    /// A file sent with its media type.
    pub(crate) fn with_typed_file(self, file: Vec<u8>, media_type: &'static str) -> Request {
        Request {
            file: Some(file),
            media_type: Some(media_type),
            ..self
        }
    }

    pub(crate) fn with_query(self, query: Vec<(&'static str, String)>) -> Request {
        Request { query, ..self }
    }

    pub(crate) fn with_text(self, text: String) -> Request {
        Request {
            text: Some(text),
            ..self
        }
    }

    pub(crate) fn with_body(self, body: Value) -> Request {
        Request {
            body: Some(body),
            ..self
        }
    }
}

/// The request for a command.
pub(crate) fn request_for(command: &AdminCommand) -> Request {
    match command {
        AdminCommand::Entities { command } => entities(command),
        AdminCommand::Users { command } => users(command),
        AdminCommand::Keys { command } => keys(command),
        AdminCommand::ScimTokens { command } => scim_tokens(command),
        AdminCommand::Sessions { command } => sessions(command),
        AdminCommand::Roles { command } => roles(command),
        AdminCommand::Seats { command } => seats(command),
        AdminCommand::Limits { command } => limits::limits_request(command),
        AdminCommand::Budgets { command } => limits::budgets_request(command),
        AdminCommand::Audit(args) => {
            Request::to(Method::GET, "/admin/v1/audit").with_query(audit_query(args))
        }
        AdminCommand::Pools { command } => pools(command),
        AdminCommand::Policies { command } => policies(command),
        AdminCommand::Holds { command } => holds(command),
        AdminCommand::EraseUser { user } => Request::to(
            Method::POST,
            format!("/admin/v1/users/{}/erase", encode_path_segment(user)),
        ),
    }
}

fn entities(command: &EntitiesCommand) -> Request {
    let status = |slug: &str, status: &str| {
        let path = format!("/admin/v1/entities/{}/status", encode_path_segment(slug));
        Request::to(Method::PUT, path).with_body(json!({ "status": status }))
    };
    match command {
        EntitiesCommand::Create { slug, name } => Request::to(Method::POST, "/admin/v1/entities")
            .with_body(json!({"slug": slug, "name": name})),
        EntitiesCommand::List => Request::to(Method::GET, "/admin/v1/entities"),
        EntitiesCommand::Suspend { slug } => status(slug, "suspended"),
        EntitiesCommand::Reactivate { slug } => status(slug, "active"),
    }
}

fn users(command: &UsersCommand) -> Request {
    match command {
        UsersCommand::Create {
            entity,
            user_name,
            email,
            display_name,
        } => Request::to(Method::POST, "/admin/v1/users").with_body(present([
            ("entity", Some(entity.as_str().into())),
            ("user_name", Some(user_name.as_str().into())),
            ("email", Some(email.as_str().into())),
            ("display_name", display_name.as_deref().map(Value::from)),
        ])),
        UsersCommand::List { entity, search } => {
            let mut query = entity_query(entity);
            query.extend(search.iter().map(|q| ("q", q.clone())));
            Request::to(Method::GET, "/admin/v1/users").with_query(query)
        }
        UsersCommand::LoginLink { user } => Request::to(
            Method::POST,
            format!("/admin/v1/users/{}/login-link", encode_path_segment(user)),
        ),
    }
}

fn keys(command: &KeysCommand) -> Request {
    match command {
        KeysCommand::Create {
            user_id,
            entity,
            service_account,
            name,
            classification,
            models,
            expires_in,
            priority,
        } => Request::to(Method::POST, "/admin/v1/keys").with_body(present([
            ("user_id", user_id.as_deref().map(Value::from)),
            ("entity", entity.as_deref().map(Value::from)),
            (
                "service_account",
                service_account.as_deref().map(Value::from),
            ),
            ("name", name.as_deref().map(Value::from)),
            ("classification", classification.as_deref().map(Value::from)),
            ("priority", priority.as_deref().map(Value::from)),
            ("models", (!models.is_empty()).then(|| json!(models))),
            ("expires_in_days", expires_in.map(Value::from)),
        ])),
        KeysCommand::List { entity } => {
            Request::to(Method::GET, "/admin/v1/keys").with_query(entity_query(entity))
        }
        KeysCommand::Revoke { id } => Request::to(
            Method::DELETE,
            format!("/admin/v1/keys/{}", encode_path_segment(id)),
        ),
        KeysCommand::Rotate { id, grace } => Request::to(
            Method::POST,
            format!("/admin/v1/keys/{}/rotate", encode_path_segment(id)),
        )
        .with_body(present([("grace_seconds", grace.map(Value::from))])),
    }
}

fn scim_tokens(command: &ScimTokensCommand) -> Request {
    match command {
        ScimTokensCommand::Create { entity, name } => {
            Request::to(Method::POST, "/admin/v1/scim-tokens").with_body(present([
                ("entity", entity.as_deref().map(Value::from)),
                ("name", name.as_deref().map(Value::from)),
            ]))
        }
        ScimTokensCommand::List { entity } => {
            Request::to(Method::GET, "/admin/v1/scim-tokens").with_query(entity_query(entity))
        }
        ScimTokensCommand::Revoke { id } => Request::to(
            Method::DELETE,
            format!("/admin/v1/scim-tokens/{}", encode_path_segment(id)),
        ),
    }
}

fn sessions(command: &SessionsCommand) -> Request {
    match command {
        SessionsCommand::List { entity } => {
            Request::to(Method::GET, "/admin/v1/sessions").with_query(entity_query(entity))
        }
        SessionsCommand::Revoke {
            user: Some(user), ..
        } => Request::to(
            Method::DELETE,
            format!("/admin/v1/users/{}/sessions", encode_path_segment(user)),
        ),
        SessionsCommand::Revoke { id, user: None } => Request::to(
            Method::DELETE,
            format!(
                "/admin/v1/sessions/{}",
                encode_path_segment(id.as_deref().unwrap_or_default())
            ),
        ),
    }
}

fn roles(command: &RolesCommand) -> Request {
    let path = "/admin/v1/role-grants";
    match command {
        RolesCommand::Grant(RoleArgs { user, role, entity }) => Request::to(Method::POST, path)
            .with_body(json!({"user": user, "role": role, "entity": entity})),
        RolesCommand::Revoke(args) => {
            Request::to(Method::DELETE, path).with_query(role_query(args))
        }
        RolesCommand::List { entity, user } => {
            let mut query = entity_query(entity);
            query.extend(user.iter().map(|user| ("user", user.clone())));
            Request::to(Method::GET, path).with_query(query)
        }
    }
}

fn policies(command: &PoliciesCommand) -> Request {
    match command {
        PoliciesCommand::Show(PolicyTarget { entity, use_case }) => {
            let mut query = entity_query(entity);
            query.extend(use_case.iter().map(|slug| ("use_case", slug.clone())));
            Request::to(Method::GET, "/admin/v1/policies/effective").with_query(query)
        }
        PoliciesCommand::DryRun { target, text } => {
            Request::to(Method::POST, "/admin/v1/policies/dry-run").with_body(present([
                ("text", Some(text.as_str().into())),
                ("entity", target.entity.as_deref().map(Value::from)),
                ("use_case", target.use_case.as_deref().map(Value::from)),
            ]))
        }
    }
}

fn role_query(RoleArgs { user, role, entity }: &RoleArgs) -> Vec<(&'static str, String)> {
    let mut query = vec![("user", user.clone()), ("role", role.clone())];
    query.extend(entity_query(entity));
    query
}

fn holds(command: &HoldsCommand) -> Request {
    match command {
        HoldsCommand::Place {
            user,
            entity,
            reason,
            case_reference,
        } => Request::to(Method::POST, "/admin/v1/legal-holds").with_body(json!({
            "user": user,
            "entity": entity,
            "reason": reason,
            "case_reference": case_reference,
        })),
        HoldsCommand::Lift { id } => Request::to(
            Method::DELETE,
            format!("/admin/v1/legal-holds/{}", encode_path_segment(id)),
        ),
        HoldsCommand::List { entity } => {
            Request::to(Method::GET, "/admin/v1/legal-holds").with_query(entity_query(entity))
        }
    }
}

fn seats(command: &SeatsCommand) -> Request {
    match command {
        SeatsCommand::Pool {
            command: PoolCommand::Set { size },
        } => Request::to(Method::PUT, "/admin/v1/seats/pool").with_body(json!({"size": size.0})),
        SeatsCommand::Pool {
            command: PoolCommand::Show,
        } => Request::to(Method::GET, "/admin/v1/seats/pool"),
        SeatsCommand::Reserve { entity, seats } => Request::to(
            Method::PUT,
            format!("/admin/v1/seats/entities/{}", encode_path_segment(entity)),
        )
        .with_body(json!({"reserved": seats})),
        SeatsCommand::Report { entity } => {
            Request::to(Method::GET, "/admin/v1/seats/report").with_query(entity_query(entity))
        }
    }
}

fn pools(command: &PoolsCommand) -> Request {
    match command {
        PoolsCommand::SetShare {
            pool,
            entity,
            weight,
            min_share,
        } => Request::to(
            Method::PUT,
            format!(
                "/admin/v1/pools/{}/shares/{}",
                encode_path_segment(pool),
                encode_path_segment(entity)
            ),
        )
        .with_body(json!({"weight": weight, "min_share": min_share})),
        PoolsCommand::Shares { pool } => Request::to(
            Method::GET,
            format!("/admin/v1/pools/{}/shares", encode_path_segment(pool)),
        ),
    }
}

/// A JSON object of the fields that are given; the API takes a missing field as "not set".
fn present<const N: usize>(fields: [(&str, Option<Value>); N]) -> Value {
    Value::Object(
        fields
            .into_iter()
            .filter_map(|(name, value)| value.map(|value| (name.to_owned(), value)))
            .collect(),
    )
}

fn audit_query(args: &AuditArgs) -> Vec<(&'static str, String)> {
    let mut query = vec![("limit", args.limit.to_string())];
    for (name, value) in [
        ("entity", &args.entity),
        ("actor", &args.actor),
        ("action", &args.action),
        ("outcome", &args.outcome),
        ("from", &args.from),
        ("to", &args.to),
    ] {
        query.extend(value.iter().map(|v| (name, v.clone())));
    }
    query.extend(args.before.map(|b| ("before", b.to_string())));
    query
}

pub(crate) fn entity_query(entity: &Option<String>) -> Vec<(&'static str, String)> {
    entity.iter().map(|slug| ("entity", slug.clone())).collect()
}

/// Percent-encodes everything but unreserved characters, so an odd id cannot change the path.
pub(crate) fn encode_path_segment(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}
