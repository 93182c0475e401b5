//! The world model: each seed incident's story as a test, the statistical
//! honesty of every random fault, and the independence of random streams.
#![allow(clippy::disallowed_methods)] // tests read the shipped scenario files

use shakedown_sim::faults::FaultRule;
use shakedown_sim::record::RunRecord;
use shakedown_sim::scenario::PolicySpec;
use shakedown_sim::time::SimDuration;
use shakedown_sim::{run, RunOptions, Scenario};
use std::path::Path;

fn scenario(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    Scenario::parse(&text, name).unwrap_or_else(|e| panic!("{e}"))
}

/// Audit rows of one fault rule that mark it firing on a host (not fixes).
fn firings(rec: &RunRecord, rule: &str) -> Vec<(f64, u32)> {
    rec.events
        .iter()
        .filter(|e| {
            e.kind == "fault"
                && e.step == rule
                && !e.reason.starts_with("fixed")
                && !e.reason.contains("reaped")
        })
        .map(|e| (e.time_s, e.host.unwrap_or(u32::MAX)))
        .collect()
}

/// `k` successes out of `n` at probability `p` lie within `z` standard errors.
fn within_binomial(k: usize, n: usize, p: f64, z: f64) -> bool {
    let mean = n as f64 * p;
    let sd = (n as f64 * p * (1.0 - p)).sqrt();
    (k as f64 - mean).abs() <= z * sd + 0.5
}

// ---- the seed stories --------------------------------------------------------

/// Spotify, Docker 1.12.1 (Nov 3, 2016): leaked docker-proxy ports leave hosts
/// unable to start containers. The rolling policy counts them unavailable and
/// waits, so the leak slows the rollout down instead of taking a role out.
#[test]
fn spotify_docker_1_12_leaked_ports_stall_but_do_not_spread() {
    let sc = scenario("spotify-docker-1.12.toml");
    let rec = run(&sc, RunOptions::full(sc.seed));
    let leaks = firings(&rec, "leaked-ports");
    assert!(
        within_binomial(leaks.len(), 2000, 0.03, 3.3),
        "{} leaks of 2000 at 3 %",
        leaks.len()
    );
    assert_eq!(rec.summary.outcome, "completed");
    // Never more than 5 % of the fleet down: the critical roles were never
    // restarted all at once.
    assert!(
        rec.summary.peak_hosts_unavailable_pct <= 5.0 + 1e-9,
        "{}",
        rec.summary.peak_hosts_unavailable_pct
    );
    let broken_max = rec.ticks.iter().map(|t| t.broken).max().unwrap();
    assert!(
        broken_max > 0,
        "leaked hosts show up as broken in the time series"
    );
    // With drain and enough headroom, users lose nothing.
    assert_eq!(rec.summary.requests_failed, 0);

    // The same rollout without the leak finishes sooner.
    let clean = Scenario {
        faults: vec![],
        ..sc.clone()
    };
    let clean_rec = run(&clean, RunOptions::summary_only(sc.seed));
    assert!(
        clean_rec.summary.rollout_duration_s < rec.summary.rollout_duration_s,
        "leaks slow the rollout: {} vs {}",
        clean_rec.summary.rollout_duration_s,
        rec.summary.rollout_duration_s
    );
}

