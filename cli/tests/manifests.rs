//! Argo Rollouts and Flagger manifests in and out (issue 12 items 1 and 2):
//! every upstream example under fixtures/manifests/ imports and runs; the
//! translation of one canary, one blue-green and one Flagger Canary is
//! asserted step by step; unsupported fields and unmapped metrics are
//! located errors; export then import gives the same validated policy.

mod common;
use common::{scratch_dir, shakedown};
use std::process::Output;

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into()
}

const WORLD: &str = "fixtures/manifests/world.toml";
const ARGO: &str = "fixtures/manifests/argo-rollouts";
const JOB_MAP: &str = "fixtures/manifests/argo-rollouts/job-metrics.toml";

/// The TOML lines of an import, comments and blank lines dropped, each
/// line's trailing comment kept apart.
fn lines(toml: &str) -> Vec<(String, String)> {
    toml.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| match l.split_once("  # ") {
            Some((a, b)) => (a.trim_end().to_string(), b.to_string()),
            None => (l.trim_end().to_string(), String::new()),
        })
        .collect()
}

fn import(args: &[&str]) -> Vec<(String, String)> {
    let mut a = vec!["import"];
    a.extend_from_slice(args);
    let o = shakedown(&a);
    assert!(o.status.success(), "{}", err(&o));
    lines(&out(&o))
}

#[test]
fn every_upstream_example_imports_and_runs() {
    let cases: &[(&str, Option<&str>, &str)] = &[
        ("argo-rollouts/rollout-canary.yaml", None, "halted"),
        ("argo-rollouts/rollout-bluegreen.yaml", None, "halted"),
        ("argo-rollouts/appmesh-canary-rollout.yaml", None, "halted"),
        (
            "argo-rollouts/rollout-analysis-step.yaml",
            Some(JOB_MAP),
            "completed",
        ),
        (
            "argo-rollouts/rollout-background-analysis.yaml",
            Some(JOB_MAP),
            "",
        ),
        ("flagger/istio-canary.yaml", None, "completed"),
        ("flagger/linkerd-canary-steps.yaml", None, "completed"),
    ];
    let dir = scratch_dir("manifests-run");
    for (file, map, outcome) in cases {
        let path = format!("fixtures/manifests/{file}");
        let mut args = vec!["import", path.as_str()];
        if let Some(m) = map {
            args.extend(["--metric-map", m]);
        }
        let o = shakedown(&args);
        assert!(o.status.success(), "import {file}: {}", err(&o));
        let d = dir.join(file.replace('/', "-"));
        let d = d.display().to_string();
        let mut args = vec!["run", WORLD, "--policy", path.as_str(), "--out", d.as_str()];
        if let Some(m) = map {
            args.extend(["--metric-map", m]);
        }
        let o = shakedown(&args);
        assert!(o.status.success(), "run {file}: {}", err(&o));
        assert!(
            out(&o).contains(&format!("— {outcome}")),
            "{file}: {}",
            out(&o)
        );
    }
}

