//! The live driver: real containers as an environment of the rollout
//! harness.
//!
//! The simulator and live mode run one harness, `shakedown_sim::rollout`:
//! it owns the policy, interprets its actions, keeps the audit log and the
//! monitoring lag, and builds the summary. The simulator's `World` is one
//! [`Environment`]; [`LiveFleet`] here is the other, with containers, a
//! draining router and an open-model load generator. Only the clock
//! differs: live mode sleeps until each tick on a scaled wall clock, then
//! calls the same `Rollout::tick`.
//!
//! ```text
//!   scenario role ──▶ group: N replica slots ──▶ one container each, behind the role's router
//!                                                  (sets: `stable` = old version, `canary` = new)
//!
//!   every tick (scenario tick / time scale, wall), LiveFleet as the harness asks:
//!     measure   router counters since the last tick ──▶ per-cohort Samples (requests, failed);
//!               the router's latency histogram of the cohort's set ──▶ p50 / p95 / p99
//!     views     slots ──▶ CohortViews (total / ready / available after min_ready)
//!     move_host     start a container of the target version, wait for the
//!                   router's health gate, then retire the slot's old one (a task)
//!     provision     a new slot: start, gate
//!     decommission  retire the slot's container
//!     set_weight    router weights between `stable` and `canary`
//!   retire = drain: out of the router, wait for in-flight, SIGTERM, grace, SIGKILL
//!            no drain (the classic mistake): SIGTERM while still routed;
//!            the router notices after `fleet.detection_delay`
//!   meanwhile: the prober takes replicas failing health checks for
//!   `detection_delay` out of the router and restarts them (chaos, crashes);
//!   the chaos task fires the scenario's faults at their scenario times.
//!   After the policy finishes, load runs `cooldown` longer.
//! ```
//!
//! Slots play the simulator's hosts and are kept in the same
//! [`Picker`] order (old ones lowest index first, new ones most recently
//! moved first). A slot moving in place keeps its old container serving
//! until the new one passes its health check, so an in-place rolling update
//! surges by one container per moving slot.
//!
//! Every request the load generator sends has exactly one outcome; the
//! run's verdict counts the non-ok ones ("dropped") against the scenario's
//! budget. The policy is shown the routers' per-cohort counts tick by tick
//! (what monitoring sees); once the load has stopped, the rows of
//! `timeseries.csv` are recounted from the load generator's per-tick counts
//! by intended send time (requests after the last tick are one last row),
//! so they sum to the summary's totals.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use futures::future::join_all;
use hdrhistogram::Histogram;
use shakedown_sim::chaos::{self, Fault, FaultKind, FaultTarget};
use shakedown_sim::protocol::{Cohort, CohortView, EndpointSample, GroupView, Sample, ZoneView};
use shakedown_sim::record::{AuditEvent, AuditKind, RestartStats, RunRecord, TickRow};
pub use shakedown_sim::record::{DroppedRequest, FaultRecord, LatencyMs, LiveSummary, MoveRecord};
use shakedown_sim::restart::{Decision as RestartDecision, Restarts};
use shakedown_sim::rollout::{
    AuditLog, End, EnvFacts, Environment, HostRef, Picker, Rollout, RunOptions,
};
use shakedown_sim::scenario::{Curve, Scenario};
use shakedown_sim::time::{SimDuration, SimTime};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::clock::{Clock, ScaledClock};
use crate::docker::{
    self, list_leftovers, probe_http, CleanupReport, ContainerHandle, ContainerSpec, Fleet,
    FleetConfig, RunId,
};
use crate::image::{ensure_fixture_image, image_exists, ImageRef};
use crate::live::{LiveSpec, VersionSource};
use crate::load::{
    run_load_until, LatencySummary, LoadConfig, LoadReport, OutcomeCounts, PhaseHandle, PhaseTag,
    RateSchedule, StopToken,
};
use crate::router::{self, AddOptions, RemoveOptions, RouterConfig, RouterError, RouterHandle};

/// Router set of the old cohort.
pub const SET_STABLE: &str = "stable";
/// Router set of the new cohort.
pub const SET_CANARY: &str = "canary";
/// Phase tag before the rollout starts.
pub const PHASE_BASELINE: &str = "baseline";

/// How to run one live scenario.
pub struct LiveOptions {
    /// Seed of the fault schedule (and of the fixture's `errors=P` draws).
    pub seed: u64,
    /// Overrides `[live] rps` and the traffic curve.
    pub rps: Option<f64>,
    /// Overrides `[live] time_scale`.
    pub time_scale: Option<f64>,
    /// Labels everything the run creates.
    pub run_id: RunId,
    /// Stop early (SIGINT): load stops, containers are rolled down and what
    /// was measured is returned.
    pub stop: StopToken,
    /// Called once per tick (a terminal status line).
    pub progress: Option<ProgressFn>,
}

impl LiveOptions {
    pub fn new(seed: u64) -> Self {
        LiveOptions {
            seed,
            rps: None,
            time_scale: None,
            run_id: RunId::new(),
            stop: StopToken::new(),
            progress: None,
        }
    }
}

/// The per-tick progress callback.
pub type ProgressFn = Box<dyn FnMut(&Progress) + Send>;

/// What the progress callback sees each tick.
#[derive(Clone, Debug)]
pub struct Progress {
    pub now: SimTime,
    pub phase: String,
    pub old: CohortView,
    pub new: CohortView,
    /// Requests the routers received so far, and how many failed.
    pub requests: u64,
    pub failed: u64,
}

impl From<LatencySummary> for LatencyMs {
    fn from(s: LatencySummary) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        LatencyMs {
            count: s.count,
            p50: ms(s.p50_us),
            p90: ms(s.p90_us),
            p99: ms(s.p99_us),
            p999: ms(s.p999_us),
            max: ms(s.max_us),
            mean: (s.mean_us / 1000.0 * 1000.0).round() / 1000.0,
        }
    }
}

/// Everything one live run produced.
pub struct LiveRecord {
    /// `summary.json` (simulator fields), `timeseries.csv`, `events.csv`.
    pub record: RunRecord,
    pub live: LiveSummary,
    /// Every non-ok request, by intended send time.
    pub dropped: Vec<DroppedRequest>,
    /// Latency of every request (µs from the intended send time), all roles.
    pub latency: Histogram<u64>,
    /// The load generator's report, per role.
    pub load: Vec<(String, LoadReport)>,
    /// The router's final counters, per role.
    pub routers: Vec<(String, router::RouterStats)>,
    pub moves: Vec<MoveRecord>,
    /// What the policy was shown each tick: per group, the old and new
    /// cohorts' last-interval samples (requests, failed, and the router's
    /// latency quantiles of the cohort's set).
    pub samples: Vec<CohortTick>,
    pub cleanup: CleanupReport,
}

/// One group's cohort samples at one tick.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CohortTick {
    pub time_s: f64,
    pub group: usize,
    pub old: Sample,
    pub new: Sample,
}

impl LiveRecord {
    /// Requests sent and their outcomes summed over roles (the accounting
    /// invariant: `sent == outcomes.total()`).
    pub fn totals(&self) -> (u64, OutcomeCounts) {
        let mut sent = 0;
        let mut o = OutcomeCounts::default();
        for (_, r) in &self.load {
            sent += r.sent;
            o.merge(&r.outcomes);
        }
        (sent, o)
    }
}

// ---------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------

