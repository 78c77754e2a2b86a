//! The person's usage this month against their own budgets, shown in the chat: the month's
//! requests summed from the usage store (one query on the `user_id, started_at` index), the
//! budgets' state where the group counts them (`counters`: this process's memory, or Redis when
//! replicas share it) — spent and reserved, the very figures that admit or refuse their next
//! question. Only the person's own scope is shown: a team's or an entity's
//! figures would tell each member what the others use.

use admission::{BudgetStatus, BudgetUnit, Calendar, Period, Scope};
use domain::{UsageTotals, now_millis};
use store::Store;

use crate::lang::Lang;
use crate::visitor::Person;

/// Reads a person's month.
#[derive(Clone)]
pub struct Meter {
    store: Store,
    counters: counters::Counters,
}

impl std::fmt::Debug for Meter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Meter")
    }
}

/// A person's month so far.
#[derive(Debug, Clone)]
pub struct Month {
    pub totals: UsageTotals,
    /// Their own monthly budgets.
    pub budgets: Vec<BudgetStatus>,
}

impl Meter {
    pub fn new(store: Store, counters: counters::Counters) -> Meter {
        Meter { store, counters }
    }

    /// The group's calendar: when its days and months begin.
    pub fn calendar(&self) -> &Calendar {
        self.counters.admission().calendar()
    }

    /// The person's usage and monthly budgets in the group's calendar month; `None` when the
    /// store cannot say.
    pub async fn month(&self, person: &Person) -> Option<Month> {
        let now = now_millis();
        let (from, to) = self.calendar().bounds(Period::Month, now);
        let user = person.user.id;
        let totals = self.store.usage_of_user(user, from, to).await;
        let totals = match totals {
            Ok(totals) => totals,
            Err(error) => {
                tracing::warn!(%error, "web: a person's usage could not be read");
                return None;
            }
        };
        let budgets = match self.counters.budgets(&Scope::User(user), now).await {
            Ok(budgets) => budgets,
            Err(error) => {
                tracing::warn!(%error, "web: a person's budgets could not be read");
                return None;
            }
        };
        let budgets = budgets
            .into_iter()
            .filter(|budget| budget.period == Period::Month)
            .collect();
        Some(Month { totals, budgets })
    }
}

/// What a budget has taken: settled and reserved.
pub fn committed(budget: &BudgetStatus) -> u64 {
    budget.spent.saturating_add(budget.reserved)
}

/// An amount of `unit` as the person reads it: tokens as a whole number, money with two
/// decimals (`1 234 567` and `0,12` in French, `1,234,567` and `0.12` in English).
pub fn amount(lang: Lang, unit: BudgetUnit, value: u64) -> String {
    match unit {
        BudgetUnit::Tokens => whole(lang, value),
        BudgetUnit::MoneyMicros => money(lang, value),
    }
}

/// A whole number with the language's thousands separator.
pub fn whole(lang: Lang, value: u64) -> String {
    let separator = match lang {
        Lang::Fr => '\u{202f}',
        Lang::En => ',',
    };
    let digits = value.to_string();
    let mut grouped = String::with_capacity(digits.len() * 4 / 3 + 1);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(separator);
        }
        grouped.push(digit);
    }
    grouped
}

/// Money in micro-units, rounded down to the cent, with the language's decimal mark.
pub fn money(lang: Lang, micros: u64) -> String {
    let mark = match lang {
        Lang::Fr => ',',
        Lang::En => '.',
    };
    let cents = micros / 10_000;
    format!("{}{mark}{:02}", whole(lang, cents / 100), cents % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_as_each_language_writes_them() {
        assert_eq!(whole(Lang::En, 1_234_567), "1,234,567");
        assert_eq!(whole(Lang::Fr, 1_234_567), "1\u{202f}234\u{202f}567");
        assert_eq!(whole(Lang::En, 999), "999");
        assert_eq!(whole(Lang::En, 0), "0");
        assert_eq!(money(Lang::En, 123_456), "0.12");
        assert_eq!(money(Lang::Fr, 1_234_560_000), "1\u{202f}234,56");
        assert_eq!(amount(Lang::En, BudgetUnit::Tokens, 1_000), "1,000");
        assert_eq!(amount(Lang::En, BudgetUnit::MoneyMicros, 5_000_000), "5.00");
    }
}
