//! Scenarios: what is rolled out, to which fleet, under which traffic, by
//! which policy.
//!
//! ```text
//!   TOML text ──parse──▶ RawScenario ──validate──▶ Scenario ──▶ World::run
//!   (caller reads it)    (serde, unknown keys       (every default resolved,
//!                          rejected)                  printable as TOML)
//! ```
//!
//! The sim crate reads no files: callers pass the text and a name for it,
//! which every [`ScenarioError`] quotes with line, column and field.
//! [`Scenario::to_toml`] prints the fully defaulted scenario, and that output
//! parses back to the same scenario (`shakedown run --print-resolved`).

mod heal;
pub mod live;
mod policy_file;
pub mod raw;
mod warnings;

pub use policy_file::{check_policy_file, is_policy_file};

pub use crate::fleet::{Fleet, Role};
pub(crate) use crate::located::Checker;
pub use crate::located::{LocatedError as ScenarioError, TomlIndex};
pub use crate::protocol::{ChangeMode, IntOrPercent};

use crate::dist::DurationDist;
use crate::faults::{EffectKind, EndpointRegression, FaultRule, Selector};
pub use crate::policy::spec::PolicySpec;
use crate::time::SimDuration;
pub use crate::traffic::{Curve, Endpoint, Region, Spike, Traffic};
pub use live::LiveConfig;
use raw::*;
use serde::Serialize;
use std::collections::BTreeMap;

/// A validated scenario: every field present, every default applied.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    /// How much virtual time to simulate.
    pub duration: SimDuration,
    /// Traffic and monitoring resolution (default 15 s, a Prometheus scrape).
    pub tick: SimDuration,
    /// The seed used when the command line gives none.
    pub seed: u64,
    pub fleet: Fleet,
    pub traffic: Traffic,
    /// The fault catalogue rules active in this world, in order.
    pub faults: Vec<FaultRule>,
    pub monitoring: Monitoring,
    /// The users' objective: what "the change hurt them" is measured against.
    pub slo: Slo,
    pub change: Change,
    pub policy: PolicySpec,
    /// HorizontalPodAutoscalers (`[[autoscale]]`), at most one per role.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub autoscale: Vec<crate::autoscale::AutoscaleSpec>,
    /// Live-mode settings (`[live]`): how the scenario runs as containers,
    /// and the chaos a simulated run replays too.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<LiveConfig>,
}

/// What the policy can see, and when.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Monitoring {
    /// How old the newest scrape a policy sees is (rounded up to whole
    /// ticks; the scrape interval is the tick).
    pub lag: SimDuration,
}

/// The service level objective (`[slo]`): the share of requests that
/// succeed, over every window of `window` (the whole run by default).
/// Every run reports whether it was met and how much of the error budget
/// (`1 − success_rate` of the requests) it burned; it judges the change's
/// effect on users, not whether the policy finished.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Slo {
    /// The objective, in (0, 1) (default 0.999).
    pub success_rate: f64,
    /// The window the objective holds over, sliding tick by tick; the
    /// whole run when it is the run's duration (the default) or longer.
    pub window: SimDuration,
}

/// The default objective: 99.9 % of requests succeed.
pub const DEFAULT_SLO: f64 = 0.999;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Change {
    /// The host attribute the change moves (e.g. `docker`).
    pub attribute: String,
    pub from: String,
    pub to: String,
    pub mode: ChangeMode,
    /// When the policy is first consulted.
    pub start_at: SimDuration,
    /// Time a host is taken out of the load balancer before it goes down.
    /// Zero means no drain: the host is still routed to for
    /// `fleet.detection_delay` after it stops serving.
    pub drain: SimDuration,
    pub install_time: DurationDist,
    /// Time to restart every container on an upgraded host ("upgrading Docker
    /// restarts every running container").
    pub restart_time: DurationDist,
    /// Time to bring up a new host (`mode = "replace"`).
    pub provision_time: DurationDist,
}

impl Checker<'_> {
    fn dist(
        &self,
        field: &str,
        v: Option<RawDist>,
        default: DurationDist,
    ) -> Result<DurationDist, ScenarioError> {
        let d = match v {
            None => return Ok(default),
            Some(RawDist::Fixed(d)) => DurationDist::fixed(d),
            Some(RawDist::Table(RawDistTable::Fixed { value })) => DurationDist::fixed(value),
            Some(RawDist::Table(RawDistTable::Uniform { min, max })) => {
                if min > max {
                    return Err(self.err(
                        field,
                        format!("uniform: min ({min}) is greater than max ({max})"),
                    ));
                }
                DurationDist::Uniform { min, max }
            }
            Some(RawDist::Table(RawDistTable::Lognormal { median, p95 })) => {
                if median.is_zero() || p95 < median {
                    return Err(self.err(
                        field,
                        format!(
                            "lognormal: needs 0 < median ≤ p95, got median {median}, p95 {p95}"
                        ),
                    ));
                }
                DurationDist::LogNormal { median, p95 }
            }
        };
        Ok(d)
    }
}

impl Scenario {
    /// Parses and validates a scenario that references no other file.
    /// `file` is only used in messages.
    pub fn parse(text: &str, file: &str) -> Result<Scenario, ScenarioError> {
        Self::parse_with(text, file, &|path: &str| {
            Err(format!(
                "cannot read `{path}`: this caller gives no file access"
            ))
        })
    }

