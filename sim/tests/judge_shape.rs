//! The shape judge (`provider = "shape"`, not Kayenta's) against the
//! regressions Kayenta's users reported passing the Mann-Whitney judge
//! (`tests/data/judge-counterexamples/`, each with its source issue), and
//! its false-fail rate on exchangeable samples of one distribution.
#![allow(clippy::disallowed_methods)] // tests read their data files

use serde::Deserialize;
use shakedown_sim::rng::{Rng, Streams};
use shakedown_sim::stats::{
    judge, judge_shape, Classification, Direction, JudgeConfig, MetricConfig, NanStrategy,
    SeriesKind, ShapeOptions, ShapeSeries,
};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    source: String,
    what: String,
    kind: SeriesKind,
    direction: Direction,
    nan_strategy: Option<NanStrategy>,
    kayenta: String,
    shape: String,
    #[allow(dead_code)]
    note: Option<String>,
    canary: Vec<f64>,
    baseline: Vec<f64>,
}

fn config(case: &Case) -> JudgeConfig {
    let mut m = MetricConfig::new("metric", "group");
    m.direction = case.direction;
    m.nan_strategy = case.nan_strategy.unwrap_or_default();
    let mut c = JudgeConfig::new(vec![m]);
    // The issues ran the classifier on a handful of samples, without
    // shakedown's 50-sample guard.
    c.min_samples = 0;
    c
}

fn cases() -> Vec<(String, Case)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/judge-counterexamples");
    let mut out: Vec<(String, Case)> = std::fs::read_dir(&dir)
        .expect("the counterexamples directory")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let case: Case =
                toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p.file_name().unwrap().to_string_lossy().into_owned(), case)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn class(s: &str) -> Classification {
    match s {
        "Pass" => Classification::Pass,
        "High" => Classification::High,
        "Low" => Classification::Low,
        o => panic!("unexpected classification {o}"),
    }
}

#[test]
fn counterexamples_kayenta_passes_and_the_shape_judge_catches() {
    let all = cases();
    assert_eq!(all.len(), 4, "one file per reported counterexample");
    for (file, case) in &all {
        assert!(
            case.source.starts_with("https://github.com/spinnaker/"),
            "{file}"
        );
        let cfg = config(case);
        let b = BTreeMap::from([("metric".to_string(), case.baseline.clone())]);
        let c = BTreeMap::from([("metric".to_string(), case.canary.clone())]);
        let k = judge(&cfg, &b, &c).unwrap();
        assert_eq!(
            k.metrics[0].classification,
            class(&case.kayenta),
            "{file} ({}): Kayenta's judge: {}",
            case.what,
            k.metrics[0].reason
        );
        // NaN handling is the judge's: replace → 0 before the shape tests.
        let clean = |v: &[f64]| -> Vec<f64> {
            match case.nan_strategy.unwrap_or_default() {
                NanStrategy::Replace => v
                    .iter()
                    .map(|x| if x.is_finite() { *x } else { 0.0 })
                    .collect(),
                NanStrategy::Remove => v.iter().copied().filter(|x| x.is_finite()).collect(),
            }
        };
        let series = BTreeMap::from([(
            "metric".to_string(),
            ShapeSeries::samples(case.kind, clean(&case.baseline), clean(&case.canary)),
        )]);
        let s = judge_shape(&cfg, &ShapeOptions::default(), &series).unwrap();
        assert_eq!(
            s.metrics[0].classification,
            class(&case.shape),
            "{file} ({}): shape judge: {}",
            case.what,
            s.metrics[0].reason
        );
        if class(&case.shape) != Classification::Pass {
            assert_eq!(s.score, 0.0, "{file}: one failing metric of one scores 0");
        }
    }
}

/// A good version: canary and baseline drawn from one distribution. The
/// shape judge's per-metric false-fail rate must stay within its alpha
/// (1 − confidence = 0.02), checked with the upper end of the exact 99.9 %
/// interval of the Monte Carlo rate.
fn false_fail_rate(
    kind: SeriesKind,
    draw: &mut dyn FnMut(&mut Rng) -> f64,
    n: usize,
) -> (u64, u64) {
    let mut m = MetricConfig::new("metric", "group");
    m.direction = Direction::Either;
    let cfg = JudgeConfig::new(vec![m]);
    let mut rng = Streams::new(2026).stream("judge-shape");
    let reps = 600u64;
    let mut fails = 0;
    for _ in 0..reps {
        let b: Vec<f64> = (0..n).map(|_| draw(&mut rng)).collect();
        let c: Vec<f64> = (0..n).map(|_| draw(&mut rng)).collect();
        let series = BTreeMap::from([("metric".to_string(), ShapeSeries::samples(kind, b, c))]);
        let r = judge_shape(&cfg, &ShapeOptions::default(), &series).unwrap();
        if r.metrics[0].classification != Classification::Pass {
            fails += 1;
        }
    }
    (fails, reps)
}

