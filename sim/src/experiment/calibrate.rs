//! The calibration lab for analysis gates: how often each analysis metric of
//! a policy fails a good version, and how likely and how fast it catches
//! injected regressions of increasing size.
//!
//! ```text
//!  scenario + policy ─▶ every analysis metric dry-run (+ a shape-judge twin
//!      of each Kayenta judge) ─▶ one variant per injected regression
//!      (size 0 = the good version) ─▶ units = sizes × seeds (CLI: rayon)
//!      ─▶ per run and metric: detected? when? requests per measurement
//!      ─▶ power curve cells (Clopper-Pearson intervals), smallest size
//!         detected with 95 %, and the power calculator (exact binomial)
//! ```
//!
//! Every metric is made dry-run so the rollout follows the same schedule
//! whatever any metric concludes: each metric is measured on the same world
//! as every other one, and its verdict is read back from the audit log as if
//! it were the policy's only gate (a metric *detects* when its failed
//! measurements exceed its `failure_limit` or its consecutive errors its
//! `consecutive_error_limit`: what would have aborted the rollout). The
//! injected regression is a `regression` fault rule on the change's `to`
//! version (`docs/FAULTS.md`), replacing any the scenario has; other faults
//! stay. Pure: the CLI runs the units.

use super::stats::clopper_pearson;
use crate::analysis::spec::Provider;
use crate::analysis::{AnalysisSpec, MetricSpec};
use crate::faults::{EndpointRegression, FaultRule};
use crate::policy::spec::{BlueGreenSpec, CanaryStep, PolicySpec};
use crate::record::{AuditEvent, AuditKind, RunRecord};
use crate::scenario::Scenario;
use crate::stats::exact::binomial_sf;
use serde::Serialize;
use std::collections::BTreeMap;

/// What a regression makes worse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RegressionKind {
    /// An extra error rate (absolute: 0.01 = one more request in 100 fails).
    ErrorRate,
    /// A latency increase (relative: 0.25 = latencies × 1.25).
    Latency,
}

impl RegressionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RegressionKind::ErrorRate => "error-rate",
            RegressionKind::Latency => "latency",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "error-rate" => Some(RegressionKind::ErrorRate),
            "latency" => Some(RegressionKind::Latency),
            _ => None,
        }
    }
}

/// One injected regression: size 0 is the good version.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Injection {
    pub kind: RegressionKind,
    pub size: f64,
    /// Only this endpoint of the scenario's endpoint mix (else all).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

impl Injection {
    pub fn good() -> Self {
        Injection {
            kind: RegressionKind::ErrorRate,
            size: 0.0,
            endpoint: None,
        }
    }
    pub fn label(&self) -> String {
        if self.size == 0.0 {
            return "good".into();
        }
        match &self.endpoint {
            Some(e) => format!("{} +{} on {e}", self.kind.as_str(), self.size),
            None => format!("{} +{}", self.kind.as_str(), self.size),
        }
    }
}

/// `--sizes error-rate=0.001,0.01` or `latency=0.1,0.5`: the sizes of one
/// kind (size 0 is always run once, as the good version).
pub fn parse_sizes(spec: &str) -> Result<(RegressionKind, Vec<f64>), String> {
    let (k, v) = spec.split_once('=').ok_or_else(|| {
        format!("--sizes `{spec}`: write KIND=S1,S2,… with KIND error-rate or latency")
    })?;
    let kind = RegressionKind::parse(k.trim()).ok_or_else(|| {
        format!("--sizes `{spec}`: unknown kind `{k}`; allowed: error-rate, latency")
    })?;
    let mut sizes = Vec::new();
    for s in v.split(',') {
        let x: f64 = s
            .trim()
            .parse()
            .map_err(|_| format!("--sizes `{spec}`: `{s}` is not a number"))?;
        let max = if kind == RegressionKind::ErrorRate {
            1.0
        } else {
            100.0
        };
        if !(x.is_finite() && x > 0.0 && x <= max) {
            return Err(format!(
                "--sizes `{spec}`: {x} is out of range: a size is > 0 and ≤ {max} ({})",
                if kind == RegressionKind::ErrorRate {
                    "an absolute extra error rate"
                } else {
                    "a relative latency increase"
                }
            ));
        }
        sizes.push(x);
    }
    Ok((kind, sizes))
}

