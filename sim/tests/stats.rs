//! Tests for `shakedown_sim::stats`:
//! (a) Mann-Whitney U agreement with SciPy on committed reference cases,
//! (b) hand-computed Hodges-Lehmann / interval / judge classification and
//!     scoring cases,
//! (c) CSV parse errors with their line and column.

use serde::Deserialize;
use shakedown_sim::stats::normal::ndtri;
use shakedown_sim::stats::{
    hodges_lehmann, judge, mann_whitney_u, parse_metric_csv, shift_estimate, Classification,
    Direction, JudgeConfig, JudgeReport, Method, MetricConfig, NanStrategy, OutlierStrategy,
    Verdict,
};
use std::collections::BTreeMap;

// ---------------------------------------------------------------------------
// (a) SciPy agreement
// ---------------------------------------------------------------------------

#[derive(Deserialize)]
struct ScipyFile {
    scipy_version: String,
    cases: Vec<ScipyCase>,
}

#[derive(Deserialize)]
struct ScipyCase {
    name: String,
    x: Vec<f64>,
    y: Vec<f64>,
    u1: f64,
    p_value: f64,
    method: String,
    hodges_lehmann: f64,
}

fn scipy_cases() -> ScipyFile {
    serde_json::from_str(include_str!("data/mannwhitney/cases.json")).expect("cases.json parses")
}

#[test]
fn mann_whitney_matches_scipy_defaults() {
    let file = scipy_cases();
    assert!(!file.scipy_version.is_empty());
    assert!(file.cases.len() >= 30, "need at least 30 reference cases");
    let mut exact = 0;
    let mut asymptotic = 0;
    for c in &file.cases {
        let got = mann_whitney_u(&c.x, &c.y);
        assert_eq!(got.u1, c.u1, "{}: U1", c.name);
        let err = (got.p_value - c.p_value).abs();
        assert!(
            err <= 1e-9,
            "{}: p {} vs scipy {} (|diff| {err:e})",
            c.name,
            got.p_value,
            c.p_value
        );
        // Far stricter than required: relative agreement even for tiny p.
        assert!(
            err <= 1e-12 * c.p_value.max(1e-300) || err <= 1e-15,
            "{}: p {} vs scipy {} (relative)",
            c.name,
            got.p_value,
            c.p_value
        );
        let want_method = match c.method.as_str() {
            "exact" => Method::Exact,
            "asymptotic" => Method::Asymptotic,
            other => panic!("{}: unknown method {other}", c.name),
        };
        assert_eq!(got.method, want_method, "{}: method", c.name);
        match got.method {
            Method::Exact => exact += 1,
            _ => asymptotic += 1,
        }
    }
    assert!(exact >= 10 && asymptotic >= 10, "both paths covered");
}

#[test]
fn hodges_lehmann_matches_numpy_median_of_differences() {
    for c in &scipy_cases().cases {
        let got = hodges_lehmann(&c.x, &c.y);
        let want = c.hodges_lehmann;
        assert!(
            (got - want).abs() <= 1e-12 * want.abs().max(1e-300),
            "{}: HL {got} vs numpy {want}",
            c.name
        );
    }
}

#[test]
fn mann_whitney_degenerate_inputs_follow_scipy_propagate() {
    let r = mann_whitney_u(&[], &[1.0, 2.0]);
    assert!(r.u1.is_nan() && r.p_value.is_nan());
    assert_eq!(r.method, Method::Undefined);
    let r = mann_whitney_u(&[1.0, f64::NAN], &[2.0, 3.0]);
    assert!(r.u1.is_nan() && r.p_value.is_nan());
    // Reported U is always that of the first sample; p is symmetric.
    let a = mann_whitney_u(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0, 7.0]);
    let b = mann_whitney_u(&[4.0, 5.0, 6.0, 7.0], &[1.0, 2.0, 3.0]);
    assert_eq!((a.u1, b.u1), (0.0, 12.0));
    assert_eq!(a.p_value, b.p_value);
}

