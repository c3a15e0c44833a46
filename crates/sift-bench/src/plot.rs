//! SVG plots of a benchmark report (plotters, SVG backend only: no fonts or C
//! libraries needed).

use std::path::Path;

use plotters::prelude::*;

use crate::{ENGINES, Report};

const COLORS: [RGBColor; 5] = [
    RGBColor(214, 39, 40),   // ilike
    RGBColor(255, 127, 14),  // fts
    RGBColor(31, 119, 180),  // index
    RGBColor(44, 160, 44),   // index+L1
    RGBColor(148, 103, 189), // index+L2
];

fn plot_error(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("plot: {e}")
}

/// The in-process latency distribution of each engine at the largest size: the
/// percentile on x, the latency on a log scale on y.
pub fn latency_distribution(path: &Path, report: &Report) -> anyhow::Result<()> {
    let Some(run) = report.runs.iter().max_by_key(|r| r.documents) else {
        return Ok(());
    };
    let points: Vec<(usize, Vec<(f64, f64)>)> = ENGINES
        .iter()
        .enumerate()
        .filter_map(|(i, e)| run.in_process.get(*e).map(|l| (i, l.curve.clone())))
        .collect();
    let (low, high) = bounds(points.iter().flat_map(|(_, c)| c.iter().map(|p| p.1)));
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "Latency distribution in process, {} documents",
                run.documents
            ),
            ("sans-serif", 22),
        )
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..100f64, (low..high).log_scale())
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("milliseconds (log)")
        .draw()
        .map_err(plot_error)?;
    for (i, curve) in points {
        let color = COLORS[i];
        chart
            .draw_series(LineSeries::new(
                curve.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(plot_error)?
            .label(ENGINES[i])
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
    }
    finish(&mut chart, &root)
}

/// p50 (solid) and p99 (dashed) of each engine against the corpus size, log-log.
pub fn scaling(path: &Path, report: &Report) -> anyhow::Result<()> {
    let sizes: Vec<f64> = report.runs.iter().map(|r| r.documents as f64).collect();
    let (Some(min_size), Some(max_size)) = (
        sizes.iter().copied().reduce(f64::min),
        sizes.iter().copied().reduce(f64::max),
    ) else {
        return Ok(());
    };
    let values = report.runs.iter().flat_map(|r| {
        r.in_process
            .values()
            .flat_map(|l| [l.p50_ms, l.p99_ms])
            .collect::<Vec<_>>()
    });
    let (low, high) = bounds(values);
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let x_range = (min_size * 0.8)..(max_size * 1.25);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "p50 (solid) and p99 (dashed) against corpus size, in process",
            ("sans-serif", 22),
        )
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(70)
        // Ticks at the measured sizes only, written as people say them (50k, 1M):
        // the automatic ticks of a log axis overlap and read `100000.0`.
        .build_cartesian_2d(
            x_range.log_scale().with_key_points(sizes.clone()),
            (low..high).log_scale(),
        )
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_label_formatter(&|x| size_label(*x))
        .x_desc("documents (log)")
        .y_desc("milliseconds (log)")
        .draw()
        .map_err(plot_error)?;
    for (i, engine) in ENGINES.iter().enumerate() {
        let series = |pick: fn(&crate::Latency) -> f64| -> Vec<(f64, f64)> {
            report
                .runs
                .iter()
                .filter_map(|r| {
                    r.in_process
                        .get(*engine)
                        .map(|l| (r.documents as f64, pick(l)))
                })
                .collect()
        };
        let p50 = series(|l| l.p50_ms);
        if p50.is_empty() {
            continue;
        }
        let color = COLORS[i];
        chart
            .draw_series(LineSeries::new(p50.iter().copied(), color.stroke_width(2)))
            .map_err(plot_error)?
            .label(*engine)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        chart
            .draw_series(p50.iter().map(|p| Circle::new(*p, 4, color.filled())))
            .map_err(plot_error)?;
        chart
            .draw_series(DashedLineSeries::new(
                series(|l| l.p99_ms),
                6,
                4,
                color.stroke_width(1),
            ))
            .map_err(plot_error)?;
    }
    finish(&mut chart, &root)
}

type Chart<'a, X, Y> = ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>;

/// Draws the legend and writes the file.
fn finish<X: Ranged, Y: Ranged>(
    chart: &mut Chart<'_, X, Y>,
    root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
) -> anyhow::Result<()> {
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(plot_error)?;
    root.present().map_err(plot_error)?;
    Ok(())
}

/// A corpus size as people write it: `50k`, `200k`, `1M`, `1.5M`.
fn size_label(documents: f64) -> String {
    let (value, unit) = if documents >= 1e6 {
        (documents / 1e6, "M")
    } else if documents >= 1e3 {
        (documents / 1e3, "k")
    } else {
        (documents, "")
    };
    let value = format!("{value:.1}");
    format!("{}{unit}", value.trim_end_matches(".0"))
}

/// A log axis range around the values (never zero).
fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut low, mut high) = (f64::MAX, f64::MIN);
    for v in values {
        low = low.min(v.max(0.001));
        high = high.max(v);
    }
    if low > high {
        return (0.001, 1.0);
    }
    (low / 1.5, high * 1.5)
}

#[cfg(test)]
mod tests {
    use super::size_label;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(size_label(50_000.0), "50k");
        assert_eq!(size_label(200_000.0), "200k");
        assert_eq!(size_label(1_000_000.0), "1M");
        assert_eq!(size_label(1_500_000.0), "1.5M");
        assert_eq!(size_label(800.0), "800");
    }
}

#[cfg(test)]
mod replot_tests {
    /// The committed report reads back, so `sift-bench plot` can redraw it.
    #[test]
    fn the_committed_report_reads_back_and_redraws() {
        let json = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../benches/results/reviews.json");
        let text = std::fs::read_to_string(&json).expect("the committed report");
        let report: crate::Report = serde_json::from_str(&text).expect("a report");
        assert_eq!(report.runs.len(), 3);
        let out = std::env::temp_dir().join(format!("sift-plot-{}.svg", uuid::Uuid::new_v4()));
        super::scaling(&out, &report).expect("plot");
        let svg = std::fs::read_to_string(&out).expect("svg");
        let _ = std::fs::remove_file(&out);
        for tick in ["50k", "200k", "1M"] {
            assert!(svg.contains(&format!("\n{tick}\n")), "no {tick} tick");
        }
        assert!(!svg.contains("100000.0"));
    }
}
