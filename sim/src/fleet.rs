//! The fleet's shape: roles of hosts, their zones, capacity and the
//! attributes faults key on. Plain data, below every layer that reads it
//! (policy validation, the world, live mode).

use crate::time::SimDuration;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Fleet {
    /// How long a host that went down without draining keeps receiving
    /// traffic before health checks take it out of the load balancer.
    pub detection_delay: SimDuration,
    /// Peak utilisation used to size `capacity_rps` when a role omits it.
    pub target_utilization: f64,
    pub roles: Vec<Role>,
    /// What happens to a crashed container (`[fleet.restart]`); without
    /// one, a crash comes back after the fault's own recovery time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart: Option<crate::restart::RestartPolicy>,
    /// A host that starts serving (after a move, a restart, a
    /// replacement, a scale-up) warms up first: cold caches, JIT
    /// (`[fleet.warm_up]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warm_up: Option<WarmUp>,
}

/// `[fleet.warm_up]`: for `duration` after it starts serving, a host
/// serves `capacity` × its `capacity_rps`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WarmUp {
    pub duration: SimDuration,
    /// Share of `capacity_rps` a warming host serves, in (0, 1].
    pub capacity: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Role {
    pub name: String,
    pub hosts: u32,
    pub zones: Vec<String>,
    /// Relative share of user traffic this role serves.
    pub traffic_share: f64,
    /// Requests per second one serving host can take; beyond it requests fail.
    pub capacity_rps: f64,
    /// Host attributes faults key on: docker, kernel, storage_driver, io, …
    pub attributes: BTreeMap<String, String>,
    /// Attributes whose values are mixed over the role's hosts, with shares.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub mix: BTreeMap<String, BTreeMap<String, f64>>,
}
