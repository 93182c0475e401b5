//! Warnings on the command line (issue 11 item 5): `validate`, `run`,
//! `compare` and `sweep` print `warning: FILE:LINE:COL: `field`: message`
//! and go ahead; `--deny-warnings` makes any warning exit 2 with nothing
//! run. `validate` checks policy files on their own (item 6).

mod common;
use common::{repo, scratch_dir, shakedown, text};
use std::path::{Path, PathBuf};

/// rolling-basic with a fault whose selector has a typo, at a known line.
fn typo_scenario(dir: &Path) -> (PathBuf, usize) {
    let base = std::fs::read_to_string(repo().join("scenarios/rolling-basic.toml")).unwrap();
    let (head, policy) = base.rsplit_once("\n[policy]\n").unwrap();
    let text = format!(
        "{head}\n[[faults]]\nkind = \"leaked-ports\"\nmatch = {{ docker = \"20.1\" }}\nprobability = 0.1\n\n[policy]\n{policy}"
    );
    let line = 1 + text[..text.find("match = {").unwrap()]
        .matches('\n')
        .count();
    let p = dir.join("typo.toml");
    std::fs::write(&p, text).unwrap();
    (p, line)
}

#[test]
fn validate_and_run_print_the_warning_with_its_line_and_go_ahead() {
    let dir = scratch_dir("warn-run");
    let (sc, line) = typo_scenario(&dir);
    let sc_s = sc.to_str().unwrap();
    let want = format!("warning: {sc_s}:{line}:");
    let o = shakedown(&["validate", sc_s]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains(&want), "{}", text(&o));
    assert!(text(&o).contains("`faults[0].match`: this leaked-ports fault selects no host"));
    let out = dir.join("out");
    let o = shakedown(&["run", sc_s, "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains(&want), "{}", text(&o));
    // The summary says the fault hit no host.
    let summary = std::fs::read_to_string(out.join("summary.json")).unwrap();
    assert!(summary.contains("\"kind\": \"leaked-ports\""), "{summary}");
    assert!(summary.contains("\"hosts\": 0"), "{summary}");
}

#[test]
fn deny_warnings_exits_2_and_runs_nothing() {
    let dir = scratch_dir("warn-deny");
    let (sc, _) = typo_scenario(&dir);
    let sc_s = sc.to_str().unwrap();
    let o = shakedown(&["validate", "--deny-warnings", sc_s]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let out = dir.join("run");
    let o = shakedown(&[
        "run",
        sc_s,
        "--deny-warnings",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(!out.exists(), "nothing is written");
    let out = dir.join("cmp");
    let o = shakedown(&[
        "compare",
        sc_s,
        "--seeds",
        "1..2",
        "--deny-warnings",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(!out.exists());
    let out = dir.join("sweep");
    let o = shakedown(&[
        "sweep",
        sc_s,
        "--param",
        "policy.max_unavailable=1,2",
        "--seeds",
        "1..2",
        "--deny-warnings",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("warning: "), "{}", text(&o));
    // A scenario without warnings passes the same flag.
    let o = shakedown(&[
        "validate",
        "--deny-warnings",
        "scenarios/rolling-basic.toml",
    ]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn compare_locates_a_policys_warning_in_its_policy_file() {
    let dir = scratch_dir("warn-compare");
    let policy = dir.join("slow-linear.toml");
    std::fs::write(
        &policy,
        "# a 14-day ramp\n[policy]\nkind = \"linear\"\nduration = \"14d\"\nstep = \"1h\"\n",
    )
    .unwrap();
    let out = dir.join("out");
    let o = shakedown(&[
        "compare",
        "scenarios/rolling-basic.toml",
        "--policy",
        policy.to_str().unwrap(),
        "--seeds",
        "1..2",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let want = format!(
        "warning: {}:4:12: `policy.duration`: the ramp (14d)",
        policy.display()
    );
    assert!(text(&o).contains(&want), "{}", text(&o));
    // Warned, and the report says it never finished.
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("timed out 2/2"), "{md}");
}

#[test]
fn validate_checks_policy_files_on_their_own() {
    let dir = scratch_dir("warn-policy-file");
    let good = dir.join("canary.toml");
    std::fs::write(
        &good,
        "[policy]\nkind = \"canary\"\nsteps = [{ set_weight = 20 }, { pause = { duration = \"1h\" } }]\n",
    )
    .unwrap();
    let bad = dir.join("typo.toml");
    std::fs::write(&bad, "# canary\n[policy]\nkind = \"canary\"\nstepz = []\n").unwrap();
    let o = shakedown(&["validate", good.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("policy file, policy canary"),
        "{}",
        text(&o)
    );
    let o = shakedown(&["validate", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let want = format!(
        "{}:4:1: `policy.stepz`: unknown field `stepz`",
        bad.display()
    );
    assert!(text(&o).contains(&want), "{}", text(&o));
    // Every shipped policy file validates on its own.
    for e in std::fs::read_dir(repo().join("scenarios/policies")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            let o = shakedown(&["validate", p.to_str().unwrap()]);
            assert!(o.status.success(), "{}: {}", p.display(), text(&o));
        }
    }
}

#[test]
fn a_policy_file_whose_roles_do_not_fit_the_scenario_is_an_error_in_that_file() {
    let o = shakedown(&[
        "compare",
        "scenarios/rolling-basic.toml",
        "--policy",
        "scenarios/policies/linear.toml",
        "--seeds",
        "1",
        "--out",
        scratch_dir("warn-fit").join("out").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("scenarios/policies/linear.toml:") && text(&o).contains("no role `"),
        "{}",
        text(&o)
    );
}
