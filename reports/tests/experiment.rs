//! Experiment outputs (`compare`, `sweep`): snapshots of the CSV and Markdown
//! for a fixed seed range, `summary.json` against its committed JSON Schema,
//! rows that parse back to the same runs, a self-contained HTML page, and the
//! plots across seeds rendered as PNG.
//!
//! Snapshots live in `tests/snapshots/`. When a change to the simulator or the
//! writers changes them on purpose, accept the new output with
//! `UPDATE_SNAPSHOTS=1 cargo test -p shakedown-reports --test experiment`
//! and review the diff.

use shakedown_reports::compare;
use shakedown_reports::plots_experiment as px;
use shakedown_sim::experiment::{GroupDef, Kind, Manifest, Param, SeedSet, MANIFEST_FORMAT};
use shakedown_sim::record::Summary;
use shakedown_sim::scenario::{IntOrPercent, PolicySpec};
use shakedown_sim::{RunOptions, Scenario};
use std::path::{Path, PathBuf};

const TINY: &str = r#"
name = "tiny"
description = "12 hosts, constant load, no drain: a fixed world for snapshots"
duration = "40m"
tick = "15s"
seed = 1

[fleet]
detection_delay = "30s"
[[fleet.roles]]
name = "api"
hosts = 12
zones = ["a", "b"]
capacity_rps = 50

[traffic]
curve = "constant"
rps = 400

[change]
from = "1"
to = "2"
install_time = { dist = "uniform", min = "10s", max = "30s" }
restart_time = { dist = "uniform", min = "20s", max = "90s" }

[policy]
kind = "rolling"
max_unavailable = 2
"#;

fn tiny() -> Scenario {
    Scenario::parse(TINY, "tiny.toml").unwrap()
}

fn rolling(n: u32) -> PolicySpec {
    match tiny().policy {
        PolicySpec::Rolling {
            max_surge,
            min_ready,
            progress_deadline,
            ..
        } => PolicySpec::Rolling {
            max_surge,
            max_unavailable: IntOrPercent::Count(n),
            min_ready,
            progress_deadline,
        },
        other => panic!("tiny's policy is rolling, got {other:?}"),
    }
}

/// Runs `scenarios` (one per group) on every seed, seed-major, each
/// against its seed's world without the change, as `compare` runs them.
fn rows(scenarios: &[Scenario], seeds: &SeedSet) -> Vec<Summary> {
    seeds
        .seeds
        .iter()
        .flat_map(|&seed| {
            scenarios.iter().map(move |sc| {
                let base = shakedown_sim::world::baseline(sc, seed);
                shakedown_sim::world::run_against(sc, RunOptions::summary_only(seed), &base).summary
            })
        })
        .collect()
}

fn manifest(kind: Kind, groups: Vec<GroupDef>, params: Vec<Param>, seeds: &str) -> Manifest {
    Manifest {
        format: MANIFEST_FORMAT.into(),
        kind,
        scenario: "tiny".into(),
        scenario_file: "tiny.toml".into(),
        scenario_digest: "0000000000000000".into(),
        seeds: seeds.into(),
        groups,
        params,
        policy_file: None,
        metric_map: None,
        shard: None,
        shakedown_version: "test".into(),
    }
}

/// A compare of three policies on seeds 1..8.
fn compare_fixture() -> (Manifest, SeedSet, Vec<Summary>) {
    let seeds = SeedSet::parse("1..8").unwrap();
    let policies = [
        ("rolling-1", rolling(1)),
        ("rolling-3", rolling(3)),
        ("all-at-once", PolicySpec::AllAtOnce {}),
    ];
    let scenarios: Vec<Scenario> = policies
        .iter()
        .map(|(_, p)| Scenario {
            policy: p.clone(),
            ..tiny()
        })
        .collect();
    let groups = policies
        .iter()
        .zip(&scenarios)
        .map(|((label, _), sc)| GroupDef {
            label: label.to_string(),
            policy_file: Some(format!("policies/{label}.toml")),
            policy: Some(toml::Table::try_from(&sc.policy).unwrap()),
            values: vec![],
        })
        .collect();
    let m = manifest(Kind::Compare, groups, vec![], "1..8");
    let r = rows(&scenarios, &seeds);
    (m, seeds, r)
}