    /// Parses and validates a scenario; `load` returns the text of a file the
    /// scenario references (a replay CSV), as the caller resolves the path.
    pub fn parse_with(
        text: &str,
        file: &str,
        load: &dyn Fn(&str) -> Result<String, String>,
    ) -> Result<Scenario, ScenarioError> {
        let checker = Checker::new(file, text);
        let raw: RawScenario = toml::from_str(text).map_err(|e| toml_error(&checker, text, e))?;
        validate(&checker, raw, load)
    }

    /// The fully resolved scenario as TOML (a valid scenario file itself).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a validated scenario always serialises")
    }

    /// Total hosts at the start of the run.
    pub fn host_count(&self) -> u64 {
        self.fleet.roles.iter().map(|r| r.hosts as u64).sum()
    }
}

/// Turns a `toml` error into a located [`ScenarioError`] with a field name.
fn toml_error(c: &Checker<'_>, text: &str, e: toml::de::Error) -> ScenarioError {
    let msg = e.message().trim().replace('\n', "; ");
    let span = e.span().unwrap_or(0..0);
    let offset = span.start;
    // serde sees a date-time as a table with this private key; the user
    // wrote a date-time (issue 15: the name leaked into a message).
    const DATETIME_KEY: &str = "$__toml_private_datetime";
    let datetime = TomlIndex::is_datetime_at(text, offset);
    let unknown = between(&msg, "unknown field `", "`");
    let missing = between(&msg, "missing field `", "`");
    // A missing key is reported at the span of the table that lacks it: its
    // `[header]`, its inline `{ … }` value, or the document's own keys (from
    // byte 0, empty when the file opens with a header).
    let at = if missing.is_some() {
        let table = c.index.table_at(offset);
        if offset == 0 && (span.is_empty() || table.is_none()) {
            Some("")
        } else {
            table.or_else(|| c.index.field_at(offset))
        }
    } else {
        c.index.field_at(offset)
    };
    let mut field = at.unwrap_or("").to_string();
    let mut message = if field == "live.chaos" && msg.contains("expected a sequence") {
        "must be an array of tables: write each fault as [[live.chaos]]".to_string()
    } else {
        explain(&msg)
    };
    let mut offset = offset;
    let private = unknown == Some(DATETIME_KEY);
    if private && !datetime {
        // Reported at the enclosing table (a policy's, which serde reads
        // whole): find the date-time under it.
        if let Some((path, at)) = c
            .index
            .find_value(&field, |v| TomlIndex::is_datetime_at(text, v))
        {
            field = path.to_string();
            offset = at;
        }
    }
    if private || (datetime && missing.is_some()) {
        // A date-time where a table belongs: the key is the field.
        message = "invalid type: date-time, expected a table".to_string();
    } else if let Some(key) = unknown.or(missing) {
        // An unknown or missing key reported at its table: name the key too.
        let last = field.rsplit(['.', ']']).next().unwrap_or("");
        if last != key {
            field = if field.is_empty() {
                key.to_string()
            } else {
                format!("{field}.{key}")
            };
        }
    }
    if datetime {
        message = message.replace("invalid type: map", "invalid type: date-time");
    }
    let message = message.replace(&format!("`{DATETIME_KEY}`"), "a date-time");
    if field.is_empty() {
        field = "(file)".to_string();
    }
    let mut e = ScenarioError::at_offset(c.file, &c.index, offset, field, &message);
    if e.field.starts_with("faults[") {
        if let Some(better) = fault_element_error(c, text) {
            return better;
        }
    }
    if e.field == "policy" && unknown.is_none() && missing.is_none() {
        if let Some(key) = policy_culprit(text) {
            let path = format!("policy.{key}");
            if let Some((line, column)) = c.index.locate_key(&path) {
                (e.line, e.column, e.field) = (line, column, path);
            }
        }
    }
    if unknown.is_some() && !private {
        // serde reports an unknown key at the table that holds it (a
        // policy's, read whole): point at the key's own line instead.
        if let Some((line, column)) = c.index.locate_key(&e.field) {
            (e.line, e.column) = (line, column);
        }
    }
    e
}

