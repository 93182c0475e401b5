//! The calibration lab (`shakedown_sim::experiment::calibrate`): its power
//! calculator against closed forms, its Monte Carlo detection rates against
//! the exact binomial answer on a constant-traffic world, and the shape
//! judge against Kayenta's on the same worlds.
#![allow(clippy::disallowed_methods)] // tests read their scenario files

use shakedown_sim::experiment::calibrate::{
    self as cal, Cell, Detection, Injection, RegressionKind,
};
use shakedown_sim::stats::exact::{binomial_cdf, binomial_sf};
use shakedown_sim::{run, RunOptions, Scenario};
use std::path::Path;

fn load(name: &str) -> Scenario {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/calibrate")
        .join(name);
    let text = std::fs::read_to_string(&p).unwrap();
    Scenario::parse(&text, &p.display().to_string()).unwrap()
}

/// Runs the lab on `seeds` for `injections`, as the CLI does (one thread).
fn lab(
    sc: &Scenario,
    injections: &[Injection],
    seeds: std::ops::Range<u64>,
) -> (Vec<cal::MetricKey>, Vec<(usize, Vec<Detection>)>) {
    let (prepared, keys) = cal::prepare(sc, true).unwrap();
    let mut per_run = Vec::new();
    for seed in seeds {
        for (i, inj) in injections.iter().enumerate() {
            let v = cal::inject(&prepared, inj);
            let opts = RunOptions {
                record_ticks: false,
                ..RunOptions::full(seed)
            };
            per_run.push((i, cal::detections(&run(&v, opts), &keys)));
        }
    }
    (keys, per_run)
}

fn err(size: f64) -> Injection {
    Injection {
        kind: RegressionKind::ErrorRate,
        size,
        endpoint: None,
    }
}

#[test]
fn power_calculator_matches_the_closed_form_without_baseline_errors() {
    // p0 = 0: any error fails the canary (critical count 1, false-fail 0),
    // and the power is 1 − (1 − x)^n, so n = ⌈ln(1 − target) / ln(1 − x)⌉.
    for (x, target) in [(0.001, 0.95), (0.01, 0.9), (0.0002, 0.99)] {
        let n = cal::min_requests(0.0, x, 0.01, target).unwrap();
        let closed = ((1.0f64 - target).ln() / (1.0f64 - x).ln()).ceil() as u64;
        assert_eq!(n, closed, "x {x}, target {target}");
        assert_eq!(cal::binomial_power(n, 0.0, x, 0.01).0, 1);
    }
    // On constant traffic the time is requests / (weight × rps).
    let sc = load("constant-error-count.toml");
    let plan = cal::power_plan(&sc, 0.001, 0.01, 0.95, &[5.0, 50.0], &[0.0]);
    let n = ((0.05f64).ln() / (0.999f64).ln()).ceil();
    assert_eq!(plan.requests, Some(n as u64));
    for r in &plan.rows {
        let expect = n / (r.weight_pct / 100.0 * 200.0);
        let got = r.duration_s.unwrap();
        assert!((got - expect).abs() < 1e-6 * expect, "{got} vs {expect}");
    }
}

#[test]
fn power_calculator_is_the_exact_binomial_test_with_baseline_errors() {
    let (p0, p1, alpha, target) = (0.002, 0.004, 0.01, 0.9);
    let n = cal::min_requests(p0, p1, alpha, target).unwrap();
    let (c, power) = cal::binomial_power(n, p0, p1, alpha);
    // c is the smallest count whose tail under p0 is within alpha ...
    assert!(binomial_sf(c, n, p0) <= alpha);
    assert!(binomial_sf(c - 1, n, p0) > alpha);
    // ... the power at n reaches the target, one request fewer does not.
    assert!((power - (1.0 - binomial_cdf(c - 1, n, p1))).abs() < 1e-12);
    assert!(power >= target);
    assert!(cal::binomial_power(n - 1, p0, p1, alpha).1 < target);
}

