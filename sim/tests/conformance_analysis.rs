//! Argo Rollouts analysis semantics: the phase rules and the metric
//! validation ported from Argo's own unit tests as data
//! (`sim/tests/data/analysis/argo-phase-rules.toml`: argoproj/argo-rollouts
//! `analysis/analysis_test.go` and `utils/analysis/factory_test.go` at
//! commit 9f8d111d8f8e3e88b6d7f8bbdf62fd3cd863ef9d), then the issue 10
//! regressions driven through `AnalysisRun` and whole scenarios.
#![allow(clippy::disallowed_methods)] // tests read their data files

use serde::Deserialize;
use shakedown_sim::analysis::run::{metric_phase, run_phase, Limits, MetricResult};
use shakedown_sim::analysis::spec::{AnalysisSpec, CohortName, MetricSpec, Provider};
use shakedown_sim::analysis::{AnalysisPhase, AnalysisRun, Condition, Query, Scope};
use shakedown_sim::policy::{Action, GroupView, Observation, Sample};
use shakedown_sim::protocol::Outcome;
use shakedown_sim::time::{SimDuration, SimTime};
use shakedown_sim::{run, RunOptions, Scenario};
use AnalysisPhase::*;

// ---- the ported tables -------------------------------------------------------

fn phase(s: &str) -> AnalysisPhase {
    match s {
        "Successful" => Successful,
        "Running" => Running,
        "Pending" => Pending,
        "Inconclusive" => Inconclusive,
        "Error" => Error,
        "Failed" => Failed,
        _ => panic!("unknown phase {s}"),
    }
}

/// A metric's spec and counters, as the data file writes them.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct MetricCase {
    /// The Go test (absent for a metric inside a [[run]] case).
    #[serde(default)]
    test: String,
    name: Option<String>,
    #[serde(default)]
    interval: bool,
    spec_count: Option<u32>,
    failure_limit: Option<i64>,
    inconclusive_limit: Option<i64>,
    consecutive_error_limit: Option<i64>,
    consecutive_success_limit: Option<u32>,
    phase: Option<String>,
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    measurements: u32,
    #[serde(default)]
    count: u32,
    #[serde(default)]
    successful: u32,
    #[serde(default)]
    failed: u32,
    #[serde(default)]
    inconclusive: u32,
    #[serde(default)]
    error: u32,
    #[serde(default)]
    consecutive_error: u32,
    #[serde(default)]
    consecutive_success: u32,
    expect: Option<String>,
    expect_terminating: Option<String>,
}

impl MetricCase {
    /// Argo's defaults (failure 0, inconclusive 0, consecutive errors 4,
    /// consecutive successes 0) and `EffectiveCount`.
    fn limits(&self) -> Limits {
        Limits {
            count: match (self.spec_count, self.interval) {
                (Some(n), _) => Some(n),
                (None, false) => Some(1),
                (None, true) => None,
            },
            failure_limit: self.failure_limit.unwrap_or(0),
            inconclusive_limit: self.inconclusive_limit.unwrap_or(0),
            consecutive_error_limit: self.consecutive_error_limit.unwrap_or(4),
            consecutive_success_limit: self.consecutive_success_limit.unwrap_or(0),
        }
    }

