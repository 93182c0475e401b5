//! The simulated world: a fleet of hosts, the traffic they serve, and the
//! rollout policy under test, advanced tick by tick.
//!
//! ```text
//!  for each tick boundary t (every `scenario.tick`, 15 s by default):
//!    1. apply every host event due at or before t   (drain done, install done,
//!                                                    restart done, detected …)
//!    2. traffic for [t, t+tick): per role, requests ~ Poisson(rate · tick),
//!       split over the old/new cohorts, failed where they land on a host that
//!       is down but still routed, or beyond serving capacity
//!    3. from the change's start: the policy observes counts and metrics and
//!       returns actions, applied at t
//! ```
//!
//! Per-host state is 16 bytes; per-tick work is per role and cohort, never per
//! host or per request, so a 23,000-host fleet over 14 days is a few hundred
//! thousand events. Randomness: `traffic` (request counts; consumed the same
//! way whatever the policy does), `outcomes` (how requests split and fail),
//! and `upgrade`/`provision`, keyed by host and move number so a host's
//! restart takes the same time under every policy (common random numbers).

use crate::faults::{Arrival, Effect, FaultRule, Faults, HostFacts};
use crate::policy::Policy;
use crate::protocol::{Cohort, CohortView, EndpointSample, GroupView, Sample, ZoneView};
use crate::record::FaultHits;
use crate::record::RestartStats;
use crate::record::{AuditKind, RunRecord, TickRow};
use crate::restart::Decision;
use crate::rng::{Rng, Streams};
pub use crate::rollout::RunOptions;
use crate::rollout::{
    AuditLog, Baseline, End, EnvFacts, Environment, HostRef, Picker, Place, Rollout,
};
use crate::scenario::Scenario;
use crate::sched::Scheduler;
use crate::time::{SimDuration, SimTime};
use std::collections::{BTreeMap, BTreeSet};

/// A host's lifecycle state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum HostState {
    Serving = 0,
    /// Out of the load balancer, finishing in-flight work.
    Draining = 1,
    /// Installing the change (daemon, kernel, config).
    Upgrading = 2,
    /// Restarting every container on the host.
    Restarting = 3,
    /// A new host being brought up.
    Provisioning = 4,
    /// Kernel panic or crash: down with all its containers.
    Crashed = 5,
    /// Up, but its containers cannot start (leaked ports, incompatible
    /// version): out of the load balancer.
    Broken = 6,
    Terminated = 7,
}
const N_STATES: usize = 8;

#[derive(Clone, Copy, Debug)]
struct Host {
    epoch: u32,
    role: u16,
    zone: u16,
    moves: u16,
    cohort: Cohort,
    state: HostState,
    available: bool,
    /// Down but still routed to, until health checks notice.
    stale: bool,
    /// A kernel-panic hazard is scheduled for this lifecycle.
    armed: bool,
    /// Which attribute profile (index into `World::profiles`).
    profile: u16,
    /// How many hazard draws this host has had (keys the `faults` stream).
    arms: u16,
    /// Share of the requests it serves that fail (orphans, bad config).
    err: f32,
    /// Serving, but still warming up (`fleet.warm_up`): reduced capacity.
    warm: bool,
}

#[derive(Clone, Copy, Debug)]
enum Then {
    Upgrade,
    Terminate,
}

#[derive(Clone, Copy, Debug)]
enum HostEv {
    DrainDone(Then),
    InstallDone,
    RestartDone,
    ProvisionDone,
    Available,
    /// A host's warm-up after it started serving is over.
    Warm,
    Detected,
    /// A fault with a time limit ends (orphan reaped, ports fixed).
    FaultEnd(u16),
    /// A delayed fault fires (bad config after its delay).
    FaultLater(u16),
    Panic(u16),
    /// A crashed host has been replaced by a fresh one.
    Replaced,
    /// A crashed host's containers were restarted (no audit row: the crash
    /// that caused it has one).
    Restarted,
    /// Chaos fault number `epoch` of the schedule fires (`host` unused).
    Chaos,
}

#[derive(Clone, Copy, Debug)]
struct Ev {
    host: u32,
    epoch: u32,
    kind: HostEv,
}

/// Host counts by cohort and state, with the available count.
#[derive(Clone, Debug, Default)]
struct Counts {
    by_state: [[u32; N_STATES]; 2],
    available: [u32; 2],
}

impl Counts {
    fn view(&self, c: usize) -> CohortView {
        CohortView {
            total: self.by_state[c].iter().sum::<u32>()
                - self.by_state[c][HostState::Terminated as usize],
            ready: self.by_state[c][HostState::Serving as usize],
            available: self.available[c],
        }
    }
}

struct ZoneState {
    counts: Counts,
}

struct RoleState {
    counts: Counts,
    /// Serving hosts still warming up, per cohort.
    warming: [u32; 2],
    stale: [u32; 2],
    /// Host-milliseconds to add to `stale × tick` for this interval: hosts
    /// that became stale (or stopped being) part-way through it.
    stale_ms: [i64; 2],
    /// Σ `err` over serving hosts, per cohort.
    err_sum: [f64; 2],
    zones: Vec<ZoneState>,
    weight_new: Option<f64>,
    next_zone: u32,
}

fn ci(c: Cohort) -> usize {
    match c {
        Cohort::Old => 0,
        Cohort::New => 1,
    }
}

/// The simulated environment of one run: hosts, their events, traffic and
/// faults. The rollout harness ([`Rollout`]) drives it through
/// [`Environment`].
pub struct World<'s> {
    sc: &'s Scenario,
    streams: Streams,
    traffic_rng: Rng,
    outcome_rng: Rng,
    sched: Scheduler<Ev>,
    /// The scenario's end: no event after it is ever processed.
    horizon: SimTime,
    hosts: Vec<Host>,
    roles: Vec<RoleState>,
    /// Which host moves next, per role, zone and cohort.
    picker: Picker,
    shares: Vec<f64>,
    min_ready: SimDuration,
    faults: Faults,
    has_panics: bool,
    profiles: Profiles,
    /// This tick's scrapes: per role, per cohort, and per endpoint.
    current: Vec<[Sample; 2]>,
    endpoint_now: Vec<EndpointSample>,
    /// The registry-outage rule already noted in the audit log.
    outage_noted: Option<usize>,
    /// Scheduled chaos (`run_with_chaos`).
    chaos: Vec<crate::chaos::Fault>,
    /// Per fault rule, a bit per host it hit (`summary.fault_hits`).
    hits: Vec<Vec<u64>>,
    /// How far into the current tick interval the event being handled is
    /// (ms); 0 for the policy's actions, taken at the tick.
    into_tick_ms: u64,
    /// Crash-loop back-off per host (`[fleet.restart]`), since it arrived
    /// on its version, and what the policy did.
    restarts: crate::restart::Restarts<u32>,
    /// Hosts an autoscaler brought up on the old version.
    provisioned_old: BTreeSet<u32>,
}

/// Runs a scenario to the end and returns its record, with the chaos its
/// `[[live.chaos]]` schedules (the same faults at the same times on the same
/// replicas as `shakedown live` applies to containers).
pub fn run(sc: &Scenario, opts: RunOptions) -> RunRecord {
    run_with(Rollout::new(sc, opts), &chaos_schedule(sc, opts.seed))
}

/// The faults a scenario's `[[live.chaos]]` schedules with `seed` (none
/// without `[live]`).
pub fn chaos_schedule(sc: &Scenario, seed: u64) -> Vec<crate::chaos::Fault> {
    match &sc.live {
        Some(live) => crate::chaos::schedule(
            seed,
            &live.fault_specs(),
            &crate::chaos::role_shapes(&sc.fleet),
        ),
        None => Vec::new(),
    }
}