#[test]
fn a_canary_at_night_is_blind() {
    // The diurnal curve: the same canary needs longer at the trough.
    let sc = load("judges.toml");
    let mut night = sc.clone();
    night.traffic = shakedown_sim::Scenario::parse(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/calibrate/judges.toml"),
        )
        .unwrap()
        .replace(
            "curve = \"constant\"\nrps = 2000",
            "curve = \"diurnal\"\npeak_rps = 2000\npeak_hour = 20\ntrough_ratio = 0.05",
        ),
        "judges-diurnal",
    )
    .unwrap()
    .traffic;
    let plan = cal::power_plan(
        &night,
        0.0005,
        0.01,
        0.95,
        &[5.0],
        &[0.0, 8.0 * 3600.0, 20.0 * 3600.0],
    );
    let d: Vec<f64> = plan.rows.iter().map(|r| r.duration_s.unwrap()).collect();
    let peak = plan
        .rows
        .iter()
        .position(|r| (r.start_hour_utc - 20.0).abs() < 1e-9)
        .unwrap();
    assert!(
        d.iter().all(|x| d[peak] <= *x),
        "the peak start is the fastest: {d:?}"
    );
    assert!(
        d.iter().cloned().fold(0.0, f64::max) > 2.0 * d[peak],
        "{d:?}"
    );
}

#[test]
fn detection_rates_match_the_exact_binomial_on_constant_traffic() {
    // One measurement of the error count over the window: it fails when
    // Binomial(N, x) > 3, N the window's requests (in the audit row).
    let sc = load("constant-error-count.toml");
    let injections = [err(0.0), err(0.0001), err(0.0002)];
    let (keys, per_run) = lab(&sc, &injections, 1..61);
    assert_eq!(keys.len(), 1);
    for (i, inj) in injections.iter().enumerate() {
        let runs: Vec<&Detection> = per_run
            .iter()
            .filter(|(j, _)| *j == i)
            .map(|(_, d)| &d[0])
            .collect();
        let detected = runs.iter().filter(|d| d.detected_after_s.is_some()).count() as f64;
        // The exact probability of each run given its N; their sum and
        // variance (a Poisson-binomial) bound the count.
        let ps: Vec<f64> = runs
            .iter()
            .map(|d| {
                let n = d.traffic_per_measurement.unwrap().round() as u64;
                assert_eq!(d.measurements, 1);
                binomial_sf(4, n, inj.size)
            })
            .collect();
        let mean: f64 = ps.iter().sum();
        let sd = ps.iter().map(|p| p * (1.0 - p)).sum::<f64>().sqrt();
        assert!(
            (detected - mean).abs() <= 4.0 * sd + 1e-9,
            "size {}: {detected} detected, exact expectation {mean} ± {sd}",
            inj.size
        );
        if inj.size == 0.0 {
            assert_eq!(detected, 0.0, "no baseline errors: no false fails");
        } else {
            assert!(mean > 5.0, "an informative case");
        }
    }
}

fn cell<'a>(cells: &'a [Cell], metric: &str, size: f64) -> &'a Cell {
    cells
        .iter()
        .find(|c| c.metric == metric && c.size == size && c.kind == RegressionKind::ErrorRate)
        .unwrap()
}

#[test]
fn the_shape_judge_fails_good_versions_no_more_often_and_catches_more() {
    let sc = load("judges.toml");
    let injections = [err(0.0), err(0.0005)];
    let (keys, per_run) = lab(&sc, &injections, 1..121);
    let ids: Vec<&str> = keys.iter().map(|k| k.id.as_str()).collect();
    assert_eq!(ids, ["gate/success-rate", "gate/judge", "gate/judge~shape"]);
    let cells = cal::cells(&keys, &injections, &per_run);
    let (k0, s0) = (
        cell(&cells, "gate/judge", 0.0),
        cell(&cells, "gate/judge~shape", 0.0),
    );
    // False fails: the shape judge's rate is not above Kayenta's (their
    // Clopper-Pearson intervals overlap), and within its own alpha (1 %).
    assert!(
        s0.ci_low.unwrap() <= k0.ci_high.unwrap(),
        "{s0:?} vs {k0:?}"
    );
    assert!(s0.ci_low.unwrap() <= 0.01, "{s0:?}");
    // Detection of a +0.05 % error rate: the intervals do not overlap.
    let (k1, s1) = (
        cell(&cells, "gate/judge", 0.0005),
        cell(&cells, "gate/judge~shape", 0.0005),
    );
    assert!(s1.ci_low.unwrap() > k1.ci_high.unwrap(), "{s1:?} vs {k1:?}");
    let smallest = cal::smallest_all(&keys, &cells, 0.5);
    let shape = smallest
        .iter()
        .find(|s| s.metric == "gate/judge~shape")
        .unwrap();
    assert_eq!(shape.size, Some(0.0005));
}

