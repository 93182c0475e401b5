//! The rollout harness: one interpretation of a policy's actions, driving an
//! [`Environment`] — the simulated [`crate::world::World`] or the live fleet
//! of containers in the `integration` crate.
//!
//! ```text
//!   every tick t (virtual time in the simulator, scaled wall time live):
//!     env.measure(t)            the tick's traffic: one TickRow, scrapes per cohort
//!       └▶ Monitor              scrapes become visible after the monitoring lag
//!     Rollout                   peak unavailable, totals, the row kept
//!     every sync_period, per [[autoscale]] role (crate::autoscale::Hpa):
//!       Monitor + env.views ─▶ Hpa::sync ─▶ replicas ─▶ proportional split
//!       over the cohorts ─▶ env.provision_version / env.take + decommission
//!     from change.start_at, until the policy finishes:
//!       env.views(t) + Monitor ─▶ Observation ─▶ Policy::decide ─▶ Actions
//!       each Action, here and only here:
//!         Update       env.take(next host of the other cohort) → audit → env.move_host
//!         Provision    env.provision → audit
//!         Decommission env.take → audit → env.decommission
//!         SetWeight    env.set_weight → audit
//!         Note/Finish  audit (and the outcome)
//!   at the end: Rollout::finish → RunRecord (summary, ticks, audit log)
//! ```
//!
//! The environment owns its hosts and how they change state; the harness
//! owns the policy, the audit log, monitoring and the summary. The clock is
//! the caller's: the simulator advances its event queue to `t`, live mode
//! sleeps until `t` on a scaled wall clock, and both then call
//! [`Rollout::tick`] — the same loop with a different clock.

pub mod audit;
pub mod harm;
mod monitor;
mod picker;
pub mod rollback;

pub use audit::{AuditLog, Place};
pub use harm::Baseline;
pub use monitor::Monitor;
pub use picker::Picker;

use crate::autoscale::{proportional, Hpa, RoleSample, Target};
use crate::policy::{self, Policy};
use crate::protocol::{
    Action, Cohort, EndpointSample, GroupView, Observation, Outcome, Sample, ZoneView,
};
use crate::record::{AuditKind, AutoscaleStats, RunRecord, Summary, TickRow};
use crate::scenario::Scenario;
use crate::time::{SimDuration, SimTime};

/// What to keep of a run.
#[derive(Clone, Copy, Debug)]
pub struct RunOptions {
    pub seed: u64,
    /// Keep one [`TickRow`] per tick (`timeseries.csv`).
    pub record_ticks: bool,
    /// Keep the audit log (`events.csv`).
    pub record_events: bool,
}

impl RunOptions {
    pub fn full(seed: u64) -> Self {
        RunOptions {
            seed,
            record_ticks: true,
            record_events: true,
        }
    }
    /// Summary only: what Monte Carlo experiments need.
    pub fn summary_only(seed: u64) -> Self {
        RunOptions {
            seed,
            record_ticks: false,
            record_events: false,
        }
    }
}

/// A host as the harness refers to it: the environment's id, its group and
/// zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostRef {
    pub id: u32,
    pub group: usize,
    pub zone: usize,
}

/// What a rollout acts on: simulated hosts or real containers.
///
/// Methods are synchronous: an environment that needs time to carry an
/// instruction out (a container to start) starts the work and reports its
/// progress through [`Environment::views`] on later ticks.
pub trait Environment {
    /// The tick's traffic `[now, now + tick)` as one row (host counts by
    /// state included); faults it meets go to `log`.
    fn measure(&mut self, now: SimTime, log: &mut AuditLog) -> TickRow;

    /// This tick's scrapes, per group (old and new cohort), and per
    /// endpoint (the vector is taken over by monitoring).
    fn scrapes(&mut self) -> (&[[Sample; 2]], &mut Vec<EndpointSample>);

    /// Fills the old and new cohort counts of every group (`desired` and
    /// metrics are the harness's) and the zone views, ordered by group then
    /// zone.
    fn views(&mut self, now: SimTime, groups: &mut [GroupView], zones: &mut Vec<ZoneView>);

