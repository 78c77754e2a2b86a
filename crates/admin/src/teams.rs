//! `GET /admin/v1/teams`: the teams the group's directory provisioned (SCIM Groups), each with its
//! entity and how many members it has. Teams are part of the directory of users, so those who may
//! list an entity's users list its teams; callers with rights over one entity see its teams only.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use store::{Listing, Narrowing};

use crate::listing::{ListTeams, Listed, page_json};
use crate::usage::Names;
use crate::{AdminError, AdminState};

/// `GET /admin/v1/teams[?entity=<slug>][&offset=<n>][&limit=<n>]` → `{"data": [team…],
/// "next_offset"}`, oldest first.
#[utoipa::path(
    get, path = "/admin/v1/teams", tag = "admin",
    params(crate::listing::PagedFilter),
    responses(
        (status = 200, description = "The teams (of one entity with `entity`).", body = crate::openapi::Listing),
    ),
)]
pub(crate) async fn list(
    State(state): State<AdminState>,
    Listed { entity, window, .. }: Listed<ListTeams>,
) -> Result<Json<Value>, AdminError> {
    let listing = Listing {
        entity: entity.as_ref().map(|e| e.id),
        narrowing: Narrowing::All,
        sort: None,
        page: Some((window.offset, window.limit)),
    };
    let teams = state.store.list_teams(&listing).await?.items;
    let ids: Vec<_> = teams.iter().map(|team| team.id).collect();
    let members = state.store.team_members(&ids).await?;
    let names = Names::for_ids(&state, state.store.list_entities().await?, &[]).await?;
    let data = teams
        .iter()
        .map(|team| {
            let entity_id = team.entity_id.to_string();
            json!({
                "id": team.id,
                "display_name": team.display_name,
                "entity": names.entity(Some(&entity_id)),
                "entity_id": entity_id,
                "members": members.get(&team.id).map_or(0, Vec::len),
                "created_at": team.created_at,
            })
        })
        .collect();
    Ok(Json(page_json(data, window)))
}
