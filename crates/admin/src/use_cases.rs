//! `/admin/v1/use-cases…`: the AI Factory's registry. Use cases are registered and described,
//! their versions written and moved through their lifecycle (`factory::lifecycle`), their
//! deployed versions' rollout set, and the AI Act register exported.
//!
//! Every route asks Cedar about the use case's owning entity (the group, for a use case of the
//! group itself): factory engineers build, risk officers review (see `policies/default.cedar`).
//! A use case of another entity answers 404, as a missing one. Every change is audited in the
//! same transaction; every transition carries its reason in the audit detail, and
//! `GET …/{slug}/transitions` reads them back from the chain. After each change
//! the live registry the gateway reads is rebuilt from the store.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::{AuditAction, Entity, Priority, Role, now_millis};
use factory::canary::CanaryRule;
use factory::{
    Allowed, Approval, ApprovalNeed, ImpactAssessment, RiskClass, Thresholds, Transition, UseCase,
    Version, VersionSpec, VersionState,
};
use serde::Deserialize;
use serde_json::{Value, json};
use store::{StoreError, StoredApproval, VersionMove};

use crate::authorize::{
    authorize, change_event, require, require_visible, require_visible_on_use_case,
};
use crate::body::{check_slug, check_text, json, query};
use crate::caller::Caller;
use crate::{AdminAction, AdminError, AdminState};

/// A use case as loaded for a route: its definition, versions and owning entity.
pub(crate) struct Loaded {
    pub use_case: UseCase,
    pub versions: Vec<Version>,
    /// `None` for a use case of the group.
    pub owner: Option<Entity>,
}

impl Loaded {
    fn version(&self, number: u32) -> Result<&Version, AdminError> {
        self.versions
            .iter()
            .find(|v| v.number == number)
            .ok_or_else(|| {
                AdminError::NotFound(format!(
                    "use case `{}` has no version {number}",
                    self.use_case.slug
                ))
            })
    }
}

/// The use case `slug`, once the caller may do `action` on it (on its documents, the policies
/// also know whether the caller is among its owners); 404 when it is missing or of another
/// entity.
pub(crate) async fn use_case_for(
    state: &AdminState,
    caller: &Caller,
    action: AdminAction,
    slug: &str,
) -> Result<Loaded, AdminError> {
    check_slug("use_case", slug)?;
    let missing = || AdminError::NotFound(format!("no use case `{slug}`"));
    let Some((use_case, versions)) = state.store.use_case(slug).await? else {
        require_visible(state, caller, action, None, missing).await?;
        return Err(missing());
    };
    let owner = match &use_case.owner_entity {
        Some(owner) => state.store.entity_by_slug(owner).await?,
        None => None,
    };
    let owns = action.on_use_case_documents()
        && is_owner(state, caller, &use_case, owner.as_ref()).await?;
    let target = owner.as_ref().map(|e| e.id);
    require_visible_on_use_case(state, caller, action, target, owns, missing).await?;
    Ok(Loaded {
        use_case,
        versions,
        owner,
    })
}

/// Rebuilds the live registry from the store, after a change.
pub(crate) async fn refresh(state: &AdminState) -> Result<(), AdminError> {
    refresh_registry(&state.store, &state.factory).await?;
    Ok(())
}

/// Rebuilds `live` from the store: at start, after a change, and periodically (so replicas
/// converge on each other's changes).
pub async fn refresh_registry(
    store: &store::Store,
    live: &factory::Live,
) -> Result<(), StoreError> {
    let reload = live.begin_reload();
    let all = store.use_cases().await?;
    live.replace(reload, &all);
    Ok(())
}

/// The fields of a use case a caller writes; all optional on update.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct Fields {
    slug: Option<String>,
    name: Option<String>,
    purpose: Option<String>,
    owner_entity: Option<String>,
    owners: Option<Vec<String>>,
    /// `"all"`, or entity slugs.
    allowed_entities: Option<Allowed>,
    classification: Option<String>,
    risk_class: Option<String>,
    impact_assessment: Option<String>,
    impact_documents: Option<Vec<String>>,
    priority: Option<String>,
    thresholds: Option<Thresholds>,
    canary: Option<CanaryRule>,
    /// Its data policy, with the keys of `[entities.policy]`; it may only tighten the owning
    /// entity's. `{}` drops it.
    policy: Option<Value>,
}