// ---------------------------------------------------------------------------
// (b) Hodges-Lehmann and interval, by hand
// ---------------------------------------------------------------------------

#[test]
fn hodges_lehmann_hand_computed() {
    // differences 1, 2, 3 -> median 2
    assert_eq!(hodges_lehmann(&[1.0, 2.0, 3.0], &[0.0]), 2.0);
    // differences 9, 8, 19, 18 -> sorted 8 9 18 19 -> (9 + 18) / 2
    assert_eq!(hodges_lehmann(&[10.0, 20.0], &[1.0, 2.0]), 13.5);
    // sign convention: canary - baseline, so a lower canary is negative
    assert_eq!(hodges_lehmann(&[5.0], &[7.0]), -2.0);
    assert!(hodges_lehmann(&[], &[1.0]).is_nan());
    assert!(hodges_lehmann(&[f64::INFINITY], &[1.0]).is_nan());
}

#[test]
fn shift_interval_hand_computed_exact() {
    // canary 11..=15, baseline 1..=5: the 25 differences are 6..=14 with
    // multiplicities 1,2,3,4,5,4,3,2,1.  U for m = n = 5 (C(10,5) = 252
    // arrangements): P(U <= 4) = 12/252 < 0.05 <= P(U <= 5) = 19/252, so at
    // 90% q = 5 and the interval is [D(5), D(21)] = [8, 12]; HL = D(13) = 10.
    // (R: wilcox.test(11:15, 1:5, conf.int = TRUE, conf.level = 0.9).)
    let canary = [11.0, 12.0, 13.0, 14.0, 15.0];
    let baseline = [1.0, 2.0, 3.0, 4.0, 5.0];
    let s = shift_estimate(&canary, &baseline, 0.9);
    assert_eq!((s.lower, s.estimate, s.upper), (8.0, 10.0, 12.0));
}

#[test]
fn shift_interval_asymptotic_brackets_estimate() {
    let baseline = normalish(200, 100.0, 10.0);
    let canary = normalish(150, 105.0, 10.0);
    let s = shift_estimate(&canary, &baseline, 0.98);
    assert!(s.lower < s.estimate && s.estimate < s.upper);
    assert!((s.estimate - 5.0).abs() < 0.5, "HL {}", s.estimate);
    // Wider at a higher confidence.
    let w = shift_estimate(&canary, &baseline, 0.999);
    assert!(w.lower <= s.lower && w.upper >= s.upper);
}

// ---------------------------------------------------------------------------
// (b) Judge classification and scoring, by hand
// ---------------------------------------------------------------------------

/// n evenly spaced normal quantiles: a deterministic "normal sample".
fn normalish(n: usize, mean: f64, sd: f64) -> Vec<f64> {
    (0..n)
        .map(|i| mean + sd * ndtri((i as f64 + 0.5) / n as f64))
        .collect()
}

fn series(pairs: &[(&str, Vec<f64>)]) -> BTreeMap<String, Vec<f64>> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn metric(name: &str, group: &str) -> MetricConfig {
    MetricConfig::new(name, group)
}

fn run(config: &JudgeConfig, base: &[(&str, Vec<f64>)], can: &[(&str, Vec<f64>)]) -> JudgeReport {
    judge(config, &series(base), &series(can)).expect("valid config")
}

fn class_of(report: &JudgeReport, name: &str) -> Classification {
    report
        .metrics
        .iter()
        .find(|m| m.metric == name)
        .map(|m| m.classification)
        .expect("metric in report")
}