/// The default sizes when `--sizes` is not given.
pub fn default_sizes() -> Vec<(RegressionKind, Vec<f64>)> {
    vec![
        (
            RegressionKind::ErrorRate,
            vec![0.001, 0.002, 0.005, 0.01, 0.02, 0.05],
        ),
        (RegressionKind::Latency, vec![0.05, 0.1, 0.25, 0.5, 1.0]),
    ]
}

/// The scenario with `inj` as the `to` version's only regression.
pub fn inject(sc: &Scenario, inj: &Injection) -> Scenario {
    let mut out = sc.clone();
    let to = sc.change.to.clone();
    out.faults
        .retain(|r| !matches!(r, FaultRule::Regression { version, .. } if *version == to));
    if inj.size > 0.0 {
        let (rate, factor) = match inj.kind {
            RegressionKind::ErrorRate => (inj.size, 1.0),
            RegressionKind::Latency => (0.0, 1.0 + inj.size),
        };
        let mut endpoints = BTreeMap::new();
        let (all_rate, all_factor) = match &inj.endpoint {
            Some(e) => {
                endpoints.insert(
                    e.clone(),
                    EndpointRegression {
                        error_rate: rate,
                        latency_factor: factor,
                    },
                );
                (0.0, 1.0)
            }
            None => (rate, factor),
        };
        out.faults.push(FaultRule::Regression {
            version: to,
            error_rate: all_rate,
            latency_factor: all_factor,
            endpoints,
        });
    }
    out
}

/// One analysis metric the lab measures.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MetricKey {
    /// `analysis/metric`, as reports name it.
    pub id: String,
    pub analysis: String,
    pub metric: String,
    /// `prometheus`, `kayenta` or `shape`.
    pub provider: &'static str,
    pub failure_limit: i64,
    pub consecutive_error_limit: i64,
    pub inconclusive_limit: i64,
}

fn analyses_mut(p: &mut PolicySpec) -> Vec<&mut AnalysisSpec> {
    match p {
        PolicySpec::Canary(c) => {
            let mut v: Vec<&mut AnalysisSpec> = c
                .steps
                .iter_mut()
                .filter_map(|s| match s {
                    CanaryStep::Analysis(a) => Some(a),
                    _ => None,
                })
                .collect();
            if let Some(b) = c.analysis.as_mut() {
                v.push(&mut b.analysis);
            }
            v
        }
        PolicySpec::BlueGreen(BlueGreenSpec {
            pre_promotion_analysis,
            post_promotion_analysis,
            ..
        }) => pre_promotion_analysis
            .iter_mut()
            .chain(post_promotion_analysis.iter_mut())
            .collect(),
        PolicySpec::Staged(s) => s.analysis.iter_mut().collect(),
        PolicySpec::Windowed { policy, .. } => analyses_mut(policy),
        _ => vec![],
    }
}

/// The suffix of a Kayenta judge's shape-judge twin.
pub const SHAPE_TWIN: &str = "~shape";

/// The scenario the lab runs: every analysis metric dry-run, and with
/// `shape_twins` a shape judge beside each Kayenta judge (same series and
/// settings, named `NAME~shape`). Returns the metrics to read back; an
/// error when the policy has no analysis.
pub fn prepare(sc: &Scenario, shape_twins: bool) -> Result<(Scenario, Vec<MetricKey>), String> {
    let mut out = sc.clone();
    let mut keys: Vec<MetricKey> = Vec::new();
    for a in analyses_mut(&mut out.policy) {
        let mut twins: Vec<MetricSpec> = Vec::new();
        for m in &mut a.metrics {
            m.dry_run = true;
            if shape_twins && matches!(m.provider, Provider::Kayenta { .. }) {
                let mut t = m.clone();
                t.name = format!("{}{SHAPE_TWIN}", m.name);
                t.provider = t
                    .provider
                    .into_shape(crate::stats::ShapeOptions::DEFAULT_QUANTILE);
                twins.push(t);
            }
        }
        a.metrics.extend(twins);
        for m in &a.metrics {
            let id = format!("{}/{}", a.name, m.name);
            if keys.iter().any(|k| k.id == id) {
                continue;
            }
            keys.push(MetricKey {
                id,
                analysis: a.name.clone(),
                metric: m.name.clone(),
                provider: match m.provider {
                    Provider::Prometheus { .. } => "prometheus",
                    Provider::Kayenta { .. } => "kayenta",
                    Provider::Shape { .. } => "shape",
                },
                failure_limit: m.failure_limit,
                consecutive_error_limit: m.consecutive_error_limit,
                inconclusive_limit: m.inconclusive_limit,
            });
        }
    }
    if keys.is_empty() {
        return Err(format!(
            "policy `{}` has no analysis metrics or checks to calibrate (calibrate measures Argo-style analyses — a canary's steps and background analysis, blue-green pre/post-promotion, staged — Flagger's metric checks, a linear ramp's SLOs and waves' alarms)",
            sc.policy.kind()
        ));
    }
    Ok((out, keys))
}

