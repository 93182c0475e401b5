//! `calibrate` and `judge --method shape` end to end: the same bytes at 1
//! and 2 threads, every file written, bad input located with exit code 2,
//! and the shape judge failing spinnaker#6278's canary that Kayenta passes.

mod common;
use common::{repo, scratch, shakedown_env, text};
use std::process::Command;

/// `judge` on spinnaker#6278's baseline and canary (docs/examples/judge).
const JUDGE_6278: [&str; 7] = [
    "judge",
    "--baseline",
    "docs/examples/judge/6278-baseline.csv",
    "--canary",
    "docs/examples/judge/6278-canary.csv",
    "--config",
    "docs/examples/judge/few-samples.toml",
];

const JUDGES: &str = "sim/tests/data/calibrate/judges.toml";

const FILES: [&str; 5] = [
    "power.csv",
    "calculator.csv",
    "summary.json",
    "report.md",
    "report.html",
];

#[test]
fn calibrate_is_the_same_bytes_at_one_and_two_threads() {
    let mut outs = Vec::new();
    for threads in ["1", "2"] {
        let out = scratch(&format!("threads-{threads}"));
        let o = shakedown_env(
            &[
                "calibrate",
                JUDGES,
                "--seeds",
                "1..6",
                "--sizes",
                "error-rate=0.001",
                "--sizes",
                "latency=0.1",
                "--out",
                out.to_str().unwrap(),
            ],
            &[("RAYON_NUM_THREADS", threads)],
        );
        assert!(o.status.success(), "{}", text(&o));
        assert!(
            text(&o).contains("3 metrics × 3 regressions × 6 seeds = 18 runs"),
            "{}",
            text(&o)
        );
        outs.push(out);
    }
    for f in FILES {
        let a = std::fs::read(outs[0].join(f)).unwrap();
        let b = std::fs::read(outs[1].join(f)).unwrap();
        assert!(a == b, "{f} differs between 1 and 2 threads");
        assert!(!a.is_empty(), "{f} is empty");
    }
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(outs[0].join("summary.json")).unwrap()).unwrap();
    assert_eq!(doc["format"], "shakedown-calibration/1");
    assert_eq!(doc["runs"], 18);
    let metrics: Vec<&str> = doc["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        metrics,
        ["gate/success-rate", "gate/judge", "gate/judge~shape"]
    );
    let csv = std::fs::read_to_string(outs[0].join("power.csv")).unwrap();
    // 3 metrics × (good + 1 size) × 2 kinds, and the header.
    assert_eq!(csv.lines().count(), 1 + 3 * 2 * 2, "{csv}");
    let html = std::fs::read_to_string(outs[0].join("report.html")).unwrap();
    assert_eq!(
        html.matches("<svg").count(),
        2,
        "one power curve per regression kind"
    );
    let md = std::fs::read_to_string(outs[0].join("report.md")).unwrap();
    assert!(md.contains("## Canary power calculator"), "{md}");
}

#[test]
fn bad_input_exits_2_with_the_reason() {
    let out = scratch("bad");
    let o_s = out.to_str().unwrap();
    for (args, expect) in [
        (
            vec!["calibrate", JUDGES, "--sizes", "speed=1", "--out", o_s],
            "unknown kind `speed`",
        ),
        (
            vec!["calibrate", JUDGES, "--sizes", "error-rate=2", "--out", o_s],
            "out of range",
        ),
        (
            vec!["calibrate", JUDGES, "--endpoint", "/nope", "--out", o_s],
            "not an endpoint of the scenario",
        ),
        (
            vec!["calibrate", "scenarios/rolling-basic.toml", "--out", o_s],
            "no analysis metrics or checks to calibrate",
        ),
        (
            vec!["calibrate", JUDGES, "--false-fail", "0", "--out", o_s],
            "--false-fail 0",
        ),
    ] {
        let o = shakedown_env(&args, &[]);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(text(&o).contains(expect), "{args:?}: {}", text(&o));
        assert!(!out.exists(), "{args:?}: nothing is written on bad input");
    }
}