/// What a gated container does to its slot.
enum Swap {
    /// Its gating was cancelled: the canceller retires it.
    NotMine,
    /// Gated, but not wanted any more.
    Discard,
    /// Took over the slot; the container it replaced, if any.
    In(Option<Box<Backend>>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SlotState {
    Serving,
    /// Out of the router, finishing in-flight requests (decommission).
    Draining,
    /// Moving in place: a container of the other version is starting.
    Upgrading,
    /// Detected down; being restarted.
    Restarting,
    /// A new slot whose container is starting.
    Provisioning,
    /// Its container could not be started.
    Crashed,
    Terminated,
}

#[derive(Clone, Debug)]
struct Backend {
    id: String,
    handle: ContainerHandle,
    cohort: Cohort,
}

#[derive(Debug)]
struct Slot {
    group: usize,
    index: u32,
    zone: usize,
    cohort: Cohort,
    state: SlotState,
    /// The container serving the slot (routed once gated).
    active: Option<Backend>,
    /// A container being gated for this slot (a move or a restart).
    pending: Option<Backend>,
    ready_since: Option<SimTime>,
    /// One of the replicas the run started with, untouched since: available
    /// from the start, as the simulator's initial hosts are.
    initial: bool,
    /// Ever served the new version (`hosts_ever_on_new_pct`).
    ever_new: bool,
    /// Bumped by every instruction; tasks of an older epoch back off.
    epoch: u64,
    /// Order of the last move (the most recent is moved back first).
    moved_seq: u64,
}

#[derive(Default)]
struct State {
    slots: Vec<Slot>,
    weight_new: Vec<Option<f64>>,
    next_zone: Vec<u32>,
    next_index: Vec<u32>,
    /// Backend id → (group, cohort), for metrics.
    cohort_of: BTreeMap<String, (usize, Cohort)>,
    events: Vec<AuditEvent>,
    moves: Vec<MoveRecord>,
    faults: Vec<FaultRecord>,
    errors: Vec<String>,
    move_seq: u64,
    containers_started: u64,
    backend_seq: u64,
    /// Crash-loop back-off per slot (group, index) since it arrived on its
    /// version, and what `[fleet.restart]` did (`summary.restarts`).
    restarts: Restarts<(usize, u32)>,
}

struct GroupCtx {
    name: String,
    zones: Vec<String>,
    router: RouterHandle,
    /// Serialises weight updates of this group's router.
    weights: Mutex<()>,
}

/// Image, behaviour and extra env of one version.
struct RunSpec {
    image: ImageRef,
    behaviour: String,
    env: Vec<(String, String)>,
}

struct Ctx {
    sc: Scenario,
    spec: LiveSpec,
    clock: ScaledClock,
    fleet: Fleet,
    /// Version → what its containers run.
    images: BTreeMap<String, RunSpec>,
    groups: Vec<GroupCtx>,
    state: Mutex<State>,
    phase: PhaseHandle,
    seed: u64,
    /// Stops background tasks (prober, chaos) at the end of the run.
    done: StopToken,
    detection: Duration,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Ctx {
    fn version_of(&self, c: Cohort) -> &str {
        match c {
            Cohort::Old => &self.sc.change.from,
            Cohort::New => &self.sc.change.to,
        }
    }

    fn set_of(c: Cohort) -> &'static str {
        match c {
            Cohort::Old => SET_STABLE,
            Cohort::New => SET_CANARY,
        }
    }

    fn note_error(&self, e: String) {
        eprintln!("shakedown live: {e}");
        lock(&self.state).errors.push(e);
    }

    /// Starts a container of cohort `c` for slot (`group`, `index`); not yet routed.
    async fn start_container(
        &self,
        group: usize,
        index: u32,
        zone: usize,
        c: Cohort,
    ) -> Result<Backend> {
        let version = self.version_of(c).to_string();
        let RunSpec {
            image,
            behaviour,
            env,
        } = &self.images[&version];
        let g = &self.groups[group];
        let id = {
            let mut st = lock(&self.state);
            st.backend_seq += 1;
            format!(
                "{}-{}-{}-{}",
                g.name,
                index,
                sanitize(&version),
                st.backend_seq
            )
        };
        let mut spec = ContainerSpec::new(image.clone(), id.as_str())
            .with_group(format!("{}.{}", g.name, g.zones[zone]))
            .with_version(version.as_str())
            .with_behaviour(behaviour.as_str())
            .with_env("SEED", self.seed.to_string());
        for (k, v) in env {
            spec = spec.with_env(k.as_str(), v.as_str());
        }
        let handle = self
            .fleet
            .start(spec)
            .await
            .with_context(|| format!("starting {id} ({version}, {behaviour})"))?;
        let mut st = lock(&self.state);
        st.containers_started += 1;
        st.cohort_of.insert(id.clone(), (group, c));
        Ok(Backend {
            id,
            handle,
            cohort: c,
        })
    }

    /// Registers `b` in its set behind the health gate; returns once routed.
    async fn route(&self, group: usize, b: &Backend) -> Result<(), RouterError> {
        let g = &self.groups[group];
        let opts = AddOptions {
            health_gate: self.spec.health_gate,
            health_timeout: g.router.config().health_timeout,
        };
        g.router
            .add_backend_with(Self::set_of(b.cohort), &b.id, b.handle.addr, opts)
            .await?;
        self.apply_weights(group, None);
        Ok(())
    }

    /// Router weights from routable counts (traffic follows capacity) or the
    /// policy's `SetWeight`, leaving out `leaving`.
    fn apply_weights(&self, group: usize, leaving: Option<&str>) {
        let g = &self.groups[group];
        let _serial = lock(&g.weights);
        let (mut ro, mut rn) = (0u32, 0u32);
        for b in g.router.backends() {
            if !b.routable || Some(b.id.as_str()) == leaving {
                continue;
            }
            if b.set == SET_STABLE {
                ro += 1;
            } else if b.set == SET_CANARY {
                rn += 1;
            }
        }
        let w = lock(&self.state).weight_new[group];
        let (wo, wn) = match w {
            Some(pct) if ro > 0 && rn > 0 => {
                let n = (pct * 100.0).round().clamp(0.0, 10_000.0) as u32;
                (10_000 - n, n)
            }
            // A set without routable backends takes no part whatever its
            // weight, so never 0 here: a stale count cannot black-hole traffic.
            _ => (ro.max(1), rn.max(1)),
        };
        let _ = g.router.set_weights(&[(SET_STABLE, wo), (SET_CANARY, wn)]);
    }

    /// Takes `b` out of service and removes its container. With `drain`, out
    /// of the router first (waiting for in-flight), then SIGTERM; without,
    /// SIGTERM while still routed and out of the router after the detection
    /// delay (the endpoint-removal race).
    async fn retire(&self, group: usize, b: Backend, drain: bool) {
        let g = &self.groups[group];
        let routed = g
            .router
            .backends()
            .iter()
            .any(|x| x.id == b.id && x.routable);
        let grace = self.spec.grace;
        if routed && drain {
            self.apply_weights(group, Some(&b.id));
            let opts = RemoveOptions {
                drain: true,
                drain_timeout: self.spec.drain_timeout,
                abort_in_flight: true,
                propagation_delay: Duration::ZERO,
            };
            if let Ok(router::DrainResult::TimedOut { in_flight, .. }) =
                g.router.remove_backend_with(&b.id, opts).await
            {
                self.note_error(format!(
                    "{}: drain timed out with {in_flight} requests in flight",
                    b.id
                ));
            }
            self.apply_weights(group, None);
            if let Err(e) = self.fleet.stop_graceful(&b.handle, grace).await {
                self.note_error(format!("stopping {}: {e:#}", b.id));
            }
        } else if routed {
            let unroute = async {
                tokio::time::sleep(self.detection).await;
                self.apply_weights(group, Some(&b.id));
                let _ = g.router.remove_backend_with(&b.id, no_drain()).await;
                self.apply_weights(group, None);
            };
            let (stopped, ()) = tokio::join!(self.fleet.stop_graceful(&b.handle, grace), unroute);
            if let Err(e) = stopped {
                self.note_error(format!("stopping {}: {e:#}", b.id));
            }
        } else {
            let _ = g.router.remove_backend_with(&b.id, no_drain()).await;
            let _ = self.fleet.stop_graceful(&b.handle, grace).await;
        }
        if let Err(e) = self.fleet.remove(&b.handle).await {
            self.note_error(format!("removing {}: {e:#}", b.id));
        }
    }

    fn slot_mut(st: &mut State, group: usize, index: u32) -> &mut Slot {
        st.slots
            .iter_mut()
            .find(|s| s.group == group && s.index == index)
            .expect("slots are never removed")
    }

    fn with_slot<R>(&self, group: usize, index: u32, f: impl FnOnce(&mut Slot) -> R) -> R {
        let mut st = lock(&self.state);
        f(Self::slot_mut(&mut st, group, index))
    }

    /// A slot moves to cohort `to` (in place) or is provisioned: start a
    /// container, gate it, swap it in, retire the previous one.
    async fn bring_up(
        self: Arc<Self>,
        group: usize,
        index: u32,
        epoch: u64,
        to: Cohort,
        mv: usize,
    ) {
        let zone = self.with_slot(group, index, |s| s.zone);
        let b = match self.start_container(group, index, zone, to).await {
            Ok(b) => b,
            Err(e) => {
                self.note_error(format!("{e:#}"));
                self.with_slot(group, index, |s| {
                    if s.epoch == epoch {
                        s.state = SlotState::Crashed;
                    }
                });
                return;
            }
        };
        let current = {
            let mut st = lock(&self.state);
            st.moves[mv].to_backend = Some(b.id.clone());
            let s = Self::slot_mut(&mut st, group, index);
            let current = s.epoch == epoch;
            if current {
                s.pending = Some(b.clone());
            }
            current
        };
        if !current {
            self.retire(group, b, false).await;
            return;
        }
        let gated = self.route(group, &b).await.is_ok();
        let now = self.clock.now();
        let swap = self.with_slot(group, index, |s| {
            // Whoever takes a pending container out of its slot retires it.
            if s.pending.as_ref().is_none_or(|p| p.id != b.id) {
                return Swap::NotMine;
            }
            s.pending = None;
            if !gated || s.epoch != epoch {
                return Swap::Discard;
            }
            s.state = SlotState::Serving;
            s.ready_since = Some(now);
            s.initial = false;
            s.ever_new |= to == Cohort::New;
            Swap::In(s.active.replace(b.clone()).map(Box::new))
        });
        match swap {
            Swap::NotMine | Swap::In(None) => {}
            // The gate timed out at the end of the run.
            Swap::Discard => self.retire(group, b, gated).await,
            Swap::In(Some(old)) => self.retire(group, *old, self.spec.drain).await,
        }
    }

    /// Decommission: retire the slot's container, then it is terminated.
    async fn take_down(self: Arc<Self>, group: usize, index: u32, epoch: u64) {
        let (active, pending) =
            self.with_slot(group, index, |s| (s.active.take(), s.pending.take()));
        if let Some(p) = pending {
            let same = active.as_ref().is_some_and(|a| a.handle.id == p.handle.id);
            self.cancel(group, p, same).await;
        }
        if let Some(a) = active {
            self.retire(group, a, self.spec.drain).await;
        }
        self.with_slot(group, index, |s| {
            if s.epoch == epoch {
                s.state = SlotState::Terminated;
                s.ready_since = None;
            }
        });
    }

    /// Takes a container being gated out of the way: its gating task sees
    /// `Removed` and leaves it to us. A restart of the slot's active
    /// container is only unrouted (the container stays the slot's).
    async fn cancel(&self, group: usize, p: Backend, same_container: bool) {
        if same_container {
            let _ = self.groups[group]
                .router
                .remove_backend_with(&p.id, no_drain())
                .await;
        } else {
            self.retire(group, p, false).await;
        }
    }

    fn set_phase(&self, step: &str) {
        if self.phase.current() != step {
            self.phase.set(step);
        }
    }

    fn audit(&self, now: SimTime, kind: AuditKind, step: &str, reason: &str) {
        lock(&self.state).events.push(AuditEvent {
            time_s: now.as_secs_f64(),
            kind,
            host: None,
            role: String::new(),
            zone: String::new(),
            from: String::new(),
            to: String::new(),
            step: step.to_string(),
            reason: reason.to_string(),
        });
    }

    // ---- health probing and recovery --------------------------------------

    /// Probes every serving replica of `group`; one failing for the
    /// detection delay is taken out of the router and restarted.
    async fn prober(self: Arc<Self>, group: usize) {
        let mut failing: BTreeMap<String, Instant> = BTreeMap::new();
        // Restarts per slot, without `[fleet.restart]` (the fixed back-off).
        let mut restarts: BTreeMap<u32, u32> = BTreeMap::new();
        let mut recoveries = JoinSet::new();
        let interval = self.spec.probe_interval;
        let timeout = interval.max(Duration::from_millis(250));
        let path = self.spec.health_path.clone();
        loop {
            tokio::select! {
                _ = self.done.stopped() => break,
                _ = tokio::time::sleep(interval) => {}
            }
            let targets: Vec<(u32, u64, Backend)> = {
                let st = lock(&self.state);
                st.slots
                    .iter()
                    .filter(|s| s.group == group && s.state == SlotState::Serving)
                    .filter_map(|s| s.active.clone().map(|b| (s.index, s.epoch, b)))
                    .collect()
            };
            let results = join_all(
                targets
                    .iter()
                    .map(|(_, _, b)| probe_http(b.handle.addr, &path, timeout)),
            )
            .await;
            let now = Instant::now();
            for ((index, epoch, b), r) in targets.into_iter().zip(results) {
                let healthy = matches!(r, Ok(p) if (200..300).contains(&p.status));
                if healthy {
                    failing.remove(&b.id);
                    continue;
                }
                let since = *failing.entry(b.id.clone()).or_insert(now);
                if now.duration_since(since) + interval < self.detection {
                    continue;
                }
                failing.remove(&b.id);
                let detected = {
                    let mut st = lock(&self.state);
                    let s = Self::slot_mut(&mut st, group, index);
                    if s.epoch == epoch && s.state == SlotState::Serving {
                        s.state = SlotState::Restarting;
                        s.ready_since = None;
                        s.initial = false;
                        true
                    } else {
                        false
                    }
                };
                if !detected {
                    continue;
                }
                let t = self.clock.now();
                self.audit(
                    t,
                    AuditKind::Detected,
                    "health-check",
                    &format!("{} failed its health checks; out of the router", b.id),
                );
                self.apply_weights(group, Some(&b.id));
                let _ = self.groups[group]
                    .router
                    .remove_backend_with(&b.id, no_drain())
                    .await;
                self.apply_weights(group, None);
                let Some((n, backoff)) =
                    self.restart_decision(t, (group, index, epoch), &b.id, &mut restarts)
                else {
                    continue;
                };
                recoveries.spawn(self.clone().recover(group, index, epoch, b, n, backoff));
            }
            while recoveries.try_join_next().is_some() {}
        }
        recoveries.shutdown().await;
    }

    /// A replica of slot (`group`, `index`, `epoch`) was found failing at
    /// `t`: restart number `n` after how long (wall), or `None` when the
    /// restart policy leaves it down (the slot is then crashed).
    ///
    /// With `[fleet.restart]` the simulator's state machine decides
    /// (`shakedown_sim::restart`: the kubelet's CrashLoopBackOff, Docker's
    /// restart count), its back-off on the scenario clock and measured from
    /// the detection; the slot's back-off starts over when it moves to
    /// another version (`move_host`), as a new container's does. Without it
    /// a replica is restarted after 100 ms doubling to 5 s, and never given
    /// up.
    fn restart_decision(
        &self,
        t: SimTime,
        (group, index, epoch): (usize, u32, u64),
        id: &str,
        restarts: &mut BTreeMap<u32, u32>,
    ) -> Option<(u32, Duration)> {
        let Some(policy) = &self.sc.fleet.restart else {
            let n = restarts.entry(index).or_insert(0);
            *n += 1;
            let wait = Duration::from_millis(100u64 << (*n).min(6)).min(Duration::from_secs(5));
            return Some((*n, wait));
        };
        let kind = policy.policy.as_str();
        let end = SimTime::ZERO + self.sc.duration;
        let decided = lock(&self.state)
            .restarts
            .on_crash((group, index), policy, t, end);
        let (decision, why) = match decided {
            RestartDecision::Restart { after, n } => {
                let why = if after.is_zero() {
                    format!("{id} down; restart policy {kind}: restart {n} at once")
                } else {
                    format!(
                        "{id} down; restart policy {kind}: crash-loop back-off {after}, then restart {n}"
                    )
                };
                (Some((n, self.clock.to_wall(after))), why)
            }
            RestartDecision::GiveUp => {
                let mut st = lock(&self.state);
                let s = Self::slot_mut(&mut st, group, index);
                if s.epoch == epoch && s.state == SlotState::Restarting {
                    s.state = SlotState::Crashed;
                }
                drop(st);
                (
                    None,
                    format!("{id} down; restart policy {kind}: not restarted"),
                )
            }
        };
        self.audit(t, AuditKind::Fault, "restart-policy", &why);
        decision
    }

    /// What `[fleet.restart]` did over the run (`None` without one).
    fn restart_stats(&self, st: &State) -> Option<RestartStats> {
        let p = self.sc.fleet.restart.as_ref()?;
        Some(RestartStats::of(p, &st.restarts))
    }

    /// Restarts a replica that failed its health checks (if it exited) and
    /// routes it again once healthy, unless the slot was told otherwise.
    async fn recover(
        self: Arc<Self>,
        group: usize,
        index: u32,
        epoch: u64,
        b: Backend,
        n: u32,
        backoff: Duration,
    ) {
        tokio::time::sleep(backoff).await;
        let current = |st: &mut State| {
            let s = Self::slot_mut(st, group, index);
            s.epoch == epoch && s.state == SlotState::Restarting
        };
        if !current(&mut lock(&self.state)) {
            return;
        }
        match self.fleet.status(&b.handle).await {
            Ok(st) if !st.running => {
                if let Err(e) = self.fleet.restart(&b.handle, self.spec.grace).await {
                    self.note_error(format!("restarting {}: {e:#}", b.id));
                    return;
                }
            }
            Ok(_) => {}
            Err(_) => return, // removed meanwhile
        }
        let again = Backend {
            id: format!("{}-r{n}", b.id),
            handle: b.handle.clone(),
            cohort: b.cohort,
        };
        {
            let mut st = lock(&self.state);
            if !current(&mut st) {
                return;
            }
            st.cohort_of.insert(again.id.clone(), (group, again.cohort));
            Self::slot_mut(&mut st, group, index).pending = Some(again.clone());
        }
        let routed = self.route(group, &again).await.is_ok();
        let keep = {
            let mut st = lock(&self.state);
            let now = self.clock.now();
            let ok = current(&mut st);
            let s = Self::slot_mut(&mut st, group, index);
            if s.pending.as_ref().is_some_and(|p| p.id == again.id) {
                s.pending = None;
            }
            if ok && routed {
                s.active = Some(again.clone());
                s.state = SlotState::Serving;
                s.ready_since = Some(now);
            }
            ok
        };
        if routed && !keep {
            let _ = self.groups[group]
                .router
                .remove_backend_with(&again.id, no_drain())
                .await;
            self.apply_weights(group, None);
        }
    }

    // ---- chaos ---------------------------------------------------------------

    async fn chaos(self: Arc<Self>, faults: Vec<Fault>) {
        let mut running = JoinSet::new();
        for f in faults {
            tokio::select! {
                _ = self.done.stopped() => break,
                _ = self.clock.sleep_until(f.at) => {}
            }
            running.spawn(self.clone().inject(f));
        }
        tokio::select! {
            _ = self.done.stopped() => {}
            _ = async { while running.join_next().await.is_some() {} } => {}
        }
        running.shutdown().await;
    }

    async fn inject(self: Arc<Self>, f: Fault) {
        let g = &self.groups[f.role];
        let now = self.clock.now();
        let (hit, result): (Vec<String>, String) = match f.target {
            FaultTarget::Replica(k) => {
                let target = {
                    let st = lock(&self.state);
                    let mut live: Vec<&Slot> = st
                        .slots
                        .iter()
                        .filter(|s| s.group == f.role && s.state != SlotState::Terminated)
                        .filter(|s| s.active.is_some() || s.pending.is_some())
                        .collect();
                    live.sort_by_key(|s| s.index);
                    (!live.is_empty())
                        .then(|| live[k as usize % live.len()])
                        .and_then(|s| s.active.clone().or_else(|| s.pending.clone()))
                };
                match target {
                    None => (Vec::new(), "no live replica".into()),
                    Some(b) => {
                        let r = self.replica_fault(f.kind, &b, f.duration).await;
                        (vec![b.id], r)
                    }
                }
            }
            FaultTarget::Zone(z) => {
                let zone = &g.zones[z as usize % g.zones.len()];
                let label = format!("{}.{zone}", g.name);
                let names: Vec<String> = {
                    let st = lock(&self.state);
                    st.slots
                        .iter()
                        .filter(|s| s.group == f.role && g.zones[s.zone] == *zone)
                        .flat_map(|s| s.active.iter().chain(s.pending.iter()))
                        .map(|b| b.id.clone())
                        .collect()
                };
                let r = match f.kind {
                    FaultKind::HostCrash => self
                        .fleet
                        .crash_group(&label)
                        .await
                        .map(|h| format!("{} containers killed", h.len())),
                    _ => self
                        .fleet
                        .restart_group(&label, self.spec.grace)
                        .await
                        .map(|h| format!("{} containers restarted", h.len())),
                };
                (names, r.unwrap_or_else(|e| format!("failed: {e:#}")))
            }
        };
        let reason = format!("{} {}: {result}", f.kind.as_str(), hit.join(" "));
        {
            let mut st = lock(&self.state);
            st.faults.push(FaultRecord {
                time_s: now.as_secs_f64(),
                action: f.kind.as_str(),
                role: g.name.clone(),
                backends: hit,
                result,
            });
            st.events.push(AuditEvent {
                time_s: now.as_secs_f64(),
                kind: AuditKind::Fault,
                host: None,
                role: g.name.clone(),
                zone: String::new(),
                from: String::new(),
                to: String::new(),
                step: "chaos".into(),
                reason,
            });
        }
    }

    async fn replica_fault(&self, kind: FaultKind, b: &Backend, d: SimDuration) -> String {
        let h = &b.handle;
        let wall = self.clock.to_wall(d);
        let r = match kind {
            FaultKind::Kill => self.fleet.kill(h).await.map(|()| "killed (SIGKILL)".into()),
            FaultKind::Sigterm => self.fleet.sigterm(h).await.map(|()| "SIGTERM sent".into()),
            FaultKind::Pause => {
                async {
                    self.fleet.pause(h).await?;
                    tokio::select! {
                        _ = self.done.stopped() => {}
                        _ = tokio::time::sleep(wall) => {}
                    }
                    self.fleet.unpause(h).await?;
                    Ok(format!("paused for {d}"))
                }
                .await
            }
            FaultKind::NetworkCut => {
                async {
                    self.fleet.disconnect_network(h).await?;
                    tokio::select! {
                        _ = self.done.stopped() => {}
                        _ = tokio::time::sleep(wall) => {}
                    }
                    self.fleet.reconnect_network(h).await?;
                    Ok(format!("network cut for {d}"))
                }
                .await
            }
            FaultKind::HostCrash | FaultKind::DaemonUpgrade => Err(anyhow!("not a replica fault")),
        };
        r.unwrap_or_else(|e: anyhow::Error| format!("failed: {e:#}"))
    }
}

fn no_drain() -> RemoveOptions {
    RemoveOptions {
        drain: false,
        drain_timeout: Duration::ZERO,
        abort_in_flight: true,
        propagation_delay: Duration::ZERO,
    }
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn view(slots: &[&Slot], c: Cohort, now: SimTime, min_ready: SimDuration) -> CohortView {
    let mut v = CohortView::default();
    for s in slots.iter().filter(|s| s.cohort == c) {
        if s.state == SlotState::Terminated {
            continue;
        }
        v.total += 1;
        if s.state == SlotState::Serving {
            v.ready += 1;
            if s.initial
                || s.ready_since
                    .is_some_and(|r| now.saturating_since(r) >= min_ready)
            {
                v.available += 1;
            }
        }
    }
    v
}

/// Per-backend cumulative router counters, to turn into per-tick deltas.
#[derive(Default)]
struct Counters {
    seen: BTreeMap<String, (u64, u64)>,
    no_backend: u64,
    requests: u64,
}

/// Fills `s`'s latency quantiles (ms) from an interval's histogram (µs);
/// left at 0 when nothing completed in the interval.
fn fill_latency(s: &mut Sample, h: &Histogram<u64>) {
    if h.is_empty() {
        return;
    }
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    s.latency_p50_ms = ms(0.50);
    s.latency_p95_ms = ms(0.95);
    s.latency_p99_ms = ms(0.99);
}

/// The last interval's metrics per cohort, and (requests, failed) for the row.
/// Latency quantiles are those of the requests the cohort's router set
/// completed in the interval (`stable` = old, `canary` = new); a router 503
/// "no backend" counts against the old cohort but has no latency.
fn sample(
    router: &RouterHandle,
    cohort_of: &BTreeMap<String, (usize, Cohort)>,
    c: &mut Counters,
) -> ([Sample; 2], u64, u64) {
    let stats = router.stats();
    let mut m = [Sample::default(); 2];
    let mut failed = 0;
    // Stats list every backend ever added; ids are unique per run.
    for b in &stats.backends {
        let (req, err) = (b.stats.requests, b.stats.errors);
        let prev = c.seen.insert(b.id.clone(), (req, err)).unwrap_or((0, 0));
        let (dr, de) = (req.saturating_sub(prev.0), err.saturating_sub(prev.1));
        let ci = match cohort_of.get(&b.id) {
            Some((_, Cohort::New)) => 1,
            _ => 0,
        };
        m[ci].requests += dr;
        m[ci].failed += de;
        failed += de;
    }
    let nb = stats.no_backend.saturating_sub(c.no_backend);
    c.no_backend = stats.no_backend;
    m[0].requests += nb;
    m[0].failed += nb;
    failed += nb;
    let requests = stats.requests.saturating_sub(c.requests);
    c.requests = stats.requests;
    fill_latency(&mut m[0], &router.take_latency(SET_STABLE));
    fill_latency(&mut m[1], &router.take_latency(SET_CANARY));
    (m, requests, failed.min(requests))
}

// ---------------------------------------------------------------------------
// The environment
// ---------------------------------------------------------------------------

/// The live fleet as the rollout harness ([`Rollout`]) sees it: each
/// instruction becomes container work on a task; the next ticks' views show
/// its progress. Host ids are positions in `State::slots` (never removed).
struct LiveFleet<'o> {
    ctx: Arc<Ctx>,
    tasks: JoinSet<()>,
    picker: Picker,
    counters: Vec<Counters>,
    /// This tick's scrapes per group and cohort. Live mode measures per
    /// cohort at the router, not per endpoint: `endpoints` stays empty
    /// (scenarios whose analyses need endpoints are rejected for live).
    current: Vec<[Sample; 2]>,
    endpoints: Vec<EndpointSample>,
    samples: Vec<CohortTick>,
    min_ready: SimDuration,
    offered: &'o (dyn Fn(SimTime) -> f64 + Sync),
}

impl LiveFleet<'_> {
    /// A new slot of `group` on the version of `cohort`: its container is
    /// started, gated and routed by a task.
    fn provision_slot(&mut self, now: SimTime, group: usize, cohort: Cohort) -> HostRef {
        let ctx = &self.ctx;
        let mut st = lock(&ctx.state);
        let zones = ctx.groups[group].zones.len() as u32;
        let zone = (st.next_zone[group] % zones) as usize;
        st.next_zone[group] += 1;
        let index = st.next_index[group];
        st.next_index[group] += 1;
        st.move_seq += 1;
        let seq = st.move_seq;
        let id = st.slots.len() as u32;
        st.slots.push(Slot {
            group,
            index,
            zone,
            cohort,
            state: SlotState::Provisioning,
            active: None,
            pending: None,
            ready_since: None,
            initial: false,
            ever_new: false,
            epoch: 1,
            moved_seq: seq,
        });
        let mv = st.moves.len();
        st.moves.push(MoveRecord {
            time_s: now.as_secs_f64(),
            step: ctx.phase.current(),
            role: ctx.groups[group].name.clone(),
            slot: index,
            action: "provision",
            to: cohort,
            from_backend: None,
            to_backend: None,
        });
        drop(st);
        self.picker.put(group, zone, id, cohort);
        self.tasks
            .spawn(ctx.clone().bring_up(group, index, 1, cohort, mv));
        HostRef { id, group, zone }
    }

    /// Old and new cohorts over all groups (the progress line).
    fn fleet_views(&self, now: SimTime) -> (CohortView, CohortView) {
        let st = lock(&self.ctx.state);
        let all: Vec<&Slot> = st.slots.iter().collect();
        (
            view(&all, Cohort::Old, now, self.min_ready),
            view(&all, Cohort::New, now, self.min_ready),
        )
    }
}

impl Environment for LiveFleet<'_> {
    fn measure(&mut self, now: SimTime, log: &mut AuditLog) -> TickRow {
        let ctx = &self.ctx;
        let (mut requests, mut failed) = (0, 0);
        let cohort_of = lock(&ctx.state).cohort_of.clone();
        for gi in 0..ctx.groups.len() {
            let (m, r, f) = sample(&ctx.groups[gi].router, &cohort_of, &mut self.counters[gi]);
            self.current[gi] = m;
            self.samples.push(CohortTick {
                time_s: now.as_secs_f64(),
                group: gi,
                old: m[0],
                new: m[1],
            });
            requests += r;
            failed += f;
        }
        let mut st = lock(&ctx.state);
        // Faults and detections the background tasks logged since the last tick.
        log.extend(std::mem::take(&mut st.events));
        let mut row = TickRow::traffic(now, (self.offered)(now), requests, failed);
        for s in &st.slots {
            if s.state != SlotState::Terminated {
                match s.cohort {
                    Cohort::Old => row.hosts_old += 1,
                    Cohort::New => row.hosts_new += 1,
                }
            }
            match s.state {
                SlotState::Serving => row.serving += 1,
                SlotState::Draining => row.draining += 1,
                SlotState::Upgrading => row.upgrading += 1,
                SlotState::Restarting => row.restarting += 1,
                SlotState::Provisioning => row.provisioning += 1,
                SlotState::Crashed => row.crashed += 1,
                SlotState::Terminated => {}
            }
        }
        row
    }

