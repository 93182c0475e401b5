//! Which shakedown measurement a manifest's metric reads: a documented table
//! (docs/MANIFESTS.md), overridable with `--metric-map FILE`.
//!
//! A rule matches a metric by its name, its provider, or a substring of its
//! query, and gives the [`Query`] shakedown measures, an optional endpoint,
//! a `scale` (shakedown's value = scale × the query's value, so a condition
//! on seconds is rewritten in milliseconds) and, for providers without
//! conditions of their own (a Kubernetes Job, a web hook), the condition.
//! User rules are tried first, in file order; then the built-in shapes of
//! Prometheus queries; a metric nothing maps is an error naming the metric
//! and the rule to add.

use serde::Deserialize;
use shakedown_sim::analysis::Query;

/// One `[[metric]]` rule of a `--metric-map` file.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Matches the metric named so (Argo `metrics[].name`, Flagger
    /// `metrics[].name`).
    pub name: Option<String>,
    /// Matches every metric of this provider (`prometheus`, `job`, `web`,
    /// `datadog`, …).
    pub provider: Option<String>,
    /// Matches a metric whose query contains this text.
    pub query_contains: Option<String>,
    /// What shakedown measures for it.
    pub query: Query,
    pub endpoint: Option<String>,
    /// shakedown's value = scale × the query's value (default 1).
    pub scale: Option<f64>,
    /// Replaces the metric's success condition (Argo) — required for
    /// providers that have none (a Job passes when it exits 0).
    pub success_condition: Option<String>,
    pub failure_condition: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricMap {
    #[serde(default, rename = "metric")]
    pub rules: Vec<Rule>,
}

/// What a metric was mapped to, and by which rule (for the comment `import`
/// writes).
#[derive(Clone, Debug, PartialEq)]
pub struct Mapped {
    pub query: Query,
    pub endpoint: Option<String>,
    pub scale: f64,
    pub success_condition: Option<String>,
    pub failure_condition: Option<String>,
    pub rule: String,
}

/// The metric as the manifest describes it.
pub struct Metric<'a> {
    pub name: &'a str,
    pub provider: &'a str,
    /// The query text (Prometheus), if any.
    pub query: Option<&'a str>,
}

impl MetricMap {
    pub fn parse(file: &str, text: &str) -> Result<MetricMap, String> {
        let m: MetricMap = toml::from_str(text).map_err(|e| {
            let (line, col) = e.span().map_or((1, 1), |s| {
                let idx = shakedown_sim::located::TomlIndex::new(text);
                idx.line_col(s.start)
            });
            format!("{file}:{line}:{col}: `metric`: {}", e.message().trim())
        })?;
        for (i, r) in m.rules.iter().enumerate() {
            if r.name.is_none() && r.provider.is_none() && r.query_contains.is_none() {
                return Err(format!(
                    "{file}: `metric[{i}]`: a rule needs `name`, `provider` or `query_contains` to match a metric"
                ));
            }
            if r.scale.is_some_and(|s| !(s.is_finite() && s > 0.0)) {
                return Err(format!("{file}: `metric[{i}].scale`: must be a number > 0"));
            }
        }
        Ok(m)
    }

    /// The first user rule that matches, else the built-in shapes.
    pub fn map(&self, m: &Metric<'_>) -> Option<Mapped> {
        for (i, r) in self.rules.iter().enumerate() {
            let hit = r.name.as_ref().is_none_or(|n| n == m.name)
                && r.provider.as_ref().is_none_or(|p| p == m.provider)
                && r.query_contains
                    .as_ref()
                    .is_none_or(|q| m.query.is_some_and(|t| t.contains(q.as_str())));
            if hit {
                return Some(Mapped {
                    query: r.query,
                    endpoint: r.endpoint.clone(),
                    scale: r.scale.unwrap_or(1.0),
                    success_condition: r.success_condition.clone(),
                    failure_condition: r.failure_condition.clone(),
                    rule: format!("--metric-map rule {}", i + 1),
                });
            }
        }
        match (m.provider, m.query) {
            ("prometheus", Some(q)) => builtin(q),
            _ => None,
        }
    }
}

/// Label names that select an endpoint in the built-in shapes.
const ENDPOINT_LABELS: [&str; 5] = ["path", "uri", "route", "handler", "endpoint"];

