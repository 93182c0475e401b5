//! Open-model HTTP load generator that accounts for every request.
//!
//! # Model
//!
//! The generator follows the *open* (arrival-rate) model used by wrk2, goose's
//! "coordinated omission" mode and oha's `--latency-correction`: the caller
//! gives an arrival-rate schedule ([`RateSchedule`]) and request `n` has a fixed
//! *intended send time* derived from that schedule alone. Responses never pace
//! the sender: a slow backend does not lower the offered rate, it only makes
//! requests queue up (waiting for a free connection) and therefore *late*.
//!
//! # Coordinated-omission correction
//!
//! Latency is measured from the **intended** send time, not from the moment the
//! request was actually written to a socket. A request that had to wait 300 ms
//! for a free connection and then took 10 ms to answer has a latency of 310 ms,
//! which is what a real user arriving at the intended time would have seen.
//! The uncorrected service time (from actual send) is kept in a second
//! histogram ([`LoadReport::service_histogram`]) so the two can be compared.
//!
//! # Connections and scheduling
//!
//! There is a bounded pool of `connections` HTTP/1.1 keep-alive connections.
//! Each connection is owned by one worker task; an idle worker *pulls* the next
//! slot (id, intended time) from a shared schedule, sleeps until the intended
//! time if it is in the future, and sends. If every connection is busy the
//! slot simply waits until a worker frees up: it becomes late, and the lateness
//! is part of its latency. A slot whose deadline (`intended + timeout`) has
//! passed before any connection was free is accounted as [`Outcome::Timeout`]
//! without being sent. This pull design needs no queue, no per-request task and
//! no per-request channel, so its memory does not grow with the backlog.
//!
//! # Timing precision
//!
//! Workers sleep until their slot on a dedicated timer thread with ~50 µs
//! precision ([`LoadConfig::precise_timer`]); tokio's 1 ms timer wheel would
//! add up to 1 ms of the generator's own rounding to every corrected latency.
//! Connections are opened lazily, so connect time is part of the first
//! requests' latency unless [`LoadConfig::preconnect`] is set.
//! [`RateSchedule::ClosedLoop`] turns the open model off (wrk-style, for
//! capacity benchmarks).
//!
//! # Accounting
//!
//! Every slot gets a sequential id (`0..sent`) and exactly one [`Outcome`];
//! `sent == outcomes.total()` always holds, including early stops: on
//! [`StopToken::stop`] the schedule is cut as soon as the stop is observed
//! (a watcher task does so at once), slots already
//! due are still sent and every in-flight request runs to completion or to its
//! timeout. Full [`RequestRecord`]s are kept only for non-ok requests (and for
//! all requests if [`LoadConfig::record_all`] is set); everything else is kept
//! as counters, per-second [`TimeBucket`]s and histograms, so hundreds of rps
//! for minutes stay cheap.
//!
//! # Safety
//!
//! Only loopback targets (`127.0.0.0/8`, `[::1]`, `localhost` resolving to
//! loopback) are accepted; anything else is refused with
//! [`LoadError::NonLoopback`]. Runs are bounded by both
//! [`LoadConfig::max_duration`] and [`LoadConfig::max_requests`].

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::header::{HeaderValue, HOST};
use hyper::{HeaderMap, Method, Request, Uri};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Response header carrying the id of the backend that served a request.
pub const BACKEND_HEADER: &str = "x-backend";

// ---------------------------------------------------------------------------
// Stop token
// ---------------------------------------------------------------------------

/// A cloneable, level-triggered stop signal (a minimal cancellation token).
///
/// Once [`stop`](Self::stop) has been called every current and future
/// [`stopped`](Self::stopped) future completes.
#[derive(Clone, Default)]
pub struct StopToken {
    inner: Arc<StopInner>,
}

#[derive(Default)]
struct StopInner {
    stopped: AtomicBool,
    notify: Notify,
}

impl StopToken {
    /// A token that has not been stopped.
    pub fn new() -> Self {
        Self::default()
    }

    /// Signal stop (idempotent).
    pub fn stop(&self) {
        self.inner.stopped.store(true, Ordering::SeqCst);
        self.inner.notify.notify_waiters();
    }

    /// Whether [`stop`](Self::stop) has been called.
    pub fn is_stopped(&self) -> bool {
        self.inner.stopped.load(Ordering::SeqCst)
    }

    /// Completes once the token is stopped.
    pub async fn stopped(&self) {
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_stopped() {
                return;
            }
            notified.await;
        }
    }
}

impl fmt::Debug for StopToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StopToken")
            .field("stopped", &self.is_stopped())
            .finish()
    }
}

// ---------------------------------------------------------------------------
// Phase tags
// ---------------------------------------------------------------------------

/// The rollout phase currently active, updated by the rollout driver.
///
/// Every change is timestamped, so the generator records for each request the
/// tag that was active at the request's *intended* send time, even when the
/// request is sent late.
pub struct PhaseTag {
    initial: Arc<str>,
    version: AtomicU64,
    changes: RwLock<Vec<(Instant, Arc<str>)>>,
}

/// Shared handle to a [`PhaseTag`].
pub type PhaseHandle = Arc<PhaseTag>;

impl PhaseTag {
    /// A new phase tag starting with `initial`.
    pub fn new(initial: impl Into<String>) -> PhaseHandle {
        Arc::new(PhaseTag {
            initial: Arc::from(initial.into()),
            version: AtomicU64::new(0),
            changes: RwLock::new(Vec::new()),
        })
    }

    /// Switch to `tag` from now on.
    pub fn set(&self, tag: impl Into<String>) {
        let tag: Arc<str> = Arc::from(tag.into());
        let mut changes = self.changes.write().unwrap_or_else(|e| e.into_inner());
        changes.push((Instant::now(), tag));
        self.version.fetch_add(1, Ordering::Release);
    }

    /// The tag active now.
    pub fn current(&self) -> String {
        self.at(Instant::now()).to_string()
    }

    /// The tag that was active at `instant`.
    pub fn at(&self, instant: Instant) -> Arc<str> {
        let changes = self.changes.read().unwrap_or_else(|e| e.into_inner());
        Self::lookup(&self.initial, &changes, instant)
    }

