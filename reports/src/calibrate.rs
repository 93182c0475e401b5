//! `calibrate`'s files, from one [`Calibration`]:
//!
//! - `power.csv` — one row per metric, regression kind and size: runs,
//!   detections, the detection probability with its Clopper-Pearson 95 %
//!   interval, inconclusive runs, the median time to detect and the traffic
//!   behind one measurement (size 0: the false-fail rate);
//! - `calculator.csv` — the canary power calculator: per error-rate size,
//!   canary weight and start time, the requests an exact binomial test needs
//!   and how long the canary must run to see them;
//! - `summary.json` — the whole [`Calibration`];
//! - `report.md`, `report.html` — the smallest regression each metric
//!   detects with 95 % probability, false-fail rates, the calculator, and
//!   (HTML) the power curves.
//!
//! Output depends on the data alone: the same data give the same bytes.

use crate::html::esc;
use crate::plots::{self, human_duration, short, style, title, trim, DrawResult, GRID, INK, MUTED};
use crate::Output;
use plotters::coord::Shift;
use plotters::prelude::*;
use shakedown_sim::experiment::calibrate::{Calibration, Cell, RegressionKind};
use std::fmt::Write as _;

const SIZE: (u32, u32) = (960, 480);
const LEGEND_W: i32 = 300;
/// Okabe–Ito, as the experiment plots.
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

fn opt(v: Option<f64>) -> String {
    v.map_or(String::new(), |x| x.to_string())
}

fn pct(v: f64) -> String {
    format!("{}%", trim(v * 100.0, 1))
}

fn pct_fine(v: f64) -> String {
    format!("{}%", trim(v * 100.0, 3))
}

fn interval(lo: Option<f64>, hi: Option<f64>) -> String {
    match (lo, hi) {
        (Some(l), Some(h)) => format!("[{}, {}]", pct(l), pct(h)),
        _ => "-".into(),
    }
}

fn size_text(kind: RegressionKind, s: f64) -> String {
    match kind {
        RegressionKind::ErrorRate => format!("+{} errors", pct(s)),
        RegressionKind::Latency => format!("+{} latency", pct(s)),
    }
}

/// `power.csv`.
pub fn power_csv(c: &Calibration) -> Vec<u8> {
    let mut out = String::from(
        "metric,provider,kind,size,runs,detected,p_detect,ci_low,ci_high,inconclusive,median_time_to_detect_s,mean_traffic_per_measurement\n",
    );
    for x in &c.cells {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{}",
            csv_field(&x.metric),
            x.provider,
            x.kind.as_str(),
            x.size,
            x.runs,
            x.detected,
            x.p_detect,
            opt(x.ci_low),
            opt(x.ci_high),
            x.inconclusive,
            opt(x.median_time_to_detect_s),
            opt(x.mean_traffic_per_measurement),
        );
    }
    out.into_bytes()
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `calculator.csv`.
pub fn calculator_csv(c: &Calibration) -> Vec<u8> {
    let mut out = String::from(
        "regression,baseline_error_rate,false_fail,target,weight_pct,start_s,start_hour_utc,requests,critical_count,duration_s\n",
    );
    for p in &c.power {
        for r in &p.rows {
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{}",
                p.regression,
                p.baseline_error_rate,
                p.false_fail,
                p.target,
                r.weight_pct,
                r.start_s,
                r.start_hour_utc,
                r.requests,
                r.critical_count,
                opt(r.duration_s)
            );
        }
    }
    out.into_bytes()
}

/// `summary.json`.
pub fn summary_json(c: &Calibration) -> Vec<u8> {
    let mut s = serde_json::to_string_pretty(c).expect("a calibration always serialises");
    s.push('\n');
    s.into_bytes()
}

fn kinds(c: &Calibration) -> Vec<RegressionKind> {
    let mut k: Vec<RegressionKind> = c.cells.iter().map(|x| x.kind).collect();
    k.sort();
    k.dedup();
    k
}

