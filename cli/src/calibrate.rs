//! `calibrate`: the calibration lab for analysis gates (`docs/CALIBRATE.md`).
//!
//! ```text
//!  scenario [+ --policy] ─▶ sim::experiment::calibrate::plan (every analysis
//!     metric dry-run with shape twins in one scenario; each gate check —
//!     Flagger, linear SLO, waves alarm — alone in its own) ─▶ one variant
//!     per injected regression ─▶ units = seeds × injections (seed-major)
//!     ─▶ rayon: sim::run of each plan variant + detections per unit,
//!     collected in unit order ─▶ cells ─▶ reports::calibrate::outputs
//! ```
//!
//! Runs are independent and collected in unit order, so the output is the
//! same bytes at any thread count (`RAYON_NUM_THREADS`).

use crate::experiment::progress;
use crate::input::{self, BadInput};
use anyhow::Result;
use rayon::prelude::*;
use shakedown_reports::calibrate as report;
use shakedown_sim::experiment::calibrate::{self as cal, Calibration, Detection, Injection};
use shakedown_sim::experiment::SeedSet;
use shakedown_sim::{self as sim, RunOptions};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// `shakedown calibrate`'s arguments.
#[derive(clap::Args)]
pub struct CalibrateArgs {
    pub scenario: PathBuf,
    /// A TOML file with a [policy] table (default: the scenario's own policy).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Seeds: `1..200` (both ends included), `7`, or `1..10,42`.
    #[arg(long, default_value = "1..100")]
    pub seeds: String,
    /// Regression sizes of one kind, repeatable: `error-rate=0.001,0.01`
    /// (absolute extra error rate) or `latency=0.1,0.5` (relative increase).
    /// Default: both kinds at a few sizes. Size 0 (the good version) is
    /// always run.
    #[arg(long = "sizes", value_name = "KIND=S1,S2")]
    pub sizes: Vec<String>,
    /// Inject the regression into this endpoint of the scenario's endpoint
    /// mix only (default: every endpoint).
    #[arg(long, value_name = "NAME")]
    pub endpoint: Option<String>,
    /// Do not add a shape-judge twin beside each Kayenta judge.
    #[arg(long)]
    pub no_shape_twins: bool,
    /// Power calculator: the false-fail rate the exact test is held to.
    #[arg(long, default_value_t = 0.01)]
    pub false_fail: f64,
    /// Power calculator: canary weights in percent.
    #[arg(long, value_delimiter = ',', default_value = "1,5,10,25,50")]
    pub weights: Vec<f64>,
    #[arg(long, default_value = "out/calibrate")]
    pub out: PathBuf,
}

fn bad(e: impl std::fmt::Display) -> anyhow::Error {
    BadInput(e.to_string()).into()
}

