//! The fault catalogue: parameterised rules keyed on host attributes.
//!
//! Each rule comes from a real incident (`docs/FAULTS.md` lists them with
//! their sources and defaults). Rules react to what happens to a host — it
//! finished moving to a version, it has been serving for a while — and yield
//! effects: a share of its requests fail, it cannot start its containers, it
//! panics and is replaced, upgrades cannot start. Rules are consulted in the
//! order the scenario lists them and compose: an orphaned container and a
//! kernel panic can hit the same host.
//!
//! Randomness comes only from the `faults` stream, keyed by (rule, host,
//! n-th draw for that host), so whether host 812 leaks its proxy ports on its
//! first upgrade is the same under every policy and unaffected by traffic.

use crate::dist::DurationDist;
use crate::protocol::Cohort;
use crate::rng::{Rng, Streams};
use crate::time::{SimDuration, SimTime};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Which hosts a rule applies to: roles (empty = all) and attribute values
/// that must all match. The changed attribute takes the host's version.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Selector {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    #[serde(rename = "match", skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

/// What a failing host does.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Effect {
    /// Its containers cannot start: out of the load balancer.
    FailToStart,
    /// It serves, but this share of its requests fail.
    Errors(f64),
}

/// How a scenario names an [`Effect`]: `effect = "fail-to-start"` or
/// `effect = "errors"` with `error_rate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EffectKind {
    FailToStart,
    Errors,
}

impl EffectKind {
    pub fn with_rate(self, error_rate: f64) -> Effect {
        match self {
            EffectKind::FailToStart => Effect::FailToStart,
            EffectKind::Errors => Effect::Errors(error_rate),
        }
    }
}

/// A per-endpoint regression of the new version.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EndpointRegression {
    pub error_rate: f64,
    pub latency_factor: f64,
}

/// One validated rule.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum FaultRule {
    /// Docker 1.3.1 → 1.6.2: the daemon did not stop its containers; an old
    /// one survives unmanaged on its port and the orchestrator routes part of
    /// the host's traffic to it, where it fails, until a monitor reaps it.
    OrphanedContainers {
        #[serde(flatten)]
        on: Selector,
        probability: f64,
        traffic_fraction: f64,
        /// `None`: never reaped.
        #[serde(with = "never")]
        reap_after: Option<SimDuration>,
    },
    /// Docker 1.12.1: leaked `docker-proxy` processes keep ports bound, new
    /// containers cannot start, the host is lost to its role until fixed.
    LeakedPorts {
        #[serde(flatten)]
        on: Selector,
        probability: f64,
        #[serde(with = "never")]
        fix_after: Option<SimDuration>,
    },
    /// Docker 1.0 → 1.3.1: hostname / CMD / ENTRYPOINT handling changed;
    /// roles that depend on it break on the new version, found only when they
    /// receive it.
    IncompatibleRoles {
        #[serde(flatten)]
        on: Selector,
        effect: EffectKind,
        error_rate: f64,
    },
    /// October 14, 2016: a bad change makes a fraction of receiving hosts
    /// fail, immediately or after a delay.
    BadConfig {
        #[serde(flatten)]
        on: Selector,
        fraction: f64,
        delay: DurationDist,
        effect: EffectKind,
        error_rate: f64,
    },
    /// Kernel 3.16 + AUFS: panics at a hazard rate per host that rises with IO
    /// load; the host and its containers go down; an auto-scaling group
    /// replaces it after `recovery` (about 5 minutes), or never.
    KernelPanic {
        #[serde(flatten)]
        on: Selector,
        /// Mean time between panics of one host at IO factor 1.
        mtbf: SimDuration,
        /// Multiplier by the host's `io` attribute.
        io_factor: BTreeMap<String, f64>,
        #[serde(with = "never")]
        recovery: Option<SimDuration>,
    },
    /// Self-healing Swarm (seed): a container crashes at a rate per host
    /// and its orchestrator restarts it: after `restart_time`, or as
    /// `[fleet.restart]` says (back-off, crash loop, give up).
    ContainerCrash {
        #[serde(flatten)]
        on: Selector,
        /// Mean time between crashes of one host's container.
        mtbf: SimDuration,
        /// How long a restarted container takes to serve again.
        restart_time: SimDuration,
    },
    /// Blue/green (seed 002): healthy under health checks, crashes once a host
    /// carries more than `rps_per_host`.
    FailsUnderLoad {
        version: String,
        rps_per_host: f64,
        recover_after: SimDuration,
    },
    /// The 7-hour apt repository outage: no upgrade can start in the window.
    RegistryOutage {
        start: SimDuration,
        duration: SimDuration,
    },
    /// Error-rate and latency regressions of a version, overall and per
    /// endpoint — what canary analysis exists to catch.
    Regression {
        version: String,
        error_rate: f64,
        latency_factor: f64,
        endpoints: BTreeMap<String, EndpointRegression>,
    },
}