fn smallest_rows(c: &Calibration) -> Vec<[String; 5]> {
    c.smallest
        .iter()
        .map(|s| {
            [
                s.metric.clone(),
                s.provider.to_string(),
                s.kind.as_str().to_string(),
                match s.size {
                    Some(x) => format!(
                        "{} (detected {} {})",
                        size_text(s.kind, x),
                        pct(s.p_detect.unwrap_or(0.0)),
                        interval(s.ci_low, s.ci_high)
                    ),
                    None => "none of the sizes tried".into(),
                },
                format!(
                    "{} {}",
                    pct(s.false_fail),
                    interval(s.false_fail_ci_low, s.false_fail_ci_high)
                ),
            ]
        })
        .collect()
}

fn duration(d: Option<f64>) -> String {
    d.map_or("> 7 d (blind)".into(), human_duration)
}

/// How the metrics were measured: analyses dry-run together, gate checks
/// (Flagger, linear SLOs, waves alarms) each alone as its policy's gate.
fn how_measured(c: &Calibration) -> &'static str {
    let gate = |p: &str| matches!(p, "flagger" | "slo" | "alarm");
    let gates = c.metrics.iter().filter(|m| gate(m.provider)).count();
    match (gates, c.metrics.len() - gates) {
        (0, _) => "every analysis metric measured dry-run",
        (_, 0) => "every check measured alone as its policy's gate (it stops the rollout)",
        _ => "every analysis metric measured dry-run, every gate check alone as its policy's gate,",
    }
}

/// `report.md`.
pub fn markdown(c: &Calibration) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Calibration: `{}` ({})\n", c.scenario, c.policy);
    let _ = writeln!(
        md,
        "{} runs over seeds `{}`; {} on the same worlds. Intervals are Clopper-Pearson 95 %.\n",
        c.runs,
        c.seeds,
        how_measured(c)
    );
    let _ = writeln!(
        md,
        "## Smallest regression detected with {} probability\n",
        pct(c.target)
    );
    md.push_str("| metric | provider | regression | smallest detected | false-fail rate (good version) |\n|---|---|---|---|---|\n");
    for r in smallest_rows(c) {
        let _ = writeln!(
            md,
            "| `{}` | {} | {} | {} | {} |",
            r[0], r[1], r[2], r[3], r[4]
        );
    }
    md.push_str("\n## Power curves\n\n| metric | regression | detected | interval | median time to detect | traffic per measurement |\n|---|---|---|---|---|---|\n");
    for x in &c.cells {
        let _ = writeln!(
            md,
            "| `{}` | {} | {}/{} = {} | {} | {} | {} |",
            x.metric,
            if x.size == 0.0 {
                "none (false fails)".to_string()
            } else {
                size_text(x.kind, x.size)
            },
            x.detected,
            x.runs,
            pct(x.p_detect),
            interval(x.ci_low, x.ci_high),
            x.median_time_to_detect_s.map_or("-".into(), human_duration),
            x.mean_traffic_per_measurement
                .map_or("-".into(), |t| trim(t, 0))
        );
    }
    calculator_md(c, &mut md);
    md
}

