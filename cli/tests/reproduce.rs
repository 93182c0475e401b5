//! Every "reproduce" line reproduces exactly what it claims (issue 11,
//! item 7): the line `run`, `compare`, `sweep` and `demo` print, and the
//! command `summary.json` lists for each worst/median/best run of a group,
//! is run as printed (with `DIR` replaced by a new directory) and must give
//! the same `summary.json` bytes. The drill-down runs are the files `shakedown
//! run` writes, and the reports link to them.

mod common;
use common::{repo, scratch, text};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn shakedown(args: &[String]) -> Output {
    let o = Command::new(env!("CARGO_BIN_EXE_shakedown"))
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(o.status.success(), "shakedown {args:?}: {}", text(&o));
    o
}

fn strs(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// A printed command split into its arguments: words, and '…' quoted
/// words (as the reproduce lines quote `--param` values).
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut quoted, mut started) = (false, false);
    for c in line.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                started = true;
            }
            ' ' if !quoted => {
                if started {
                    out.push(std::mem::take(&mut cur));
                }
                started = false;
            }
            c => {
                cur.push(c);
                started = true;
            }
        }
    }
    if started {
        out.push(cur);
    }
    out
}

/// Runs a reproduce line (it starts with `shakedown`) writing to `dir`.
fn rerun(line: &str, dir: &Path) -> Output {
    let mut w = words(line);
    assert_eq!(w.remove(0), "shakedown", "{line}");
    let dir = dir.to_str().unwrap();
    let args: Vec<String> = w
        .into_iter()
        .map(|a| if a == "DIR" { dir.to_string() } else { a })
        .collect();
    assert!(args.iter().any(|a| a == dir), "no DIR in `{line}`");
    shakedown(&args)
}

/// The lines of the output that start (after spaces) with `reproduce: `.
fn reproduce_lines(o: &Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("reproduce: "))
        .map(str::to_string)
        .collect()
}

