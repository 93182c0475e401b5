//! CI gate thresholds, k6 style: one entry per metric with a list of
//! conditions, and optional regression tolerances against a baseline.
//!
//! ```toml
//! [thresholds]
//! requests_failed = ["p99 < 100", "mean < 10"]
//! peak_hosts_unavailable_pct = ["max <= 5"]
//! rollout_duration_s = ["median < 86400"]
//! p_completed = ["value > 0.99"]
//!
//! [baseline]                 # used with `shakedown gate --baseline DIR`
//! requests_failed = "5%"     # mean paired worsening at most 5 % of the baseline mean
//! rollout_duration_s = 600   # … or at most this much, in the metric's unit
//! ```
//!
//! A condition is `STAT OP NUMBER`: STAT is `mean` (or `avg`), `median` (or
//! `med`), `min`, `max`, `pN` / `p(N)` (0 < N ≤ 100, type-7 quantile), or
//! `value` (a probability, or a metric of a single run); OP is `<`, `<=`,
//! `>`, `>=`, `==` or `!=`. Metrics are the columns of [`super::analysis::METRICS`]
//! and the probabilities of [`super::analysis::PROPORTIONS`]. Every condition
//! is checked for every group (policy or grid point) of the results. Errors
//! name the file, line and column; a metric the results do not have is an
//! error, never a silent pass.

use super::analysis::{self, Better, METRICS, PROPORTIONS};
use super::stats;
use crate::located::{LocatedError as ScenarioError, TomlIndex};
use crate::protocol::Outcome;
use crate::record::Summary;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use toml::Spanned;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Stat {
    Mean,
    Median,
    Min,
    Max,
    /// A quantile in percent (`p99` → 99).
    Percentile(f64),
    Value,
}

/// The comparison operators, shared with analysis conditions.
pub use crate::analysis::CmpOp as Op;