    /// Takes the next host of cohort `from` out of the pick order (a
    /// [`Picker`]); `None` when the group (or zone) has none left.
    fn take(&mut self, group: usize, zone: Option<usize>, from: Cohort) -> Option<HostRef>;

    /// Moves a taken host to cohort `to`, in place.
    fn move_host(&mut self, now: SimTime, host: HostRef, to: Cohort);

    /// Serving hosts still warming up (`[fleet.warm_up]`), at the last
    /// [`Environment::measure`]: they serve at reduced capacity.
    fn warming(&self) -> u32 {
        0
    }

    /// Brings up a new host of `group` on the new version.
    fn provision(&mut self, now: SimTime, group: usize) -> HostRef;

    /// Brings up a new host of `group` on the version of `cohort` (the
    /// autoscaler's scale-up, which follows the cohorts' sizes). `None`:
    /// this environment cannot add a host of that version (by default only
    /// the new version, through [`Environment::provision`]).
    fn provision_version(&mut self, now: SimTime, group: usize, cohort: Cohort) -> Option<HostRef> {
        match cohort {
            Cohort::New => Some(self.provision(now, group)),
            Cohort::Old => None,
        }
    }

    /// Drains and terminates a taken host.
    fn decommission(&mut self, now: SimTime, host: HostRef);

    /// Routes `new_pct` percent of `group`'s traffic to the new cohort, or
    /// (`None`) lets traffic follow serving capacity.
    fn set_weight(&mut self, group: usize, new_pct: Option<f64>);

    /// Whether a host can start moving to the new version now (a package
    /// repository outage says no, and notes it in `log`).
    fn can_upgrade(&mut self, _now: SimTime, _log: &mut AuditLog) -> bool {
        true
    }

    /// The policy entered `step` (live mode tags requests with it).
    fn enter_step(&mut self, _step: &str) {}
}

/// What the environment tells the summary at the end of a run.
#[derive(Clone, Copy, Debug, Default)]
pub struct EnvFacts {
    /// Live hosts at the end, and how many of them are on the new version.
    pub hosts_live: u64,
    pub hosts_on_new: u64,
    /// Hosts that ran the new version at any time.
    pub hosts_ever_new: u64,
    /// Discrete events the environment processed (host state changes,
    /// faults), besides the ticks.
    pub events: u64,
}

/// How the run ended, if not by the policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The scenario's time ran out (or the cooldown after the finish did).
    Time,
    /// Stopped from outside (a signal) before the policy finished.
    Interrupted,
}

/// One rollout in progress: the policy, its audit log, monitoring, and what
/// the summary is made of.
pub struct Rollout<'s> {
    sc: &'s Scenario,
    opts: RunOptions,
    policy: Box<dyn Policy + Send>,
    actions: Vec<Action>,
    log: AuditLog,
    monitor: Monitor,
    groups: Vec<GroupView>,
    zones: Vec<ZoneView>,
    ticks: Vec<TickRow>,
    /// Keep consulting ticks this long after the policy finishes (live
    /// mode's cooldown); `None`: until the scenario's duration.
    stop_after_finish: Option<SimDuration>,
    next_tick: u64,
    ticks_processed: u64,
    requests_total: u64,
    requests_failed: u64,
    failed_during_rollout: u64,
    peak_unavailable_pct: f64,
    started_at: Option<SimTime>,
    finished: Option<(SimTime, Outcome, String)>,
    slo: harm::SloTracker,
    /// The no-change world of this seed, when harm is asked for.
    baseline: Option<&'s Baseline>,
    harm: harm::HarmTracker,
    /// Filled tick by tick when this run is itself a baseline.
    trace: Option<Baseline>,
    /// One HorizontalPodAutoscaler per `[[autoscale]]` role.
    hpas: Vec<Hpa>,
    scale: ScaleTally,
    /// From the policy's abort until the fleet is safe again.
    rollback: Option<rollback::RollbackTracker>,
}