fn read(p: PathBuf) -> Vec<u8> {
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn json(p: PathBuf) -> serde_json::Value {
    serde_json::from_slice(&read(p)).unwrap()
}

/// Each group's worst/median/best run: its files are there, its reproduce
/// command gives the same `summary.json`, and the reports link to it.
/// `is_sweep`: the command is a one-point sweep, whose run is under `runs/`.
fn check_drill_down(dir: &Path, name: &str, is_sweep: bool) {
    let summary = json(dir.join("summary.json"));
    let md = String::from_utf8(read(dir.join("report.md"))).unwrap();
    let html = String::from_utf8(read(dir.join("report.html"))).unwrap();
    let mut checked = 0;
    for g in summary["groups"].as_array().unwrap() {
        let picks = g["drill_down"].as_array().unwrap();
        let ranks: Vec<&str> = picks.iter().map(|p| p["rank"].as_str().unwrap()).collect();
        assert_eq!(ranks, ["worst", "median", "best"], "{g}");
        let harm: Vec<i64> = picks
            .iter()
            .map(|p| p["failed_requests_due_to_change"].as_i64().unwrap())
            .collect();
        assert!(harm[0] >= harm[1] && harm[1] >= harm[2], "ranked: {harm:?}");
        for p in picks {
            let run = p["dir"].as_str().unwrap();
            let seed = p["seed"].as_u64().unwrap();
            assert!(run.ends_with(&format!("-seed-{seed}")), "{run}");
            let files = dir.join(run);
            for f in [
                "summary.json",
                "timeseries.csv",
                "events.csv",
                "report.md",
                "report.html",
            ] {
                assert!(files.join(f).is_file(), "{}/{f}", files.display());
            }
            let s = json(files.join("summary.json"));
            assert_eq!(s["seed"].as_u64(), Some(seed));
            assert_eq!(
                s["failed_requests_due_to_change"].as_i64(),
                Some(p["failed_requests_due_to_change"].as_i64().unwrap())
            );
            assert!(
                md.contains(&format!("]({run}/report.md)")),
                "md links {run}"
            );
            assert!(
                html.contains(&format!("<a href=\"{run}/report.html\">")),
                "html links {run}"
            );
            // The run report says how to get it again: the same command.
            let line = p["reproduce"].as_str().unwrap();
            let page = String::from_utf8(read(files.join("report.html"))).unwrap();
            assert!(
                page.contains(&format!(
                    "<pre class=\"cmd\">{}</pre>",
                    line.replace('\'', "&#39;")
                )) || page.contains(&format!("<pre class=\"cmd\">{line}</pre>")),
                "{run}: report.html names `{line}`"
            );
            let again = scratch(&format!("{name}-again-{checked}"));
            rerun(line, &again);
            let got = if is_sweep {
                again.join(run).join("summary.json")
            } else {
                again.join("summary.json")
            };
            assert_eq!(
                read(got),
                read(files.join("summary.json")),
                "`{line}` gives {run}'s summary.json"
            );
            checked += 1;
        }
    }
    assert!(checked >= 6, "{checked} runs checked");
}

/// Every run the drill-down lists is there (without re-running each).
fn check_drill_down_files(dir: &Path) {
    let summary = json(dir.join("summary.json"));
    for g in summary["groups"].as_array().unwrap() {
        let picks = g["drill_down"].as_array().unwrap();
        assert_eq!(picks.len(), 3, "{g}");
        for p in picks {
            let run = dir.join(p["dir"].as_str().unwrap());
            assert!(run.join("report.html").is_file(), "{}", run.display());
        }
    }
}

/// Runs `args` writing to a new directory, then its printed reproduce line
/// to another: the same `summary.json`.
fn reproduces(name: &str, args: &[&str]) -> (PathBuf, Output) {
    let dir = scratch(name);
    let mut a = strs(args);
    a.extend(strs(&["--out", dir.to_str().unwrap()]));
    let o = shakedown(&a);
    let lines = reproduce_lines(&o);
    assert_eq!(lines.len(), 1, "one reproduce line: {}", text(&o));
    let again = scratch(&format!("{name}-again"));
    rerun(&lines[0], &again);
    assert_eq!(
        read(again.join("summary.json")),
        read(dir.join("summary.json")),
        "`{}` gives the same summary.json",
        lines[0]
    );
    (dir, o)
}

#[test]
fn run_with_a_policy_file_reproduces() {
    let (_, o) = reproduces(
        "run",
        &[
            "run",
            "scenarios/rolling-basic.toml",
            "--policy",
            "scenarios/policies/flagger.toml",
            "--seed",
            "3",
        ],
    );
    assert!(reproduce_lines(&o)[0].contains("--policy scenarios/policies/flagger.toml"));
}

#[test]
fn compare_reproduces_and_its_drill_down_runs_do_too() {
    let (dir, o) = reproduces(
        "compare",
        &[
            "compare",
            "scenarios/rolling-basic.toml",
            "--policy",
            "scenarios/policies/canary.toml",
            "--policy",
            "scenarios/policies/flagger.toml",
            "--seeds",
            "1..5",
        ],
    );
    // The terminal overview prints the figure the recommendation weighs.
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        out.contains("failed requests due to the change mean"),
        "{out}"
    );
    check_drill_down(&dir, "compare", false);
}

#[test]
fn compare_of_a_manifest_with_a_metric_map_reproduces() {
    let (_, o) = reproduces(
        "metric-map",
        &[
            "compare",
            "fixtures/manifests/world.toml",
            "--policy",
            "fixtures/manifests/argo-rollouts/rollout-analysis-step.yaml",
            "--metric-map",
            "fixtures/manifests/argo-rollouts/job-metrics.toml",
            "--seeds",
            "1..2",
        ],
    );
    assert!(reproduce_lines(&o)[0]
        .contains("--metric-map fixtures/manifests/argo-rollouts/job-metrics.toml"));
}

#[test]
fn sweep_with_a_policy_file_reproduces_and_its_drill_down_runs_do_too() {
    let (dir, o) = reproduces(
        "sweep",
        &[
            "sweep",
            "scenarios/rolling-basic.toml",
            "--policy",
            "scenarios/policies/flagger.toml",
            "--param",
            "policy.step_weight=10,25",
            "--seeds",
            "1..4",
        ],
    );
    assert!(reproduce_lines(&o)[0].contains("--policy scenarios/policies/flagger.toml"));
    check_drill_down(&dir, "sweep", true);
}

