//! Plots across seeds, drawn with plotters in the house style of
//! [`crate::plots`] (same font, colours of text and grid, SVG and PNG):
//!
//! - [`cdf_svg`] / [`cdf_png`]: the empirical CDF of a metric over seeds, one
//!   step line per policy or grid point, the legend in its own column to the
//!   right so it never covers a line; the x axis is logarithmic where the
//!   values span two decades or more ([`log_decades`]);
//! - [`pareto_svg`] / [`pareto_png`]: groups at their means (rollout duration
//!   across, a cost up), the Pareto frontier joined and filled, every point
//!   labelled where its label does not collide with another.
//!
//! Output depends on the data alone: the same data give the same bytes.

use crate::plots::{
    self, short, style, text_width, title, trim, DrawResult, PngBackend, GRID, INK, MUTED,
};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Size in pixels of every experiment plot.
pub const SIZE: (u32, u32) = (960, 480);

const OFF_FRONTIER: RGBColor = RGBColor(0x8a, 0x94, 0xa6);
/// Okabe–Ito, colour-blind safe, in a fixed order per group.
const PALETTE: [RGBColor; 8] = [
    RGBColor(0x00, 0x72, 0xb2),
    RGBColor(0xd5, 0x5e, 0x00),
    RGBColor(0x00, 0x9e, 0x73),
    RGBColor(0xcc, 0x79, 0xa7),
    RGBColor(0xe6, 0x9f, 0x00),
    RGBColor(0x56, 0xb4, 0xe9),
    RGBColor(0x1a, 0x20, 0x2c),
    RGBColor(0xf0, 0xe4, 0x42),
];

/// One line of a CDF plot.
#[derive(Clone, Debug)]
pub struct Series {
    pub label: String,
    pub values: Vec<f64>,
}

/// One point of a Pareto plot.
#[derive(Clone, Debug)]
pub struct Point {
    pub label: String,
    /// Mean rollout duration, seconds.
    pub x: f64,
    pub y: f64,
    pub frontier: bool,
    /// The 95 % intervals of the two means (`[low, high]`, a bound the
    /// seeds cannot give is `None`), drawn as error bars.
    pub x_ci: [Option<f64>; 2],
    pub y_ci: [Option<f64>; 2],
}

/// One cell of a heatmap: a value, or nothing (a grid point that never
/// completed: drawn hatched grey, never coloured as good).
pub type Cell = Option<f64>;

fn svg(
    draw: impl for<'a> FnOnce(&DrawingArea<SVGBackend<'a>, Shift>) -> DrawResult<SVGBackend<'a>>,
) -> String {
    plots::svg(SIZE, draw)
}

fn png(
    draw: impl for<'a> FnOnce(&DrawingArea<PngBackend<'a>, Shift>) -> DrawResult<PngBackend<'a>>,
) -> Vec<u8> {
    plots::png(SIZE, draw)
}

/// The CDF plot as SVG.
pub fn cdf_svg(title: &str, x_desc: &str, series: &[Series]) -> String {
    svg(|root| draw_cdf(root, title, x_desc, series))
}

/// The CDF plot as PNG of [`SIZE`].
pub fn cdf_png(title: &str, x_desc: &str, series: &[Series]) -> Vec<u8> {
    png(|root| draw_cdf(root, title, x_desc, series))
}

/// A heatmap of a two-parameter sweep as SVG: `cells[row * xs.len() + col]`
/// (rows: the first parameter's values, columns: the second's).
pub fn heatmap_svg(
    title: &str,
    (x_name, xs): (&str, &[String]),
    (y_name, ys): (&str, &[String]),
    value_desc: &str,
    cells: &[Cell],
) -> String {
    svg(|root| draw_heatmap(root, title, (x_name, xs), (y_name, ys), value_desc, cells))
}

/// The Pareto plot as SVG.
pub fn pareto_svg(title: &str, y_desc: &str, points: &[Point]) -> String {
    svg(|root| draw_pareto(root, title, y_desc, points))
}

/// The Pareto plot as PNG of [`SIZE`].
pub fn pareto_png(title: &str, y_desc: &str, points: &[Point]) -> Vec<u8> {
    png(|root| draw_pareto(root, title, y_desc, points))
}

// ---------------------------------------------------------------------------

