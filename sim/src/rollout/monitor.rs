//! Monitoring: what the policy sees of the environment's scrapes, and when.
//!
//! Every tick the environment hands in one scrape per group and cohort (and
//! per endpoint, where it measures them); the policy sees the scrape taken
//! `lag` ticks earlier, and nothing before the first one is old enough (a
//! Prometheus scrape plus rule evaluation, or a dashboard's delay).

use crate::protocol::{EndpointSample, Sample};
use std::collections::VecDeque;

/// Per-group cohort scrapes and per-endpoint scrapes, delayed by a number of
/// ticks.
#[derive(Debug)]
pub struct Monitor {
    lag_ticks: usize,
    history: VecDeque<(Vec<[Sample; 2]>, Vec<EndpointSample>)>,
    /// What the policy sees now, per group: old and new cohort.
    metrics: Vec<[Sample; 2]>,
    endpoints: Vec<EndpointSample>,
    /// A scrape old enough to be seen has been published.
    seen: bool,
}

impl Monitor {
    pub fn new(groups: usize, lag_ticks: usize) -> Self {
        Monitor {
            lag_ticks,
            history: VecDeque::new(),
            metrics: vec![[Sample::default(); 2]; groups],
            endpoints: Vec::new(),
            seen: false,
        }
    }

    /// Takes this tick's scrapes. `endpoints` is taken over (left empty or
    /// holding an old buffer to reuse).
    pub fn publish(&mut self, current: &[[Sample; 2]], endpoints: &mut Vec<EndpointSample>) {
        if self.lag_ticks == 0 {
            self.seen = true;
            self.metrics.copy_from_slice(current);
            std::mem::swap(&mut self.endpoints, endpoints);
            return;
        }
        self.history
            .push_back((current.to_vec(), std::mem::take(endpoints)));
        if self.history.len() > self.lag_ticks {
            let (old, eps) = self.history.pop_front().expect("non-empty");
            self.seen = true;
            self.metrics = old;
            self.endpoints = eps;
        } else {
            self.metrics.fill([Sample::default(); 2]);
            self.endpoints.clear();
        }
    }

    /// Whether any scrape is visible yet (false for the first `lag` ticks:
    /// what is shown then is no data, not zero traffic).
    pub fn has_data(&self) -> bool {
        self.seen
    }

    /// The scrapes of group `g` the policy sees now: old and new cohort.
    pub fn metrics(&self, g: usize) -> [Sample; 2] {
        self.metrics[g]
    }

    /// The per-endpoint scrapes the policy sees now.
    pub fn endpoints(&self) -> &[EndpointSample] {
        &self.endpoints
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(requests: u64) -> [Sample; 2] {
        [
            Sample {
                requests,
                ..Sample::default()
            },
            Sample::default(),
        ]
    }

    #[test]
    fn a_lag_of_two_ticks_shows_the_scrape_of_two_ticks_ago() {
        let mut m = Monitor::new(1, 2);
        let mut eps = Vec::new();
        let seen: Vec<u64> = (1..=4)
            .map(|t| {
                m.publish(&[s(t)], &mut eps);
                m.metrics(0)[0].requests
            })
            .collect();
        assert_eq!(seen, vec![0, 0, 1, 2]);
        assert!(m.has_data());
        let mut fresh = Monitor::new(1, 2);
        fresh.publish(&[s(1)], &mut eps);
        assert!(!fresh.has_data(), "nothing old enough yet");
    }

    #[test]
    fn without_lag_the_policy_sees_this_tick() {
        let mut m = Monitor::new(1, 0);
        m.publish(&[s(5)], &mut Vec::new());
        assert_eq!(m.metrics(0)[0].requests, 5);
    }
}