/// A check that is its policy's own gate (no dry-run): Flagger's metric
/// checks, a linear ramp's SLOs, waves' alarms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GateKind {
    /// `flagger`: a failed check counts toward `threshold`; the canary
    /// rolls back when the failed checks reach it.
    Flagger,
    /// `linear`: an SLO evaluated on the new version every `slo_window`;
    /// one violation halts or rolls back.
    Slo,
    /// `waves`: an alarm evaluated every `alarm_period`; one breach rolls
    /// every wave back.
    Alarm,
}

impl GateKind {
    pub fn as_str(self) -> &'static str {
        match self {
            GateKind::Flagger => "flagger",
            GateKind::Slo => "slo",
            GateKind::Alarm => "alarm",
        }
    }
}

/// What the lab runs: scenarios, each measuring some of the keys.
#[derive(Clone, Debug)]
pub struct Plan {
    pub keys: Vec<MetricKey>,
    /// Each scenario and the indices (into `keys`) it measures; `gate`:
    /// the one check it keeps, measured as the policy's own gate.
    pub variants: Vec<Variant>,
}

#[derive(Clone, Debug)]
pub struct Variant {
    pub scenario: Scenario,
    pub keys: Vec<usize>,
    pub gate: Option<GateKind>,
}

/// The policy's checks that are gates, each alone in a copy of the scenario
/// (so each is measured as if it were the only one, on the same worlds).
fn gates(sc: &Scenario) -> Vec<(Scenario, MetricKey, GateKind)> {
    fn policy_mut(p: &mut PolicySpec) -> &mut PolicySpec {
        match p {
            PolicySpec::Windowed { policy, .. } => policy_mut(policy),
            p => p,
        }
    }
    let mut probe = sc.clone();
    let (kind, names, threshold): (GateKind, Vec<String>, i64) = match policy_mut(&mut probe.policy)
    {
        PolicySpec::Flagger(f) => (
            GateKind::Flagger,
            f.metrics.iter().map(|m| m.name.clone()).collect(),
            i64::from(f.threshold) - 1,
        ),
        PolicySpec::Linear(l) => (
            GateKind::Slo,
            l.slo.iter().map(|m| m.name.clone()).collect(),
            0,
        ),
        PolicySpec::Waves(w) => (
            GateKind::Alarm,
            w.alarms.iter().map(|m| m.name.clone()).collect(),
            0,
        ),
        _ => return vec![],
    };
    let mut out = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let mut v = sc.clone();
        let keep = |list: &mut Vec<crate::policy::spec::CheckSpec>| {
            let c = list[i].clone();
            *list = vec![c];
        };
        match policy_mut(&mut v.policy) {
            PolicySpec::Flagger(f) => keep(&mut f.metrics),
            PolicySpec::Linear(l) => keep(&mut l.slo),
            PolicySpec::Waves(w) => keep(&mut w.alarms),
            _ => unreachable!("the kinds above"),
        }
        let analysis = kind.as_str().to_string();
        out.push((
            v,
            MetricKey {
                id: format!("{analysis}/{name}"),
                analysis,
                metric: name.clone(),
                provider: kind.as_str(),
                failure_limit: threshold,
                consecutive_error_limit: 0,
                inconclusive_limit: 0,
            },
            kind,
        ));
    }
    out
}

/// The lab's plan for a policy: its Argo-style analyses dry-run in one
/// scenario ([`prepare`]), and each gate check alone in its own.
pub fn plan(sc: &Scenario, shape_twins: bool) -> Result<Plan, String> {
    let mut keys = Vec::new();
    let mut variants = Vec::new();
    let analyses = prepare(sc, shape_twins);
    if let Ok((s, k)) = &analyses {
        variants.push(Variant {
            scenario: s.clone(),
            keys: (0..k.len()).collect(),
            gate: None,
        });
        keys.extend(k.iter().cloned());
    }
    for (s, k, g) in gates(sc) {
        variants.push(Variant {
            scenario: s,
            keys: vec![keys.len()],
            gate: Some(g),
        });
        keys.push(k);
    }
    match analyses {
        Err(e) if keys.is_empty() => Err(e),
        _ => Ok(Plan { keys, variants }),
    }
}