/// `POST /admin/v1/use-cases` → 201 with the use case.
#[utoipa::path(
    post, path = "/admin/v1/use-cases", tag = "use_cases",
    request_body = crate::openapi::Object,
    responses(
        (status = 201, description = "Registers a use case.", body = crate::openapi::Object),
    ),
)]
pub(crate) async fn create(
    State(state): State<AdminState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), AdminError> {
    let fields: Fields = json(body)?;
    let slug = fields
        .slug
        .clone()
        .ok_or_else(|| AdminError::bad_field("slug", "`slug` is required"))?;
    check_slug("slug", &slug)?;
    let owner = match fields.owner_entity.as_deref() {
        Some(owner) => Some(
            crate::users::entity_for(&state, &caller, AdminAction::CreateUseCase, owner).await?,
        ),
        None => {
            require(&state, &caller, AdminAction::CreateUseCase, None).await?;
            None
        }
    };
    let risk = fields
        .risk_class
        .as_deref()
        .ok_or_else(|| AdminError::bad_field("risk_class", "`risk_class` is required"))?;
    let mut use_case = UseCase {
        slug,
        name: String::new(),
        purpose: String::new(),
        owner_entity: owner.as_ref().map(|e| e.slug.clone()),
        owners: Vec::new(),
        allowed: Allowed::Only(Vec::new()),
        classification: None,
        risk: parse_risk(risk)?,
        impact: ImpactAssessment::NotStarted,
        impact_documents: Vec::new(),
        priority: None,
        thresholds: Thresholds::default(),
        canary: CanaryRule::default(),
        policy: None,
        source: factory::registry::API_SOURCE.to_owned(),
        retired: false,
        created_at: now_millis(),
    };
    apply(&state, &mut use_case, fields).await?;
    if use_case.name.is_empty() || use_case.purpose.is_empty() {
        return Err(AdminError::bad_request(
            "`name` and `purpose` are required: the register shows what each AI system is for",
        ));
    }
    let audit = use_case_event(
        &caller,
        AuditAction::UseCaseCreate,
        &use_case,
        owner.as_ref(),
        json!({"use_case": &use_case}),
    );
    state
        .store
        .create_use_case(&use_case, owner.as_ref().map(|e| e.id), &audit)
        .await
        .map_err(conflict)?;
    refresh(&state).await?;
    Ok((StatusCode::CREATED, Json(use_case_json(&use_case, &[]))))
}

/// `PATCH /admin/v1/use-cases/{slug}`: changes the given fields (not the slug or the owner).
#[utoipa::path(
    patch, path = "/admin/v1/use-cases/{slug}", tag = "use_cases",
    params(("slug" = String, Path, description = "The use case's slug")),
    request_body = crate::openapi::Object,
    responses(
        (status = 200, description = "Changes a use case's fields.", body = crate::openapi::Object),
    ),
)]
pub(crate) async fn update(
    State(state): State<AdminState>,
    caller: Caller,
    Path(slug): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, AdminError> {
    let fields: Fields = json(body)?;
    if fields.slug.is_some() || fields.owner_entity.is_some() {
        return Err(AdminError::bad_request(
            "a use case's `slug` and `owner_entity` cannot change: register a new one",
        ));
    }
    let mut loaded = use_case_for(&state, &caller, AdminAction::UpdateUseCase, &slug).await?;
    let before = loaded.use_case.clone();
    apply(&state, &mut loaded.use_case, fields).await?;
    let in_service = loaded
        .versions
        .iter()
        .any(|v| matches!(v.state, VersionState::Approved | VersionState::Deployed));
    if in_service && loaded.use_case.risk != before.risk {
        return Err(AdminError::Conflict(
            "the risk class cannot change while a version is approved or deployed: retire them first"
                .to_owned(),
        ));
    }
    let audit = use_case_event(
        &caller,
        AuditAction::UseCaseUpdate,
        &loaded.use_case,
        loaded.owner.as_ref(),
        json!({"before": before, "after": &loaded.use_case}),
    );
    state
        .store
        .update_use_case(&loaded.use_case, &audit)
        .await?;
    refresh(&state).await?;
    Ok(Json(use_case_json(&loaded.use_case, &loaded.versions)))
}

/// `GET /admin/v1/use-cases/{slug}` → the use case with its versions.
#[utoipa::path(
    get, path = "/admin/v1/use-cases/{slug}", tag = "use_cases",
    params(("slug" = String, Path, description = "The use case's slug")),
    responses(
        (status = 200, description = "A use case, its versions and their approvals.", body = crate::openapi::Object),
    ),
)]
pub(crate) async fn get(
    State(state): State<AdminState>,
    caller: Caller,
    Path(slug): Path<String>,
) -> Result<Json<Value>, AdminError> {
    let loaded = use_case_for(&state, &caller, AdminAction::ReadUseCases, &slug).await?;
    let mut body = use_case_json(&loaded.use_case, &loaded.versions);
    let approvals = state.store.approvals(&slug).await?;
    let approvals = approvals
        .iter()
        .map(|(number, given)| (number.to_string(), approvals_json(given)));
    body["approvals"] = Value::Object(approvals.collect());
    Ok(Json(body))
}

