//! Experiment outputs (`shakedown compare` and `shakedown sweep`): the tidy
//! rows, the manifest, `summary.json`, `report.md` and `report.html`.
//!
//! Every file of a whole experiment is a function of its [`Manifest`] and its
//! rows ([`outputs`]); a shard writes its rows and its manifest only. The rows
//! file parses back to exactly the runs that wrote it ([`parse_rows`]; floats
//! are written in their shortest round-trip form), which is what lets
//! `shakedown merge` produce byte for byte what one unsharded run writes.
//!
//! ## `compare.csv` / `sweep.csv`
//! One row per seed × group, seed-major: `seed`, the group (`policy` label, or
//! the sweep's `point` label followed by one column per parameter), then every
//! field of the run's summary (`policy_kind` is the summary's `policy`).
//!
//! ## `summary.json`
//! Described by `docs/schema/experiment-summary.schema.json`:
//! `recommendation` (which group to pick and why: the sentence every report
//! opens with, the pick, the runner-up, the criterion that separates them,
//! and their paired differences); `groups[]`, each `finished` when it
//! completed on at least one seed (only those are highlighted, put on a
//! frontier or picked), with each metric's distribution over seeds (`n`, `mean`,
//! `mean_ci95`, `std`, `min`, `median`, `median_ci95`, `p90`, `p90_ci95`,
//! `p99`, `p99_ci95`, `max`) and each probability (`n`, `hits`, `value`,
//! `ci95`); `paired_differences[]`, each group minus the reference (the first
//! group) over the common seeds (`mean`, `ci95`, and on how many seeds it was
//! `better`, `worse` or `equal`); `pareto[]`, the groups on each frontier;
//! `groups[].drill_down[]`, the worst, median and best seed (`rank`, `seed`,
//! `failed_requests_due_to_change`, `dir`, `reproduce`: see [`crate::drill`]).
//! An interval is `[low, high]`; a bound the seeds cannot give is `null`.

use crate::drill::{self, Pick};
use crate::html::{esc, group};
use crate::plots::human_duration;
use crate::plots_experiment::{self as px, Series};
use crate::write::Output;
use serde::Deserialize;
use serde::Serialize;
use shakedown_sim::experiment::analysis::{
    Analysis, Better, PairedDiff, CRITERIA, METRICS, OUTCOMES, PROPORTIONS,
};
use shakedown_sim::experiment::stats::{self, Interval};
use shakedown_sim::experiment::{grid, Kind, Manifest, SeedSet};
use shakedown_sim::record::Summary;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::ops::Range;

/// The `format` of `summary.json`.
pub const SUMMARY_FORMAT: &str = "shakedown-experiment-summary/1";

/// Summary columns after the group columns, in order, and how each is
/// written (floats as Rust prints them, so they parse back exactly). Rows
/// are read back by serde ([`Summary`]'s own field names; `policy_kind` is
/// `policy`).
type Column = (&'static str, fn(&Summary) -> String);
const SUMMARY_COLUMNS: [Column; 35] = [
    ("policy_kind", |s| s.policy.clone()),
    ("scenario", |s| s.scenario.clone()),
    ("change", |s| s.change.clone()),
    ("hosts", |s| s.hosts.to_string()),
    ("outcome", |s| s.outcome.to_string()),
    ("outcome_reason", |s| s.outcome_reason.clone()),
    ("duration_s", |s| s.duration_s.to_string()),
    ("tick_s", |s| s.tick_s.to_string()),
    ("rollout_started_at_s", |s| {
        s.rollout_started_at_s.to_string()
    }),
    ("rollout_duration_s", |s| s.rollout_duration_s.to_string()),
    ("requests_total", |s| s.requests_total.to_string()),
    ("requests_failed", |s| s.requests_failed.to_string()),
    ("failed_requests_during_rollout", |s| {
        s.failed_requests_during_rollout.to_string()
    }),
    ("success_rate", |s| s.success_rate.to_string()),
    ("slo_objective", |s| s.slo_objective.to_string()),
    ("slo_window_s", |s| s.slo_window_s.to_string()),
    ("slo_worst_success_rate", |s| {
        s.slo_worst_success_rate.to_string()
    }),
    ("slo_met", |s| s.slo_met.to_string()),
    ("error_budget_burned", |s| s.error_budget_burned.to_string()),
    ("failed_requests_due_to_change", |s| {
        opt_int(s.failed_requests_due_to_change)
    }),
    ("failed_requests_due_to_change_during_rollout", |s| {
        opt_int(s.failed_requests_due_to_change_during_rollout)
    }),
    ("failed_requests_due_to_change_after_rollout", |s| {
        opt_int(s.failed_requests_due_to_change_after_rollout)
    }),
    ("host_hours_unavailable_due_to_change", |s| {
        opt(s.host_hours_unavailable_due_to_change)
    }),
    ("peak_hosts_unavailable_pct", |s| {
        s.peak_hosts_unavailable_pct.to_string()
    }),
    ("hosts_on_new_pct", |s| s.hosts_on_new_pct.to_string()),
    ("hosts_ever_on_new_pct", |s| {
        s.hosts_ever_on_new_pct.to_string()
    }),
    ("new_version_bad", |s| s.new_version_bad.to_string()),
    ("detected_at_s", |s| opt(s.detected_at_s)),
    ("aborted_at_s", |s| opt(s.aborted_at_s)),
    ("time_to_rollback_s", |s| opt(s.time_to_rollback_s)),
    ("time_to_safe_s", |s| opt(s.time_to_safe_s)),
    ("rollback_min_capacity_pct", |s| {
        opt(s.rollback_min_capacity_pct)
    }),
    ("rollback_capacity_deficit_host_hours", |s| {
        opt(s.rollback_capacity_deficit_host_hours)
    }),
    ("events_processed", |s| s.events_processed.to_string()),
    ("shakedown_version", |s| s.shakedown_version.clone()),
];

/// The header of the rows file.
pub fn header(m: &Manifest) -> Vec<String> {
    let mut h = vec!["seed".to_string(), m.kind.group_column().to_string()];
    h.extend(m.params.iter().map(|p| p.path.clone()));
    h.extend(SUMMARY_COLUMNS.iter().map(|(c, _)| c.to_string()));
    h
}

/// An optional number: empty when absent.
fn opt(v: Option<f64>) -> String {
    v.map_or(String::new(), |x| x.to_string())
}

fn opt_int(v: Option<i64>) -> String {
    v.map_or(String::new(), |x| x.to_string())
}

/// The rows file for units `units` of the experiment (`rows[i]` is unit
/// `units.start + i`).
pub fn rows_csv(m: &Manifest, seeds: &SeedSet, units: Range<usize>, rows: &[Summary]) -> Vec<u8> {
    assert_eq!(units.len(), rows.len());
    let mut w = ::csv::Writer::from_writer(Vec::new());
    w.write_record(header(m)).expect("in memory");
    for (u, s) in units.zip(rows) {
        let (seed, g) = m.unit(seeds, u);
        let def = &m.groups[g];
        let mut rec = vec![seed.to_string(), def.label.clone()];
        rec.extend(def.values.iter().cloned());
        rec.extend(SUMMARY_COLUMNS.iter().map(|(_, f)| f(s)));
        w.write_record(&rec).expect("in memory");
    }
    w.into_inner().expect("in memory")
}

/// Parses a rows file written by [`rows_csv`] for the same units, checking
/// that every row is the unit it should be.
pub fn parse_rows(
    m: &Manifest,
    seeds: &SeedSet,
    units: Range<usize>,
    bytes: &[u8],
) -> Result<Vec<Summary>, String> {
    let mut r = ::csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(bytes);
    let want = header(m);
    let got: Vec<String> = r
        .headers()
        .map_err(|e| format!("header: {e}"))?
        .iter()
        .map(str::to_string)
        .collect();
    if got != want {
        return Err(format!(
            "unexpected header: expected `{}`, found `{}`",
            want.join(","),
            got.join(",")
        ));
    }
    // Serde reads the summary columns by name: the group and parameter
    // columns get names no summary field has.
    let mut names = ::csv::StringRecord::new();
    for (j, h) in want.iter().enumerate() {
        if j == 0 || j >= 2 + m.params.len() {
            names.push_field(h);
        } else {
            names.push_field(&format!("_group_{j}"));
        }
    }
    let mut out = Vec::with_capacity(units.len());
    let mut units_iter = units.clone();
    for (i, rec) in r.records().enumerate() {
        let line = i + 2;
        let rec = rec.map_err(|e| format!("line {line}: {e}"))?;
        let Some(u) = units_iter.next() else {
            return Err(format!(
                "line {line}: more rows than the {} units this file holds",
                units.len()
            ));
        };
        let (seed, g) = m.unit(seeds, u);
        let f = |j: usize| rec.get(j).unwrap_or("");
        if f(0) != seed.to_string() || f(1) != m.groups[g].label {
            return Err(format!(
                "line {line}: expected seed {seed} of `{}`, found seed {} of `{}`",
                m.groups[g].label,
                f(0),
                f(1)
            ));
        }
        let summary: Summary = rec.deserialize(Some(&names)).map_err(|e| {
            let column = e
                .position()
                .and(match e.kind() {
                    ::csv::ErrorKind::Deserialize { err, .. } => err.field(),
                    _ => None,
                })
                .and_then(|j| want.get(j as usize))
                .map(|c| format!("column `{c}`: "))
                .unwrap_or_default();
            let why = match e.kind() {
                ::csv::ErrorKind::Deserialize { err, .. } => err.kind().to_string(),
                _ => e.to_string(),
            };
            format!("line {line}: {column}{why}")
        })?;
        out.push(summary);
    }
    if out.len() != units.len() {
        return Err(format!(
            "{} rows, expected {} (units {}..{})",
            out.len(),
            units.len(),
            units.start,
            units.end
        ));
    }
    Ok(out)
}

/// `manifest.json`.
pub fn manifest_json(m: &Manifest) -> String {
    let mut s = serde_json::to_string_pretty(m).expect("a manifest serialises");
    s.push('\n');
    s
}

pub fn parse_manifest(bytes: &[u8]) -> Result<Manifest, String> {
    let m: Manifest = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if m.format != shakedown_sim::experiment::MANIFEST_FORMAT {
        return Err(format!(
            "format `{}`, this shakedown reads `{}`",
            m.format,
            shakedown_sim::experiment::MANIFEST_FORMAT
        ));
    }
    Ok(m)
}

/// Rows (seed-major) regrouped: one vector per group, in seed order.
pub fn by_group(m: &Manifest, rows: &[Summary]) -> Vec<Vec<Summary>> {
    let g = m.groups.len();
    (0..g)
        .map(|i| rows.iter().skip(i).step_by(g).cloned().collect())
        .collect()
}

/// Runs the analysis of a whole experiment.
pub fn analyze(m: &Manifest, rows: &[Summary]) -> Analysis {
    let labels: Vec<String> = m.groups.iter().map(|g| g.label.clone()).collect();
    shakedown_sim::experiment::analyze(&labels, &by_group(m, rows))
}

/// Every file of a whole experiment: rows, manifest, `summary.json`,
/// `report.md`, `report.html`.
pub fn outputs(m: &Manifest, seeds: &SeedSet, rows: &[Summary]) -> Vec<Output> {
    let a = analyze(m, rows);
    let mut out = vec![
        Output::new(m.kind.csv_name(), rows_csv(m, seeds, 0..rows.len(), rows)),
        Output::new("manifest.json", manifest_json(m)),
    ];
    out.extend(reports(m, seeds, rows, &a));
    out
}

/// The files `shakedown report DIR` re-renders: `summary.json`, `report.md`,
/// `report.html`.
pub fn reports(m: &Manifest, seeds: &SeedSet, rows: &[Summary], a: &Analysis) -> Vec<Output> {
    let picks = drill::picks(m, rows);
    vec![
        Output::new("summary.json", summary_json(m, seeds, a, &picks)),
        Output::new("report.md", markdown(m, seeds, a, &picks)),
        Output::new("report.html", html(m, seeds, rows, a, &picks)),
    ]
}

// ---------------------------------------------------------------------------
// summary.json

fn interval(i: Interval) -> [Option<f64>; 2] {
    [i.low, i.high]
}

#[derive(Serialize)]
struct JsonSummary<'a> {
    format: &'static str,
    kind: Kind,
    scenario: &'a str,
    scenario_file: &'a str,
    seeds: JsonSeeds<'a>,
    runs: usize,
    method: JsonMethod,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    params: Vec<&'a grid::Param>,
    reference: &'a str,
    recommendation: JsonRecommendation<'a>,
    groups: Vec<JsonGroup<'a>>,
    paired_differences: Vec<JsonPaired<'a>>,
    pareto: Vec<JsonFrontier<'a>>,
    shakedown_version: &'a str,
}

