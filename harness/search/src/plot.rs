//! The sweep's picture: RCU per search over campaign size, read (what is
//! paid) against returned (what the caller wanted), per design and item size.

use std::collections::BTreeMap;
use std::path::Path;

use cutover_core::search::cost::{CostPoint, Design, SweepReport};
use plotters::prelude::*;

#[derive(Debug, thiserror::Error)]
#[error("drawing {path}: {detail}")]
pub struct PlotError {
    path: String,
    detail: String,
}

/// Draws `report` as an SVG at `path`. Points are taken at `match_percent`
/// (cost does not depend on it; the returned line does).
pub fn rcu_over_sessions(
    report: &SweepReport,
    match_percent: u32,
    path: &Path,
) -> Result<(), PlotError> {
    let fail = |detail: String| PlotError {
        path: path.display().to_string(),
        detail,
    };
    type Series = BTreeMap<(Design, u64, bool), Vec<(f64, f64)>>;
    let mut series: Series = BTreeMap::new();
    let at_rate: Vec<&CostPoint> = report
        .points
        .iter()
        .filter(|p| p.match_percent == match_percent && p.rcu_modeled.is_some())
        .collect();
    for p in &at_rate {
        let n = p.sessions as f64;
        if let Some(rcu) = p.rcu_modeled {
            series
                .entry((p.design, p.item_bytes_target, false))
                .or_default()
                .push((n, rcu));
        }
        if p.design == Design::BaseItems
            && let Some(rcu) = p.rcu_returned_modeled
        {
            series
                .entry((p.design, p.item_bytes_target, true))
                .or_default()
                .push((n, rcu.max(0.5)));
        }
    }
    let max_n = at_rate.iter().map(|p| p.sessions).max().unwrap_or(1).max(2) as f64;
    let max_rcu = series
        .values()
        .flatten()
        .map(|(_, rcu)| *rcu)
        .fold(1.0_f64, f64::max);

    let root = SVGBackend::new(path, (1100, 640)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
    // The legend gets its own panel: inside the chart it would hide lines.
    let (plot_area, legend_area) = root.split_horizontally(760);
    let mut chart = ChartBuilder::on(&plot_area)
        .caption(
            format!("RCU per search, read vs returned ({match_percent}% of sessions match)"),
            ("sans-serif", 22),
        )
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(
            (1.0..max_n * 1.2).log_scale(),
            (0.25..max_rcu * 2.0).log_scale(),
        )
        .map_err(|e| fail(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc("sessions in the campaign")
        .y_desc("read capacity units per search (modeled)")
        .x_label_formatter(&|n| format!("{n:.0}"))
        .y_label_formatter(&|rcu| {
            if *rcu < 1.0 {
                format!("{rcu}")
            } else {
                format!("{rcu:.0}")
            }
        })
        .draw()
        .map_err(|e| fail(e.to_string()))?;

    let sizes: Vec<u64> = {
        let mut sizes: Vec<u64> = series.keys().map(|(_, size, _)| *size).collect();
        sizes.sort_unstable();
        sizes.dedup();
        sizes
    };
    let mut legend: Vec<(String, RGBColor)> = Vec::new();
    for ((design, size, returned), mut points) in series {
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let shade = sizes.iter().position(|s| *s == size).unwrap_or(0);
        let palette = match (design, returned) {
            (_, true) => [
                RGBColor(150, 150, 150),
                RGBColor(100, 100, 100),
                RGBColor(40, 40, 40),
            ],
            (Design::BaseItems, _) => [
                RGBColor(255, 140, 120),
                RGBColor(220, 60, 40),
                RGBColor(140, 20, 10),
            ],
            (Design::SlimItems, _) => [
                RGBColor(130, 190, 255),
                RGBColor(40, 110, 220),
                RGBColor(10, 50, 140),
            ],
            _ => [
                RGBColor(140, 220, 140),
                RGBColor(40, 160, 60),
                RGBColor(10, 90, 30),
            ],
        };
        let color = palette[shade.min(2)];
        let label = format!(
            "{}{}, ~{} KB items",
            design.label(),
            if returned {
                " (returned items only)"
            } else {
                ""
            },
            size / 1024
        );
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(|e| fail(e.to_string()))?;
        legend.push((label, color));
        chart
            .draw_series(
                points
                    .into_iter()
                    .map(|(x, y)| Circle::new((x, y), 3, color.filled())),
            )
            .map_err(|e| fail(e.to_string()))?;
    }
    for (row, (label, color)) in legend.iter().enumerate() {
        let y = 60 + row as i32 * 22;
        legend_area
            .draw(&PathElement::new(
                vec![(8, y), (34, y)],
                color.stroke_width(3),
            ))
            .map_err(|e| fail(e.to_string()))?;
        legend_area
            .draw(&Text::new(label.clone(), (42, y - 7), ("sans-serif", 13)))
            .map_err(|e| fail(e.to_string()))?;
    }
    root.present().map_err(|e| fail(e.to_string()))?;
    Ok(())
}