/// `N requests` in an audit reason (the window a check was computed from).
fn requests_in(reason: &str) -> Option<f64> {
    let i = reason.find(" requests")?;
    reason[..i].rsplit(['(', ' ']).next()?.parse().ok()
}

/// What a run of a gate variant says about its one check: detected when the
/// check stopped the rollout (Flagger: the failed check that reached the
/// threshold; an SLO violation; an alarm in ALARM), inconclusive when
/// Flagger found no values and halted advancement.
pub fn gate_detection(rec: &RunRecord, key: &MetricKey, gate: GateKind) -> Detection {
    let start = rec.summary.rollout_started_at_s;
    let mut d = Detection::default();
    let mut traffic = (0.0, 0u32);
    for e in &rec.events {
        if e.kind != AuditKind::Decision {
            continue;
        }
        let r = e.reason.as_str();
        let fired = match gate {
            GateKind::Flagger => {
                if r.starts_with("halt advancement: no values found") {
                    d.inconclusive = true;
                    continue;
                }
                let Some(rest) = r.strip_prefix("check ") else {
                    continue;
                };
                d.measurements += 1;
                // `(failed checks K/T)` at the end.
                let k = rest
                    .rsplit_once("(failed checks ")
                    .and_then(|(_, x)| x.split('/').next())
                    .and_then(|x| x.parse::<i64>().ok());
                rest.starts_with("failed") && k.is_some_and(|k| k > key.failure_limit)
            }
            GateKind::Slo => r.starts_with(&format!("SLO `{}` violated", key.metric)),
            GateKind::Alarm => r.starts_with(&format!("alarm `{}` in ALARM", key.metric)),
        };
        if fired && d.detected_after_s.is_none() {
            if gate != GateKind::Flagger {
                d.measurements += 1;
            }
            if let Some(n) = requests_in(r) {
                traffic.0 += n;
                traffic.1 += 1;
            }
            d.detected_after_s = Some(e.time_s - start);
        }
    }
    d.traffic_per_measurement = (traffic.1 > 0).then(|| traffic.0 / f64::from(traffic.1));
    d
}

impl Plan {
    /// Every key's detection from the runs of one (seed, injection): `recs[v]`
    /// is the run of variant `v`.
    pub fn detections(&self, recs: &[RunRecord]) -> Vec<Detection> {
        let mut out = vec![Detection::default(); self.keys.len()];
        for (v, rec) in self.variants.iter().zip(recs) {
            match v.gate {
                None => {
                    let keys: Vec<MetricKey> =
                        v.keys.iter().map(|&k| self.keys[k].clone()).collect();
                    for (&k, d) in v.keys.iter().zip(detections(rec, &keys)) {
                        out[k] = d;
                    }
                }
                Some(g) => {
                    let k = v.keys[0];
                    out[k] = gate_detection(rec, &self.keys[k], g);
                }
            }
        }
        out
    }
}

/// What one run says about one metric.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Detection {
    /// Seconds from the rollout's start to the measurement that would have
    /// aborted it.
    pub detected_after_s: Option<f64>,
    /// Too many inconclusive measurements (the rollout would have halted).
    pub inconclusive: bool,
    pub measurements: u32,
    /// Mean requests behind one measurement (threshold metrics), or mean
    /// canary samples (judges).
    pub traffic_per_measurement: Option<f64>,
}

/// The metric name, analysis and phase of an audit row of a measurement:
/// `metric `NAME` [dry-run] measurement K: … → Phase`.
fn parse_measurement(e: &AuditEvent) -> Option<(&str, &str, &str, Option<f64>)> {
    if e.kind != AuditKind::Decision {
        return None;
    }
    let rest = e.reason.strip_prefix("metric `")?;
    let (name, rest) = rest.split_once('`')?;
    let rest = rest.trim_start_matches(" [dry-run]");
    let rest = rest.strip_prefix(" measurement ")?;
    let (_, phase) = rest.rsplit_once(" → ")?;
    let analysis = e
        .step
        .rsplit_once("analysis ")
        .map_or(e.step.as_str(), |x| x.1);
    // Traffic: `(N requests` (threshold) or `(n B/C` (judge: canary samples).
    let traffic = if let Some(i) = rest.find(" requests") {
        rest[..i]
            .rsplit(['(', ' '])
            .next()
            .and_then(|n| n.parse::<f64>().ok())
    } else if let Some(i) = rest.find("(n ") {
        rest[i + 3..]
            .split([',', ')'])
            .next()
            .and_then(|bc| bc.split_once('/'))
            .and_then(|(_, c)| c.parse::<f64>().ok())
    } else {
        None
    };
    Some((name, analysis, phase, traffic))
}