#[derive(Serialize)]
struct JsonRecommendation<'a> {
    /// The sentence every report opens with.
    text: String,
    pick: Option<&'a str>,
    runner_up: Option<&'a str>,
    decided_by: Option<&'static str>,
    tie: bool,
    criteria: [&'static str; 4],
    /// Pick minus runner-up per criterion, over their common seeds.
    versus: BTreeMap<&'static str, JsonDiff>,
}

#[derive(Serialize)]
struct JsonSeeds<'a> {
    spec: &'a str,
    count: usize,
}

#[derive(Serialize)]
struct JsonMethod {
    confidence: f64,
    quantiles: &'static str,
    mean_ci: &'static str,
    quantile_ci: &'static str,
    probability_ci: &'static str,
    paired_ci: &'static str,
    bootstrap_resamples: usize,
    bootstrap_seed: u64,
}

#[derive(Serialize)]
struct JsonGroup<'a> {
    label: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy_file: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy: Option<&'a toml::Table>,
    #[serde(skip_serializing_if = "Option::is_none")]
    values: Option<BTreeMap<&'a str, &'a str>>,
    /// Completed on at least one seed: only such groups are compared.
    finished: bool,
    /// The worst, median and best seed by failed requests due to the
    /// change, each written as a full run report (`crate::drill`).
    drill_down: Vec<JsonPick>,
    metrics: BTreeMap<&'static str, JsonDist>,
    probabilities: BTreeMap<&'static str, JsonShare>,
}

#[derive(Serialize)]
struct JsonPick {
    rank: &'static str,
    seed: u64,
    failed_requests_due_to_change: i64,
    /// Relative to the experiment's directory.
    dir: String,
    /// The one-line command that gives this run's files again (`DIR`: where to write them).
    reproduce: String,
}

#[derive(Serialize)]
struct JsonDist {
    n: usize,
    mean: f64,
    mean_ci95: [Option<f64>; 2],
    std: f64,
    min: f64,
    median: f64,
    median_ci95: [Option<f64>; 2],
    p90: f64,
    p90_ci95: [Option<f64>; 2],
    p99: f64,
    p99_ci95: [Option<f64>; 2],
    max: f64,
}

#[derive(Serialize)]
struct JsonShare {
    n: usize,
    hits: usize,
    value: f64,
    ci95: [Option<f64>; 2],
}

#[derive(Serialize)]
struct JsonPaired<'a> {
    group: &'a str,
    reference: &'a str,
    metrics: BTreeMap<&'static str, JsonDiff>,
}

#[derive(Serialize)]
struct JsonDiff {
    n: usize,
    mean: f64,
    ci95: [Option<f64>; 2],
    better: usize,
    worse: usize,
    equal: usize,
}

#[derive(Serialize)]
struct JsonFrontier<'a> {
    x: &'static str,
    y: &'static str,
    groups: Vec<&'a str>,
}

