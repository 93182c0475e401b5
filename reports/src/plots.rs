//! Plots of one run, drawn with plotters: as SVG (inlined by [`crate::html`])
//! or as PNG.
//!
//! - [`rollout_progress_svg`] / [`rollout_progress_png`]: hosts per version
//!   over time as stacked areas (new version in blue at the bottom, old in
//!   yellow above it), the hosts not serving as a thin red area, and vertical
//!   markers for the rollout's start, the policy's decisions and its finish.
//! - [`traffic_svg`] / [`traffic_png`]: offered load (top panel) and error
//!   rate (bottom panel) over time, with the rollout window shaded.
//!
//! Long runs are downsampled to at most [`MAX_BUCKETS`] buckets; every bucket
//! keeps its minimum and its maximum (in time order), so a one-tick spike of
//! errors or of unavailable hosts stays visible however long the run.
//!
//! Text is laid out with DejaVu Sans, which this crate embeds, so PNGs look
//! the same on every machine; SVGs name the generic `sans-serif` family and
//! let the viewer pick its own. The output depends on the record alone: the
//! same record gives the same bytes.

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use shakedown_sim::record::{RunRecord, TickRow};
use std::sync::Once;

/// Size in pixels of the rollout progress plot (SVG and PNG).
pub const PROGRESS_SIZE: (u32, u32) = (900, 440);
/// Size in pixels of the traffic plot (SVG and PNG).
pub const TRAFFIC_SIZE: (u32, u32) = (900, 460);
/// Runs longer than this many ticks are bucketed down to this many buckets
/// (each keeps its minimum and maximum, so at most twice as many points).
pub const MAX_BUCKETS: usize = 1000;
/// More policy decisions than this are thinned to the first and the last.
pub const MAX_DECISION_MARKERS: usize = 6;

/// Hosts on the old version.
pub const OLD_COLOR: RGBColor = RGBColor(0xf2, 0xc1, 0x4e);
/// Hosts on the new version.
pub const NEW_COLOR: RGBColor = RGBColor(0x2b, 0x6c, 0xb0);
const DOWN_COLOR: RGBColor = RGBColor(0xc5, 0x30, 0x30);
const DOWN_LIGHT: RGBColor = RGBColor(0xee, 0xc1, 0xc1);
const RPS_COLOR: RGBColor = RGBColor(0x2c, 0x5f, 0x8a);
const ERR_COLOR: RGBColor = RGBColor(0xc5, 0x30, 0x30);
const WINDOW_COLOR: RGBColor = RGBColor(0xe2, 0xe8, 0xf0);
pub(crate) const INK: RGBColor = RGBColor(0x1a, 0x20, 0x2c);
pub(crate) const MUTED: RGBColor = RGBColor(0x4a, 0x55, 0x68);
pub(crate) const GRID: RGBColor = RGBColor(0xe2, 0xe8, 0xf0);
const GREEN: RGBColor = RGBColor(0x27, 0x67, 0x49);
const AMBER: RGBColor = RGBColor(0xb7, 0x79, 0x1f);

const FONT: &str = "sans-serif";
static DEJAVU_SANS: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Registers the embedded font under `sans-serif` (once per process).
fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if plotters::style::register_font(FONT, FontStyle::Normal, DEJAVU_SANS).is_err() {
            panic!("the embedded DejaVu Sans font does not parse");
        }
    });
}

/// Axis ranges shared by several plots so they can be compared side by side.
/// `None` means "fit this run".
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Scale {
    /// Length of the time axis, in seconds.
    pub duration_s: Option<f64>,
    /// Top of the hosts axis.
    pub hosts_max: Option<f64>,
    /// Top of the hosts-not-serving axis.
    pub down_max: Option<f64>,
    /// Top of the offered-load axis, in requests per second.
    pub rps_max: Option<f64>,
    /// Top of the error-rate axis, in percent.
    pub error_pct_max: Option<f64>,
}

impl Scale {
    /// One scale that fits every run (for plots of several policies on the
    /// same scenario).
    pub fn common(runs: &[RunRecord]) -> Scale {
        let max = |f: &dyn Fn(&RunRecord) -> f64| runs.iter().map(f).reduce(f64::max);
        Scale {
            duration_s: max(&duration_s),
            hosts_max: max(&hosts_top),
            down_max: max(&|r| {
                r.ticks
                    .iter()
                    .map(|t| not_serving(r, t))
                    .fold(0.0, f64::max)
            }),
            rps_max: max(&|r| r.ticks.iter().map(|t| t.offered_rps).fold(0.0, f64::max)),
            error_pct_max: max(&|r| r.ticks.iter().map(error_pct).fold(0.0, f64::max)),
        }
    }
}

/// The users' clock: where time zones matter (a diurnal curve), the UTC
/// hour at time zero and each region's offset, so the traffic plot can say
/// at what local time the users' peak came and the rollout started.
#[derive(Clone, Debug, PartialEq)]
pub struct Clock {
    pub start_hour_utc: f64,
    /// (region name, hours from UTC); one unnamed region when the scenario
    /// gives `utc_offset_h`.
    pub regions: Vec<(String, f64)>,
}

