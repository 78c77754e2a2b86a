//! `/admin/v1/policies`: the data policy in force for the callers of an entity, or for their
//! requests naming a use case, and the same policy tried on sample text.
//!
//! - `GET /admin/v1/policies/effective?entity=…&use_case=…` → the policy, where it comes from
//!   and how it softens the entity's own (`configuration::DataPolicies::effective`, the
//!   resolution the gateway applies);
//! - `POST /admin/v1/policies/dry-run` `{"text", "entity"?, "use_case"?}` → what that policy
//!   would redact, pseudonymize, block or flag in the text, with each value's span (UTF-8 byte
//!   offsets), type and actions, the first refusal in the inspect stage's order, and the text as
//!   the model would receive it (`policy::dry_run`).
//!
//! Read by those who read an entity (its administrators and auditors, group-wide auditors and
//! group administrators): `usage::report_entity` narrows an entity's readers to their entity and
//! answers another's as unknown. A use case is found only when a caller of that entity may invoke
//! it; another answers as unknown. Audited `policy.read` and `policy.dry_run`; the dry run's
//! event holds the types and counts found, never the text.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use configuration::{DataPolicy, Effective};
use domain::Entity;
use policy::{DryRun, InputAction, OutputAction, Refusal, TypeCounts};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::authorize::change_event;
use crate::body::{check_slug, json, query};
use crate::caller::Caller;
use crate::usage::report_entity;
use crate::{AdminAction, AdminError, AdminState};

/// The longest sample text a dry run reads, in bytes.
pub(crate) const MAX_SAMPLE_BYTES: usize = 64 * 1024;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct EffectiveQuery {
    /// An entity's slug; absent: the caller's entity (the group's accounts for group-wide readers).
    #[param(pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    entity: Option<String>,
    /// A use case's slug, which that entity's callers may invoke.
    #[param(pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    use_case: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DryRunRequest {
    /// The sample text, at most 64 KiB.
    text: String,
    entity: Option<String>,
    use_case: Option<String>,
}

/// `GET /admin/v1/policies/effective`.
#[utoipa::path(
    get, path = "/admin/v1/policies/effective", tag = "admin",
    params(EffectiveQuery),
    responses(
        (status = 200, description = "The data policy in force for an entity's callers, or their requests naming a use case: `policy`, `source`, `relaxed`.", body = crate::openapi::Object),
    ),
)]
pub(crate) async fn effective(
    State(state): State<AdminState>,
    caller: Caller,
    params: Result<Query<EffectiveQuery>, QueryRejection>,
) -> Result<Json<Value>, AdminError> {
    let params = query(params)?;
    let action = AdminAction::ReadPolicy;
    let target = Target::find(&state, &caller, action, params.entity, params.use_case).await?;
    let policies = state.data_policies.load_full();
    let effective = target.effective(&policies);
    let mut answer = target.describe(&effective);
    answer.insert("policy".into(), policy_json(&effective.policy));
    target.audit(&state, &caller, action, json!({})).await?;
    Ok(Json(Value::Object(answer)))
}

/// `POST /admin/v1/policies/dry-run`.
#[utoipa::path(
    post, path = "/admin/v1/policies/dry-run", tag = "admin",
    request_body = DryRunRequest,
    responses(
        (status = 200, description = "What the data policy in force would do to the sample text: `findings` (type, span, actions), `blocked_term`, `prompt_injection`, `refusal`, `flagged`, `sent`.", body = crate::openapi::Object),
    ),
)]
pub(crate) async fn dry_run(
    State(state): State<AdminState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, AdminError> {
    let request: DryRunRequest = json(body)?;
    if request.text.len() > MAX_SAMPLE_BYTES {
        return Err(AdminError::bad_field(
            "text",
            format!("`text` must be at most {MAX_SAMPLE_BYTES} bytes"),
        ));
    }
    let action = AdminAction::DryRunPolicy;
    let target = Target::find(&state, &caller, action, request.entity, request.use_case).await?;
    let policies = state.data_policies.load_full();
    let effective = target.effective(&policies);
    let run = effective.policy.dry_run(&request.text);
    let mut answer = target.describe(&effective);
    answer.extend(run_json(&request.text, &run));
    let detail = json!({
        "types": counts_json(&found(&run)),
        "refusal": run.refusal.as_ref().map(refusal_code),
        "flagged": run.flagged(),
    });
    target.audit(&state, &caller, action, detail).await?;
    Ok(Json(Value::Object(answer)))
}

/// Whose policy is asked for: the callers of an entity (`None`: the group's own accounts),
/// naming a use case or not.
struct Target {
    entity: Option<Entity>,
    use_case: Option<(String, Option<std::sync::Arc<Value>>)>,
}

impl Target {
    /// Authorizes `action` on the entity and finds the use case among those its callers may
    /// invoke.
    async fn find(
        state: &AdminState,
        caller: &Caller,
        action: AdminAction,
        entity: Option<String>,
        use_case: Option<String>,
    ) -> Result<Target, AdminError> {
        let entity = report_entity(state, caller, action, entity.as_deref()).await?;
        let slug = entity.as_ref().map(|e| e.slug.as_str());
        let use_case = match use_case {
            None => None,
            Some(name) => {
                check_slug("use_case", &name)?;
                let live = state.factory.use_case(&name);
                let Some(live) = live.filter(|u| u.allowed.admits(slug)) else {
                    let whose = slug.map_or("the group's accounts".to_owned(), |s| {
                        format!("callers of entity `{s}`")
                    });
                    return Err(AdminError::NotFound(format!(
                        "no use case `{name}` open to {whose}"
                    )));
                };
                Some((name, live.policy.clone()))
            }
        };
        Ok(Target { entity, use_case })
    }

    fn effective<'a>(&self, policies: &'a configuration::DataPolicies) -> Effective<'a> {
        let (use_case, written) = match &self.use_case {
            Some((slug, written)) => (Some(slug.as_str()), written.as_deref()),
            None => (None, None),
        };
        let entity = self.entity.as_ref().map(|e| e.slug.as_str());
        policies.effective(entity, use_case, written)
    }

    /// The answer's first fields: whose policy, where it comes from, what it softens.
    fn describe(&self, effective: &Effective<'_>) -> Map<String, Value> {
        let mut answer = Map::new();
        answer.insert(
            "entity".into(),
            json!(self.entity.as_ref().map(|e| &e.slug)),
        );
        answer.insert(
            "use_case".into(),
            json!(self.use_case.as_ref().map(|(slug, _)| slug)),
        );
        answer.insert("source".into(), json!(effective.source.as_str()));
        answer.insert("relaxed".into(), json!(effective.relaxed));
        answer
    }

    /// Records the successful read with `detail`, which names the entity and use case too.
    async fn audit(
        &self,
        state: &AdminState,
        caller: &Caller,
        action: AdminAction,
        mut detail: Value,
    ) -> Result<(), AdminError> {
        let entity = self.entity.as_ref();
        detail["entity"] = json!(entity.map(|e| &e.slug));
        detail["use_case"] = json!(self.use_case.as_ref().map(|(slug, _)| slug));
        let mut event = change_event(caller, action.audit_action(), entity.map(|e| e.id), detail);
        event.target = entity.map_or_else(|| "group".to_owned(), |e| e.id.to_string());
        caller.record_read(state, event).await
    }
}

