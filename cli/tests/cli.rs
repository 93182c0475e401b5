//! The `shakedown` binary end to end: what a user runs, what lands on disk.

mod common;
use common::{repo, scratch, shakedown};
use std::path::PathBuf;
use std::process::{Command, Output};

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into(),
        String::from_utf8_lossy(&o.stderr).into(),
    )
}

fn json(path: PathBuf) -> serde_json::Value {
    serde_json::from_slice(
        &std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

#[test]
fn run_writes_reproducible_outputs_with_the_expected_content() {
    let (a, b) = (scratch("run-a"), scratch("run-b"));
    for dir in [&a, &b] {
        let o = shakedown(&[
            "run",
            "scenarios/rolling-basic.toml",
            "--seed",
            "7",
            "--out",
            dir.to_str().unwrap(),
        ]);
        let (out, err) = text(&o);
        assert!(o.status.success(), "{out}{err}");
        assert!(out.contains("seed 7"), "{out}");
        assert!(
            out.contains(
                "reproduce: shakedown run scenarios/rolling-basic.toml --seed 7 --out DIR"
            ),
            "{out}"
        );
    }
    for f in ["summary.json", "timeseries.csv", "events.csv", "report.md"] {
        let x = std::fs::read(a.join(f)).unwrap();
        assert!(!x.is_empty(), "{f} is empty");
        assert_eq!(
            x,
            std::fs::read(b.join(f)).unwrap(),
            "{f} differs between two runs with seed 7"
        );
    }

    let summary = json(a.join("summary.json"));
    assert_eq!(summary["scenario"], "rolling-basic");
    assert_eq!(summary["seed"], 7);
    assert_eq!(summary["policy"], "rolling");
    assert_eq!(summary["hosts"], 40);
    assert_eq!(summary["outcome"], "completed");
    assert_eq!(summary["peak_hosts_unavailable_pct"], 10.0);
    assert_eq!(summary["shakedown_version"], env!("CARGO_PKG_VERSION"));
    let total = summary["requests_total"].as_u64().unwrap();
    let failed = summary["requests_failed"].as_u64().unwrap();
    // No drain in this scenario: requests to hosts that just went down fail
    // until health checks notice, but only a small share.
    assert!(
        failed > 0 && failed * 100 < total,
        "failed {failed} of {total}"
    );
    assert!(summary["events_processed"].as_u64().unwrap() > 480);
    assert!(summary["rollout_duration_s"].as_f64().unwrap() > 0.0);

    let ts = std::fs::read_to_string(a.join("timeseries.csv")).unwrap();
    let mut lines = ts.lines();
    assert_eq!(
        lines.next().unwrap(),
        "time_s,hosts_old,hosts_new,serving,draining,upgrading,restarting,provisioning,crashed,broken,offered_rps,requests,served,failed,success_rate"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 480, "2 h of 15 s ticks");
    let sum_failed: u64 = rows.iter().map(|r| r[13].parse::<u64>().unwrap()).sum();
    assert_eq!(sum_failed, failed, "the time series adds up to the summary");
    let last = rows.last().unwrap();
    assert_eq!(
        (last[1], last[2], last[3]),
        ("0", "40", "40"),
        "all 40 on the new version, serving"
    );

    let ev = std::fs::read_to_string(a.join("events.csv")).unwrap();
    let instructs: Vec<&str> = ev.lines().filter(|l| l.contains(",instruct,")).collect();
    assert_eq!(instructs.len(), 40, "every host told once");
    assert!(
        instructs[0].starts_with("600.0,instruct,0,api,eu-west-1a,1.6.2,1.12.1,rolling batch 1,"),
        "{}",
        instructs[0]
    );
    assert!(ev
        .lines()
        .any(|l| l.contains(",finish,") && l.contains("completed")));
}

#[test]
fn a_malformed_scenario_exits_2_with_a_location_and_writes_nothing() {
    let out = scratch("bad");
    let o = shakedown(&[
        "run",
        "sim/tests/data/malformed/09-surge-in-place.toml",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let (_, err) = text(&o);
    assert!(
        err.contains("sim/tests/data/malformed/09-surge-in-place.toml:21:13: `policy.max_surge`:"),
        "{err}"
    );
    assert!(!out.exists(), "nothing may be written for bad input");

    let o = shakedown(&["run", "no/such/file.toml"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn validate_accepts_shipped_scenarios_and_rejects_malformed_ones() {
    let mut args = vec!["validate".to_string()];
    for e in std::fs::read_dir(repo().join("scenarios")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            args.push(p.strip_prefix(repo()).unwrap().display().to_string());
        }
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = shakedown(&refs);
    assert!(o.status.success(), "{:?}", text(&o));
    assert_eq!(
        text(&o).0.lines().filter(|l| l.starts_with("ok")).count(),
        args.len() - 1
    );

    let o = shakedown(&[
        "validate",
        "scenarios/rolling-basic.toml",
        "sim/tests/data/malformed/03-bad-duration-unit.toml",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o)
            .1
            .contains("03-bad-duration-unit.toml:3:12: `duration`"),
        "{:?}",
        text(&o)
    );
}

#[test]
fn print_resolved_shows_every_default() {
    let o = shakedown(&["run", "scenarios/rolling-basic.toml", "--print-resolved"]);
    assert!(o.status.success());
    let (out, _) = text(&o);
    for key in [
        "detection_delay = \"30s\"",
        "target_utilization = 0.7",
        "drain = \"0s\"",
        "max_surge = 0",
        "max_unavailable = \"10%\"",
    ] {
        assert!(out.contains(key), "missing `{key}` in:\n{out}");
    }
    shakedown_sim::Scenario::parse(&out, "resolved")
        .expect("the resolved form is a valid scenario");
}

#[test]
fn det_check_reports_identical_bytes() {
    let o = shakedown(&["det-check", "scenarios/rolling-basic.toml", "--seed", "7"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert_eq!(
        out.lines().filter(|l| l.starts_with("same")).count(),
        4,
        "{out}"
    );
    assert!(out.contains("deterministic"));
}

#[test]
fn validate_checks_what_live_mode_needs_and_run_does_not() {
    // A `[live]` table whose v2 behaviour the fixture service does not know:
    // the simulator has no use for it, so `run` works; `validate` says the
    // file cannot run live, at the field.
    let dir = scratch("live-behaviour");
    std::fs::create_dir_all(&dir).unwrap();
    let toml = std::fs::read_to_string(repo().join("scenarios/live/chaos-kill.toml"))
        .unwrap()
        .replace(
            "[live.versions.v2]\nbehaviour = \"good\"",
            "[live.versions.v2]\nbehaviour = \"errors=5%\"",
        );
    let file = dir.join("bad-behaviour.toml");
    std::fs::write(&file, &toml).unwrap();
    let line = toml.lines().position(|l| l.contains("errors=5%")).unwrap() + 1;
    let o = shakedown(&["validate", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{:?}", text(&o));
    let want = format!(":{line}:13: `live.versions.\"v2\".behaviour`: invalid behaviour");
    assert!(text(&o).1.contains(&want), "{want} not in {:?}", text(&o));
    let out = dir.join("out");
    let o = shakedown(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{:?}", text(&o));
}

#[test]
fn run_replays_a_live_scenarios_chaos_in_the_simulator() {
    // scenarios/live/chaos-kill.toml kills replica 2 of `web` at 6 s in live
    // mode; `run` simulates the same fault at the same time on the same host.
    let out = scratch("chaos");
    let o = shakedown(&[
        "run",
        "scenarios/live/chaos-kill.toml",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{:?}", text(&o));
    let ev = std::fs::read_to_string(out.join("events.csv")).unwrap();
    let chaos: Vec<&str> = ev
        .lines()
        .filter(|l| l.contains(",fault,") && l.contains(",chaos,"))
        .collect();
    assert_eq!(chaos.len(), 1, "{ev}");
    assert!(chaos[0].starts_with("6.0,fault,2,web,"), "{}", chaos[0]);
}

// issue 15 item 7: outputs were renamed into place one by one (a kill left a
// mix of two runs and a stray `.tmp`), and `--out` errors did not name the path.
#[test]
fn run_replaces_its_output_set_whole_and_out_errors_name_the_path() {
    let root = scratch("out-set");
    std::fs::create_dir_all(&root).unwrap();
    let out = root.join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("requests.csv"), "from an earlier live run\n").unwrap();
    let o = shakedown(&[
        "run",
        "scenarios/rolling-basic.toml",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{:?}", text(&o));
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "events.csv",
            "report.html",
            "report.md",
            "summary.json",
            "timeseries.csv"
        ]
    );
    let beside: Vec<_> = std::fs::read_dir(&root).unwrap().collect();
    assert_eq!(beside.len(), 1, "no staging directory is left beside --out");

    // A directory holding the user's own files is not replaced.
    let mine = root.join("mine");
    std::fs::create_dir_all(&mine).unwrap();
    std::fs::write(mine.join("notes.txt"), "mine").unwrap();
    let o = shakedown(&[
        "run",
        "scenarios/rolling-basic.toml",
        "--out",
        mine.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let (_, err) = text(&o);
    assert!(
        err.contains(mine.to_str().unwrap()) && err.contains("notes.txt"),
        "{err}"
    );
    assert!(mine.join("notes.txt").exists());

    // `--out` naming a file: exit 2, and the message names the path.
    let file = root.join("a-file");
    std::fs::write(&file, "x").unwrap();
    let o = shakedown(&[
        "run",
        "scenarios/rolling-basic.toml",
        "--out",
        file.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let (_, err) = text(&o);
    assert!(err.contains(&format!("--out {}", file.display())), "{err}");
}

// issue 15 items 5 and 6: at rps = 1e17 counts wrapped (5.8e17 reported for
// ~7.2e20, exit 0), and at ~1e306 rps `run` hung in the plots.
#[test]
fn traffic_whose_counts_cannot_be_represented_is_rejected_with_a_location() {
    for (file, shown) in [
        ("40-rps-1e17-wraps-counts.toml", "7.200e20"),
        ("41-rps-1e306-hangs-the-plots.toml", "more than 1.8e308"),
    ] {
        let out = scratch(file);
        let path = format!("sim/tests/data/malformed/{file}");
        let o = shakedown(&["run", &path, "--out", out.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{:?}", text(&o));
        let (_, err) = text(&o);
        assert!(
            err.contains(&format!("{path}:12:7: `traffic.rps`: "))
                && err.contains(&format!("is {shown} requests; at most 2^53")),
            "{err}"
        );
        assert!(!out.exists());
    }
}

// issue 15 item 5: a replay file that is a FIFO blocked `run` forever, and
// `/dev/urandom` was read until memory ran out.
#[test]
fn replay_files_must_be_regular_files_under_the_size_limit() {
    let dir = scratch("replay-files");
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("fifo.csv");
    let made = Command::new("mkfifo").arg(&fifo).status();
    assert!(
        made.is_ok_and(|s| s.success()),
        "mkfifo is needed for this test"
    );
    let big = dir.join("big.csv");
    std::fs::File::create(&big)
        .unwrap()
        .set_len((64 << 20) + 1)
        .unwrap();
    for (replay, message) in [
        (fifo.to_str().unwrap(), "not a regular file"),
        ("/dev/urandom", "not a regular file"),
        (
            big.to_str().unwrap(),
            "67108865 bytes, more than the limit of 67108864 bytes",
        ),
    ] {
        let scenario = dir.join("s.toml");
        std::fs::write(
            &scenario,
            format!(
                "name = \"m\"\nduration = \"1h\"\n\n[fleet]\n[[fleet.roles]]\nname = \"api\"\nhosts = 4\n\n\
                 [traffic]\ncurve = \"replay\"\nfile = \"{replay}\"\n\n\
                 [change]\nfrom = \"a\"\nto = \"b\"\n\n[policy]\nkind = \"rolling\"\nmax_unavailable = 1\n"
            ),
        )
        .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_shakedown"))
            .args(["validate", scenario.to_str().unwrap()])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                child.kill().unwrap();
                panic!("validate with replay file {replay} did not finish within 30 s");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{replay}: {:?}", text(&o));
        let (_, err) = text(&o);
        assert!(
            err.contains("s.toml:11:8: `traffic.file`: ")
                && err.contains(&format!("cannot read `{replay}`: {message}")),
            "{err}"
        );
    }
}