/// One condition as written, parsed, and where.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    pub text: String,
    pub stat: Stat,
    pub op: Op,
    pub bound: f64,
    pub line: usize,
    pub column: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MetricThresholds {
    pub metric: String,
    pub conditions: Vec<Condition>,
    pub line: usize,
    pub column: usize,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Tolerance {
    /// Percent of the baseline's mean.
    Relative(f64),
    /// In the metric's own unit.
    Absolute(f64),
}

#[derive(Clone, Debug, PartialEq)]
pub struct BaselineTolerance {
    pub metric: String,
    pub tolerance: Tolerance,
    pub text: String,
    pub line: usize,
    pub column: usize,
}

/// A parsed thresholds file.
#[derive(Clone, Debug, PartialEq)]
pub struct Thresholds {
    pub file: String,
    /// In file order.
    pub metrics: Vec<MetricThresholds>,
    /// In file order.
    pub baseline: Vec<BaselineTolerance>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGate {
    thresholds: Option<BTreeMap<String, Spanned<Vec<Spanned<String>>>>>,
    baseline: Option<BTreeMap<String, Spanned<RawTolerance>>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawTolerance {
    Number(f64),
    Text(String),
}

fn err(
    file: &str,
    (line, column): (usize, usize),
    field: &str,
    message: impl Into<String>,
) -> ScenarioError {
    ScenarioError {
        file: file.to_string(),
        line,
        column,
        field: field.to_string(),
        message: message.into(),
    }
}

/// Names every metric a threshold may use, for error messages.
pub fn known_metrics() -> String {
    METRICS
        .iter()
        .map(|m| m.name)
        .chain(PROPORTIONS.iter().map(|p| p.name))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Thresholds {
    /// Parses a thresholds file. `file` is only used in messages.
    pub fn parse(text: &str, file: &str) -> Result<Thresholds, ScenarioError> {
        let index = TomlIndex::new(text);
        let raw: RawGate = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            let field = index.field_at(offset).unwrap_or("(file)");
            let message = e.message().trim().replace('\n', "; ");
            ScenarioError::at_offset(file, &index, offset, field, &message)
        })?;
        let mut metrics = Vec::new();
        for (name, list) in raw.thresholds.unwrap_or_default() {
            let field = format!("thresholds.{name}");
            let at = index.line_col(list.span().start);
            let key_at = index.locate(&field);
            let mut conditions = Vec::new();
            for (i, c) in list.into_inner().into_iter().enumerate() {
                let cat = index.line_col(c.span().start + 1); // inside the quote
                let (stat, op, bound) = parse_condition(c.get_ref())
                    .map_err(|m| err(file, cat, &format!("{field}[{i}]"), m))?;
                conditions.push(Condition {
                    text: c.get_ref().trim().to_string(),
                    stat,
                    op,
                    bound,
                    line: cat.0,
                    column: cat.1,
                });
            }
            if conditions.is_empty() {
                return Err(err(
                    file,
                    at,
                    &field,
                    "no conditions: write e.g. [\"p99 < 100\"]",
                ));
            }
            metrics.push(MetricThresholds {
                metric: name,
                conditions,
                line: key_at.0,
                column: key_at.1,
            });
        }
        metrics.sort_by_key(|m| (m.line, m.column));
        let mut baseline = Vec::new();
        for (name, tol) in raw.baseline.unwrap_or_default() {
            let field = format!("baseline.{name}");
            let at = index.line_col(tol.span().start);
            let (tolerance, text) = match tol.into_inner() {
                RawTolerance::Number(x) if x.is_finite() && x >= 0.0 => {
                    (Tolerance::Absolute(x), format!("{x}"))
                }
                RawTolerance::Text(s) => match s
                    .trim()
                    .strip_suffix('%')
                    .and_then(|p| p.trim().parse::<f64>().ok())
                    .filter(|p| p.is_finite() && *p >= 0.0)
                {
                    Some(p) => (Tolerance::Relative(p), s.trim().to_string()),
                    None => {
                        return Err(err(
                            file,
                            at,
                            &field,
                            format!("expected a tolerance like \"5%\" (of the baseline's mean) or a number ≥ 0 in the metric's unit, got \"{s}\""),
                        ))
                    }
                },
                RawTolerance::Number(x) => {
                    return Err(err(file, at, &field, format!("a tolerance must be ≥ 0, got {x}")))
                }
            };
            baseline.push(BaselineTolerance {
                metric: name,
                tolerance,
                text,
                line: at.0,
                column: at.1,
            });
        }
        baseline.sort_by_key(|b| (b.line, b.column));
        if metrics.is_empty() && baseline.is_empty() {
            return Err(err(
                file,
                (1, 1),
                "thresholds",
                "no [thresholds] (and no [baseline]) table: nothing to check",
            ));
        }
        Ok(Thresholds {
            file: file.to_string(),
            metrics,
            baseline,
        })
    }
}

/// Why a text is not `LEFT OP RIGHT`.
enum NoComparison {
    /// No operator character at all.
    Missing,
    /// An operator character that starts no operator (`=>`, `=`).
    Unknown,
}

/// Splits `LEFT OP RIGHT` at its first operator: the one scanner of every
/// comparison here (threshold conditions and run conditions). Returns the
/// left side, the operator, the right side and the operator's byte offset.
fn split_comparison(t: &str) -> Result<(&str, Op, &str, usize), NoComparison> {
    let op_at = t.find(['<', '>', '=', '!']).ok_or(NoComparison::Missing)?;
    let (left, rest) = t.split_at(op_at);
    let (op, right) = Op::split_prefix(rest).ok_or(NoComparison::Unknown)?;
    Ok((left, op, right, op_at))
}

/// Parses `p99 < 100`.
pub fn parse_condition(text: &str) -> Result<(Stat, Op, f64), String> {
    let t = text.trim();
    let help = "write STAT OP NUMBER, e.g. \"p99 < 100\"; STAT is mean, median, min, max, pN (e.g. p90, p99.9) or value; OP is <, <=, >, >=, == or !=";
    let (stat_text, op, rest, _) = split_comparison(t).map_err(|e| match e {
        NoComparison::Missing => format!("no comparison in \"{t}\"; {help}"),
        NoComparison::Unknown => format!("unknown comparison in \"{t}\"; {help}"),
    })?;
    let stat_text = stat_text.trim();
    let stat = match stat_text {
        "mean" | "avg" => Stat::Mean,
        "median" | "med" => Stat::Median,
        "min" => Stat::Min,
        "max" => Stat::Max,
        "value" => Stat::Value,
        s if s.starts_with('p') => {
            let n = s[1..].trim_start_matches('(').trim_end_matches(')');
            match n.parse::<f64>() {
                Ok(p) if p > 0.0 && p <= 100.0 => Stat::Percentile(p),
                _ => return Err(format!("unknown statistic `{s}`: a percentile is p1 … p100 (e.g. p99, p(99.9)); {help}")),
            }
        }
        "" => {
            return Err(format!(
                "no statistic before the comparison in \"{t}\"; {help}"
            ))
        }
        s => return Err(format!("unknown statistic `{s}`; {help}")),
    };
    let num = rest.trim().replace('_', "");
    let bound = num
        .parse::<f64>()
        .ok()
        .filter(|b| b.is_finite())
        .ok_or_else(|| format!("`{}` is not a number; {help}", rest.trim()))?;
    Ok((stat, op, bound))
}

/// The runs of one group (a policy, a grid point, or the single run).
#[derive(Clone, Debug)]
pub struct GroupRuns {
    pub label: String,
    pub runs: Vec<Summary>,
}

/// One checked condition.
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    pub metric: String,
    pub group: String,
    /// `p99 < 100`, or `regression ≤ 5%` for a baseline check.
    pub condition: String,
    pub measured: f64,
    pub passed: bool,
    /// The measured value and what it was compared with, in words.
    pub detail: String,
}

/// The values of a metric for a group: a column, or 0/1 for a proportion.
fn values(metric: &str, runs: &[Summary]) -> Option<(Vec<f64>, bool, Better)> {
    if let Some(m) = analysis::metric(metric) {
        return Some((runs.iter().map(m.value).collect(), false, m.better));
    }
    analysis::proportion(metric).map(|p| {
        (
            runs.iter()
                .map(|s| f64::from(u8::from((p.hit)(s))))
                .collect(),
            true,
            p.better,
        )
    })
}

fn fmt_num(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e15 {
        format!("{v:.0}")
    } else if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.4}")
    }
}

