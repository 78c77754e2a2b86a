//! IBANs of every SEPA country: country code, two check digits and the country's BBAN length,
//! validated by ISO 13616 mod 97. Written as people write them: in any case (`fr76 3000 …`),
//! solid or in groups of any length (`FR76 3000 6000 …`, the RIB's `FR76 30006 00001 …`), the
//! groups separated by one kind of separator (spaces of any width, dots or dashes), and the
//! country code possibly apart from its check digits (`FR 76 …`).

use crate::boundary::{Sep, is_word, separator_at, space_before};
use crate::checksum::iban_valid;

/// The longest IBAN in SEPA (Malta).
const MAX_LEN: usize = 31;

/// The IBAN whose check digits start at the digit `digit`, as `(start, end)`: the two letters
/// before it, or before the space before it, are its country code.
pub(crate) fn find_at_check_digits(bytes: &[u8], digit: usize) -> Option<(usize, usize)> {
    if !bytes.get(digit + 1).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    let country_end = match digit.checked_sub(1).map(|i| bytes[i]) {
        Some(b) if b.is_ascii_alphabetic() => digit,
        Some(b' ') => digit - 1,
        Some(0x80..) => digit - space_before(bytes, digit)?,
        _ => return None,
    };
    let start = country_end.checked_sub(2)?;
    let country = [
        bytes[start].to_ascii_uppercase(),
        bytes[start + 1].to_ascii_uppercase(),
    ];
    let len = sepa_length(country)?;
    if start > 0 && is_word(bytes[start - 1]) {
        return None;
    }
    let mut chars = [0u8; MAX_LEN];
    chars[..2].copy_from_slice(&country);
    chars[2] = bytes[digit];
    chars[3] = bytes[digit + 1];
    let end = read_bban(bytes, digit + 2, &mut chars[4..len])?;
    iban_valid(&chars[..len]).then_some((start, end))
}

/// Reads exactly `chars.len()` letters and digits from `at`, just after the check digits
/// (upper-cased into `chars`), in groups split by one kind of separator; returns where the IBAN
/// ends.
fn read_bban(bytes: &[u8], mut at: usize, chars: &mut [u8]) -> Option<usize> {
    let mut sep: Option<Sep> = None;
    // The check digits start the first group (`NL91ABNA…`, `NL 91AB NA04…`).
    let mut group = Group { len: 2, digits: 2 };
    // Whether every group after the first has been four long: then the last one is what is
    // left, whatever it holds (`CH20 8314 2624 1789 5615 B`).
    let mut in_fours = true;
    let mut first = true;
    for slot in chars.iter_mut() {
        if !bytes.get(at).is_some_and(u8::is_ascii_alphanumeric) {
            let (kind, len) = separator_at(bytes, at)?;
            if sep.is_some_and(|used| used != kind) || !group.complete() {
                return None;
            }
            in_fours &= first || group.len == 4;
            first = false;
            sep = Some(kind);
            at += len;
            group = Group::default();
        }
        let c = *bytes.get(at)?;
        if !c.is_ascii_alphanumeric() {
            return None;
        }
        group.add(c);
        *slot = c.to_ascii_uppercase();
        at += 1;
    }
    // The value ends its token: no letter or digit glued to it, and no further group of digits
    // (`BE68 5390 0754 7034 1234` is a longer number); a word after it (`EUR`, `a été`) is the
    // sentence going on.
    if bytes.get(at).is_some_and(|&b| is_word(b)) || !(group.complete() || in_fours) {
        return None;
    }
    let continues = separator_at(bytes, at)
        .is_some_and(|(_, len)| bytes.get(at + len).is_some_and(u8::is_ascii_digit));
    (!continues).then_some(at)
}

/// One group of a BBAN as it is read. A group of letters only is a bank code (`WEST`, `ABNA`,
/// `MALT`): four letters, never fewer, so that a short word after a number cannot complete it.
#[derive(Default)]
struct Group {
    len: usize,
    digits: usize,
}

impl Group {
    fn add(&mut self, c: u8) {
        self.len += 1;
        self.digits += usize::from(c.is_ascii_digit());
    }

    fn complete(&self) -> bool {
        self.digits > 0 || self.len == 4
    }
}

/// The IBAN length of each country in the SEPA scheme (EU, EEA, Switzerland, the UK, the
/// microstates, and the 2025 members Albania, Moldova, Montenegro, North Macedonia, Serbia).
/// French overseas departments and territories use `FR` IBANs; Jersey, Guernsey and the Isle of
/// Man use `GB` ones.
const SEPA: [([u8; 2], u8); 42] = [
    (*b"AD", 24),
    (*b"AL", 28),
    (*b"AT", 20),
    (*b"BE", 16),
    (*b"BG", 22),
    (*b"CH", 21),
    (*b"CY", 28),
    (*b"CZ", 24),
    (*b"DE", 22),
    (*b"DK", 18),
    (*b"EE", 20),
    (*b"ES", 24),
    (*b"FI", 18),
    (*b"FR", 27),
    (*b"GB", 22),
    (*b"GI", 23),
    (*b"GR", 27),
    (*b"HR", 21),
    (*b"HU", 28),
    (*b"IE", 22),
    (*b"IS", 26),
    (*b"IT", 27),
    (*b"LI", 21),
    (*b"LT", 20),
    (*b"LU", 20),
    (*b"LV", 21),
    (*b"MC", 27),
    (*b"MD", 24),
    (*b"ME", 22),
    (*b"MK", 19),
    (*b"MT", 31),
    (*b"NL", 18),
    (*b"NO", 15),
    (*b"PL", 28),
    (*b"PT", 25),
    (*b"RO", 24),
    (*b"RS", 22),
    (*b"SE", 24),
    (*b"SI", 19),
    (*b"SK", 24),
    (*b"SM", 27),
    (*b"VA", 22),
];

/// [`SEPA`] indexed by country code, built at compile time: one lookup per candidate.
const LENGTHS: [u8; 26 * 26] = {
    let mut lengths = [0; 26 * 26];
    let mut i = 0;
    while i < SEPA.len() {
        let (code, len) = SEPA[i];
        lengths[(code[0] - b'A') as usize * 26 + (code[1] - b'A') as usize] = len;
        i += 1;
    }
    lengths
};

/// The IBAN length of `country` (two uppercase ASCII letters), if it is in SEPA.
fn sepa_length(country: [u8; 2]) -> Option<usize> {
    let index = usize::from(country[0].checked_sub(b'A')?) * 26
        + usize::from(country[1].checked_sub(b'A')?);
    match LENGTHS.get(index).copied()? {
        0 => None,
        len => Some(usize::from(len)),
    }
}