/// Runs a scenario with this chaos schedule instead of its own (a
/// schedule drawn by [`crate::chaos::schedule`], or a test's).
pub fn run_with_chaos(sc: &Scenario, opts: RunOptions, chaos: &[crate::chaos::Fault]) -> RunRecord {
    run_with(Rollout::new(sc, opts), chaos)
}

/// Runs a scenario with a policy other than the one it names (a policy under
/// development, or a probe in a test).
pub fn run_with_policy(
    sc: &Scenario,
    opts: RunOptions,
    policy: Box<dyn Policy + Send>,
) -> RunRecord {
    run_with(
        Rollout::with_policy(sc, opts, policy),
        &chaos_schedule(sc, opts.seed),
    )
}

/// Runs a scenario as live mode does: ending `cooldown` after the policy
/// finishes (or at the scenario's duration), at the last tick.
pub fn run_until_cooled(sc: &Scenario, opts: RunOptions, cooldown: SimDuration) -> RunRecord {
    run_to(
        Rollout::new(sc, opts).stop_after_finish(cooldown),
        &chaos_schedule(sc, opts.seed),
        true,
    )
}

/// The simulator's loop: advance the event queue to each tick, then let the
/// harness run the tick.
fn run_with(rollout: Rollout<'_>, chaos: &[crate::chaos::Fault]) -> RunRecord {
    run_to(rollout, chaos, false)
}

/// [`run_with`], ending at the last tick (`at_last_tick`) or the duration.
fn run_to(
    mut rollout: Rollout<'_>,
    chaos: &[crate::chaos::Fault],
    at_last_tick: bool,
) -> RunRecord {
    let sc = rollout.scenario();
    let mut world = World::new(sc, rollout.seed(), rollout.min_ready());
    world.schedule_chaos(chaos);
    world.arm_all();
    let mut last = SimTime::ZERO;
    while let Some(t) = rollout.next_tick() {
        world.process_events_until(t, rollout.log());
        rollout.tick(t, &mut world);
        last = t;
    }
    let end = if at_last_tick {
        last
    } else {
        SimTime::ZERO + sc.duration
    };
    world.process_events_until(end, rollout.log());
    let facts = world.facts();
    let mut rec = rollout.finish(end, End::Time, facts);
    rec.summary.fault_hits = world.fault_hits();
    rec.summary.restarts = world.restart_stats();
    rec
}

/// Runs a scenario with its own policy and attributes harm to the change
/// against `baseline` (from [`baseline`] with the same scenario and seed).
pub fn run_against(sc: &Scenario, opts: RunOptions, baseline: &Baseline) -> RunRecord {
    run_with(
        Rollout::new(sc, opts).against(baseline),
        &chaos_schedule(sc, opts.seed),
    )
}

/// A scenario's world with seed `seed` and without the change: the policy
/// is never consulted, so no host is told to move; the traffic and the
/// faults are drawn as in every run of that seed (common random numbers).
/// Runs whose scenarios differ only in the policy and the change's timings
/// share it ([`baseline_key`]).
pub fn baseline(sc: &Scenario, seed: u64) -> Baseline {
    let mut rollout =
        Rollout::with_policy(sc, RunOptions::summary_only(seed), Box::new(NoChange)).tracing();
    let mut world = World::new(sc, seed, SimDuration::ZERO);
    world.schedule_chaos(&chaos_schedule(sc, seed));
    world.arm_all();
    while let Some(t) = rollout.next_tick() {
        world.process_events_until(t, rollout.log());
        rollout.tick(t, &mut world);
    }
    rollout
        .take_trace()
        .expect("a tracing rollout keeps its trace")
}

/// What the no-change world of a scenario depends on: two scenarios with
/// the same key have the same [`baseline`] for every seed. The policy and
/// how hosts move (drain, install, restart and provision times, mode) do
/// not matter where no host moves; everything else may.
pub fn baseline_key(sc: &Scenario) -> String {
    let mut s = sc.clone();
    s.policy = crate::policy::spec::PolicySpec::AllAtOnce {};
    s.change.mode = crate::protocol::ChangeMode::InPlace;
    s.change.start_at = SimDuration::ZERO;
    s.change.drain = SimDuration::ZERO;
    let zero = crate::dist::DurationDist::fixed(SimDuration::ZERO);
    s.change.install_time = zero;
    s.change.restart_time = zero;
    s.change.provision_time = zero;
    s.to_toml()
}

/// The policy of a [`baseline`]: never moves a host, never finishes.
struct NoChange;

impl Policy for NoChange {
    fn kind(&self) -> &'static str {
        "no-change"
    }
    fn decide(
        &mut self,
        _obs: &crate::protocol::Observation<'_>,
        _out: &mut Vec<crate::protocol::Action>,
    ) {
    }
}

impl<'s> World<'s> {
    /// A fresh fleet for `sc`: every host serving the old version.
    /// `min_ready` is the policy's (how long a host serves before it is
    /// available).
    pub fn new(sc: &'s Scenario, seed: u64, min_ready: SimDuration) -> Self {
        let streams = Streams::new(seed);
        let n: usize = sc.fleet.roles.iter().map(|r| r.hosts as usize).sum();
        let mut hosts = Vec::with_capacity(n);
        let mut profiles = Profiles::default();
        let mut roles = Vec::with_capacity(sc.fleet.roles.len());
        let mut picker = Picker::new(sc.fleet.roles.iter().map(|r| r.zones.len()));
        for (ri, r) in sc.fleet.roles.iter().enumerate() {
            let mut zones: Vec<ZoneState> = (0..r.zones.len())
                .map(|_| ZoneState {
                    counts: Counts::default(),
                })
                .collect();
            for i in 0..r.hosts {
                let zone = i as usize % r.zones.len();
                let z = &mut zones[zone];
                picker.add_initial(ri, zone, hosts.len() as u32);
                z.counts.by_state[0][HostState::Serving as usize] += 1;
                z.counts.available[0] += 1;
                hosts.push(Host {
                    epoch: 0,
                    role: ri as u16,
                    zone: zone as u16,
                    moves: 0,
                    cohort: Cohort::Old,
                    state: HostState::Serving,
                    available: true,
                    stale: false,
                    armed: false,
                    profile: profile_of(&mut profiles, ri, r, i),
                    arms: 0,
                    err: 0.0,
                    warm: false,
                });
            }
            let mut counts = Counts::default();
            counts.by_state[0][HostState::Serving as usize] = r.hosts;
            counts.available[0] = r.hosts;
            roles.push(RoleState {
                counts,
                stale: [0, 0],
                stale_ms: [0, 0],
                zones,
                weight_new: None,
                warming: [0, 0],
                next_zone: r.hosts,
                err_sum: [0.0; 2],
            });
        }
        let share_sum: f64 = sc.fleet.roles.iter().map(|r| r.traffic_share).sum();
        let shares = sc
            .fleet
            .roles
            .iter()
            .map(|r| r.traffic_share / share_sum)
            .collect();
        let faults = Faults::new(sc.faults.clone(), seed);
        let has_panics = sc.faults.iter().any(|f| {
            matches!(
                f,
                FaultRule::KernelPanic { .. } | FaultRule::ContainerCrash { .. }
            )
        });
        World {
            sc,
            traffic_rng: streams.stream("traffic"),
            outcome_rng: streams.stream("outcomes"),
            streams,
            sched: Scheduler::with_capacity(1024),
            horizon: SimTime::ZERO + sc.duration,
            hosts,
            current: vec![[Sample::default(); 2]; roles.len()],
            roles,
            picker,
            faults,
            has_panics,
            profiles,
            endpoint_now: Vec::new(),
            outage_noted: None,
            chaos: Vec::new(),
            hits: vec![Vec::new(); sc.faults.len()],
            restarts: crate::restart::Restarts::default(),
            provisioned_old: BTreeSet::new(),
            shares,
            min_ready,
            into_tick_ms: 0,
        }
    }

