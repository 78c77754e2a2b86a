//! A table of the report, written once and rendered twice: aligned text for the terminal,
//! Markdown for the report file. And the report's number formats.

/// A titled table; columns of figures are right-aligned, the others left-aligned.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub title: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Sentences after the table.
    pub notes: Vec<String>,
}

impl Table {
    pub fn new(title: &str, headers: &[&str]) -> Table {
        Table {
            title: title.to_owned(),
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            ..Table::default()
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn note(&mut self, note: String) {
        self.notes.push(note);
    }

    /// Whether column `index` holds figures only.
    fn is_figures(&self, index: usize) -> bool {
        let figure = |cell: &str| {
            cell.chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit() || "∞–>-".contains(c))
        };
        !self.rows.is_empty()
            && self
                .rows
                .iter()
                .all(|row| row.get(index).is_none_or(|cell| figure(cell)))
    }

    pub fn text(&self) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| -> String {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(i, (cell, width))| match self.is_figures(i) {
                    false => format!("{cell:<width$}"),
                    true => format!("{cell:>width$}"),
                })
                .collect();
            padded.join("  ").trim_end().to_owned()
        };
        let mut out = format!("{}\n", self.title);
        if !self.headers.is_empty() {
            out.push_str(&line(&self.headers));
            out.push('\n');
        }
        for row in &self.rows {
            out.push_str(&line(row));
            out.push('\n');
        }
        for note in &self.notes {
            out.push_str(&format!("  {note}\n"));
        }
        out
    }

    pub fn markdown(&self) -> String {
        let mut out = format!("## {}\n\n", self.title);
        if !self.headers.is_empty() {
            let cells = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
            out.push_str(&cells(&self.headers));
            let rule: Vec<String> = (0..self.headers.len())
                .map(|i| match self.is_figures(i) {
                    false => "---".to_owned(),
                    true => "---:".to_owned(),
                })
                .collect();
            out.push_str(&cells(&rule));
            for row in &self.rows {
                out.push_str(&cells(row));
            }
            out.push('\n');
        }
        for note in &self.notes {
            out.push_str(&format!("- {note}\n"));
        }
        if !self.notes.is_empty() {
            out.push('\n');
        }
        out
    }
}

/// A count with thousands separators: `1,234,567`.
pub fn count(value: f64) -> String {
    if !value.is_finite() {
        return "∞".to_owned();
    }
    let rounded = value.round().abs() as u64;
    let digits = rounded.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    match value < -0.5 {
        true => format!("-{out}"),
        false => out,
    }
}

/// A figure with as many decimals as its size needs: `0.042`, `3.7`, `1,234`.
pub fn figure(value: f64) -> String {
    match value.abs() {
        v if !v.is_finite() => "∞".to_owned(),
        v if v >= 100.0 => count(value),
        v if v >= 10.0 => format!("{value:.1}"),
        v if v >= 1.0 => format!("{value:.2}"),
        _ => format!("{value:.3}"),
    }
}

pub fn percent(value: f64) -> String {
    format!("{:.1} %", value * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_as_people_write_them() {
        assert_eq!(count(1_234_567.4), "1,234,567");
        assert_eq!(count(999.0), "999");
        assert_eq!(count(f64::INFINITY), "∞");
        assert_eq!(figure(0.04213), "0.042");
        assert_eq!(figure(3.7), "3.70");
        assert_eq!(figure(12345.0), "12,345");
        assert_eq!(percent(0.8766), "87.7 %");
    }

    #[test]
    fn one_table_renders_as_text_and_markdown() {
        let mut table = Table::new("Pools", &["pool", "GPUs"]);
        table.row(vec!["small".to_owned(), "12".to_owned()]);
        table.note("sized for p95".to_owned());
        assert_eq!(
            table.text(),
            "Pools\npool   GPUs\nsmall    12\n  sized for p95\n"
        );
        assert_eq!(
            table.markdown(),
            "## Pools\n\n| pool | GPUs |\n| --- | ---: |\n| small | 12 |\n\n- sized for p95\n\n"
        );
    }
}
