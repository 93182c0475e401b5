//! Live mode end to end: the shipped `scenarios/live/*.toml` run for real
//! against the local Docker engine (fixture image built locally, containers
//! on 127.0.0.1, load through the draining router).
//!
//! Without an engine the tests print a skip message and return, except with
//! `CI=true`, where they fail: a skip must never pass for a green CI run.
//! The live tests take a process-wide lock and run one at a time (the
//! machines have two cores; 500 rps, a router and containers are enough).
//!
//! Every run checks the accounting (requests sent = sum of outcomes, per
//! role, per phase, per id) and the clean-up (nothing labelled with the run's
//! id remains).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use shakedown_integration::docker::{engine_available, list_leftovers, RunId};
use shakedown_integration::driver::{run_live, LiveOptions, LiveRecord};
use shakedown_integration::live::LiveSpec;
use shakedown_integration::load::{Outcome, StopToken};
use shakedown_sim::policy::Cohort;
use shakedown_sim::{RunOptions, Scenario};

static LIVE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn scenario(name: &str) -> (Scenario, LiveSpec) {
    let path = repo().join("scenarios/live").join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let file = format!("scenarios/live/{name}");
    let sc = Scenario::parse(&text, &file).unwrap_or_else(|e| panic!("{e}"));
    let spec = LiveSpec::from_scenario(&sc, &text, &file).unwrap_or_else(|e| panic!("{e}"));
    (sc, spec)
}

/// `true` if the engine answers. Otherwise skip (print and return `false`),
/// or panic when `CI=true`.
async fn engine_or_skip(test: &str) -> bool {
    match engine_available().await {
        Ok(_) => true,
        Err(e) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "{test}: the Docker engine is unreachable ({e:#}). CI=true, so this is a \
                     failure, not a skip: live-mode tests need a running engine."
                );
            }
            eprintln!("SKIPPED {test}: Docker engine unreachable ({e:#}); not run, not passed");
            false
        }
    }
}

/// Runs a shipped live scenario, then checks accounting and clean-up.
async fn run(name: &str, opts: impl FnOnce(&mut LiveOptions)) -> LiveRecord {
    let (sc, spec) = scenario(name);
    let mut o = LiveOptions::new(sc.seed);
    opts(&mut o);
    let run_id = o.run_id.clone();
    let t0 = Instant::now();
    let rec = run_live(&sc, &spec, o)
        .await
        .unwrap_or_else(|e| panic!("{name}: {e:#}"));
    eprintln!(
        "{name}: {} in {:.1} s wall; sent {}, dropped {}; outcome {}; {:?}",
        run_id,
        t0.elapsed().as_secs_f64(),
        rec.record.summary.requests_total,
        rec.live.requests_dropped,
        rec.record.summary.outcome,
        rec.live.outcomes
    );
    check_accounting(name, &rec);
    check_cleanup(name, &run_id, &rec).await;
    rec
}