pub fn calibrate(a: &CalibrateArgs) -> Result<ExitCode> {
    let seeds = SeedSet::parse(&a.seeds).map_err(bad)?;
    let (base, text) = input::load_with_text(&a.scenario)?;
    let sc = match &a.policy {
        Some(p) => crate::manifest::policy_file::with_policy(&text, &a.scenario, p, None)?,
        None => base,
    };
    if !(a.false_fail > 0.0 && a.false_fail < 1.0) {
        return Err(bad(format!(
            "--false-fail {}: must be a probability between 0 and 1 (exclusive)",
            a.false_fail
        )));
    }
    if let Some(w) = a
        .weights
        .iter()
        .find(|w| !(w.is_finite() && **w > 0.0 && **w <= 100.0))
    {
        return Err(bad(format!(
            "--weights: {w} is not a weight in percent (0 < w ≤ 100)"
        )));
    }
    if let Some(e) = &a.endpoint {
        if !sc.traffic.endpoints.iter().any(|x| &x.name == e) {
            let known: Vec<&str> = sc
                .traffic
                .endpoints
                .iter()
                .map(|x| x.name.as_str())
                .collect();
            return Err(bad(format!(
                "--endpoint `{e}`: {}",
                if known.is_empty() {
                    "the scenario has no endpoint mix ([[traffic.endpoints]])".to_string()
                } else {
                    format!(
                        "not an endpoint of the scenario; its endpoints are: {}",
                        known.join(", ")
                    )
                }
            )));
        }
    }
    let sizes = if a.sizes.is_empty() {
        cal::default_sizes()
    } else {
        a.sizes
            .iter()
            .map(|s| cal::parse_sizes(s))
            .collect::<Result<Vec<_>, _>>()
            .map_err(bad)?
    };
    let plan = cal::plan(&sc, !a.no_shape_twins).map_err(|e| {
        bad(format!(
            "{}: {e}",
            a.policy.as_deref().unwrap_or(&a.scenario).display()
        ))
    })?;
    let mut injections = vec![Injection::good()];
    for (kind, list) in &sizes {
        for &size in list {
            injections.push(Injection {
                kind: *kind,
                size,
                endpoint: a.endpoint.clone(),
            });
        }
    }
    // One scenario per injection and plan variant (the analyses dry-run
    // together; each gate check alone).
    let variants: Vec<Vec<sim::Scenario>> = injections
        .iter()
        .map(|i| {
            plan.variants
                .iter()
                .map(|v| cal::inject(&v.scenario, i))
                .collect()
        })
        .collect();
    let keys = plan.keys.clone();
    let g = variants.len();
    let total = seeds.len() * g;
    let runs = total * plan.variants.len();
    eprintln!(
        "calibrate `{}` ({}): {} metric{} × {} regressions × {} seeds = {} runs",
        sc.name,
        sc.policy.kind(),
        keys.len(),
        if keys.len() == 1 { "" } else { "s" },
        g,
        seeds.len(),
        runs
    );
    let t0 = Instant::now();
    let bar = progress(total as u64);
    let per_run: Vec<(usize, Vec<Detection>)> = (0..total)
        .into_par_iter()
        .map(|u| {
            let opts = RunOptions {
                record_ticks: false,
                ..RunOptions::full(seeds.seeds[u / g])
            };
            let recs: Vec<sim::RunRecord> =
                variants[u % g].iter().map(|v| sim::run(v, opts)).collect();
            bar.inc(1);
            (u % g, plan.detections(&recs))
        })
        .collect();
    bar.finish_and_clear();
    let dt = t0.elapsed().as_secs_f64();
    let cells = cal::cells(&keys, &injections, &per_run);
    let smallest = cal::smallest_all(&keys, &cells, cal::TARGET);
    let starts: Vec<f64> = (0..8).map(|k| k as f64 * 3.0 * 3600.0).collect();
    let power = sizes
        .iter()
        .filter(|(k, _)| *k == cal::RegressionKind::ErrorRate)
        .flat_map(|(_, list)| list.iter())
        .map(|&x| cal::power_plan(&sc, x, a.false_fail, cal::TARGET, &a.weights, &starts))
        .collect();
    let result = Calibration {
        format: cal::FORMAT,
        scenario: sc.name.clone(),
        scenario_file: a.scenario.display().to_string(),
        policy: sc.policy.kind().to_string(),
        policy_file: a.policy.as_ref().map(|p| p.display().to_string()),
        seeds: seeds.spec.clone(),
        runs: runs as u64,
        target: cal::TARGET,
        metrics: keys,
        injections,
        cells,
        smallest,
        power,
        shakedown_version: sim::VERSION,
    };
    let outputs = report::outputs(&result);
    input::write_out(&a.out, &outputs)?;
    let names: Vec<&str> = outputs.iter().map(|o| o.name.as_str()).collect();
    println!(
        "{runs} runs in {dt:.2} s on {} threads; wrote {}/{{{}}}",
        rayon::current_num_threads(),
        a.out.display(),
        names.join(",")
    );
    for s in &result.smallest {
        println!(
            "{:<40} {:<10} false-fail {:>6}  95 % detection from {}",
            s.metric,
            s.kind.as_str(),
            format!("{:.1}%", s.false_fail * 100.0),
            s.size
                .map_or("none of the sizes tried".into(), |x| x.to_string())
        );
    }
    Ok(ExitCode::SUCCESS)
}