/// A sweep of max_unavailable × min_ready on seeds 1..6.
fn sweep_fixture() -> (Manifest, SeedSet, Vec<Summary>) {
    let seeds = SeedSet::parse("1..6").unwrap();
    let params = vec![
        Param::parse("policy.max_unavailable=1,2,4,6").unwrap(),
        Param::parse("policy.min_ready=0s,60s").unwrap(),
    ];
    let mut scenarios = Vec::new();
    let mut groups = Vec::new();
    for point in shakedown_sim::experiment::grid::expand(&params) {
        let values: Vec<String> = params
            .iter()
            .zip(&point)
            .map(|(p, &i)| p.values[i].clone())
            .collect();
        let n: u32 = values[0].parse().unwrap();
        let min_ready =
            shakedown_sim::time::SimDuration::from_secs(if values[1] == "0s" { 0 } else { 60 });
        let policy = match rolling(n) {
            PolicySpec::Rolling {
                max_surge,
                max_unavailable,
                progress_deadline,
                ..
            } => PolicySpec::Rolling {
                max_surge,
                max_unavailable,
                min_ready,
                progress_deadline,
            },
            p => p,
        };
        scenarios.push(Scenario { policy, ..tiny() });
        groups.push(GroupDef {
            label: shakedown_sim::experiment::grid::label(&params, &point),
            policy_file: None,
            policy: None,
            values,
        });
    }
    let m = manifest(Kind::Sweep, groups, params, "1..6");
    let r = rows(&scenarios, &seeds);
    (m, seeds, r)
}

fn snapshots() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots")
}

fn check_snapshot(name: &str, actual: &[u8]) {
    let path = snapshots().join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(snapshots()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; create it with UPDATE_SNAPSHOTS=1 cargo test -p shakedown-reports --test experiment",
            path.display()
        )
    });
    if expected != actual {
        let (e, a) = (
            String::from_utf8_lossy(&expected),
            String::from_utf8_lossy(actual),
        );
        let line = e
            .lines()
            .zip(a.lines())
            .position(|(x, y)| x != y)
            .unwrap_or(e.lines().count().min(a.lines().count()));
        panic!(
            "{name} differs from its snapshot at line {}:\n  expected: {}\n  actual:   {}\nIf the change is intended: UPDATE_SNAPSHOTS=1 cargo test -p shakedown-reports --test experiment",
            line + 1,
            e.lines().nth(line).unwrap_or("<end>"),
            a.lines().nth(line).unwrap_or("<end>")
        );
    }
}

fn file<'a>(outs: &'a [shakedown_reports::Output], name: &str) -> &'a [u8] {
    &outs
        .iter()
        .find(|o| o.name == name)
        .unwrap_or_else(|| panic!("no {name}"))
        .bytes
}

#[test]
fn compare_csv_and_markdown_match_their_snapshots() {
    let (m, seeds, r) = compare_fixture();
    let outs = compare::outputs(&m, &seeds, &r);
    let names: Vec<&str> = outs.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "compare.csv",
            "manifest.json",
            "summary.json",
            "report.md",
            "report.html"
        ]
    );
    check_snapshot("compare.csv", file(&outs, "compare.csv"));
    check_snapshot("compare.md", file(&outs, "report.md"));
}

#[test]
fn sweep_csv_and_markdown_match_their_snapshots() {
    let (m, seeds, r) = sweep_fixture();
    let outs = compare::outputs(&m, &seeds, &r);
    let csv = String::from_utf8(file(&outs, "sweep.csv").to_vec()).unwrap();
    assert!(
        csv.starts_with("seed,point,policy.max_unavailable,policy.min_ready,policy_kind,"),
        "{csv}"
    );
    check_snapshot("sweep.csv", csv.as_bytes());
    check_snapshot("sweep.md", file(&outs, "report.md"));
}

fn schema() -> serde_json::Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/schema/experiment-summary.schema.json");
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

