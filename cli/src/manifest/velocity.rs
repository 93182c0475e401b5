//! Velocity export (argo-rollouts #3169, "a sweep over a ramp's duration and
//! shape can emit its Pareto-optimal schedules as Argo steps"):
//!
//! - a `linear` policy (Tsunami / AppConfig duration-based ramp) as an Argo
//!   canary: `setWeight` at each of the ramp's recomputation times and a
//!   `pause {duration}` until the next, the bake as a last pause at 100 %,
//!   the SLO checks as a background `AnalysisTemplate`;
//! - a sweep's output directory (`shakedown export SWEEP_DIR --format argo`):
//!   every completed group on a Pareto frontier of its `summary.json`, each
//!   rebuilt from the sweep's scenario file and the group's parameter values
//!   (`manifest.json`), exported as above (or as any policy exports).
//!
//! What maps and what does not (written as comments at the head of the
//! Rollout, and in docs/MANIFESTS.md):
//!
//! | linear | Argo canary |
//! |---|---|
//! | share of hosts at the recomputation times | `setWeight` (basic canary: the share of replicas) |
//! | time to the next recomputation | `pause: {duration}` |
//! | `bake` | `pause: {duration: bake}` after `setWeight: 100` |
//! | `[[policy.slo]]` every `slo_window` | background analysis, one metric per SLO, `interval = initialDelay = slo_window`, `failureLimit: 0` |
//! | `on_slo_breach = "rollback"` | Argo aborts on a failed analysis (the canary scaled down) |
//!
//! Not mapped: a share that is not a whole percent is rounded up (Argo's
//! `setWeight` is an integer), said per Rollout; `on_slo_breach = "halt"`
//! (Argo has no halt: an abort is a rollback); an SLO on one `role` (one
//! Rollout is one workload: it watches the whole Rollout); a window without
//! data (not a violation for the ramp; a measurement error for Argo,
//! `consecutiveErrorLimit` 4); the ramp's in-place upgrade (Argo replaces
//! pods); Argo starts each pause once the canary's pods are ready, where the
//! ramp's clock runs from the start. Errors: `min_hosts` above 1 (Argo has
//! no floor of replicas), a `max_pct` that caps a step of the ramp (no
//! per-step cap in Argo), an SLO with both `min` and `max` (one Argo
//! condition each way would make a value below `min` Inconclusive, not
//! Failed).

use super::export::{export_scenario, Format};
use crate::input::{self, BadInput};
use shakedown_sim::analysis::spec::{AnalysisSpec, CohortName, MetricSpec, Provider};
use shakedown_sim::analysis::{CmpOp, Condition};
use shakedown_sim::policy::spec::{
    BackgroundAnalysis, CanarySpec, CanaryStep, IntOrPercent, LinearSpec, OnBreach, PauseSpec,
    PolicySpec,
};
use shakedown_sim::time::SimDuration;
use shakedown_sim::Scenario;
use std::fmt::Write;
use std::path::Path;
use std::process::ExitCode;
use toml_edit::{DocumentMut, Item};

/// One boundary of a ramp: from `at`, `pct` % of each role on the new version.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Boundary {
    pub at: SimDuration,
    pub pct: f64,
}

/// The ramp's recomputation times and the share it targets at each, until
/// the first at 100 %: every `step` from the start, and at each step time of
/// a stepped (AppConfig) shape when that comes first — the times
/// `sim::policy::linear`'s `ramp` recomputes at (tested against the
/// simulator's audit log in cli/tests/manifests.rs).
pub fn schedule(l: &LinearSpec) -> Vec<Boundary> {
    let mut out = Vec::new();
    let mut t = SimDuration::ZERO;
    loop {
        let pct = 100.0 * l.shape.fraction(t, l.duration);
        out.push(Boundary { at: t, pct });
        if pct >= 100.0 - 1e-9 {
            return out;
        }
        let mut next = t + l.step;
        if let Some(n) = l.shape.steps() {
            if let Some(at) = (1..=n)
                .filter_map(|k| l.shape.step_time(k, l.duration))
                .find(|&at| at > t)
            {
                next = next.min(at);
            }
        }
        t = next;
    }
}

