//! Between domain values and column values: the one place that knows how each is spelled in SQL.

use std::str::FromStr;

use domain::{KeyOwner, Role, RoleGrant, Status};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::StoreError;

/// A required text column.
pub(crate) fn text(row: &AnyRow, column: &str) -> Result<String, StoreError> {
    Ok(row.try_get::<String, _>(column)?)
}

/// A nullable text column.
pub(crate) fn opt_text(row: &AnyRow, column: &str) -> Result<Option<String>, StoreError> {
    Ok(row.try_get::<Option<String>, _>(column)?)
}

pub(crate) fn int(row: &AnyRow, column: &str) -> Result<i64, StoreError> {
    Ok(row.try_get::<i64, _>(column)?)
}

pub(crate) fn opt_int(row: &AnyRow, column: &str) -> Result<Option<i64>, StoreError> {
    Ok(row.try_get::<Option<i64>, _>(column)?)
}

/// A required column holding a typed id or another value with a text form.
pub(crate) fn parsed<T: FromStr>(row: &AnyRow, column: &str) -> Result<T, StoreError> {
    parse(column, &text(row, column)?)
}

pub(crate) fn opt_parsed<T: FromStr>(row: &AnyRow, column: &str) -> Result<Option<T>, StoreError> {
    opt_text(row, column)?
        .map(|value| parse(column, &value))
        .transpose()
}

pub(crate) fn parse<T: FromStr>(column: &str, value: &str) -> Result<T, StoreError> {
    value
        .parse()
        .map_err(|_| StoreError::Corrupt(format!("{column} = `{value}`")))
}

/// An integer column read into a narrower unsigned type.
pub(crate) fn unsigned<T: TryFrom<i64>>(row: &AnyRow, column: &str) -> Result<T, StoreError> {
    let value = int(row, column)?;
    T::try_from(value).map_err(|_| StoreError::Corrupt(format!("{column} = {value}")))
}

pub(crate) fn opt_unsigned<T: TryFrom<i64>>(
    row: &AnyRow,
    column: &str,
) -> Result<Option<T>, StoreError> {
    opt_int(row, column)?
        .map(|value| {
            T::try_from(value).map_err(|_| StoreError::Corrupt(format!("{column} = {value}")))
        })
        .transpose()
}

/// An unsigned value into a BIGINT column.
pub(crate) fn to_bigint<T: TryInto<i64> + Copy + std::fmt::Display>(
    what: &str,
    value: T,
) -> Result<i64, StoreError> {
    value
        .try_into()
        .map_err(|_| StoreError::OutOfRange(format!("{what} = {value}")))
}

pub(crate) fn status(row: &AnyRow, column: &str) -> Result<Status, StoreError> {
    let value = text(row, column)?;
    Status::parse(&value).ok_or_else(|| StoreError::Corrupt(format!("{column} = `{value}`")))
}

pub(crate) fn opt_status(row: &AnyRow, column: &str) -> Result<Option<Status>, StoreError> {
    opt_text(row, column)?
        .map(|value| {
            Status::parse(&value)
                .ok_or_else(|| StoreError::Corrupt(format!("{column} = `{value}`")))
        })
        .transpose()
}

pub(crate) const OWNER_USER: &str = "user";
pub(crate) const OWNER_SERVICE_ACCOUNT: &str = "service_account";

/// A key owner as its (kind, id) column pair.
pub(crate) fn owner_columns(owner: KeyOwner) -> (&'static str, String) {
    match owner {
        KeyOwner::User(id) => (OWNER_USER, id.to_string()),
        KeyOwner::ServiceAccount(id) => (OWNER_SERVICE_ACCOUNT, id.to_string()),
    }
}

pub(crate) fn owner(kind: &str, id: &str) -> Result<KeyOwner, StoreError> {
    match kind {
        OWNER_USER => Ok(KeyOwner::User(parse("owner_id", id)?)),
        OWNER_SERVICE_ACCOUNT => Ok(KeyOwner::ServiceAccount(parse("owner_id", id)?)),
        other => Err(StoreError::Corrupt(format!("owner_kind = `{other}`"))),
    }
}

/// A row of `role_grants` (columns `role`, `entity_id`).
pub(crate) fn role_grant(row: &AnyRow) -> Result<RoleGrant, StoreError> {
    let role = text(row, "role")?;
    Ok(RoleGrant {
        role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("role = `{role}`")))?,
        entity_id: opt_parsed(row, "entity_id")?,
    })
}
