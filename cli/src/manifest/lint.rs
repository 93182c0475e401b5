//! `shakedown lint FILE [--scenario S]`: what the importer and the fidelity
//! rules find wrong with a manifest, as `error:` / `warning:` lines with
//! their location. Exit 0 clean, 1 findings, 2 input that cannot be read
//! (not YAML, no Rollout or Canary, an unreadable scenario).
//!
//! The rules, on the scenario's fleet and traffic (a small default world
//! when no `--scenario` is given):
//! - anything the importer rejects (an unmodelled field, an unmapped
//!   metric) and anything policy validation rejects (a `count` below
//!   `failureLimit`, …), each an error;
//! - a `setWeight` that gives no canary host on a role, an error; one whose
//!   canary hosts carry far more (or less) traffic than the weight, a
//!   warning (Argo without a router: 5 % of 10 hosts is 1 host, 10 %);
//! - an analysis whose `min_requests` a measurement can never reach at the
//!   weight it runs at (error), or cannot reach at the quietest traffic
//!   (warning); a measurement that sees no request at all at the quietest
//!   traffic (warning: Flagger's "no values found", Argo's errors);
//! - a blue-green pre-promotion analysis of request metrics: the preview
//!   has no user traffic, so it only ever errors (warning, seed 002).

use super::{try_translate_files, Failure, Translation};
use shakedown_sim::analysis::spec::{AnalysisSpec, Provider};
use shakedown_sim::policy::common::{approximate_canary_stable, routed_canary_replicas};
use shakedown_sim::policy::spec::{CanaryStep, PolicySpec};
use shakedown_sim::Scenario;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The world a manifest is linted against without `--scenario`: 10 hosts
/// replaced one by one, 100 requests per second.
pub const DEFAULT_SCENARIO: &str = r#"name = "lint-default"
description = "10 hosts, 100 rps constant (shakedown lint without --scenario)"
duration = "6h"

[[fleet.roles]]
name = "app"
hosts = 10
zones = ["a"]

[traffic]
curve = "constant"
rps = 100

[change]
attribute = "app"
from = "1"
to = "2"
mode = "replace"
install_time = "10s"
restart_time = "20s"

[policy]
kind = "all-at-once"
"#;

/// A finding: `error` or `warning`, located.
pub struct Finding {
    pub level: &'static str,
    pub text: String,
}

