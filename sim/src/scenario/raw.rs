//! The scenario file as written: serde structs that mirror the TOML exactly,
//! reject unknown keys, and keep every default unresolved (`Option`).
//! [`super::Scenario::parse`] turns this into a validated [`super::Scenario`].

use crate::faults::{EffectKind, MaybeNever};
use crate::time::SimDuration;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    pub name: String,
    pub description: Option<String>,
    pub duration: SimDuration,
    pub tick: Option<SimDuration>,
    pub seed: Option<u64>,
    pub fleet: RawFleet,
    pub traffic: RawTraffic,
    #[serde(default)]
    pub faults: Vec<RawFault>,
    pub monitoring: Option<RawMonitoring>,
    /// The users' objective (`[slo]`).
    pub slo: Option<RawSlo>,
    pub change: RawChange,
    pub policy: crate::policy::spec::RawPolicy,
    /// `[[autoscale]]`: HorizontalPodAutoscalers, one per role at most.
    #[serde(default)]
    pub autoscale: Vec<RawAutoscale>,
    /// Live-mode settings (`[live]`).
    pub live: Option<super::live::RawLive>,
    /// Named analysis templates (`[analysis.NAME]`), resolved into the
    /// policies that use them.
    #[serde(default)]
    pub analysis: BTreeMap<String, crate::analysis::spec::RawTemplate>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFleet {
    pub detection_delay: Option<SimDuration>,
    pub target_utilization: Option<f64>,
    pub roles: Vec<RawRole>,
    /// `[fleet.restart]`: what happens to a crashed container.
    pub restart: Option<RawRestart>,
    /// `[fleet.warm_up]`: reduced capacity after a host starts serving.
    pub warm_up: Option<RawWarmUp>,
}

/// `[fleet.warm_up]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWarmUp {
    pub duration: SimDuration,
    pub capacity: f64,
}

/// `[fleet.restart]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRestart {
    pub policy: Option<String>,
    pub backoff: Option<SimDuration>,
    pub max_backoff: Option<SimDuration>,
    pub reset_after: Option<SimDuration>,
    pub max_restarts: Option<i64>,
    pub delay_first_restart: Option<bool>,
}

/// `[[autoscale]]`: one role's HorizontalPodAutoscaler.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAutoscale {
    pub role: String,
    pub target_utilization: Option<f64>,
    pub target_rps_per_host: Option<f64>,
    pub min_replicas: Option<i64>,
    pub max_replicas: i64,
    pub sync_period: Option<SimDuration>,
    pub tolerance: Option<f64>,
    pub scale_up: Option<RawRules>,
    pub scale_down: Option<RawRules>,
}

