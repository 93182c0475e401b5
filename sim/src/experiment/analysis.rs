//! From runs to statistics: the metrics an experiment reports, each group's
//! distribution over seeds, paired differences against the reference group,
//! and Pareto frontiers.

use super::pareto;
use super::stats::{self, Describe, Interval};
use crate::record::Summary;
use serde::Serialize;

/// Which direction of a metric is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    Lower,
    Higher,
}

/// A per-run number reported as a distribution over seeds.
#[derive(Debug)]
pub struct Metric {
    /// The `Summary` field (and the CSV column, and the gate's metric name).
    pub name: &'static str,
    pub title: &'static str,
    pub unit: &'static str,
    pub better: Better,
    pub value: fn(&Summary) -> f64,
}

/// A per-run yes/no, reported as the share of seeds where it holds.
#[derive(Debug)]
pub struct Proportion {
    pub name: &'static str,
    pub title: &'static str,
    pub better: Better,
    pub hit: fn(&Summary) -> bool,
}

/// Every distribution metric, in report order. A metric a run does not have
/// (nothing was detected, nothing rolled back) is NaN for that run and left
/// out of its statistics: `n` counts the runs that have it.
pub const METRICS: [Metric; 17] = [
    Metric {
        name: "requests_failed",
        title: "failed requests",
        unit: "requests",
        better: Better::Lower,
        value: |s| s.requests_failed as f64,
    },
    Metric {
        name: "failed_requests_during_rollout",
        title: "failed requests during the rollout",
        unit: "requests",
        better: Better::Lower,
        value: |s| s.failed_requests_during_rollout as f64,
    },
    Metric {
        name: "peak_hosts_unavailable_pct",
        title: "peak blast radius (hosts unavailable)",
        unit: "% of hosts",
        better: Better::Lower,
        value: |s| s.peak_hosts_unavailable_pct,
    },
    Metric {
        name: "rollout_duration_s",
        title: "rollout duration (completed runs)",
        unit: "s",
        better: Better::Lower,
        // A run that halted, rolled back or timed out did not roll out: its
        // time is not a rollout duration to compare with those that did.
        value: |s| {
            if s.outcome == "completed" {
                s.rollout_duration_s
            } else {
                f64::NAN
            }
        },
    },
    Metric {
        name: "success_rate",
        title: "success rate",
        unit: "fraction of requests",
        better: Better::Higher,
        value: |s| s.success_rate,
    },
    Metric {
        name: "hosts_on_new_pct",
        title: "hosts on the new version at the end",
        unit: "% of hosts",
        better: Better::Higher,
        value: |s| s.hosts_on_new_pct,
    },
    Metric {
        name: "hosts_ever_on_new_pct",
        title: "cumulative blast radius (hosts ever on the new version)",
        unit: "% of hosts",
        better: Better::Lower,
        value: |s| s.hosts_ever_on_new_pct,
    },
    Metric {
        name: "time_to_detect_s",
        title: "time to detect (from the rollout's start)",
        unit: "s",
        better: Better::Lower,
        value: |s| {
            s.detected_at_s
                .map_or(f64::NAN, |t| t - s.rollout_started_at_s)
        },
    },
    Metric {
        name: "time_to_rollback_s",
        title: "time to roll back (from the abort)",
        unit: "s",
        better: Better::Lower,
        value: |s| s.time_to_rollback_s.unwrap_or(f64::NAN),
    },
    // Rollback as a deployment (runs that aborted; NaN in the others).
    Metric {
        name: "time_to_safe_s",
        title: "time to safe (from the abort)",
        unit: "s",
        better: Better::Lower,
        value: |s| s.time_to_safe_s.unwrap_or(f64::NAN),
    },
    Metric {
        name: "rollback_min_capacity_pct",
        title: "lowest warm capacity while rolling back",
        unit: "% of desired hosts",
        better: Better::Higher,
        value: |s| s.rollback_min_capacity_pct.unwrap_or(f64::NAN),
    },
    Metric {
        name: "rollback_capacity_deficit_host_hours",
        title: "warm capacity missing while rolling back",
        unit: "host-hours",
        better: Better::Lower,
        value: |s| s.rollback_capacity_deficit_host_hours.unwrap_or(f64::NAN),
    },
    // User impact attributed to the change: each run against the same
    // seed's world without it (NaN in rows written without one).
    Metric {
        name: "failed_requests_due_to_change",
        title: "failed requests due to the change",
        unit: "requests",
        better: Better::Lower,
        value: |s| {
            s.failed_requests_due_to_change
                .map_or(f64::NAN, |v| v as f64)
        },
    },
    Metric {
        name: "failed_requests_due_to_change_during_rollout",
        title: "failed requests due to the change, during the rollout",
        unit: "requests",
        better: Better::Lower,
        value: |s| {
            s.failed_requests_due_to_change_during_rollout
                .map_or(f64::NAN, |v| v as f64)
        },
    },
    Metric {
        name: "failed_requests_due_to_change_after_rollout",
        title: "failed requests due to the change, after the rollout",
        unit: "requests",
        better: Better::Lower,
        value: |s| {
            s.failed_requests_due_to_change_after_rollout
                .map_or(f64::NAN, |v| v as f64)
        },
    },
    Metric {
        name: "host_hours_unavailable_due_to_change",
        title: "host-hours unavailable due to the change",
        unit: "host-hours",
        better: Better::Lower,
        value: |s| s.host_hours_unavailable_due_to_change.unwrap_or(f64::NAN),
    },
    Metric {
        name: "error_budget_burned",
        title: "error budget burned (1 = all of it)",
        unit: "budgets",
        better: Better::Lower,
        value: |s| s.error_budget_burned,
    },
];

