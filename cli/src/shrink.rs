//! `shakedown shrink` and `shakedown replay`: the glue around
//! [`shakedown_sim::experiment::shrink`] (the search) and
//! [`RunCondition`] (the condition). Runs are `shakedown run`'s: the
//! scenario against its own baseline (the same seed without the change),
//! summary only.
//!
//! Exit codes. `shrink`: 0 a failing seed was found and the capsule
//! written, 1 the condition holds on none of the seeds (nothing written),
//! 2 bad input. `replay`: 0 the condition still holds (the regression
//! reproduces), 1 it no longer does, 2 bad input (no capsule, a malformed
//! one, an invalid scenario). See docs/SHRINK.md.

use crate::input::{parse_at, read_text, report_warnings, scenario_warnings, update_out, BadInput};
use anyhow::Result;
use serde::{Deserialize, Serialize};
use shakedown_reports::Output;
use shakedown_sim::experiment::shrink::{self, Options};
use shakedown_sim::experiment::threshold::RunCondition;
use shakedown_sim::experiment::SeedSet;
use shakedown_sim::located::escape_controls;
use shakedown_sim::record::Summary;
use shakedown_sim::scenario::TomlIndex;
use shakedown_sim::{self as sim, RunOptions, Scenario};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The `format` of every capsule this version writes.
pub const CAPSULE_FORMAT: &str = "shakedown-shrink-capsule/1";

/// `shakedown shrink`.
#[derive(clap::Args)]
pub struct ShrinkArgs {
    pub scenario: PathBuf,
    /// The condition to keep: METRIC OP VALUE on one run's summary, e.g.
    /// `failed_requests_due_to_change > 0` or `outcome == halted`; clauses
    /// joined with `&&`.
    #[arg(long, value_name = "EXPR")]
    pub until: String,
    /// Run this policy instead of the scenario's (a TOML file with a
    /// [policy] table, or an Argo Rollout / Flagger Canary YAML); the
    /// shrunk scenario carries it.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Rules mapping a manifest's metric queries to measurements.
    #[arg(long, value_name = "FILE")]
    pub metric_map: Option<PathBuf>,
    /// The seed that fails (default: the scenario's `seed`).
    #[arg(long, conflicts_with = "seeds")]
    pub seed: Option<u64>,
    /// Seeds to search for a failing one, first to last: `1..100`, `7`, `1..10,42`.
    #[arg(long, value_name = "RANGE")]
    pub seeds: Option<String>,
    /// Output directory: scenario.toml, capsule.toml, README.md.
    #[arg(long)]
    pub out: PathBuf,
    /// At most this many runs while minimising (the search for a failing
    /// seed runs each of --seeds at most once more).
    #[arg(long, default_value_t = 500)]
    pub max_runs: usize,
}

/// The regression record `replay` checks (`capsule.toml`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Capsule {
    format: String,
    /// The condition, as `--until` gave it.
    condition: String,
    /// The minimal scenario, beside this file.
    scenario: String,
    /// FNV-1a (64 bit) of that file's bytes as written.
    scenario_fnv1a64: String,
    seed: u64,
    /// Runs the minimisation used, and whether it reached a fixed point
    /// (false: stopped by --max-runs).
    runs: usize,
    fixed_point: bool,
    original: Original,
    /// The figures of the shrunk run when it was recorded.
    expected: Expected,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Original {
    file: String,
    fnv1a64: String,
    seed: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    policy_fnv1a64: Option<String>,
    hosts: u64,
    roles: usize,
    faults: usize,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    /// The condition's metrics, as measured: `outcome = halted, …`.
    measured: String,
    outcome: String,
    hosts: u64,
    requests_total: u64,
    requests_failed: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    failed_requests_due_to_change: Option<i64>,
    peak_hosts_unavailable_pct: f64,
}

