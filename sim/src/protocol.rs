//! The protocol between a rollout strategy and its environment: what a
//! policy observes each tick and the actions it answers with.
//!
//! This is the bottom layer of the crate's vocabulary: analysis judges,
//! strategies, the harness (`rollout`), the simulated world and the live
//! fleet all speak it, and it depends on nothing but time.

use crate::time::SimTime;
use serde::{Deserialize, Serialize};

/// Which version a host (or container) is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cohort {
    /// The version in production before the change (Argo's "stable").
    Old,
    /// The version being rolled out (Argo's "canary").
    New,
}

/// Counts of one cohort within a group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CohortView {
    /// Hosts on this version, in any state except terminated.
    pub total: u32,
    /// Hosts serving traffic.
    pub ready: u32,
    /// Hosts serving for at least `min_ready` (Kubernetes "available").
    pub available: u32,
}

/// One scrape of one cohort (or of one endpoint of a cohort), as a monitoring
/// system saw it: counts over the scrape interval and latency quantiles.
/// Policies only ever see scraped data, possibly lagged.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sample {
    pub requests: u64,
    pub failed: u64,
    pub latency_p50_ms: f64,
    pub latency_p95_ms: f64,
    pub latency_p99_ms: f64,
}

impl Sample {
    /// Successful share of requests; `None` without traffic (no data is not
    /// a success).
    pub fn success_rate(&self) -> Option<f64> {
        (self.requests > 0).then(|| (self.requests - self.failed) as f64 / self.requests as f64)
    }
}

/// One group as the policy sees it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GroupView {
    /// Desired number of hosts (the Deployment's `replicas`).
    pub desired: u32,
    pub old: CohortView,
    pub new: CohortView,
    /// The last scrape of each cohort.
    pub old_metrics: Sample,
    pub new_metrics: Sample,
}

/// One zone of one group (for policies that move zone by zone).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ZoneView {
    pub group: usize,
    pub zone: usize,
    pub old: CohortView,
    pub new: CohortView,
}

/// The last scrape of one endpoint of one cohort.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EndpointSample {
    pub group: usize,
    pub endpoint: usize,
    pub cohort: Cohort,
    pub sample: Sample,
}

/// Everything a policy may look at. Built by the world each tick.
#[derive(Clone, Copy, Debug)]
pub struct Observation<'a> {
    pub now: SimTime,
    /// When the rollout started (the policy's first tick).
    pub started_at: SimTime,
    pub groups: &'a [GroupView],
    /// Per group and zone, ordered by group then zone.
    pub zones: &'a [ZoneView],
    /// Per group, endpoint and cohort (empty when the scenario defines no
    /// endpoint mix).
    pub endpoints: &'a [EndpointSample],
}

/// How a rollout ended. A policy finishes with `Completed`, `RolledBack` or
/// `Halted`; the harness sets `TimedOut` and `Interrupted`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every host is on the new version and available.
    Completed,
    /// The policy aborted and every host is back on the old version.
    RolledBack,
    /// The policy stopped and waits for a human (paused, deadline exceeded).
    Halted,
    /// The scenario's time ran out first.
    TimedOut,
    /// Stopped from outside (a signal, live mode) before the policy finished.
    Interrupted,
}

impl Outcome {
    pub const ALL: [Outcome; 5] = [
        Outcome::Completed,
        Outcome::RolledBack,
        Outcome::Halted,
        Outcome::TimedOut,
        Outcome::Interrupted,
    ];

    /// As files write it: `completed`, `rolled_back`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::RolledBack => "rolled_back",
            Outcome::Halted => "halted",
            Outcome::TimedOut => "timed_out",
            Outcome::Interrupted => "interrupted",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Outcome {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Outcome::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| {
                let all: Vec<&str> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
                format!("`{s}` is not an outcome ({})", all.join(", "))
            })
    }
}

/// An outcome equals its name as files write it (`outcome == "completed"`).
impl PartialEq<&str> for Outcome {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// What a policy asks the world to do. `step` and `reason` go to the audit
/// log next to every host the action touches.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Move `count` hosts of `group` (only of `zone`, if given) to cohort
    /// `to`, in place (a host's containers restart on the other version).
    /// Hosts are chosen by the world: lowest index first, or on the way back
    /// the most recently moved first.
    Update {
        group: usize,
        zone: Option<usize>,
        to: Cohort,
        count: u32,
        step: String,
        reason: String,
    },
    /// Bring up `count` new hosts on the new version (surge).
    Provision {
        group: usize,
        count: u32,
        step: String,
        reason: String,
    },
    /// Drain and terminate `count` hosts of the old version (of `zone`, if
    /// given).
    Decommission {
        group: usize,
        zone: Option<usize>,
        count: u32,
        step: String,
        reason: String,
    },
    /// Drain and terminate `count` hosts of the new version (of `zone`, if
    /// given), most recently added first: a canary or preview scaled down.
    DecommissionNew {
        group: usize,
        zone: Option<usize>,
        count: u32,
        step: String,
        reason: String,
    },
    /// Route `new_pct` percent of the group's traffic to the new cohort
    /// (traffic-routed canaries). Without it traffic follows capacity.
    SetWeight { group: usize, new_pct: f64 },
    /// Release the router's weight: traffic follows serving capacity again.
    ClearWeight { group: usize },
    /// A decision worth a line in the audit log (step entered, verdict…).
    Note { step: String, reason: String },
    /// The rollout is over.
    Finish { outcome: Outcome, reason: String },
}

/// Decision times a policy reports for the summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Milestones {
    /// The first failing verdict (analysis Failed/Error, failed check,
    /// violated SLO, alarm, failed health gate).
    pub detected_at: Option<SimTime>,
    /// When the rollout started to go back.
    pub aborted_at: Option<SimTime>,
}

/// How a host moves to the new version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeMode {
    /// The host itself is upgraded (a Docker or kernel upgrade): it goes down,
    /// installs, restarts its containers and serves again.
    InPlace,
    /// New hosts are provisioned on the new version and old ones are drained
    /// and terminated (immutable infrastructure, Kubernetes pods).
    Replace,
}

/// A count or a percentage of a role's hosts (`2` or `"25%"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntOrPercent {
    Count(u32),
    Percent(u32),
}

impl IntOrPercent {
    /// Kubernetes' `GetScaledValueFromIntOrPercent`: percentages of `total`
    /// rounded up or down as asked.
    pub fn resolve(self, total: u32, round_up: bool) -> u32 {
        match self {
            IntOrPercent::Count(n) => n,
            IntOrPercent::Percent(p) => {
                let x = total as u64 * p as u64;
                (if round_up { x.div_ceil(100) } else { x / 100 }) as u32
            }
        }
    }
    pub fn is_zero(self) -> bool {
        matches!(self, IntOrPercent::Count(0) | IntOrPercent::Percent(0))
    }
}

impl std::fmt::Display for IntOrPercent {
    /// As a scenario writes it: `2` or `25%`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IntOrPercent::Count(n) => write!(f, "{n}"),
            IntOrPercent::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl Serialize for IntOrPercent {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            IntOrPercent::Count(n) => s.serialize_u32(n),
            IntOrPercent::Percent(p) => s.collect_str(&format_args!("{p}%")),
        }
    }
}