#[test]
fn summary_json_validates_against_the_committed_schema() {
    let validator = jsonschema::validator_for(&schema()).expect("the schema compiles");
    for (m, seeds, r) in [compare_fixture(), sweep_fixture()] {
        let outs = compare::outputs(&m, &seeds, &r);
        let doc: serde_json::Value = serde_json::from_slice(file(&outs, "summary.json")).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect();
        assert!(errors.is_empty(), "{:?}: {errors:#?}", m.kind);
        // The schema is not vacuous: a document missing a metric fails it.
        let mut broken = doc.clone();
        broken["groups"][0]["metrics"]
            .as_object_mut()
            .unwrap()
            .remove("requests_failed");
        assert!(!validator.is_valid(&broken));
        assert_eq!(doc["groups"].as_array().unwrap().len(), m.groups.len());
        assert_eq!(
            doc["paired_differences"].as_array().unwrap().len(),
            m.groups.len() - 1
        );
    }
}

#[test]
fn manifest_json_validates_against_the_committed_schema_and_parses_back() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs/schema/experiment-manifest.schema.json");
    let schema: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    for (m, _, _) in [compare_fixture(), sweep_fixture()] {
        let shard = Manifest {
            shard: Some(shakedown_sim::experiment::ShardInfo {
                index: 2,
                count: 3,
                units: [8, 16],
            }),
            ..m.clone()
        };
        for m in [m, shard] {
            let text = compare::manifest_json(&m);
            let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
            let errors: Vec<String> = validator
                .iter_errors(&doc)
                .map(|e| format!("{} at {}", e, e.instance_path))
                .collect();
            assert!(errors.is_empty(), "{:?}: {errors:#?}", m.kind);
            assert_eq!(compare::parse_manifest(text.as_bytes()).unwrap(), m);
        }
    }
}

#[test]
fn rows_parse_back_to_the_same_runs() {
    let (m, seeds, r) = compare_fixture();
    let csv = compare::rows_csv(&m, &seeds, 0..r.len(), &r);
    assert_eq!(
        compare::parse_rows(&m, &seeds, 0..r.len(), &csv).unwrap(),
        r
    );
    // A slice (a shard) too, and awkward floats survive the round trip.
    let mut odd = r[3..7].to_vec();
    odd[0].success_rate = 0.1 + 0.2;
    odd[1].rollout_duration_s = 1e-7;
    odd[2].outcome_reason = "halted, \"quoted\"\nnew line".into();
    let csv = compare::rows_csv(&m, &seeds, 3..7, &odd);
    assert_eq!(compare::parse_rows(&m, &seeds, 3..7, &csv).unwrap(), odd);
    // Rows of the wrong units are refused.
    let err = compare::parse_rows(&m, &seeds, 4..8, &csv).unwrap_err();
    assert!(err.contains("expected seed"), "{err}");
}

#[test]
fn html_is_self_contained_and_has_the_plots() {
    for (m, seeds, r) in [compare_fixture(), sweep_fixture()] {
        let outs = compare::outputs(&m, &seeds, &r);
        let html = String::from_utf8(file(&outs, "report.html").to_vec()).unwrap();
        for banned in [
            "<script", "<link", "src=", "http://", "https://", "@import", "url(",
        ] {
            assert!(!html.contains(banned), "{:?}: contains {banned}", m.kind);
        }
        // Two CDFs (failed requests, blast radius) and two Pareto plots;
        // a two-parameter sweep adds its heatmap.
        let heatmap = m.params.len() == 2;
        assert_eq!(
            html.matches("<svg viewBox").count(),
            4 + usize::from(heatmap),
            "{:?}",
            m.kind
        );
        assert_eq!(
            html.contains("Heatmap of mean failed requests due to the change"),
            heatmap
        );
        // Pareto points carry their intervals; each group's runs are linked.
        assert!(html.contains("bars for their 95 % bootstrap intervals"));
        assert!(html.contains("<a href=\"runs/"), "drill-down links");
        for label in [
            "CDF of failed requests",
            "CDF of peak blast radius",
            "Pareto frontier",
        ] {
            assert!(html.contains(label), "{:?}: no {label}", m.kind);
        }
        for g in &m.groups {
            assert!(
                html.contains(&g.label.replace('"', "&quot;")),
                "{}",
                g.label
            );
        }
    }
}