/// An axis label: 12k, 1.5M, 0.25.
fn tick_label(v: f64, span: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{}M", trim(v / 1e6, 2))
    } else if a >= 1e4 {
        format!("{}k", trim(v / 1e3, 1))
    } else if span >= 10.0 {
        trim(v, 0)
    } else {
        trim(v, 3)
    }
}

/// A value for people (legends, heatmap cells): 12k past 10,000, whole
/// and grouped from 100, whole numbers as they are, others with one decimal.
fn legend_value(v: f64) -> String {
    if v.abs() >= 1e4 {
        tick_label(v, 10.0)
    } else if v.abs() >= 100.0 {
        // Counts of requests: whole numbers, grouped (5,768).
        let r = v.round();
        let g = plots::group(r.abs() as u64);
        if r < 0.0 {
            format!("−{g}")
        } else {
            g
        }
    } else if v == v.trunc() {
        trim(v, 0)
    } else {
        trim(v, 1)
    }
}

/// The top of an axis from 0: a little above the largest value.
fn top(max: f64) -> f64 {
    if max > 0.0 {
        max * 1.06
    } else {
        1.0
    }
}

/// The decades `[lo, hi]` (powers of ten) of a log axis when the positive
/// values span at least two decades (the largest ≥ 100 × the smallest
/// positive one): failed requests across seeds often do, and a linear axis
/// then crushes all but the worst seeds against 0. `None`: a linear axis.
pub fn log_decades(series: &[Series]) -> Option<(f64, f64)> {
    let pos = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .filter(|v| v.is_finite() && *v > 0.0);
    let (min, max) = pos.fold((f64::INFINITY, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
    if max <= 0.0 || max < 100.0 * min {
        return None;
    }
    let lo = min.log10().floor();
    let hi = max.log10().ceil().max(lo + 1.0);
    Some((lo, hi))
}

/// The legend column on the right: a swatch and a label per series.
const LEGEND_W: i32 = 230;

fn draw_cdf<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title_text: &str,
    x_desc: &str,
    series: &[Series],
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    title(root, title_text)?;
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    let log = log_decades(series);
    // On a log axis x is log10 of the value (0 and below at the left edge).
    let (x_lo, x_top) = match log {
        Some((lo, hi)) => (lo, hi),
        None => (0.0, top(max)),
    };
    let xm = |v: f64| match log {
        Some((lo, _)) if v > 0.0 => v.log10().max(lo),
        Some((lo, _)) => lo,
        None => v,
    };
    let at_edge = log.is_some()
        && series
            .iter()
            .flat_map(|s| s.values.iter())
            .any(|&v| v.is_finite() && v <= 10f64.powf(x_lo));
    let x_desc = match log {
        Some(_) if at_edge => format!(
            "{x_desc} · log scale (≤ {} at the left edge)",
            tick_label(10f64.powf(x_lo), 10.0)
        ),
        Some(_) => format!("{x_desc} · log scale"),
        None => x_desc.to_string(),
    };
    let (w, _) = root.dim_in_pixel();
    let (plot, legend_area) = root
        .margin(44, 8, 8, 16)
        .split_horizontally(w as i32 - 16 - LEGEND_W - 8);
    let mut chart = ChartBuilder::on(&plot)
        .x_label_area_size(46)
        .y_label_area_size(64)
        .margin_right(14)
        .build_cartesian_2d(x_lo..x_top, 0.0..1.02)?;
    let xfmt = |v: &f64| match log {
        // Decades only: 1, 10, 100, 1k …
        Some(_) if (v - v.round()).abs() < 1e-9 => tick_label(10f64.powf(v.round()), 10.0),
        Some(_) => String::new(),
        None => tick_label(*v, x_top),
    };
    let x_labels = match log {
        Some((lo, hi)) => (hi - lo) as usize + 1,
        None => 8,
    };
    let yfmt = |v: &f64| trim(v * 100.0, 0);
    chart
        .configure_mesh()
        .bold_line_style(GRID.stroke_width(1))
        .light_line_style(TRANSPARENT)
        .axis_style(MUTED.stroke_width(1))
        .label_style(style(15.0, MUTED))
        .axis_desc_style(style(16.0, INK))
        .x_labels(x_labels)
        .y_labels(6)
        .x_label_formatter(&xfmt)
        .y_label_formatter(&yfmt)
        .x_desc(x_desc)
        .y_desc("seeds with at most x (%)")
        .draw()?;

    for (i, s) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let mut v: Vec<f64> = s.values.iter().copied().filter(|x| x.is_finite()).collect();
        v.sort_by(f64::total_cmp);
        let n = v.len().max(1) as f64;
        // A step function: flat between observations, up at each one. It
        // runs from the smallest value (at 0) to the largest (at 100 %), with
        // no flat runs along the axes where lines would hide each other.
        let mut pts = Vec::with_capacity(2 * v.len() + 2);
        let mut k = 0;
        while k < v.len() {
            let x = v[k];
            let before = k as f64 / n;
            while k < v.len() && v[k] == x {
                k += 1;
            }
            pts.push((xm(x), before));
            pts.push((xm(x), k as f64 / n));
        }
        let width = if i == 0 { 3 } else { 2 };
        chart.draw_series(LineSeries::new(pts, color.stroke_width(width)))?;
    }

    // Legend: its own column, never over the data.
    let (lx, ly) = (legend_area.get_pixel_range().0.start + 4, 60);
    root.draw(&Text::new(
        "median · p99".to_string(),
        (lx + 30, ly),
        style(13.0, MUTED),
    ))?;
    for (i, s) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let y = ly + 24 + 40 * i as i32;
        root.draw(&PathElement::new(
            vec![(lx, y + 9), (lx + 22, y + 9)],
            color.stroke_width(3),
        ))?;
        root.draw(&Text::new(
            short(&s.label, 24),
            (lx + 30, y),
            style(15.0, INK),
        ))?;
        let mut v: Vec<f64> = s.values.clone();
        v.sort_by(f64::total_cmp);
        if !v.is_empty() {
            let q = |p: f64| shakedown_sim::experiment::stats::quantile_sorted(&v, p);
            root.draw(&Text::new(
                format!("{} · {}", legend_value(q(0.5)), legend_value(q(0.99))),
                (lx + 30, y + 18),
                style(13.0, MUTED),
            ))?;
        }
    }
    Ok(())
}

