//! The `shakedown` command: glue between files, the simulator and the writers.
//! Everything that decides anything lives in the library crates.

mod calibrate;
mod cmd;
mod experiment;
mod gate;
mod input;
mod judge;
mod live;
mod manifest;
mod shrink;
mod sweep_edit;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Simulate and chaos-test infrastructure rollouts before production.
#[derive(Parser)]
#[command(name = "shakedown", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check scenario files and policy files (a [policy] table alone);
    /// print each one's error, and each warning (a model that cannot be
    /// right), with file:line:col. Exit 2 on an error.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Exit 2 on a warning too (for CI).
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Simulate one scenario with one seed and write its outputs.
    Run {
        scenario: PathBuf,
        /// Seed (default: the scenario's `seed`).
        #[arg(long)]
        seed: Option<u64>,
        /// Output directory (created).
        #[arg(long, default_value = "out/run")]
        out: PathBuf,
        /// Print the fully defaulted scenario as TOML and exit.
        #[arg(long)]
        print_resolved: bool,
        /// Run this policy instead of the scenario's: a TOML file with a
        /// [policy] table, or an Argo Rollout / Flagger Canary YAML.
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
        /// Rules mapping a manifest's metric queries to measurements
        /// (docs/MANIFESTS.md).
        #[arg(long, value_name = "FILE")]
        metric_map: Option<PathBuf>,
        /// Exit 2, running nothing, when the scenario has a warning.
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Run the shipped demo scenario under several policies and write a report.
    Demo {
        #[arg(long, default_value = "out/demo")]
        out: PathBuf,
    },
    /// Run a scenario twice with one seed and compare the outputs byte for byte.
    DetCheck {
        scenario: PathBuf,
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Run every policy on every seed (common random numbers) and compare them
    /// with statistics: compare.csv, summary.json, report.md, report.html.
    Compare {
        scenario: PathBuf,
        /// A TOML file with a [policy] table (any scenario file works), or
        /// an Argo Rollout / Flagger Canary YAML; repeatable. Default: the
        /// scenario's own policy.
        #[arg(long = "policy", value_name = "FILE")]
        policies: Vec<PathBuf>,
        /// Rules mapping a manifest's metric queries to measurements
        /// (docs/MANIFESTS.md).
        #[arg(long, value_name = "FILE")]
        metric_map: Option<PathBuf>,
        /// Seeds: `1..1000` (both ends included), `7`, or `1..10,42`.
        #[arg(long, default_value = "1..100")]
        seeds: String,
        /// Run only shard K of N (1-based) and write its rows and manifest;
        /// combine the shards with `shakedown merge`.
        #[arg(long, value_name = "K/N")]
        shard: Option<String>,
        #[arg(long, default_value = "out/compare")]
        out: PathBuf,
        /// Exit 2, running nothing, when the scenario or a policy file has a warning.
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Run a grid of parameter values over seeds and find the Pareto frontier:
    /// sweep.csv, summary.json, report.md, report.html.
    Sweep {
        scenario: PathBuf,
        /// PATH=V1,V2,… with PATH a key of the scenario file, e.g.
        /// `policy.max_unavailable=1,2,5` or `change.drain=0s,10s`; repeatable
        /// (the grid is the cartesian product).
        #[arg(long = "param", value_name = "PATH=V1,V2", required = true)]
        params: Vec<String>,
        /// Sweep this policy instead of the scenario's: a TOML file with a
        /// [policy] table, or an Argo Rollout / Flagger Canary YAML.
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
        /// Rules mapping a manifest's metric queries to measurements
        /// (docs/MANIFESTS.md).
        #[arg(long, value_name = "FILE")]
        metric_map: Option<PathBuf>,
        #[arg(long, default_value = "1..100")]
        seeds: String,
        #[arg(long, value_name = "K/N")]
        shard: Option<String>,
        #[arg(long, default_value = "out/sweep")]
        out: PathBuf,
        /// Exit 2, running nothing, when a grid point's scenario has a warning.
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Combine the shard directories of one compare or sweep into exactly what
    /// an unsharded run writes.
    Merge {
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Re-render summary.json, report.md and report.html of a compare or sweep
    /// directory from its saved rows.
    Report { dir: PathBuf },
    /// Check results (of run, compare, sweep or merge) against thresholds;
    /// exit 0 pass, 1 fail, 2 bad input; writes junit.xml and gate.md.
    Gate {
        dir: PathBuf,
        #[arg(long, value_name = "FILE")]
        thresholds: PathBuf,
        /// Results to compare against, seed by seed (needs a [baseline] table).
        #[arg(long, value_name = "DIR")]
        baseline: Option<PathBuf>,
        /// Where to write junit.xml and gate.md (default: DIR).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Judge recorded metric samples, canary vs baseline (Kayenta's
    /// retrospective mode); prints a table on a terminal, JSON otherwise
    /// (or with --json). Exit 0 pass, 1 marginal or fail, 2 bad input.
    Judge {
        /// Baseline samples: CSV with header `metric,value`.
        #[arg(long, value_name = "CSV")]
        baseline: PathBuf,
        /// Canary samples: CSV with header `metric,value`.
        #[arg(long, value_name = "CSV")]
        canary: PathBuf,
        /// Judge configuration (TOML; default: every metric, Kayenta defaults).
        #[arg(long, value_name = "TOML")]
        config: Option<PathBuf>,
        /// `kayenta` (default) or `shape` (not Kayenta's: docs/CALIBRATE.md).
        #[arg(long, value_enum, default_value = "kayenta")]
        method: judge::Method,
        /// Shape judge: METRIC=distribution|rate|paired (repeatable).
        #[arg(long = "kind", value_name = "METRIC=KIND")]
        kinds: Vec<String>,
        /// Print JSON (what a pipe or file gets anyway) instead of the
        /// table a terminal gets.
        #[arg(long)]
        json: bool,
    },
    /// Roll a scenario out on real containers under load (docs/LIVE.md):
    /// exit 0 when dropped requests are within budget, 1 if not, 2 bad input.
    Live(live::LiveArgs),
    /// Open-model HTTP load against a loopback URL: outcomes and latency.
    Load(live::LoadArgs),
    /// List the containers and networks of live runs whose process is gone
    /// (killed, crashed); `--force` removes them. Exit 0.
    Gc(live::GcArgs),
    /// Internal: the watchdog `live` starts to clean up after it if it dies.
    #[command(name = live::WATCHDOG_SUBCOMMAND, hide = true)]
    Watchdog {
        #[arg(long)]
        run: String,
    },
    /// Translate an Argo Rollout (with its AnalysisTemplates) or a Flagger
    /// Canary into shakedown policy TOML, each key commented with the
    /// manifest line it came from. Exit 0, or 2 with a located error.
    Import {
        /// The manifest, and optionally files with its templates (files
        /// beside it are searched too).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long, value_name = "FILE")]
        metric_map: Option<PathBuf>,
    },
    /// Report what the importer and the fidelity rules find wrong with a
    /// manifest; exit 0 clean, 1 findings, 2 bad input.
    Lint {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The scenario to check it against (fleet size, traffic).
        #[arg(long, value_name = "FILE")]
        scenario: Option<PathBuf>,
        #[arg(long, value_name = "FILE")]
        metric_map: Option<PathBuf>,
    },
    /// Print a policy (a policy file or a scenario) as an Argo Rollout with
    /// its AnalysisTemplates, or as a Flagger Canary; a linear ramp as Argo
    /// canary steps; a sweep's directory: its Pareto-optimal points.
    Export {
        policy_or_scenario: PathBuf,
        #[arg(long, value_enum)]
        format: manifest::export::Format,
    },
    /// Measure a policy's analyses over injected regressions: false-fail
    /// rate, detection probability and time, a power calculator
    /// (docs/CALIBRATE.md): power.csv, calculator.csv, summary.json, report.md, report.html.
    Calibrate(calibrate::CalibrateArgs),
    /// Minimise a scenario while a condition on its run still holds (fewer
    /// roles, hosts, faults, a shorter run, simpler traffic, the smallest
    /// seed) and write a replayable capsule (docs/SHRINK.md): exit 0
    /// written, 1 no seed fails the condition (nothing written), 2 bad input.
    Shrink(shrink::ShrinkArgs),
    /// Re-run a capsule written by `shrink`: exit 0 while its condition
    /// still holds (the regression reproduces), 1 once it does not, 2 bad input.
    Replay {
        /// The directory `shrink --out` wrote.
        dir: PathBuf,
    },
    /// Time the simulator on a scenario (default: the shipped 23k-host fleet).
    Bench {
        scenario: Option<PathBuf>,
        /// How many timed runs (the median is reported).
        #[arg(long, default_value_t = 5)]
        runs: u32,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate {
            files,
            deny_warnings,
        } => cmd::validate(&files, deny_warnings),
        Command::Run {
            scenario,
            seed,
            out,
            print_resolved,
            policy,
            metric_map,
            deny_warnings,
        } => match policy {
            None => cmd::run(&scenario, seed, &out, print_resolved, deny_warnings),
            Some(p) => {
                experiment::load_with_policy(&scenario, &p, metric_map.as_deref()).and_then(|sc| {
                    let warnings = experiment::policy_run_warnings(&sc, &scenario, &p)?;
                    let mut again = format!(" --policy {}", p.display());
                    if let Some(m) = &metric_map {
                        again.push_str(&format!(" --metric-map {}", m.display()));
                    }
                    cmd::run_loaded(
                        sc,
                        &scenario,
                        &again,
                        seed,
                        &out,
                        print_resolved,
                        &warnings,
                        deny_warnings,
                    )
                })
            }
        },
        Command::Demo { out } => cmd::demo(&out),
        Command::DetCheck { scenario, seed } => cmd::det_check(&scenario, seed),
        Command::Compare {
            scenario,
            policies,
            metric_map,
            seeds,
            shard,
            out,
            deny_warnings,
        } => experiment::compare(
            &scenario,
            &policies,
            metric_map.as_deref(),
            &seeds,
            shard.as_deref(),
            &out,
            deny_warnings,
        ),
        Command::Sweep {
            scenario,
            params,
            policy,
            metric_map,
            seeds,
            shard,
            out,
            deny_warnings,
        } => experiment::sweep(
            &scenario,
            policy.as_deref().map(|p| (p, metric_map.as_deref())),
            &params,
            &seeds,
            shard.as_deref(),
            &out,
            deny_warnings,
        ),
        Command::Merge { dirs, out } => experiment::merge(&dirs, &out),
        Command::Report { dir } => experiment::report(&dir),
        Command::Gate {
            dir,
            thresholds,
            baseline,
            out,
        } => gate::gate(&dir, &thresholds, baseline.as_deref(), out.as_deref()),
        Command::Judge {
            baseline,
            canary,
            config,
            method,
            kinds,
            json,
        } => judge::judge(&baseline, &canary, config.as_deref(), method, &kinds, json),
        Command::Calibrate(a) => calibrate::calibrate(&a),
        Command::Live(a) => live::live(&a),
        Command::Load(a) => live::load(&a),
        Command::Gc(a) => live::gc(&a),
        Command::Watchdog { run } => live::watchdog(&run),
        Command::Import { files, metric_map } => manifest::import(&files, metric_map.as_deref()),
        Command::Lint {
            files,
            scenario,
            metric_map,
        } => manifest::lint::lint(&files, scenario.as_deref(), metric_map.as_deref()),
        Command::Export {
            policy_or_scenario,
            format,
        } => manifest::export::export(&policy_or_scenario, format),
        Command::Shrink(a) => shrink::shrink(&a),
        Command::Replay { dir } => shrink::replay(&dir),
        Command::Bench { scenario, runs } => cmd::bench(scenario.as_deref(), runs),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!(
                "error: {}",
                shakedown_sim::located::escape_controls(&format!("{e:#}"))
            );
            ExitCode::from(if e.is::<input::BadInput>() { 2 } else { 1 })
        }
    }
}