impl Clock {
    /// The scenario's clock, `None` unless its traffic is diurnal (local
    /// hours mean nothing to a constant or replayed curve).
    pub fn of(traffic: &shakedown_sim::traffic::Traffic) -> Option<Clock> {
        match &traffic.curve {
            shakedown_sim::traffic::Curve::Diurnal { regions, .. } => Some(Clock {
                start_hour_utc: traffic.start_hour_utc,
                regions: regions
                    .iter()
                    .map(|r| (r.name.clone(), r.utc_offset_h))
                    .collect(),
            }),
            _ => None,
        }
    }

    /// `HH:MM` at `t_s` into the run, `offset_h` from UTC.
    pub fn hhmm(&self, t_s: f64, offset_h: f64) -> String {
        let h = (self.start_hour_utc + offset_h + t_s / 3600.0).rem_euclid(24.0);
        let m = (h * 60.0).round() as i64 % (24 * 60);
        format!("{:02}:{:02}", m / 60, m % 60)
    }

    /// "20:00 local (UTC−8)", or per region "20:00 in eu (UTC+1), 14:00 in us (UTC−5)".
    pub fn local(&self, t_s: f64) -> String {
        let zone = |o: f64| {
            if o == 0.0 {
                "UTC".to_string()
            } else {
                format!("UTC{}{}", if o < 0.0 { "−" } else { "+" }, trim(o.abs(), 1))
            }
        };
        match self.regions.as_slice() {
            [] => format!("{} UTC", self.hhmm(t_s, 0.0)),
            [(name, o)] if name.is_empty() || self.regions.len() == 1 => {
                format!("{} local ({})", self.hhmm(t_s, *o), zone(*o))
            }
            rs => rs
                .iter()
                .map(|(n, o)| format!("{} in {n} ({})", self.hhmm(t_s, *o), zone(*o)))
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

/// The rollout progress plot as an SVG document.
pub fn rollout_progress_svg(rec: &RunRecord) -> String {
    rollout_progress_svg_scaled(rec, &Scale::default())
}

/// The traffic plot as an SVG document.
pub fn traffic_svg(rec: &RunRecord) -> String {
    traffic_svg_scaled(rec, &Scale::default())
}

/// The rollout progress plot as a PNG of [`PROGRESS_SIZE`].
pub fn rollout_progress_png(rec: &RunRecord) -> Vec<u8> {
    rollout_progress_png_scaled(rec, &Scale::default())
}

/// The traffic plot as a PNG of [`TRAFFIC_SIZE`].
pub fn traffic_png(rec: &RunRecord) -> Vec<u8> {
    traffic_png_scaled(rec, &Scale::default())
}

/// [`rollout_progress_svg`] with axes fixed by `scale`.
pub fn rollout_progress_svg_scaled(rec: &RunRecord, scale: &Scale) -> String {
    svg(PROGRESS_SIZE, |root| draw_progress(root, rec, scale))
}

/// [`traffic_svg`] with axes fixed by `scale`.
pub fn traffic_svg_scaled(rec: &RunRecord, scale: &Scale) -> String {
    svg(TRAFFIC_SIZE, |root| draw_traffic(root, rec, scale, None))
}

/// [`traffic_svg_scaled`] with the users' clock: the peak of the offered
/// load is marked and labelled with its local time, and the legend gives
/// the local time the rollout started.
pub fn traffic_svg_clocked(rec: &RunRecord, scale: &Scale, clock: Option<&Clock>) -> String {
    svg(TRAFFIC_SIZE, |root| draw_traffic(root, rec, scale, clock))
}

/// [`rollout_progress_png`] with axes fixed by `scale`.
pub fn rollout_progress_png_scaled(rec: &RunRecord, scale: &Scale) -> Vec<u8> {
    png(PROGRESS_SIZE, |root| draw_progress(root, rec, scale))
}

/// [`traffic_png`] with axes fixed by `scale`.
pub fn traffic_png_scaled(rec: &RunRecord, scale: &Scale) -> Vec<u8> {
    png(TRAFFIC_SIZE, |root| draw_traffic(root, rec, scale, None))
}

pub(crate) type DrawResult<DB> =
    Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// Draws an SVG of `size` into a string (the embedded font registered).
pub(crate) fn svg(
    size: (u32, u32),
    draw: impl for<'a> FnOnce(&DrawingArea<SVGBackend<'a>, Shift>) -> DrawResult<SVGBackend<'a>>,
) -> String {
    register_fonts();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        draw(&root).expect("drawing an SVG into memory");
        root.present().expect("drawing an SVG into memory");
    }
    out
}

/// Draws a PNG of `size` with the embedded font (kerned text).
pub(crate) fn png(
    size: (u32, u32),
    draw: impl for<'a> FnOnce(&DrawingArea<PngBackend<'a>, Shift>) -> DrawResult<PngBackend<'a>>,
) -> Vec<u8> {
    register_fonts();
    let (w, h) = size;
    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    {
        let root = PngBackend::new(BitMapBackend::with_buffer(&mut rgb, size)).into_drawing_area();
        draw(&root).expect("drawing a bitmap into memory");
        root.present().expect("drawing a bitmap into memory");
    }
    let mut out = Vec::new();
    let mut enc = ::png::Encoder::new(&mut out, w, h);
    enc.set_color(::png::ColorType::Rgb);
    enc.set_depth(::png::BitDepth::Eight);
    enc.set_compression(::png::Compression::Balanced);
    let mut writer = enc.write_header().expect("PNG header into memory");
    writer.write_image_data(&rgb).expect("PNG data into memory");
    writer.finish().expect("PNG into memory");
    out
}