impl FaultRule {
    pub fn name(&self) -> &'static str {
        match self {
            FaultRule::OrphanedContainers { .. } => "orphaned-containers",
            FaultRule::LeakedPorts { .. } => "leaked-ports",
            FaultRule::IncompatibleRoles { .. } => "incompatible-roles",
            FaultRule::BadConfig { .. } => "bad-config",
            FaultRule::KernelPanic { .. } => "kernel-panic",
            FaultRule::ContainerCrash { .. } => "container-crash",
            FaultRule::FailsUnderLoad { .. } => "fails-under-load",
            FaultRule::RegistryOutage { .. } => "registry-outage",
            FaultRule::Regression { .. } => "regression",
        }
    }

    pub fn selector(&self) -> Option<&Selector> {
        match self {
            FaultRule::OrphanedContainers { on, .. }
            | FaultRule::LeakedPorts { on, .. }
            | FaultRule::IncompatibleRoles { on, .. }
            | FaultRule::BadConfig { on, .. }
            | FaultRule::KernelPanic { on, .. }
            | FaultRule::ContainerCrash { on, .. } => Some(on),
            _ => None,
        }
    }
}

/// Whether `rules` make version `to` bad: a regression that costs errors or
/// latency, a crash under load, a role incompatibility or a bad config that
/// reaches it. Host faults that are not the version's doing (leaked ports,
/// orphans, kernel panics, outages) do not count.
pub fn new_version_bad(rules: &[FaultRule], to: &str) -> bool {
    rules.iter().any(|r| match r {
        FaultRule::Regression {
            version,
            error_rate,
            latency_factor,
            endpoints,
        } => {
            version == to
                && (*error_rate > 0.0
                    || *latency_factor > 1.0
                    || endpoints
                        .values()
                        .any(|e| e.error_rate > 0.0 || e.latency_factor > 1.0))
        }
        FaultRule::FailsUnderLoad { version, .. } => version == to,
        FaultRule::IncompatibleRoles { .. } => true,
        FaultRule::BadConfig { fraction, .. } => *fraction > 0.0,
        _ => false,
    })
}

/// `"never"` or a duration.
mod never {
    use crate::time::SimDuration;
    use serde::Serializer;

    pub fn serialize<S: Serializer>(v: &Option<SimDuration>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(d) => s.collect_str(d),
            None => s.serialize_str("never"),
        }
    }
}

/// A duration or `"never"`, as written.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MaybeNever(pub Option<SimDuration>);

impl<'de> Deserialize<'de> for MaybeNever {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.trim() == "never" {
            return Ok(MaybeNever(None));
        }
        SimDuration::parse(&s)
            .map(|d| MaybeNever(Some(d)))
            .map_err(|e| serde::de::Error::custom(format!("{e}, or \"never\"")))
    }
}

/// What a rule decided for a host that just finished moving to a version.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Arrival {
    /// Serve with this extra error share; `until` ends it (reaped, fixed).
    Errors {
        rate: f64,
        until: Option<SimDuration>,
    },
    /// Cannot start containers; `until` fixes it.
    Broken { until: Option<SimDuration> },
    /// Serve normally now, then fail after the delay with this effect.
    Later { after: SimDuration, effect: Effect },
}

/// The fault model of one run: the rules plus precomputed matches.
#[derive(Clone, Debug)]
pub struct Faults {
    pub rules: Vec<FaultRule>,
    streams: Streams,
}

/// A host as the rules see it.
pub struct HostFacts<'a> {
    pub host: u32,
    pub role: &'a str,
    /// The host's attributes with the changed attribute set to its version.
    pub attributes: &'a BTreeMap<String, String>,
    /// Its version string.
    pub version: &'a str,
    pub cohort: Cohort,
    /// How many times it has been told to move (keys the draws).
    pub moves: u16,
}

impl Selector {
    pub fn matches(&self, h: &HostFacts<'_>) -> bool {
        (self.roles.is_empty() || self.roles.iter().any(|r| r == h.role))
            && self
                .attributes
                .iter()
                .all(|(k, v)| h.attributes.get(k).is_some_and(|x| x == v))
    }
}

impl Faults {
    pub fn new(rules: Vec<FaultRule>, seed: u64) -> Self {
        Faults {
            rules,
            streams: Streams::new(seed),
        }
    }