/// Test 7: every request has exactly one outcome, everywhere it is counted.
fn check_accounting(name: &str, rec: &LiveRecord) {
    let (sent, outcomes) = rec.totals();
    assert!(sent > 0, "{name}: no load was sent");
    assert_eq!(sent, outcomes.total(), "{name}: sent != sum of outcomes");
    assert_eq!(rec.record.summary.requests_total, sent, "{name}");
    assert_eq!(
        rec.record.summary.requests_failed,
        outcomes.non_ok(),
        "{name}"
    );
    assert_eq!(rec.live.requests_dropped, outcomes.non_ok(), "{name}");
    // Issue 15 item 3: the rows of timeseries.csv sum to the summary, the
    // requests after the last whole tick included (an interrupted run's
    // last moments were missing: 8–485 requests short).
    let rows = rec
        .record
        .ticks
        .iter()
        .fold((0, 0), |(r, f), t| (r + t.requests, f + t.failed));
    assert_eq!(
        rows,
        (
            rec.record.summary.requests_total,
            rec.record.summary.requests_failed
        ),
        "{name}: timeseries rows (requests, failed) vs the summary"
    );
    assert!(
        rec.record.summary.failed_requests_during_rollout <= rec.record.summary.requests_failed,
        "{name}"
    );
    for (role, r) in &rec.load {
        assert_eq!(r.sent, r.outcomes.total(), "{name}/{role}");
        let per_phase: u64 = r.per_phase.values().map(|c| c.total()).sum();
        assert_eq!(
            per_phase, r.sent,
            "{name}/{role}: phases account for every request"
        );
        let per_second: u64 = r.timeline.iter().map(|b| b.sent).sum();
        assert_eq!(
            per_second, r.sent,
            "{name}/{role}: the timeline accounts for every request"
        );
        assert_eq!(
            r.non_ok_dropped, 0,
            "{name}/{role}: non-ok records were capped"
        );
        assert_eq!(r.non_ok.len() as u64, r.outcomes.non_ok(), "{name}/{role}");
        let ids: BTreeSet<u64> = r.non_ok.iter().map(|x| x.id).collect();
        assert_eq!(
            ids.len(),
            r.non_ok.len(),
            "{name}/{role}: a request counted twice"
        );
        assert!(
            ids.iter().all(|&id| id < r.sent),
            "{name}/{role}: id out of range"
        );
        assert!(r.non_ok.iter().all(|x| x.outcome != Outcome::Ok));
    }
    assert_eq!(
        rec.dropped.len() as u64,
        outcomes.non_ok(),
        "{name}: requests.csv rows"
    );
    let csv = String::from_utf8(shakedown_reports::live::requests_csv(&rec.dropped)).unwrap();
    assert_eq!(csv.lines().count() as u64, 1 + outcomes.non_ok(), "{name}");
    // The summary carries the simulator's fields and live mode's.
    let json: serde_json::Value = serde_json::from_str(&shakedown_reports::live::summary_json(
        &rec.record.summary,
        &rec.live,
    ))
    .unwrap();
    for key in [
        "scenario",
        "policy",
        "outcome",
        "requests_total",
        "requests_failed",
        "failed_requests_during_rollout",
        "peak_hosts_unavailable_pct",
        "requests_dropped",
        "latency_ms",
        "verdict",
        "time_scale",
    ] {
        assert!(
            json.get(key).is_some(),
            "{name}: summary.json lacks `{key}`"
        );
    }
    assert!(!rec.record.ticks.is_empty());
    assert!(shakedown_reports::live::latency_hdr(&rec.latency).len() > 10);
}

/// Test 8: nothing labelled with the run id is left.
async fn check_cleanup(name: &str, run_id: &RunId, rec: &LiveRecord) {
    assert!(
        rec.live.leftovers.is_empty(),
        "{name}: {:?}",
        rec.live.leftovers
    );
    let left = list_leftovers(Some(run_id)).await.unwrap();
    assert!(
        left.is_empty(),
        "{name}: leftovers of run {run_id}: {left:?}"
    );
}

fn backends_of(rec: &LiveRecord, version: &str) -> BTreeSet<String> {
    rec.routers
        .iter()
        .flat_map(|(_, s)| s.backends.iter())
        .map(|b| b.id.clone())
        .filter(|id| id.split('-').nth(2) == Some(version))
        .collect()
}

// ---------------------------------------------------------------------------

/// Every shipped live scenario is a valid simulator scenario (it runs in the
/// simulator) and a valid live one. No engine needed.
#[test]
fn shipped_live_scenarios_validate_and_simulate() {
    let dir = repo().join("scenarios/live");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "toml") {
            continue;
        }
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        let (sc, spec) = scenario(&name);
        let rec = shakedown_sim::run(&sc, RunOptions::summary_only(sc.seed));
        assert!(rec.summary.requests_total > 0, "{name}");
        assert!(spec.versions.contains_key(&sc.change.from));
        n += 1;
    }
    assert!(n >= 3, "expected the shipped live scenarios, found {n}");
}

