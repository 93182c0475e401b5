//! Sim vs live, one harness: the same scenario run through the simulator
//! and on real containers takes the same policy decisions — steps entered,
//! weights set, analysis verdicts, the abort and the outcome — in the same
//! order, at about the same scenario times.
//!
//! Needs the Docker engine (with `CI=true` a missing engine fails the test).

use std::path::{Path, PathBuf};

use shakedown_integration::docker::engine_available;
use shakedown_integration::driver::{run_live, LiveOptions};
use shakedown_integration::live::LiveSpec;
use shakedown_sim::experiment::sim_vs_live::decision_key;
use shakedown_sim::record::AuditEvent;
use shakedown_sim::{RunOptions, Scenario};

/// How far apart (scenario seconds) the same decision may be taken: the
/// simulator moves a host in `restart_time`; live mode starts a container
/// and waits for its health gate, which takes a second or two of wall time
/// on a loaded machine, and scrapes are a tick (1 s) apart.
const TOLERANCE_S: f64 = 4.0;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The decisions as both worlds must agree on them, with their times.
fn decisions(events: &[AuditEvent]) -> Vec<(f64, String)> {
    events
        .iter()
        .filter_map(|e| decision_key(e).map(|k| (e.time_s, k)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_takes_the_same_decisions_in_the_simulator_and_on_containers() {
    if let Err(e) = engine_available().await {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("the Docker engine is unreachable ({e:#}); CI=true, so this fails");
        }
        eprintln!("SKIPPED: Docker engine unreachable ({e:#}); not run, not passed");
        return;
    }
    let file = "scenarios/live/canary-differential.toml";
    let text = std::fs::read_to_string(repo().join(file)).unwrap();
    let sc = Scenario::parse(&text, file).unwrap_or_else(|e| panic!("{e}"));
    let spec = LiveSpec::from_scenario(&sc, &text, file).unwrap_or_else(|e| panic!("{e}"));

    let sim = shakedown_sim::run(&sc, RunOptions::full(sc.seed));
    let live = run_live(&sc, &spec, LiveOptions::new(sc.seed))
        .await
        .unwrap_or_else(|e| panic!("{file}: {e:#}"));

    let (a, b) = (decisions(&sim.events), decisions(&live.record.events));
    let show = |d: &[(f64, String)]| {
        d.iter()
            .map(|(t, s)| format!("{t:>6.1}  {s}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let report = format!("simulator:\n{}\nlive:\n{}", show(&a), show(&b));
    assert_eq!(
        a.iter().map(|x| &x.1).collect::<Vec<_>>(),
        b.iter().map(|x| &x.1).collect::<Vec<_>>(),
        "the two worlds decided differently\n{report}"
    );
    for ((ts, what), (tl, _)) in a.iter().zip(&b) {
        assert!(
            (ts - tl).abs() <= TOLERANCE_S,
            "`{what}` at {ts} s simulated but {tl} s live (tolerance {TOLERANCE_S} s)\n{report}"
        );
    }
    assert_eq!(sim.summary.outcome, "rolled_back", "{report}");
    assert_eq!(live.record.summary.outcome, sim.summary.outcome);
    eprintln!("{report}");
}