/// A policy as the admin API shows it, with the keys of `[entities.policy]`.
fn policy_json(policy: &DataPolicy) -> Value {
    let input: Map<String, Value> = policy
        .actions
        .iter()
        .map(|(kind, action)| (kind.as_str().to_owned(), json!(action.as_str())))
        .collect();
    let output: Map<String, Value> = policy
        .output
        .iter()
        .map(|(kind, action)| (kind.as_str().to_owned(), json!(action.as_str())))
        .collect();
    json!({
        "actions": input,
        "output": output,
        "blocked_terms": policy.blocked_terms,
        "blocked_terms_action": policy.blocked_terms_action.as_str(),
        "prompt_injection": policy.prompt_injection.map(|a| a.as_str()),
        "trace_content": policy.trace_content,
    })
}

/// A dry run's fields of the answer.
fn run_json(text: &str, run: &DryRun) -> Map<String, Value> {
    let input = |a: Option<InputAction>| a.map_or("pass", InputAction::as_str);
    let output = |a: Option<OutputAction>| a.map_or("pass", OutputAction::as_str);
    let findings: Vec<Value> = run
        .findings
        .iter()
        .map(|f| {
            json!({
                "type": f.span.kind.as_str(),
                "start": f.span.start,
                "end": f.span.end,
                "text": &text[f.span.start..f.span.end],
                "input": input(f.input),
                "output": output(f.output),
            })
        })
        .collect();
    let refusal = run.refusal.as_ref().map(|refusal| {
        let detail = match refusal {
            Refusal::BlockedTerm(term) => term.clone(),
            Refusal::PromptInjection(pattern) => (*pattern).to_owned(),
            Refusal::PersonalData(types) => types.names(),
        };
        json!({"code": refusal_code(refusal), "detail": detail})
    });
    let mut answer = Map::new();
    answer.insert("findings".into(), json!(findings));
    answer.insert(
        "blocked_term".into(),
        json!(
            run.blocked_term
                .as_ref()
                .map(|(term, action)| json!({"term": term, "action": action.as_str()}))
        ),
    );
    answer.insert(
        "prompt_injection".into(),
        json!(
            run.injection
                .map(|(pattern, action)| json!({"pattern": pattern, "action": action.as_str()}))
        ),
    );
    answer.insert("refusal".into(), json!(refusal));
    answer.insert("flagged".into(), json!(run.flagged()));
    answer.insert("sent".into(), json!(run.sent));
    answer
}

/// The inference API's error code for a refusal.
fn refusal_code(refusal: &Refusal) -> &'static str {
    match refusal {
        Refusal::BlockedTerm(_) => "blocked_term",
        Refusal::PromptInjection(_) => "prompt_injection_suspected",
        Refusal::PersonalData(_) => "personal_data_blocked",
    }
}

/// The types found, counted.
fn found(run: &DryRun) -> TypeCounts {
    let mut counts = TypeCounts::default();
    for finding in &run.findings {
        counts.add(finding.span.kind);
    }
    counts
}

fn counts_json(counts: &TypeCounts) -> Value {
    let counts: Map<String, Value> = counts
        .iter()
        .map(|(kind, n)| (kind.as_str().to_owned(), json!(n)))
        .collect();
    Value::Object(counts)
}