    /// The generator for one (rule, host, n-th draw).
    pub fn rng(&self, rule: usize, host: u32, n: u32) -> Rng {
        self.streams.keyed(
            "faults",
            ((rule as u64) << 48) | ((host as u64) << 16) | (n as u64 & 0xffff),
        )
    }

    /// Rules consulted in order when a host finishes moving to a version and
    /// would start serving; every rule that fires is returned with its index.
    pub fn on_arrival(&self, h: &HostFacts<'_>) -> Vec<(usize, Arrival)> {
        let mut out = Vec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            let fired = match rule {
                FaultRule::OrphanedContainers {
                    on,
                    probability,
                    traffic_fraction,
                    reap_after,
                } if on.matches(h) => self
                    .rng(i, h.host, h.moves as u32)
                    .bernoulli(*probability)
                    .then_some(Arrival::Errors {
                        rate: *traffic_fraction,
                        until: *reap_after,
                    }),
                FaultRule::LeakedPorts {
                    on,
                    probability,
                    fix_after,
                } if on.matches(h) => self
                    .rng(i, h.host, h.moves as u32)
                    .bernoulli(*probability)
                    .then_some(Arrival::Broken { until: *fix_after }),
                FaultRule::IncompatibleRoles {
                    on,
                    effect,
                    error_rate,
                } if on.matches(h) => Some(match effect.with_rate(*error_rate) {
                    Effect::FailToStart => Arrival::Broken { until: None },
                    Effect::Errors(rate) => Arrival::Errors { rate, until: None },
                }),
                FaultRule::BadConfig {
                    on,
                    fraction,
                    delay,
                    effect,
                    error_rate,
                } if on.matches(h) => {
                    let effect = effect.with_rate(*error_rate);
                    let mut rng = self.rng(i, h.host, h.moves as u32);
                    if rng.bernoulli(*fraction) {
                        let after = delay.sample(&mut rng);
                        Some(if after.is_zero() {
                            match effect {
                                Effect::FailToStart => Arrival::Broken { until: None },
                                Effect::Errors(rate) => Arrival::Errors { rate, until: None },
                            }
                        } else {
                            Arrival::Later { after, effect }
                        })
                    } else {
                        None
                    }
                }
                _ => None,
            };
            if let Some(a) = fired {
                out.push((i, a));
            }
        }
        out
    }

    /// Panic and container-crash hazards that apply to a serving host:
    /// (rule, mean time to the crash, recovery).
    pub fn panic_hazards(
        &self,
        h: &HostFacts<'_>,
    ) -> Vec<(usize, SimDuration, Option<SimDuration>)> {
        let mut out = Vec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            if let FaultRule::KernelPanic {
                on,
                mtbf,
                io_factor,
                recovery,
            } = rule
            {
                if on.matches(h) {
                    let io = h.attributes.get("io").map(String::as_str).unwrap_or("low");
                    let factor = io_factor.get(io).copied().unwrap_or(1.0);
                    if factor > 0.0 {
                        let mean = SimDuration::from_millis_f64(mtbf.as_millis() as f64 / factor);
                        out.push((i, mean, *recovery));
                    }
                }
            } else if let FaultRule::ContainerCrash {
                on,
                mtbf,
                restart_time,
            } = rule
            {
                if on.matches(h) {
                    out.push((i, *mtbf, Some(*restart_time)));
                }
            }
        }
        out
    }

    /// Whether upgrades are blocked at `now` (a registry outage), and by which rule.
    pub fn upgrades_blocked(&self, now: SimTime) -> Option<(usize, SimTime)> {
        self.rules.iter().enumerate().find_map(|(i, r)| match r {
            FaultRule::RegistryOutage { start, duration } => {
                let s = SimTime::ZERO + *start;
                let e = s + *duration;
                (now >= s && now < e).then_some((i, e))
            }
            _ => None,
        })
    }

    /// The load threshold per host for a version, if a rule sets one.
    pub fn load_limit(&self, version: &str) -> Option<(usize, f64, SimDuration)> {
        self.rules.iter().enumerate().find_map(|(i, r)| match r {
            FaultRule::FailsUnderLoad {
                version: v,
                rps_per_host,
                recover_after,
            } if v == version => Some((i, *rps_per_host, *recover_after)),
            _ => None,
        })
    }

    /// The regression of a version: (extra error rate, latency factor,
    /// per-endpoint overrides).
    pub fn regression(
        &self,
        version: &str,
    ) -> Option<(f64, f64, &BTreeMap<String, EndpointRegression>)> {
        self.rules.iter().find_map(|r| match r {
            FaultRule::Regression {
                version: v,
                error_rate,
                latency_factor,
                endpoints,
            } if v == version => Some((*error_rate, *latency_factor, endpoints)),
            _ => None,
        })
    }
}
