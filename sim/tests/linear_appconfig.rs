//! Duration-based ramps after AWS AppConfig (issue 10 item 12): the
//! predefined strategies' exact step timelines from AWS's documentation, the
//! final bake, `on_slo_breach = "rollback"` against the default `"halt"`,
//! and the located errors of the new keys.
//!
//! AWS sources (cited in each file of `scenarios/policies/appconfig/` and in
//! `docs/FIDELITY.md`): the User Guide's "Working with deployment
//! strategies" (the 10-hour, 20 % linear timeline; the growth factor 2
//! exponential series) and "Using predefined deployment strategies"; the
//! numbers of each predefined strategy as aws/aws-cdk defines them in
//! `packages/aws-cdk-lib/aws-appconfig/lib/deployment-strategy.ts` at commit
//! 02bb4861db674e5911d6801fbe9906c278f46bc5.
#![allow(clippy::disallowed_methods)] // reads the shipped example files

use shakedown_sim::policy::spec::{OnBreach, PolicySpec, Shape};
use shakedown_sim::time::SimDuration;
use shakedown_sim::{run, RunOptions, RunRecord, Scenario};

const ROLLBACK: &str = "on_slo_breach = \"rollback\"\n";

const PREDEFINED: &str = "https://docs.aws.amazon.com/appconfig/latest/userguide/appconfig-creating-deployment-strategy-predefined.html";

