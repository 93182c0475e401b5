//! `shakedown gate DIR --thresholds gate.toml [--baseline BASE]`: fail a CI
//! job when results break thresholds or regress against a baseline.
//!
//! Exit codes: 0 every condition holds, 1 at least one does not, 2 bad input
//! (unreadable or malformed thresholds, a metric the results do not have,
//! results that cannot be read). Writes `junit.xml` and `gate.md` to `--out`
//! (default: DIR) and prints the Markdown table.

use crate::experiment;
use crate::input::{update_out, BadInput};
use anyhow::Result;
use shakedown_reports::{self as reports, compare, Output};
use shakedown_sim::experiment::threshold::{self, GroupRuns, Thresholds};
use shakedown_sim::record::Summary;
use std::path::Path;
use std::process::ExitCode;

fn bad(e: impl std::fmt::Display) -> anyhow::Error {
    BadInput(e.to_string()).into()
}

/// The runs in a results directory: an experiment (`compare`, `sweep`,
/// merged) by group, or a single `run` as one group.
pub fn load_results(dir: &Path) -> Result<Vec<GroupRuns>> {
    if dir.join("manifest.json").exists() {
        let l = experiment::load_dir(dir)?;
        if let Some(s) = l.manifest.shard {
            return Err(bad(format!(
                "{} holds shard {}/{} only: merge the shards first",
                dir.display(),
                s.index,
                s.count
            )));
        }
        let groups = compare::by_group(&l.manifest, &l.rows);
        return Ok(l
            .manifest
            .groups
            .iter()
            .zip(groups)
            .map(|(g, runs)| GroupRuns {
                label: g.label.clone(),
                runs,
            })
            .collect());
    }
    let path = dir.join("summary.json");
    let bytes = std::fs::read(&path).map_err(|e| {
        bad(format!(
            "{}: cannot read: {e} (DIR must be the output of `run`, `compare`, `sweep` or `merge`)",
            path.display()
        ))
    })?;
    let v: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| bad(format!("{}: {e}", path.display())))?;
    let s: Summary =
        compare::summary_from_json(&v).map_err(|e| bad(format!("{}: {e}", path.display())))?;
    Ok(vec![GroupRuns {
        label: s.policy.clone(),
        runs: vec![s],
    }])
}

pub fn gate(
    dir: &Path,
    thresholds: &Path,
    baseline: Option<&Path>,
    out: Option<&Path>,
) -> Result<ExitCode> {
    let text = crate::input::read_text(thresholds, "thresholds")?;
    let th = Thresholds::parse(&text, &thresholds.display().to_string()).map_err(bad)?;
    let current = load_results(dir)?;
    let mut checks = threshold::evaluate(&th, &current).map_err(bad)?;
    match baseline {
        Some(b) => {
            if th.baseline.is_empty() {
                return Err(bad(format!(
                    "{}:1:1: --baseline given but there is no [baseline] table saying how much each metric may regress, e.g.\n[baseline]\nrequests_failed = \"5%\"",
                    thresholds.display()
                )));
            }
            let base = load_results(b)?;
            checks.extend(threshold::regressions(&th, &current, &base).map_err(bad)?);
        }
        None if !th.baseline.is_empty() => eprintln!(
            "note: {} has a [baseline] table but no --baseline was given: regressions are not checked",
            thresholds.display()
        ),
        None => {}
    }
    let title = format!("shakedown gate: {}", dir.display());
    let md = reports::gate::markdown(&title, &checks);
    let xml = reports::junit::junit(&thresholds.display().to_string(), &checks);
    let out = out.unwrap_or(dir);
    update_out(
        out,
        &[
            Output::new("junit.xml", xml),
            Output::new("gate.md", md.clone()),
        ],
    )?;
    print!("{md}");
    println!("\nwrote {}/{{junit.xml,gate.md}}", out.display());
    let failed = checks.iter().filter(|c| !c.passed).count();
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
