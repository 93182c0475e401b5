//! The one result type of a run. Every exporter (CSV, JSON, Markdown, HTML,
//! JUnit) in the `reports` crate writes from these structs and nothing else.

use crate::protocol::{Cohort, Outcome};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    /// The scenario's objective (`[slo] success_rate`).
    #[serde(default)]
    pub slo_objective: f64,
    /// The window it holds over (`[slo] window`; the run's duration by
    /// default).
    #[serde(default)]
    pub slo_window_s: f64,
    /// The success rate of the worst window (of the whole run, by default).
    #[serde(default)]
    pub slo_worst_success_rate: f64,
    /// Whether every window met the objective: the users' verdict on the
    /// change, whatever the policy's outcome.
    #[serde(default)]
    pub slo_met: bool,
    /// Failed requests over the run's error budget (`1 − objective` of its
    /// requests): 1 is the whole budget, above 1 over it.
    #[serde(default)]
    pub error_budget_burned: f64,
    /// Failed requests minus those of the same seed's world without the
    /// change (common random numbers: the same traffic and faults); null
    /// unless the counterfactual was run. Can be negative: a harmless
    /// change differs from its baseline by sampling noise of either sign.
    #[serde(default)]
    pub failed_requests_due_to_change: Option<i64>,
    /// The same, over the ticks between the rollout's start and its finish.
    #[serde(default)]
    pub failed_requests_due_to_change_during_rollout: Option<i64>,
    /// The same, after the rollout finished (a bad version left in place).
    #[serde(default)]
    pub failed_requests_due_to_change_after_rollout: Option<i64>,
    /// Host-hours not serving, minus the baseline's: the capacity the change
    /// cost (draining, upgrading, restarting, broken, crashed hosts).
    #[serde(default)]
    pub host_hours_unavailable_due_to_change: Option<f64>,
    /// How many distinct hosts each fault rule hit, in `[[faults]]` order
    /// (empty without faults; not a column of an experiment's rows file).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fault_hits: Vec<FaultHits>,
    /// What the restart policy did (`[fleet.restart]`); absent without one
    /// (not a column of an experiment's rows file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarts: Option<RestartStats>,
    /// What the autoscalers did (`[[autoscale]]`); absent without one (not
    /// a column of an experiment's rows file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscale: Option<AutoscaleStats>,
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
    /// From the abort to the first tick with no host on the new version and
    /// every desired host serving warm (past `[fleet.warm_up]`): rollback
    /// as a deployment of its own. Null without an abort, or when the run
    /// ended before the fleet was safe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_to_safe_s: Option<f64>,
    /// The lowest share of the desired hosts serving warm from the abort
    /// until safe (or the run's end): the rollback's capacity dip. Null
    /// without an abort.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_min_capacity_pct: Option<f64>,
    /// Host-hours of warm capacity missing over the same ticks (desired
    /// minus warm serving hosts, per tick). Null without an abort.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_capacity_deficit_host_hours: Option<f64>,
    pub events_processed: u64,
    /// Audit rows past the in-memory limit (1,000,000), counted but not in
    /// `events.csv`; absent when none were dropped.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub audit_rows_dropped: u64,
    pub shakedown_version: String,
}

/// How many hosts one `[[faults]]` rule hit in a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultHits {
    /// `faults[i]`, as errors and warnings name it.
    pub fault: String,
    pub kind: String,
    /// Distinct hosts the rule fired on (broke, made fail, crashed); 0 for
    /// a registry outage, which hits no host.
    pub hosts: u64,
}

/// What a restart policy did over a run (`summary.restarts`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RestartStats {
    /// The policy, as `[fleet.restart] policy` names it.
    pub policy: String,
    /// Containers restarted (at once or after a back-off).
    pub restarts: u64,
    /// Distinct hosts that waited in a back-off at least once: in a crash
    /// loop (the kubelet's `CrashLoopBackOff`).
    pub hosts_in_crash_loop: u64,
    /// Host-seconds spent waiting in back-off within the run.
    pub backoff_host_s: f64,
    /// Distinct hosts the policy left down (`no`, or `max_restarts` used up).
    pub hosts_given_up: u64,
}

