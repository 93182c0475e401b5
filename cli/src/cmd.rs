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

/// The policies the demo compares on that scenario: the files in
/// `scenarios/policies/` (compiled in, so `demo` works from any directory),
/// which its "reproduce" lines name.
const DEMO_POLICIES: [(&str, &str); 4] = [
    // Kubernetes rolling update per role, 5 % at a time (the scenario's own).
    (
        "scenarios/policies/demo-rolling.toml",
        include_str!("../../scenarios/policies/demo-rolling.toml"),
    ),
    // Big-bang: how infrastructure changes were pushed before Tsunami.
    (
        "scenarios/policies/demo-all-at-once.toml",
        include_str!("../../scenarios/policies/demo-all-at-once.toml"),
    ),
    // Tsunami: a linear ramp over 24 h per role, at least one host, SLO halt.
    (
        "scenarios/policies/demo-linear.toml",
        include_str!("../../scenarios/policies/demo-linear.toml"),
    ),
    // AWS: one-box, then zone by zone with bake times and an alarm.
    (
        "scenarios/policies/demo-waves.toml",
        include_str!("../../scenarios/policies/demo-waves.toml"),
    ),
];

/// Seeds of the demo's Monte Carlo comparison.
const DEMO_SEEDS: &str = "1..20";

/// The demo scenario with a policy file's `[policy]` table in place of its
/// own (both tables are last in their files, as `compare --policy` puts it).
fn demo_variant(text: &str, policy_file: &str) -> String {
    let (head, _) = text
        .rsplit_once("\n[policy]\n")
        .expect("the demo scenario ends with its [policy] table");
    let (_, table) = policy_file
        .split_once("[policy]\n")
        .expect("a demo policy file has a [policy] table");
    format!("{head}\n[policy]\n{table}")
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

/// Every data file a single run writes, rendered in memory (what
/// `det-check` compares; `run` adds `report.html`).
pub fn run_outputs(rec: &RunRecord) -> Vec<Output> {
    let mut out = reports::run_outputs(rec, "", None);
    out.retain(|o| o.name != "report.html");
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
        reports::html::group(s.requests_total),
        reports::html::group(s.requests_failed),
        100.0 * (1.0 - s.success_rate),
        s.peak_hosts_unavailable_pct,
        s.hosts_on_new_pct
    );
    println!(
        "  {} ({})",
        reports::impact::slo_headline(s),
        reports::impact::slo_detail(s)
    );
    for line in reports::impact::sentences(s) {
        println!("  {line}");
    }
    for f in s.fault_hits.iter().filter(|f| f.kind != "registry-outage") {
        println!(
            "  {} {}: hit {} hosts",
            f.fault,
            f.kind,
            reports::html::group(f.hosts)
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
    let again = format!(
        "shakedown run {}{again} --seed {seed} --out DIR",
        path.display()
    );
    let clock = reports::plots::Clock::of(&sc.traffic);
    write_out(out, &reports::run_outputs(&rec, &again, clock.as_ref()))?;
    print_summary(&rec);
    println!(
        "  wrote {}/{{summary.json,timeseries.csv,events.csv,report.md,report.html}}",
        escape_controls(&out.display().to_string())
    );
    println!("  reproduce: {}", escape_controls(&again));
    Ok(ExitCode::SUCCESS)
}

pub fn demo(out: &Path) -> Result<ExitCode> {
    let (name, text) = DEMO_SCENARIO;
    let mut runs = Vec::new();
    let mut groups = Vec::new();
    for (file, policy) in DEMO_POLICIES {
        let sc = Scenario::parse(&demo_variant(text, policy), name)
            .map_err(|e| BadInput(e.to_string()))?;
        let base = sim::world::baseline(&sc, sc.seed);
        let rec = sim::world::run_against(&sc, RunOptions::full(sc.seed), &base);
        print_summary(&rec);
        let again = format!(
            "shakedown run {name} --policy {file} --seed {} --out DIR",
            sc.seed
        );
        println!("  reproduce: {again}");
        let clock = reports::plots::Clock::of(&sc.traffic);
        groups.push((file.to_string(), sc));
        runs.push((rec, again, clock));
    }
    // One set: the folder per policy and the comparison appear together
    // (`monte-carlo/`, written next, is kept until it is replaced).
    let mut set = Vec::new();
    for (rec, again, clock) in &runs {
        for o in reports::run_outputs(rec, again, clock.as_ref()) {
            set.push(Output::new(
                format!("{}/{}", rec.summary.policy, o.name),
                o.bytes,
            ));
        }
    }
    let runs: Vec<_> = runs.into_iter().map(|r| r.0).collect();
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
    // confidence intervals and paired differences; what `compare` with the
    // same policy files writes.
    println!("Monte Carlo: the four policies on seeds {DEMO_SEEDS} (common random numbers)");
    crate::experiment::compare_scenarios(
        Path::new(name),
        text,
        groups,
        DEMO_SEEDS,
        &out.join("monte-carlo"),
    )
}

pub(crate) fn digest(bytes: &[u8]) -> u64 {
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

/// The process's peak resident memory in bytes (`VmHWM`, Linux); `None`
/// elsewhere.
fn peak_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
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
    // A run is one thread: its wall time is its CPU time, give or take
    // what the machine's load takes from it.
    let host_hours = sc.host_count() as f64 * sc.duration.as_secs_f64() / 3600.0;
    println!(
        "{:.1} M simulated host-hours per core-second ({:.0} M host-hours in {median:.3} s on one thread){}",
        host_hours / median / 1e6,
        host_hours / 1e6,
        peak_memory().map_or(String::new(), |m| format!(
            "; peak resident memory so far {:.0} MB",
            m as f64 / 1e6
        ))
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
