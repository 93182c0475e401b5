//! Drill-down: the seeds of each group a person should open, and the
//! commands that reproduce them.
//!
//! Every whole experiment (`compare`, `sweep`, `merge`, the demo's Monte
//! Carlo part) names, for each group, its **worst**, **median** and **best**
//! seed, ranked by the figure the recommendation weighs first among runs
//! that completed alike: the failed requests due to the change
//! (`failed_requests_due_to_change`, the run against the same seed without
//! the change), ties broken by the lower seed. Those runs are written as
//! full run reports (the files `shakedown run` writes, `report.html`
//! included) in `DIR/runs/<group>/<rank>-seed-<N>/`; `summary.json` lists
//! them, and the Markdown and HTML reports link to them from the group's row.
//!
//! Why written and not only linked with a command: the runs of a sweep's
//! grid point have no `shakedown run` form (a point is the scenario with
//! edited fields), so a command alone would not open the run a person wants
//! to see; three full runs per group are cheap next to the experiment's
//! seeds, and the report links to files that are there. Each one still
//! carries the one-line command that reproduces it exactly ([`command`]).

use shakedown_sim::experiment::{Kind, Manifest};
use shakedown_sim::record::Summary;
use std::fmt::Write;

/// The ranks, in the order they are listed.
pub const RANKS: [&str; 3] = ["worst", "median", "best"];

/// One seed to look at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pick {
    /// `worst`, `median` or `best`.
    pub rank: &'static str,
    pub seed: u64,
    /// The figure it was ranked by.
    pub harm: i64,
    /// The directory its run report is in, relative to the experiment's.
    pub dir: String,
}

/// The figure seeds are ranked by: failed requests due to the change (a
/// run without a baseline, which no experiment writes, falls back to its
/// failed requests).
pub fn harm(s: &Summary) -> i64 {
    s.failed_requests_due_to_change
        .unwrap_or(s.requests_failed as i64)
}

/// A group label as one directory name: letters, digits and `._-=,` kept,
/// anything else `_`.
fn dir_name(label: &str) -> String {
    let s: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-=,".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with('.') {
        format!("_{s}")
    } else {
        s
    }
}

/// Each group's directory under `runs/`: its label made a file name,
/// `-2`, `-3` … added where two labels give the same name.
pub fn group_dirs(m: &Manifest) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for g in &m.groups {
        let base = dir_name(&g.label);
        let mut name = base.clone();
        let mut k = 2;
        while out.contains(&name) {
            name = format!("{base}-{k}");
            k += 1;
        }
        out.push(name);
    }
    out
}

/// The worst, median and best seed of one group's runs (any order):
/// ranked by [`harm`], ties by the lower seed. With fewer than three seeds
/// two ranks name the same seed.
pub fn picks_of(rows: &[Summary], group_dir: &str) -> Vec<Pick> {
    if rows.is_empty() {
        return vec![];
    }
    let mut order: Vec<(i64, u64)> = rows.iter().map(|s| (harm(s), s.seed)).collect();
    order.sort_unstable();
    let worst_harm = order[order.len() - 1].0;
    let worst = *order
        .iter()
        .find(|x| x.0 == worst_harm)
        .expect("the largest is there");
    let median = order[(order.len() - 1) / 2];
    let best = order[0];
    RANKS
        .iter()
        .zip([worst, median, best])
        .map(|(&rank, (harm, seed))| Pick {
            rank,
            seed,
            harm,
            dir: format!("runs/{group_dir}/{rank}-seed-{seed}"),
        })
        .collect()
}

/// Every group's picks, in group order (rows seed-major, as experiments
/// keep them).
pub fn picks(m: &Manifest, rows: &[Summary]) -> Vec<Vec<Pick>> {
    let n = m.groups.len();
    group_dirs(m)
        .iter()
        .enumerate()
        .map(|(g, d)| {
            let mine: Vec<Summary> = rows.iter().skip(g).step_by(n).cloned().collect();
            picks_of(&mine, d)
        })
        .collect()
}

fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-=,:+@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The one-line command that reproduces group `g`'s run on `seed` exactly
/// (the same `summary.json` bytes), writing it to `DIR`: `shakedown run`
/// with the group's policy file for a compare; a sweep of that one grid
/// point on that one seed for a sweep (a grid point has no `run` form), whose
/// `DIR/runs/<group>/…-seed-<N>/` holds the run.
pub fn command(m: &Manifest, g: usize, seed: u64) -> String {
    let def = &m.groups[g];
    let mut c = String::new();
    match m.kind {
        Kind::Compare => {
            let _ = write!(c, "shakedown run {}", quote(&m.scenario_file));
            if let Some(f) = &def.policy_file {
                let _ = write!(c, " --policy {}", quote(f));
                if let Some(map) = &m.metric_map {
                    let _ = write!(c, " --metric-map {}", quote(map));
                }
            }
            let _ = write!(c, " --seed {seed} --out DIR");
        }
        Kind::Sweep => {
            let _ = write!(c, "shakedown sweep {}", quote(&m.scenario_file));
            if let Some(f) = &m.policy_file {
                let _ = write!(c, " --policy {}", quote(f));
                if let Some(map) = &m.metric_map {
                    let _ = write!(c, " --metric-map {}", quote(map));
                }
            }
            for (p, v) in m.params.iter().zip(&def.values) {
                let _ = write!(c, " --param {}", quote(&format!("{}={v}", p.path)));
            }
            let _ = write!(c, " --seeds {seed} --out DIR");
        }
    }
    c
}

/// The files of one drill-down run, under its directory: what `shakedown
/// run` writes, with the report's "reproduce" line naming [`command`].
pub fn run_files(
    rec: &shakedown_sim::RunRecord,
    dir: &str,
    reproduce: &str,
    clock: Option<&crate::plots::Clock>,
) -> Vec<crate::Output> {
    crate::run_outputs(rec, reproduce, clock)
        .into_iter()
        .map(|o| crate::Output::new(format!("{dir}/{}", o.name), o.bytes))
        .collect()
}
