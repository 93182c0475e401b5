//! `shakedown live` and `shakedown load`: glue between a scenario file, the
//! live driver (`shakedown_integration::driver`) and the writers.

use anyhow::{anyhow, Context, Result};
use shakedown_integration::docker::{cleanup_run_blocking, RunId, LABEL_MANAGED};
use shakedown_integration::driver::{run_live, LiveOptions, LiveRecord, Progress};
use shakedown_integration::live::{check_time_scale, LiveSpec, MAX_RPS};
use shakedown_integration::load::{run_load_until, LoadConfig, LoadError, PhaseTag, StopToken};
use shakedown_integration::reaper::{self, OwnerState, RunSurvey, Watchdog};
use shakedown_reports::{self as reports, Output};
use shakedown_sim::time::SimDuration;
use shakedown_sim::Scenario;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::input::{write_out, BadInput};

/// The hidden subcommand that runs the watchdog (see `reaper`).
pub const WATCHDOG_SUBCOMMAND: &str = "__watchdog";

/// `shakedown live`.
#[derive(clap::Args)]
pub struct LiveArgs {
    /// A scenario file with a `[live]` table (see docs/LIVE.md).
    pub scenario: PathBuf,
    /// Requests per second (default: `[live] rps`, else the scenario's traffic).
    #[arg(long)]
    pub rps: Option<f64>,
    /// Scenario seconds per wall second (default: `[live] time_scale`, else 1).
    #[arg(long)]
    pub time_scale: Option<f64>,
    /// Seed of the fault schedule (default: the scenario's `seed`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Output directory (created).
    #[arg(long, default_value = "out/live")]
    pub out: PathBuf,
    /// Label the run's containers and network with this id (default: a
    /// fresh one): `1-40` characters of `[a-z0-9_.-]`.
    #[arg(long, value_parser = parse_run_id)]
    pub run_id: Option<RunId>,
    /// Also simulate the scenario with the same seed, fault timeline and
    /// traffic, and write the two side by side (sim-vs-live.md/.json/.csv):
    /// per phase, whether the simulator's model explains the live run.
    #[arg(long)]
    pub compare_sim: bool,
}

fn parse_run_id(s: &str) -> Result<RunId, String> {
    RunId::parse(s).map_err(|e| e.to_string())
}

/// `shakedown gc`.
#[derive(clap::Args)]
pub struct GcArgs {
    /// Remove (default: only list what would be removed).
    #[arg(long)]
    pub force: bool,
    /// Also runs whose owner cannot be judged from here (no owner labels,
    /// another boot or pid namespace). Runs whose owner is alive are never
    /// removed.
    #[arg(long)]
    pub all: bool,
}

/// `shakedown load`.
#[derive(clap::Args)]
pub struct LoadArgs {
    /// `http://127.0.0.1:PORT/path` (loopback only).
    pub url: String,
    /// Requests per second (open model: sent on schedule, whatever the answers).
    #[arg(long)]
    pub rps: f64,
    /// How long to send, e.g. `30s`, `2m`.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: SimDuration,
    /// Keep-alive connections.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// A request without an answer this long after its intended send time
    /// is a timeout.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub timeout: SimDuration,
}

