//! The `shakedown` command: glue between files, the simulator and the writers.
//! Everything that decides anything lives in the library crates.

mod cmd;
mod experiment;
mod gate;
mod input;
mod judge;
mod live;

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
        /// A TOML file with a [policy] table (any scenario file works);
        /// repeatable. Default: the scenario's own policy.
        #[arg(long = "policy", value_name = "FILE")]
        policies: Vec<PathBuf>,
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
    /// retrospective mode); prints JSON. Exit 0 pass, 1 marginal or fail,
    /// 2 bad input.
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
            deny_warnings,
        } => cmd::run(&scenario, seed, &out, print_resolved, deny_warnings),
        Command::Demo { out } => cmd::demo(&out),
        Command::DetCheck { scenario, seed } => cmd::det_check(&scenario, seed),
        Command::Compare {
            scenario,
            policies,
            seeds,
            shard,
            out,
            deny_warnings,
        } => experiment::compare(
            &scenario,
            &policies,
            &seeds,
            shard.as_deref(),
            &out,
            deny_warnings,
        ),
        Command::Sweep {
            scenario,
            params,
            seeds,
            shard,
            out,
            deny_warnings,
        } => experiment::sweep(
            &scenario,
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
        } => judge::judge(&baseline, &canary, config.as_deref()),
        Command::Live(a) => live::live(&a),
        Command::Load(a) => live::load(&a),
        Command::Gc(a) => live::gc(&a),
        Command::Watchdog { run } => live::watchdog(&run),
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