#[test]
fn a_canary_translates_step_by_step() {
    // examples/rollout-canary.yaml: 20 %, an indefinite pause, then 40-80 %
    // with timed pauses; the comments name the manifest's lines.
    let got = import(&[&format!("{ARGO}/rollout-canary.yaml")]);
    let want: &[(&str, &str)] = &[
        ("[policy]", "rollout-canary.yaml:27 canary: {…}"),
        ("kind = \"canary\"", ""),
        ("steps = [", ""),
        (
            "{ set_weight = 20 },",
            "rollout-canary.yaml:28 setWeight: 20",
        ),
        ("{ pause = {} },", "rollout-canary.yaml:31 pause: {}"),
        (
            "{ set_weight = 40 },",
            "rollout-canary.yaml:32 setWeight: 40",
        ),
        (
            "{ pause = { duration = \"40s\" } },",
            "rollout-canary.yaml:33 pause: {duration: 40s}",
        ),
        (
            "{ set_weight = 60 },",
            "rollout-canary.yaml:34 setWeight: 60",
        ),
        (
            "{ pause = { duration = \"20s\" } },",
            "rollout-canary.yaml:35 pause: {duration: 20s}",
        ),
        (
            "{ set_weight = 80 },",
            "rollout-canary.yaml:36 setWeight: 80",
        ),
        (
            "{ pause = { duration = \"20s\" } },",
            "rollout-canary.yaml:37 pause: {duration: 20s}",
        ),
        ("]", ""),
    ];
    let got: Vec<(String, String)> = got
        .into_iter()
        .map(|(a, b)| (a.trim().to_string(), b.replace(&format!("{ARGO}/"), "")))
        .collect();
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn an_analysis_step_merges_its_templates_from_the_files_beside_it() {
    let got = import(&[
        &format!("{ARGO}/rollout-analysis-step.yaml"),
        "--metric-map",
        JOB_MAP,
    ]);
    let keys: Vec<&str> = got.iter().map(|(a, _)| a.trim()).collect();
    assert_eq!(
        keys,
        [
            "[policy]",
            "kind = \"canary\"",
            "steps = [",
            "{ set_weight = 25 },",
            "{ analysis = { template = \"random-fail+always-pass\" } },",
            "]",
            "[analysis.\"random-fail+always-pass\"]",
            "[[analysis.\"random-fail+always-pass\".metrics]]",
            "name = \"random-fail\"",
            "provider = \"prometheus\"",
            "query = \"success-rate\"",
            "interval = \"5s\"",
            "count = 2",
            "failure_limit = 1",
            "success_condition = \"result >= 0.99\"",
            "[[analysis.\"random-fail+always-pass\".metrics]]",
            "name = \"pass\"",
            "provider = \"prometheus\"",
            "query = \"success-rate\"",
            "interval = \"5s\"",
            "count = 1",
            "failure_limit = 1",
            "success_condition = \"result >= 0.99\"",
        ]
    );
    // Where each came from: the Job metric's provider line, via the map.
    let q = &got
        .iter()
        .find(|(a, _)| a == "query = \"success-rate\"")
        .unwrap()
        .1;
    assert!(
        q.ends_with("analysis-templates.yaml:44 job: {…}; --metric-map rule 1"),
        "{q}"
    );
}

#[test]
fn the_upstream_blue_green_translates_to_a_manual_promotion() {
    // examples/rollout-bluegreen.yaml: the services are ignored, the manual
    // gate (autoPromotionEnabled: false) is the one behavioural field.
    let got = import(&[&format!("{ARGO}/rollout-bluegreen.yaml")]);
    let got: Vec<(String, String)> = got
        .into_iter()
        .map(|(a, b)| (a, b.replace(&format!("{ARGO}/"), "")))
        .collect();
    assert_eq!(
        got,
        [
            (
                "[policy]".to_string(),
                "rollout-bluegreen.yaml:28 blueGreen: {…}".to_string()
            ),
            ("kind = \"blue-green\"".to_string(), String::new()),
            (
                "auto_promotion_enabled = false".to_string(),
                "rollout-bluegreen.yaml:37 autoPromotionEnabled: false".to_string()
            ),
        ]
    );
    let o = shakedown(&["import", &format!("{ARGO}/rollout-bluegreen.yaml")]);
    for ignored in [
        "rollout-bluegreen.yaml:40: Service `rollout-bluegreen-active` (not a rollout policy)",
        "rollout-bluegreen.yaml:28: spec.strategy.blueGreen.activeService",
        "rollout-bluegreen.yaml:8: spec.replicas",
    ] {
        assert!(out(&o).contains(ignored), "{ignored} in {}", out(&o));
    }
}

#[test]
fn a_blue_green_translates_field_by_field() {
    let dir = scratch_dir("manifests-bg");
    let f = dir.join("bg.yaml");
    std::fs::write(
        &f,
        "apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: bg}
spec:
  progressDeadlineSeconds: 300
  progressDeadlineAbort: true
  strategy:
    blueGreen:
      activeService: a
      autoPromotionSeconds: 60
      scaleDownDelaySeconds: 45
      abortScaleDownDelaySeconds: 10
      previewReplicaCount: 2
      postPromotionAnalysis:
        templates: [{templateName: smoke}]
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: smoke}
spec:
  metrics:
  - name: errors
    interval: 1m
    count: 3
    failureCondition: result > 0.01
    provider:
      prometheus:
        query: sum(rate(http_requests_total{status=~\"5..\"}[1m])) / sum(rate(http_requests_total[1m]))
",
    )
    .unwrap();
    let got = import(&[&f.display().to_string()]);
    let keys: Vec<(&str, String)> = got
        .iter()
        .map(|(a, b)| {
            (
                a.as_str(),
                b.split(' ')
                    .next()
                    .unwrap_or("")
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    let want = [
        ("[policy]", "bg.yaml:9"),
        ("kind = \"blue-green\"", ""),
        ("auto_promotion_seconds = 60", "bg.yaml:10"),
        ("scale_down_delay = \"45s\"", "bg.yaml:11"),
        ("abort_scale_down_delay = \"10s\"", "bg.yaml:12"),
        ("preview_replica_count = 2", "bg.yaml:13"),
        ("progress_deadline = \"300s\"", "bg.yaml:5"),
        ("progress_deadline_abort = true", "bg.yaml:6"),
        ("[policy.post_promotion_analysis]", "bg.yaml:15"),
        ("template = \"smoke\"", "bg.yaml:15"),
        ("[analysis.smoke]", "bg.yaml:15"),
        ("[[analysis.smoke.metrics]]", "bg.yaml:22"),
        ("name = \"errors\"", "bg.yaml:22"),
        ("provider = \"prometheus\"", ""),
        ("query = \"error-rate\"", "bg.yaml:28"),
        ("interval = \"1m\"", "bg.yaml:23"),
        ("count = 3", "bg.yaml:24"),
        ("failure_condition = \"result > 0.01\"", "bg.yaml:25"),
    ];
    let want: Vec<(&str, String)> = want.iter().map(|(a, b)| (*a, b.to_string())).collect();
    assert_eq!(keys, want);
    // And it validates and runs as that policy.
    let o = shakedown(&[
        "run",
        WORLD,
        "--policy",
        &f.display().to_string(),
        "--print-resolved",
    ]);
    assert!(o.status.success(), "{}", err(&o));
    let resolved = out(&o);
    for k in [
        "scale_down_delay = \"45s\"",
        "preview_replica_count = 2",
        "progress_deadline_abort = true",
        "failure_condition = \"result > 0.01\"",
    ] {
        assert!(resolved.contains(k), "{k} in\n{resolved}");
    }
}

#[test]
fn a_flagger_canary_translates_with_its_builtin_metrics() {
    let got = import(&["fixtures/manifests/flagger/istio-canary.yaml"]);
    let keys: Vec<&str> = got.iter().map(|(a, _)| a.trim()).collect();
    assert_eq!(
        keys,
        [
            "[policy]",
            "kind = \"flagger\"",
            "progress_deadline = \"600s\"",
            "interval = \"15s\"",
            "threshold = 10",
            "max_weight = 50",
            "step_weight = 5",
            "metrics = [",
            // request-success-rate `min: 99` is a percentage.
            "{ name = \"request-success-rate\", query = \"success-rate\", min = 0.99 },",
            "{ name = \"request-duration\", query = \"latency-p99\", max = 500.0 },",
            "]",
        ]
    );
    let o = shakedown(&["import", "fixtures/manifests/flagger/istio-canary.yaml"]);
    let text = out(&o);
    // Webhooks and routing are listed once as ignored; the metric's own query
    // window is said to be approximated.
    assert!(
        text.contains("spec.analysis.webhooks[1] (a `rollout` webhook"),
        "{text}"
    );
    assert!(text.contains("spec.service"), "{text}");
    assert!(text.contains("# Approximated:\n#   fixtures/manifests/flagger/istio-canary.yaml:47: spec.analysis.metrics[0].interval 1m"), "{text}");
}

/// Writes `yaml` as a manifest and returns `import`'s output.
fn import_text(name: &str, yaml: &str) -> (Output, String) {
    let dir = scratch_dir(&format!("manifests-{name}"));
    let f = dir.join(format!("{name}.yaml"));
    std::fs::write(&f, yaml).unwrap();
    (
        shakedown(&["import", &f.display().to_string()]),
        f.display().to_string(),
    )
}

const HEAD: &str = "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: r}\nspec:\n  strategy:\n    canary:\n";

#[test]
fn unsupported_fields_are_located_errors() {
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "experiment",
            "      steps:\n      - setWeight: 10\n      - experiment: {duration: 1h}\n",
            ":9:21: `spec.strategy.canary.steps[1].experiment`",
            "the `experiment` step is not modelled",
        ),
        (
            "scale-down",
            "      scaleDownDelaySeconds: 30\n      steps: []\n",
            ":7:7: `spec.strategy.canary.scaleDownDelaySeconds`",
            "is not modelled by shakedown",
        ),
        (
            "bad-yaml",
            "      steps: [\n",
            ":8:1: `(file)`",
            "not valid YAML",
        ),
        (
            "weight-text",
            "      steps:\n      - setWeight: lots\n",
            ":8:20: `spec.strategy.canary.steps[0].setWeight`",
            "must be a whole percentage",
        ),
    ];
    for (name, body, at, msg) in cases {
        let (o, f) = import_text(name, &format!("{HEAD}{body}"));
        assert_eq!(o.status.code(), Some(2), "{name}: {}", out(&o));
        let e = err(&o);
        assert!(
            e.contains(&format!("{f}{at}")) && e.contains(msg),
            "{name}: {e}"
        );
        assert!(out(&o).is_empty(), "{name}: nothing is printed");
    }
}

#[test]
fn an_unmapped_query_names_the_metric_and_the_fix() {
    let (o, f) = import_text(
        "unmapped",
        &format!("{HEAD}      steps: []\n---\napiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata: {{name: t}}\nspec:\n  metrics:\n  - name: cpu\n    provider:\n      prometheus:\n        query: avg(container_cpu_usage)\n"),
    );
    assert_eq!(o.status.code(), Some(2));
    let e = err(&o);
    assert!(
        e.contains(&format!(
            "{f}:17:16: `spec.metrics[0].provider.prometheus.query`: metric `cpu`"
        )),
        "{e}"
    );
    assert!(
        e.contains("--metric-map") && e.contains("name = \"cpu\""),
        "{e}"
    );
}

#[test]
fn validation_errors_point_at_the_manifest_line() {
    // Argo's rule (and shakedown's): count must be ≥ failureLimit.
    let dir = scratch_dir("manifests-count");
    let f = dir.join("r.yaml");
    std::fs::write(
        &f,
        format!("{HEAD}      steps:\n      - analysis: {{templates: [{{templateName: t}}]}}\n---\napiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata: {{name: t}}\nspec:\n  metrics:\n  - name: ok\n    interval: 1m\n    count: 1\n    failureLimit: 3\n    successCondition: result >= 0.9\n    provider:\n      prometheus:\n        query: sum(rate(x{{code!~\"5..\"}}[1m])) / sum(rate(x[1m]))\n"),
    )
    .unwrap();
    let p = f.display().to_string();
    let o = shakedown(&["run", WORLD, "--policy", &p, "--print-resolved"]);
    assert_eq!(o.status.code(), Some(2));
    let e = err(&o);
    assert!(
        e.contains(&format!("{p}:17:12: `spec.metrics[0].count`")),
        "{e}"
    );
    // lint reports it as a finding (exit 1), with the same location.
    let o = shakedown(&["lint", &p, "--scenario", WORLD]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(
        out(&o).contains(&format!("error: {p}:17:12: `spec.metrics[0].count`")),
        "{}",
        out(&o)
    );
}

#[test]
fn lint_flags_weights_and_samples_the_fleet_cannot_give() {
    let dir = scratch_dir("manifests-lint");
    let f = dir.join("r.yaml");
    // 5 % of 10 hosts without a router is one host: 10 % of the traffic; the
    // metric needs 10 000 requests per minute at 5 % of 200 rps (600 at most).
    std::fs::write(
        &f,
        format!("{HEAD}      steps:\n      - setWeight: 5\n      - analysis: {{templates: [{{templateName: t}}]}}\n---\napiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata: {{name: t}}\nspec:\n  metrics:\n  - name: ok\n    interval: 1m\n    count: 3\n    successCondition: result >= 0.9\n    provider:\n      prometheus:\n        query: sum(rate(x{{code!~\"5..\"}}[1m])) / sum(rate(x[1m]))\n"),
    )
    .unwrap();
    let p = f.display().to_string();
    let o = shakedown(&["lint", &p, "--scenario", WORLD]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    let text = out(&o);
    assert!(text.contains(&format!("warning: {p}:8:20: `spec.strategy.canary.steps[0].setWeight`: setWeight 5 on role `app` (10 hosts, no traffic router) gives 1 canary host: 10 % of its traffic, not 5 %")), "{text}");
    // A clean manifest: exit 0.
    let o = shakedown(&[
        "lint",
        &format!("{ARGO}/rollout-canary.yaml"),
        "--scenario",
        WORLD,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    // An unmodelled field is a finding (exit 1), located.
    std::fs::write(
        &f,
        format!("{HEAD}      steps:\n      - experiment: {{}}\n"),
    )
    .unwrap();
    let o = shakedown(&["lint", &p]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(
        out(&o).contains(&format!(
            "error: {p}:8:21: `spec.strategy.canary.steps[0].experiment`"
        )),
        "{}",
        out(&o)
    );
    // Bad input: exit 2 (no file; not YAML; no Rollout or Canary).
    let o = shakedown(&["lint", "no-such.yaml"]);
    assert_eq!(o.status.code(), Some(2));
    std::fs::write(&f, "a: [\n").unwrap();
    assert_eq!(shakedown(&["lint", &p]).status.code(), Some(2));
    std::fs::write(&f, "kind: Service\n").unwrap();
    assert_eq!(shakedown(&["lint", &p]).status.code(), Some(2));
}

#[test]
fn lint_says_when_min_requests_can_never_be_reached() {
    // A TOML policy is linted too: 10 % of 200 rps over a 1 min window is
    // 1,200 requests at most, short of min_requests = 5000.
    let dir = scratch_dir("manifests-lint-min");
    let f = dir.join("p.toml");
    std::fs::write(
        &f,
        "[analysis.g]\n[[analysis.g.metrics]]\nname = \"sr\"\nprovider = \"prometheus\"\nquery = \"success-rate\"\ninterval = \"1m\"\ncount = 3\nmin_requests = 5000\nsuccess_condition = \"result >= 0.9\"\n\n[policy]\nkind = \"canary\"\nsteps = [{ set_weight = 10 }, { analysis = { template = \"g\" } }]\n",
    )
    .unwrap();
    let p = f.display().to_string();
    let o = shakedown(&["lint", &p, "--scenario", WORLD]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(
        out(&o).contains(&format!("error: {p}:2:1: `analysis.g.metrics[0]`: metric `sr` needs 5000 requests per measurement but at 10 % of the busiest traffic (200.0 rps) a 60s window sees at most 1200")),
        "{}",
        out(&o)
    );
    // At min_requests = 500 it can, and the quietest traffic is the same
    // (constant): clean.
    std::fs::write(
        &f,
        std::fs::read_to_string(&f).unwrap().replace("5000", "500"),
    )
    .unwrap();
    let o = shakedown(&["lint", &p, "--scenario", WORLD]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
}

#[test]
fn lint_says_a_pre_promotion_analysis_sees_no_traffic() {
    let dir = scratch_dir("manifests-lint-bg");
    let f = dir.join("bg.yaml");
    std::fs::write(
        &f,
        "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: r}\nspec:\n  strategy:\n    blueGreen:\n      prePromotionAnalysis: {templates: [{templateName: t}]}\n---\napiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata: {name: t}\nspec:\n  metrics:\n  - name: ok\n    interval: 1m\n    count: 3\n    successCondition: result >= 0.9\n    provider:\n      prometheus:\n        query: sum(rate(x{code!~\"5..\"}[1m])) / sum(rate(x[1m]))\n",
    )
    .unwrap();
    let p = f.display().to_string();
    let o = shakedown(&["lint", &p]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(out(&o).contains("gets no user traffic"), "{}", out(&o));
}

/// `export` then `--policy` gives the same resolved scenario as the policy
/// itself: export ∘ import is the identity on what both express.
fn round_trip(scenario: &str, policy: Option<&str>, format: &str, name: &str) {
    let dir = scratch_dir(&format!("manifests-rt-{name}"));
    let src = policy.unwrap_or(scenario);
    let o = shakedown(&["export", src, "--format", format]);
    assert!(o.status.success(), "export {src}: {}", err(&o));
    let yaml = dir.join(format!("{name}.yaml"));
    std::fs::write(&yaml, out(&o)).unwrap();
    let mut direct = vec!["run", scenario, "--print-resolved"];
    if let Some(p) = policy {
        direct.extend(["--policy", p]);
    }
    let a = shakedown(&direct);
    assert!(a.status.success(), "{}", err(&a));
    let y = yaml.display().to_string();
    let b = shakedown(&["run", scenario, "--policy", &y, "--print-resolved"]);
    assert!(
        b.status.success(),
        "import of the export of {src}: {}\n{}",
        err(&b),
        out(&o)
    );
    assert_eq!(out(&a), out(&b), "{src} through {format}:\n{}", out(&o));
}

#[test]
fn export_then_import_is_the_identity() {
    round_trip("scenarios/policies/blue-green.toml", None, "argo", "bg");
    round_trip(
        "scenarios/policies/flagger.toml",
        None,
        "flagger",
        "flagger",
    );
    round_trip(
        "scenarios/policies/canary-24h-analysis.toml",
        None,
        "argo",
        "canary24",
    );
    // A canary with every step kind, a background analysis, a router, and
    // metrics of every shape on an endpoint.
    let dir = scratch_dir("manifests-rt-policy");
    let p = dir.join("canary.toml");
    std::fs::write(
        &p,
        r#"[analysis.gate]
[[analysis.gate.metrics]]
name = "sr"
provider = "prometheus"
query = "success-rate"
interval = "1m"
count = 5
failure_limit = 1
success_condition = "result >= 0.99"
[[analysis.gate.metrics]]
name = "p95"
provider = "prometheus"
query = "latency-p95"
interval = "1m"
count = 5
initial_delay = "30s"
failure_condition = "result > 400"
dry_run = true
[[analysis.gate.metrics]]
name = "errors"
provider = "prometheus"
query = "error-count"
interval = "2m"
count = 2
consecutive_success_limit = 1
failure_limit = -1
success_condition = "result < 5"

[policy]
kind = "canary"
traffic_routing = true
max_surge = 1
max_unavailable = "10%"
abort_scale_down_delay = "45s"
progress_deadline = "5m"
progress_deadline_abort = true
steps = [
  { set_canary_scale = { replicas = 2 } },
  { set_weight = 10 },
  { pause = { duration = "1h30m" } },
  { analysis = { template = "gate" } },
  { set_canary_scale = { match_traffic_weight = true } },
  { set_weight = 50 },
  { pause = {} },
]
[policy.analysis]
template = "gate"
starting_step = 1
"#,
    )
    .unwrap();
    round_trip(WORLD, Some(&p.display().to_string()), "argo", "canary");
}

#[test]
fn export_refuses_what_argo_cannot_express() {
    let o = shakedown(&[
        "export",
        "scenarios/policies/canary-weighted-endpoints.toml",
        "--format",
        "argo",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("`weights`"), "{}", err(&o));
    let o = shakedown(&["export", "scenarios/rolling-basic.toml", "--format", "argo"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err(&o).contains("a `rolling` policy has no Argo Rollout form"),
        "{}",
        err(&o)
    );
}

#[test]
fn sweep_edits_the_translated_policy() {
    let dir = scratch_dir("manifests-sweep");
    let d = dir.join("out").display().to_string();
    let o = shakedown(&[
        "sweep",
        WORLD,
        "--policy",
        "fixtures/manifests/flagger/istio-canary.yaml",
        "--param",
        "policy.step_weight=5,25",
        "--seeds",
        "1..2",
        "--out",
        &d,
    ]);
    assert!(o.status.success(), "{}", err(&o));
    // Bigger steps promote sooner: the grid really edits the Canary's policy.
    assert!(out(&o).contains("Pick `step_weight=25`"), "{}", out(&o));
    // A bad value is located in the scenario with the policy in place.
    let o = shakedown(&[
        "sweep",
        WORLD,
        "--policy",
        "fixtures/manifests/flagger/istio-canary.yaml",
        "--param",
        "policy.step_weight=70",
        "--seeds",
        "1",
        "--out",
        &d,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err(&o).contains("with --policy fixtures/manifests/flagger/istio-canary.yaml:")
            && err(&o).contains("must be at most max_weight (50), got 70"),
        "{}",
        err(&o)
    );
}

#[test]
fn dry_run_rules_match_as_argo_matches_them() {
    // Argo's GetDryRunMetrics (utils/analysis/helpers.go): an unanchored
    // regexp.MatchString, so the literal `lat` selects `latency`; a rule that
    // matches no metric is an error.
    let tpl = "---\napiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata: {name: t}\nspec:\n  metrics:\n  - name: sr\n    interval: 1m\n    count: 2\n    successCondition: result >= 0.9\n    provider:\n      prometheus:\n        query: sum(rate(x{code!~\"5..\"}[1m])) / sum(rate(x[1m]))\n  - name: latency\n    interval: 1m\n    count: 2\n    successCondition: result < 300\n    provider:\n      prometheus:\n        query: histogram_quantile(0.99, sum(rate(d_seconds_bucket[1m])) by (le))\n";
    let dir = scratch_dir("manifests-dry");
    let f = dir.join("r.yaml");
    let with = |rule: &str| {
        format!("{HEAD}      steps:\n      - analysis:\n          templates: [{{templateName: t}}]\n          dryRun: [{{metricName: {rule}}}]\n{tpl}")
    };
    std::fs::write(&f, with("lat")).unwrap();
    let p = f.display().to_string();
    let o = shakedown(&["run", WORLD, "--policy", &p, "--print-resolved"]);
    assert!(o.status.success(), "{}", err(&o));
    let r = out(&o);
    let metric = |name: &str| {
        let i = r.find(&format!("name = \"{name}\"")).unwrap();
        r[i..].split("[[").next().unwrap().to_string()
    };
    assert!(metric("latency").contains("dry_run = true"), "{r}");
    assert!(metric("sr").contains("dry_run = false"), "{r}");
    // The seconds histogram: the condition is rewritten in ms.
    assert!(
        metric("latency").contains("success_condition = \"result < 300000\""),
        "{r}"
    );
    std::fs::write(&f, with("nope")).unwrap();
    let o = shakedown(&["import", &p]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains(&format!("{p}:10:33: `spec.strategy.canary.steps[0].analysis.dryRun[0].metricName`: dry-run rule `nope` matches no metric")), "{}", err(&o));
}

/// Minutes in a Go/shakedown duration of whole minutes, hours or seconds
/// (`6m`, `1h30m`, `30s`).
fn secs(d: &str) -> u64 {
    let mut total = 0;
    let mut num = String::new();
    for c in d.chars() {
        match c {
            '0'..='9' => num.push(c),
            'h' | 'm' | 's' | 'd' => {
                let n: u64 = num.parse().unwrap();
                num.clear();
                total += n * match c {
                    'd' => 86400,
                    'h' => 3600,
                    'm' => 60,
                    _ => 1,
                };
            }
            _ => panic!("duration {d}"),
        }
    }
    total
}

/// `(seconds from the start, weight)` at every setWeight of an imported
/// canary (`shakedown import`'s TOML), and the pause after the last.
fn weights_of_import(toml_text: &str) -> (Vec<(u64, u32)>, u64) {
    let t: toml::Table = toml_text.parse().unwrap();
    let steps = t["policy"]["steps"].as_array().unwrap();
    let (mut at, mut out, mut tail) = (0, Vec::new(), 0);
    for s in steps {
        if let Some(w) = s.get("set_weight") {
            out.push((at, w.as_integer().unwrap() as u32));
            tail = 0;
        } else if let Some(p) = s.get("pause") {
            let d = secs(p["duration"].as_str().expect("a timed pause"));
            at += d;
            tail += d;
        } else {
            panic!("unexpected step {s}");
        }
    }
    (out, tail)
}

/// `(seconds, target %)` of every recomputation at which the simulator moved
/// hosts (its audit rows `t = 6m: target 20.0000 % → …`).
fn ramp_of_run(events_csv: &str) -> Vec<(u64, u32)> {
    let mut out: Vec<(u64, u32)> = Vec::new();
    for l in events_csv.lines().filter(|l| l.contains(",linear step ")) {
        let r = l.split_once("\"t = ").unwrap().1;
        let (t, rest) = r.split_once(": target ").unwrap();
        let pct: f64 = rest.split_once(" %").unwrap().0.parse().unwrap();
        let p = (secs(t), pct.round() as u32);
        if out.last() != Some(&p) {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_linear_ramp_exports_as_the_argo_steps_the_simulator_takes() {
    // AppConfig's LINEAR 20 % over 30 m and EXPONENTIAL 10 % over 20 m: the
    // export's setWeight times and weights, imported back, are the shares
    // the simulator's ramp moved hosts to and when; the bake is the last
    // pause; the SLO is the background analysis.
    let dir = scratch_dir("manifests-velocity");
    for (file, expect, bake) in [
        (
            "Linear20PercentEvery6Minutes",
            vec![(360, 20), (720, 40), (1080, 60), (1440, 80), (1800, 100)],
            1800,
        ),
        (
            "Canary10Percent20Minutes",
            vec![(240, 10), (480, 20), (720, 40), (960, 80), (1200, 100)],
            600,
        ),
    ] {
        let src = format!("scenarios/policies/appconfig/{file}.toml");
        let o = shakedown(&["export", &src, "--format", "argo"]);
        assert!(o.status.success(), "{}", err(&o));
        let yaml = dir.join(format!("{file}.yaml"));
        std::fs::write(&yaml, out(&o)).unwrap();
        assert!(out(&o).contains("# not mapped: the ramp upgrades hosts in place"));
        let i = shakedown(&["import", &yaml.display().to_string()]);
        assert!(i.status.success(), "{}", err(&i));
        let imported = out(&i);
        let (weights, tail) = weights_of_import(&imported);
        assert_eq!(weights, expect, "{file}: export then import");
        assert_eq!(tail, bake, "{file}: the bake");
        let t: toml::Table = imported.parse().unwrap();
        assert_eq!(
            t["policy"]["analysis"]["starting_step"].as_integer(),
            Some(0)
        );
        let tname = t["policy"]["analysis"]["template"].as_str().unwrap();
        let m = &t["analysis"][tname]["metrics"][0];
        assert_eq!(m["query"].as_str(), Some("success-rate"));
        assert_eq!(m["success_condition"].as_str(), Some("result >= 0.99"));
        assert_eq!(m["interval"].as_str(), Some("30s"));
        assert_eq!(m["failure_limit"].as_integer(), Some(0));
        // The simulator's own ramp.
        let run = dir.join(format!("{file}-run"));
        let r = shakedown(&["run", &src, "--out", &run.display().to_string()]);
        assert!(r.status.success(), "{}", err(&r));
        let events = std::fs::read_to_string(run.join("events.csv")).unwrap();
        assert_eq!(ramp_of_run(&events), expect, "{file}: the simulator's ramp");
    }
    // What Argo cannot express is an error naming the field.
    let p = dir.join("capped.toml");
    std::fs::write(
        &p,
        "[policy]\nkind = \"linear\"\nduration = \"1h\"\nstep = \"30m\"\nmax_pct = 10\n",
    )
    .unwrap();
    let o = shakedown(&["export", &p.display().to_string(), "--format", "argo"]);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(err(&o).contains("`policy.max_pct`"), "{}", err(&o));
}

#[test]
fn a_sweeps_pareto_optimal_ramps_export_as_rollouts() {
    // argo-rollouts#3169 ("velocity"): sweep a ramp's duration and growth
    // factor, export the Pareto-optimal completed points as Argo steps.
    let dir = scratch_dir("manifests-velocity-sweep");
    let d = dir.join("sweep").display().to_string();
    let o = shakedown(&[
        "sweep",
        "scenarios/policies/appconfig/Linear20PercentEvery6Minutes.toml",
        "--param",
        "policy.duration=10m,30m",
        "--param",
        "policy.shape.growth_factor=20,50",
        "--seeds",
        "1..2",
        "--out",
        &d,
    ]);
    assert!(o.status.success(), "{}", err(&o));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("sweep/summary.json")).unwrap())
            .unwrap();
    let mut optimal: Vec<String> = Vec::new();
    for f in summary["pareto"].as_array().unwrap() {
        for g in f["groups"].as_array().unwrap() {
            let g = g.as_str().unwrap().to_string();
            if !optimal.contains(&g) {
                optimal.push(g);
            }
        }
    }
    assert!(!optimal.is_empty());
    let e = shakedown(&["export", &d, "--format", "argo"]);
    assert!(e.status.success(), "{}", err(&e));
    let text = out(&e);
    let chunks: Vec<&str> = text.split("# sweep point `").skip(1).collect();
    assert_eq!(chunks.len(), optimal.len(), "{text}");
    for (chunk, label) in chunks.iter().zip(&optimal) {
        assert!(chunk.starts_with(&format!("{label}`")), "{chunk}");
        // The point's values, from its comment line.
        let head = chunk.lines().next().unwrap();
        let duration = secs(
            head.split("policy.duration=")
                .nth(1)
                .unwrap()
                .split(',')
                .next()
                .unwrap(),
        );
        let g: u32 = head
            .split("policy.shape.growth_factor=")
            .nth(1)
            .unwrap()
            .split(')')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let n = 100_u32.div_ceil(g);
        let expect: Vec<(u64, u32)> = (1..=n)
            .map(|k| ((k as u64 * duration).div_ceil(n as u64), (k * g).min(100)))
            .collect();
        // Each Rollout imports alone, with the steps of its ramp.
        let yaml = dir.join(format!("point-{}.yaml", label.replace([' ', '='], "_")));
        let body = chunk.split_once('\n').unwrap().1.trim_end_matches("---\n");
        std::fs::write(&yaml, body).unwrap();
        let i = shakedown(&["import", &yaml.display().to_string()]);
        assert!(i.status.success(), "{label}: {}\n{body}", err(&i));
        assert_eq!(weights_of_import(&out(&i)).0, expect, "{label}");
        // Template names are the Rollout's own (several go in one stream).
        assert!(
            body.contains("templateName: appconfig-linear20percentevery6minutes-"),
            "{body}"
        );
    }
    // A compare directory is refused with the reason.
    let c = dir.join("compare").display().to_string();
    let o = shakedown(&[
        "compare",
        "scenarios/policies/appconfig/Linear20PercentEvery6Minutes.toml",
        "--seeds",
        "1",
        "--out",
        &c,
    ]);
    assert!(o.status.success(), "{}", err(&o));
    let o = shakedown(&["export", &c, "--format", "argo"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("export takes a sweep's"), "{}", err(&o));
}