/// Regression (found by the live tests' accounting): a stop while idle
/// workers held slots due after the cut counted those slots as sent, one per
/// connection, so `sent` exceeded the sum of outcomes by up to 64.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_stop_with_slots_taken_ahead_counts_only_what_was_sent() {
    use shakedown_integration::load::{run_load_until, LoadConfig, PhaseTag};
    use shakedown_integration::router::{self, RouterConfig};
    // A router without backends answers 503 at once: workers are idle and
    // each holds its next slot while it waits for its intended time.
    let r = router::start(RouterConfig::default()).await.unwrap();
    let mut cfg = LoadConfig::new(r.url("/"), 500.0);
    cfg.max_duration = Duration::from_secs(10);
    let stop = StopToken::new();
    let s2 = stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(400)).await;
        s2.stop();
    });
    let rep = run_load_until(cfg, PhaseTag::new("p"), stop).await.unwrap();
    assert_eq!(rep.sent, rep.outcomes.total());
    assert_eq!(rep.sent, rep.outcomes.http_5xx);
    assert!((150..=260).contains(&rep.sent), "{}", rep.sent);
    r.shutdown();
}

/// Test 1: drained, health-gated rolling update of good → good: not one
/// request is lost, and the report says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_good_loses_no_request() {
    if !engine_or_skip("rolling_good_loses_no_request").await {
        return;
    }
    let _one = LIVE.lock().await;
    let rec = run("rolling-good.toml", |_| {}).await;
    let s = &rec.record.summary;
    assert_eq!(s.outcome, "completed", "{}", s.outcome_reason);
    assert_eq!(s.hosts_on_new_pct, 100.0);
    assert!(
        s.requests_total >= 5_000,
        "~500 rps for ~15 s: {}",
        s.requests_total
    );
    assert_eq!(
        rec.live.requests_dropped, 0,
        "dropped: {:?}",
        rec.live.first_dropped
    );
    assert_eq!(rec.live.outcomes.ok, s.requests_total);
    assert_eq!(rec.live.verdict, "pass");
    let json = shakedown_reports::live::summary_json(&rec.record.summary, &rec.live);
    assert!(json.contains("\"requests_dropped\": 0"), "{json}");
    assert!(json.contains("\"verdict\": \"pass\""), "{json}");
    // The policy moved every replica, each through the health gate.
    let updates: Vec<_> = rec.moves.iter().filter(|m| m.action == "update").collect();
    assert_eq!(updates.len(), 3, "{:?}", rec.moves);
    assert!(updates
        .iter()
        .all(|m| m.to == Cohort::New && m.to_backend.is_some()));
    assert_eq!(backends_of(&rec, "v2").len(), 3);
    // The new replicas served.
    let served_by_new: u64 = rec
        .routers
        .iter()
        .flat_map(|(_, s)| s.backends.iter())
        .filter(|b| b.id.contains("-v2-"))
        .map(|b| b.stats.ok)
        .sum();
    assert!(served_by_new > 0);
}

/// Test 2: no drain and an old version that exits on SIGTERM: drops are
/// detected and pinned on the replica being replaced, in its batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_without_drain_drops_requests_on_the_replaced_replica() {
    if !engine_or_skip("rolling_without_drain_drops_requests_on_the_replaced_replica").await {
        return;
    }
    let _one = LIVE.lock().await;
    let rec = run("rolling-no-drain.toml", |_| {}).await;
    let s = &rec.record.summary;
    assert_eq!(s.outcome, "completed", "{}", s.outcome_reason);
    assert!(rec.live.requests_dropped > 0, "no drop detected");
    assert_eq!(rec.live.verdict, "fail");
    assert!(s.failed_requests_during_rollout > 0);
    // Which batch retired which old replica.
    let retired: BTreeMap<String, String> = rec
        .moves
        .iter()
        .filter_map(|m| Some((m.from_backend.clone()?, m.step.clone())))
        .collect();
    assert_eq!(retired.len(), 3, "{:?}", rec.moves);
    let mut batches = BTreeSet::new();
    for d in &rec.dropped {
        let step = retired.get(&d.backend).unwrap_or_else(|| {
            panic!("dropped request on a replica that was not being replaced: {d:?}")
        });
        assert_eq!(&d.phase, step, "attributed to the wrong phase: {d:?}");
        assert!(d.backend.contains("-v1-"), "{d:?}");
        assert!(
            ["http_5xx", "reset", "connect_refused"].contains(&d.kind.as_str()),
            "{d:?}"
        );
        batches.insert(step.clone());
    }
    assert!(
        batches.len() >= 2,
        "the race should hit more than one batch: {batches:?}"
    );
    // The router saw the same failures on those replicas.
    let router_errors: u64 = rec
        .routers
        .iter()
        .flat_map(|(_, s)| s.backends.iter())
        .filter(|b| retired.contains_key(&b.id))
        .map(|b| b.stats.errors)
        .sum();
    assert_eq!(router_errors, rec.live.requests_dropped);
}

