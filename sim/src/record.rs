//! The one result type of a run. Every exporter (CSV, JSON, Markdown, HTML,
//! JUnit) in the `reports` crate writes from these structs and nothing else.

use crate::protocol::Outcome;
use serde::{Deserialize, Serialize};

/// Everything one run produced.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunRecord {
    pub summary: Summary,
    /// One row per tick (empty when the run was asked for the summary only).
    pub ticks: Vec<TickRow>,
    /// The audit log: instructions to hosts, policy decisions, faults.
    pub events: Vec<AuditEvent>,
}

/// `summary.json` (and a row of an experiment's rows file, where `policy`
/// is the column `policy_kind`). Reads back what it writes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub scenario: String,
    pub seed: u64,
    #[serde(alias = "policy_kind")]
    pub policy: String,
    pub change: String,
    pub hosts: u64,
    /// `completed` | `rolled_back` | `halted` | `timed_out` | `interrupted`.
    pub outcome: Outcome,
    pub outcome_reason: String,
    pub duration_s: f64,
    pub tick_s: f64,
    pub rollout_started_at_s: f64,
    /// From the policy's first tick to its finish (or to the end of the run).
    pub rollout_duration_s: f64,
    pub requests_total: u64,
    pub requests_failed: u64,
    /// Failed requests between the rollout's start and its finish.
    pub failed_requests_during_rollout: u64,
    pub success_rate: f64,
    /// Highest share of the fleet not serving at any tick.
    pub peak_hosts_unavailable_pct: f64,
    /// Hosts on the new version at the end, in percent of all live hosts.
    pub hosts_on_new_pct: f64,
    /// Hosts that ran the new version at any time, in percent of the fleet
    /// at the start (a rolled-back canary still counts).
    pub hosts_ever_on_new_pct: f64,
    /// Whether the scenario makes the new version bad (a regression, a
    /// crash under load, an incompatibility or a bad config on it): with
    /// `hosts_on_new_pct`, what "a bad version reached 100 %" is made of.
    #[serde(default)]
    pub new_version_bad: bool,
    /// Seconds from the run's start to the policy's first failing verdict
    /// (failed analysis or check, violated SLO, alarm, failed health gate);
    /// null if none.
    pub detected_at_s: Option<f64>,
    /// Seconds from the run's start to the abort; null if none.
    pub aborted_at_s: Option<f64>,
    /// From the abort to the rollout's `rolled_back` finish; null unless it
    /// rolled back.
    pub time_to_rollback_s: Option<f64>,
    pub events_processed: u64,
    pub shakedown_version: String,
}

/// One row of `timeseries.csv`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct TickRow {
    pub time_s: f64,
    pub hosts_old: u32,
    pub hosts_new: u32,
    pub serving: u32,
    pub draining: u32,
    pub upgrading: u32,
    pub restarting: u32,
    pub provisioning: u32,
    pub crashed: u32,
    pub broken: u32,
    pub offered_rps: f64,
    pub requests: u64,
    pub served: u64,
    pub failed: u64,
    pub success_rate: f64,
}

impl TickRow {
    /// A row with the tick's traffic; host counts are filled in by the
    /// environment.
    pub fn traffic(t: crate::time::SimTime, offered_rps: f64, requests: u64, failed: u64) -> Self {
        let served = requests.saturating_sub(failed);
        TickRow {
            time_s: t.as_secs_f64(),
            offered_rps: (offered_rps * 1000.0).round() / 1000.0,
            requests,
            served,
            failed,
            success_rate: if requests == 0 {
                1.0
            } else {
                served as f64 / requests as f64
            },
            ..TickRow::default()
        }
    }
}

/// What an audit row records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    /// A host told to move to the other version.
    Instruct,
    /// A host drained and terminated.
    Decommission,
    /// A policy decision: a step entered, a weight set, a verdict.
    Decision,
    /// The policy finished (the step column holds the outcome).
    Finish,
    /// A fault fired or healed.
    Fault,
    /// Live mode: a replica failed its health checks and left the router.
    Detected,
}

impl AuditKind {
    /// As `events.csv` writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::Instruct => "instruct",
            AuditKind::Decommission => "decommission",
            AuditKind::Decision => "decision",
            AuditKind::Finish => "finish",
            AuditKind::Fault => "fault",
            AuditKind::Detected => "detected",
        }
    }
}

impl std::fmt::Display for AuditKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A kind equals its name as `events.csv` writes it.
impl PartialEq<&str> for AuditKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// One row of `events.csv`: who was told what, when, and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AuditEvent {
    pub time_s: f64,
    pub kind: AuditKind,
    /// Host id, empty for fleet-wide decisions.
    pub host: Option<u32>,
    pub role: String,
    pub zone: String,
    pub from: String,
    pub to: String,
    pub step: String,
    pub reason: String,
}
