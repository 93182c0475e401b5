//! Per-role progress, the rollout window zoomed (the Tsunami picture): how
//! many hosts of each role had been told to run the new version, over the
//! rollout window only, with the whole run beneath as a thin context strip
//! (hosts on the new version across the run, the zoomed window shaded).
//!
//! The per-role counts come from the audit log (`events.csv`): an
//! `instruct` row moves a host to the version in its `to` column, a
//! `decommission` row removes it. They say what each host was told, as
//! Tsunami's audit log did; the strip below (`timeseries.csv`) says what
//! was running.

use crate::plots::{self, short, style, title, trim, DrawResult, GRID, INK, MUTED};
use plotters::coord::Shift;
use plotters::prelude::*;
use shakedown_sim::record::{AuditKind, RunRecord};
use std::collections::BTreeMap;

/// Size in pixels of the plot.
pub const SIZE: (u32, u32) = (900, 460);

const PALETTE: [RGBColor; 6] = [
    RGBColor(0x2b, 0x6c, 0xb0),
    RGBColor(0xd5, 0x5e, 0x00),
    RGBColor(0x00, 0x9e, 0x73),
    RGBColor(0xcc, 0x79, 0xa7),
    RGBColor(0x56, 0xb4, 0xe9),
    RGBColor(0x1a, 0x20, 0x2c),
];
const WINDOW: RGBColor = RGBColor(0xe2, 0xe8, 0xf0);
/// At most this many roles get their own line (the rest are summed).
pub const MAX_ROLES: usize = 6;

/// Per role, the step function (time s, hosts told to run `new`): one point
/// per change. Roles in order of name.
pub fn role_steps(rec: &RunRecord, new: &str) -> BTreeMap<String, Vec<(f64, u32)>> {
    let mut on_new: BTreeMap<String, std::collections::BTreeSet<u32>> = BTreeMap::new();
    let mut steps: BTreeMap<String, Vec<(f64, u32)>> = BTreeMap::new();
    for e in &rec.events {
        let Some(h) = e.host else { continue };
        if e.role.is_empty() {
            continue;
        }
        let set = on_new.entry(e.role.clone()).or_default();
        let changed = match e.kind {
            AuditKind::Instruct if e.to == new => set.insert(h),
            AuditKind::Instruct | AuditKind::Decommission => set.remove(&h),
            _ => false,
        };
        let n = set.len() as u32;
        let s = steps
            .entry(e.role.clone())
            .or_insert_with(|| vec![(0.0, 0)]);
        if changed {
            s.push((e.time_s, n));
        }
    }
    steps
}

/// The new version's name: the part of the summary's change after `->`.
fn new_version(rec: &RunRecord) -> String {
    rec.summary
        .change
        .rsplit_once("->")
        .map_or(String::new(), |(_, b)| b.trim().to_string())
}

/// The plot as SVG, or `None` when no host was told to move (nothing to
/// draw per role).
pub fn role_progress_svg(rec: &RunRecord) -> Option<String> {
    let steps = role_steps(rec, &new_version(rec));
    if steps.values().all(|s| s.len() <= 1) {
        return None;
    }
    Some(plots::svg(SIZE, |root| draw(root, rec, &steps)))
}

/// Time axis unit for a span of seconds.
fn unit(span_s: f64) -> (f64, &'static str) {
    if span_s < 3.0 * 3600.0 {
        (60.0, "min")
    } else if span_s <= 3.0 * 86400.0 {
        (3600.0, "h")
    } else {
        (86400.0, "d")
    }
}

