//! Conversations grouped by when they were last active, as the list shows them: pinned first, then
//! today, yesterday, the previous 7 days, the previous 30 days, older. Days begin at midnight in
//! the group's time zone (the budgets' calendar), so "yesterday" means the same for every person
//! of the group and a day with a daylight-saving change is still one day.

use admission::{Calendar, Period};
use domain::UnixMillis;

use crate::conversations::Listed;
use crate::text::Text;

/// A group of the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Age {
    Pinned,
    Today,
    Yesterday,
    PreviousWeek,
    PreviousMonth,
    Older,
}

impl Age {
    /// The group's heading.
    pub fn heading(self) -> Text {
        match self {
            Age::Pinned => Text::PinnedConversations,
            Age::Today => Text::Today,
            Age::Yesterday => Text::Yesterday,
            Age::PreviousWeek => Text::PreviousWeek,
            Age::PreviousMonth => Text::PreviousMonth,
            Age::Older => Text::Older,
        }
    }
}

/// The first instants of today, yesterday, 7 days ago and 30 days ago.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Boundaries {
    today: UnixMillis,
    yesterday: UnixMillis,
    week: UnixMillis,
    month: UnixMillis,
}

impl Boundaries {
    /// The boundaries at `now` in the calendar's time zone.
    pub fn at(calendar: &Calendar, now: UnixMillis) -> Boundaries {
        let day_before = |start: UnixMillis| calendar.bounds(Period::Day, start - 1).0;
        let days_before = |start, days| (0..days).fold(start, |day, _| day_before(day));
        let today = calendar.bounds(Period::Day, now).0;
        let yesterday = day_before(today);
        let week = days_before(yesterday, 6);
        let month = days_before(week, 23);
        Boundaries {
            today,
            yesterday,
            week,
            month,
        }
    }

    fn age(&self, listed: &Listed) -> Age {
        let at = listed.updated_at;
        if listed.pinned {
            Age::Pinned
        } else if at >= self.today {
            Age::Today
        } else if at >= self.yesterday {
            Age::Yesterday
        } else if at >= self.week {
            Age::PreviousWeek
        } else if at >= self.month {
            Age::PreviousMonth
        } else {
            Age::Older
        }
    }
}

/// `listed` (pinned first, then the most recent first) cut into its groups, in that order; a
/// group with no conversation is left out.
pub fn group(listed: Vec<Listed>, boundaries: &Boundaries) -> Vec<(Age, Vec<Listed>)> {
    let mut groups: Vec<(Age, Vec<Listed>)> = Vec::new();
    for conversation in listed {
        let age = boundaries.age(&conversation);
        match groups.last_mut() {
            Some((last, members)) if *last == age => members.push(conversation),
            _ => groups.push((age, vec![conversation])),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: UnixMillis = 3_600_000;
    const DAY: UnixMillis = 24 * HOUR;

    fn listed(title: &str, updated_at: UnixMillis, pinned: bool) -> Listed {
        Listed {
            id: title.to_owned(),
            title: title.to_owned(),
            pinned,
            updated_at,
        }
    }

    #[test]
    fn conversations_fall_in_todays_yesterdays_the_weeks_the_months_and_older_groups() {
        let paris = Calendar::new("Europe/Paris").unwrap();
        // 2026-03-30 10:00 in Paris (UTC+2), the day after the change to summer time.
        let now = 1_774_857_600_000;
        let boundaries = Boundaries::at(&paris, now);
        let midnight = now - 10 * HOUR;
        let list = vec![
            listed("pinned long ago", 0, true),
            listed("this morning", midnight + HOUR, false),
            listed("just after midnight", midnight, false),
            listed("just before midnight", midnight - 1, false),
            // Yesterday was 23 hours long: its midnight is 23 hours before today's.
            listed("yesterday at midnight", midnight - 23 * HOUR, false),
            listed("the day before", midnight - 23 * HOUR - 1, false),
            listed("a week ago", midnight - 7 * DAY + HOUR, false),
            listed("eight days ago", midnight - 8 * DAY, false),
            listed("a month ago", midnight - 30 * DAY + HOUR, false),
            listed("long ago", midnight - 31 * DAY, false),
        ];
        let groups: Vec<(Age, Vec<String>)> = group(list, &boundaries)
            .into_iter()
            .map(|(age, members)| (age, members.into_iter().map(|c| c.title).collect()))
            .collect();
        let names = |titles: &[&str]| titles.iter().map(|t| (*t).to_owned()).collect();
        assert_eq!(
            groups,
            vec![
                (Age::Pinned, names(&["pinned long ago"])),
                (Age::Today, names(&["this morning", "just after midnight"])),
                (
                    Age::Yesterday,
                    names(&["just before midnight", "yesterday at midnight"])
                ),
                (Age::PreviousWeek, names(&["the day before", "a week ago"])),
                (
                    Age::PreviousMonth,
                    names(&["eight days ago", "a month ago"])
                ),
                (Age::Older, names(&["long ago"])),
            ]
        );
    }

    #[test]
    fn no_conversation_no_group() {
        let boundaries = Boundaries::at(&Calendar::utc(), 10 * DAY);
        assert!(group(Vec::new(), &boundaries).is_empty());
    }
}