    fn scrapes(&mut self) -> (&[[Sample; 2]], &mut Vec<EndpointSample>) {
        (&self.current, &mut self.endpoints)
    }

    fn views(&mut self, now: SimTime, groups: &mut [GroupView], zones: &mut Vec<ZoneView>) {
        let st = lock(&self.ctx.state);
        for (gi, (g, ctx)) in groups.iter_mut().zip(&self.ctx.groups).enumerate() {
            let mine: Vec<&Slot> = st.slots.iter().filter(|s| s.group == gi).collect();
            g.old = view(&mine, Cohort::Old, now, self.min_ready);
            g.new = view(&mine, Cohort::New, now, self.min_ready);
            for zi in 0..ctx.zones.len() {
                let inz: Vec<&Slot> = mine.iter().copied().filter(|s| s.zone == zi).collect();
                zones.push(ZoneView {
                    group: gi,
                    zone: zi,
                    old: view(&inz, Cohort::Old, now, self.min_ready),
                    new: view(&inz, Cohort::New, now, self.min_ready),
                });
            }
        }
    }

    fn take(&mut self, group: usize, zone: Option<usize>, from: Cohort) -> Option<HostRef> {
        let (id, zone) = self.picker.take(group, zone, from)?;
        Some(HostRef { id, group, zone })
    }

