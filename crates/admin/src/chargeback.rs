//! `/admin/v1/reports/chargeback?month=YYYY-MM[&entity=SLUG][&format=json|csv]`: the monthly
//! chargeback, per entity, then per team, model and use case, with each row's share of the pool.
//!
//! The month runs from local midnight on the 1st in the group's time zone. Figures are integer
//! sums of usage records made by the store; the report only regroups them (`reports::Chargeback`),
//! so every total is exactly the sum of the records below it.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use reports::chargeback::Period;
use reports::{Chargeback, ChargebackLine, Month};
use serde::Deserialize;
use store::{UsageDimension, UsageSelection};

use crate::body::query;
use crate::caller::Caller;
use crate::usage::{Names, audit_read, report_entity, summed};
use crate::{AdminAction, AdminError, AdminState};

/// Lines of one report at most: entities × teams × models × use cases of a month.
const MAX_LINES: u32 = 100_000;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChargebackQuery {
    /// `YYYY-MM`.
    #[param(pattern = "^[0-9]{4}-[0-9]{2}$")]
    month: String,
    #[param(pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    entity: Option<String>,
    #[param(pattern = "^(json|csv)$")]
    format: Option<String>,
}

/// `GET /admin/v1/reports/chargeback` → the report as JSON (default) or CSV.
#[utoipa::path(
    get, path = "/admin/v1/reports/chargeback", tag = "admin",
    params(ChargebackQuery),
    responses(
        (status = 200, description = "The monthly chargeback report, JSON or CSV.", content((crate::openapi::Object = "application/json"), (String = "text/csv"))),
    ),
)]
pub(crate) async fn report(
    State(state): State<AdminState>,
    caller: Caller,
    params: Result<Query<ChargebackQuery>, QueryRejection>,
) -> Result<Response, AdminError> {
    let params = query(params)?;
    let csv = match params.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(AdminError::bad_field(
                "format",
                format!("unknown format `{other}`: expected json or csv"),
            ));
        }
    };
    let entity = report_entity(
        &state,
        &caller,
        AdminAction::ReadChargeback,
        params.entity.as_deref(),
    )
    .await?;
    let month =
        Month::parse(&params.month).map_err(|e| AdminError::bad_field("month", e.to_string()))?;
    let (from, to) = state
        .zone
        .month_bounds(month)
        .map_err(|e| AdminError::bad_field("month", e.to_string()))?;
    let selection = UsageSelection {
        from,
        to,
        entity: entity.as_ref().map(|e| e.id),
    };
    let dimensions = [
        UsageDimension::Entity,
        UsageDimension::Team,
        UsageDimension::Model,
        UsageDimension::UseCase,
    ];
    let groups = state
        .store
        .usage_groups(&selection, &dimensions, None, MAX_LINES + 1)
        .await
        .map_err(|e| crate::usage::report_error(&state, e))?;
    if groups.len() > MAX_LINES as usize {
        return Err(AdminError::bad_request(format!(
            "this month has more than {MAX_LINES} chargeback lines: ask for one entity at a time"
        )));
    }
    // Shares are of the whole group's month, also in a report narrowed to one entity; the
    // group's report holds every line of it.
    let pool = match selection.entity {
        None => summed(&groups),
        Some(_) => state
            .store
            .usage_groups(
                &UsageSelection {
                    entity: None,
                    ..selection
                },
                &[],
                None,
                1,
            )
            .await
            .map_err(|e| crate::usage::report_error(&state, e))?
            .first()
            .map(|g| g.totals)
            .unwrap_or_default(),
    };
    let teams: Vec<String> = groups.iter().filter_map(|g| g.keys[1].clone()).collect();
    let names = Names::for_ids(&state, caller.entities(&state).await?, &teams).await?;
    let lines = groups
        .into_iter()
        .map(|group| {
            let mut keys = group.keys.into_iter();
            let mut next = || keys.next().flatten();
            let (entity_id, team_id, model, use_case) = (next(), next(), next(), next());
            ChargebackLine {
                entity: names.entity(entity_id.as_deref()),
                team: names.team(team_id.as_deref()),
                entity_id,
                team_id,
                model: model.unwrap_or_default(),
                use_case,
                totals: group.totals,
            }
        })
        .collect();
    let report = Chargeback::build(
        Period {
            month: month.to_string(),
            time_zone: state.zone.name().to_owned(),
            from: state.zone.format(from),
            to: state.zone.format(to),
        },
        pool,
        lines,
    );
    audit_read(
        &state,
        &caller,
        AdminAction::ReadChargeback,
        &entity,
        &selection,
    )
    .await?;
    if csv {
        let name = format!(
            "attachment; filename=\"chargeback-{month}{}.csv\"",
            entity
                .as_ref()
                .map(|e| format!("-{}", e.slug))
                .unwrap_or_default()
        );
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (header::CONTENT_DISPOSITION, name),
            ],
            report.to_csv(),
        )
            .into_response());
    }
    Ok(axum::Json(report).into_response())
}