#[test]
fn clear_regression_is_high_and_fails() {
    let config = JudgeConfig::new(vec![metric("latency", "perf")]);
    let r = run(
        &config,
        &[("latency", normalish(100, 100.0, 10.0))],
        &[("latency", normalish(100, 130.0, 10.0))],
    );
    let m = &r.metrics[0];
    assert_eq!(m.classification, Classification::High, "{}", m.reason);
    assert_eq!((m.n_baseline, m.n_canary), (100, 100));
    let hl = m.hodges_lehmann.unwrap();
    assert!((hl - 30.0).abs() < 1e-9, "HL {hl}");
    assert!(m.ci_lower.unwrap() > 0.25 * hl);
    assert!(m.p_value.unwrap() < 1e-20);
    assert!(m.u.unwrap() > 5000.0, "canary U above n1 n2 / 2");
    assert!((m.mean_ratio.unwrap() - 1.3).abs() < 1e-9);
    assert!(!m.critical);
    assert_eq!(r.groups[0].score, 0.0);
    assert_eq!((r.score, r.verdict), (0.0, Verdict::Fail));
}

#[test]
fn clear_improvement_is_low_when_either_direction() {
    let config = JudgeConfig::new(vec![metric("latency", "perf")]);
    let r = run(
        &config,
        &[("latency", normalish(100, 100.0, 10.0))],
        &[("latency", normalish(100, 70.0, 10.0))],
    );
    assert_eq!(class_of(&r, "latency"), Classification::Low);
}

#[test]
fn identical_samples_pass_with_full_score() {
    let config = JudgeConfig::new(vec![metric("latency", "perf")]);
    let base = normalish(80, 100.0, 10.0);
    let mut can = base.clone();
    can.reverse();
    let r = run(&config, &[("latency", base)], &[("latency", can)]);
    let m = &r.metrics[0];
    assert_eq!(m.classification, Classification::Pass);
    assert!(m.reason.contains("identical"), "{}", m.reason);
    assert_eq!(m.p_value, Some(1.0));
    assert_eq!(m.hodges_lehmann, Some(0.0));
    assert_eq!((r.score, r.verdict), (100.0, Verdict::Pass));
}

#[test]
fn same_distribution_different_samples_pass() {
    let config = JudgeConfig::new(vec![metric("latency", "perf")]);
    let r = run(
        &config,
        &[("latency", normalish(100, 100.0, 10.0))],
        &[("latency", normalish(120, 100.0, 10.0))],
    );
    assert_eq!(class_of(&r, "latency"), Classification::Pass);
    assert_eq!(r.verdict, Verdict::Pass);
}

#[test]
fn decrease_is_a_pass_when_only_increase_matters() {
    let mut m = metric("latency", "perf");
    m.direction = Direction::Increase;
    let config = JudgeConfig::new(vec![m]);
    let r = run(
        &config,
        &[("latency", normalish(100, 100.0, 10.0))],
        &[("latency", normalish(100, 60.0, 10.0))],
    );
    let res = &r.metrics[0];
    assert_eq!(res.classification, Classification::Pass);
    assert!(res.hodges_lehmann.unwrap() < -30.0);
    assert!(res.reason.contains("only an increase"), "{}", res.reason);
    assert_eq!(r.score, 100.0);
}

#[test]
fn increase_below_allowed_effect_size_is_a_pass() {
    // Significant +10% shift, but allowed_increase = 1.2 (mean ratio).
    let mut m = metric("latency", "perf");
    m.allowed_increase = 1.2;
    let config = JudgeConfig::new(vec![m]);
    let r = run(
        &config,
        &[("latency", normalish(100, 100.0, 5.0))],
        &[("latency", normalish(100, 110.0, 5.0))],
    );
    let res = &r.metrics[0];
    assert_eq!(res.classification, Classification::Pass, "{}", res.reason);
    assert!(res.reason.contains("allowed_increase"), "{}", res.reason);
}

#[test]
fn different_constants_are_classified_without_noise() {
    let config = JudgeConfig::new(vec![metric("errors", "err")]);
    let r = run(
        &config,
        &[("errors", vec![5.0; 60])],
        &[("errors", vec![6.0; 60])],
    );
    let m = &r.metrics[0];
    assert_eq!(m.classification, Classification::High);
    assert_eq!((m.ci_lower, m.ci_upper), (Some(1.0), Some(1.0)));
    // same constant on both sides: Pass
    let r = run(
        &config,
        &[("errors", vec![0.0; 60])],
        &[("errors", vec![0.0; 70])],
    );
    assert_eq!(class_of(&r, "errors"), Classification::Pass);
}