/// Reads every metric's detection from a run's audit log.
pub fn detections(rec: &RunRecord, keys: &[MetricKey]) -> Vec<Detection> {
    let start = rec.summary.rollout_started_at_s;
    let mut out = vec![Detection::default(); keys.len()];
    // Counters per analysis run (its step) and metric.
    let mut runs: BTreeMap<(String, usize), (i64, i64, i64)> = BTreeMap::new();
    let mut traffic: Vec<(f64, u32)> = vec![(0.0, 0); keys.len()];
    for e in &rec.events {
        let Some((name, analysis, phase, t)) = parse_measurement(e) else {
            continue;
        };
        let Some(k) = keys
            .iter()
            .position(|k| k.metric == name && k.analysis == analysis)
        else {
            continue;
        };
        let d = &mut out[k];
        d.measurements += 1;
        if let Some(t) = t {
            traffic[k].0 += t;
            traffic[k].1 += 1;
        }
        let c = runs.entry((e.step.clone(), k)).or_default();
        match phase {
            "Failed" => {
                c.0 += 1;
                c.1 = 0;
            }
            "Error" => c.1 += 1,
            "Inconclusive" => {
                c.2 += 1;
                c.1 = 0;
            }
            _ => c.1 = 0,
        }
        let key = &keys[k];
        let fails = (key.failure_limit >= 0 && c.0 > key.failure_limit)
            || c.1 > key.consecutive_error_limit;
        if fails && d.detected_after_s.is_none() {
            d.detected_after_s = Some(e.time_s - start);
        }
        if c.2 > key.inconclusive_limit {
            d.inconclusive = true;
        }
    }
    for (d, (sum, n)) in out.iter_mut().zip(traffic) {
        d.traffic_per_measurement = (n > 0).then(|| sum / n as f64);
    }
    out
}

/// One point of a power curve: a metric at one regression size.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Cell {
    pub metric: String,
    pub provider: &'static str,
    pub kind: RegressionKind,
    pub size: f64,
    pub runs: u64,
    pub detected: u64,
    /// `detected / runs`: the false-fail rate at size 0.
    pub p_detect: f64,
    /// Clopper-Pearson 95 % interval of `p_detect`.
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub inconclusive: u64,
    /// Median seconds from the rollout's start to detection, over detecting runs.
    pub median_time_to_detect_s: Option<f64>,
    pub mean_traffic_per_measurement: Option<f64>,
}

/// Power curve cells from the detections of every unit. `units[i]` is the
/// injection of run `i` and `per_run[i]` its detections (one per key).
/// Size-0 runs appear under every kind, as each curve's first point.
pub fn cells(
    keys: &[MetricKey],
    injections: &[Injection],
    per_run: &[(usize, Vec<Detection>)],
) -> Vec<Cell> {
    let kinds: Vec<RegressionKind> = {
        let mut k: Vec<RegressionKind> = injections
            .iter()
            .filter(|i| i.size > 0.0)
            .map(|i| i.kind)
            .collect();
        k.sort();
        k.dedup();
        if k.is_empty() {
            k.push(RegressionKind::ErrorRate);
        }
        k
    };
    let mut out = Vec::new();
    for (ki, key) in keys.iter().enumerate() {
        for &kind in &kinds {
            for (ii, inj) in injections.iter().enumerate() {
                if inj.size > 0.0 && inj.kind != kind {
                    continue;
                }
                let ds: Vec<&Detection> = per_run
                    .iter()
                    .filter(|(i, _)| *i == ii)
                    .map(|(_, d)| &d[ki])
                    .collect();
                let runs = ds.len() as u64;
                let detected = ds.iter().filter(|d| d.detected_after_s.is_some()).count() as u64;
                let mut times: Vec<f64> = ds.iter().filter_map(|d| d.detected_after_s).collect();
                times.sort_by(f64::total_cmp);
                let traffic: Vec<f64> = ds
                    .iter()
                    .filter_map(|d| d.traffic_per_measurement)
                    .collect();
                out.push(Cell {
                    metric: key.id.clone(),
                    provider: key.provider,
                    kind,
                    size: inj.size,
                    runs,
                    detected,
                    p_detect: if runs == 0 {
                        0.0
                    } else {
                        detected as f64 / runs as f64
                    },
                    ci_low: clopper_pearson(detected, runs).low,
                    ci_high: clopper_pearson(detected, runs).high,
                    inconclusive: ds.iter().filter(|d| d.inconclusive).count() as u64,
                    median_time_to_detect_s: (!times.is_empty())
                        .then(|| super::stats::quantile_sorted(&times, 0.5)),
                    mean_traffic_per_measurement: (!traffic.is_empty())
                        .then(|| traffic.iter().sum::<f64>() / traffic.len() as f64),
                });
            }
        }
    }
    out
}

