//! Scenario files: the malformed ones are rejected with the located message
//! each promises in its first line; the shipped ones parse, run, and print
//! back to themselves.
#![allow(clippy::disallowed_methods)] // tests read their data files

use shakedown_sim::{run, RunOptions, Scenario};
use std::path::{Path, PathBuf};

/// Every `.toml` under `dir`, subfolders included, sorted.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.unwrap().path();
        if p.is_dir() {
            v.extend(files_in(&p));
        } else if p.extension().is_some_and(|x| x == "toml") {
            v.push(p);
        }
    }
    v.sort();
    v
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

#[test]
fn malformed_scenarios_give_located_errors() {
    let files = files_in(&repo().join("sim/tests/data/malformed"));
    assert!(
        files.len() >= 20,
        "expected at least 20 malformed files, found {}",
        files.len()
    );
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        // First line: `# expect: LINE:COL `field`: message prefix`
        let expect = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{name}: first line must be `# expect: ...`"));
        let (loc, rest) = expect.split_once(' ').unwrap();
        let (line, col) = loc.split_once(':').unwrap();
        let field = rest.split('`').nth(1).unwrap();
        let message = rest.split_once("`: ").unwrap().1;

        let err = Scenario::parse(&text, &name).expect_err(&name);
        assert_eq!(err.file, name);
        assert_eq!(
            (err.line.to_string(), err.column.to_string()),
            (line.into(), col.into()),
            "{name}: {err}"
        );
        assert_eq!(err.field, field, "{name}: {err}");
        assert!(
            err.message.starts_with(message),
            "{name}: `{}` does not start with `{message}`",
            err.message
        );
        // The rendered form is what a person sees.
        assert!(err
            .to_string()
            .starts_with(&format!("{name}:{line}:{col}: `{field}`: ")));
    }
}

#[test]
fn every_shipped_scenario_parses_runs_and_round_trips() {
    let files = files_in(&repo().join("scenarios"));
    assert!(files.len() >= 2);
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let name = f.display().to_string();
        // A policy-only file (`--policy`, the demo's policies) is checked on
        // its own; the demo runs it over its scenario (cli/tests/reproduce.rs).
        if shakedown_sim::scenario::is_policy_file(&text) {
            shakedown_sim::scenario::check_policy_file(&text, &name)
                .unwrap_or_else(|e| panic!("{e}"));
            continue;
        }
        // Files a scenario references (a replay CSV) are read beside it.
        let dir = f.parent().unwrap().to_path_buf();
        let load = move |rel: &str| {
            std::fs::read_to_string(dir.join(rel)).map_err(|e| format!("{rel}: {e}"))
        };
        let sc = Scenario::parse_with(&text, &name, &load).unwrap_or_else(|e| panic!("{e}"));
        // --print-resolved output is itself a valid scenario, equal to this one.
        let resolved = sc.to_toml();
        let again = Scenario::parse_with(&resolved, "resolved", &load)
            .unwrap_or_else(|e| panic!("{name} resolved: {e}\n{resolved}"));
        assert_eq!(sc, again, "{name}: resolved form differs");
        assert!(!sc.description.is_empty(), "{name}: needs a description");
        if sc.host_count() <= 1000 {
            let rec = run(&sc, RunOptions::full(sc.seed));
            assert!(rec.summary.requests_total > 0, "{name}");
        }
    }
}

// issue 15 item 6: counts of a replayed curve wrap too; the error points at
// `scale` when one is given, else at the file whose rates are too high.
#[test]
fn a_replay_whose_counts_cannot_be_represented_is_rejected() {
    let text = |scale: &str| {
        format!(
            "name = \"m\"\nduration = \"1h\"\n\n[fleet]\n[[fleet.roles]]\nname = \"api\"\nhosts = 4\n\n\
             [traffic]\ncurve = \"replay\"\nfile = \"r.csv\"\n{scale}\n\
             [change]\nfrom = \"a\"\nto = \"b\"\n\n[policy]\nkind = \"rolling\"\nmax_unavailable = 1\n"
        )
    };
    let load = |rate: &'static str| {
        move |_: &str| -> Result<String, String> { Ok(format!("time_s,rps\n0,{rate}\n60,1\n")) }
    };
    let e = Scenario::parse_with(&text(""), "r.toml", &load("1e300")).unwrap_err();
    assert_eq!(
        (e.field.as_str(), e.line, e.column),
        ("traffic.file", 11, 8),
        "{e}"
    );
    assert!(e.message.contains("at most 2^53"), "{e}");
    let e = Scenario::parse_with(&text("scale = 1e15"), "r.toml", &load("1000")).unwrap_err();
    assert_eq!(
        (e.field.as_str(), e.line, e.column),
        ("traffic.scale", 12, 9),
        "{e}"
    );
    // Just under the limit is accepted: 2.5e12 rps for an hour is 9.0e15 requests.
    Scenario::parse_with(&text("scale = 2.5e9"), "r.toml", &load("1000")).unwrap();
}

// issue 14 item 2: the benchmark-sized fleet is what its name says, with the
// fault catalogue on (its parse and round trip are checked above; it is too
// big to run in a debug test).
/// The benchmark fleets (issue 14 item 2): fleet-1m and ten times it,
/// both 14 days with the fault catalogue on, fleet-10m the same roles,
/// faults and policy as fleet-1m with every size and the traffic × 10.
#[test]
fn the_benchmark_fleets_have_their_sizes_and_the_fault_catalogue() {
    let parse = |name: &str| {
        let f = repo().join(format!("scenarios/bench/{name}.toml"));
        Scenario::parse(
            &std::fs::read_to_string(&f).unwrap(),
            &format!("{name}.toml"),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    };
    let (one, ten) = (parse("fleet-1m"), parse("fleet-10m"));
    assert_eq!(one.host_count(), 1_000_000);
    assert_eq!(ten.host_count(), 10_000_000);
    for sc in [&one, &ten] {
        let toml = sc.to_toml();
        for kind in [
            "orphaned-containers",
            "leaked-ports",
            "kernel-panic",
            "regression",
        ] {
            assert!(
                toml.contains(&format!("kind = \"{kind}\"")),
                "{} lacks a `{kind}` fault",
                sc.name
            );
        }
        assert_eq!(
            sc.duration,
            shakedown_sim::time::SimDuration::from_hours(14 * 24)
        );
    }
    for (a, b) in one.fleet.roles.iter().zip(&ten.fleet.roles) {
        assert_eq!((&a.name, 10 * a.hosts), (&b.name, b.hosts));
    }
    assert_eq!(one.faults, ten.faults);
    assert_eq!(one.policy, ten.policy);
    assert_eq!(
        10.0 * one.traffic.peak_rps(),
        ten.traffic.peak_rps(),
        "traffic x 10"
    );
}
