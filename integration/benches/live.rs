//! Live-mode benchmarks (issue 6, Performance): the measuring half.
//! `scripts/bench-live.sh` is the driver: it builds and starts the fixture
//! server, runs `wrk` and this binary alternately and prints the table that
//! `docs/BENCHMARKS.md` records.
//!
//! ```text
//! cargo bench -p shakedown-integration --bench live -- closed URL [--connections N] [--duration 10s] [--runtime current|multi1|multi2]
//! cargo bench -p shakedown-integration --bench live -- open URL [--rps 5000] [--duration 20s] [--connections 64] [--via-router] [--runtime multi2|current]
//! ```
//!
//! * `closed`: the load generator in closed-loop mode ([`RateSchedule::ClosedLoop`],
//!   wrk-style: every connection sends back to back), by default on a
//!   current-thread tokio runtime, so it is one thread against `wrk -t1 -cN`.
//!   Prints the responses per second.
//! * `open`: the open model at a fixed rate; latency from each request's
//!   intended send time (coordinated-omission corrected). With
//!   `--via-router` the URL's host:port becomes the single backend of a
//!   router started in this process (default config: health gate, drain) and
//!   the load goes through the router, on the same runtime, as in
//!   `shakedown live` (a multi-thread runtime with 2 workers by default).
//!   Also prints the generator's own lateness (`lag_*`: from each request's
//!   intended send time to its hand-over to a connection) and `dispatched`
//!   requests over the schedule's `window_s` (and the fewest and most in a
//!   whole second of it), for rate accuracy.
//!
//! Each prints one line `RESULT key=value ...` for the driver to parse.
//! Loopback only (the generator and the router refuse anything else); every
//! run is bounded in time (`--duration`) and count (`--max-requests`).
//! Without a subcommand (`cargo bench --workspace`) it prints this usage and
//! exits 0: the measurements need the fixture server the script starts.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use shakedown_integration::load::{
    run_load, LatencySummary, LoadConfig, LoadReport, PhaseTag, RateSchedule,
};
use shakedown_integration::router::{self, RouterConfig};

const USAGE: &str = "\
live bench (driver: scripts/bench-live.sh)
  closed URL [--connections N=64] [--duration 10s] [--max-requests N=20000000] [--runtime current|multi1|multi2]
  open URL [--rps 5000] [--duration 20s] [--connections 64] [--max-requests N=10000000] [--via-router] [--runtime multi2|multi1|current]
URL: http://127.0.0.1:PORT/ (loopback only)";

#[derive(Debug)]
struct Args {
    mode: String,
    url: String,
    connections: usize,
    duration: Duration,
    max_requests: Option<u64>,
    rps: f64,
    via_router: bool,
    runtime: Option<String>,
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    let (num, unit) = match s.strip_suffix("ms") {
        Some(n) => (n, 1e-3),
        None => match s.strip_suffix('s') {
            Some(n) => (n, 1.0),
            None => (s, 1.0),
        },
    };
    let v: f64 = num.parse().map_err(|e| format!("duration {s:?}: {e}"))?;
    if !(v > 0.0 && v * unit <= 600.0) {
        return Err(format!("duration {s:?} must be in (0, 600 s]"));
    }
    Ok(Duration::from_secs_f64(v * unit))
}

