//! Warnings: scenarios that validate but describe a model that cannot be
//! right. Each is located (file, line, column, field) like an error; the
//! run goes ahead, and `--deny-warnings` makes them fatal for CI.
//!
//! | class | field | what |
//! |---|---|---|
//! | selector matches no host | `faults[i].match` / `.roles` | no host of the fleet, on either version, has those attributes |
//! | fault never fires | `faults[i].probability` …, `.version`, `.start` | probability, fraction or rate 0; a version no host runs; an outage after the run |
//! | `change.from` no host runs | `change.from` | the fleet declares the change's attribute, never with this value |
//! | shares do not sum to 1 | `traffic.endpoints`, `fleet.roles[i].mix.A`, `traffic.regions` | the shares as written (they are normalised, so the model is not what was written) |
//! | value with no factor | `faults[i].io_factor` | a host matched by a kernel panic has an `io` class the table lacks (factor 1 is used) |
//! | policy cannot finish | `policy.duration`, `policy.steps`, `policy.bake` … | its own waits alone outlast the run after `change.start_at` |
//!
//! A policy whose roles or zones do not fit the fleet (a role or zone it
//! names that the fleet lacks, a zone in no wave, test roles that are the
//! whole fleet) is an error, not a warning: it is rejected where it is
//! validated against the scenario, located in the policy file.

use super::Scenario;
use crate::faults::{FaultRule, Selector};
use crate::located::{Checker, Warning};
use crate::policy::spec::CanaryStep;
use crate::scenario::PolicySpec;
use crate::time::SimDuration;
use std::collections::{BTreeMap, BTreeSet};

/// How far a sum of shares may be from 1 before it is a warning (written
/// decimals such as 0.1 + 0.2 are not exact).
const SHARE_TOLERANCE: f64 = 1e-6;

impl Scenario {
    /// The warnings of this scenario, read from `text` (the file it was
    /// parsed from, for locations and shares as written) named `file`.
    pub fn warnings(&self, text: &str, file: &str) -> Vec<Warning> {
        let c = Checker::new(file, text);
        let raw: toml::Table = toml::from_str(text).unwrap_or_default();
        let mut out = Vec::new();
        faults(self, &c, &mut out);
        change_from(self, &c, &mut out);
        shares(&raw, &c, &mut out);
        policy(self, &c, &mut out);
        out
    }
}

/// Every attribute set a host of role `ri` can have, on either version:
/// the role's attributes, each mixed value, and the change's attribute and
/// `version` as the old and the new cohort see them.
fn host_profiles(sc: &Scenario, ri: usize) -> Vec<BTreeMap<String, String>> {
    let role = &sc.fleet.roles[ri];
    let mut sets = vec![role.attributes.clone()];
    for (attr, values) in &role.mix {
        let mut next = Vec::new();
        for set in &sets {
            for (v, share) in values {
                if *share > 0.0 {
                    let mut s = set.clone();
                    s.insert(attr.clone(), v.clone());
                    next.push(s);
                }
            }
        }
        // Bounded: a role with many mixed attributes is rare; past 4096
        // combinations the check keeps what it has (it may then miss a
        // warning, never raise a wrong one).
        next.truncate(4096);
        sets = next;
    }
    let mut out = Vec::new();
    for set in sets {
        for v in [&sc.change.from, &sc.change.to] {
            let mut s = set.clone();
            s.insert(sc.change.attribute.clone(), v.clone());
            s.insert("version".into(), v.clone());
            out.push(s);
        }
    }
    out
}

fn selects(on: &Selector, role: &str, attrs: &BTreeMap<String, String>) -> bool {
    (on.roles.is_empty() || on.roles.iter().any(|r| r == role))
        && on
            .attributes
            .iter()
            .all(|(k, v)| attrs.get(k).is_some_and(|x| x == v))
}

/// The values each attribute takes anywhere in the fleet, for messages.
fn attribute_values(sc: &Scenario) -> BTreeMap<String, BTreeSet<String>> {
    let mut values: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for ri in 0..sc.fleet.roles.len() {
        for set in host_profiles(sc, ri) {
            for (k, v) in set {
                values.entry(k).or_default().insert(v);
            }
        }
    }
    values
}

fn selector_of(rule: &FaultRule) -> Option<&Selector> {
    match rule {
        FaultRule::OrphanedContainers { on, .. }
        | FaultRule::LeakedPorts { on, .. }
        | FaultRule::IncompatibleRoles { on, .. }
        | FaultRule::BadConfig { on, .. }
        | FaultRule::KernelPanic { on, .. }
        | FaultRule::ContainerCrash { on, .. } => Some(on),
        _ => None,
    }
}