/// Test 6: kill -9 one of three replicas mid-rollout: each request it
/// failed is counted once, traffic continues on the others, and the
/// rollout still completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_kill_counts_each_failed_request_once() {
    if !engine_or_skip("chaos_kill_counts_each_failed_request_once").await {
        return;
    }
    let _one = LIVE.lock().await;
    let rec = run("chaos-kill.toml", |_| {}).await;
    let s = &rec.record.summary;
    assert_eq!(rec.live.faults.len(), 1, "{:?}", rec.live.faults);
    let fault = &rec.live.faults[0];
    assert_eq!(fault.action, "kill");
    assert!(fault.result.contains("killed"), "{fault:?}");
    let killed = fault.backends[0].clone();
    assert!(killed.contains("-v1-"), "an old replica: {killed}");
    assert!(rec.live.requests_dropped > 0, "the kill was not felt");
    // Only the killed replica failed requests, each counted once by the
    // load generator and once by the router.
    assert!(
        rec.dropped.iter().all(|d| d.backend == killed),
        "failures elsewhere: {:?}",
        rec.dropped.iter().find(|d| d.backend != killed)
    );
    let router_errors = rec.routers[0].1.backend(&killed).unwrap().stats.errors;
    assert_eq!(router_errors, rec.live.requests_dropped);
    let (_, report) = &rec.load[0];
    assert_eq!(
        report.per_backend[&killed].non_ok(),
        rec.live.requests_dropped
    );
    // Failures stop once the router stops sending it traffic (detection 1 s,
    // probes every 200 ms), and the other replicas kept serving meanwhile.
    let first = rec.dropped.first().unwrap().time_s;
    let last = rec.dropped.last().unwrap().time_s;
    assert!(first >= 5.5, "failures before the kill at 6 s: {first}");
    assert!(last - first < 3.0, "failures for {:.1} s", last - first);
    let during: u64 = report
        .timeline
        .iter()
        .filter(|b| (b.second as f64) >= first.floor() && (b.second as f64) <= last.ceil())
        .map(|b| b.outcomes.ok)
        .sum();
    assert!(during > 0, "no traffic served while the replica was down");
    assert_eq!(s.outcome, "completed", "{}", s.outcome_reason);
    assert_eq!(rec.live.verdict, "pass", "within the scenario's budget");
}

/// Test 8 (interrupted run): a stop mid-rollout (what SIGINT does in the
/// CLI) stops the load, rolls the containers down and still returns every
/// request measured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_run_rolls_down_and_keeps_what_was_measured() {
    if !engine_or_skip("interrupted_run_rolls_down_and_keeps_what_was_measured").await {
        return;
    }
    let _one = LIVE.lock().await;
    let stop = StopToken::new();
    let s2 = stop.clone();
    let stopper = tokio::spawn(async move {
        // The clock starts once the replicas are up; give it a few seconds.
        tokio::time::sleep(Duration::from_secs(9)).await;
        s2.stop();
    });
    let rec = run("rolling-good.toml", |o| o.stop = stop).await;
    stopper.await.unwrap();
    assert!(rec.live.interrupted);
    assert_eq!(rec.record.summary.outcome, "interrupted");
    assert!(rec.record.summary.requests_total > 500);
    assert!(rec.load.iter().all(|(_, r)| r.stopped_early));
}

