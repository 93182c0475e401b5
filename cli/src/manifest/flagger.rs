//! A Flagger `Canary` (and its `MetricTemplate`s) → shakedown's `flagger`
//! policy TOML.
//!
//! `analysis.interval`, `threshold`, `maxWeight`, `stepWeight`,
//! `stepWeights`, `iterations` map one to one. Metrics: the built-in
//! `request-success-rate` (a percentage: `min: 99` is a success rate of
//! 0.99) and `request-duration` (Flagger's P99 in ms), or a `templateRef` to
//! a MetricTemplate whose query goes through the metric map. Webhooks that
//! only run tests or load (`pre-rollout`, `rollout`, `post-rollout`,
//! `event`) are ignored: the scenario's traffic is the load; gating ones
//! (`confirm-*`, `rollback`) are not modelled and are errors.

use super::metric_map::{self, Mapped, Metric};
use super::yaml::Node;
use super::{join, round, s, Located, Options, TomlOut, Translation, Walker};
use shakedown_sim::analysis::Query;
use shakedown_sim::located::LocatedError;

pub fn translate(
    main: &Located<'_>,
    docs: &[Located<'_>],
    beside: &[Located<'_>],
    opts: &Options<'_>,
) -> Result<Translation, LocatedError> {
    let mut w = Walker::new(main.file);
    let mut out = TomlOut::new();
    let root = &main.doc.root;
    w.keys(
        root,
        "",
        &["apiVersion", "kind", "spec"],
        &["metadata", "status"],
    )?;
    let spec = root
        .get("spec")
        .ok_or_else(|| w.err(root, "spec", "a Canary needs a `spec`"))?;
    w.keys(
        spec,
        "spec",
        &[
            "analysis",
            "progressDeadlineSeconds",
            "skipAnalysis",
            "suspend",
        ],
        &[
            "provider",
            "targetRef",
            "autoscalerRef",
            "service",
            "ingressRef",
            "upstreamRef",
            "routeRef",
            "revertOnDeletion",
        ],
    )?;
    for k in ["skipAnalysis", "suspend"] {
        if let Some(n) = spec.get(k) {
            if w.boolean(n, &join("spec", k))? {
                return Err(w.err(n, &join("spec", k), format!("`{k}: true` is not modelled (the canary would promote without checks, or not run); remove it to simulate the analysis")));
            }
        }
    }
    let deadline = match spec.get("progressDeadlineSeconds") {
        Some(n) => Some((w.count(n, "spec.progressDeadlineSeconds")?, n)),
        None => None,
    };
    let a = spec
        .get("analysis")
        .ok_or_else(|| w.err(spec, "spec.analysis", "a Canary needs `spec.analysis`"))?;
    let p = "spec.analysis";
    w.keys(
        a,
        p,
        &[
            "interval",
            "threshold",
            "maxWeight",
            "stepWeight",
            "stepWeights",
            "iterations",
            "metrics",
            "webhooks",
            "primaryReadyThreshold",
            "canaryReadyThreshold",
        ],
        &["alerts"],
    )?;
    out.header("[policy]", "policy", Some(w.origin(p, "analysis", a)));
    out.kv("policy", "kind", &s("flagger"), None, "");
    if let Some((secs, n)) = deadline {
        out.kv(
            "policy",
            "progress_deadline",
            &s(&format!("{secs}s")),
            Some(w.origin("spec.progressDeadlineSeconds", "progressDeadlineSeconds", n)),
            "",
        );
    }
    if let Some(n) = a.get("interval") {
        let f = join(p, "interval");
        let v = w.duration(n, &f)?;
        out.kv(
            "policy",
            "interval",
            &v,
            Some(w.origin(&f, "interval", n)),
            "",
        );
    }
    for (k, tk) in [
        ("threshold", "threshold"),
        ("maxWeight", "max_weight"),
        ("stepWeight", "step_weight"),
        ("iterations", "iterations"),
    ] {
        if let Some(n) = a.get(k) {
            let f = join(p, k);
            let v = w.count(n, &f)?;
            out.kv("policy", tk, &v.to_string(), Some(w.origin(&f, k, n)), "");
        }
    }
    if let Some(n) = a.get("stepWeights") {
        let f = join(p, "stepWeights");
        let mut vs = Vec::new();
        for (i, x) in n.items().iter().enumerate() {
            vs.push(w.count(x, &format!("{f}[{i}]"))?.to_string());
        }
        out.kv(
            "policy",
            "step_weights",
            &format!("[{}]", vs.join(", ")),
            Some(w.origin(&f, "stepWeights", n)),
            "",
        );
    }
    for k in ["primaryReadyThreshold", "canaryReadyThreshold"] {
        if let Some(n) = a.get(k) {
            if w.count(n, &join(p, k))? != 100 {
                return Err(w.err(n, &join(p, k), format!("`{k}` below 100 % is not modelled (shakedown waits for every host); remove it or set 100")));
            }
        }
    }
    if let Some(hooks) = a.get("webhooks") {
        for (i, h) in hooks.items().iter().enumerate() {
            let f = format!("{p}.webhooks[{i}]");
            let ty = h.get("type").and_then(Node::str).unwrap_or("rollout");
            match ty {
                "pre-rollout" | "rollout" | "post-rollout" | "event" => w.ignored.push(format!(
                    "{}:{}: {f} (a `{ty}` webhook: tests and load are not run; the scenario's traffic is the load)",
                    w.file, h.pos.line
                )),
                _ => {
                    let at = h.get("type").unwrap_or(h);
                    return Err(w.err(at, &join(&f, "type"), format!("a `{ty}` webhook gates the rollout and is not modelled; remove it to simulate without the gate")));
                }
            }
        }
    }
    out.line("metrics = [");
    if let Some(ms) = a.get("metrics") {
        for (i, m) in ms.items().iter().enumerate() {
            let f = format!("{p}.metrics[{i}]");
            let item = metric(&mut w, m, &f, docs, beside, opts)?;
            out.item(
                &format!("policy.metrics[{i}]"),
                &item.0,
                Some(w.origin(&f, "metric", m)),
                &item.1,
            );
        }
    }
    out.line("]");
    Ok(Translation {
        toml: out.text,
        origins: out.origins,
        ignored: w.ignored,
        notes: w.notes,
        sources: w.sources,
        toml_file: None,
    })
}

/// One check as an inline TOML table, and the comment saying how it was
/// mapped.
fn metric(
    w: &mut Walker<'_>,
    m: &Node,
    f: &str,
    docs: &[Located<'_>],
    beside: &[Located<'_>],
    opts: &Options<'_>,
) -> Result<(String, String), LocatedError> {
    w.keys(
        m,
        f,
        &["name", "thresholdRange", "interval", "templateRef", "query"],
        &["templateVariables"],
    )?;
    let name = m
        .get("name")
        .and_then(Node::str)
        .ok_or_else(|| w.err(m, f, "a metric needs a `name`"))?
        .to_string();
    let mapped: Mapped = if let Some(r) = m.get("templateRef") {
        let rf = join(f, "templateRef");
        w.keys(r, &rf, &["name"], &["namespace"])?;
        let tname = r
            .get("name")
            .and_then(Node::str)
            .ok_or_else(|| w.err(r, &rf, "needs `name`"))?;
        let t = docs
            .iter()
            .chain(beside.iter())
            .find(|d| d.kind() == "MetricTemplate" && d.name() == tname)
            .ok_or_else(|| {
                w.err(
                    r,
                    &join(&rf, "name"),
                    format!(
                        "no MetricTemplate `{tname}` in this file or the .yaml files beside it"
                    ),
                )
            })?;
        let mut tw = Walker::new(t.file);
        let root = &t.doc.root;
        tw.keys(root, "", &["apiVersion", "kind", "spec"], &["metadata"])?;
        let spec = root
            .get("spec")
            .ok_or_else(|| tw.err(root, "spec", "a MetricTemplate needs `spec.query`"))?;
        tw.keys(spec, "spec", &["provider", "query"], &[])?;
        let provider = spec
            .get("provider")
            .and_then(|p| p.get("type"))
            .and_then(Node::str)
            .unwrap_or("prometheus");
        let q = spec
            .get("query")
            .ok_or_else(|| tw.err(spec, "spec.query", "a MetricTemplate needs a `query`"))?;
        let desc = Metric {
            name: &name,
            provider,
            query: q.str(),
        };
        let got = opts.metric_map.map(&desc).ok_or_else(|| {
            tw.err(q, "spec.query", format!("metric `{name}` (MetricTemplate `{tname}`, provider {provider}) cannot be mapped to a shakedown measurement: its query has none of the shapes shakedown maps; {}", metric_map::hint(&desc)))
        })?;
        w.ignored.append(&mut tw.ignored);
        got
    } else if let Some(q) = m.get("query") {
        let desc = Metric {
            name: &name,
            provider: "prometheus",
            query: q.str(),
        };
        opts.metric_map.map(&desc).ok_or_else(|| {
            w.err(q, &join(f, "query"), format!("metric `{name}` cannot be mapped to a shakedown measurement: its query has none of the shapes shakedown maps; {}", metric_map::hint(&desc)))
        })?
    } else {
        let desc = Metric {
            name: &name,
            provider: "flagger",
            query: None,
        };
        match opts.metric_map.map(&desc) {
            Some(x) => x,
            None => match name.as_str() {
                "request-success-rate" => builtin(Query::SuccessRate, 0.01, "Flagger built-in, a percentage (÷100)"),
                "request-duration" => builtin(Query::LatencyP99, 1.0, "Flagger built-in, P99 in ms"),
                _ => {
                    return Err(w.err(m, &join(f, "name"), format!("metric `{name}` is neither a Flagger built-in (request-success-rate, request-duration) nor has a `templateRef`; {}", metric_map::hint(&desc))))
                }
            },
        }
    };
    if mapped.endpoint.is_some() {
        return Err(w.err(m, f, format!("metric `{name}` selects one endpoint; shakedown's flagger checks measure the whole canary (use an Argo Rollout for per-endpoint analysis)")));
    }
    if mapped.success_condition.is_some() || mapped.failure_condition.is_some() {
        return Err(w.err(m, f, "a Flagger metric's pass range is its `thresholdRange`; the metric map's conditions are for Argo metrics"));
    }
    let mut item = format!(
        "{{ name = {}, query = {}",
        s(&name),
        s(mapped.query.as_str())
    );
    let range = m.get("thresholdRange");
    if let Some(r) = range {
        let rf = join(f, "thresholdRange");
        w.keys(r, &rf, &["min", "max"], &[])?;
        for k in ["min", "max"] {
            if let Some(n) = r.get(k) {
                let v = n.float().ok_or_else(|| {
                    w.err(
                        n,
                        &join(&rf, k),
                        format!("must be a number, got `{}`", n.show()),
                    )
                })?;
                item.push_str(&format!(
                    ", {k} = {}",
                    toml::Value::Float(round(v * mapped.scale))
                ));
            }
        }
    }
    item.push_str(" }");
    let mut note = mapped.rule.clone();
    if let Some(i) = m.get("interval") {
        w.notes.push(format!(
            "{}:{}: {f}.interval {}: shakedown measures each check over the analysis interval, not the metric's own query window",
            w.file,
            i.pos.line,
            i.show()
        ));
        note.push_str("; query window measured as the analysis interval");
    }
    Ok((item, note))
}

fn builtin(query: Query, scale: f64, rule: &str) -> Mapped {
    Mapped {
        query,
        endpoint: None,
        scale,
        success_condition: None,
        failure_condition: None,
        rule: rule.to_string(),
    }
}