#[test]
fn a_located_error_in_a_shape_judge_names_its_line() {
    let dir = scratch("located");
    std::fs::create_dir_all(&dir).unwrap();
    let text_in = std::fs::read_to_string(repo().join(JUDGES))
        .unwrap()
        .replace(
            "provider = \"kayenta\"",
            "provider = \"shape\"\nquantile = 1.5",
        );
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, &text_in).unwrap();
    let o = shakedown_env(&["validate", bad.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let line = text_in
        .lines()
        .position(|l| l.starts_with("quantile"))
        .unwrap()
        + 1;
    assert!(
        text(&o).contains(&format!("bad.toml:{line}:")) && text(&o).contains("quantile"),
        "{}",
        text(&o)
    );
}

#[test]
fn judge_method_shape_fails_the_canary_kayenta_passes() {
    let args = |method: Option<&'static str>| {
        let mut a = JUDGE_6278.to_vec();
        if let Some(m) = method {
            a.extend(["--method", m]);
        }
        a
    };
    let k = shakedown_env(&args(None), &[]);
    assert_eq!(k.status.code(), Some(0), "{}", text(&k));
    let doc: serde_json::Value = serde_json::from_slice(&k.stdout).unwrap();
    assert!(
        doc.get("method").is_none(),
        "Kayenta's output keeps its keys"
    );
    assert_eq!(doc["verdict"], "pass");
    let s = shakedown_env(&args(Some("shape")), &[]);
    assert_eq!(s.status.code(), Some(1), "{}", text(&s));
    let doc: serde_json::Value = serde_json::from_slice(&s.stdout).unwrap();
    assert_eq!(doc["method"], "shape");
    assert_eq!(doc["metrics"][0]["classification"], "high");
    let mut bad = args(Some("kayenta"));
    bad.extend(["--kind", "errors_per_min=rate"]);
    let b = shakedown_env(&bad, &[]);
    assert_eq!(b.status.code(), Some(2), "{}", text(&b));
}

#[test]
fn flagger_checks_linear_slos_and_waves_alarms_are_calibrated_as_gates() {
    // Each check of a Flagger canary, a linear ramp and waves is measured
    // alone, as its policy's own gate: one power curve per check.
    for (scenario, policy, ids) in [
        (
            "scenarios/rolling-basic.toml",
            "scenarios/policies/flagger.toml",
            vec!["flagger/request-success-rate", "flagger/request-duration"],
        ),
        (
            "scenarios/policies/appconfig/Linear20PercentEvery6Minutes.toml",
            "scenarios/policies/appconfig/Linear20PercentEvery6Minutes.toml",
            vec!["slo/alarm: api success rate"],
        ),
        (
            "scenarios/policies/waves.toml",
            "scenarios/policies/waves.toml",
            vec!["alarm/5xx"],
        ),
    ] {
        let out = scratch(&format!("gates-{}", ids[0].replace(['/', ':', ' '], "-")));
        let o = shakedown_env(
            &[
                "calibrate",
                scenario,
                "--policy",
                policy,
                "--seeds",
                "1..3",
                "--sizes",
                "error-rate=0.05",
                "--out",
                out.to_str().unwrap(),
            ],
            &[],
        );
        assert!(o.status.success(), "{policy}: {}", text(&o));
        let csv = std::fs::read_to_string(out.join("power.csv")).unwrap();
        for id in &ids {
            let rows: Vec<&str> = csv
                .lines()
                .filter(|l| l.starts_with(&format!("{id},")))
                .collect();
            assert_eq!(
                rows.len(),
                2,
                "{policy}: a good and a bad row for {id}\n{csv}"
            );
        }
        // A 5 % error rate is caught by the success-rate checks on every seed.
        let sr = csv
            .lines()
            .find(|l| l.starts_with(&format!("{},", ids[0])) && l.contains(",0.05,"))
            .unwrap();
        assert!(sr.contains(",3,3,1,"), "{policy}: {sr}");
    }
}

#[test]
fn judge_with_a_closed_stdout_keeps_its_verdict_and_does_not_panic() {
    // `shakedown judge … | head -c0`: the reader is gone before the judge
    // writes. The pipe's read end is closed before the process starts, so
    // the write always meets a broken pipe.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let o = Command::new(env!("CARGO_BIN_EXE_shakedown"))
        .args(JUDGE_6278)
        .args(["--method", "shape"])
        .current_dir(repo())
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("the binary runs");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        o.status.code(),
        Some(1),
        "the shape judge's fail stands: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}
