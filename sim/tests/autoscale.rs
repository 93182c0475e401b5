//! `[[autoscale]]` (issue 13 item 3): bad values are located errors with
//! the bound's reason, and the controller, driven by the one harness, adds
//! hosts of the old version before a rollout and of the new one after it.
#![allow(clippy::disallowed_methods)] // tests read the shipped scenario files

use shakedown_sim::{run, RunOptions, Scenario};
use std::path::Path;

const BASE: &str = r#"
name = "hpa"
duration = "3h"
seed = 3

[fleet]
detection_delay = "5s"

[[fleet.roles]]
name = "web"
hosts = 4
capacity_rps = 100

[traffic]
curve = "constant"
rps = 180

[[traffic.spikes]]
at = "30m"
duration = "2h"
factor = 3

[change]
from = "1"
to = "2"
start_at = "1h"
provision_time = "30s"

[policy]
kind = "rolling"
max_unavailable = 1
"#;

fn with(section: &str) -> String {
    format!("{BASE}\n[[autoscale]]\nrole = \"web\"\n{section}\n")
}

#[test]
fn bad_autoscale_values_are_located_errors() {
    let cases = [
        ("max_replicas = 8", "autoscale[0].role", "needs a target"),
        (
            "target_utilization = 0.5\ntarget_rps_per_host = 50\nmax_replicas = 8",
            "autoscale[0].target_rps_per_host",
            "not both",
        ),
        ("target_utilization = 1.5\nmax_replicas = 8", "autoscale[0].target_utilization", "(0, 1]"),
        ("target_rps_per_host = -1\nmax_replicas = 8", "autoscale[0].target_rps_per_host", "positive"),
        ("target_utilization = 0.5\nmin_replicas = 0\nmax_replicas = 8", "autoscale[0].min_replicas", "HPAScaleToZero"),
        ("target_utilization = 0.5\nmin_replicas = 5\nmax_replicas = 4", "autoscale[0].max_replicas", "between min_replicas"),
        ("target_utilization = 0.5\nmax_replicas = 30000000", "autoscale[0].max_replicas", "host limit"),
        ("target_utilization = 0.5\nmax_replicas = 8\nsync_period = \"20s\"", "autoscale[0].sync_period", "whole number of ticks"),
        ("target_utilization = 0.5\nmax_replicas = 8\ntolerance = 1", "autoscale[0].tolerance", "[0, 1)"),
        (
            "target_utilization = 0.5\nmax_replicas = 8\nscale_down = { stabilization_window = \"2h\" }",
            "autoscale[0].scale_down.stabilization_window",
            "at most 1h",
        ),
        (
            "target_utilization = 0.5\nmax_replicas = 8\nscale_up = { select = \"most\" }",
            "autoscale[0].scale_up.select",
            "allowed",
        ),
        (
            "target_utilization = 0.5\nmax_replicas = 8\nscale_up = { policies = [] }",
            "autoscale[0].scale_up.policies",
            "at least one policy",
        ),
        (
            "target_utilization = 0.5\nmax_replicas = 8\nscale_up = { policies = [{ type = \"hosts\", value = 2, period = \"15s\" }] }",
            "autoscale[0].scale_up.policies[0].type",
            "\"pods\", \"percent\"",
        ),
        (
            "target_utilization = 0.5\nmax_replicas = 8\nscale_up = { policies = [{ type = \"pods\", value = 2, period = \"1h\" }] }",
            "autoscale[0].scale_up.policies[0].period",
            "at most 30m",
        ),
    ];
    for (section, field, says) in cases {
        let e = Scenario::parse(&with(section), "hpa.toml").expect_err(section);
        assert_eq!(e.field, field, "{section}: {e}");
        assert!(e.message.contains(says), "{section}: {e}");
        assert!(e.line > 1, "{section}: located, {e}");
    }
    let unknown = format!(
        "{BASE}\n[[autoscale]]\nrole = \"db\"\ntarget_utilization = 0.5\nmax_replicas = 8\n"
    );
    let e = Scenario::parse(&unknown, "hpa.toml").expect_err("unknown role");
    assert_eq!(e.field, "autoscale[0].role");
    assert!(e.message.contains("no role `db`"), "{e}");
    let twice = format!(
        "{}\n[[autoscale]]\nrole = \"web\"\ntarget_utilization = 0.5\nmax_replicas = 8\n",
        with("target_utilization = 0.5\nmax_replicas = 8")
    );
    let e = Scenario::parse(&twice, "hpa.toml").expect_err("twice");
    assert_eq!(e.field, "autoscale[1].role");
    assert!(e.message.contains("one HPA per role"), "{e}");
}

/// Live mode autoscales with one container per replica: at most 16 per
/// role (its limit for `hosts`), a located error beyond.
#[test]
fn live_scenarios_autoscale_within_the_live_replica_limit() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/live");
    let text = std::fs::read_to_string(dir.join("rolling-good.toml")).unwrap();
    let sc = Scenario::parse(&text, "rolling-good.toml").unwrap();
    let name = &sc.fleet.roles[0].name;
    let hpa = |max: u32| {
        format!(
            "{text}\n[[autoscale]]\nrole = \"{name}\"\ntarget_utilization = 0.5\nmax_replicas = {max}\n"
        )
    };
    let ok = Scenario::parse(&hpa(16), "rolling-good.toml").expect("live + autoscale");
    assert_eq!(ok.autoscale.len(), 1);
    let e = Scenario::parse(&hpa(17), "rolling-good.toml").expect_err("17 containers");
    assert_eq!(e.field, "autoscale[0].max_replicas", "{e}");
    assert!(e.message.contains("at most 16 replicas per role"), "{e}");
    assert!(e.line > 1, "located: {e}");
}

#[test]
fn new_hosts_take_the_version_their_share_of_the_fleet_runs() {
    let sc = Scenario::parse(
        &with("target_utilization = 0.5\nmin_replicas = 4\nmax_replicas = 20"),
        "hpa.toml",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let rec = run(&sc, RunOptions::full(3));
    let added: Vec<(f64, bool)> = rec
        .events
        .iter()
        .filter(|e| e.step == "autoscale" && e.kind == "instruct")
        .map(|e| (e.time_s, e.reason.ends_with("on 2")))
        .collect();
    // The spike at 30m: 540 rps over 4 hosts of 100 at a 50 % target → 11
    // hosts, added before the rollout (1h): all on the old version.
    let before: Vec<_> = added.iter().filter(|(t, _)| *t < 3600.0).collect();
    assert!(!before.is_empty(), "{added:?}");
    assert!(before.iter().all(|(_, new)| !new), "{added:?}");
    let a = rec.summary.autoscale.clone().unwrap();
    assert!((11..=12).contains(&a.peak_replicas), "{a:?}");
    // The rollout rolls the scaled-up fleet and completes on all of it;
    // after the spike the fleet scales down, on the new version.
    assert_eq!(rec.summary.outcome, "completed", "{:?}", rec.summary);
    assert_eq!(rec.summary.hosts_on_new_pct, 100.0);
    assert_eq!(a.final_replicas, 4, "{a:?}");
    let last = rec.ticks.last().unwrap();
    assert_eq!((last.hosts_old, last.hosts_new, last.serving), (0, 4, 4));
}