/// Every proportion: first the outcome of the rollout (one of completed,
/// rolled back, halted, timed out for every run, so their hits sum to the
/// seeds; a live run cut short is `interrupted`, which no experiment runs),
/// then every host ending on the new version, and both of those while the
/// scenario's faults make that version bad ("a bad version reached 100 %"),
/// and last the users' verdict: the scenario's `[slo]` met.
pub const PROPORTIONS: [Proportion; 7] = [
    Proportion {
        name: "p_completed",
        title: "P(rollout completed)",
        better: Better::Higher,
        hit: |s| s.outcome == "completed",
    },
    Proportion {
        name: "p_rolled_back",
        title: "P(rolled back)",
        better: Better::Lower,
        hit: |s| s.outcome == "rolled_back",
    },
    Proportion {
        name: "p_halted",
        title: "P(halted)",
        better: Better::Lower,
        hit: |s| s.outcome == "halted",
    },
    Proportion {
        name: "p_timed_out",
        title: "P(timed out: still rolling at the scenario's end)",
        better: Better::Lower,
        hit: |s| s.outcome == "timed_out",
    },
    Proportion {
        name: "p_new_version_full",
        title: "P(100 % of hosts on the new version)",
        better: Better::Higher,
        hit: |s| s.hosts_on_new_pct >= 100.0,
    },
    Proportion {
        name: "p_bad_version_full",
        title: "P(a bad version reached 100 % of hosts)",
        better: Better::Lower,
        hit: |s| s.new_version_bad && s.hosts_on_new_pct >= 100.0,
    },
    Proportion {
        name: "p_slo_met",
        title: "P(the scenario's SLO met)",
        better: Better::Higher,
        hit: |s| s.slo_met,
    },
];

/// The outcome proportions, in [`PROPORTIONS`] order (its first four).
pub const OUTCOMES: std::ops::Range<usize> = 0..4;

/// Other names a threshold may use for a metric (the issue tracker's and
/// k6-style examples write `blast_radius_pct` and
/// `requests_failed_due_to_change`).
const ALIASES: [(&str, &str); 2] = [
    ("blast_radius_pct", "peak_hosts_unavailable_pct"),
    (
        "requests_failed_due_to_change",
        "failed_requests_due_to_change",
    ),
];

pub fn metric(name: &str) -> Option<&'static Metric> {
    let name = ALIASES
        .iter()
        .find(|(a, _)| *a == name)
        .map_or(name, |(_, m)| *m);
    METRICS.iter().find(|m| m.name == name)
}

pub fn proportion(name: &str) -> Option<&'static Proportion> {
    PROPORTIONS.iter().find(|p| p.name == name)
}

/// A proportion's estimate.
#[derive(Clone, Debug, PartialEq)]
pub struct Share {
    pub n: usize,
    pub hits: usize,
    pub value: f64,
    pub ci: Interval,
}

/// One group (a policy, a grid point) over every seed.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupStats {
    pub label: String,
    /// In [`METRICS`] order.
    pub metrics: Vec<Describe>,
    /// In [`PROPORTIONS`] order.
    pub proportions: Vec<Share>,
}