/// The Argo weight for a share: whole percents as they are, others rounded up.
fn weight(pct: f64) -> (u32, bool) {
    let r = pct.round();
    if (pct - r).abs() < 1e-9 {
        (r as u32, false)
    } else {
        (pct.ceil().min(100.0) as u32, true)
    }
}

/// The linear policy as an Argo canary (basic: the weight is the share of
/// replicas) and what did not map, one sentence each.
pub fn linear_as_canary(name: &str, l: &LinearSpec) -> Result<(CanarySpec, Vec<String>), String> {
    let mut notes = Vec::new();
    if l.min_hosts > 1 {
        return Err(format!(
            "`policy.min_hosts`: {} hosts per role at the first step has no Argo field (setWeight is a share of replicas); set it to 1 to export",
            l.min_hosts
        ));
    }
    let bounds = schedule(l);
    let mut steps = Vec::new();
    let mut last = 0u32;
    let mut rounded = Vec::new();
    for (i, b) in bounds.iter().enumerate() {
        let (w, r) = weight(b.pct);
        if r {
            rounded.push(format!("{:.4} % at {} → {w}", b.pct, b.at));
        }
        if w > last {
            let inc = f64::from(w - last);
            if inc > l.max_pct + 1e-9 {
                return Err(format!(
                    "`policy.max_pct`: the ramp moves at most {} % of a role per step, and its step at {} moves {inc} %; Argo's setWeight has no per-step cap (raise max_pct to at least {inc} or shorten `step` to export)",
                    l.max_pct, b.at
                ));
            }
            steps.push(CanaryStep::SetWeight(w));
            last = w;
        }
        if let Some(next) = bounds.get(i + 1) {
            let d = SimDuration::from_millis(next.at.as_millis() - b.at.as_millis());
            match steps.last_mut() {
                Some(CanaryStep::Pause(PauseSpec { duration: Some(p) })) => *p = *p + d,
                _ => steps.push(CanaryStep::Pause(PauseSpec { duration: Some(d) })),
            }
        }
    }
    if last < 100 {
        steps.push(CanaryStep::SetWeight(100));
    }
    if !l.bake.is_zero() {
        steps.push(CanaryStep::Pause(PauseSpec {
            duration: Some(l.bake),
        }));
    }
    if !rounded.is_empty() {
        notes.push(format!(
            "{} of the ramp's {} shares are not whole percents and are rounded up (setWeight is an integer): {}",
            rounded.len(),
            bounds.len(),
            if rounded.len() > 4 {
                format!("{}, …", rounded[..4].join(", "))
            } else {
                rounded.join(", ")
            }
        ));
    }
    notes.push("the ramp upgrades hosts in place and its clock runs from the start; Argo replaces pods and starts each pause once the canary's pods are ready".into());
    let analysis = if l.slo.is_empty() {
        None
    } else {
        let mut metrics = Vec::new();
        for s in &l.slo {
            let success_condition = match (s.min, s.max) {
                (Some(a), None) => Condition {
                    op: CmpOp::Ge,
                    value: a,
                },
                (None, Some(b)) => Condition {
                    op: CmpOp::Le,
                    value: b,
                },
                (Some(_), Some(_)) => {
                    return Err(format!(
                        "`policy.slo` `{}`: both `min` and `max`: one Argo metric has one success condition (the other as a failure condition would make a value out of range on that side Inconclusive, not Failed); split it into two SLOs to export",
                        s.name
                    ))
                }
                (None, None) => {
                    return Err(format!(
                        "`policy.slo` `{}`: no `min` or `max` to write as a condition",
                        s.name
                    ))
                }
            };
            if let Some(r) = &s.role {
                notes.push(format!(
                    "SLO `{}` watches role `{r}` only; an Argo Rollout is one workload and its analysis watches all of it (export one Rollout per role)",
                    s.name
                ));
            }
            metrics.push(MetricSpec {
                name: s.name.clone(),
                interval: Some(l.slo_window),
                count: None,
                initial_delay: l.slo_window,
                failure_limit: 0,
                inconclusive_limit: 0,
                consecutive_error_limit: 4,
                consecutive_success_limit: 0,
                dry_run: false,
                provider: Provider::Prometheus {
                    query: s.query,
                    cohort: CohortName::New,
                    endpoint: None,
                    weights: None,
                    success_condition: Some(success_condition),
                    failure_condition: None,
                    min_requests: None,
                },
            });
        }
        notes.push("a window without data is not a violation for the ramp; for Argo it is a measurement error (consecutiveErrorLimit 4)".into());
        if l.on_slo_breach == OnBreach::Halt {
            notes.push("`on_slo_breach = \"halt\"` (Tsunami stops where it is): Argo has no halt, a failed analysis aborts the Rollout (the canary scaled down, as `rollback`)".into());
        }
        Some(BackgroundAnalysis {
            starting_step: 0,
            analysis: AnalysisSpec {
                name: format!("{name}-slo"),
                metrics,
            },
        })
    };
    Ok((
        CanarySpec {
            steps,
            traffic_routing: false,
            abort_scale_down_delay: SimDuration::from_secs(30),
            skip_analysis: false,
            max_surge: IntOrPercent::Percent(25),
            max_unavailable: IntOrPercent::Percent(25),
            promote_after: None,
            progress_deadline: SimDuration::from_secs(600),
            progress_deadline_abort: false,
            analysis,
        },
        notes,
    ))
}

