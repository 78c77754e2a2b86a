//! `fabrique admin limits …` and `fabrique admin budgets …`: the scope is named by one of
//! `--key-id`, `--user-id`, `--team-id` or `--entity` (an id or a slug).

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::json;

use crate::request::{Request, encode_path_segment, entity_query};

/// The scope a rule applies to: exactly one of these.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct ScopeArgs {
    /// An API key's id (`key_…`).
    #[arg(long)]
    pub key_id: Option<String>,
    /// A user's id (`usr_…`).
    #[arg(long)]
    pub user_id: Option<String>,
    /// A team's id (`team_…`).
    #[arg(long)]
    pub team_id: Option<String>,
    /// An entity, by slug or id.
    #[arg(long)]
    pub entity: Option<String>,
}

impl ScopeArgs {
    /// `{kind}/{id}`, as the API's paths name the scope.
    fn path(&self) -> String {
        let named = [
            ("key", &self.key_id),
            ("user", &self.user_id),
            ("team", &self.team_id),
            ("entity", &self.entity),
        ];
        // clap requires exactly one; should none be there, the API answers the empty id.
        let (kind, id) = named
            .into_iter()
            .find_map(|(kind, id)| id.as_deref().map(|id| (kind, id)))
            .unwrap_or(("entity", ""));
        format!("{kind}/{}", encode_path_segment(id))
    }
}

#[derive(Debug, Subcommand)]
pub enum LimitsCommand {
    /// Set the requests and/or tokens per minute of a scope; a limit not given is unlimited.
    Set {
        #[command(flatten)]
        scope: ScopeArgs,
        #[arg(long, required_unless_present = "tokens_per_minute")]
        requests_per_minute: Option<u64>,
        #[arg(long)]
        tokens_per_minute: Option<u64>,
    },
    /// Show a scope's limits and what remains of them now.
    Get {
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Remove a scope's limits.
    Delete {
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// List every scope with limits, of one entity or of all.
    List {
        /// The entity's slug or id.
        #[arg(long)]
        entity: Option<String>,
    },
}

/// Which of a scope's budgets: its period and its unit.
#[derive(Debug, Args)]
pub struct WhichBudget {
    #[arg(long, value_parser = ["day", "month"])]
    pub period: String,
    /// `tokens`, or `money_micros` (integer millionths of the currency: 1 EUR = 1000000).
    #[arg(long, value_parser = ["tokens", "money_micros"])]
    pub unit: String,
}

#[derive(Debug, Subcommand)]
pub enum BudgetsCommand {
    /// Set (or change) a scope's budget for one period and unit.
    Set {
        #[command(flatten)]
        scope: ScopeArgs,
        #[command(flatten)]
        which: WhichBudget,
        /// Requests that would take the period's spending above this are refused.
        #[arg(long)]
        hard_limit: u64,
        /// Percentage of the hard limit (1–100) from which answers carry a warning.
        #[arg(long)]
        soft_threshold_percent: Option<u64>,
    },
    /// Show a scope's budgets: spent, remaining, when each resets.
    Get {
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Start a scope's spending afresh in the current period.
    Reset {
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Remove one budget of a scope.
    Delete {
        #[command(flatten)]
        scope: ScopeArgs,
        #[command(flatten)]
        which: WhichBudget,
    },
    /// List every budget with its status, of one entity or of all.
    List {
        /// The entity's slug or id.
        #[arg(long)]
        entity: Option<String>,
    },
}

pub(crate) fn limits_request(command: &LimitsCommand) -> Request {
    match command {
        LimitsCommand::Set {
            scope,
            requests_per_minute,
            tokens_per_minute,
        } => Request::to(Method::PUT, format!("/admin/v1/limits/{}", scope.path())).with_body(
            json!({
                "requests_per_minute": requests_per_minute,
                "tokens_per_minute": tokens_per_minute,
            }),
        ),
        LimitsCommand::Get { scope } => at_scope(Method::GET, "limits", scope, ""),
        LimitsCommand::Delete { scope } => at_scope(Method::DELETE, "limits", scope, ""),
        LimitsCommand::List { entity } => {
            Request::to(Method::GET, "/admin/v1/limits").with_query(entity_query(entity))
        }
    }
}

pub(crate) fn budgets_request(command: &BudgetsCommand) -> Request {
    match command {
        BudgetsCommand::Set {
            scope,
            which: WhichBudget { period, unit },
            hard_limit,
            soft_threshold_percent,
        } => Request::to(Method::PUT, format!("/admin/v1/budgets/{}", scope.path())).with_body(
            json!({
                "period": period,
                "unit": unit,
                "hard_limit": hard_limit,
                "soft_threshold_percent": soft_threshold_percent,
            }),
        ),
        BudgetsCommand::Get { scope } => at_scope(Method::GET, "budgets", scope, ""),
        BudgetsCommand::Reset { scope } => at_scope(Method::POST, "budgets", scope, "/reset"),
        BudgetsCommand::Delete {
            scope,
            which: WhichBudget { period, unit },
        } => Request::to(
            Method::DELETE,
            format!("/admin/v1/budgets/{}", scope.path()),
        )
        .with_query(vec![("period", period.clone()), ("unit", unit.clone())]),
        BudgetsCommand::List { entity } => {
            Request::to(Method::GET, "/admin/v1/budgets").with_query(entity_query(entity))
        }
    }
}

/// A bodiless request to `/admin/v1/{rules}/{kind}/{id}{suffix}`.
fn at_scope(method: Method, rules: &str, scope: &ScopeArgs, suffix: &str) -> Request {
    Request::to(
        method,
        format!("/admin/v1/{rules}/{}{suffix}", scope.path()),
    )
}

#[cfg(test)]
mod tests;