/// A paired difference `group − reference` of one metric over common seeds.
#[derive(Clone, Debug, PartialEq)]
pub struct PairedDiff {
    pub name: &'static str,
    /// Seeds where both runs have the metric.
    pub n: usize,
    pub mean: f64,
    pub ci: Interval,
    /// Seeds where the group did better / worse / the same as the reference.
    pub better: usize,
    pub worse: usize,
    pub equal: usize,
}

/// One group against the reference (the first group), seed by seed.
#[derive(Clone, Debug, PartialEq)]
pub struct Paired {
    pub group: String,
    pub reference: String,
    /// [`METRICS`] then [`PROPORTIONS`] (as 0/1 per seed).
    pub diffs: Vec<PairedDiff>,
}

/// A Pareto frontier over the groups' means (both minimised).
#[derive(Clone, Debug, PartialEq)]
pub struct Frontier {
    pub x: &'static str,
    pub y: &'static str,
    /// Group indices on the frontier, by increasing x.
    pub groups: Vec<usize>,
}

/// Everything computed from an experiment's runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Analysis {
    pub groups: Vec<GroupStats>,
    pub paired: Vec<Paired>,
    /// Over the groups that completed on at least one seed only.
    pub frontiers: Vec<Frontier>,
    pub recommendation: Recommendation,
}

/// The criteria a recommendation weighs, in order: the first whose paired
/// difference is clear (its 95 % interval excludes 0) decides between two
/// groups. Finishing the rollout comes first (a policy that never ships the
/// change is no answer); then the users: how often the scenario's SLO held,
/// then the requests the change made fail (against the same seed without
/// it: a figure that does not grow with the scenario's duration, so two
/// policies are compared on what they did, not on how long the run was);
/// speed only breaks what harm leaves tied.
pub const CRITERIA: [&str; 4] = [
    "p_completed",
    "p_slo_met",
    "failed_requests_due_to_change",
    "rollout_duration_s",
];

/// Which group to pick, and why (hyperfine's "X ran N times faster than Y",
/// for rollout policies).
#[derive(Clone, Debug, PartialEq)]
pub struct Recommendation {
    /// Whether each group completed the rollout on at least one seed: only
    /// those are compared, highlighted, put on a frontier or picked.
    pub finished: Vec<bool>,
    /// `None` when no group completed on any seed.
    pub pick: Option<usize>,
    /// The best of the others, when there are others that finished.
    pub runner_up: Option<usize>,
    /// The criterion that separates the pick from the runner-up; `None`
    /// when no criterion does (a tie: the pick is then the better point
    /// estimate, said as a tie).
    pub decided_by: Option<&'static str>,
    /// Pick minus runner-up on every criterion, over their common seeds.
    pub versus: Vec<PairedDiff>,
}

impl Recommendation {
    pub fn tie(&self) -> bool {
        self.runner_up.is_some() && self.decided_by.is_none()
    }
}

/// The frontiers reported: rollout duration against expected failed
/// requests, and against peak blast radius.
pub const FRONTIERS: [(&str, &str); 2] = [
    ("rollout_duration_s", "requests_failed"),
    ("rollout_duration_s", "peak_hosts_unavailable_pct"),
];

fn column(runs: &[Summary], f: impl Fn(&Summary) -> f64) -> Vec<f64> {
    runs.iter().map(f).collect()
}

fn all_columns(runs: &[Summary]) -> Vec<Vec<f64>> {
    METRICS
        .iter()
        .map(|m| column(runs, m.value))
        .chain(
            PROPORTIONS
                .iter()
                .map(|p| column(runs, |s| f64::from(u8::from((p.hit)(s))))),
        )
        .collect()
}

/// Bootstrap intervals of each column's mean, over its non-NaN values:
/// complete columns share one set of resamples; a column with gaps is
/// resampled over the seeds it has.
fn mean_cis(columns: &[Vec<f64>]) -> Vec<Interval> {
    let complete: Vec<usize> = (0..columns.len())
        .filter(|&i| columns[i].iter().all(|x| !x.is_nan()))
        .collect();
    let refs: Vec<&[f64]> = complete.iter().map(|&i| columns[i].as_slice()).collect();
    let mut shared = stats::bootstrap_mean_ci(&refs).into_iter();
    columns
        .iter()
        .map(|c| {
            if c.iter().all(|x| !x.is_nan()) {
                shared.next().expect("one interval per complete column")
            } else {
                let present: Vec<f64> = c.iter().copied().filter(|x| !x.is_nan()).collect();
                stats::bootstrap_mean_ci(&[&present])[0]
            }
        })
        .collect()
}

