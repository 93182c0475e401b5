//! `shakedown export POLICY_OR_SCENARIO --format argo|flagger`: a validated
//! policy as an Argo `Rollout` with its `AnalysisTemplate`s, or a Flagger
//! `Canary` with its `MetricTemplate`s — the reverse of the importer, so
//! that importing the output gives the same validated policy (tested).
//!
//! Every field is written out, defaults included. Measurements become
//! Prometheus queries of the shapes the importer maps back
//! (`http_requests_total` by `status` and `path`, a millisecond latency
//! histogram); what Argo or Flagger cannot express (a deploy window, a
//! measurement of the old cohort, per-endpoint weights, a minimum-requests
//! guard, the Kayenta judge, shakedown's own health timeout) is an error
//! naming the field.

use crate::input::BadInput;
use shakedown_sim::analysis::spec::{AnalysisSpec, CohortName, MetricSpec, Provider};
use shakedown_sim::analysis::Query;
use shakedown_sim::policy::spec::{
    BlueGreenSpec, CanaryScale, CanarySpec, CanaryStep, FlaggerSpec, IntOrPercent, PolicySpec,
};
use shakedown_sim::time::SimDuration;
use shakedown_sim::Scenario;
use std::fmt::Write;
use std::path::Path;
use std::process::ExitCode;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Argo,
    Flagger,
}