fn stat_name(s: Stat) -> String {
    match s {
        Stat::Mean => "mean".into(),
        Stat::Median => "median".into(),
        Stat::Min => "min".into(),
        Stat::Max => "max".into(),
        Stat::Percentile(p) => format!("p{p}"),
        Stat::Value => "value".into(),
    }
}

/// Checks every threshold against every group.
pub fn evaluate(th: &Thresholds, groups: &[GroupRuns]) -> Result<Vec<Check>, ScenarioError> {
    let mut out = Vec::new();
    for mt in &th.metrics {
        let at = (mt.line, mt.column);
        let field = format!("thresholds.{}", mt.metric);
        for g in groups {
            let Some((v, is_prop, _)) = values(&mt.metric, &g.runs) else {
                return Err(err(
                    &th.file,
                    at,
                    &field,
                    format!(
                        "the results have no metric `{}`; they have: {}",
                        mt.metric,
                        known_metrics()
                    ),
                ));
            };
            if g.runs.is_empty() {
                return Err(err(
                    &th.file,
                    at,
                    &field,
                    format!("group `{}` has no runs", g.label),
                ));
            }
            // Runs without the metric (nothing detected, no rollback) do not
            // count; when no run has it, no condition on it can hold.
            let v: Vec<f64> = v.into_iter().filter(|x| !x.is_nan()).collect();
            if v.is_empty() {
                for c in &mt.conditions {
                    out.push(Check {
                        metric: mt.metric.clone(),
                        group: g.label.clone(),
                        condition: c.text.clone(),
                        measured: f64::NAN,
                        passed: false,
                        detail: format!(
                            "{}: none of the {} runs has a value (e.g. nothing was detected or rolled back), so {} cannot be checked",
                            mt.metric,
                            g.runs.len(),
                            c.text
                        ),
                    });
                }
                continue;
            }
            let s = stats::sorted(&v);
            for c in &mt.conditions {
                let measured = match c.stat {
                    Stat::Value if is_prop || v.len() == 1 => stats::mean(&v),
                    Stat::Value => {
                        return Err(err(
                            &th.file,
                            (c.line, c.column),
                            &field,
                            format!(
                                "`value` needs a single run or a probability, but `{}` has {} runs per group: use mean, median, pN, min or max",
                                mt.metric,
                                v.len()
                            ),
                        ))
                    }
                    _ if is_prop && v.len() > 1 => {
                        return Err(err(
                            &th.file,
                            (c.line, c.column),
                            &field,
                            format!("`{}` is a probability over seeds: write \"value > 0.99\"", mt.metric),
                        ))
                    }
                    Stat::Mean => stats::mean(&v),
                    Stat::Median => stats::quantile_sorted(&s, 0.5),
                    Stat::Min => s[0],
                    Stat::Max => s[s.len() - 1],
                    Stat::Percentile(p) => stats::quantile_sorted(&s, p / 100.0),
                };
                let passed = c.op.holds(measured, c.bound);
                out.push(Check {
                    metric: mt.metric.clone(),
                    group: g.label.clone(),
                    condition: c.text.clone(),
                    measured,
                    passed,
                    detail: format!(
                        "{} {} = {} over {} run{}; required {}",
                        mt.metric,
                        stat_name(c.stat),
                        fmt_num(measured),
                        v.len(),
                        if v.len() == 1 { "" } else { "s" },
                        c.text
                    ),
                });
            }
        }
    }
    Ok(out)
}