/// Time axis units for a span of seconds.
fn time_unit(max_s: f64) -> (f64, &'static str) {
    if max_s < 3.0 * 3600.0 {
        (60.0, "min")
    } else if max_s <= 3.0 * 86400.0 {
        (3600.0, "h")
    } else {
        (86400.0, "d")
    }
}

fn draw_pareto<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title_text: &str,
    y_desc: &str,
    points: &[Point],
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    title(root, title_text)?;
    let x_max = points
        .iter()
        .flat_map(|p| [Some(p.x), p.x_ci[1]])
        .flatten()
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    let y_max = points
        .iter()
        .flat_map(|p| [Some(p.y), p.y_ci[1]])
        .flatten()
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    let (div, unit) = time_unit(x_max);
    let x_top = top(x_max / div) * 1.08; // room for labels right of the last point
    let y_min = points
        .iter()
        .flat_map(|p| [Some(p.y), p.y_ci[0]])
        .flatten()
        .filter(|v| v.is_finite())
        .fold(f64::INFINITY, f64::min);
    // The y axis spans the points with room for labels above and below; it
    // starts at 0 when that is near anyway.
    let pad = ((y_max - y_min) * 0.15).max(y_max.abs() * 0.02).max(1e-9);
    let y_bottom = if y_min - pad <= (y_max - y_min) * 0.5 {
        0.0
    } else {
        y_min - pad
    };
    let y_top = if y_max > 0.0 { y_max + pad } else { 1.0 };
    let body = root.margin(44, 34, 8, 20);
    let mut chart = ChartBuilder::on(&body)
        .x_label_area_size(46)
        .y_label_area_size(72)
        .margin_right(10)
        .build_cartesian_2d(0.0..x_top, y_bottom..y_top)?;
    let xfmt = |v: &f64| tick_label(*v, x_top);
    let yfmt = |v: &f64| tick_label(*v, y_top - y_bottom);
    let x_desc = format!("mean rollout duration ({unit})");
    chart
        .configure_mesh()
        .bold_line_style(GRID.stroke_width(1))
        .light_line_style(TRANSPARENT)
        .axis_style(MUTED.stroke_width(1))
        .label_style(style(15.0, MUTED))
        .axis_desc_style(style(16.0, INK))
        .x_labels(8)
        .y_labels(6)
        .x_label_formatter(&xfmt)
        .y_label_formatter(&yfmt)
        .x_desc(x_desc)
        .y_desc(y_desc)
        .draw()?;

    let front_color = PALETTE[0];
    let mut front: Vec<(f64, f64)> = points
        .iter()
        .filter(|p| p.frontier)
        .map(|p| (p.x / div, p.y))
        .collect();
    front.sort_by(|a, b| a.0.total_cmp(&b.0));
    // The frontier as a staircase: what can be had for a given duration.
    let mut stairs = Vec::new();
    for (i, &(x, y)) in front.iter().enumerate() {
        if i > 0 {
            stairs.push((x, front[i - 1].1));
        }
        stairs.push((x, y));
    }
    chart.draw_series(LineSeries::new(
        stairs,
        front_color.mix(0.7).stroke_width(2),
    ))?;
    // 95 % intervals of both means: a bar each way, capped.
    for p in points {
        let c = if p.frontier {
            front_color.mix(0.55)
        } else {
            OFF_FRONTIER.mix(0.7)
        };
        let (x, y) = (p.x / div, p.y);
        if let [Some(lo), Some(hi)] = p.y_ci {
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(x, lo.max(y_bottom)), (x, hi.min(y_top))],
                c.stroke_width(2),
            )))?;
        }
        if let [Some(lo), Some(hi)] = p.x_ci {
            chart.draw_series(std::iter::once(PathElement::new(
                vec![((lo / div).max(0.0), y), ((hi / div).min(x_top), y)],
                c.stroke_width(2),
            )))?;
        }
    }
    for p in points.iter().filter(|p| !p.frontier) {
        chart.draw_series(std::iter::once(Circle::new(
            (p.x / div, p.y),
            5,
            OFF_FRONTIER.stroke_width(2),
        )))?;
    }
    for p in points.iter().filter(|p| p.frontier) {
        chart.draw_series(std::iter::once(Circle::new(
            (p.x / div, p.y),
            6,
            front_color.filled(),
        )))?;
    }

    // Labels: right of the point, else left, above, below, diagonally; skipped
    // when every place collides with a placed label or leave the plot.
    let area = chart.plotting_area();
    let (xr, yr) = area.get_pixel_range();
    let mut placed: Vec<(i32, i32, i32, i32)> = points
        .iter()
        .map(|p| {
            let (px, py) = area.map_coordinate(&(p.x / div, p.y));
            (px - 6, py - 6, px + 6, py + 6)
        })
        .collect();
    let mut hidden = 0;
    let mut order: Vec<&Point> = points.iter().filter(|p| p.frontier).collect();
    order.extend(points.iter().filter(|p| !p.frontier));
    for p in order {
        let (px, py) = area.map_coordinate(&(p.x / div, p.y));
        let label = short(&p.label, 44);
        let (w, h) = (text_width(&label, 14.0), 16);
        let candidates = [
            (px + 9, py - h / 2),
            (px - 9 - w, py - h / 2),
            (px - w / 2, py - 10 - h),
            (px - w / 2, py + 10),
            (px + 6, py - 8 - h),
            (px + 6, py + 8),
            (px - 6 - w, py - 8 - h),
            (px - 6 - w, py + 8),
        ];
        let fits = |&(x, y): &(i32, i32)| {
            x >= xr.start
                && x + w <= xr.end
                && y >= yr.start
                && y + h <= yr.end
                && !placed
                    .iter()
                    .any(|&(a, b, c, d)| x < c && x + w > a && y < d && y + h > b)
        };
        match candidates.iter().find(|c| fits(c)) {
            Some(&(x, y)) => {
                placed.push((x, y, x + w, y + h));
                root.draw(&Text::new(
                    label,
                    (x, y),
                    style(14.0, if p.frontier { INK } else { MUTED }),
                ))?;
            }
            None => hidden += 1,
        }
    }

    // Legend under the plot.
    let (_, h) = root.dim_in_pixel();
    let y = h as i32 - 20;
    let x0 = xr.start;
    root.draw(&Circle::new((x0 + 6, y), 6, front_color.filled()))?;
    root.draw(&Text::new(
        "on the Pareto frontier".to_string(),
        (x0 + 18, y),
        style(15.0, MUTED).pos(Pos::new(HPos::Left, VPos::Center)),
    ))?;
    let x1 = x0 + 40 + text_width("on the Pareto frontier", 15.0);
    root.draw(&Circle::new((x1 + 6, y), 5, OFF_FRONTIER.stroke_width(2)))?;
    let mut note =
        "dominated (another point is faster and lower) · bars: 95 % intervals of the means"
            .to_string();
    if hidden > 0 {
        note.push_str(&format!(
            " · {hidden} label{} hidden to avoid overlap",
            if hidden == 1 { "" } else { "s" }
        ));
    }
    root.draw(&Text::new(
        note,
        (x1 + 18, y),
        style(15.0, MUTED).pos(Pos::new(HPos::Left, VPos::Center)),
    ))?;
    Ok(())
}

