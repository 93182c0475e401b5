//! `compare`, `sweep`, `merge` and `report`: many runs of one scenario.
//!
//! ```text
//!  scenario + policies/params ─▶ one Scenario per group ─▶ units = seeds × groups (seed-major)
//!     ─▶ [--shard K/N: a contiguous slice] ─▶ rayon: sim::run per unit, collected in unit order
//!     ─▶ rows ─▶ reports::compare::outputs (whole) or rows + manifest (shard)
//! ```
//!
//! Runs are independent and collected in unit order, so the output is the
//! same bytes at any thread count (`RAYON_NUM_THREADS`). Sweep overrides are
//! applied to the scenario's own TOML document (`toml_edit`, formatting kept)
//! and the result is parsed like any scenario file, so a bad value gets the
//! usual located error.

use crate::input::{self, parse_at, BadInput};
pub use crate::manifest::policy_file::{load_with_policy, policy_run_warnings};
use crate::manifest::policy_file::{policy_file_warnings, with_policy, with_policy_text};
use crate::sweep_edit::apply;
use anyhow::Result;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use shakedown_reports::{compare, drill, Output};
use shakedown_sim::experiment::analysis::METRICS;
use shakedown_sim::experiment::grid;
use shakedown_sim::experiment::{
    self as ex, GroupDef, Kind, Manifest, SeedSet, Shard, ShardInfo, MANIFEST_FORMAT,
};
use shakedown_sim::record::Summary;
use shakedown_sim::scenario::{ScenarioError, TomlIndex};
use shakedown_sim::{self as sim, RunOptions, Scenario};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;
use toml_edit::DocumentMut;

fn bad(e: impl std::fmt::Display) -> anyhow::Error {
    BadInput(e.to_string()).into()
}

fn read(path: &Path, what: &str) -> Result<String> {
    Ok(input::read_text(path, what)?)
}

fn digest(text: &str) -> String {
    format!("{:016x}", sim::rng::stream_id(text))
}

/// Runs every unit of `units` (seed-major over `scenarios`) in parallel and
/// returns the summaries in unit order. Each run is measured against its
/// seed's world without the change (harm attributed to the change): that
/// world is the same for every group whose scenarios differ only in the
/// policy or how hosts move ([`sim::world::baseline_key`]), so it is run
/// once per seed and key, not once per unit.
fn run_units(scenarios: &[Scenario], seeds: &SeedSet, units: Range<usize>) -> Vec<Summary> {
    let g = scenarios.len();
    let keys: Vec<String> = scenarios.iter().map(sim::world::baseline_key).collect();
    let shares: Vec<usize> = keys
        .iter()
        .map(|k| keys.iter().position(|x| x == k).expect("its own key"))
        .collect();
    let bar = progress(units.len() as u64);
    let seed_range = units.start / g..units.end.div_ceil(g);
    let per_seed: Vec<Vec<Summary>> = seed_range
        .into_par_iter()
        .map(|si| {
            let seed = seeds.seeds[si];
            let mut bases: Vec<Option<sim::rollout::Baseline>> = vec![None; g];
            let mut out = Vec::with_capacity(g);
            for u in (si * g..(si + 1) * g).filter(|u| units.contains(u)) {
                let k = shares[u % g];
                let base =
                    bases[k].get_or_insert_with(|| sim::world::baseline(&scenarios[k], seed));
                out.push(
                    sim::world::run_against(
                        &scenarios[u % g],
                        RunOptions::summary_only(seed),
                        base,
                    )
                    .summary,
                );
                bar.inc(1);
            }
            out
        })
        .collect();
    bar.finish_and_clear();
    per_seed.into_iter().flatten().collect()
}

/// A progress bar on stderr when it is a terminal and not in CI; hidden
/// otherwise (indicatif also hides itself when stderr is not a terminal).
pub(crate) fn progress(len: u64) -> ProgressBar {
    let quiet = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
    let target = if quiet {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    };
    let bar = ProgressBar::with_draw_target(Some(len), target);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{bar:40}] {pos}/{len} runs · {elapsed} elapsed · {eta} left",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    bar
}

/// What to run: the manifest (the experiment's definition) and one scenario
/// per group.
struct Plan {
    manifest: Manifest,
    scenarios: Vec<Scenario>,
    seeds: SeedSet,
}