fn json_diff(d: &PairedDiff) -> JsonDiff {
    JsonDiff {
        n: d.n,
        mean: d.mean,
        ci95: interval(d.ci),
        better: d.better,
        worse: d.worse,
        equal: d.equal,
    }
}

/// `summary.json` of a whole experiment.
pub fn summary_json(m: &Manifest, seeds: &SeedSet, a: &Analysis, picks: &[Vec<Pick>]) -> String {
    let label = |i: usize| m.groups[i].label.as_str();
    let doc = JsonSummary {
        format: SUMMARY_FORMAT,
        kind: m.kind,
        scenario: &m.scenario,
        scenario_file: &m.scenario_file,
        seeds: JsonSeeds {
            spec: &m.seeds,
            count: seeds.len(),
        },
        runs: seeds.len() * m.groups.len(),
        method: JsonMethod {
            confidence: 1.0 - stats::ALPHA,
            quantiles: "Hyndman-Fan type 7 (linear interpolation between order statistics, numpy's default)",
            mean_ci: "percentile bootstrap over seeds",
            quantile_ci: "exact distribution-free order-statistic interval (Binomial(n, q)); null where n seeds cannot bound that tail",
            probability_ci: "exact Clopper-Pearson",
            paired_ci: "percentile bootstrap over seeds of the per-seed differences",
            bootstrap_resamples: stats::BOOTSTRAP_RESAMPLES,
            bootstrap_seed: stats::BOOTSTRAP_SEED,
        },
        params: m.params.iter().collect(),
        reference: label(0),
        recommendation: JsonRecommendation {
            text: verdict(m, a),
            pick: a.recommendation.pick.map(label),
            runner_up: a.recommendation.runner_up.map(label),
            decided_by: a.recommendation.decided_by,
            tie: a.recommendation.tie(),
            criteria: CRITERIA,
            versus: a.recommendation.versus.iter().map(|d| (d.name, json_diff(d))).collect(),
        },
        groups: a
            .groups
            .iter()
            .zip(&m.groups)
            .zip(&a.recommendation.finished)
            .enumerate()
            .map(|(gi, ((g, def), &finished))| JsonGroup {
                finished,
                drill_down: picks[gi]
                    .iter()
                    .map(|p| JsonPick {
                        rank: p.rank,
                        seed: p.seed,
                        failed_requests_due_to_change: p.harm,
                        dir: p.dir.clone(),
                        reproduce: drill::command(m, gi, p.seed),
                    })
                    .collect(),
                label: &def.label,
                policy_file: def.policy_file.as_deref(),
                policy: def.policy.as_ref(),
                values: (!m.params.is_empty()).then(|| {
                    m.params
                        .iter()
                        .zip(&def.values)
                        .map(|(p, v)| (p.path.as_str(), v.as_str()))
                        .collect()
                }),
                metrics: METRICS
                    .iter()
                    .zip(&g.metrics)
                    .map(|(mt, d)| {
                        (
                            mt.name,
                            JsonDist {
                                n: d.n,
                                mean: d.mean,
                                mean_ci95: interval(d.mean_ci),
                                std: d.std,
                                min: d.min,
                                median: d.median,
                                median_ci95: interval(d.median_ci),
                                p90: d.p90,
                                p90_ci95: interval(d.p90_ci),
                                p99: d.p99,
                                p99_ci95: interval(d.p99_ci),
                                max: d.max,
                            },
                        )
                    })
                    .collect(),
                probabilities: PROPORTIONS
                    .iter()
                    .zip(&g.proportions)
                    .map(|(p, s)| {
                        (
                            p.name,
                            JsonShare {
                                n: s.n,
                                hits: s.hits,
                                value: s.value,
                                ci95: interval(s.ci),
                            },
                        )
                    })
                    .collect(),
            })
            .collect(),
        paired_differences: a
            .paired
            .iter()
            .map(|p| JsonPaired {
                group: &p.group,
                reference: &p.reference,
                metrics: p
                    .diffs
                    .iter()
                    .map(|d| (d.name, json_diff(d)))
                    .collect(),
            })
            .collect(),
        pareto: a
            .frontiers
            .iter()
            .map(|f| JsonFrontier {
                x: f.x,
                y: f.y,
                groups: f.groups.iter().map(|&i| label(i)).collect(),
            })
            .collect(),
        shakedown_version: &m.shakedown_version,
    };
    let mut s = serde_json::to_string_pretty(&doc).expect("a summary serialises");
    s.push('\n');
    s
}

// ---------------------------------------------------------------------------
// Formatting

/// A metric value for people, in its unit.
pub fn fmt_metric(name: &str, v: f64) -> String {
    if v.is_nan() {
        return "–".into();
    }
    match name {
        "rollout_duration_s" | "time_to_detect_s" | "time_to_rollback_s" | "time_to_safe_s" => {
            human_duration(v)
        }
        "success_rate" => format!("{:.4} %", 100.0 * v),
        "error_budget_burned" => format!("{v:.2}"),
        "rollback_capacity_deficit_host_hours" => crate::impact::host_hours(v),
        n if n.ends_with("_pct") => format!("{v:.1} %"),
        _ => {
            if v.abs() >= 100.0 || v == v.trunc() {
                group_signed(v.round())
            } else {
                format!("{v:.1}")
            }
        }
    }
}

fn group_signed(v: f64) -> String {
    if v < 0.0 {
        format!("−{}", group((-v) as u64))
    } else {
        group(v as u64)
    }
}

/// A difference for people: signed, in the metric's unit.
fn fmt_diff(name: &str, v: f64) -> String {
    if v.is_nan() {
        return "–".into();
    }
    let sign = if v > 0.0 {
        "+"
    } else if v < 0.0 {
        "−"
    } else {
        "±"
    };
    let a = v.abs();
    let body = if name.starts_with("p_") {
        format!("{:.1} pp", 100.0 * a)
    } else {
        fmt_metric(name, a)
    };
    format!("{sign}{body}")
}

fn fmt_ci(name: &str, i: Interval, f: fn(&str, f64) -> String) -> String {
    let b = |x: Option<f64>| x.map_or("–".to_string(), |v| f(name, v));
    format!("[{}, {}]", b(i.low), b(i.high))
}

fn fmt_prob(v: f64) -> String {
    format!("{v:.3}")
}

fn fmt_prob_ci(i: Interval) -> String {
    format!(
        "[{}, {}]",
        i.low.map_or("–".into(), fmt_prob),
        i.high.map_or("–".into(), fmt_prob)
    )
}

/// "policy" or "grid point", with its plural.
fn noun(m: &Manifest, n: usize) -> String {
    let (one, many) = match m.kind {
        Kind::Compare => ("policy", "policies"),
        Kind::Sweep => ("grid point", "grid points"),
    };
    format!("{} {}", group(n as u64), if n == 1 { one } else { many })
}

