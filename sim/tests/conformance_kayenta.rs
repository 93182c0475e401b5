//! Kayenta's own classifier tests (`ClassifierSuite.scala`), replayed
//! against shakedown's judge (`sim/src/stats/judge.rs`) as data:
//! `tests/data/conformance/kayenta_classifier_suite.toml` names the upstream
//! file and commit.

use serde::Deserialize;
use shakedown_sim::stats::judge::{judge, Classification, Direction, JudgeConfig, MetricConfig};
use std::collections::BTreeMap;

#[derive(Deserialize)]
struct Suite {
    case: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    test: String,
    direction: Direction,
    canary: Vec<f64>,
    baseline: Vec<f64>,
    expect: String,
}

#[test]
fn kayenta_classifier_suite() {
    let suite: Suite = toml::from_str(include_str!(
        "data/conformance/kayenta_classifier_suite.toml"
    ))
    .unwrap();
    assert_eq!(suite.case.len(), 11, "every Mann-Whitney case of the suite");
    for c in &suite.case {
        let mut metric = MetricConfig::new("m", "g");
        metric.direction = c.direction;
        let mut config = JudgeConfig::new(vec![metric]);
        config.tolerance = 0.10;
        config.confidence = 0.95;
        config.min_samples = 0;
        let one = |v: &[f64]| BTreeMap::from([("m".to_string(), v.to_vec())]);
        let report = judge(&config, &one(&c.baseline), &one(&c.canary)).unwrap();
        let got = report.metrics[0].classification;
        let want = match c.expect.as_str() {
            "pass" => Classification::Pass,
            "high" => Classification::High,
            "low" => Classification::Low,
            "nodata" => Classification::Nodata,
            other => panic!("{}: unknown expectation {other}", c.test),
        };
        assert_eq!(got, want, "{}: {}", c.test, report.metrics[0].reason);
    }
}
