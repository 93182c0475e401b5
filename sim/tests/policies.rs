//! Rollout policies end to end on small fleets: exact step-by-step
//! timelines (weights, host counts, times), the analysis judges inside
//! them, the summary fields, and a regression test per seed story.
#![allow(clippy::disallowed_methods)] // the shipped-scenario test reads files

use shakedown_sim::record::AuditEvent;
use shakedown_sim::{run, RunOptions, RunRecord, Scenario};

/// 10 hosts in two zones, fixed move times: a host told to move at `t`
/// serves again at `t + 60 s` (20 s install + 40 s restart) and the policy
/// sees it at that tick.
fn scenario(policy: &str, extra: &str, mode: &str) -> Scenario {
    let text = format!(
        r#"
name = "policy-test"
description = "10 hosts, fixed times, for exact timelines"
duration = "2h"
tick = "15s"
seed = 3

[fleet]
detection_delay = "30s"
[[fleet.roles]]
name = "api"
hosts = 10
zones = ["a", "b"]
capacity_rps = 100

[traffic]
curve = "constant"
rps = 400

[change]
from = "1"
to = "2"
mode = "{mode}"
drain = "5s"
install_time = "15s"
restart_time = "40s"
provision_time = "1m"

{extra}

[policy]
{policy}
"#
    );
    Scenario::parse(&text, "policy-test.toml").unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn in_place(policy: &str, extra: &str) -> Scenario {
    scenario(policy, extra, "in-place")
}

fn full(sc: &Scenario) -> RunRecord {
    run(sc, RunOptions::full(sc.seed))
}

/// `(time_s, host)` of every host instruction, in order.
fn instructs(rec: &RunRecord) -> Vec<(f64, u32, String)> {
    rec.events
        .iter()
        .filter(|e| e.kind == "instruct" || e.kind == "decommission")
        .map(|e| (e.time_s, e.host.unwrap(), e.to.clone()))
        .collect()
}

fn decisions(rec: &RunRecord) -> Vec<&AuditEvent> {
    rec.events
        .iter()
        .filter(|e| e.kind == "decision" || e.kind == "finish")
        .collect()
}

#[allow(dead_code)]
fn dump(rec: &RunRecord) {
    for e in &rec.events {
        println!(
            "{:>7} {:<12} {:>4} {:<6} {:<20} {}",
            e.time_s,
            e.kind,
            e.host.map(|h| h.to_string()).unwrap_or_default(),
            e.to,
            e.step,
            e.reason
        );
    }
    println!("{}", serde_json::to_string_pretty(&rec.summary).unwrap());
}

const BAD: &str = r#"
[[faults]]
kind = "regression"
error_rate = 0.5
"#;

fn times(rec: &RunRecord) -> Vec<(f64, u32)> {
    instructs(rec).into_iter().map(|(t, h, _)| (t, h)).collect()
}

fn has(rec: &RunRecord, t: f64, step: &str, reason: &str) -> bool {
    decisions(rec)
        .iter()
        .any(|e| e.time_s == t && e.step.contains(step) && e.reason.contains(reason))
}

fn weights(rec: &RunRecord) -> Vec<(f64, String)> {
    rec.events
        .iter()
        .filter(|e| e.step == "set-weight")
        .map(|e| (e.time_s, e.reason.clone()))
        .collect()
}

// ---- canary ------------------------------------------------------------------

/// Argo basic canary (no router): the weight is the canary's share of
/// replicas; each weight waits for its hosts, within max_unavailable 25 %
/// (2 of 10) per reconcile (issue 10 item 6: 50 % moved 3 hosts at once,
/// 30 % of the fleet unavailable); pauses run, then the rest rolls.
#[test]
fn canary_replica_count_timeline_is_exact() {
    let sc = in_place(
        r#"kind = "canary"
steps = [{ set_weight = 20 }, { pause = { duration = "2m" } }, { set_weight = 50 }, { pause = { duration = "1m" } }]"#,
        "",
    );
    let rec = full(&sc);
    #[rustfmt::skip]
    let want = vec![
        (0.0, 0), (0.0, 1),     // 20 % of 10 → 2 hosts
        (180.0, 2), (180.0, 3), // served at 60, paused 2 m; 50 % → 5, 2 at a time
        (240.0, 4),             // the first 2 serve: the fifth
        (360.0, 5), (360.0, 6), // served at 300, paused 1 m; promotion
        (420.0, 7), (420.0, 8),
        (480.0, 9),
    ];
    assert_eq!(times(&rec), want);
    assert!(has(&rec, 60.0, "step 2/4", "pause 2m at weight 20"));
    assert!(has(&rec, 360.0, "promote", "full promotion"));
    assert!(weights(&rec).is_empty(), "no router: no weights");
    let s = &rec.summary;
    assert_eq!(
        (s.outcome.as_str(), s.rollout_duration_s),
        ("completed", 540.0)
    );
    assert_eq!(s.peak_hosts_unavailable_pct, 20.0);
    assert_eq!(s.hosts_ever_on_new_pct, 100.0);
    assert_eq!(
        (s.detected_at_s, s.aborted_at_s, s.time_to_rollback_s),
        (None, None, None)
    );
}

/// Replica-count weights follow Argo's approximation: the nearest count,
/// ties up (41 % of 10 → 4, 45 % → 5), and for 0 < W < 100 at least one
/// canary and one stable host (issue 10 item 4: 5 % and 1 % of 10 → 1;
/// 1 % used to give no canary, an analysis without data, an abort; 99 % → 9).
#[test]
fn canary_replica_count_follows_argo_rounding() {
    for (w, hosts) in [(41, 4usize), (45, 5), (44, 4), (5, 1), (1, 1), (99, 9)] {
        let sc = in_place(
            &format!("kind = \"canary\"\nmax_unavailable = 10\nsteps = [{{ set_weight = {w} }}, {{ pause = {{}} }}]"),
            "",
        );
        let rec = full(&sc);
        assert_eq!(instructs(&rec).len(), hosts, "{w} %");
        assert_eq!(rec.summary.outcome, "halted", "an indefinite pause halts");
        assert!(rec.summary.outcome_reason.contains("paused indefinitely"));
        assert_eq!(rec.summary.rollout_duration_s, 60.0);
    }
}

/// Issue 10 items 6 and 7, replace mode: with max_surge 1 and
/// max_unavailable 1 the canary grows by one surge host and the stable set
/// shrinks by at most one host per reconcile, so canary + stable stays
/// within 11 and the canary ends at its share (3 of 10, stable 7).
#[test]
fn canary_basic_replace_mode_shrinks_the_stable_within_max_unavailable() {
    let rec = full(&scenario(
        "kind = \"canary\"\nmax_surge = 1\nmax_unavailable = 1\nsteps = [{ set_weight = 30 }, { pause = {} }]",
        "",
        "replace",
    ));
    let mut per_tick: std::collections::BTreeMap<u64, (u32, u32)> = Default::default();
    for e in &rec.events {
        let t = e.time_s as u64;
        if e.kind == "instruct" {
            per_tick.entry(t).or_default().0 += 1;
        } else if e.kind == "decommission" {
            per_tick.entry(t).or_default().1 += 1;
        }
    }
    assert!(
        per_tick.values().all(|&(up, down)| up <= 1 && down <= 1),
        "{per_tick:?}"
    );
    let up: u32 = per_tick.values().map(|v| v.0).sum();
    let down: u32 = per_tick.values().map(|v| v.1).sum();
    assert_eq!((up, down), (3, 3), "{per_tick:?}");
    let s = &rec.summary;
    assert_eq!(s.outcome, "halted");
    assert!(s.peak_hosts_unavailable_pct <= 10.0, "{s:?}");
    let last = rec.ticks.last().unwrap();
    assert_eq!(last.serving, 10, "7 stable + 3 canary serve");
}

/// With a router the weight is exact and set once the canary's hosts serve;
/// a failed analysis aborts: weight 0 at once, the canary scaled down after
/// abort_scale_down_delay (30 s), rolled back once the old version serves.
#[test]
fn canary_traffic_routed_abort_timeline_is_exact() {
    let sc = in_place(
        r#"kind = "canary"
traffic_routing = true
steps = [{ set_weight = 20 }, { analysis = { template = "fast" } }, { set_weight = 50 }]"#,
        &format!(
            "{BAD}\n{}",
            r#"[analysis.fast]
[[analysis.fast.metrics]]
name = "success-rate"
provider = "prometheus"
query = "success-rate"
interval = "1m"
count = 3
success_condition = "result >= 0.95""#
        ),
    );
    let rec = full(&sc);
    // 2 canary hosts at 0, serving at 60: weight 20; analysis from 60, first
    // measurement at 120 (≈ 0.5) → Failed → abort; back at 150, serving at 210.
    assert_eq!(
        instructs(&rec),
        vec![
            (0.0, 0, "2".into()),
            (0.0, 1, "2".into()),
            (150.0, 1, "1".into()),
            (150.0, 0, "1".into())
        ]
    );
    assert_eq!(
        weights(&rec),
        vec![
            (60.0, "20% of api traffic to the new version".to_string()),
            (120.0, "0% of api traffic to the new version".to_string())
        ]
    );
    assert!(has(
        &rec,
        120.0,
        "analysis fast",
        "measurement 1: success-rate = 0."
    ));
    assert!(has(&rec, 120.0, "analysis fast", "verdict Failed"));
    assert!(has(
        &rec,
        120.0,
        "abort",
        "analysis fast Failed at weight 20"
    ));
    let s = &rec.summary;
    assert_eq!(s.outcome, "rolled_back");
    assert_eq!(s.rollout_duration_s, 210.0);
    assert_eq!(s.detected_at_s, Some(120.0));
    assert_eq!(s.aborted_at_s, Some(120.0));
    assert_eq!(s.time_to_rollback_s, Some(90.0));
    assert_eq!(s.hosts_ever_on_new_pct, 20.0);
    assert_eq!(s.hosts_on_new_pct, 0.0);
}

/// Both conditions given and neither holds → Inconclusive → halted (Argo
/// pauses the rollout for a human).
#[test]
fn canary_inconclusive_analysis_halts() {
    let sc = in_place(
        r#"kind = "canary"
steps = [{ set_weight = 20 }, { analysis = { name = "band", metrics = [{ name = "sr", provider = "prometheus", query = "success-rate", interval = "1m", count = 2, success_condition = "result >= 0.99", failure_condition = "result < 0.2" }] } }]"#,
        BAD,
    );
    let rec = full(&sc);
    assert_eq!(rec.summary.outcome, "halted");
    assert!(rec
        .summary
        .outcome_reason
        .contains("analysis band Inconclusive"));
    assert_eq!(rec.summary.rollout_duration_s, 120.0);
    assert_eq!(
        rec.summary.detected_at_s, None,
        "inconclusive is not a failure"
    );
}

/// Seed 003's hotfix lane: skip_analysis records each analysis step as
/// skipped and goes on, so a bad version is promoted.
#[test]
fn canary_skip_analysis_promotes_without_judging() {
    let sc = in_place(
        r#"kind = "canary"
skip_analysis = true
steps = [{ set_weight = 20 }, { analysis = { metrics = [{ name = "sr", provider = "prometheus", query = "success-rate", interval = "1m", count = 3, success_condition = "result >= 0.95" }] } }]"#,
        BAD,
    );
    let rec = full(&sc);
    assert!(has(
        &rec,
        60.0,
        "step 2/2",
        "analysis inline skipped (skip_analysis = true)"
    ));
    assert_eq!(rec.summary.outcome, "completed");
    assert_eq!(rec.summary.detected_at_s, None);
}

// ---- blue-green ----------------------------------------------------------------

fn blue_green(policy: &str, extra: &str) -> RunRecord {
    full(&scenario(
        &format!("kind = \"blue-green\"\n{policy}"),
        extra,
        "replace",
    ))
}

/// Argo blue-green: the preview (100 %) comes up without traffic, the
/// health gate passes when every host is available, the switch sends all
/// traffic, and the old set goes scale_down_delay (30 s) later.
#[test]
fn blue_green_timeline_is_exact() {
    let rec = blue_green("", "");
    let inst = instructs(&rec);
    assert_eq!(inst.len(), 20);
    assert!(inst[..10]
        .iter()
        .all(|(t, h, to)| *t == 0.0 && *h >= 10 && to == "2"));
    assert!(inst[10..].iter().all(|(t, h, _)| *t == 90.0 && *h < 10));
    assert_eq!(
        weights(&rec),
        vec![
            (0.0, "0% of api traffic to the new version".to_string()),
            (60.0, "100% of api traffic to the new version".to_string())
        ]
    );
    assert!(has(&rec, 60.0, "health", "health gate passed"));
    assert!(has(&rec, 60.0, "switch", "all traffic"));
    // Old hosts drain 5 s; the 105 s tick sees none left.
    assert_eq!(rec.summary.outcome, "completed");
    assert_eq!(rec.summary.rollout_duration_s, 105.0);
    assert_eq!(rec.summary.requests_failed, 0);

    // auto_promotion_seconds waits after the gate.
    let rec = blue_green("auto_promotion_seconds = 120", "");
    assert!(has(&rec, 180.0, "switch", "all traffic"));
    assert_eq!(rec.summary.rollout_duration_s, 225.0);

    // auto_promotion_enabled = false waits for a human.
    let rec = blue_green("auto_promotion_enabled = false", "");
    assert_eq!(rec.summary.outcome, "halted");
    assert_eq!(rec.summary.rollout_duration_s, 60.0);

    // A 30 % preview is scaled to full size before the switch.
    let rec = blue_green("preview_replica_count = \"30%\"", "");
    let provisioned: Vec<f64> = instructs(&rec)
        .iter()
        .filter(|(_, h, _)| *h >= 10)
        .map(|x| x.0)
        .collect();
    assert_eq!(provisioned, [vec![0.0; 3], vec![60.0; 7]].concat());
    assert!(has(&rec, 120.0, "switch", "all traffic"));
    assert_eq!(rec.summary.rollout_duration_s, 165.0);
}

/// A preview that never becomes healthy fails the gate after health_timeout:
/// traffic never leaves the old set and the preview is terminated.
#[test]
fn blue_green_health_gate_timeout_keeps_traffic_on_old() {
    let rec = blue_green(
        "health_timeout = \"2m\"",
        "[[faults]]\nkind = \"incompatible-roles\"\nroles = [\"api\"]\neffect = \"fail-to-start\"",
    );
    assert!(has(&rec, 135.0, "abort", "health gate"));
    let s = &rec.summary;
    assert_eq!(s.outcome, "rolled_back");
    assert_eq!(
        (s.detected_at_s, s.aborted_at_s),
        (Some(135.0), Some(135.0))
    );
    assert_eq!(
        s.requests_failed, 0,
        "no user request ever reached the preview"
    );
}

/// Seed 002: the new version passes health checks idle and falls over under
/// load. Without post-promotion analysis the switch is final; with it,
/// traffic returns to the old set, which is still there.
#[test]
fn seed_002_post_promotion_analysis_returns_traffic_after_a_crash_under_load() {
    let crash =
        "[[faults]]\nkind = \"fails-under-load\"\nrps_per_host = 30\nrecover_after = \"1m\"";
    let without = blue_green("", crash);
    assert_eq!(without.summary.outcome, "completed");
    assert!(without.summary.requests_failed > 0);
    assert_eq!(without.summary.detected_at_s, None);

    let with = blue_green(
        r#"post_promotion_analysis = { metrics = [{ name = "sr", provider = "prometheus", query = "success-rate", interval = "30s", count = 4, success_condition = "result >= 0.95" }] }"#,
        crash,
    );
    // Switch at 60; the 75 s tick crashes every new host (40 rps each);
    // the first measurement at 90 fails; weight 0 at once, the new set goes
    // 30 s later (120) and is gone at 135.
    assert!(has(&with, 90.0, "post-promotion", "verdict Failed"));
    let s = &with.summary;
    assert_eq!(s.outcome, "rolled_back");
    assert_eq!((s.detected_at_s, s.aborted_at_s), (Some(90.0), Some(90.0)));
    assert_eq!(s.time_to_rollback_s, Some(45.0));
    assert_eq!(s.hosts_on_new_pct, 0.0);
    assert!(s.requests_failed < without.summary.requests_failed / 10);
}

// ---- flagger -------------------------------------------------------------------

fn flagger(policy: &str, extra: &str) -> RunRecord {
    full(&in_place(
        &format!(
            "kind = \"flagger\"\ninterval = \"1m\"\nmetrics = [{{ query = \"success-rate\", min = 0.99 }}]\n{policy}"
        ),
        extra,
    ))
}

/// Flagger: one check per interval at each weight (10, 20, 30), then the
/// primary rolls: promotion starts interval × max_weight / step_weight =
/// 3 min after the first weight was routed.
#[test]
fn flagger_timeline_is_exact() {
    let rec = flagger("step_weight = 10\nmax_weight = 30", "");
    #[rustfmt::skip]
    assert_eq!(times(&rec), vec![
        (0.0, 0),               // canary for 10 %: 1 host, serves at 60
        (120.0, 1),             // check at 120 passes → 20 %
        (240.0, 2),             // check at 240 passes → 30 %
        (360.0, 3), (360.0, 4), // check at 360 passes → promote: primary rolls 2 at a time
        (420.0, 5), (420.0, 6),
        (480.0, 7), (480.0, 8),
        (540.0, 9),
    ]);
    let w: Vec<(f64, String)> = weights(&rec);
    assert_eq!(w[0], (60.0, "10% of api traffic to the new version".into()));
    assert_eq!(
        w[1],
        (180.0, "20% of api traffic to the new version".into())
    );
    assert_eq!(
        w[2],
        (300.0, "30% of api traffic to the new version".into())
    );
    assert_eq!(w[3].0, 360.0);
    assert!(w[3].1.contains("follows serving capacity"));
    assert!(has(&rec, 0.0, "initialise", "minimum promotion time 3m"));
    assert_eq!(rec.summary.outcome, "completed");
    assert_eq!(rec.summary.rollout_duration_s, 600.0);
}

/// threshold = failed checks before rollback: 1 rolls back at the first
/// failed check, 2 at the second.
#[test]
fn flagger_rolls_back_at_threshold_failed_checks() {
    let one = flagger("step_weight = 10\nmax_weight = 30", BAD);
    assert!(has(&one, 120.0, "weight 10", "check failed"));
    assert_eq!(one.summary.aborted_at_s, Some(120.0));
    assert_eq!(one.summary.outcome, "rolled_back");
    assert_eq!(one.summary.rollout_duration_s, 180.0);

    let two = flagger("step_weight = 10\nmax_weight = 30\nthreshold = 2", BAD);
    assert_eq!(two.summary.detected_at_s, Some(120.0));
    assert_eq!(two.summary.aborted_at_s, Some(180.0));
    assert_eq!(two.summary.rollout_duration_s, 240.0);
    assert_eq!(two.summary.time_to_rollback_s, Some(60.0));
}

// ---- linear (Tsunami) -------------------------------------------------------------

fn linear(policy: &str, extra: &str) -> RunRecord {
    full(&in_place(&format!("kind = \"linear\"\n{policy}"), extra))
}

/// Tsunami: ceil(f(t) × hosts) every step; `max_pct` caps a step.
#[test]
fn linear_timeline_is_exact() {
    let rec = linear("duration = \"1h\"\nstep = \"15m\"", "");
    let per_step: Vec<(f64, usize)> = {
        let mut v: Vec<(f64, usize)> = Vec::new();
        for (t, _) in times(&rec) {
            match v.last_mut() {
                Some(l) if l.0 == t => l.1 += 1,
                _ => v.push((t, 1)),
            }
        }
        v
    };
    // 25 % → 3 (2.5 up), 50 % → 5, 75 % → 8 (7.5 up), 100 % → 10.
    assert_eq!(
        per_step,
        vec![(900.0, 3), (1800.0, 2), (2700.0, 3), (3600.0, 2)]
    );
    assert_eq!(rec.summary.rollout_duration_s, 3660.0);
    let first = rec.events.iter().find(|e| e.kind == "instruct").unwrap();
    assert_eq!(first.step, "linear step 1");
    assert!(
        first.reason.contains("target 25.0000 % → 3 of 10 hosts"),
        "{}",
        first.reason
    );

    let capped = linear("duration = \"1h\"\nstep = \"15m\"\nmax_pct = 20", "");
    let t: Vec<f64> = times(&capped).iter().map(|x| x.0).collect();
    assert_eq!(
        t,
        [900.0, 900.0, 1800.0, 1800.0, 2700.0, 2700.0, 3600.0, 3600.0, 4500.0, 4500.0]
    );
    assert_eq!(capped.summary.rollout_duration_s, 4560.0);
}

/// Tsunami's SLO monitor halts (it does not roll back) when the new
/// version's success rate leaves its range.
#[test]
fn linear_slo_violation_halts() {
    let rec = linear(
        "duration = \"1h\"\nstep = \"15m\"\nslo_window = \"5m\"\nslo = [{ query = \"success-rate\", min = 0.9 }]",
        BAD,
    );
    // First hosts move at 900 and serve at 960; the 1200 s window has data.
    assert_eq!(rec.summary.outcome, "halted");
    assert_eq!(rec.summary.rollout_duration_s, 1200.0);
    assert_eq!(rec.summary.detected_at_s, Some(1200.0));
    assert_eq!(rec.summary.aborted_at_s, None);
    assert_eq!(rec.summary.hosts_on_new_pct, 30.0);
}

// ---- waves (AWS) ---------------------------------------------------------------

fn waves(policy: &str, extra: &str) -> RunRecord {
    let mut sc = in_place(&format!("kind = \"waves\"\n{policy}"), extra);
    sc.duration = shakedown_sim::time::SimDuration::from_hours(4);
    full(&sc)
}

/// One-box (1 of zone a's 5 hosts), bake 1 h, wave 1 = zone a one host at a
/// time (25 % of 5 → 1), bake 2 h after the first wave, wave 2 = zone b.
#[test]
fn waves_timeline_is_exact() {
    let rec = waves("", "");
    #[rustfmt::skip]
    assert_eq!(times(&rec), vec![
        (0.0, 0),
        (3660.0, 2), (3720.0, 4), (3780.0, 6), (3840.0, 8),
        (11100.0, 1), (11160.0, 3), (11220.0, 5), (11280.0, 7), (11340.0, 9),
    ]);
    assert!(has(&rec, 60.0, "bake", "one-box serving: bake 1h"));
    assert!(has(&rec, 3900.0, "bake", "wave 1 done: bake 2h"));
    assert_eq!(rec.summary.outcome, "completed");
    assert_eq!(rec.summary.rollout_duration_s, 11400.0);
}

/// The minimum-requests guard extends a bake that saw too little traffic.
#[test]
fn waves_min_requests_guard_extends_the_bake() {
    let rec = waves("min_requests = 1000000000", "");
    assert!(has(&rec, 3660.0, "bake", "extended"));
    assert_eq!(rec.summary.outcome, "timed_out");
    assert_eq!(times(&rec).len(), 1, "only the one-box moved");
}

/// An alarm on the new version rolls every wave back.
#[test]
fn waves_alarm_rolls_back() {
    let rec = waves("alarms = [{ query = \"error-rate\", max = 0.1 }]", BAD);
    assert!(has(&rec, 60.0, "alarm", "in ALARM"));
    assert_eq!(times(&rec), vec![(0.0, 0), (60.0, 0)]);
    let s = &rec.summary;
    assert_eq!(s.outcome, "rolled_back");
    assert_eq!(
        (s.detected_at_s, s.aborted_at_s, s.time_to_rollback_s),
        (Some(60.0), Some(60.0), Some(60.0))
    );
}

// ---- staged -----------------------------------------------------------------------

/// Spotify 2014: the whole test environment, a bake, then all of production
/// at once.
#[test]
fn staged_timeline_is_exact() {
    let text = |policy: &str| {
        format!(
            r#"
name = "staged"
description = "a 2-host test role and a 10-host production role"
duration = "3h"
[[fleet.roles]]
name = "test"
hosts = 2
capacity_rps = 100
[[fleet.roles]]
name = "api"
hosts = 10
capacity_rps = 100
[fleet]
[traffic]
curve = "constant"
rps = 400
[change]
from = "1"
to = "2"
install_time = "20s"
restart_time = "40s"
[policy]
kind = "staged"
bake = "1h"
{policy}
"#
        )
    };
    let sc = Scenario::parse(&text("test_roles = [\"test\"]"), "staged.toml").unwrap();
    let rec = full(&sc);
    let t: Vec<f64> = times(&rec).iter().map(|x| x.0).collect();
    assert_eq!(t, [vec![0.0; 2], vec![3660.0; 10]].concat());
    assert!(has(&rec, 60.0, "bake", "bake 1h"));
    assert_eq!(rec.summary.outcome, "completed");
    assert_eq!(rec.summary.rollout_duration_s, 3720.0);

    // A fraction of every role: ceil(25 % × 2) = 1 and ceil(25 % × 10) = 3.
    let sc = Scenario::parse(&text("test_fraction = 0.25"), "staged.toml").unwrap();
    let rec = full(&sc);
    let first: Vec<(f64, u32)> = times(&rec).into_iter().filter(|x| x.0 == 0.0).collect();
    assert_eq!(first, vec![(0.0, 0), (0.0, 2), (0.0, 3), (0.0, 4)]);
    assert_eq!(rec.summary.rollout_duration_s, 3720.0);
}

// ---- deploy windows -----------------------------------------------------------------

/// Outside the window the policy waits; it starts when the window opens.
#[test]
fn deploy_window_waits_for_business_hours() {
    let mut sc = in_place(
        "kind = \"rolling\"\nmax_unavailable = 5\n[policy.window]\ndays = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]\nstart_hour = 9\nend_hour = 17\nutc_offset_h = 1",
        "",
    );
    sc.duration = shakedown_sim::time::SimDuration::from_hours(80);
    // t = 0 is Monday 00:00 UTC = 01:00 local: opens at 09:00 local = 08:00 UTC.
    let rec = full(&sc);
    assert!(has(
        &rec,
        0.0,
        "deploy-window",
        "closed: the rollout waits (Mon 01:00"
    ));
    assert!(has(&rec, 28800.0, "deploy-window", "opens (Mon 09:00"));
    let t: Vec<f64> = times(&rec).iter().map(|x| x.0).collect();
    assert_eq!(t, [vec![28800.0; 5], vec![28860.0; 5]].concat());
    assert_eq!(rec.summary.rollout_duration_s, 28920.0);

    // Starting on a Saturday it waits for Monday 09:00 local.
    let text = sc
        .to_toml()
        .replace("start_weekday = \"mon\"", "start_weekday = \"sat\"");
    let rec = full(&Scenario::parse(&text, "sat.toml").unwrap());
    let first = times(&rec)[0].0;
    assert_eq!(first, 2.0 * 86400.0 + 28800.0);
}

// ---- the analysis judges on hand-built observations -------------------------------

mod judges {
    use shakedown_sim::analysis::run::{assess, run_phase, MetricResult};
    use shakedown_sim::analysis::spec::{
        AnalysisSpec, CohortName, MetricSpec, Provider, SeriesSpec,
    };
    use shakedown_sim::analysis::{AnalysisPhase, AnalysisRun, Condition, Query, Scope};
    use shakedown_sim::policy::{Action, GroupView, Observation, Sample};
    use shakedown_sim::stats::{Direction, OutlierStrategy};
    use shakedown_sim::time::{SimDuration, SimTime};
    use AnalysisPhase::*;

    fn prom(success: Option<&str>, failure: Option<&str>) -> MetricSpec {
        MetricSpec {
            name: "sr".into(),
            interval: Some(SimDuration::from_secs(60)),
            count: Some(5),
            initial_delay: SimDuration::ZERO,
            failure_limit: 0,
            inconclusive_limit: 0,
            consecutive_error_limit: 4,
            consecutive_success_limit: 0,
            dry_run: false,
            provider: Provider::Prometheus {
                query: Query::SuccessRate,
                cohort: CohortName::New,
                endpoint: None,
                weights: None,
                success_condition: success.map(|s| Condition::parse(s).unwrap()),
                failure_condition: failure.map(|s| Condition::parse(s).unwrap()),
                min_requests: None,
            },
        }
    }

    fn group(new: (u64, u64), old: (u64, u64)) -> GroupView {
        GroupView {
            new_metrics: Sample {
                requests: new.0,
                failed: new.1,
                ..Sample::default()
            },
            old_metrics: Sample {
                requests: old.0,
                failed: old.1,
                ..Sample::default()
            },
            ..GroupView::default()
        }
    }

    /// Feeds one observation per minute with the canary's (requests,
    /// failed); returns the run phase after each.
    fn feed(spec: &AnalysisSpec, per_minute: &[Option<(u64, u64)>]) -> Vec<AnalysisPhase> {
        let mut run = AnalysisRun::start(spec, Scope::All, SimTime::ZERO, "");
        let mut notes: Vec<Action> = Vec::new();
        per_minute
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let g = [group(m.unwrap_or((0, 0)), (100, 0))];
                let obs = Observation {
                    now: SimTime::from_millis((i as u64 + 1) * 60_000),
                    started_at: SimTime::ZERO,
                    groups: &g,
                    zones: &[],
                    endpoints: &[],
                };
                run.observe(&obs, &mut notes)
            })
            .collect()
    }

    fn one(metric: MetricSpec) -> AnalysisSpec {
        AnalysisSpec {
            name: "t".into(),
            metrics: vec![metric],
        }
    }

    const OK: Option<(u64, u64)> = Some((100, 0));
    const BAD: Option<(u64, u64)> = Some((100, 10));
    const NONE: Option<(u64, u64)> = None;

    #[test]
    fn phases_are_ordered_best_to_worst() {
        let order = [Successful, Running, Pending, Inconclusive, Error, Failed];
        for w in order.windows(2) {
            assert!(w[0] < w[1], "{:?} < {:?}", w[0], w[1]);
        }
        // The run's phase is the worst completed gating phase once every
        // metric has ended, Running before (Argo's assessRunStatus; the full
        // table is sim/tests/conformance_analysis.rs).
        assert_eq!(
            run_phase([(false, Successful), (false, Failed)].into_iter(), false),
            Failed
        );
        assert_eq!(
            run_phase([(false, Inconclusive), (false, Error)].into_iter(), false),
            Error
        );
        assert_eq!(
            run_phase([(false, Successful), (false, Running)].into_iter(), false),
            Running
        );
        assert_eq!(
            run_phase([(false, Pending), (false, Pending)].into_iter(), false),
            Running
        );
        assert_eq!(
            run_phase([(false, Running), (false, Inconclusive)].into_iter(), true),
            Inconclusive
        );
        // Dry-run metrics never gate (issue 10 item 9).
        assert_eq!(
            run_phase([(false, Successful), (true, Failed)].into_iter(), false),
            Successful
        );
        assert_eq!(run_phase([(true, Failed)].into_iter(), false), Successful);
    }

    #[test]
    fn argo_evaluate_result_rules() {
        let s = one(prom(Some("result >= 0.95"), None));
        assert_eq!(
            feed(&s, &[BAD]),
            vec![Failed],
            "success only: not met is Failed"
        );
        let s = one(prom(None, Some("result < 0.5")));
        assert_eq!(
            feed(&s, &[BAD]),
            vec![Running],
            "failure only: not met is Successful"
        );
        let s = one(prom(Some("result >= 0.95"), Some("result < 0.5")));
        assert_eq!(feed(&s, &[BAD]), vec![Inconclusive], "both, neither holds");
        let s = one(prom(None, None));
        assert_eq!(
            feed(&s, &[BAD, BAD, BAD, BAD, BAD]).last(),
            Some(&Successful)
        );
    }

    #[test]
    fn failure_limit_default_0_counts_and_minus_1_disables() {
        let mut m = prom(Some("result >= 0.95"), None);
        let s = one(m.clone());
        assert_eq!(feed(&s, &[OK, BAD]), vec![Running, Failed]);
        m.failure_limit = 2;
        let s = one(m.clone());
        assert_eq!(
            feed(&s, &[BAD, BAD, OK, BAD]),
            vec![Running, Running, Running, Failed]
        );
        assert_eq!(feed(&s, &[BAD, BAD, OK, OK, OK]).last(), Some(&Successful));
        m.failure_limit = -1;
        let s = one(m);
        assert_eq!(feed(&s, &[BAD; 5]).last(), Some(&Successful));
    }

    #[test]
    fn inconclusive_limit_defaults_to_0() {
        let mut m = prom(Some("result >= 0.95"), Some("result < 0.5"));
        assert_eq!(
            feed(&one(m.clone()), &[OK, BAD]),
            vec![Running, Inconclusive]
        );
        m.inconclusive_limit = 1;
        assert_eq!(
            feed(&one(m), &[BAD, OK, BAD]),
            vec![Running, Running, Inconclusive]
        );
    }

    /// Missing data is a measurement Error: 4 in a row are tolerated, the
    /// 5th fails the metric with Error; a good measurement resets the streak
    /// and errors do not count towards `count`.
    #[test]
    fn consecutive_error_limit_defaults_to_4() {
        let m = prom(Some("result >= 0.95"), None);
        let s = one(m.clone());
        assert_eq!(
            feed(&s, &[NONE, NONE, NONE, NONE, NONE]),
            vec![Running, Running, Running, Running, Error]
        );
        let p = feed(
            &s,
            &[
                NONE, NONE, NONE, NONE, OK, NONE, NONE, NONE, NONE, OK, OK, OK, OK,
            ],
        );
        assert_eq!(p.last(), Some(&Successful));
        assert_eq!(p.iter().filter(|x| **x == Error).count(), 0);
        let r = MetricResult {
            measurements: 9,
            count: 5,
            error: 4,
            ..MetricResult::default()
        };
        assert_eq!(assess(&m, &r), Successful);
    }

    #[test]
    fn dry_run_metrics_are_measured_but_never_gate() {
        let mut dry = prom(Some("result >= 0.99"), None);
        dry.dry_run = true;
        dry.name = "dry".into();
        let s = AnalysisSpec {
            name: "t".into(),
            metrics: vec![prom(Some("result >= 0.5"), None), dry],
        };
        let p = feed(&s, &[BAD; 5]);
        assert_eq!(p.last(), Some(&Successful));
    }

    fn kayenta(min_samples: usize) -> AnalysisSpec {
        one(MetricSpec {
            name: "judge".into(),
            interval: Some(SimDuration::from_secs(60 * 60)),
            count: Some(1),
            initial_delay: SimDuration::ZERO,
            failure_limit: 0,
            inconclusive_limit: 0,
            consecutive_error_limit: 4,
            consecutive_success_limit: 0,
            dry_run: false,
            provider: Provider::Kayenta {
                series: vec![SeriesSpec {
                    query: Query::ErrorCount,
                    name: "errors".into(),
                    group: "errors".into(),
                    direction: Direction::Increase,
                    critical: false,
                    must_have_data: false,
                    allowed_increase: 1.0,
                    allowed_decrease: 1.0,
                    outlier_strategy: OutlierStrategy::Keep,
                    outlier_factor: 3.0,
                }],
                pass: 95.0,
                marginal: 75.0,
                min_samples,
                confidence: 0.98,
                tolerance: 0.25,
                outlier_factor: 3.0,
            },
        })
    }

    /// Runs the judge over `n` per-scrape points `(canary, baseline)` error
    /// counts, one per 15 s tick, judged once after the hour.
    fn judge_over(spec: &AnalysisSpec, points: &[(u64, u64)]) -> (AnalysisPhase, String) {
        let mut run = AnalysisRun::start(spec, Scope::All, SimTime::ZERO, "");
        let mut notes = Vec::new();
        for (i, (c, b)) in points.iter().enumerate() {
            let g = [group((1000, *c), (1000, *b))];
            let obs = Observation {
                now: SimTime::from_millis((i as u64 + 1) * 15_000),
                started_at: SimTime::ZERO,
                groups: &g,
                zones: &[],
                endpoints: &[],
            };
            run.observe(&obs, &mut notes);
        }
        // The hour's last tick repeats the last point and takes the measurement.
        let (c, b) = *points.last().unwrap();
        let g = [group((1000, c), (1000, b))];
        let obs = Observation {
            now: SimTime::from_millis(3_600_000),
            started_at: SimTime::ZERO,
            groups: &g,
            zones: &[],
            endpoints: &[],
        };
        let phase = run.observe(&obs, &mut notes);
        let text = notes
            .iter()
            .filter_map(|a| match a {
                Action::Note { reason, .. } => Some(reason.clone()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n");
        (phase, text)
    }

    /// Hand-computed cases: identical constant samples pass; a constant
    /// canary above a constant baseline is High (every pairwise difference
    /// is the same, so the interval is that difference); ties between the
    /// two sides do not break the judge.
    #[test]
    fn statistical_judge_on_hand_computed_cases() {
        let s = kayenta(50);
        // Both constant and equal.
        let (p, text) = judge_over(&s, &vec![(3, 3); 60]);
        assert_eq!(p, Successful, "{text}");
        // Canary constant 5, baseline constant 1: HL = 4, interval [4, 4].
        let (p, text) = judge_over(&s, &vec![(5, 1); 60]);
        assert_eq!(p, Failed, "{text}");
        assert!(text.contains("errors High"), "{text}");
        // Ties across the sides: both alternate 1, 2 — identical multisets.
        let pts: Vec<(u64, u64)> = (0..60).map(|i| (1 + i % 2, 2 - i % 2)).collect();
        let (p, text) = judge_over(&s, &pts);
        assert_eq!(p, Successful, "{text}");
        // Canary lower than baseline on an increase-only metric: a pass.
        let (p, _) = judge_over(&s, &vec![(1, 5); 60]);
        assert_eq!(p, Successful);
    }

    /// The minimum-sample guard: below 50 points per side the judge answers
    /// Inconclusive, never a pass or a failure.
    #[test]
    fn statistical_judge_minimum_sample_guard() {
        let s = kayenta(50);
        // 48 ticks + the final one = 49 points per side.
        let (p, text) = judge_over(&s, &vec![(5, 1); 48]);
        assert_eq!(p, Inconclusive, "{text}");
        assert!(text.contains("too few samples"), "{text}");
        let (p, _) = judge_over(&s, &vec![(5, 1); 49]);
        assert_eq!(p, Failed);
        let (p, text) = judge_over(&kayenta(0), &[(5, 1); 5]);
        assert_eq!(p, Failed, "min_samples = 0 disables the guard: {text}");
    }

    /// Issue 10 item 13: a series keeps its outliers unless it says
    /// `outlier_strategy = "remove"` (Kayenta's opt-in `outliers.strategy`);
    /// its factor falls back to the metric's `outlier_factor`, then 3.
    #[test]
    fn kayenta_series_keep_outliers_unless_told_to_remove_them() {
        let sc = crate::in_place(
            r#"kind = "canary"
steps = [{ set_weight = 20 }, { analysis = { template = "j" } }]"#,
            r#"[analysis.j]
[[analysis.j.metrics]]
name = "judge"
provider = "kayenta"
count = 1
outlier_factor = 2.0
series = [
  { query = "error-count", name = "kept" },
  { query = "error-count", name = "removed", outlier_strategy = "remove" },
  { query = "error-count", name = "own", outlier_strategy = "remove", outlier_factor = 1.5 },
]"#,
        );
        let resolved: toml::Value = toml::from_str(&sc.to_toml()).unwrap();
        let mut found = Vec::new();
        find_series(&resolved, &mut found);
        assert_eq!(
            found,
            [
                ("kept".to_string(), "keep".to_string(), 2.0),
                ("removed".to_string(), "remove".to_string(), 2.0),
                ("own".to_string(), "remove".to_string(), 1.5),
            ],
            "{}",
            sc.to_toml()
        );
    }

    /// Every judge series in a resolved scenario: (name, strategy, factor).
    fn find_series(v: &toml::Value, out: &mut Vec<(String, String, f64)>) {
        match v {
            toml::Value::Table(t) => {
                if let (Some(n), Some(s), Some(f)) = (
                    t.get("name").and_then(|x| x.as_str()),
                    t.get("outlier_strategy").and_then(|x| x.as_str()),
                    t.get("outlier_factor").and_then(|x| x.as_float()),
                ) {
                    out.push((n.to_string(), s.to_string(), f));
                }
                t.values().for_each(|x| find_series(x, out));
            }
            toml::Value::Array(a) => a.iter().for_each(|x| find_series(x, out)),
            _ => {}
        }
    }
}

// ---- shipped scenarios and seed stories -------------------------------------------

fn shipped(name: &str) -> Scenario {
    let path = format!(
        "{}/../scenarios/policies/{name}.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    Scenario::parse(&text, &path).unwrap_or_else(|e| panic!("{e}"))
}

/// Every example in `scenarios/policies/` is documented, small, parses,
/// prints back to itself (`--print-resolved`), and ends as its header says.
#[test]
fn shipped_policy_scenarios_run_as_documented() {
    let dir = format!("{}/../scenarios/policies", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    // Policy-only files (a `[policy]` table for `--policy`, the demo's) are
    // checked where the demo runs them (cli/tests/reproduce.rs).
    let (policy_only, scenarios): (Vec<_>, Vec<_>) = files.into_iter().partition(|p| {
        shakedown_sim::scenario::is_policy_file(&std::fs::read_to_string(p).unwrap())
    });
    let stems = |v: &[std::path::PathBuf]| -> Vec<String> {
        v.iter()
            .map(|p| p.file_stem().unwrap().to_string_lossy().to_string())
            .collect()
    };
    assert_eq!(
        stems(&policy_only),
        [
            "demo-all-at-once",
            "demo-linear",
            "demo-rolling",
            "demo-waves"
        ]
    );
    let files = scenarios;
    let expect = [
        ("blue-green", "rolled_back"),
        ("canary-24h-analysis", "rolled_back"),
        ("canary-weighted-endpoints", "rolled_back"),
        ("canary", "completed"),
        ("deploy-window", "completed"),
        ("flagger", "completed"),
        ("linear", "completed"),
        ("staged", "completed"),
        ("waves", "rolled_back"),
    ];
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().to_string())
        .collect();
    assert_eq!(names, expect.map(|e| e.0.to_string()));
    for (path, (name, outcome)) in files.iter().zip(expect) {
        let text = std::fs::read_to_string(path).unwrap();
        assert!(
            text.starts_with(&format!("# {name}: ")),
            "{name}: the file opens with what it shows"
        );
        let sc = shipped(name);
        assert!(sc.host_count() <= 1000, "{name}: keep CI fast");
        let again = Scenario::parse(&sc.to_toml(), "resolved")
            .unwrap_or_else(|e| panic!("{name} resolved: {e}\n{}", sc.to_toml()));
        assert_eq!(sc, again, "{name}: resolved form differs");
        let rec = run(&sc, RunOptions::summary_only(sc.seed));
        assert_eq!(rec.summary.outcome, outcome, "{name}: {:?}", rec.summary);
        assert_eq!(rec, run(&sc, RunOptions::summary_only(sc.seed)), "{name}");
    }
}

/// Seed story (Soluto's canary lessons): a canary released at the users'
/// trough with a 13-minute fail-fast analysis passes a version that crashes
/// at their peak; the same canary with a 24 h analysis catches it.
#[test]
fn seed_canary_in_the_wrong_time_zone_needs_a_24h_analysis() {
    let fast = shipped("../canary-wrong-timezone");
    let day = shipped("canary-24h-analysis");
    // Fixed seed: both outcomes.
    let f = run(&fast, RunOptions::summary_only(13)).summary;
    assert_eq!(f.outcome, "completed");
    assert_eq!(f.detected_at_s, None);
    assert_eq!(f.hosts_on_new_pct, 100.0);
    assert!(
        f.success_rate < 0.5,
        "the whole fleet falls over at the peak"
    );
    let d = run(&day, RunOptions::summary_only(13)).summary;
    assert_eq!(d.outcome, "rolled_back");
    // Caught by the 8th hourly measurement, once the users' load passes
    // 60 rps per host (about 7.75 h in).
    assert_eq!(d.detected_at_s, Some(28845.0));
    assert_eq!(d.hosts_ever_on_new_pct, 5.0);
    assert!(d.requests_failed * 1000 < f.requests_failed);

    // Direction over 100 seeds: the 24 h analysis catches it (nearly)
    // always, the fail-fast one (nearly) never.
    let (mut fast_caught, mut day_caught) = (0, 0);
    for seed in 0..100 {
        let mut a = fast.clone();
        let mut b = day.clone();
        a.duration = shakedown_sim::time::SimDuration::from_hours(9);
        b.duration = shakedown_sim::time::SimDuration::from_hours(9);
        if run(&a, RunOptions::summary_only(seed)).summary.outcome == "rolled_back" {
            fast_caught += 1;
        }
        if run(&b, RunOptions::summary_only(seed)).summary.outcome == "rolled_back" {
            day_caught += 1;
        }
    }
    assert!(
        fast_caught <= 5,
        "fail-fast caught it {fast_caught}/100 times"
    );
    assert!(day_caught >= 95, "24 h caught it {day_caught}/100 times");
}

/// Seed 003: a rarely-called endpoint's regression hides in the pooled
/// success rate; the weighted per-endpoint rate (Σ weight_e × success_e)
/// catches it. The pooled metric runs as dry_run: measured, never gating.
#[test]
fn seed_003_weighted_endpoint_success_rate_catches_a_rare_endpoint() {
    let rec = full(&shipped("canary-weighted-endpoints"));
    let notes: Vec<&str> = decisions(&rec)
        .iter()
        .filter(|e| e.reason.contains("measurement 1:"))
        .map(|e| e.reason.as_str())
        .collect();
    assert_eq!(notes.len(), 2, "{notes:?}");
    let value = |n: &str| -> f64 {
        let r = notes.iter().find(|r| r.contains(n)).unwrap();
        let v = r.split(" = ").nth(1).unwrap();
        v.split(' ').next().unwrap().parse().unwrap()
    };
    let (weighted, pooled) = (value("`weighted-success`"), value("`pooled-success`"));
    assert!(pooled > 0.98, "pooled {pooled}");
    assert!((weighted - 0.76).abs() < 0.05, "weighted {weighted}");
    assert!(notes.iter().any(|r| r.contains("[dry-run]")));
    assert_eq!(rec.summary.outcome, "rolled_back");
    assert_eq!(rec.summary.detected_at_s, Some(120.0));

    // The hotfix lane (skip_analysis) ships it anyway.
    let text = std::fs::read_to_string(format!(
        "{}/../scenarios/policies/canary-weighted-endpoints.toml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .replace(
        "kind = \"canary\"",
        "kind = \"canary\"\nskip_analysis = true",
    );
    let hotfix = run(
        &Scenario::parse(&text, "hotfix.toml").unwrap(),
        RunOptions::summary_only(3),
    );
    assert_eq!(hotfix.summary.outcome, "completed");
}

/// Flagger's blue/green mode: a full copy without traffic, `iterations`
/// checks one interval apart, then all traffic and the primary goes.
#[test]
fn flagger_blue_green_iterations_timeline_is_exact() {
    let rec = full(&scenario(
        "kind = \"flagger\"\ninterval = \"1m\"\niterations = 3\nmetrics = [{ query = \"success-rate\", min = 0.99 }]",
        "",
        "replace",
    ));
    let inst = instructs(&rec);
    assert!(inst[..10].iter().all(|(t, h, _)| *t == 0.0 && *h >= 10));
    assert!(inst[10..].iter().all(|(t, h, _)| *t == 240.0 && *h < 10));
    for (t, n) in [(120.0, 1), (180.0, 2), (240.0, 3)] {
        assert!(
            has(&rec, t, &format!("iteration {n}"), "check passed"),
            "{t}"
        );
    }
    assert_eq!(
        weights(&rec),
        vec![
            (0.0, "0% of api traffic to the new version".to_string()),
            (240.0, "100% of api traffic to the new version".to_string())
        ]
    );
    assert_eq!(rec.summary.outcome, "completed");
    assert_eq!(rec.summary.rollout_duration_s, 255.0);
}

/// Tsunami's shapes and floors: geometric from `start_pct` to 100 %,
/// breakpoints interpolated linearly, and at least `min_hosts` per role.
#[test]
fn linear_shapes_and_min_hosts() {
    use shakedown_sim::policy::spec::{LinearSpec, OnBreach, Point, Shape};
    use shakedown_sim::policy::Linear;
    use shakedown_sim::time::SimDuration;
    let d = SimDuration::from_hours(100);
    let at = |h: u64| SimDuration::from_hours(h);
    let exp = Shape::Geometric { start_pct: 1.0 };
    assert!((exp.fraction(at(0), d) - 0.01).abs() < 1e-12);
    assert!((exp.fraction(at(50), d) - 0.1).abs() < 1e-12);
    assert_eq!(exp.fraction(at(100), d), 1.0);
    let bp = Shape::Breakpoints {
        points: vec![
            Point {
                at: at(10),
                pct: 1.0,
            },
            Point {
                at: at(60),
                pct: 51.0,
            },
            Point {
                at: at(80),
                pct: 100.0,
            },
        ],
    };
    assert!((bp.fraction(at(5), d) - 0.005).abs() < 1e-12);
    assert!((bp.fraction(at(35), d) - 0.26).abs() < 1e-12);
    assert_eq!(bp.fraction(at(90), d), 1.0);

    let spec = LinearSpec {
        duration: d,
        shape: Shape::Linear {
            growth_factor: None,
        },
        step: at(1),
        min_hosts: 1,
        max_pct: 100.0,
        slo: vec![],
        slo_window: SimDuration::from_mins(5),
        bake: SimDuration::ZERO,
        on_slo_breach: OnBreach::Halt,
    };
    let p = Linear::new(spec, 1);
    // 1 % of a 3-host role is one host ("at least one host"); of 300, 3.
    assert_eq!(p.target(at(1), 3), 1);
    assert_eq!(p.target(at(1), 300), 3);
    assert_eq!(p.target(at(0), 300), 0);
    // 30 % of 40 → 12; of 7 → 3 (2.1 rounds up).
    assert_eq!(p.target(at(30), 40), 12);
    assert_eq!(p.target(at(30), 7), 3);
}

/// A deploy window that runs over midnight, and one whose day list skips
/// the weekend.
#[test]
fn deploy_window_hours_and_days() {
    use shakedown_sim::policy::spec::DeployWindow;
    let w = DeployWindow {
        days: [true, true, true, true, true, false, false],
        start_hour: 22.0,
        end_hour: 6.0,
        utc_offset_h: 0.0,
        start_hour_utc: 0.0,
        start_weekday: 0,
    };
    let h = |x: f64| (x * 3_600_000.0) as u64;
    assert!(
        !w.is_open(h(0.0)),
        "Monday 00:00: Sunday night is not allowed"
    );
    assert!(w.is_open(h(23.0)), "Monday 23:00");
    assert!(w.is_open(h(24.0 + 5.5)), "Tuesday 05:30, Monday's night");
    assert!(!w.is_open(h(24.0 + 6.0)), "Tuesday 06:00 closes");
    assert!(w.is_open(h(4.0 * 24.0 + 23.0)), "Friday 23:00");
    assert!(
        w.is_open(h(5.0 * 24.0 + 1.0)),
        "Saturday 01:00, Friday's night"
    );
    assert!(!w.is_open(h(5.0 * 24.0 + 23.0)), "Saturday 23:00");
    assert_eq!(
        w.local(h(7.0 * 24.0 + 1.0)),
        (0, 1.0),
        "a week later, Monday"
    );
}

/// Seed 001 (Spotify, October 14, 2016): a config push that stops the
/// containers of every host on Docker 1.12.1 (30 % of the fleet). Pushed
/// everywhere at once it takes 30 % of the fleet down; Tsunami's gradual
/// rollout with a host-health SLO (`ready-ratio`) halts after the first
/// step, having touched a few percent of the hosts.
#[test]
fn seed_001_tsunami_slo_halts_the_bad_config_push_early() {
    let path = format!(
        "{}/../scenarios/spotify-bad-config-push.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let big_bang = Scenario::parse(&text, &path).unwrap();
    assert_eq!(big_bang.policy.kind(), "all-at-once");
    let tsunami_text = text.replace(
        "kind = \"all-at-once\"",
        "kind = \"linear\"\nduration = \"5h\"\nstep = \"10m\"\nmax_pct = 5\nslo_window = \"10m\"\nslo = [{ name = \"hosts serving\", query = \"ready-ratio\", min = 0.9 }]",
    );
    let tsunami = Scenario::parse(&tsunami_text, "tsunami.toml").unwrap();
    let a = run(&big_bang, RunOptions::summary_only(big_bang.seed)).summary;
    let t = full(&tsunami);
    let s = &t.summary;
    assert_eq!(s.outcome, "halted", "{s:?}");
    assert!(s.outcome_reason.contains("SLO `hosts serving` violated"));
    // One 10-minute step (1/30 of each role, rounded up) before the halt.
    assert!(s.hosts_ever_on_new_pct < 4.0, "{}", s.hosts_ever_on_new_pct);
    assert_eq!(a.hosts_ever_on_new_pct, 100.0);
    assert!(
        s.peak_hosts_unavailable_pct < 4.0,
        "{}",
        s.peak_hosts_unavailable_pct
    );
    assert!(
        a.peak_hosts_unavailable_pct >= 29.0,
        "{}",
        a.peak_hosts_unavailable_pct
    );
    let halted_at = s.rollout_started_at_s + s.rollout_duration_s;
    assert_eq!(s.detected_at_s, Some(halted_at));
}

/// An indefinite pause (and blue-green without auto-promotion) halts unless
/// the scenario has a human promote after `promote_after`.
#[test]
fn a_human_promotes_after_promote_after() {
    let sc = in_place(
        "kind = \"canary\"\npromote_after = \"5m\"\nsteps = [{ set_weight = 20 }, { pause = {} }]",
        "",
    );
    let rec = full(&sc);
    assert!(has(&rec, 60.0, "step 2/2", "a human promotes after 5m"));
    assert!(has(&rec, 360.0, "promote", "full promotion"));
    assert_eq!(rec.summary.outcome, "completed");

    let rec = blue_green("auto_promotion_enabled = false\npromote_after = \"2m\"", "");
    assert!(has(&rec, 180.0, "switch", "all traffic"));
    assert_eq!(rec.summary.outcome, "completed");
    assert_eq!(rec.summary.rollout_duration_s, 225.0);
}

/// A rollback that began inside the window is not held back when the
/// window closes.
#[test]
fn deploy_window_never_holds_back_a_rollback() {
    let sc = in_place(
        "kind = \"canary\"\ntraffic_routing = true\nsteps = [{ set_weight = 20 }, { analysis = { metrics = [{ name = \"sr\", provider = \"prometheus\", query = \"success-rate\", interval = \"1m\", count = 1, success_condition = \"result >= 0.95\" }] } }]\n[policy.window]\nstart_hour = 0\nend_hour = 0.04",
        BAD,
    );
    let rec = full(&sc);
    // Open 00:00–00:02:24: abort at 120, window closes at 144, the canary
    // still goes back at 150 and serves the old version at 210.
    assert!(has(&rec, 120.0, "abort", "Failed"));
    assert!(has(&rec, 150.0, "deploy-window", "closed"));
    assert_eq!(rec.summary.outcome, "rolled_back");
    assert_eq!(rec.summary.rollout_duration_s, 210.0);
}

// ---- issue 10 item 1: draining hosts in the rolling plan --------------------------

/// Issue 10 item 1: in replace mode the plan counted old hosts still
/// draining as unhealthy old hosts to clean up, and decommissioned more
/// serving hosts every tick of a drain longer than one tick. Kubernetes
/// counts terminating pods neither as replicas nor as available, so no tick
/// may have fewer than `replicas − maxUnavailable` hosts serving.
mod draining {
    use shakedown_sim::{run, RunOptions, Scenario};

    /// The fewest hosts serving in any tick, and whether the rollout
    /// completed.
    fn min_serving(sc: &Scenario) -> (u32, u32, String) {
        let rec = run(sc, RunOptions::full(sc.seed));
        let min = rec.ticks.iter().map(|t| t.serving).min().unwrap();
        let at = rec
            .ticks
            .iter()
            .find(|t| t.serving == min)
            .map(|t| t.time_s as u32)
            .unwrap();
        (min, at, format!("{:?}", rec.summary.outcome))
    }

    #[test]
    fn ten_hosts_surge_0_unavailable_2_drain_10s_keep_8_serving() {
        let text = r#"
name = "drain-10"
description = "10 hosts, replace, surge 0, unavailable 2, drain 10 s, 1 s ticks"
duration = "1h"
tick = "1s"
seed = 3

[fleet]
detection_delay = "5s"
[[fleet.roles]]
name = "api"
hosts = 10
zones = ["a"]
capacity_rps = 100

[traffic]
curve = "constant"
rps = 400

[change]
from = "1"
to = "2"
mode = "replace"
drain = "10s"
provision_time = "30s"

[policy]
kind = "rolling"
max_surge = 0
max_unavailable = 2
"#;
        let sc = Scenario::parse(text, "drain-10.toml").unwrap();
        let (min, at, outcome) = min_serving(&sc);
        assert!(
            min >= 8,
            "{min} of 10 serving at {at} s (max_unavailable 2)"
        );
        assert_eq!(outcome, "Completed");
    }

    /// The canary's promotion (and Flagger's) rolls the rest with the same
    /// plan: the same bound holds there.
    #[test]
    fn canary_promotion_in_replace_mode_with_a_drain_keeps_min_available() {
        for policy in [
            "kind = \"canary\"\nmax_surge = 0\nmax_unavailable = 2\nsteps = [{ set_weight = 20 }, { pause = { duration = \"1m\" } }]",
            "kind = \"flagger\"\ninterval = \"1m\"\nmax_unavailable = 2\nstep_weight = 10\nmax_weight = 30\nmetrics = [{ query = \"success-rate\", min = 0.5 }]",
        ] {
            let text = format!(
                r#"
name = "drain-canary"
description = "10 hosts, replace, drain 10 s, 1 s ticks"
duration = "1h"
tick = "1s"
seed = 3

[fleet]
detection_delay = "5s"
[[fleet.roles]]
name = "api"
hosts = 10
zones = ["a"]
capacity_rps = 100

[traffic]
curve = "constant"
rps = 400

[change]
from = "1"
to = "2"
mode = "replace"
drain = "10s"
provision_time = "30s"

[policy]
{policy}
"#
            );
            let sc = Scenario::parse(&text, "drain-canary.toml").unwrap_or_else(|e| panic!("{e}"));
            let (min, at, outcome) = min_serving(&sc);
            assert!(min >= 8, "{policy}: {min} of 10 serving at {at} s");
            assert_eq!(outcome, "Completed", "{policy}");
        }
    }

    #[test]
    fn rolling_basic_in_replace_mode_with_a_60s_drain_keeps_36_of_40_serving() {
        let path = format!(
            "{}/../scenarios/rolling-basic.toml",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("mode = \"in-place\"\n"),
            "rolling-basic changed"
        );
        let text = text.replace(
            "mode = \"in-place\"\n",
            "mode = \"replace\"\ndrain = \"60s\"\nprovision_time = \"1m\"\n",
        );
        let sc = Scenario::parse(&text, &path).unwrap();
        let (min, at, outcome) = min_serving(&sc);
        // 10 % of 40, rounded down: 4 may be out of service at once.
        assert!(
            min >= 36,
            "{min} of 40 serving at {at} s (max_unavailable 10 %)"
        );
        assert_eq!(outcome, "Completed");
    }
}

/// Issue 10 item 3: Kubernetes caps only maxUnavailable at 100 %
/// (`ValidateRollingUpdateDeployment`, kubernetes/kubernetes
/// pkg/apis/apps/validation/validation.go at
/// 2dd1588c490775be7cd90d0afc59c6dcef07032a); a maxSurge of "150%" is valid.
/// Unparsable values ("oops", "urg" in `TestResolveFenceposts`) are errors.
#[test]
fn rolling_surge_and_unavailable_validation() {
    let parse = |policy: &str| {
        let text = format!(
            r#"
name = "surge"
description = "validation"
duration = "1h"
tick = "15s"
seed = 1
[fleet]
detection_delay = "30s"
[[fleet.roles]]
name = "api"
hosts = 10
zones = ["a"]
capacity_rps = 100
[traffic]
curve = "constant"
rps = 100
[change]
from = "1"
to = "2"
mode = "replace"
provision_time = "1m"
[policy]
{policy}
"#
        );
        Scenario::parse(&text, "surge.toml").map_err(|e| e.to_string())
    };
    let sc = parse("kind = \"rolling\"\nmax_surge = \"150%\"\nmax_unavailable = 0").unwrap();
    let rec = full(&sc);
    // 150 % of 10 rounds up to 15 ≥ the 10 missing: every new host at once.
    let most = rec.ticks.iter().map(|t| t.provisioning).max().unwrap();
    assert_eq!(most, 10);
    assert_eq!(format!("{:?}", rec.summary.outcome), "Completed");
    assert!(
        parse("kind = \"canary\"\nmax_surge = \"300%\"\nsteps = [{ set_weight = 20 }]").is_ok()
    );
    let e = parse("kind = \"rolling\"\nmax_unavailable = \"150%\"").unwrap_err();
    assert!(e.contains("max_unavailable") && e.contains("100%"), "{e}");
    let e = parse("kind = \"rolling\"\nmax_surge = \"oops\"").unwrap_err();
    assert!(e.contains("max_surge"), "{e}");
    let e = parse("kind = \"rolling\"\nmax_unavailable = \"urg\"").unwrap_err();
    assert!(e.contains("max_unavailable"), "{e}");
}

// ---- issue 10: Argo canary / blue-green and progress-deadline fidelity --------

const NEVER_SERVES: &str =
    "[[faults]]\nkind = \"incompatible-roles\"\nroles = [\"api\"]\neffect = \"fail-to-start\"";

/// Issue 10 item 5: a traffic-routed canary needs ⌈W × N / 100⌉ hosts
/// (Argo's `trafficWeightToReplicas`): 41 % of 10 → 5 (nearest gave 4, so
/// 4 hosts carried 41 % of the traffic), 1 % → 1.
#[test]
fn canary_traffic_routed_canary_rounds_up() {
    for (w, hosts) in [(41, 5usize), (1, 1), (50, 5), (99, 10)] {
        let rec = full(&in_place(
            &format!("kind = \"canary\"\ntraffic_routing = true\nmax_unavailable = 10\nsteps = [{{ set_weight = {w} }}, {{ pause = {{}} }}]"),
            "",
        ));
        assert_eq!(instructs(&rec).len(), hosts, "{w} %");
        assert!(instructs(&rec).iter().all(|(t, _, _)| *t == 0.0));
        assert_eq!(
            weights(&rec),
            vec![(60.0, format!("{w}% of api traffic to the new version"))]
        );
        assert_eq!(rec.summary.outcome, "halted");
    }
}

/// Issue 10 item 11: a background analysis (Argo `strategy.canary.analysis`)
/// starts at `starting_step` and runs beside the steps; it fails at a later
/// step than any step analysis would look and aborts there. Before step 3
/// (index 2) nothing judges the 20 % canary.
#[test]
fn canary_background_analysis_failing_at_a_later_step_aborts() {
    let rec = full(&in_place(
        r#"kind = "canary"
steps = [{ set_weight = 20 }, { pause = { duration = "5m" } }, { set_weight = 40 }, { pause = { duration = "10m" } }]
analysis = { starting_step = 2, metrics = [{ name = "sr", provider = "prometheus", query = "success-rate", interval = "1m", count = 10, success_condition = "result >= 0.95" }] }"#,
        BAD,
    ));
    // 20 % served at 60, paused 5 m; step 3 at 360 starts the analysis and
    // moves 2 more hosts; the first measurement at 420 fails: abort.
    assert!(has(
        &rec,
        360.0,
        "step 3/4",
        "background analysis inline starts (starting_step 2)"
    ));
    assert!(has(
        &rec,
        420.0,
        "abort",
        "background analysis inline Failed at weight 40"
    ));
    assert_eq!(
        times(&rec),
        vec![
            (0.0, 0),
            (0.0, 1),
            (360.0, 2),
            (360.0, 3),
            (420.0, 3),
            (420.0, 2),
            (420.0, 1),
            (420.0, 0)
        ]
    );
    let s = &rec.summary;
    assert_eq!(s.outcome, "rolled_back");
    assert_eq!(
        (s.detected_at_s, s.aborted_at_s),
        (Some(420.0), Some(420.0))
    );
    assert_eq!(s.rollout_duration_s, 480.0);

    // The same version with a healthy build: the background analysis is
    // terminated at the full promotion, which completes.
    let rec = full(&in_place(
        r#"kind = "canary"
steps = [{ set_weight = 20 }, { pause = { duration = "5m" } }]
analysis = { metrics = [{ name = "sr", provider = "prometheus", query = "success-rate", interval = "1m", success_condition = "result >= 0.95" }] }"#,
        "",
    ));
    assert!(has(
        &rec,
        0.0,
        "step 1/2",
        "background analysis inline starts (starting_step 0)"
    ));
    assert!(has(
        &rec,
        360.0,
        "promote",
        "background analysis inline terminated: full promotion"
    ));
    assert_eq!(rec.summary.outcome, "completed");
}

/// Issue 10 items 2 and 11: Kubernetes reports `ProgressDeadlineExceeded`
/// and keeps going; Argo aborts only with `progress_deadline_abort`. The
/// canary's hosts never serve: by default the deadline is recorded at 630 s
/// (progress last seen at 15 s, when the updated count grew) and the run
/// waits until the scenario ends (`timed_out`); with the abort it rolls back.
#[test]
fn canary_progress_deadline_reports_by_default_and_aborts_when_asked() {
    let rec = full(&in_place(
        "kind = \"canary\"\nsteps = [{ set_weight = 20 }]",
        NEVER_SERVES,
    ));
    assert!(has(
        &rec,
        630.0,
        "progress deadline",
        "ProgressDeadlineExceeded (no progress for 10m); reported"
    ));
    assert_eq!(rec.summary.outcome, "timed_out");
    assert_eq!(rec.summary.aborted_at_s, None);
    assert_eq!(times(&rec), vec![(0.0, 0), (0.0, 1)], "nothing else moves");

    let rec = full(&in_place(
        "kind = \"canary\"\nprogress_deadline = \"5m\"\nprogress_deadline_abort = true\nsteps = [{ set_weight = 20 }]",
        NEVER_SERVES,
    ));
    assert!(has(
        &rec,
        330.0,
        "abort",
        "ProgressDeadlineExceeded (no progress for 5m); progress_deadline_abort = true"
    ));
    let s = &rec.summary;
    assert_eq!(s.outcome, "rolled_back");
    assert_eq!(
        (s.detected_at_s, s.aborted_at_s),
        (Some(330.0), Some(330.0))
    );
}

/// Issue 10 item 10: a failed blue-green rollout removes the new set after
/// `abort_scale_down_delay` (default 30 s), not `scale_down_delay` (which
/// only delays the old set's removal after a good switch).
#[test]
fn blue_green_abort_uses_abort_scale_down_delay() {
    let crash =
        "[[faults]]\nkind = \"fails-under-load\"\nrps_per_host = 30\nrecover_after = \"1m\"";
    let analysis = r#"post_promotion_analysis = { metrics = [{ name = "sr", provider = "prometheus", query = "success-rate", interval = "30s", count = 4, success_condition = "result >= 0.95" }] }"#;
    let new_set_goes = |rec: &RunRecord| {
        rec.events
            .iter()
            .find(|e| e.step == "abort: scale down")
            .map(|e| e.time_s)
    };
    // Failed at 90 (seed 002's timeline); a 5 m scale_down_delay no longer
    // holds the failed set: it goes at 120 (90 + the default 30 s).
    let rec = blue_green(&format!("scale_down_delay = \"5m\"\n{analysis}"), crash);
    assert!(has(&rec, 90.0, "post-promotion", "verdict Failed"));
    assert_eq!(new_set_goes(&rec), Some(120.0));
    assert_eq!(rec.summary.time_to_rollback_s, Some(45.0));
    let rec = blue_green(
        &format!("scale_down_delay = \"5m\"\nabort_scale_down_delay = \"1m\"\n{analysis}"),
        crash,
    );
    assert_eq!(new_set_goes(&rec), Some(150.0));
    assert_eq!(rec.summary.outcome, "rolled_back");
    assert_eq!(rec.summary.time_to_rollback_s, Some(75.0));
}

/// Issue 10 item 2: a new host that becomes ready is progress (Kubernetes'
/// `DeploymentProgressing` counts ready and available replicas). With
/// `min_ready = 9m50s` a batch is ready at +60 s and available at +650 s:
/// counting only updated and available hosts saw no progress from 15 s to
/// 650 s and halted the rollout at 630 s; now it completes.
#[test]
fn rolling_with_a_long_min_ready_is_not_a_stall() {
    let rec = full(&in_place(
        "kind = \"rolling\"\nmax_unavailable = 2\nmin_ready = \"9m50s\"",
        "",
    ));
    assert!(!rec
        .events
        .iter()
        .any(|e| e.reason.contains("ProgressDeadlineExceeded")));
    assert_eq!(rec.summary.outcome, "completed");
    assert_eq!(instructs(&rec).len(), 10);
}

/// Kubernetes keeps a stalled Deployment rolling: the deadline is reported
/// once per stall and the run ends `timed_out` at the scenario's end.
#[test]
fn rolling_progress_deadline_reports_and_keeps_rolling() {
    let rec = full(&in_place(
        "kind = \"rolling\"\nmax_unavailable = 2",
        NEVER_SERVES,
    ));
    let notes: Vec<f64> = rec
        .events
        .iter()
        .filter(|e| e.reason.contains("ProgressDeadlineExceeded"))
        .map(|e| e.time_s)
        .collect();
    assert_eq!(notes, vec![630.0]);
    assert!(has(
        &rec,
        630.0,
        "progress deadline",
        "Kubernetes reports it and keeps rolling"
    ));
    assert_eq!(rec.summary.outcome, "timed_out");
}

/// The new canary and blue-green fields reject bad values with a located
/// message naming the field.
#[test]
fn argo_progress_and_background_analysis_validation() {
    let parse = |policy: &str, mode: &str| {
        let text = format!(
            "name = \"v\"\ndescription = \"validation\"\nduration = \"1h\"\ntick = \"15s\"\nseed = 1\n[fleet]\ndetection_delay = \"30s\"\n[[fleet.roles]]\nname = \"api\"\nhosts = 10\nzones = [\"a\"]\ncapacity_rps = 100\n[traffic]\ncurve = \"constant\"\nrps = 100\n[change]\nfrom = \"1\"\nto = \"2\"\nmode = \"{mode}\"\nprovision_time = \"1m\"\n[policy]\n{policy}\n"
        );
        Scenario::parse(&text, "v.toml").map_err(|e| e.to_string())
    };
    let metrics = r#"metrics = [{ name = "sr", provider = "prometheus", query = "success-rate", success_condition = "result >= 0.95" }]"#;
    let e = parse(
        &format!("kind = \"canary\"\nsteps = [{{ set_weight = 20 }}]\nanalysis = {{ starting_step = 1, {metrics} }}"),
        "in-place",
    )
    .unwrap_err();
    assert!(
        e.contains("v.toml:24:")
            && e.contains("policy.analysis.starting_step")
            && e.contains("0 to 0"),
        "{e}"
    );
    let e = parse(
        "kind = \"canary\"\nprogress_deadline = \"0s\"\nsteps = [{ set_weight = 20 }]",
        "in-place",
    )
    .unwrap_err();
    assert!(e.contains("policy.progress_deadline"), "{e}");
    let e = parse(
        "kind = \"blue-green\"\nprogress_deadline = \"0s\"",
        "replace",
    )
    .unwrap_err();
    assert!(e.contains("policy.progress_deadline"), "{e}");
    let e = parse(
        "kind = \"canary\"\nsteps = [{ set_weight = 20 }]\nanalysis = { starting_step = 0 }",
        "in-place",
    )
    .unwrap_err();
    assert!(e.contains("policy.analysis"), "{e}");
    // Printed back (`--print-resolved`), the new fields parse to the same spec.
    let sc = parse(
        &format!("kind = \"canary\"\nprogress_deadline = \"5m\"\nprogress_deadline_abort = true\nsteps = [{{ set_weight = 20 }}, {{ pause = {{}} }}]\nanalysis = {{ starting_step = 1, {metrics} }}"),
        "in-place",
    )
    .unwrap();
    assert_eq!(
        Scenario::parse(&sc.to_toml(), "resolved").unwrap(),
        sc,
        "{}",
        sc.to_toml()
    );
    let sc = parse(
        "kind = \"blue-green\"\nabort_scale_down_delay = \"1m\"\nprogress_deadline_abort = true",
        "replace",
    )
    .unwrap();
    assert_eq!(
        Scenario::parse(&sc.to_toml(), "resolved").unwrap(),
        sc,
        "{}",
        sc.to_toml()
    );
}

/// Argo's `ValidateAnalysisTemplateWithType`: a metric with an interval and
/// no count runs indefinitely; a template may have one, a background
/// analysis may run one, but a step analysis must end, so it is rejected
/// where the step uses it (inline: at its `interval`; a template: at the
/// reference).
#[test]
fn indefinite_metrics_are_rejected_where_an_analysis_must_end() {
    let metric = r#"{ name = "sr", provider = "prometheus", query = "success-rate", interval = "1m", success_condition = "result >= 0.95" }"#;
    let parse = |policy: &str, extra: &str| {
        let text = format!(
            "name = \"i\"\nduration = \"1h\"\n[fleet]\n[[fleet.roles]]\nname = \"api\"\nhosts = 10\n[traffic]\ncurve = \"constant\"\nrps = 100\n[change]\nfrom = \"1\"\nto = \"2\"\n{extra}\n[policy]\n{policy}\n"
        );
        Scenario::parse(&text, "i.toml")
    };
    // A background analysis may run indefinitely.
    parse(
        &format!("kind = \"canary\"\nsteps = [{{ set_weight = 20 }}]\nanalysis = {{ metrics = [{metric}] }}"),
        "",
    )
    .unwrap();
    // An inline step analysis may not: the error is at its interval.
    let e = parse(
        &format!("kind = \"canary\"\nsteps = [{{ set_weight = 20 }}, {{ analysis = {{ metrics = [{metric}] }} }}]"),
        "",
    )
    .unwrap_err();
    assert_eq!(
        e.field, "policy.steps[1].analysis.metrics[0].interval",
        "{e}"
    );
    assert!(e.message.contains("runs indefinitely"), "{e}");
    // A template may; the step that uses it may not.
    let template = "[analysis.forever]\nmetrics = [{ name = \"sr\", provider = \"prometheus\", query = \"success-rate\", interval = \"1m\", success_condition = \"result >= 0.95\" }]";
    parse("kind = \"rolling\"", template).unwrap();
    let e = parse(
        "kind = \"canary\"\nsteps = [{ set_weight = 20 }, { analysis = { template = \"forever\" } }]",
        template,
    )
    .unwrap_err();
    assert_eq!(e.field, "policy.steps[1].analysis", "{e}");
    assert!(e.message.contains("template `forever`"), "{e}");
}

/// Flagger's `progressDeadlineSeconds`: a canary that is not ready within
/// it is rolled back ("Rolling back … progress deadline exceeded",
/// fluxcd/flagger `pkg/controller/scheduler.go`), not halted.
#[test]
fn flagger_rolls_back_a_canary_that_misses_its_progress_deadline() {
    let rec = full(&in_place(
        "kind = \"flagger\"\ninterval = \"1m\"\nstep_weight = 10\nmax_weight = 50\nprogress_deadline = \"5m\"\nmetrics = [{ name = \"request-success-rate\", query = \"success-rate\", min = 0.99 }]",
        NEVER_SERVES,
    ));
    let s = &rec.summary;
    assert_eq!(s.outcome, "rolled_back", "{}", s.outcome_reason);
    assert!(
        s.outcome_reason
            .contains("progress deadline exceeded (canary not ready after 5m"),
        "{}",
        s.outcome_reason
    );
    // Sized at 0; the deadline passes after 5 min, at the first tick past it.
    assert_eq!(s.aborted_at_s, Some(315.0));
}