pub fn lint(
    files: &[PathBuf],
    scenario: Option<&Path>,
    metric_map: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let mut findings = Vec::new();
    // The scenario first: an unreadable one is bad input.
    let (sc_path, sc_text) = match scenario {
        Some(p) => (p.to_path_buf(), crate::input::read_text(p, "scenario")?),
        None => (
            PathBuf::from("(lint default scenario)"),
            DEFAULT_SCENARIO.to_string(),
        ),
    };
    crate::input::parse_scenario(&sc_text, &sc_path)?;
    // A shakedown TOML policy file is linted too (only the fidelity rules
    // apply to it).
    let first = &files[0];
    let text = crate::input::read_text(first, "manifest")?;
    let is_toml = !super::yaml::looks_like_yaml(&first.display().to_string(), &text);
    let translated = if is_toml {
        Ok(Translation {
            toml: text,
            origins: vec![],
            ignored: vec![],
            notes: vec![],
            sources: vec![],
            toml_file: Some(first.display().to_string()),
        })
    } else {
        try_translate_files(files, metric_map)
    };
    let t = match translated {
        Ok(t) => Some(t),
        Err(Failure::Input(b)) => return Err(b.into()),
        Err(Failure::Manifest(e)) => {
            findings.push(Finding {
                level: "error",
                text: e.to_string(),
            });
            None
        }
    };
    if let Some(t) = &t {
        for i in &t.ignored {
            println!("note: {i}: ignored (no effect on a simulation)");
        }
        for n in &t.notes {
            findings.push(Finding {
                level: "warning",
                text: format!("{n} (approximated)"),
            });
        }
        match scenario_for(&sc_text, &sc_path, files, metric_map) {
            Ok(sc) => findings.extend(rules(&sc, t)),
            Err(e) => findings.push(Finding {
                level: "error",
                text: format!("{e:#}"),
            }),
        }
    }
    for f in &findings {
        println!(
            "{}: {}",
            f.level,
            shakedown_sim::located::escape_controls(&f.text)
        );
    }
    let errors = findings.iter().filter(|f| f.level == "error").count();
    println!(
        "{} error{}, {} warning{}",
        errors,
        if errors == 1 { "" } else { "s" },
        findings.len() - errors,
        if findings.len() - errors == 1 {
            ""
        } else {
            "s"
        }
    );
    Ok(if findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn scenario_for(
    sc_text: &str,
    sc_path: &Path,
    files: &[PathBuf],
    metric_map: Option<&Path>,
) -> anyhow::Result<Scenario> {
    super::policy_file::with_policy(sc_text, sc_path, &files[0], metric_map)
}

/// Where the manifest wrote the step or field behind a policy path.
fn at(t: &Translation, path: &str) -> String {
    t.origins
        .iter()
        .filter(|(p, _)| {
            path == p || path.starts_with(&format!("{p}.")) || path.starts_with(&format!("{p}["))
        })
        .max_by_key(|(p, _)| p.len())
        .map_or_else(
            || match &t.toml_file {
                Some(f) => {
                    let (line, col) = shakedown_sim::located::TomlIndex::new(&t.toml).locate(path);
                    format!("{f}:{line}:{col}: `{path}`")
                }
                None => path.to_string(),
            },
            |(_, o)| format!("{}:{}:{}: `{}`", o.file, o.pos.line, o.pos.col, o.field),
        )
}

/// The quietest and busiest offered rate over the run (sampled every tick).
fn rps_range(sc: &Scenario) -> (f64, f64) {
    let tick = sc.tick.as_secs_f64().max(1.0);
    let end = sc.duration.as_secs_f64();
    let mut lo = f64::INFINITY;
    let mut t = 0.0;
    while t <= end {
        lo = lo.min(sc.traffic.rps_at(t));
        t += tick;
    }
    (
        lo.min(sc.traffic.rps_upper_bound()),
        sc.traffic.rps_upper_bound(),
    )
}

/// The fidelity rules on the validated policy.
pub fn rules(sc: &Scenario, t: &Translation) -> Vec<Finding> {
    let mut out = Vec::new();
    let (lo, hi) = rps_range(sc);
    let r = (lo, hi, sc.tick.as_secs_f64());
    let mut policy = &sc.policy;
    while let PolicySpec::Windowed { policy: p, .. } = policy {
        policy = p;
    }
    match policy {
        PolicySpec::Canary(c) => {
            let mut weight = 0u32;
            for (i, st) in c.steps.iter().enumerate() {
                let path = format!("policy.steps[{i}]");
                match st {
                    CanaryStep::SetWeight(w) => {
                        weight = *w;
                        if *w == 0 || *w == 100 {
                            continue;
                        }
                        for role in &sc.fleet.roles {
                            let n = role.hosts;
                            let canary = if c.traffic_routing {
                                routed_canary_replicas(*w, n)
                            } else {
                                approximate_canary_stable(n, *w, c.max_surge.resolve(n, true)).0
                            };
                            if canary == 0 {
                                out.push(Finding {
                                    level: "error",
                                    text: format!("{}: setWeight {w} gives 0 canary hosts on role `{}` ({n} hosts): the step tests nothing", at(t, &path), role.name),
                                });
                            } else if !c.traffic_routing {
                                let share = 100.0 * canary as f64 / n as f64;
                                if (share - *w as f64).abs() >= *w as f64 / 2.0 {
                                    out.push(Finding {
                                        level: "warning",
                                        text: format!("{}: setWeight {w} on role `{}` ({n} hosts, no traffic router) gives {canary} canary host{}: {share:.0} % of its traffic, not {w} %", at(t, &path), role.name, if canary == 1 { "" } else { "s" }),
                                    });
                                }
                            }
                        }
                    }
                    CanaryStep::Analysis(a) => {
                        samples(&mut out, t, &format!("{path}.analysis"), a, weight, r);
                    }
                    _ => {}
                }
            }
            if let Some(bg) = &c.analysis {
                // The background analysis runs from its starting step; check at
                // the first weight it sees.
                let w = c
                    .steps
                    .iter()
                    .take(bg.starting_step as usize + 1)
                    .filter_map(|s| match s {
                        CanaryStep::SetWeight(w) => Some(*w),
                        _ => None,
                    })
                    .next_back()
                    .unwrap_or(0);
                samples(&mut out, t, "policy.analysis", &bg.analysis, w, r);
            }
        }
        PolicySpec::BlueGreen(b) => {
            if let Some(a) = &b.pre_promotion_analysis {
                if a.metrics
                    .iter()
                    .any(|m| matches!(m.provider, Provider::Prometheus { .. }))
                {
                    out.push(Finding {
                        level: "warning",
                        text: format!("{}: the pre-promotion analysis measures the preview, which gets no user traffic: its request metrics see no data and error out after consecutive_error_limit (a load test would be needed; shakedown's seed 002)", at(t, "policy.pre_promotion_analysis")),
                    });
                }
            }
            if let Some(a) = &b.post_promotion_analysis {
                samples(&mut out, t, "policy.post_promotion_analysis", a, 100, r);
            }
        }
        PolicySpec::Flagger(f) => {
            if let Some(w) = f.step_weights.first() {
                let per_check = lo * *w as f64 / 100.0 * f.interval.as_secs_f64();
                if per_check < 1.0 {
                    out.push(Finding {
                        level: "warning",
                        text: format!("{}: at the quietest traffic ({lo:.2} rps) the first weight ({w} %) sends the canary about {per_check:.2} requests per {} interval: checks find no values and the canary stops advancing", at(t, "policy"), f.interval),
                    });
                }
            }
        }
        _ => {}
    }
    out
}

/// Checks the requests one measurement of each metric of `a` sees at
/// `weight` % against its `min_requests` (and against 1).
fn samples(
    out: &mut Vec<Finding>,
    t: &Translation,
    path: &str,
    a: &AnalysisSpec,
    weight: u32,
    (lo, hi, tick): (f64, f64, f64),
) {
    for (i, m) in a.metrics.iter().enumerate() {
        let Provider::Prometheus {
            min_requests,
            query,
            ..
        } = &m.provider
        else {
            continue;
        };
        if matches!(query, shakedown_sim::analysis::Query::ReadyRatio) {
            continue;
        }
        // A measurement reads the scrapes since the previous one: one
        // interval (one scrape for a single measurement).
        let window = m.interval.map_or(tick, |d| d.as_secs_f64());
        let share = weight as f64 / 100.0;
        let (few, many) = (lo * share * window, hi * share * window);
        let mpath = format!("{path}.metrics[{i}]");
        let loc = {
            let template = format!("analysis.{}.metrics[{i}]", a.name);
            let l = at(t, &template);
            if l == template || a.name == "inline" {
                at(t, &mpath)
            } else {
                l
            }
        };
        if let Some(min) = min_requests {
            let min = *min as f64;
            if many < min {
                out.push(Finding {
                    level: "error",
                    text: format!("{loc}: metric `{}` needs {min} requests per measurement but at {weight} % of the busiest traffic ({hi:.1} rps) a {window}s window sees at most {many:.0}: it can never gather its samples", m.name),
                });
                continue;
            }
            if few < min {
                out.push(Finding {
                    level: "warning",
                    text: format!("{loc}: metric `{}` needs {min} requests per measurement; at {weight} % of the quietest traffic ({lo:.1} rps) a {window}s window sees about {few:.0}: Inconclusive there", m.name),
                });
                continue;
            }
        }
        if few < 1.0 {
            out.push(Finding {
                level: "warning",
                text: format!("{loc}: metric `{}` at {weight} % of the quietest traffic ({lo:.2} rps) sees about {few:.2} requests per measurement: no data, the measurement errors", m.name),
            });
        }
    }
}