    /// Starts a container of the other version for the slot; its old one
    /// keeps serving until the new one passes the health gate.
    fn move_host(&mut self, now: SimTime, h: HostRef, to: Cohort) {
        self.picker.put(h.group, h.zone, h.id, to);
        let ctx = &self.ctx;
        let mut st = lock(&ctx.state);
        st.move_seq += 1;
        let seq = st.move_seq;
        let index = st.slots[h.id as usize].index;
        // A new container of the other version: its back-off starts over.
        st.restarts.forget(&(h.group, index));
        let s = &mut st.slots[h.id as usize];
        s.epoch += 1;
        s.moved_seq = seq;
        s.cohort = to;
        s.ready_since = None;
        s.initial = false;
        let epoch = s.epoch;
        let cancelled = s.pending.take().map(|p| {
            let same = s
                .active
                .as_ref()
                .is_some_and(|a| a.handle.id == p.handle.id);
            (p, same)
        });
        // Moving back a slot whose new container never took over: its old
        // one still serves.
        let back_in_place = cancelled.is_some()
            && s.active.as_ref().is_some_and(|b| b.cohort == to)
            && s.state != SlotState::Crashed;
        let from_backend = s.active.as_ref().map(|b| b.id.clone());
        if back_in_place {
            s.state = SlotState::Serving;
            s.ready_since = Some(now);
        } else {
            s.state = SlotState::Upgrading;
        }
        let mv = st.moves.len();
        st.moves.push(MoveRecord {
            time_s: now.as_secs_f64(),
            step: ctx.phase.current(),
            role: ctx.groups[h.group].name.clone(),
            slot: index,
            action: "update",
            to,
            from_backend: if back_in_place { None } else { from_backend },
            to_backend: None,
        });
        drop(st);
        if let Some((p, same)) = cancelled {
            let ctx = ctx.clone();
            self.tasks
                .spawn(async move { ctx.cancel(h.group, p, same).await });
        }
        if !back_in_place {
            self.tasks
                .spawn(ctx.clone().bring_up(h.group, index, epoch, to, mv));
        }
    }