/// The smallest size of `kind` that `metric` detects with probability ≥
/// `target` (by the Monte Carlo estimate), with that cell.
pub fn smallest_detected<'a>(
    cells: &'a [Cell],
    metric: &str,
    kind: RegressionKind,
    target: f64,
) -> Option<&'a Cell> {
    cells
        .iter()
        .filter(|c| c.metric == metric && c.kind == kind && c.size > 0.0)
        .filter(|c| c.p_detect >= target)
        .min_by(|a, b| a.size.total_cmp(&b.size))
}

// ---- power calculator ------------------------------------------------------

/// The exact one-sided binomial test of an error rate: the smallest count
/// `c` with `P(X ≥ c | n, p0) ≤ alpha` (so a good version fails with
/// probability at most `alpha`), and the power `P(X ≥ c | n, p1)`.
pub fn binomial_power(n: u64, p0: f64, p1: f64, alpha: f64) -> (u64, f64) {
    // Smallest c with sf(c) ≤ alpha, by bisection on the monotone tail.
    let (mut lo, mut hi) = (0u64, n + 1);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if binomial_sf(mid, n, p0) <= alpha {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let c = lo;
    let power = if c > n { 0.0 } else { binomial_sf(c, n, p1) };
    (c, power)
}

/// The fewest requests `n` for which the exact test of [`binomial_power`]
/// reaches `target` power, by bisection (the exact power has a small
/// sawtooth in `n`; the answer is the first `n` at which bisection between
/// a failing and a passing size ends, so `power(n) ≥ target > power(n − 1)`).
/// `None` past 2^40 requests.
pub fn min_requests(p0: f64, p1: f64, alpha: f64, target: f64) -> Option<u64> {
    let ok = |n: u64| binomial_power(n, p0, p1, alpha).1 >= target;
    let mut hi = 1u64;
    while !ok(hi) {
        hi *= 2;
        if hi > 1 << 40 {
            return None;
        }
    }
    let mut lo = hi / 2;
    if lo == 0 {
        return Some(hi);
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if ok(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi)
}

/// One row of the calculator: a canary weight and a start time.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PowerRow {
    pub weight_pct: f64,
    pub start_s: f64,
    pub start_hour_utc: f64,
    /// Canary requests needed.
    pub requests: u64,
    /// How long the canary must run from `start_s` at `weight_pct` to see
    /// them, under the scenario's traffic curve; `None`: not within 7 days.
    pub duration_s: Option<f64>,
    pub critical_count: u64,
}

/// The power calculator's answer for one regression size.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PowerPlan {
    pub baseline_error_rate: f64,
    pub regression: f64,
    pub false_fail: f64,
    pub target: f64,
    pub requests: Option<u64>,
    pub rows: Vec<PowerRow>,
}

/// The baseline error rate of the scenario's endpoint mix (0 without one).
pub fn baseline_error_rate(sc: &Scenario) -> f64 {
    sc.traffic
        .endpoints
        .iter()
        .map(|e| e.share * (1.0 - e.success_rate))
        .sum()
}