/// A group's outcomes over its seeds, most frequent first, e.g.
/// "rolled back 97/100, halted 3/100".
pub fn outcome_counts(a: &Analysis, g: usize) -> String {
    let mut parts: Vec<(usize, String)> = OUTCOMES
        .map(|j| {
            let s = &a.groups[g].proportions[j];
            let what = PROPORTIONS[j]
                .name
                .trim_start_matches("p_")
                .replace('_', " ");
            (s.hits, format!("{what} {}/{}", s.hits, s.n))
        })
        .filter(|(hits, _)| *hits > 0)
        .collect();
    parts.sort_by_key(|x| std::cmp::Reverse(x.0));
    parts
        .into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The index of `p_slo_met` in [`PROPORTIONS`].
fn slo_met_index() -> usize {
    PROPORTIONS
        .iter()
        .position(|p| p.name == "p_slo_met")
        .expect("p_slo_met is a proportion")
}

/// The index of a metric in [`METRICS`].
fn metric_index(name: &str) -> usize {
    METRICS
        .iter()
        .position(|m| m.name == name)
        .expect("a metric")
}

/// What separates the pick from the runner-up `q` on one criterion, in
/// words.
fn versus_phrase(a: &Analysis, q: usize, d: &PairedDiff, loser: &str) -> String {
    let ci = fmt_ci(d.name, d.ci, fmt_diff);
    match d.name {
        "p_completed" => {
            let c = &a.groups[q].proportions[0];
            format!(
                "`{loser}`, which completed on {} of {}, the difference is clear (paired {} {ci})",
                group(c.hits as u64),
                group(c.n as u64),
                fmt_diff(d.name, d.mean)
            )
        }
        "p_slo_met" => {
            let c = &a.groups[q].proportions[slo_met_index()];
            format!(
                "`{loser}`, which met the scenario's SLO on {} of {}, the difference is clear (paired {} {ci})",
                group(c.hits as u64),
                group(c.n as u64),
                fmt_diff(d.name, d.mean)
            )
        }
        "failed_requests_due_to_change" | "requests_failed" => format!(
            "`{loser}` the change made {} {} requests fail per run (paired mean {} {ci} over {} seeds, each against the same seed without the change; fewer on {}, more on {})",
            fmt_metric(d.name, d.mean.abs()),
            if d.mean < 0.0 { "fewer" } else { "more" },
            fmt_diff(d.name, d.mean),
            group(d.n as u64),
            group(d.better as u64),
            group(d.worse as u64)
        ),
        _ => format!(
            "`{loser}` it finished the rollout {} {} with the harm to users not clearly different (paired mean {} {ci} over the {} seeds where both completed)",
            fmt_metric(d.name, d.mean.abs()),
            if d.mean < 0.0 { "sooner" } else { "later" },
            fmt_diff(d.name, d.mean),
            group(d.n as u64)
        ),
    }
}

/// The recommendation in plain sentences: which group to pick and why, ties
/// said as ties, and "none" said plainly. The first line of every report.
pub fn verdict(m: &Manifest, a: &Analysis) -> String {
    let r = &a.recommendation;
    let label = |g: usize| m.groups[g].label.as_str();
    let n = a.groups.first().map_or(0, |g| g.proportions[0].n);
    let unfinished: Vec<usize> = (0..a.groups.len()).filter(|&g| !r.finished[g]).collect();
    let not_compared = if unfinished.is_empty() {
        String::new()
    } else {
        format!(
            " Not compared, because they never completed the rollout: {}.",
            unfinished
                .iter()
                .map(|&g| format!("`{}` ({})", label(g), outcome_counts(a, g)))
                .collect::<Vec<_>>()
                .join("; ")
        )
    };
    let Some(p) = r.pick else {
        // Not a recommendation: which one did least harm, as a fact (the
        // harm due to the change where the rows have it).
        let harm = metric_index("failed_requests_due_to_change");
        let (i, what) = if a.groups.iter().all(|g| g.metrics[harm].mean.is_nan()) {
            (
                metric_index("requests_failed"),
                "failed the fewest requests",
            )
        } else {
            (harm, "made the fewest requests fail due to the change")
        };
        let least = (0..a.groups.len())
            .filter(|&g| !a.groups[g].metrics[i].mean.is_nan())
            .min_by(|&x, &y| {
                a.groups[x].metrics[i]
                    .mean
                    .total_cmp(&a.groups[y].metrics[i].mean)
            });
        let least = match least {
            Some(g) if a.groups.len() > 1 => format!(
                " Of them, `{}` {what} (mean {} per run).",
                label(g),
                fmt_metric(METRICS[i].name, a.groups[g].metrics[i].mean)
            ),
            _ => String::new(),
        };
        return format!(
            "No {} completed the rollout on any of the {} seeds, so none is recommended.{not_compared}{least}",
            match m.kind {
                Kind::Compare => "policy",
                Kind::Sweep => "grid point",
            },
            group(n as u64)
        );
    };
    let completed = &a.groups[p].proportions[0];
    let slo = &a.groups[p].proportions[slo_met_index()];
    let harm = a.groups[p].metrics[metric_index("failed_requests_due_to_change")].mean;
    let harm = if harm.is_nan() {
        String::new()
    } else {
        format!(
            ", the change making {} requests per run fail (mean, against the same seeds without it)",
            fmt_metric("failed_requests_due_to_change", harm)
        )
    };
    let head = format!(
        "Pick `{}`: it completed the rollout on {} of {} seeds and met the scenario's SLO on {} of them{harm}",
        label(p),
        group(completed.hits as u64),
        group(completed.n as u64),
        group(slo.hits as u64)
    );
    let Some(q) = r.runner_up else {
        let why = if a.groups.len() == 1 {
            format!(
                ", and there is no other {} to compare it with.",
                noun(m, 1).trim_start_matches("1 ")
            )
        } else {
            format!(
                ", the only one of the {} that did.",
                noun(m, a.groups.len())
            )
        };
        return format!("{head}{why}{not_compared}");
    };
    let by = |name: &str| r.versus.iter().find(|d| d.name == name);
    match r.decided_by {
        Some(name) => {
            let d = by(name).expect("a paired difference per criterion");
            format!(
                "{head}; against the runner-up {}.{not_compared}",
                versus_phrase(a, q, d, label(q))
            )
        }
        None => format!(
            "{head}. It ties with `{}`: neither completion, the SLO met, failed requests due to the change nor rollout duration differs clearly over {} seeds (failed requests due to the change {} {}); `{}` has the better point estimates.{not_compared}",
            label(q),
            group(n as u64),
            by("failed_requests_due_to_change").map_or("–".into(), |d| fmt_diff(d.name, d.mean)),
            by("failed_requests_due_to_change").map_or("–".into(), |d| fmt_ci(d.name, d.ci, fmt_diff)),
            label(p)
        ),
    }
}

/// A metric's or probability's title.
fn metric_title(name: &str) -> &str {
    METRICS
        .iter()
        .find(|x| x.name == name)
        .map(|x| x.title)
        .or_else(|| PROPORTIONS.iter().find(|x| x.name == name).map(|x| x.title))
        .unwrap_or(name)
}

fn title(m: &Manifest) -> String {
    format!("shakedown {}: {}", m.kind.as_str(), m.scenario)
}

/// The command that reproduces the experiment.
pub fn reproduce(m: &Manifest) -> String {
    let mut c = format!("shakedown {} {}", m.kind.as_str(), m.scenario_file);
    for g in &m.groups {
        if let Some(f) = &g.policy_file {
            let _ = write!(c, " --policy {f}");
        }
    }
    if let Some(f) = &m.policy_file {
        let _ = write!(c, " --policy {f}");
    }
    if let Some(map) = &m.metric_map {
        let _ = write!(c, " --metric-map {map}");
    }
    for p in &m.params {
        let _ = write!(c, " --param '{}={}'", p.path, p.values.join(","));
    }
    let _ = write!(c, " --seeds {} --out DIR", m.seeds);
    c
}

fn lede(m: &Manifest, seeds: &SeedSet) -> String {
    let what = match m.kind {
        Kind::Compare => format!(
            "{} polic{}",
            m.groups.len(),
            if m.groups.len() == 1 { "y" } else { "ies" }
        ),
        Kind::Sweep => format!(
            "{} grid point{} ({})",
            m.groups.len(),
            if m.groups.len() == 1 { "" } else { "s" },
            m.params
                .iter()
                .map(|p| format!("`{}` ∈ {{{}}}", p.path, p.values.join(", ")))
                .collect::<Vec<_>>()
                .join(" × ")
        ),
    };
    format!(
        "Scenario `{}` (`{}`) · {} seeds (`{}`) · {} · {} runs. Every {} ran on the same seeds, so each faced the same traffic and host timings (common random numbers): differences are due to the {} alone, and are compared seed by seed.",
        m.scenario,
        m.scenario_file,
        group(seeds.len() as u64),
        m.seeds,
        what,
        group((seeds.len() * m.groups.len()) as u64),
        if m.kind == Kind::Compare { "policy" } else { "grid point" },
        if m.kind == Kind::Compare { "policy" } else { "parameters" },
    )
}

/// Rows of the main results table: (metric name, statistic, title).
fn result_rows() -> Vec<(usize, &'static str)> {
    let mut rows = Vec::new();
    for i in 0..METRICS.len() {
        rows.push((i, "mean"));
        if i < 4 {
            rows.push((i, "median"));
            rows.push((i, "p90"));
            rows.push((i, "p99"));
        }
    }
    rows
}

fn stat_cell(a: &Analysis, g: usize, i: usize, stat: &str) -> String {
    let d = &a.groups[g].metrics[i];
    let name = METRICS[i].name;
    let (v, ci) = match stat {
        "mean" => (d.mean, d.mean_ci),
        "median" => (d.median, d.median_ci),
        "p90" => (d.p90, d.p90_ci),
        _ => (d.p99, d.p99_ci),
    };
    format!("{} {}", fmt_metric(name, v), fmt_ci(name, ci, fmt_metric))
}

fn on_frontier(a: &Analysis, g: usize) -> Vec<&'static str> {
    a.frontiers
        .iter()
        .filter(|f| f.groups.contains(&g))
        .map(|f| f.y)
        .collect()
}

