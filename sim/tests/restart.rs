//! Restart policies (`[fleet.restart]`, issue 13 item 3): a version that
//! crashes under load crash-loops under the kubelet's back-off instead of
//! coming back after a fixed time, `no` leaves it down, `max_restarts`
//! gives up; bad values are located errors.
#![allow(clippy::disallowed_methods)] // tests read the shipped scenario files

use shakedown_sim::record::RunRecord;
use shakedown_sim::{run, RunOptions, Scenario};
use std::path::Path;

fn text(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

/// The blue-green crash-under-load scenario with `section` spliced into
/// its `[fleet]` table.
fn crash_under_load(section: &str) -> Scenario {
    let t = text("blue-green-crash-under-load.toml")
        .replace("[[fleet.roles]]", &format!("{section}\n\n[[fleet.roles]]"));
    Scenario::parse(&t, "crash.toml").unwrap_or_else(|e| panic!("{e}"))
}

/// Times the new set crashed under load (one audit row per crash).
fn crashes(rec: &RunRecord) -> usize {
    rec.events
        .iter()
        .filter(|e| e.step == "fails-under-load")
        .count()
}

#[test]
fn a_version_that_crashes_under_load_crash_loops_with_growing_back_off() {
    let plain = run(&crash_under_load(""), RunOptions::full(2));
    assert!(plain.summary.restarts.is_none(), "no section, no stats");
    let sc = crash_under_load("[fleet.restart]\npolicy = \"on-failure\"");
    let rec = run(&sc, RunOptions::full(2));
    let r = rec.summary.restarts.clone().expect("restart stats");
    assert_eq!(r.policy, "on-failure");
    // Every new host crashed, was restarted at once, then backed off.
    assert_eq!(r.hosts_in_crash_loop, 200, "{r:?}");
    assert!(r.restarts >= 200 * 5, "{r:?}");
    assert!(r.backoff_host_s > 200.0 * (10.0 + 20.0 + 40.0), "{r:?}");
    assert_eq!(r.hosts_given_up, 0);
    // The growing back-off spaces the crashes out: a fixed minute of
    // recovery crashes again every minute and a quarter, the loop every
    // five minutes once at its maximum.
    let (looped, fixed) = (crashes(&rec), crashes(&plain));
    assert!(
        looped * 3 < fixed,
        "{looped} crashes in the loop, {fixed} without"
    );
    assert_eq!(looped as u64, r.restarts / 200);
    // The audit log shows the loop: at once first, then back-offs.
    let rows: Vec<&str> = rec
        .events
        .iter()
        .filter(|e| e.step == "restart-policy")
        .map(|e| e.reason.as_str())
        .collect();
    assert!(rows[0].contains("200 restarted at once"), "{}", rows[0]);
    assert!(rows[1].contains("back-off (up to 10s)"), "{}", rows[1]);
    assert!(rows[2].contains("back-off (up to 20s)"), "{}", rows[2]);
    assert!(
        rows.iter().any(|r| r.contains("up to 5m)")),
        "the back-off reaches its maximum"
    );
    assert!(
        !rows.iter().any(|r| r.contains("up to 10m)")),
        "and stays there"
    );
}

#[test]
fn policy_no_leaves_crashed_containers_down_and_max_restarts_gives_up() {
    let rec = run(
        &crash_under_load("[fleet.restart]\npolicy = \"no\""),
        RunOptions::full(2),
    );
    let r = rec.summary.restarts.unwrap();
    assert_eq!((r.restarts, r.hosts_given_up), (0, 200));
    let last = rec.ticks.last().unwrap();
    assert_eq!(last.crashed, 200, "nothing comes back");

    let rec = run(
        &crash_under_load("[fleet.restart]\nmax_restarts = 3"),
        RunOptions::full(2),
    );
    let r = rec.summary.restarts.unwrap();
    assert_eq!((r.restarts, r.hosts_given_up), (600, 200), "{r:?}");
    assert!(rec
        .events
        .iter()
        .any(|e| e.reason.contains("200 left down (max_restarts 3 used up)")));
}

#[test]
fn docker_style_waits_before_the_first_restart_too() {
    let kubelet = run(
        &crash_under_load("[fleet.restart]\nbackoff = \"10s\""),
        RunOptions::summary_only(2),
    );
    let docker = run(
        &crash_under_load("[fleet.restart]\nbackoff = \"10s\"\ndelay_first_restart = true"),
        RunOptions::summary_only(2),
    );
    let (k, d) = (
        kubelet.summary.restarts.unwrap(),
        docker.summary.restarts.unwrap(),
    );
    assert!(d.backoff_host_s > k.backoff_host_s, "{k:?} {d:?}");
}

#[test]
fn a_restart_section_round_trips_through_print_resolved() {
    let sc = crash_under_load("[fleet.restart]\npolicy = \"always\"\nmax_backoff = \"2m\"");
    let back = Scenario::parse(&sc.to_toml(), "resolved.toml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, sc);
    let r = sc.fleet.restart.as_ref().unwrap();
    assert_eq!(
        r.reset_after.to_string(),
        "4m",
        "2 × max_backoff by default"
    );
}

#[test]
fn bad_restart_values_are_located_errors() {
    let cases = [
        ("policy = \"sometimes\"", "fleet.restart.policy", "allowed"),
        (
            "backoff = \"0s\"",
            "fleet.restart.backoff",
            "longer than 0s",
        ),
        (
            "backoff = \"1m\"\nmax_backoff = \"30s\"",
            "fleet.restart.max_backoff",
            "at least `backoff`",
        ),
        (
            "max_backoff = \"2d\"",
            "fleet.restart.max_backoff",
            "at most 1d",
        ),
        (
            "reset_after = \"0s\"",
            "fleet.restart.reset_after",
            "longer than 0s",
        ),
        (
            "policy = \"always\"\nmax_restarts = 3",
            "fleet.restart.max_restarts",
            "only policy = \"on-failure\"",
        ),
        ("max_restarts = 0", "fleet.restart.max_restarts", "no limit"),
        ("restarts = 3", "fleet.restart", "unknown field"),
    ];
    for (section, field, says) in cases {
        let t = text("blue-green-crash-under-load.toml").replace(
            "[[fleet.roles]]",
            &format!("[fleet.restart]\n{section}\n\n[[fleet.roles]]"),
        );
        let e = Scenario::parse(&t, "bad.toml").expect_err(section);
        assert!(e.field.starts_with(field), "{section}: {e}");
        assert!(e.message.contains(says), "{section}: {e}");
        let line = t.lines().nth(e.line - 1).unwrap_or("");
        assert!(
            line.contains(field.rsplit('.').next().unwrap()) || line.contains("restart"),
            "{section}: {e} points at `{line}`"
        );
    }
}