/// Seconds from `start_s` until `weight` of the traffic curve has offered
/// `requests`, stepping by `step_s`; `None` if not within `horizon_s`.
pub fn time_to_requests(
    rps_at: &dyn Fn(f64) -> f64,
    start_s: f64,
    weight: f64,
    requests: f64,
    step_s: f64,
    horizon_s: f64,
) -> Option<f64> {
    let mut seen = 0.0;
    let mut t = 0.0;
    while t < horizon_s {
        let r = rps_at(start_s + t) * weight * step_s;
        if seen + r >= requests {
            let frac = if r > 0.0 { (requests - seen) / r } else { 0.0 };
            return Some(t + frac * step_s);
        }
        seen += r;
        t += step_s;
    }
    None
}

/// The calculator: for an error-rate regression of `regression` over the
/// scenario's baseline rate, the canary requests an exact binomial test at
/// false-fail `alpha` needs to detect it with probability `target`, and how
/// long that takes per weight and start hour under the scenario's traffic.
pub fn power_plan(
    sc: &Scenario,
    regression: f64,
    alpha: f64,
    target: f64,
    weights_pct: &[f64],
    starts_s: &[f64],
) -> PowerPlan {
    let p0 = baseline_error_rate(sc);
    let p1 = (p0 + regression * (1.0 - p0)).min(1.0);
    let requests = min_requests(p0, p1, alpha, target);
    let step = sc.tick.as_secs_f64().max(1.0);
    let rps = |t: f64| sc.traffic.rps_at(t);
    let mut rows = Vec::new();
    if let Some(n) = requests {
        let (c, _) = binomial_power(n, p0, p1, alpha);
        for &w in weights_pct {
            for &s in starts_s {
                rows.push(PowerRow {
                    weight_pct: w,
                    start_s: s,
                    start_hour_utc: (sc.traffic.start_hour_utc + s / 3600.0).rem_euclid(24.0),
                    requests: n,
                    duration_s: time_to_requests(&rps, s, w / 100.0, n as f64, step, 7.0 * 86400.0),
                    critical_count: c,
                });
            }
        }
    }
    PowerPlan {
        baseline_error_rate: p0,
        regression,
        false_fail: alpha,
        target,
        requests,
        rows,
    }
}

// ---- the whole result --------------------------------------------------------

/// The smallest regression a metric detects with 95 % probability.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Smallest {
    pub metric: String,
    pub provider: &'static str,
    pub kind: RegressionKind,
    /// `None`: no size tried reached the target.
    pub size: Option<f64>,
    pub p_detect: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    /// The metric's false-fail rate (size 0) and its interval.
    pub false_fail: f64,
    pub false_fail_ci_low: Option<f64>,
    pub false_fail_ci_high: Option<f64>,
}

/// Everything `calibrate` writes, as `summary.json` holds it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Calibration {
    pub format: &'static str,
    pub scenario: String,
    pub scenario_file: String,
    pub policy: String,
    pub policy_file: Option<String>,
    pub seeds: String,
    pub runs: u64,
    pub target: f64,
    pub metrics: Vec<MetricKey>,
    pub injections: Vec<Injection>,
    pub cells: Vec<Cell>,
    pub smallest: Vec<Smallest>,
    pub power: Vec<PowerPlan>,
    pub shakedown_version: &'static str,
}

/// The `format` of `summary.json`.
pub const FORMAT: &str = "shakedown-calibration/1";

/// The detection target the lab reports (95 %).
pub const TARGET: f64 = 0.95;

/// Summarises cells into the smallest detected size per metric and kind.
pub fn smallest_all(keys: &[MetricKey], cells: &[Cell], target: f64) -> Vec<Smallest> {
    let mut kinds: Vec<RegressionKind> = cells.iter().map(|c| c.kind).collect();
    kinds.sort();
    kinds.dedup();
    let mut out = Vec::new();
    for k in keys {
        for &kind in &kinds {
            let good = cells
                .iter()
                .find(|c| c.metric == k.id && c.kind == kind && c.size == 0.0);
            let best = smallest_detected(cells, &k.id, kind, target);
            out.push(Smallest {
                metric: k.id.clone(),
                provider: k.provider,
                kind,
                size: best.map(|c| c.size),
                p_detect: best.map(|c| c.p_detect),
                ci_low: best.and_then(|c| c.ci_low),
                ci_high: best.and_then(|c| c.ci_high),
                false_fail: good.map_or(0.0, |c| c.p_detect),
                false_fail_ci_low: good.and_then(|c| c.ci_low),
                false_fail_ci_high: good.and_then(|c| c.ci_high),
            });
        }
    }
    out
}