pub fn export(path: &Path, format: Format) -> anyhow::Result<ExitCode> {
    if super::velocity::is_experiment_dir(path) {
        return super::velocity::export_sweep(path, format);
    }
    let text = crate::input::read_text(path, "policy or scenario")?;
    let is_scenario = !super::yaml::looks_like_yaml(&path.display().to_string(), &text)
        && text
            .parse::<toml::Table>()
            .is_ok_and(|t| t.contains_key("fleet"));
    let sc = if is_scenario {
        crate::input::parse_scenario(&text, path)?
    } else {
        let d = Path::new("(export default scenario)");
        // A linear ramp tells hosts which version to run: in place.
        let linear = text
            .parse::<toml::Table>()
            .ok()
            .and_then(|t| {
                t.get("policy")?
                    .get("kind")?
                    .as_str()
                    .map(|k| k == "linear")
            })
            .unwrap_or(false);
        let default = if linear {
            super::lint::DEFAULT_SCENARIO.replace("mode = \"replace\"", "mode = \"in-place\"")
        } else {
            super::lint::DEFAULT_SCENARIO.to_string()
        };
        super::policy_file::with_policy(&default, d, path, None)?
    };
    let out =
        export_scenario(&sc, format).map_err(|m| BadInput(format!("{}: {m}", path.display())))?;
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// The manifest text for the scenario's policy.
pub fn to_manifest(sc: &Scenario, format: Format) -> Result<String, String> {
    let name = dns_name(&sc.name);
    match (&sc.policy, format) {
        (PolicySpec::Canary(c), Format::Argo) => argo_canary(&name, c),
        (PolicySpec::BlueGreen(b), Format::Argo) => argo_blue_green(&name, b),
        (PolicySpec::Flagger(f), Format::Flagger) => flagger(&name, f),
        (PolicySpec::Linear(l), Format::Argo) => {
            let (c, notes) = super::velocity::linear_as_canary(&name, l)?;
            let head = format!(
                "the linear ramp `{}` as Argo canary steps (shakedown export; docs/MANIFESTS.md, \"Velocity\")",
                sc.name
            );
            Ok(super::velocity::comments(&head, &notes) + &argo_canary(&name, &c)?)
        }
        (PolicySpec::Windowed { .. }, _) => Err("`policy.window`: a deploy window has no Argo Rollouts or Flagger field; remove it to export".into()),
        (p, Format::Argo) => Err(format!("`policy.kind`: a `{}` policy has no Argo Rollout form (export takes canary, blue-green and linear; flagger with --format flagger)", p.kind())),
        (p, Format::Flagger) => Err(format!("`policy.kind`: a `{}` policy has no Flagger Canary form (export takes flagger; canary, blue-green and linear with --format argo)", p.kind())),
    }
}

/// A Kubernetes object name from a scenario name.
pub(super) fn dns_name(s: &str) -> String {
    let n: String = s
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let n = n.trim_matches('-').to_string();
    if n.is_empty() {
        "shakedown".into()
    } else {
        n
    }
}

/// A Go duration (`1h30m`, `45s`, `250ms`): no days, which Go does not take.
fn go_duration(d: SimDuration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    if ms % 1000 != 0 {
        return format!("{ms}ms");
    }
    let s = ms / 1000;
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    let mut out = String::new();
    if h > 0 {
        write!(out, "{h}h").unwrap();
    }
    if m > 0 {
        write!(out, "{m}m").unwrap();
    }
    if s > 0 {
        write!(out, "{s}s").unwrap();
    }
    out
}

fn whole_seconds(d: SimDuration, field: &str) -> Result<u64, String> {
    if d.as_millis() % 1000 != 0 {
        return Err(format!(
            "`{field}`: {d} is not a whole number of seconds, which Argo's field needs"
        ));
    }
    Ok(d.as_millis() / 1000)
}

/// A YAML double-quoted string.
fn q(s: &str) -> String {
    serde_json::to_string(s).expect("a string serialises")
}

fn int_or_percent(v: IntOrPercent) -> String {
    match v {
        IntOrPercent::Count(n) => n.to_string(),
        IntOrPercent::Percent(p) => q(&format!("{p}%")),
    }
}

/// The Prometheus query the importer maps back to `query` (on `endpoint`).
fn promql(query: Query, endpoint: Option<&str>, window: &str) -> Result<String, String> {
    let sel = |extra: &str| {
        let mut parts = Vec::new();
        if let Some(e) = endpoint {
            parts.push(format!("path={}", q(e)));
        }
        if !extra.is_empty() {
            parts.push(extra.to_string());
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("{{{}}}", parts.join(","))
        }
    };
    let total = format!("sum(rate(http_requests_total{}[{window}]))", sel(""));
    Ok(match query {
        Query::SuccessRate => format!(
            "sum(rate(http_requests_total{}[{window}])) / {total}",
            sel("status!~\"5..\"")
        ),
        Query::ErrorRate => format!(
            "sum(rate(http_requests_total{}[{window}])) / {total}",
            sel("status=~\"5..\"")
        ),
        Query::ErrorCount => format!(
            "sum(increase(http_requests_total{}[{window}]))",
            sel("status=~\"5..\"")
        ),
        Query::Requests => format!("sum(increase(http_requests_total{}[{window}]))", sel("")),
        Query::LatencyP50 | Query::LatencyP95 | Query::LatencyP99 => {
            let quant = match query {
                Query::LatencyP50 => "0.5",
                Query::LatencyP95 => "0.95",
                _ => "0.99",
            };
            format!("histogram_quantile({quant}, sum(rate(http_request_duration_milliseconds_bucket{}[{window}])) by (le))", sel(""))
        }
        Query::ReadyRatio => {
            return Err(
                "query `ready-ratio` (host readiness) has no request-metric Prometheus form".into(),
            )
        }
    })
}

/// The analyses a policy uses, each written once, by name (a second,
/// different analysis of the same name gets `-2`).
#[derive(Default)]
struct Templates {
    list: Vec<AnalysisSpec>,
}

impl Templates {
    fn name_of(&mut self, a: &AnalysisSpec) -> String {
        let mut name = dns_name(&a.name);
        let mut k = 1;
        loop {
            match self.list.iter().find(|t| dns_name(&t.name) == name) {
                Some(t) if t == a => return name,
                Some(_) => {
                    k += 1;
                    name = format!("{}-{k}", dns_name(&a.name));
                }
                None => {
                    let mut a = a.clone();
                    a.name = name.clone();
                    self.list.push(a);
                    return name;
                }
            }
        }
    }

    fn yaml(&self, out: &mut String) -> Result<(), String> {
        for t in &self.list {
            writeln!(out, "---\napiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata:\n  name: {}\nspec:", t.name).unwrap();
            let dry: Vec<&MetricSpec> = t.metrics.iter().filter(|m| m.dry_run).collect();
            if !dry.is_empty() {
                writeln!(out, "  dryRun:").unwrap();
                for m in dry {
                    writeln!(out, "  - metricName: {}", q(&m.name)).unwrap();
                }
            }
            writeln!(out, "  metrics:").unwrap();
            for m in &t.metrics {
                metric(out, m)
                    .map_err(|e| format!("analysis `{}`, metric `{}`: {e}", t.name, m.name))?;
            }
        }
        Ok(())
    }
}

fn metric(out: &mut String, m: &MetricSpec) -> Result<(), String> {
    let Provider::Prometheus {
        query,
        cohort,
        endpoint,
        weights,
        success_condition,
        failure_condition,
        min_requests,
    } = &m.provider
    else {
        return Err("the Kayenta judge has no export form (Argo's kayenta provider needs a Kayenta server and its own config)".into());
    };
    if *cohort == CohortName::Old {
        return Err("`cohort = \"old\"`: an Argo metric measures what its query selects; export measures the new version only".into());
    }
    if weights.is_some() {
        return Err(
            "`weights`: per-endpoint weights have no single Prometheus query form here".into(),
        );
    }
    if min_requests.is_some() {
        return Err("`min_requests`: Argo has no minimum-sample guard field (write it into the query or the condition yourself)".into());
    }
    let window = m.interval.map_or("1m".to_string(), go_duration);
    let endpoint_name = match endpoint {
        Some(i) => Some(
            ENDPOINTS
                .with(|e| e.borrow().get(*i).cloned())
                .ok_or_else(|| format!("endpoint index {i} is not in the scenario"))?,
        ),
        None => None,
    };
    writeln!(out, "  - name: {}", q(&m.name)).unwrap();
    if let Some(i) = m.interval {
        writeln!(out, "    interval: {}", go_duration(i)).unwrap();
    }
    if let Some(c) = m.count {
        writeln!(out, "    count: {c}").unwrap();
    }
    writeln!(out, "    initialDelay: {}", go_duration(m.initial_delay)).unwrap();
    writeln!(out, "    failureLimit: {}", m.failure_limit).unwrap();
    writeln!(out, "    inconclusiveLimit: {}", m.inconclusive_limit).unwrap();
    writeln!(
        out,
        "    consecutiveErrorLimit: {}",
        m.consecutive_error_limit
    )
    .unwrap();
    if m.consecutive_success_limit > 0 {
        writeln!(
            out,
            "    consecutiveSuccessLimit: {}",
            m.consecutive_success_limit
        )
        .unwrap();
    }
    if let Some(c) = success_condition {
        writeln!(out, "    successCondition: {}", q(&c.to_string())).unwrap();
    }
    if let Some(c) = failure_condition {
        writeln!(out, "    failureCondition: {}", q(&c.to_string())).unwrap();
    }
    writeln!(
        out,
        "    provider:\n      prometheus:\n        address: http://prometheus.monitoring:9090\n        query: {}",
        q(&promql(*query, endpoint_name.as_deref(), &window)?)
    )
    .unwrap();
    Ok(())
}

thread_local! {
    /// The scenario's endpoint names while one export runs (metrics name
    /// endpoints by index).
    static ENDPOINTS: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn with_endpoints<R>(sc_endpoints: Vec<String>, f: impl FnOnce() -> R) -> R {
    ENDPOINTS.with(|e| *e.borrow_mut() = sc_endpoints);
    let r = f();
    ENDPOINTS.with(|e| e.borrow_mut().clear());
    r
}

/// [`to_manifest`] with the scenario's endpoint names in scope.
pub fn export_scenario(sc: &Scenario, format: Format) -> Result<String, String> {
    let names = sc
        .traffic
        .endpoints
        .iter()
        .map(|e| e.name.clone())
        .collect();
    with_endpoints(names, || to_manifest(sc, format))
}

fn rollout_head(
    out: &mut String,
    name: &str,
    deadline: SimDuration,
    abort: bool,
) -> Result<(), String> {
    writeln!(
        out,
        "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: {name}\nspec:\n  progressDeadlineSeconds: {}\n  progressDeadlineAbort: {abort}",
        whole_seconds(deadline, "policy.progress_deadline")?
    )
    .unwrap();
    Ok(())
}

fn refs(out: &mut String, indent: &str, name: &str) {
    writeln!(out, "{indent}templates:\n{indent}- templateName: {name}").unwrap();
}

pub(super) fn argo_canary(name: &str, c: &CanarySpec) -> Result<String, String> {
    if c.skip_analysis {
        return Err(
            "`policy.skip_analysis`: Argo has no field that skips a Rollout's analysis steps"
                .into(),
        );
    }
    let mut out = String::new();
    let mut t = Templates::default();
    rollout_head(
        &mut out,
        name,
        c.progress_deadline,
        c.progress_deadline_abort,
    )?;
    writeln!(out, "  strategy:\n    canary:").unwrap();
    writeln!(out, "      maxSurge: {}", int_or_percent(c.max_surge)).unwrap();
    writeln!(
        out,
        "      maxUnavailable: {}",
        int_or_percent(c.max_unavailable)
    )
    .unwrap();
    writeln!(
        out,
        "      abortScaleDownDelaySeconds: {}",
        whole_seconds(c.abort_scale_down_delay, "policy.abort_scale_down_delay")?
    )
    .unwrap();
    if c.traffic_routing {
        writeln!(out, "      trafficRouting:\n        smi: {{}}").unwrap();
    }
    if let Some(bg) = &c.analysis {
        let n = t.name_of(&bg.analysis);
        writeln!(out, "      analysis:").unwrap();
        refs(&mut out, "        ", &n);
        writeln!(out, "        startingStep: {}", bg.starting_step).unwrap();
    }
    if c.steps.is_empty() {
        writeln!(out, "      steps: []").unwrap();
    } else {
        writeln!(out, "      steps:").unwrap();
    }
    for st in &c.steps {
        match st {
            CanaryStep::SetWeight(w) => writeln!(out, "      - setWeight: {w}").unwrap(),
            CanaryStep::Pause(p) => match p.duration {
                None => writeln!(out, "      - pause: {{}}").unwrap(),
                Some(d) => {
                    writeln!(out, "      - pause: {{duration: {}}}", go_duration(d)).unwrap()
                }
            },
            CanaryStep::SetCanaryScale(s) => match s {
                CanaryScale::Replicas(n) => {
                    writeln!(out, "      - setCanaryScale: {{replicas: {n}}}").unwrap()
                }
                CanaryScale::Weight(n) => {
                    writeln!(out, "      - setCanaryScale: {{weight: {n}}}").unwrap()
                }
                CanaryScale::MatchTrafficWeight(b) => {
                    writeln!(out, "      - setCanaryScale: {{matchTrafficWeight: {b}}}").unwrap()
                }
            },
            CanaryStep::Analysis(a) => {
                let n = t.name_of(a);
                writeln!(out, "      - analysis:").unwrap();
                refs(&mut out, "          ", &n);
            }
        }
    }
    t.yaml(&mut out)?;
    Ok(out)
}

fn argo_blue_green(name: &str, b: &BlueGreenSpec) -> Result<String, String> {
    if b.health_timeout != SimDuration::from_secs(600) {
        return Err("`policy.health_timeout`: shakedown's own health gate has no Argo field; leave it at its default (10m) to export".into());
    }
    let mut out = String::new();
    let mut t = Templates::default();
    rollout_head(
        &mut out,
        name,
        b.progress_deadline,
        b.progress_deadline_abort,
    )?;
    writeln!(out, "  strategy:\n    blueGreen:\n      activeService: {name}-active\n      previewService: {name}-preview").unwrap();
    writeln!(
        out,
        "      autoPromotionEnabled: {}",
        b.auto_promotion_enabled
    )
    .unwrap();
    if let Some(s) = b.auto_promotion_seconds {
        writeln!(out, "      autoPromotionSeconds: {s}").unwrap();
    }
    writeln!(
        out,
        "      scaleDownDelaySeconds: {}",
        whole_seconds(b.scale_down_delay, "policy.scale_down_delay")?
    )
    .unwrap();
    writeln!(
        out,
        "      abortScaleDownDelaySeconds: {}",
        whole_seconds(b.abort_scale_down_delay, "policy.abort_scale_down_delay")?
    )
    .unwrap();
    match b.preview_replica_count {
        IntOrPercent::Percent(100) => {}
        IntOrPercent::Count(n) => writeln!(out, "      previewReplicaCount: {n}").unwrap(),
        IntOrPercent::Percent(p) => {
            return Err(format!(
                "`policy.preview_replica_count`: Argo's previewReplicaCount is a count, not {p}%"
            ))
        }
    }
    for (k, a) in [
        ("prePromotionAnalysis", &b.pre_promotion_analysis),
        ("postPromotionAnalysis", &b.post_promotion_analysis),
    ] {
        if let Some(a) = a {
            let n = t.name_of(a);
            writeln!(out, "      {k}:").unwrap();
            refs(&mut out, "        ", &n);
        }
    }
    t.yaml(&mut out)?;
    Ok(out)
}

fn flagger(name: &str, f: &FlaggerSpec) -> Result<String, String> {
    if f.max_unavailable != IntOrPercent::Percent(25) {
        return Err("`policy.max_unavailable`: how shakedown rolls the primary has no Flagger field; leave it at its default (25%) to export".into());
    }
    let mut out = String::new();
    writeln!(
        out,
        "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata:\n  name: {name}\nspec:\n  targetRef:\n    apiVersion: apps/v1\n    kind: Deployment\n    name: {name}\n  service:\n    port: 80\n  analysis:\n    interval: {}\n    threshold: {}",
        go_duration(f.interval),
        f.threshold
    )
    .unwrap();
    if let Some(i) = f.iterations {
        writeln!(out, "    iterations: {i}").unwrap();
    } else {
        let ws: Vec<String> = f.step_weights.iter().map(u32::to_string).collect();
        writeln!(out, "    stepWeights: [{}]", ws.join(", ")).unwrap();
    }
    let mut templates = String::new();
    if f.metrics.is_empty() {
        writeln!(out, "    metrics: []").unwrap();
    } else {
        writeln!(out, "    metrics:").unwrap();
    }
    for m in &f.metrics {
        if m.role.is_some() {
            return Err(format!(
                "metric `{}`: `role`: a Flagger check watches the whole canary",
                m.name
            ));
        }
        let (scale, tref) = match (m.name.as_str(), m.query) {
            ("request-success-rate", Query::SuccessRate) => (100.0, None),
            ("request-duration", Query::LatencyP99) => (1.0, None),
            _ => (1.0, Some(dns_name(&m.name))),
        };
        writeln!(out, "    - name: {}", q(&m.name)).unwrap();
        if let Some(t) = &tref {
            writeln!(out, "      templateRef:\n        name: {t}").unwrap();
            writeln!(
                templates,
                "---\napiVersion: flagger.app/v1beta1\nkind: MetricTemplate\nmetadata:\n  name: {t}\nspec:\n  provider:\n    type: prometheus\n    address: http://prometheus.monitoring:9090\n  query: {}",
                q(&promql(m.query, None, &go_duration(f.interval))?)
            )
            .unwrap();
        }
        writeln!(out, "      thresholdRange:").unwrap();
        for (k, v) in [("min", m.min), ("max", m.max)] {
            if let Some(v) = v {
                writeln!(out, "        {k}: {}", super::round(v * scale)).unwrap();
            }
        }
    }
    out.push_str(&templates);
    Ok(out)
}