/// Runs a plan, whole or one shard, and writes its outputs.
fn execute(plan: Plan, shard: Option<&str>, out: &Path) -> Result<ExitCode> {
    let Plan {
        mut manifest,
        scenarios,
        seeds,
    } = plan;
    let total = seeds.len() * scenarios.len();
    let shard = shard.map(Shard::parse).transpose().map_err(bad)?;
    let units = shard.map_or(0..total, |s| s.units(total));
    eprintln!(
        "{} `{}`: {} group{} × {} seeds = {} runs{}",
        manifest.kind.as_str(),
        manifest.scenario,
        scenarios.len(),
        if scenarios.len() == 1 { "" } else { "s" },
        seeds.len(),
        total,
        shard.map_or(String::new(), |s| format!(
            "; shard {s} runs units {}..{} ({} runs)",
            units.start,
            units.end,
            units.len()
        ))
    );
    let t0 = Instant::now();
    let rows = run_units(&scenarios, &seeds, units.clone());
    let dt = t0.elapsed().as_secs_f64();
    let outputs = match shard {
        Some(s) => {
            manifest.shard = Some(ShardInfo {
                index: s.index,
                count: s.count,
                units: [units.start, units.end],
            });
            vec![
                Output::new(
                    manifest.kind.csv_name(),
                    compare::rows_csv(&manifest, &seeds, units.clone(), &rows),
                ),
                Output::new("manifest.json", compare::manifest_json(&manifest)),
            ]
        }
        None => {
            let mut all = compare::outputs(&manifest, &seeds, &rows);
            all.extend(drill_outputs(&manifest, &scenarios, &rows));
            all
        }
    };
    input::write_out(out, &outputs)?;
    let names: Vec<&str> = outputs
        .iter()
        .map(|o| o.name.as_str())
        .filter(|n| !n.starts_with("runs/"))
        .chain(shard.is_none().then_some("runs/…"))
        .collect();
    println!(
        "{} runs in {:.2} s ({:.1} runs/s on {} threads); wrote {}/{{{}}}",
        rows.len(),
        dt,
        rows.len() as f64 / dt.max(1e-9),
        rayon::current_num_threads(),
        out.display(),
        names.join(",")
    );
    if shard.is_none() {
        print_overview(&manifest, &rows);
    } else {
        println!(
            "merge every shard with: shakedown merge DIR1 DIR2 … --out DIR (then `shakedown report DIR` is not needed: merge writes the reports)"
        );
    }
    println!("reproduce: {}", compare::reproduce(&manifest));
    Ok(ExitCode::SUCCESS)
}

/// The drill-down of a whole experiment (`shakedown_reports::drill`): each
/// group's worst, median and best seed run again with full recording,
/// against the same seed without the change as every run of the experiment
/// was, and written as the files `shakedown run` writes under
/// `runs/<group>/<rank>-seed-<N>/`. A seed that holds two ranks (fewer than
/// three seeds) is run once.
fn drill_outputs(m: &Manifest, scenarios: &[Scenario], rows: &[Summary]) -> Vec<Output> {
    let picks = drill::picks(m, rows);
    let mut jobs: Vec<(usize, u64)> = Vec::new();
    for (g, ps) in picks.iter().enumerate() {
        for p in ps {
            if !jobs.contains(&(g, p.seed)) {
                jobs.push((g, p.seed));
            }
        }
    }
    let recs: Vec<sim::RunRecord> = jobs
        .par_iter()
        .map(|&(g, seed)| {
            let base = sim::world::baseline(&scenarios[g], seed);
            sim::world::run_against(&scenarios[g], RunOptions::full(seed), &base)
        })
        .collect();
    let mut out = Vec::new();
    for (g, ps) in picks.iter().enumerate() {
        for p in ps {
            let i = jobs
                .iter()
                .position(|&j| j == (g, p.seed))
                .expect("every pick was run");
            out.extend(drill::run_files(
                &recs[i],
                &p.dir,
                &drill::command(m, g, p.seed),
                shakedown_reports::plots::Clock::of(&scenarios[g].traffic).as_ref(),
            ));
        }
    }
    out
}

