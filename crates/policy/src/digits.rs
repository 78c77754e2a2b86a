//! Reading a number once as digit groups (`06 12 34 56 78` → 06|12|34|56|78), so every numeric
//! detector inspects the same fixed-size, stack-allocated reading instead of re-parsing bytes.

use crate::boundary::{Sep, separator_at};

/// More digits than any numeric type has (a card has at most 19); a longer run is read up to
/// here, and the digit that follows then fails the boundary check.
pub(crate) const MAX_DIGITS: usize = 20;

/// The digit groups of a number, separated by one kind of separator.
#[derive(Debug)]
pub(crate) struct DigitGroups {
    digits: [u8; MAX_DIGITS],
    digit_count: usize,
    /// Length of each group, in digits.
    group_lens: [u8; MAX_DIGITS],
    /// Byte offset just after each group's last digit.
    group_ends: [usize; MAX_DIGITS],
    /// Digits before the end of each group (running total of `group_lens`).
    digits_through: [u8; MAX_DIGITS],
    group_count: usize,
    /// The separator between groups, if there is more than one group.
    pub(crate) sep: Option<Sep>,
}

impl DigitGroups {
    /// Reads the digits starting at `start`. A separator continues the number only if a digit
    /// follows it and it is the kind already used. With `single_group`, stops after the first
    /// group.
    pub(crate) fn read(bytes: &[u8], start: usize, single_group: bool) -> Self {
        let mut groups = DigitGroups {
            digits: [0; MAX_DIGITS],
            digit_count: 0,
            group_lens: [0; MAX_DIGITS],
            group_ends: [0; MAX_DIGITS],
            digits_through: [0; MAX_DIGITS],
            group_count: 0,
            sep: None,
        };
        let mut i = start;
        loop {
            let group_start = groups.digit_count;
            while groups.digit_count < MAX_DIGITS {
                match bytes.get(i) {
                    Some(&b) if b.is_ascii_digit() => {
                        groups.digits[groups.digit_count] = b - b'0';
                        groups.digit_count += 1;
                        i += 1;
                    }
                    _ => break,
                }
            }
            let len = groups.digit_count - group_start;
            if len == 0 {
                break;
            }
            let index = groups.group_count;
            // Both values are at most MAX_DIGITS, so they fit a byte.
            groups.group_lens[index] = len as u8;
            groups.digits_through[index] = groups.digit_count as u8;
            groups.group_ends[index] = i;
            groups.group_count += 1;
            if single_group || groups.digit_count == MAX_DIGITS {
                break;
            }
            let Some((kind, sep_len)) = separator_at(bytes, i) else {
                break;
            };
            if groups.sep.is_some_and(|used| used != kind)
                || !bytes.get(i + sep_len).is_some_and(u8::is_ascii_digit)
            {
                break;
            }
            groups.sep = Some(kind);
            i += sep_len;
        }
        groups
    }

    /// How many groups were read.
    pub(crate) fn group_count(&self) -> usize {
        self.group_count
    }

    /// The lengths of the first `groups` groups.
    pub(crate) fn lens(&self, groups: usize) -> &[u8] {
        &self.group_lens[..groups]
    }

    /// The digit values of the first `groups` groups.
    pub(crate) fn digits(&self, groups: usize) -> &[u8] {
        match groups.checked_sub(1) {
            Some(last) => &self.digits[..usize::from(self.digits_through[last])],
            None => &[],
        }
    }

    /// Byte offset just after the first `groups` groups.
    pub(crate) fn end(&self, groups: usize) -> usize {
        match groups.checked_sub(1) {
            Some(last) => self.group_ends[last],
            None => 0,
        }
    }
}
