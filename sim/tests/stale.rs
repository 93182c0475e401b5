//! Hosts down but still routed to take their time-weighted share of a tick's
//! requests (docs/FIDELITY.md, "Hosts down but still routed to").
//!
//! Before: a host stopped without drain at a tick and detected before the
//! next one lost nothing, so `rolling-no-drain` failed no request in the
//! simulator while live mode dropped 100–170 per batch.
#![allow(clippy::disallowed_methods)] // tests read the shipped scenario files

use shakedown_sim::{RunOptions, Scenario};

fn live_scenario(name: &str) -> Scenario {
    let path = format!("{}/../scenarios/live/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    Scenario::parse(&text, &path).unwrap_or_else(|e| panic!("{e}"))
}

/// Times of the ticks with failed requests.
fn failing_ticks(sc: &Scenario) -> Vec<f64> {
    let rec = shakedown_sim::run(sc, RunOptions::full(sc.seed));
    rec.ticks
        .iter()
        .filter(|t| t.failed > 0)
        .map(|t| t.time_s)
        .collect()
}

#[test]
fn an_undrained_move_loses_the_requests_routed_to_it_until_detection() {
    let sc = live_scenario("rolling-no-drain.toml");
    // Three batches, one replica each, instructed at 4, 7 and 10 s; each is
    // routed to for the 1 s detection delay. Its new container serves from
    // 5 s (restart 1 s), and serving hosts count as they are at the tick: the
    // tick sees 3 serving + 1 down-but-routed, a quarter of 500 requests.
    assert_eq!(failing_ticks(&sc), vec![5.0, 8.0, 11.0]);
    let rec = shakedown_sim::run(&sc, RunOptions::summary_only(sc.seed));
    let expect = 3.0 * 500.0 / 4.0;
    let got = rec.summary.requests_failed as f64;
    assert!(
        (got - expect).abs() < 4.0 * expect.sqrt() + 10.0,
        "failed {got}, expected about {expect}"
    );
}

#[test]
fn a_drained_move_loses_nothing() {
    assert_eq!(
        failing_ticks(&live_scenario("rolling-good.toml")),
        Vec::<f64>::new()
    );
}

#[test]
fn a_host_down_part_of_a_tick_takes_that_part_of_its_share() {
    // Detection after 250 ms of a 1 s tick: a quarter of one host beside
    // the three serving at the tick (see above).
    let mut sc = live_scenario("rolling-no-drain.toml");
    sc.fleet.detection_delay = shakedown_sim::time::SimDuration::from_millis(250);
    let rec = shakedown_sim::run(&sc, RunOptions::summary_only(sc.seed));
    let expect = 3.0 * 500.0 * 0.25 / 3.25;
    let got = rec.summary.requests_failed as f64;
    assert!(
        (got - expect).abs() < 4.0 * expect.sqrt() + 10.0,
        "failed {got}, expected about {expect}"
    );
}