/// Spotify, October 14, 2016: a bad config pushed at 30 % upgraded. Pushed to
/// everyone at once it breaks every 1.12.1 host; rolled, the first broken
/// batch stalls the rollout with little damage: the progress deadline is
/// reported and, as in Kubernetes, the stalled rollout waits (issue 10 item 2).
#[test]
fn bad_config_push_breaks_the_upgraded_30_percent_at_once() {
    let sc = scenario("spotify-bad-config-push.toml");
    let rec = run(&sc, RunOptions::full(sc.seed));
    let broken = firings(&rec, "bad-config");
    assert!(
        within_binomial(broken.len(), 1000, 0.3, 3.3),
        "{} of 1000",
        broken.len()
    );
    let last = rec.ticks.last().unwrap();
    assert_eq!(
        last.broken as usize,
        broken.len(),
        "broken hosts stay broken"
    );
    assert_eq!(
        rec.summary.outcome, "timed_out",
        "all-at-once waits forever for broken hosts"
    );

    let rolled = Scenario {
        policy: PolicySpec::Rolling {
            max_surge: shakedown_sim::scenario::IntOrPercent::Count(0),
            max_unavailable: shakedown_sim::scenario::IntOrPercent::Percent(5),
            min_ready: SimDuration::from_mins(5),
            progress_deadline: SimDuration::from_mins(20),
        },
        ..sc.clone()
    };
    let r = run(&rolled, RunOptions::full(sc.seed));
    assert_eq!(r.summary.outcome, "timed_out");
    assert!(r
        .events
        .iter()
        .any(|e| e.reason.contains("ProgressDeadlineExceeded")));
    let rolled_broken = firings(&r, "bad-config").len();
    assert!(
        rolled_broken * 5 < broken.len(),
        "rolling limits the blast radius: {rolled_broken} vs {}",
        broken.len()
    );
    assert!(r.summary.requests_failed < rec.summary.requests_failed);
}

/// Debian 3.16 + AUFS: panics every few hours across the fleet, CI hosts
/// about every two hours; the count matches the configured hazard, and
/// moving to 4.9 all but stops them.
#[test]
fn aufs_panics_follow_their_hazard_and_stop_after_the_kernel_migration() {
    let sc = scenario("aufs-kernel-panics.toml");
    let rec = run(&sc, RunOptions::full(sc.seed));
    let panics = firings(&rec, "kernel-panic");
    let week = 7.0 * 86400.0;
    let first_week: Vec<_> = panics.iter().filter(|(t, _)| *t < week).collect();
    // Hazard per host-hour: units / MTBF, units = Σ hosts × io factor.
    let units = 250.0 * 1.0 + 60.0 * 5.0 + 90.0 * 25.0;
    let expected: f64 = units / 5000.0 * 168.0;
    // Poisson 99 % interval (normal approximation, z = 2.576).
    let (lo, hi) = (
        expected - 2.576 * expected.sqrt(),
        expected + 2.576 * expected.sqrt(),
    );
    let n = first_week.len() as f64;
    assert!(
        n >= lo && n <= hi,
        "{n} panics in the first week, expected {expected:.1} ({lo:.1}..{hi:.1})"
    );
    // CI hosts (ids 310..400) die about every 2 hours.
    let ci = first_week.iter().filter(|(_, h)| *h >= 310).count() as f64;
    let per_hour = ci / 168.0;
    assert!(
        (1.0 / per_hour - 2.2).abs() < 0.8,
        "CI panics every {:.1} h",
        1.0 / per_hour
    );
    // Every panic is followed by a replacement within 5 minutes.
    let replaced = rec.events.iter().filter(|e| e.step == "replaced").count();
    assert!(replaced + 2 >= panics.len());
    // After the migration (done within a day), the last five days see at most a stray panic.
    assert_eq!(rec.summary.outcome, "completed");
    let late = panics.iter().filter(|(t, _)| *t > 9.0 * 86400.0).count();
    assert!(late <= 2, "{late} panics after the migration");
}

/// The 7-hour apt repository outage: the rollout waits it out.
#[test]
fn registry_outage_delays_the_rollout_by_its_length() {
    let sc = scenario("registry-outage.toml");
    let with = run(&sc, RunOptions::full(sc.seed));
    let without = run(
        &Scenario {
            faults: vec![],
            ..sc.clone()
        },
        RunOptions::summary_only(sc.seed),
    );
    assert_eq!(with.summary.outcome, "completed");
    assert_eq!(without.summary.outcome, "completed");
    let delay_h = (with.summary.rollout_duration_s - without.summary.rollout_duration_s) / 3600.0;
    assert!(
        (6.0..=7.5).contains(&delay_h),
        "the outage added {delay_h:.2} h"
    );
    assert!(with.events.iter().any(|e| e.step == "registry-outage"));
    // Nothing is instructed during the outage window (4 h to 11 h).
    assert!(!with
        .events
        .iter()
        .any(|e| e.kind == "instruct" && e.time_s >= 4.0 * 3600.0 && e.time_s < 11.0 * 3600.0));
}