#[test]
fn critical_failure_zeroes_the_score() {
    let mut crit = metric("error_rate", "errors");
    crit.critical = true;
    let config = JudgeConfig::new(vec![crit, metric("latency", "perf")]);
    let base = [
        ("error_rate", normalish(100, 1.0, 0.1)),
        ("latency", normalish(100, 100.0, 10.0)),
    ];
    let can = [
        ("error_rate", normalish(100, 2.0, 0.1)),
        ("latency", normalish(100, 100.0, 10.0)),
    ];
    let r = run(&config, &base, &can);
    let m = &r.metrics[0];
    assert_eq!(m.classification, Classification::High);
    assert!(m.critical);
    assert_eq!(class_of(&r, "latency"), Classification::Pass);
    // Without the critical flag this would be 50 (one of two equal groups).
    assert_eq!(r.score, 0.0);
    assert_eq!(r.verdict, Verdict::Fail);
    assert!(r.reason.as_deref().unwrap().contains("error_rate"));

    let mut non_critical = config.clone();
    non_critical.metrics[0].critical = false;
    let r = run(&non_critical, &base, &can);
    assert_eq!(r.score, 50.0);
    assert!(r.reason.is_none());
}

#[test]
fn group_weights_arithmetic() {
    // latency: weight 50, metrics Pass + High        -> group score 50
    // errors: unweighted, Pass                        -> 100
    // saturation: unweighted, High + Pass + Pass      -> 200/3
    // extra: unweighted, only Nodata                  -> no data, counts 100
    // The three unweighted groups share (100 - 50) / 3 each.
    // score = 50 * 0.50 + (100 + 200/3 + 100) * (50/3) / 100 = 69.444.. -> 69.44
    let mut config = JudgeConfig::new(vec![
        metric("lat_ok", "latency"),
        metric("lat_bad", "latency"),
        metric("err_ok", "errors"),
        metric("sat_bad", "saturation"),
        metric("sat_ok1", "saturation"),
        metric("sat_ok2", "saturation"),
        metric("missing", "extra"),
    ]);
    config.groups.insert("latency".into(), 50.0);
    let ok_b = normalish(100, 10.0, 1.0);
    let ok_c = normalish(90, 10.0, 1.0);
    let bad_c = normalish(100, 15.0, 1.0);
    let base: Vec<(&str, Vec<f64>)> = [
        "lat_ok", "lat_bad", "err_ok", "sat_bad", "sat_ok1", "sat_ok2",
    ]
    .iter()
    .map(|n| (*n, ok_b.clone()))
    .collect();
    let can = vec![
        ("lat_ok", ok_c.clone()),
        ("lat_bad", bad_c.clone()),
        ("err_ok", ok_c.clone()),
        ("sat_bad", bad_c.clone()),
        ("sat_ok1", ok_c.clone()),
        ("sat_ok2", ok_c.clone()),
    ];
    let r = run(&config, &base, &can);
    assert_eq!(class_of(&r, "lat_bad"), Classification::High);
    assert_eq!(class_of(&r, "sat_bad"), Classification::High);
    assert_eq!(class_of(&r, "missing"), Classification::Nodata);
    let g: BTreeMap<&str, (f64, f64, bool)> = r
        .groups
        .iter()
        .map(|g| (g.name.as_str(), (g.weight, g.score, g.no_data)))
        .collect();
    let third = 50.0 / 3.0;
    assert_eq!(g["latency"], (50.0, 50.0, false));
    assert_eq!(g["errors"], (third, 100.0, false));
    assert_eq!(g["saturation"].0, third);
    assert!((g["saturation"].1 - 200.0 / 3.0).abs() < 1e-12);
    assert_eq!(g["extra"], (third, 0.0, true));
    assert_eq!(r.score, 69.44);
    assert_eq!(r.verdict, Verdict::Fail);

    // The same score against other thresholds.
    config.marginal = 60.0;
    assert_eq!(run(&config, &base, &can).verdict, Verdict::Marginal);
    config.pass = 69.44;
    assert_eq!(run(&config, &base, &can).verdict, Verdict::Pass);
}

