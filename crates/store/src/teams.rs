//! Teams: groups of users inside one entity, provisioned as SCIM Groups. A team's members are
//! users of its entity; a replacement writes the whole member set in one transaction.

use std::collections::HashMap;

use domain::{AuditEvent, EntityId, TeamId, UnixMillis, UserId, now_millis};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

use crate::audit::insert_targeted;
use crate::codec::{int, opt_text, parse, parsed, text};
use crate::narrowing::{Listing, Page, Table, fold, paged_select};
use crate::{Store, StoreError};

/// A team as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    pub id: TeamId,
    pub entity_id: EntityId,
    pub display_name: String,
    pub external_id: Option<String>,
    /// The attributes kept without columns: a JSON object in text form.
    pub attributes: String,
    pub created_at: UnixMillis,
    pub updated_at: UnixMillis,
    pub version: i64,
}

/// A team's changeable fields and its members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamFields {
    pub display_name: String,
    pub external_id: Option<String>,
    pub attributes: String,
    pub members: Vec<UserId>,
}

/// A team's members as the in-memory index needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamMembers {
    pub team: TeamId,
    /// The team's version when read: a later change carries a higher one.
    pub version: i64,
    /// In id order.
    pub members: Vec<UserId>,
}

const TEAM_COLUMNS: &str =
    "id, entity_id, display_name, external_id, attributes, created_at, updated_at, version";