/// The lower end of the exact (Clopper-Pearson) 99.9 % interval of `k / n`:
/// a rate whose interval starts above alpha would refute the claim.
fn lower_999(k: u64, n: u64) -> f64 {
    if k == 0 {
        return 0.0;
    }
    // P(X ≥ k | p) = 0.0005, by bisection on the monotone tail.
    let (mut lo, mut hi) = (0.0f64, k as f64 / n as f64);
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if shakedown_sim::stats::exact::binomial_sf(k, n, mid) < 0.0005 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

#[test]
fn a_good_version_fails_at_most_alpha_of_the_time() {
    let lognormal = &mut |r: &mut Rng| (3.0 + 0.5 * r.normal()).exp();
    let counts = &mut |r: &mut Rng| r.poisson(0.3) as f64;
    let paired = &mut |r: &mut Rng| (4.0 + 0.2 * r.normal()).exp();
    type Draw<'a> = &'a mut dyn FnMut(&mut Rng) -> f64;
    let draws: [(SeriesKind, Draw); 3] = [
        (SeriesKind::Distribution, lognormal),
        (SeriesKind::Rate, counts),
        (SeriesKind::Paired, paired),
    ];
    for (kind, draw) in draws {
        let (k, n) = false_fail_rate(kind, draw, 50);
        assert!(
            lower_999(k, n) <= 0.02,
            "{kind:?}: {k}/{n} false fails; the 99.9 % interval starts at {} > alpha 0.02",
            lower_999(k, n)
        );
    }
}

/// Power against a plain shift, so the false-fail test above cannot be met
/// by a judge that never fails.
#[test]
fn a_shift_is_detected() {
    let mut m = MetricConfig::new("metric", "group");
    m.direction = Direction::Increase;
    let cfg = JudgeConfig::new(vec![m]);
    let mut rng = Streams::new(7).stream("judge-shape");
    let b: Vec<f64> = (0..50).map(|_| (3.0 + 0.5 * rng.normal()).exp()).collect();
    let c: Vec<f64> = (0..50).map(|_| (3.5 + 0.5 * rng.normal()).exp()).collect();
    for kind in [SeriesKind::Distribution, SeriesKind::Paired] {
        let series = BTreeMap::from([(
            "metric".to_string(),
            ShapeSeries::samples(kind, b.clone(), c.clone()),
        )]);
        let r = judge_shape(&cfg, &ShapeOptions::default(), &series).unwrap();
        assert_eq!(
            r.metrics[0].classification,
            Classification::High,
            "{kind:?}: {}",
            r.metrics[0].reason
        );
    }
}

#[test]
fn a_variance_increase_with_enough_samples_is_high() {
    // kayenta#780's shape with 100 samples a side: same median, the canary's
    // spread three times the baseline's. Mann-Whitney sees no shift; the
    // upper tail does.
    let mut rng = Streams::new(780).stream("judge-shape");
    let b: Vec<f64> = (0..100).map(|_| 100.0 + 5.0 * rng.normal()).collect();
    let c: Vec<f64> = (0..100).map(|_| 100.0 + 15.0 * rng.normal()).collect();
    let mut m = MetricConfig::new("metric", "group");
    m.direction = Direction::Increase;
    let cfg = JudgeConfig::new(vec![m]);
    let k = judge(
        &cfg,
        &BTreeMap::from([("metric".to_string(), b.clone())]),
        &BTreeMap::from([("metric".to_string(), c.clone())]),
    )
    .unwrap();
    assert_eq!(
        k.metrics[0].classification,
        Classification::Pass,
        "{}",
        k.metrics[0].reason
    );
    let s = judge_shape(
        &cfg,
        &ShapeOptions::default(),
        &BTreeMap::from([(
            "metric".to_string(),
            ShapeSeries::samples(SeriesKind::Distribution, b, c),
        )]),
    )
    .unwrap();
    assert_eq!(
        s.metrics[0].classification,
        Classification::High,
        "{}",
        s.metrics[0].reason
    );
}

/// SciPy's `TestAndersonKSamp` values (scipy/scipy
/// `scipy/stats/tests/test_morestats.py` at
/// 0008381d858052843081ab376eb51f46deee3f9e): Scholz & Stephens' example 1
/// (Lehmann's four samples) and the R kSamples cases on 1..100 against a
/// shifted copy: (samples, midrank, statistic, its decimals, p, p tolerance).
#[test]
fn anderson_darling_matches_scipys_test_values() {
    use shakedown_sim::stats::anderson_ksamp;
    let t1 = [38.7, 41.5, 43.8, 44.5, 45.5, 46.0, 47.7, 58.0];
    let t2 = [39.2, 39.3, 39.7, 41.4, 41.8, 42.9, 43.3, 45.8];
    let t3 = [34.0, 35.0, 39.0, 40.0, 43.0, 43.0, 44.0, 45.0];
    let t4 = [34.0, 34.8, 34.8, 35.4, 37.2, 37.8, 41.2, 42.8];
    let four: [&[f64]; 4] = [&t1, &t2, &t3, &t4];
    for (midrank, stat, p) in [(false, 4.449, 0.0021), (true, 4.480, 0.0020)] {
        let r = anderson_ksamp(&four, midrank).unwrap();
        assert!(
            (r.statistic - stat).abs() < 0.5e-3,
            "example 1 midrank {midrank}: {}",
            r.statistic
        );
        assert!(
            (r.p - p).abs() <= 0.00025,
            "example 1 midrank {midrank}: p {}",
            r.p
        );
        for (c, want) in r
            .critical
            .iter()
            .zip([0.4985, 1.3237, 1.9158, 2.4930, 3.2459])
        {
            assert!((c - want).abs() < 0.5e-4, "critical {c} vs {want}");
        }
    }
    let x1: Vec<f64> = (1..=100).map(f64::from).collect();
    let shifted = |d: f64| -> Vec<f64> { x1.iter().map(|x| x + d).collect() };
    for (d, midrank, stat, decimals, p, tol) in [
        (40.5, false, 41.105, 3, 0.001, 0.0),
        (40.5, true, 41.235, 3, 0.001, 0.0),
        (0.5, false, -1.2824, 4, 0.25, 0.0),
        (0.5, true, -1.2944, 4, 0.25, 0.0),
        (7.5, false, 1.4923, 4, 0.0775, 0.005),
        (6.0, true, 0.6389, 4, 0.1798, 0.005),
        (11.5, false, 4.5042, 4, 0.00545, 0.0005),
        (13.5, false, 6.2982, 4, 0.00118, 0.0001),
    ] {
        let y = shifted(d);
        let r = anderson_ksamp(&[&x1, &y], midrank).unwrap();
        let half = 0.5 * 10f64.powi(-decimals);
        assert!(
            (r.statistic - stat).abs() < half,
            "1..100 vs +{d} midrank {midrank}: {} vs {stat}",
            r.statistic
        );
        assert!(
            (r.p - p).abs() <= tol + 1e-12,
            "1..100 vs +{d}: p {} vs {p}",
            r.p
        );
    }
    // SciPy's ValueErrors: fewer than two samples, an empty one, one value.
    assert!(anderson_ksamp(&[&x1], true).is_none());
    assert!(anderson_ksamp(&[&x1, &[]], true).is_none());
    assert!(anderson_ksamp(&[&[1.0; 5], &[1.0; 5]], true).is_none());
}

#[test]
fn anderson_darling_on_kayenta_780s_published_case() {
    // kayenta#780 case 1 (15 a side, its own data file): where KS gives
    // D = 7/15 (p ≈ 0.08), Anderson-Darling's whole-distribution weighting
    // puts it between the 2.5 % and 1 % critical values (p ≈ 0.016): still
    // above the shape judge's 0.01 per tail, so adding the test to the judge
    // would not turn this case (docs/CALIBRATE.md); 50 samples a side do.
    let (_, case) = cases()
        .into_iter()
        .find(|(f, _)| f == "kayenta-780-increase-in-variability.toml")
        .unwrap();
    let r = shakedown_sim::stats::anderson_ksamp(&[&case.canary, &case.baseline], true).unwrap();
    assert!((r.statistic - 3.2135).abs() < 1e-3, "{}", r.statistic);
    assert!(r.statistic > r.critical[3] && r.statistic < r.critical[4]);
    assert!((0.01..0.025).contains(&r.p), "{}", r.p);
    // The constructed bimodal case (50 a side) is far past the table.
    let (_, bimodal) = cases()
        .into_iter()
        .find(|(f, _)| f == "kayenta-780-bimodal-latency.toml")
        .unwrap();
    let r =
        shakedown_sim::stats::anderson_ksamp(&[&bimodal.canary, &bimodal.baseline], true).unwrap();
    assert_eq!(r.p, 0.001, "floored, as SciPy floors it: {}", r.statistic);
}