    /// Fault rule `rule` hit host `h`.
    fn hit(&mut self, rule: usize, h: u32) {
        let bits = &mut self.hits[rule];
        let (word, bit) = (h as usize / 64, h % 64);
        if bits.len() <= word {
            bits.resize(word + 1, 0);
        }
        bits[word] |= 1 << bit;
    }

    /// How many hosts each fault rule hit. A regression hits every host that
    /// ran its version; a registry outage hits none.
    fn fault_hits(&self) -> Vec<FaultHits> {
        // Hosts past the initial fleet were provisioned on the new version,
        // but for those an autoscaler brought up on the old one.
        let initial = self.sc.host_count() as usize;
        let ran = |version: &str| -> u64 {
            let old = version == self.sc.change.from;
            let new = version == self.sc.change.to;
            self.hosts
                .iter()
                .enumerate()
                .filter(|(i, h)| {
                    let ever_new = h.cohort == Cohort::New || h.moves > 0;
                    (new && ever_new)
                        || (old && (*i < initial || self.provisioned_old.contains(&(*i as u32))))
                })
                .count() as u64
        };
        self.sc
            .faults
            .iter()
            .enumerate()
            .map(|(i, rule)| FaultHits {
                fault: format!("faults[{i}]"),
                kind: rule.name().to_string(),
                hosts: match rule {
                    FaultRule::Regression { version, .. } => ran(version),
                    FaultRule::RegistryOutage { .. } => 0,
                    _ => self.hits[i].iter().map(|w| w.count_ones() as u64).sum(),
                },
            })
            .collect()
    }

    /// What the restart policy did (`None` without `[fleet.restart]`).
    fn restart_stats(&self) -> Option<RestartStats> {
        let p = self.sc.fleet.restart.as_ref()?;
        Some(RestartStats::of(p, &self.restarts))
    }

    /// Schedules chaos faults (live mode's `[[live.chaos]]` schedule).
    fn schedule_chaos(&mut self, chaos: &[crate::chaos::Fault]) {
        for (i, f) in chaos.iter().enumerate() {
            self.sched.schedule(
                f.at,
                Ev {
                    host: u32::MAX,
                    epoch: i as u32,
                    kind: HostEv::Chaos,
                },
            );
        }
        self.chaos = chaos.to_vec();
    }

    /// Draws every host's first kernel panic, if the scenario has any.
    fn arm_all(&mut self) {
        if self.has_panics {
            for h in 0..self.hosts.len() as u32 {
                self.arm(SimTime::ZERO, h);
            }
        }
    }

    /// What the summary needs to know about the fleet at the end.
    fn facts(&self) -> EnvFacts {
        let live = |c: usize| -> u64 {
            self.roles
                .iter()
                .map(|r| r.counts.view(c).total as u64)
                .sum()
        };
        // A host ran the new version if it was provisioned on it or ever
        // moved (every host starts on the old one; its first move is to the
        // new version).
        let ever_new = self
            .hosts
            .iter()
            .filter(|h| h.cohort == Cohort::New || h.moves > 0)
            .count();
        EnvFacts {
            hosts_live: live(0) + live(1),
            hosts_on_new: live(1),
            hosts_ever_new: ever_new as u64,
            events: self.sched.events_processed(),
        }
    }

    /// Applies every host event due at or before `t`.
    fn process_events_until(&mut self, t: SimTime, log: &mut AuditLog) {
        // Events up to `t` fall in the interval the tick at `t` measures.
        let start = t.as_millis().saturating_sub(self.sc.tick.as_millis());
        while let Some(at) = self.sched.peek_time() {
            if at > t {
                break;
            }
            let (now, ev) = self.sched.pop().expect("peeked");
            self.into_tick_ms = now.as_millis().saturating_sub(start);
            self.host_event(now, ev, log);
        }
        self.into_tick_ms = 0;
    }