    fn lookup(initial: &Arc<str>, changes: &[(Instant, Arc<str>)], instant: Instant) -> Arc<str> {
        let idx = changes.partition_point(|(t, _)| *t <= instant);
        if idx == 0 {
            initial.clone()
        } else {
            changes[idx - 1].1.clone()
        }
    }
}

impl fmt::Debug for PhaseTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PhaseTag")
            .field("current", &self.current())
            .finish()
    }
}

/// Per-worker cache so the common case (no phase change since the last
/// lookup) is a single atomic load.
struct PhaseCache {
    handle: PhaseHandle,
    version: u64,
    valid_from: Option<Instant>,
    current: Arc<str>,
}

impl PhaseCache {
    fn new(handle: PhaseHandle) -> Self {
        let current = handle.initial.clone();
        PhaseCache {
            handle,
            version: u64::MAX,
            valid_from: None,
            current,
        }
    }

    fn at(&mut self, instant: Instant) -> Arc<str> {
        let v = self.handle.version.load(Ordering::Acquire);
        if v == self.version && self.valid_from.is_none_or(|from| instant >= from) {
            return self.current.clone();
        }
        let changes = self
            .handle
            .changes
            .read()
            .unwrap_or_else(|e| e.into_inner());
        let tag = PhaseTag::lookup(&self.handle.initial, &changes, instant);
        let last_change = changes.last().map(|(t, _)| *t);
        if last_change.is_none_or(|t| instant >= t) {
            self.version = v;
            self.valid_from = last_change;
            self.current = tag.clone();
        }
        tag
    }
}

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

/// One step of a piecewise-constant schedule: from `at` on, send `rps`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RateStep {
    /// Offset from the start of the run.
    pub at: Duration,
    /// Requests per second from `at` until the next step.
    pub rps: f64,
}

/// Arrival-rate schedule.
#[derive(Clone)]
pub enum RateSchedule {
    /// A constant rate (requests per second); request `n` is due at `n / rps`.
    Constant(f64),
    /// Piecewise-constant rate; the rate before the first step is 0. Steps
    /// must be sorted by `at`. Intended times are exact (the cumulative
    /// request count is inverted per segment).
    Steps(Vec<RateStep>),
    /// An arbitrary rate function of the offset from the start; integrated
    /// numerically in 1 ms steps.
    Function(Arc<dyn Fn(Duration) -> f64 + Send + Sync>),
    /// **Not an open model**: every connection sends back-to-back as fast as
    /// the target answers (like `wrk`). The intended time of a request is the
    /// moment a connection became free for it, so latencies are *not*
    /// corrected for coordinated omission. Meant for capacity benchmarks.
    ClosedLoop,
}

impl RateSchedule {
    /// A linear ramp from `from_rps` to `to_rps` over `over`, then constant.
    pub fn ramp(from_rps: f64, to_rps: f64, over: Duration) -> Self {
        let secs = over.as_secs_f64().max(1e-9);
        RateSchedule::Function(Arc::new(move |t: Duration| {
            let x = (t.as_secs_f64() / secs).min(1.0);
            from_rps + (to_rps - from_rps) * x
        }))
    }
}

impl fmt::Debug for RateSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RateSchedule::Constant(r) => f.debug_tuple("Constant").field(r).finish(),
            RateSchedule::Steps(s) => f.debug_tuple("Steps").field(s).finish(),
            RateSchedule::Function(_) => f.write_str("Function(..)"),
            RateSchedule::ClosedLoop => f.write_str("ClosedLoop"),
        }
    }
}

/// Load-generator configuration. Build with [`LoadConfig::new`] and adjust
/// fields.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// `http://HOST:PORT/path?query`; HOST must be loopback.
    pub url: String,
    /// Request method (default GET).
    pub method: Method,
    /// Extra request headers (`Host` is set from the URL).
    pub headers: HeaderMap,
    /// Request body (default empty).
    pub body: Bytes,
    /// Arrival-rate schedule.
    pub rate: RateSchedule,
    /// No request is scheduled at or after this offset (default 10 s).
    pub max_duration: Duration,
    /// At most this many requests are scheduled (default 1 000 000).
    pub max_requests: u64,
    /// Per-request timeout measured from the intended send time (default 2 s).
    pub timeout: Duration,
    /// Size of the keep-alive connection pool (default 64).
    pub connections: usize,
    /// Open all connections before the clock starts (default false).
    pub preconnect: bool,
    /// Wake for scheduled sends with a dedicated timer thread (~50 µs
    /// precision) instead of tokio's 1 ms timer wheel (default true). The
    /// precise timer costs about one extra thread wake-up per request; with
    /// the coarse one, latencies include up to 1 ms of the generator's own
    /// rounding.
    pub precise_timer: bool,
    /// Keep a [`RequestRecord`] for every request in [`LoadReport::records`]
    /// (default false: only non-ok requests are kept).
    pub record_all: bool,
    /// Cap on kept non-ok records; counts stay exact beyond it (default 100 000).
    pub max_non_ok_records: usize,
    /// Also count requests and non-ok outcomes per interval of this length,
    /// by intended send time ([`LoadReport::intervals`]; default none). Live
    /// mode sets one simulated tick, so its rows sum to the totals.
    pub interval: Option<Duration>,
}

impl LoadConfig {
    /// Constant `rps` against `url` with defaults for everything else.
    pub fn new(url: impl Into<String>, rps: f64) -> Self {
        LoadConfig {
            url: url.into(),
            method: Method::GET,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            rate: RateSchedule::Constant(rps),
            max_duration: Duration::from_secs(10),
            max_requests: 1_000_000,
            timeout: Duration::from_secs(2),
            connections: 64,
            preconnect: false,
            precise_timer: true,
            record_all: false,
            max_non_ok_records: 100_000,
            interval: None,
        }
    }
}

/// Errors refusing a run before it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// The URL could not be parsed or uses an unsupported scheme.
    InvalidUrl(String),
    /// The target is not a loopback address.
    NonLoopback(String),
    /// The host name could not be resolved.
    Resolve(String),
    /// A configuration value is out of range.
    InvalidConfig(String),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::InvalidUrl(m) => write!(f, "invalid url: {m}"),
            LoadError::NonLoopback(m) => write!(f, "refusing non-loopback target: {m}"),
            LoadError::Resolve(m) => write!(f, "cannot resolve target: {m}"),
            LoadError::InvalidConfig(m) => write!(f, "invalid load config: {m}"),
        }
    }
}