// ---------------------------------------------------------------------------
// report.md

/// The outcome table's cell: hits of n with the share and its interval.
fn outcome_cell(a: &Analysis, g: usize, j: usize) -> String {
    let s = &a.groups[g].proportions[j];
    format!(
        "{}/{} ({} {})",
        s.hits,
        s.n,
        fmt_prob(s.value),
        fmt_prob_ci(s.ci)
    )
}

fn outcomes_markdown(md: &mut String, labels: &[&str], a: &Analysis, picks: &[Vec<Pick>]) {
    let _ = writeln!(
        md,
        "## Outcomes\n\nHow each rollout ended, over the seeds (share with its 95 % Clopper–Pearson interval). Only groups that completed on at least one seed are compared below; durations are those of completed runs. The runs to open are each group's worst, median and best seed by failed requests due to the change, written as full run reports under `runs/`.\n"
    );
    md.push_str("| group |");
    for j in OUTCOMES {
        let _ = write!(
            md,
            " {} |",
            PROPORTIONS[j]
                .name
                .trim_start_matches("p_")
                .replace('_', " ")
        );
    }
    md.push_str(" compared | runs to open |\n|---|");
    for _ in OUTCOMES {
        md.push_str("---:|");
    }
    md.push_str(":---:|---|\n");
    for (g, l) in labels.iter().enumerate() {
        let _ = write!(md, "| `{l}` |");
        for j in OUTCOMES {
            let _ = write!(md, " {} |", outcome_cell(a, g, j));
        }
        let _ = writeln!(
            md,
            " {} | {} |",
            if a.recommendation.finished[g] {
                "yes"
            } else {
                "no: never completed"
            },
            picks[g]
                .iter()
                .map(|p| format!("[{} (seed {})]({}/report.md)", p.rank, p.seed, p.dir))
                .collect::<Vec<_>>()
                .join(" · ")
        );
    }
    md.push('\n');
}

/// Rollback as a deployment: one sentence per group that aborted on some
/// seed (time to safe, the capacity dip and the capacity missing, each a
/// mean with its interval over the aborted seeds); `None` when no group
/// aborted.
fn rollbacks(labels: &[&str], a: &Analysis) -> Option<String> {
    let at = |name: &str| {
        METRICS
            .iter()
            .position(|m| m.name == name)
            .expect("a metric")
    };
    let (safe, low, missing) = (
        at("time_to_safe_s"),
        at("rollback_min_capacity_pct"),
        at("rollback_capacity_deficit_host_hours"),
    );
    let mean = |g: usize, i: usize| {
        let d = &a.groups[g].metrics[i];
        let name = METRICS[i].name;
        format!(
            "{} {}",
            fmt_metric(name, d.mean),
            fmt_ci(name, d.mean_ci, fmt_metric)
        )
    };
    let lines: Vec<String> = labels
        .iter()
        .enumerate()
        .filter(|&(g, _)| a.groups[g].metrics[low].n > 0)
        .map(|(g, l)| {
            let aborted = a.groups[g].metrics[low].n;
            let seeds = a.groups[g].proportions[0].n;
            let n_safe = a.groups[g].metrics[safe].n;
            let safe_part = if n_safe == 0 {
                "never safe by the run's end".to_string()
            } else {
                format!(
                    "safe on {n_safe} of them, {} after the abort",
                    mean(g, safe)
                )
            };
            format!(
                "`{l}` aborted on {aborted} of {seeds} seeds: {safe_part}; warm capacity at its lowest {} of the desired hosts, {} host-hours of it missing.",
                mean(g, low),
                mean(g, missing)
            )
        })
        .collect();
    (!lines.is_empty()).then(|| lines.join(" "))
}

const ROLLBACK_NOTE: &str = "An abort is a deployment too: hosts go back, the stable set regrows and starts cold. Means over the aborted seeds with their 95 % intervals; *safe* is nothing left on the new version and every desired host serving warm.";

/// `report.md`: a summary fit for a pull request.
pub fn markdown(m: &Manifest, seeds: &SeedSet, a: &Analysis, picks: &[Vec<Pick>]) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# {}\n", title(m));
    let _ = writeln!(md, "{}\n", lede(m, seeds));
    let labels: Vec<&str> = m.groups.iter().map(|g| g.label.as_str()).collect();
    let _ = writeln!(md, "## Recommendation\n\n{}\n", verdict(m, a));
    outcomes_markdown(&mut md, &labels, a, picks);
    if let Some(r) = rollbacks(&labels, a) {
        let _ = writeln!(md, "## Rolling back\n\n{ROLLBACK_NOTE} {r}\n");
    }

    match m.kind {
        Kind::Compare => {
            let _ = writeln!(md, "## Results\n");
            let _ = writeln!(
                md,
                "Each cell: the estimate and its 95 % confidence interval (– where the seeds cannot bound it).\n"
            );
            let _ = write!(md, "| metric | statistic |");
            for l in &labels {
                let _ = write!(md, " `{l}` |");
            }
            let _ = write!(md, "\n|---|---|");
            for _ in &labels {
                md.push_str("---:|");
            }
            md.push('\n');
            for (i, stat) in result_rows() {
                let _ = write!(md, "| {} | {stat} |", METRICS[i].title);
                for g in 0..labels.len() {
                    let _ = write!(md, " {} |", stat_cell(a, g, i, stat));
                }
                md.push('\n');
            }
            for (j, p) in PROPORTIONS.iter().enumerate() {
                let _ = write!(md, "| {} | share of seeds |", p.title);
                for g in &a.groups {
                    let s = &g.proportions[j];
                    let _ = write!(md, " {} {} |", fmt_prob(s.value), fmt_prob_ci(s.ci));
                }
                md.push('\n');
            }
        }
        Kind::Sweep => {
            let _ = writeln!(md, "## Results\n");
            let _ = writeln!(
                md,
                "Means with 95 % confidence intervals; ◆ marks a point on the Pareto frontier of rollout duration against failed requests, ◇ against peak blast radius.\n"
            );
            let _ = writeln!(
                md,
                "| point | failed requests | p99 failed | peak blast radius | rollout duration | P(completed) | frontier |"
            );
            md.push_str("|---|---:|---:|---:|---:|---:|:---:|\n");
            for (g, l) in labels.iter().enumerate() {
                let fr = on_frontier(a, g);
                let marks = format!(
                    "{}{}",
                    if fr.contains(&"requests_failed") {
                        "◆"
                    } else {
                        ""
                    },
                    if fr.contains(&"peak_hosts_unavailable_pct") {
                        "◇"
                    } else {
                        ""
                    }
                );
                let s = &a.groups[g].proportions[0];
                let _ = writeln!(
                    md,
                    "| `{l}` | {} | {} | {} | {} | {} {} | {} |",
                    stat_cell(a, g, 0, "mean"),
                    stat_cell(a, g, 0, "p99"),
                    stat_cell(a, g, 2, "mean"),
                    stat_cell(a, g, 3, "mean"),
                    fmt_prob(s.value),
                    fmt_prob_ci(s.ci),
                    marks
                );
            }
        }
    }

    // Pareto frontiers.
    let _ = writeln!(md, "\n## Pareto frontiers\n");
    let _ = writeln!(
        md,
        "Groups no other group beats on both means (lower is better on both axes), by increasing rollout duration:\n"
    );
    for f in &a.frontiers {
        let _ = writeln!(
            md,
            "- {} vs {}: {}",
            metric_title(f.x),
            metric_title(f.y),
            f.groups
                .iter()
                .map(|&g| format!("`{}`", labels[g]))
                .collect::<Vec<_>>()
                .join(" → ")
        );
    }

    // Paired differences.
    if !a.paired.is_empty() {
        let _ = writeln!(md, "\n## Paired differences against `{}`\n", labels[0]);
        let _ = writeln!(
            md,
            "Per seed, the group minus `{}` on the same world; mean difference with its 95 % bootstrap interval, and on how many seeds the group did better / worse / the same.\n",
            labels[0]
        );
        let _ = write!(md, "| metric |");
        for p in &a.paired {
            let _ = write!(md, " `{}` − `{}` |", p.group, p.reference);
        }
        let _ = write!(md, "\n|---|");
        for _ in &a.paired {
            md.push_str("---:|");
        }
        md.push('\n');
        let n_rows = a.paired[0].diffs.len();
        for r in 0..n_rows {
            let name = a.paired[0].diffs[r].name;
            let title = metric_title(name);
            let _ = write!(md, "| {title} |");
            for p in &a.paired {
                let d = &p.diffs[r];
                let _ = write!(
                    md,
                    " {} {} · {}/{}/{} |",
                    fmt_diff(name, d.mean),
                    fmt_ci(name, d.ci, fmt_diff),
                    d.better,
                    d.worse,
                    d.equal
                );
            }
            md.push('\n');
        }
    }

    let _ = writeln!(md, "\n## Method\n");
    let _ = writeln!(
        md,
        "Quantiles are type 7 (linear interpolation). Intervals are 95 %: means and paired differences by percentile bootstrap over seeds ({} resamples, fixed ChaCha8 seed {:#x}, so the same results always give the same interval); median, p90 and p99 by the exact distribution-free order-statistic interval; probabilities by exact Clopper–Pearson.\n",
        stats::BOOTSTRAP_RESAMPLES,
        stats::BOOTSTRAP_SEED
    );
    let _ = writeln!(md, "Reproduce:\n\n```sh\n{}\n```", reproduce(m));
    md
}