    /// Where an audit row about host `h` points.
    fn place(&self, h: u32) -> Place<'s> {
        let host = self.hosts[h as usize];
        let role = &self.sc.fleet.roles[host.role as usize];
        Place {
            host: Some(h),
            role: &role.name,
            zone: &role.zones[host.zone as usize],
        }
    }

    // ---- hosts -------------------------------------------------------------

    fn set_state(&mut self, h: u32, state: HostState) {
        let host = &mut self.hosts[h as usize];
        let r = &mut self.roles[host.role as usize];
        let c = ci(host.cohort);
        if host.warm && state != HostState::Serving {
            host.warm = false;
            r.warming[c] -= 1;
        }
        let lose_available = state != HostState::Serving && host.available;
        if host.state == HostState::Serving && state != HostState::Serving {
            r.err_sum[c] -= host.err as f64;
        } else if host.state != HostState::Serving && state == HostState::Serving {
            r.err_sum[c] += host.err as f64;
        }
        for counts in [&mut r.counts, &mut r.zones[host.zone as usize].counts] {
            counts.by_state[c][host.state as usize] -= 1;
            counts.by_state[c][state as usize] += 1;
            if lose_available {
                counts.available[c] -= 1;
            }
        }
        host.state = state;
        if lose_available {
            host.available = false;
        }
    }

    fn set_stale(&mut self, h: u32, stale: bool) {
        let host = &mut self.hosts[h as usize];
        if host.stale != stale {
            host.stale = stale;
            let r = &mut self.roles[host.role as usize];
            let c = ci(host.cohort);
            // Counted for the whole interval from the tick on; the part of
            // it before (stale from now) or after (no longer) is corrected.
            let part = self.into_tick_ms as i64;
            if stale {
                r.stale[c] += 1;
                r.stale_ms[c] -= part;
            } else {
                r.stale[c] -= 1;
                r.stale_ms[c] += part;
            }
        }
    }

    fn set_cohort(&mut self, h: u32, cohort: Cohort) {
        let was_stale = self.hosts[h as usize].stale;
        self.set_stale(h, false);
        let host = &mut self.hosts[h as usize];
        let r = &mut self.roles[host.role as usize];
        let (from, to) = (ci(host.cohort), ci(cohort));
        if host.state == HostState::Serving {
            r.err_sum[from] -= host.err as f64;
            r.err_sum[to] += host.err as f64;
        }
        if host.warm {
            r.warming[from] -= 1;
            r.warming[to] += 1;
        }
        for counts in [&mut r.counts, &mut r.zones[host.zone as usize].counts] {
            counts.by_state[from][host.state as usize] -= 1;
            counts.by_state[to][host.state as usize] += 1;
            if host.available {
                counts.available[from] -= 1;
                counts.available[to] += 1;
            }
        }
        host.cohort = cohort;
        if was_stale {
            self.set_stale(h, true);
        }
    }

    /// Takes a host down: out of the load balancer at once if it drains,
    /// otherwise still routed to until health checks notice.
    fn take_down(&mut self, now: SimTime, h: u32, then: Then) {
        self.add_err(h, -(self.hosts[h as usize].err as f64));
        self.hosts[h as usize].armed = false;
        let serving = self.hosts[h as usize].state == HostState::Serving;
        let drain = self.sc.change.drain;
        if serving && !drain.is_zero() {
            self.set_state(h, HostState::Draining);
            self.schedule(now + drain, h, HostEv::DrainDone(then));
            return;
        }
        if serving {
            self.set_stale(h, true);
            self.schedule(now + self.sc.fleet.detection_delay, h, HostEv::Detected);
        }
        self.after_drain(now, h, then);
    }

    fn after_drain(&mut self, now: SimTime, h: u32, then: Then) {
        match then {
            Then::Upgrade => {
                self.set_state(h, HostState::Upgrading);
                let d = self.move_rng(h).install;
                self.schedule(now + d, h, HostEv::InstallDone);
            }
            Then::Terminate => self.set_state(h, HostState::Terminated),
        }
    }

    /// Queues a host event. One due after the scenario's end is dropped: no
    /// run processes events past it (`process_events_until` stops there), so
    /// it could never fire, and the order of those that can is untouched
    /// (sequence numbers keep their relative order). Most hosts' next panic
    /// lies beyond the end (a 5,000 h MTBF against 14 days), so a big fleet
    /// keeps a short queue.
    fn schedule(&mut self, at: SimTime, h: u32, kind: HostEv) {
        if at > self.horizon {
            return;
        }
        let epoch = self.hosts[h as usize].epoch;
        self.sched.schedule(
            at,
            Ev {
                host: h,
                epoch,
                kind,
            },
        );
    }

    /// Durations for this host's current move, drawn from its own key.
    fn move_rng(&self, h: u32) -> MoveTimes {
        let host = &self.hosts[h as usize];
        let mut rng = self
            .streams
            .keyed("upgrade", ((h as u64) << 16) | host.moves as u64);
        let install = self.sc.change.install_time.sample(&mut rng);
        let restart = self.sc.change.restart_time.sample(&mut rng);
        MoveTimes { install, restart }
    }

    fn become_serving(&mut self, now: SimTime, h: u32) {
        self.set_state(h, HostState::Serving);
        self.set_stale(h, false);
        if let Some(w) = &self.sc.fleet.warm_up {
            let host = &mut self.hosts[h as usize];
            if !host.warm {
                host.warm = true;
                self.roles[host.role as usize].warming[ci(host.cohort)] += 1;
            }
            let d = w.duration;
            self.schedule(now + d, h, HostEv::Warm);
        }
        if self.has_panics {
            self.arm(now, h);
        }
        if self.min_ready.is_zero() {
            self.mark_available(h);
        } else {
            self.schedule(now + self.min_ready, h, HostEv::Available);
        }
    }

    fn mark_available(&mut self, h: u32) {
        let host = &mut self.hosts[h as usize];
        if !host.available && host.state == HostState::Serving {
            host.available = true;
            let r = &mut self.roles[host.role as usize];
            r.counts.available[ci(host.cohort)] += 1;
            r.zones[host.zone as usize].counts.available[ci(host.cohort)] += 1;
        }
    }

    fn host_event(&mut self, now: SimTime, ev: Ev, log: &mut AuditLog) {
        if let HostEv::Chaos = ev.kind {
            return self.chaos_fault(now, ev.epoch as usize, log);
        }
        let h = ev.host;
        if self.hosts[h as usize].epoch != ev.epoch {
            return; // superseded by a later instruction
        }
        match ev.kind {
            HostEv::DrainDone(then) => self.after_drain(now, h, then),
            HostEv::InstallDone => {
                self.set_state(h, HostState::Restarting);
                let d = self.move_rng(h).restart;
                self.schedule(now + d, h, HostEv::RestartDone);
            }
            HostEv::RestartDone | HostEv::ProvisionDone => self.arrive(now, h, log),
            HostEv::Available => self.mark_available(h),
            HostEv::Warm => {
                let host = &mut self.hosts[h as usize];
                if host.warm {
                    host.warm = false;
                    self.roles[host.role as usize].warming[ci(host.cohort)] -= 1;
                }
            }
            HostEv::Detected => self.set_stale(h, false),
            HostEv::FaultEnd(rule) => self.fault_end(now, h, rule as usize, log),
            HostEv::FaultLater(rule) => self.fault_later(now, h, rule as usize, log),
            HostEv::Panic(rule) => self.panic(now, h, rule as usize, log),
            HostEv::Replaced => {
                self.restarts.forget(&h);
                let host = &mut self.hosts[h as usize];
                host.err = 0.0;
                let reason = "auto-replacement: a fresh host serves in its place";
                log.row(now, AuditKind::Fault, self.place(h), "replaced", reason);
                self.become_serving(now, h);
            }
            HostEv::Restarted => self.become_serving(now, h),
            HostEv::Chaos => {} // dispatched before the epoch check
        }
    }

    // ---- traffic -----------------------------------------------------------

    /// The traffic of `[t, t + tick)`: per role, requests ~ Poisson(rate ·
    /// tick), split over the cohorts, failed where they meet a host that is
    /// down but routed, capacity, a faulty host or the version's regression.
    fn traffic(&mut self, t: SimTime, log: &mut AuditLog) -> TickRow {
        let sc = self.sc;
        let tick = sc.tick;
        self.endpoint_now.clear();
        let tick_s = tick.as_secs_f64();
        let rps = self.sc.traffic.rps_at(t.as_secs_f64() + tick_s / 2.0);
        let (mut requests, mut failed) = (0u64, 0u64);
        for ri in 0..self.roles.len() {
            let lambda = rps * self.shares[ri] * tick_s;
            let n = self.traffic_rng.poisson(lambda);
            let cap = self.sc.fleet.roles[ri].capacity_rps * tick_s;
            // Stale hosts (down, still routed to) weighted by the share of
            // the interval they were stale: a host detected 200 ms into it
            // takes 20 % of a host's traffic, not none.
            let tick_ms = tick.as_millis() as f64;
            let r = &mut self.roles[ri];
            let stale: [f64; 2] = std::array::from_fn(|c| {
                ((r.stale[c] as f64 * tick_ms + r.stale_ms[c] as f64) / tick_ms).max(0.0)
            });
            r.stale_ms = [0, 0];
            let routable =
                |c: usize| r.counts.by_state[c][HostState::Serving as usize] as f64 + stale[c];
            let (ro, rn) = (routable(0), routable(1));
            let f_new = match r.weight_new {
                Some(w) if ro > 0.0 && rn > 0.0 => w / 100.0,
                _ if ro + rn == 0.0 => 0.0,
                _ => rn / (ro + rn),
            };
            let n_new = self.outcome_rng.binomial(n, f_new);
            let split = [n - n_new, n_new];
            let mut m = [Sample::default(); 2];
            for c in 0..2 {
                let version = if c == 0 {
                    &sc.change.from
                } else {
                    &sc.change.to
                };
                let r = &self.roles[ri];
                let serving = r.counts.by_state[c][HostState::Serving as usize];
                let stale = stale[c];
                let err_share = if serving > 0 {
                    (r.err_sum[c] / serving as f64).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                if let Some((rule, limit, recover_after)) = self.faults.load_limit(version) {
                    let per_host = if serving > 0 {
                        split[c] as f64 / tick_s / serving as f64
                    } else {
                        0.0
                    };
                    if per_host > limit {
                        self.crash_cohort(t, ri, c, (rule, recover_after, per_host, limit), log);
                        m[c] = Sample {
                            requests: split[c],
                            failed: split[c],
                            ..Sample::default()
                        };
                        failed = failed.saturating_add(split[c]);
                        continue;
                    }
                }
                // Warming hosts serve a share of their capacity.
                let warming = self.roles[ri].warming[c];
                let cap_per_host = match &sc.fleet.warm_up {
                    Some(w) if warming > 0 && serving > 0 => {
                        let full = (serving - warming.min(serving)) as f64;
                        cap * (full + warming.min(serving) as f64 * w.capacity) / serving as f64
                    }
                    _ => cap,
                };
                let infra = cohort_failures(
                    &mut self.outcome_rng,
                    split[c],
                    serving,
                    stale,
                    cap_per_host,
                    err_share,
                );
                m[c] = self.app_outcomes(ri, c, split[c], infra, version);
                failed = failed.saturating_add(m[c].failed);
            }
            requests = requests.saturating_add(n);
            self.current[ri] = m;
        }
        let mut row = TickRow::traffic(t, rps, requests, failed);
        for r in &self.roles {
            for (c, counts) in r.counts.by_state.iter().enumerate() {
                let live = counts.iter().sum::<u32>() - counts[HostState::Terminated as usize];
                if c == 0 {
                    row.hosts_old += live;
                } else {
                    row.hosts_new += live;
                }
                row.serving += counts[HostState::Serving as usize];
                row.draining += counts[HostState::Draining as usize];
                row.upgrading += counts[HostState::Upgrading as usize];
                row.restarting += counts[HostState::Restarting as usize];
                row.provisioning += counts[HostState::Provisioning as usize];
                row.crashed += counts[HostState::Crashed as usize];
                row.broken += counts[HostState::Broken as usize];
            }
        }
        row
    }
}