#[test]
fn injection_replaces_the_versions_regression_and_keeps_other_faults() {
    let sc = load("judges.toml");
    let v = cal::inject(
        &sc,
        &Injection {
            kind: RegressionKind::Latency,
            size: 0.25,
            endpoint: Some("/put".into()),
        },
    );
    let v = cal::inject(
        &v,
        &Injection {
            kind: RegressionKind::Latency,
            size: 0.5,
            endpoint: Some("/put".into()),
        },
    );
    let regressions: Vec<_> = v
        .faults
        .iter()
        .filter(|f| f.name() == "regression")
        .collect();
    assert_eq!(regressions.len(), 1);
    let text = format!("{:?}", regressions[0]);
    assert!(text.contains("latency_factor: 1.5"), "{text}");
    assert_eq!(cal::inject(&v, &err(0.0)).faults.len(), sc.faults.len());
    // A policy without analyses is refused with a reason.
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/rolling-basic.toml");
    let rolling =
        Scenario::parse(&std::fs::read_to_string(&p).unwrap(), "rolling-basic.toml").unwrap();
    let e = cal::prepare(&rolling, true).unwrap_err();
    assert!(e.contains("no analysis metrics"), "{e}");
}

#[test]
fn sizes_parse_with_reasons() {
    assert_eq!(
        cal::parse_sizes("error-rate=0.001,0.01").unwrap(),
        (RegressionKind::ErrorRate, vec![0.001, 0.01])
    );
    for bad in [
        "latency",
        "speed=1",
        "error-rate=0",
        "error-rate=2",
        "latency=x",
    ] {
        assert!(cal::parse_sizes(bad).is_err(), "{bad}");
    }
}

#[test]
fn cells_are_one_per_metric_kind_and_size_whatever_the_order_of_sizes() {
    let sc = load("judges.toml");
    let (_, keys) = cal::prepare(&sc, false).unwrap();
    let lat = |size: f64| Injection {
        kind: RegressionKind::Latency,
        size,
        endpoint: None,
    };
    let injections = [err(0.0), err(0.01), lat(0.5), err(0.02)];
    let per_run: Vec<(usize, Vec<Detection>)> = (0..injections.len())
        .map(|i| (i, vec![Detection::default(); keys.len()]))
        .collect();
    let cells = cal::cells(&keys, &injections, &per_run);
    // Per metric: error-rate {0, 0.01, 0.02} and latency {0, 0.5}.
    assert_eq!(cells.len(), keys.len() * 5);
    let mut seen: Vec<(String, RegressionKind, u64)> = cells
        .iter()
        .map(|c| (c.metric.clone(), c.kind, c.size.to_bits()))
        .collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), cells.len());
}

/// The Poisson probability of `n` at mean `lambda`.
fn poisson_pmf(n: u64, lambda: f64) -> f64 {
    use shakedown_sim::stats::exact::ln_gamma;
    if lambda == 0.0 {
        return if n == 0 { 1.0 } else { 0.0 };
    }
    (n as f64 * lambda.ln() - lambda - ln_gamma(n as f64 + 1.0)).exp()
}

/// Runs a plan (gates included) as the CLI does, one thread.
fn lab_plan(
    sc: &Scenario,
    injections: &[Injection],
    seeds: std::ops::Range<u64>,
) -> (cal::Plan, Vec<(usize, Vec<Detection>)>) {
    let plan = cal::plan(sc, true).unwrap();
    let mut per_run = Vec::new();
    for seed in seeds {
        for (i, inj) in injections.iter().enumerate() {
            let recs: Vec<_> = plan
                .variants
                .iter()
                .map(|v| {
                    run(
                        &cal::inject(&v.scenario, inj),
                        RunOptions {
                            record_ticks: false,
                            ..RunOptions::full(seed)
                        },
                    )
                })
                .collect();
            per_run.push((i, plan.detections(&recs)));
        }
    }
    (plan, per_run)
}