    fn provision(&mut self, now: SimTime, group: usize) -> HostRef {
        self.provision_slot(now, group, Cohort::New)
    }

    /// The autoscaler's scale-up: a new slot on either version, brought up
    /// as [`Environment::provision`] brings up one on the new version.
    fn provision_version(&mut self, now: SimTime, group: usize, cohort: Cohort) -> Option<HostRef> {
        Some(self.provision_slot(now, group, cohort))
    }

    fn decommission(&mut self, now: SimTime, h: HostRef) {
        let ctx = &self.ctx;
        let mut st = lock(&ctx.state);
        let s = &mut st.slots[h.id as usize];
        let index = s.index;
        let cohort = s.cohort;
        s.epoch += 1;
        s.state = SlotState::Draining;
        s.ready_since = None;
        s.initial = false;
        let epoch = s.epoch;
        let from_backend = s.active.as_ref().map(|b| b.id.clone());
        st.moves.push(MoveRecord {
            time_s: now.as_secs_f64(),
            step: ctx.phase.current(),
            role: ctx.groups[h.group].name.clone(),
            slot: index,
            action: "decommission",
            to: cohort,
            from_backend,
            to_backend: None,
        });
        drop(st);
        self.tasks
            .spawn(ctx.clone().take_down(h.group, index, epoch));
    }

