//! The two Lua scripts, their arguments and their answers.
//!
//! `admit.lua` takes, after `now`, the mode, the estimate's tokens and cost and the number of
//! scopes, for each scope its request and token limits (0: none) and its number of budgets, and
//! for each budget its unit (0 tokens, 1 money), hard limit, soft threshold percent (0: none),
//! seed (the spending this replica knows) and expiry instant. Keys: each scope's rate key followed
//! by its budgets' keys. It answers `1` (admitted) or `0`, then per scope four numbers — request
//! debt, request overshoot, token debt, token overshoot (debts in ticks of `1 / limit` ms, after
//! the charge when admitted; `-1` where no limit applies; a token overshoot of `-2`: the request
//! alone is larger than the limit) — and per budget three: whether it fits, what it commits, and
//! whether this admission crossed its soft threshold first in the period.
//!
//! Keys carry the prefix as a Redis Cluster hash tag (`{fabrique}:…`), so that every key a
//! script touches lives in one slot.

use admission::{
    BudgetRule, BudgetUnit, BudgetWarning, Consumption, Debt, LimitKind, Period, RateHeaders,
    Refusal, Refused, Scope, ScopeRules, ticks_to_duration,
};
use domain::UnixMillis;
use redis::{Script, ScriptInvocation};

/// How long a budget's counter outlives its period: settlements of requests admitted just before
/// midnight still find it.
pub(crate) const BUDGET_KEY_GRACE_MS: i64 = 86_400_000;

/// What an admission script is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Count the request, charge its tokens and reserve its budgets, if everything allows it.
    Whole = 0,
    /// Record the count of a request that already left: charged, never refused.
    RecordCount = 3,
}

pub(crate) struct Scripts {
    pub admit: Script,
    pub settle: Script,
}

impl Scripts {
    pub fn new() -> Scripts {
        Scripts {
            admit: Script::new(include_str!("admit.lua")),
            settle: Script::new(include_str!("settle.lua")),
        }
    }
}

/// Names of the keys, under one prefix.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    /// `{prefix}`, a hash tag.
    tag: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Keys {
        Keys {
            tag: format!("{{{prefix}}}"),
        }
    }

    /// The live replicas, scored by when their lease runs out (`allotment.rs`).
    pub fn live_replicas(&self) -> String {
        format!("{}:replicas", self.tag)
    }

    /// The replicas' holdings and demands at one endpoint (`allotment.rs`).
    pub fn allotments(&self, endpoint: &str) -> String {
        format!("{}:allotments:{endpoint}", self.tag)
    }

    /// What each replica served each entity of a pool (`service.rs`).
    pub fn service(&self, pool: &str) -> String {
        format!("{}:service:{pool}", self.tag)
    }

    pub fn rate(&self, scope: &Scope) -> String {
        format!("{}:rate:{}:{}", self.tag, scope.kind(), scope.id())
    }

    fn budget(&self, scope: &Scope, rule: &BudgetRule, period_start: UnixMillis) -> String {
        self.budget_of(scope, rule.budget.period, rule.budget.unit, period_start)
    }

    /// The counter of `scope`'s budget by `period` and `unit`, in the period from `period_start`.
    pub fn budget_of(
        &self,
        scope: &Scope,
        period: Period,
        unit: BudgetUnit,
        period_start: UnixMillis,
    ) -> String {
        format!(
            "{}:budget:{}:{}:{}:{}:{period_start}",
            self.tag,
            scope.kind(),
            scope.id(),
            period.as_str(),
            unit.as_str(),
        )
    }
}

fn unit_code(unit: BudgetUnit) -> u8 {
    match unit {
        BudgetUnit::Tokens => 0,
        BudgetUnit::MoneyMicros => 1,
    }
}