impl RestartStats {
    /// The summary's figures of what `policy` did over a run.
    pub fn of<K: Ord + Copy>(
        policy: &crate::restart::RestartPolicy,
        t: &crate::restart::Restarts<K>,
    ) -> Self {
        RestartStats {
            policy: policy.policy.as_str().to_string(),
            restarts: t.restarts(),
            hosts_in_crash_loop: t.hosts_in_crash_loop(),
            backoff_host_s: t.backoff_host_s(),
            hosts_given_up: t.hosts_given_up(),
        }
    }
}

/// What the autoscalers did over a run (`summary.autoscale`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AutoscaleStats {
    /// Rescales up and down (one per sync that changed a role's count).
    pub scale_ups: u64,
    pub scale_downs: u64,
    /// Hosts brought up and taken down by them.
    pub hosts_added: u64,
    pub hosts_removed: u64,
    /// The most hosts the fleet was scaled to, and its count at the end.
    pub peak_replicas: u64,
    pub final_replicas: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
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

// ---- live runs ----------------------------------------------------------------
//
// What live mode measures beside the RunRecord, as plain data: the
// `integration` crate fills it in, `reports` writes it.

/// The single outcome of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestOutcome {
    /// 2xx response (body fully read).
    Ok,
    /// 5xx response.
    Http5xx,
    /// Any other status (1xx/3xx/4xx).
    HttpOther,
    /// The connection could not be established (refused or otherwise failed).
    ConnectRefused,
    /// The connection failed after it was established: reset, closed before
    /// the response, incomplete or unparsable response, broken body.
    Reset,
    /// No complete response before `intended + timeout` (including requests
    /// that never got a connection in time).
    Timeout,
}

impl RequestOutcome {
    /// All kinds, in report order.
    pub const ALL: [RequestOutcome; 6] = [
        RequestOutcome::Ok,
        RequestOutcome::Http5xx,
        RequestOutcome::HttpOther,
        RequestOutcome::ConnectRefused,
        RequestOutcome::Reset,
        RequestOutcome::Timeout,
    ];

    /// Stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestOutcome::Ok => "ok",
            RequestOutcome::Http5xx => "http_5xx",
            RequestOutcome::HttpOther => "http_other",
            RequestOutcome::ConnectRefused => "connect_refused",
            RequestOutcome::Reset => "reset",
            RequestOutcome::Timeout => "timeout",
        }
    }

    /// Outcome for an HTTP status code.
    pub fn from_status(status: u16) -> RequestOutcome {
        match status {
            200..=299 => RequestOutcome::Ok,
            500..=599 => RequestOutcome::Http5xx,
            _ => RequestOutcome::HttpOther,
        }
    }

    /// Whether this outcome contributes to the latency histograms (responses
    /// and timeouts; fast connection failures would flatter the latency).
    pub fn timed(self) -> bool {
        matches!(
            self,
            RequestOutcome::Ok
                | RequestOutcome::Http5xx
                | RequestOutcome::HttpOther
                | RequestOutcome::Timeout
        )
    }
}

impl std::fmt::Display for RequestOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Counts per outcome kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OutcomeCounts {
    pub ok: u64,
    pub http_5xx: u64,
    pub http_other: u64,
    pub connect_refused: u64,
    pub reset: u64,
    pub timeout: u64,
}

impl OutcomeCounts {
    /// Count one outcome.
    pub fn add(&mut self, outcome: RequestOutcome) {
        *self.slot(outcome) += 1;
    }

    /// Count for one kind.
    pub fn get(&self, outcome: RequestOutcome) -> u64 {
        match outcome {
            RequestOutcome::Ok => self.ok,
            RequestOutcome::Http5xx => self.http_5xx,
            RequestOutcome::HttpOther => self.http_other,
            RequestOutcome::ConnectRefused => self.connect_refused,
            RequestOutcome::Reset => self.reset,
            RequestOutcome::Timeout => self.timeout,
        }
    }

