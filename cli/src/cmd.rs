//! The subcommands.

use crate::input::{load, load_with_text, update_out, write_out, BadInput};
use crate::input::{report_warnings, scenario_warnings};
use anyhow::Result;
use shakedown_integration::live::LiveSpec;
use shakedown_reports::{self as reports, Output};
use shakedown_sim::located::escape_controls;
use shakedown_sim::{self as sim, RunOptions, RunRecord, Scenario};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

/// The scenario the demo runs; compiled in so `demo` works from any directory.
const DEMO_SCENARIO: (&str, &str) = (
    "scenarios/spotify-docker-1.12.toml",
    include_str!("../../scenarios/spotify-docker-1.12.toml"),
);

/// The policies the demo compares on that scenario, as `[policy]` tables.
const DEMO_POLICIES: [&str; 4] = [
    // The scenario's own: Kubernetes rolling update per role, 5 % at a time.
    "",
    // Big-bang: how infrastructure changes were pushed before Tsunami.
    "kind = \"all-at-once\"\n",
    // Tsunami: a linear ramp over 24 h per role, at least one host, SLO halt.
    "kind = \"linear\"\nduration = \"24h\"\nstep = \"30m\"\nmin_hosts = 1\nslo_window = \"15m\"\nslo = [{ query = \"success-rate\", min = 0.999 }]\n",
    // AWS: one-box, then zone by zone with bake times and an alarm.
    "kind = \"waves\"\nmax_unavailable = \"10%\"\nalarms = [{ query = \"error-rate\", max = 0.01 }]\n",
];

/// Seeds of the demo's Monte Carlo comparison.
const DEMO_SEEDS: &str = "1..20";

/// The demo scenario with another `[policy]` table (its policy table is last).
fn demo_variant(text: &str, policy: &str) -> String {
    if policy.is_empty() {
        return text.to_string();
    }
    let (head, _) = text
        .rsplit_once("\n[policy]\n")
        .expect("the demo scenario ends with its [policy] table");
    format!("{head}\n[policy]\n{policy}")
}

const BENCH_SCENARIO: (&str, &str) = (
    "scenarios/fleet-23k.toml",
    include_str!("../../scenarios/fleet-23k.toml"),
);