/// The scenario of each group of `m`, built again from the files it names
/// (what `merge` needs to write the drill-down): the scenario file, each
/// group's policy file, a sweep's values. An error when a file is gone or
/// no longer what the experiment ran.
fn scenarios_of(m: &Manifest) -> Result<Vec<Scenario>> {
    let path = Path::new(&m.scenario_file);
    let own = read(path, "scenario")?;
    let map = m.metric_map.as_deref().map(Path::new);
    let text = match &m.policy_file {
        Some(p) => with_policy_text(&own, path, Path::new(p), map)?.1,
        None => own.clone(),
    };
    if digest(&text) != m.scenario_digest {
        return Err(bad(format!(
            "{}: changed since the experiment ran (its digest differs)",
            m.scenario_file
        )));
    }
    let mut out = Vec::new();
    match m.kind {
        Kind::Compare => {
            let base = input::load(path)?;
            for g in &m.groups {
                let sc = match &g.policy_file {
                    Some(f) => with_policy(&own, path, Path::new(f), map)?,
                    None => base.clone(),
                };
                if g.policy.as_ref() != Some(&policy_table(&sc)) {
                    return Err(bad(format!(
                        "group `{}`: its policy is no longer the one the experiment ran",
                        g.label
                    )));
                }
                out.push(sc);
            }
        }
        Kind::Sweep => {
            let doc: DocumentMut = text.parse().map_err(bad)?;
            for g in &m.groups {
                let values: Vec<&str> = g.values.iter().map(String::as_str).collect();
                let edited = apply(&doc, &m.params, &values).map_err(|(_, e)| bad(e))?;
                out.push(parse_at(&edited, path).map_err(bad)?);
            }
        }
    }
    Ok(out)
}

/// A few lines on the terminal: the recommendation first, then each
/// group's outcomes, the failed requests due to the change (the figure the
/// recommendation weighs), blast radius and rollout duration.
fn print_overview(m: &Manifest, rows: &[Summary]) {
    let a = compare::analyze(m, rows);
    println!("{}", compare::verdict(m, &a));
    let width = m
        .groups
        .iter()
        .map(|g| g.label.len())
        .max()
        .unwrap_or(0)
        .min(40);
    let harm = METRICS
        .iter()
        .position(|x| x.name == "failed_requests_due_to_change")
        .expect("harm is a metric");
    let name = "failed_requests_due_to_change";
    for (i, g) in a.groups.iter().enumerate() {
        let f = &g.metrics[harm];
        let outcomes = compare::outcome_counts(&a, i);
        if !a.recommendation.finished[i] {
            println!(
                "  {:<width$}  never completed ({outcomes}): not compared · failed requests due to the change mean {}",
                g.label,
                compare::fmt_metric(name, f.mean),
            );
            continue;
        }
        println!(
            "  {:<width$}  {outcomes} · failed requests due to the change mean {} (p99 {}) · peak blast radius mean {} · rollout {} (completed runs)",
            g.label,
            compare::fmt_metric(name, f.mean),
            compare::fmt_metric(name, f.p99),
            compare::fmt_metric("peak_hosts_unavailable_pct", g.metrics[2].mean),
            compare::fmt_metric("rollout_duration_s", g.metrics[3].mean),
        );
    }
}

fn base_manifest(
    kind: Kind,
    scenario_path: &Path,
    text: &str,
    sc: &Scenario,
    seeds: &SeedSet,
) -> Manifest {
    Manifest {
        format: MANIFEST_FORMAT.to_string(),
        kind,
        scenario: sc.name.clone(),
        scenario_file: scenario_path.display().to_string(),
        scenario_digest: digest(text),
        seeds: seeds.spec.clone(),
        groups: vec![],
        params: vec![],
        policy_file: None,
        metric_map: None,
        shard: None,
        shakedown_version: sim::VERSION.to_string(),
    }
}

// ---------------------------------------------------------------------------
// compare

/// Labels from policy file names (`rolling-5pct.toml` → `rolling-5pct`),
/// made unique with `#2`, `#3` … when two files share a name.
fn labels(paths: &[PathBuf]) -> Vec<String> {
    let stems: Vec<String> = paths
        .iter()
        .map(|p| {
            p.file_stem().map_or_else(
                || p.display().to_string(),
                |s| s.to_string_lossy().into_owned(),
            )
        })
        .collect();
    stems
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let before = stems[..i].iter().filter(|x| *x == s).count();
            if before == 0 {
                s.clone()
            } else {
                format!("{s}#{}", before + 1)
            }
        })
        .collect()
}