/// plotters' bitmap backend with its own text drawing: glyphs laid out with
/// kerning and side bearings, sized and anchored as the SVG backend does
/// (font size / 1.24 to the em, baseline 0.76 em below a top anchor), so PNG
/// and SVG look alike. Everything else goes to the bitmap backend.
pub(crate) struct PngBackend<'a> {
    inner: BitMapBackend<'a>,
    font: ab_glyph::FontRef<'static>,
}

impl<'a> PngBackend<'a> {
    fn new(inner: BitMapBackend<'a>) -> Self {
        let font = ab_glyph::FontRef::try_from_slice(DEJAVU_SANS)
            .expect("the embedded DejaVu Sans font parses");
        PngBackend { inner, font }
    }
}

type BackendResult<E> = Result<(), plotters_backend::DrawingErrorKind<E>>;

impl<'a> DrawingBackend for PngBackend<'a> {
    type ErrorType = <BitMapBackend<'a> as DrawingBackend>::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }
    fn ensure_prepared(&mut self) -> BackendResult<Self::ErrorType> {
        self.inner.ensure_prepared()
    }
    fn present(&mut self) -> BackendResult<Self::ErrorType> {
        self.inner.present()
    }
    fn draw_pixel(
        &mut self,
        point: plotters_backend::BackendCoord,
        color: plotters_backend::BackendColor,
    ) -> BackendResult<Self::ErrorType> {
        self.inner.draw_pixel(point, color)
    }
    fn draw_line<S: plotters_backend::BackendStyle>(
        &mut self,
        from: plotters_backend::BackendCoord,
        to: plotters_backend::BackendCoord,
        style: &S,
    ) -> BackendResult<Self::ErrorType> {
        self.inner.draw_line(from, to, style)
    }
    fn draw_rect<S: plotters_backend::BackendStyle>(
        &mut self,
        upper_left: plotters_backend::BackendCoord,
        bottom_right: plotters_backend::BackendCoord,
        style: &S,
        fill: bool,
    ) -> BackendResult<Self::ErrorType> {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }
    fn draw_path<S: plotters_backend::BackendStyle, I: IntoIterator<Item = (i32, i32)>>(
        &mut self,
        path: I,
        style: &S,
    ) -> BackendResult<Self::ErrorType> {
        self.inner.draw_path(path, style)
    }
    fn draw_circle<S: plotters_backend::BackendStyle>(
        &mut self,
        center: plotters_backend::BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> BackendResult<Self::ErrorType> {
        self.inner.draw_circle(center, radius, style, fill)
    }
    fn fill_polygon<S: plotters_backend::BackendStyle, I: IntoIterator<Item = (i32, i32)>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> BackendResult<Self::ErrorType> {
        self.inner.fill_polygon(vert, style)
    }
    fn blit_bitmap(
        &mut self,
        pos: plotters_backend::BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> BackendResult<Self::ErrorType> {
        self.inner.blit_bitmap(pos, size, src)
    }
    fn estimate_text_size<T: plotters_backend::BackendTextStyle>(
        &self,
        text: &str,
        style: &T,
    ) -> Result<(u32, u32), plotters_backend::DrawingErrorKind<Self::ErrorType>> {
        self.inner.estimate_text_size(text, style)
    }

    fn draw_text<T: plotters_backend::BackendTextStyle>(
        &mut self,
        text: &str,
        style: &T,
        pos: plotters_backend::BackendCoord,
    ) -> BackendResult<Self::ErrorType> {
        use ab_glyph::{Font, ScaleFont};
        let color = style.color();
        if color.alpha == 0.0 || text.is_empty() {
            return Ok(());
        }
        let font = &self.font;
        let em = (style.size() / 1.24) as f32;
        let units = font.units_per_em().unwrap_or(2048.0);
        let scale = ab_glyph::PxScale::from(em * font.height_unscaled() / units);
        let scaled = font.as_scaled(scale);

        // Lay out along the baseline from 0.
        let mut glyphs = Vec::with_capacity(text.len());
        let mut caret = 0.0f32;
        let mut prev = None;
        for c in text.chars() {
            let id = scaled.glyph_id(c);
            if let Some(p) = prev {
                caret += scaled.kern(p, id);
            }
            glyphs.push((id, caret));
            caret += scaled.h_advance(id);
            prev = Some(id);
        }
        let anchor = style.anchor();
        let dx = match anchor.h_pos {
            HPos::Left => 0.0,
            HPos::Center => -caret / 2.0,
            HPos::Right => -caret,
        };
        let ex = 0.53 * em;
        let baseline = match anchor.v_pos {
            VPos::Top => 0.76 * em,
            VPos::Center => 0.5 * ex,
            VPos::Bottom => -0.5 * ex,
        };

        let trans = style.transform();
        let (w, h) = self.get_size();
        let mut pixels = Vec::new();
        for (id, x) in glyphs {
            let glyph = id.with_scale_and_position(scale, ab_glyph::point(x + dx, baseline));
            let Some(outline) = font.outline_glyph(glyph) else {
                continue;
            };
            let b = outline.px_bounds();
            outline.draw(|gx, gy, coverage| {
                if coverage > 0.0 {
                    let lx = b.min.x as i32 + gx as i32;
                    let ly = b.min.y as i32 + gy as i32;
                    let (tx, ty) = trans.transform(lx, ly);
                    pixels.push((pos.0 + tx, pos.1 + ty, coverage.min(1.0)));
                }
            });
        }
        for (x, y, coverage) in pixels {
            if x >= 0 && y >= 0 && x < w as i32 && y < h as i32 {
                self.inner.draw_pixel(
                    (x, y),
                    plotters_backend::BackendColor {
                        alpha: color.alpha * f64::from(coverage),
                        rgb: color.rgb,
                    },
                )?;
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Data

fn duration_s(rec: &RunRecord) -> f64 {
    let last = rec
        .ticks
        .last()
        .map_or(0.0, |t| t.time_s + rec.summary.tick_s);
    rec.summary.duration_s.max(last).max(1.0)
}

fn hosts_top(rec: &RunRecord) -> f64 {
    let most = rec
        .ticks
        .iter()
        .map(|t| t.hosts_old + t.hosts_new)
        .max()
        .unwrap_or(0);
    (most as f64).max(rec.summary.hosts as f64).max(1.0)
}

fn error_pct(t: &TickRow) -> f64 {
    if t.requests == 0 {
        0.0
    } else {
        100.0 * t.failed as f64 / t.requests as f64
    }
}

fn not_serving(rec: &RunRecord, t: &TickRow) -> f64 {
    (rec.summary.hosts as f64 - t.serving as f64).max(0.0)
}

/// The series `f` over the ticks, at most `2 * MAX_BUCKETS` points: runs of
/// consecutive ticks are bucketed and each bucket keeps its minimum and its
/// maximum, in the order they occurred.
fn envelope(ticks: &[TickRow], f: impl Fn(&TickRow) -> f64) -> Vec<(f64, f64)> {
    if ticks.len() <= 2 * MAX_BUCKETS {
        return ticks.iter().map(|t| (t.time_s, f(t))).collect();
    }
    let size = ticks.len().div_ceil(MAX_BUCKETS);
    let mut out = Vec::with_capacity(2 * MAX_BUCKETS);
    for chunk in ticks.chunks(size) {
        let (mut lo, mut hi) = ((0, f64::INFINITY), (0, f64::NEG_INFINITY));
        for (i, t) in chunk.iter().enumerate() {
            let v = f(t);
            if v < lo.1 {
                lo = (i, v);
            }
            if v > hi.1 {
                hi = (i, v);
            }
        }
        let (a, b) = if lo.0 <= hi.0 { (lo, hi) } else { (hi, lo) };
        out.push((chunk[a.0].time_s, a.1));
        if b.0 != a.0 {
            out.push((chunk[b.0].time_s, b.1));
        }
    }
    out
}

#[derive(Clone, Copy)]
struct TimeAxis {
    div: f64,
    unit: &'static str,
}

impl TimeAxis {
    fn for_duration(duration_s: f64) -> TimeAxis {
        if duration_s < 3.0 * 3600.0 {
            TimeAxis {
                div: 60.0,
                unit: "min",
            }
        } else if duration_s <= 3.0 * 86400.0 {
            TimeAxis {
                div: 3600.0,
                unit: "h",
            }
        } else {
            TimeAxis {
                div: 86400.0,
                unit: "d",
            }
        }
    }
    fn x(&self, s: f64) -> f64 {
        s / self.div
    }
    fn desc(&self) -> String {
        format!("time since start of run ({})", self.unit)
    }
}

/// A time for people: "10 min", "3.5 h", "12.6 d".
pub fn human_duration(s: f64) -> String {
    if s < 120.0 {
        format!("{} s", trim(s, 0))
    } else if s < 3.0 * 3600.0 {
        format!("{} min", trim(s / 60.0, 1))
    } else if s <= 3.0 * 86400.0 {
        format!("{} h", trim(s / 3600.0, 1))
    } else {
        format!("{} d", trim(s / 86400.0, 1))
    }
}

/// `v` with at most `decimals` decimals, trailing zeros dropped.
pub(crate) fn trim(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    if s == "-0" {
        "0".into()
    } else {
        s
    }
}

/// An axis tick label: 12k, 1.5M, 0.25.
fn tick_label(v: f64, decimals: usize) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{}M", trim(v / 1e6, 2))
    } else if a >= 1e4 {
        format!("{}k", trim(v / 1e3, 1))
    } else {
        trim(v, decimals)
    }
}

/// Enough decimals to tell the ticks of an axis from 0 to `max` apart.
fn decimals_for(max: f64) -> usize {
    if max >= 10.0 || max <= 0.0 {
        1
    } else {
        ((-max.log10()).ceil().max(0.0) as usize + 2).min(6)
    }
}

/// A vertical marker on the progress plot.
struct Marker {
    t_s: f64,
    label: String,
    color: RGBColor,
}

pub(crate) fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(n - 1).collect();
        out.push('…');
        out
    }
}

/// The rollout start, the policy's decisions (the first and last only when
/// there are many) and its finish; also how many decisions were left out.
fn markers(rec: &RunRecord) -> (Vec<Marker>, usize) {
    let mut out = vec![Marker {
        t_s: rec.summary.rollout_started_at_s,
        label: "rollout start".into(),
        color: MUTED,
    }];
    let decisions: Vec<_> = rec.events.iter().filter(|e| e.kind == "decision").collect();
    let hidden = if decisions.len() > MAX_DECISION_MARKERS {
        decisions.len() - 2
    } else {
        0
    };
    let shown: Vec<_> = if hidden > 0 {
        vec![decisions[0], decisions[decisions.len() - 1]]
    } else {
        decisions
    };
    for e in shown {
        let label = if e.step.is_empty() {
            &e.reason
        } else {
            &e.step
        };
        out.push(Marker {
            t_s: e.time_s,
            label: short(label, 22),
            color: MUTED,
        });
    }
    for e in rec.events.iter().filter(|e| e.kind == "finish") {
        let color = match e.step.as_str() {
            "completed" => GREEN,
            "timed_out" => AMBER,
            _ => DOWN_COLOR,
        };
        out.push(Marker {
            t_s: e.time_s,
            label: short(&format!("finish: {}", e.step), 22),
            color,
        });
    }
    out.sort_by(|a, b| a.t_s.total_cmp(&b.t_s));
    // Markers at the same time share one line and one label.
    let mut merged: Vec<Marker> = Vec::with_capacity(out.len());
    for m in out {
        match merged.last_mut() {
            Some(p) if p.t_s == m.t_s => {
                p.label = format!("{} · {}", p.label, m.label);
                if m.color != MUTED {
                    p.color = m.color;
                }
            }
            _ => merged.push(m),
        }
    }
    (merged, hidden)
}

// ---------------------------------------------------------------------------
// Drawing

pub(crate) fn style(size: f64, color: RGBColor) -> TextStyle<'static> {
    TextStyle {
        font: (FONT, size).into_font(),
        color: color.to_backend_color(),
        pos: Pos::new(HPos::Left, VPos::Top),
    }
}

pub(crate) fn text_width(text: &str, size: f64) -> i32 {
    (FONT, size)
        .into_font()
        .box_size(text)
        .map_or(text.len() as i32 * 7, |(w, _)| w as i32)
}

pub(crate) fn title<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    text: &str,
) -> DrawResult<DB> {
    root.draw(&Text::new(
        text.to_string(),
        (14, 10),
        style(21.0, INK).pos(Pos::new(HPos::Left, VPos::Top)),
    ))
}