/// Blue/green, seed 002 case 1: a green set that never becomes healthy is
/// never given traffic: the health gate times out and the rollout is rolled
/// back with zero failed requests.
#[test]
fn blue_green_unhealthy_is_never_promoted_and_loses_nothing() {
    let sc = scenario("blue-green-unhealthy.toml");
    let rec = run(&sc, RunOptions::full(sc.seed));
    assert_eq!(rec.summary.outcome, "rolled_back");
    assert_eq!(rec.summary.requests_failed, 0);
    assert_eq!(firings(&rec, "incompatible-roles").len(), 200);
    assert!(
        rec.ticks.iter().all(|t| t.hosts_old == 200),
        "the old set is never scaled down"
    );
    assert!(
        !rec.events.iter().any(|e| e.step == "switch"),
        "never promoted"
    );
}

/// Blue/green, seed 002 case 2: healthy at check time, crashing under load —
/// without post-promotion analysis, failures start exactly at the switch.
#[test]
fn blue_green_crash_under_load_fails_only_after_the_switch() {
    let sc = scenario("blue-green-crash-under-load.toml");
    let rec = run(&sc, RunOptions::full(sc.seed));
    let switch = rec
        .events
        .iter()
        .find(|e| e.step == "switch")
        .expect("promoted: health passed")
        .time_s;
    let first_crash = firings(&rec, "fails-under-load")[0].0;
    assert!(
        first_crash > switch && first_crash <= switch + 15.0,
        "switched at {switch}, crashed at {first_crash}"
    );
    let before: u64 = rec
        .ticks
        .iter()
        .filter(|t| t.time_s <= switch)
        .map(|t| t.failed)
        .sum();
    assert_eq!(before, 0, "no failures before the switch");
    assert!(
        rec.summary.requests_failed > rec.summary.requests_total / 2,
        "it never recovers by itself"
    );
}

/// Swarm, seed 004: with two replicas a crash costs only the requests in
/// flight until the proxy notices; with one, the service is down.
#[test]
fn two_replicas_keep_the_service_up_through_crashes() {
    // The crashes alone: without the scenario's traffic spike and autoscaler
    // (sim/tests/swarm_story.rs tells that part).
    let mut sc = scenario("swarm-self-healing.toml");
    sc.traffic.spikes.clear();
    sc.autoscale.clear();
    let two = run(&sc, RunOptions::full(sc.seed));
    assert!(!firings(&two, "container-crash").is_empty());
    assert!(
        two.ticks.iter().all(|t| t.served > 0),
        "never fully down with 2 replicas"
    );
    // About 16 crashes in 2 days, each losing the half of ~70 rps routed
    // to the crashed replica for the 5 s until the proxy notices: ~2e-4.
    assert!(
        two.summary.success_rate > 0.9995,
        "{}",
        two.summary.success_rate
    );

    let mut one = sc.clone();
    one.fleet.roles[0].hosts = 1;
    one.fleet.roles[0].zones.truncate(1);
    let rec = run(&one, RunOptions::full(sc.seed));
    let down = rec
        .ticks
        .iter()
        .filter(|t| t.requests > 0 && t.served == 0)
        .count();
    assert!(down > 0, "a single replica means downtime");
}

/// With every fault off and hosts drained first, nothing fails.
#[test]
fn with_all_faults_off_no_request_fails() {
    for name in [
        "spotify-docker-1.12.toml",
        "aufs-kernel-panics.toml",
        "registry-outage.toml",
    ] {
        let mut sc = scenario(name);
        sc.faults.clear();
        sc.change.drain = SimDuration::from_secs(30);
        let rec = run(&sc, RunOptions::summary_only(sc.seed));
        assert_eq!(rec.summary.requests_failed, 0, "{name}");
        assert_eq!(rec.summary.outcome, "completed", "{name}");
    }
}

