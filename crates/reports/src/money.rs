//! Money and shares as text, computed with integers only: a report's figures add up exactly.

/// Micro-units as currency units with six decimals: `12_345_678` → `12.345678`.
pub fn currency_units(micros: u64) -> String {
    format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000)
}

/// `part ÷ whole` as a decimal fraction with six decimals, rounded half up (`1 ÷ 3` →
/// `0.333333`, `2 ÷ 3` → `0.666667`); `0.000000` when `whole` is zero.
pub fn share(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "0.000000".to_owned();
    }
    let (part, whole) = (u128::from(part), u128::from(whole));
    let millionths = (part * 2_000_000 + whole) / (2 * whole);
    format!("{}.{:06}", millionths / 1_000_000, millionths % 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currency_units_keep_every_micro_unit() {
        assert_eq!(currency_units(0), "0.000000");
        assert_eq!(currency_units(1), "0.000001");
        assert_eq!(currency_units(12_345_678), "12.345678");
        assert_eq!(currency_units(u64::MAX), "18446744073709.551615");
    }

    #[test]
    fn shares_round_half_up_at_six_decimals() {
        assert_eq!(share(1, 3), "0.333333");
        assert_eq!(share(2, 3), "0.666667");
        assert_eq!(share(1, 2_000_000), "0.000001");
        assert_eq!(share(1, 2_000_001), "0.000000");
        assert_eq!(share(5, 5), "1.000000");
        assert_eq!(share(0, 0), "0.000000");
        assert_eq!(share(u64::MAX, u64::MAX), "1.000000");
    }
}