fn faults(sc: &Scenario, c: &Checker<'_>, out: &mut Vec<Warning>) {
    let versions = [sc.change.from.as_str(), sc.change.to.as_str()];
    let duration = sc.duration;
    for (i, rule) in sc.faults.iter().enumerate() {
        let field = |k: &str| format!("faults[{i}].{k}");
        let name = rule.name();
        if let Some(on) = selector_of(rule) {
            let matched: Vec<(usize, BTreeMap<String, String>)> = (0..sc.fleet.roles.len())
                .flat_map(|ri| host_profiles(sc, ri).into_iter().map(move |p| (ri, p)))
                .filter(|(ri, p)| selects(on, &sc.fleet.roles[*ri].name, p))
                .collect();
            if matched.is_empty() {
                let values = attribute_values(sc);
                let wrong: Vec<String> = on
                    .attributes
                    .iter()
                    .filter(|(k, v)| !values.get(*k).is_some_and(|vs| vs.contains(*v)))
                    .map(|(k, v)| match values.get(k) {
                        Some(vs) => format!(
                            "`{k} = \"{v}\"` (the fleet has {})",
                            vs.iter()
                                .map(|x| format!("\"{x}\""))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                        None => format!("`{k}` (no host has this attribute)"),
                    })
                    .collect();
                let why = if wrong.is_empty() {
                    "no host has all of them at once (on either version, in the roles listed)"
                        .to_string()
                } else {
                    format!("no host matches {}", wrong.join(" or "))
                };
                let at = if on.attributes.is_empty() {
                    field("roles")
                } else {
                    field("match")
                };
                out.push(c.warn(
                    &at,
                    format!("this {name} fault selects no host: {why}; it can never fire"),
                ));
                continue;
            }
            if let FaultRule::KernelPanic { io_factor, .. } = rule {
                let missing: BTreeSet<&str> = matched
                    .iter()
                    .map(|(_, p)| p.get("io").map_or("low", String::as_str))
                    .filter(|io| !io_factor.contains_key(*io))
                    .collect();
                if !missing.is_empty() {
                    out.push(c.warn(
                        &field("io_factor"),
                        format!(
                            "hosts this fault matches have io = {}, which `io_factor` does not list ({}): factor 1 is used for them",
                            missing.iter().map(|x| format!("\"{x}\"")).collect::<Vec<_>>().join(", "),
                            io_factor.keys().map(|x| format!("\"{x}\"")).collect::<Vec<_>>().join(", ")
                        ),
                    ));
                }
                let all_zero = matched.iter().all(|(_, p)| {
                    let io = p.get("io").map_or("low", String::as_str);
                    io_factor.get(io).is_some_and(|f| *f == 0.0)
                });
                if all_zero {
                    out.push(c.warn(
                        &field("io_factor"),
                        "every host this fault matches has io factor 0: it can never fire",
                    ));
                }
            }
        }
        let zero = |k: &str, v: f64, what: &str| {
            (v == 0.0).then(|| {
                c.warn(
                    &field(k),
                    format!("{what} is 0: this {name} fault can never fire"),
                )
            })
        };
        let w = match rule {
            FaultRule::OrphanedContainers { probability, .. }
            | FaultRule::LeakedPorts { probability, .. } => zero("probability", *probability, "`probability`"),
            FaultRule::BadConfig { fraction, .. } => zero("fraction", *fraction, "`fraction`"),
            FaultRule::FailsUnderLoad { version, .. } | FaultRule::Regression { version, .. }
                if !versions.contains(&version.as_str()) =>
            {
                Some(c.warn(
                    &field("version"),
                    format!(
                        "no host runs version \"{version}\" (the change moves \"{}\" to \"{}\"): this {name} fault can never fire",
                        sc.change.from, sc.change.to
                    ),
                ))
            }
            FaultRule::RegistryOutage { start, .. } if *start >= duration => Some(c.warn(
                &field("start"),
                format!("starts at {start}, after the run ends ({duration}): it can never fire"),
            )),
            FaultRule::RegistryOutage { start, duration: d }
                if *start + *d <= sc.change.start_at =>
            {
                Some(c.warn(
                    &field("start"),
                    format!(
                        "ends at {} before the change starts ({}): no upgrade can meet it",
                        *start + *d,
                        sc.change.start_at
                    ),
                ))
            }
            _ => None,
        };
        out.extend(w);
    }
}

fn change_from(sc: &Scenario, c: &Checker<'_>, out: &mut Vec<Warning>) {
    let attr = &sc.change.attribute;
    let mut declared: BTreeSet<&str> = BTreeSet::new();
    for r in &sc.fleet.roles {
        if let Some(v) = r.attributes.get(attr) {
            if !r.mix.contains_key(attr) {
                declared.insert(v);
            }
        }
        if let Some(values) = r.mix.get(attr) {
            declared.extend(
                values
                    .iter()
                    .filter(|(_, s)| **s > 0.0)
                    .map(|(v, _)| v.as_str()),
            );
        }
    }
    if !declared.is_empty() && !declared.contains(sc.change.from.as_str()) {
        out.push(c.warn(
            "change.from",
            format!(
                "no host runs {attr} \"{}\": the fleet declares {attr} = {}; the simulation still moves every host from \"{}\"",
                sc.change.from,
                declared.iter().map(|x| format!("\"{x}\"")).collect::<Vec<_>>().join(", "),
                sc.change.from
            ),
        ));
    }
}

/// Shares as written: the validated scenario holds them normalised.
fn shares(raw: &toml::Table, c: &Checker<'_>, out: &mut Vec<Warning>) {
    let num = |v: &toml::Value| v.as_float().or_else(|| v.as_integer().map(|i| i as f64));
    let mut check = |field: &str, what: &str, values: Vec<f64>| {
        let sum: f64 = values.iter().sum();
        if !values.is_empty() && (sum - 1.0).abs() > SHARE_TOLERANCE {
            out.push(c.warn(
                field,
                format!(
                    "the {what} shares sum to {}, not 1: they are scaled to sum to 1, so each is {} of what is written",
                    round(sum),
                    if sum > 1.0 { "less" } else { "more" }
                ),
            ));
        }
    };
    let traffic = raw.get("traffic").and_then(|t| t.as_table());
    if let Some(eps) = traffic
        .and_then(|t| t.get("endpoints"))
        .and_then(|e| e.as_array())
    {
        let shares: Vec<f64> = eps
            .iter()
            .filter_map(|e| e.get("share").and_then(num))
            .collect();
        check("traffic.endpoints", "endpoint", shares);
    }
    if let Some(regions) = traffic
        .and_then(|t| t.get("regions"))
        .and_then(|e| e.as_array())
    {
        let given: Vec<f64> = regions
            .iter()
            .filter_map(|r| r.get("share").and_then(num))
            .collect();
        // Regions without a share weigh 1 each: only shares all written are
        // read as fractions of the traffic.
        if given.len() == regions.len() {
            check("traffic.regions", "region", given);
        }
    }
    let roles = raw
        .get("fleet")
        .and_then(|f| f.get("roles"))
        .and_then(|r| r.as_array());
    for (i, role) in roles.into_iter().flatten().enumerate() {
        let Some(mix) = role.get("mix").and_then(|m| m.as_table()) else {
            continue;
        };
        for (attr, values) in mix {
            if let Some(values) = values.as_table() {
                let shares: Vec<f64> = values.values().filter_map(num).collect();
                check(
                    &format!("fleet.roles[{i}].mix.{attr}"),
                    &format!("`{attr}` mix"),
                    shares,
                );
            }
        }
    }
}

fn times(d: SimDuration, n: u64) -> SimDuration {
    SimDuration::from_millis(d.as_millis().saturating_mul(n))
}

fn round(x: f64) -> String {
    let s = format!("{x:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn policy(sc: &Scenario, c: &Checker<'_>, out: &mut Vec<Warning>) {
    let available = SimDuration::from_millis(
        sc.duration
            .as_millis()
            .saturating_sub(sc.change.start_at.as_millis()),
    );
    let mut spec = &sc.policy;
    while let PolicySpec::Windowed { policy, .. } = spec {
        spec = policy;
    }
    let too_long = |field: &str, what: String, needs: SimDuration| {
        (needs > available).then(|| {
            c.warn(
                field,
                format!(
                    "{what} take {needs}, longer than the {available} the run leaves after `change.start_at`: it can only time out"
                ),
            )
        })
    };
    let w = match spec {
        PolicySpec::Linear(l) => too_long(
            "policy.duration",
            format!("the ramp ({}) and its bake ({})", l.duration, l.bake),
            l.duration + l.bake,
        ),
        PolicySpec::Canary(cs) => {
            let mut total = SimDuration::ZERO;
            let mut indefinite = false;
            for s in &cs.steps {
                if let CanaryStep::Pause(p) = s {
                    match p.duration {
                        Some(d) => total = total + d,
                        None => indefinite = true,
                    }
                }
            }
            if indefinite && cs.promote_after.is_none() {
                Some(c.warn(
                    "policy.steps",
                    "a `pause = {}` waits for a human and no `promote_after` stands in for one: the rollout can never complete (the run counts it halted)",
                ))
            } else {
                too_long("policy.steps", "its timed pauses".to_string(), total)
            }
        }
        PolicySpec::Staged(st) => too_long("policy.bake", "its bake".to_string(), st.bake),
        PolicySpec::Waves(wv) => {
            let waves = wv.wave_zones.len().max(1) as u64;
            let needs =
                wv.bake_one_box + wv.bake_first_wave + times(wv.bake, waves.saturating_sub(1));
            too_long(
                "policy.bake",
                format!(
                    "its bakes (one-box, first wave, then {} more waves)",
                    waves - 1
                ),
                needs,
            )
        }
        PolicySpec::Flagger(f) => {
            let steps = f.iterations.map_or(f.step_weights.len() as u64, u64::from);
            too_long(
                "policy.interval",
                format!("{steps} analysis intervals of {}", f.interval),
                times(f.interval, steps),
            )
        }
        _ => None,
    };
    out.extend(w);
}