// ---- faults ----------------------------------------------------------------

/// Host attribute profiles: the distinct attribute sets of the fleet, each
/// with the version-dependent attributes of either cohort filled in.
#[derive(Default)]
struct Profiles {
    /// (role, attribute set) → profile id.
    ids: BTreeMap<(usize, Vec<(String, String)>), u16>,
    /// (role, the mixed values a host takes, as one mixed-radix number) →
    /// profile id: the same answer as `ids` without building the set, for
    /// every host after the first of its profile.
    by_choice: BTreeMap<(usize, u64), u16>,
    /// Per profile: the role name and its attributes as either cohort sees them.
    attrs: Vec<(usize, [BTreeMap<String, String>; 2])>,
    /// Per profile and cohort, its panic and crash hazards
    /// ([`Faults::panic_hazards`]: they depend on the role and attributes
    /// alone), found once.
    hazards: Vec<[Option<Hazards>; 2]>,
}

/// (rule, mean time to the crash, recovery) per hazard of a host.
type Hazards = Vec<(usize, SimDuration, Option<SimDuration>)>;

/// Low-discrepancy fractions per mixed attribute: host `i` of a role takes
/// each mixed value in proportion to its share, spread evenly over the role.
const MIX_ALPHA: [f64; 4] = [
    0.618_033_988_749_894_9,
    0.754_877_666_246_692_7,
    0.569_840_290_998_053_3,
    0.682_327_803_828_019_3,
];

/// Which value (by index) host `i` of a role takes for its `k`-th mixed
/// attribute: the last one unless an earlier share covers it.
fn mix_choice(k: usize, values: &BTreeMap<String, f64>, i: u32) -> usize {
    let u = ((i as f64 + 0.5) * MIX_ALPHA[k % 4] + 0.31 * (k / 4) as f64).fract();
    let mut acc = 0.0;
    for (j, share) in values.values().enumerate() {
        acc += share;
        if u < acc {
            return j;
        }
    }
    values.len().saturating_sub(1)
}

fn profile_of(p: &mut Profiles, ri: usize, role: &crate::scenario::Role, i: u32) -> u16 {
    // The values the host takes as one mixed-radix number (None if it
    // would not fit a u64).
    let key = role
        .mix
        .values()
        .enumerate()
        .try_fold((0u64, 1u64), |(key, radix), (k, values)| {
            let c = mix_choice(k, values, i) as u64;
            let key = key.checked_add(c.checked_mul(radix)?)?;
            Some((key, radix.checked_mul(values.len().max(1) as u64)?))
        })
        .map(|(key, _)| key);
    if let Some(&id) = key.and_then(|key| p.by_choice.get(&(ri, key))) {
        return id;
    }
    let mut set: Vec<(String, String)> = role
        .attributes
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, (attr, values)) in role.mix.iter().enumerate() {
        let c = mix_choice(k, values, i);
        let chosen = values.keys().nth(c).cloned().unwrap_or_default();
        set.retain(|(a, _)| a != attr);
        set.push((attr.clone(), chosen));
    }
    set.sort();
    let next = p.attrs.len() as u16;
    let id = *p.ids.entry((ri, set.clone())).or_insert_with(|| {
        let base: BTreeMap<String, String> = set.into_iter().collect();
        p.attrs.push((ri, [base.clone(), base]));
        next
    });
    if let Some(key) = key {
        p.by_choice.insert((ri, key), id);
    }
    id
}

