//! Durable state on SQLite (embedded default) or PostgreSQL, one schema in both dialects.
//!
//! One [`Store`] type whatever the backend: the URL chooses. Both backends go through
//! `sqlx::AnyPool` with `$1`-style placeholders, which SQLite accepts natively, so every query is
//! written once. The two dialects differ only in their migrations (`migrations/sqlite`,
//! `migrations/postgres`), which are kept column for column identical.
//!
//! Representations, the same in both dialects: ids are TEXT in their prefixed form (`ent_…`), times
//! are BIGINT Unix milliseconds, booleans are BIGINT 0/1 and unsigned counters are BIGINT.
//!
//! Every mutation that an administrator performs takes the caller's [`AuditEvent`] and writes it in
//! the same transaction as the change: either both are durable or neither is. Each event is a link of
//! a hash chain (`evidence` defines the encoding): appends queue on a one-row chain head, so
//! concurrent transactions still form one line, numbered without gaps.
//!
//! Durability on SQLite: the database runs in WAL mode with `synchronous=NORMAL`. A committed
//! transaction survives a crash of the process (the WAL is in the operating system's page cache);
//! only a power loss or kernel crash may lose the last few transactions before the next checkpoint.
//! Deployments that must survive power loss without losing acknowledged audit events use
//! PostgreSQL (or can raise SQLite to `synchronous=FULL` at a throughput cost).
//!
//! # Tables and their rules
//!
//! Durable state on SQLite (embedded default, WAL) or PostgreSQL, one schema in both dialects
//! (`migrations/sqlite`, `migrations/postgres`), chosen by URL. **Invariant:** never called on the request
//! path's hot part; every administrative change and its audit event commit in one transaction. Audit
//! events are numbered by the one-row `audit_chain_head`, not by a database sequence: an append first
//! updates that row (taking its lock until commit), so concurrent appends form one line with no gap in
//! numbers, and each stores `prev_hash`/`hash`. A batch of events (`insert_audits`: access decisions,
//! seat changes, the seat releases of an entity's suspension) takes its numbers in one head update,
//! is hashed in memory and written with multi-row INSERTs (`multi_row::MultiRowInsert`, shared with
//! usage records). Signed checkpoints live in `audit_checkpoints`;
//! `verify_audit_chain` walks the chain page by page into `evidence::Verifier`. Keys (`keys.rs`,
//! migration 0010): `api_keys.models` (one name per line), `expires_at`, `priority`, `rotated_from`
//! (the listing joins it back as `replaced_by`), `last_used_at`. Seats (`seats.rs`, migration 0007): `seat_pool` (one row),
//! `seat_reservations`, `seats` (a user's primary key: one seat at most) and `users.last_active_at`;
//! the store writes what `seats::Seats` decided (`record_seat_changes`, `record_activity` in batches),
//! each change with its audit event. SQLite connections keep statement journals in memory
//! (`temp_store`); what the directory loads at start (`load_credentials`, `user_identities`) is
//! streamed row by row, so 100,000 keys and users never sit in memory as rows at once.
//! **Content** (`content.rs`, migration 0011): `entity_data_keys` (an entity's data key wrapped by the
//! master key), `content_keys` (an owner's content key wrapped by the data key, per user or service
//! account), `content_records` (metadata in clear, `sealed` BLOB/BYTEA). Keys are created with
//! `INSERT … ON CONFLICT DO NOTHING` then read back, so racing replicas agree on one;
//! `purge_content` (several entities' cut-offs and the `retention.purge` event in one transaction,
//! sparing what an active legal hold covers: `legal_holds.rs`, migration 0025) and `erase_content`
//! (key and records deleted with the `user.erase` event) never see a key or a text in clear. On
//! PostgreSQL an owner's inserts and erasure take the owner's advisory lock (shared, exclusive), so
//! an erasure never misses a record being inserted. A record whose id is stored already is left
//! as it is (`ON CONFLICT (id) DO NOTHING`): a batch tried again after its commit's answer was
//! lost stores each record once. `content_keys()` and `delete_content_key` let
//! a key custody outside the database (`retention::KeyCustody`) take the keys over.
//! **Files** (`files.rs`, migration 0026): uploaded files' metadata, owned by a user or service
//! account in an entity; `create_file` checks the entity's quota in the transaction that inserts.
//! Their contents, with `[batches] file_contents = "database"` (`file_chunks.rs`, migration
//! 0035): rows of at most 1 MiB keyed by file and first byte, appended and read one at a time;
//! `delete_file` deletes them with the metadata; `purge_orphan_file_chunks` those no file came for.
//! **Batches** (`batches.rs`, migration 0028): each batch with its submitter, status, counts and
//! the runner's committed progress (first line not done, spool lengths), so a restart resumes.
//! **Knowledge libraries** (`libraries.rs`, migration 0029): `libraries`, `library_documents`,
//! `library_chunks` (the text and, migration 0035, the embedding each index entry was made from, so
//! every replica builds its index from the store; `libraries` change notices); reader and editor
//! tags one a line;
//! deleting a document or a library deletes its chunks' rows in the same transaction. Migration
//! 0037 (`library_changes.rs`): `library_changes`, one row per document added or deleted, numbered
//! in commit order (an advisory lock on PostgreSQL), so a replica's sync reads what changed after
//! its cursor; pruned after a day, `library_changes_pruned` noting how far.
//! **Use-case documents** (`use_case_documents.rs`, migration 0032): the documents attached to a
//! use case (its impact assessment's), metadata and bytes in one row; listings read the metadata
//! only, every read names the use case, and adding or deleting commits with its audit event.
//! **Background writes** (`leased.rs`): every background writer's transaction (usage, audit,
//! feedback, kept content, last seen) runs on a connection closed, not returned to the pool, when
//! its caller's bound ([`STORE_WRITE_TIMEOUT`], [`answered_in_time`]) drops it unanswered; the
//! last-seen writes (`last_seen.rs`) are bounded by the store itself.
//! **Replicas** (migration 0024, PostgreSQL only): triggers on the tables replicas hold in memory
//! notify `fabrique_changes` at commit with `<schema> <topic>` (`changes.rs`: [`Topic`],
//! [`ChangeFeed`]); the background jobs' lease is an advisory lock on a connection of its own
//! (`lease.rs`: [`Lease`]).
//! **Usage queries** (`reporting.rs`): `usage_groups` (sums per any of entity, team, user, key,
//! model, use case, endpoint, error code, and per time bucket), `active_users`, `latency_percentiles`;
//! every one reads a `started_at` range (and the roll-ups, below) (index `usage_records_started_at`, or `(entity_id,
//! started_at)` when narrowed to an entity) and returns aggregates, at most `limit` rows. Buckets come
//! as boundaries computed in the group's time zone (`reports::Zone`); SQL finds a record's bucket with
//! a balanced tree of `CASE WHEN started_at < b …` (log2(buckets) comparisons, no time-zone support
//! needed in SQLite). Percentiles are exact: latencies are whole milliseconds, so SQL builds each
//! group's histogram (`GROUP BY group, value`), runs cumulative counts over it with window functions
//! and returns only the three rows where p50/p90/p99 fall; a month of 100,000 users costs one range
//! scan and one aggregation per latency, and nothing the size of the range crosses the connection.
//! Sums are integer (`CAST(SUM(…) AS BIGINT)`, PostgreSQL summing BIGINT as NUMERIC), so money is
//! exact.
//! **Roll-ups** (`rollups.rs`, migration 0034): `usage_hourly` (per closed UTC hour and entity, team,
//! model, use case, endpoint, error code: requests, tokens, cost, errors, cache hits) and
//! `latency_hourly` (per hour, entity, model, endpoint: histograms of successful requests' duration
//! and time to first token in buckets at most 10 % wide), summed per day of the group's zone into
//! `usage_daily`/`latency_daily` (days listed in `usage_days`); `latency_model_hourly`/`_daily`
//! hold the histograms without entity and endpoint, for group-wide percentiles per model (migration
//! 0036). Users and keys are left out: an hour holds as many rows as combinations of those
//! dimensions seen, whatever the number of people.
//! An hour is rolled up by replacing its rows in one transaction (`roll_up_hour`, idempotent); the
//! `rolled_up` mark says all hours before it are; a batch stored late for a rolled-up hour moves the
//! mark back in its own transaction, so the next run counts it once — or, for an hour never rolled
//! up again (raw records or hourly rows deleted), adds its records to the hourly or daily rows
//! that stand for it, in the same transaction. `usage_groups` and
//! `latency_percentiles` read days, then hours, for the rolled-up part of a range that no bucket
//! boundary cuts, and raw records for the rest, in one statement that reads the mark and checks
//! the days itself (the list of days is held in memory, read again each minute): the same sums (percentiles over rolled-up hours are
//! their bucket's upper bound: never below, at most 10 % above). Groupings by user or key, active
//! users and keys', users' and teams' budgets read raw records; entity budgets read roll-ups.
//! `delete_raw_usage` deletes raw records only of rolled-up hours; on PostgreSQL `usage_records` is
//! partitioned by UTC month (the table from before the migration is the default partition), the
//! job creates the coming months' partitions (`prepare_usage_partitions`) and a month past the
//! retention is dropped whole.