/// A cell's colour: pale to dark blue as the value goes from the grid's
/// lowest to its highest (the lowest is best: less harm).
fn shade(t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0);
    let lerp = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * t).round() as u8;
    RGBColor(lerp(0xe8, 0x08), lerp(0xf1, 0x30), lerp(0xfa, 0x6b))
}

fn draw_heatmap<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title_text: &str,
    (x_name, xs): (&str, &[String]),
    (y_name, ys): (&str, &[String]),
    value_desc: &str,
    cells: &[Cell],
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    title(root, title_text)?;
    let vals: Vec<f64> = cells
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    let lo = vals.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (w, h) = root.dim_in_pixel();
    let (left, top_, right, bottom) = (150i32, 60i32, 40i32, 70i32);
    let (gw, gh) = (w as i32 - left - right, h as i32 - top_ - bottom);
    let (nx, ny) = (xs.len().max(1) as i32, ys.len().max(1) as i32);
    let (cw, ch) = (gw / nx, gh / ny);
    let centre = Pos::new(HPos::Center, VPos::Center);
    for (r, yv) in ys.iter().enumerate() {
        for (c, _) in xs.iter().enumerate() {
            let (x0, y0) = (left + c as i32 * cw, top_ + r as i32 * ch);
            let cell = cells.get(r * xs.len() + c).copied().flatten();
            let (fill, text, ink) = match cell {
                Some(v) if v.is_finite() => {
                    let t = if hi > lo { (v - lo) / (hi - lo) } else { 0.0 };
                    let ink = if t > 0.55 { WHITE } else { INK };
                    (shade(t), legend_value(v), ink)
                }
                _ => (
                    RGBColor(0xed, 0xf2, 0xf7),
                    "never completed".to_string(),
                    MUTED,
                ),
            };
            // A filled polygon (not a rectangle): a cell is data, and SVG
            // readers (the Chromium test) tell it from background bands.
            root.draw(&Polygon::new(
                vec![
                    (x0 + 1, y0 + 1),
                    (x0 + cw - 1, y0 + 1),
                    (x0 + cw - 1, y0 + ch - 1),
                    (x0 + 1, y0 + ch - 1),
                ],
                fill.filled(),
            ))?;
            root.draw(&Text::new(
                text,
                (x0 + cw / 2, y0 + ch / 2),
                style(15.0, ink).pos(centre),
            ))?;
        }
        root.draw(&Text::new(
            short(yv, 18),
            (left - 10, top_ + r as i32 * ch + ch / 2),
            style(15.0, MUTED).pos(Pos::new(HPos::Right, VPos::Center)),
        ))?;
    }
    for (c, xv) in xs.iter().enumerate() {
        root.draw(&Text::new(
            short(xv, 18),
            (left + c as i32 * cw + cw / 2, top_ + ny * ch + 14),
            style(15.0, MUTED).pos(centre),
        ))?;
    }
    root.draw(&Text::new(
        format!("{x_name} →"),
        (left + gw / 2, top_ + ny * ch + 40),
        style(16.0, INK).pos(centre),
    ))?;
    root.draw(&Text::new(
        format!("{y_name} ↓"),
        (12, top_ - 18),
        style(16.0, INK),
    ))?;
    let range = if vals.is_empty() {
        "no grid point completed".to_string()
    } else {
        format!(
            "{value_desc}: {} (palest) to {} (darkest)",
            legend_value(lo),
            legend_value(hi)
        )
    };
    root.draw(&Text::new(range, (left, h as i32 - 18), style(14.0, MUTED)))?;
    Ok(())
}