/// One legend entry: a swatch (filled box or line) and its text.
enum Swatch {
    Fill(RGBColor),
    FillBorder(RGBColor, RGBColor),
    Line(RGBColor),
    Dash(RGBColor),
    None,
}

/// A row of legend entries, left to right from `(x, y)` (y is the middle).
fn legend<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    (mut x, y): (i32, i32),
    entries: &[(Swatch, String)],
) -> DrawResult<DB> {
    let size = 16.0;
    for (swatch, text) in entries {
        match swatch {
            Swatch::Fill(c) => {
                root.draw(&Rectangle::new([(x, y - 6), (x + 14, y + 6)], c.filled()))?;
                x += 20;
            }
            Swatch::FillBorder(c, b) => {
                root.draw(&Rectangle::new([(x, y - 6), (x + 14, y + 6)], c.filled()))?;
                root.draw(&Rectangle::new(
                    [(x, y - 6), (x + 14, y + 6)],
                    b.stroke_width(1),
                ))?;
                x += 20;
            }
            Swatch::Line(c) => {
                root.draw(&PathElement::new(
                    vec![(x, y), (x + 18, y)],
                    c.stroke_width(2),
                ))?;
                x += 24;
            }
            Swatch::Dash(c) => {
                root.draw(&DashedPathElement::new(
                    vec![(x, y), (x + 18, y)],
                    4,
                    3,
                    c.stroke_width(1),
                ))?;
                x += 24;
            }
            Swatch::None => {}
        }
        root.draw(&Text::new(
            text.clone(),
            (x, y),
            style(size, MUTED).pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
        x += text_width(text, size) + 22;
    }
    Ok(())
}

/// Axis labels and grid in the house style.
macro_rules! mesh {
    ($chart:expr, $xfmt:expr, $yfmt:expr, $ylabels:expr, $ydesc:expr, $xdesc:expr) => {
        $chart
            .configure_mesh()
            .disable_x_mesh()
            .bold_line_style(GRID.stroke_width(1))
            .light_line_style(TRANSPARENT)
            .axis_style(MUTED.stroke_width(1))
            .label_style(style(16.0, MUTED))
            .axis_desc_style(style(16.0, INK))
            .x_labels(10)
            .y_labels($ylabels)
            .x_label_formatter($xfmt)
            .y_label_formatter($yfmt)
            .y_desc($ydesc)
            .x_desc($xdesc)
            .draw()
    };
}

fn draw_progress<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    rec: &RunRecord,
    scale: &Scale,
) -> DrawResult<DB> {
    let s = &rec.summary;
    root.fill(&WHITE)?;
    title(
        root,
        &format!("Rollout progress · {} · {}", s.scenario, s.policy),
    )?;

    let dur = scale.duration_s.unwrap_or_else(|| duration_s(rec));
    let ta = TimeAxis::for_duration(dur);
    let top = scale.hosts_max.unwrap_or_else(|| hosts_top(rec)) * 1.04;
    let peak = rec
        .ticks
        .iter()
        .map(|t| not_serving(rec, t))
        .fold(0.0, f64::max);
    let down_top = scale.down_max.unwrap_or(peak).max(1.0) * 1.15;

    // Strips from the top: title 36 px, marker labels 38 px, the hosts per
    // version, the hosts not serving (own scale: on a big fleet they are a
    // sliver of the total), legend 30 px.
    let legend_h = 30;
    let body = root.margin(36 + 38, legend_h, 8, 24);
    let (_, body_h) = body.dim_in_pixel();
    let (upper, lower) = body.split_vertically(body_h as i32 * 64 / 100);

    let mut chart = ChartBuilder::on(&upper)
        .x_label_area_size(6)
        .y_label_area_size(72)
        .build_cartesian_2d(0.0..ta.x(dur), 0.0..top)?;
    let no_x = |_: &f64| String::new();
    let yfmt = |v: &f64| tick_label(*v, 0);
    mesh!(chart, &no_x, &yfmt, 6, "hosts", "")?;
    let mut down_chart = ChartBuilder::on(&lower)
        .margin_top(8)
        .x_label_area_size(42)
        .y_label_area_size(72)
        .build_cartesian_2d(0.0..ta.x(dur), 0.0..down_top)?;
    let xfmt = |v: &f64| trim(*v, 2);
    let down_fmt = |v: &f64| tick_label(*v, if down_top < 5.0 { 1 } else { 0 });
    mesh!(down_chart, &xfmt, &down_fmt, 3, "not serving", ta.desc())?;

    let total = envelope(&rec.ticks, |t| (t.hosts_old + t.hosts_new) as f64);
    let new = envelope(&rec.ticks, |t| t.hosts_new as f64);
    let down = envelope(&rec.ticks, |t| not_serving(rec, t));
    let pts = |v: &[(f64, f64)]| v.iter().map(|&(t, y)| (ta.x(t), y)).collect::<Vec<_>>();
    chart.draw_series(AreaSeries::new(pts(&total), 0.0, OLD_COLOR.filled()))?;
    chart.draw_series(AreaSeries::new(pts(&new), 0.0, NEW_COLOR.filled()))?;
    down_chart.draw_series(
        AreaSeries::new(pts(&down), 0.0, DOWN_LIGHT.filled())
            .border_style(DOWN_COLOR.stroke_width(1)),
    )?;

    // Markers: a dashed line through both panels and a label in the strip
    // above, on one of two rows so that neighbours do not overlap (a label
    // that fits on neither row is left out; its line stays).
    let (markers, hidden) = markers(rec);
    let (xr, yr) = chart.plotting_area().get_pixel_range();
    let mut row_end = [i32::MIN; 2];
    let mut labels = Vec::new();
    for m in &markers {
        let x = ta.x(m.t_s);
        if !(0.0..=ta.x(dur)).contains(&x) {
            continue;
        }
        chart.draw_series(DashedLineSeries::new(
            vec![(x, 0.0), (x, top)],
            5,
            3,
            m.color.stroke_width(1),
        ))?;
        down_chart.draw_series(DashedLineSeries::new(
            vec![(x, 0.0), (x, down_top)],
            5,
            3,
            m.color.stroke_width(1),
        ))?;
        let (px, _) = chart.plotting_area().map_coordinate(&(x, top));
        let w = text_width(&m.label, 15.0);
        let left = (px - w / 2).clamp(xr.start, (xr.end - w).max(xr.start));
        if let Some(row) = (0..2).find(|&r| left > row_end[r] + 6) {
            row_end[row] = left + w;
            let y = yr.start - 7 - 18 * (1 - row as i32);
            root.draw(&PathElement::new(
                vec![(px, y), (px, yr.start)],
                m.color.mix(0.6).stroke_width(1),
            ))?;
            labels.push((m, left, y, w));
        }
    }
    // Labels over the connectors, each on a white ground.
    for (m, left, y, w) in labels {
        root.draw(&Rectangle::new(
            [(left - 3, y - 16), (left + w + 3, y + 1)],
            WHITE.filled(),
        ))?;
        root.draw(&Text::new(
            m.label.clone(),
            (left, y),
            style(15.0, m.color).pos(Pos::new(HPos::Left, VPos::Bottom)),
        ))?;
    }

    let pct = 100.0 * peak / (s.hosts.max(1) as f64);
    let entries = vec![
        (
            Swatch::Fill(OLD_COLOR),
            format!("old ({})", short(&old_version(s), 18)),
        ),
        (
            Swatch::Fill(NEW_COLOR),
            format!("new ({})", short(&new_version(s), 18)),
        ),
        (
            Swatch::FillBorder(DOWN_LIGHT, DOWN_COLOR),
            format!(
                "not serving (peak {} = {} %)",
                tick_label(peak, 0),
                trim(pct, 1)
            ),
        ),
        (Swatch::Dash(MUTED), "policy events".into()),
    ];
    if hidden > 0 {
        // Every decision as a short tick on the top edge (a rug), one per pixel.
        let mut last_px = i32::MIN;
        for e in rec.events.iter().filter(|e| e.kind == "decision") {
            let (px, _) = chart.plotting_area().map_coordinate(&(ta.x(e.time_s), top));
            if px != last_px && xr.contains(&px) {
                root.draw(&PathElement::new(
                    vec![(px, yr.start), (px, yr.start + 7)],
                    INK.stroke_width(1),
                ))?;
                last_px = px;
            }
        }
        let (w, _) = root.dim_in_pixel();
        root.draw(&Text::new(
            format!(
                "{} decisions: ticks on the top edge; first and last labelled",
                hidden + 2
            ),
            (w as i32 - 24, 14),
            style(15.0, MUTED).pos(Pos::new(HPos::Right, VPos::Top)),
        ))?;
    }
    let (_, h) = root.dim_in_pixel();
    legend(
        root,
        (area_left(&body) + 72, h as i32 - legend_h / 2 - 2),
        &entries,
    )
}

fn area_left<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>) -> i32 {
    area.get_pixel_range().0.start
}