fn parse_duration(s: &str) -> Result<SimDuration, String> {
    SimDuration::parse(s)
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// The signals a run stops on (as SIGINT always did), by number and name.
const STOP_SIGNALS: [(i32, &str); 3] = [(2, "SIGINT"), (15, "SIGTERM"), (1, "SIGHUP")];

/// The first stop signal received, if any; shared with the handler task.
#[derive(Clone, Default)]
struct Signalled(Arc<AtomicI32>);

impl Signalled {
    /// Exit code `128 + signal` if a stop signal arrived.
    fn exit_code(&self) -> Option<ExitCode> {
        match self.0.load(Ordering::SeqCst) {
            0 => None,
            n => Some(ExitCode::from(128 + n as u8)),
        }
    }
}

/// Handles SIGINT, SIGTERM and SIGHUP alike: the first one stops `stop` (the
/// load stops, the containers roll down, what was measured is written); a
/// second one removes everything of the run and exits at once. Either way
/// the exit code is 128 + the first signal. Must be called inside the
/// runtime, before anything is started: from then on the signals no longer
/// kill the process.
fn on_stop_signals(stop: StopToken, run: Option<RunId>) -> Result<Signalled> {
    use tokio::signal::unix::{signal, SignalKind};
    let signalled = Signalled::default();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for (n, name) in STOP_SIGNALS {
        let mut s = signal(SignalKind::from_raw(n))
            .map_err(|e| anyhow!("installing a {name} handler: {e}"))?;
        let tx = tx.clone();
        tokio::spawn(async move {
            while s.recv().await.is_some() {
                if tx.send((n, name)).is_err() {
                    return;
                }
            }
        });
    }
    let first = signalled.clone();
    tokio::spawn(async move {
        let Some((n, name)) = rx.recv().await else {
            return;
        };
        first.0.store(n, Ordering::SeqCst);
        stop.stop();
        // Not eprintln!: after SIGHUP the terminal may be gone, and a failed
        // write must not keep the run from rolling down.
        let _ = writeln!(
            std::io::stderr(),
            "\n{name}: stopping the load, rolling the containers down, writing what was measured (Ctrl-C again to quit now)"
        );
        if let Some((_, again)) = rx.recv().await {
            if let Some(run) = run {
                let _ = writeln!(
                    std::io::stderr(),
                    "{again} again: removing the containers of run {run} and quitting"
                );
                let _ = tokio::task::spawn_blocking(move || cleanup_run_blocking(&run)).await;
            }
            std::process::exit(128 + n);
        }
    });
    Ok(signalled)
}

/// Starts the watchdog that removes the run's containers if this process
/// dies without doing it (`kill -9` included): this binary again, with the
/// hidden subcommand, in its own session.
fn start_watchdog(run: &RunId) -> Result<Watchdog> {
    let exe = std::env::current_exe().context("locating the shakedown binary")?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args([WATCHDOG_SUBCOMMAND, "--run", run.as_str()]);
    Watchdog::spawn(cmd)
}

/// The hidden watchdog subcommand (see `reaper::watch`).
pub fn watchdog(run: &str) -> Result<ExitCode> {
    let run = RunId::parse(run).map_err(|e| BadInput(format!("--run: {e:#}")))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match rt.block_on(reaper::watch(&run)) {
        Ok(Some(r)) if r.containers_removed + r.networks_removed > 0 => {
            let _ = writeln!(
                std::io::stderr(),
                "shakedown watchdog: the owner of run {run} exited without cleaning up; removed {} containers and {} networks",
                r.containers_removed,
                r.networks_removed
            );
        }
        Ok(_) => {}
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "shakedown watchdog: reaping run {run} failed: {e:#}; `shakedown gc --force` removes what is left"
            );
            return Ok(ExitCode::from(1));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn describe_state(r: &RunSurvey) -> String {
    let pid = r.owner.as_ref().map(|o| o.pid).unwrap_or_default();
    match &r.state {
        OwnerState::Alive => format!("owner pid {pid} is running"),
        OwnerState::Gone => format!("owner pid {pid} is gone"),
        OwnerState::Unknown(why) => format!("owner unknown: {why}"),
    }
}

/// `shakedown gc`: lists (or with `--force` removes) the containers and
/// networks of runs whose owner process is gone.
pub fn gc(a: &GcArgs) -> Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let runs = rt.block_on(reaper::survey())?;
    let (doomed, kept): (Vec<RunSurvey>, Vec<RunSurvey>) = runs
        .into_iter()
        .partition(|r| r.orphaned() || (a.all && matches!(r.state, OwnerState::Unknown(_))));
    let verb = if a.force { "removing" } else { "would remove" };
    println!(
        "gc: {} runs labelled {LABEL_MANAGED}=1",
        doomed.len() + kept.len()
    );
    for (r, what) in doomed
        .iter()
        .map(|r| (r, verb))
        .chain(kept.iter().map(|r| (r, "kept")))
    {
        println!(
            "  run {}: {} — {what}: {} containers ({}), {} networks ({})",
            r.run,
            describe_state(r),
            r.containers.len(),
            r.containers.join(", "),
            r.networks.len(),
            r.networks.join(", ")
        );
    }
    if kept
        .iter()
        .any(|r| matches!(r.state, OwnerState::Unknown(_)))
        && !a.all
    {
        println!("  (`--all` also removes runs whose owner is unknown)");
    }
    if !a.force {
        println!(
            "dry run: nothing removed; `shakedown gc --force{}` removes the {} runs marked \"would remove\"",
            if a.all { " --all" } else { "" },
            doomed.len()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let r = rt.block_on(reaper::remove_runs(&doomed))?;
    println!(
        "removed {} containers and {} networks of {} runs",
        r.containers_removed,
        r.networks_removed,
        doomed.len()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn live(a: &LiveArgs) -> Result<ExitCode> {
    let path = &a.scenario;
    let file = path.display().to_string();
    let text = crate::input::read_text(path, "scenario")?;
    let sc = Scenario::parse(&text, &file).map_err(|e| BadInput(e.to_string()))?;
    let spec = LiveSpec::from_scenario(&sc, &text, &file).map_err(|e| BadInput(e.to_string()))?;
    if let Some(r) = a.rps {
        if !(r > 0.0 && r <= MAX_RPS) {
            return Err(BadInput(format!("--rps must be in (0, {MAX_RPS}], got {r}")).into());
        }
    }
    if let Some(f) = a.time_scale {
        check_time_scale(f).map_err(|m| BadInput(format!("--time-scale {m}")))?;
    }
    let seed = a.seed.unwrap_or(sc.seed);
    let scale = a.time_scale.unwrap_or(spec.time_scale);
    let rps = match a.rps.or(spec.rps) {
        Some(r) => format!("{r} rps"),
        None => format!(
            "the scenario's traffic (peak {} rps)",
            sc.traffic.peak_rps()
        ),
    };
    let replicas: u64 = sc.host_count();
    println!(
        "live: `{}` — {} {} -> {} under `{}`, {replicas} replicas, {rps}, time scale {scale} (1 wall s = {scale} scenario s), seed {seed}",
        sc.name,
        sc.change.attribute,
        sc.change.from,
        sc.change.to,
        sc.policy.kind()
    );
    for (v, s) in &spec.versions {
        println!("  version {v}: {}", s.describe());
    }
    if spec.needs_fixture_image() {
        println!(
            "  building the fixture image (cached by content hash; the first build takes a minute)"
        );
    }

    let rt = runtime()?;
    let run_id = a.run_id.clone().unwrap_or_default();
    let stop = StopToken::new();
    let signalled = {
        let _rt = rt.enter();
        on_stop_signals(stop.clone(), Some(run_id.clone()))?
    };
    let watchdog = match start_watchdog(&run_id) {
        Ok(w) => Some(w),
        Err(e) => {
            eprintln!(
                "warning: no watchdog ({e:#}): if this process is killed, `shakedown gc --force` removes what it leaves"
            );
            None
        }
    };
    println!("  run {run_id}");
    let mut opts = LiveOptions::new(seed);
    opts.rps = a.rps;
    opts.time_scale = a.time_scale;
    opts.run_id = run_id.clone();
    opts.stop = stop.clone();
    let terminal = std::io::stderr().is_terminal();
    let mut first_tick = true;
    opts.progress = Some(Box::new(move |p: &Progress| {
        if first_tick {
            first_tick = false;
            // Marks the end of the setup for whoever watches the output.
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "  containers up, load running");
            let _ = out.flush();
        }
        if terminal {
            status_line(p);
        }
    }));
    let rec = rt.block_on(async {
        match reaper::reap_orphans().await {
            Ok((runs, r)) if !runs.is_empty() => println!(
                "  removed {} containers and {} networks of {} earlier runs whose process is gone ({})",
                r.containers_removed,
                r.networks_removed,
                runs.len(),
                runs.iter().map(|r| r.run.as_str()).collect::<Vec<_>>().join(", ")
            ),
            Ok(_) => {}
            // The run itself reports an unreachable engine.
            Err(e) => eprintln!("warning: looking for earlier runs to remove: {e:#}"),
        }
        run_live(&sc, &spec, opts).await
    });
    if terminal {
        eprintln!();
    }
    let rec = match rec {
        Ok(rec) => {
            // `run_live` removed the run's containers and checked.
            if let Some(w) = watchdog {
                w.done();
            }
            rec
        }
        Err(e) => {
            // A container start cancelled mid-way (a signal during the
            // bring-up) can land after the driver's cleanup: remove in
            // passes until the engine is quiet, unless it is unreachable.
            let engine_up = rt.block_on(shakedown_integration::docker::cleanup_run(&run_id));
            let reaped = match engine_up {
                Ok(_) => rt.block_on(reaper::reap_run(&run_id)).map(|_| ()),
                Err(_) => Ok(()),
            };
            match (reaped, watchdog) {
                (Ok(()), Some(w)) => w.done(),
                (Err(re), _) => {
                    eprintln!("warning: removing what run {run_id} started: {re:#}");
                }
                (Ok(()), None) => {}
            }
            if let Some(code) = signalled.exit_code() {
                eprintln!("stopped: {e:#}");
                return Ok(code);
            }
            return Err(e);
        }
    };
    rt.shutdown_timeout(Duration::from_secs(2));

    let mut set = outputs(&rec);
    let side = a
        .compare_sim
        .then(|| shakedown_integration::driver::compare_with_sim(&sc, &spec, a.rps, seed, &rec));
    if let Some(s) = &side {
        set.push(Output::new(
            "sim-vs-live.md",
            reports::sim_vs_live::markdown(s),
        ));
        set.push(Output::new(
            "sim-vs-live.json",
            reports::sim_vs_live::json(s),
        ));
        set.push(Output::new("sim-vs-live.csv", reports::sim_vs_live::csv(s)));
    }
    write_out(&a.out, &set)?;
    print_result(&rec);
    println!(
        "  wrote {}/{{summary.json,timeseries.csv,events.csv,requests.csv,latency.hdr,report.md,report.html{}}}",
        a.out.display(),
        if side.is_some() { ",sim-vs-live.md,sim-vs-live.json,sim-vs-live.csv" } else { "" }
    );
    if let Some(s) = &side {
        println!("  simulator vs live: {}", s.verdict);
    }
    println!(
        "  reproduce: shakedown live {} --seed {seed}{}{}",
        path.display(),
        a.rps.map(|r| format!(" --rps {r}")).unwrap_or_default(),
        a.time_scale
            .map(|f| format!(" --time-scale {f}"))
            .unwrap_or_default()
    );
    if a.compare_sim {
        println!("  (with --compare-sim for the comparison)");
    }
    if let Some(code) = signalled.exit_code() {
        return Ok(code);
    }
    Ok(if rec.live.verdict == "pass" {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn status_line(p: &Progress) {
    let line = format!(
        "  t={:>7.1}s  {:<24}  old {}/{} ready  new {}/{} ready  requests {}  failed {}",
        p.now.as_secs_f64(),
        truncate(&p.phase, 24),
        p.old.ready,
        p.old.total,
        p.new.ready,
        p.new.total,
        p.requests,
        p.failed
    );
    let mut e = std::io::stderr().lock();
    let _ = write!(e, "\r{line:<100}");
    let _ = e.flush();
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

/// Every file `live` writes, rendered in memory.
fn outputs(rec: &LiveRecord) -> Vec<Output> {
    vec![
        Output::new(
            "summary.json",
            reports::live::summary_json(&rec.record.summary, &rec.live),
        ),
        Output::new(
            "timeseries.csv",
            reports::csv::timeseries(&rec.record.ticks),
        ),
        Output::new("events.csv", reports::csv::events(&rec.record.events)),
        Output::new("requests.csv", reports::live::requests_csv(&rec.dropped)),
        Output::new("latency.hdr", reports::live::latency_hdr(&rec.latency)),
        Output::new("report.md", report_md(rec)),
        Output::new("report.html", reports::html::run_report(&rec.record)),
    ]
}

fn report_md(rec: &LiveRecord) -> String {
    let l = &rec.live;
    let mut md = reports::markdown::run(&rec.record.summary);
    let _ = writeln!(md, "\n## Live run\n");
    let _ = writeln!(
        md,
        "Real containers behind a draining router, open-model load at {} rps, time scale {} (1 wall second = {} scenario seconds), run `{}`{}.\n",
        l.rps,
        l.time_scale,
        l.time_scale,
        l.run_id,
        if l.interrupted { ", **interrupted**" } else { "" }
    );
    let _ = writeln!(md, "| | |\n|---|---:|");
    let o = &l.outcomes;
    for (k, v) in [
        (
            "requests sent",
            rec.record.summary.requests_total.to_string(),
        ),
        ("dropped (non-ok)", l.requests_dropped.to_string()),
        ("budget", l.dropped_budget.to_string()),
        ("verdict", l.verdict.to_string()),
        ("ok", o.ok.to_string()),
        ("http 5xx", o.http_5xx.to_string()),
        ("http other", o.http_other.to_string()),
        ("connect refused", o.connect_refused.to_string()),
        ("reset", o.reset.to_string()),
        ("timeout", o.timeout.to_string()),
        (
            "latency p50 / p99 / max",
            format!(
                "{:.2} / {:.2} / {:.2} ms",
                l.latency_ms.p50, l.latency_ms.p99, l.latency_ms.max
            ),
        ),
        ("drain", l.drain.to_string()),
        ("health gate", l.health_gate.to_string()),
        ("containers started", l.containers_started.to_string()),
    ] {
        let _ = writeln!(md, "| {k} | {v} |");
    }
    if !l.first_dropped.is_empty() {
        let _ = writeln!(md, "\nFirst dropped requests:\n");
        let _ = writeln!(
            md,
            "| time (s) | phase | backend | kind |\n|---:|---|---|---|"
        );
        for d in l.first_dropped.iter().take(5) {
            let _ = writeln!(
                md,
                "| {:.3} | {} | {} | {} |",
                d.time_s, d.phase, d.backend, d.kind
            );
        }
    }
    if !l.faults.is_empty() {
        let _ = writeln!(md, "\nFaults injected:\n");
        for f in &l.faults {
            let _ = writeln!(
                md,
                "- {:.1} s: {} {} — {}",
                f.time_s,
                f.action,
                f.backends.join(", "),
                f.result
            );
        }
    }
    md
}

fn print_result(rec: &LiveRecord) {
    let s = &rec.record.summary;
    let l = &rec.live;
    println!(
        "{}: {} under `{}` — {} after {:.1} s of scenario time ({:.1} s wall: {:.1} s setup, {:.1} s teardown)",
        s.scenario,
        s.change,
        s.policy,
        s.outcome,
        s.rollout_duration_s,
        l.wall_duration_s,
        l.setup_s,
        l.teardown_s
    );
    println!("  {}", s.outcome_reason);
    let o = &l.outcomes;
    println!(
        "  requests {} · ok {} · dropped {} (5xx {}, other {}, refused {}, reset {}, timeout {}) · latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        s.requests_total,
        o.ok,
        l.requests_dropped,
        o.http_5xx,
        o.http_other,
        o.connect_refused,
        o.reset,
        o.timeout,
        l.latency_ms.p50,
        l.latency_ms.p99,
        l.latency_ms.max
    );
    for line in reports::impact::sentences(s) {
        println!("  {line}");
    }
    for f in &l.faults {
        println!(
            "  fault at {:.1} s: {} {} — {}",
            f.time_s,
            f.action,
            f.backends.join(", "),
            f.result
        );
    }
    for e in &l.infra_errors {
        println!("  infrastructure: {e}");
    }
    if !l.leftovers.is_empty() {
        println!("  LEFT BEHIND (removed now): {}", l.leftovers.join(", "));
    }
    if l.interrupted {
        println!("INTERRUPTED: the verdict below covers only what ran");
    }
    if l.verdict == "pass" {
        println!(
            "PASS: {} dropped requests (budget {})",
            l.requests_dropped, l.dropped_budget
        );
    } else {
        println!(
            "FAIL: {} dropped requests, budget {}; the first:",
            l.requests_dropped, l.dropped_budget
        );
        for d in rec.dropped.iter().take(5) {
            println!(
                "  t={:.3}s  phase `{}`  backend {}  {}{}",
                d.time_s,
                d.phase,
                if d.backend.is_empty() {
                    "(none)"
                } else {
                    &d.backend
                },
                d.kind,
                d.status.map(|c| format!(" ({c})")).unwrap_or_default()
            );
        }
        println!("  every one is in requests.csv");
    }
}

pub fn load(a: &LoadArgs) -> Result<ExitCode> {
    if !(a.rps > 0.0 && a.rps <= MAX_RPS) {
        return Err(BadInput(format!("--rps must be in (0, {MAX_RPS}], got {}", a.rps)).into());
    }
    if a.duration.is_zero() || a.duration > SimDuration::from_hours(1) {
        return Err(BadInput(format!(
            "--duration must be between 1ms and 1h, got {}",
            a.duration
        ))
        .into());
    }
    if a.timeout.is_zero() {
        return Err(BadInput("--timeout must be positive".into()).into());
    }
    let mut cfg = LoadConfig::new(a.url.as_str(), a.rps);
    cfg.max_duration = Duration::from_millis(a.duration.as_millis());
    cfg.max_requests = (a.rps * cfg.max_duration.as_secs_f64()).ceil() as u64 + 1;
    cfg.connections = a.connections;
    cfg.timeout = Duration::from_millis(a.timeout.as_millis());
    let rt = runtime()?;
    let stop = StopToken::new();
    let signalled = {
        let _rt = rt.enter();
        on_stop_signals(stop.clone(), None)?
    };
    let r = rt.block_on(run_load_until(cfg, PhaseTag::new("load"), stop));
    let r = match r {
        Ok(r) => r,
        Err(
            e
            @ (LoadError::InvalidUrl(_) | LoadError::NonLoopback(_) | LoadError::InvalidConfig(_)),
        ) => return Err(BadInput(e.to_string()).into()),
        Err(e) => return Err(anyhow!("{e}")),
    };
    rt.shutdown_timeout(Duration::from_secs(1));
    let o = &r.outcomes;
    let l = r.latency();
    let ms = |us: u64| us as f64 / 1000.0;
    println!(
        "load: {} requests in {:.2} s ({:.1} rps offered, {:.1} answered per s){}",
        r.sent,
        r.duration.as_secs_f64(),
        r.offered_rps,
        r.achieved_rps,
        if r.stopped_early {
            ", stopped early"
        } else {
            ""
        }
    );
    println!(
        "  ok {} · 5xx {} · other {} · refused {} · reset {} · timeout {}",
        o.ok, o.http_5xx, o.http_other, o.connect_refused, o.reset, o.timeout
    );
    println!(
        "  latency from intended send time: p50 {:.3} ms · p90 {:.3} · p99 {:.3} · p99.9 {:.3} · max {:.3} ({} connections opened)",
        ms(l.p50_us),
        ms(l.p90_us),
        ms(l.p99_us),
        ms(l.p999_us),
        ms(l.max_us),
        r.connections_opened
    );
    if let Some(code) = signalled.exit_code() {
        return Ok(code);
    }
    Ok(if o.non_ok() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