pub fn compare(
    scenario_path: &Path,
    policies: &[PathBuf],
    metric_map: Option<&Path>,
    seeds: &str,
    shard: Option<&str>,
    out: &Path,
    deny_warnings: bool,
) -> Result<ExitCode> {
    let seeds = SeedSet::parse(seeds).map_err(bad)?;
    let text = read(scenario_path, "scenario")?;
    let base = input::load(scenario_path)?;
    // The scenario's warnings (its own policy's only when it is run), then
    // each policy file's, located in that file.
    let mut warnings: Vec<_> = input::scenario_warnings(&base, &text, scenario_path)
        .into_iter()
        .filter(|w| policies.is_empty() || !w.0.field.starts_with("policy"))
        .collect();
    let mut m = base_manifest(Kind::Compare, scenario_path, &text, &base, &seeds);
    if !policies.is_empty() {
        m.metric_map = metric_map.map(|p| p.display().to_string());
    }
    let mut scenarios = Vec::new();
    if policies.is_empty() {
        m.groups.push(GroupDef {
            label: base.policy.kind().to_string(),
            policy_file: None,
            policy: Some(policy_table(&base)),
            values: vec![],
        });
        scenarios.push(base);
    } else {
        for (p, label) in policies.iter().zip(labels(policies)) {
            let sc = with_policy(&text, scenario_path, p, metric_map)?;
            warnings.extend(policy_file_warnings(&sc, p)?);
            m.groups.push(GroupDef {
                label,
                policy_file: Some(p.display().to_string()),
                policy: Some(policy_table(&sc)),
                values: vec![],
            });
            scenarios.push(sc);
        }
    }
    input::report_warnings(&warnings, deny_warnings)?;
    execute(
        Plan {
            manifest: m,
            scenarios,
            seeds,
        },
        shard,
        out,
    )
}

/// Compares ready-made scenarios, one per labelled policy, over `seeds`
/// (what `demo` runs after its single-seed comparison).
/// Each group is the policy file it came from (labelled as `compare` labels
/// it, by its name) and the scenario with that policy, so the manifest and
/// the "reproduce" line are those of `compare SCENARIO --policy FILE …`.
pub fn compare_scenarios(
    scenario_path: &Path,
    text: &str,
    groups: Vec<(String, Scenario)>,
    seeds: &str,
    out: &Path,
) -> Result<ExitCode> {
    let seeds = SeedSet::parse(seeds).map_err(bad)?;
    let base = groups
        .first()
        .map(|g| g.1.clone())
        .ok_or_else(|| bad("no policy to compare"))?;
    let mut manifest = base_manifest(Kind::Compare, scenario_path, text, &base, &seeds);
    let mut scenarios = Vec::new();
    let files: Vec<PathBuf> = groups.iter().map(|g| PathBuf::from(&g.0)).collect();
    for ((file, sc), label) in groups.into_iter().zip(labels(&files)) {
        manifest.groups.push(GroupDef {
            label,
            policy_file: Some(file),
            policy: Some(policy_table(&sc)),
            values: vec![],
        });
        scenarios.push(sc);
    }
    execute(
        Plan {
            manifest,
            scenarios,
            seeds,
        },
        None,
        out,
    )
}

fn policy_table(sc: &Scenario) -> toml::Table {
    toml::Table::try_from(&sc.policy).expect("a policy serialises to a TOML table")
}

// ---------------------------------------------------------------------------
// sweep