/// "docker 1.6.2 -> 1.12.1" → ("1.6.2", "1.12.1"); otherwise the whole text.
fn versions(s: &shakedown_sim::record::Summary) -> (String, String) {
    match s.change.split_once(" -> ") {
        Some((a, b)) => {
            let a = a.rsplit_once(' ').map_or(a, |(_, v)| v);
            (a.to_string(), b.to_string())
        }
        None => ("before".into(), "after".into()),
    }
}
fn old_version(s: &shakedown_sim::record::Summary) -> String {
    versions(s).0
}
fn new_version(s: &shakedown_sim::record::Summary) -> String {
    versions(s).1
}

fn draw_traffic<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    rec: &RunRecord,
    scale: &Scale,
    clock: Option<&Clock>,
) -> DrawResult<DB> {
    let s = &rec.summary;
    root.fill(&WHITE)?;
    title(
        root,
        &format!("Traffic and errors · {} · {}", s.scenario, s.policy),
    )?;

    let dur = scale.duration_s.unwrap_or_else(|| duration_s(rec));
    let ta = TimeAxis::for_duration(dur);
    let rps_max = scale
        .rps_max
        .unwrap_or_else(|| rec.ticks.iter().map(|t| t.offered_rps).fold(0.0, f64::max));
    let rps_top = if rps_max > 0.0 { rps_max * 1.08 } else { 1.0 };
    let err_max = scale
        .error_pct_max
        .unwrap_or_else(|| rec.ticks.iter().map(error_pct).fold(0.0, f64::max));
    let err_top = if err_max > 0.0 { err_max * 1.08 } else { 1.0 };

    let legend_h = 30;
    let body = root.margin(40, legend_h, 8, 24);
    let (_, body_h) = body.dim_in_pixel();
    let (upper, lower) = body.split_vertically(body_h as i32 * 42 / 100);
    let window = (
        ta.x(s.rollout_started_at_s),
        ta.x((s.rollout_started_at_s + s.rollout_duration_s).min(dur)),
    );

    let mut rps_chart = ChartBuilder::on(&upper)
        .x_label_area_size(10)
        .y_label_area_size(72)
        .build_cartesian_2d(0.0..ta.x(dur), 0.0..rps_top)?;
    let no_x = |_: &f64| String::new();
    let rps_fmt = |v: &f64| tick_label(*v, 0);
    mesh!(rps_chart, &no_x, &rps_fmt, 6, "offered (req/s)", "")?;
    let mut err_chart = ChartBuilder::on(&lower)
        .margin_top(8)
        .x_label_area_size(42)
        .y_label_area_size(72)
        .build_cartesian_2d(0.0..ta.x(dur), 0.0..err_top)?;
    let dec = decimals_for(err_top);
    let xfmt = |v: &f64| trim(*v, 2);
    let err_fmt = |v: &f64| trim(*v, dec);
    mesh!(
        err_chart,
        &xfmt,
        &err_fmt,
        5,
        "errors (% of requests)",
        ta.desc()
    )?;

    if s.rollout_duration_s > 0.0 || s.rollout_started_at_s > 0.0 {
        let w = WINDOW_COLOR.mix(0.7).filled();
        rps_chart.draw_series(std::iter::once(Rectangle::new(
            [(window.0, 0.0), (window.1.max(window.0), rps_top)],
            w,
        )))?;
        err_chart.draw_series(std::iter::once(Rectangle::new(
            [(window.0, 0.0), (window.1.max(window.0), err_top)],
            w,
        )))?;
    }

    let pts = |v: Vec<(f64, f64)>| v.into_iter().map(|(t, y)| (ta.x(t), y)).collect::<Vec<_>>();
    rps_chart.draw_series(LineSeries::new(
        pts(envelope(&rec.ticks, |t| t.offered_rps)),
        RPS_COLOR.stroke_width(2),
    ))?;
    // The users' peak: the first tick at the highest offered load of the
    // run, in local time (a rollout that ran in the trough shows it).
    if let Some(c) = clock {
        let pool: Vec<&TickRow> = rec.ticks.iter().collect();
        let peak = pool
            .iter()
            .copied()
            .reduce(|a, b| if b.offered_rps > a.offered_rps { b } else { a });
        if let Some(p) = peak.filter(|p| p.offered_rps > 0.0) {
            let x = ta.x(p.time_s);
            rps_chart.draw_series(DashedLineSeries::new(
                vec![(x, 0.0), (x, rps_top)],
                4,
                3,
                INK.mix(0.6).stroke_width(1),
            ))?;
            let label = format!("users' peak {}", c.local(p.time_s));
            let (px, py) = rps_chart.backend_coord(&(x, rps_top));
            let (xr, _) = rps_chart.plotting_area().get_pixel_range();
            let w = text_width(&label, 13.0);
            let lx = if px + 6 + w <= xr.end {
                px + 6
            } else {
                px - 6 - w
            };
            root.draw(&Text::new(label, (lx, py + 2), style(13.0, INK)))?;
        }
    }
    err_chart.draw_series(
        AreaSeries::new(
            pts(envelope(&rec.ticks, error_pct)),
            0.0,
            ERR_COLOR.mix(0.25).filled(),
        )
        .border_style(ERR_COLOR.stroke_width(1)),
    )?;

    let bucketed = rec.ticks.len() > 2 * MAX_BUCKETS;
    let mut entries = vec![
        (
            Swatch::Fill(WINDOW_COLOR),
            format!(
                "rollout window ({} – {}{})",
                human_duration(s.rollout_started_at_s),
                human_duration(s.rollout_started_at_s + s.rollout_duration_s),
                clock.map_or(String::new(), |c| format!(
                    "; starts {}",
                    c.local(s.rollout_started_at_s)
                ))
            ),
        ),
        (Swatch::Line(RPS_COLOR), "offered load".into()),
        (
            Swatch::Line(ERR_COLOR),
            if bucketed {
                "error rate (min/max per bucket)".into()
            } else {
                format!("error rate per {} s tick", trim(s.tick_s, 1))
            },
        ),
    ];
    if err_max == 0.0 {
        entries.push((Swatch::None, "no failed requests".into()));
    }
    let (_, h) = root.dim_in_pixel();
    legend(
        root,
        (area_left(&body) + 72, h as i32 - legend_h / 2 - 2),
        &entries,
    )
}