impl std::error::Error for LoadError {}

/// Whether `ip` is a loopback address (IPv4-mapped loopback included).
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

struct Target {
    addr: SocketAddr,
    host_header: HeaderValue,
    path: Uri,
}

async fn resolve_target(url: &str) -> Result<Target, LoadError> {
    let uri: Uri = url
        .parse()
        .map_err(|e| LoadError::InvalidUrl(format!("{url}: {e}")))?;
    match uri.scheme_str() {
        Some("http") => {}
        other => {
            return Err(LoadError::InvalidUrl(format!(
                "{url}: scheme {other:?} unsupported (only http)"
            )))
        }
    }
    let authority = uri
        .authority()
        .ok_or_else(|| LoadError::InvalidUrl(format!("{url}: missing host")))?;
    let host = authority.host();
    let port = authority.port_u16().unwrap_or(80);
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addr = if let Ok(ip) = bare.parse::<IpAddr>() {
        if !is_loopback(ip) {
            return Err(LoadError::NonLoopback(url.to_string()));
        }
        SocketAddr::new(ip, port)
    } else if bare.eq_ignore_ascii_case("localhost") {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((bare, port))
            .await
            .map_err(|e| LoadError::Resolve(format!("{bare}: {e}")))?
            .collect();
        if addrs.iter().any(|a| !is_loopback(a.ip())) {
            return Err(LoadError::NonLoopback(format!(
                "{url}: localhost resolves to {addrs:?}"
            )));
        }
        *addrs
            .iter()
            .find(|a| a.is_ipv4())
            .or(addrs.first())
            .ok_or_else(|| LoadError::Resolve(format!("{bare}: no addresses")))?
    } else {
        return Err(LoadError::NonLoopback(url.to_string()));
    };
    let host_header = HeaderValue::from_str(authority.as_str())
        .map_err(|e| LoadError::InvalidUrl(format!("{url}: {e}")))?;
    let path: Uri = match uri.path_and_query() {
        Some(pq) => pq
            .as_str()
            .parse()
            .map_err(|e| LoadError::InvalidUrl(format!("{url}: {e}")))?,
        None => Uri::from_static("/"),
    };
    Ok(Target {
        addr,
        host_header,
        path,
    })
}

// ---------------------------------------------------------------------------
// Outcomes and records
// ---------------------------------------------------------------------------

pub use shakedown_sim::record::{OutcomeCounts, RequestOutcome as Outcome};

/// Everything known about one request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequestRecord {
    /// Sequential id, `0..sent`.
    pub id: u64,
    /// Intended send time, offset from the start of the run.
    pub intended: Duration,
    /// When the request was handed to a connection (None if it never was).
    pub actual_send: Option<Duration>,
    /// From intended send time to the outcome.
    pub latency: Duration,
    pub outcome: Outcome,
    /// HTTP status if a response head arrived.
    pub status: Option<u16>,
    /// `x-backend` response header, if present.
    pub backend: Option<String>,
    /// Phase tag active at the intended send time.
    pub phase: String,
}

/// Aggregates for one second of the run (by intended send time, except
/// `dispatched`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TimeBucket {
    /// Second index from the start of the run.
    pub second: u64,
    /// Requests whose intended send time falls in this second.
    pub sent: u64,
    /// Requests actually handed to a connection during this second.
    pub dispatched: u64,
    /// Outcomes of the requests counted in `sent`.
    pub outcomes: OutcomeCounts,
    /// Max latency (µs) of the timed requests of this second.
    pub max_latency_us: u64,
    /// Sum of latencies (µs) of the timed requests of this second.
    pub sum_latency_us: u64,
    /// Number of requests in `sum_latency_us`.
    pub timed: u64,
}

impl TimeBucket {
    /// Mean latency (µs) of the timed requests of this second.
    pub fn mean_latency_us(&self) -> f64 {
        if self.timed == 0 {
            0.0
        } else {
            self.sum_latency_us as f64 / self.timed as f64
        }
    }

    fn merge(&mut self, o: &TimeBucket) {
        self.sent += o.sent;
        self.dispatched += o.dispatched;
        self.outcomes.merge(&o.outcomes);
        self.max_latency_us = self.max_latency_us.max(o.max_latency_us);
        self.sum_latency_us += o.sum_latency_us;
        self.timed += o.timed;
    }
}

/// Percentile summary of a latency histogram, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    pub count: u64,
    pub min_us: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
}

impl LatencySummary {
    /// Summarize a histogram of microseconds.
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        LatencySummary {
            count: h.len(),
            min_us: h.min(),
            p50_us: h.value_at_quantile(0.5),
            p90_us: h.value_at_quantile(0.9),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
            mean_us: h.mean(),
        }
    }
}

/// Result of a run. Invariant: `sent == outcomes.total()`.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// Requests scheduled (ids `0..sent`), each with exactly one outcome.
    pub sent: u64,
    /// Counts per outcome kind.
    pub outcomes: OutcomeCounts,
    /// Latency from the *intended* send time (µs), for responses and timeouts.
    pub histogram: Histogram<u64>,
    /// Service time from the *actual* send (µs), for responses only
    /// (not corrected for coordinated omission).
    pub service_histogram: Histogram<u64>,
    /// Records of non-ok requests, sorted by id (capped by
    /// `max_non_ok_records`).
    pub non_ok: Vec<RequestRecord>,
    /// Non-ok requests beyond the cap (counted, not recorded).
    pub non_ok_dropped: u64,
    /// Every request, sorted by id, if `record_all` was set; else empty.
    pub records: Vec<RequestRecord>,
    /// Per-second aggregates.
    pub timeline: Vec<TimeBucket>,
    /// (requests, non-ok) per [`LoadConfig::interval`] by intended send
    /// time: entry `i` covers `[i·interval, (i+1)·interval)`. They sum to
    /// `sent` and `outcomes.non_ok()`. Empty without an interval.
    pub intervals: Vec<(u64, u64)>,
    /// Outcomes per phase tag (tag at intended send time).
    pub per_phase: BTreeMap<String, OutcomeCounts>,
    /// Outcomes per `x-backend` (requests without the header are not in it).
    pub per_backend: BTreeMap<String, OutcomeCounts>,
    /// Wall time from the start until the last outcome.
    pub duration: Duration,
    /// HTTP responses (any status) per second of `duration`.
    pub achieved_rps: f64,
    /// `sent` per second of the scheduling window.
    pub offered_rps: f64,
    /// TCP connections opened (keep-alive reuse makes this small).
    pub connections_opened: u64,
    /// Whether the run was cut short by a [`StopToken`].
    pub stopped_early: bool,
}