// ---------------------------------------------------------------------------
// report.html

const CSS: &str = r#"
:root { color-scheme: light; --ink: #1a202c; --muted: #4a5568; --rule: #cbd5e0; --faint: #f7fafc; --best: #e6f4ea; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff; font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; line-height: 1.5; }
main { max-width: 1000px; margin: 0 auto; padding: 2rem 1.25rem 3rem; }
h1 { font-size: 1.75rem; line-height: 1.2; margin: 0 0 .5rem; }
h2 { font-size: 1.3rem; margin: 2.25rem 0 .75rem; padding-bottom: .25rem; border-bottom: 1px solid var(--rule); }
p { margin: .5rem 0; max-width: 48rem; }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: .9em; }
code { background: var(--faint); padding: 0 .25em; border-radius: 3px; }
pre.cmd { background: var(--faint); border: 1px solid var(--rule); border-radius: 4px; padding: .6rem .8rem; overflow-x: auto; white-space: pre-wrap; }
.lede, .note { color: var(--muted); }
.note { font-size: .9rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-variant-numeric: tabular-nums; font-size: .92rem; }
th, td { padding: .3rem .6rem; border-bottom: 1px solid var(--rule); vertical-align: top; }
thead th { text-align: right; border-bottom: 2px solid var(--ink); }
thead th:first-child, th[scope=row] { text-align: left; }
td { text-align: right; }
td .ci { display: block; color: var(--muted); font-size: .8rem; }
td.best { background: var(--best); }
.unfinished, tr.unfinished td, tr.unfinished th { color: #718096; background: #edf2f7; }
.flag { font-size: .75rem; font-weight: 600; color: #9b2c2c; text-transform: uppercase; letter-spacing: .03em; }
section.verdict { border-left: 4px solid #2f855a; background: #f0fff4; padding: .25rem 1rem .5rem; margin: 1rem 0 1.5rem; }
section.verdict h2 { margin-top: .5rem; }
figure { margin: 1rem 0 1.5rem; }
figure svg { display: block; width: 100%; height: auto; max-width: 960px; border: 1px solid #edf2f7; }
figcaption { color: var(--muted); font-size: .9rem; margin-top: .4rem; max-width: 48rem; }
footer { margin-top: 3rem; color: var(--muted); font-size: .8rem; }
@media print { main { max-width: none; padding: 0; } figure, tr { break-inside: avoid; } td.best { -webkit-print-color-adjust: exact; print-color-adjust: exact; } }
"#;

/// plotters' SVG made fit for inlining (no fixed size, no namespace).
fn inline_svg(svg: &str, label: &str) -> String {
    let Some(i) = svg.find('>').filter(|_| svg.starts_with("<svg")) else {
        return String::new();
    };
    let view_box = svg[..i]
        .split("viewBox=\"")
        .nth(1)
        .and_then(|v| v.split('"').next())
        .unwrap_or("0 0 960 480");
    format!(
        "<svg viewBox=\"{}\" role=\"img\" aria-label=\"{}\">{}",
        esc(view_box),
        esc(label),
        svg[i + 1..].trim_end()
    )
}

fn figure(svg: &str, label: &str, caption: &str) -> String {
    format!(
        "<figure>\n{}\n<figcaption>{}</figcaption>\n</figure>\n",
        inline_svg(svg, label),
        esc(caption)
    )
}

/// Markdown-ish `code` spans to HTML.
fn code_spans(s: &str) -> String {
    let mut out = String::new();
    for (i, part) in esc(s).split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            out.push_str(part);
        }
    }
    out
}

/// The series of one metric, one per group (at most `max`: the reference and
/// the frontier first, when there are more groups).
fn series(
    m: &Manifest,
    rows: &[Vec<Summary>],
    a: &Analysis,
    metric: usize,
    max: usize,
) -> Vec<Series> {
    let mut pick: Vec<usize> = (0..m.groups.len()).collect();
    if pick.len() > max {
        let mut chosen = vec![0];
        for &g in &a.frontiers[0].groups {
            if !chosen.contains(&g) {
                chosen.push(g);
            }
        }
        chosen.truncate(max);
        chosen.sort_unstable();
        pick = chosen;
    }
    pick.into_iter()
        .map(|g| Series {
            label: if m.params.is_empty() {
                m.groups[g].label.clone()
            } else {
                m.groups[g].values.join(", ")
            },
            values: rows[g].iter().map(METRICS[metric].value).collect(),
        })
        .collect()
}

/// The heatmap of a two-parameter sweep: mean failed requests due to the
/// change at each grid point (the figure the recommendation weighs after
/// completion and the SLO); points that never completed are grey.
fn heatmap(m: &Manifest, a: &Analysis) -> String {
    let hi = metric_index("failed_requests_due_to_change");
    let names = grid::short_names(&m.params);
    let (rows, cols) = (&m.params[0].values, &m.params[1].values);
    let cells: Vec<px::Cell> = (0..rows.len() * cols.len())
        .map(|g| {
            (g < a.groups.len() && a.recommendation.finished[g])
                .then(|| a.groups[g].metrics[hi].mean)
        })
        .collect();
    let mut out = String::from("<h2>Over the grid</h2>\n");
    out.push_str(&figure(
        &px::heatmap_svg(
            &format!(
                "Failed requests due to the change (mean per run) · {} × {}",
                names[0], names[1]
            ),
            (&names[1], cols),
            (&names[0], rows),
            "mean failed requests due to the change",
            &cells,
        ),
        "Heatmap of mean failed requests due to the change over the grid",
        &format!(
            "Each cell is a grid point ({} down, {} across) at its mean over the seeds of the failed requests due to the change; darker is more harm. Grey cells never completed and are not compared.",
            names[0], names[1]
        ),
    ));
    out
}

/// `report.html`: self-contained (inline CSS and SVG, no scripts, no links).
pub fn html(
    m: &Manifest,
    seeds: &SeedSet,
    rows: &[Summary],
    a: &Analysis,
    picks: &[Vec<Pick>],
) -> String {
    let groups = by_group(m, rows);
    let labels: Vec<&str> = m.groups.iter().map(|g| g.label.as_str()).collect();
    let mut b = String::new();
    let _ = writeln!(b, "<h1>{}</h1>", esc(&title(m)));
    let _ = writeln!(b, "<p class=\"lede\">{}</p>", code_spans(&lede(m, seeds)));

    let finished = &a.recommendation.finished;
    let _ = writeln!(
        b,
        "<section class=\"verdict\" id=\"recommendation\"><h2>Recommendation</h2>\n<p>{}</p></section>",
        code_spans(&verdict(m, a))
    );

    // Outcomes: how each rollout ended.
    b.push_str("<h2>Outcomes</h2>\n<p class=\"note\">How each rollout ended over the seeds, with the share and its 95 % Clopper–Pearson interval. Groups that never completed are greyed and left out of every comparison below; durations are those of completed runs. Each group's worst, median and best seed by failed requests due to the change are written as full run reports under <code>runs/</code>: the links open them.</p>\n<table id=\"outcomes\">\n<thead><tr><th>group</th>");
    for j in OUTCOMES {
        let _ = write!(
            b,
            "<th>{}</th>",
            esc(&PROPORTIONS[j]
                .name
                .trim_start_matches("p_")
                .replace('_', " "))
        );
    }
    b.push_str("<th>runs to open (failed requests due to the change)</th></tr></thead>\n<tbody>\n");
    for (g, l) in labels.iter().enumerate() {
        let _ = write!(
            b,
            "<tr{}><th scope=\"row\"><code>{}</code>{}</th>",
            if finished[g] {
                ""
            } else {
                " class=\"unfinished\""
            },
            esc(l),
            if finished[g] {
                ""
            } else {
                " <span class=\"flag\">never completed</span>"
            }
        );
        for j in OUTCOMES {
            let s = &a.groups[g].proportions[j];
            let _ = write!(
                b,
                "<td>{}/{}<span class=\"ci\">{} {}</span></td>",
                s.hits,
                s.n,
                fmt_prob(s.value),
                esc(&fmt_prob_ci(s.ci))
            );
        }
        let _ = write!(
            b,
            "<td style=\"text-align:left\">{}</td>",
            picks[g]
                .iter()
                .map(|p| format!(
                    "<a href=\"{}/report.html\">{} <span class=\"ci\">seed {} · {} due to the change</span></a>",
                    esc(&p.dir),
                    p.rank,
                    p.seed,
                    esc(&fmt_metric("failed_requests_due_to_change", p.harm as f64))
                ))
                .collect::<Vec<_>>()
                .join(" ")
        );
        b.push_str("</tr>\n");
    }
    b.push_str("</tbody>\n</table>\n");
    if let Some(r) = rollbacks(&labels, a) {
        let _ = write!(
            b,
            "<h2>Rolling back</h2>\n<p>{} {}</p>\n",
            code_spans(ROLLBACK_NOTE),
            code_spans(&r)
        );
    }

    // Results: one column per group (compare) or one row per group (sweep).
    b.push_str("<h2>Results</h2>\n");
    b.push_str("<p class=\"note\">Estimates with their 95 % confidence interval below (– where the seeds cannot bound it). Highlighted: the best value of a row among the groups that completed.</p>\n");
    let best = |i: usize, stat: &str| -> Vec<usize> {
        let vals: Vec<(usize, f64)> = a
            .groups
            .iter()
            .enumerate()
            .filter(|(g, _)| finished[*g])
            .map(|(g, x)| {
                let d = &x.metrics[i];
                let v = match stat {
                    "mean" => d.mean,
                    "median" => d.median,
                    "p90" => d.p90,
                    _ => d.p99,
                };
                (g, v)
            })
            .filter(|(_, v)| !v.is_nan())
            .collect();
        let b = vals
            .iter()
            .map(|x| x.1)
            .reduce(|x, y| match METRICS[i].better {
                Better::Lower => x.min(y),
                Better::Higher => x.max(y),
            });
        match b {
            Some(b) if vals.len() > 1 && !vals.iter().all(|v| v.1 == b) => {
                vals.iter().filter(|v| v.1 == b).map(|v| v.0).collect()
            }
            _ => vec![],
        }
    };
    let cell = |g: usize, i: usize, stat: &str, hi: bool| {
        let d = &a.groups[g].metrics[i];
        let name = METRICS[i].name;
        let (v, ci) = match stat {
            "mean" => (d.mean, d.mean_ci),
            "median" => (d.median, d.median_ci),
            "p90" => (d.p90, d.p90_ci),
            _ => (d.p99, d.p99_ci),
        };
        format!(
            "<td{}>{}<span class=\"ci\">{}</span></td>",
            if hi {
                " class=\"best\""
            } else if !finished[g] {
                " class=\"unfinished\""
            } else {
                ""
            },
            esc(&fmt_metric(name, v)),
            esc(&fmt_ci(name, ci, fmt_metric))
        )
    };
    match m.kind {
        Kind::Compare => {
            b.push_str("<table>\n<thead><tr><th>metric</th><th>statistic</th>");
            for (g, l) in labels.iter().enumerate() {
                let _ = write!(
                    b,
                    "<th scope=\"col\"{}><code>{}</code>{}</th>",
                    if finished[g] {
                        ""
                    } else {
                        " class=\"unfinished\""
                    },
                    esc(l),
                    if finished[g] {
                        ""
                    } else {
                        "<br><span class=\"flag\">never completed</span>"
                    }
                );
            }
            b.push_str("</tr></thead>\n<tbody>\n");
            for (i, stat) in result_rows() {
                let hi = best(i, stat);
                let _ = write!(
                    b,
                    "<tr><th scope=\"row\">{}</th><td style=\"text-align:left\">{stat}</td>",
                    esc(METRICS[i].title)
                );
                for g in 0..labels.len() {
                    b.push_str(&cell(g, i, stat, hi.contains(&g)));
                }
                b.push_str("</tr>\n");
            }
            for (j, p) in PROPORTIONS.iter().enumerate() {
                let _ = write!(
                    b,
                    "<tr><th scope=\"row\">{}</th><td style=\"text-align:left\">share of seeds</td>",
                    esc(p.title)
                );
                for (g, x) in a.groups.iter().enumerate() {
                    let s = &x.proportions[j];
                    let _ = write!(
                        b,
                        "<td{}>{}<span class=\"ci\">{}</span></td>",
                        if finished[g] {
                            ""
                        } else {
                            " class=\"unfinished\""
                        },
                        fmt_prob(s.value),
                        esc(&fmt_prob_ci(s.ci))
                    );
                }
                b.push_str("</tr>\n");
            }
            b.push_str("</tbody>\n</table>\n");
        }
        Kind::Sweep => {
            b.push_str("<table>\n<thead><tr><th>point</th><th>failed requests (mean)</th><th>p99 failed</th><th>peak blast radius (mean)</th><th>rollout duration (mean)</th><th>P(completed)</th><th>Pareto</th></tr></thead>\n<tbody>\n");
            let (b0, b0p99, b2, b3) = (
                best(0, "mean"),
                best(0, "p99"),
                best(2, "mean"),
                best(3, "mean"),
            );
            for (g, l) in labels.iter().enumerate() {
                let fr = on_frontier(a, g);
                let s = &a.groups[g].proportions[0];
                let _ = writeln!(
                    b,
                    "<tr{}><th scope=\"row\"><code>{}</code>{}</th>{}{}{}{}<td>{}<span class=\"ci\">{}</span></td><td>{}</td></tr>",
                    if finished[g] { "" } else { " class=\"unfinished\"" },
                    esc(l),
                    if finished[g] { "" } else { " <span class=\"flag\">never completed</span>" },
                    cell(g, 0, "mean", b0.contains(&g)),
                    cell(g, 0, "p99", b0p99.contains(&g)),
                    cell(g, 2, "mean", b2.contains(&g)),
                    cell(g, 3, "mean", b3.contains(&g)),
                    fmt_prob(s.value),
                    esc(&fmt_prob_ci(s.ci)),
                    esc(&fr
                        .iter()
                        .map(|y| if *y == "requests_failed" { "vs failures" } else { "vs blast radius" })
                        .collect::<Vec<_>>()
                        .join(", "))
                );
            }
            b.push_str("</tbody>\n</table>\n");
        }
    }

    // Plots.
    b.push_str("<h2>Across seeds</h2>\n");
    let n_max = 8;
    let failed = series(m, &groups, a, 0, n_max);
    let more = if failed.len() < m.groups.len() {
        format!(
            " Only {} of the {} groups are drawn: the reference and the Pareto frontier of rollout duration against failed requests (every group is in the table above).",
            failed.len(),
            m.groups.len()
        )
    } else {
        String::new()
    };
    // A sweep's lines are named by their values; the title says which.
    let lines = if m.params.is_empty() {
        String::new()
    } else {
        format!(" · lines: {}", grid::short_names(&m.params).join(", "))
    };
    b.push_str(&figure(
        &px::cdf_svg(
            &format!(
                "Failed requests across {} seeds{lines}",
                group(seeds.len() as u64)
            ),
            "failed requests per run",
            &failed,
        ),
        "CDF of failed requests per group",
        &format!(
            "Empirical CDF of failed requests per run, one line per {}: the further left and the steeper, the better; the height at x is the share of seeds with at most x failures.{more}",
            if m.kind == Kind::Compare { "policy" } else { "grid point" }
        ),
    ));
    let blast = series(m, &groups, a, 2, n_max);
    b.push_str(&figure(
        &px::cdf_svg(
            &format!(
                "Peak blast radius across {} seeds{lines}",
                group(seeds.len() as u64)
            ),
            "peak hosts unavailable (% of fleet)",
            &blast,
        ),
        "CDF of peak blast radius per group",
        &format!(
            "Empirical CDF of the largest share of hosts not serving at once during a run.{more}"
        ),
    ));
    if m.groups.len() >= 2 {
        b.push_str("<h2>Pareto frontiers</h2>\n");
        for f in &a.frontiers {
            let yi = METRICS.iter().position(|x| x.name == f.y).expect("metric");
            let pts: Vec<px::Point> = a
                .groups
                .iter()
                .enumerate()
                .map(|(g, s)| px::Point {
                    label: if m.params.is_empty() {
                        labels[g].to_string()
                    } else {
                        m.groups[g].values.join(", ")
                    },
                    x: s.metrics[3].mean,
                    y: s.metrics[yi].mean,
                    frontier: f.groups.contains(&g),
                    x_ci: [s.metrics[3].mean_ci.low, s.metrics[3].mean_ci.high],
                    y_ci: [s.metrics[yi].mean_ci.low, s.metrics[yi].mean_ci.high],
                })
                .collect();
            let ytitle = match f.y {
                "requests_failed" => "mean failed requests per run",
                _ => "mean peak hosts unavailable (% of fleet)",
            };
            b.push_str(&figure(
                &px::pareto_svg(
                    &if m.params.is_empty() {
                        format!("Rollout duration vs {}", METRICS[yi].title)
                    } else {
                        format!(
                            "Rollout duration vs {} · points: {}",
                            METRICS[yi].title,
                            grid::short_names(&m.params).join(", ")
                        )
                    },
                    ytitle,
                    &pts,
                ),
                &format!("Pareto frontier, rollout duration against {}", METRICS[yi].title),
                &format!(
                    "Each point is a {} at its means over the seeds, with bars for their 95 % bootstrap intervals (points whose bars overlap are not clearly apart); the line joins the frontier (no other point is both faster and lower): {}.",
                    if m.kind == Kind::Compare { "policy" } else { "grid point" },
                    f.groups.iter().map(|&g| labels[g]).collect::<Vec<_>>().join(" → ")
                ),
            ));
        }
    }

    // A two-parameter sweep: the harm over the grid.
    if m.kind == Kind::Sweep && m.params.len() == 2 {
        b.push_str(&heatmap(m, a));
    }

    // Paired differences.
    if !a.paired.is_empty() {
        let _ = writeln!(
            b,
            "<h2>Paired differences against <code>{}</code></h2>",
            esc(labels[0])
        );
        b.push_str("<p class=\"note\">Seed by seed, each group minus the reference on the same world: the mean difference, its 95 % bootstrap interval, and on how many seeds the group did better / worse / the same.</p>\n");
        b.push_str("<table>\n<thead><tr><th>metric</th>");
        for p in &a.paired {
            let _ = write!(
                b,
                "<th scope=\"col\"><code>{}</code> − <code>{}</code></th>",
                esc(&p.group),
                esc(&p.reference)
            );
        }
        b.push_str("</tr></thead>\n<tbody>\n");
        for r in 0..a.paired[0].diffs.len() {
            let name = a.paired[0].diffs[r].name;
            let title = metric_title(name);
            let _ = write!(b, "<tr><th scope=\"row\">{}</th>", esc(title));
            for p in &a.paired {
                let d = &p.diffs[r];
                let _ = write!(
                    b,
                    "<td>{}<span class=\"ci\">{} · {}/{}/{}</span></td>",
                    esc(&fmt_diff(name, d.mean)),
                    esc(&fmt_ci(name, d.ci, fmt_diff)),
                    d.better,
                    d.worse,
                    d.equal
                );
            }
            b.push_str("</tr>\n");
        }
        b.push_str("</tbody>\n</table>\n");
    }

    b.push_str("<h2>Method</h2>\n");
    let _ = writeln!(
        b,
        "<p>Quantiles are type 7 (linear interpolation). Intervals are 95 %: means and paired differences by percentile bootstrap over seeds ({} resamples from a fixed ChaCha8 stream, seed {:#x}); median, p90 and p99 by the exact distribution-free order-statistic interval; probabilities by exact Clopper–Pearson.</p>",
        stats::BOOTSTRAP_RESAMPLES,
        stats::BOOTSTRAP_SEED
    );
    b.push_str("<h2>Reproduce</h2>\n");
    let _ = writeln!(b, "<pre class=\"cmd\">{}</pre>", esc(&reproduce(m)));

    let t = title(m);
    let mut p = String::with_capacity(b.len() + CSS.len() + 512);
    p.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    p.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(p, "<title>{}</title>", esc(&t));
    let _ = writeln!(p, "<style>{CSS}</style>");
    p.push_str("</head>\n<body>\n<main>\n");
    p.push_str(&b);
    let _ = writeln!(
        p,
        "<footer>Generated by shakedown {}. This page is self-contained: no scripts, fonts or other files are loaded.</footer>",
        esc(&m.shakedown_version)
    );
    p.push_str("</main>\n</body>\n</html>\n");
    p
}

/// A run's `summary.json` (as written by [`crate::json::summary`]) read back.
pub fn summary_from_json(v: &serde_json::Value) -> Result<Summary, String> {
    Summary::deserialize(v).map_err(|e| e.to_string())
}