/// The notes as YAML comment lines.
pub fn comments(head: &str, notes: &[String]) -> String {
    let mut s = format!("# {head}\n");
    for n in notes {
        writeln!(s, "# not mapped: {n}").unwrap();
    }
    s
}

// ---------------------------------------------------------------------------
// a sweep's Pareto-optimal groups

fn bad(e: impl std::fmt::Display) -> anyhow::Error {
    BadInput(e.to_string()).into()
}

/// A Pareto-optimal group read from a sweep's `summary.json`.
struct Optimal {
    label: String,
    frontiers: Vec<String>,
    duration_s: Option<f64>,
    failed: Option<f64>,
    runs: Option<u64>,
}

fn optimal_groups(summary: &serde_json::Value) -> Vec<Optimal> {
    let mut out: Vec<Optimal> = Vec::new();
    let empty = Vec::new();
    let groups = summary["groups"].as_array().unwrap_or(&empty);
    for f in summary["pareto"].as_array().unwrap_or(&empty) {
        let which = format!(
            "{} against {}",
            f["x"].as_str().unwrap_or("?"),
            f["y"].as_str().unwrap_or("?")
        );
        for l in f["groups"].as_array().unwrap_or(&empty) {
            let Some(l) = l.as_str() else { continue };
            let g = groups.iter().find(|g| g["label"] == l);
            if g.is_some_and(|g| g["finished"] == false) {
                continue;
            }
            match out.iter_mut().find(|o| o.label == l) {
                Some(o) => o.frontiers.push(which.clone()),
                None => out.push(Optimal {
                    label: l.to_string(),
                    frontiers: vec![which.clone()],
                    duration_s: g.and_then(|g| g["metrics"]["rollout_duration_s"]["mean"].as_f64()),
                    failed: g.and_then(|g| g["metrics"]["requests_failed"]["mean"].as_f64()),
                    runs: g.and_then(|g| g["metrics"]["rollout_duration_s"]["n"].as_u64()),
                }),
            }
        }
    }
    out
}

/// Gives every analysis of the policy a name unique to its Rollout (several
/// Rollouts go in one stream).
fn prefix_analyses(p: &mut PolicySpec, name: &str) {
    let rename = |a: &mut AnalysisSpec| {
        if !a.name.starts_with(name) {
            a.name = format!("{name}-{}", a.name);
        }
    };
    match p {
        PolicySpec::Canary(c) => {
            for s in &mut c.steps {
                if let CanaryStep::Analysis(a) = s {
                    rename(a);
                }
            }
            if let Some(b) = &mut c.analysis {
                rename(&mut b.analysis);
            }
        }
        PolicySpec::BlueGreen(b) => {
            for a in [
                &mut b.pre_promotion_analysis,
                &mut b.post_promotion_analysis,
            ]
            .into_iter()
            .flatten()
            {
                rename(a);
            }
        }
        _ => {}
    }
}

