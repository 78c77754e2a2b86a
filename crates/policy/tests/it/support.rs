//! Helpers shared by the tests: a deterministic pseudo-random generator and the `check` view of
//! a scan as `(type, matched text)` pairs, which reads better in failures than byte offsets.

use policy::{Detector, Span};

/// xorshift64*: deterministic, dependency-free, good enough to vary test inputs.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn digits(&mut self, count: usize) -> String {
        (0..count)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// The scan of `text` as `(TYPE, matched text)`, after checking the span invariants every scan
/// must keep: sorted, non-overlapping, on character boundaries.
pub fn scan_pairs(detector: &Detector, text: &str) -> Vec<(String, String)> {
    let spans = detector.scan(text);
    assert_invariants(text, &spans);
    spans
        .iter()
        .map(|span| {
            (
                span.kind.as_str().to_owned(),
                text[span.start..span.end].to_owned(),
            )
        })
        .collect()
}

pub fn assert_invariants(text: &str, spans: &[Span]) {
    let mut previous_end = 0;
    for span in spans {
        assert!(span.start < span.end, "empty span {span:?} in {text:?}");
        assert!(
            span.start >= previous_end,
            "overlapping or unsorted {spans:?} in {text:?}"
        );
        assert!(
            text.is_char_boundary(span.start) && text.is_char_boundary(span.end),
            "span {span:?} off a character boundary in {text:?}"
        );
        previous_end = span.end;
    }
}

/// Luhn check digit for `body` (digits as ASCII), computed here rather than by the crate.
pub fn luhn_check_digit(body: &str) -> char {
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            // The check digit will sit to the right, so the body's last digit is doubled.
            if i % 2 == 0 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    char::from(b'0' + ((10 - sum % 10) % 10) as u8)
}

/// `number mod 97` for a decimal string of any length.
pub fn mod97(number: &str) -> u64 {
    number
        .bytes()
        .fold(0, |acc, b| (acc * 10 + u64::from(b - b'0')) % 97)
}

/// IBAN check digits for a country and BBAN (ISO 13616).
pub fn iban_check_digits(country: &str, bban: &str) -> String {
    let rearranged: String = format!("{bban}{country}00")
        .chars()
        .map(|c| match c.to_digit(36) {
            Some(v) => v.to_string(),
            None => panic!("not alphanumeric: {c}"),
        })
        .collect();
    format!("{:02}", 98 - mod97(&rearranged))
}

/// Groups of four separated by spaces, as IBANs and cards are printed.
pub fn in_fours(solid: &str) -> String {
    solid
        .as_bytes()
        .chunks(4)
        .map(|chunk| std::str::from_utf8(chunk).unwrap())
        .collect::<Vec<_>>()
        .join(" ")
}
