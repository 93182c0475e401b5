//! The swarm-self-healing scenario tells its seed's story (issue 13 item
//! 3): recovery (crashed replicas are restarted) and adaptation (a traffic
//! spike is absorbed by scaling up, then the service scales back down).
#![allow(clippy::disallowed_methods)] // tests read the shipped scenario files

use shakedown_sim::record::RunRecord;
use shakedown_sim::restart::RestartKind;
use shakedown_sim::{run, RunOptions, Scenario};
use std::path::Path;

fn swarm() -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/swarm-self-healing.toml");
    let text = std::fs::read_to_string(path).unwrap();
    Scenario::parse(&text, "swarm-self-healing.toml").unwrap_or_else(|e| panic!("{e}"))
}

/// (requests, failed) in the spike's two hours.
fn in_spike(rec: &RunRecord, sc: &Scenario) -> (u64, u64) {
    let s = &sc.traffic.spikes[0];
    let (a, b) = (s.at.as_secs_f64(), (s.at + s.duration).as_secs_f64());
    rec.ticks
        .iter()
        .filter(|t| t.time_s >= a && t.time_s < b)
        .fold((0, 0), |(r, f), t| (r + t.requests, f + t.failed))
}

#[test]
fn with_autoscaling_the_spike_costs_almost_nothing_without_it_requests_fail() {
    let sc = swarm();
    let scaled = run(&sc, RunOptions::full(sc.seed));
    let mut fixed = sc.clone();
    fixed.autoscale.clear();
    let unscaled = run(&fixed, RunOptions::full(sc.seed));

    let (n, failed) = in_spike(&scaled, &sc);
    let (n2, failed2) = in_spike(&unscaled, &sc);
    assert!(n > 2_000_000 && n2 > 2_000_000, "{n} {n2}");
    // Scaled: only the minute before the new replicas serve overflows.
    assert!(failed * 200 < n, "{failed} of {n} failed with autoscaling");
    // Not scaled: a third of the spike's requests is beyond two hosts.
    assert!(
        failed2 * 4 > n2,
        "{failed2} of {n2} failed without autoscaling"
    );
    assert!(scaled.summary.slo_met, "{:?}", scaled.summary);
    assert!(!unscaled.summary.slo_met);

    // It scaled up to what the target asks (⌈450 / 90⌉ = 5 at the spike's
    // start, 6 as the daily peak nears and 5 replicas run at 66 %, beyond
    // the 10 % tolerance) and back to 2.
    let a = scaled.summary.autoscale.clone().expect("autoscale stats");
    assert_eq!(a.peak_replicas, 6, "{a:?}");
    assert_eq!(a.final_replicas, 2, "{a:?}");
    assert!(a.scale_ups >= 1 && a.scale_downs >= 1, "{a:?}");
    assert!(unscaled.summary.autoscale.is_none());
    let peak_hosts = scaled
        .ticks
        .iter()
        .map(|t| t.hosts_old + t.hosts_new)
        .max()
        .unwrap();
    assert_eq!(peak_hosts, 6);

    // The rollout ran inside the spike, over the scaled-up fleet, and every
    // replica ended on the new config.
    assert_eq!(scaled.summary.outcome, "completed", "{:?}", scaled.summary);
    assert_eq!(scaled.summary.hosts_on_new_pct, 100.0);
    let rolled: Vec<_> = scaled
        .events
        .iter()
        .filter(|e| e.kind == "instruct" && e.step != "autoscale")
        .collect();
    assert!(
        rolled.len() >= 5,
        "every replica of the scaled fleet rolled: {}",
        rolled.len()
    );
    let added_on_old = scaled
        .events
        .iter()
        .any(|e| e.step == "autoscale" && e.reason.contains("a new host on v1"));
    assert!(
        added_on_old,
        "replicas added before the rollout run the old config"
    );
    // Scale-down waited out the 300 s stabilisation window after the spike.
    let spike_end = (sc.traffic.spikes[0].at + sc.traffic.spikes[0].duration).as_secs_f64();
    let down = scaled
        .events
        .iter()
        .find(|e| e.kind == "decommission" && e.step == "autoscale")
        .expect("a scale-down");
    assert!(
        down.time_s >= spike_end + 300.0,
        "{} vs {spike_end}",
        down.time_s
    );
}

#[test]
fn crashed_replicas_are_restarted_and_without_restarts_they_stay_down() {
    let sc = swarm();
    let rec = run(&sc, RunOptions::full(sc.seed));
    let r = rec.summary.restarts.clone().expect("restart stats");
    assert!(r.restarts >= 5, "{r:?}");
    assert_eq!(r.hosts_given_up, 0);
    let crashes = rec
        .events
        .iter()
        .filter(|e| e.step == "container-crash")
        .count() as u64;
    assert_eq!(crashes, r.restarts, "every crash was restarted");
    assert!(
        rec.ticks.iter().all(|t| t.served > 0),
        "never fully down with 2 replicas and restarts"
    );
    let last = rec.ticks.last().unwrap();
    assert_eq!(last.serving, 2, "recovered: both replicas serve at the end");

    let mut no = sc.clone();
    no.fleet.restart.as_mut().unwrap().policy = RestartKind::No;
    let down = run(&no, RunOptions::full(sc.seed));
    let r = down.summary.restarts.clone().unwrap();
    assert_eq!(r.restarts, 0);
    assert!(r.hosts_given_up >= 1, "{r:?}");
    assert!(
        down.summary.requests_failed > 20 * rec.summary.requests_failed,
        "{} vs {}",
        down.summary.requests_failed,
        rec.summary.requests_failed
    );

    // With one replica a crash is downtime even when it is restarted.
    let mut one = sc.clone();
    one.autoscale.clear();
    one.fleet.roles[0].hosts = 1;
    one.fleet.roles[0].zones.truncate(1);
    let rec = run(&one, RunOptions::full(sc.seed));
    assert!(rec.ticks.iter().any(|t| t.requests > 0 && t.served == 0));
}