/// What the autoscalers did, as it happens (`summary.autoscale`).
#[derive(Debug, Default)]
struct ScaleTally {
    ups: u64,
    downs: u64,
    added: u64,
    removed: u64,
    peak: u64,
}

impl<'s> Rollout<'s> {
    /// A rollout of the scenario's own policy.
    pub fn new(sc: &'s Scenario, opts: RunOptions) -> Self {
        let groups = sc.fleet.roles.len();
        Self::with_policy(sc, opts, policy::build(&sc.policy, sc.change.mode, groups))
    }

    /// A rollout of another policy (one under development, a probe in a
    /// test).
    pub fn with_policy(sc: &'s Scenario, opts: RunOptions, policy: Box<dyn Policy + Send>) -> Self {
        let groups = sc.fleet.roles.len();
        let lag_ticks = sc.monitoring.lag.as_millis().div_ceil(sc.tick.as_millis()) as usize;
        let n_ticks = (sc.duration.as_millis() / sc.tick.as_millis()) as usize;
        Rollout {
            sc,
            opts,
            policy,
            actions: Vec::new(),
            log: AuditLog::new(opts.record_events),
            monitor: Monitor::new(groups, lag_ticks),
            groups: vec![GroupView::default(); groups],
            zones: Vec::new(),
            ticks: Vec::with_capacity(if opts.record_ticks { n_ticks } else { 0 }),
            stop_after_finish: None,
            next_tick: 0,
            ticks_processed: 0,
            requests_total: 0,
            requests_failed: 0,
            failed_during_rollout: 0,
            peak_unavailable_pct: 0.0,
            started_at: None,
            finished: None,
            slo: harm::SloTracker::new(&sc.slo, sc.tick),
            baseline: None,
            harm: harm::HarmTracker::default(),
            trace: None,
            hpas: sc
                .autoscale
                .iter()
                .map(|a| Hpa::new(a.clone(), sc.fleet.roles[a.group].hosts, SimTime::ZERO))
                .collect(),
            scale: ScaleTally {
                peak: sc.host_count(),
                ..ScaleTally::default()
            },
            rollback: None,
        }
    }

    /// Attributes harm to the change against `baseline`, the same seed's
    /// world without it (summary fields `*_due_to_change`).
    pub fn against(mut self, baseline: &'s Baseline) -> Self {
        self.baseline = Some(baseline);
        self
    }

    /// Keeps this run's failed requests and unavailable hosts per tick, as a
    /// [`Baseline`] for runs with the change ([`Rollout::take_trace`]).
    pub fn tracing(mut self) -> Self {
        self.trace = Some(Baseline::default());
        self
    }

    /// The trace kept by [`Rollout::tracing`].
    pub fn take_trace(&mut self) -> Option<Baseline> {
        self.trace.take()
    }

    /// Ends the run this long after the policy finishes instead of at the
    /// scenario's duration (live mode's cooldown).
    pub fn stop_after_finish(mut self, cooldown: SimDuration) -> Self {
        self.stop_after_finish = Some(cooldown);
        self
    }

