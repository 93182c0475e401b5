//! Experiments: many runs of one scenario, compared with statistics.
//!
//! ```text
//!  compare: policies × seeds ─┐                       ┌─ per group: mean, median, p90, p99, CIs
//!  sweep:   grid points × seeds ─▶ units (seed-major) ─▶ rows ─▶ analyze ─┤  paired differences vs the first group
//!            └─ --shard K/N: a contiguous slice of units                  └─ Pareto frontiers
//! ```
//!
//! Every group runs on the same seeds, and a seed fixes the world (traffic,
//! host timings) whatever the policy does (common random numbers), so groups
//! are compared seed by seed. This module is pure: it parses seed sets,
//! shards and sweep parameters, expands grids, and computes statistics; the
//! CLI runs the simulations (in parallel) and the `reports` crate writes the
//! files.
//!
//! - [`seeds`] — `--seeds 1..1000`, `--shard K/N`, units.
//! - [`grid`] — `--param path=v1,v2` and the cartesian grid.
//! - [`stats`] — quantiles, bootstrap and exact intervals.
//! - [`pareto`] — non-dominated points.
//! - [`analysis`] — the metrics reported and the per-group/paired statistics.
//! - [`calibrate`] — the calibration lab: injected regressions, power curves,
//!   the canary power calculator.
//! - [`sim_vs_live`] — a live run beside its simulation, phase by phase.
//! - [`threshold`] — CI gate thresholds (`gate.toml`), parsed with located errors,
//!   and conditions on one run (`shrink --until`).
//! - [`shrink`] — minimising a scenario while a condition holds, over an oracle.
//! - [`Manifest`] — what an experiment was, written next to its rows so shards
//!   can be merged and reports re-rendered.

pub mod analysis;
pub mod calibrate;
pub mod grid;
pub mod pareto;
pub mod seeds;
pub mod shrink;
pub mod sim_vs_live;
pub mod stats;
pub mod threshold;

pub use analysis::{analyze, Analysis};
pub use grid::Param;
pub use seeds::{SeedSet, Shard, SpecError};

use serde::{Deserialize, Serialize};

/// The `format` of every manifest this version writes.
pub const MANIFEST_FORMAT: &str = "shakedown-experiment-manifest/1";

/// Compare policies, or sweep parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Compare,
    Sweep,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Compare => "compare",
            Kind::Sweep => "sweep",
        }
    }
    /// The rows file: `compare.csv` or `sweep.csv`.
    pub fn csv_name(self) -> &'static str {
        match self {
            Kind::Compare => "compare.csv",
            Kind::Sweep => "sweep.csv",
        }
    }
    /// The column naming the group: `policy` or `point`.
    pub fn group_column(self) -> &'static str {
        match self {
            Kind::Compare => "policy",
            Kind::Sweep => "point",
        }
    }
}

/// One group of an experiment: a policy (compare) or a grid point (sweep).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupDef {
    pub label: String,
    /// Compare: where the policy came from (a file, or the scenario itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_file: Option<String>,
    /// Compare: the `[policy]` table run, every default resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<toml::Table>,
    /// Sweep: the value of each parameter, in [`Manifest::params`] order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// The slice of units a shard ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    pub index: u32,
    pub count: u32,
    /// Units `[start, end)` in seed-major order.
    pub units: [usize; 2],
}

/// `manifest.json`: what an experiment is, independent of its results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub kind: Kind,
    pub scenario: String,
    pub scenario_file: String,
    /// FNV-1a of the scenario file's text: shards of different files do not merge.
    pub scenario_digest: String,
    /// The seed set as given (`1..1000`).
    pub seeds: String,
    pub groups: Vec<GroupDef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<Param>,
    /// Sweep: the policy file (`--policy`) put in place of the scenario's
    /// own before the grid edits it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_file: Option<String>,
    /// The `--metric-map` a manifest policy file was translated with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_map: Option<String>,
    /// `None` for a whole experiment (unsharded, or merged).
    pub shard: Option<ShardInfo>,
    pub shakedown_version: String,
}

impl Manifest {
    pub fn seed_set(&self) -> Result<SeedSet, SpecError> {
        SeedSet::parse(&self.seeds)
    }

    /// Units of the whole experiment: seeds × groups.
    pub fn total_units(&self) -> Result<usize, SpecError> {
        Ok(self.seed_set()?.len() * self.groups.len())
    }

    /// `(seed, group index)` of unit `u`.
    pub fn unit(&self, seeds: &SeedSet, u: usize) -> (u64, usize) {
        let g = self.groups.len();
        (seeds.seeds[u / g], u % g)
    }

    /// The same experiment, whole.
    pub fn unsharded(&self) -> Manifest {
        Manifest {
            shard: None,
            ..self.clone()
        }
    }
}

/// Checks that `shards` are every shard of one experiment, each once, and
/// returns them ordered by shard index.
pub fn check_shards(shards: &[Manifest]) -> Result<Vec<usize>, SpecError> {
    let Some(first) = shards.first() else {
        return Err(SpecError("merge: no shard directories given".into()));
    };
    let whole = first.unsharded();
    let n = match first.shard {
        Some(s) => s.count,
        None => {
            return Err(SpecError(
                "merge: the first directory is a whole experiment, not a shard (it has no `shard` in manifest.json)".into(),
            ))
        }
    };
    let total = whole.total_units()?;
    let mut order: Vec<Option<usize>> = vec![None; n as usize];
    for (i, m) in shards.iter().enumerate() {
        let Some(s) = m.shard else {
            return Err(SpecError(format!(
                "merge: directory {} is a whole experiment, not a shard",
                i + 1
            )));
        };
        if m.unsharded() != whole {
            let what = if m.scenario_digest != whole.scenario_digest {
                "scenario file"
            } else if m.seeds != whole.seeds {
                "seeds"
            } else if m.groups != whole.groups || m.params != whole.params {
                "policies or parameters"
            } else if m.shakedown_version != whole.shakedown_version {
                "shakedown version"
            } else {
                "definition"
            };
            return Err(SpecError(format!(
                "merge: shard {}/{} differs from shard {} in its {what}: these are not shards of one experiment",
                s.index,
                s.count,
                first.shard.map_or("?".into(), |f| format!("{}/{}", f.index, f.count))
            )));
        }
        if s.count != n {
            return Err(SpecError(format!(
                "merge: shard {}/{} among shards of {n}",
                s.index, s.count
            )));
        }
        let expect = Shard {
            index: s.index,
            count: s.count,
        }
        .units(total);
        if s.units != [expect.start, expect.end] {
            return Err(SpecError(format!(
                "merge: shard {}/{} claims units {:?}, expected {:?}",
                s.index, s.count, s.units, expect
            )));
        }
        let slot = &mut order[s.index as usize - 1];
        if slot.is_some() {
            return Err(SpecError(format!(
                "merge: shard {}/{} is given twice",
                s.index, s.count
            )));
        }
        *slot = Some(i);
    }
    let missing: Vec<String> = order
        .iter()
        .enumerate()
        .filter(|(_, o)| o.is_none())
        .map(|(k, _)| format!("{}/{n}", k + 1))
        .collect();
    if !missing.is_empty() {
        return Err(SpecError(format!(
            "merge: missing shard(s) {}",
            missing.join(", ")
        )));
    }
    Ok(order.into_iter().flatten().collect())
}
