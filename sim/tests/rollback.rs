//! Rollback as a deployment (issue 13 item 3): an abort is a rollout of its
//! own, with a capacity dip while the hosts go back and, with
//! `[fleet.warm_up]`, while they warm up again. The summary's
//! `time_to_safe_s`, `rollback_min_capacity_pct` and
//! `rollback_capacity_deficit_host_hours`, by hand on a world with fixed
//! host times.

use shakedown_sim::record::Summary;
use shakedown_sim::{run, RunOptions, Scenario};

/// 100 hosts at 10 % of their capacity; a linear ramp of 20 hosts every 6
/// minutes whose new config fails half its requests at once; the SLO alarm
/// rolls back. A host goes back in 25 s: drain 10 s, install 5 s, restart
/// 10 s. Ticks of 5 s.
const BASE: &str = r#"
name = "rollback"
duration = "1h"
tick = "5s"
seed = 3

[fleet]
detection_delay = "5s"
WARM

[[fleet.roles]]
name = "api"
hosts = 100
capacity_rps = 200
attributes = { config = "v1" }

[traffic]
curve = "constant"
rps = 2000

[change]
attribute = "config"
from = "v1"
to = "v2"
drain = "10s"
install_time = "5s"
restart_time = "10s"

[[faults]]
kind = "bad-config"
match = { config = "v2" }
fraction = 1.0
delay = "0s"
effect = "errors"
error_rate = 0.5

[policy]
kind = "linear"
duration = "30m"
shape = { kind = "linear", growth_factor = 20 }
on_slo_breach = "ON_BREACH"
slo_window = "30s"
slo = [{ name = "alarm: api success rate", query = "success-rate", min = 0.99 }]
"#;

fn summary(warm: &str, on_breach: &str) -> Summary {
    let text = BASE.replace("WARM", warm).replace("ON_BREACH", on_breach);
    let sc = Scenario::parse(&text, "rollback.toml").unwrap_or_else(|e| panic!("{e}"));
    run(&sc, RunOptions::full(sc.seed)).summary
}

/// Twenty hosts were on v2 at the abort. From the next tick they are down
/// (80 of 100 serving) until 25 s after the abort, then all serve the old
/// config: safe at the first tick at or after abort + 25 s.
#[test]
fn an_in_place_rollback_is_safe_once_the_hosts_are_back() {
    let s = summary("", "rollback");
    assert_eq!(s.outcome, "rolled_back", "{s:?}");
    let abort = s.aborted_at_s.expect("it aborted");
    assert_eq!(abort % 5.0, 0.0, "aborts on a tick");
    // Back at abort + 25 s, a tick boundary: safe there.
    assert_eq!(s.time_to_safe_s, Some(25.0), "{s:?}");
    assert_eq!(s.rollback_min_capacity_pct, Some(80.0), "{s:?}");
    // The ticks at abort + 5, 10, 15, 20 s: 20 hosts missing for 5 s each.
    let deficit = s.rollback_capacity_deficit_host_hours.unwrap();
    assert!(
        (deficit - 20.0 * 4.0 * 5.0 / 3600.0).abs() < 1e-9,
        "{deficit}"
    );
}

/// With a five-minute warm-up the same hosts serve cold for 300 s more:
/// safe 325 s after the abort, and the capacity they lack while cold counts
/// (the lowest point is the same: cold hosts serve, but not warm).
#[test]
fn a_warm_up_lengthens_the_dip() {
    let cold = summary("", "rollback");
    let warm = summary(
        "[fleet.warm_up]\nduration = \"5m\"\ncapacity = 0.5",
        "rollback",
    );
    assert_eq!(warm.outcome, "rolled_back", "{warm:?}");
    // The forward rollout warmed its hosts too, so the abort may come at
    // another time; the rollback's own shape is what is compared.
    assert_eq!(warm.time_to_safe_s, Some(325.0), "{warm:?}");
    assert_eq!(warm.rollback_min_capacity_pct, Some(80.0), "{warm:?}");
    let d = warm.rollback_capacity_deficit_host_hours.unwrap();
    assert!((d - 20.0 * 64.0 * 5.0 / 3600.0).abs() < 1e-9, "{d}");
    assert!(d > cold.rollback_capacity_deficit_host_hours.unwrap());
}

/// A halt (Tsunami's default) is not an abort: the new version stays where
/// it reached and nothing rolls back, so there is no rollback to report.
#[test]
fn a_halt_has_no_rollback() {
    let s = summary("", "halt");
    assert_eq!(s.outcome, "halted", "{s:?}");
    assert!(s.detected_at_s.is_some(), "{s:?}");
    assert_eq!(s.aborted_at_s, None, "{s:?}");
    assert_eq!(s.time_to_safe_s, None, "{s:?}");
    assert_eq!(s.rollback_min_capacity_pct, None, "{s:?}");
}

/// Without an abort there is no rollback: the fields are absent, and
/// `summary.json` does not carry them.
#[test]
fn a_run_without_an_abort_has_no_rollback_fields() {
    let text = BASE
        .replace("WARM", "")
        .replace("ON_BREACH", "rollback")
        .replace("error_rate = 0.5", "error_rate = 0.0");
    let sc = Scenario::parse(&text, "rollback.toml").unwrap();
    let s = run(&sc, RunOptions::full(sc.seed)).summary;
    assert_eq!(s.outcome, "completed", "{s:?}");
    assert_eq!(s.aborted_at_s, None);
    assert_eq!(s.time_to_safe_s, None);
    assert_eq!(s.rollback_min_capacity_pct, None);
    assert_eq!(s.rollback_capacity_deficit_host_hours, None);
    let json = serde_json::to_string(&s).unwrap();
    assert!(!json.contains("time_to_safe_s"), "{json}");
    assert!(!json.contains("\"rollback_"), "{json}");
}

/// `scenarios/rollback-cold-caches.toml`: the rollback hurts more than the
/// bad config did. 80 hosts restart at once: for 25 s 20 hosts carry the
/// whole load, then the 80 serve cold for 5 minutes.
#[test]
fn the_shipped_story_the_rollback_costs_more_than_the_bad_config() {
    let text = include_str!("../../scenarios/rollback-cold-caches.toml");
    let sc = Scenario::parse(text, "scenarios/rollback-cold-caches.toml").unwrap();
    let rec = run(&sc, RunOptions::full(sc.seed));
    let s = &rec.summary;
    assert_eq!(s.outcome, "rolled_back", "{s:?}");
    let abort = s.aborted_at_s.unwrap();
    assert_eq!(s.time_to_safe_s, Some(325.0), "{s:?}");
    assert_eq!(s.rollback_min_capacity_pct, Some(20.0), "{s:?}");
    let failed = |from: f64, to: f64| -> u64 {
        rec.ticks
            .iter()
            .filter(|t| t.time_s >= from && t.time_s < to)
            .map(|t| t.failed)
            .sum()
    };
    let before = failed(0.0, abort + 5.0);
    let rolling_back = failed(abort + 5.0, abort + 325.0);
    assert!(before > 0, "the bad config failed requests");
    assert!(
        rolling_back > 5 * before,
        "rolling back {rolling_back} vs before {before}"
    );
    assert_eq!(failed(abort + 325.0, 1e9), 0, "safe means no more harm");
}