impl World<'_> {
    /// Fills in the changed attribute and `version` for both cohorts of
    /// every profile (done once, lazily).
    fn profile_attrs(&mut self, profile: u16, cohort: Cohort) -> &BTreeMap<String, String> {
        let (_, sets) = &mut self.profiles.attrs[profile as usize];
        let set = &mut sets[ci(cohort)];
        if !set.contains_key("version") {
            let v = match cohort {
                Cohort::Old => &self.sc.change.from,
                Cohort::New => &self.sc.change.to,
            };
            set.insert(self.sc.change.attribute.clone(), v.clone());
            set.insert("version".into(), v.clone());
        }
        set
    }

    fn add_err(&mut self, h: u32, delta: f64) {
        if delta == 0.0 {
            return;
        }
        let host = &mut self.hosts[h as usize];
        host.err = (host.err as f64 + delta).clamp(0.0, 1.0) as f32;
        if host.state == HostState::Serving {
            self.roles[host.role as usize].err_sum[ci(host.cohort)] += delta;
        }
    }

    /// Runs `f` with the facts fault rules match on.
    fn with_facts<T>(&mut self, h: u32, f: impl FnOnce(&Faults, &HostFacts<'_>) -> T) -> T {
        let host = self.hosts[h as usize];
        let role = &self.sc.fleet.roles[host.role as usize].name;
        let version = match host.cohort {
            Cohort::Old => &self.sc.change.from,
            Cohort::New => &self.sc.change.to,
        };
        self.profile_attrs(host.profile, host.cohort);
        let attributes = &self.profiles.attrs[host.profile as usize].1[ci(host.cohort)];
        let facts = HostFacts {
            host: h,
            role,
            attributes,
            version,
            cohort: host.cohort,
            moves: host.moves,
        };
        f(&self.faults, &facts)
    }

    /// A host finished moving (or was provisioned): the fault rules decide
    /// whether it serves cleanly.
    fn arrive(&mut self, now: SimTime, h: u32, log: &mut AuditLog) {
        if self.faults.rules.is_empty() {
            return self.become_serving(now, h);
        }
        let fired = self.with_facts(h, |f, facts| f.on_arrival(facts));
        let broken = fired.iter().find_map(|(rule, a)| match a {
            Arrival::Broken { until } => Some((*rule, *until)),
            _ => None,
        });
        if let Some((rule, until)) = broken {
            self.hit(rule, h);
            self.set_state(h, HostState::Broken);
            let why = match until {
                Some(d) => format!("containers cannot start; fixed after {d}"),
                None => "containers cannot start; never fixed on this version".into(),
            };
            log.row(
                now,
                AuditKind::Fault,
                self.place(h),
                self.faults.rules[rule].name(),
                &why,
            );
            if let Some(d) = until {
                self.schedule(now + d, h, HostEv::FaultEnd(rule as u16));
            }
            return;
        }
        self.become_serving(now, h);
        for (rule, a) in fired {
            let name = self.faults.rules[rule].name();
            match a {
                Arrival::Errors { rate, until } => {
                    self.hit(rule, h);
                    self.add_err(h, rate);
                    let why = match until {
                        Some(d) => format!(
                            "{:.0} % of its requests fail until removed after {d}",
                            rate * 100.0
                        ),
                        None => format!("{:.0} % of its requests fail", rate * 100.0),
                    };
                    log.row(now, AuditKind::Fault, self.place(h), name, &why);
                    if let Some(d) = until {
                        self.schedule(now + d, h, HostEv::FaultEnd(rule as u16));
                    }
                }
                Arrival::Later { after, .. } => {
                    self.schedule(now + after, h, HostEv::FaultLater(rule as u16))
                }
                Arrival::Broken { .. } => unreachable!("handled above"),
            }
        }
    }

    fn fault_end(&mut self, now: SimTime, h: u32, rule: usize, log: &mut AuditLog) {
        let name = self.faults.rules[rule].name();
        if self.hosts[h as usize].state == HostState::Broken {
            log.row(
                now,
                AuditKind::Fault,
                self.place(h),
                name,
                "fixed: containers start again",
            );
            self.become_serving(now, h);
        } else if let FaultRule::OrphanedContainers {
            traffic_fraction, ..
        } = self.faults.rules[rule]
        {
            self.add_err(h, -traffic_fraction);
            log.row(
                now,
                AuditKind::Fault,
                self.place(h),
                name,
                "orphaned container reaped",
            );
        }
    }

    fn fault_later(&mut self, now: SimTime, h: u32, rule: usize, log: &mut AuditLog) {
        let effect = match &self.faults.rules[rule] {
            FaultRule::BadConfig {
                effect, error_rate, ..
            } => effect.with_rate(*error_rate),
            _ => return,
        };
        self.hit(rule, h);
        let name = self.faults.rules[rule].name();
        match effect {
            Effect::FailToStart => {
                self.set_state(h, HostState::Broken);
                log.row(
                    now,
                    AuditKind::Fault,
                    self.place(h),
                    name,
                    "the change broke the host: containers stopped",
                );
            }
            Effect::Errors(rate) => {
                self.add_err(h, rate);
                let why = format!(
                    "the change broke the host: {:.0} % of its requests fail",
                    rate * 100.0
                );
                log.row(now, AuditKind::Fault, self.place(h), name, &why);
            }
        }
    }

    /// Schedules the next panic of a serving host from its hazards.
    fn arm(&mut self, now: SimTime, h: u32) {
        if self.hosts[h as usize].armed || self.hosts[h as usize].state != HostState::Serving {
            return;
        }
        let (profile, c) = {
            let host = &self.hosts[h as usize];
            (host.profile as usize, ci(host.cohort))
        };
        if self.profiles.hazards.len() <= profile {
            self.profiles
                .hazards
                .resize_with(profile + 1, Default::default);
        }
        if self.profiles.hazards[profile][c].is_none() {
            let found = self.with_facts(h, |f, facts| f.panic_hazards(facts));
            self.profiles.hazards[profile][c] = Some(found);
        }
        let hazards = self.profiles.hazards[profile][c]
            .as_deref()
            .unwrap_or_default();
        if hazards.is_empty() {
            return;
        }
        let host = &mut self.hosts[h as usize];
        host.armed = true;
        let n = host.arms as u32;
        host.arms = host.arms.wrapping_add(1);
        // The earliest of the independent hazards fires.
        let mut first: Option<(SimDuration, usize)> = None;
        for &(rule, mean, _) in hazards {
            let d = SimDuration::from_millis_f64(
                self.faults
                    .rng(rule, h, n)
                    .exponential(mean.as_millis() as f64),
            );
            if first.is_none_or(|(best, _)| d < best) {
                first = Some((d, rule));
            }
        }
        if let Some((d, rule)) = first {
            self.schedule(now + d, h, HostEv::Panic(rule as u16));
        }
    }

    /// The host goes down at once with all its containers.
    fn crash(&mut self, now: SimTime, h: u32, recovery: Option<SimDuration>, then: HostEv) {
        let host = &mut self.hosts[h as usize];
        host.epoch += 1;
        host.armed = false;
        let err = host.err as f64;
        self.add_err(h, -err);
        if self.hosts[h as usize].state == HostState::Serving {
            self.set_stale(h, true);
            self.schedule(now + self.sc.fleet.detection_delay, h, HostEv::Detected);
        }
        self.set_state(h, HostState::Crashed);
        if let Some(d) = recovery {
            self.schedule(now + d, h, then);
        }
    }

    fn panic(&mut self, now: SimTime, h: u32, rule: usize, log: &mut AuditLog) {
        if self.hosts[h as usize].state != HostState::Serving {
            return;
        }
        let recovery = match self.faults.rules[rule] {
            FaultRule::KernelPanic { recovery, .. } => recovery,
            FaultRule::ContainerCrash { restart_time, .. } => {
                return self.container_crash(now, h, rule, restart_time, log)
            }
            _ => return,
        };
        let why = match recovery {
            Some(d) => format!("kernel panic: host and containers down; replaced after {d}"),
            None => "kernel panic: host and containers down; no automatic replacement".into(),
        };
        self.hit(rule, h);
        log.row(now, AuditKind::Fault, self.place(h), "kernel-panic", &why);
        self.crash(now, h, recovery, HostEv::Replaced);
    }

    /// A host's container crashed: the orchestrator restarts it after
    /// `restart_time`, or as the restart policy decides.
    fn container_crash(
        &mut self,
        now: SimTime,
        h: u32,
        rule: usize,
        restart_time: SimDuration,
        log: &mut AuditLog,
    ) {
        self.hit(rule, h);
        let sc = self.sc;
        let Some(policy) = &sc.fleet.restart else {
            let why = format!("container crashed; restarted, serving again after {restart_time}");
            log.row(
                now,
                AuditKind::Fault,
                self.place(h),
                "container-crash",
                &why,
            );
            return self.crash(now, h, Some(restart_time), HostEv::Restarted);
        };
        let end = SimTime::ZERO + sc.duration;
        let why = match self.restarts.on_crash(h, policy, now, end) {
            Decision::Restart { after, n } => {
                self.crash(now, h, Some(after + restart_time), HostEv::Restarted);
                if after.is_zero() {
                    format!(
                        "container crashed; restart policy {}: restart {n} at once, serving again after {restart_time}",
                        policy.policy.as_str()
                    )
                } else {
                    format!(
                        "container crashed; restart policy {}: crash-loop back-off {after}, then restart {n}, serving again {restart_time} later",
                        policy.policy.as_str()
                    )
                }
            }
            Decision::GiveUp => {
                self.crash(now, h, None, HostEv::Restarted);
                format!(
                    "container crashed; restart policy {}: not restarted",
                    policy.policy.as_str()
                )
            }
        };
        log.row(
            now,
            AuditKind::Fault,
            self.place(h),
            "container-crash",
            &why,
        );
    }

    /// Application-level outcomes of one cohort's requests: the endpoint mix
    /// (success rate and latency of each endpoint) and the version's
    /// regressions, on top of `infra` failures. Returns the cohort's scrape and
    /// records per-endpoint scrapes.
    fn app_outcomes(&mut self, role: usize, c: usize, n: u64, infra: u64, version: &str) -> Sample {
        let sc = self.sc;
        let regression = self.faults.regression(version);
        let endpoints = &sc.traffic.endpoints;
        if endpoints.is_empty() {
            let extra = match regression {
                Some((rate, _, _)) if rate > 0.0 => self.outcome_rng.binomial(n - infra, rate),
                _ => 0,
            };
            return Sample {
                requests: n,
                failed: infra + extra,
                ..Sample::default()
            };
        }
        let cohort = if c == 0 { Cohort::Old } else { Cohort::New };
        let p_infra = if n > 0 { infra as f64 / n as f64 } else { 0.0 };
        let mut total = Sample {
            requests: n,
            ..Sample::default()
        };
        let (mut left_n, mut left_share) = (n, 1.0f64);
        for (e, ep) in endpoints.iter().enumerate() {
            let n_e = if e + 1 == endpoints.len() {
                left_n
            } else {
                self.outcome_rng
                    .binomial(left_n, (ep.share / left_share).min(1.0))
            };
            left_n -= n_e;
            left_share -= ep.share;
            let (mut p_app, mut lat) = (1.0 - ep.success_rate, 1.0);
            if let Some((rate, factor, per_ep)) = regression {
                let (r, f) = per_ep
                    .get(&ep.name)
                    .map(|x| (x.error_rate, x.latency_factor))
                    .unwrap_or((rate, factor));
                p_app = 1.0 - (1.0 - p_app) * (1.0 - r);
                lat = f;
            }
            let p_fail = 1.0 - (1.0 - p_infra) * (1.0 - p_app);
            let failed = self.outcome_rng.binomial(n_e, p_fail);
            let mut sample = Sample {
                requests: n_e,
                failed,
                ..Sample::default()
            };
            if n_e > 0 {
                // Sample quantiles of a log-normal: asymptotically normal in log
                // space with sd σ·sqrt(p(1-p)/n)/φ(z_p); one shared draw per tick.
                let (mu, sigma) = ep.lognormal();
                let mu = mu + lat.ln();
                let z = self.outcome_rng.normal();
                let q = |zp: f64, p: f64| {
                    let phi = (-0.5 * zp * zp).exp() / (std::f64::consts::TAU).sqrt();
                    let sd = sigma * (p * (1.0 - p) / n_e as f64).sqrt() / phi;
                    (mu + sigma * zp + sd * z).exp()
                };
                sample.latency_p50_ms = q(0.0, 0.5);
                sample.latency_p95_ms = q(1.644_853_626_951_472_2, 0.95);
                sample.latency_p99_ms = q(2.326_347_874_040_840_8, 0.99);
                let w = n_e as f64 / n as f64;
                total.latency_p50_ms += w * sample.latency_p50_ms;
                total.latency_p95_ms += w * sample.latency_p95_ms;
                total.latency_p99_ms += w * sample.latency_p99_ms;
            }
            total.failed += failed;
            self.endpoint_now.push(EndpointSample {
                group: role,
                endpoint: e,
                cohort,
                sample,
            });
        }
        total
    }

    /// Applies one scheduled chaos fault, as the live driver does to
    /// containers: a replica is the role's n-th live host (by index), a host
    /// group its n-th zone. Kill, pause and network cut leave the host routed
    /// to until detection (pause and cut heal after their duration; a kill
    /// restarts its containers); SIGTERM drains first; host crash and daemon
    /// upgrade hit every host of the zone at once.
    fn chaos_fault(&mut self, now: SimTime, i: usize, log: &mut AuditLog) {
        use crate::chaos::{FaultKind, FaultTarget};
        let f = self.chaos[i].clone();
        if f.role >= self.roles.len() {
            return;
        }
        let live = |h: &u32| self.hosts[*h as usize].state != HostState::Terminated;
        let mut targets: Vec<u32> = match f.target {
            FaultTarget::Replica(n) => {
                let mut all: Vec<u32> = self.picker.all(f.role, None).filter(live).collect();
                all.sort_unstable();
                all.get(n as usize).copied().into_iter().collect()
            }
            FaultTarget::Zone(z) => self
                .picker
                .all(f.role, Some(z as usize))
                .filter(live)
                .collect(),
        };
        targets.sort_unstable();
        let restart = |w: &Self, h: u32| {
            let mut rng = w
                .streams
                .keyed("chaos-restart", ((i as u64) << 32) | h as u64);
            w.sc.change.restart_time.sample(&mut rng)
        };
        for h in targets {
            if self.hosts[h as usize].state != HostState::Serving {
                continue;
            }
            let why = format!("{} ({})", f.kind.as_str(), "scheduled chaos");
            log.row(now, AuditKind::Fault, self.place(h), "chaos", &why);
            match f.kind {
                FaultKind::Pause | FaultKind::NetworkCut => {
                    self.crash(now, h, Some(f.duration), HostEv::Restarted)
                }
                FaultKind::Kill | FaultKind::HostCrash | FaultKind::DaemonUpgrade => {
                    let d = self.sc.fleet.detection_delay + restart(self, h);
                    self.crash(now, h, Some(d), HostEv::Restarted);
                }
                FaultKind::Sigterm => {
                    let d = restart(self, h);
                    let host = &mut self.hosts[h as usize];
                    host.epoch += 1;
                    host.armed = false;
                    self.set_state(h, HostState::Restarting);
                    self.schedule(now + d, h, HostEv::Restarted);
                }
            }
        }
    }

    /// Whether a registry outage stops upgrades now; notes it once per outage
    /// in the audit log.
    fn upgrades_blocked(&mut self, now: SimTime, log: &mut AuditLog) -> bool {
        let Some((rule, until)) = self.faults.upgrades_blocked(now) else {
            return false;
        };
        if self.outage_noted != Some(rule) {
            self.outage_noted = Some(rule);
            let why = format!("package repository unreachable: no upgrade can start until {until}");
            log.row(
                now,
                AuditKind::Fault,
                Place::default(),
                "registry-outage",
                &why,
            );
        }
        true
    }

    /// Brings up a new host of `group` on the version of `cohort`.
    fn provision_in(&mut self, now: SimTime, group: usize, cohort: Cohort) -> HostRef {
        let h = self.hosts.len() as u32;
        let r = &mut self.roles[group];
        let zones = self.sc.fleet.roles[group].zones.len() as u32;
        let zone = (r.next_zone % zones) as u16;
        r.next_zone += 1;
        r.counts.by_state[ci(cohort)][HostState::Provisioning as usize] += 1;
        let z = &mut r.zones[zone as usize];
        z.counts.by_state[ci(cohort)][HostState::Provisioning as usize] += 1;
        self.picker.put(group, zone as usize, h, cohort);
        if cohort == Cohort::Old {
            self.provisioned_old.insert(h);
        }
        let ordinal = r.next_zone - 1;
        let profile = profile_of(
            &mut self.profiles,
            group,
            &self.sc.fleet.roles[group],
            ordinal,
        );
        self.hosts.push(Host {
            epoch: 0,
            role: group as u16,
            zone,
            moves: 0,
            cohort,
            state: HostState::Provisioning,
            available: false,
            stale: false,
            armed: false,
            profile,
            arms: 0,
            err: 0.0,
            warm: false,
        });
        let mut rng = self.streams.keyed("provision", h as u64);
        let d = self.sc.change.provision_time.sample(&mut rng);
        self.schedule(now + d, h, HostEv::ProvisionDone);
        HostRef {
            id: h,
            group,
            zone: zone as usize,
        }
    }

    /// Crashes every serving host of one cohort of a role (fails under load).
    fn crash_cohort(
        &mut self,
        now: SimTime,
        role: usize,
        c: usize,
        (rule, recover_after, rps_per_host, limit): (usize, SimDuration, f64, f64),
        log: &mut AuditLog,
    ) {
        let cohort = if c == 0 { Cohort::Old } else { Cohort::New };
        let hosts: Vec<u32> = self
            .picker
            .hosts(role, cohort)
            .filter(|h| self.hosts[*h as usize].state == HostState::Serving)
            .collect();
        let sc = self.sc;
        let at = Place {
            role: &sc.fleet.roles[role].name,
            ..Place::default()
        };
        let Some(policy) = &sc.fleet.restart else {
            let why = format!(
                "{} hosts carried {rps_per_host:.0} rps each (limit {limit:.0}) and crashed; back after {recover_after}",
                hosts.len()
            );
            log.row(now, AuditKind::Fault, at, "fails-under-load", &why);
            for h in hosts {
                self.hit(rule, h);
                self.crash(now, h, Some(recover_after), HostEv::Restarted);
            }
            return;
        };
        let why = format!(
            "{} hosts carried {rps_per_host:.0} rps each (limit {limit:.0}) and crashed",
            hosts.len()
        );
        log.row(now, AuditKind::Fault, at, "fails-under-load", &why);
        let end = SimTime::ZERO + sc.duration;
        let (mut at_once, mut backed_off, mut left) = (0u32, 0u32, 0u32);
        let mut longest = SimDuration::ZERO;
        for h in hosts {
            self.hit(rule, h);
            match self.restarts.on_crash(h, policy, now, end) {
                Decision::Restart { after, .. } => {
                    if after.is_zero() {
                        at_once += 1;
                    } else {
                        backed_off += 1;
                        longest = longest.max(after);
                    }
                    // After the back-off the container starts and takes the
                    // fault's own recovery time to serve again.
                    self.crash(now, h, Some(after + recover_after), HostEv::Restarted);
                }
                Decision::GiveUp => {
                    left += 1;
                    self.crash(now, h, None, HostEv::Restarted);
                }
            }
        }
        let mut parts = Vec::new();
        if at_once > 0 {
            parts.push(format!("{at_once} restarted at once"));
        }
        if backed_off > 0 {
            parts.push(format!(
                "{backed_off} in crash-loop back-off (up to {longest}) before their restart"
            ));
        }
        if left > 0 {
            parts.push(match policy.max_restarts {
                Some(m) if policy.policy == crate::restart::RestartKind::OnFailure => {
                    format!("{left} left down (max_restarts {m} used up)")
                }
                _ => format!("{left} left down"),
            });
        }
        let why = format!(
            "restart policy {}: {}; each serves again {recover_after} after its restart",
            policy.policy.as_str(),
            parts.join(", ")
        );
        log.row(now, AuditKind::Fault, at, "restart-policy", &why);
    }
}