/// Test 3: a canary answering 5 % errors fails its analysis; the rollout
/// aborts, traffic returns to stable, and the errors appear only on the
/// canary's share.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_with_errors_fails_analysis_and_returns_traffic_to_stable() {
    if !engine_or_skip("canary_with_errors_fails_analysis_and_returns_traffic_to_stable").await {
        return;
    }
    let _one = LIVE.lock().await;
    let rec = run("canary-errors.toml", |_| {}).await;
    let s = &rec.record.summary;
    assert_eq!(s.outcome, "rolled_back", "{}", s.outcome_reason);
    let aborted = s.aborted_at_s.expect("the analysis failed: aborted");
    assert!(s.detected_at_s.is_some());
    assert!(
        rec.live.requests_dropped > 0,
        "the canary's errors were not seen"
    );
    // Errors only on the canary (v2) and only while it had traffic.
    assert!(
        rec.dropped
            .iter()
            .all(|d| d.backend.contains("-v2-") && d.kind == "http_5xx"),
        "{:?}",
        rec.dropped.iter().find(|d| !d.backend.contains("-v2-"))
    );
    let canary_requests: u64 = rec.samples.iter().map(|c| c.new.requests).sum();
    let all: u64 = rec
        .samples
        .iter()
        .map(|c| c.old.requests + c.new.requests)
        .sum();
    let dropped = rec.live.requests_dropped as f64;
    // 5 % of the canary's requests, give or take.
    assert!(
        (dropped / canary_requests as f64 - 0.05).abs() < 0.03,
        "{dropped} errors of {canary_requests} canary requests"
    );
    // The router gave the canary ~20 % while it ran, and nothing after the
    // abort (one tick of slack for the scrape).
    let while_weighted: Vec<_> = rec
        .samples
        .iter()
        .filter(|c| c.new.requests > 0 && c.time_s <= aborted)
        .collect();
    assert!(!while_weighted.is_empty());
    let after: u64 = rec
        .samples
        .iter()
        .filter(|c| c.time_s > aborted + 1.0)
        .map(|c| c.new.requests)
        .sum();
    assert_eq!(after, 0, "the canary still had traffic after the abort");
    assert!(canary_requests * 4 < all, "{canary_requests} of {all}");
    let last_error = rec.dropped.last().unwrap().time_s;
    assert!(
        last_error <= aborted + 0.5,
        "error at {last_error} after abort at {aborted}"
    );
    assert_eq!(rec.live.verdict, "pass", "within the scenario's budget");
}