/// `sweep`; with `policy` (a policy file or a manifest, `--policy`), the
/// grid edits the scenario with that policy in place of its own, and an
/// error in a swept field is located in that combined text.
pub fn sweep(
    scenario_path: &Path,
    policy: Option<(&Path, Option<&Path>)>,
    params: &[String],
    seeds: &str,
    shard: Option<&str>,
    out: &Path,
    deny_warnings: bool,
) -> Result<ExitCode> {
    let seeds = SeedSet::parse(seeds).map_err(bad)?;
    let (base, text, file) = match policy {
        None => (
            input::load(scenario_path)?,
            read(scenario_path, "scenario")?,
            scenario_path.display().to_string(),
        ),
        Some((p, map)) => {
            let own = read(scenario_path, "scenario")?;
            input::load(scenario_path)?;
            let (sc, text) = with_policy_text(&own, scenario_path, p, map)?;
            let file = format!("{} with --policy {}", scenario_path.display(), p.display());
            (sc, text, file)
        }
    };
    if params.is_empty() {
        return Err(bad(
            "sweep needs at least one --param PATH=V1,V2,… (e.g. --param policy.max_unavailable=1,2,5)",
        ));
    }
    let params: Vec<grid::Param> = params
        .iter()
        .map(|p| grid::Param::parse(p))
        .collect::<Result<_, _>>()
        .map_err(bad)?;
    if let Some((i, p)) = params
        .iter()
        .enumerate()
        .find(|(i, p)| params[..*i].iter().any(|q| q.path == p.path))
    {
        return Err(bad(format!(
            "--param `{}` is given twice (parameter {})",
            p.path,
            i + 1
        )));
    }
    let index = TomlIndex::new(&text);
    let doc: DocumentMut = text.parse().expect("the scenario parsed already");
    let param_error = |i: usize, msg: &str| {
        let (line, column) = index.locate(&params[i].path);
        bad(ScenarioError {
            file: file.clone(),
            line,
            column,
            field: params[i].path.clone(),
            message: format!("--param {}: {msg}", params[i].path),
        })
    };
    let mut m = base_manifest(Kind::Sweep, scenario_path, &text, &base, &seeds);
    m.params = params.clone();
    if let Some((p, map)) = policy {
        m.policy_file = Some(p.display().to_string());
        m.metric_map = map.map(|x| x.display().to_string());
    }
    let mut scenarios = Vec::new();
    let mut point_warnings: Vec<(shakedown_sim::located::Warning, Vec<String>)> = Vec::new();
    for point in grid::expand(&params) {
        let values: Vec<&str> = params
            .iter()
            .zip(&point)
            .map(|(p, &i)| p.values[i].as_str())
            .collect();
        let label = grid::label(&params, &point);
        let edited = apply(&doc, &params, &values).map_err(|(i, e)| param_error(i, &e))?;
        let sc = parse_at(&edited, scenario_path).map_err(|e| {
            // An error in a swept field: say which value, located where the
            // field is (or would be) in the original file.
            match params
                .iter()
                .position(|p| e.field == p.path || e.field.starts_with(&format!("{}.", p.path)))
            {
                Some(i) => param_error(
                    i,
                    &format!(
                        "value `{}` (grid point `{label}`): {}",
                        values[i], e.message
                    ),
                ),
                None => bad(format!("grid point `{label}`: {e}")),
            }
        })?;
        // Located in the file as written; the same warning of several
        // points is printed once, naming the points when not all have it.
        for w in input::scenario_warnings(&sc, &text, scenario_path) {
            match point_warnings.iter_mut().find(|(x, _)| *x == w) {
                Some((_, labels)) => labels.push(label.clone()),
                None => point_warnings.push((w, vec![label.clone()])),
            }
        }
        m.groups.push(GroupDef {
            label,
            policy_file: None,
            policy: None,
            values: values.iter().map(|v| v.to_string()).collect(),
        });
        scenarios.push(sc);
    }
    let points = scenarios.len();
    let warnings: Vec<_> = point_warnings
        .into_iter()
        .map(|(mut w, labels)| {
            if labels.len() < points {
                w.0.message = format!("{} (grid points {})", w.0.message, labels.join(", "));
            }
            w
        })
        .collect();
    input::report_warnings(&warnings, deny_warnings)?;
    execute(
        Plan {
            manifest: m,
            scenarios,
            seeds,
        },
        shard,
        out,
    )
}

// ---------------------------------------------------------------------------
// merge, report

/// An experiment directory: its manifest and its rows.
pub struct Loaded {
    pub manifest: Manifest,
    pub seeds: SeedSet,
    pub rows: Vec<Summary>,
}