/// The simulated fleet as the rollout harness sees it.
impl Environment for World<'_> {
    fn measure(&mut self, now: SimTime, log: &mut AuditLog) -> TickRow {
        self.traffic(now, log)
    }

    fn scrapes(&mut self) -> (&[[Sample; 2]], &mut Vec<EndpointSample>) {
        (&self.current, &mut self.endpoint_now)
    }

    fn views(&mut self, _now: SimTime, groups: &mut [GroupView], zones: &mut Vec<ZoneView>) {
        for (g, r) in groups.iter_mut().zip(&self.roles) {
            g.old = r.counts.view(0);
            g.new = r.counts.view(1);
        }
        for (gi, r) in self.roles.iter().enumerate() {
            for (zi, z) in r.zones.iter().enumerate() {
                zones.push(ZoneView {
                    group: gi,
                    zone: zi,
                    old: z.counts.view(0),
                    new: z.counts.view(1),
                });
            }
        }
    }

    fn take(&mut self, group: usize, zone: Option<usize>, from: Cohort) -> Option<HostRef> {
        let (id, zone) = self.picker.take(group, zone, from)?;
        Some(HostRef { id, group, zone })
    }

    fn move_host(&mut self, now: SimTime, h: HostRef, to: Cohort) {
        // A new version is a new container: its back-off starts over.
        self.restarts.forget(&h.id);
        self.picker.put(h.group, h.zone, h.id, to);
        let host = &mut self.hosts[h.id as usize];
        host.epoch += 1;
        host.moves = host.moves.wrapping_add(1);
        self.set_cohort(h.id, to);
        self.take_down(now, h.id, Then::Upgrade);
    }

    fn warming(&self) -> u32 {
        self.roles.iter().map(|r| r.warming[0] + r.warming[1]).sum()
    }

    fn provision(&mut self, now: SimTime, group: usize) -> HostRef {
        self.provision_in(now, group, Cohort::New)
    }

    fn provision_version(&mut self, now: SimTime, group: usize, cohort: Cohort) -> Option<HostRef> {
        Some(self.provision_in(now, group, cohort))
    }

    fn decommission(&mut self, now: SimTime, h: HostRef) {
        self.hosts[h.id as usize].epoch += 1;
        self.take_down(now, h.id, Then::Terminate);
    }

    fn set_weight(&mut self, group: usize, new_pct: Option<f64>) {
        self.roles[group].weight_new = new_pct;
    }

    fn can_upgrade(&mut self, now: SimTime, log: &mut AuditLog) -> bool {
        !self.upgrades_blocked(now, log)
    }
}