/// 2916015 → "2,916,015".
pub fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticks(n: usize, f: impl Fn(usize) -> u64) -> Vec<TickRow> {
        (0..n)
            .map(|i| TickRow {
                time_s: i as f64 * 15.0,
                requests: 1000,
                failed: f(i),
                ..TickRow::default()
            })
            .collect()
    }

    #[test]
    fn envelope_keeps_a_one_tick_spike() {
        let t = ticks(80_640, |i| if i == 40_001 { 500 } else { 0 });
        let e = envelope(&t, error_pct);
        assert!(e.len() <= 2 * MAX_BUCKETS);
        assert!(e.iter().any(|&(_, v)| v == 50.0));
        assert!(e.windows(2).all(|w| w[0].0 < w[1].0), "in time order");
    }

    #[test]
    fn short_runs_are_not_bucketed() {
        let t = ticks(480, |i| i as u64);
        assert_eq!(envelope(&t, error_pct).len(), 480);
    }

    #[test]
    fn labels() {
        assert_eq!(tick_label(23000.0, 0), "23k");
        assert_eq!(tick_label(1_500_000.0, 0), "1.5M");
        assert_eq!(trim(0.30000000000000004, 2), "0.3");
        assert_eq!(trim(-0.0001, 2), "0");
        assert_eq!(decimals_for(0.0013), 5);
        assert_eq!(human_duration(600.0), "10 min");
        assert_eq!(human_duration(1_091_760.0), "12.6 d");
        assert_eq!(TimeAxis::for_duration(7200.0).unit, "min");
        assert_eq!(TimeAxis::for_duration(86400.0).unit, "h");
        assert_eq!(TimeAxis::for_duration(14.0 * 86400.0).unit, "d");
    }
}