// ---- statistical honesty ------------------------------------------------------

const SMALL: &str = r#"
name = "honesty"
description = "1,000 hosts upgraded at once, for counting fault firings"
duration = "2h"
[fleet]
[[fleet.roles]]
name = "a"
hosts = 600
attributes = { docker = "1.6.2", io = "low" }
[[fleet.roles]]
name = "b"
hosts = 400
attributes = { docker = "1.6.2", io = "high" }
[traffic]
curve = "constant"
rps = 1000
[change]
from = "1.6.2"
to = "1.12.1"
[policy]
kind = "all-at-once"
"#;

fn honesty(rule: &str, seeds: u64) -> (usize, usize) {
    let mut sc = Scenario::parse(&format!("{SMALL}\n[[faults]]\n{rule}\n"), "honesty.toml")
        .unwrap_or_else(|e| panic!("{e}"));
    sc.change.restart_time = shakedown_sim::dist::DurationDist::fixed(SimDuration::from_secs(30));
    let name = match &sc.faults[0] {
        f @ FaultRule::OrphanedContainers { .. }
        | f @ FaultRule::LeakedPorts { .. }
        | f @ FaultRule::BadConfig { .. } => f.name(),
        _ => unreachable!(),
    };
    let mut fired = 0;
    for seed in 0..seeds {
        fired += firings(&run(&sc, RunOptions::full(seed)), name).len();
    }
    (fired, 1000 * seeds as usize)
}

#[test]
fn random_faults_fire_at_their_configured_frequency() {
    // 99.9 % two-sided interval: z = 3.29.
    for (rule, p) in [
        (
            "kind = \"leaked-ports\"\nprobability = 0.02\nfix_after = \"never\"",
            0.02,
        ),
        (
            "kind = \"orphaned-containers\"\nprobability = 0.1\nreap_after = \"10m\"",
            0.1,
        ),
        (
            "kind = \"bad-config\"\nfraction = 0.3\neffect = \"errors\"\nerror_rate = 0.5",
            0.3,
        ),
        (
            "kind = \"leaked-ports\"\nroles = [\"b\"]\nprobability = 0.05",
            0.05 * 0.4,
        ),
    ] {
        let (k, n) = honesty(rule, 20);
        assert!(
            within_binomial(k, n, p, 3.29),
            "{rule}: {k} of {n}, expected {:.0}",
            n as f64 * p
        );
    }
}

#[test]
fn kernel_panics_match_their_hazard_across_seeds() {
    // 1,000 hosts, MTBF 500 h at factor 1 (io low) and 5 (io high), 2 h, no
    // change before the end: expected (600 + 400·5)/500·2 = 10.4 per run.
    let text = SMALL
        .replace("duration = \"2h\"", "duration = \"2h\"\n")
        .replace("[change]", "[change]\nstart_at = \"1h59m\"");
    let sc = Scenario::parse(
        &format!(
            "{text}\n[[faults]]\nkind = \"kernel-panic\"\nmtbf = \"500h\"\nrecovery = \"5m\"\n"
        ),
        "panics.toml",
    )
    .unwrap();
    let seeds = 40;
    let total: usize = (0..seeds)
        .map(|s| firings(&run(&sc, RunOptions::full(s)), "kernel-panic").len())
        .sum();
    let expected = (600.0 + 400.0 * 5.0) / 500.0 * (119.0 / 60.0) * seeds as f64;
    let z = (total as f64 - expected) / expected.sqrt();
    assert!(
        z.abs() < 3.29,
        "{total} panics, expected {expected:.0} (z = {z:.2})"
    );
}

