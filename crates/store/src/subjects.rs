//! The identity provider's accounts users are bound to (`user_subjects`): one account is one user,
//! and a user has one account per issuer. A binding is written with its audit event in one
//! transaction; a deleted user's bindings go with the deletion.

use std::collections::HashMap;

use domain::{AuditEvent, SignInSubject, UserId, now_millis};
use sqlx::AnyConnection;

use crate::audit::insert_targeted;
use crate::codec::text;
use crate::{Store, StoreError};

impl Store {
    /// Binds `user` to `subject`, with its audit event. [`StoreError::Conflict`] when the account
    /// is bound to a user already, or the user to another account of that issuer.
    pub async fn bind_subject(
        &self,
        user: UserId,
        subject: &SignInSubject,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        insert_subject(&mut tx, user, subject).await?;
        insert_targeted(&mut tx, audit, user.to_string(), None).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The user bound to `subject`, deleted or not.
    pub async fn subject_user(
        &self,
        subject: &SignInSubject,
    ) -> Result<Option<UserId>, StoreError> {
        let user: Option<String> = sqlx::query_scalar(
            "SELECT user_id FROM user_subjects WHERE issuer = $1 AND subject = $2",
        )
        .bind(subject.issuer.as_str())
        .bind(subject.subject.as_str())
        .fetch_optional(&self.pool)
        .await?;
        user.map(|id| crate::codec::parse("user_id", &id))
            .transpose()
    }

    /// Users' bindings by user id: every user's that is not deleted, or the one named (folded)
    /// `user_name`'s.
    pub(crate) async fn user_subjects(
        &self,
        user_name: Option<&str>,
    ) -> Result<HashMap<String, Vec<SignInSubject>>, StoreError> {
        let rows = sqlx::query(
            "SELECT s.user_id, s.issuer, s.subject FROM user_subjects s \
             JOIN users u ON u.id = s.user_id \
             WHERE u.deleted_at IS NULL AND ($1 IS NULL OR u.user_name_folded = $1)",
        )
        .bind(user_name)
        .fetch_all(&self.pool)
        .await?;
        let mut subjects: HashMap<String, Vec<SignInSubject>> = HashMap::new();
        for row in &rows {
            subjects
                .entry(text(row, "user_id")?)
                .or_default()
                .push(SignInSubject {
                    issuer: text(row, "issuer")?,
                    subject: text(row, "subject")?,
                });
        }
        Ok(subjects)
    }
}

/// Writes one binding inside the caller's transaction.
pub(crate) async fn insert_subject(
    conn: &mut AnyConnection,
    user: UserId,
    subject: &SignInSubject,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO user_subjects (issuer, subject, user_id, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(subject.issuer.as_str())
    .bind(subject.subject.as_str())
    .bind(user.to_string())
    .bind(now_millis())
    .execute(&mut *conn)
    .await
    .map_err(|e| {
        StoreError::from_write(e, || {
            format!(
                "the account `{}` of `{}` or the user `{user}` is bound already",
                subject.subject, subject.issuer
            )
        })
    })?;
    Ok(())
}

/// Removes a deleted user's bindings inside the caller's transaction.
pub(crate) async fn delete_subjects_of(
    conn: &mut AnyConnection,
    user: UserId,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM user_subjects WHERE user_id = $1")
        .bind(user.to_string())
        .execute(&mut *conn)
        .await?;
    Ok(())
}