/// The error of the first `[[faults]]` table that does not deserialise,
/// located at that table (issue 11: serde reads a tagged table whole, and
/// `toml` then reports every element's error at the first one). The key is
/// named when the message names it (unknown, missing) or when exactly one
/// key of the table holds the value the message quotes.
fn fault_element_error(c: &Checker<'_>, text: &str) -> Option<ScenarioError> {
    let doc: toml::Table = toml::from_str(text).ok()?;
    let faults = doc.get("faults")?.as_array()?;
    for (i, el) in faults.iter().enumerate() {
        let Err(err) = el.clone().try_into::<RawFault>() else {
            continue;
        };
        let msg = err.message().trim().replace('\n', "; ");
        let table = el.as_table();
        let key = between(&msg, "unknown field `", "`")
            .or_else(|| between(&msg, "missing field `", "`"))
            .map(str::to_string)
            .or_else(|| {
                let quoted = msg
                    .strip_prefix("invalid type: ")
                    .or_else(|| msg.strip_prefix("invalid value: "))?;
                let shown = quoted.split(", expected").next()?;
                let mut hits = table?.iter().filter(|(_, v)| {
                    let lit = match v {
                        toml::Value::String(s) => format!("string {s:?}"),
                        toml::Value::Integer(n) => format!("integer `{n}`"),
                        toml::Value::Float(x) => format!("floating point `{x}`"),
                        toml::Value::Boolean(b) => format!("boolean `{b}`"),
                        _ => return false,
                    };
                    lit == shown
                });
                let (k, _) = hits.next()?;
                hits.next().is_none().then(|| k.clone())
            });
        let field = match &key {
            Some(k) => format!("faults[{i}].{k}"),
            None => format!("faults[{i}]"),
        };
        // A missing key is at its table; any other at its own line.
        let at = if msg.starts_with("missing field") {
            format!("faults[{i}]")
        } else {
            field.clone()
        };
        let (line, column) = c.index.locate(&at);
        return Some(ScenarioError {
            file: c.file.to_string(),
            line,
            column,
            field,
            message: explain(&msg),
        });
    }
    None
}

/// The one key of `[policy]` that makes it fail to deserialise: serde
/// reads a tagged table whole, so a wrong-typed value (`max_surge = true`)
/// is reported at the `[policy]` header. The culprit is the key whose
/// removal lets the table deserialise (or leaves only that key missing);
/// `None` unless exactly one key does.
fn policy_culprit(text: &str) -> Option<String> {
    let doc: toml::Table = toml::from_str(text).ok()?;
    let table = doc.get("policy")?.as_table()?;
    let mut hits = table.keys().filter(|k| *k != "kind").filter(|k| {
        let mut without = table.clone();
        without.remove(*k);
        match toml::Value::Table(without).try_into::<crate::policy::spec::RawPolicy>() {
            Ok(_) => true,
            Err(e) => e.message().starts_with(&format!("missing field `{k}`")),
        }
    });
    let key = hits.next()?;
    hits.next().is_none().then(|| key.clone())
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let i = s.find(start)? + start.len();
    let j = s[i..].find(end)?;
    Some(&s[i..i + j])
}

/// Rewrites serde's generic messages into ones that say what is allowed.
fn explain(msg: &str) -> String {
    if msg.contains("untagged enum RawDist") {
        return "expected a duration like \"30s\", or a table: { dist = \"uniform\", min = \"20s\", max = \"90s\" } or { dist = \"lognormal\", median = \"45s\", p95 = \"2m\" } or { dist = \"fixed\", value = \"30s\" }".into();
    }
    if msg.contains("untagged enum RawIntOrPercent") {
        return "expected a count (e.g. 2) or a percentage string (e.g. \"25%\")".into();
    }
    if msg.starts_with("missing field `kind`") {
        return "missing field `kind`; policies are: all-at-once, rolling, staged, blue-green, canary, flagger, linear, waves".into();
    }
    if msg.starts_with("missing field `curve`") {
        return "missing field `curve`; curves are: constant, diurnal".into();
    }
    msg.replace("unknown variant", "unknown kind")
        .replace(
            "expected struct RawLiveVersion",
            "expected a table like { behaviour = \"good\" } or { image = \"my-svc:dev\" }",
        )
        .replace("expected struct RawLive", "expected a table ([live])")
        .replace("expected i64", "expected an integer")
        .replace("expected u64", "expected a non-negative integer")
        .replace("expected f64", "expected a number")
}

