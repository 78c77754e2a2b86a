//! The monthly chargeback: per entity, then per team, model and use case, the requests, tokens and
//! cost of a month, and each one's share of the pool (the whole group's cost that month).
//!
//! Every figure is an integer sum of usage records (the store adds them in SQL); entity and total
//! rows are sums of the lines below them, so the report adds up exactly at every level. Money is
//! shown twice: in micro-units, and in currency units with six decimals (`money`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use domain::UsageTotals;
use serde::Serialize;

use crate::money::{currency_units, share};

/// One line of usage as the store sums it: an entity, team, model and use case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargebackLine {
    /// `None` for group-level service accounts, which belong to no entity.
    pub entity_id: Option<String>,
    pub entity: Option<String>,
    pub team_id: Option<String>,
    /// The team's display name, when the team still exists.
    pub team: Option<String>,
    pub model: String,
    pub use_case: Option<String>,
    pub totals: UsageTotals,
}

/// The report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Chargeback {
    pub month: String,
    pub time_zone: String,
    /// The month's bounds in the group's time zone, RFC 3339.
    pub from: String,
    pub to: String,
    /// The whole group's month: what shares are fractions of.
    pub pool: Figures,
    /// The sum of the entities below (the pool itself unless the report is filtered).
    pub total: Figures,
    pub entities: Vec<EntityCharge>,
}

/// Requests, tokens, cost and share of one row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Figures {
    pub requests: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_micros: u64,
    /// `cost_micros` in currency units, exactly: `12.345678`.
    pub cost: String,
    /// `cost_micros ÷ pool cost`, six decimals, rounded half up.
    pub share_of_pool: String,
    /// Of the requests, those answered from the response cache (no tokens, no cost).
    pub cache_hits: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntityCharge {
    pub entity: Option<String>,
    pub entity_id: Option<String>,
    #[serde(flatten)]
    pub figures: Figures,
    pub lines: Vec<LineCharge>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineCharge {
    pub team: Option<String>,
    pub team_id: Option<String>,
    pub model: String,
    pub use_case: Option<String>,
    #[serde(flatten)]
    pub figures: Figures,
}

/// What a report covers, as shown in its header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub month: String,
    pub time_zone: String,
    pub from: String,
    pub to: String,
}

impl Chargeback {
    /// Assembles the report: entities in slug order, lines in (team, model, use case) order.
    pub fn build(period: Period, pool: UsageTotals, lines: Vec<ChargebackLine>) -> Chargeback {
        let figures = |totals: &UsageTotals| Figures {
            requests: totals.requests,
            input_tokens: totals.input_tokens,
            output_tokens: totals.output_tokens,
            cost_micros: totals.cost_micros,
            cost: currency_units(totals.cost_micros),
            share_of_pool: share(totals.cost_micros, pool.cost_micros),
            cache_hits: totals.cache_hits,
        };
        let mut by_entity: BTreeMap<(Option<String>, Option<String>), Vec<ChargebackLine>> =
            BTreeMap::new();
        for line in lines {
            by_entity
                .entry((line.entity.clone(), line.entity_id.clone()))
                .or_default()
                .push(line);
        }
        let mut total = UsageTotals::default();
        let entities = by_entity
            .into_iter()
            .map(|((entity, entity_id), mut lines)| {
                lines.sort_by(|a, b| {
                    (&a.team, &a.team_id, &a.model, &a.use_case).cmp(&(
                        &b.team,
                        &b.team_id,
                        &b.model,
                        &b.use_case,
                    ))
                });
                let mut sum = UsageTotals::default();
                for line in &lines {
                    sum.add(&line.totals);
                }
                total.add(&sum);
                EntityCharge {
                    entity,
                    entity_id,
                    figures: figures(&sum),
                    lines: lines
                        .into_iter()
                        .map(|line| LineCharge {
                            figures: figures(&line.totals),
                            team: line.team,
                            team_id: line.team_id,
                            model: line.model,
                            use_case: line.use_case,
                        })
                        .collect(),
                }
            })
            .collect();
        Chargeback {
            month: period.month,
            time_zone: period.time_zone,
            from: period.from,
            to: period.to,
            pool: figures(&pool),
            total: figures(&total),
            entities,
        }
    }

    /// The report as CSV (RFC 4180): one row per line, then its entity's row, and a last `total`
    /// row; the `level` column tells them apart, so summing the `line` rows gives the total.
    pub fn to_csv(&self) -> String {
        let mut csv = String::from(
            "level,entity,entity_id,team,team_id,model,use_case,requests,input_tokens,output_tokens,cost_micros,cost,share_of_pool,cache_hits\r\n",
        );
        for entity in &self.entities {
            for line in &entity.lines {
                row(
                    &mut csv,
                    [
                        "line",
                        text(&entity.entity),
                        text(&entity.entity_id),
                        text(&line.team),
                        text(&line.team_id),
                        &line.model,
                        text(&line.use_case),
                    ],
                    &line.figures,
                );
            }
            row(
                &mut csv,
                [
                    "entity",
                    text(&entity.entity),
                    text(&entity.entity_id),
                    "",
                    "",
                    "",
                    "",
                ],
                &entity.figures,
            );
        }
        row(&mut csv, ["total", "", "", "", "", "", ""], &self.total);
        csv
    }
}

fn text(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or("")
}

fn row(csv: &mut String, labels: [&str; 7], figures: &Figures) {
    for label in labels {
        // Team names come from the corporate directory and may hold anything.
        csv.push_str(&crate::csv::cell(label));
        csv.push(',');
    }
    // Writing to a String cannot fail.
    let _ = write!(
        csv,
        "{},{},{},{},{},{},{}\r\n",
        figures.requests,
        figures.input_tokens,
        figures.output_tokens,
        figures.cost_micros,
        figures.cost,
        figures.share_of_pool,
        figures.cache_hits
    );
}

#[cfg(test)]
mod tests;
