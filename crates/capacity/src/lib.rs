//! Capacity planning, behind `fabrique plan SCENARIO.toml`: from a scenario of users, their uses
//! over a working day and the GPU pools that serve them, how many GPUs each pool needs for a
//! target p95 time to first token at the busiest minutes, what each entity's weight gives it
//! there, and what the gateway tier, PostgreSQL and Redis carry — with the users at which each
//! saturates. docs/capacity.md states the model and its assumptions; bench/plan/ holds scenarios.
//!
//! The model, in one breath (each module says more):
//! - **Traffic** (`scenario`, `pools`): each use's requests a user a working day, spread over the
//!   hours by weights, times a factor for the busiest minutes of an hour; prompt and answer
//!   lengths log-normal, given by their median and 95th percentile.
//! - **An instance** of a pool's engine runs as many sequences as its engine limit, its KV cache
//!   (each sequence holds its prompt and answer) and the slowest decode allowed permit; each
//!   decodes at `speed / (1 + α (n − 1))` with `n` at that batch, so a request holds a sequence
//!   for its prefill and its decode at the full batch's speed (the busy case, pessimistic when
//!   batches are smaller).
//! - **Waiting** (`queue`): the pool's sequences are the servers of an M/M/c queue (Erlang C),
//!   the wait stretched by the Allen–Cunneen factor for service times that are not exponential;
//!   time to first token = a fixed part + the wait + the request's own prefill.
//! - **Shares** (`shares`): weighted water-filling of the pool's sequences at the peak.
//! - **Tiers** (`tiers`): replicas from measured CPU and throughput per replica, rows and scripts
//!   a second against what one PostgreSQL and one Redis absorb.
//!
//! **Invariant:** no I/O but the caller's text in and strings out (text, Markdown, SVG); no
//! clock, no randomness: a scenario always gives the same plan.

mod chart;
pub mod lengths;
pub mod pools;
pub mod queue;
mod report;
pub mod scenario;
pub mod shares;
mod table;
pub mod tiers;

pub use scenario::{Scenario, ScenarioError};

/// A scenario's plan.
#[derive(Debug, Clone)]
pub struct Plan {
    pub scenario: Scenario,
    pub pools: Vec<pools::PoolPlan>,
    /// Per pool, in the same order: each entity's share at the peak.
    pub shares: Vec<Vec<shares::EntityShare>>,
    pub tiers: tiers::Tiers,
}

/// A file of the written report: its name in the output directory and its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFile {
    pub name: String,
    pub content: String,
}

impl Plan {
    /// Plans a scenario read from its text.
    pub fn from_text(text: &str) -> Result<Plan, ScenarioError> {
        Scenario::parse(text).map(Plan::new)
    }

    pub fn new(scenario: Scenario) -> Plan {
        let pools = pools::plan_pools(&scenario);
        let shares = pools
            .iter()
            .map(|pool| shares::shares(&scenario, pool))
            .collect();
        let tiers = tiers::tiers(&scenario, &pools);
        Plan {
            scenario,
            pools,
            shares,
            tiers,
        }
    }

    /// The report for the terminal.
    pub fn text(&self) -> String {
        report::text(self)
    }

    /// The report's files: `report.md` and its SVG charts (two a pool: arrivals over the day
    /// against capacity, p95 time to first token against GPUs).
    pub fn files(&self) -> Vec<ReportFile> {
        let charts = chart::charts(self);
        let mut files = vec![ReportFile {
            name: "report.md".to_owned(),
            content: report::markdown(self, &charts),
        }];
        files.extend(charts);
        files
    }
}