fn validate(
    c: &Checker<'_>,
    raw: RawScenario,
    load: &dyn Fn(&str) -> Result<String, String>,
) -> Result<Scenario, ScenarioError> {
    if raw.name.trim().is_empty() {
        return Err(c.err("name", "must not be empty"));
    }
    let tick = raw.tick.unwrap_or(SimDuration::from_secs(15));
    if tick < SimDuration::from_secs(1) || tick > SimDuration::from_hours(1) {
        return Err(c.err("tick", format!("must be between 1s and 1h, got {tick}")));
    }
    if raw.duration < tick {
        return Err(c.err(
            "duration",
            format!("must be at least one tick ({tick}), got {}", raw.duration),
        ));
    }
    if raw.duration > SimDuration::from_hours(24 * 366) {
        return Err(c.err("duration", "must be at most a year (366d)"));
    }

    // Traffic first: role capacities default from its peak.
    let traffic = validate_traffic(c, raw.traffic, load)?;
    check_request_count(c, &traffic, raw.duration)?;

    let target_utilization = raw.fleet.target_utilization.unwrap_or(0.7);
    if !(target_utilization > 0.0 && target_utilization <= 1.0) {
        return Err(c.err(
            "fleet.target_utilization",
            format!("must be in (0, 1], got {target_utilization}"),
        ));
    }
    if raw.fleet.roles.is_empty() {
        return Err(c.err(
            "fleet.roles",
            "the fleet needs at least one [[fleet.roles]] entry",
        ));
    }
    // Saturating: a role's `hosts` is checked in the loop below, after this
    // sum (the fuzz in tests/parser_fuzz.rs overflowed it with i64::MAX).
    let total_hosts: i64 = raw
        .fleet
        .roles
        .iter()
        .map(|r| r.hosts.max(0))
        .fold(0, i64::saturating_add);
    let share_sum: f64 = raw
        .fleet
        .roles
        .iter()
        .map(|r| r.traffic_share.unwrap_or(r.hosts.max(0) as f64))
        .sum();
    let mut roles = Vec::with_capacity(raw.fleet.roles.len());
    let mut names = std::collections::BTreeSet::new();
    for (i, r) in raw.fleet.roles.into_iter().enumerate() {
        let f = |k: &str| format!("fleet.roles[{i}].{k}");
        if r.name.trim().is_empty() {
            return Err(c.err(&f("name"), "must not be empty"));
        }
        if !names.insert(r.name.clone()) {
            return Err(c.err(
                &f("name"),
                format!(
                    "role `{}` is defined twice; role names must be unique",
                    r.name
                ),
            ));
        }
        if r.hosts < 1 || r.hosts > MAX_HOSTS as i64 {
            return Err(c.err(
                &f("hosts"),
                format!("must be between 1 and {MAX_HOSTS}, got {}", r.hosts),
            ));
        }
        let zones = r.zones.unwrap_or_else(|| vec!["zone-a".to_string()]);
        if zones.is_empty() || zones.iter().any(|z| z.trim().is_empty()) {
            return Err(c.err(&f("zones"), "must list at least one non-empty zone name"));
        }
        if zones.len() > MAX_ZONES_PER_ROLE {
            return Err(c.err(
                &f("zones"),
                format!(
                    "at most {MAX_ZONES_PER_ROLE} zones per role, got {}: `waves` validation \
                     compares zone lists in time that grows with the square of the zone count \
                     (100,000 zones took 45 s to validate)",
                    zones.len()
                ),
            ));
        }
        let share = r.traffic_share.unwrap_or(r.hosts as f64);
        if !(0.0..=MAX_TRAFFIC_SHARE).contains(&share) {
            return Err(c.err(
                &f("traffic_share"),
                format!("must be a weight between 0 and {MAX_TRAFFIC_SHARE:e}, got {share}"),
            ));
        }
        let role_peak = if share_sum > 0.0 {
            traffic.peak_rps() * share / share_sum
        } else {
            0.0
        };
        let capacity_rps = match r.capacity_rps {
            Some(cap) => c.positive(&f("capacity_rps"), cap)?,
            None => (role_peak / r.hosts as f64 / target_utilization).max(1.0),
        };
        roles.push(Role {
            name: r.name,
            hosts: r.hosts as u32,
            zones,
            traffic_share: share,
            capacity_rps,
            attributes: r.attributes,
            mix: validate_mix(c, i, r.mix)?,
        });
    }
    if total_hosts > MAX_HOSTS as i64 {
        return Err(c.err(
            "fleet.roles",
            format!("at most {MAX_HOSTS} hosts in all, got {total_hosts}"),
        ));
    }
    if share_sum <= 0.0 {
        return Err(c.err(
            "fleet.roles[0].traffic_share",
            "at least one role must take traffic (traffic_share > 0)",
        ));
    }

    let ch = raw.change;
    let attribute = ch.attribute.unwrap_or_else(|| "docker".to_string());
    if ch.from == ch.to {
        return Err(c.err(
            "change.to",
            format!(
                "`from` and `to` are both \"{}\": nothing to roll out",
                ch.to
            ),
        ));
    }
    let mode = match ch.mode.as_deref() {
        None | Some("in-place") => ChangeMode::InPlace,
        Some("replace") => ChangeMode::Replace,
        Some(other) => {
            return Err(c.err(
                "change.mode",
                format!("unknown mode \"{other}\"; allowed: \"in-place\", \"replace\""),
            ))
        }
    };
    let start_at = ch.start_at.unwrap_or(SimDuration::ZERO);
    if start_at >= raw.duration {
        return Err(c.err(
            "change.start_at",
            format!(
                "starts at {start_at}, after the run ends ({})",
                raw.duration
            ),
        ));
    }
    let change = Change {
        attribute,
        from: ch.from,
        to: ch.to,
        mode,
        start_at,
        drain: ch.drain.unwrap_or(SimDuration::ZERO),
        install_time: c.dist(
            "change.install_time",
            ch.install_time,
            DurationDist::fixed(SimDuration::from_secs(20)),
        )?,
        restart_time: c.dist(
            "change.restart_time",
            ch.restart_time,
            DurationDist::Uniform {
                min: SimDuration::from_secs(20),
                max: SimDuration::from_secs(90),
            },
        )?,
        provision_time: c.dist(
            "change.provision_time",
            ch.provision_time,
            DurationDist::fixed(SimDuration::from_mins(3)),
        )?,
    };

    let policy = crate::policy::spec::validate(
        c,
        raw.policy,
        &crate::policy::spec::Context {
            mode,
            roles: &roles,
            traffic: &traffic,
            templates: &raw.analysis,
        },
    )?;
    let role_names: Vec<&str> = roles.iter().map(|r| r.name.as_str()).collect();
    let faults = raw
        .faults
        .into_iter()
        .enumerate()
        .map(|(i, f)| validate_fault(c, i, f, &role_names, &change.to))
        .collect::<Result<Vec<_>, _>>()?;
    check_fault_events(c, &faults, &roles, raw.duration)?;
    let monitoring = Monitoring {
        lag: raw
            .monitoring
            .and_then(|m| m.lag)
            .unwrap_or(SimDuration::ZERO),
    };
    if monitoring.lag > SimDuration::from_hours(1) {
        return Err(c.err(
            "monitoring.lag",
            format!("must be at most 1h, got {}", monitoring.lag),
        ));
    }
    let slo = validate_slo(c, raw.slo, tick, raw.duration)?;

    let fleet = Fleet {
        detection_delay: raw
            .fleet
            .detection_delay
            .unwrap_or(SimDuration::from_secs(30)),
        target_utilization,
        roles,
        restart: raw.fleet.restart.map(|r| heal::restart(c, r)).transpose()?,
        warm_up: raw.fleet.warm_up.map(|w| heal::warm_up(c, w)).transpose()?,
    };
    let autoscale = heal::autoscale(
        c,
        raw.autoscale,
        &heal::Context {
            roles: &fleet.roles,
            tick,
            live: raw.live.is_some(),
        },
    )?;
    let live = raw
        .live
        .map(|l| {
            live::validate(
                c,
                l,
                &live::Context {
                    fleet: &fleet,
                    change: &change,
                    tick,
                    duration: raw.duration,
                },
            )
        })
        .transpose()?;

    Ok(Scenario {
        name: raw.name,
        description: raw.description.unwrap_or_default(),
        duration: raw.duration,
        tick,
        seed: raw.seed.unwrap_or(1),
        fleet,
        traffic,
        faults,
        monitoring,
        slo,
        change,
        policy,
        autoscale,
        live,
    })
}