impl LoadReport {
    /// Latency summary (from intended send time).
    pub fn latency(&self) -> LatencySummary {
        LatencySummary::of(&self.histogram)
    }

    /// Service-time summary (from actual send).
    pub fn service_latency(&self) -> LatencySummary {
        LatencySummary::of(&self.service_histogram)
    }

    /// Serializable summary without the per-request records.
    pub fn summary(&self) -> LoadSummary {
        LoadSummary {
            sent: self.sent,
            outcomes: self.outcomes,
            latency: self.latency(),
            service_latency: self.service_latency(),
            duration_secs: self.duration.as_secs_f64(),
            achieved_rps: self.achieved_rps,
            offered_rps: self.offered_rps,
            connections_opened: self.connections_opened,
            stopped_early: self.stopped_early,
            non_ok_dropped: self.non_ok_dropped,
            per_phase: self.per_phase.clone(),
            per_backend: self.per_backend.clone(),
            timeline: self.timeline.clone(),
        }
    }
}

/// Serializable summary of a [`LoadReport`].
#[derive(Debug, Clone, Serialize)]
pub struct LoadSummary {
    pub sent: u64,
    pub outcomes: OutcomeCounts,
    pub latency: LatencySummary,
    pub service_latency: LatencySummary,
    pub duration_secs: f64,
    pub achieved_rps: f64,
    pub offered_rps: f64,
    pub connections_opened: u64,
    pub stopped_early: bool,
    pub non_ok_dropped: u64,
    pub per_phase: BTreeMap<String, OutcomeCounts>,
    pub per_backend: BTreeMap<String, OutcomeCounts>,
    pub timeline: Vec<TimeBucket>,
}

// ---------------------------------------------------------------------------
// Schedule
// ---------------------------------------------------------------------------

struct Segment {
    start: f64,
    rps: f64,
    /// Cumulative request count at `start`.
    cum: f64,
}

enum Kind {
    Constant(f64),
    Steps {
        segs: Vec<Segment>,
        cursor: usize,
    },
    Function {
        f: Arc<dyn Fn(Duration) -> f64 + Send + Sync>,
        t: f64,
        w: f64,
    },
    ClosedLoop,
}

const FN_STEP: f64 = 0.001;

fn sane(r: f64) -> f64 {
    if r.is_finite() && r > 0.0 {
        r
    } else {
        0.0
    }
}

struct Schedule {
    next_id: u64,
    max_requests: u64,
    /// Offsets at or after this are not scheduled (seconds).
    end: f64,
    cut: bool,
    exhausted: bool,
    kind: Kind,
}

impl Schedule {
    fn new(rate: &RateSchedule, max_requests: u64, end: f64) -> Self {
        let kind = match rate {
            RateSchedule::Constant(r) => Kind::Constant(sane(*r)),
            RateSchedule::Steps(steps) => {
                let mut segs: Vec<Segment> = Vec::with_capacity(steps.len());
                for s in steps {
                    let start = s.at.as_secs_f64();
                    let cum = match segs.last() {
                        Some(p) => p.cum + p.rps * (start - p.start).max(0.0),
                        None => 0.0,
                    };
                    segs.push(Segment {
                        start,
                        rps: sane(s.rps),
                        cum,
                    });
                }
                Kind::Steps { segs, cursor: 0 }
            }
            RateSchedule::Function(f) => Kind::Function {
                f: f.clone(),
                t: 0.0,
                w: 0.0,
            },
            RateSchedule::ClosedLoop => Kind::ClosedLoop,
        };
        Schedule {
            next_id: 0,
            max_requests,
            end,
            cut: false,
            exhausted: false,
            kind,
        }
    }

    /// Offset (s) at which request `n` is due, or None if never.
    fn time_of(&mut self, n: u64, now: f64, end: f64) -> Option<f64> {
        let nf = n as f64;
        match &mut self.kind {
            Kind::Constant(r) => (*r > 0.0).then(|| nf / *r),
            Kind::Steps { segs, cursor } => {
                while *cursor < segs.len() {
                    let s = &segs[*cursor];
                    let seg_end_cum = segs.get(*cursor + 1).map(|x| x.cum);
                    if s.rps > 0.0 && seg_end_cum.is_none_or(|c| nf < c) && nf >= s.cum {
                        return Some(s.start + (nf - s.cum) / s.rps);
                    }
                    // The last segment extends forever: nothing more if idle.
                    seg_end_cum?;
                    *cursor += 1;
                }
                None
            }
            Kind::Function { f, t, w } => loop {
                if *t >= end {
                    return None;
                }
                let r = sane(f(Duration::from_secs_f64(*t)));
                if r > 0.0 && *w + r * FN_STEP >= nf {
                    return Some(*t + ((nf - *w) / r).max(0.0));
                }
                *w += r * FN_STEP;
                *t += FN_STEP;
            },
            Kind::ClosedLoop => Some(now),
        }
    }

    /// Cut the schedule at `now` (seconds); idempotent.
    fn cut_at(&mut self, now: f64) {
        if !self.cut {
            self.cut = true;
            self.end = self.end.min(now);
        }
    }

    /// Length of the scheduling window (s): up to the next unsent slot or
    /// the end, whichever is first.
    fn window(&mut self) -> f64 {
        let (n, end) = (self.next_id, self.end);
        match self.time_of(n, end, end) {
            Some(t) => t.min(end),
            None => end,
        }
    }