fn describe_columns(columns: &[Vec<f64>]) -> Vec<Describe> {
    columns
        .iter()
        .zip(mean_cis(columns))
        .map(|(c, ci)| {
            let present: Vec<f64> = c.iter().copied().filter(|x| !x.is_nan()).collect();
            stats::describe(&present, ci)
        })
        .collect()
}

/// Analyses an experiment. `groups[g]` holds group `g`'s runs, one per seed,
/// every group in the same seed order (that order pairs them). Groups must be
/// non-empty and of equal length.
pub fn analyze(labels: &[String], groups: &[Vec<Summary>]) -> Analysis {
    assert_eq!(labels.len(), groups.len());
    let n = groups.first().map_or(0, Vec::len);
    assert!(
        n > 0 && groups.iter().all(|g| g.len() == n),
        "groups must cover the same seeds"
    );
    let cols: Vec<Vec<Vec<f64>>> = groups.iter().map(|g| all_columns(g)).collect();
    let nm = METRICS.len();

    let stats: Vec<GroupStats> = cols
        .iter()
        .zip(labels)
        .map(|(c, label)| GroupStats {
            label: label.clone(),
            metrics: describe_columns(&c[..nm]),
            proportions: c[nm..]
                .iter()
                .map(|v| {
                    let hits = v.iter().filter(|x| **x > 0.0).count();
                    Share {
                        n,
                        hits,
                        value: hits as f64 / n as f64,
                        ci: stats::clopper_pearson(hits as u64, n as u64),
                    }
                })
                .collect(),
        })
        .collect();

    let directions: Vec<(&'static str, Better)> = METRICS
        .iter()
        .map(|m| (m.name, m.better))
        .chain(PROPORTIONS.iter().map(|p| (p.name, p.better)))
        .collect();
    let paired = (1..groups.len())
        .map(|g| {
            // Per seed, group minus reference; NaN where either run lacks
            // the metric (those seeds are left out of that metric's pairs).
            let diffs: Vec<Vec<f64>> = cols[g]
                .iter()
                .zip(&cols[0])
                .map(|(a, b)| a.iter().zip(b).map(|(x, y)| x - y).collect())
                .collect();
            let cis = mean_cis(&diffs);
            Paired {
                group: labels[g].clone(),
                reference: labels[0].clone(),
                diffs: diffs
                    .iter()
                    .zip(cis)
                    .zip(&directions)
                    .map(|((d, ci), &(name, better))| {
                        let d: Vec<f64> = d.iter().copied().filter(|x| !x.is_nan()).collect();
                        let sign = if better == Better::Lower { -1.0 } else { 1.0 };
                        PairedDiff {
                            name,
                            n: d.len(),
                            mean: stats::mean(&d),
                            ci,
                            better: d.iter().filter(|x| sign * **x > 0.0).count(),
                            worse: d.iter().filter(|x| sign * **x < 0.0).count(),
                            equal: d.iter().filter(|x| **x == 0.0).count(),
                        }
                    })
                    .collect(),
            }
        })
        .collect();

    let finished: Vec<bool> = stats.iter().map(|g| g.proportions[0].hits > 0).collect();
    let mean_of = |g: &GroupStats, name: &str| {
        let i = METRICS
            .iter()
            .position(|m| m.name == name)
            .expect("a metric");
        g.metrics[i].mean
    };
    let frontiers = FRONTIERS
        .iter()
        .map(|&(x, y)| {
            let eligible: Vec<usize> = (0..stats.len()).filter(|&g| finished[g]).collect();
            let pts: Vec<(f64, f64)> = eligible
                .iter()
                .map(|&g| (mean_of(&stats[g], x), mean_of(&stats[g], y)))
                .collect();
            Frontier {
                x,
                y,
                groups: pareto::frontier(&pts)
                    .into_iter()
                    .map(|i| eligible[i])
                    .collect(),
            }
        })
        .collect();
    let recommendation = recommend(&cols, &stats, finished);

    Analysis {
        groups: stats,
        paired,
        frontiers,
        recommendation,
    }
}

/// The column index of a criterion in [`all_columns`].
fn criterion_column(name: &str) -> (usize, Better) {
    if let Some(i) = METRICS.iter().position(|m| m.name == name) {
        (i, METRICS[i].better)
    } else {
        let j = PROPORTIONS
            .iter()
            .position(|p| p.name == name)
            .expect("a criterion is a metric or a proportion");
        (METRICS.len() + j, PROPORTIONS[j].better)
    }
}

/// `a − b` on one criterion over the seeds where both have it.
fn paired_diff(name: &'static str, a: &[f64], b: &[f64], better: Better) -> PairedDiff {
    let d: Vec<f64> = a
        .iter()
        .zip(b)
        .map(|(x, y)| x - y)
        .filter(|x| !x.is_nan())
        .collect();
    let ci = stats::bootstrap_mean_ci(&[&d])[0];
    let sign = if better == Better::Lower { -1.0 } else { 1.0 };
    PairedDiff {
        name,
        n: d.len(),
        mean: stats::mean(&d),
        ci,
        better: d.iter().filter(|x| sign * **x > 0.0).count(),
        worse: d.iter().filter(|x| sign * **x < 0.0).count(),
        equal: d.iter().filter(|x| **x == 0.0).count(),
    }
}

/// Whether group `a` beats group `b`: the first criterion whose paired
/// interval excludes 0 decides (`Some(name)`, and which way); with none, the
/// point estimates in criterion order break the tie (`None`).
fn duel(cols: &[Vec<Vec<f64>>], a: usize, b: usize) -> (bool, Option<&'static str>) {
    for name in CRITERIA {
        let (i, better) = criterion_column(name);
        let d = paired_diff(name, &cols[a][i], &cols[b][i], better);
        let sign = if better == Better::Lower { -1.0 } else { 1.0 };
        let clear = match (d.ci.low, d.ci.high) {
            (Some(lo), Some(hi)) => lo > 0.0 || hi < 0.0,
            _ => false,
        };
        if clear && d.n > 0 {
            return (sign * d.mean > 0.0, Some(name));
        }
    }
    for name in CRITERIA {
        let (i, better) = criterion_column(name);
        let present = |c: &[f64]| {
            let v: Vec<f64> = c.iter().copied().filter(|x| !x.is_nan()).collect();
            stats::mean(&v)
        };
        let (ma, mb) = (present(&cols[a][i]), present(&cols[b][i]));
        let sign = if better == Better::Lower { -1.0 } else { 1.0 };
        if ma.is_finite() && mb.is_finite() && ma != mb {
            return (sign * (ma - mb) > 0.0, None);
        }
    }
    (false, None)
}

/// The best group among `candidates` by [`duel`] (the first of equals wins).
fn best_of(cols: &[Vec<Vec<f64>>], candidates: &[usize]) -> Option<usize> {
    let mut it = candidates.iter().copied();
    let mut best = it.next()?;
    for g in it {
        if duel(cols, g, best).0 {
            best = g;
        }
    }
    Some(best)
}

fn recommend(cols: &[Vec<Vec<f64>>], groups: &[GroupStats], finished: Vec<bool>) -> Recommendation {
    let eligible: Vec<usize> = (0..groups.len()).filter(|&g| finished[g]).collect();
    let mut pick = best_of(cols, &eligible);
    let rest: Vec<usize> = eligible
        .iter()
        .copied()
        .filter(|&g| Some(g) != pick)
        .collect();
    let mut runner_up = best_of(cols, &rest);
    // The runner-up was chosen among the rest without meeting the pick; if
    // it clearly beats the pick (duels need not be transitive), they swap.
    if let (Some(p), Some(r)) = (pick, runner_up) {
        if let (true, Some(_)) = duel(cols, r, p) {
            (pick, runner_up) = (Some(r), Some(p));
        }
    }
    let (decided_by, versus) = match (pick, runner_up) {
        (Some(p), Some(r)) => (
            duel(cols, p, r).1,
            CRITERIA
                .iter()
                .map(|&name| {
                    let (i, better) = criterion_column(name);
                    paired_diff(name, &cols[p][i], &cols[r][i], better)
                })
                .collect(),
        ),
        _ => (None, Vec::new()),
    };
    Recommendation {
        finished,
        pick,
        runner_up,
        decided_by,
        versus,
    }
}