fn validate_slo(
    c: &Checker<'_>,
    raw: Option<RawSlo>,
    tick: SimDuration,
    duration: SimDuration,
) -> Result<Slo, ScenarioError> {
    let (rate, window) = raw.map_or((None, None), |s| (s.success_rate, s.window));
    let success_rate = rate.unwrap_or(DEFAULT_SLO);
    if !(success_rate > 0.0 && success_rate < 1.0) {
        return Err(c.err(
            "slo.success_rate",
            format!(
                "must be a fraction in (0, 1), e.g. 0.999 for 99.9 %, got {success_rate} \
                 (1 leaves no error budget to measure burn against)"
            ),
        ));
    }
    let window = window.unwrap_or(duration);
    if window < tick || window.as_millis() % tick.as_millis() != 0 {
        return Err(c.err(
            "slo.window",
            format!("must be a whole number of ticks ({tick}), got {window}"),
        ));
    }
    Ok(Slo {
        success_rate,
        window: window.min(duration),
    })
}

/// The largest `traffic_share` (a relative weight): the shares' sum and
/// the peak rate times a share stay finite (the fuzz found 1e308 giving an
/// infinite default `capacity_rps` that `--print-resolved` could not read back).
pub const MAX_TRAFFIC_SHARE: f64 = 1e12;

/// The most zones one role may list.
pub const MAX_ZONES_PER_ROLE: usize = 1_000;

/// The most hosts a fleet may have, in all (the 10-million-host benchmark
/// fleet with room to spare; host ids and per-state counts are `u32`).
pub const MAX_HOSTS: u32 = 20_000_000;

/// The most requests a run may offer: 2^53, the largest count an `f64`
/// (rates, shares, Poisson draws) still holds exactly. Counts are `u64`, but
/// they are drawn from and compared with `f64` rates.
pub const MAX_REQUESTS_PER_RUN: f64 = 9_007_199_254_740_992.0;

/// Rejects traffic whose request count over the run cannot be represented
/// exactly (issue 15: at rps = 1e17 counts wrapped, and at ~1e306 rps the
/// plots never finished).
fn check_request_count(
    c: &Checker<'_>,
    traffic: &Traffic,
    duration: SimDuration,
) -> Result<(), ScenarioError> {
    let bound = traffic.rps_upper_bound() * duration.as_secs_f64();
    if bound < MAX_REQUESTS_PER_RUN {
        return Ok(());
    }
    let shown = if bound.is_finite() {
        format!("{bound:.3e}")
    } else {
        format!("more than {:.1e}", f64::MAX)
    };
    let field = match &traffic.curve {
        Curve::Constant { .. } => "traffic.rps",
        Curve::Diurnal { .. } => "traffic.peak_rps",
        Curve::Replay { scale, .. } if *scale != 1.0 => "traffic.scale",
        Curve::Replay { .. } => "traffic.file",
    };
    Err(c.err(
        field,
        format!(
            "peak rate (with weekend factor and spikes) × duration ({duration}) is {shown} requests; \
             at most 2^53 = {MAX_REQUESTS_PER_RUN:.0} per run, the largest count held exactly \
             (counts are drawn from f64 rates): lower the rate or the duration"
        ),
    ))
}

/// The most kernel panics a run may expect (hosts × duration / mtbf, at
/// the highest IO factor): each is an event to schedule and audit rows to
/// keep, and at fleet scale a short `mtbf` grew memory past 5 GB (issue 15).
pub const MAX_EXPECTED_FAULT_EVENTS: f64 = 10_000_000.0;