#[test]
fn a_linear_slo_on_a_one_percent_budget_has_the_exact_binomial_power() {
    // N ~ Poisson(24000) requests in the one window (the data file says
    // why), errors ~ Binomial(N, x): the SLO fails when errors > N / 100.
    // P(detect) = Σ_N Poisson(N; 24000) · P(Binomial(N, x) > ⌊N / 100⌋).
    let sc = load("linear-slo.toml");
    let injections = [err(0.0), err(0.008), err(0.0105), err(0.013)];
    let seeds = 1..301;
    let (plan, per_run) = lab_plan(&sc, &injections, seeds.clone());
    assert_eq!(plan.keys.len(), 1);
    assert_eq!(plan.keys[0].id, "slo/availability");
    assert_eq!(plan.variants[0].gate, Some(cal::GateKind::Slo));
    let lambda: f64 = 24000.0;
    let lo = (lambda - 8.0 * lambda.sqrt()) as u64;
    let hi = (lambda + 8.0 * lambda.sqrt()) as u64;
    let runs = seeds.count() as f64;
    let cells = cal::cells(&plan.keys, &injections, &per_run);
    for inj in &injections {
        let exact: f64 = (lo..=hi)
            .map(|n| poisson_pmf(n, lambda) * binomial_sf(n / 100 + 1, n, inj.size))
            .sum();
        let c = cells
            .iter()
            .find(|c| c.size == inj.size)
            .expect("a cell per size");
        let sd = (runs * exact * (1.0 - exact)).sqrt();
        assert!(
            (c.detected as f64 - runs * exact).abs() <= 4.0 * sd + 1e-9,
            "x = {}: {} of {runs} detected, exact {:.4} × {runs} ± {sd:.2}",
            inj.size,
            c.detected,
            exact
        );
        // Every detection at the end of the one window.
        if c.detected > 0 {
            assert_eq!(c.median_time_to_detect_s, Some(120.0));
        }
        if inj.size == 0.0 {
            assert_eq!(c.detected, 0, "no baseline errors: no false fails");
        }
    }
    // An informative case: the sizes straddle the budget.
    let p = |x: f64| -> f64 {
        (lo..=hi)
            .map(|n| poisson_pmf(n, lambda) * binomial_sf(n / 100 + 1, n, x))
            .sum()
    };
    assert!(
        p(0.008) < 0.01 && p(0.013) > 0.99 && (0.2..0.9).contains(&p(0.0105)),
        "{} {} {}",
        p(0.008),
        p(0.0105),
        p(0.013)
    );
}

/// `P(Poisson(mu) > k)`.
fn poisson_sf(k: u64, mu: f64) -> f64 {
    1.0 - (0..=k).map(|j| poisson_pmf(j, mu)).sum::<f64>()
}

/// A gate whose one evaluation sees Poisson(`exposure` · x) errors and fires
/// above 3: the lab's detection count against the exact probability.
fn gate_matches_poisson(
    file: &str,
    id: &str,
    gate: cal::GateKind,
    exposure: f64,
    at_s: f64,
    xs: [f64; 3],
) {
    let sc = load(file);
    let injections = [err(0.0), err(xs[0]), err(xs[1]), err(xs[2])];
    let seeds = 1..201;
    let runs = seeds.clone().count() as f64;
    let (plan, per_run) = lab_plan(&sc, &injections, seeds);
    assert_eq!(plan.keys.len(), 1, "{file}");
    assert_eq!(plan.keys[0].id, id);
    assert_eq!(plan.variants[0].gate, Some(gate));
    let cells = cal::cells(&plan.keys, &injections, &per_run);
    for inj in &injections {
        let exact = poisson_sf(3, exposure * inj.size);
        let c = cells.iter().find(|c| c.size == inj.size).unwrap();
        let sd = (runs * exact * (1.0 - exact)).sqrt();
        assert!(
            (c.detected as f64 - runs * exact).abs() <= 4.0 * sd + 1e-9,
            "{file} x = {}: {} of {runs} detected, exact {exact:.4} ± {sd:.2}",
            inj.size,
            c.detected
        );
        if c.detected > 0 {
            assert_eq!(c.median_time_to_detect_s, Some(at_s), "{file}");
        }
    }
    // Informative: the sizes run from rarely to almost always detected.
    assert!(poisson_sf(3, exposure * xs[0]) < 0.1 && poisson_sf(3, exposure * xs[2]) > 0.9);
}

#[test]
fn a_flagger_check_is_a_gate_with_the_exact_poisson_power() {
    gate_matches_poisson(
        "flagger-count.toml",
        "flagger/errors",
        cal::GateKind::Flagger,
        12000.0,
        300.0,
        [0.0001, 0.0003, 0.0006],
    );
}

#[test]
fn a_waves_alarm_is_a_gate_with_the_exact_poisson_power() {
    gate_matches_poisson(
        "waves-count.toml",
        "alarm/errors",
        cal::GateKind::Alarm,
        72000.0,
        3600.0,
        [0.00002, 0.00005, 0.0001],
    );
}
