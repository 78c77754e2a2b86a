//! What a replica needs to count its rate limits and budgets elsewhere (the replicas' shared
//! counters, crate `counters`) with the same rules as this table: each scope's configured rules
//! read in one pass, and the response headers computed from buckets counted outside.
//!
//! The table stays the configuration's home: the admin API and the cluster refresh set limits and
//! budgets here whether or not the counting happens in this process.

use smallvec::SmallVec;

use domain::UnixMillis;

use crate::admit::Admission;
use crate::budget::Budget;
use crate::gcra::GcraStatus;
use crate::rate::{LimitKind, Limits, RateHeaders, RateStatus, is_tighter};
use crate::scope::Scope;

/// The rules of one scope of a request, as configured at the instant of the read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeRules {
    pub scope: Scope,
    pub limits: Limits,
    pub budgets: SmallVec<[BudgetRule; 2]>,
}

/// One budget of a scope, in its period at the instant of the read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetRule {
    pub budget: Budget,
    /// What this table counted as spent in the period: recomputed from usage records at start, so
    /// it seeds a shared counter that does not exist yet.
    pub spent: u64,
    pub period_start: UnixMillis,
    pub resets_at: UnixMillis,
}

/// A bucket counted elsewhere: `debt` ticks (of `1 / limit` ms) until it is full again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Debt {
    pub kind: LimitKind,
    pub limit: u64,
    pub debt: u64,
}

impl Admission {
    /// The rules of each of `scopes` that has a limit or a budget, in their order, a scope listed
    /// twice once. Budgets are rolled over into the period in force at `now`.
    pub fn rules(&self, scopes: &[Scope], now: UnixMillis) -> Vec<ScopeRules> {
        let mut rules = Vec::with_capacity(scopes.len());
        for (index, scope) in scopes.iter().enumerate() {
            if scopes[..index].contains(scope) {
                continue;
            }
            self.with_entry(scope, |limits, budgets| {
                let budgets = budgets
                    .map(|state| {
                        state.roll_over(self.calendar(), now);
                        BudgetRule {
                            budget: state.config,
                            spent: state.spent,
                            period_start: state.period_start,
                            resets_at: state.resets_at,
                        }
                    })
                    .collect();
                rules.push(ScopeRules {
                    scope: scope.clone(),
                    limits,
                    budgets,
                });
            });
        }
        rules
    }
}

impl RateHeaders {
    /// The `x-ratelimit-*` values from buckets counted elsewhere: per kind, the tightest of the
    /// caller's own scopes ([`Scope::is_personal`]), as [`Admission::check_and_charge`] reports.
    pub fn from_debts<'a>(debts: impl IntoIterator<Item = (&'a Scope, Debt)>) -> RateHeaders {
        let mut requests: Option<(&Scope, GcraStatus)> = None;
        let mut tokens: Option<(&Scope, GcraStatus)> = None;
        for (scope, debt) in debts.into_iter().filter(|(s, _)| s.is_personal()) {
            let status = GcraStatus::of_debt(debt.limit, debt.debt);
            let best = match debt.kind {
                LimitKind::Requests => &mut requests,
                LimitKind::Tokens => &mut tokens,
            };
            if best.as_ref().is_none_or(|(_, b)| is_tighter(&status, b)) {
                *best = Some((scope, status));
            }
        }
        let status = |best: Option<(&Scope, GcraStatus)>| {
            best.map(|(scope, status)| RateStatus {
                scope: scope.clone(),
                limit: status.limit,
                remaining: status.remaining,
                reset: status.reset(),
            })
        };
        RateHeaders {
            requests: status(requests),
            tokens: status(tokens),
        }
    }
}

#[cfg(test)]
mod tests;
