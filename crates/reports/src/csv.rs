//! CSV cells (RFC 4180) that are safe to open in a spreadsheet: a cell is quoted when it holds a
//! comma, a quote or a line break, and a cell that a spreadsheet would run as a formula (it
//! begins with `=`, `+`, `-`, `@`, a tab or a carriage return) is prefixed with `'`, so text from
//! callers or the corporate directory is shown, never evaluated.

use std::borrow::Cow;

/// `value` as one CSV cell.
pub fn cell(value: &str) -> Cow<'_, str> {
    let formula = value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quoted = value.contains([',', '"', '\r', '\n']);
    match (formula, quoted) {
        (false, false) => Cow::Borrowed(value),
        (true, false) => Cow::Owned(format!("'{value}")),
        (formula, true) => {
            let prefix = if formula { "'" } else { "" };
            Cow::Owned(format!("\"{prefix}{}\"", value.replace('"', "\"\"")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::cell;

    #[test]
    fn cells_are_quoted_and_never_formulas() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("+33 1 23"), "'+33 1 23");
        assert_eq!(cell("-2"), "'-2");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
    }
}