/// Checks every `[baseline]` tolerance: for each group, the runs of `current`
/// and `baseline` are paired by seed, and the check fails when the mean
/// paired worsening (current − baseline, signed so that positive is worse)
/// exceeds the tolerance. The 95 % bootstrap interval of that mean is
/// reported alongside.
pub fn regressions(
    th: &Thresholds,
    current: &[GroupRuns],
    baseline: &[GroupRuns],
) -> Result<Vec<Check>, ScenarioError> {
    let mut out = Vec::new();
    for b in &th.baseline {
        let at = (b.line, b.column);
        let field = format!("baseline.{}", b.metric);
        for g in current {
            let Some(base) = baseline.iter().find(|x| x.label == g.label) else {
                return Err(err(
                    &th.file,
                    at,
                    &field,
                    format!(
                        "the baseline has no `{}`; it has: {}",
                        g.label,
                        baseline
                            .iter()
                            .map(|x| x.label.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            };
            let by_seed: BTreeMap<u64, &Summary> = base.runs.iter().map(|s| (s.seed, s)).collect();
            let pairs: Vec<(&Summary, &Summary)> = g
                .runs
                .iter()
                .filter_map(|s| by_seed.get(&s.seed).map(|b| (s, *b)))
                .collect();
            if pairs.is_empty() {
                return Err(err(
                    &th.file,
                    at,
                    &field,
                    format!("`{}`: the results and the baseline share no seed, so nothing can be paired", g.label),
                ));
            }
            let cur: Vec<Summary> = pairs.iter().map(|p| p.0.clone()).collect();
            let old: Vec<Summary> = pairs.iter().map(|p| p.1.clone()).collect();
            let (Some((c, _, better)), Some((o, _, _))) =
                (values(&b.metric, &cur), values(&b.metric, &old))
            else {
                return Err(err(
                    &th.file,
                    at,
                    &field,
                    format!(
                        "the results have no metric `{}`; they have: {}",
                        b.metric,
                        known_metrics()
                    ),
                ));
            };
            let sign = if better == Better::Lower { 1.0 } else { -1.0 };
            // Seeds where either run lacks the metric are not paired.
            let (c, o): (Vec<f64>, Vec<f64>) = c
                .iter()
                .zip(&o)
                .filter(|(x, y)| !x.is_nan() && !y.is_nan())
                .map(|(x, y)| (*x, *y))
                .unzip();
            let worse: Vec<f64> = c.iter().zip(&o).map(|(x, y)| sign * (x - y)).collect();
            let mean = stats::mean(&worse);
            let ci = stats::bootstrap_mean_ci(&[&worse])[0];
            let base_mean = stats::mean(&o);
            let allowed = match b.tolerance {
                Tolerance::Absolute(x) => x,
                Tolerance::Relative(p) => p / 100.0 * base_mean.abs(),
            };
            let n_worse = worse.iter().filter(|w| **w > 0.0).count();
            out.push(Check {
                metric: b.metric.clone(),
                group: g.label.clone(),
                condition: format!("regression ≤ {}", b.text),
                measured: mean,
                // No seed with the metric on both sides: nothing regressed.
                passed: worse.is_empty() || mean <= allowed,
                detail: format!(
                    "{} mean paired change vs baseline {} ({} → {}) over {} common seeds, 95 % CI [{}, {}], worse on {} seeds; allowed {}",
                    b.metric,
                    if mean > 0.0 { format!("+{} (worse)", fmt_num(mean)) } else { format!("{} (not worse)", fmt_num(mean)) },
                    fmt_num(base_mean),
                    fmt_num(stats::mean(&c)),
                    worse.len(),
                    ci.low.map_or("–".into(), fmt_num),
                    ci.high.map_or("–".into(), fmt_num),
                    n_worse,
                    fmt_num(allowed)
                ),
            });
        }
    }
    Ok(out)
}

/// A condition on one run's summary: `METRIC OP VALUE`, clauses joined with
/// `&&` all holding. What `shakedown shrink --until` keeps true while it
/// minimises a scenario, and what `shakedown replay` checks again.
///
/// METRIC is one of [`METRICS`] (a number), one of [`PROPORTIONS`] (1 when
/// it holds for the run, else 0), or `outcome`, compared with `==` or `!=`
/// to a word: `completed`, `rolled_back`, `halted`, `timed_out` or
/// `interrupted`. A metric the run does not have (NaN: nothing was
/// detected, no baseline) makes its clause false, whatever the operator.
#[derive(Clone, Debug, PartialEq)]
pub struct RunCondition {
    /// As written, trimmed.
    pub text: String,
    pub clauses: Vec<Clause>,
}

/// One `METRIC OP VALUE` of a [`RunCondition`].
#[derive(Clone, Debug, PartialEq)]
pub struct Clause {
    pub text: String,
    pub subject: Subject,
    pub op: Op,
}

/// What a clause compares.
#[derive(Clone, Debug, PartialEq)]
pub enum Subject {
    /// A metric (by its name in [`METRICS`]) and the number it is compared with.
    Metric { name: &'static str, bound: f64 },
    /// A proportion (by its name in [`PROPORTIONS`]): 1 or 0 for one run.
    Proportion { name: &'static str, bound: f64 },
    /// The run's outcome and the outcome it is compared with.
    Outcome(Outcome),
}

/// A clause's side of the comparison, measured on one run.
#[derive(Clone, Debug, PartialEq)]
pub enum Measured {
    Number(f64),
    Outcome(Outcome),
}

impl fmt::Display for Measured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Measured::Number(v) => f.write_str(&fmt_num(*v)),
            Measured::Outcome(o) => f.write_str(o.as_str()),
        }
    }
}

fn run_condition_help() -> String {
    format!(
        "write METRIC OP VALUE, e.g. \"failed_requests_due_to_change > 0\" or \"outcome == halted\" (join clauses with &&); OP is <, <=, >, >=, == or !=; METRIC is outcome or one of: {}",
        known_metrics()
    )
}

impl RunCondition {
    /// Parses `text`, found in `file` at `(line, column)` (1-based: where
    /// the text starts, for messages), under the name `field`.
    pub fn parse(
        text: &str,
        file: &str,
        field: &str,
        (line, column): (usize, usize),
    ) -> Result<RunCondition, ScenarioError> {
        // The column of byte `at` of `text`.
        let col = |at: usize| column + text[..at].chars().count();
        let fail = |at: usize, m: String| err(file, (line, col(at)), field, m);
        if text.trim().is_empty() {
            return Err(fail(
                0,
                format!("empty condition; {}", run_condition_help()),
            ));
        }
        let mut clauses = Vec::new();
        let mut start = 0;
        for part in text.split("&&") {
            let lead = part.len() - part.trim_start().len();
            let at = start + lead;
            start += part.len() + 2;
            let clause = part.trim();
            if clause.is_empty() {
                return Err(fail(
                    at,
                    format!("an empty clause around `&&`; {}", run_condition_help()),
                ));
            }
            let (left, op, right, op_at) = split_comparison(clause).map_err(|e| {
                let what = match e {
                    NoComparison::Missing => "no comparison",
                    NoComparison::Unknown => "unknown comparison",
                };
                fail(
                    at,
                    format!("{what} in \"{clause}\"; {}", run_condition_help()),
                )
            })?;
            let name = left.trim();
            let right_at = at + op_at + op.as_str().len();
            let right_at = right_at + (right.len() - right.trim_start().len());
            let right = right.trim();
            let subject = if name == "outcome" {
                if !matches!(op, Op::Eq | Op::Ne) {
                    return Err(fail(
                        at + op_at,
                        format!(
                            "`outcome` is a word: compare it with == or !=, not {}",
                            op.as_str()
                        ),
                    ));
                }
                let words: Vec<&str> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
                let word = right.trim_matches(['"', '\'']);
                match Outcome::ALL.iter().find(|o| o.as_str() == word) {
                    Some(o) => Subject::Outcome(*o),
                    None => {
                        return Err(fail(
                            right_at,
                            format!(
                                "`{right}` is not an outcome; an outcome is one of {}",
                                words.join(", ")
                            ),
                        ))
                    }
                }
            } else {
                let number = || {
                    right
                        .replace('_', "")
                        .parse::<f64>()
                        .ok()
                        .filter(|b| b.is_finite())
                        .ok_or_else(|| {
                            fail(
                                right_at,
                                format!("`{right}` is not a number; {}", run_condition_help()),
                            )
                        })
                };
                if let Some(m) = analysis::metric(name) {
                    Subject::Metric {
                        name: m.name,
                        bound: number()?,
                    }
                } else if let Some(p) = analysis::proportion(name) {
                    Subject::Proportion {
                        name: p.name,
                        bound: number()?,
                    }
                } else if name.is_empty() {
                    return Err(fail(
                        at,
                        format!(
                            "no metric before the comparison in \"{clause}\"; {}",
                            run_condition_help()
                        ),
                    ));
                } else {
                    return Err(fail(
                        at,
                        format!("unknown metric `{name}`; {}", run_condition_help()),
                    ));
                }
            };
            clauses.push(Clause {
                text: clause.to_string(),
                subject,
                op,
            });
        }
        Ok(RunCondition {
            text: text.trim().to_string(),
            clauses,
        })
    }

    /// Whether every clause holds for the run.
    pub fn holds(&self, s: &Summary) -> bool {
        self.clauses.iter().all(|c| c.holds(s))
    }

    /// What the run measured, clause by clause: `outcome = completed,
    /// failed_requests_due_to_change = 0`.
    pub fn describe(&self, s: &Summary) -> String {
        self.clauses
            .iter()
            .map(|c| format!("{} = {}", c.name(), c.measure(s)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl Clause {
    /// The metric's name (`outcome` for the outcome).
    pub fn name(&self) -> &'static str {
        match &self.subject {
            Subject::Metric { name, .. } | Subject::Proportion { name, .. } => name,
            Subject::Outcome(_) => "outcome",
        }
    }

    pub fn measure(&self, s: &Summary) -> Measured {
        match &self.subject {
            Subject::Metric { name, .. } => {
                Measured::Number(analysis::metric(name).map_or(f64::NAN, |m| (m.value)(s)))
            }
            Subject::Proportion { name, .. } => Measured::Number(
                analysis::proportion(name).map_or(f64::NAN, |p| f64::from(u8::from((p.hit)(s)))),
            ),
            Subject::Outcome(_) => Measured::Outcome(s.outcome),
        }
    }

    pub fn holds(&self, s: &Summary) -> bool {
        match (&self.subject, self.measure(s)) {
            (Subject::Outcome(want), Measured::Outcome(got)) => match self.op {
                Op::Eq => got == *want,
                _ => got != *want,
            },
            (
                Subject::Metric { bound, .. } | Subject::Proportion { bound, .. },
                Measured::Number(v),
            ) => !v.is_nan() && self.op.holds(v, *bound),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_parse() {
        assert_eq!(
            parse_condition("p99 < 100").unwrap(),
            (Stat::Percentile(99.0), Op::Lt, 100.0)
        );
        assert_eq!(
            parse_condition(" p(99.9)>=1_000 ").unwrap(),
            (Stat::Percentile(99.9), Op::Ge, 1000.0)
        );
        assert_eq!(
            parse_condition("avg == 0").unwrap(),
            (Stat::Mean, Op::Eq, 0.0)
        );
        assert_eq!(
            parse_condition("value > 0.99").unwrap(),
            (Stat::Value, Op::Gt, 0.99)
        );
        for bad in [
            "p99 100", "p0 < 1", "p101 < 1", "mode < 1", "< 1", "max <= x", "max => 1",
        ] {
            assert!(parse_condition(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn errors_are_located() {
        let text = "[thresholds]\nrequests_failed = [\"p99 < 100\",\n  \"mean << 10\"]\n";
        let e = Thresholds::parse(text, "gate.toml").unwrap_err();
        assert_eq!((e.line, e.column), (3, 4), "{e}");
        assert!(
            e.to_string()
                .starts_with("gate.toml:3:4: `thresholds.requests_failed[1]`"),
            "{e}"
        );
        let e = Thresholds::parse("[thresholds]\nx = \"p99 < 1\"\n", "g.toml").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        let e = Thresholds::parse("[treshold]\n", "g.toml").unwrap_err();
        assert!(e.message.contains("unknown field"), "{e}");
        let e =
            Thresholds::parse("[baseline]\nrequests_failed = \"five\"\n", "g.toml").unwrap_err();
        assert_eq!((e.line, e.column), (2, 19), "{e}");
    }
    fn summary(outcome: Outcome, due: Option<i64>) -> Summary {
        let mut s: Summary = serde_json::from_value(serde_json::json!({
            "scenario": "s", "seed": 1, "policy": "rolling", "change": "c", "hosts": 1,
            "outcome": "completed", "outcome_reason": "", "duration_s": 1.0, "tick_s": 1.0,
            "rollout_started_at_s": 0.0, "rollout_duration_s": 1.0, "requests_total": 10,
            "requests_failed": 3, "failed_requests_during_rollout": 0, "success_rate": 0.7,
            "peak_hosts_unavailable_pct": 0.0, "hosts_on_new_pct": 100.0,
            "hosts_ever_on_new_pct": 100.0, "detected_at_s": null, "aborted_at_s": null,
            "time_to_rollback_s": null, "events_processed": 0, "shakedown_version": "t"
        }))
        .unwrap();
        s.outcome = outcome;
        s.failed_requests_due_to_change = due;
        s
    }

    fn until(text: &str) -> Result<RunCondition, ScenarioError> {
        RunCondition::parse(text, "--until", "until", (1, 1))
    }

    #[test]
    fn run_conditions_compare_numbers_and_outcomes() {
        let done = summary(Outcome::Completed, Some(5));
        let halted = summary(Outcome::Halted, Some(0));
        let no_base = summary(Outcome::Halted, None);
        let cases: &[(&str, [bool; 3])] = &[
            ("failed_requests_due_to_change > 0", [true, false, false]),
            // The issue's name for it is an alias.
            ("requests_failed_due_to_change > 0", [true, false, false]),
            // A run without the metric holds no clause on it, not even !=.
            ("failed_requests_due_to_change != 1", [true, true, false]),
            ("outcome != completed", [false, true, true]),
            ("outcome == halted", [false, true, true]),
            ("outcome == \"halted\"", [false, true, true]),
            ("requests_failed >= 3", [true, true, true]),
            ("p_completed == 1", [true, false, false]),
            (
                "outcome == halted && requests_failed>2",
                [false, true, true],
            ),
            (
                "outcome == halted && requests_failed > 3",
                [false, false, false],
            ),
        ];
        for (text, want) in cases {
            let c = until(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            let got = [c.holds(&done), c.holds(&halted), c.holds(&no_base)];
            assert_eq!(&got, want, "{text}");
        }
        let c = until(" outcome == halted && requests_failed > 3 ").unwrap();
        assert_eq!(c.text, "outcome == halted && requests_failed > 3");
        assert_eq!(
            c.describe(&done),
            "outcome = completed, requests_failed = 3"
        );
    }

    #[test]
    fn run_condition_errors_are_located() {
        // (text, column, words the message has)
        let cases: &[(&str, usize, &str)] = &[
            ("", 1, "empty condition"),
            ("requests_failed", 1, "no comparison"),
            ("requests_failed => 1", 1, "unknown comparison"),
            ("request_failed > 0", 1, "unknown metric `request_failed`"),
            ("outcome < completed", 9, "compare it with == or !="),
            ("outcome == done", 12, "`done` is not an outcome"),
            ("requests_failed > many", 19, "`many` is not a number"),
            (
                "outcome == halted && bogus > 1",
                22,
                "unknown metric `bogus`",
            ),
            ("outcome == halted &&", 21, "empty clause"),
            ("> 1", 1, "no metric"),
        ];
        for (text, column, words) in cases {
            let e = until(text).unwrap_err();
            assert_eq!((e.line, e.column), (1, *column), "{text}: {e}");
            assert!(e.message.contains(words), "{text}: {e}");
            assert!(
                e.to_string()
                    .starts_with(&format!("--until:1:{column}: `until`: ")),
                "{e}"
            );
        }
    }
}