#[test]
fn min_sample_guard_makes_metrics_inconclusive() {
    // 20 samples per side with an obvious regression: not High, Inconclusive.
    let config = JudgeConfig::new(vec![
        metric("few", "a"),
        metric("ok1", "a"),
        metric("ok2", "b"),
    ]);
    let base = [
        ("few", normalish(20, 100.0, 10.0)),
        ("ok1", normalish(60, 1.0, 0.1)),
        ("ok2", normalish(60, 1.0, 0.1)),
    ];
    let can = [
        ("few", normalish(20, 200.0, 10.0)),
        ("ok1", normalish(60, 1.0, 0.1)),
        ("ok2", normalish(55, 1.0, 0.1)),
    ];
    let r = run(&config, &base, &can);
    let few = &r.metrics[0];
    assert_eq!(few.classification, Classification::Inconclusive);
    assert!(few.reason.contains("min_samples 50"), "{}", few.reason);
    assert!(few.p_value.is_some(), "statistics still reported");
    assert!(!few.critical);
    // Neither pass nor fail: left out of group `a`, whose score is 100.
    let a = r.groups.iter().find(|g| g.name == "a").unwrap();
    assert_eq!((a.score, a.inconclusive, a.pass), (100.0, 1, 1));
    assert_eq!((r.score, r.verdict), (100.0, Verdict::Pass));

    // Guard off: the same data is a High.
    let mut off = config.clone();
    off.min_samples = 0;
    assert_eq!(
        class_of(&run(&off, &base, &can), "few"),
        Classification::High
    );

    // Like Kayenta's Nodata: 50% or more of such metrics fails the canary...
    let mut two = config.clone();
    two.metrics.truncate(2);
    let r = run(&two, &base[..2], &can[..2]);
    assert_eq!((r.score, r.verdict), (0.0, Verdict::Fail));
    assert!(r.reason.as_deref().unwrap().contains("too few"));
    // ...and it is a critical failure on a critical metric.
    let mut crit = config.clone();
    crit.metrics[0].critical = true;
    let r = run(&crit, &base, &can);
    assert!(r.metrics[0].critical);
    assert_eq!(r.score, 0.0);
}

#[test]
fn nodata_handling_follows_kayenta() {
    let mut must = metric("must", "g");
    must.must_have_data = true;
    let mut replace = metric("replace", "g");
    replace.nan_strategy = NanStrategy::Replace;
    let config = JudgeConfig::new(vec![
        metric("ok", "g"),
        metric("ok2", "g"),
        must,
        metric("plain", "h"),
        replace,
    ]);
    let base = [
        ("ok", normalish(60, 5.0, 1.0)),
        ("ok2", normalish(60, 5.0, 1.0)),
        ("must", normalish(60, 5.0, 1.0)),
        ("plain", normalish(60, 5.0, 1.0)),
    ];
    let can = [
        ("ok", normalish(60, 5.0, 1.0)),
        ("ok2", normalish(60, 5.0, 1.0)),
        ("must", vec![f64::NAN; 60]), // all NaN, removed -> no data
    ];
    let r = run(&config, &base, &can);
    assert_eq!(class_of(&r, "must"), Classification::NodataFailure);
    assert_eq!(class_of(&r, "plain"), Classification::Nodata);
    assert_eq!(class_of(&r, "replace"), Classification::Pass);
    // group g: 3 Pass (ok, ok2, replace) of 4 scored (NodataFailure counts) = 75
    // group h: only Nodata -> counts as 100; equal weights -> 87.5
    let g = r.groups.iter().find(|g| g.name == "g").unwrap();
    assert_eq!((g.score, g.nodata_failure), (75.0, 1));
    assert_eq!(r.score, 87.5);
    assert_eq!(r.verdict, Verdict::Marginal);
}