    fn set_weight(&mut self, group: usize, new_pct: Option<f64>) {
        lock(&self.ctx.state).weight_new[group] = new_pct;
        self.ctx.apply_weights(group, None);
    }

    fn enter_step(&mut self, step: &str) {
        self.ctx.set_phase(step);
    }
}

// ---------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------

/// Runs `sc` live: containers, routers, load, the policy, chaos; then rolls
/// everything down and returns what was measured. Errors only if the run
/// could not start (no engine, image missing); once load runs, everything
/// is accounted and returned, including after `opts.stop`.
pub async fn run_live(sc: &Scenario, spec: &LiveSpec, mut opts: LiveOptions) -> Result<LiveRecord> {
    let scale = opts.time_scale.unwrap_or(spec.time_scale);
    crate::live::check_time_scale(scale).map_err(|m| anyhow!("time scale {m}"))?;
    let wall_started = Instant::now();

    // Images.
    let fixture = if spec.needs_fixture_image() {
        Some(
            ensure_fixture_image()
                .await
                .context("building the fixture image")?
                .image,
        )
    } else {
        None
    };
    let mut images = BTreeMap::new();
    for (version, v) in &spec.versions {
        let entry = match &v.source {
            VersionSource::Fixture { behaviour } => RunSpec {
                image: fixture.clone().expect("built above"),
                behaviour: behaviour.clone(),
                env: v.env.clone(),
            },
            VersionSource::Image { image, behaviour } => {
                if !image_exists(image).await? {
                    return Err(anyhow!(
                        "image {image} (version {version}) is not in the local engine; build or load it first (nothing is pulled)"
                    ));
                }
                RunSpec {
                    image: image.clone().with_health_path(spec.health_path.as_str()),
                    behaviour: behaviour.clone().unwrap_or_else(|| "good".into()),
                    env: v.env.clone(),
                }
            }
        };
        images.insert(version.clone(), entry);
    }

    let clock_probe = ScaledClock::start(scale);
    let run_wall = clock_probe.to_wall(sc.duration) + Duration::from_secs(30);
    let detection = clock_probe
        .to_wall(sc.fleet.detection_delay)
        .max(spec.probe_interval);

    // Routers, one per role.
    let mut groups = Vec::new();
    for r in &sc.fleet.roles {
        let router = router::start(RouterConfig {
            health_gate: spec.health_gate,
            health_path: spec.health_path.clone(),
            health_timeout: run_wall,
            drain: spec.drain,
            drain_timeout: spec.drain_timeout,
            retries: spec.retries,
            upstream_timeout: spec.request_timeout + Duration::from_secs(1),
            ..RouterConfig::default()
        })
        .await
        .map_err(|e| anyhow!("starting the router for role {}: {e}", r.name))?;
        groups.push(GroupCtx {
            name: r.name.clone(),
            zones: r.zones.clone(),
            router,
            weights: Mutex::new(()),
        });
    }

    let fleet = Fleet::new(FleetConfig::new(opts.run_id.clone()).with_limits(spec.limits.clone()))
        .await
        .context("connecting to the Docker engine")?;
    let n_groups = groups.len();
    let mut slots = Vec::new();
    for (gi, r) in sc.fleet.roles.iter().enumerate() {
        for i in 0..r.hosts {
            slots.push(Slot {
                group: gi,
                index: i,
                zone: i as usize % r.zones.len(),
                cohort: Cohort::Old,
                state: SlotState::Provisioning,
                active: None,
                pending: None,
                ready_since: None,
                initial: true,
                ever_new: false,
                epoch: 0,
                moved_seq: 0,
            });
        }
    }
    let ctx = Arc::new(Ctx {
        sc: sc.clone(),
        spec: spec.clone(),
        clock: clock_probe,
        fleet,
        images,
        state: Mutex::new(State {
            slots,
            weight_new: vec![None; n_groups],
            next_zone: sc.fleet.roles.iter().map(|r| r.hosts).collect(),
            next_index: sc.fleet.roles.iter().map(|r| r.hosts).collect(),
            cohort_of: BTreeMap::new(),
            events: Vec::new(),
            moves: Vec::new(),
            faults: Vec::new(),
            errors: Vec::new(),
            move_seq: 0,
            containers_started: 0,
            backend_seq: 0,
            restarts: Restarts::default(),
        }),
        groups,
        phase: PhaseTag::new(PHASE_BASELINE),
        seed: opts.seed,
        done: StopToken::new(),
        detection,
    });

    // Bring up the old version, every replica behind the health gate.
    let bring_up = async {
        let mut starts = Vec::new();
        for (gi, r) in sc.fleet.roles.iter().enumerate() {
            for i in 0..r.hosts {
                let ctx = ctx.clone();
                starts.push(async move {
                    let zone = i as usize % ctx.groups[gi].zones.len();
                    let b = ctx.start_container(gi, i, zone, Cohort::Old).await?;
                    ctx.route(gi, &b)
                        .await
                        .map_err(|e| anyhow!("{} never became healthy: {e}", b.id))?;
                    ctx.with_slot(gi, i, |s| {
                        s.active = Some(b);
                        s.state = SlotState::Serving;
                        s.epoch = 1;
                    });
                    Ok::<(), anyhow::Error>(())
                });
            }
        }
        for r in join_all(starts).await {
            r?;
        }
        Ok::<(), anyhow::Error>(())
    };
    let started = tokio::select! {
        r = bring_up => r,
        _ = opts.stop.stopped() => Err(anyhow!("interrupted while starting the containers")),
    };
    if let Err(e) = started {
        teardown_on_error(ctx).await;
        return Err(e);
    }
    for gi in 0..n_groups {
        ctx.apply_weights(gi, None);
    }

    let setup_s = wall_started.elapsed().as_secs_f64();
    // The clock starts with the load.
    let clock = ScaledClock::start(scale);
    let mut ctx = ctx;
    match Arc::get_mut(&mut ctx) {
        Some(c) => c.clock = clock.clone(),
        None => unreachable!("the bring-up tasks have finished"),
    }
    let offered = |t: SimTime| -> f64 {
        match opts.rps.or(spec.rps) {
            Some(r) => r,
            None => sc.traffic.rps_at(t.as_secs_f64()),
        }
    };
    let share_sum: f64 = sc.fleet.roles.iter().map(|r| r.traffic_share).sum();
    let load_stop = StopToken::new();
    let mut loads = Vec::new();
    for (gi, r) in sc.fleet.roles.iter().enumerate() {
        let share = if share_sum > 0.0 {
            r.traffic_share / share_sum
        } else {
            0.0
        };
        let traffic = &sc.traffic;
        let flat = traffic.spikes.is_empty() && traffic.weekend_factor == 1.0;
        let rate = match (opts.rps.or(spec.rps), &traffic.curve) {
            (Some(rps), _) => RateSchedule::Constant(rps * share),
            (None, Curve::Constant { rps }) if flat => RateSchedule::Constant(rps * share),
            (None, _) => {
                let traffic = traffic.clone();
                RateSchedule::Function(Arc::new(move |t: Duration| {
                    (traffic.rps_at(t.as_secs_f64() * scale) * share).min(crate::live::MAX_RPS)
                }))
            }
        };
        let spike = traffic.spikes.iter().map(|s| s.factor).fold(1.0, f64::max);
        let peak = match opts.rps.or(spec.rps) {
            Some(rps) => rps,
            None => (traffic.peak_rps() * spike).min(crate::live::MAX_RPS),
        } * share;
        let mut cfg = LoadConfig::new(ctx.groups[gi].router.url("/"), 0.0);
        cfg.rate = rate;
        cfg.max_duration = run_wall;
        cfg.max_requests = (peak * run_wall.as_secs_f64() * 1.2) as u64 + 1000;
        cfg.timeout = spec.request_timeout;
        cfg.connections = spec.connections;
        // Per simulated tick, so the rows can be the load generator's.
        cfg.interval = Some(clock.to_wall(sc.tick));
        loads.push(tokio::spawn(run_load_until(
            cfg,
            ctx.phase.clone(),
            load_stop.clone(),
        )));
    }

    let mut tasks: JoinSet<()> = JoinSet::new();
    for gi in 0..n_groups {
        tasks.spawn(ctx.clone().prober(gi));
    }
    let faults = chaos::schedule(opts.seed, &spec.chaos, &chaos::role_shapes(&sc.fleet));
    if !faults.is_empty() {
        tasks.spawn(ctx.clone().chaos(faults));
    }

    // The tick loop: the simulator's harness, on a scaled wall clock.
    let mut rollout =
        Rollout::new(sc, RunOptions::full(opts.seed)).stop_after_finish(spec.cooldown);
    let mut env = LiveFleet {
        picker: {
            let st = lock(&ctx.state);
            let mut p = Picker::new(ctx.groups.iter().map(|g| g.zones.len()));
            for (id, s) in st.slots.iter().enumerate() {
                p.add_initial(s.group, s.zone, id as u32);
            }
            p
        },
        ctx,
        tasks,
        counters: (0..n_groups).map(|_| Counters::default()).collect(),
        current: vec![[Sample::default(); 2]; n_groups],
        endpoints: Vec::new(),
        samples: Vec::new(),
        min_ready: rollout.min_ready(),
        offered: &offered,
    };
    let mut interrupted = false;
    let mut last_t = SimTime::ZERO;
    while let Some(t) = rollout.next_tick() {
        tokio::select! {
            _ = opts.stop.stopped() => { interrupted = true; break; }
            _ = clock.sleep_until(t) => {}
        }
        last_t = t;
        rollout.tick(t, &mut env);
        if let Some(p) = opts.progress.as_mut() {
            let (old, new) = env.fleet_views(t);
            let (requests, failed) = rollout.totals();
            p(&Progress {
                now: t,
                phase: env.ctx.phase.current(),
                old,
                new,
                requests,
                failed,
            });
        }
        while env.tasks.try_join_next().is_some() {}
    }
    // The last row counts the requests of its whole tick, as the
    // simulator's does: the load runs to its end.
    if !interrupted {
        tokio::select! {
            _ = opts.stop.stopped() => interrupted = true,
            _ = clock.sleep_until(last_t + sc.tick) => {}
        }
    }
    // Stop the load first (in-flight requests complete), then roll down.
    let load_stopped = Instant::now();
    load_stop.stop();
    let mut load = Vec::new();
    for (gi, h) in loads.into_iter().enumerate() {
        let name = env.ctx.groups[gi].name.clone();
        match h.await {
            Ok(Ok(r)) => load.push((name, r)),
            Ok(Err(e)) => env
                .ctx
                .note_error(format!("load generator for {name}: {e}")),
            Err(e) => env
                .ctx
                .note_error(format!("load generator for {name} panicked: {e}")),
        }
    }
    // The rows are the load generator's counts by intended send time, which
    // account for every request it sent (the routers' counts, measured tick
    // by tick, miss requests in flight and those after the last tick, the
    // last partial one of an interrupted run). Row `i` counts the requests
    // meant for `[t_i, t_i + tick)`, as the simulator's rows do; the last
    // row also those meant for after it.
    {
        let ticks = rollout.ticks_processed() as usize;
        let mut per_tick = vec![(0u64, 0u64); ticks];
        for (_, r) in &load {
            for (j, &(n, bad)) in r.intervals.iter().enumerate() {
                // Stragglers meant for after the last tick (a slow stop)
                // count in the last row.
                if let Some(slot) = per_tick.get_mut(j.min(ticks.saturating_sub(1))) {
                    slot.0 += n;
                    slot.1 += bad;
                }
            }
        }
        rollout.recount(&per_tick);
    }
    let LiveFleet {
        ctx,
        mut tasks,
        samples,
        ..
    } = env;
    // Background tasks (prober, chaos) stop on `done` and shut their own
    // tasks down; move tasks still waiting on a drain or a gate are aborted.
    ctx.done.stop();
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    tasks.shutdown().await;
    let routers: Vec<(String, router::RouterStats)> = ctx
        .groups
        .iter()
        .map(|g| (g.name.clone(), g.router.stats()))
        .collect();
    for g in &ctx.groups {
        g.router.shutdown();
    }
    let run_id = opts.run_id.clone();
    let st = std::mem::take(&mut *lock(&ctx.state));
    let restarts = ctx.restart_stats(&st);
    // Faults and detections are logged when they complete: order by time.
    rollout.log().extend(st.events);
    rollout.log().sort_by_time();
    let live = |c: Cohort| {
        st.slots
            .iter()
            .filter(|s| s.cohort == c && s.state != SlotState::Terminated)
            .count() as u64
    };
    let facts = EnvFacts {
        hosts_live: live(Cohort::Old) + live(Cohort::New),
        hosts_on_new: live(Cohort::New),
        hosts_ever_new: st.slots.iter().filter(|s| s.ever_new).count() as u64,
        events: (st.moves.len() + st.faults.len()) as u64,
    };
    let cleanup = match last_reference(ctx).await {
        Ok(c) => c.fleet.shutdown().await,
        // An aborted task has not let go of the context yet: remove the run
        // by its labels (the fleet's own drop does it again, harmlessly).
        Err(_) => docker::cleanup_run(&run_id).await,
    }
    .unwrap_or_else(|e| {
        eprintln!("shakedown live: removing the run's containers: {e:#}");
        CleanupReport::default()
    });
    let teardown_s = load_stopped.elapsed().as_secs_f64();
    let mut errors = st.errors;
    let leftovers = match list_leftovers(Some(&run_id)).await {
        Ok(l) if l.is_empty() => Vec::new(),
        Ok(l) => {
            let _ = docker::cleanup_run(&run_id).await;
            l.containers.into_iter().chain(l.networks).collect()
        }
        Err(e) => {
            errors.push(format!("listing leftovers: {e:#}"));
            Vec::new()
        }
    };

    // Results.
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
    let mut service = latency.clone();
    let mut dropped = Vec::new();
    let mut outcomes = OutcomeCounts::default();
    let mut per_phase: BTreeMap<String, OutcomeCounts> = BTreeMap::new();
    let mut sent = 0u64;
    for (name, r) in &load {
        sent += r.sent;
        outcomes.merge(&r.outcomes);
        let _ = latency.add(&r.histogram);
        let _ = service.add(&r.service_histogram);
        for (p, c) in &r.per_phase {
            per_phase.entry(p.clone()).or_default().merge(c);
        }
        for x in &r.non_ok {
            let time = SimTime::ZERO + clock.to_sim(x.intended);
            dropped.push(DroppedRequest {
                role: name.clone(),
                id: x.id,
                intended_s: x.intended.as_secs_f64(),
                time_s: time.as_secs_f64(),
                phase: x.phase.clone(),
                backend: x.backend.clone().unwrap_or_default(),
                kind: x.outcome.as_str().to_string(),
                status: x.status,
                latency_ms: x.latency.as_secs_f64() * 1000.0,
            });
        }
    }
    dropped.sort_by(|a, b| a.intended_s.total_cmp(&b.intended_s).then(a.id.cmp(&b.id)));
    let non_ok = outcomes.non_ok();
    // The harness's summary, over the recounted rows: its requests are the
    // load generator's.
    let how = if interrupted {
        End::Interrupted
    } else {
        End::Time
    };
    let mut record = rollout.finish(last_t, how, facts);
    record.summary.restarts = restarts;
    debug_assert_eq!(
        (
            record.summary.requests_total,
            record.summary.requests_failed
        ),
        (sent, non_ok),
        "the rows account for every request sent"
    );
    let live = LiveSummary {
        mode: "live",
        run_id: run_id.to_string(),
        time_scale: scale,
        rps: offered(SimTime::ZERO),
        wall_duration_s: wall_started.elapsed().as_secs_f64(),
        setup_s,
        teardown_s,
        interrupted,
        requests_dropped: non_ok,
        dropped_budget: spec.budget,
        verdict: if non_ok <= spec.budget {
            "pass"
        } else {
            "fail"
        },
        outcomes,
        latency_ms: LatencySummary::of(&latency).into(),
        service_latency_ms: LatencySummary::of(&service).into(),
        router_retries: routers.iter().map(|(_, s)| s.retries).sum(),
        drain: spec.drain,
        health_gate: spec.health_gate,
        versions: spec
            .versions
            .iter()
            .map(|(k, v)| (k.clone(), v.describe()))
            .collect(),
        containers_started: st.containers_started,
        faults: st.faults,
        per_phase,
        first_dropped: dropped.iter().take(10).cloned().collect(),
        infra_errors: errors,
        leftovers,
    };
    Ok(LiveRecord {
        record,
        live,
        dropped,
        latency,
        load,
        routers,
        moves: st.moves,
        samples,
        cleanup,
    })
}