    fn take(&mut self, now: f64) -> Option<(u64, f64)> {
        if self.exhausted || self.next_id >= self.max_requests {
            return None;
        }
        let end = self.end;
        match self.time_of(self.next_id, now, end) {
            // 1 ns of slack so float noise (0.6 + 0.3 < 0.9) cannot add a
            // request at the very end.
            Some(t) if t + 1e-9 < end => {
                let id = self.next_id;
                self.next_id += 1;
                Some((id, t))
            }
            _ => {
                self.exhausted = true;
                None
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Precise timer
// ---------------------------------------------------------------------------

/// Sub-millisecond sleeps for the send schedule.
///
/// Tokio's timer wheel has 1 ms resolution, so a request due at 10.2 ms
/// would leave at 11 ms and the generator's own rounding would show up as up
/// to 1 ms of (coordinated-omission-corrected) latency. Instead one std
/// thread per run waits on a condvar with a timeout until the earliest
/// pending slot (futex timeouts are hrtimer-based, ~50 µs slack) and wakes the
/// worker tasks that are due. Each worker owns one timer slot; heap entries
/// carry the slot's generation so a cancelled sleep is skipped lazily.
struct PreciseTimer {
    state: Mutex<TimerState>,
    cv: std::sync::Condvar,
}

struct TimerState {
    heap: std::collections::BinaryHeap<std::cmp::Reverse<(std::time::Instant, usize, u64)>>,
    slots: Vec<TimerSlot>,
    shutdown: bool,
}

#[derive(Default)]
struct TimerSlot {
    generation: u64,
    waker: Option<std::task::Waker>,
    fired: bool,
}

impl PreciseTimer {
    fn start(slots: usize) -> Arc<PreciseTimer> {
        let timer = Arc::new(PreciseTimer {
            state: Mutex::new(TimerState {
                heap: std::collections::BinaryHeap::with_capacity(slots),
                slots: (0..slots).map(|_| TimerSlot::default()).collect(),
                shutdown: false,
            }),
            cv: std::sync::Condvar::new(),
        });
        let t = timer.clone();
        std::thread::Builder::new()
            .name("load-timer".into())
            .spawn(move || t.run())
            .expect("spawn load timer thread");
        timer
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TimerState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn shutdown(&self) {
        self.lock().shutdown = true;
        self.cv.notify_one();
    }

    fn run(&self) {
        let mut due: Vec<std::task::Waker> = Vec::new();
        let mut st = self.lock();
        loop {
            if st.shutdown {
                return;
            }
            let now = std::time::Instant::now();
            let mut wait = None;
            while let Some(&std::cmp::Reverse((deadline, slot, generation))) = st.heap.peek() {
                if deadline > now {
                    wait = Some(deadline - now);
                    break;
                }
                st.heap.pop();
                let s = &mut st.slots[slot];
                if s.generation == generation {
                    s.fired = true;
                    if let Some(w) = s.waker.take() {
                        due.push(w);
                    }
                }
            }
            if !due.is_empty() {
                drop(st);
                for w in due.drain(..) {
                    w.wake();
                }
                st = self.lock();
                continue;
            }
            st = match wait {
                Some(d) => {
                    self.cv
                        .wait_timeout(st, d)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
                None => self.cv.wait(st).unwrap_or_else(|e| e.into_inner()),
            };
        }
    }

    fn sleep_until(&self, slot: usize, deadline: Instant) -> PreciseSleep<'_> {
        PreciseSleep {
            timer: self,
            slot,
            deadline: deadline.into_std(),
            registered: None,
        }
    }
}

struct PreciseSleep<'a> {
    timer: &'a PreciseTimer,
    slot: usize,
    deadline: std::time::Instant,
    /// Generation under which this sleep is registered.
    registered: Option<u64>,
}

impl std::future::Future for PreciseSleep<'_> {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if std::time::Instant::now() >= self.deadline {
            return std::task::Poll::Ready(());
        }
        let (slot, deadline) = (self.slot, self.deadline);
        let mut st = self.timer.lock();
        match self.registered {
            Some(g) => {
                let s = &mut st.slots[slot];
                if s.generation == g && s.fired {
                    return std::task::Poll::Ready(());
                }
                if !s.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    s.waker = Some(cx.waker().clone());
                }
            }
            None => {
                let earliest = st.heap.peek().map(|r| r.0 .0);
                let s = &mut st.slots[slot];
                s.generation += 1;
                s.fired = false;
                s.waker = Some(cx.waker().clone());
                let g = s.generation;
                st.heap.push(std::cmp::Reverse((deadline, slot, g)));
                drop(st);
                self.registered = Some(g);
                if earliest.is_none_or(|e| deadline < e) {
                    self.timer.cv.notify_one();
                }
            }
        }
        std::task::Poll::Pending
    }
}

impl Drop for PreciseSleep<'_> {
    fn drop(&mut self) {
        if self.registered.is_some() {
            let mut st = self.timer.lock();
            let s = &mut st.slots[self.slot];
            // Invalidate the heap entry; it is skipped when it comes up.
            s.generation += 1;
            s.waker = None;
        }
    }
}

// ---------------------------------------------------------------------------
// Workers
// ---------------------------------------------------------------------------

struct Shared {
    target: Target,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
    timeout: Duration,
    record_all: bool,
    max_non_ok_records: usize,
    interval: Option<f64>,
    start: Instant,
    schedule: Mutex<Schedule>,
    stop: StopToken,
}

impl Shared {
    fn offset(&self, t: Instant) -> f64 {
        t.saturating_duration_since(self.start).as_secs_f64()
    }

    fn take(&self) -> Option<(u64, f64)> {
        let mut s = self.schedule.lock().unwrap_or_else(|e| e.into_inner());
        let now = self.offset(Instant::now());
        if self.stop.is_stopped() {
            s.cut_at(now);
        }
        s.take(now)
    }

    /// Cut the schedule now (the first cut wins). `now` is taken under the
    /// lock, so every slot handed out before the cut is due before it.
    fn cut_now(&self) {
        let mut s = self.schedule.lock().unwrap_or_else(|e| e.into_inner());
        s.cut_at(self.offset(Instant::now()));
    }

