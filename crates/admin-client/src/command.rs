//! The commands of `fabrique admin`, as clap parses them: one subcommand group per kind of object
//! the admin API manages.

use clap::{Args, Subcommand};

pub use crate::limits::{BudgetsCommand, LimitsCommand, ScopeArgs, WhichBudget};

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Entities (subsidiaries, business units).
    Entities {
        #[command(subcommand)]
        command: EntitiesCommand,
    },
    /// Users of an entity.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// API keys of users and service accounts.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Role grants: who administers, audits or builds what. Nobody grants a role wider than
    /// their own.
    Roles {
        #[command(subcommand)]
        command: RolesCommand,
    },
    /// SCIM tokens: the corporate directory's credentials for /scim/v2.
    ScimTokens {
        #[command(subcommand)]
        command: ScimTokensCommand,
    },
    /// Web sessions: who is signed in to the web, and ending their sessions.
    Sessions {
        #[command(subcommand)]
        command: SessionsCommand,
    },
    /// Seats: the group's pool, entities' reserved seats, the seat report.
    Seats {
        #[command(subcommand)]
        command: SeatsCommand,
    },
    /// Rate limits (requests and tokens per minute) of keys, users, teams and entities.
    Limits {
        #[command(subcommand)]
        command: LimitsCommand,
    },
    /// Budgets (tokens or money per day or month) of keys, users, teams and entities.
    Budgets {
        #[command(subcommand)]
        command: BudgetsCommand,
    },
    /// The newest audit events, optionally narrowed.
    Audit(AuditArgs),
    /// GPU pools: the entities' shares of each pool.
    Pools {
        #[command(subcommand)]
        command: PoolsCommand,
    },
    /// Data policies: the one in force for an entity's callers or a use case's requests, and
    /// what it would do to sample text.
    Policies {
        #[command(subcommand)]
        command: PoliciesCommand,
    },
    /// Legal holds: a user's or an entity's stored content kept for a case, neither erased nor
    /// purged until the hold is lifted.
    Holds {
        #[command(subcommand)]
        command: HoldsCommand,
    },
    /// Erase a user's stored prompts and completions: their content key is destroyed and their
    /// content deleted; usage records stay for chargeback. Refused while a legal hold covers
    /// them. Audited as `user.erase`; erasing again does nothing more.
    EraseUser {
        /// The user's id (`usr_…`) or user name.
        user: String,
    },
}