/// A canary 200 ms slower than stable (and without a single error) fails
/// a p99 analysis (`result < 100`) on the router's measured latency per
/// cohort, and rolls back; nothing is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_slow_fails_latency_analysis_and_rolls_back() {
    if !engine_or_skip("canary_slow_fails_latency_analysis_and_rolls_back").await {
        return;
    }
    let _one = LIVE.lock().await;
    let rec = run("canary-latency.toml", |_| {}).await;
    let s = &rec.record.summary;
    for c in rec.samples.iter().filter(|c| c.new.requests > 0) {
        eprintln!(
            "t={:>4} old: {} req p50 {:.1} p99 {:.1} | new: {} req p50 {:.1} p95 {:.1} p99 {:.1}",
            c.time_s,
            c.old.requests,
            c.old.latency_p50_ms,
            c.old.latency_p99_ms,
            c.new.requests,
            c.new.latency_p50_ms,
            c.new.latency_p95_ms,
            c.new.latency_p99_ms
        );
    }
    assert_eq!(s.outcome, "rolled_back", "{}", s.outcome_reason);
    assert!(
        s.outcome_reason.contains("analysis latency"),
        "{}",
        s.outcome_reason
    );
    let aborted = s.aborted_at_s.expect("the analysis failed: aborted");
    // The analysis measured the canary's real p99, about 200 ms.
    let measured = rec
        .record
        .events
        .iter()
        .find(|e| e.reason.contains("latency-p99 =") && e.reason.ends_with("Failed"))
        .unwrap_or_else(|| panic!("no failed latency measurement: {:?}", rec.record.events));
    let value: f64 = measured
        .reason
        .split("latency-p99 = ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{}", measured.reason));
    assert!((200.0..400.0).contains(&value), "{}", measured.reason);
    // What the policy saw each tick: the canary's quantiles are at least the
    // 200 ms it sleeps, the stable set's are far below. (Quantiles are of
    // the requests completed in the tick: the tick after the abort still
    // has the canary's last ones.)
    let canary: Vec<_> = rec
        .samples
        .iter()
        .filter(|c| c.new.latency_p50_ms > 0.0)
        .collect();
    assert!(
        canary.len() >= 2,
        "canary latency in {} ticks",
        canary.len()
    );
    for c in &canary {
        let n = &c.new;
        assert!(
            200.0 <= n.latency_p50_ms
                && n.latency_p50_ms <= n.latency_p95_ms
                && n.latency_p95_ms <= n.latency_p99_ms
                && n.latency_p99_ms < 1000.0,
            "{c:?}"
        );
        assert!(
            c.time_s <= aborted + 1.0,
            "canary served after the abort: {c:?}"
        );
    }
    let mut stable: Vec<f64> = rec
        .samples
        .iter()
        .filter(|c| c.old.requests > 0)
        .map(|c| c.old.latency_p99_ms)
        .collect();
    // Only the first tick (at t = 0, the load just started) may count
    // requests of which none completed yet.
    assert!(
        stable.iter().filter(|&&p| p == 0.0).count() <= 1,
        "{stable:?}"
    );
    stable.sort_by(f64::total_cmp);
    let median = stable[stable.len() / 2];
    assert!(median < 50.0, "stable p99s {stable:?}");
    // Slow is not failed.
    assert_eq!(rec.live.requests_dropped, 0, "{:?}", rec.live.first_dropped);
    assert_eq!(rec.live.verdict, "pass");
}

/// Test 4: blue/green to a version whose health check fails: the preview is
/// never routed, never promoted, and no request is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blue_green_to_unhealthy_is_never_promoted() {
    if !engine_or_skip("blue_green_to_unhealthy_is_never_promoted").await {
        return;
    }
    let _one = LIVE.lock().await;
    let rec = run("blue-green-unhealthy.toml", |_| {}).await;
    let s = &rec.record.summary;
    assert_eq!(s.outcome, "rolled_back", "{}", s.outcome_reason);
    assert_eq!(rec.live.requests_dropped, 0, "{:?}", rec.live.first_dropped);
    assert_eq!(rec.live.verdict, "pass");
    assert!(
        !rec.record.events.iter().any(|e| e.step == "switch"),
        "promoted"
    );
    let provisioned = rec.moves.iter().filter(|m| m.action == "provision").count();
    assert_eq!(provisioned, 3, "{:?}", rec.moves);
    // The preview's containers never served a request.
    let preview_requests: u64 = rec
        .routers
        .iter()
        .flat_map(|(_, s)| s.backends.iter())
        .filter(|b| b.id.contains("-v2-"))
        .map(|b| b.stats.requests)
        .sum();
    assert_eq!(preview_requests, 0);
    assert!(rec.samples.iter().all(|c| c.new.requests == 0));
}

