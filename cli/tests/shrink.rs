//! `shakedown shrink` and `shakedown replay` end to end: a failure planted
//! in a 2,000-host fleet shrinks to a handful of hosts that still fail and
//! replays; a scenario on which the condition never holds says so (exit 1,
//! nothing written); the same input gives the same bytes; a bad condition
//! is exit 2 with a located message; --max-runs bounds the search; a
//! capsule that no longer reproduces exits 1.

mod common;
use common::{repo, scratch, shakedown, text};
use shakedown_sim::faults::FaultRule;
use shakedown_sim::Scenario;
use std::path::Path;
use std::process::Output;

const PLANTED: &str = "fixtures/shrink/planted-2000.toml";
const UNTIL: &str = "failed_requests_due_to_change_after_rollout > 0";

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited")
}

fn shrink(out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "shrink",
        PLANTED,
        "--until",
        UNTIL,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    shakedown(&args)
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn a_planted_failure_shrinks_to_a_handful_of_hosts_and_replays() {
    let original = Scenario::parse(&read(&repo().join(PLANTED)), PLANTED).unwrap();
    assert_eq!(original.host_count(), 2000);
    let out = scratch("planted");
    let o = shrink(&out, &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    // Progress: a line per accepted step, with the runs used.
    assert!(stderr.contains("shrink: seed 11 fails: "), "{stderr}");
    assert!(
        stderr.contains("runs] roles: role `frontend`: 500 hosts → removed"),
        "{stderr}"
    );

    let minimal = read(&out.join("scenario.toml"));
    let sc = Scenario::parse(&minimal, "scenario.toml").expect("the output is a valid scenario");
    assert!(
        sc.host_count() <= 10,
        "{} hosts:\n{minimal}",
        sc.host_count()
    );
    assert_eq!(sc.fleet.roles.len(), 1, "{minimal}");
    assert_eq!(sc.fleet.roles[0].name, "backend", "{minimal}");
    // The planted fault is what still fails; the noise is gone.
    assert_eq!(sc.faults.len(), 1, "{minimal}");
    assert!(
        matches!(&sc.faults[0], FaultRule::BadConfig { .. }),
        "{minimal}"
    );
    // Its header: the condition and what was removed.
    assert!(minimal.starts_with(&format!(
        "# Shrunk by `shakedown shrink` from {PLANTED} (seed 11).\n# Until: {UNTIL}\n"
    )));
    assert!(
        minimal.contains("#   role `batch`: 300 hosts → removed\n"),
        "{minimal}"
    );
    assert!(
        minimal.contains("faults[0] registry-outage: present → removed"),
        "{minimal}"
    );
    // The original's comments come along.
    assert!(
        minimal.contains("# The planted failure.\n[[faults]]"),
        "{minimal}"
    );

    let capsule = read(&out.join("capsule.toml"));
    let v: toml::Value = toml::from_str(&capsule).unwrap();
    assert_eq!(v["condition"].as_str(), Some(UNTIL));
    assert_eq!(v["original"]["hosts"].as_integer(), Some(2000));
    assert_eq!(v["original"]["seed"].as_integer(), Some(11));
    assert_eq!(v["seed"].as_integer(), Some(sc.seed as i64));
    assert_eq!(
        v["expected"]["hosts"].as_integer(),
        Some(sc.host_count() as i64)
    );
    assert!(v["fixed_point"].as_bool().unwrap());
    let readme = read(&out.join("README.md"));
    let replay_line = format!("shakedown replay {}", out.display());
    assert!(readme.contains(&replay_line), "{readme}");

    let o = shakedown(&["replay", out.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).starts_with("reproduces: "), "{}", text(&o));
    assert!(!text(&o).contains("note:"), "{}", text(&o));

    // Recorded figures that differ (a model change) are noted; the
    // condition decides.
    let requests = v["expected"]["requests_total"].as_integer().unwrap();
    let edited = capsule.replace(
        &format!("requests_total = {requests}\n"),
        &format!("requests_total = {}\n", requests + 1),
    );
    assert_ne!(edited, capsule);
    std::fs::write(out.join("capsule.toml"), edited).unwrap();
    let o = shakedown(&["replay", out.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(
        text(&o).contains(&format!(
            "note: the figures differ from the recorded ones (the simulator changed?): requests_total {} → {requests}",
            requests + 1
        )),
        "{}",
        text(&o)
    );

    // The same scenario without the planted fault: fixed, so the capsule
    // no longer reproduces (exit 1), and the edit is noticed.
    let fixed = minimal.replace(
        "kind = \"bad-config\"",
        "kind = \"registry-outage\"\nstart = \"1h\"\nduration = \"1m\"\n# was",
    );
    let fixed: String = fixed
        .lines()
        .filter(|l| {
            !l.starts_with("match =")
                && !l.starts_with("fraction =")
                && !l.starts_with("effect =")
                && !l.starts_with("error_rate =")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    Scenario::parse(&fixed, "fixed.toml").expect("still valid");
    std::fs::write(out.join("scenario.toml"), fixed).unwrap();
    let o = shakedown(&["replay", out.to_str().unwrap()]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("does not reproduce: "), "{}", text(&o));
    assert!(
        text(&o).contains("changed since it was recorded"),
        "{}",
        text(&o)
    );
}

#[test]
fn the_same_input_gives_the_same_bytes() {
    let out = scratch("twice");
    let files = ["scenario.toml", "capsule.toml", "README.md"];
    let mut seen = Vec::new();
    for _ in 0..2 {
        let o = shrink(&out, &[]);
        assert_eq!(code(&o), 0, "{}", text(&o));
        seen.push(files.map(|f| read(&out.join(f))));
    }
    assert_eq!(seen[0], seen[1]);
}

#[test]
fn a_condition_that_never_holds_says_so_and_writes_nothing() {
    let out = scratch("never");
    let o = shakedown(&[
        "shrink",
        PLANTED,
        "--until",
        "outcome == rolled_back",
        "--seeds",
        "1..3",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(
        text(&o).contains(
            "`outcome == rolled_back` does not hold on fixtures/shrink/planted-2000.toml with seeds 1..3 (seed 1: outcome = completed): nothing to shrink, nothing written"
        ),
        "{}",
        text(&o)
    );
    assert!(!out.exists());
}

#[test]
fn a_bad_condition_is_exit_2_with_its_column() {
    let out = scratch("bad");
    for (until, located) in [
        (
            "request_failed > 0",
            "--until:1:1: `until`: unknown metric `request_failed`",
        ),
        (
            "outcome < completed",
            "--until:1:9: `until`: `outcome` is a word",
        ),
        (
            "outcome == halted && hosts_on_new_pct > lots",
            "--until:1:41: `until`: `lots` is not a number",
        ),
    ] {
        let o = shakedown(&[
            "shrink",
            PLANTED,
            "--until",
            until,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(code(&o), 2, "{until}: {}", text(&o));
        assert!(text(&o).contains(located), "{until}: {}", text(&o));
        assert!(!out.exists());
    }
    // A scenario that does not parse is exit 2 as well, located in its file.
    let o = shakedown(&[
        "shrink",
        "scenarios/policies",
        "--until",
        UNTIL,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    // And so is replaying a directory without a capsule, or a broken one.
    let o = shakedown(&["replay", out.to_str().unwrap()]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(
        out.join("capsule.toml"),
        "format = \"shakedown-shrink-capsule/1\"\nconditon = \"x\"\n",
    )
    .unwrap();
    let o = shakedown(&["replay", out.to_str().unwrap()]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(text(&o).contains("capsule.toml:2:1: "), "{}", text(&o));
}

#[test]
fn max_runs_bounds_the_search() {
    let out = scratch("budget");
    let o = shrink(&out, &["--max-runs", "4"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(
        text(&o).contains("in 4 runs (the --max-runs 4 budget ran out first)"),
        "{}",
        text(&o)
    );
    for line in String::from_utf8_lossy(&o.stderr).lines() {
        if let Some(rest) = line.strip_prefix("shrink: [") {
            let runs: usize = rest.split_whitespace().next().unwrap().parse().unwrap();
            assert!(runs <= 4, "{line}");
        }
    }
    let capsule: toml::Value = toml::from_str(&read(&out.join("capsule.toml"))).unwrap();
    assert_eq!(capsule["runs"].as_integer(), Some(4));
    assert_eq!(capsule["fixed_point"].as_bool(), Some(false));
    let minimal = read(&out.join("scenario.toml"));
    assert!(
        minimal.contains("stopped by --max-runs 4 before a fixed point"),
        "{minimal}"
    );
    // Whatever it reached still fails.
    let o = shakedown(&["replay", out.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", text(&o));
}
