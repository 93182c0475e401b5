//! What a metric measures, from the scrapes a policy observes.
//!
//! Every tick the world hands the policy the last scrape of each group's old
//! and new cohort (and of each endpoint, when the scenario has an endpoint
//! mix). A measurement summarises the scrapes of its window: counts are
//! summed, latency quantiles are averaged weighted by requests (monitoring
//! systems cannot add quantiles; this is the usual dashboard approximation).

use crate::protocol::{Cohort, GroupView, Observation, Sample};
use serde::{Deserialize, Serialize};

/// The quantity a metric reads (Argo: the provider's query).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Query {
    /// (requests − failed) / requests, in 0..=1.
    SuccessRate,
    /// failed / requests, in 0..=1.
    ErrorRate,
    /// Failed requests in the window.
    ErrorCount,
    /// Requests in the window.
    Requests,
    /// Request-weighted mean of the scraped p50 latency, ms.
    LatencyP50,
    /// Request-weighted mean of the scraped p95 latency, ms.
    LatencyP95,
    /// Request-weighted mean of the scraped p99 latency, ms.
    LatencyP99,
    /// Share of the cohort's hosts that serve (ready / total, averaged
    /// over the window's scrapes): machine health, not request outcomes —
    /// what a Tsunami SLO on hosts watches.
    ReadyRatio,
}

impl Query {
    pub fn as_str(self) -> &'static str {
        match self {
            Query::SuccessRate => "success-rate",
            Query::ErrorRate => "error-rate",
            Query::ErrorCount => "error-count",
            Query::Requests => "requests",
            Query::LatencyP50 => "latency-p50",
            Query::LatencyP95 => "latency-p95",
            Query::LatencyP99 => "latency-p99",
            Query::ReadyRatio => "ready-ratio",
        }
    }

    /// Whether the query is a ratio of requests (the only kind that can be
    /// weighted per endpoint).
    pub fn is_rate(self) -> bool {
        matches!(self, Query::SuccessRate | Query::ErrorRate)
    }
}

/// Which traffic a metric reads.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Selector {
    /// The whole cohort (every endpoint together).
    #[default]
    All,
    /// One endpoint, by index in the scenario's endpoint mix.
    Endpoint(usize),
    /// Σ weight_e × rate_e over endpoints (seed 003: rarely-called endpoints
    /// count as much as their weight says, not as their share of requests).
    /// One weight per endpoint index, summing to 1; 0 leaves one out.
    Weighted(Vec<f64>),
}

/// Which groups a measurement covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every group together (a rollout-wide analysis).
    All,
    /// One group (a per-role monitor).
    Group(usize),
}

impl Scope {
    fn has(self, g: usize) -> bool {
        match self {
            Scope::All => true,
            Scope::Group(x) => x == g,
        }
    }
}

/// Scrapes summed over a window.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Acc {
    pub scrapes: u32,
    pub requests: u64,
    pub failed: u64,
    /// Σ requests × quantile, for p50, p95, p99.
    pub lat_weighted: [f64; 3],
    /// Σ serving hosts and Σ hosts of the cohort over the scrapes.
    pub ready: u64,
    pub hosts: u64,
}

impl Acc {
    /// Adds one group's scrape and host counts of `cohort`.
    pub fn add_group(&mut self, view: &GroupView, cohort: Cohort) {
        let (sample, hosts) = match cohort {
            Cohort::Old => (&view.old_metrics, &view.old),
            Cohort::New => (&view.new_metrics, &view.new),
        };
        self.add(sample);
        self.ready += hosts.ready as u64;
        self.hosts += hosts.total as u64;
    }

    pub fn add(&mut self, s: &Sample) {
        self.requests += s.requests;
        self.failed += s.failed;
        let r = s.requests as f64;
        self.lat_weighted[0] += r * s.latency_p50_ms;
        self.lat_weighted[1] += r * s.latency_p95_ms;
        self.lat_weighted[2] += r * s.latency_p99_ms;
    }

    /// The query's value over the window; `None` when there is no data to
    /// compute it from (no scrape, or no request for a ratio or latency).
    pub fn value(&self, q: Query) -> Option<f64> {
        if self.scrapes == 0 {
            return None;
        }
        let r = self.requests as f64;
        let per_request = |x: f64| (self.requests > 0).then(|| x / r);
        match q {
            Query::SuccessRate => per_request((self.requests - self.failed) as f64),
            Query::ErrorRate => per_request(self.failed as f64),
            Query::ErrorCount => Some(self.failed as f64),
            Query::Requests => Some(r),
            Query::LatencyP50 => per_request(self.lat_weighted[0]),
            Query::LatencyP95 => per_request(self.lat_weighted[1]),
            Query::LatencyP99 => per_request(self.lat_weighted[2]),
            Query::ReadyRatio => (self.hosts > 0).then(|| self.ready as f64 / self.hosts as f64),
        }
    }
}

/// A window accumulator for one metric: the whole cohort and, when the
/// selector needs them, each endpoint.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Window {
    pub all: Acc,
    pub endpoints: Vec<Acc>,
}

impl Window {
    /// Adds this tick's scrape of `cohort` within `scope`.
    pub fn add(&mut self, obs: &Observation<'_>, scope: Scope, cohort: Cohort, sel: &Selector) {
        self.all.scrapes += 1;
        for (g, view) in obs.groups.iter().enumerate() {
            if scope.has(g) {
                self.all.add_group(view, cohort);
            }
        }
        if *sel == Selector::All {
            return;
        }
        for e in obs.endpoints {
            if e.cohort != cohort || !scope.has(e.group) {
                continue;
            }
            if self.endpoints.len() <= e.endpoint {
                self.endpoints.resize(e.endpoint + 1, Acc::default());
            }
            self.endpoints[e.endpoint].add(&e.sample);
        }
        for a in &mut self.endpoints {
            a.scrapes += 1;
        }
    }