pub fn validate(files: &[std::path::PathBuf], deny_warnings: bool) -> Result<ExitCode> {
    let mut bad = 0;
    let mut warned = 0;
    for f in files {
        let name = escape_controls(&f.display().to_string()).into_owned();
        // A policy file on its own (a [policy] table, no scenario around it).
        if let Ok(text) = crate::input::read_text(f, "policy file") {
            if sim::scenario::is_policy_file(&text) {
                match sim::scenario::check_policy_file(&text, &f.display().to_string()) {
                    Ok(kind) => println!(
                        "ok    {name}: policy file, policy {kind} (roles and zones are checked against a scenario by `compare --policy`)"
                    ),
                    Err(e) => {
                        bad += 1;
                        eprintln!("error {}", escape_controls(&e.to_string()));
                    }
                }
                continue;
            }
        }
        // A scenario with `[live]` must also be one live mode can run.
        let checked = load_with_text(f).and_then(|(sc, text)| {
            if sc.live.is_some() {
                LiveSpec::from_scenario(&sc, &text, &f.display().to_string())
                    .map_err(|e| BadInput(e.to_string()))?;
            }
            Ok((sc, text))
        });
        match checked {
            Ok((s, text)) => {
                let warnings = scenario_warnings(&s, &text, f);
                for w in &warnings {
                    eprintln!("warning: {w}");
                }
                if !warnings.is_empty() {
                    warned += 1;
                }
                println!(
                    "{}  {name}: `{}`, {} hosts, policy {}{}",
                    if warnings.is_empty() { "ok  " } else { "warn" },
                    escape_controls(&s.name),
                    s.host_count(),
                    s.policy.kind(),
                    match warnings.len() {
                        0 => String::new(),
                        1 => ", 1 warning".to_string(),
                        n => format!(", {n} warnings"),
                    }
                )
            }
            Err(e) => {
                bad += 1;
                eprintln!("error {}", escape_controls(&format!("{e:#}")));
            }
        }
    }
    if bad > 0 {
        eprintln!("{bad} of {} files are invalid", files.len());
        return Ok(ExitCode::from(2));
    }
    if deny_warnings && warned > 0 {
        eprintln!(
            "{warned} of {} files have warnings, and --deny-warnings",
            files.len()
        );
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

/// Every data file a single run writes, rendered in memory.
pub fn run_outputs(rec: &RunRecord) -> Vec<Output> {
    vec![
        Output::new("summary.json", reports::json::summary(&rec.summary)),
        Output::new("timeseries.csv", reports::csv::timeseries(&rec.ticks)),
        Output::new("events.csv", reports::csv::events(&rec.events)),
        Output::new("report.md", reports::markdown::run(&rec.summary)),
    ]
}

/// The data files plus the HTML report.
pub fn run_outputs_with_html(rec: &RunRecord, scenario_path: &str) -> Vec<Output> {
    let mut out = run_outputs(rec);
    out.push(Output::new(
        "report.html",
        reports::html::run_report_for(rec, scenario_path),
    ));
    out
}

fn print_summary(rec: &RunRecord) {
    let s = &rec.summary;
    println!(
        "{}: {} under `{}`, seed {} — {} after {:.1} h",
        escape_controls(&s.scenario),
        escape_controls(&s.change),
        escape_controls(&s.policy),
        s.seed,
        s.outcome,
        s.rollout_duration_s / 3600.0
    );
    println!(
        "  requests {} · failed {} ({:.4} %) · peak hosts unavailable {:.1} % · on new version {:.1} %",
        s.requests_total,
        s.requests_failed,
        100.0 * (1.0 - s.success_rate),
        s.peak_hosts_unavailable_pct,
        s.hosts_on_new_pct
    );
    println!(
        "  {} ({})",
        reports::impact::slo_headline(s),
        reports::impact::slo_detail(s)
    );
    if let Some(h) = reports::impact::harm_sentence(s) {
        println!("  {h}");
    }
    for f in s.fault_hits.iter().filter(|f| f.kind != "registry-outage") {
        println!("  {} {}: hit {} hosts", f.fault, f.kind, f.hosts);
    }
    if let Some(r) = &s.restarts {
        println!(
            "  restart policy {}: {} restarts · {} hosts in crash loop · {:.0} host-s in back-off · {} left down",
            r.policy, r.restarts, r.hosts_in_crash_loop, r.backoff_host_s, r.hosts_given_up
        );
    }
    if let Some(a) = &s.autoscale {
        println!(
            "  autoscale: {} scale-ups, {} scale-downs · {} hosts added, {} removed · peak {} hosts, {} at the end",
            a.scale_ups, a.scale_downs, a.hosts_added, a.hosts_removed, a.peak_replicas, a.final_replicas
        );
    }
    if s.audit_rows_dropped > 0 {
        println!(
            "  note: events.csv holds the first {} audit rows; {} more were counted but not kept (audit_rows_dropped in summary.json)",
            sim::rollout::audit::MAX_AUDIT_ROWS,
            s.audit_rows_dropped
        );
    }
}

pub fn run(
    path: &Path,
    seed: Option<u64>,
    out: &Path,
    print_resolved: bool,
    deny_warnings: bool,
) -> Result<ExitCode> {
    let (sc, text) = load_with_text(path)?;
    let warnings = scenario_warnings(&sc, &text, path);
    run_loaded(
        sc,
        path,
        "",
        seed,
        out,
        print_resolved,
        &warnings,
        deny_warnings,
    )
}

/// [`run`] of a scenario already loaded from `path` (with `--policy`: the
/// flag, in `again`, is repeated in the line that reproduces the run), with
/// the warnings its files raised.
#[allow(clippy::too_many_arguments)]
pub fn run_loaded(
    sc: Scenario,
    path: &Path,
    again: &str,
    seed: Option<u64>,
    out: &Path,
    print_resolved: bool,
    warnings: &[sim::located::Warning],
    deny_warnings: bool,
) -> Result<ExitCode> {
    if print_resolved {
        print!("{}", sc.to_toml());
        return Ok(ExitCode::SUCCESS);
    }
    report_warnings(warnings, deny_warnings)?;
    let seed = seed.unwrap_or(sc.seed);
    // The same seed without the change: what the summary's harm is
    // measured against (a summary-only run).
    let base = sim::world::baseline(&sc, seed);
    let rec = sim::world::run_against(&sc, RunOptions::full(seed), &base);
    write_out(
        out,
        &run_outputs_with_html(&rec, &path.display().to_string()),
    )?;
    print_summary(&rec);
    println!(
        "  wrote {}/{{summary.json,timeseries.csv,events.csv,report.md,report.html}}",
        escape_controls(&out.display().to_string())
    );
    println!(
        "  reproduce: shakedown run {}{} --seed {seed}",
        escape_controls(&path.display().to_string()),
        escape_controls(again)
    );
    Ok(ExitCode::SUCCESS)
}

pub fn demo(out: &Path) -> Result<ExitCode> {
    let (name, text) = DEMO_SCENARIO;
    let mut runs = Vec::new();
    let mut groups = Vec::new();
    for policy in DEMO_POLICIES {
        let sc = Scenario::parse(&demo_variant(text, policy), name)
            .map_err(|e| BadInput(e.to_string()))?;
        let base = sim::world::baseline(&sc, sc.seed);
        let rec = sim::world::run_against(&sc, RunOptions::full(sc.seed), &base);
        print_summary(&rec);
        groups.push((rec.summary.policy.clone(), sc));
        runs.push(rec);
    }
    // One set: the folder per policy and the comparison appear together
    // (`monte-carlo/`, written next, is kept until it is replaced).
    let mut set = Vec::new();
    for rec in &runs {
        for o in run_outputs_with_html(rec, name) {
            set.push(Output::new(
                format!("{}/{}", rec.summary.policy, o.name),
                o.bytes,
            ));
        }
    }
    let summaries: Vec<_> = runs.iter().map(|r| &r.summary).collect();
    let title = format!("shakedown demo: {}", runs[0].summary.scenario);
    let md = reports::markdown::compare(&title, &summaries);
    let html = reports::html::compare_report(&title, &runs);
    set.push(Output::new("report.md", md));
    set.push(Output::new("report.html", html));
    update_out(out, &set)?;
    println!(
        "wrote {}/report.html (open it in a browser), report.md, and one folder per policy",
        out.display()
    );
    // The same policies on the same worlds over many seeds: distributions,
    // confidence intervals and paired differences.
    println!("Monte Carlo: the four policies on seeds {DEMO_SEEDS} (common random numbers)");
    crate::experiment::compare_scenarios(
        Path::new(name),
        text,
        groups,
        DEMO_SEEDS,
        &out.join("monte-carlo"),
    )
}

fn digest(bytes: &[u8]) -> u64 {
    // FNV-1a: enough to tell two outputs apart, and stable.
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

pub fn det_check(path: &Path, seed: Option<u64>) -> Result<ExitCode> {
    let sc = load(path)?;
    let seed = seed.unwrap_or(sc.seed);
    // As `run` writes them: measured against the same seed without the change.
    let once = || {
        let base = sim::world::baseline(&sc, seed);
        run_outputs(&sim::world::run_against(&sc, RunOptions::full(seed), &base))
    };
    let (a, b) = (once(), once());
    let mut same = true;
    for (x, y) in a.iter().zip(&b) {
        let (hx, hy) = (digest(&x.bytes), digest(&y.bytes));
        if hx == hy && x.bytes == y.bytes {
            println!("same  {:<15} {hx:016x}", x.name);
            continue;
        }
        same = false;
        let line = x
            .bytes
            .split(|b| *b == b'\n')
            .zip(y.bytes.split(|b| *b == b'\n'))
            .position(|(l, r)| l != r)
            .unwrap_or(0);
        println!(
            "DIFF  {:<15} {hx:016x} vs {hy:016x}, first at line {}",
            x.name,
            line + 1
        );
        if x.name == "timeseries.csv" && line > 0 {
            println!(
                "      first differing tick: t = {} s",
                (line - 1) as f64 * sc.tick.as_secs_f64()
            );
        }
    }
    if same {
        println!(
            "deterministic: {} seed {seed} gives identical bytes twice",
            path.display()
        );
        Ok(ExitCode::SUCCESS)
    } else {
        println!("NOT deterministic: {} seed {seed}", path.display());
        Ok(ExitCode::from(1))
    }
}

pub fn bench(path: Option<&Path>, runs: u32) -> Result<ExitCode> {
    let sc = match path {
        Some(p) => load(p)?,
        None => Scenario::parse(BENCH_SCENARIO.1, BENCH_SCENARIO.0)
            .map_err(|e| BadInput(e.to_string()))?,
    };
    let runs = runs.max(1);
    let ticks = sc.duration.as_millis() / sc.tick.as_millis();
    println!(
        "bench: `{}` — {} hosts, {} ticks of {}, {} timed runs (summary only, as Monte Carlo runs it)",
        sc.name,
        sc.host_count(),
        ticks,
        sc.tick,
        runs
    );
    let mut times = Vec::new();
    let mut events = 0;
    for i in 0..runs {
        let t0 = Instant::now();
        let rec = sim::run(&sc, RunOptions::summary_only(sc.seed));
        let dt = t0.elapsed().as_secs_f64();
        events = rec.summary.events_processed;
        println!("  run {}: {:.3} s ({} events)", i + 1, dt, events);
        times.push(dt);
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    println!(
        "median {:.3} s, min {:.3} s; {:.2} M events/s ({} hosts x {} ticks, simulated per role and cohort, not per host)",
        median,
        times[0],
        events as f64 / median / 1e6,
        sc.host_count(),
        ticks
    );
    let t0 = Instant::now();
    let full = sim::run(&sc, RunOptions::full(sc.seed));
    let bytes: usize = run_outputs(&full).iter().map(|o| o.bytes.len()).sum();
    println!(
        "with full recording and rendering of outputs: {:.3} s ({:.1} MB of output)",
        t0.elapsed().as_secs_f64(),
        bytes as f64 / 1e6
    );
    Ok(ExitCode::SUCCESS)
}
