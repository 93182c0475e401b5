//! `[fleet.warm_up]` (issue 13 item 3, rollback as a deployment): a host
//! that starts serving warms up at reduced capacity, so a rollout (or a
//! rollback, which moves hosts too) on a fleet near its capacity costs
//! requests that the same rollout with warm hosts does not.

use shakedown_sim::{run, RunOptions, Scenario};

const BASE: &str = r#"
name = "warm"
duration = "2h"
seed = 5

[fleet]
detection_delay = "5s"
WARM

[[fleet.roles]]
name = "web"
hosts = 10
capacity_rps = 100

[traffic]
curve = "constant"
rps = 800

[change]
from = "1"
to = "2"
start_at = "10m"
drain = "10s"
install_time = "5s"
restart_time = "10s"

[policy]
kind = "rolling"
max_unavailable = 1
"#;

fn scenario(warm: &str) -> Result<Scenario, shakedown_sim::ScenarioError> {
    Scenario::parse(&BASE.replace("WARM", warm), "warm.toml")
}

#[test]
fn warming_hosts_cost_requests_a_warm_fleet_does_not() {
    let cold = run(&scenario("").unwrap(), RunOptions::full(5));
    assert_eq!(cold.summary.requests_failed, 0, "{:?}", cold.summary);
    let sc = scenario("[fleet.warm_up]\nduration = \"5m\"\ncapacity = 0.3").unwrap();
    let warm = run(&sc, RunOptions::full(5));
    assert_eq!(warm.summary.outcome, "completed");
    assert!(warm.summary.requests_failed > 0, "{:?}", warm.summary);
    // The failures are in the rollout and the warm-up after it, nowhere else.
    let start = 600.0;
    let last_failure = warm
        .ticks
        .iter()
        .filter(|t| t.failed > 0)
        .map(|t| t.time_s)
        .fold(0.0, f64::max);
    assert!(warm
        .ticks
        .iter()
        .all(|t| t.failed == 0 || t.time_s >= start));
    let finished = start + warm.summary.rollout_duration_s;
    assert!(
        last_failure <= finished + 300.0,
        "{last_failure} vs {finished}"
    );
    // Round trip through --print-resolved.
    let back = Scenario::parse(&sc.to_toml(), "resolved.toml").unwrap();
    assert_eq!(back, sc);
}

#[test]
fn bad_warm_up_values_are_located_errors() {
    for (section, field, says) in [
        (
            "duration = \"0s\"\ncapacity = 0.5",
            "fleet.warm_up.duration",
            "longer than 0s",
        ),
        (
            "duration = \"2d\"\ncapacity = 0.5",
            "fleet.warm_up.duration",
            "at most 1d",
        ),
        (
            "duration = \"1m\"\ncapacity = 0",
            "fleet.warm_up.capacity",
            "(0, 1]",
        ),
        (
            "duration = \"1m\"\ncapacity = 1.5",
            "fleet.warm_up.capacity",
            "(0, 1]",
        ),
    ] {
        let e = scenario(&format!("[fleet.warm_up]\n{section}")).expect_err(section);
        assert_eq!(e.field, field, "{e}");
        assert!(e.message.contains(says), "{e}");
        assert!(e.line > 1, "{e}");
    }
}