#[test]
fn plots_render_as_png() {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("experiment-plots");
    std::fs::create_dir_all(&out).unwrap();
    let (m, _, r) = compare_fixture();
    let by = compare::by_group(&m, &r);
    let series = |f: fn(&Summary) -> f64| -> Vec<px::Series> {
        m.groups
            .iter()
            .zip(&by)
            .map(|(g, runs)| px::Series {
                label: g.label.clone(),
                values: runs.iter().map(f).collect(),
            })
            .collect()
    };
    let failed = px::cdf_png(
        "Failed requests across 8 seeds",
        "failed requests per run",
        &series(|s| s.requests_failed as f64),
    );
    let blast = px::cdf_png(
        "Peak blast radius across 8 seeds",
        "peak hosts unavailable (% of fleet)",
        &series(|s| s.peak_hosts_unavailable_pct),
    );
    let (sm, _, sr) = sweep_fixture();
    let a = compare::analyze(&sm, &sr);
    let points: Vec<px::Point> = a
        .groups
        .iter()
        .enumerate()
        .map(|(g, s)| px::Point {
            label: sm.groups[g].values.join(", "),
            x: s.metrics[3].mean,
            y: s.metrics[0].mean,
            frontier: a.frontiers[0].groups.contains(&g),
            x_ci: [s.metrics[3].mean_ci.low, s.metrics[3].mean_ci.high],
            y_ci: [s.metrics[0].mean_ci.low, s.metrics[0].mean_ci.high],
        })
        .collect();
    let pareto = px::pareto_png(
        "Rollout duration vs failed requests · points: max_unavailable, min_ready",
        "mean failed requests per run",
        &points,
    );
    for (name, png) in [
        ("cdf-failed.png", failed),
        ("cdf-blast.png", blast),
        ("pareto.png", pareto),
    ] {
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{name}");
        assert!(png.len() > 5_000, "{name}: {} bytes", png.len());
        std::fs::write(out.join(name), png).unwrap();
    }
    // The same data draw the same bytes.
    assert_eq!(
        px::pareto_svg("t", "y", &points),
        px::pareto_svg("t", "y", &points)
    );
}

/// A compare where the policy with the fewest failed requests never
/// completes: a canary paused for a human at 10 %, which halts at once.
fn unfinished_fixture(with_rolling: bool) -> (Manifest, SeedSet, Vec<Summary>) {
    let seeds = SeedSet::parse("1..6").unwrap();
    let canary_text = TINY.replace(
        "kind = \"rolling\"\nmax_unavailable = 2",
        "kind = \"canary\"\nsteps = [{ set_weight = 10 }, { pause = {} }]",
    );
    let canary = Scenario::parse(&canary_text, "tiny.toml").unwrap();
    let mut policies = vec![];
    if with_rolling {
        policies.push(("rolling", tiny()));
    }
    policies.push(("canary-paused", canary));
    let groups = policies
        .iter()
        .map(|(label, sc)| GroupDef {
            label: label.to_string(),
            policy_file: None,
            policy: Some(toml::Table::try_from(&sc.policy).unwrap()),
            values: vec![],
        })
        .collect();
    let scenarios: Vec<Scenario> = policies.into_iter().map(|(_, sc)| sc).collect();
    let m = manifest(Kind::Compare, groups, vec![], "1..6");
    let r = rows(&scenarios, &seeds);
    (m, seeds, r)
}

