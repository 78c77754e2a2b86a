//! Change notices between replicas sharing one PostgreSQL database.
//!
//! Triggers (migration 0024) notify the channel [`CHANNEL`] when a statement changes a table some
//! in-memory state is loaded from; the payload is `<schema> <topic>`, so replicas of several
//! installations (or tests) in one database each hear their own schema only. PostgreSQL delivers a
//! notice at commit, once per topic and transaction. [`ChangeFeed`] is one dedicated connection
//! listening to the channel; when that connection drops, notices sent meanwhile are lost, so the
//! feed says [`Notice::Resync`] and the caller reloads everything. SQLite has one process per
//! database: [`Store::change_feed`] gives `None` there.

use sqlx::postgres::PgListener;

use crate::{Backend, Store, StoreError};

/// The channel the triggers notify.
pub const CHANNEL: &str = "fabrique_changes";

/// What a replica reloads when told something changed: one topic per piece of in-memory state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    /// Keys, users, entities, service accounts, role grants, sign-in accounts, teams.
    Directory,
    /// SCIM bearer tokens.
    ScimTokens,
    /// Rate limits and budgets.
    Limits,
    /// The seat pool, reservations and held seats.
    Seats,
    /// The GPU pools' entity shares.
    Shares,
    /// The AI Factory's use cases and their versions.
    UseCases,
    /// Web sessions ended (signed out, revoked, their user or entity changed).
    Sessions,
    /// Knowledge libraries and their documents (each replica's index follows them).
    Libraries,
}

impl Topic {
    /// Every topic, for a full reload.
    pub const ALL: [Topic; 8] = [
        Topic::Directory,
        Topic::ScimTokens,
        Topic::Limits,
        Topic::Seats,
        Topic::Shares,
        Topic::UseCases,
        Topic::Sessions,
        Topic::Libraries,
    ];

    /// The name the triggers send.
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Directory => "directory",
            Topic::ScimTokens => "scim_tokens",
            Topic::Limits => "limits",
            Topic::Seats => "seats",
            Topic::Shares => "shares",
            Topic::UseCases => "use_cases",
            Topic::Sessions => "sessions",
            Topic::Libraries => "libraries",
        }
    }

    pub fn parse(name: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|topic| topic.as_str() == name)
    }
}

/// What the feed heard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// This topic changed in the store.
    Changed(Topic),
    /// The connection was lost and is back: notices may have been missed, reload everything.
    Resync,
}

/// A listening connection to PostgreSQL's change notices of this store's schema.
pub struct ChangeFeed {
    listener: PgListener,
    schema: String,
}

impl std::fmt::Debug for ChangeFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeFeed")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// A feed of this store's change notices: `None` on SQLite, where nobody else writes.
    pub async fn change_feed(&self) -> Result<Option<ChangeFeed>, StoreError> {
        let (Backend::Postgres, Some(url)) = (self.backend, &self.url) else {
            return Ok(None);
        };
        let mut listener = PgListener::connect(url).await?;
        let schema: String = sqlx::query_scalar("SELECT current_schema()")
            .fetch_one(&mut listener)
            .await?;
        listener.listen(CHANNEL).await?;
        Ok(Some(ChangeFeed { listener, schema }))
    }
}

impl ChangeFeed {
    /// Waits for the next notice of this schema. Connection losses are reported as
    /// [`Notice::Resync`] once reconnected; an error means reconnecting failed (try again later).
    pub async fn next(&mut self) -> Result<Notice, StoreError> {
        loop {
            let Some(notification) = self.listener.try_recv().await? else {
                // `try_recv` reconnects, and listens again, on the next call.
                return Ok(Notice::Resync);
            };
            let Some((schema, topic)) = notification.payload().split_once(' ') else {
                continue;
            };
            if schema != self.schema {
                continue;
            }
            match Topic::parse(topic) {
                Some(topic) => return Ok(Notice::Changed(topic)),
                None => tracing::debug!(topic, "change notice of an unknown topic ignored"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Topic;

    #[test]
    fn every_topic_reads_back_from_its_name() {
        for topic in Topic::ALL {
            assert_eq!(Topic::parse(topic.as_str()), Some(topic));
        }
        assert_eq!(Topic::parse("keys"), None);
    }
}