/// The admission script's call for `rules`.
pub(crate) fn admit_call<'s>(
    script: &'s Script,
    keys: &Keys,
    rules: &[ScopeRules],
    estimate: Consumption,
    mode: Mode,
    now: UnixMillis,
) -> ScriptInvocation<'s> {
    let mut call = script.prepare_invoke();
    call.arg(now)
        .arg(mode as u8)
        .arg(estimate.tokens)
        .arg(estimate.cost_micros)
        .arg(rules.len());
    for rule in rules {
        let budgets: &[BudgetRule] = match mode {
            Mode::Whole => &rule.budgets,
            Mode::RecordCount => &[],
        };
        call.key(keys.rate(&rule.scope))
            .arg(rule.limits.requests_per_minute.unwrap_or(0))
            .arg(rule.limits.tokens_per_minute.unwrap_or(0))
            .arg(budgets.len());
        for budget in budgets {
            call.key(keys.budget(&rule.scope, budget, budget.period_start))
                .arg(unit_code(budget.budget.unit))
                .arg(budget.budget.hard_limit)
                .arg(budget.budget.soft_threshold_percent.unwrap_or(0))
                .arg(budget.spent)
                .arg(budget.resets_at.saturating_add(BUDGET_KEY_GRACE_MS));
        }
    }
    call
}

/// The settlement script's call: `admitted` are the rules read at admission, `current` the same
/// scopes' budgets in the period in force now (for the real amount).
pub(crate) fn settle_call<'s>(
    script: &'s Script,
    keys: &Keys,
    admitted: &[ScopeRules],
    current: &[ScopeRules],
    (estimate, actual): (Consumption, Consumption),
    now: UnixMillis,
) -> ScriptInvocation<'s> {
    let mut call = script.prepare_invoke();
    call.arg(now)
        .arg(estimate.tokens)
        .arg(actual.tokens)
        .arg(estimate.cost_micros)
        .arg(actual.cost_micros)
        .arg(admitted.len());
    for rule in admitted {
        let now_rule = current.iter().find(|r| r.scope == rule.scope);
        let budgets: Vec<(&BudgetRule, &BudgetRule)> = rule
            .budgets
            .iter()
            .filter_map(|b| {
                let same = |n: &&BudgetRule| {
                    n.budget.period == b.budget.period && n.budget.unit == b.budget.unit
                };
                Some((b, now_rule?.budgets.iter().find(same)?))
            })
            .collect();
        call.key(keys.rate(&rule.scope))
            .arg(rule.limits.tokens_per_minute.unwrap_or(0))
            .arg(budgets.len());
        for (then, now) in budgets {
            let seed = if then.period_start == now.period_start {
                then.spent
            } else {
                0
            };
            call.key(keys.budget(&rule.scope, then, then.period_start))
                .key(keys.budget(&rule.scope, now, now.period_start))
                .arg(unit_code(then.budget.unit))
                .arg(seed)
                .arg(now.resets_at.saturating_add(BUDGET_KEY_GRACE_MS));
        }
    }
    call
}

/// What the admission script answered, read against the rules it was given.
pub(crate) struct Answer {
    pub admitted: bool,
    pub debts: Vec<(Scope, Debt)>,
    pub refusal: Option<Refusal>,
    pub warning: Option<BudgetWarning>,
    pub crossed: Vec<BudgetWarning>,
}

/// An answer of the wrong shape: a script and a replica of different versions, say.
#[derive(Debug, thiserror::Error)]
#[error("the shared counters answered {0} numbers, not the shape asked for")]
pub(crate) struct Malformed(pub usize);