/// `GET /admin/v1/use-cases` → the use cases the caller may read.
#[utoipa::path(
    get, path = "/admin/v1/use-cases", tag = "use_cases",
    responses(
        (status = 200, description = "The use cases the caller may read.", body = crate::openapi::Listing),
    ),
)]
pub(crate) async fn list(
    State(state): State<AdminState>,
    caller: Caller,
) -> Result<Json<Value>, AdminError> {
    let visible = visible(&state, &caller, AdminAction::ReadUseCases).await?;
    let data: Vec<Value> = visible
        .iter()
        .map(|(u, versions)| use_case_json(u, versions))
        .collect();
    Ok(Json(json!({ "data": data })))
}

/// The use cases whose owner the caller may do `action` on; 403 when none could be.
pub(crate) async fn visible(
    state: &AdminState,
    caller: &Caller,
    action: AdminAction,
) -> Result<Vec<(UseCase, Vec<Version>)>, AdminError> {
    let group_wide = authorize(&caller.0, action, None).is_ok();
    if !group_wide && !crate::authorize::acts_in_some_entity(&caller.0, action) {
        require(state, caller, action, None).await?;
    }
    let slugs = crate::users::entity_slugs(state).await?;
    let all = state.store.use_cases().await?;
    Ok(all
        .into_iter()
        .filter(|(u, _)| {
            let owner = u
                .owner_entity
                .as_deref()
                .and_then(|slug| slugs.iter().find(|(_, s)| *s == slug).map(|(id, _)| *id));
            group_wide || owner.is_some_and(|id| authorize(&caller.0, action, Some(id)).is_ok())
        })
        .collect())
}

/// Writes `fields` over `use_case`, checking each.
async fn apply(
    state: &AdminState,
    use_case: &mut UseCase,
    fields: Fields,
) -> Result<(), AdminError> {
    if let Some(name) = fields.name {
        check_text("name", &name, 200)?;
        use_case.name = name;
    }
    if let Some(purpose) = fields.purpose {
        check_text("purpose", &purpose, 4_000)?;
        use_case.purpose = purpose;
    }
    if let Some(owners) = fields.owners {
        for owner in &owners {
            check_text("owners", owner, 200)?;
            check_owner(state, use_case, owner).await?;
        }
        use_case.owners = owners;
    }
    if let Some(allowed) = fields.allowed_entities {
        use_case.allowed = allowed;
    }
    if let Allowed::Only(slugs) = &mut use_case.allowed {
        let known = crate::users::entity_slugs(state).await?;
        for slug in slugs.iter() {
            if !known.values().any(|s| s == slug) {
                return Err(AdminError::bad_field(
                    "allowed_entities",
                    format!("no entity with slug `{slug}`"),
                ));
            }
        }
        // The owning entity always calls its own use case.
        if let Some(owner) = &use_case.owner_entity
            && !slugs.contains(owner)
        {
            slugs.insert(0, owner.clone());
        }
    }
    if let Some(level) = fields.classification {
        if state.classifications.parse(&level).is_none() {
            return Err(AdminError::bad_field(
                "classification",
                format!("unknown classification level `{level}`"),
            ));
        }
        use_case.classification = Some(level);
    }
    if let Some(risk) = fields.risk_class {
        use_case.risk = parse_risk(&risk)?;
    }
    if let Some(impact) = fields.impact_assessment {
        use_case.impact = ImpactAssessment::parse(&impact).ok_or_else(|| {
            AdminError::bad_field(
                "impact_assessment",
                "expected not_started, in_progress, completed or not_required",
            )
        })?;
    }
    if let Some(documents) = fields.impact_documents {
        use_case.impact_documents = documents;
    }
    if let Some(priority) = fields.priority {
        use_case.priority = Some(Priority::parse(&priority).ok_or_else(|| {
            AdminError::bad_field("priority", "expected interactive, standard or batch")
        })?);
    }
    if let Some(thresholds) = fields.thresholds {
        let in_range = |x: f64| (0.0..=1.0).contains(&x);
        if !in_range(thresholds.pass_rate) || !thresholds.min_scores.values().all(|x| in_range(*x))
        {
            return Err(AdminError::bad_field(
                "thresholds",
                "thresholds are between 0 and 1",
            ));
        }
        if let Some(unknown) = thresholds
            .min_scores
            .keys()
            .find(|k| factory::grading::GraderKind::parse(k).is_none())
        {
            return Err(AdminError::bad_field(
                "thresholds",
                format!("unknown grader `{unknown}`"),
            ));
        }
        use_case.thresholds = thresholds;
    }
    if let Some(canary) = fields.canary {
        use_case.canary = canary;
    }
    if let Some(policy) = fields.policy {
        use_case.policy = tightening_policy(state, use_case, policy)?;
    }
    Ok(())
}