fn calculator_md(c: &Calibration, md: &mut String) {
    if c.power.is_empty() {
        return;
    }
    md.push_str("\n## Canary power calculator\n\nAn exact one-sided binomial test of the canary's error rate against the scenario's baseline rate, at the false-fail rate given; the canary runs at the weight given from the start time given, under the scenario's traffic curve.\n\n");
    for p in &c.power {
        let _ = writeln!(
            md,
            "### +{} errors (baseline {}): {} at false-fail {}, detection {}\n",
            pct_fine(p.regression),
            pct_fine(p.baseline_error_rate),
            p.requests
                .map_or("unreachable".into(), |n| format!("{n} canary requests")),
            pct(p.false_fail),
            pct(p.target)
        );
        if p.rows.is_empty() {
            continue;
        }
        let mut weights: Vec<f64> = p.rows.iter().map(|r| r.weight_pct).collect();
        weights.dedup();
        let mut starts: Vec<(f64, f64)> = p
            .rows
            .iter()
            .map(|r| (r.start_s, r.start_hour_utc))
            .collect();
        starts.sort_by(|a, b| a.0.total_cmp(&b.0));
        starts.dedup();
        md.push_str("| start (UTC hour) |");
        for w in &weights {
            let _ = write!(md, " {}% |", trim(*w, 1));
        }
        md.push_str("\n|---|");
        for _ in &weights {
            md.push_str("---|");
        }
        md.push('\n');
        for (s, h) in &starts {
            let _ = write!(md, "| {} |", trim(*h, 1));
            for w in &weights {
                let r = p
                    .rows
                    .iter()
                    .find(|r| r.start_s == *s && r.weight_pct == *w);
                let _ = write!(md, " {} |", duration(r.and_then(|r| r.duration_s)));
            }
            md.push('\n');
        }
        md.push('\n');
    }
}

/// The power curves of one regression kind as SVG.
pub fn power_svg(c: &Calibration, kind: RegressionKind) -> String {
    plots::svg(SIZE, |root| draw_power(root, c, kind))
}

fn draw_power<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    c: &Calibration,
    kind: RegressionKind,
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    title(
        root,
        &format!("Detection probability by {} regression", kind.as_str()),
    )?;
    let cells: Vec<&Cell> = c.cells.iter().filter(|x| x.kind == kind).collect();
    let x_max = cells.iter().map(|x| x.size).fold(0.0f64, f64::max);
    let x_top = if x_max > 0.0 { x_max * 1.05 } else { 1.0 };
    let (w, _) = root.dim_in_pixel();
    let (plot, legend_area) = root
        .margin(44, 8, 8, 16)
        .split_horizontally(w as i32 - 16 - LEGEND_W - 8);
    let mut chart = ChartBuilder::on(&plot)
        .x_label_area_size(46)
        .y_label_area_size(64)
        .margin_right(14)
        .build_cartesian_2d(0.0..x_top, 0.0..1.02)?;
    let xfmt = |v: &f64| trim(v * 100.0, 2);
    let yfmt = |v: &f64| trim(v * 100.0, 0);
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
        .x_desc(match kind {
            RegressionKind::ErrorRate => "extra error rate (%)",
            RegressionKind::Latency => "latency increase (%)",
        })
        .y_desc("runs detecting it (%)")
        .draw()?;
    chart.draw_series(DashedLineSeries::new(
        vec![(0.0, c.target), (x_top, c.target)],
        6,
        4,
        MUTED.stroke_width(1),
    ))?;
    let (lx, ly) = (legend_area.get_pixel_range().0.start + 4, 60);
    for (i, m) in c.metrics.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let pts: Vec<&&Cell> = cells.iter().filter(|x| x.metric == m.id).collect();
        chart.draw_series(LineSeries::new(
            pts.iter().map(|x| (x.size, x.p_detect)),
            color.stroke_width(2),
        ))?;
        for x in &pts {
            if let (Some(lo), Some(hi)) = (x.ci_low, x.ci_high) {
                chart.draw_series(LineSeries::new(
                    vec![(x.size, lo), (x.size, hi)],
                    color.mix(0.6).stroke_width(1),
                ))?;
            }
            chart.draw_series(std::iter::once(Circle::new(
                (x.size, x.p_detect),
                3,
                color.filled(),
            )))?;
        }
        let y = ly + 30 * i as i32;
        root.draw(&PathElement::new(
            vec![(lx, y + 9), (lx + 22, y + 9)],
            color.stroke_width(3),
        ))?;
        root.draw(&Text::new(
            short(&format!("{} ({})", m.id, m.provider), 34),
            (lx + 30, y),
            style(14.0, INK),
        ))?;
    }
    let y = ly + 30 * c.metrics.len() as i32 + 6;
    for k in 0..3 {
        root.draw(&PathElement::new(
            vec![(lx + 8 * k, y + 9), (lx + 8 * k + 5, y + 9)],
            MUTED.stroke_width(1),
        ))?;
    }
    root.draw(&Text::new(
        format!("{} detection target", pct(c.target)),
        (lx + 30, y),
        style(14.0, MUTED),
    ))?;
    Ok(())
}