/// Issue 11 item 1: a group that never completed is never recommended,
/// highlighted or put on a frontier, even with the fewest failures; outcome
/// counts sum to the seeds.
#[test]
fn a_policy_that_never_completes_is_never_best() {
    use shakedown_sim::experiment::analysis::{OUTCOMES, PROPORTIONS};
    let (m, seeds, r) = unfinished_fixture(true);
    let a = compare::analyze(&m, &r);
    for g in &a.groups {
        let sum: usize = OUTCOMES.map(|j| g.proportions[j].hits).sum();
        assert_eq!(sum, seeds.len(), "{}: outcomes sum to the seeds", g.label);
    }
    let halted = PROPORTIONS
        .iter()
        .position(|p| p.name == "p_halted")
        .unwrap();
    assert_eq!(a.groups[1].proportions[halted].hits, seeds.len());
    // The paused canary fails fewer requests than the rolling update...
    assert!(a.groups[1].metrics[0].mean < a.groups[0].metrics[0].mean);
    // ...and is still not a candidate for anything.
    let rec = &a.recommendation;
    assert_eq!(rec.finished, vec![true, false]);
    assert_eq!(rec.pick, Some(0));
    assert_eq!(rec.runner_up, None);
    for f in &a.frontiers {
        assert_eq!(f.groups, vec![0], "{} vs {}", f.x, f.y);
    }
    let text = compare::verdict(&m, &a);
    assert!(text.starts_with("Pick `rolling`"), "{text}");
    assert!(
        text.contains(
            "Not compared, because they never completed the rollout: `canary-paused` (halted 6/6)"
        ),
        "{text}"
    );
    let outs = compare::outputs(&m, &seeds, &r);
    let html = String::from_utf8(file(&outs, "report.html").to_vec()).unwrap();
    assert!(html.contains("id=\"recommendation\""));
    assert!(html.contains("never completed"));
    // Every highlighted cell is in the rolling column: the results table
    // has metric, statistic, rolling, canary; count cells per row.
    let results = &html[html.find("<h2>Results</h2>").unwrap()..];
    let table = &results[..results.find("</table>").unwrap()];
    for row in table.split("<tr>").skip(2) {
        let cells: Vec<&str> = row.split("<td").skip(1).collect();
        if cells.len() == 3 {
            assert!(!cells[2].starts_with(" class=\"best\""), "{row}");
        }
    }
    let md = String::from_utf8(file(&outs, "report.md").to_vec()).unwrap();
    assert!(md.contains("| `canary-paused` | 0/6"), "{md}");
    let json: serde_json::Value = serde_json::from_slice(file(&outs, "summary.json")).unwrap();
    assert_eq!(json["recommendation"]["pick"], "rolling");
    assert_eq!(json["groups"][1]["finished"], false);
    assert_eq!(json["groups"][1]["probabilities"]["p_halted"]["hits"], 6);

    // With no group that completes, none is recommended, said plainly.
    let (m, _, r) = unfinished_fixture(false);
    let a = compare::analyze(&m, &r);
    assert_eq!(a.recommendation.pick, None);
    let text = compare::verdict(&m, &a);
    assert!(
        text.starts_with(
            "No policy completed the rollout on any of the 6 seeds, so none is recommended."
        ),
        "{text}"
    );
}

/// A tie is said as a tie: the same policy twice.
#[test]
fn identical_policies_tie() {
    let seeds = SeedSet::parse("1..5").unwrap();
    let scenarios = vec![tiny(), tiny()];
    let groups = ["a", "b"]
        .iter()
        .map(|l| GroupDef {
            label: l.to_string(),
            policy_file: None,
            policy: None,
            values: vec![],
        })
        .collect();
    let m = manifest(Kind::Compare, groups, vec![], "1..5");
    let r = rows(&scenarios, &seeds);
    let a = compare::analyze(&m, &r);
    assert!(a.recommendation.tie());
    let text = compare::verdict(&m, &a);
    assert!(text.contains("It ties with `b`"), "{text}");
}

#[test]
fn cdf_axis_is_logarithmic_where_values_span_decades() {
    let wide = [px::Series {
        label: "a".into(),
        values: vec![0.0, 3.0, 40.0, 5000.0],
    }];
    assert_eq!(px::log_decades(&wide), Some((0.0, 4.0)));
    let svg = px::cdf_svg("t", "failed requests per run", &wide);
    assert!(
        svg.contains("failed requests per run · log scale (≤ 1 at the left edge)"),
        "the axis says it is logarithmic and where 0 went"
    );
    let narrow = [px::Series {
        label: "b".into(),
        values: vec![5500.0, 6000.0, 0.0],
    }];
    assert_eq!(px::log_decades(&narrow), None, "one decade: linear");
    assert!(!px::cdf_svg("t", "x", &narrow).contains("log scale"));
}