    /// Once stopped: whether slot `id`, due at `t`, is still inside the cut.
    /// A slot beyond it is given back: workers take slots ahead of their
    /// intended time, so up to one per connection can be outstanding past
    /// the cut, and they (the highest ids) must not count as sent.
    fn keep_after_stop(&self, id: u64, t: f64) -> bool {
        let mut s = self.schedule.lock().unwrap_or_else(|e| e.into_inner());
        s.cut_at(self.offset(Instant::now()));
        if t < s.end {
            return true;
        }
        s.next_id = s.next_id.min(id);
        false
    }

    fn build_request(&self) -> Request<Full<Bytes>> {
        let mut req = Request::new(Full::new(self.body.clone()));
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = self.target.path.clone();
        let h = req.headers_mut();
        if !self.headers.is_empty() {
            h.clone_from(&self.headers);
        }
        h.insert(HOST, self.target.host_header.clone());
        req
    }
}

struct Conn {
    sender: http1::SendRequest<Full<Bytes>>,
}

async fn connect(addr: SocketAddr) -> io::Result<Conn> {
    let stream = TcpStream::connect(addr).await?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(io::Error::other)?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(Conn { sender })
}

fn classify_connect(e: &io::Error) -> Outcome {
    match e.kind() {
        io::ErrorKind::TimedOut => Outcome::Timeout,
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => Outcome::Reset,
        _ => Outcome::ConnectRefused,
    }
}

fn classify_hyper(e: &hyper::Error) -> Outcome {
    if e.is_timeout() {
        Outcome::Timeout
    } else {
        Outcome::Reset
    }
}

struct Exchange {
    outcome: Outcome,
    status: Option<u16>,
    backend: Option<HeaderValue>,
}

impl Exchange {
    fn failed(outcome: Outcome) -> Self {
        Exchange {
            outcome,
            status: None,
            backend: None,
        }
    }
}

struct WorkerStats {
    outcomes: OutcomeCounts,
    histogram: Histogram<u64>,
    service: Histogram<u64>,
    non_ok: Vec<RequestRecord>,
    non_ok_dropped: u64,
    records: Vec<RequestRecord>,
    timeline: Vec<TimeBucket>,
    intervals: Vec<(u64, u64)>,
    per_phase: HashMap<Arc<str>, OutcomeCounts>,
    per_backend: HashMap<String, OutcomeCounts>,
    connections_opened: u64,
    last_done: Option<Instant>,
}

fn new_histogram() -> Histogram<u64> {
    // Auto-resizing, 3 significant figures.
    Histogram::new(3).expect("valid histogram sigfig")
}

fn record_us(h: &mut Histogram<u64>, us: u64) {
    // `record` grows the auto-resizing histogram; `saturating_record` would clamp.
    if h.record(us).is_err() {
        h.saturating_record(us);
    }
}

impl WorkerStats {
    fn new() -> Self {
        WorkerStats {
            outcomes: OutcomeCounts::default(),
            histogram: new_histogram(),
            service: new_histogram(),
            non_ok: Vec::new(),
            non_ok_dropped: 0,
            records: Vec::new(),
            timeline: Vec::new(),
            intervals: Vec::new(),
            per_phase: HashMap::new(),
            per_backend: HashMap::new(),
            connections_opened: 0,
            last_done: None,
        }
    }

    fn bucket(&mut self, second: usize) -> &mut TimeBucket {
        if self.timeline.len() <= second {
            let from = self.timeline.len();
            self.timeline.extend((from..=second).map(|s| TimeBucket {
                second: s as u64,
                ..TimeBucket::default()
            }));
        }
        &mut self.timeline[second]
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        shared: &Shared,
        id: u64,
        t: f64,
        intended: Instant,
        actual: Option<Instant>,
        done: Instant,
        ex: Exchange,
        phase: &Arc<str>,
    ) {
        let latency = done.saturating_duration_since(intended);
        let latency_us = latency.as_micros().min(u64::MAX as u128) as u64;
        let outcome = ex.outcome;
        self.outcomes.add(outcome);
        if outcome.timed() {
            record_us(&mut self.histogram, latency_us);
        }
        let has_response = ex.status.is_some() && outcome != Outcome::Reset;
        if let (Some(a), true) = (actual, has_response) {
            let us = done.saturating_duration_since(a).as_micros() as u64;
            record_us(&mut self.service, us);
        }
        {
            let b = self.bucket(t as usize);
            b.sent += 1;
            b.outcomes.add(outcome);
            if outcome.timed() {
                b.timed += 1;
                b.sum_latency_us += latency_us;
                b.max_latency_us = b.max_latency_us.max(latency_us);
            }
        }
        if let Some(a) = actual {
            let s = a.saturating_duration_since(shared.start).as_secs() as usize;
            self.bucket(s).dispatched += 1;
        }
        if let Some(w) = shared.interval {
            let i = (t / w) as usize;
            if self.intervals.len() <= i {
                self.intervals.resize(i + 1, (0, 0));
            }
            self.intervals[i].0 += 1;
            self.intervals[i].1 += u64::from(outcome != Outcome::Ok);
        }
        match self.per_phase.get_mut(&**phase) {
            Some(c) => c.add(outcome),
            None => {
                let mut c = OutcomeCounts::default();
                c.add(outcome);
                self.per_phase.insert(phase.clone(), c);
            }
        }
        let backend = ex.backend.as_ref().and_then(|v| v.to_str().ok());
        if let Some(b) = backend {
            match self.per_backend.get_mut(b) {
                Some(c) => c.add(outcome),
                None => {
                    let mut c = OutcomeCounts::default();
                    c.add(outcome);
                    self.per_backend.insert(b.to_string(), c);
                }
            }
        }
        let keep_non_ok = outcome != Outcome::Ok;
        if keep_non_ok || shared.record_all {
            let rec = RequestRecord {
                id,
                intended: Duration::from_secs_f64(t),
                actual_send: actual.map(|a| a.saturating_duration_since(shared.start)),
                latency,
                outcome,
                status: ex.status,
                backend: backend.map(str::to_string),
                phase: phase.to_string(),
            };
            if keep_non_ok {
                if self.non_ok.len() < shared.max_non_ok_records {
                    self.non_ok.push(rec.clone());
                } else {
                    self.non_ok_dropped += 1;
                }
            }
            if shared.record_all {
                self.records.push(rec);
            }
        }
        self.last_done = Some(self.last_done.map_or(done, |d| d.max(done)));
    }
}