mod audit;
mod audit_chain;
mod batches;
mod changes;
mod codec;
mod connect;
mod content;
mod conversations;
mod error;
mod factory;
mod file_chunks;
mod files;
mod journal_marks;
mod keys;
mod last_seen;
mod lease;
mod leased;
mod legal_holds;
mod libraries;
mod library_changes;
mod limits;
mod login_links;
mod multi_row;
mod narrowing;
mod operator_keys;
mod pool_shares;
mod principals;
mod provisioning;
mod reporting;
mod role_grants;
mod rollups;
mod scim_tokens;
mod seats;
mod subjects;
mod teams;
#[cfg(feature = "testing")]
pub mod testing;
mod usage;
mod use_case_documents;
mod user_search;
mod web_sessions;

use sqlx::AnyPool;

pub use audit_chain::{AuditFilter, ChainHead, ChainSelection};
pub use batches::{BatchStatus, Ending, Progress, StoredBatch};
pub use changes::{CHANNEL as CHANGE_CHANNEL, ChangeFeed, Notice, Topic};
pub use connect::SQLITE_FILE_NAME;
pub use content::{ContentRecord, Erased, Purged};
pub use conversations::{StoredConversation, StoredMessage};
pub use error::StoreError;
pub use factory::{EvalRun, EvalStatus, StoredApproval, VersionMove};
pub use files::{FileCreated, FileSelection, StoredFile};
pub use keys::{Credential, KeyListing, Rotation};
pub use lease::{LEASE_CLASS, Lease};
pub use leased::{STORE_WRITE_TIMEOUT, answered_in_time};
pub use legal_holds::LegalHold;
pub use libraries::{StoredChunk, StoredDocument, StoredLibrary, vector_bytes, vector_of};
pub use library_changes::LibraryChanges;
pub use limits::{Spent, StoredBudget, StoredLimit};
pub use login_links::LoginLinkUse;
pub use narrowing::{Column, Listing, Narrowing, Ordering, Page, TextMatch, Window, fold};
pub use operator_keys::OperatorKey;
pub use pool_shares::StoredShare;
pub use principals::UserIdentity;
pub use provisioning::{NewUser, ProvisionedUser, UserFields};
pub use reporting::{LatencyGroup, Percentiles, UsageDimension, UsageGroup, UsageSelection};
pub use role_grants::{HeldRole, RoleSelection};
pub use rollups::{RollupMarks, RollupRun, latency_bounds};
pub use seats::{HeldSeat, SeatChange, SeatClaim, StoredSeats};
pub use teams::{Team, TeamFields, TeamMembers};
pub use use_case_documents::StoredUseCaseDocument;
pub use user_search::{UserSearch, cursor_of, search_fold};
pub use web_sessions::{KEPT_AFTER_END, SignInFlow, StoredSession};

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend a connection of the pool talks to.
    pub(crate) fn of(conn: &sqlx::AnyConnection) -> Backend {
        if conn.backend_name() == <sqlx::Postgres as sqlx::Database>::NAME {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

/// Fabrique's durable state. Cheap to clone: clones share one connection pool.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// A PostgreSQL store's URL, for the connection that listens to change notices.
    url: Option<std::sync::Arc<str>>,
    /// The days rolled up, as last read, shared by the store's clones (`reporting`).
    rolled_days: std::sync::Arc<reporting::RolledDays>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Store {
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes the pool, waiting for connections in use to be returned. Lets a SQLite database
    /// checkpoint its WAL on a clean shutdown.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