fn parse_args(raw: Vec<String>) -> Result<Option<Args>, String> {
    // `cargo bench` appends `--bench`; libtest-style filters are not used.
    let mut it = raw.into_iter().filter(|a| a != "--bench");
    let Some(mode) = it.next() else {
        return Ok(None);
    };
    if mode != "closed" && mode != "open" {
        return Err(format!("unknown mode {mode:?}"));
    }
    let url = it.next().ok_or("missing URL")?;
    let mut a = Args {
        connections: 64,
        duration: Duration::from_secs(if mode == "closed" { 10 } else { 20 }),
        max_requests: None,
        rps: 5000.0,
        via_router: false,
        runtime: None,
        mode,
        url,
    };
    while let Some(flag) = it.next() {
        if flag == "--via-router" {
            a.via_router = true;
            continue;
        }
        let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--connections" => a.connections = v.parse().map_err(|e| format!("{flag}: {e}"))?,
            "--duration" => a.duration = parse_secs(&v)?,
            "--max-requests" => {
                a.max_requests = Some(v.parse().map_err(|e| format!("{flag}: {e}"))?)
            }
            "--rps" => a.rps = v.parse().map_err(|e| format!("{flag}: {e}"))?,
            "--runtime" => a.runtime = Some(v),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if a.mode == "closed" && a.via_router {
        return Err("--via-router is for `open`".into());
    }
    Ok(Some(a))
}

fn runtime(kind: &str) -> Result<tokio::runtime::Runtime, String> {
    let b = match kind {
        "current" => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        "multi1" => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build(),
        "multi2" => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build(),
        other => return Err(format!("unknown runtime {other:?}")),
    };
    b.map_err(|e| format!("runtime: {e}"))
}

fn latency_fields(prefix: &str, l: &LatencySummary) -> String {
    format!(
        "{prefix}p50_us={} {prefix}p90_us={} {prefix}p99_us={} {prefix}p999_us={} {prefix}max_us={} {prefix}mean_us={:.1}",
        l.p50_us, l.p90_us, l.p99_us, l.p999_us, l.max_us, l.mean_us
    )
}

fn common_fields(r: &LoadReport) -> String {
    let o = &r.outcomes;
    format!(
        "sent={} ok={} non_ok={} duration_s={:.3} achieved_rps={:.1} offered_rps={:.1} connections_opened={}",
        r.sent,
        o.ok,
        o.non_ok(),
        r.duration.as_secs_f64(),
        r.achieved_rps,
        r.offered_rps,
        r.connections_opened
    )
}

async fn closed(a: &Args) -> Result<String, String> {
    let mut cfg = LoadConfig::new(a.url.clone(), 1.0);
    cfg.rate = RateSchedule::ClosedLoop;
    cfg.connections = a.connections;
    cfg.max_duration = a.duration;
    cfg.max_requests = a.max_requests.unwrap_or(20_000_000);
    cfg.preconnect = true; // wrk connects before its clock starts, too
    cfg.timeout = Duration::from_secs(2);
    let cpu0 = cpu_time();
    let r = run_load(cfg, PhaseTag::new("bench"))
        .await
        .map_err(|e| e.to_string())?;
    let cpu = cpu_time().zip(cpu0).map(|(b, a)| b - a);
    let responses = r.outcomes.ok + r.outcomes.http_5xx + r.outcomes.http_other;
    Ok(format!(
        "RESULT mode=closed connections={} rps={:.1} responses={responses} {} cpu_s={} {}",
        a.connections,
        r.achieved_rps,
        common_fields(&r),
        cpu.map_or("na".to_string(), |c| format!("{c:.3}")),
        latency_fields("service_", &r.service_latency()),
    ))
}

async fn open(a: &Args) -> Result<String, String> {
    let mut target = a.url.clone();
    let mut router = None;
    if a.via_router {
        let uri: hyper::Uri = a.url.parse().map_err(|e| format!("{}: {e}", a.url))?;
        let auth = uri.authority().ok_or("URL without host:port")?;
        let addr: SocketAddr = auth
            .as_str()
            .parse()
            .map_err(|e| format!("backend {auth} must be IP:PORT: {e}"))?;
        let r = router::start(RouterConfig::default())
            .await
            .map_err(|e| e.to_string())?;
        r.add_backend("stable", "bench", addr)
            .await
            .map_err(|e| e.to_string())?;
        r.set_weights(&[("stable", 1)]).map_err(|e| e.to_string())?;
        target = r.url(uri.path_and_query().map_or("/", |p| p.as_str()));
        router = Some(r);
    }
    let mut cfg = LoadConfig::new(target, a.rps);
    cfg.connections = a.connections;
    cfg.max_duration = a.duration;
    cfg.max_requests = a.max_requests.unwrap_or(10_000_000);
    cfg.preconnect = true;
    cfg.timeout = Duration::from_secs(2);
    let r = run_load(cfg, PhaseTag::new("bench"))
        .await
        .map_err(|e| e.to_string())?;
    let routed = router.as_ref().map_or(String::new(), |h| {
        let s = h.stats();
        format!(
            " router_requests={} router_no_backend={}",
            s.requests, s.no_backend
        )
    });
    if let Some(h) = router {
        h.shutdown();
    }
    // Rate accuracy: requests handed to a connection per second of the
    // schedule's window (the intended rate is `offered_rps`).
    let dispatched: u64 = r.timeline.iter().map(|b| b.dispatched).sum();
    let window = if r.offered_rps > 0.0 {
        r.sent as f64 / r.offered_rps
    } else {
        0.0
    };
    // Per whole second of the window: the fewest and most dispatched.
    let whole = r
        .timeline
        .iter()
        .take(window as usize)
        .map(|b| b.dispatched);
    let (sec_min, sec_max) = (whole.clone().min(), whole.max());
    let sec = |v: Option<u64>| v.map_or("na".to_string(), |v| v.to_string());
    Ok(format!(
        "RESULT mode=open target={} rps={} connections={} {} dispatched={dispatched} window_s={window:.3} dispatched_sec_min={} dispatched_sec_max={} {} {} {}{routed}",
        if a.via_router { "router" } else { "direct" },
        a.rps,
        a.connections,
        common_fields(&r),
        sec(sec_min),
        sec(sec_max),
        latency_fields("", &r.latency()),
        latency_fields("service_", &r.service_latency()),
        latency_fields("lag_", &r.send_lag()),
    ))
}

/// User + system CPU seconds of this process (Linux `/proc/self/stat`).
fn cpu_time() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the command: state is field 3, utime 14, stime 15 (1-based).
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    // USER_HZ is 100 on every Linux this runs on.
    Some((utime + stime) / 100.0)
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1).collect()) {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("live bench: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let default_rt = if args.mode == "closed" {
        "current"
    } else {
        "multi2"
    };
    let kind = args.runtime.clone().unwrap_or_else(|| default_rt.into());
    let rt = match runtime(&kind) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("live bench: {e}");
            return ExitCode::from(2);
        }
    };
    let t0 = Instant::now();
    let out = rt.block_on(async {
        if args.mode == "closed" {
            closed(&args).await
        } else {
            open(&args).await
        }
    });
    match out {
        Ok(line) => {
            println!(
                "{line} runtime={kind} wall_s={:.3}",
                t0.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("live bench: {e}");
            ExitCode::FAILURE
        }
    }
}