pub fn load_dir(dir: &Path) -> Result<Loaded> {
    let mpath = dir.join("manifest.json");
    let bytes = std::fs::read(&mpath).map_err(|e| {
        bad(format!(
            "{}: cannot read: {e} (is {} the output of `compare` or `sweep`?)",
            mpath.display(),
            dir.display()
        ))
    })?;
    let manifest =
        compare::parse_manifest(&bytes).map_err(|e| bad(format!("{}: {e}", mpath.display())))?;
    let seeds = manifest
        .seed_set()
        .map_err(|e| bad(format!("{}: {e}", mpath.display())))?;
    let total = seeds.len() * manifest.groups.len();
    let units = match manifest.shard {
        Some(s) => s.units[0]..s.units[1],
        None => 0..total,
    };
    if units.end > total || units.start > units.end {
        return Err(bad(format!(
            "{}: units {:?} outside the experiment's {total}",
            mpath.display(),
            units
        )));
    }
    let cpath = dir.join(manifest.kind.csv_name());
    let csv =
        std::fs::read(&cpath).map_err(|e| bad(format!("{}: cannot read: {e}", cpath.display())))?;
    let rows = compare::parse_rows(&manifest, &seeds, units, &csv)
        .map_err(|e| bad(format!("{}: {e}", cpath.display())))?;
    Ok(Loaded {
        manifest,
        seeds,
        rows,
    })
}

/// Refuses an `--out` that is one of the inputs or contains one: writing
/// the merged set replaces `--out`, which would destroy the shards.
fn check_merge_out(dirs: &[PathBuf], out: &Path) -> Result<()> {
    let Ok(out_abs) = std::fs::canonicalize(out) else {
        return Ok(()); // does not exist yet: cannot be an input
    };
    for d in dirs {
        if let Ok(d_abs) = std::fs::canonicalize(d) {
            if d_abs.starts_with(&out_abs) {
                return Err(bad(format!(
                    "--out {}: is (or contains) the input {}; merge replaces --out, which would destroy its inputs: write to a new directory",
                    out.display(),
                    d.display()
                )));
            }
        }
    }
    Ok(())
}

pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<ExitCode> {
    check_merge_out(dirs, out)?;
    let loaded: Vec<Loaded> = dirs.iter().map(|d| load_dir(d)).collect::<Result<_>>()?;
    let manifests: Vec<Manifest> = loaded.iter().map(|l| l.manifest.clone()).collect();
    let order = ex::check_shards(&manifests).map_err(bad)?;
    let whole = manifests[order[0]].unsharded();
    let seeds = loaded[order[0]].seeds.clone();
    let rows: Vec<Summary> = order
        .iter()
        .flat_map(|&i| loaded[i].rows.iter().cloned())
        .collect();
    let mut outputs = compare::outputs(&whole, &seeds, &rows);
    let names: Vec<String> = outputs.iter().map(|o| o.name.clone()).collect();
    // The drill-down needs the scenarios again: rebuilt from the files the
    // manifest names; when they are gone or changed, summary.json still
    // lists the runs and their commands.
    let drilled = match scenarios_of(&whole) {
        Ok(scenarios) => {
            outputs.extend(drill_outputs(&whole, &scenarios, &rows));
            true
        }
        Err(e) => {
            eprintln!(
                "note: the worst/median/best runs (runs/) are not written: {e:#}; summary.json lists the command that reproduces each"
            );
            false
        }
    };
    input::write_out(out, &outputs)?;
    println!(
        "merged {} shards ({} runs) of {} `{}`; wrote {}/{{{}{}}}",
        order.len(),
        rows.len(),
        whole.kind.as_str(),
        whole.scenario,
        out.display(),
        names.join(","),
        if drilled { ",runs/…" } else { "" }
    );
    print_overview(&whole, &rows);
    Ok(ExitCode::SUCCESS)
}

pub fn report(dir: &Path) -> Result<ExitCode> {
    let l = load_dir(dir)?;
    if let Some(s) = l.manifest.shard {
        return Err(bad(format!(
            "{} holds shard {}/{} only: merge the shards first (shakedown merge DIR… --out DIR)",
            dir.display(),
            s.index,
            s.count
        )));
    }
    let a = compare::analyze(&l.manifest, &l.rows);
    let outputs = compare::reports(&l.manifest, &l.seeds, &l.rows, &a);
    input::update_out(dir, &outputs)?;
    println!(
        "re-rendered {}/{{summary.json,report.md,report.html}} from {} runs",
        dir.display(),
        l.rows.len()
    );
    Ok(ExitCode::SUCCESS)
}
