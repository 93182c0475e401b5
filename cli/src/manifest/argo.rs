//! An Argo Rollouts `Rollout` (canary or blue-green) and its
//! `AnalysisTemplate`s / `ClusterAnalysisTemplate`s → shakedown policy TOML.
//!
//! Field by field (docs/MANIFESTS.md has the table): `setWeight`, `pause`
//! (with and without a duration), `setCanaryScale`, step and background
//! `analysis` (with `startingStep` and `dryRun`), `trafficRouting` (present:
//! exact weights), `maxSurge`/`maxUnavailable`, `abortScaleDownDelaySeconds`,
//! `progressDeadlineSeconds`/`progressDeadlineAbort`; blue-green's
//! `autoPromotionEnabled`, `autoPromotionSeconds`, `scaleDownDelaySeconds`,
//! `previewReplicaCount`, pre/post-promotion analysis. An analysis step that
//! names several templates runs them as one AnalysisRun (Argo merges their
//! metrics); it becomes one template named `a+b`.

use super::metric_map::{self, Metric};
use super::yaml::Node;
use super::{join, s, scale_condition, Located, Options, Origin, TomlOut, Translation, Walker};
use shakedown_sim::located::LocatedError;

/// An analysis reference: the templates it merges and its dry-run metrics.
struct Use {
    key: String,
    /// (templateName, clusterScope, where it is named, its field path)
    templates: Vec<(String, bool, Node, String)>,
    /// `dryRun` rules of the reference: (metricName, its node, its field).
    dry_run: Vec<DryRule>,
}

type DryRule = (String, Node, String);

/// `dryRun: [{metricName: RULE}]` of a reference or a template spec.
fn dry_rules(w: &Walker<'_>, n: &Node, f: &str) -> Result<Vec<DryRule>, LocatedError> {
    let mut out = Vec::new();
    if let Some(d) = n.get("dryRun") {
        for (i, e) in d.items().iter().enumerate() {
            let ef = format!("{f}.dryRun[{i}]");
            let node = e
                .get("metricName")
                .ok_or_else(|| w.err(e, &ef, "needs `metricName`"))?;
            let name = node.str().unwrap_or_default();
            let meta = |c: char| ".*+?[](){}|^$\\".contains(c);
            if name != ".*" && name.chars().any(meta) {
                return Err(w.err(node, &join(&ef, "metricName"), format!(
                    "`{name}` is a regular expression; shakedown takes metric names (matched as Argo matches a literal: anywhere in the name) or `.*` for all"
                )));
            }
            out.push((name.to_string(), node.clone(), join(&ef, "metricName")));
        }
    }
    Ok(out)
}

/// Whether a dry-run rule selects metric `name`: Argo's unanchored
/// `regexp.MatchString` of a literal, or `.*` (`GetDryRunMetrics`,
/// utils/analysis/helpers.go).
fn dry_matches(rule: &str, name: &str) -> bool {
    rule == ".*" || name.contains(rule)
}

struct Argo<'a, 'o> {
    w: Walker<'a>,
    out: TomlOut,
    uses: Vec<Use>,
    opts: &'o Options<'o>,
}