/// An owner is a user of the directory (by id or user name), of the owning entity for an
/// entity's use case: accountability rests on people the directory knows. A user of another
/// entity gets the same answer as a missing one, so nothing is learnt of other entities.
async fn check_owner(
    state: &AdminState,
    use_case: &UseCase,
    owner: &str,
) -> Result<(), AdminError> {
    let found = match owner.parse::<domain::UserId>() {
        Ok(id) => state.store.user(id).await?,
        Err(_) => state.store.user_by_name(owner).await?,
    };
    let Some(entity) = use_case.owner_entity.as_deref() else {
        return match found {
            Some(_) => Ok(()),
            None => Err(AdminError::bad_field(
                "owners",
                format!("owner `{owner}` is not a user of the directory"),
            )),
        };
    };
    let slugs = crate::users::entity_slugs(state).await?;
    match found.and_then(|user| slugs.get(&user.entity_id).cloned()) {
        Some(slug) if slug == entity => Ok(()),
        _ => Err(AdminError::bad_field(
            "owners",
            format!("owner `{owner}` is not a user of entity `{entity}`"),
        )),
    }
}

/// Whether the caller is among the owners `use_case` names (by user id or user name), and, for
/// an entity's use case, a user of that entity still.
async fn is_owner(
    state: &AdminState,
    caller: &Caller,
    use_case: &UseCase,
    owner: Option<&Entity>,
) -> Result<bool, AdminError> {
    let Some(user_id) = caller.0.user_id() else {
        return Ok(false);
    };
    if use_case.owners.is_empty() || owner.is_some_and(|e| caller.0.entity_id != Some(e.id)) {
        return Ok(false);
    }
    let id = user_id.to_string();
    if use_case.owners.contains(&id) {
        return Ok(true);
    }
    let name = state.store.user(user_id).await?.map(|user| user.user_name);
    Ok(name.is_some_and(|name| use_case.owners.contains(&name)))
}

/// A use case's data policy as written, checked: valid keys and actions, and no softer than its
/// owning entity's policy (the group's, for the group's own use cases) on any point, each
/// softening named in the 400. An empty object is no policy of its own.
fn tightening_policy(
    state: &AdminState,
    use_case: &UseCase,
    policy: Value,
) -> Result<Option<Value>, AdminError> {
    if use_case.source == factory::registry::CONFIGURATION_SOURCE {
        return Err(AdminError::bad_field(
            "policy",
            "this use case is declared in the configuration file: its policy is set there",
        ));
    }
    if policy.as_object().is_some_and(serde_json::Map::is_empty) {
        return Ok(None);
    }
    let owner = use_case.owner_entity.as_deref();
    let policies = state.data_policies.load();
    let base = policies.of(owner);
    let laid = configuration::DataPolicy::laid_over(&policy, base)
        .map_err(|problems| AdminError::bad_field("policy", problems.join("; ")))?;
    let softer = laid.relaxations(base);
    if !softer.is_empty() {
        let whose = owner.map_or("the group's".to_owned(), |slug| {
            format!("entity `{slug}`'s")
        });
        return Err(AdminError::bad_field(
            "policy",
            format!(
                "a use case's policy may only tighten {whose}, which this one softens: {}",
                softer.join(", ")
            ),
        ));
    }
    Ok(Some(policy))
}

fn parse_risk(name: &str) -> Result<RiskClass, AdminError> {
    RiskClass::parse(name).ok_or_else(|| {
        AdminError::bad_field(
            "risk_class",
            "expected minimal, limited, high or prohibited",
        )
    })
}

fn conflict(error: StoreError) -> AdminError {
    match error {
        StoreError::Conflict(message) | StoreError::VersionMismatch(message) => {
            AdminError::Conflict(message)
        }
        other => other.into(),
    }
}

/// An audit event about a use case, in its owning entity, targeting `slug` (or `slug@n`).
pub(crate) fn use_case_event(
    caller: &Caller,
    action: AuditAction,
    use_case: &UseCase,
    owner: Option<&Entity>,
    detail: Value,
) -> domain::AuditEvent {
    let mut event = change_event(caller, action, owner.map(|e| e.id), detail);
    event.target = use_case.slug.clone();
    event
}

/// `POST /admin/v1/use-cases/{slug}/versions` → 201 `{"number": n, …}`: a new draft.
#[utoipa::path(
    post, path = "/admin/v1/use-cases/{slug}/versions", tag = "use_cases",
    params(("slug" = String, Path, description = "The use case's slug")),
    request_body = crate::openapi::Object,
    responses(
        (status = 201, description = "Writes a draft version.", body = crate::openapi::Object),
    ),
)]
pub(crate) async fn create_version(
    State(state): State<AdminState>,
    caller: Caller,
    Path(slug): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), AdminError> {
    let spec: VersionSpec = json(body)?;
    let loaded = use_case_for(&state, &caller, AdminAction::CreateVersion, &slug).await?;
    check_spec(&state, &spec)?;
    let at = now_millis();
    let audit = use_case_event(
        &caller,
        AuditAction::UseCaseVersionCreate,
        &loaded.use_case,
        loaded.owner.as_ref(),
        json!({"digest": spec.digest(), "model": spec.model}),
    );
    let number = state.store.create_version(&slug, &spec, at, &audit).await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({"use_case": slug, "number": number, "state": "draft", "digest": spec.digest()}),
        ),
    ))
}