/// Test 5: blue/green to a version that crashes under load: promoted (its
/// health checks pass while idle), then crashes; the post-promotion
/// analysis rolls back and the dropped requests are counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blue_green_crash_under_load_rolls_back_after_promotion() {
    if !engine_or_skip("blue_green_crash_under_load_rolls_back_after_promotion").await {
        return;
    }
    let _one = LIVE.lock().await;
    let rec = run("blue-green-crash-under-load.toml", |_| {}).await;
    let s = &rec.record.summary;
    let switch = rec
        .record
        .events
        .iter()
        .find(|e| e.step == "switch")
        .expect("promoted: the health checks passed")
        .time_s;
    assert_eq!(s.outcome, "rolled_back", "{}", s.outcome_reason);
    let aborted = s.aborted_at_s.expect("post-promotion analysis aborted");
    assert!(aborted > switch);
    assert!(
        rec.live.requests_dropped > 0,
        "the crashes cost no request?"
    );
    assert_eq!(rec.live.verdict, "fail");
    // Every drop hit a v2 replica after the switch.
    for d in &rec.dropped {
        assert!(d.backend.contains("-v2-"), "{d:?}");
        assert!(d.time_s >= switch - 0.5, "{d:?}");
    }
    // After the rollback the old set serves everything again.
    let tail: Vec<_> = rec
        .samples
        .iter()
        .filter(|c| c.time_s > aborted + 2.0)
        .collect();
    assert!(!tail.is_empty());
    assert!(tail
        .iter()
        .all(|c| c.new.requests == 0 && c.old.failed == 0));
    assert!(tail.iter().any(|c| c.old.requests > 0));
}

/// Issue 13 item 3, restart policies live: the new version exits above
/// 100 rps per replica and crash-loops under `[fleet.restart]` (first
/// restart at once, then back-offs of 1 s and 2 s, 3 restarts at most):
/// the same decisions as the simulator's, on a real container, then it is
/// left down and the old replicas serve everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_looping_version_backs_off_then_is_given_up() {
    if !engine_or_skip("a_crash_looping_version_backs_off_then_is_given_up").await {
        return;
    }
    let _one = LIVE.lock().await;
    let rec = run("crash-loop.toml", |_| {}).await;
    let s = &rec.record.summary;
    let r = s
        .restarts
        .as_ref()
        .expect("summary.restarts with [fleet.restart]");
    assert_eq!(r.policy, "on-failure");
    assert_eq!(r.restarts, 3, "{r:?}");
    assert_eq!(r.hosts_in_crash_loop, 1, "{r:?}");
    assert_eq!(r.hosts_given_up, 1, "{r:?}");
    assert_eq!(r.backoff_host_s, 3.0, "1 s then 2 s: {r:?}");
    // The simulator's world of the same scenario decides the same.
    let (sc, _) = scenario("crash-loop.toml");
    let sim = shakedown_sim::run(&sc, RunOptions::full(sc.seed));
    assert_eq!(sim.summary.restarts.as_ref(), Some(r), "simulated vs live");
    // One row per decision, in order: at once, 1 s, 2 s, given up.
    let why: Vec<&str> = rec
        .record
        .events
        .iter()
        .filter(|e| e.step == "restart-policy")
        .map(|e| e.reason.as_str())
        .collect();
    assert_eq!(why.len(), 4, "{why:?}");
    assert!(why[0].ends_with("restart 1 at once"), "{why:?}");
    assert!(why[1].contains("back-off 1s, then restart 2"), "{why:?}");
    assert!(why[2].contains("back-off 2s, then restart 3"), "{why:?}");
    assert!(why[3].ends_with("not restarted"), "{why:?}");
    // Only v2 replicas failed requests; once given up, none fail.
    assert!(rec.live.requests_dropped > 0);
    assert!(rec.dropped.iter().all(|d| d.backend.contains("-v2-")));
    let given_up = rec
        .record
        .events
        .iter()
        .find(|e| e.reason.ends_with("not restarted"))
        .unwrap()
        .time_s;
    let tail: Vec<_> = rec
        .samples
        .iter()
        .filter(|c| c.time_s > given_up + 2.0)
        .collect();
    assert!(!tail.is_empty(), "the run ended at the give-up");
    assert!(tail
        .iter()
        .all(|c| c.new.requests == 0 && c.old.failed == 0 && c.old.requests > 0));
    assert_eq!(s.outcome, "timed_out", "{}", s.outcome_reason);
}