async fn exchange(
    shared: &Shared,
    conn: &mut Option<Conn>,
    actual: &mut Option<Instant>,
    opened: &mut u64,
) -> Exchange {
    loop {
        let fresh = match conn {
            Some(c) if !c.sender.is_closed() => false,
            _ => {
                *conn = None;
                match connect(shared.target.addr).await {
                    Ok(c) => {
                        *opened += 1;
                        *conn = Some(c);
                        true
                    }
                    Err(e) => return Exchange::failed(classify_connect(&e)),
                }
            }
        };
        let Some(c) = conn.as_mut() else {
            continue;
        };
        if let Err(e) = c.sender.ready().await {
            *conn = None;
            if fresh {
                return Exchange::failed(classify_hyper(&e));
            }
            continue;
        }
        *actual = Some(Instant::now());
        match c.sender.try_send_request(shared.build_request()).await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let backend = resp.headers().get(BACKEND_HEADER).cloned();
                let mut body = resp.into_body();
                while let Some(frame) = body.frame().await {
                    if let Err(e) = frame {
                        *conn = None;
                        return Exchange {
                            outcome: classify_hyper(&e),
                            status: Some(status),
                            backend,
                        };
                    }
                }
                return Exchange {
                    outcome: Outcome::from_status(status),
                    status: Some(status),
                    backend,
                };
            }
            Err(mut e) => {
                *conn = None;
                if !fresh && e.take_message().is_some() {
                    // Never written on a stale pooled connection: safe to
                    // retry on a fresh one.
                    *actual = None;
                    continue;
                }
                return Exchange::failed(classify_hyper(e.error()));
            }
        }
    }
}

async fn worker(
    shared: Arc<Shared>,
    timer: Option<Arc<PreciseTimer>>,
    slot: usize,
    phase: PhaseHandle,
    mut conn: Option<Conn>,
) -> WorkerStats {
    let mut stats = WorkerStats::new();
    let mut phases = PhaseCache::new(phase);
    if conn.is_some() {
        stats.connections_opened += 1;
    }
    while let Some((id, t)) = shared.take() {
        let intended = shared.start + Duration::from_secs_f64(t);
        if intended > Instant::now() {
            tokio::select! {
                biased;
                _ = async {
                    match &timer {
                        Some(timer) => timer.sleep_until(slot, intended).await,
                        None => tokio::time::sleep_until(intended).await,
                    }
                } => {}
                _ = shared.stop.stopped() => {}
            }
        }
        if shared.stop.is_stopped() && !shared.keep_after_stop(id, t) {
            // Beyond the cut: this id and every later one is dropped, so ids
            // stay contiguous (slots are handed out in time order).
            break;
        }
        let tag = phases.at(intended);
        let deadline = intended + shared.timeout;
        let mut actual = None;
        let ex = if Instant::now() >= deadline {
            Exchange::failed(Outcome::Timeout)
        } else {
            let opened = &mut stats.connections_opened;
            match tokio::time::timeout_at(
                deadline,
                exchange(&shared, &mut conn, &mut actual, opened),
            )
            .await
            {
                Ok(ex) => ex,
                Err(_) => {
                    conn = None;
                    Exchange::failed(Outcome::Timeout)
                }
            }
        };
        let done = Instant::now();
        stats.record(&shared, id, t, intended, actual, done, ex, &tag);
    }
    stats
}

// ---------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------

/// Aborts the run's tasks and stops its timer thread when dropped.
struct RunGuard {
    tasks: Vec<tokio::task::AbortHandle>,
    timer: Option<Arc<PreciseTimer>>,
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        if let Some(t) = &self.timer {
            t.shutdown();
        }
    }
}

/// Run a load test to completion (see the module docs for the model).
///
/// Errors only before anything is sent (bad URL, non-loopback target, bad
/// config); once running, every request is accounted in the report.
pub async fn run_load(config: LoadConfig, phase: PhaseHandle) -> Result<LoadReport, LoadError> {
    run_load_until(config, phase, StopToken::new()).await
}