/// `PUT /admin/v1/use-cases/{slug}/versions/{n}`: replaces a draft's content; 409 once it was
/// submitted (its content is frozen: write a new version).
#[utoipa::path(
    put, path = "/admin/v1/use-cases/{slug}/versions/{number}", tag = "use_cases",
    params(("slug" = String, Path, description = "The use case's slug"), ("number" = u32, Path, description = "The version's number")),
    request_body = crate::openapi::Object,
    responses(
        (status = 200, description = "Replaces a draft's content.", body = crate::openapi::Object),
    ),
)]
pub(crate) async fn update_version(
    State(state): State<AdminState>,
    caller: Caller,
    Path((slug, number)): Path<(String, u32)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, AdminError> {
    let spec: VersionSpec = json(body)?;
    let loaded = use_case_for(&state, &caller, AdminAction::CreateVersion, &slug).await?;
    let version = loaded.version(number)?;
    check_spec(&state, &spec)?;
    let mut audit = use_case_event(
        &caller,
        AuditAction::UseCaseVersionCreate,
        &loaded.use_case,
        loaded.owner.as_ref(),
        json!({"digest": spec.digest(), "replaces": version.spec.digest()}),
    );
    audit.target = format!("{slug}@{number}");
    if !state
        .store
        .update_draft(&slug, number, &spec, &audit)
        .await?
    {
        return Err(AdminError::Conflict(format!(
            "version {number} is `{}`: only a draft changes; write a new version",
            version.state.as_str()
        )));
    }
    Ok(Json(
        json!({"use_case": slug, "number": number, "state": "draft", "digest": spec.digest()}),
    ))
}

/// A version's content is usable: configured models, a well-formed template, a schema that
/// compiles, tools and few-shot messages that are objects.
fn check_spec(state: &AdminState, spec: &VersionSpec) -> Result<(), AdminError> {
    let model_names = state.model_names.load();
    for model in std::iter::once(&spec.model).chain(&spec.fallbacks) {
        if !model_names.iter().any(|m| m == model) {
            return Err(AdminError::bad_field(
                "model",
                format!("unknown model `{model}`; expected a configured model's public name"),
            ));
        }
    }
    factory::template::variables(&spec.template)
        .map_err(|e| AdminError::bad_field("template", e.to_string()))?;
    if let Some(schema) = &spec.output_schema {
        factory::live::compile_schema(schema).map_err(|e| {
            AdminError::bad_field("output_schema", format!("invalid JSON schema: {e}"))
        })?;
    }
    if !spec
        .tools
        .iter()
        .chain(&spec.few_shot)
        .all(Value::is_object)
    {
        return Err(AdminError::bad_request(
            "`tools` and `few_shot` are lists of JSON objects",
        ));
    }
    for reserved in ["model", "messages", "stream", "tools", "response_format"] {
        if spec.parameters.contains_key(reserved) {
            return Err(AdminError::bad_field(
                "parameters",
                format!("`{reserved}` is not a parameter: the version and the caller set it"),
            ));
        }
    }
    Ok(())
}

/// `GET /admin/v1/use-cases/{slug}/versions/{n}/diff?from=m` → what changed from `m` (default
/// the previous version) to `n`.
#[utoipa::path(
    get, path = "/admin/v1/use-cases/{slug}/versions/{number}/diff", tag = "use_cases",
    params(("slug" = String, Path, description = "The use case's slug"), ("number" = u32, Path, description = "The version's number"), DiffQuery),
    responses(
        (status = 200, description = "What changed from one version to another.", body = crate::openapi::Object),
    ),
)]
pub(crate) async fn diff(
    State(state): State<AdminState>,
    caller: Caller,
    Path((slug, number)): Path<(String, u32)>,
    params: Result<Query<DiffQuery>, QueryRejection>,
) -> Result<Json<Value>, AdminError> {
    let params = query(params)?;
    let loaded = use_case_for(&state, &caller, AdminAction::ReadUseCases, &slug).await?;
    let new = loaded.version(number)?;
    let from = params.from.unwrap_or(number.saturating_sub(1));
    let old = loaded.version(from)?;
    let diff = factory::diff::diff(&old.spec, &new.spec);
    Ok(Json(json!({"from": from, "to": number, "diff": diff})))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct DiffQuery {
    from: Option<u32>,
}

/// `POST /admin/v1/use-cases/{slug}/versions/{n}/transitions` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TransitionRequest {
    transition: String,
    reason: String,
    /// For `approve`: the evaluation run the approval relies on.
    eval_run: Option<String>,
    /// For `deploy`: the traffic weight (default 100).
    weight: Option<u32>,
    /// For `deploy`: only these entities' callers.
    entities: Option<Vec<String>>,
}