/// `[autoscale.scale_up]` / `[autoscale.scale_down]` (`HPAScalingRules`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRules {
    pub stabilization_window: Option<SimDuration>,
    pub select: Option<String>,
    pub policies: Option<Vec<RawRatePolicy>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRatePolicy {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: i64,
    pub period: SimDuration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRole {
    pub name: String,
    pub hosts: i64,
    pub zones: Option<Vec<String>>,
    pub traffic_share: Option<f64>,
    pub capacity_rps: Option<f64>,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// Attribute values mixed over the role's hosts: `{ docker = { "1.12.1" = 0.3, "1.6.2" = 0.7 } }`.
    #[serde(default)]
    pub mix: BTreeMap<String, BTreeMap<String, f64>>,
}

/// `[traffic]`: one table for every curve; validation rejects the fields
/// that do not belong to the chosen `curve` with a located message.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTraffic {
    pub curve: String,
    // constant
    pub rps: Option<f64>,
    // diurnal
    pub peak_rps: Option<f64>,
    pub trough_ratio: Option<f64>,
    pub peak_hour: Option<f64>,
    /// Shorthand for one region.
    pub utc_offset_h: Option<f64>,
    pub regions: Option<Vec<RawRegion>>,
    // replay
    pub file: Option<String>,
    pub scale: Option<f64>,
    pub repeat: Option<bool>,
    // every curve
    pub start_hour_utc: Option<f64>,
    pub start_weekday: Option<String>,
    pub weekend_factor: Option<f64>,
    #[serde(default)]
    pub spikes: Vec<RawSpike>,
    #[serde(default)]
    pub endpoints: Vec<RawEndpoint>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRegion {
    pub name: Option<String>,
    pub utc_offset_h: f64,
    pub share: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSpike {
    pub at: SimDuration,
    pub duration: SimDuration,
    pub factor: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEndpoint {
    pub name: String,
    pub share: f64,
    pub success_rate: Option<f64>,
    pub latency_p50_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    pub weight: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMonitoring {
    pub lag: Option<SimDuration>,
}

/// `[slo]`: the success-rate objective the users hold the service to.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSlo {
    pub success_rate: Option<f64>,
    pub window: Option<SimDuration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "kebab-case")]
pub enum RawFault {
    OrphanedContainers {
        roles: Option<Vec<String>>,
        #[serde(rename = "match")]
        attributes: Option<BTreeMap<String, String>>,
        probability: f64,
        traffic_fraction: Option<f64>,
        reap_after: Option<MaybeNever>,
    },
    LeakedPorts {
        roles: Option<Vec<String>>,
        #[serde(rename = "match")]
        attributes: Option<BTreeMap<String, String>>,
        probability: f64,
        fix_after: Option<MaybeNever>,
    },
    IncompatibleRoles {
        roles: Option<Vec<String>>,
        #[serde(rename = "match")]
        attributes: Option<BTreeMap<String, String>>,
        effect: Option<EffectKind>,
        error_rate: Option<f64>,
    },
    BadConfig {
        roles: Option<Vec<String>>,
        #[serde(rename = "match")]
        attributes: Option<BTreeMap<String, String>>,
        fraction: f64,
        delay: Option<RawDist>,
        effect: Option<EffectKind>,
        error_rate: Option<f64>,
    },
    KernelPanic {
        roles: Option<Vec<String>>,
        #[serde(rename = "match")]
        attributes: Option<BTreeMap<String, String>>,
        mtbf: SimDuration,
        io_factor: Option<BTreeMap<String, f64>>,
        recovery: Option<MaybeNever>,
    },
    ContainerCrash {
        roles: Option<Vec<String>>,
        #[serde(rename = "match")]
        attributes: Option<BTreeMap<String, String>>,
        mtbf: SimDuration,
        restart_time: Option<SimDuration>,
    },
    FailsUnderLoad {
        version: Option<String>,
        rps_per_host: f64,
        recover_after: Option<SimDuration>,
    },
    RegistryOutage {
        start: SimDuration,
        duration: SimDuration,
    },
    Regression {
        version: Option<String>,
        error_rate: Option<f64>,
        latency_factor: Option<f64>,
        endpoints: Option<BTreeMap<String, RawEndpointRegression>>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEndpointRegression {
    pub error_rate: Option<f64>,
    pub latency_factor: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChange {
    pub attribute: Option<String>,
    pub from: String,
    pub to: String,
    pub mode: Option<String>,
    pub start_at: Option<SimDuration>,
    pub drain: Option<SimDuration>,
    pub install_time: Option<RawDist>,
    pub restart_time: Option<RawDist>,
    pub provision_time: Option<RawDist>,
}

/// A duration distribution: a plain duration string (fixed) or a table.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawDist {
    Fixed(SimDuration),
    Table(RawDistTable),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, tag = "dist", rename_all = "kebab-case")]
pub enum RawDistTable {
    Fixed {
        value: SimDuration,
    },
    Uniform {
        min: SimDuration,
        max: SimDuration,
    },
    Lognormal {
        median: SimDuration,
        p95: SimDuration,
    },
}
