//! `calibrate`'s writers: the committed JSON schema, the CSV headers and
//! rows, the Markdown and HTML sections, and the same bytes for the same
//! data.

use shakedown_reports::calibrate;
use shakedown_sim::experiment::calibrate::{
    self as cal, Calibration, Detection, Injection, MetricKey, RegressionKind,
};
use shakedown_sim::Scenario;
use std::path::Path;

fn key(id: &str, provider: &'static str) -> MetricKey {
    let (analysis, metric) = id.split_once('/').unwrap();
    MetricKey {
        id: id.into(),
        analysis: analysis.into(),
        metric: metric.into(),
        provider,
        failure_limit: 0,
        consecutive_error_limit: 4,
        inconclusive_limit: 0,
    }
}

fn fixture() -> Calibration {
    let keys = vec![
        key("gate/success-rate", "prometheus"),
        key("gate/judge", "kayenta"),
    ];
    let injections = vec![
        Injection::good(),
        Injection {
            kind: RegressionKind::ErrorRate,
            size: 0.01,
            endpoint: None,
        },
        Injection {
            kind: RegressionKind::Latency,
            size: 0.5,
            endpoint: Some("/get".into()),
        },
    ];
    let hit = |t: f64| Detection {
        detected_after_s: Some(t),
        measurements: 3,
        traffic_per_measurement: Some(900.0),
        ..Detection::default()
    };
    let miss = Detection {
        measurements: 3,
        traffic_per_measurement: Some(1000.0),
        ..Detection::default()
    };
    let mut per_run = Vec::new();
    for seed in 0..20 {
        per_run.push((
            0,
            vec![
                miss.clone(),
                if seed == 0 { hit(600.0) } else { miss.clone() },
            ],
        ));
        per_run.push((
            1,
            vec![
                if seed < 19 { hit(120.0) } else { miss.clone() },
                hit(600.0),
            ],
        ));
        per_run.push((
            2,
            vec![
                miss.clone(),
                if seed % 2 == 0 {
                    hit(600.0)
                } else {
                    miss.clone()
                },
            ],
        ));
    }
    let cells = cal::cells(&keys, &injections, &per_run);
    let smallest = cal::smallest_all(&keys, &cells, cal::TARGET);
    let text = "name = \"c\"\nduration = \"1h\"\n[[fleet.roles]]\nname = \"a\"\nhosts = 10\nzones = [\"z\"]\n[traffic]\ncurve = \"diurnal\"\npeak_rps = 100\npeak_hour = 20\n[[traffic.endpoints]]\nname = \"/get\"\nshare = 1\nsuccess_rate = 0.999\nlatency_p50_ms = 10\nlatency_p99_ms = 100\n[change]\nfrom = \"1\"\nto = \"2\"\n[policy]\nkind = \"all-at-once\"\n";
    let sc = Scenario::parse(text, "c.toml").unwrap();
    let power = vec![cal::power_plan(
        &sc,
        0.01,
        0.01,
        0.95,
        &[5.0, 50.0],
        &[0.0, 43_200.0],
    )];
    Calibration {
        format: cal::FORMAT,
        scenario: "c".into(),
        scenario_file: "c.toml".into(),
        policy: "canary".into(),
        policy_file: None,
        seeds: "1..20".into(),
        runs: 60,
        target: cal::TARGET,
        metrics: keys,
        injections,
        cells,
        smallest,
        power,
        shakedown_version: "test",
    }
}

#[test]
fn summary_json_validates_against_the_committed_schema() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs/schema/calibration-summary.schema.json");
    let schema: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let doc: serde_json::Value =
        serde_json::from_slice(&calibrate::summary_json(&fixture())).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let mut broken = doc.clone();
    broken["cells"][0]
        .as_object_mut()
        .unwrap()
        .remove("p_detect");
    assert!(!validator.is_valid(&broken), "the schema is not vacuous");
}

#[test]
fn files_hold_the_cells_and_the_calculator() {
    let c = fixture();
    let csv = String::from_utf8(calibrate::power_csv(&c)).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("metric,provider,kind,size,runs,detected,p_detect,ci_low,ci_high"));
    // 2 metrics × 2 kinds × (good + 1 size).
    assert_eq!(lines.len(), 1 + 8, "{csv}");
    assert!(lines.contains(&"gate/success-rate,prometheus,error-rate,0.01,20,19,0.95,0.7512672372279723,0.9987349105020502,0,120,905"), "{csv}");
    let calc = String::from_utf8(calibrate::calculator_csv(&c)).unwrap();
    assert_eq!(calc.lines().count(), 1 + 4, "{calc}");
    let md = calibrate::markdown(&c);
    assert!(md.contains("| `gate/success-rate` | prometheus | error-rate | +1% errors (detected 95% [75.1%, 99.9%]) | 0% [0%, 16.8%] |"), "{md}");
    assert!(
        md.contains(
            "| `gate/judge` | kayenta | latency | none of the sizes tried | 5% [0.1%, 24.9%] |"
        ),
        "{md}"
    );
    assert!(md.contains("## Canary power calculator"));
    let html = calibrate::html(&c);
    assert_eq!(html.matches("<svg").count(), 2);
    assert!(html.contains("<code>gate/judge</code>"));
    let again = fixture();
    for (a, b) in calibrate::outputs(&c)
        .iter()
        .zip(calibrate::outputs(&again).iter())
    {
        assert_eq!(a.name, b.name);
        assert!(
            a.bytes == b.bytes,
            "{} differs between two renderings",
            a.name
        );
    }
}