/// `shakedown export SWEEP_DIR --format F`: the Pareto-optimal completed
/// groups of the sweep, each as its Rollout (Canary), in one YAML stream.
pub fn export_sweep(dir: &Path, format: Format) -> anyhow::Result<ExitCode> {
    let mpath = dir.join("manifest.json");
    let spath = dir.join("summary.json");
    let mtext = input::read_text(&mpath, "sweep manifest (is it the output of `sweep`?)")?;
    let m = shakedown_reports::compare::parse_manifest(mtext.as_bytes())
        .map_err(|e| bad(format!("{}: {e}", mpath.display())))?;
    if m.kind != shakedown_sim::experiment::Kind::Sweep {
        return Err(bad(format!(
            "{}: a `{}` directory; export takes a sweep's (its groups are grid points of one scenario)",
            dir.display(),
            m.kind.as_str()
        )));
    }
    let stext = input::read_text(&spath, "sweep summary")?;
    let summary: serde_json::Value = serde_json::from_str(&stext)
        .map_err(|e| bad(format!("{}: not JSON: {e}", spath.display())))?;
    let scenario_path = Path::new(&m.scenario_file);
    let text = input::read_text(scenario_path, "the sweep's scenario")?;
    let digest = format!("{:016x}", shakedown_sim::rng::stream_id(&text));
    if digest != m.scenario_digest {
        return Err(bad(format!(
            "{}: `scenario_digest` {} is not that of {} ({digest}): the file changed since the sweep, or the sweep ran with --policy (whose file the manifest does not record); export the point's policy file itself",
            mpath.display(),
            m.scenario_digest,
            m.scenario_file
        )));
    }
    let doc: DocumentMut = text
        .parse()
        .map_err(|e| bad(format!("{}: {e}", m.scenario_file)))?;
    let optimal = optimal_groups(&summary);
    if optimal.is_empty() {
        return Err(bad(format!(
            "{}: no completed group is on a Pareto frontier (nothing to export)",
            spath.display()
        )));
    }
    let mut out = String::new();
    for o in &optimal {
        let g = m
            .groups
            .iter()
            .find(|g| g.label == o.label)
            .ok_or_else(|| {
                bad(format!(
                    "{}: group `{}` of summary.json is not in manifest.json",
                    spath.display(),
                    o.label
                ))
            })?;
        let mut d = doc.clone();
        match &g.policy {
            // A sweep that records each point's resolved policy.
            Some(t) => {
                let pt = toml::to_string(t)
                    .map_err(bad)?
                    .parse::<DocumentMut>()
                    .map_err(bad)?;
                d["policy"] = Item::Table(pt.as_table().clone());
            }
            None => {
                let values: Vec<&str> = g.values.iter().map(String::as_str).collect();
                let text = crate::sweep_edit::apply(&d, &m.params, &values)
                    .map_err(|(i, e)| bad(format!("--param {}: {e}", m.params[i].path)))?;
                d = text.parse::<DocumentMut>().map_err(bad)?;
            }
        }
        let mut sc: Scenario = input::parse_scenario(&d.to_string(), scenario_path)?;
        let name = super::export::dns_name(&format!("{}-{}", sc.name, o.label));
        sc.name = name.clone();
        prefix_analyses(&mut sc.policy, &name);
        let body = export_scenario(&sc, format)
            .map_err(|e| bad(format!("{}: group `{}`: {e}", dir.display(), o.label)))?;
        if !out.is_empty() {
            out.push_str("---\n");
        }
        let fmt_opt = |v: Option<f64>| v.map_or("?".to_string(), |v| format!("{v}"));
        writeln!(
            out,
            "# sweep point `{}` of {} ({}), on the Pareto frontier of {}: mean rollout duration {} s, mean failed requests {} over {} runs",
            o.label,
            m.scenario_file,
            m.params
                .iter()
                .zip(&g.values)
                .map(|(p, v)| format!("{}={v}", p.path))
                .collect::<Vec<_>>()
                .join(", "),
            o.frontiers.join(" and of "),
            fmt_opt(o.duration_s),
            fmt_opt(o.failed),
            o.runs.map_or("?".into(), |n| n.to_string())
        )
        .unwrap();
        out.push_str(&body);
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// Whether `path` is an experiment directory (`manifest.json` inside).
pub fn is_experiment_dir(path: &Path) -> bool {
    path.is_dir() && path.join("manifest.json").is_file()
}

#[cfg(test)]
mod tests {
    use super::*;
    use shakedown_sim::policy::spec::Shape;

    fn linear(duration: u64, step: u64, shape: Shape) -> LinearSpec {
        LinearSpec {
            duration: SimDuration::from_mins(duration),
            shape,
            step: SimDuration::from_mins(step),
            min_hosts: 1,
            max_pct: 100.0,
            slo: vec![],
            slo_window: SimDuration::from_mins(5),
            bake: SimDuration::ZERO,
            on_slo_breach: OnBreach::Halt,
        }
    }

    fn weights_over_time(c: &CanarySpec) -> Vec<(u64, u32)> {
        let mut t = 0;
        let mut out = Vec::new();
        for s in &c.steps {
            match s {
                CanaryStep::SetWeight(w) => out.push((t, *w)),
                CanaryStep::Pause(PauseSpec { duration: Some(d) }) => t += d.as_millis() / 60_000,
                _ => panic!("unexpected step {s:?}"),
            }
        }
        out
    }

    #[test]
    fn a_continuous_ramp_is_a_weight_every_step() {
        // 1 h in 6-minute steps: 0, 10, … 100 % at 0, 6, … 60 min.
        let l = linear(
            60,
            6,
            Shape::Linear {
                growth_factor: None,
            },
        );
        let b = schedule(&l);
        assert_eq!(b.len(), 11);
        let (c, notes) = linear_as_canary("x", &l).unwrap();
        let expect: Vec<(u64, u32)> = (1..=10).map(|k| (6 * k, 10 * k as u32)).collect();
        assert_eq!(weights_over_time(&c), expect);
        // Every share was a whole percent: only the general note.
        assert_eq!(notes.len(), 1, "{notes:?}");
    }

    #[test]
    fn appconfig_exponential_steps_and_bake() {
        // G·2^(k-1): 10, 20, 40, 80, 100 % at k·duration/5.
        let mut l = linear(
            50,
            10,
            Shape::Exponential {
                growth_factor: 10.0,
            },
        );
        l.bake = SimDuration::from_mins(30);
        let (c, _) = linear_as_canary("x", &l).unwrap();
        assert_eq!(
            weights_over_time(&c),
            vec![(10, 10), (20, 20), (30, 40), (40, 80), (50, 100)]
        );
        assert_eq!(
            c.steps.last(),
            Some(&CanaryStep::Pause(PauseSpec {
                duration: Some(SimDuration::from_mins(30))
            }))
        );
    }

    #[test]
    fn shares_that_are_not_whole_percents_are_rounded_up_and_said() {
        // 1 h in 7-minute steps: 11.67 % first.
        let l = linear(
            60,
            7,
            Shape::Linear {
                growth_factor: None,
            },
        );
        let (c, notes) = linear_as_canary("x", &l).unwrap();
        assert_eq!(weights_over_time(&c)[0], (7, 12));
        assert!(notes[0].contains("rounded up"), "{notes:?}");
        assert!(notes[0].contains("11.6667 % at 7m → 12"), "{notes:?}");
    }

    #[test]
    fn what_argo_cannot_express_is_an_error() {
        let mut l = linear(
            60,
            30,
            Shape::Linear {
                growth_factor: None,
            },
        );
        l.max_pct = 10.0;
        let e = linear_as_canary("x", &l).unwrap_err();
        assert!(
            e.contains("`policy.max_pct`") && e.contains("moves 50 %"),
            "{e}"
        );
        l.max_pct = 100.0;
        l.min_hosts = 2;
        assert!(linear_as_canary("x", &l)
            .unwrap_err()
            .contains("`policy.min_hosts`"));
    }
}