/// `report.html`: the Markdown's tables and the power curves, self-contained.
pub fn html(c: &Calibration) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Calibration: {}</title>\n<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#1a202c}}table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #e2e8f0;padding:4px 8px;text-align:left}}code{{background:#f7fafc}}</style></head><body>\n",
        esc(&c.scenario)
    );
    let _ = writeln!(
        h,
        "<h1>Calibration: <code>{}</code> ({})</h1>\n<p>{} runs over seeds <code>{}</code>; {} on the same worlds. Intervals are Clopper-Pearson 95 %.</p>",
        esc(&c.scenario),
        esc(&c.policy),
        c.runs,
        esc(&c.seeds),
        how_measured(c)
    );
    let _ = writeln!(
        h,
        "<h2>Smallest regression detected with {} probability</h2>\n<table><tr><th>metric</th><th>provider</th><th>regression</th><th>smallest detected</th><th>false-fail rate (good version)</th></tr>",
        pct(c.target)
    );
    for r in smallest_rows(c) {
        let _ = writeln!(
            h,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&r[0]),
            esc(&r[1]),
            esc(&r[2]),
            esc(&r[3]),
            esc(&r[4])
        );
    }
    h.push_str("</table>\n<h2>Power curves</h2>\n");
    for k in kinds(c) {
        h.push_str(&power_svg(c, k));
        h.push('\n');
    }
    if !c.power.is_empty() {
        let mut md = String::new();
        calculator_md(c, &mut md);
        h.push_str("<h2>Canary power calculator</h2>\n<p>An exact one-sided binomial test of the canary's error rate against the scenario's baseline rate; time for the canary to see the requests it needs, per weight and start hour, under the scenario's traffic curve.</p>\n");
        for p in &c.power {
            let _ = writeln!(
                h,
                "<h3>+{} errors (baseline {}): {}</h3>",
                pct_fine(p.regression),
                pct_fine(p.baseline_error_rate),
                p.requests
                    .map_or("unreachable".into(), |n| format!("{n} canary requests"))
            );
            let mut weights: Vec<f64> = p.rows.iter().map(|r| r.weight_pct).collect();
            weights.dedup();
            let mut starts: Vec<(f64, f64)> = p
                .rows
                .iter()
                .map(|r| (r.start_s, r.start_hour_utc))
                .collect();
            starts.sort_by(|a, b| a.0.total_cmp(&b.0));
            starts.dedup();
            h.push_str("<table><tr><th>start (UTC hour)</th>");
            for w in &weights {
                let _ = write!(h, "<th>{}%</th>", trim(*w, 1));
            }
            h.push_str("</tr>\n");
            for (s, hour) in &starts {
                let _ = write!(h, "<tr><td>{}</td>", trim(*hour, 1));
                for w in &weights {
                    let r = p
                        .rows
                        .iter()
                        .find(|r| r.start_s == *s && r.weight_pct == *w);
                    let _ = write!(
                        h,
                        "<td>{}</td>",
                        esc(&duration(r.and_then(|r| r.duration_s)))
                    );
                }
                h.push_str("</tr>\n");
            }
            h.push_str("</table>\n");
        }
    }
    h.push_str("</body></html>\n");
    h
}

/// Every file of a calibration.
pub fn outputs(c: &Calibration) -> Vec<Output> {
    vec![
        Output::new("power.csv", power_csv(c)),
        Output::new("calculator.csv", calculator_csv(c)),
        Output::new("summary.json", summary_json(c)),
        Output::new("report.md", markdown(c)),
        Output::new("report.html", html(c)),
    ]
}