/// The zoomed window: the first to the last move, with 5 % either side,
/// within the run.
fn window(rec: &RunRecord, steps: &BTreeMap<String, Vec<(f64, u32)>>) -> (f64, f64) {
    let dur = rec
        .summary
        .duration_s
        .max(rec.ticks.last().map_or(0.0, |t| t.time_s));
    let moves = steps.values().flat_map(|s| s.iter().skip(1).map(|p| p.0));
    let (a, b) = moves.fold((f64::INFINITY, 0.0f64), |(a, b), t| (a.min(t), b.max(t)));
    let s = &rec.summary;
    let a = a.min(s.rollout_started_at_s.max(0.0));
    let b = b.max((s.rollout_started_at_s + s.rollout_duration_s).min(dur));
    let pad = ((b - a) * 0.05).max(s.tick_s.max(1.0));
    ((a - pad).max(0.0), (b + pad).min(dur.max(b)))
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    rec: &RunRecord,
    steps: &BTreeMap<String, Vec<(f64, u32)>>,
) -> DrawResult<DB> {
    let s = &rec.summary;
    root.fill(&WHITE)?;
    title(
        root,
        &format!(
            "Hosts told to run {} per role · rollout window · {} · {}",
            new_version(rec),
            s.scenario,
            s.policy
        ),
    )?;
    let (t0, t1) = window(rec, steps);
    let (div, u) = unit(t1 - t0);
    // The roles, largest first beyond MAX_ROLES summed as "other roles".
    let mut roles: Vec<(&String, &Vec<(f64, u32)>)> = steps.iter().collect();
    roles.sort_by_key(|(name, st)| {
        (
            std::cmp::Reverse(st.iter().map(|p| p.1).max().unwrap_or(0)),
            (*name).clone(),
        )
    });
    let y_max = roles
        .iter()
        .flat_map(|(_, st)| st.iter().map(|p| p.1))
        .max()
        .unwrap_or(0) as f64;
    let y_top = (y_max * 1.08).max(1.0);

    let body = root.margin(40, 8, 8, 24);
    let (_, h) = body.dim_in_pixel();
    let (main, strip) = body.split_vertically(h as i32 * 72 / 100);
    let (plot, legend) = main.split_horizontally(main.dim_in_pixel().0 as i32 - 190);
    let mut chart = ChartBuilder::on(&plot)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(t0 / div..t1 / div, 0.0..y_top)?;
    let xfmt = |v: &f64| trim(*v, 2);
    let yfmt = |v: &f64| trim(*v, 0);
    chart
        .configure_mesh()
        .bold_line_style(GRID.stroke_width(1))
        .light_line_style(TRANSPARENT)
        .axis_style(MUTED.stroke_width(1))
        .label_style(style(14.0, MUTED))
        .axis_desc_style(style(15.0, INK))
        .x_labels(8)
        .y_labels(6)
        .x_label_formatter(&xfmt)
        .y_label_formatter(&yfmt)
        .x_desc(format!("time into the run ({u})"))
        .y_desc("hosts told to run it")
        .draw()?;
    for (i, (name, st)) in roles.iter().take(MAX_ROLES).enumerate() {
        let c = PALETTE[i % PALETTE.len()];
        let mut pts = Vec::with_capacity(2 * st.len() + 1);
        for (k, &(t, n)) in st.iter().enumerate() {
            if k > 0 {
                pts.push((t.max(t0) / div, st[k - 1].1 as f64));
            }
            pts.push((t.max(t0) / div, n as f64));
        }
        let last = st.last().map_or(0, |p| p.1) as f64;
        pts.push((t1 / div, last));
        chart.draw_series(LineSeries::new(pts, c.stroke_width(2)))?;
        let y = 40 + 22 * i as i32;
        let lx = legend.get_pixel_range().0.start + 8;
        root.draw(&PathElement::new(
            vec![(lx, y + 40), (lx + 20, y + 40)],
            c.stroke_width(3),
        ))?;
        root.draw(&Text::new(
            format!(
                "{} ({})",
                short(name, 16),
                st.iter().map(|p| p.1).max().unwrap_or(0)
            ),
            (lx + 26, y + 33),
            style(14.0, INK),
        ))?;
    }
    if roles.len() > MAX_ROLES {
        let lx = legend.get_pixel_range().0.start + 8;
        root.draw(&Text::new(
            format!("{} more roles not drawn", roles.len() - MAX_ROLES),
            (lx, 40 + 22 * MAX_ROLES as i32 + 33),
            style(13.0, MUTED),
        ))?;
    }

    // The whole run, thin: hosts on the new version, the window shaded.
    let dur = s.duration_s.max(rec.ticks.last().map_or(0.0, |t| t.time_s));
    let (sd, su) = unit(dur);
    let top_new = rec
        .ticks
        .iter()
        .map(|t| t.hosts_new)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let (strip_plot, _) = strip.split_horizontally(main.dim_in_pixel().0 as i32 - 190);
    let mut ctx = ChartBuilder::on(&strip_plot)
        .margin_top(6)
        .x_label_area_size(34)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..(dur / sd).max(1e-9), 0.0..top_new * 1.1)?;
    let sfmt = |v: &f64| trim(*v, 1);
    let none = |_: &f64| String::new();
    ctx.configure_mesh()
        .disable_y_mesh()
        .bold_line_style(GRID.stroke_width(1))
        .light_line_style(TRANSPARENT)
        .axis_style(MUTED.stroke_width(1))
        .label_style(style(12.0, MUTED))
        .axis_desc_style(style(13.0, MUTED))
        .x_labels(10)
        .y_labels(2)
        .x_label_formatter(&sfmt)
        .y_label_formatter(&none)
        .x_desc(format!("whole run ({su}) · shaded: the window above"))
        .draw()?;
    ctx.draw_series(std::iter::once(Rectangle::new(
        [(t0 / sd, 0.0), (t1 / sd, top_new * 1.1)],
        WINDOW.mix(0.8).filled(),
    )))?;
    let step = (rec.ticks.len() / 600).max(1);
    ctx.draw_series(LineSeries::new(
        rec.ticks
            .iter()
            .step_by(step)
            .map(|t| (t.time_s / sd, t.hosts_new as f64)),
        PALETTE[0].mix(0.8).stroke_width(2),
    ))?;
    Ok(())
}
