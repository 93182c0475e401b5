//! # shakedown-reports
//!
//! Writers for the one result type, [`shakedown_sim::RunRecord`]: each format
//! is a function from records to bytes, and [`write_atomic`] puts a set of
//! rendered files into a directory so that a reader never sees half of them.
//!
//! - [`json`] — `summary.json`
//! - [`csv`] — `timeseries.csv`, `events.csv`
//! - [`markdown`] — a summary fit for a pull request
//! - [`impact`] — the users' verdict (SLO, harm due to the change) in words
//! - [`html`] — a self-contained page with plots, for design reviews
//! - [`calibrate`] — the calibration lab: power curves, the power calculator
//! - [`drill`] — the worst, median and best seed of each group, as run reports
//! - [`compare`] — experiments (`compare`, `sweep`): rows, manifest, `summary.json`, Markdown, HTML
//! - [`plots_roles`] — per-role progress over the rollout window, the whole run as context
//! - [`plots_experiment`] — plots across seeds: CDFs per group, Pareto frontiers
//! - [`gate`], [`junit`] — the CI gate's Markdown table and JUnit XML
//! - [`live`] — live mode's `summary.json`, `requests.csv`, `latency.hdr`
//! - [`sim_vs_live`] — a live run beside its simulation (`live --compare-sim`)

pub mod calibrate;
pub mod compare;
pub mod csv;
pub mod drill;
pub mod gate;
pub mod html;
pub mod impact;
pub mod json;
pub mod junit;
pub mod live;
pub mod markdown;
pub mod plots;
pub mod plots_experiment;
pub mod plots_roles;
pub mod sim_vs_live;
mod write;

pub use write::{is_output_name, update_atomic, write_atomic, Output};

/// Every file `shakedown run` writes for one run, rendered in memory:
/// `summary.json`, `timeseries.csv`, `events.csv`, `report.md` and
/// `report.html`, whose "reproduce" line is `reproduce` (the command that
/// gives these bytes again) and whose traffic plot tells local time by
/// `clock` (`plots::Clock::of` the scenario's traffic).
pub fn run_outputs(
    rec: &shakedown_sim::RunRecord,
    reproduce: &str,
    clock: Option<&plots::Clock>,
) -> Vec<Output> {
    vec![
        Output::new("summary.json", json::summary(&rec.summary)),
        Output::new("timeseries.csv", csv::timeseries(&rec.ticks)),
        Output::new("events.csv", csv::events(&rec.events)),
        Output::new("report.md", markdown::run(&rec.summary)),
        Output::new("report.html", html::run_report_with(rec, reproduce, clock)),
    ]
}
