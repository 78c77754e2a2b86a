//! Email addresses, found from their `@`: the local part is read backwards, the domain forwards.
//! Letters may be any Unicode letters (internationalized addresses); the top-level domain must be
//! at least two ASCII letters, which keeps `@` mentions and `a@b` noise out.

/// RFC 5321 limits, which also bound the work done per `@`.
const MAX_LOCAL_CHARS: usize = 64;
const MAX_DOMAIN_BYTES: usize = 253;

/// The `(start, end)` of the email address whose `@` is at byte `at`.
pub(crate) fn around_at(text: &str, at: usize) -> Option<(usize, usize)> {
    let start = local_part_start(text, at)?;
    let end = domain_end(text, at + 1)?;
    Some((start, end))
}

/// The characters of the unquoted local parts people actually write.
fn is_local_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-')
}

fn local_part_start(text: &str, at: usize) -> Option<usize> {
    let mut start = at;
    for (count, (index, c)) in text[..at].char_indices().rev().enumerate() {
        if !is_local_char(c) {
            break;
        }
        if count == MAX_LOCAL_CHARS {
            return None;
        }
        start = index;
    }
    let bytes = text.as_bytes();
    // A leading dot is the previous sentence's punctuation, not part of the address.
    while start < at && bytes[start] == b'.' {
        start += 1;
    }
    (start < at && bytes[at - 1] != b'.').then_some(start)
}

fn domain_end(text: &str, from: usize) -> Option<usize> {
    let rest = text.get(from..)?;
    let mut len = 0;
    for (index, c) in rest.char_indices() {
        if !(c.is_alphanumeric() || c == '-' || c == '.') {
            break;
        }
        len = index + c.len_utf8();
        if len > MAX_DOMAIN_BYTES {
            return None;
        }
    }
    // A trailing dot ends the sentence.
    let domain = rest[..len].trim_end_matches('.');
    let mut labels = domain.split('.');
    let top_level = labels.next_back()?;
    let mut label_count = 1;
    for label in labels {
        if label.is_empty() || label.starts_with('-') || label.ends_with('-') {
            return None;
        }
        label_count += 1;
    }
    let top_level_ok = top_level.len() >= 2 && top_level.bytes().all(|b| b.is_ascii_alphabetic());
    (label_count >= 2 && top_level_ok).then_some(from + domain.len())
}