#[test]
fn nan_strategy_and_outlier_removal_change_the_sample() {
    // Issue 10 item 13: Kayenta keeps outliers unless a metric sets
    // `outliers.strategy = remove` (spinnaker/kayenta NetflixACAJudge.scala,
    // OutlierStrategy in BaseMetricClassifier.scala, commit a69573be9d8f).
    let mut replace = metric("r", "g");
    replace.nan_strategy = NanStrategy::Replace;
    let mut remove = metric("m_remove", "g");
    remove.outlier_strategy = OutlierStrategy::Remove;
    let mut replace_remove = replace.clone();
    replace_remove.name = "r_remove".into();
    replace_remove.outlier_strategy = OutlierStrategy::Remove;
    let mut tight = remove.clone();
    tight.name = "m_tight".into();
    tight.outlier_factor = Some(1e-9);
    let config = JudgeConfig::new(vec![
        metric("m", "g"),
        replace,
        remove,
        replace_remove,
        tight,
    ]);
    let mut b = normalish(100, 50.0, 5.0);
    b.push(f64::NAN);
    let mut c = normalish(100, 50.0, 5.0);
    c.push(1e6); // a far outlier
    let names = ["m", "r", "m_remove", "r_remove", "m_tight"];
    let base: Vec<_> = names.iter().map(|n| (*n, b.clone())).collect();
    let can: Vec<_> = names.iter().map(|n| (*n, c.clone())).collect();
    let r = run(&config, &base, &can);
    let sizes = |name: &str| {
        let m = r.metrics.iter().find(|m| m.metric == name).unwrap();
        (m.n_baseline, m.n_canary)
    };
    // keep (default): the NaN goes (nan_strategy = remove), the outlier stays.
    assert_eq!(sizes("m"), (100, 101));
    // replace keeps the NaN as 0.0, and keep keeps it.
    assert_eq!(sizes("r"), (101, 101));
    // remove: the IQR detector drops the far value, and the 0.0 too.
    assert_eq!(sizes("m_remove"), (100, 100));
    assert_eq!(sizes("r_remove"), (100, 100));
    // A metric's own factor overrides the judge's: with f ~ 0 only the
    // P1..P99 band survives.
    let (tb, tc) = sizes("m_tight");
    assert!(tb < 100 && tc < 100, "{tb} {tc}");
}

#[test]
fn missing_series_and_unconfigured_series() {
    let config = JudgeConfig::new(vec![metric("a", "g"), metric("b", "g"), metric("c", "g")]);
    let base = [
        ("a", normalish(60, 1.0, 0.1)),
        ("b", normalish(60, 1.0, 0.1)),
        ("c", normalish(60, 1.0, 0.1)),
        ("zzz", vec![1.0]),
    ];
    let can = [
        ("a", normalish(60, 1.0, 0.1)),
        ("b", normalish(60, 1.0, 0.1)),
    ];
    let r = run(&config, &base, &can);
    assert_eq!(class_of(&r, "c"), Classification::Nodata);
    assert_eq!(r.ignored_series, vec!["zzz".to_string()]);
    assert_eq!(r.score, 100.0);
}

