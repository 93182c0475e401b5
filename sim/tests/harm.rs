//! User impact apart from the policy's outcome: the `[slo]` verdict, the
//! harm attributed to the change against the same seed without it, and how
//! many hosts each fault hit.

use shakedown_sim::world::{baseline, baseline_key, run_against};
use shakedown_sim::{run, RunOptions, Scenario};

/// 40 hosts in two roles with kernel panics, an endpoint mix and a
/// regression of the new version: every random stream is drawn from.
fn scenario(policy: &str, faults: &str) -> Scenario {
    let text = format!(
        r#"
name = "harm"
duration = "6h"
tick = "15s"

[[fleet.roles]]
name = "api"
hosts = 30
zones = ["a", "b", "c"]
attributes = {{ io = "high" }}
[[fleet.roles]]
name = "db"
hosts = 10

[traffic]
curve = "diurnal"
peak_rps = 2000
[[traffic.endpoints]]
name = "read"
share = 0.8
success_rate = 0.9995
[[traffic.endpoints]]
name = "write"
share = 0.2

[[faults]]
kind = "kernel-panic"
mtbf = "4h"
io_factor = {{ high = 2.0 }}
{faults}

[change]
from = "1"
to = "2"

[policy]
{policy}
"#
    );
    Scenario::parse(&text, "harm.toml").unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_change_that_moves_no_host_does_exactly_no_harm() {
    // A canary that pauses for a human before its first weight: no host is
    // told to move, so the run is the no-change world draw for draw.
    let sc = scenario(
        "kind = \"canary\"\nsteps = [{ pause = {} }]",
        "[[faults]]\nkind = \"regression\"\nerror_rate = 0.5",
    );
    for seed in [1, 2, 3] {
        let base = baseline(&sc, seed);
        let s = run_against(&sc, RunOptions::summary_only(seed), &base).summary;
        assert!(s.requests_failed > 0, "the world fails requests of its own");
        assert_eq!(s.failed_requests_due_to_change, Some(0));
        assert_eq!(s.failed_requests_due_to_change_during_rollout, Some(0));
        assert_eq!(s.failed_requests_due_to_change_after_rollout, Some(0));
        assert_eq!(s.host_hours_unavailable_due_to_change, Some(0.0));
        assert_eq!(s.hosts_ever_on_new_pct, 0.0);
    }
}

#[test]
fn a_bad_version_left_in_place_is_harm_after_the_rollout() {
    let sc = scenario(
        "kind = \"all-at-once\"",
        "[[faults]]\nkind = \"regression\"\nerror_rate = 0.2",
    );
    let base = baseline(&sc, 4);
    let s = run_against(&sc, RunOptions::summary_only(4), &base).summary;
    assert_eq!(s.outcome, "completed");
    let (total, during, after) = (
        s.failed_requests_due_to_change.unwrap(),
        s.failed_requests_due_to_change_during_rollout.unwrap(),
        s.failed_requests_due_to_change_after_rollout.unwrap(),
    );
    // Before the start both worlds are identical, so the parts add up.
    assert_eq!(total, during + after);
    // A fifth of ~6 h of traffic fails after the finish, far above the noise.
    assert!(after as f64 > 0.15 * s.requests_total as f64, "{s:?}");
    assert!(s.host_hours_unavailable_due_to_change.unwrap() > 0.0);
    assert!(!s.slo_met);
    assert!(s.error_budget_burned > 100.0, "{}", s.error_budget_burned);
}

#[test]
fn without_a_baseline_harm_is_absent_and_the_slo_still_judged() {
    let sc = scenario("kind = \"all-at-once\"", "");
    let s = run(&sc, RunOptions::summary_only(1)).summary;
    assert_eq!(s.failed_requests_due_to_change, None);
    assert_eq!(s.slo_objective, 0.999);
    assert_eq!(s.slo_worst_success_rate, s.success_rate);
    assert_eq!(s.slo_met, s.success_rate >= 0.999);
}

#[test]
fn the_baseline_is_the_same_for_every_policy_and_change_timing() {
    let a = scenario("kind = \"all-at-once\"", "");
    let mut b = scenario("kind = \"rolling\"\nmax_unavailable = 3", "");
    b.change.drain = shakedown_sim::time::SimDuration::from_secs(30);
    assert_eq!(baseline_key(&a), baseline_key(&b));
    assert_eq!(baseline(&a, 9), baseline(&b, 9));
    let c = scenario(
        "kind = \"all-at-once\"",
        "[[faults]]\nkind = \"leaked-ports\"\nprobability = 0.5",
    );
    assert_ne!(baseline_key(&a), baseline_key(&c));
}

#[test]
fn every_fault_says_how_many_hosts_it_hit() {
    let sc = scenario(
        "kind = \"all-at-once\"",
        "[[faults]]\nkind = \"bad-config\"\nroles = [\"db\"]\nfraction = 1.0\n\
         [[faults]]\nkind = \"leaked-ports\"\nmatch = { io = \"none-such\" }\nprobability = 1.0\n\
         [[faults]]\nkind = \"regression\"\nerror_rate = 0.01",
    );
    let s = run(&sc, RunOptions::summary_only(2)).summary;
    let hits: Vec<(&str, &str, u64)> = s
        .fault_hits
        .iter()
        .map(|h| (h.fault.as_str(), h.kind.as_str(), h.hosts))
        .collect();
    assert_eq!(hits[1], ("faults[1]", "bad-config", 10));
    assert_eq!(hits[2], ("faults[2]", "leaked-ports", 0));
    assert_eq!(hits[3], ("faults[3]", "regression", 40));
    assert!(
        hits[0].2 > 0,
        "kernel panics over 6 h of 40 hosts: {hits:?}"
    );
}

#[test]
fn a_windowed_slo_is_judged_on_its_worst_window() {
    let mut sc = scenario(
        "kind = \"all-at-once\"",
        "[[faults]]\nkind = \"regression\"\nerror_rate = 0.0005",
    );
    let whole = run(&sc, RunOptions::summary_only(3)).summary;
    sc.slo.window = shakedown_sim::time::SimDuration::from_mins(15);
    let windowed = run(&sc, RunOptions::summary_only(3)).summary;
    assert_eq!(windowed.requests_failed, whole.requests_failed);
    assert!(windowed.slo_worst_success_rate <= whole.slo_worst_success_rate);
    assert_eq!(windowed.slo_window_s, 900.0);
}