    fn result(&self) -> MetricResult {
        MetricResult {
            name: self.name.clone().unwrap_or_default(),
            // No stored phase: Argo's "" (not completed), our Pending.
            phase: self.phase.as_deref().map_or(Pending, phase),
            measurements: self.measurements,
            count: self.count,
            successful: self.successful,
            failed: self.failed,
            inconclusive: self.inconclusive,
            error: self.error,
            consecutive_error: self.consecutive_error,
            consecutive_success: self.consecutive_success,
            last_value: None,
            dry_run: self.dry_run,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunCase {
    test: String,
    metrics: Vec<MetricCase>,
    expect: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ValidateCase {
    test: String,
    lines: Vec<String>,
    error: Option<String>,
    message: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    metric: Vec<MetricCase>,
    run: Vec<RunCase>,
    validate: Vec<ValidateCase>,
}

fn table() -> Table {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/analysis/argo-phase-rules.toml"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    toml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Argo's `assessMetricStatus` cases → `metric_phase`.
#[test]
fn argo_assess_metric_status_table() {
    let t = table();
    assert!(t.metric.len() >= 30, "{} metric cases", t.metric.len());
    for c in &t.metric {
        assert!(
            c.expect.is_some() || c.expect_terminating.is_some(),
            "{}: nothing expected",
            c.test
        );
        let (l, r) = (c.limits(), c.result());
        if let Some(e) = &c.expect {
            assert_eq!(metric_phase(&l, &r, false), phase(e), "{}", c.test);
        }
        if let Some(e) = &c.expect_terminating {
            assert_eq!(
                metric_phase(&l, &r, true),
                phase(e),
                "{} (terminating)",
                c.test
            );
        }
    }
}

/// Argo's `assessRunStatus` cases: terminating when a gating metric's
/// stored phase is Failed, Error or Inconclusive (`IsTerminating`); each
/// metric assessed; then `run_phase`.
#[test]
fn argo_assess_run_status_table() {
    let t = table();
    assert!(t.run.len() >= 8);
    for c in &t.run {
        let stored: Vec<MetricResult> = c.metrics.iter().map(MetricCase::result).collect();
        let terminating = stored
            .iter()
            .any(|r| !r.dry_run && matches!(r.phase, Failed | Error | Inconclusive));
        let phases: Vec<(bool, AnalysisPhase)> = c
            .metrics
            .iter()
            .zip(&stored)
            .map(|(m, r)| (r.dry_run, metric_phase(&m.limits(), r, terminating)))
            .collect();
        assert_eq!(
            run_phase(phases.iter().copied(), terminating),
            phase(&c.expect),
            "{}: {phases:?}",
            c.test
        );
    }
}

/// A scenario whose one analysis template has a prometheus metric with
/// `lines` added first.
fn template_scenario(lines: &[String]) -> String {
    format!(
        r#"name = "v"
duration = "1h"

[fleet]
[[fleet.roles]]
name = "api"
hosts = 10

[traffic]
curve = "constant"
rps = 100

[change]
from = "1"
to = "2"
mode = "in-place"

[analysis.a]
[[analysis.a.metrics]]
{}
name = "sr"
provider = "prometheus"
query = "success-rate"
success_condition = "result >= 0.95"

[policy]
kind = "rolling"
"#,
        lines.join("\n")
    )
}

/// Argo's `TestValidateMetrics` cases (and the rules of `ValidateMetric`
/// and `ValidateAnalysisTemplateWithType` it has no case for): each
/// rejection points at the offending key's line and names the field.
#[test]
fn argo_validate_metrics_table() {
    let t = table();
    assert!(t.validate.len() >= 10);
    for c in &t.validate {
        let text = template_scenario(&c.lines);
        let parsed = Scenario::parse(&text, "v.toml");
        match (&c.error, parsed) {
            (None, Ok(_)) => {}
            (None, Err(e)) => panic!("{}: rejected: {e}", c.test),
            (Some(key), Ok(_)) => panic!("{}: accepted, expected an error at {key}", c.test),
            (Some(key), Err(e)) => {
                let line = text
                    .lines()
                    .position(|l| l.starts_with(&format!("{key} =")))
                    .unwrap()
                    + 1;
                // The column of the value, as for every located error.
                let column = key.len() + 4;
                assert_eq!(
                    (e.line, e.column, e.field.as_str()),
                    (
                        line,
                        column,
                        format!("analysis.a.metrics[0].{key}").as_str()
                    ),
                    "{}: {e}",
                    c.test
                );
                let m = c.message.as_deref().unwrap();
                assert!(e.message.contains(m), "{}: {e}\nwanted: {m}", c.test);
                assert!(e
                    .to_string()
                    .starts_with(&format!("v.toml:{line}:{column}: ")));
            }
        }
    }
}

// ---- driven through AnalysisRun ---------------------------------------------------

fn prom(success: &str) -> MetricSpec {
    MetricSpec {
        name: "sr".into(),
        interval: Some(SimDuration::from_secs(60)),
        count: Some(5),
        initial_delay: SimDuration::ZERO,
        failure_limit: 0,
        inconclusive_limit: 0,
        consecutive_error_limit: 4,
        consecutive_success_limit: 0,
        dry_run: false,
        provider: Provider::Prometheus {
            query: Query::SuccessRate,
            cohort: CohortName::New,
            endpoint: None,
            weights: None,
            success_condition: Some(Condition::parse(success).unwrap()),
            failure_condition: None,
            min_requests: None,
        },
    }
}

fn spec(metrics: Vec<MetricSpec>) -> AnalysisSpec {
    AnalysisSpec {
        name: "t".into(),
        metrics,
    }
}

/// The canary's (requests, failed) in one scrape; `None`: no scrape.
type Scrape = Option<(u64, u64)>;
const OK: Scrape = Some((100, 0));
const BAD: Scrape = Some((100, 10));

/// One measurement: when, which metric, its note.
#[derive(Debug)]
struct Measured {
    at_s: u64,
    note: String,
}

/// Feeds `scrape(t_s)` every `tick_s` until `until_s` (or the run ends);
/// returns the phase after each tick and every measurement note.
fn drive(
    spec: &AnalysisSpec,
    tick_s: u64,
    until_s: u64,
    scrape: impl Fn(u64) -> Scrape,
) -> (Vec<(u64, AnalysisPhase)>, Vec<Measured>, AnalysisRun) {
    let mut run = AnalysisRun::start(spec, Scope::All, SimTime::ZERO, "");
    let (mut phases, mut measured) = (Vec::new(), Vec::new());
    let mut t = tick_s;
    while t <= until_s && !run.phase().completed() {
        let groups: Vec<GroupView> = match scrape(t) {
            Some((requests, failed)) => vec![GroupView {
                new_metrics: Sample {
                    requests,
                    failed,
                    ..Sample::default()
                },
                ..GroupView::default()
            }],
            // No group reports: the window counts the scrape, no requests.
            None => vec![GroupView::default()],
        };
        let obs = Observation {
            now: SimTime::from_millis(t * 1000),
            started_at: SimTime::ZERO,
            groups: &groups,
            zones: &[],
            endpoints: &[],
        };
        let mut notes: Vec<Action> = Vec::new();
        phases.push((t, run.observe(&obs, &mut notes)));
        for n in notes {
            if let Action::Note { reason, .. } = n {
                if reason.contains("measurement") {
                    measured.push(Measured {
                        at_s: t,
                        note: reason,
                    });
                }
            }
        }
        t += tick_s;
    }
    (phases, measured, run)
}

fn times(m: &[Measured]) -> Vec<u64> {
    m.iter().map(|m| m.at_s).collect()
}

/// Issue 10 item 8: an errored measurement is retried after 10 s (Argo's
/// `DefaultErrorRetryInterval`), not after the metric's 5 min interval; on
/// a 15 s scrape tick that is the next tick, 15 s later.
#[test]
fn error_is_retried_after_10_s_not_the_interval() {
    let mut m = prom("result >= 0.95");
    m.interval = Some(SimDuration::from_mins(5));
    m.count = Some(3);
    let s = spec(vec![m]);
    // No requests before 5 min: the first measurement has no data.
    let traffic = |t: u64| if t <= 300 { Some((0, 0)) } else { OK };
    let (_, measured, run) = drive(&s, 5, 3600, traffic);
    assert_eq!(times(&measured), [300, 310, 610, 910], "{measured:#?}");
    assert!(measured[0].note.contains("no data") && measured[0].note.ends_with("→ Error"));
    assert_eq!(run.phase(), Successful);
    let r = run.results().next().unwrap();
    assert_eq!((r.measurements, r.count, r.error), (4, 3, 1));

    let (_, measured, _) = drive(&s, 15, 3600, traffic);
    assert_eq!(times(&measured), [300, 315, 615, 915], "{measured:#?}");

    // A metric without an interval (one measurement) retries the same way.
    let mut once = prom("result >= 0.95");
    once.interval = None;
    once.count = None;
    let (_, measured, run) = drive(&spec(vec![once]), 5, 600, |t| {
        if t <= 5 {
            Some((0, 0))
        } else {
            OK
        }
    });
    assert_eq!(times(&measured), [5, 15], "{measured:#?}");
    assert_eq!(run.phase(), Successful);
}

/// Issue 10 item 11: `consecutive_success_limit` ends the metric Successful
/// after K successes in a row, before `count`; with `count` reached and
/// neither limit decided, Inconclusive (assessMetricStatus).
#[test]
fn consecutive_success_limit_ends_successful_after_k_in_a_row() {
    let mut m = prom("result >= 0.95");
    m.count = Some(10);
    m.failure_limit = 1;
    m.consecutive_success_limit = 3;
    let feed = |m: &MetricSpec, minutes: Vec<Scrape>| {
        let (phases, measured, _) = drive(&spec(vec![m.clone()]), 60, 3600, |t| {
            minutes[(t / 60 - 1) as usize]
        });
        (
            phases.into_iter().map(|p| p.1).collect::<Vec<_>>(),
            measured,
        )
    };
    let (p, measured) = feed(&m, vec![BAD, OK, OK, OK]);
    assert_eq!(p, [Running, Running, Running, Successful]);
    assert_eq!(measured.len(), 4, "ended after 4 of count 10");
    // The streak restarts after a failure; a second failure exceeds the limit.
    let (p, _) = feed(&m, vec![OK, OK, BAD, OK, BAD]);
    assert_eq!(p, [Running, Running, Running, Running, Failed]);
    // Count 4 reached with a streak of 1 and failures within the limit.
    m.count = Some(4);
    let (p, _) = feed(&m, vec![OK, OK, BAD, OK]);
    assert_eq!(p, [Running, Running, Running, Inconclusive]);
    // failure_limit -1: only the streak decides; count reached without it → Failed.
    m.failure_limit = -1;
    let (p, _) = feed(&m, vec![BAD, BAD, BAD, BAD]);
    assert_eq!(p, [Running, Running, Running, Failed]);
}

/// Issue 10 item 11: `min_requests` on a threshold metric. A window with
/// fewer requests than the guard (none included, as long as it was
/// scraped) is an Inconclusive measurement, not a verdict on a handful of
/// requests nor an Error; without the guard the same thin window passes or
/// fails on its few requests.
#[test]
fn min_requests_guard_makes_thin_windows_inconclusive() {
    let mut m = prom("result >= 0.95");
    m.count = Some(3);
    m.inconclusive_limit = 1;
    let Provider::Prometheus { min_requests, .. } = &mut m.provider else {
        unreachable!()
    };
    *min_requests = Some(100);
    // 1-minute windows of 4 scrapes at 15 s: 10 requests each minute
    // 1 (40 < 100, one failed: 97.5 %, a pass without the guard), 0 in
    // minute 2, 40 a scrape after.
    let per_scrape = |t: u64| match t {
        0..=60 => Some((10, t / 60)),
        61..=120 => Some((0, 0)),
        _ => Some((40, 0)),
    };
    let (phases, measured, run) = drive(&spec(vec![m.clone()]), 15, 3600, per_scrape);
    let notes: Vec<&str> = measured.iter().map(|m| m.note.as_str()).collect();
    assert!(
        notes[0].contains("too few requests for a verdict (40 < min_requests 100")
            && notes[0].ends_with("→ Inconclusive"),
        "{notes:#?}"
    );
    // The second thin window exceeds inconclusive_limit 1.
    assert!(notes[1].contains("(0 < min_requests 100"), "{notes:#?}");
    assert_eq!(phases.last(), Some(&(120, Inconclusive)));
    assert_eq!(run.results().next().unwrap().inconclusive, 2);

    // Without the guard: the first window passes on 40 requests, the
    // empty one is an Error (no data), the next passes.
    let Provider::Prometheus { min_requests, .. } = &mut m.provider else {
        unreachable!()
    };
    *min_requests = None;
    let (_, measured, run) = drive(&spec(vec![m.clone()]), 15, 3600, per_scrape);
    let notes: Vec<&str> = measured.iter().map(|m| m.note.as_str()).collect();
    assert!(notes[0].ends_with("→ Successful"), "{notes:#?}");
    assert!(notes[1].contains("no data") && notes[1].ends_with("→ Error"));
    assert_eq!(run.phase(), Successful);

    // Enough requests: the guard is silent.
    let Provider::Prometheus { min_requests, .. } = &mut m.provider else {
        unreachable!()
    };
    *min_requests = Some(100);
    let (_, _, run) = drive(&spec(vec![m]), 15, 3600, |_| Some((40, 0)));
    assert_eq!(run.phase(), Successful);
    assert_eq!(run.results().next().unwrap().successful, 3);
}

/// Issue 10 item 9: the run ends when every metric, dry-run ones included,
/// has ended; dry-run failures never change its phase; an all-dry-run
/// analysis is Successful.
#[test]
fn dry_run_metrics_finish_but_never_gate() {
    let mut shadow = prom("result >= 0.99");
    shadow.name = "shadow".into();
    shadow.dry_run = true;
    let mut gate = prom("result >= 0.5");
    gate.count = Some(2);
    let (phases, measured, run) = drive(&spec(vec![gate, shadow.clone()]), 60, 3600, |_| BAD);
    assert_eq!(
        phases,
        [(60, Running), (120, Successful)],
        "the dry-run metric ended Failed at 1 min without ending the run; the \
         gate passed at 2 min"
    );
    assert_eq!(measured.len(), 3, "{measured:#?}");
    let r: Vec<AnalysisPhase> = run.results().map(|r| r.phase).collect();
    assert_eq!(r, [Successful, Failed]);

    // A dry-run metric that is still measuring keeps the run going.
    let mut long = prom("result >= 0.5");
    long.name = "long".into();
    long.dry_run = true;
    long.count = Some(4);
    let mut gate = prom("result >= 0.5");
    gate.count = Some(2);
    let (phases, _, _) = drive(&spec(vec![gate, long]), 60, 3600, |_| BAD);
    assert_eq!(
        phases.iter().map(|p| p.1).collect::<Vec<_>>(),
        [Running, Running, Running, Successful]
    );

    // All dry-run: Successful however badly they measure.
    let mut other = shadow.clone();
    other.name = "other".into();
    let (phases, _, run) = drive(&spec(vec![shadow, other]), 60, 3600, |_| BAD);
    assert_eq!(phases, [(60, Successful)]);
    assert_eq!(
        run.results().map(|r| r.phase).collect::<Vec<_>>(),
        [Failed, Failed]
    );
}

/// A gating metric that ends Failed terminates the run at once: the other
/// metrics end Successful (Argo's `IsTerminating` → assessMetricStatus
/// with `terminating`), the run takes the failure.
#[test]
fn a_failed_gating_metric_terminates_the_run() {
    let mut slow = prom("result >= 0.5");
    slow.name = "slow".into();
    slow.count = Some(10);
    let fast = prom("result >= 0.99");
    let (phases, _, run) = drive(&spec(vec![slow, fast]), 60, 3600, |_| BAD);
    assert_eq!(phases, [(60, Failed)]);
    assert_eq!(
        run.results().map(|r| r.phase).collect::<Vec<_>>(),
        [Successful, Failed]
    );
}

// ---- whole scenarios -------------------------------------------------------------

fn dry_run_canary() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/analysis/dry-run-canary.toml"
    );
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn outcome(text: &str) -> (Outcome, Vec<String>) {
    let sc = Scenario::parse(text, "dry-run-canary.toml").unwrap_or_else(|e| panic!("{e}"));
    let rec = run(&sc, RunOptions::full(sc.seed));
    let notes = rec
        .events
        .iter()
        .filter(|e| e.reason.contains("verdict"))
        .map(|e| e.reason.clone())
        .collect();
    (rec.summary.outcome, notes)
}

/// Issue 10 item 9 end to end: a canary whose only analysis metric is
/// dry-run is not aborted by a version failing half its requests (before
/// the fix it rolled back); the same metric gating rolls it back.
#[test]
fn all_dry_run_analysis_never_aborts_a_canary() {
    let text = dry_run_canary();
    let (out, verdicts) = outcome(&text);
    assert_eq!(out, Outcome::Completed, "{verdicts:#?}");
    assert_eq!(verdicts.len(), 1);
    assert!(
        verdicts[0].starts_with("verdict Successful: success-rate [dry-run] Failed"),
        "{verdicts:#?}"
    );

    let gating = text.replace("dry_run = true", "dry_run = false");
    assert_ne!(gating, text);
    let (out, verdicts) = outcome(&gating);
    assert_eq!(out, Outcome::RolledBack, "{verdicts:#?}");
    assert!(verdicts[0].starts_with("verdict Failed"), "{verdicts:#?}");
}

/// The same for a blue-green post-promotion analysis: all dry-run, the
/// switch stands.
#[test]
fn all_dry_run_post_promotion_analysis_never_returns_traffic() {
    let text = dry_run_canary()
        .replace(
            "kind = \"canary\"\ntraffic_routing = true\nsteps = [{ set_weight = 20 }, { analysis = { template = \"shadow\" } }, { set_weight = 50 }]",
            "kind = \"blue-green\"\npost_promotion_analysis = { template = \"shadow\" }",
        )
        .replace("mode = \"in-place\"", "mode = \"replace\"\nprovision_time = \"1m\"");
    assert!(text.contains("blue-green"));
    let (out, verdicts) = outcome(&text);
    assert_eq!(out, Outcome::Completed, "{verdicts:#?}");
    let (out, _) = outcome(&text.replace("dry_run = true", "dry_run = false"));
    assert_eq!(out, Outcome::RolledBack);
}

/// New keys parse from a scenario and print back (`--print-resolved`).
#[test]
fn new_keys_round_trip_through_the_resolved_scenario() {
    let text = dry_run_canary().replace(
        "dry_run = true",
        "dry_run = true\nconsecutive_success_limit = 2\nmin_requests = 100",
    );
    let sc = Scenario::parse(&text, "x.toml").unwrap_or_else(|e| panic!("{e}"));
    let resolved = sc.to_toml();
    assert!(
        resolved.contains("consecutive_success_limit = 2")
            && resolved.contains("min_requests = 100"),
        "{resolved}"
    );
    assert_eq!(Scenario::parse(&resolved, "resolved").unwrap(), sc);
    // Defaults are not printed, so older resolved files stay as they were.
    let plain = Scenario::parse(&dry_run_canary(), "y.toml")
        .unwrap()
        .to_toml();
    assert!(!plain.contains("consecutive_success_limit") && !plain.contains("min_requests"));
}