/// Which audit events to show; every option narrows the selection.
#[derive(Debug, Args)]
pub struct AuditArgs {
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Only this entity's events (slug).
    #[arg(long)]
    pub entity: Option<String>,
    /// Only this actor's events (a key id, a user id, `system`…).
    #[arg(long)]
    pub actor: Option<String>,
    /// Only this action (`key.create`) or family of actions (`key`).
    #[arg(long)]
    pub action: Option<String>,
    /// Only `success`, `denied` or `failure`.
    #[arg(long)]
    pub outcome: Option<String>,
    /// From this instant (`2026-11-01`, `2026-11-01T08:00`, RFC 3339), in the group's time zone.
    #[arg(long)]
    pub from: Option<String>,
    /// Up to this instant, excluded.
    #[arg(long)]
    pub to: Option<String>,
    /// Only events numbered below this (the `next_before` of the previous page).
    #[arg(long)]
    pub before: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub enum PoolsCommand {
    /// Set an entity's share of a pool: its weight and guaranteed minimum.
    SetShare {
        pool: String,
        /// The entity's slug.
        entity: String,
        /// Relative share, at least 1.
        #[arg(long)]
        weight: u32,
        /// Fraction of the pool guaranteed while the entity has requests waiting, 0 to 1.
        #[arg(long, default_value_t = 0.0)]
        min_share: f64,
    },
    /// The entities' shares of a pool and what each was served.
    Shares { pool: String },
}

#[derive(Debug, Subcommand)]
pub enum EntitiesCommand {
    /// Create an entity.
    Create {
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: String,
    },
    /// List entities.
    List,
    /// Suspend an entity: every key of its users and service accounts stops at once, their
    /// sign-ins are refused and their seats are released.
    Suspend { slug: String },
    /// Reactivate a suspended entity: its users' keys work again.
    Reactivate { slug: String },
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user in an entity.
    Create {
        /// The entity's slug.
        #[arg(long)]
        entity: String,
        #[arg(long)]
        user_name: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        display_name: Option<String>,
    },
    /// List users, of one entity or of all.
    List {
        #[arg(long)]
        entity: Option<String>,
        /// Only users whose user name, display name or e-mail address starts with this, whatever
        /// the case and accents.
        #[arg(long)]
        search: Option<String>,
    },
    /// Mint a one-time sign-in link for a user: opened within 15 minutes, it signs them in to the
    /// web once. Printed once.
    LoginLink {
        /// The user's id (`usr_…`) or user name.
        user: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key for a user, or for a service account of an entity (created when missing).
    /// The secret is printed once.
    Create {
        #[arg(long, conflicts_with_all = ["entity", "service_account"], required_unless_present = "entity")]
        user_id: Option<String>,
        #[arg(long, requires = "service_account")]
        entity: Option<String>,
        #[arg(long, requires = "entity")]
        service_account: Option<String>,
        /// A label to tell keys apart.
        #[arg(long)]
        name: Option<String>,
        /// The key's default classification (a configured level): every request made with the key
        /// is classified at least this high.
        #[arg(long)]
        classification: Option<String>,
        /// A model the key may use (repeatable); without it, every model of its entity.
        #[arg(long = "model")]
        models: Vec<String>,
        /// The key's lifetime, in days (`90d` or `90`).
        #[arg(long, value_parser = parse_days)]
        expires_in: Option<u32>,
        /// The key's priority class (`interactive`, `standard`, `batch`): its requests' default
        /// and the most urgent class they may ask for.
        #[arg(long)]
        priority: Option<String>,
    },
    /// List keys (never their secrets), of one entity or of all.
    List {
        #[arg(long)]
        entity: Option<String>,
    },
    /// Revoke a key; it stops working at once.
    Revoke { id: String },
    /// Replace a key by a new one (same owner, scopes and settings; the secret is printed once);
    /// the old key keeps working for the grace period.
    Rotate {
        id: String,
        /// How long the old key keeps working: `24h`, `30m`, `7d`, `90s` or `0` (at most 30 days).
        #[arg(long, value_parser = parse_grace)]
        grace: Option<u64>,
    },
}

/// Whole days: `90d` or `90`.
fn parse_days(text: &str) -> Result<u32, String> {
    text.strip_suffix('d')
        .unwrap_or(text)
        .parse()
        .map_err(|_| format!("expected a number of days such as `90d`, not `{text}`"))
}

/// A duration in seconds from `90s`, `30m`, `24h`, `7d` or a bare number of seconds.
fn parse_grace(text: &str) -> Result<u64, String> {
    let bad = || format!("expected a duration such as `24h`, `30m`, `7d` or `0`, not `{text}`");
    let (number, unit) = match text.char_indices().last() {
        Some((at, 's')) => (&text[..at], 1),
        Some((at, 'm')) => (&text[..at], 60),
        Some((at, 'h')) => (&text[..at], 3_600),
        Some((at, 'd')) => (&text[..at], 86_400),
        _ => (text, 1),
    };
    let value: u64 = number.parse().map_err(|_| bad())?;
    value.checked_mul(unit).ok_or_else(bad)
}

#[derive(Debug, Subcommand)]
pub enum HoldsCommand {
    /// Place a hold on a user (--user) or on a whole entity (--entity).
    Place {
        /// The user's id (`usr_…`) or user name.
        #[arg(long, required_unless_present = "entity", conflicts_with = "entity")]
        user: Option<String>,
        /// The entity's slug.
        #[arg(long)]
        entity: Option<String>,
        /// Why the content must be kept.
        #[arg(long)]
        reason: String,
        /// The case, matter or request the hold serves.
        #[arg(long = "case")]
        case_reference: String,
    },
    /// Lift a hold (`hold_…`); the content is again erased and purged as usual.
    Lift { id: String },
    /// List the active holds, of one entity or of all.
    List {
        #[arg(long)]
        entity: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum PoliciesCommand {
    /// The data policy in force, where it comes from and what it softens.
    Show(PolicyTarget),
    /// What the policy would redact, pseudonymize, block or flag in TEXT, and what the model
    /// would receive.
    DryRun {
        #[command(flatten)]
        target: PolicyTarget,
        /// The sample text (at most 64 KiB).
        text: String,
    },
}

/// Whose data policy: an entity's callers, naming a use case or not.
#[derive(Debug, Args)]
pub struct PolicyTarget {
    /// The entity's slug; absent: your entity (the group's accounts for group-wide readers).
    #[arg(long)]
    pub entity: Option<String>,
    /// A use case's slug, which the entity's callers may invoke.
    #[arg(long)]
    pub use_case: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum RolesCommand {
    /// Grant a role to a user, over one entity (--entity) or the whole group.
    Grant(RoleArgs),
    /// Take a role back from a user; it stops at their next request.
    Revoke(RoleArgs),
    /// List role grants with their holders, of one entity or user, or of all.
    List {
        /// Grants over this entity or held by its users (slug).
        #[arg(long)]
        entity: Option<String>,
        /// Grants held by this user (id or user name).
        #[arg(long)]
        user: Option<String>,
    },
}

/// One role grant: who, which role, over what.
#[derive(Debug, Args)]
pub struct RoleArgs {
    /// The user's id (`usr_…`) or user name.
    pub user: String,
    /// `group_admin`, `entity_admin`, `auditor`, `factory_engineer`, `risk_officer`, `compliance_officer` or `user`.
    pub role: String,
    /// The entity the role is held over (slug); without it, the whole group.
    #[arg(long)]
    pub entity: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// List the live web sessions (never their secrets), of one entity or of all.
    List {
        #[arg(long)]
        entity: Option<String>,
    },
    /// End a web session (`ses_…`), or with --user every session of a user; the browser is
    /// signed out at its next request.
    Revoke {
        /// The session's id.
        #[arg(required_unless_present = "user", conflicts_with = "user")]
        id: Option<String>,
        /// The user's id (`usr_…`) or user name.
        #[arg(long)]
        user: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ScimTokensCommand {
    /// Create a SCIM token, bound to an entity or (without --entity) to the whole group. The
    /// secret is printed once.
    Create {
        /// The entity's slug.
        #[arg(long)]
        entity: Option<String>,
        /// A label, e.g. the directory's name.
        #[arg(long)]
        name: Option<String>,
    },
    /// List SCIM tokens (never their secrets), of one entity or of all.
    List {
        #[arg(long)]
        entity: Option<String>,
    },
    /// Revoke a SCIM token; it stops working at once.
    Revoke { id: String },
}

#[derive(Debug, Subcommand)]
pub enum SeatsCommand {
    /// The group's seat pool.
    Pool {
        #[command(subcommand)]
        command: PoolCommand,
    },
    /// Reserve seats of the pool for an entity (0 removes the reservation).
    Reserve {
        /// The entity's slug.
        #[arg(long)]
        entity: String,
        seats: u64,
    },
    /// Pool, reserved, assigned, active in the last 7 and 30 days and reclaimable seats per entity.
    Report {
        #[arg(long)]
        entity: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum PoolCommand {
    /// Set the number of seats (never below what is assigned); `unlimited` lifts the limit.
    Set { size: PoolSize },
    /// Show the pool's size and what is assigned and reserved.
    Show,
}

/// A pool size on the command line: a number, or `unlimited`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSize(pub Option<u64>);

impl std::str::FromStr for PoolSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "unlimited" {
            return Ok(PoolSize(None));
        }
        s.parse()
            .map(|n| PoolSize(Some(n)))
            .map_err(|_| format!("`{s}` is not a number of seats (or `unlimited`)"))
    }
}