/// The query without whitespace, for matching shapes.
fn squeeze(q: &str) -> String {
    q.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Whether a selector matches 5xx responses (`=~"5.."`, `=~"5.*"`, `="5xx"`)
/// or excludes them (`!~"5.."` …): `Some(true)` matches, `Some(false)`
/// excludes, `None` says nothing about status.
fn status_5xx(sel: &str) -> Option<bool> {
    for pat in [
        "\"5..\"",
        "\"5.*\"",
        "\"5xx\"",
        "\"5.+\"",
        "\"5\\\\d\\\\d\"",
    ] {
        if let Some(i) = sel.find(pat) {
            let before = &sel[..i];
            return Some(!(before.ends_with("!~") || before.ends_with("!=")));
        }
    }
    None
}

/// The endpoint a selector picks: `path="/x"` (or uri, route, handler,
/// endpoint).
fn endpoint(sel: &str) -> Option<String> {
    for l in ENDPOINT_LABELS {
        for sep in [",", "{"] {
            let pat = format!("{sep}{l}=\"");
            if let Some(i) = sel.find(&pat) {
                let rest = &sel[i + pat.len()..];
                return rest.find('"').map(|j| rest[..j].to_string());
            }
        }
    }
    None
}

/// The built-in shapes of Prometheus queries (docs/MANIFESTS.md):
///
/// | shape | measurement |
/// |---|---|
/// | `histogram_quantile(0.5/0.95/0.99, …)` | latency-p50/p95/p99 (×1000 for a `_seconds` histogram) |
/// | `sum(rate(X{…!~"5.."}[w])) / sum(rate(X[w]))` | success-rate |
/// | `sum(rate(X{…=~"5.."}[w])) / sum(rate(X[w]))` | error-rate |
/// | `sum(increase(X{…=~"5.."}[w]))` | error-count |
/// | `sum(increase(X[w]))` | requests |
///
/// `rate` may be `irate`; a `path`/`uri`/`route`/`handler`/`endpoint`
/// label equal to a value selects that endpoint (in the numerator for a
/// ratio).
pub fn builtin(query: &str) -> Option<Mapped> {
    let q = squeeze(query);
    let mapped = |query: Query, scale: f64, endpoint: Option<String>, rule: &str| Mapped {
        query,
        endpoint,
        scale,
        success_condition: None,
        failure_condition: None,
        rule: format!("built-in: {rule}"),
    };
    if let Some(rest) = q.strip_prefix("histogram_quantile(") {
        let (quant, body) = rest.split_once(',')?;
        let query = match quant {
            "0.5" | "0.50" => Query::LatencyP50,
            "0.95" => Query::LatencyP95,
            "0.99" => Query::LatencyP99,
            _ => return None,
        };
        let scale = if body.contains("_seconds") {
            1000.0
        } else {
            1.0
        };
        let rule = if scale == 1.0 {
            "latency quantile (histogram in ms)"
        } else {
            "latency quantile (histogram in seconds, ×1000 to ms)"
        };
        return Some(mapped(query, scale, endpoint(body), rule));
    }
    // A percentage (`… * 100`, `100 * …`): shakedown's rates are 0..1.
    let (q, pct) = match q.strip_suffix("*100").or_else(|| q.strip_prefix("100*")) {
        Some(inner) => (unparen(inner).to_string(), true),
        None => (q, false),
    };
    let is_sum =
        |s: &str| ["sum(rate(", "sum(irate("].iter().any(|p| s.starts_with(p)) && whole_call(s);
    if let Some((num, den)) = split_ratio(&q) {
        let (num, den) = (unparen(num), unparen(den));
        if is_sum(num) && is_sum(den) && status_5xx(den).is_none() {
            let scale = if pct { 0.01 } else { 1.0 };
            let unit = if pct { " (a percentage, ÷100)" } else { "" };
            return match status_5xx(num)? {
                true => Some(mapped(
                    Query::ErrorRate,
                    scale,
                    endpoint(num),
                    &format!("5xx ratio{unit}"),
                )),
                false => Some(mapped(
                    Query::SuccessRate,
                    scale,
                    endpoint(num),
                    &format!("non-5xx ratio{unit}"),
                )),
            };
        }
        return None;
    }
    if pct {
        return None;
    }
    if q.starts_with("sum(increase(") && whole_call(&q) {
        return match status_5xx(&q) {
            Some(true) => Some(mapped(Query::ErrorCount, 1.0, endpoint(&q), "5xx increase")),
            None => Some(mapped(
                Query::Requests,
                1.0,
                endpoint(&q),
                "request increase",
            )),
            Some(false) => None,
        };
    }
    None
}

/// Whether `s` is one call: its first `(` closes at its last character.
fn whole_call(s: &str) -> bool {
    let Some(open) = s.find('(') else {
        return false;
    };
    let mut depth = 0i32;
    let mut in_str = false;
    for (i, c) in s.char_indices().skip_while(|(i, _)| *i < open) {
        match c {
            '"' => in_str = !in_str,
            '(' if !in_str => depth += 1,
            ')' if !in_str => {
                depth -= 1;
                if depth == 0 {
                    return i == s.len() - 1;
                }
            }
            _ => {}
        }
    }
    false
}

/// `s` without parentheses around all of it.
fn unparen(s: &str) -> &str {
    let mut s = s;
    while s.starts_with('(') && s.ends_with(')') && whole_call(s) {
        s = &s[1..s.len() - 1];
    }
    s
}

/// `A / B` at the top level (outside parentheses and braces).
fn split_ratio(q: &str) -> Option<(&str, &str)> {
    let mut depth = 0i32;
    let mut in_str = false;
    for (i, c) in q.char_indices() {
        match c {
            '"' => in_str = !in_str,
            '(' | '{' | '[' if !in_str => depth += 1,
            ')' | '}' | ']' if !in_str => depth -= 1,
            '/' if !in_str && depth == 0 => return Some((&q[..i], &q[i + 1..])),
            _ => {}
        }
    }
    None
}

/// The hint an unmapped metric's error gives: the rule to add.
pub fn hint(m: &Metric<'_>) -> String {
    format!(
        "map it with `--metric-map FILE`, a TOML file with a rule such as\n  [[metric]]\n  name = \"{}\"\n  query = \"success-rate\"   # success-rate | error-rate | error-count | requests | latency-p50 | latency-p95 | latency-p99\n  success_condition = \"result >= 0.99\"   # needed when the provider has no condition of its own\n(docs/MANIFESTS.md lists the query shapes mapped without a rule)",
        m.name
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_shapes() {
        // examples/appmesh/canary-rollout.yaml (argoproj/argo-rollouts).
        let appmesh = r#"sum(irate(envoy_cluster_upstream_rq_xx{app="wrk-tester",envoy_cluster_name="{{args.envoy_cluster_name}}",envoy_response_code_class!~"5.*"}[5m])) /
          sum(irate(envoy_cluster_upstream_rq_xx{app="wrk-tester",envoy_cluster_name="{{args.envoy_cluster_name}}"}[5m]))"#;
        // Argo's docs/features/analysis.md success-rate example.
        let argo_doc = r#"sum(irate(istio_requests_total{reporter="source",destination_service=~"{{args.service-name}}",response_code!~"5.*"}[5m])) / sum(irate(istio_requests_total{reporter="source",destination_service=~"{{args.service-name}}"}[5m]))"#;
        type Want<'a> = Option<(Query, f64, Option<&'a str>)>;
        let cases: [(&str, Want<'_>); 12] = [
            (appmesh, Some((Query::SuccessRate, 1.0, None))),
            (argo_doc, Some((Query::SuccessRate, 1.0, None))),
            (
                r#"sum(rate(http_requests_total{status=~"5..",path="/api"}[1m])) / sum(rate(http_requests_total{path="/api"}[1m]))"#,
                Some((Query::ErrorRate, 1.0, Some("/api"))),
            ),
            (
                "histogram_quantile(0.99, sum(rate(http_request_duration_seconds_bucket[5m])) by (le))",
                Some((Query::LatencyP99, 1000.0, None)),
            ),
            (
                "histogram_quantile(0.95, sum(rate(http_request_duration_milliseconds_bucket[5m])) by (le))",
                Some((Query::LatencyP95, 1.0, None)),
            ),
            (
                r#"sum(increase(http_requests_total{status=~"5.."}[5m]))"#,
                Some((Query::ErrorCount, 1.0, None)),
            ),
            // Flagger MetricTemplates often give percentages.
            (
                r#"sum(rate(http_requests_total{status!~"5.."}[1m])) / sum(rate(http_requests_total[1m])) * 100"#,
                Some((Query::SuccessRate, 0.01, None)),
            ),
            (
                r#"100 * (sum(rate(r{code=~"5.."}[1m])) / sum(rate(r[1m])))"#,
                Some((Query::ErrorRate, 0.01, None)),
            ),
            // Not a plain ratio of two sums: not mapped.
            (
                r#"100 - sum(rate(r{code=~"5.."}[1m])) / sum(rate(r[1m])) * 100"#,
                None,
            ),
            (
                r#"sum(rate(r{code=~"5.."}[1m])) / sum(rate(r[1m])) + 1"#,
                None,
            ),
            ("histogram_quantile(0.9, x)", None),
            ("avg(up)", None),
        ];
        for (q, want) in cases {
            let got = builtin(q).map(|m| (m.query, m.scale, m.endpoint));
            let want = want.map(|(a, b, c)| (a, b, c.map(str::to_string)));
            assert_eq!(got, want, "{q}");
        }
    }

    #[test]
    fn user_rules_come_first_and_need_a_matcher() {
        let m = MetricMap::parse(
            "m.toml",
            "[[metric]]\nname = \"random-fail\"\nquery = \"success-rate\"\nsuccess_condition = \"result >= 0.9\"\n",
        )
        .unwrap();
        let got = m
            .map(&Metric {
                name: "random-fail",
                provider: "job",
                query: None,
            })
            .unwrap();
        assert_eq!(got.query, Query::SuccessRate);
        assert_eq!(got.success_condition.as_deref(), Some("result >= 0.9"));
        assert!(m
            .map(&Metric {
                name: "other",
                provider: "job",
                query: None
            })
            .is_none());
        let e = MetricMap::parse("m.toml", "[[metric]]\nquery = \"requests\"\n").unwrap_err();
        assert!(e.contains("needs `name`"), "{e}");
        let e =
            MetricMap::parse("m.toml", "[[metric]]\nname = \"x\"\nquery = \"nope\"\n").unwrap_err();
        assert!(e.starts_with("m.toml:3:"), "{e}");
    }
}