#[test]
fn switching_a_fault_off_does_not_change_the_traffic() {
    let sc = scenario("aufs-kernel-panics.toml");
    let with = run(&sc, RunOptions::full(9));
    let without = run(
        &Scenario {
            faults: vec![],
            ..sc.clone()
        },
        RunOptions::full(9),
    );
    let offered = |r: &RunRecord| r.ticks.iter().map(|t| t.requests).collect::<Vec<_>>();
    assert_eq!(offered(&with), offered(&without));
    assert_ne!(
        with.summary.requests_failed,
        without.summary.requests_failed
    );
}

#[test]
fn the_same_host_fails_the_same_way_under_every_policy() {
    // Common random numbers for faults: which hosts leak is keyed by host and
    // move, not by when a policy happens to upgrade them.
    let sc = scenario("spotify-docker-1.12.toml");
    let rolling = run(&sc, RunOptions::full(3));
    let big_bang = run(
        &Scenario {
            policy: PolicySpec::AllAtOnce {},
            ..sc.clone()
        },
        RunOptions::full(3),
    );
    let hosts = |r: &RunRecord| {
        let mut h: Vec<u32> = firings(r, "leaked-ports")
            .into_iter()
            .map(|x| x.1)
            .collect();
        h.sort_unstable();
        h
    };
    assert_eq!(hosts(&rolling), hosts(&big_bang));
}

// ---- traffic and monitoring --------------------------------------------------

#[test]
fn regressions_fail_requests_per_endpoint() {
    let text = r#"
name = "regression"
description = "endpoint mix with a regression on one endpoint"
duration = "1h"
[monitoring]
lag = "30s"
[fleet]
[[fleet.roles]]
name = "api"
hosts = 20
[traffic]
curve = "constant"
rps = 2000
[[traffic.endpoints]]
name = "/play"
share = 0.9
success_rate = 0.999
latency_p50_ms = 20
latency_p99_ms = 200
[[traffic.endpoints]]
name = "/search"
share = 0.1
success_rate = 0.99
latency_p50_ms = 50
latency_p99_ms = 400
[[faults]]
kind = "regression"
endpoints = { "/search" = { error_rate = 0.2, latency_factor = 2.0 } }
[change]
from = "1"
to = "2"
drain = "10s"
[policy]
kind = "all-at-once"
"#;
    let sc = Scenario::parse(text, "regression.toml").unwrap();
    let rec = run(&sc, RunOptions::full(1));
    // After the change: /play fails 0.1 %, /search 1 - 0.99·0.8 = 20.8 %:
    // overall 0.9·0.001 + 0.1·0.208 = 2.17 %.
    let late: Vec<_> = rec.ticks.iter().filter(|t| t.time_s > 600.0).collect();
    let (req, fail) = late
        .iter()
        .fold((0, 0), |a, t| (a.0 + t.requests, a.1 + t.failed));
    let rate = fail as f64 / req as f64;
    assert!((rate - 0.0217).abs() < 0.002, "{rate}");
}

/// Records what the policy saw each tick, and never acts.
struct Probe(std::sync::Arc<std::sync::Mutex<Vec<(f64, u64, u64)>>>);

impl shakedown_sim::policy::Policy for Probe {
    fn kind(&self) -> &'static str {
        "probe"
    }
    fn decide(
        &mut self,
        obs: &shakedown_sim::policy::Observation<'_>,
        _: &mut Vec<shakedown_sim::policy::Action>,
    ) {
        let g = obs.groups[0];
        self.0.lock().unwrap().push((
            obs.now.as_secs_f64(),
            g.old_metrics.requests,
            obs.endpoints.len() as u64,
        ));
    }
}