fn path(name: &str) -> String {
    format!(
        "{}/../scenarios/policies/appconfig/{name}.toml",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn text(name: &str) -> String {
    let p = path(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn parse(text: &str, file: &str) -> Scenario {
    Scenario::parse(text, file).unwrap_or_else(|e| panic!("{e}"))
}

/// `(time_s, hosts on the new version)` after each instant at which the
/// policy told hosts to move: the cumulative step timeline.
fn timeline(rec: &RunRecord, to: &str) -> Vec<(f64, i64)> {
    let mut out: Vec<(f64, i64)> = Vec::new();
    let mut on_new = 0;
    for e in rec.events.iter().filter(|e| e.kind == "instruct") {
        on_new += if e.to == to { 1 } else { -1 };
        match out.last_mut() {
            Some(last) if last.0 == e.time_s => last.1 = on_new,
            _ => out.push((e.time_s, on_new)),
        }
    }
    out
}

fn row_at<'a>(rec: &'a RunRecord, kind: &str, step: &str) -> Option<&'a f64> {
    rec.events
        .iter()
        .find(|e| e.kind == kind && e.step == step)
        .map(|e| &e.time_s)
}

fn mins(m: u64) -> SimDuration {
    SimDuration::from_mins(m)
}

/// AWS's own examples of the two growth types, as fractions of the fleet.
#[test]
fn growth_types_follow_aws_examples() {
    // "a 10 hour deployment that uses 20% linear growth": 0 h 0 %, 2 h 20 %,
    // 4 h 40 %, 6 h 60 %, 8 h 80 %, 10 h 100 %.
    let linear = Shape::Linear {
        growth_factor: Some(20.0),
    };
    let d = SimDuration::from_hours(10);
    assert_eq!(linear.steps(), Some(5));
    for (h, pct) in [
        (0, 0.0),
        (2, 20.0),
        (4, 40.0),
        (6, 60.0),
        (8, 80.0),
        (10, 100.0),
    ] {
        let t = SimDuration::from_hours(h);
        assert_eq!(linear.fraction(t, d) * 100.0, pct, "{h} h");
        // Constant until the next step.
        if h < 10 {
            let just_before = SimDuration::from_millis((h + 2) * 3_600_000 - 1);
            assert_eq!(
                linear.fraction(just_before, d) * 100.0,
                pct,
                "{h} h + 2 h − 1 ms"
            );
        }
    }
    // "if you specify a growth factor of 2 … 2% of the targets, 4% of the
    // targets, 8% of the targets, and continues until the configuration has
    // been deployed to all targets": 2, 4, 8, 16, 32, 64, then 100.
    let exp = Shape::Exponential { growth_factor: 2.0 };
    assert_eq!(exp.steps(), Some(7));
    let pcts: Vec<f64> = (1..=7).map(|k| exp.step_pct(k)).collect();
    assert_eq!(pcts, [2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 100.0]);
    let d = mins(70);
    for k in 0..=7u64 {
        assert_eq!(
            exp.fraction(mins(10 * k), d) * 100.0,
            exp.step_pct(k as u32),
            "step {k}"
        );
    }
    // A growth factor that does not divide 100: the last step is capped.
    let thirty = Shape::Linear {
        growth_factor: Some(30.0),
    };
    assert_eq!(thirty.steps(), Some(4));
    assert_eq!(
        (1..=4).map(|k| thirty.step_pct(k)).collect::<Vec<_>>(),
        [30.0, 60.0, 90.0, 100.0]
    );
    // Step times round up to the millisecond: 1 s over 3 steps.
    let third = Shape::Linear {
        growth_factor: Some(34.0),
    };
    let one = SimDuration::from_secs(1);
    assert_eq!(third.step_time(1, one), Some(SimDuration::from_millis(334)));
    assert_eq!(third.fraction(SimDuration::from_millis(333), one), 0.0);
    assert_eq!(third.fraction(SimDuration::from_millis(334), one), 0.34);
    // Zero duration: everything at once (AppConfig.AllAtOnce).
    let all = Shape::Linear {
        growth_factor: Some(100.0),
    };
    assert_eq!(all.fraction(SimDuration::ZERO, SimDuration::ZERO), 1.0);
}

/// The four predefined strategies on 100 hosts (so hosts = percent): each
/// step at its time, the bake from the tick the last host serves (10 s
/// later: zero restart time, seen at the next tick), completed only when it
/// has passed.
#[test]
fn predefined_strategies_step_timelines_are_exact() {
    type Case = (&'static str, u64, u64, &'static [(f64, i64)]);
    let cases: [Case; 4] = [
        (
            "Linear50PercentEvery30Seconds",
            60,
            60,
            &[(30.0, 50), (60.0, 100)],
        ),
        (
            "Linear20PercentEvery6Minutes",
            1800,
            1800,
            &[
                (360.0, 20),
                (720.0, 40),
                (1080.0, 60),
                (1440.0, 80),
                (1800.0, 100),
            ],
        ),
        (
            "Canary10Percent20Minutes",
            1200,
            600,
            &[
                (240.0, 10),
                (480.0, 20),
                (720.0, 40),
                (960.0, 80),
                (1200.0, 100),
            ],
        ),
        ("AllAtOnce", 0, 600, &[(0.0, 100)]),
    ];
    for (name, duration_s, bake_s, steps) in cases {
        let t = text(name);
        assert!(t.starts_with(&format!("# {name}: ")), "{name}: header");
        assert!(t.contains(PREDEFINED), "{name}: cites AWS's page");
        let sc = parse(&t, &path(name));
        assert_eq!(sc.host_count(), 100);
        let again = parse(&sc.to_toml(), "resolved");
        assert_eq!(sc, again, "{name}: resolved form differs");
        let PolicySpec::Linear(spec) = &sc.policy else {
            panic!("{name}: {:?}", sc.policy)
        };
        assert_eq!(spec.duration, SimDuration::from_secs(duration_s), "{name}");
        assert_eq!(spec.bake, SimDuration::from_secs(bake_s), "{name}");
        assert_eq!(spec.on_slo_breach, OnBreach::Rollback, "{name}");

        let rec = run(&sc, RunOptions::full(sc.seed));
        assert_eq!(timeline(&rec, "v2"), steps, "{name}");
        let bake_at = duration_s as f64 + 10.0;
        assert_eq!(row_at(&rec, "decision", "bake"), Some(&bake_at), "{name}");
        assert_eq!(
            row_at(&rec, "finish", "completed"),
            Some(&(bake_at + bake_s as f64)),
            "{name}"
        );
        let s = &rec.summary;
        assert_eq!(s.outcome, "completed", "{name}: {s:?}");
        assert_eq!(s.rollout_duration_s, bake_at + bake_s as f64, "{name}");
        assert_eq!(s.hosts_on_new_pct, 100.0, "{name}");
        assert_eq!(s.detected_at_s, None, "{name}");
    }
}

/// The Linear20PercentEvery6Minutes world with a config that makes each
/// host fail half its requests `delay` after it arrives; `on_breach` in
/// place of the file's `on_slo_breach = "rollback"` line.
fn bad_config(delay: &str, on_breach: &str) -> Scenario {
    let mut t = text("Linear20PercentEvery6Minutes");
    let line = "on_slo_breach = \"rollback\"\n";
    assert!(t.contains(line));
    t = t.replace(line, on_breach);
    t.push_str(&format!(
        r#"
[[faults]]
kind = "bad-config"
match = {{ config = "v2" }}
fraction = 1.0
delay = "{delay}"
effect = "errors"
error_rate = 0.5
"#
    ));
    parse(&t, "bad-config.toml")
}

/// An alarm during the bake rolls every host back: AppConfig's "If an alarm
/// is triggered during this time, AWS AppConfig rolls back the deployment".
/// The first hosts (6 min) go bad 25 min later, in the bake (30m10s–1h).
#[test]
fn a_breach_during_the_bake_rolls_every_host_back() {
    let sc = bad_config("25m", ROLLBACK);
    let rec = run(&sc, RunOptions::full(sc.seed));
    let s = &rec.summary;
    assert_eq!(s.outcome, "rolled_back", "{s:?}");
    assert!(s.outcome_reason.contains("during the bake"), "{s:?}");
    let bake_at = *row_at(&rec, "decision", "bake").unwrap();
    assert_eq!(bake_at, 1810.0);
    // Windows of 30 s: the one ending at 31 min sees the first 20 hosts fail.
    assert_eq!(s.detected_at_s, Some(1860.0));
    assert_eq!(s.aborted_at_s, Some(1860.0));
    // All 100 hosts told back to v1 at once, and none left on v2.
    let back: Vec<_> = rec
        .events
        .iter()
        .filter(|e| e.kind == "instruct" && e.to == "v1")
        .map(|e| e.time_s)
        .collect();
    assert_eq!(back, vec![1860.0; 100]);
    assert_eq!(timeline(&rec, "v2").last(), Some(&(1860.0, 0)));
    assert_eq!(s.hosts_on_new_pct, 0.0);
    assert_eq!(s.hosts_ever_on_new_pct, 100.0);
}

/// During the deployment too: hosts that go bad at once are caught in the
/// first 30 s window after the first step, and the other 80 never move.
#[test]
fn a_breach_during_the_ramp_rolls_back_before_the_next_step() {
    let sc = bad_config("0s", ROLLBACK);
    let rec = run(&sc, RunOptions::full(sc.seed));
    let s = &rec.summary;
    assert_eq!(s.outcome, "rolled_back", "{s:?}");
    assert!(!s.outcome_reason.contains("during the bake"), "{s:?}");
    let tl = timeline(&rec, "v2");
    assert_eq!(tl.first(), Some(&(360.0, 20)));
    assert_eq!(tl.last().unwrap().1, 0, "{tl:?}");
    assert!(tl.last().unwrap().0 < 720.0, "{tl:?}");
    assert_eq!(s.hosts_ever_on_new_pct, 20.0);
    assert_eq!(s.hosts_on_new_pct, 0.0);
}

/// `halt` is the default (Tsunami): the same breach during the bake stops
/// the rollout where it is, every host still on the new version; `"halt"`
/// written out is the same.
#[test]
fn halt_is_the_default_and_leaves_the_hosts_where_they_are() {
    let default = bad_config("25m", "");
    let PolicySpec::Linear(spec) = &default.policy else {
        panic!()
    };
    assert_eq!(spec.on_slo_breach, OnBreach::Halt);
    let rec = run(&default, RunOptions::full(default.seed));
    let s = &rec.summary;
    assert_eq!(s.outcome, "halted", "{s:?}");
    assert!(s
        .outcome_reason
        .starts_with("Tsunami halted: SLO `alarm: api success rate` violated"));
    assert!(s.outcome_reason.ends_with("during the bake"), "{s:?}");
    assert_eq!(s.detected_at_s, Some(1860.0));
    assert_eq!(s.aborted_at_s, None);
    assert_eq!(s.hosts_on_new_pct, 100.0);
    assert!(rec.events.iter().all(|e| e.to != "v1"));

    let written = bad_config("25m", "on_slo_breach = \"halt\"\n");
    assert_eq!(run(&written, RunOptions::full(written.seed)), rec);
}

/// Tsunami's shipped example keeps its defaults: no bake, halt.
#[test]
fn tsunami_example_keeps_no_bake_and_halt() {
    let p = format!(
        "{}/../scenarios/policies/linear.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let sc = parse(&std::fs::read_to_string(&p).unwrap(), &p);
    let PolicySpec::Linear(spec) = &sc.policy else {
        panic!()
    };
    assert_eq!(spec.bake, SimDuration::ZERO);
    assert_eq!(spec.on_slo_breach, OnBreach::Halt);
    assert_eq!(
        spec.shape,
        Shape::Linear {
            growth_factor: None
        }
    );
    assert_eq!(spec.step, SimDuration::from_hours(1));
}

/// A stepped shape recomputes at its own step times by default; an
/// explicit `step` shorter than that still moves at the step times.
#[test]
fn stepped_shapes_default_their_step() {
    let t = text("Canary10Percent20Minutes");
    let PolicySpec::Linear(spec) = &parse(&t, "c.toml").policy else {
        panic!()
    };
    assert_eq!(spec.step, mins(4));
    let all = parse(&text("AllAtOnce"), "a.toml");
    let PolicySpec::Linear(spec) = &all.policy else {
        panic!()
    };
    assert_eq!(
        spec.step,
        mins(1),
        "every minute when everything moves at once"
    );
    let fine = parse(
        &t.replace("kind = \"linear\"\n", "kind = \"linear\"\nstep = \"1m\"\n"),
        "fine.toml",
    );
    let rec = run(&fine, RunOptions::full(fine.seed));
    assert_eq!(
        timeline(&rec, "v2"),
        [
            (240.0, 10),
            (480.0, 20),
            (720.0, 40),
            (960.0, 80),
            (1200.0, 100)
        ]
    );
    // A coarser `step` than the shape's: the shape's step times still wake it.
    let coarse = parse(
        &t.replace("kind = \"linear\"\n", "kind = \"linear\"\nstep = \"7m\"\n"),
        "coarse.toml",
    );
    let rec = run(&coarse, RunOptions::full(coarse.seed));
    assert_eq!(
        timeline(&rec, "v2"),
        [
            (240.0, 10),
            (480.0, 20),
            (720.0, 40),
            (960.0, 80),
            (1200.0, 100)
        ]
    );
}

/// Bad values of the new keys: located errors naming the field and the fix.
#[test]
fn new_keys_give_located_errors() {
    let base = text("Linear20PercentEvery6Minutes");
    let shape = "shape = { kind = \"linear\", growth_factor = 20 }";
    let err = |from: &str, to: &str| -> String {
        assert!(base.contains(from), "{from}");
        match Scenario::parse(&base.replace(from, to), "bad.toml") {
            Ok(_) => panic!("accepted: {to}"),
            Err(e) => e.to_string(),
        }
    };
    let line = base
        .lines()
        .position(|l| l.starts_with("shape = "))
        .unwrap()
        + 1;
    // The old `exponential`: a pointer to its new spelling.
    let e = err(shape, "shape = { kind = \"exponential\", start_pct = 1 }");
    assert!(e.starts_with(&format!("bad.toml:{line}:")), "{e}");
    assert!(e.contains("`policy.shape.start_pct`"), "{e}");
    assert!(e.contains("kind = \"geometric\""), "{e}");
    let e = err(shape, "shape = { kind = \"exponential\" }");
    assert!(e.contains("`policy.shape.growth_factor`: missing"), "{e}");
    for bad in ["0.5", "150", "-10"] {
        let e = err(
            shape,
            &format!("shape = {{ kind = \"linear\", growth_factor = {bad} }}"),
        );
        assert!(
            e.contains("`policy.shape.growth_factor`: must be a percentage from 1 to 100"),
            "{e}"
        );
    }
    let e = err("on_slo_breach = \"rollback\"", "on_slo_breach = \"retry\"");
    let line = base
        .lines()
        .position(|l| l.starts_with("on_slo_breach = "))
        .unwrap()
        + 1;
    assert!(
        e.starts_with(&format!(
            "bad.toml:{line}:17: `policy.on_slo_breach`: unknown value `retry`"
        )),
        "{e}"
    );
    let e = err(
        "slo = [{ name = \"alarm: api success rate\", query = \"success-rate\", min = 0.99 }]",
        "",
    );
    assert!(
        e.contains("`policy.on_slo_breach`: \"rollback\" needs at least one [[policy.slo]]"),
        "{e}"
    );
    // The old curve under its new name still works.
    let ok = base.replace(shape, "shape = { kind = \"geometric\", start_pct = 1 }");
    let PolicySpec::Linear(spec) = &parse(&ok, "ok.toml").policy else {
        panic!()
    };
    assert_eq!(spec.shape, Shape::Geometric { start_pct: 1.0 });
    // A continuous shape's default step, hourly, is capped at a shorter
    // duration (30 min here) instead of failing on a key nobody wrote.
    assert_eq!(spec.step, mins(30));
}