    fn slot(&mut self, outcome: RequestOutcome) -> &mut u64 {
        match outcome {
            RequestOutcome::Ok => &mut self.ok,
            RequestOutcome::Http5xx => &mut self.http_5xx,
            RequestOutcome::HttpOther => &mut self.http_other,
            RequestOutcome::ConnectRefused => &mut self.connect_refused,
            RequestOutcome::Reset => &mut self.reset,
            RequestOutcome::Timeout => &mut self.timeout,
        }
    }

    /// Sum over all kinds.
    pub fn total(&self) -> u64 {
        self.ok + self.non_ok()
    }

    /// Sum over all kinds except `ok`.
    pub fn non_ok(&self) -> u64 {
        self.http_5xx + self.http_other + self.connect_refused + self.reset + self.timeout
    }

    /// Add another set of counts.
    pub fn merge(&mut self, other: &OutcomeCounts) {
        for o in RequestOutcome::ALL {
            *self.slot(o) += other.get(o);
        }
    }
}

/// One non-ok request (`requests.csv`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DroppedRequest {
    pub role: String,
    /// The load generator's id (per role, `0..sent`).
    pub id: u64,
    /// Intended send time, wall seconds since the load started.
    pub intended_s: f64,
    /// Intended send time in scenario seconds.
    pub time_s: f64,
    /// Rollout phase (policy step) at the intended send time.
    pub phase: String,
    /// The backend that served or failed it (empty: none was picked).
    pub backend: String,
    /// `http_5xx`, `http_other`, `connect_refused`, `reset`, `timeout`.
    pub kind: String,
    pub status: Option<u16>,
    pub latency_ms: f64,
}

/// A slot told to change version, and the containers involved.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MoveRecord {
    pub time_s: f64,
    pub step: String,
    pub role: String,
    pub slot: u32,
    /// `update`, `provision` or `decommission`.
    pub action: &'static str,
    pub to: Cohort,
    /// The container that served the slot before (retired by this move).
    pub from_backend: Option<String>,
    /// The container started by this move (filled in once it started).
    pub to_backend: Option<String>,
}

/// A fault as it was injected.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FaultRecord {
    pub time_s: f64,
    pub action: &'static str,
    pub role: String,
    pub backends: Vec<String>,
    pub result: String,
}

/// Latency quantiles in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct LatencyMs {
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

/// The fields live mode adds to `summary.json` (flattened next to the
/// simulator's [`Summary`]).
#[derive(Clone, Debug, Serialize)]
pub struct LiveSummary {
    pub mode: &'static str,
    pub run_id: String,
    /// Scenario seconds per wall second.
    pub time_scale: f64,
    /// Offered requests per second (at the start, all roles).
    pub rps: f64,
    pub wall_duration_s: f64,
    /// Wall time to build or find the image and bring the old version up.
    pub setup_s: f64,
    /// Wall time from the end of the load to everything removed.
    pub teardown_s: f64,
    /// Stopped early (SIGINT).
    pub interrupted: bool,
    /// Every non-ok request.
    pub requests_dropped: u64,
    pub dropped_budget: u64,
    /// `pass` (dropped ≤ budget) or `fail`.
    pub verdict: &'static str,
    pub outcomes: OutcomeCounts,
    /// From the intended send time (coordinated-omission corrected).
    pub latency_ms: LatencyMs,
    /// From the actual send time (not corrected).
    pub service_latency_ms: LatencyMs,
    pub router_retries: u64,
    pub drain: bool,
    pub health_gate: bool,
    /// Version name → what ran (`good`, `errors=0.05`, an image).
    pub versions: BTreeMap<String, String>,
    pub containers_started: u64,
    pub faults: Vec<FaultRecord>,
    pub per_phase: BTreeMap<String, OutcomeCounts>,
    /// The first non-ok requests, by intended send time.
    pub first_dropped: Vec<DroppedRequest>,
    /// Infrastructure errors (a container that would not start, …).
    pub infra_errors: Vec<String>,
    /// Containers and networks of the run still present after clean-up.
    pub leftovers: Vec<String>,
}