/// Issue 13 item 3, autoscaling live: a traffic spike scales the role out
/// through monitoring (the harness's HorizontalPodAutoscaler, new slots
/// started and routed by the driver), a rolling update runs on the grown
/// fleet, and the spike's end scales it in, drained: every request
/// accounted, none dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_traffic_spike_scales_the_live_fleet_out_and_back_in_without_a_drop() {
    if !engine_or_skip("a_traffic_spike_scales_the_live_fleet_out_and_back_in_without_a_drop").await
    {
        return;
    }
    let _one = LIVE.lock().await;
    let rec = run("autoscale-spike.toml", |_| {}).await;
    let s = &rec.record.summary;
    let a = s.autoscale.as_ref().expect("summary.autoscale");
    assert!(a.scale_ups >= 1 && a.scale_downs >= 1, "{a:?}");
    assert!(
        a.peak_replicas >= 5,
        "240 rps at 50 % of 100 asks for 5: {a:?}"
    );
    assert!(a.hosts_added >= 3 && a.hosts_removed >= 1, "{a:?}");
    assert!(a.final_replicas < a.peak_replicas, "scaled back in: {a:?}");
    // The added replicas served: more containers than the two slots the
    // rollout alone would have used (two of each version).
    let (_, report) = &rec.load[0];
    let served = report.per_backend.values().filter(|o| o.ok > 0).count();
    assert!(served >= 5 + 2, "{served} containers served");
    // Scale-ups on the old version before the rollout, on the new after.
    let ups: Vec<&str> = rec
        .record
        .events
        .iter()
        .filter(|e| e.step == "autoscale" && e.kind == "instruct")
        .map(|e| e.reason.as_str())
        .collect();
    assert!(ups[0].ends_with("on v1"), "the spike comes first: {ups:?}");
    assert_eq!(rec.live.requests_dropped, 0, "{:?}", rec.dropped.first());
    assert_eq!(s.outcome, "completed", "{}", s.outcome_reason);
    assert_eq!(s.hosts_on_new_pct, 100.0);
}

/// Every chaos action once, mid-rollout: each is injected, noticed by the
/// health probes, healed (out of the router, restarted, routed again), and
/// the rollout still completes; the seed decides the drawn fault.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_mix_every_fault_heals() {
    if !engine_or_skip("chaos_mix_every_fault_heals").await {
        return;
    }
    let _one = LIVE.lock().await;
    let rec = run("chaos-mix.toml", |_| {}).await;
    let s = &rec.record.summary;
    let kinds: Vec<&str> = rec.live.faults.iter().map(|f| f.action).collect();
    for k in [
        "pause",
        "network-cut",
        "sigterm",
        "host-crash",
        "daemon-upgrade",
    ] {
        assert!(kinds.contains(&k), "{k} missing: {:?}", rec.live.faults);
    }
    for f in &rec.live.faults {
        assert!(
            !f.result.starts_with("failed") && !f.backends.is_empty(),
            "{f:?}"
        );
    }
    // The drawn daemon upgrade falls in its window, the same for the seed.
    let du = rec
        .live
        .faults
        .iter()
        .find(|f| f.action == "daemon-upgrade")
        .unwrap();
    assert!((17.0..19.5).contains(&du.time_s), "{du:?}");
    assert!(
        rec.record.events.iter().any(|e| e.kind == "detected"),
        "no failure was detected"
    );
    assert!(rec
        .record
        .events
        .windows(2)
        .all(|w| w[0].time_s <= w[1].time_s));
    assert_eq!(s.outcome, "completed", "{}", s.outcome_reason);
    assert!(rec.live.requests_dropped > 0);
    assert_eq!(rec.live.verdict, "pass");
    // Healed: the last seconds served everything.
    let (_, report) = &rec.load[0];
    let last = report.timeline.len().saturating_sub(3);
    assert!(report.timeline[last..]
        .iter()
        .all(|b| b.outcomes.non_ok() == 0 && b.outcomes.ok > 0));
}