#[test]
fn policies_see_scrapes_only_after_the_monitoring_lag() {
    let text = SMALL.replace("[fleet]", "[monitoring]\nlag = \"30s\"\n\n[fleet]");
    let sc = Scenario::parse(&text, "lag.toml").unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let rec =
        shakedown_sim::run_with_policy(&sc, RunOptions::full(1), Box::new(Probe(seen.clone())));
    let seen = seen.lock().unwrap();
    // 30 s = two 15 s ticks: nothing visible at t = 0 and 15 s; at t = 30 s
    // the policy sees what happened in the first tick.
    assert_eq!(seen[0].1, 0);
    assert_eq!(seen[1].1, 0);
    let first_group_requests = |i: usize| {
        // requests of role `a` (60 % share) are not in the tick row by role;
        // compare against the lagged tick's total instead.
        rec.ticks[i].requests
    };
    for i in 2..seen.len() {
        assert!(
            seen[i].1 > 0 && seen[i].1 < first_group_requests(i - 2),
            "tick {i}: {:?}",
            seen[i]
        );
    }
    assert_eq!(rec.summary.outcome, "timed_out", "the probe never finishes");
}

// ---- chaos schedules (the live mode's faults, replayed in the simulator) -------

#[test]
fn scheduled_chaos_hits_the_same_replicas_in_the_simulator() {
    use shakedown_sim::chaos::{schedule, FaultKind, FaultSpec};
    let text = SMALL.replace("[change]", "[change]\nstart_at = \"1h50m\"");
    let sc = Scenario::parse(&text, "chaos.toml").unwrap();
    let spec = |kind, at: u64, replica, zone| FaultSpec {
        kind,
        at: Some(SimDuration::from_secs(at)),
        window: (SimDuration::ZERO, SimDuration::ZERO),
        role: 0,
        replica,
        zone,
        duration: SimDuration::from_secs(60),
    };
    let specs = [
        spec(FaultKind::Kill, 600, Some(5), None),
        spec(FaultKind::Pause, 1200, Some(7), None),
        spec(FaultKind::HostCrash, 1800, None, Some(0)),
    ];
    let faults = schedule(3, &specs, &shakedown_sim::chaos::role_shapes(&sc.fleet));
    let rec = shakedown_sim::run_with_chaos(&sc, RunOptions::full(3), &faults);
    let hit: Vec<(f64, u32)> = rec
        .events
        .iter()
        .filter(|e| e.step == "chaos")
        .map(|e| (e.time_s, e.host.unwrap()))
        .collect();
    // Replica 5 of role `a` is host 5; replica 7 is host 7; zone 0 of role
    // `a` (one zone) is all 600 of its hosts, minus none (all serving again).
    assert_eq!(hit[0], (600.0, 5));
    assert_eq!(hit[1], (1200.0, 7));
    assert_eq!(hit.iter().filter(|(t, _)| *t == 1800.0).count(), 600);
    // The kill costs the requests routed to host 5 until detection; the host
    // crash takes role `a` down entirely for a while.
    let at = |t: f64| rec.ticks.iter().find(|r| r.time_s == t).unwrap();
    assert_eq!(at(615.0).crashed, 1);
    assert_eq!(at(1815.0).crashed, 600);
    assert!(at(1815.0).failed > 0);
    assert_eq!(
        rec.ticks.last().unwrap().crashed,
        0,
        "every chaos fault heals"
    );
    // One seed, one timeline.
    let again = shakedown_sim::run_with_chaos(&sc, RunOptions::full(3), &faults);
    assert_eq!(rec, again);
}

/// "A bad version reaching 100 %" needs to know when a version is bad: the
/// version's own regressions count; host faults that are not its doing do not.
#[test]
fn which_scenarios_make_the_new_version_bad() {
    for (name, bad) in [
        ("canary-wrong-timezone.toml", true),
        ("blue-green-crash-under-load.toml", true),
        ("blue-green-unhealthy.toml", true),
        ("spotify-bad-config-push.toml", true),
        ("spotify-docker-1.12.toml", false),
        ("aufs-kernel-panics.toml", false),
        ("registry-outage.toml", false),
    ] {
        let sc = scenario(name);
        let rec = run(&sc, RunOptions::summary_only(sc.seed));
        assert_eq!(rec.summary.new_version_bad, bad, "{name}");
    }
}