/// `POST /admin/v1/use-cases/{slug}/versions/{n}/transitions` → the version's new state.
#[utoipa::path(
    post, path = "/admin/v1/use-cases/{slug}/versions/{number}/transitions", tag = "use_cases",
    params(("slug" = String, Path, description = "The use case's slug"), ("number" = u32, Path, description = "The version's number")),
    request_body = crate::openapi::Object,
    responses(
        (status = 200, description = "Moves a version through its lifecycle, with a reason.", body = crate::openapi::Object),
    ),
)]
pub(crate) async fn transition(
    State(state): State<AdminState>,
    caller: Caller,
    Path((slug, number)): Path<(String, u32)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, AdminError> {
    let request: TransitionRequest = json(body)?;
    let transition = Transition::parse(&request.transition).ok_or_else(|| {
        AdminError::bad_field(
            "transition",
            "expected submit, return, approve, deploy, rollback or retire",
        )
    })?;
    check_text("reason", &request.reason, 2_000)?;
    let action = AdminAction::for_transition(transition);
    let loaded = use_case_for(&state, &caller, action, &slug).await?;
    let version = loaded.version(number)?.clone();
    let to = transition
        .target(version.state, loaded.use_case.risk, &request.reason)
        .map_err(|e| AdminError::Conflict(e.to_string()))?;
    let mut approval = None;
    let mut detail = json!({
        "version": number, "from": version.state.as_str(), "to": to.as_str(),
        "reason": request.reason, "digest": version.spec.digest(),
    });
    let to = match transition {
        Transition::Approve => {
            let run = request.eval_run.as_deref().ok_or_else(|| {
                AdminError::bad_field(
                    "eval_run",
                    "an approval names the evaluation run it relies on",
                )
            })?;
            crate::evaluations::gate(&state, &loaded, &version, run).await?;
            // A high-risk use case is approved on its completed impact assessment, documented.
            let documents = state.store.use_case_documents(&slug).await?.len();
            factory::lifecycle::impact_ready(
                loaded.use_case.risk,
                loaded.use_case.impact,
                documents,
            )
            .map_err(|e| AdminError::Conflict(e.to_string()))?;
            let mut by_version = state.store.approvals(&slug).await?;
            let given = by_version.remove(&number).unwrap_or_default();
            let this = Approval {
                approver: caller.actor(),
                group_level: holds_group_review(&caller),
            };
            let mut all: Vec<Approval> = given.iter().map(|a| a.approval.clone()).collect();
            all.push(this.clone());
            let need = factory::lifecycle::approval_need(loaded.use_case.risk, &all)
                .map_err(|e| AdminError::Conflict(e.to_string()))?;
            detail["eval_run"] = json!(run);
            detail["group_level"] = json!(this.group_level);
            approval = Some(StoredApproval {
                approval: this,
                eval_run: run.to_owned(),
                reason: request.reason.clone(),
                at: now_millis(),
            });
            match need {
                ApprovalNeed::Complete => to,
                ApprovalNeed::SecondGroupApprover => {
                    detail["to"] = json!(version.state.as_str());
                    detail["awaiting"] = json!("a second approval, at group level");
                    version.state
                }
            }
        }
        _ => to,
    };
    let weight = match transition {
        Transition::Deploy => request.weight.unwrap_or(100),
        _ if to == VersionState::Deployed => version.weight,
        _ => 0,
    };
    let entities = match transition {
        Transition::Deploy => request.entities.clone(),
        _ => None,
    };
    detail["weight"] = json!(weight);
    let mut audit = use_case_event(
        &caller,
        action.audit_action(),
        &loaded.use_case,
        loaded.owner.as_ref(),
        detail,
    );
    audit.target = format!("{slug}@{number}");
    let change = VersionMove {
        use_case: &slug,
        number,
        from: version.state,
        to,
        weight,
        rollout_entities: entities.as_deref(),
    };
    state
        .store
        .move_version(&change, approval.as_ref(), &audit)
        .await
        .map_err(conflict)?;
    refresh(&state).await?;
    Ok(Json(
        json!({"use_case": slug, "number": number, "state": to.as_str(), "weight": weight}),
    ))
}

/// Whether the caller reviews at group level (a group-wide risk or compliance officer, or a
/// group administrator): the second approval a high-risk use case needs.
fn holds_group_review(caller: &Caller) -> bool {
    caller.0.roles.iter().any(|g| {
        g.entity_id.is_none()
            && matches!(
                g.role,
                Role::RiskOfficer | Role::ComplianceOfficer | Role::GroupAdmin
            )
    })
}

/// The audit actions that move a use case's versions or their traffic.
static MOVES: [AuditAction; 7] = [
    AuditAction::UseCaseSubmit,
    AuditAction::UseCaseReturn,
    AuditAction::UseCaseApprove,
    AuditAction::UseCaseDeploy,
    AuditAction::UseCaseRolloutSet,
    AuditAction::UseCaseRollback,
    AuditAction::UseCaseRetire,
];

/// `GET /admin/v1/use-cases/{slug}/transitions` → the moves of its versions (and of its
/// traffic), newest first, each with its actor, reason and detail, read from the audit chain
/// that recorded them: the history cannot say other than the evidence.
#[utoipa::path(
    get, path = "/admin/v1/use-cases/{slug}/transitions", tag = "use_cases",
    params(("slug" = String, Path, description = "The use case's slug")),
    responses(
        (status = 200, description = "The use case's transitions with their reasons, newest first.", body = crate::openapi::Listing),
    ),
)]
pub(crate) async fn transitions(
    State(state): State<AdminState>,
    caller: Caller,
    Path(slug): Path<String>,
) -> Result<Json<Value>, AdminError> {
    use_case_for(&state, &caller, AdminAction::ReadUseCases, &slug).await?;
    let actions: Vec<&str> = MOVES.iter().map(AuditAction::as_str).collect();
    let events = state.store.target_history(&slug, &actions, 1_000).await?;
    let data: Vec<Value> = events
        .iter()
        .map(|event| {
            let detail: Value = serde_json::from_str(&event.detail).unwrap_or(Value::Null);
            let transition = event
                .action
                .strip_prefix("use_case.")
                .unwrap_or(&event.action);
            json!({
                "seq": event.seq, "at": event.at, "actor": event.actor,
                "transition": transition, "version": detail["version"],
                "from": detail["from"], "to": detail["to"], "reason": detail["reason"],
                "detail": detail,
            })
        })
        .collect();
    Ok(Json(json!({"use_case": slug, "data": data})))
}

