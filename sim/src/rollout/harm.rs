//! User impact, kept apart from the policy's outcome: the scenario's
//! service level objective over sliding windows ([`SloTracker`]), and the
//! harm attributed to the change by a counterfactual run of the same seed
//! without it ([`Baseline`], [`HarmTracker`]).
//!
//! The counterfactual is cheap because of common random numbers: the
//! request counts come from their own stream and the fault draws are keyed
//! per host (`rng.rs`), so the no-change world of a seed offers the same
//! traffic and meets the same faults as the world with the change, tick for
//! tick. Until the change's first instruction both runs are identical draw
//! for draw; after it, which requests fail is drawn again (the
//! `outcomes` stream is sequential), so the difference includes that
//! sampling noise on top of the change's effect: a harmless change gives a
//! difference near 0 of either sign, not exactly 0. A change that never
//! instructs a host gives exactly 0 (`tests/harm.rs`).

use crate::scenario::Slo;
use crate::time::SimDuration;
use std::collections::VecDeque;

/// The no-change world of one seed, tick by tick: what the run with the
/// change is measured against. Built by [`crate::world::baseline`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Baseline {
    /// Failed requests per tick.
    pub failed: Vec<u64>,
    /// Hosts not serving per tick (of the hosts the scenario starts with).
    pub unavailable: Vec<u32>,
}

/// The harm of a run against its [`Baseline`], accumulated tick by tick.
#[derive(Clone, Debug, Default)]
pub(crate) struct HarmTracker {
    base_failed: u64,
    base_failed_during: u64,
    base_failed_after: u64,
    run_failed: u64,
    run_failed_during: u64,
    run_failed_after: u64,
    run_unavailable: u64,
    base_unavailable: u64,
}

/// Where in the rollout a tick falls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Before,
    During,
    After,
}

/// What [`HarmTracker::finish`] reports.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Harm {
    pub failed: i64,
    pub failed_during: i64,
    pub failed_after: i64,
    pub host_hours_unavailable: f64,
}

fn diff(a: u64, b: u64) -> i64 {
    // Counts are below 2^53 (validation), so both fit an i64.
    a as i64 - b as i64
}

impl HarmTracker {
    /// Tick `i` of the run: its failed requests and unavailable hosts, and
    /// the baseline's at the same tick.
    pub(crate) fn tick(&mut self, base: &Baseline, i: usize, phase: Phase, failed: u64, down: u64) {
        let bf = base.failed.get(i).copied().unwrap_or(0);
        let bu = base.unavailable.get(i).copied().unwrap_or(0) as u64;
        self.base_failed += bf;
        self.run_failed += failed;
        match phase {
            Phase::Before => {}
            Phase::During => {
                self.base_failed_during += bf;
                self.run_failed_during += failed;
            }
            Phase::After => {
                self.base_failed_after += bf;
                self.run_failed_after += failed;
            }
        }
        self.run_unavailable += down;
        self.base_unavailable += bu;
    }

    pub(crate) fn finish(&self, tick: SimDuration) -> Harm {
        let host_ticks = self.run_unavailable as f64 - self.base_unavailable as f64;
        Harm {
            failed: diff(self.run_failed, self.base_failed),
            failed_during: diff(self.run_failed_during, self.base_failed_during),
            failed_after: diff(self.run_failed_after, self.base_failed_after),
            host_hours_unavailable: host_ticks * tick.as_secs_f64() / 3600.0,
        }
    }
}

/// The success rate over every window of the objective, sliding one tick at
/// a time; the worst one decides whether the objective was met.
#[derive(Clone, Debug)]
pub(crate) struct SloTracker {
    window_ticks: usize,
    recent: VecDeque<(u64, u64)>,
    sums: (u64, u64),
    worst: Option<f64>,
}

fn rate((requests, failed): (u64, u64)) -> f64 {
    if requests == 0 {
        1.0
    } else {
        requests.saturating_sub(failed) as f64 / requests as f64
    }
}

impl SloTracker {
    pub(crate) fn new(slo: &Slo, tick: SimDuration) -> Self {
        SloTracker {
            window_ticks: (slo.window.as_millis() / tick.as_millis()).max(1) as usize,
            recent: VecDeque::new(),
            sums: (0, 0),
            worst: None,
        }
    }

    pub(crate) fn tick(&mut self, requests: u64, failed: u64) {
        self.recent.push_back((requests, failed));
        self.sums.0 += requests;
        self.sums.1 += failed;
        if self.recent.len() > self.window_ticks {
            let (r, f) = self.recent.pop_front().expect("longer than the window");
            self.sums.0 -= r;
            self.sums.1 -= f;
        }
        if self.recent.len() == self.window_ticks {
            let r = rate(self.sums);
            self.worst = Some(self.worst.map_or(r, |w: f64| w.min(r)));
        }
    }

    /// The worst window's success rate; a run shorter than one window
    /// (cut short live) is one window.
    pub(crate) fn worst(&self) -> f64 {
        self.worst.unwrap_or_else(|| rate(self.sums))
    }
}

/// The share of the run's error budget (`1 − objective` of its requests)
/// that its failed requests used: 1 is all of it; above 1, over budget.
pub fn error_budget_burned(objective: f64, requests: u64, failed: u64) -> f64 {
    let budget = (1.0 - objective) * requests as f64;
    if budget > 0.0 {
        failed as f64 / budget
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slo(window_s: u64) -> Slo {
        Slo {
            success_rate: 0.99,
            window: SimDuration::from_secs(window_s),
        }
    }

    #[test]
    fn the_worst_sliding_window_decides() {
        let mut t = SloTracker::new(&slo(30), SimDuration::from_secs(15));
        for (r, f) in [(100, 0), (100, 0), (100, 50), (100, 0), (100, 0)] {
            t.tick(r, f);
        }
        // Windows of two ticks: 0/200, 50/200, 50/200, 0/200.
        assert_eq!(t.worst(), 0.75);
    }

    #[test]
    fn a_run_shorter_than_its_window_is_one_window() {
        let mut t = SloTracker::new(&slo(3600), SimDuration::from_secs(15));
        t.tick(100, 10);
        t.tick(0, 0);
        assert_eq!(t.worst(), 0.9);
    }

    #[test]
    fn budget_burn_is_failed_over_allowed() {
        assert!((error_budget_burned(0.999, 1_000_000, 500) - 0.5).abs() < 1e-9);
        assert!((error_budget_burned(0.99, 1000, 904) - 90.4).abs() < 1e-9);
        assert_eq!(error_budget_burned(0.999, 0, 0), 0.0);
    }

    #[test]
    fn harm_splits_before_during_after() {
        let base = Baseline {
            failed: vec![1, 1, 1, 1],
            unavailable: vec![0, 0, 0, 0],
        };
        let mut h = HarmTracker::default();
        let phases = [Phase::Before, Phase::During, Phase::During, Phase::After];
        for (i, (p, f)) in phases.iter().zip([1, 5, 0, 3]).enumerate() {
            h.tick(&base, i, *p, f, 2);
        }
        let harm = h.finish(SimDuration::from_secs(900));
        assert_eq!(
            (harm.failed, harm.failed_during, harm.failed_after),
            (5, 3, 2)
        );
        assert_eq!(harm.host_hours_unavailable, 2.0);
    }
}