pub fn translate(
    main: &Located<'_>,
    docs: &[Located<'_>],
    beside: &[Located<'_>],
    opts: &Options<'_>,
) -> Result<Translation, LocatedError> {
    let mut a = Argo {
        w: Walker::new(main.file),
        out: TomlOut::new(),
        uses: vec![],
        opts,
    };
    let root = &main.doc.root;
    a.w.keys(
        root,
        "",
        &["apiVersion", "kind", "spec"],
        &["metadata", "status"],
    )?;
    let spec = root
        .get("spec")
        .ok_or_else(|| a.w.err(root, "spec", "a Rollout needs a `spec`"))?;
    a.w.keys(
        spec,
        "spec",
        &[
            "strategy",
            "progressDeadlineSeconds",
            "progressDeadlineAbort",
            "minReadySeconds",
            "paused",
        ],
        &[
            "replicas",
            "selector",
            "template",
            "workloadRef",
            "revisionHistoryLimit",
            "restartAt",
            "analysis",
        ],
    )?;
    if let Some(p) = spec.get("paused") {
        if a.w.boolean(p, "spec.paused")? {
            return Err(a.w.err(
                p,
                "spec.paused",
                "a paused Rollout does not roll out; remove `paused: true` to simulate its rollout",
            ));
        }
    }
    if let Some(m) = spec.get("minReadySeconds") {
        if a.w.count(m, "spec.minReadySeconds")? > 0 {
            return Err(a.w.err(m, "spec.minReadySeconds", "minReadySeconds is not modelled for Argo canary or blue-green policies (a host counts available once ready); remove it to simulate without it"));
        }
    }
    let strategy = spec.get("strategy").ok_or_else(|| {
        a.w.err(
            spec,
            "spec.strategy",
            "a Rollout needs `strategy.canary` or `strategy.blueGreen`",
        )
    })?;
    a.w.keys(strategy, "spec.strategy", &["canary", "blueGreen"], &[])?;
    match (strategy.get("canary"), strategy.get("blueGreen")) {
        (Some(c), None) => a.canary(c, spec)?,
        (None, Some(b)) => a.blue_green(b, spec)?,
        (Some(_), Some(b)) => {
            return Err(a.w.err(
                b,
                "spec.strategy.blueGreen",
                "give one strategy, canary or blueGreen, not both",
            ))
        }
        (None, None) => {
            return Err(a.w.err(
                strategy,
                "spec.strategy",
                "a Rollout needs `strategy.canary` or `strategy.blueGreen` (shakedown models both)",
            ))
        }
    }
    a.templates(docs, beside)?;
    Ok(Translation {
        toml: a.out.text,
        origins: a.out.origins,
        ignored: a.w.ignored,
        notes: a.w.notes,
        sources: a.w.sources,
        toml_file: None,
    })
}

impl Argo<'_, '_> {
    fn o(&self, field: &str, key: &str, n: &Node) -> Option<Origin> {
        Some(self.w.origin(field, key, n))
    }

    fn progress(&mut self, spec: &Node) -> Result<(), LocatedError> {
        if let Some(n) = spec.get("progressDeadlineSeconds") {
            let v = self.w.seconds(n, "spec.progressDeadlineSeconds")?;
            let o = self.o("spec.progressDeadlineSeconds", "progressDeadlineSeconds", n);
            self.out.kv("policy", "progress_deadline", &v, o, "");
        }
        if let Some(n) = spec.get("progressDeadlineAbort") {
            let v = self.w.boolean(n, "spec.progressDeadlineAbort")?;
            let o = self.o("spec.progressDeadlineAbort", "progressDeadlineAbort", n);
            self.out
                .kv("policy", "progress_deadline_abort", &v.to_string(), o, "");
        }
        Ok(())
    }

    fn canary(&mut self, c: &Node, spec: &Node) -> Result<(), LocatedError> {
        let p = "spec.strategy.canary";
        self.w.keys(
            c,
            p,
            &[
                "steps",
                "trafficRouting",
                "maxSurge",
                "maxUnavailable",
                "abortScaleDownDelaySeconds",
                "analysis",
                "dynamicStableScale",
            ],
            &[
                "canaryService",
                "stableService",
                "canaryMetadata",
                "stableMetadata",
                "antiAffinity",
                "pingPong",
                "scaleDownDelayRevisionLimit",
            ],
        )?;
        let o = self.o(p, "canary", c);
        self.out.header("[policy]", "policy", o);
        self.out.kv("policy", "kind", &s("canary"), None, "");
        if let Some(d) = c.get("dynamicStableScale") {
            if self.w.boolean(d, &join(p, "dynamicStableScale"))? {
                return Err(self.w.err(d, &join(p, "dynamicStableScale"), "dynamicStableScale (the stable set shrinking as the canary grows under a traffic router) is not modelled: shakedown keeps the stable set at full size with a router; remove it to simulate without it"));
            }
        }
        if let Some(t) = c.get("trafficRouting") {
            let f = join(p, "trafficRouting");
            let o = self.o(&f, "trafficRouting", t);
            self.out.kv(
                "policy",
                "traffic_routing",
                "true",
                o,
                "the router's details are not simulated, only exact weights",
            );
        }
        for (k, tk) in [
            ("maxSurge", "max_surge"),
            ("maxUnavailable", "max_unavailable"),
        ] {
            if let Some(n) = c.get(k) {
                let f = join(p, k);
                let v = self.w.int_or_percent(n, &f)?;
                let o = self.o(&f, k, n);
                self.out.kv("policy", tk, &v, o, "");
            }
        }
        if let Some(n) = c.get("abortScaleDownDelaySeconds") {
            let f = join(p, "abortScaleDownDelaySeconds");
            let v = self.w.seconds(n, &f)?;
            let o = self.o(&f, "abortScaleDownDelaySeconds", n);
            self.out.kv("policy", "abort_scale_down_delay", &v, o, "");
        }
        self.progress(spec)?;
        self.out.line("steps = [");
        let empty = Node {
            pos: c.pos,
            value: super::yaml::Value::Seq(vec![]),
        };
        let steps = c.get("steps").unwrap_or(&empty);
        if !steps.is_seq() {
            return Err(self
                .w
                .err(steps, &join(p, "steps"), "must be a list of steps"));
        }
        for (i, st) in steps.items().iter().enumerate() {
            let f = format!("{p}.steps[{i}]");
            let path = format!("policy.steps[{i}]");
            let entries = st.entries();
            let [(k, _, v)] = entries else {
                return Err(self.w.err(st, &f, "a step is a map with exactly one key (setWeight, pause, analysis, setCanaryScale)"));
            };
            let fk = join(&f, k);
            let o = self.o(&fk, k, v);
            let item = match k.as_str() {
                "setWeight" => {
                    let w = v.int().ok_or_else(|| {
                        self.w.err(
                            v,
                            &fk,
                            format!("must be a whole percentage, got `{}`", v.show()),
                        )
                    })?;
                    format!("{{ set_weight = {w} }}")
                }
                "pause" => {
                    self.w.keys(v, &fk, &["duration"], &[])?;
                    match v.get("duration") {
                        None => "{ pause = {} }".to_string(),
                        Some(d) => {
                            let d = self.w.duration(d, &join(&fk, "duration"))?;
                            format!("{{ pause = {{ duration = {d} }} }}")
                        }
                    }
                }
                "setCanaryScale" => {
                    self.w
                        .keys(v, &fk, &["replicas", "weight", "matchTrafficWeight"], &[])?;
                    let [(sk, _, sv)] = v.entries() else {
                        return Err(self.w.err(
                            v,
                            &fk,
                            "give exactly one of replicas, weight, matchTrafficWeight",
                        ));
                    };
                    let sf = join(&fk, sk);
                    let val = match sk.as_str() {
                        "matchTrafficWeight" => self.w.boolean(sv, &sf)?.to_string(),
                        _ => self.w.count(sv, &sf)?.to_string(),
                    };
                    let tk = match sk.as_str() {
                        "replicas" => "replicas",
                        "weight" => "weight",
                        _ => "match_traffic_weight",
                    };
                    format!("{{ set_canary_scale = {{ {tk} = {val} }} }}")
                }
                "analysis" => {
                    let key = self.analysis_ref(v, &fk, &[])?;
                    format!("{{ analysis = {{ template = {} }} }}", s(&key))
                }
                other => {
                    return Err(self.w.err(v, &fk, format!("the `{other}` step is not modelled by shakedown (supported: setWeight, pause, analysis, setCanaryScale); remove it to simulate without it")));
                }
            };
            self.out.item(&path, &item, o, "");
        }
        self.out.line("]");
        if let Some(bg) = c.get("analysis") {
            let f = join(p, "analysis");
            let key = self.analysis_ref(bg, &f, &["startingStep"])?;
            let o = self.o(&f, "analysis", bg);
            self.out.header("[policy.analysis]", "policy.analysis", o);
            let t = bg.get("templates").expect("checked by analysis_ref");
            let o = self.o(&join(&f, "templates"), "templates", t);
            self.out.kv("policy.analysis", "template", &s(&key), o, "");
            if let Some(n) = bg.get("startingStep") {
                let sf = join(&f, "startingStep");
                let v = self.w.count(n, &sf)?;
                let o = self.o(&sf, "startingStep", n);
                self.out
                    .kv("policy.analysis", "starting_step", &v.to_string(), o, "");
            }
        }
        Ok(())
    }

    fn blue_green(&mut self, b: &Node, spec: &Node) -> Result<(), LocatedError> {
        let p = "spec.strategy.blueGreen";
        self.w.keys(
            b,
            p,
            &[
                "autoPromotionEnabled",
                "autoPromotionSeconds",
                "scaleDownDelaySeconds",
                "abortScaleDownDelaySeconds",
                "previewReplicaCount",
                "prePromotionAnalysis",
                "postPromotionAnalysis",
            ],
            &[
                "activeService",
                "previewService",
                "previewMetadata",
                "activeMetadata",
                "antiAffinity",
                "scaleDownDelayRevisionLimit",
            ],
        )?;
        let o = self.o(p, "blueGreen", b);
        self.out.header("[policy]", "policy", o);
        self.out.kv("policy", "kind", &s("blue-green"), None, "");
        if let Some(n) = b.get("autoPromotionEnabled") {
            let f = join(p, "autoPromotionEnabled");
            let v = self.w.boolean(n, &f)?;
            let o = self.o(&f, "autoPromotionEnabled", n);
            self.out
                .kv("policy", "auto_promotion_enabled", &v.to_string(), o, "");
        }
        if let Some(n) = b.get("autoPromotionSeconds") {
            let f = join(p, "autoPromotionSeconds");
            let v = self.w.count(n, &f)?;
            let o = self.o(&f, "autoPromotionSeconds", n);
            self.out
                .kv("policy", "auto_promotion_seconds", &v.to_string(), o, "");
        }
        for (k, tk) in [
            ("scaleDownDelaySeconds", "scale_down_delay"),
            ("abortScaleDownDelaySeconds", "abort_scale_down_delay"),
        ] {
            if let Some(n) = b.get(k) {
                let f = join(p, k);
                let v = self.w.seconds(n, &f)?;
                let o = self.o(&f, k, n);
                self.out.kv("policy", tk, &v, o, "");
            }
        }
        if let Some(n) = b.get("previewReplicaCount") {
            let f = join(p, "previewReplicaCount");
            let v = self.w.count(n, &f)?;
            let o = self.o(&f, "previewReplicaCount", n);
            self.out
                .kv("policy", "preview_replica_count", &v.to_string(), o, "");
        }
        self.progress(spec)?;
        for (k, tk) in [
            ("prePromotionAnalysis", "pre_promotion_analysis"),
            ("postPromotionAnalysis", "post_promotion_analysis"),
        ] {
            if let Some(n) = b.get(k) {
                let f = join(p, k);
                let key = self.analysis_ref(n, &f, &[])?;
                let path = format!("policy.{tk}");
                let o = self.o(&f, k, n);
                self.out.header(&format!("[{path}]"), &path, o);
                let o = n
                    .get("templates")
                    .map(|t| self.w.origin(&join(&f, "templates"), "templates", t));
                self.out.kv(&path, "template", &s(&key), o, "");
            }
        }
        Ok(())
    }

    /// An `analysis:` reference (step, background, pre/post promotion): its
    /// templates, merged under one key.
    fn analysis_ref(&mut self, n: &Node, f: &str, extra: &[&str]) -> Result<String, LocatedError> {
        let mut handled = vec!["templates", "dryRun"];
        handled.extend_from_slice(extra);
        self.w.keys(
            n,
            f,
            &handled,
            &["args", "measurementRetention", "analysisRunMetadata"],
        )?;
        let t = n
            .get("templates")
            .filter(|t| !t.items().is_empty())
            .ok_or_else(|| {
                self.w.err(
                    n,
                    f,
                    "an analysis needs `templates: [{templateName: NAME}]`",
                )
            })?;
        let mut templates = Vec::new();
        for (i, tn) in t.items().iter().enumerate() {
            let tf0 = format!("{f}.templates[{i}]");
            self.w
                .keys(tn, &tf0, &["templateName", "clusterScope"], &[])?;
            let tf = join(&tf0, "templateName");
            let name = tn
                .get("templateName")
                .and_then(Node::str)
                .ok_or_else(|| self.w.err(tn, &tf0, "needs `templateName`"))?;
            let cluster = match tn.get("clusterScope") {
                Some(c) => self.w.boolean(c, &join(&tf0, "clusterScope"))?,
                None => false,
            };
            let at = tn.get("templateName").expect("checked above").clone();
            templates.push((name.to_string(), cluster, at, tf));
        }
        let dry_run = dry_rules(&self.w, n, f)?;
        let mut key = templates
            .iter()
            .map(|(n, _, _, _)| n.as_str())
            .collect::<Vec<_>>()
            .join("+");
        if !dry_run.is_empty() {
            let names: Vec<&str> = dry_run.iter().map(|(r, _, _)| r.as_str()).collect();
            key = format!("{key} (dry-run {})", names.join(","));
        }
        if !self.uses.iter().any(|u| u.key == key) {
            self.uses.push(Use {
                key: key.clone(),
                templates,
                dry_run,
            });
        }
        Ok(key)
    }

    /// Writes one `[analysis.KEY]` template per analysis reference.
    fn templates(
        &mut self,
        docs: &[Located<'_>],
        beside: &[Located<'_>],
    ) -> Result<(), LocatedError> {
        // Templates in the manifest's own files that nothing references are
        // translated too, so their mistakes show (as Argo validates every
        // template it is given).
        for d in docs {
            let kind = d.kind();
            if (kind == "AnalysisTemplate" || kind == "ClusterAnalysisTemplate")
                && !self.uses.iter().any(|u| {
                    u.templates.iter().any(|(n, c, _, _)| {
                        n == d.name() && *c == (kind == "ClusterAnalysisTemplate")
                    })
                })
                && !self.uses.iter().any(|u| u.key == d.name())
            {
                let node = d
                    .doc
                    .root
                    .get("metadata")
                    .and_then(|m| m.get("name"))
                    .unwrap_or(&d.doc.root)
                    .clone();
                self.uses.push(Use {
                    key: d.name().to_string(),
                    templates: vec![(
                        d.name().to_string(),
                        kind == "ClusterAnalysisTemplate",
                        node,
                        "metadata.name".to_string(),
                    )],
                    dry_run: vec![],
                });
            }
        }
        let uses = std::mem::take(&mut self.uses);
        for u in &uses {
            let mut metrics = Vec::new();
            for (name, cluster, at, tf) in &u.templates {
                let kind = if *cluster {
                    "ClusterAnalysisTemplate"
                } else {
                    "AnalysisTemplate"
                };
                let found = docs
                    .iter()
                    .chain(beside.iter())
                    .find(|d| d.kind() == kind && d.name() == name)
                    .ok_or_else(|| {
                        self.w.err(at, tf, format!(
                            "no {kind} `{name}` in this file or the .yaml files beside it; add it (a `---` document) or put its file in the same folder"
                        ))
                    })?;
                if !docs.iter().any(|d| std::ptr::eq(d.doc, found.doc)) {
                    self.w
                        .sources
                        .push(format!("{kind} `{name}` read from {}", found.file));
                }
                metrics.push(found);
            }
            let path = format!("analysis.{}", u.key);
            let (_, _, at, tf) = &u.templates[0];
            let o = Some(self.w.origin(tf, "templateName", at));
            self.out
                .header(&format!("[analysis.{}]", super::key(&u.key)), &path, o);
            // Argo merges the reference's dry-run rules with each template's
            // and applies them to all the run's metrics; a rule that matches
            // none is an error (`GetDryRunMetrics`).
            let mut rules: Vec<(DryRule, String)> = u
                .dry_run
                .iter()
                .map(|r| (r.clone(), self.w.file.to_string()))
                .collect();
            let mut names: Vec<String> = Vec::new();
            for d in &metrics {
                let tw = Walker::new(d.file);
                if let Some(spec) = d.doc.root.get("spec") {
                    for r in dry_rules(&tw, spec, "spec")? {
                        rules.push((r, d.file.to_string()));
                    }
                    for m in spec.get("metrics").map_or(&[][..], Node::items) {
                        if let Some(n) = m.get("name").and_then(Node::str) {
                            names.push(n.to_string());
                        }
                    }
                }
            }
            let mut dry: Vec<String> = Vec::new();
            for ((rule, node, field), file) in &rules {
                let hit: Vec<&String> = names.iter().filter(|n| dry_matches(rule, n)).collect();
                if hit.is_empty() {
                    return Err(super::err(file, node.pos, field, format!(
                        "dry-run rule `{rule}` matches no metric of this analysis ({}); Argo rejects it",
                        names.join(", ")
                    )));
                }
                dry.extend(hit.into_iter().cloned());
            }
            let mut i = 0;
            for d in metrics {
                let mut w = Walker::new(d.file);
                let root = &d.doc.root;
                w.keys(root, "", &["apiVersion", "kind", "spec"], &["metadata"])?;
                let spec = root
                    .get("spec")
                    .ok_or_else(|| w.err(root, "spec", "a template needs `spec.metrics`"))?;
                w.keys(
                    spec,
                    "spec",
                    &["metrics", "dryRun"],
                    &["args", "measurementRetention"],
                )?;
                let ms = spec
                    .get("metrics")
                    .ok_or_else(|| w.err(spec, "spec.metrics", "a template needs `metrics`"))?;
                for (j, m) in ms.items().iter().enumerate() {
                    let header = format!("[[analysis.{}.metrics]]", super::key(&u.key));
                    self.metric(
                        &mut w,
                        m,
                        &format!("spec.metrics[{j}]"),
                        &format!("{path}.metrics[{i}]"),
                        &header,
                        &dry,
                    )?;
                    i += 1;
                }
                self.w.ignored.append(&mut w.ignored);
                self.w.notes.append(&mut w.notes);
            }
        }
        Ok(())
    }

    fn metric(
        &mut self,
        w: &mut Walker<'_>,
        m: &Node,
        f: &str,
        path: &str,
        header: &str,
        dry: &[String],
    ) -> Result<(), LocatedError> {
        w.keys(
            m,
            f,
            &[
                "name",
                "interval",
                "count",
                "initialDelay",
                "failureLimit",
                "inconclusiveLimit",
                "consecutiveErrorLimit",
                "consecutiveSuccessLimit",
                "successCondition",
                "failureCondition",
                "provider",
            ],
            &[],
        )?;
        let name_n = m
            .get("name")
            .ok_or_else(|| w.err(m, f, "a metric needs a `name`"))?;
        let name = name_n.str().unwrap_or_default().to_string();
        let prov = m
            .get("provider")
            .ok_or_else(|| w.err(m, &join(f, "provider"), "a metric needs a `provider`"))?;
        let [(pname, _, pnode)] = prov.entries() else {
            return Err(w.err(prov, &join(f, "provider"), "give exactly one provider"));
        };
        let pf = join(&join(f, "provider"), pname);
        let query_node = if pname == "prometheus" {
            w.keys(
                pnode,
                &pf,
                &["query"],
                &[
                    "address",
                    "timeout",
                    "insecure",
                    "headers",
                    "authentication",
                ],
            )?;
            Some(
                pnode
                    .get("query")
                    .ok_or_else(|| w.err(pnode, &pf, "a prometheus metric needs a `query`"))?,
            )
        } else {
            None
        };
        let desc = Metric {
            name: &name,
            provider: pname,
            query: query_node.and_then(Node::str),
        };
        let mapped = self.opts.metric_map.map(&desc).ok_or_else(|| {
            let (at, field, what) = match query_node {
                Some(q) => (q, join(&pf, "query"), "its query has none of the shapes shakedown maps"),
                None => (pnode, pf.clone(), "its provider has no query shakedown can read"),
            };
            w.err(at, &field, format!("metric `{name}` (provider {pname}) cannot be mapped to a shakedown measurement: {what}; {}", metric_map::hint(&desc)))
        })?;
        let o = Some(w.origin(&join(f, "name"), "name", name_n));
        self.out.header(header, path, o.clone());
        self.out.kv(path, "name", &s(&name), o, "");
        self.out.kv(path, "provider", &s("prometheus"), None, "");
        let qo = match query_node {
            Some(q) => Some(w.origin(&join(&pf, "query"), "query", q)),
            None => Some(w.origin(&pf, pname, pnode)),
        };
        self.out.kv(
            path,
            "query",
            &s(mapped.query.as_str()),
            qo.clone(),
            &mapped.rule,
        );
        if let Some(e) = &mapped.endpoint {
            self.out.kv(path, "endpoint", &s(e), qo.clone(), "");
        }
        for (k, tk) in [("interval", "interval"), ("initialDelay", "initial_delay")] {
            if let Some(n) = m.get(k) {
                let v = w.duration(n, &join(f, k))?;
                self.out
                    .kv(path, tk, &v, Some(w.origin(&join(f, k), k, n)), "");
            }
        }
        for (k, tk) in [
            ("count", "count"),
            ("failureLimit", "failure_limit"),
            ("inconclusiveLimit", "inconclusive_limit"),
            ("consecutiveErrorLimit", "consecutive_error_limit"),
            ("consecutiveSuccessLimit", "consecutive_success_limit"),
        ] {
            if let Some(n) = m.get(k) {
                let v = n.int().ok_or_else(|| {
                    w.err(n, &join(f, k), format!("must be a whole number, got `{}` (a template argument `{{{{args.…}}}}` is not resolved by shakedown: write the number)", n.show()))
                })?;
                self.out.kv(
                    path,
                    tk,
                    &v.to_string(),
                    Some(w.origin(&join(f, k), k, n)),
                    "",
                );
            }
        }
        for (k, tk, over) in [
            (
                "successCondition",
                "success_condition",
                &mapped.success_condition,
            ),
            (
                "failureCondition",
                "failure_condition",
                &mapped.failure_condition,
            ),
        ] {
            match (over, m.get(k)) {
                (Some(c), _) => self.out.kv(path, tk, &s(c), qo.clone(), &mapped.rule),
                (None, Some(n)) => {
                    let text = n.str().unwrap_or_default();
                    let c = scale_condition(text, mapped.scale);
                    let note = if mapped.scale != 1.0 {
                        format!("×{} to shakedown's unit", mapped.scale)
                    } else {
                        String::new()
                    };
                    self.out
                        .kv(path, tk, &s(&c), Some(w.origin(&join(f, k), k, n)), &note);
                }
                (None, None) => {}
            }
        }
        if dry.contains(&name) {
            self.out.kv(path, "dry_run", "true", None, "dryRun");
        }
        Ok(())
    }
}