impl Store {
    /// Creates a team of `entity_id` with its members. [`StoreError::NotFound`] when a member
    /// does not exist.
    pub async fn create_team(
        &self,
        entity_id: EntityId,
        fields: &TeamFields,
        audit: &AuditEvent,
    ) -> Result<Team, StoreError> {
        let now = now_millis();
        let team = Team {
            id: TeamId::generate(),
            entity_id,
            display_name: fields.display_name.clone(),
            external_id: fields.external_id.clone(),
            attributes: fields.attributes.clone(),
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO teams (id, entity_id, display_name, display_name_folded, external_id, \
             attributes, created_at, updated_at, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1)",
        )
        .bind(team.id.to_string())
        .bind(entity_id.to_string())
        .bind(team.display_name.as_str())
        .bind(fold(&team.display_name))
        .bind(team.external_id.clone())
        .bind(team.attributes.as_str())
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::from_write(e, || format!("team {} already exists", team.id)))?;
        insert_members(&mut tx, team.id, &fields.members).await?;
        insert_targeted(&mut tx, audit, team.id.to_string(), Some(entity_id)).await?;
        tx.commit().await?;
        Ok(team)
    }

    pub async fn team(&self, id: TeamId) -> Result<Option<Team>, StoreError> {
        let row = sqlx::query(&format!("SELECT {TEAM_COLUMNS} FROM teams WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(team_row).transpose()
    }

    /// Replaces team `id`'s fields and member set, provided it is still at `version`.
    pub async fn replace_team(
        &self,
        id: TeamId,
        version: i64,
        fields: &TeamFields,
        audit: &AuditEvent,
    ) -> Result<Team, StoreError> {
        let mut tx = self.pool.begin().await?;
        let updated = sqlx::query(
            "UPDATE teams SET display_name = $1, display_name_folded = $2, external_id = $3, \
             attributes = $4, updated_at = $5, version = version + 1 WHERE id = $6 AND version = $7",
        )
        .bind(fields.display_name.as_str())
        .bind(fold(&fields.display_name))
        .bind(fields.external_id.clone())
        .bind(fields.attributes.as_str())
        .bind(now_millis())
        .bind(id.to_string())
        .bind(version)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            tx.rollback().await?;
            return Err(self.missing_or_changed("team", &id.to_string()).await?);
        }
        sqlx::query("DELETE FROM team_members WHERE team_id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        insert_members(&mut tx, id, &fields.members).await?;
        let row = sqlx::query(&format!("SELECT {TEAM_COLUMNS} FROM teams WHERE id = $1"))
            .bind(id.to_string())
            .fetch_one(&mut *tx)
            .await?;
        let team = team_row(&row)?;
        insert_targeted(&mut tx, audit, id.to_string(), Some(team.entity_id)).await?;
        tx.commit().await?;
        Ok(team)
    }

    /// Deletes team `id` and its memberships. [`StoreError::NotFound`] when there is no such team.
    pub async fn delete_team(&self, id: TeamId, audit: &AuditEvent) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM team_members WHERE team_id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        let entity: Option<String> =
            sqlx::query_scalar("DELETE FROM teams WHERE id = $1 RETURNING entity_id")
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        let Some(entity) = entity else {
            tx.rollback().await?;
            return Err(StoreError::NotFound(format!("no team with id `{id}`")));
        };
        let entity: EntityId = parse("entity_id", &entity)?;
        insert_targeted(&mut tx, audit, id.to_string(), Some(entity)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The teams a listing selects.
    pub async fn list_teams(&self, listing: &Listing) -> Result<Page<Team>, StoreError> {
        paged_select(&self.pool, Table::Teams, TEAM_COLUMNS, listing, team_row).await
    }

    /// The members of each of `teams`, in user-id order.
    pub async fn team_members(
        &self,
        teams: &[TeamId],
    ) -> Result<HashMap<TeamId, Vec<UserId>>, StoreError> {
        let mut members: HashMap<TeamId, Vec<UserId>> = HashMap::new();
        for chunk in teams.chunks(500) {
            let placeholders = placeholders(chunk.len());
            let sql = format!(
                "SELECT team_id, user_id FROM team_members WHERE team_id IN ({placeholders}) \
                 ORDER BY team_id, user_id"
            );
            let mut query = sqlx::query(&sql);
            for team in chunk {
                query = query.bind(team.to_string());
            }
            for row in query.fetch_all(&self.pool).await? {
                members
                    .entry(parsed(&row, "team_id")?)
                    .or_default()
                    .push(parsed(&row, "user_id")?);
            }
        }
        Ok(members)
    }

    /// Every team that has members, with its version and members: what the in-memory index of
    /// users' teams is loaded from. One query.
    pub async fn team_memberships(&self) -> Result<Vec<TeamMembers>, StoreError> {
        let rows = sqlx::query(
            "SELECT t.id, t.version, m.user_id FROM teams t JOIN team_members m ON m.team_id = t.id \
             ORDER BY t.id, m.user_id",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut teams: Vec<TeamMembers> = Vec::new();
        for row in &rows {
            let team: TeamId = parsed(row, "id")?;
            let user: UserId = parsed(row, "user_id")?;
            match teams.last_mut() {
                Some(last) if last.team == team => last.members.push(user),
                _ => teams.push(TeamMembers {
                    team,
                    version: int(row, "version")?,
                    members: vec![user],
                }),
            }
        }
        Ok(teams)
    }

    /// The display names of `teams` that exist.
    pub async fn team_names(
        &self,
        teams: &[TeamId],
    ) -> Result<HashMap<TeamId, String>, StoreError> {
        let mut names = HashMap::new();
        for chunk in teams.chunks(500) {
            let sql = format!(
                "SELECT id, display_name FROM teams WHERE id IN ({})",
                placeholders(chunk.len())
            );
            let mut query = sqlx::query(&sql);
            for team in chunk {
                query = query.bind(team.to_string());
            }
            for row in query.fetch_all(&self.pool).await? {
                names.insert(parsed(&row, "id")?, text(&row, "display_name")?);
            }
        }
        Ok(names)
    }

    /// The teams (id and display name) each of `users` belongs to.
    pub async fn teams_of_users(
        &self,
        users: &[UserId],
    ) -> Result<HashMap<UserId, Vec<(TeamId, String)>>, StoreError> {
        let mut teams: HashMap<UserId, Vec<(TeamId, String)>> = HashMap::new();
        for chunk in users.chunks(500) {
            let placeholders = placeholders(chunk.len());
            let sql = format!(
                "SELECT m.user_id, t.id, t.display_name FROM team_members m \
                 JOIN teams t ON t.id = m.team_id WHERE m.user_id IN ({placeholders}) ORDER BY t.id"
            );
            let mut query = sqlx::query(&sql);
            for user in chunk {
                query = query.bind(user.to_string());
            }
            for row in query.fetch_all(&self.pool).await? {
                teams
                    .entry(parsed(&row, "user_id")?)
                    .or_default()
                    .push((parsed(&row, "id")?, text(&row, "display_name")?));
            }
        }
        Ok(teams)
    }

    /// The users among `ids` that exist, are not deleted and belong to `entity_id`.
    pub async fn users_in_entity(
        &self,
        entity_id: EntityId,
        ids: &[UserId],
    ) -> Result<Vec<UserId>, StoreError> {
        let mut found = Vec::new();
        for chunk in ids.chunks(500) {
            let sql = format!(
                "SELECT id FROM users WHERE deleted_at IS NULL AND entity_id = $1 AND id IN ({})",
                placeholders_from(2, chunk.len())
            );
            let mut query = sqlx::query(&sql).bind(entity_id.to_string());
            for id in chunk {
                query = query.bind(id.to_string());
            }
            for row in query.fetch_all(&self.pool).await? {
                found.push(parsed(&row, "id")?);
            }
        }
        Ok(found)
    }
}

async fn insert_members(
    conn: &mut AnyConnection,
    team: TeamId,
    members: &[UserId],
) -> Result<(), StoreError> {
    for member in members {
        sqlx::query(
            "INSERT INTO team_members (team_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(team.to_string())
        .bind(member.to_string())
        .execute(&mut *conn)
        .await
        .map_err(|e| StoreError::from_write(e, || format!("user {member} is already a member")))?;
    }
    Ok(())
}

fn placeholders(count: usize) -> String {
    placeholders_from(1, count)
}

fn placeholders_from(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn team_row(row: &AnyRow) -> Result<Team, StoreError> {
    Ok(Team {
        id: parsed(row, "id")?,
        entity_id: parsed(row, "entity_id")?,
        display_name: text(row, "display_name")?,
        external_id: opt_text(row, "external_id")?,
        attributes: text(row, "attributes")?,
        created_at: int(row, "created_at")?,
        updated_at: int(row, "updated_at")?,
        version: int(row, "version")?,
    })
}