struct MoveTimes {
    install: SimDuration,
    restart: SimDuration,
}

/// Failed requests of one cohort in one tick for reasons of the
/// infrastructure: those that land on a host that is down but still routed,
/// those beyond serving capacity, and those a faulty host fails (`err_share`:
/// mean failing share over serving hosts).
fn cohort_failures(
    rng: &mut Rng,
    n: u64,
    serving: u32,
    stale: f64,
    capacity_per_host: f64,
    err_share: f64,
) -> u64 {
    if n == 0 {
        return 0;
    }
    let routed = serving as f64 + stale;
    if routed == 0.0 {
        return n;
    }
    let to_stale = if stale > 0.0 {
        rng.binomial(n, stale / routed)
    } else {
        0
    };
    let rest = n - to_stale;
    let capacity = (serving as f64 * capacity_per_host).floor() as u64;
    let over = rest.saturating_sub(capacity);
    let faulty = if err_share > 0.0 {
        rng.binomial(rest - over, err_share)
    } else {
        0
    };
    to_stale + over + faulty
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hazard whose next panic lies after the end is never queued: a
    /// 10,000-host fleet with a 5,000 h MTBF over one day keeps about 0.5 %
    /// of its hosts pending (each with probability 1 - e^(-24/5000)).
    #[test]
    fn no_event_after_the_end_is_queued() {
        let sc = Scenario::parse(
            r#"
name = "horizon"
duration = "1d"
tick = "1m"
[[fleet.roles]]
name = "web"
hosts = 10000
zones = ["a"]
attributes = { docker = "1", kernel = "3.16" }
[traffic]
curve = "constant"
rps = 1000
[change]
attribute = "docker"
from = "1"
to = "2"
[policy]
kind = "all-at-once"
[[faults]]
kind = "kernel-panic"
match = { kernel = "3.16" }
mtbf = "5000h"
"#,
            "horizon.toml",
        )
        .expect("a valid scenario");
        let mut w = World::new(&sc, 1, SimDuration::ZERO);
        w.arm_all();
        let pending = w.sched.len();
        // Binomial(10,000, 0.0048): mean 48, sd 6.9.
        assert!((20..=90).contains(&pending), "{pending} pending panics");
        assert!(w.hosts.iter().all(|h| h.armed));
        let mut last = SimTime::ZERO;
        while let Some((t, _)) = w.sched.pop() {
            last = t;
        }
        assert!(last <= SimTime::ZERO + sc.duration);
    }
}