fn check_fault_events(
    c: &Checker<'_>,
    faults: &[FaultRule],
    roles: &[Role],
    duration: SimDuration,
) -> Result<(), ScenarioError> {
    for (i, f) in faults.iter().enumerate() {
        let (on, mtbf, factor) = match f {
            FaultRule::KernelPanic {
                on,
                mtbf,
                io_factor,
                ..
            } => (on, mtbf, io_factor.values().copied().fold(1.0, f64::max)),
            FaultRule::ContainerCrash { on, mtbf, .. } => (on, mtbf, 1.0),
            _ => continue,
        };
        let hosts: f64 = roles
            .iter()
            .filter(|r| on.roles.is_empty() || on.roles.contains(&r.name))
            .map(|r| r.hosts as f64)
            .sum();
        let expected = hosts * duration.as_secs_f64() / mtbf.as_secs_f64() * factor;
        if expected > MAX_EXPECTED_FAULT_EVENTS {
            return Err(c.err(
                &format!("faults[{i}].mtbf"),
                format!(
                    "{hosts} hosts × {duration} / {mtbf} (at io factor {factor}) expects {expected:.3e} panics; \
                     at most {MAX_EXPECTED_FAULT_EVENTS:.0} per run, so that memory stays bounded \
                     (every panic is scheduled and audited): raise `mtbf`, match fewer hosts or shorten `duration`"
                ),
            ));
        }
    }
    Ok(())
}

const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn validate_traffic(
    c: &Checker<'_>,
    t: RawTraffic,
    load: &dyn Fn(&str) -> Result<String, String>,
) -> Result<Traffic, ScenarioError> {
    // Fields that belong to another curve are errors, not silently ignored.
    let given: [(&str, bool); 10] = [
        ("rps", t.rps.is_some()),
        ("peak_rps", t.peak_rps.is_some()),
        ("trough_ratio", t.trough_ratio.is_some()),
        ("peak_hour", t.peak_hour.is_some()),
        ("utc_offset_h", t.utc_offset_h.is_some()),
        ("regions", t.regions.is_some()),
        ("file", t.file.is_some()),
        ("scale", t.scale.is_some()),
        ("repeat", t.repeat.is_some()),
        ("curve", true),
    ];
    let allowed: &[&str] = match t.curve.as_str() {
        "constant" => &["rps"],
        "diurnal" => &[
            "peak_rps",
            "trough_ratio",
            "peak_hour",
            "utc_offset_h",
            "regions",
        ],
        "replay" => &["file", "scale", "repeat"],
        other => {
            return Err(c.err(
                "traffic.curve",
                format!("unknown curve \"{other}\"; curves are: constant, diurnal, replay"),
            ))
        }
    };
    for (name, present) in given {
        if present && name != "curve" && !allowed.contains(&name) {
            return Err(c.err(
                &format!("traffic.{name}"),
                format!(
                    "`{name}` does not apply to curve = \"{}\"; it takes: {}",
                    t.curve,
                    allowed.join(", ")
                ),
            ));
        }
    }
    let need = |name: &str, v: Option<f64>| {
        v.ok_or_else(|| {
            c.err(
                &format!("traffic.{name}"),
                format!("curve = \"{}\" needs `{name}`", t.curve),
            )
        })
    };
    let curve = match t.curve.as_str() {
        "constant" => Curve::Constant {
            rps: c.positive("traffic.rps", need("rps", t.rps)?)?,
        },
        "diurnal" => {
            if t.utc_offset_h.is_some() && t.regions.is_some() {
                return Err(c.err(
                    "traffic.regions",
                    "give either `utc_offset_h` (one region) or `regions`, not both",
                ));
            }
            let raw_regions = t.regions.unwrap_or_else(|| {
                vec![RawRegion {
                    name: None,
                    utc_offset_h: t.utc_offset_h.unwrap_or(0.0),
                    share: None,
                }]
            });
            if raw_regions.is_empty() {
                return Err(c.err("traffic.regions", "list at least one region"));
            }
            let total: f64 = raw_regions.iter().map(|r| r.share.unwrap_or(1.0)).sum();
            let mut regions = Vec::new();
            for (i, r) in raw_regions.into_iter().enumerate() {
                let field = if t.utc_offset_h.is_some() {
                    "traffic.utc_offset_h".to_string()
                } else {
                    format!("traffic.regions[{i}].utc_offset_h")
                };
                if !(-12.0..=14.0).contains(&r.utc_offset_h) {
                    return Err(c.err(
                        &field,
                        format!(
                            "must be a UTC offset in hours from -12 to 14, got {}",
                            r.utc_offset_h
                        ),
                    ));
                }
                let share = r.share.unwrap_or(1.0);
                if !(share > 0.0 && share.is_finite()) {
                    return Err(c.err(
                        &format!("traffic.regions[{i}].share"),
                        format!("must be > 0, got {share}"),
                    ));
                }
                regions.push(Region {
                    name: r.name.unwrap_or_else(|| format!("utc{:+}", r.utc_offset_h)),
                    utc_offset_h: r.utc_offset_h,
                    share: share / total,
                });
            }
            Curve::Diurnal {
                peak_rps: c.positive("traffic.peak_rps", need("peak_rps", t.peak_rps)?)?,
                trough_ratio: c.fraction("traffic.trough_ratio", t.trough_ratio.unwrap_or(0.25))?,
                peak_hour: c.hour("traffic.peak_hour", t.peak_hour.unwrap_or(20.0))?,
                regions,
            }
        }
        _ => {
            let file = t.file.ok_or_else(|| {
                c.err(
                    "traffic.file",
                    "curve = \"replay\" needs `file` (a CSV with header `time_s,rps`)",
                )
            })?;
            let text = load(&file).map_err(|e| c.err("traffic.file", e))?;
            let points = crate::traffic::parse_replay_csv(&text).map_err(|(line, col, msg)| {
                c.err("traffic.file", format!("{file}:{line}:{col}: {msg}"))
            })?;
            Curve::Replay {
                file,
                scale: c.positive("traffic.scale", t.scale.unwrap_or(1.0))?,
                repeat: t.repeat.unwrap_or(true),
                points,
            }
        }
    };
    let start_weekday = match t.start_weekday.as_deref() {
        None => 0,
        Some(d) => WEEKDAYS
            .iter()
            .position(|w| w.eq_ignore_ascii_case(d))
            .ok_or_else(|| {
                c.err(
                    "traffic.start_weekday",
                    format!("unknown day \"{d}\"; days are: {}", WEEKDAYS.join(", ")),
                )
            })? as u8,
    };
    let mut spikes = Vec::new();
    for (i, s) in t.spikes.into_iter().enumerate() {
        spikes.push(Spike {
            at: s.at,
            duration: s.duration,
            factor: c.positive(&format!("traffic.spikes[{i}].factor"), s.factor)?,
        });
    }
    let total_share: f64 = t.endpoints.iter().map(|e| e.share.max(0.0)).sum();
    let mut endpoints = Vec::new();
    for (i, e) in t.endpoints.into_iter().enumerate() {
        let f = |k: &str| format!("traffic.endpoints[{i}].{k}");
        c.positive(&f("share"), e.share)?;
        let p50 = c.positive(&f("latency_p50_ms"), e.latency_p50_ms.unwrap_or(20.0))?;
        let p99 = e.latency_p99_ms.unwrap_or(p50 * 5.0);
        if p99 < p50 {
            return Err(c.err(
                &f("latency_p99_ms"),
                format!("must be ≥ latency_p50_ms ({p50}), got {p99}"),
            ));
        }
        endpoints.push(Endpoint {
            name: e.name,
            share: e.share / total_share,
            success_rate: c.fraction(&f("success_rate"), e.success_rate.unwrap_or(1.0))?,
            latency_p50_ms: p50,
            latency_p99_ms: p99,
            weight: e.weight.unwrap_or(e.share / total_share),
        });
    }
    Ok(Traffic {
        curve,
        start_hour_utc: c.hour("traffic.start_hour_utc", t.start_hour_utc.unwrap_or(0.0))?,
        start_weekday,
        weekend_factor: c.positive("traffic.weekend_factor", t.weekend_factor.unwrap_or(1.0))?,
        spikes,
        endpoints,
    })
}