/// Reads the admission script's answer.
pub(crate) fn read_answer(
    answer: &[i64],
    rules: &[ScopeRules],
    estimate: Consumption,
) -> Result<Answer, Malformed> {
    let malformed = || Malformed(answer.len());
    let mut numbers = answer.iter().copied();
    let mut next = || numbers.next().ok_or_else(malformed);
    let admitted = next()? == 1;
    let mut debts = Vec::new();
    let mut worst = Worst::default();
    let mut warning: Option<(u128, BudgetWarning)> = None;
    let mut crossed = Vec::new();
    for rule in rules {
        let scope = &rule.scope;
        let limits = [
            (
                LimitKind::Requests,
                rule.limits.requests_per_minute.map(u64::from),
                1,
            ),
            (
                LimitKind::Tokens,
                rule.limits.tokens_per_minute,
                estimate.tokens,
            ),
        ];
        for (kind, limit, requested) in limits {
            let (debt, over) = (next()?, next()?);
            let Some(limit) = limit.filter(|_| debt >= 0) else {
                continue;
            };
            debts.push((
                scope.clone(),
                Debt {
                    kind,
                    limit,
                    debt: debt.unsigned_abs(),
                },
            ));
            worst.rate(scope, kind, limit, requested, over);
        }
        for budget in &rule.budgets {
            let (fits, committed, first) = (next()? == 1, next()?.unsigned_abs(), next()? == 1);
            let config = budget.budget;
            if !fits {
                worst.budget(scope, budget);
            }
            let Some(percent) = config.soft_threshold_percent.filter(|_| admitted) else {
                continue;
            };
            let limit = u128::from(config.hard_limit);
            if u128::from(committed) * 100 < limit * u128::from(percent) {
                continue;
            }
            let this = BudgetWarning {
                scope: scope.clone(),
                period: config.period,
                unit: config.unit,
                committed,
                limit: config.hard_limit,
            };
            if first {
                crossed.push(this.clone());
            }
            let level = (u128::from(committed) * 1_000_000)
                .checked_div(limit)
                .unwrap_or(u128::MAX);
            if scope.is_personal() && warning.as_ref().is_none_or(|(w, _)| level > *w) {
                warning = Some((level, this));
            }
        }
    }
    Ok(Answer {
        admitted,
        debts,
        refusal: worst.into_refusal(),
        warning: warning.map(|(_, w)| w),
        crossed,
    })
}

impl Answer {
    pub fn headers(&self) -> RateHeaders {
        RateHeaders::from_debts(self.debts.iter().map(|(s, d)| (s, *d)))
    }

    /// The refusal, with the headers as they stand (nothing was charged).
    pub fn refused(&self) -> Option<Refused> {
        let refusal = self.refusal.clone().filter(|_| !self.admitted)?;
        Some(Refused {
            refusal,
            rate: Box::new(self.headers()),
        })
    }
}

/// The reason to report, chosen as `admission` chooses: a request that can never pass, then the
/// budget that resets last, then the longest wait.
#[derive(Default)]
struct Worst {
    too_large: Option<Refusal>,
    budget: Option<Refusal>,
    rate: Option<Refusal>,
}

impl Worst {
    fn rate(&mut self, scope: &Scope, kind: LimitKind, limit: u64, requested: u64, over: i64) {
        if over == -2 {
            self.too_large.get_or_insert(Refusal::RequestTooLarge {
                scope: scope.clone(),
                kind,
                limit,
                requested,
            });
        } else if over > 0 {
            let retry_after = ticks_to_duration(over.unsigned_abs(), limit);
            let longer = match &self.rate {
                Some(Refusal::RateLimited { retry_after: r, .. }) => retry_after > *r,
                _ => true,
            };
            if longer {
                self.rate = Some(Refusal::RateLimited {
                    scope: scope.clone(),
                    kind,
                    retry_after,
                });
            }
        }
    }

    fn budget(&mut self, scope: &Scope, rule: &BudgetRule) {
        let later = match &self.budget {
            Some(Refusal::BudgetExceeded { resets_at, .. }) => rule.resets_at > *resets_at,
            _ => true,
        };
        if later {
            self.budget = Some(Refusal::BudgetExceeded {
                scope: scope.clone(),
                period: rule.budget.period,
                unit: rule.budget.unit,
                resets_at: rule.resets_at,
            });
        }
    }

    fn into_refusal(self) -> Option<Refusal> {
        self.too_large.or(self.budget).or(self.rate)
    }
}