/// `PUT /admin/v1/use-cases/{slug}/rollout` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RolloutRequest {
    reason: String,
    versions: Vec<RolloutArm>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RolloutArm {
    version: u32,
    weight: u32,
    entities: Option<Vec<String>>,
}

/// `PUT /admin/v1/use-cases/{slug}/rollout`: the weights of deployed versions (A/B, canary).
#[utoipa::path(
    put, path = "/admin/v1/use-cases/{slug}/rollout", tag = "use_cases",
    params(("slug" = String, Path, description = "The use case's slug")),
    request_body = crate::openapi::Object,
    responses(
        (status = 200, description = "Sets the traffic weights of deployed versions.", body = crate::openapi::Object),
    ),
)]
pub(crate) async fn set_rollout(
    State(state): State<AdminState>,
    caller: Caller,
    Path(slug): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, AdminError> {
    let request: RolloutRequest = json(body)?;
    check_text("reason", &request.reason, 2_000)?;
    let loaded = use_case_for(&state, &caller, AdminAction::SetRollout, &slug).await?;
    let weights: Vec<(u32, u32, Option<Vec<String>>)> = request
        .versions
        .iter()
        .map(|a| (a.version, a.weight, a.entities.clone()))
        .collect();
    let shares: BTreeMap<u32, u32> = weights.iter().map(|(v, w, _)| (*v, *w)).collect();
    let audit = use_case_event(
        &caller,
        AuditAction::UseCaseRolloutSet,
        &loaded.use_case,
        loaded.owner.as_ref(),
        json!({"reason": request.reason, "weights": shares}),
    );
    state
        .store
        .set_rollout(&slug, &weights, &audit)
        .await
        .map_err(conflict)?;
    refresh(&state).await?;
    Ok(Json(json!({"use_case": slug, "weights": shares})))
}

/// `GET /admin/v1/use-cases/{slug}/stats?days=N`: each version's traffic, errors, refusals by
/// the data policy, cost, latency and feedback over the last `days` (default 30), side by side.
#[utoipa::path(
    get, path = "/admin/v1/use-cases/{slug}/stats", tag = "use_cases",
    params(("slug" = String, Path, description = "The use case's slug"), StatsQuery),
    responses(
        (status = 200, description = "Each version's requests, errors, refusals by the data policy, cost, latency and feedback.", body = crate::openapi::Listing),
    ),
)]
pub(crate) async fn stats(
    State(state): State<AdminState>,
    caller: Caller,
    Path(slug): Path<String>,
    params: Result<Query<StatsQuery>, QueryRejection>,
) -> Result<Json<Value>, AdminError> {
    let params = query(params)?;
    let days = params.days.unwrap_or(30).clamp(1, 3_650);
    let loaded = use_case_for(&state, &caller, AdminAction::ReadUseCases, &slug).await?;
    let since = now_millis() - i64::from(days) * 86_400_000;
    let stats = state.store.version_stats(&slug, since).await?;
    let data: Vec<Value> = loaded
        .versions
        .iter()
        .map(|v| {
            let (s, cost, duration) = stats
                .iter()
                .find(|(n, ..)| *n == v.number)
                .map(|(_, s, c, d)| (*s, *c, *d))
                .unwrap_or_default();
            let rate = |part: u64, whole: u64| {
                if whole == 0 {
                    0.0
                } else {
                    part as f64 / whole as f64
                }
            };
            json!({
                "version": v.number, "state": v.state.as_str(), "weight": v.weight,
                "requests": s.requests, "errors": s.errors,
                "error_rate": rate(s.errors, s.requests),
                "policy_refusals": s.policy_refusals,
                "cost_micros": cost,
                "mean_duration_ms": duration.checked_div(s.requests).unwrap_or(0),
                "thumbs_up": s.thumbs_up, "thumbs_down": s.thumbs_down,
                "negative_feedback_rate": rate(s.thumbs_down, s.thumbs_up + s.thumbs_down),
            })
        })
        .collect();
    Ok(Json(json!({"use_case": slug, "days": days, "data": data})))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatsQuery {
    days: Option<u32>,
}

/// `GET /admin/v1/use-cases/export?format=csv|json`: the AI Act register of the use cases the
/// caller may export (every entity's for group-wide roles, else their entities').
#[utoipa::path(
    get, path = "/admin/v1/use-cases/export", tag = "use_cases",
    params(ExportQuery),
    responses(
        (status = 200, description = "The AI Act register, JSON or CSV.", content((crate::openapi::Listing = "application/json"), (String = "text/csv"))),
    ),
)]
pub(crate) async fn export(
    State(state): State<AdminState>,
    caller: Caller,
    params: Result<Query<ExportQuery>, QueryRejection>,
) -> Result<Response, AdminError> {
    let params = query(params)?;
    let visible = visible(&state, &caller, AdminAction::ExportRegister).await?;
    let documents = state.store.use_case_document_names().await?;
    let mut rows = Vec::with_capacity(visible.len());
    for (use_case, versions) in &visible {
        let last = state
            .store
            .eval_runs(&use_case.slug)
            .await?
            .into_iter()
            .find_map(|run| {
                let summary = run.summary?;
                Some(format!(
                    "{} v{} pass rate {:.3}",
                    run.id, run.version, summary.pass_rate
                ))
            });
        let names = documents.get(&use_case.slug).map_or(&[][..], Vec::as_slice);
        rows.push(factory::register::row(use_case, versions, names, last));
    }
    let mut audit = change_event(
        &caller,
        AuditAction::UseCaseExport,
        None,
        json!({"rows": rows.len(), "format": params.format.as_deref().unwrap_or("json")}),
    );
    audit.target = "register".to_owned();
    state.store.append_audit(&audit).await?;
    match params.format.as_deref() {
        Some("csv") => Ok((
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            factory::register::to_csv(&rows),
        )
            .into_response()),
        None | Some("json") => Ok(Json(json!({ "data": rows })).into_response()),
        Some(other) => Err(AdminError::bad_field(
            "format",
            format!("unknown format `{other}`; expected csv or json"),
        )),
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExportQuery {
    format: Option<String>,
}

fn use_case_json(use_case: &UseCase, versions: &[Version]) -> Value {
    let mut body = serde_json::to_value(use_case).unwrap_or(Value::Null);
    body["status"] = json!(factory::register::status(use_case, versions).as_str());
    if let Value::Object(map) = &mut body
        && let Some(allowed) = map.remove("allowed")
    {
        map.insert("allowed_entities".to_owned(), allowed);
    }
    body["versions"] = Value::from(
        versions
            .iter()
            .map(|v| {
                json!({
                    "number": v.number, "state": v.state.as_str(), "weight": v.weight,
                    "rollout_entities": v.rollout_entities, "digest": v.spec.digest(),
                    "spec": v.spec, "created_at": v.created_at,
                })
            })
            .collect::<Vec<_>>(),
    );
    body
}

fn approvals_json(given: &[StoredApproval]) -> Value {
    Value::from(
        given
            .iter()
            .map(|a| {
                json!({
                    "approver": a.approval.approver, "group_level": a.approval.group_level,
                    "eval_run": a.eval_run, "reason": a.reason, "at": a.at,
                })
            })
            .collect::<Vec<_>>(),
    )
}