    pub fn scenario(&self) -> &'s Scenario {
        self.sc
    }

    pub fn seed(&self) -> u64 {
        self.opts.seed
    }

    /// How long a host must serve before it counts as available (the
    /// policy's `min_ready`).
    pub fn min_ready(&self) -> SimDuration {
        self.policy.min_ready()
    }

    /// The audit log, for rows the environment writes between ticks.
    pub fn log(&mut self) -> &mut AuditLog {
        &mut self.log
    }

    /// The time of the next tick, or `None` when the run is over: every
    /// tick of the scenario's duration, or up to the cooldown after the
    /// policy finished.
    pub fn next_tick(&self) -> Option<SimTime> {
        let t = SimTime::from_millis(self.next_tick * self.sc.tick.as_millis());
        let end = SimTime::ZERO + self.sc.duration;
        let cooled = match (self.stop_after_finish, &self.finished) {
            (Some(c), Some((at, _, _))) => t >= *at + c,
            _ => false,
        };
        (t < end && !cooled).then_some(t)
    }

    /// The views the policy was last shown, per group.
    pub fn groups(&self) -> &[GroupView] {
        &self.groups
    }

    /// Requests and failed requests over the ticks so far.
    pub fn totals(&self) -> (u64, u64) {
        (self.requests_total, self.requests_failed)
    }

    /// Ticks consulted so far (rows of `timeseries.csv`).
    pub fn ticks_processed(&self) -> u64 {
        self.ticks_processed
    }

    /// When the policy started, and when and how it finished.
    pub fn started_at(&self) -> Option<SimTime> {
        self.started_at
    }
    pub fn finished(&self) -> Option<(SimTime, Outcome)> {
        self.finished.as_ref().map(|(t, o, _)| (*t, *o))
    }

    /// One tick at `now`: measure, publish the scrapes, record, and from the
    /// change's start until the policy finishes, consult it and carry its
    /// actions out.
    pub fn tick<E: Environment>(&mut self, now: SimTime, env: &mut E) {
        self.next_tick += 1;
        self.ticks_processed += 1;
        let row = env.measure(now, &mut self.log);
        let (current, endpoints) = env.scrapes();
        self.monitor.publish(current, endpoints);
        // Saturating: validation bounds a run below 2^53 requests, so a
        // saturated count would be a bug, never a silent wrap.
        self.requests_total = self.requests_total.saturating_add(row.requests);
        self.requests_failed = self.requests_failed.saturating_add(row.failed);
        let phase = match (self.started_at, &self.finished) {
            (None, _) => harm::Phase::Before,
            (Some(_), None) => harm::Phase::During,
            (Some(_), Some(_)) => harm::Phase::After,
        };
        if phase == harm::Phase::During {
            self.failed_during_rollout = self.failed_during_rollout.saturating_add(row.failed);
        }
        self.slo.tick(row.requests, row.failed);
        let desired = self.desired_total().max(1);
        let unavailable = desired.saturating_sub(row.serving as u64);
        if let Some(base) = self.baseline {
            let i = (self.next_tick - 1) as usize;
            self.harm.tick(base, i, phase, row.failed, unavailable);
        }
        if let Some(trace) = &mut self.trace {
            trace.failed.push(row.failed);
            trace
                .unavailable
                .push(unavailable.min(u32::MAX as u64) as u32);
        }
        let pct = 100.0 * unavailable as f64 / desired as f64;
        if pct > self.peak_unavailable_pct {
            self.peak_unavailable_pct = pct;
        }
        if let Some(r) = &mut self.rollback {
            let warm = row.serving.saturating_sub(env.warming());
            r.tick(now, row.hosts_new, warm, desired, self.sc.tick);
        }
        if self.opts.record_ticks {
            self.ticks.push(row);
        }
        if !self.hpas.is_empty() {
            self.autoscale(now, env);
        }
        if self.finished.is_none() && now >= SimTime::ZERO + self.sc.change.start_at {
            self.consult(now, env);
            if self.rollback.is_none() {
                if let Some(at) = self.policy.milestones().aborted_at {
                    self.rollback = Some(rollback::RollbackTracker::new(at));
                }
            }
        }
    }

    /// Replaces the request counts measured tick by tick with ones known
    /// only after the run.
    ///
    /// Live mode's environment measures at the routers while the run goes on
    /// (what monitoring sees, and what the policy was shown); the load
    /// generator, which accounts for every request it sent, knows each one's
    /// outcome only once it is back. `per_tick[i]` is (requests, failed) of
    /// `[t_i, t_i + tick)` by intended send time, the interval the
    /// simulator's row at `t_i` draws. The totals, the failed requests during
    /// the rollout and the SLO follow the new counts, so `timeseries.csv`
    /// sums to the summary. The policy's decisions are not revisited. Runs
    /// measured against a baseline (the simulator's) are not recounted: their
    /// harm is per tick of the world.
    pub fn recount(&mut self, per_tick: &[(u64, u64)]) {
        assert!(
            self.baseline.is_none(),
            "recount is for runs without a baseline"
        );
        assert_eq!(
            per_tick.len() as u64,
            self.ticks_processed,
            "one count per tick processed"
        );
        let tick = self.sc.tick;
        let started = self.started_at;
        let finished = self.finished.as_ref().map(|(f, _, _)| *f);
        let during = |t: SimTime| started.is_some_and(|s| t > s) && finished.is_none_or(|f| t <= f);
        let mut slo = harm::SloTracker::new(&self.sc.slo, tick);
        let (mut total, mut failed, mut failed_during) = (0u64, 0u64, 0u64);
        for (i, &(r, f)) in per_tick.iter().enumerate() {
            total = total.saturating_add(r);
            failed = failed.saturating_add(f);
            if during(SimTime::from_millis(i as u64 * tick.as_millis())) {
                failed_during = failed_during.saturating_add(f);
            }
            slo.tick(r, f);
        }
        if self.opts.record_ticks {
            for (row, &(r, f)) in self.ticks.iter_mut().zip(per_tick) {
                let counted = TickRow::traffic(SimTime::ZERO, 0.0, r, f);
                row.requests = counted.requests;
                row.served = counted.served;
                row.failed = counted.failed;
                row.success_rate = counted.success_rate;
            }
        }
        self.requests_total = total;
        self.requests_failed = failed;
        self.failed_during_rollout = failed_during;
        self.slo = slo;
    }

    /// Hosts the fleet should have now: each role's autoscaled replica
    /// count, or its `hosts`.
    fn desired_total(&self) -> u64 {
        if self.hpas.is_empty() {
            return self.sc.host_count();
        }
        (0..self.sc.fleet.roles.len())
            .map(|g| self.desired(g) as u64)
            .sum()
    }

    /// Group `g`'s desired hosts (the Deployment's `replicas`): its
    /// autoscaler's count, or the role's `hosts`.
    fn desired(&self, g: usize) -> u32 {
        self.hpas
            .iter()
            .find(|h| h.spec.group == g)
            .map_or(self.sc.fleet.roles[g].hosts, |h| h.replicas())
    }

    /// Syncs every autoscaler that is due and carries its rescale out: the
    /// hosts to add or remove are split over the cohorts in proportion to
    /// their sizes (a Deployment scaled mid-rollout), new hosts come up on
    /// their cohort's version, removed ones are drained and terminated.
    fn autoscale<E: Environment>(&mut self, now: SimTime, env: &mut E) {
        // No metrics yet (the monitoring lag): the HPA does not scale on
        // missing metrics, and reading them as zero traffic would scale down.
        if !self.monitor.has_data() || !self.hpas.iter().any(|h| h.due(now)) {
            return;
        }
        let mut groups = vec![GroupView::default(); self.groups.len()];
        let mut zones = Vec::new();
        env.views(now, &mut groups, &mut zones);
        let tick_s = self.sc.tick.as_secs_f64();
        for i in 0..self.hpas.len() {
            if !self.hpas[i].due(now) {
                continue;
            }
            let g = self.hpas[i].spec.group;
            let role = &self.sc.fleet.roles[g];
            let [old, new] = self.monitor.metrics(g);
            let view = groups[g];
            let ready = view.old.ready + view.new.ready;
            let live = view.old.total + view.new.total;
            let sample = RoleSample {
                rps: (old.requests + new.requests) as f64 / tick_s,
                ready,
                not_ready: live.saturating_sub(ready),
                capacity_rps: role.capacity_rps,
            };
            let Some(r) = self.hpas[i].sync(now, sample) else {
                continue;
            };
            let spec = &self.hpas[i].spec;
            let (metric, target) = match spec.target {
                Target::Utilization(u) => (
                    format!("{:.0} % of capacity per ready host", r.metric * 100.0),
                    format!("{:.0} %", u * 100.0),
                ),
                Target::RpsPerHost(t) => (
                    format!("{:.1} rps per ready host", r.metric),
                    format!("{t} rps"),
                ),
            };
            let reason = format!(
                "HPA {}: {} → {} replicas ({metric}, target {target}; the metric asks for {}; {})",
                role.name,
                r.from,
                r.to,
                r.metric_replicas,
                r.limit.as_str()
            );
            let at = Place {
                role: &role.name,
                ..Place::default()
            };
            self.log
                .row(now, AuditKind::Decision, at, "autoscale", &reason);
            if r.to > r.from {
                self.scale.ups += 1;
            } else {
                self.scale.downs += 1;
            }
            // The change is split over the cohorts as they are now.
            let target_live = (live as i64 + r.to as i64 - r.from as i64).max(0) as u32;
            let split = proportional([view.old.total, view.new.total], target_live);
            for (c, delta) in [(Cohort::Old, split[0]), (Cohort::New, split[1])] {
                self.rescale_cohort(now, env, g, c, delta);
            }
        }
        let total = self.desired_total();
        self.scale.peak = self.scale.peak.max(total);
    }

    /// Adds (`delta` > 0) or removes hosts of one cohort of group `g`.
    fn rescale_cohort<E: Environment>(
        &mut self,
        now: SimTime,
        env: &mut E,
        g: usize,
        c: Cohort,
        delta: i64,
    ) {
        let version = self.version(c);
        if delta > 0 {
            for _ in 0..delta {
                let Some(h) = env.provision_version(now, g, c) else {
                    let reason = format!(
                        "this environment cannot add a host on {version}: the scale-up stops here"
                    );
                    let at = Place {
                        role: &self.sc.fleet.roles[g].name,
                        ..Place::default()
                    };
                    self.log
                        .row(now, AuditKind::Decision, at, "autoscale", &reason);
                    return;
                };
                self.scale.added += 1;
                let at = self.place(h);
                let reason = format!("scale-up: a new host on {version}");
                self.log
                    .row(now, AuditKind::Instruct, at, "autoscale", &reason);
            }
        } else {
            for _ in 0..(-delta) {
                let Some(h) = env.take(g, None, c) else {
                    break;
                };
                self.scale.removed += 1;
                let at = self.place(h);
                let reason = format!("scale-down: a host on {version} drained and terminated");
                self.log
                    .row(now, AuditKind::Decommission, at, "autoscale", &reason);
                env.decommission(now, h);
            }
        }
    }

    fn consult<E: Environment>(&mut self, now: SimTime, env: &mut E) {
        let started_at = *self.started_at.get_or_insert(now);
        for g in 0..self.groups.len() {
            let [old, new] = self.monitor.metrics(g);
            let desired = self.desired(g);
            self.groups[g] = GroupView {
                desired,
                old_metrics: old,
                new_metrics: new,
                ..GroupView::default()
            };
        }
        self.zones.clear();
        env.views(now, &mut self.groups, &mut self.zones);
        let obs = Observation {
            now,
            started_at,
            groups: &self.groups,
            zones: &self.zones,
            endpoints: self.monitor.endpoints(),
        };
        let mut actions = std::mem::take(&mut self.actions);
        self.policy.decide(&obs, &mut actions);
        for a in actions.drain(..) {
            self.apply(now, a, env);
        }
        self.actions = actions;
    }

    fn version(&self, c: Cohort) -> &'s str {
        match c {
            Cohort::Old => &self.sc.change.from,
            Cohort::New => &self.sc.change.to,
        }
    }

    fn place(&self, h: HostRef) -> Place<'s> {
        let role = &self.sc.fleet.roles[h.group];
        Place {
            host: Some(h.id),
            role: &role.name,
            zone: &role.zones[h.zone],
        }
    }

    fn instructed(&mut self, now: SimTime, h: HostRef, to: Cohort, step: &str, reason: &str) {
        let versions = (self.version(opposite(to)), self.version(to));
        let at = self.place(h);
        self.log
            .versioned(now, AuditKind::Instruct, at, versions, step, reason);
    }

    /// Carries out one action: the only interpretation of [`Action`].
    fn apply<E: Environment>(&mut self, now: SimTime, action: Action, env: &mut E) {
        match action {
            Action::Update {
                group,
                zone,
                to,
                count,
                step,
                reason,
            } => {
                env.enter_step(&step);
                if to == Cohort::New && !env.can_upgrade(now, &mut self.log) {
                    return;
                }
                for _ in 0..count {
                    let Some(h) = env.take(group, zone, opposite(to)) else {
                        break;
                    };
                    self.instructed(now, h, to, &step, &reason);
                    env.move_host(now, h, to);
                }
            }
            Action::Provision {
                group,
                count,
                step,
                reason,
            } => {
                env.enter_step(&step);
                if !env.can_upgrade(now, &mut self.log) {
                    return;
                }
                for _ in 0..count {
                    let h = env.provision(now, group);
                    self.instructed(now, h, Cohort::New, &step, &reason);
                }
            }
            Action::Decommission {
                group,
                zone,
                count,
                step,
                reason,
            } => self.decommission(now, env, (group, zone, Cohort::Old), count, &step, &reason),
            Action::DecommissionNew {
                group,
                zone,
                count,
                step,
                reason,
            } => self.decommission(now, env, (group, zone, Cohort::New), count, &step, &reason),
            Action::SetWeight { group, new_pct } => {
                env.set_weight(group, Some(new_pct.clamp(0.0, 100.0)));
                let reason = format!(
                    "{new_pct}% of {} traffic to the new version",
                    self.sc.fleet.roles[group].name
                );
                self.log.row(
                    now,
                    AuditKind::Decision,
                    Place::default(),
                    "set-weight",
                    &reason,
                );
            }
            Action::ClearWeight { group } => {
                env.set_weight(group, None);
                let reason = format!(
                    "{} traffic follows serving capacity (router weight released)",
                    self.sc.fleet.roles[group].name
                );
                self.log.row(
                    now,
                    AuditKind::Decision,
                    Place::default(),
                    "set-weight",
                    &reason,
                );
            }
            Action::Note { step, reason } => {
                env.enter_step(&step);
                self.log
                    .row(now, AuditKind::Decision, Place::default(), &step, &reason);
            }
            Action::Finish { outcome, reason } => {
                self.log.row(
                    now,
                    AuditKind::Finish,
                    Place::default(),
                    outcome.as_str(),
                    &reason,
                );
                env.enter_step(&format!("after: {}", outcome.as_str()));
                self.finished = Some((now, outcome, reason));
            }
        }
    }

    /// Drains and terminates `count` hosts of one cohort of a group (of one
    /// zone, if given).
    fn decommission<E: Environment>(
        &mut self,
        now: SimTime,
        env: &mut E,
        (group, zone, cohort): (usize, Option<usize>, Cohort),
        count: u32,
        step: &str,
        reason: &str,
    ) {
        env.enter_step(step);
        for _ in 0..count {
            let Some(h) = env.take(group, zone, cohort) else {
                break;
            };
            let at = self.place(h);
            self.log.row(now, AuditKind::Decommission, at, step, reason);
            env.decommission(now, h);
        }
    }

    /// The run's record. `end` is when it stopped (the scenario's duration
    /// in the simulator; live, the last tick).
    pub fn finish(self, end: SimTime, how: End, facts: EnvFacts) -> RunRecord {
        let sc = self.sc;
        let autoscale = (!self.hpas.is_empty()).then(|| AutoscaleStats {
            scale_ups: self.scale.ups,
            scale_downs: self.scale.downs,
            hosts_added: self.scale.added,
            hosts_removed: self.scale.removed,
            peak_replicas: self.scale.peak,
            final_replicas: self.desired_total(),
        });
        let started = self
            .started_at
            .unwrap_or(SimTime::ZERO + sc.change.start_at);
        let (finished_at, outcome, reason) = match (self.finished, how) {
            (Some((t, o, r)), _) => (t, o, r),
            (None, End::Interrupted) => (
                end,
                Outcome::Interrupted,
                "stopped from outside (a signal) before the rollout finished".to_string(),
            ),
            (None, End::Time) => (
                end,
                Outcome::TimedOut,
                format!("the rollout had not finished after {}", sc.duration),
            ),
        };
        let total_hosts = sc.host_count();
        let milestones = self.policy.milestones();
        let rolled_back = outcome == Outcome::RolledBack;
        let harm = self.baseline.map(|_| self.harm.finish(sc.tick));
        let slo_worst = self.slo.worst();
        let rollback = self.rollback.as_ref().map(|r| r.finish());
        let summary = Summary {
            scenario: sc.name.clone(),
            seed: self.opts.seed,
            policy: self.policy.kind().to_string(),
            change: format!(
                "{} {} -> {}",
                sc.change.attribute, sc.change.from, sc.change.to
            ),
            hosts: total_hosts,
            outcome,
            outcome_reason: reason,
            duration_s: end.as_secs_f64(),
            tick_s: sc.tick.as_secs_f64(),
            rollout_started_at_s: started.as_secs_f64(),
            rollout_duration_s: finished_at.saturating_since(started).as_secs_f64(),
            requests_total: self.requests_total,
            requests_failed: self.requests_failed,
            failed_requests_during_rollout: self.failed_during_rollout,
            success_rate: if self.requests_total == 0 {
                1.0
            } else {
                self.requests_total.saturating_sub(self.requests_failed) as f64
                    / self.requests_total as f64
            },
            slo_objective: sc.slo.success_rate,
            slo_window_s: sc.slo.window.as_secs_f64(),
            slo_worst_success_rate: slo_worst,
            slo_met: slo_worst >= sc.slo.success_rate,
            error_budget_burned: harm::error_budget_burned(
                sc.slo.success_rate,
                self.requests_total,
                self.requests_failed,
            ),
            failed_requests_due_to_change: harm.map(|h| h.failed),
            failed_requests_due_to_change_during_rollout: harm.map(|h| h.failed_during),
            failed_requests_due_to_change_after_rollout: harm.map(|h| h.failed_after),
            host_hours_unavailable_due_to_change: harm.map(|h| h.host_hours_unavailable),
            fault_hits: Vec::new(),
            restarts: None,
            autoscale,
            peak_hosts_unavailable_pct: self.peak_unavailable_pct,
            hosts_on_new_pct: 100.0 * facts.hosts_on_new as f64 / facts.hosts_live.max(1) as f64,
            hosts_ever_on_new_pct: 100.0 * facts.hosts_ever_new as f64 / total_hosts.max(1) as f64,
            new_version_bad: crate::faults::new_version_bad(&sc.faults, &sc.change.to),
            detected_at_s: milestones.detected_at.map(|t| t.as_secs_f64()),
            aborted_at_s: milestones.aborted_at.map(|t| t.as_secs_f64()),
            time_to_rollback_s: match milestones.aborted_at {
                Some(a) if rolled_back => Some(finished_at.saturating_since(a).as_secs_f64()),
                _ => None,
            },
            time_to_safe_s: rollback.and_then(|r| r.time_to_safe.map(|d| d.as_secs_f64())),
            rollback_min_capacity_pct: rollback.map(|r| r.min_capacity_pct),
            rollback_capacity_deficit_host_hours: rollback.map(|r| r.deficit_host_hours),
            events_processed: facts.events + self.ticks_processed,
            audit_rows_dropped: self.log.dropped(),
            shakedown_version: crate::VERSION.to_string(),
        };
        RunRecord {
            summary,
            ticks: self.ticks,
            events: self.log.into_events(),
        }
    }
}

/// The other cohort.
pub fn opposite(c: Cohort) -> Cohort {
    match c {
        Cohort::Old => Cohort::New,
        Cohort::New => Cohort::Old,
    }
}