    /// The requests behind the selected value, for the minimum-sample guard:
    /// the cohort's, one endpoint's, or the fewest of any endpoint a weighted
    /// rate gives weight to (each of those rates is judged on its own
    /// requests). `None`: no scrape to count from.
    pub fn requests(&self, sel: &Selector) -> Option<u64> {
        if self.all.scrapes == 0 {
            return None;
        }
        match sel {
            Selector::All => Some(self.all.requests),
            Selector::Endpoint(e) => self.endpoints.get(*e).map(|a| a.requests),
            Selector::Weighted(weights) => weights
                .iter()
                .enumerate()
                .filter(|(_, w)| **w != 0.0)
                .map(|(e, _)| self.endpoints.get(e).map_or(0, |a| a.requests))
                .min(),
        }
    }

    /// The selected value, with a description of what it was computed from
    /// (for the audit log). `None`: no data.
    pub fn value(&self, q: Query, sel: &Selector) -> (Option<f64>, String) {
        match sel {
            Selector::All => (
                self.all.value(q),
                format!(
                    "{} requests, {} failed, {} scrapes",
                    self.all.requests, self.all.failed, self.all.scrapes
                ),
            ),
            Selector::Endpoint(e) => match self.endpoints.get(*e) {
                Some(a) => (
                    a.value(q),
                    format!("endpoint {e}: {} requests, {} failed", a.requests, a.failed),
                ),
                None => (None, format!("endpoint {e}: no scrape")),
            },
            Selector::Weighted(weights) => {
                let mut total = 0.0;
                let mut parts = Vec::new();
                for (e, &w) in weights.iter().enumerate() {
                    if w == 0.0 {
                        continue;
                    }
                    let v = self.endpoints.get(e).and_then(|a| a.value(q));
                    match v {
                        Some(v) => {
                            total += w * v;
                            parts.push(format!("{w}×{v:.6}"));
                        }
                        None => {
                            return (None, format!("endpoint {e} has no requests in the window"))
                        }
                    }
                }
                (
                    Some(total),
                    format!("Σ weight × {}: {}", q.as_str(), parts.join(" + ")),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(requests: u64, failed: u64, p99: f64) -> Sample {
        Sample {
            requests,
            failed,
            latency_p99_ms: p99,
            ..Sample::default()
        }
    }

    #[test]
    fn rates_need_requests_counts_do_not() {
        let mut a = Acc {
            scrapes: 1,
            ..Acc::default()
        };
        assert_eq!(a.value(Query::SuccessRate), None);
        assert_eq!(a.value(Query::ErrorCount), Some(0.0));
        a.add(&sample(100, 3, 200.0));
        a.add(&sample(300, 1, 100.0));
        assert_eq!(a.value(Query::SuccessRate), Some(396.0 / 400.0));
        assert_eq!(a.value(Query::ErrorRate), Some(4.0 / 400.0));
        assert_eq!(a.value(Query::ErrorCount), Some(4.0));
        // (100×200 + 300×100) / 400
        assert_eq!(a.value(Query::LatencyP99), Some(125.0));
        assert_eq!(Acc::default().value(Query::ErrorCount), None);
    }

    /// Seed 003: Σ weight_e × success_e. A rarely-called endpoint failing
    /// half its requests barely moves the pooled rate but moves the weighted
    /// one by its weight.
    #[test]
    fn weighted_success_rate_is_the_sum_of_weighted_rates() {
        let w = Window {
            all: Acc::default(),
            endpoints: vec![
                Acc {
                    scrapes: 1,
                    requests: 10_000,
                    failed: 0,
                    ..Acc::default()
                },
                Acc {
                    scrapes: 1,
                    requests: 100,
                    failed: 50,
                    ..Acc::default()
                },
            ],
        };
        let sel = Selector::Weighted(vec![0.2, 0.8]);
        let (v, _) = w.value(Query::SuccessRate, &sel);
        assert_eq!(v, Some(0.2 * 1.0 + 0.8 * 0.5));
        let pooled = (10_100.0 - 50.0) / 10_100.0;
        assert!(pooled > 0.99 && v.unwrap() < 0.61);
        // An endpoint without requests makes the weighted value missing.
        let sel = Selector::Weighted(vec![0.5, 0.25, 0.25]);
        assert_eq!(w.value(Query::SuccessRate, &sel).0, None);
    }

    /// The guard counts the requests behind the value: the cohort's, one
    /// endpoint's, or the fewest of the weighted endpoints (weight 0 left out).
    #[test]
    fn guard_requests_follow_the_selector() {
        let acc = |requests| Acc {
            scrapes: 1,
            requests,
            ..Acc::default()
        };
        let w = Window {
            all: acc(10_120),
            endpoints: vec![acc(10_000), acc(100), acc(20)],
        };
        assert_eq!(w.requests(&Selector::All), Some(10_120));
        assert_eq!(w.requests(&Selector::Endpoint(1)), Some(100));
        assert_eq!(w.requests(&Selector::Endpoint(7)), None);
        assert_eq!(
            w.requests(&Selector::Weighted(vec![0.5, 0.5, 0.0])),
            Some(100)
        );
        assert_eq!(
            w.requests(&Selector::Weighted(vec![0.5, 0.25, 0.0, 0.25])),
            Some(0),
            "a weighted endpoint never scraped has no requests"
        );
        assert_eq!(Window::default().requests(&Selector::All), None);
    }
}