#[test]
fn a_merge_writes_the_drill_down_of_the_unsharded_experiment() {
    let base = [
        "sweep",
        "scenarios/rolling-basic.toml",
        "--param",
        "policy.max_unavailable=1,5",
        "--seeds",
        "1..4",
    ];
    let whole = scratch("merge-whole");
    let mut a = strs(&base);
    a.extend(strs(&["--out", whole.to_str().unwrap()]));
    shakedown(&a);
    let mut shards = Vec::new();
    for k in 1..=2 {
        let d = scratch(&format!("merge-shard-{k}"));
        let mut a = strs(&base);
        a.extend(strs(&[
            "--shard",
            &format!("{k}/2"),
            "--out",
            d.to_str().unwrap(),
        ]));
        shakedown(&a);
        shards.push(d.to_str().unwrap().to_string());
    }
    let merged = scratch("merge-merged");
    let mut a = strs(&["merge"]);
    a.extend(shards);
    a.extend(strs(&["--out", merged.to_str().unwrap()]));
    shakedown(&a);
    let summary = json(whole.join("summary.json"));
    assert_eq!(
        read(merged.join("summary.json")),
        read(whole.join("summary.json"))
    );
    for g in summary["groups"].as_array().unwrap() {
        for p in g["drill_down"].as_array().unwrap() {
            let run = p["dir"].as_str().unwrap();
            for f in ["summary.json", "report.html"] {
                assert_eq!(
                    read(merged.join(run).join(f)),
                    read(whole.join(run).join(f)),
                    "{run}/{f}"
                );
            }
        }
    }
}

#[test]
fn the_demo_reproduce_lines_name_shipped_files_and_reproduce() {
    let dir = scratch("demo");
    let o = shakedown(&strs(&["demo", "--out", dir.to_str().unwrap()]));
    let lines = reproduce_lines(&o);
    assert_eq!(lines.len(), 5, "four runs and the comparison: {}", text(&o));
    for (line, policy) in lines
        .iter()
        .zip(["rolling", "all-at-once", "linear", "waves"])
    {
        let file = format!("scenarios/policies/demo-{policy}.toml");
        assert!(line.contains(&format!("--policy {file}")), "{line}");
        assert!(repo().join(&file).is_file(), "{file} ships");
        if line.starts_with("shakedown run ") {
            let again = scratch(&format!("demo-{policy}"));
            rerun(line, &again);
            assert_eq!(
                read(again.join("summary.json")),
                read(dir.join(policy).join("summary.json")),
                "`{line}`"
            );
        }
    }
    // What the demo shows (moved here from cli.rs so the demo runs once).
    let md = String::from_utf8(read(dir.join("report.md"))).unwrap();
    assert!(
        md.contains("| rolling | all-at-once | linear | waves |"),
        "{md}"
    );
    let html = String::from_utf8(read(dir.join("report.html"))).unwrap();
    assert!(
        html.contains("<svg") && !html.contains("https://"),
        "a self-contained HTML report with plots"
    );
    assert!(html.matches("<svg").count() >= 8, "two plots per policy");
    let rolling = json(dir.join("rolling/summary.json"));
    let big_bang = json(dir.join("all-at-once/summary.json"));
    let linear = json(dir.join("linear/summary.json"));
    assert_eq!(rolling["scenario"], "spotify-docker-1.12");
    assert_eq!(
        rolling["requests_total"], big_bang["requests_total"],
        "same seed, same traffic"
    );
    assert_eq!(rolling["requests_total"], linear["requests_total"]);
    assert_eq!(big_bang["peak_hosts_unavailable_pct"], 100.0);
    assert!(rolling["peak_hosts_unavailable_pct"].as_f64().unwrap() <= 5.0);
    assert!(big_bang["requests_failed"].as_u64() > rolling["requests_failed"].as_u64());
    // … and over 20 seeds, with distributions and paired differences.
    let mc_dir = dir.join("monte-carlo");
    let rows = String::from_utf8(read(mc_dir.join("compare.csv"))).unwrap();
    assert_eq!(
        rows.lines().count(),
        1 + 4 * 20,
        "one row per seed × policy"
    );
    let mc_html = String::from_utf8(read(mc_dir.join("report.html"))).unwrap();
    assert!(mc_html.contains("<svg") && !mc_html.contains("https://"));
    check_drill_down_files(&mc_dir);

    let mc = &lines[4];
    assert!(mc.starts_with("shakedown compare "), "{mc}");
    let again = scratch("demo-monte-carlo");
    rerun(mc, &again);
    assert_eq!(
        read(again.join("summary.json")),
        read(dir.join("monte-carlo/summary.json")),
        "`{mc}`"
    );
}