fn validate_mix(
    c: &Checker<'_>,
    role: usize,
    mix: BTreeMap<String, BTreeMap<String, f64>>,
) -> Result<BTreeMap<String, BTreeMap<String, f64>>, ScenarioError> {
    let mut out = BTreeMap::new();
    for (attr, values) in mix {
        let field = format!("fleet.roles[{role}].mix.{attr}");
        let total: f64 = values.values().sum();
        if values.is_empty()
            || values.values().any(|v| !(v.is_finite() && *v >= 0.0))
            || total <= 0.0
        {
            return Err(c.err(&field, "must map values to shares ≥ 0 with a positive sum, e.g. { \"1.12.1\" = 0.3, \"1.6.2\" = 0.7 }"));
        }
        out.insert(
            attr,
            values.into_iter().map(|(k, v)| (k, v / total)).collect(),
        );
    }
    Ok(out)
}

fn validate_fault(
    c: &Checker<'_>,
    i: usize,
    f: RawFault,
    roles: &[&str],
    change_to: &str,
) -> Result<FaultRule, ScenarioError> {
    let field = |k: &str| format!("faults[{i}].{k}");
    let prob = |k: &str, v: f64| c.fraction(&field(k), v);
    let selector = |r: Option<Vec<String>>,
                    a: Option<BTreeMap<String, String>>|
     -> Result<Selector, ScenarioError> {
        let r = r.unwrap_or_default();
        for name in &r {
            if !roles.contains(&name.as_str()) {
                return Err(c.err(
                    &field("roles"),
                    format!("no role named `{name}`; roles are: {}", roles.join(", ")),
                ));
            }
        }
        Ok(Selector {
            roles: r,
            attributes: a.unwrap_or_default(),
        })
    };
    let effect =
        |e: Option<EffectKind>, rate: Option<f64>| -> Result<(EffectKind, f64), ScenarioError> {
            let e = e.unwrap_or(if rate.is_some() {
                EffectKind::Errors
            } else {
                EffectKind::FailToStart
            });
            let rate = rate.unwrap_or(1.0);
            Ok((e, c.fraction(&field("error_rate"), rate)?))
        };
    Ok(match f {
        RawFault::OrphanedContainers {
            roles: r,
            attributes,
            probability,
            traffic_fraction,
            reap_after,
        } => FaultRule::OrphanedContainers {
            on: selector(r, attributes)?,
            probability: prob("probability", probability)?,
            traffic_fraction: prob("traffic_fraction", traffic_fraction.unwrap_or(0.5))?,
            reap_after: reap_after
                .map(|m| m.0)
                .unwrap_or(Some(SimDuration::from_hours(1))),
        },
        RawFault::LeakedPorts {
            roles: r,
            attributes,
            probability,
            fix_after,
        } => FaultRule::LeakedPorts {
            on: selector(r, attributes)?,
            probability: prob("probability", probability)?,
            fix_after: fix_after
                .map(|m| m.0)
                .unwrap_or(Some(SimDuration::from_hours(4))),
        },
        RawFault::IncompatibleRoles {
            roles: r,
            attributes,
            effect: e,
            error_rate,
        } => {
            if r.as_ref().is_none_or(|r| r.is_empty()) {
                return Err(c.err(
                    &field("roles"),
                    "list the roles that break on the new version",
                ));
            }
            let (effect, error_rate) = effect(e, error_rate)?;
            let mut on = selector(r, attributes)?;
            on.attributes
                .entry("version".into())
                .or_insert_with(|| change_to.to_string());
            FaultRule::IncompatibleRoles {
                on,
                effect,
                error_rate,
            }
        }
        RawFault::BadConfig {
            roles: r,
            attributes,
            fraction,
            delay,
            effect: e,
            error_rate,
        } => {
            let (effect, error_rate) = effect(e, error_rate)?;
            let mut on = selector(r, attributes)?;
            on.attributes
                .entry("version".into())
                .or_insert_with(|| change_to.to_string());
            FaultRule::BadConfig {
                on,
                fraction: prob("fraction", fraction)?,
                delay: c.dist(
                    &field("delay"),
                    delay,
                    crate::dist::DurationDist::fixed(SimDuration::ZERO),
                )?,
                effect,
                error_rate,
            }
        }
        RawFault::KernelPanic {
            roles: r,
            attributes,
            mtbf,
            io_factor,
            recovery,
        } => {
            if mtbf < SimDuration::from_mins(1) {
                return Err(c.err(&field("mtbf"), format!("must be at least 1m, got {mtbf}")));
            }
            let io_factor = io_factor.unwrap_or_else(|| {
                [("low", 1.0), ("medium", 2.0), ("high", 5.0)]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect()
            });
            if let Some((k, v)) = io_factor
                .iter()
                .find(|(_, v)| !(v.is_finite() && **v >= 0.0))
            {
                return Err(c.err(&field("io_factor"), format!("`{k}` must be ≥ 0, got {v}")));
            }
            FaultRule::KernelPanic {
                on: selector(r, attributes)?,
                mtbf,
                io_factor,
                recovery: recovery
                    .map(|m| m.0)
                    .unwrap_or(Some(SimDuration::from_mins(5))),
            }
        }
        RawFault::ContainerCrash {
            roles: r,
            attributes,
            mtbf,
            restart_time,
        } => {
            if mtbf < SimDuration::from_mins(1) {
                return Err(c.err(&field("mtbf"), format!("must be at least 1m, got {mtbf}")));
            }
            let restart_time = restart_time.unwrap_or(SimDuration::from_secs(10));
            if restart_time > SimDuration::from_hours(24) {
                return Err(c.err(
                    &field("restart_time"),
                    format!(
                        "must be at most 1d, got {restart_time}: a container that takes longer \
                         to start is down, not restarting (use [fleet.restart] policy = \"no\")"
                    ),
                ));
            }
            FaultRule::ContainerCrash {
                on: selector(r, attributes)?,
                mtbf,
                restart_time,
            }
        }
        RawFault::FailsUnderLoad {
            version,
            rps_per_host,
            recover_after,
        } => FaultRule::FailsUnderLoad {
            version: version.unwrap_or_else(|| change_to.to_string()),
            rps_per_host: c.positive(&field("rps_per_host"), rps_per_host)?,
            recover_after: recover_after.unwrap_or(SimDuration::from_mins(1)),
        },
        RawFault::RegistryOutage { start, duration } => {
            if duration.is_zero() {
                return Err(c.err(&field("duration"), "must be longer than 0s"));
            }
            FaultRule::RegistryOutage { start, duration }
        }
        RawFault::Regression {
            version,
            error_rate,
            latency_factor,
            endpoints,
        } => {
            let mut eps = BTreeMap::new();
            for (name, e) in endpoints.unwrap_or_default() {
                eps.insert(
                    name.clone(),
                    EndpointRegression {
                        error_rate: c.fraction(
                            &field(&format!("endpoints.{name}.error_rate")),
                            e.error_rate.unwrap_or(0.0),
                        )?,
                        latency_factor: c.positive(
                            &field(&format!("endpoints.{name}.latency_factor")),
                            e.latency_factor.unwrap_or(1.0),
                        )?,
                    },
                );
            }
            FaultRule::Regression {
                version: version.unwrap_or_else(|| change_to.to_string()),
                error_rate: prob("error_rate", error_rate.unwrap_or(0.0))?,
                latency_factor: c
                    .positive(&field("latency_factor"), latency_factor.unwrap_or(1.0))?,
                endpoints: eps,
            }
        }
    })
}