#[test]
fn config_from_toml_defaults_and_validation() {
    let config = JudgeConfig::from_toml_str(
        r#"
        [groups]
        latency = 70

        [[metrics]]
        name = "p99"
        group = "latency"
        direction = "increase"
        critical = true

        [[metrics]]
        name = "errors"
        group = "errors"
        allowed_increase = 1.5
        nan_strategy = "replace"
        "#,
    )
    .unwrap();
    assert_eq!(config.marginal, 75.0);
    assert_eq!(config.pass, 95.0);
    assert_eq!(config.confidence, 0.98);
    assert_eq!(config.tolerance, 0.25);
    assert_eq!(config.outlier_factor, 3.0);
    assert_eq!(config.min_samples, 50);
    assert_eq!(config.metrics[0].direction, Direction::Increase);
    assert!(config.metrics[0].critical);
    assert_eq!(config.metrics[1].direction, Direction::Either);
    assert_eq!(config.metrics[1].allowed_decrease, 1.0);
    assert_eq!(config.metrics[1].nan_strategy, NanStrategy::Replace);
    assert_eq!(config.metrics[0].outlier_strategy, OutlierStrategy::Keep);
    assert_eq!(config.metrics[0].outlier_factor, None);
    let removing = JudgeConfig::from_toml_str(
        "[[metrics]]\nname = \"m\"\ngroup = \"g\"\noutlier_strategy = \"remove\"\noutlier_factor = 1.5\n",
    )
    .unwrap();
    assert_eq!(
        removing.metrics[0].outlier_strategy,
        OutlierStrategy::Remove
    );
    assert_eq!(removing.metrics[0].outlier_factor, Some(1.5));
    assert_eq!(config.group_weights()["errors"], 30.0);

    let bad = |text: &str| JudgeConfig::from_toml_str(text).unwrap_err().message;
    let one = "[[metrics]]\nname = \"m\"\ngroup = \"g\"\n";
    assert!(bad(&format!("typo = 1\n{one}")).contains("typo"));
    assert!(bad(&format!("{one}colour = \"red\"\n")).contains("colour"));
    assert!(bad("marginal = 75\n").contains("metrics"));
    assert!(bad(&format!("marginal = 96\n{one}")).contains("marginal <= pass"));
    assert!(bad(&format!("confidence = 1.0\n{one}")).contains("confidence"));
    assert!(bad(&format!("outlier_factor = 0\n{one}")).contains("outlier_factor"));
    assert!(bad(&format!("[groups]\ng = 90\n\n{one}")).contains("sum to 100"));
    assert!(bad(&format!("[groups]\nother = 10\n\n{one}")).contains("no metric"));
    assert!(bad(&format!("{one}{one}")).contains("twice"));
    assert!(bad(&format!("{one}direction = \"up\"\n")).contains("up"));
    assert!(bad(&format!("{one}outlier_strategy = \"trim\"\n")).contains("trim"));
    assert!(bad(&format!("{one}outlier_factor = -1\n")).contains("outlier_factor"));
}

#[test]
fn report_serializes_to_json() {
    let config = JudgeConfig::new(vec![metric("latency", "perf")]);
    let r = run(
        &config,
        &[("latency", normalish(100, 100.0, 10.0))],
        &[("latency", normalish(100, 130.0, 10.0))],
    );
    let v = serde_json::to_value(&r).unwrap();
    let m = &v["metrics"][0];
    for key in [
        "metric",
        "group",
        "n_baseline",
        "n_canary",
        "u",
        "p_value",
        "hodges_lehmann",
        "classification",
        "reason",
    ] {
        assert!(m.get(key).is_some(), "missing {key}");
    }
    assert_eq!(m["classification"], "high");
    assert_eq!(v["verdict"], "fail");
    assert_eq!(v["score"], 0.0);
    assert_eq!(v["groups"][0]["name"], "perf");
}

#[test]
fn judge_is_deterministic() {
    let config = JudgeConfig::new(vec![metric("a", "g"), metric("b", "h")]);
    let base = [
        ("a", normalish(70, 3.0, 1.0)),
        ("b", normalish(90, 9.0, 2.0)),
    ];
    let can = [
        ("a", normalish(75, 3.4, 1.0)),
        ("b", normalish(65, 8.0, 2.0)),
    ];
    let one = serde_json::to_string(&run(&config, &base, &can)).unwrap();
    let two = serde_json::to_string(&run(&config, &base, &can)).unwrap();
    assert_eq!(one, two);
}

