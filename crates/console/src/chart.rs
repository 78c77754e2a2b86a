//! Charts drawn on the server as SVG with `plotters`: lines of a measure per day, one per group.
//! The browser runs no chart script; the SVG is text the page carries (plotters escapes the
//! labels it writes, and writes presentation attributes, never `style`, which the CSP forbids).

use std::collections::BTreeMap;

use plotters::prelude::*;

/// A series: its name and its value per bucket (index into the chart's buckets).
pub(crate) struct Series {
    pub name: String,
    pub values: BTreeMap<usize, f64>,
}

/// The most lines one chart draws: the groups with the most, the others left out.
pub(crate) const MAX_SERIES: usize = 8;

const WIDTH: u32 = 880;
const HEIGHT: u32 = 340;

/// The chart of `series` over `buckets` (their labels, in order), as an SVG document labelled
/// `label` for assistive technologies; `None` when plotters could not draw it.
pub(crate) fn lines(buckets: &[String], series: &[Series], label: &str) -> Option<String> {
    let mut svg = String::new();
    draw(&mut svg, buckets, series).ok()?;
    // An image with a name: `role="img"` and `aria-label` on the root element.
    let label = label
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;");
    Some(svg.replacen(
        "<svg ",
        &format!("<svg role=\"img\" aria-label=\"{label}\" "),
        1,
    ))
}

fn draw(
    svg: &mut String,
    buckets: &[String],
    series: &[Series],
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::with_string(svg, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let highest = series
        .iter()
        .flat_map(|s| s.values.values())
        .fold(0.0_f64, |a, b| a.max(*b));
    let top = if highest > 0.0 { highest * 1.1 } else { 1.0 };
    let last = buckets.len().saturating_sub(1).max(1);
    let mut chart = ChartBuilder::on(&root)
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d(0..last, 0.0..top)?;
    chart
        .configure_mesh()
        .x_labels(buckets.len().clamp(2, 8))
        .x_label_formatter(&|index| {
            buckets
                .get(*index)
                .map(|b| b.get(..10).unwrap_or(b).to_owned())
                .unwrap_or_default()
        })
        .y_label_formatter(&|value| match top < 10.0 {
            // Small figures (a few requests, a cost in units) need their decimals.
            true => format!("{value:.1}"),
            false => format!("{value:.0}"),
        })
        .label_style(("sans-serif", 13).into_font().color(&BLACK))
        .draw()?;
    for (index, one) in series.iter().enumerate() {
        let colour = Palette99::pick(index).to_rgba();
        chart
            .draw_series(LineSeries::new(
                (0..buckets.len()).map(|i| (i, one.values.get(&i).copied().unwrap_or(0.0))),
                colour.stroke_width(2),
            ))?
            .label(one.name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], colour));
    }
    if !series.is_empty() {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .label_font(("sans-serif", 13).into_font().color(&BLACK))
            .draw()?;
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_is_an_svg_image_with_a_name_its_lines_and_escaped_labels() {
        let buckets: Vec<String> = (1..=3).map(|d| format!("2026-11-0{d}T00:00:00Z")).collect();
        let series = vec![
            Series {
                name: "acme".to_owned(),
                values: BTreeMap::from([(0, 3.0), (1, 5.0), (2, 1.0)]),
            },
            Series {
                name: "<script>".to_owned(),
                values: BTreeMap::from([(1, 2.0)]),
            },
        ];
        let svg = lines(&buckets, &series, "Usage \"per\" day").unwrap();
        assert!(svg.starts_with("<svg role=\"img\" aria-label=\"Usage &quot;per&quot; day\" "));
        assert!(svg.contains("<polyline"), "{svg}");
        assert!(svg.contains("2026-11-02"));
        assert!(!svg.contains("<script>") && svg.contains("&lt;script&gt;"));
        assert!(!svg.contains("style="), "the CSP forbids inline style");
    }
}