/// `1 host`, `3 hosts`.
fn counted(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

fn bad(e: impl std::fmt::Display) -> anyhow::Error {
    BadInput(e.to_string()).into()
}

fn hex(bytes: &[u8]) -> String {
    format!("{:016x}", crate::cmd::digest(bytes))
}

/// One run as `shakedown run` does it, summary only.
fn run_summary(sc: &Scenario) -> Summary {
    let base = sim::world::baseline(sc, sc.seed);
    sim::world::run_against(sc, RunOptions::summary_only(sc.seed), &base).summary
}

fn expected(cond: &RunCondition, s: &Summary) -> Expected {
    Expected {
        measured: cond.describe(s),
        outcome: s.outcome.as_str().to_string(),
        hosts: s.hosts,
        requests_total: s.requests_total,
        requests_failed: s.requests_failed,
        failed_requests_due_to_change: s.failed_requests_due_to_change,
        peak_hosts_unavailable_pct: s.peak_hosts_unavailable_pct,
    }
}

/// Parses `--until`, locating an error in the argument.
fn parse_until(text: &str) -> Result<RunCondition> {
    RunCondition::parse(text, "--until", "until", (1, 1)).map_err(bad)
}

pub fn shrink(a: &ShrinkArgs) -> Result<ExitCode> {
    let cond = parse_until(&a.until)?;
    let path = a.scenario.as_path();
    let file = path.display().to_string();
    let original = read_text(path, "scenario")?;
    let sc0 = crate::input::parse_scenario(&original, path)?;
    let mut warnings = scenario_warnings(&sc0, &original, path);
    // With --policy, the scenario with that policy in place is what is
    // shrunk: the capsule needs no policy file.
    let (sc0, text) = match &a.policy {
        None => (sc0, original.clone()),
        Some(p) => {
            let (sc, text) = crate::manifest::policy_file::with_policy_text(
                &original,
                path,
                p,
                a.metric_map.as_deref(),
            )?;
            warnings = crate::experiment::policy_run_warnings(&sc, path, p)?;
            (sc, text)
        }
    };
    report_warnings(&warnings, false)?;
    let seeds = match (&a.seed, &a.seeds) {
        (Some(s), _) => vec![*s],
        (None, Some(spec)) => SeedSet::parse(spec).map_err(bad)?.seeds,
        (None, None) => vec![sc0.seed],
    };
    let seeds_text = a.seeds.clone().unwrap_or_else(|| seeds[0].to_string());
    // The oracle: a candidate text, parsed as the scenario file (so files
    // it names resolve as they did), run against its baseline.
    let mut oracle = |t: &str| -> Option<bool> {
        let sc = parse_at(t, path).ok()?;
        Some(cond.holds(&run_summary(&sc)))
    };

    // 1. A failing seed.
    let mut failing = None;
    let mut first_seen = None;
    for (i, seed) in seeds.iter().enumerate() {
        let t = shrink::with_seed(&text, *seed).map_err(|e| bad(format!("{file}: {e}")))?;
        let sc = parse_at(&t, path).map_err(bad)?;
        let s = run_summary(&sc);
        if cond.holds(&s) {
            eprintln!(
                "shrink: seed {seed} fails: {} ({} of {} seeds tried)",
                cond.describe(&s),
                i + 1,
                seeds.len()
            );
            failing = Some((*seed, t));
            break;
        }
        first_seen.get_or_insert((*seed, cond.describe(&s)));
    }
    let Some((seed, start)) = failing else {
        let (s0, m0) = first_seen.expect("at least one seed");
        println!(
            "`{}` does not hold on {} with seed{} {} (seed {s0}: {m0}): nothing to shrink, nothing written",
            escape_controls(&cond.text),
            escape_controls(&file),
            if seeds.len() == 1 { "" } else { "s" },
            escape_controls(&seeds_text),
        );
        return Ok(ExitCode::from(1));
    };

    // 2. Minimise.
    let opts = Options {
        max_runs: a.max_runs,
        ..Options::default()
    };
    let shrunk = shrink::shrink(&start, &opts, &mut oracle, &mut |step| {
        eprintln!(
            "shrink: [{:>4} runs] {}: {}",
            step.runs,
            step.pass.as_str(),
            escape_controls(&step.to_string())
        )
    })
    .map_err(|e| bad(format!("{file}: {e}")))?;
    let final_seed = shrink::seed_of(&shrunk.text).unwrap_or(seed);
    let sc = parse_at(&shrunk.text, path).map_err(bad)?;
    let summary = run_summary(&sc);
    debug_assert!(cond.holds(&summary));

    // 3. The capsule, as one set.
    let dir = a.out.display().to_string();
    let lines = shrink::summary_lines(&shrunk.steps);
    let mut header = format!(
        "# Shrunk by `shakedown shrink` from {} (seed {seed}{}).\n# Until: {}\n# Holds here with seed {final_seed}: {}.\n",
        file,
        a.policy
            .as_ref()
            .map(|p| format!(", policy from {}", p.display()))
            .unwrap_or_default(),
        cond.text,
        cond.describe(&summary),
    );
    header.push_str(&format!(
        "# {} runs{}; {}\n",
        shrunk.runs,
        if shrunk.exhausted {
            format!(
                ", stopped by --max-runs {} before a fixed point",
                a.max_runs
            )
        } else {
            ", to a fixed point".to_string()
        },
        if lines.is_empty() {
            "nothing could be removed.".to_string()
        } else {
            "removed or reduced:".to_string()
        }
    ));
    for l in &lines {
        header.push_str(&format!("#   {l}\n"));
    }
    header.push_str(&format!("# Replay: shakedown replay {dir}\n#\n"));
    let scenario_toml = format!("{header}{}", shrunk.text);
    let policy_bytes = match &a.policy {
        Some(p) => Some(std::fs::read(p).map_err(|e| bad(format!("{}: {e}", p.display())))?),
        None => None,
    };
    let capsule = Capsule {
        format: CAPSULE_FORMAT.into(),
        condition: cond.text.clone(),
        scenario: "scenario.toml".into(),
        scenario_fnv1a64: hex(scenario_toml.as_bytes()),
        seed: final_seed,
        runs: shrunk.runs,
        fixed_point: !shrunk.exhausted,
        original: Original {
            file: file.clone(),
            fnv1a64: hex(original.as_bytes()),
            seed,
            policy: a.policy.as_ref().map(|p| p.display().to_string()),
            policy_fnv1a64: policy_bytes.as_deref().map(hex),
            hosts: sc0.host_count(),
            roles: sc0.fleet.roles.len(),
            faults: sc0.faults.len(),
        },
        expected: expected(&cond, &summary),
    };
    let capsule_toml = format!(
        "# A regression recorded by `shakedown shrink`: `shakedown replay {dir}` re-runs\n# scenario.toml with this seed and exits 0 while the condition still holds.\n{}",
        toml::to_string(&capsule).map_err(|e| anyhow::anyhow!("capsule: {e}"))?
    );
    let readme = format!(
        "# Shrunk: `{cond}`\n\n\
         `shakedown shrink` reduced `{file}` (seed {seed}: {hosts0}, {roles0}, {faults0}) \
         to `scenario.toml` (seed {final_seed}: {hosts}, {roles}, {faults}) in {runs} runs; \
         on it, {measured}.\n\n\
         Replay it (exit 0 while the condition still holds, 1 once it does not, 2 on bad input):\n\n\
         ```sh\nshakedown replay {dir}\n```\n\n\
         Run it with every output file:\n\n\
         ```sh\nshakedown run {dir}/scenario.toml --seed {final_seed} --out out/shrunk\n```\n\n\
         Removed or reduced:\n\n{list}",
        cond = cond.text,
        hosts0 = counted(sc0.host_count() as usize, "host"),
        roles0 = counted(sc0.fleet.roles.len(), "role"),
        faults0 = counted(sc0.faults.len(), "fault"),
        hosts = counted(sc.host_count() as usize, "host"),
        roles = counted(sc.fleet.roles.len(), "role"),
        faults = counted(sc.faults.len(), "fault"),
        runs = shrunk.runs,
        measured = cond.describe(&summary),
        list = if lines.is_empty() {
            "- nothing\n".to_string()
        } else {
            lines.iter().map(|l| format!("- {l}\n")).collect::<String>()
        },
    );
    update_out(
        &a.out,
        &[
            Output::new("scenario.toml", scenario_toml),
            Output::new("capsule.toml", capsule_toml),
            Output::new("README.md", readme),
        ],
    )?;
    println!(
        "shrunk {}: {} → {} hosts, {} → {} roles, {} → {} faults, seed {seed} → {final_seed}, in {} runs{}",
        escape_controls(&file),
        sc0.host_count(),
        sc.host_count(),
        sc0.fleet.roles.len(),
        sc.fleet.roles.len(),
        sc0.faults.len(),
        sc.faults.len(),
        shrunk.runs,
        if shrunk.exhausted {
            format!(" (the --max-runs {} budget ran out first)", a.max_runs)
        } else {
            String::new()
        }
    );
    println!(
        "  still holds: {}",
        escape_controls(&cond.describe(&summary))
    );
    println!(
        "  wrote {}/{{scenario.toml,capsule.toml,README.md}}",
        escape_controls(&dir)
    );
    println!("  replay: shakedown replay {}", escape_controls(&dir));
    Ok(ExitCode::SUCCESS)
}

pub fn replay(dir: &Path) -> Result<ExitCode> {
    let cpath = dir.join("capsule.toml");
    let cname = cpath.display().to_string();
    let ctext = read_text(&cpath, "capsule (the output of `shakedown shrink`)")?;
    let index = TomlIndex::new(&ctext);
    let capsule: Capsule = toml::from_str(&ctext).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        let field = index.field_at(offset).unwrap_or("(file)").to_string();
        bad(sim::located::LocatedError::at_offset(
            &cname,
            &index,
            offset,
            field,
            &e.message().replace('\n', "; "),
        ))
    })?;
    if capsule.format != CAPSULE_FORMAT {
        let (line, column) = index.locate("format");
        return Err(bad(format!(
            "{cname}:{line}:{column}: `format`: `{}` is not a capsule this version reads ({CAPSULE_FORMAT})",
            capsule.format
        )));
    }
    // The condition is located in the capsule, inside its string.
    let (line, column) = index.locate("condition");
    let cond = RunCondition::parse(&capsule.condition, &cname, "condition", (line, column + 1))
        .map_err(bad)?;
    if capsule.scenario.contains(['/', '\\']) || capsule.scenario.starts_with('.') {
        let (line, column) = index.locate("scenario");
        return Err(bad(format!(
            "{cname}:{line}:{column}: `scenario`: `{}` must be a file name beside the capsule",
            capsule.scenario
        )));
    }
    let spath = dir.join(&capsule.scenario);
    let stext = read_text(&spath, "scenario")?;
    if hex(stext.as_bytes()) != capsule.scenario_fnv1a64 {
        eprintln!(
            "note: {} changed since it was recorded (its hash is not the capsule's): replaying it as it is now",
            spath.display()
        );
    }
    let mut sc = crate::input::parse_scenario(&stext, &spath)?;
    sc.seed = capsule.seed;
    let s = run_summary(&sc);
    let now = expected(&cond, &s);
    let shown = escape_controls(&spath.display().to_string()).into_owned();
    if cond.holds(&s) {
        println!(
            "reproduces: `{}` holds on {shown} with seed {} ({})",
            escape_controls(&cond.text),
            capsule.seed,
            escape_controls(&now.measured)
        );
        if now != capsule.expected {
            println!(
                "  note: the figures differ from the recorded ones (the simulator changed?): {}",
                differences(&capsule.expected, &now)
            );
        }
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "does not reproduce: `{}` no longer holds on {shown} with seed {}: now {}, recorded {}",
            escape_controls(&cond.text),
            capsule.seed,
            escape_controls(&now.measured),
            escape_controls(&capsule.expected.measured)
        );
        Ok(ExitCode::from(1))
    }
}

/// `field recorded → now` for each figure that differs.
fn differences(was: &Expected, now: &Expected) -> String {
    let opt = |v: Option<i64>| v.map_or("none".to_string(), |v| v.to_string());
    let pairs = [
        ("outcome", was.outcome.clone(), now.outcome.clone()),
        ("hosts", was.hosts.to_string(), now.hosts.to_string()),
        (
            "requests_total",
            was.requests_total.to_string(),
            now.requests_total.to_string(),
        ),
        (
            "requests_failed",
            was.requests_failed.to_string(),
            now.requests_failed.to_string(),
        ),
        (
            "failed_requests_due_to_change",
            opt(was.failed_requests_due_to_change),
            opt(now.failed_requests_due_to_change),
        ),
        (
            "peak_hosts_unavailable_pct",
            was.peak_hosts_unavailable_pct.to_string(),
            now.peak_hosts_unavailable_pct.to_string(),
        ),
    ];
    pairs
        .iter()
        .filter(|(_, a, b)| a != b)
        .map(|(k, a, b)| format!("{k} {a} → {b}"))
        .collect::<Vec<_>>()
        .join(", ")
}