// ---------------------------------------------------------------------------
// (c) CSV
// ---------------------------------------------------------------------------

#[test]
fn csv_parses_samples_in_order() {
    let text = "metric,value\nlatency,12.5\nerrors,0\nlatency, 13 \nlatency,1e-3\n";
    let m = parse_metric_csv(text).unwrap();
    assert_eq!(m["latency"], vec![12.5, 13.0, 0.001]);
    assert_eq!(m["errors"], vec![0.0]);
    // CRLF, BOM, no final newline, header only
    let m = parse_metric_csv("\u{feff}metric,value\r\na,1\r\na,-2").unwrap();
    assert_eq!(m["a"], vec![1.0, -2.0]);
    assert!(parse_metric_csv("metric,value\n").unwrap().is_empty());
}

fn csv_err(text: &str) -> (usize, usize, String, String) {
    let e = parse_metric_csv(text).unwrap_err();
    (e.line, e.column, e.field, e.message)
}

#[test]
fn csv_errors_name_line_and_column() {
    let (l, c, f, msg) = csv_err("");
    assert_eq!((l, c, f.as_str()), (1, 1, ""));
    assert!(msg.contains("empty input") && msg.contains("metric,value"));

    let (l, c, f, msg) = csv_err("metric,Value\na,1\n");
    assert_eq!((l, c, f.as_str()), (1, 2, "Value"));
    assert!(msg.contains("exactly `metric,value`"));

    let (l, c, f, _) = csv_err("name,value\n");
    assert_eq!((l, c, f.as_str()), (1, 1, "name"));

    let (l, c, _, _) = csv_err("metric\n");
    assert_eq!((l, c), (1, 2));

    let (l, c, f, _) = csv_err("metric,value,unit\n");
    assert_eq!((l, c, f.as_str()), (1, 3, "unit"));

    let (l, c, f, msg) = csv_err("metric,value\na,1\nb\n");
    assert_eq!((l, c, f.as_str()), (3, 2, ""));
    assert!(msg.contains("missing column 2"));

    let (l, c, f, msg) = csv_err("metric,value\na,1\na,fast\n");
    assert_eq!((l, c, f.as_str()), (3, 2, "fast"));
    assert!(msg.contains("not a number") && msg.contains("finite decimal number"));

    let (l, c, f, msg) = csv_err("metric,value\na,NaN\n");
    assert_eq!((l, c, f.as_str()), (2, 2, "NaN"));
    assert!(msg.contains("NaN is not allowed"));

    let (l, c, f, msg) = csv_err("metric,value\na,1\na,-inf\n");
    assert_eq!((l, c, f.as_str()), (3, 2, "-inf"));
    assert!(msg.contains("infinite"));

    let (l, c, f, msg) = csv_err("metric,value\na,1\na,2,3\n");
    assert_eq!((l, c, f.as_str()), (3, 3, "3"));
    assert!(msg.contains("too many columns"));

    let (l, c, _, msg) = csv_err("metric,value\na,1\n\na,2\n");
    assert_eq!((l, c), (3, 1));
    assert!(msg.contains("blank line"));

    let (l, c, _, msg) = csv_err("metric,value\n,4\n");
    assert_eq!((l, c), (2, 1));
    assert!(msg.contains("empty metric name"));

    let (l, c, _, msg) = csv_err("metric,value\na,\n");
    assert_eq!((l, c), (2, 2));
    assert!(msg.contains("empty value"));

    let (l, c, _, msg) = csv_err("metric,value\n\"a\",1\n");
    assert_eq!((l, c), (2, 1));
    assert!(msg.contains("quotes"));

    let e = parse_metric_csv("metric,value\na,x\n").unwrap_err();
    assert!(e
        .to_string()
        .starts_with("line 2, column 2 (\"x\"): not a number"));
}
