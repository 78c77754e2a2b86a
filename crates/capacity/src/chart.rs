//! The report's charts as SVG text, drawn with `plotters`: for each pool, its arrivals over the
//! working day against what its GPUs take at the target, and its p95 time to first token against
//! its number of GPUs. One drawing function serves both: lines of (x, y) points on linear axes.

use plotters::prelude::*;

use crate::pools::PoolPlan;
use crate::table::count;
use crate::{Plan, ReportFile};

const WIDTH: u32 = 880;
const HEIGHT: u32 = 420;

/// A line of a chart; it is cut where a point is missing.
struct Line {
    name: String,
    points: Vec<Option<(f64, f64)>>,
}

/// What a chart shows.
struct Chart {
    caption: String,
    x_label: &'static str,
    y_label: &'static str,
    x: std::ops::Range<f64>,
    y_top: f64,
    lines: Vec<Line>,
}

pub(crate) fn charts(plan: &Plan) -> Vec<ReportFile> {
    let mut files = Vec::new();
    for pool in &plan.pools {
        let drawn = [
            (
                format!("arrivals-{}.svg", pool.pool.name),
                arrivals(plan, pool),
            ),
            (format!("ttft-{}.svg", pool.pool.name), ttft(pool)),
        ];
        for (name, chart) in drawn {
            if let Some(content) = svg(&chart) {
                files.push(ReportFile { name, content });
            }
        }
    }
    files
}

/// Arrivals each hour (its mean and its busiest minutes) against the pool's capacity.
fn arrivals(plan: &Plan, pool: &PoolPlan) -> Chart {
    let hourly = pool.hourly();
    let factor = plan.scenario.day.peak_minute_factor;
    // Each hour drawn as a step across it, at its middle for a reader's eye.
    let steps = |scale: f64| -> Vec<Option<(f64, f64)>> {
        hourly
            .iter()
            .enumerate()
            .flat_map(|(h, rate)| {
                [
                    Some((h as f64, rate * scale)),
                    Some((h as f64 + 1.0, rate * scale)),
                ]
            })
            .collect()
    };
    let mut lines = vec![
        Line {
            name: "requests/s, hour's mean".to_owned(),
            points: steps(1.0),
        },
        Line {
            name: format!("requests/s, busiest minutes (× {factor})"),
            points: steps(factor),
        },
    ];
    let mut top = hourly.iter().fold(0.0_f64, |a, b| a.max(*b)) * factor;
    if let Some(sizing) = pool.chosen() {
        let capacity = sizing.capacity_per_sec;
        top = top.max(capacity);
        lines.push(Line {
            name: format!(
                "what {} GPUs take at p95 TTFT ≤ {} ms",
                count(sizing.gpus as f64),
                count(pool.pool.target_p95_ttft_ms)
            ),
            points: vec![Some((0.0, capacity)), Some((24.0, capacity))],
        });
    }
    Chart {
        caption: format!(
            "Pool {}: arrivals over the working day and capacity",
            pool.pool.name
        ),
        x_label: "hour of the day",
        y_label: "requests a second",
        x: 0.0..24.0,
        y_top: top * 1.15,
        lines,
    }
}

/// p95 time to first token against GPUs, with the target; sizes that cannot keep up are left out.
fn ttft(pool: &PoolPlan) -> Chart {
    let target = pool.pool.target_p95_ttft_ms;
    let top = target * 4.0;
    let points: Vec<Option<(f64, f64)>> = pool
        .curve
        .iter()
        .map(|(gpus, p95)| p95.filter(|ms| *ms <= top).map(|ms| (*gpus as f64, ms)))
        .collect();
    let first = pool.curve.first().map_or(0.0, |(g, _)| *g as f64);
    let last = pool
        .curve
        .last()
        .map_or(1.0, |(g, _)| *g as f64)
        .max(first + 1.0);
    Chart {
        caption: format!(
            "Pool {}: p95 time to first token at the peak against GPUs",
            pool.pool.name
        ),
        x_label: "GPUs",
        y_label: "p95 TTFT, ms",
        x: first..last,
        y_top: top,
        lines: vec![
            Line {
                name: "p95 time to first token".to_owned(),
                points,
            },
            Line {
                name: format!("target, {} ms", count(target)),
                points: vec![Some((first, target)), Some((last, target))],
            },
        ],
    }
}

/// The chart as an SVG image named by its caption; `None` when plotters could not draw it.
fn svg(chart: &Chart) -> Option<String> {
    let mut svg = String::new();
    draw(&mut svg, chart).ok()?;
    let label = chart
        .caption
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;");
    Some(svg.replacen(
        "<svg ",
        &format!("<svg role=\"img\" aria-label=\"{label}\" "),
        1,
    ))
}

fn draw(svg: &mut String, chart: &Chart) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::with_string(svg, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let top = if chart.y_top > 0.0 { chart.y_top } else { 1.0 };
    let mut plot = ChartBuilder::on(&root)
        .caption(&chart.caption, ("sans-serif", 16).into_font())
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(chart.x.clone(), 0.0..top)?;
    plot.configure_mesh()
        .x_desc(chart.x_label)
        .y_desc(chart.y_label)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| match top < 10.0 {
            true => format!("{y:.1}"),
            false => format!("{y:.0}"),
        })
        .label_style(("sans-serif", 13).into_font().color(&BLACK))
        .draw()?;
    for (index, line) in chart.lines.iter().enumerate() {
        let colour = Palette99::pick(index).to_rgba();
        for (n, segment) in segments(&line.points).into_iter().enumerate() {
            let drawn = plot.draw_series(LineSeries::new(segment, colour.stroke_width(2)))?;
            if n == 0 {
                drawn
                    .label(line.name.clone())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], colour));
            }
        }
    }
    plot.configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font(("sans-serif", 13).into_font().color(&BLACK))
        .draw()?;
    root.present()?;
    Ok(())
}

/// The runs of present points.
fn segments(points: &[Option<(f64, f64)>]) -> Vec<Vec<(f64, f64)>> {
    let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
    for point in points {
        match (point, runs.last_mut()) {
            (Some(p), Some(run)) => run.push(*p),
            (None, Some(run)) if !run.is_empty() => runs.push(Vec::new()),
            _ => {}
        }
    }
    runs.retain(|run| !run.is_empty());
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_pool_has_its_two_charts_as_named_svg_images() {
        let plan = Plan::from_text(crate::scenario::SMALL).unwrap();
        let files = charts(&plan);
        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["arrivals-small.svg", "ttft-small.svg"]);
        for file in &files {
            assert!(
                file.content
                    .starts_with("<svg role=\"img\" aria-label=\"Pool small")
            );
            assert!(file.content.contains("<polyline"), "{}", file.name);
        }
    }

    #[test]
    fn a_missing_point_cuts_the_line() {
        let points = [
            Some((0.0, 1.0)),
            None,
            Some((2.0, 3.0)),
            Some((3.0, 4.0)),
            None,
        ];
        assert_eq!(
            segments(&points),
            vec![vec![(0.0, 1.0)], vec![(2.0, 3.0), (3.0, 4.0)]]
        );
    }
}
