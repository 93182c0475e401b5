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
    assert_eq!(all.len(), 3, "one file per reported counterexample");
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