/// Waits (briefly) until `ctx` is the last reference: aborted tasks drop
/// theirs when the runtime next gets to them.
/// The simulation of what live mode ran — the same seed and chaos schedule,
/// the constant rate live mode offered if it overrode the scenario's
/// traffic, ended its cooldown after the policy finished — beside the live
/// run (`shakedown live --compare-sim`).
pub fn compare_with_sim(
    sc: &Scenario,
    spec: &LiveSpec,
    rps: Option<f64>,
    seed: u64,
    rec: &LiveRecord,
) -> shakedown_sim::experiment::sim_vs_live::SideBySide {
    let mut twin = sc.clone();
    if let Some(r) = rps.or(spec.rps) {
        twin.traffic.curve = Curve::Constant { rps: r };
        twin.traffic.spikes.clear();
        twin.traffic.weekend_factor = 1.0;
    }
    shakedown_sim::experiment::sim_vs_live::calibrate(&twin, &rec.record, |s| {
        shakedown_sim::world::run_until_cooled(s, RunOptions::full(seed), spec.cooldown)
    })
}

async fn last_reference(mut ctx: Arc<Ctx>) -> Result<Ctx, Arc<Ctx>> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match Arc::try_unwrap(ctx) {
            Ok(c) => return Ok(c),
            Err(shared) if Instant::now() >= deadline => return Err(shared),
            Err(shared) => ctx = shared,
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn teardown_on_error(ctx: Arc<Ctx>) {
    ctx.done.stop();
    for g in &ctx.groups {
        g.router.shutdown();
    }
    let run = ctx.fleet.run_id().clone();
    match last_reference(ctx).await {
        Ok(c) => {
            let _ = c.fleet.shutdown().await;
        }
        Err(_) => {
            let _ = docker::cleanup_run(&run).await;
        }
    }
}