/// Like [`run_load`], but stops scheduling when `stop` is signalled. Requests
/// due before the stop are still sent; in-flight requests complete or time
/// out; the report accounts for all of them.
pub async fn run_load_until(
    config: LoadConfig,
    phase: PhaseHandle,
    stop: StopToken,
) -> Result<LoadReport, LoadError> {
    if config.connections == 0 || config.connections > 10_000 {
        return Err(LoadError::InvalidConfig(format!(
            "connections must be 1..=10000, got {}",
            config.connections
        )));
    }
    if config.timeout.is_zero() {
        return Err(LoadError::InvalidConfig("timeout must be > 0".into()));
    }
    if config.max_duration.is_zero() {
        return Err(LoadError::InvalidConfig("max_duration must be > 0".into()));
    }
    if let RateSchedule::Steps(steps) = &config.rate {
        if steps.windows(2).any(|w| w[1].at < w[0].at) {
            return Err(LoadError::InvalidConfig("rate steps must be sorted".into()));
        }
    }
    let target = resolve_target(&config.url).await?;

    let mut preconnected: Vec<Option<Conn>> = Vec::with_capacity(config.connections);
    if config.preconnect {
        let handles: Vec<_> = (0..config.connections)
            .map(|_| tokio::spawn(connect(target.addr)))
            .collect();
        for h in handles {
            preconnected.push(h.await.ok().and_then(|r| r.ok()));
        }
    } else {
        preconnected.resize_with(config.connections, || None);
    }

    let start = Instant::now();
    let end = config.max_duration.as_secs_f64();
    let shared = Arc::new(Shared {
        target,
        method: config.method.clone(),
        headers: config.headers.clone(),
        body: config.body.clone(),
        timeout: config.timeout,
        record_all: config.record_all,
        interval: config
            .interval
            .map(|d| d.as_secs_f64())
            .filter(|w| *w > 0.0),
        max_non_ok_records: config.max_non_ok_records,
        start,
        schedule: Mutex::new(Schedule::new(&config.rate, config.max_requests, end)),
        stop: stop.clone(),
    });
    let closed_loop = matches!(config.rate, RateSchedule::ClosedLoop);
    let timer =
        (config.precise_timer && !closed_loop).then(|| PreciseTimer::start(config.connections));
    let handles: Vec<_> = preconnected
        .into_iter()
        .enumerate()
        .map(|(slot, c)| {
            tokio::spawn(worker(
                shared.clone(),
                timer.clone(),
                slot,
                phase.clone(),
                c,
            ))
        })
        .collect();
    // Cut the schedule as soon as the stop is observed, even when every
    // worker is busy with a slow request.
    let watcher = {
        let shared = shared.clone();
        tokio::spawn(async move {
            shared.stop.stopped().await;
            shared.cut_now();
        })
    };
    // If this future is dropped mid-run, stop the workers and the timer.
    let _guard = RunGuard {
        tasks: handles
            .iter()
            .map(|h| h.abort_handle())
            .chain(std::iter::once(watcher.abort_handle()))
            .collect(),
        timer,
    };

    let mut outcomes = OutcomeCounts::default();
    let mut histogram = new_histogram();
    let mut service_histogram = new_histogram();
    let mut non_ok = Vec::new();
    let mut non_ok_dropped = 0;
    let mut records = Vec::new();
    let mut timeline: Vec<TimeBucket> = Vec::new();
    let mut intervals: Vec<(u64, u64)> = Vec::new();
    let mut per_phase: BTreeMap<String, OutcomeCounts> = BTreeMap::new();
    let mut per_backend: BTreeMap<String, OutcomeCounts> = BTreeMap::new();
    let mut connections_opened = 0;
    let mut last_done = start;
    for h in handles {
        let w = match h.await {
            Ok(w) => w,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => continue,
        };
        outcomes.merge(&w.outcomes);
        let _ = histogram.add(&w.histogram);
        let _ = service_histogram.add(&w.service);
        non_ok.extend(w.non_ok);
        non_ok_dropped += w.non_ok_dropped;
        records.extend(w.records);
        for b in &w.timeline {
            let i = b.second as usize;
            if timeline.len() <= i {
                let from = timeline.len();
                timeline.extend((from..=i).map(|s| TimeBucket {
                    second: s as u64,
                    ..TimeBucket::default()
                }));
            }
            timeline[i].merge(b);
        }
        if intervals.len() < w.intervals.len() {
            intervals.resize(w.intervals.len(), (0, 0));
        }
        for (sum, c) in intervals.iter_mut().zip(&w.intervals) {
            sum.0 += c.0;
            sum.1 += c.1;
        }
        for (k, v) in w.per_phase {
            per_phase.entry(k.to_string()).or_default().merge(&v);
        }
        for (k, v) in w.per_backend {
            per_backend.entry(k).or_default().merge(&v);
        }
        connections_opened += w.connections_opened;
        if let Some(d) = w.last_done {
            last_done = last_done.max(d);
        }
    }
    non_ok.sort_unstable_by_key(|r| r.id);
    records.sort_unstable_by_key(|r| r.id);

    let (sent, window) = {
        let mut s = shared.schedule.lock().unwrap_or_else(|e| e.into_inner());
        (s.next_id, s.window())
    };
    debug_assert_eq!(sent, outcomes.total(), "every request has one outcome");
    let duration = last_done.saturating_duration_since(start);
    let responses = outcomes.ok + outcomes.http_5xx + outcomes.http_other;
    let secs = duration.as_secs_f64();
    let achieved_rps = if secs > 0.0 {
        responses as f64 / secs
    } else {
        0.0
    };
    let window = if matches!(config.rate, RateSchedule::ClosedLoop) {
        secs
    } else {
        window
    };
    let offered_rps = if window > 0.0 {
        sent as f64 / window
    } else {
        0.0
    };
    Ok(LoadReport {
        sent,
        outcomes,
        histogram,
        service_histogram,
        non_ok,
        non_ok_dropped,
        records,
        timeline,
        intervals,
        per_phase,
        per_backend,
        duration,
        achieved_rps,
        offered_rps,
        connections_opened,
        stopped_early: stop.is_stopped(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn times(rate: RateSchedule, n: u64, end: f64) -> Vec<f64> {
        let mut s = Schedule::new(&rate, n, end);
        std::iter::from_fn(|| s.take(0.0).map(|(_, t)| t)).collect()
    }

    #[test]
    fn constant_schedule_is_exact() {
        let t = times(RateSchedule::Constant(100.0), 1000, 1.0);
        assert_eq!(t.len(), 100);
        assert!((t[10] - 0.1).abs() < 1e-12);
    }

    #[test]
    fn steps_schedule_inverts_cumulative_count() {
        let rate = RateSchedule::Steps(vec![
            RateStep {
                at: Duration::ZERO,
                rps: 10.0,
            },
            RateStep {
                at: Duration::from_secs(1),
                rps: 0.0,
            },
            RateStep {
                at: Duration::from_secs(2),
                rps: 100.0,
            },
        ]);
        let t = times(rate, 10_000, 3.0);
        assert_eq!(t.len(), 110);
        assert!(t[..10].iter().all(|&x| x < 1.0));
        assert!((t[10] - 2.0).abs() < 1e-9);
        assert!((t[11] - 2.01).abs() < 1e-9);
    }

    #[test]
    fn function_schedule_integrates() {
        let t = times(
            RateSchedule::ramp(0.0, 200.0, Duration::from_secs(1)),
            10_000,
            1.0,
        );
        // Integral of the ramp over 1 s = 100 requests.
        assert!((99..=101).contains(&t.len()), "{}", t.len());
        assert!(t.windows(2).all(|w| w[1] >= w[0]));
    }

    #[test]
    fn cut_stops_schedule() {
        let mut s = Schedule::new(&RateSchedule::Constant(10.0), 100, 10.0);
        assert!(s.take(0.0).is_some());
        s.cut_at(0.25);
        assert!(s.take(0.0).is_some()); // t = 0.1
        assert!(s.take(0.0).is_some()); // t = 0.2
        assert!(s.take(0.0).is_none());
    }
}
