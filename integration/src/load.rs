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
//! # HTTP/1.1 on the worker's own socket
//!
//! A worker owns its `TcpStream` and speaks HTTP/1.1 itself (no client
//! library, no connection task): the request is serialized once per run
//! (request line, `Host`, the configured headers, `Content-Length`, body) and
//! written with one write; the response is parsed with `httparse` from a read
//! buffer the worker reuses, its body (`Content-Length`, chunked, or up to
//! the close) read and discarded. A connection is kept alive unless the
//! response says `Connection: close`, is HTTP/1.0 without keep-alive, has a
//! body delimited by the close, or is followed by bytes nobody asked for.
//! An idle keep-alive connection found closed by the peer before the request
//! is written (or whose write fails) is replaced by a fresh one and the
//! request sent once more; a request written and then not answered is
//! [`Outcome::Reset`], never resent.
//!
//! One timer per worker serves every request's timeout: deadlines only grow
//! (a worker takes slots in time order), so the timer stays armed at an
//! earlier request's deadline and is moved to the current one only when it
//! fires early — about once per `timeout`, not once per request. A request
//! with no complete response at `intended + timeout` is [`Outcome::Timeout`]
//! and its connection is dropped.
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
use hyper::header::{HeaderValue, CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use hyper::{HeaderMap, Method, Uri};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
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
    /// Extra request headers (`Host` is set from the URL; `Content-Length`
    /// and `Transfer-Encoding` are ignored: the body goes with its length).
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
    /// The URL's authority, validated as a header value (the `Host` header).
    host: String,
    /// Path and query (`/` if the URL has none).
    path: String,
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
    HeaderValue::from_str(authority.as_str())
        .map_err(|e| LoadError::InvalidUrl(format!("{url}: {e}")))?;
    let path = match uri.path_and_query() {
        Some(pq) if !pq.as_str().is_empty() => pq.as_str().to_string(),
        _ => "/".to_string(),
    };
    Ok(Target {
        addr,
        host: authority.as_str().to_string(),
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
    /// The generator's own lateness (µs): from the intended send time to the
    /// moment the request was handed to a connection, for every request that
    /// was (waiting for a free connection included). Near zero while the
    /// generator keeps up with its schedule.
    pub send_lag_histogram: Histogram<u64>,
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

    /// Summary of the generator's own lateness ([`Self::send_lag_histogram`]).
    pub fn send_lag(&self) -> LatencySummary {
        LatencySummary::of(&self.send_lag_histogram)
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
/// pending slot (futex timeouts are hrtimer-based, ~50 µs slack) and wakes
/// every worker task already due in one batch. Each worker owns one timer
/// slot; heap entries carry the slot's generation so a cancelled sleep is
/// skipped lazily. [`release_all`](Self::release_all) (the run was stopped)
/// completes every current and future sleep at once.
///
/// (A `timerfd` in the run's reactor, driven by a task instead of a thread,
/// was measured too: no context switches and half the send lag, but more
/// CPU per request on this VM, where each `timerfd_settime` costs about
/// 3 µs; docs/BENCHMARKS.md, section 4c.)
struct PreciseTimer {
    state: Mutex<TimerState>,
    cv: std::sync::Condvar,
}

type TimerEntry = std::cmp::Reverse<(std::time::Instant, usize, u64)>;

struct TimerState {
    heap: std::collections::BinaryHeap<TimerEntry>,
    slots: Vec<TimerSlot>,
    /// Every sleep is complete (the run was stopped).
    released: bool,
    shutdown: bool,
}

#[derive(Default)]
struct TimerSlot {
    generation: u64,
    waker: Option<std::task::Waker>,
    fired: bool,
}

impl TimerState {
    /// Fire every entry due at `now` (their wakers go to `due`) and drop
    /// cancelled ones; returns the earliest deadline still pending.
    fn fire_due(
        &mut self,
        now: std::time::Instant,
        due: &mut Vec<std::task::Waker>,
    ) -> Option<std::time::Instant> {
        while let Some(&std::cmp::Reverse((deadline, slot, generation))) = self.heap.peek() {
            let s = &mut self.slots[slot];
            let live = s.generation == generation;
            if live && deadline > now {
                return Some(deadline);
            }
            self.heap.pop();
            if live {
                s.fired = true;
                if let Some(w) = s.waker.take() {
                    due.push(w);
                }
            }
        }
        None
    }
}

impl PreciseTimer {
    fn start(slots: usize) -> Arc<PreciseTimer> {
        let timer = Arc::new(PreciseTimer {
            state: Mutex::new(TimerState {
                heap: std::collections::BinaryHeap::with_capacity(slots),
                slots: (0..slots).map(|_| TimerSlot::default()).collect(),
                released: false,
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

    /// Complete every current and future sleep now.
    fn release_all(&self) {
        let wakers: Vec<std::task::Waker> = {
            let mut st = self.lock();
            st.released = true;
            st.slots.iter_mut().filter_map(|s| s.waker.take()).collect()
        };
        for w in wakers {
            w.wake();
        }
    }

    fn run(&self) {
        let mut due: Vec<std::task::Waker> = Vec::new();
        let mut st = self.lock();
        loop {
            if st.shutdown {
                return;
            }
            let now = std::time::Instant::now();
            let wait = st.fire_due(now, &mut due).map(|d| d - now);
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
        let (slot, deadline) = (self.slot, self.deadline);
        if self.registered.is_none() && std::time::Instant::now() >= deadline {
            return std::task::Poll::Ready(());
        }
        let mut st = self.timer.lock();
        if st.released {
            return std::task::Poll::Ready(());
        }
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
// HTTP/1.1 on a socket the worker owns
// ---------------------------------------------------------------------------

/// Initial size of a worker's read buffer. Body bytes are discarded as they
/// arrive, so it grows only for a response head (or a chunk-size or trailer
/// line) that does not fit, up to [`MAX_HEAD`].
const READ_BUF: usize = 16 * 1024;

/// Largest response head (and chunk-size or trailer line) accepted; beyond it
/// the response is malformed ([`Outcome::Reset`]). hyper's default limit is
/// about 400 KiB.
const MAX_HEAD: usize = 512 * 1024;

/// Headers parsed in place on the stack; a response with more is parsed again
/// into a heap array of [`MANY_HEADERS`].
const FEW_HEADERS: usize = 32;
const MANY_HEADERS: usize = 256;

/// The request, serialized once per run: request line, `Host`, the
/// configured headers, `Content-Length` and the body. hyper's client sends
/// the same bytes (lower-case names; `content-length: 0` only for methods
/// that usually carry a body).
fn serialize_request(
    method: &Method,
    target: &Target,
    headers: &HeaderMap,
    body: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + target.path.len() + body.len());
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    out.extend_from_slice(target.host.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        // `Host` comes from the URL; the body is framed here, by length.
        if *name == HOST || *name == CONTENT_LENGTH || *name == TRANSFER_ENCODING {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let implicit_zero = matches!(*method, Method::POST | Method::PUT | Method::PATCH);
    if !body.is_empty() || implicit_zero {
        out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// A worker's read buffer, reused for every response on every connection it
/// opens: bytes `start..end` of `buf` are received and not yet consumed.
struct Wire {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The last response's `x-backend` value (valid when the exchange says
    /// so); reused, so it allocates only when a longer value comes.
    backend: String,
}

impl Wire {
    fn new() -> Self {
        Wire {
            buf: vec![0; READ_BUF],
            start: 0,
            end: 0,
            backend: String::new(),
        }
    }

    fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }

    fn pending(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.end {
            self.clear();
        }
    }

    /// Read more bytes after the unconsumed ones. `Ok(0)` at end of stream.
    async fn fill(&mut self, stream: &mut TcpStream) -> io::Result<usize> {
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else if self.buf.len() < MAX_HEAD {
                let len = (self.buf.len() * 2).min(MAX_HEAD);
                self.buf.resize(len, 0);
            } else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "response head, chunk size or trailer too large",
                ));
            }
        }
        let n = stream.read(&mut self.buf[self.end..]).await?;
        self.end += n;
        Ok(n)
    }
}

/// How a response's body is delimited (RFC 9112 section 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    /// HEAD request, 1xx, 204, 304.
    Empty,
    Length(u64),
    Chunked,
    /// No length and not chunked: the body ends with the connection.
    UntilClose,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Head {
    status: u16,
    body: BodyKind,
    keep_alive: bool,
    /// Whether `x-backend` was present (its value is in [`Wire::backend`]).
    has_backend: bool,
}

#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    /// Not a complete head yet.
    Partial,
    /// A final response head of this many bytes.
    Head(usize, Head),
    /// An informational (1xx other than 101) head of this many bytes, to skip.
    Interim(usize),
    Malformed,
}

/// Like `HeaderValue::to_str`: visible ASCII and tabs only.
fn header_str(value: &[u8]) -> Option<&str> {
    value
        .iter()
        .all(|&b| b == b'\t' || (0x20..0x7f).contains(&b))
        .then(|| std::str::from_utf8(value).ok())
        .flatten()
}

fn trim_ows(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|b| !matches!(b, b' ' | b'\t'));
    let end = v.iter().rposition(|b| !matches!(b, b' ' | b'\t'));
    match (start, end) {
        (Some(s), Some(e)) => &v[s..=e],
        _ => &[],
    }
}

fn parse_decimal(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(v.iter().fold(0, |n, &d| n * 10 + u64::from(d - b'0')))
}

/// Parse a response head at the start of `buf`; the first `x-backend` value
/// is copied into `backend`.
fn parse_head(buf: &[u8], head_only: bool, backend: &mut String) -> Parsed {
    let mut few = [httparse::EMPTY_HEADER; FEW_HEADERS];
    match parse_head_with(buf, head_only, backend, &mut few) {
        Some(p) => p,
        None => {
            let mut many = vec![httparse::EMPTY_HEADER; MANY_HEADERS];
            parse_head_with(buf, head_only, backend, &mut many).unwrap_or(Parsed::Malformed)
        }
    }
}

/// `None` if `headers` is too short.
fn parse_head_with<'b>(
    buf: &'b [u8],
    head_only: bool,
    backend: &mut String,
    headers: &mut [httparse::Header<'b>],
) -> Option<Parsed> {
    let mut resp = httparse::Response::new(headers);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Some(Parsed::Partial),
        Err(httparse::Error::TooManyHeaders) => return None,
        Err(_) => return Some(Parsed::Malformed),
    };
    let (Some(status), Some(minor)) = (resp.code, resp.version) else {
        return Some(Parsed::Malformed);
    };
    if (100..200).contains(&status) && status != 101 {
        return Some(Parsed::Interim(len));
    }
    let mut length: Option<u64> = None;
    let mut transfer_encoding = false;
    let mut chunked = false;
    let (mut close, mut keep_alive_token) = (false, false);
    let mut has_backend = false;
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            match parse_decimal(trim_ows(h.value)) {
                Some(n) if length.is_none_or(|l| l == n) => length = Some(n),
                _ => return Some(Parsed::Malformed),
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encoding = true;
            // Chunked only if it is the last coding applied.
            chunked = h
                .value
                .rsplit(|&b| b == b',')
                .next()
                .is_some_and(|c| trim_ows(c).eq_ignore_ascii_case(b"chunked"));
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|&b| b == b',').map(trim_ows) {
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive_token |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if !has_backend && h.name.eq_ignore_ascii_case(BACKEND_HEADER) {
            if let Some(v) = header_str(h.value) {
                backend.clear();
                backend.push_str(v);
                has_backend = true;
            }
        }
    }
    // HTTP/1.0 closes unless it asks to keep alive; 1.1 keeps alive unless
    // it says close.
    let mut keep_alive = !close && (minor == 1 || keep_alive_token);
    let body = if head_only || status == 101 || status == 204 || status == 304 {
        BodyKind::Empty
    } else if transfer_encoding {
        if chunked {
            BodyKind::Chunked
        } else {
            BodyKind::UntilClose
        }
    } else if let Some(n) = length {
        BodyKind::Length(n)
    } else {
        BodyKind::UntilClose
    };
    if body == BodyKind::UntilClose || status == 101 {
        keep_alive = false;
    }
    Some(Parsed::Head(
        len,
        Head {
            status,
            body,
            keep_alive,
            has_backend,
        },
    ))
}

/// Why a body could not be read to its end.
#[derive(Debug)]
enum BodyError {
    /// End of stream before the body's end.
    Eof,
    Io,
    Malformed,
}

impl From<io::Error> for BodyError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::InvalidData {
            BodyError::Malformed
        } else {
            BodyError::Io
        }
    }
}

/// Read more, or fail at end of stream.
async fn fill_body(stream: &mut TcpStream, wire: &mut Wire) -> Result<(), BodyError> {
    match wire.fill(stream).await? {
        0 => Err(BodyError::Eof),
        _ => Ok(()),
    }
}

/// Read (and discard) a body, leaving whatever follows it in `wire`.
async fn read_body(
    stream: &mut TcpStream,
    wire: &mut Wire,
    kind: BodyKind,
) -> Result<(), BodyError> {
    match kind {
        BodyKind::Empty => Ok(()),
        BodyKind::Length(mut rest) => loop {
            let take = rest.min(wire.pending().len() as u64);
            wire.consume(take as usize);
            rest -= take;
            if rest == 0 {
                return Ok(());
            }
            fill_body(stream, wire).await?;
        },
        BodyKind::UntilClose => loop {
            wire.clear();
            if wire.fill(stream).await? == 0 {
                return Ok(());
            }
        },
        BodyKind::Chunked => read_chunked(stream, wire).await,
    }
}

#[derive(Debug, Clone, Copy)]
enum ChunkState {
    Size,
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd,
    /// Trailer lines after the last chunk, up to an empty line.
    Trailer,
}

async fn read_chunked(stream: &mut TcpStream, wire: &mut Wire) -> Result<(), BodyError> {
    let mut state = ChunkState::Size;
    loop {
        let p = wire.pending();
        let progress = match state {
            ChunkState::Size => match httparse::parse_chunk_size(p) {
                Ok(httparse::Status::Complete((used, size))) => {
                    wire.consume(used);
                    state = if size == 0 {
                        ChunkState::Trailer
                    } else {
                        ChunkState::Data(size)
                    };
                    true
                }
                Ok(httparse::Status::Partial) => false,
                Err(_) => return Err(BodyError::Malformed),
            },
            ChunkState::Data(rest) => {
                let take = rest.min(p.len() as u64);
                wire.consume(take as usize);
                state = if take == rest {
                    ChunkState::DataEnd
                } else {
                    ChunkState::Data(rest - take)
                };
                take > 0
            }
            ChunkState::DataEnd => match p {
                [b'\r', b'\n', ..] => {
                    wire.consume(2);
                    state = ChunkState::Size;
                    true
                }
                [] | [b'\r'] => false,
                _ => return Err(BodyError::Malformed),
            },
            ChunkState::Trailer => match p.windows(2).position(|w| w == b"\r\n") {
                Some(0) => {
                    wire.consume(2);
                    return Ok(());
                }
                Some(line) => {
                    wire.consume(line + 2);
                    true
                }
                None => false,
            },
        };
        if !progress {
            fill_body(stream, wire).await?;
        }
    }
}

/// The end of one request on one connection.
enum RoundTrip {
    /// A complete response; `reusable` if the connection can carry the next.
    Done { head: Head, reusable: bool },
    /// The connection failed, or the response was malformed or cut short;
    /// `head` if its head had arrived.
    Broken { head: Option<Head> },
}

/// Read one response from `stream` (the request has been written).
async fn read_response(stream: &mut TcpStream, wire: &mut Wire, head_only: bool) -> RoundTrip {
    let head = loop {
        if !wire.pending().is_empty() {
            let pending = &wire.buf[wire.start..wire.end];
            match parse_head(pending, head_only, &mut wire.backend) {
                Parsed::Head(len, head) => {
                    wire.consume(len);
                    break head;
                }
                Parsed::Interim(len) => {
                    wire.consume(len);
                    continue;
                }
                Parsed::Malformed => return RoundTrip::Broken { head: None },
                Parsed::Partial => {}
            }
        }
        match wire.fill(stream).await {
            Ok(0) | Err(_) => return RoundTrip::Broken { head: None },
            Ok(_) => {}
        }
    };
    if read_body(stream, wire, head.body).await.is_err() {
        return RoundTrip::Broken { head: Some(head) };
    }
    // Bytes after the response were never asked for (requests are not
    // pipelined): the connection's framing cannot be trusted any more.
    let reusable = head.keep_alive && wire.pending().is_empty();
    wire.clear();
    RoundTrip::Done { head, reusable }
}

/// Whether an idle keep-alive connection is unusable: the peer closed it,
/// reset it or sent something unasked (e.g. a `408` before closing). Costs no
/// system call while the runtime knows the socket is not readable.
fn idle_closed(stream: &TcpStream) -> bool {
    let mut probe = [0u8; 1];
    !matches!(stream.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}

async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(addr).await?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

fn classify_connect(e: &io::Error) -> Outcome {
    match e.kind() {
        io::ErrorKind::TimedOut => Outcome::Timeout,
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => Outcome::Reset,
        _ => Outcome::ConnectRefused,
    }
}

// ---------------------------------------------------------------------------
// Workers
// ---------------------------------------------------------------------------

struct Shared {
    target: Target,
    /// The request's bytes ([`serialize_request`]).
    request: Vec<u8>,
    /// HEAD: responses have no body whatever their headers say.
    head_only: bool,
    timeout: Duration,
    record_all: bool,
    max_non_ok_records: usize,
    interval: Option<f64>,
    start: Instant,
    schedule: Mutex<Schedule>,
    stop: StopToken,
    /// The run's three histograms, shared by every worker (see [`Samples`]).
    histograms: Mutex<Histograms>,
    /// [`RateSchedule::ClosedLoop`]: a slot is due when it is taken.
    closed_loop: bool,
}

impl Shared {
    fn offset(&self, t: Instant) -> f64 {
        t.saturating_duration_since(self.start).as_secs_f64()
    }

    /// The next slot (id, intended offset) and the time it was taken.
    fn take(&self) -> Option<(u64, f64, Instant)> {
        let mut s = self.schedule.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let offset = self.offset(now);
        if self.stop.is_stopped() {
            s.cut_at(offset);
        }
        s.take(offset).map(|(id, t)| (id, t, now))
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
}

struct Exchange {
    outcome: Outcome,
    status: Option<u16>,
    /// Whether the response carried `x-backend` (value in [`Wire::backend`]).
    backend: bool,
}

impl Exchange {
    fn failed(outcome: Outcome) -> Self {
        Exchange {
            outcome,
            status: None,
            backend: false,
        }
    }
}

/// Latency, service time and send lag (µs) of every request.
struct Histograms {
    latency: Histogram<u64>,
    service: Histogram<u64>,
    send_lag: Histogram<u64>,
}

impl Histograms {
    fn new() -> Self {
        Histograms {
            latency: new_histogram(),
            service: new_histogram(),
            send_lag: new_histogram(),
        }
    }
}

/// A worker's samples not yet in the shared [`Histograms`]: flushed every
/// [`SAMPLE_BATCH`] requests under one lock. One set of histograms for the
/// run stays in cache; one set per worker (192 at 64 connections, each
/// counts array ~100 KB) made nearly every record a cache miss.
struct Samples {
    /// (latency, service, send lag) in µs; [`NO_SAMPLE`] where a request has
    /// none.
    pending: Vec<[u64; 3]>,
}

const SAMPLE_BATCH: usize = 64;
const NO_SAMPLE: u64 = u64::MAX;

impl Samples {
    fn new() -> Self {
        Samples {
            pending: Vec::with_capacity(SAMPLE_BATCH),
        }
    }

    fn push(&mut self, shared: &Shared, sample: [u64; 3]) {
        self.pending.push(sample);
        if self.pending.len() >= SAMPLE_BATCH {
            self.flush(shared);
        }
    }

    fn flush(&mut self, shared: &Shared) {
        if self.pending.is_empty() {
            return;
        }
        let mut h = shared.histograms.lock().unwrap_or_else(|e| e.into_inner());
        let h = &mut *h;
        for s in self.pending.drain(..) {
            for (hist, v) in [&mut h.latency, &mut h.service, &mut h.send_lag]
                .into_iter()
                .zip(s)
            {
                if v != NO_SAMPLE {
                    record_us(hist, v);
                }
            }
        }
    }
}

struct WorkerStats {
    outcomes: OutcomeCounts,
    samples: Samples,
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
            samples: Samples::new(),
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
        backend: Option<&str>,
        phase: &Arc<str>,
    ) {
        let latency = done.saturating_duration_since(intended);
        let latency_us = latency.as_micros().min(u64::MAX as u128) as u64;
        let outcome = ex.outcome;
        self.outcomes.add(outcome);
        let mut sample = [NO_SAMPLE; 3];
        if outcome.timed() {
            sample[0] = latency_us.min(NO_SAMPLE - 1);
        }
        let has_response = ex.status.is_some() && outcome != Outcome::Reset;
        if let (Some(a), true) = (actual, has_response) {
            sample[1] = (done.saturating_duration_since(a).as_micros() as u64).min(NO_SAMPLE - 1);
        }
        if let Some(a) = actual {
            sample[2] =
                (a.saturating_duration_since(intended).as_micros() as u64).min(NO_SAMPLE - 1);
        }
        self.samples.push(shared, sample);
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

/// One request on the worker's connection, opening one if there is none.
///
/// An idle keep-alive connection found closed (or written to in vain) is a
/// stale one, not a failure of this request: the request goes once more on
/// a fresh connection, with `actual` taken again. A response that does not
/// come after the request was written is the request's failure
/// ([`Outcome::Reset`]), as is anything going wrong on a fresh connection;
/// a connect error is classified by [`classify_connect`].
async fn exchange(
    shared: &Shared,
    conn: &mut Option<TcpStream>,
    wire: &mut Wire,
    actual: &mut Option<Instant>,
    opened: &mut u64,
    mut now: Option<Instant>,
) -> Exchange {
    loop {
        let fresh = match conn {
            Some(s) if !idle_closed(s) => false,
            _ => {
                *conn = None;
                match connect(shared.target.addr).await {
                    Ok(s) => {
                        *opened += 1;
                        *conn = Some(s);
                        true
                    }
                    Err(e) => return Exchange::failed(classify_connect(&e)),
                }
            }
        };
        let Some(stream) = conn.as_mut() else {
            continue;
        };
        wire.clear();
        // The caller's clock reading serves the first attempt on a pooled
        // connection; after a connect or a retry the clock is read again.
        let sent_at = match now.take() {
            Some(t) if !fresh => t,
            _ => Instant::now(),
        };
        *actual = Some(sent_at);
        if stream.write_all(&shared.request).await.is_err() {
            *conn = None;
            if fresh {
                return Exchange::failed(Outcome::Reset);
            }
            // The peer had closed the pooled connection: nothing of the
            // request can have been answered. Once more on a fresh one.
            *actual = None;
            continue;
        }
        return match read_response(stream, wire, shared.head_only).await {
            RoundTrip::Done { head, reusable } => {
                if !reusable {
                    *conn = None;
                }
                Exchange {
                    outcome: Outcome::from_status(head.status),
                    status: Some(head.status),
                    backend: head.has_backend,
                }
            }
            RoundTrip::Broken { head } => {
                *conn = None;
                Exchange {
                    outcome: Outcome::Reset,
                    status: head.map(|h| h.status),
                    backend: head.is_some_and(|h| h.has_backend),
                }
            }
        };
    }
}

async fn worker(
    shared: Arc<Shared>,
    timer: Option<Arc<PreciseTimer>>,
    slot: usize,
    phase: PhaseHandle,
    mut conn: Option<TcpStream>,
) -> WorkerStats {
    let mut stats = WorkerStats::new();
    let mut phases = PhaseCache::new(phase);
    let mut wire = Wire::new();
    if conn.is_some() {
        stats.connections_opened += 1;
    }
    // One timer per worker for all its requests' timeouts, not one per
    // request. Deadlines only grow (a worker takes slots in time order), so
    // it stays armed at an earlier deadline while requests complete and is
    // moved only when it fires before the current request's deadline: about
    // once per `timeout`, not once per request.
    let timeout = tokio::time::sleep_until(shared.start + shared.timeout);
    tokio::pin!(timeout);
    // The pacing sleep when the precise timer is off, reset per slot.
    let pace = tokio::time::sleep_until(shared.start);
    tokio::pin!(pace);
    while let Some((id, t, mut now)) = shared.take() {
        // Closed loop: due when taken (not rebuilt from the offset, whose
        // rounding could put it a nanosecond after `now`).
        let intended = if shared.closed_loop {
            now
        } else {
            shared.start + Duration::from_secs_f64(t)
        };
        if intended > now {
            match &timer {
                // A stop releases the precise timer's sleeps.
                Some(timer) => timer.sleep_until(slot, intended).await,
                None => {
                    pace.as_mut().reset(intended);
                    tokio::select! {
                        biased;
                        () = pace.as_mut() => {}
                        () = shared.stop.stopped() => {}
                    }
                }
            }
            now = Instant::now();
        }
        if shared.stop.is_stopped() && !shared.keep_after_stop(id, t) {
            // Beyond the cut: this id and every later one is dropped, so ids
            // stay contiguous (slots are handed out in time order).
            break;
        }
        let tag = phases.at(intended);
        let deadline = intended + shared.timeout;
        let mut actual = None;
        let ex = if now >= deadline {
            Exchange::failed(Outcome::Timeout)
        } else {
            if timeout.deadline() > deadline {
                timeout.as_mut().reset(deadline);
            }
            let answered = {
                let opened = &mut stats.connections_opened;
                let request = exchange(
                    &shared,
                    &mut conn,
                    &mut wire,
                    &mut actual,
                    opened,
                    Some(now),
                );
                tokio::pin!(request);
                loop {
                    tokio::select! {
                        biased;
                        ex = &mut request => break Some(ex),
                        () = &mut timeout => {
                            // Fired at an earlier request's deadline (or
                            // long ago): re-arm at this one's.
                            if Instant::now() >= deadline {
                                break None;
                            }
                            timeout.as_mut().reset(deadline);
                        }
                    }
                }
            };
            answered.unwrap_or_else(|| {
                // Mid-request: the connection's framing is lost.
                conn = None;
                Exchange::failed(Outcome::Timeout)
            })
        };
        let done = Instant::now();
        let backend = ex.backend.then_some(wire.backend.as_str());
        stats.record(&shared, id, t, intended, actual, done, ex, backend, &tag);
    }
    stats.samples.flush(&shared);
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

    let mut preconnected: Vec<Option<TcpStream>> = Vec::with_capacity(config.connections);
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
    let closed_loop = matches!(config.rate, RateSchedule::ClosedLoop);
    let request = serialize_request(&config.method, &target, &config.headers, &config.body);
    let shared = Arc::new(Shared {
        target,
        request,
        head_only: config.method == Method::HEAD,
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
        histograms: Mutex::new(Histograms::new()),
        closed_loop,
    });
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
    // worker is busy with a slow request, and wake the sleeping ones.
    let watcher = {
        let shared = shared.clone();
        let timer = timer.clone();
        tokio::spawn(async move {
            shared.stop.stopped().await;
            shared.cut_now();
            if let Some(t) = timer {
                t.release_all();
            }
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
    let Histograms {
        latency: histogram,
        service: service_histogram,
        send_lag: send_lag_histogram,
    } = std::mem::replace(
        &mut *shared.histograms.lock().unwrap_or_else(|e| e.into_inner()),
        Histograms::new(),
    );
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
        send_lag_histogram,
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

    // --- HTTP/1.1 framing: the parser alone --------------------------------

    fn head(raw: &str) -> (Parsed, String) {
        let mut backend = String::from("stale");
        let p = parse_head(raw.as_bytes(), false, &mut backend);
        (p, backend)
    }

    fn parsed(raw: &str) -> Head {
        match head(raw).0 {
            Parsed::Head(len, h) => {
                assert_eq!(len, raw.find("\r\n\r\n").unwrap() + 4, "{raw:?}");
                h
            }
            other => panic!("{raw:?}: {other:?}"),
        }
    }

    #[test]
    fn head_framing_follows_rfc_9112() {
        let h = parsed("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Backend: b1\r\n\r\nhello");
        assert_eq!(
            h,
            Head {
                status: 200,
                body: BodyKind::Length(5),
                keep_alive: true,
                has_backend: true,
            }
        );
        assert_eq!(
            head("HTTP/1.1 200 OK\r\nx-backend:  b1 \r\ncontent-length: 0\r\n\r\n").1,
            "b1"
        );
        let h = parsed("HTTP/1.1 503 x\r\ntransfer-encoding: gzip, Chunked\r\n\r\n");
        assert_eq!(
            (h.status, h.body, h.keep_alive),
            (503, BodyKind::Chunked, true)
        );
        // Chunked wins over a length; a coding after chunked is read to close.
        let h =
            parsed("HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n");
        assert_eq!(h.body, BodyKind::Chunked);
        let h = parsed("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked, gzip\r\n\r\n");
        assert_eq!((h.body, h.keep_alive), (BodyKind::UntilClose, false));
        let h =
            parsed("HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\ncontent-length: 1\r\n\r\n");
        assert_eq!((h.body, h.keep_alive), (BodyKind::Length(1), false));
        let h = parsed("HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\n");
        assert!(!h.keep_alive, "HTTP/1.0 closes by default");
        let h = parsed("HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 1\r\n\r\n");
        assert!(h.keep_alive);
        let h = parsed("HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!((h.body, h.keep_alive), (BodyKind::UntilClose, false));
        for empty in ["204 No Content", "304 Not Modified"] {
            let h = parsed(&format!("HTTP/1.1 {empty}\r\ncontent-length: 7\r\n\r\n"));
            assert_eq!((h.body, h.keep_alive), (BodyKind::Empty, true), "{empty}");
        }
        let mut b = String::new();
        let raw = b"HTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\n";
        assert!(matches!(
            parse_head(raw, true, &mut b),
            Parsed::Head(
                _,
                Head {
                    body: BodyKind::Empty,
                    keep_alive: true,
                    ..
                }
            )
        ));
        // No x-backend: the flag says so (the buffer's old value is stale).
        let (p, _) = head("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
        assert!(matches!(
            p,
            Parsed::Head(
                _,
                Head {
                    has_backend: false,
                    ..
                }
            )
        ));
        assert!(matches!(
            head("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n").0,
            Parsed::Interim(25)
        ));
    }

    #[test]
    fn head_partial_malformed_and_many_headers() {
        assert_eq!(head("HTTP/1.1 200 OK\r\ncontent-len").0, Parsed::Partial);
        assert_eq!(head("HTTP/1.1 200 OK\r\n").0, Parsed::Partial);
        for bad in [
            "garbage\r\n\r\n",
            "HTTP/1.1 abc OK\r\n\r\n",
            "HTTP/1.1 200 OK\r\ncontent-length: 1x\r\n\r\n",
            "HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n",
            "HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
        ] {
            assert_eq!(head(bad).0, Parsed::Malformed, "{bad:?}");
        }
        // Equal duplicate lengths are one length.
        let h = parsed("HTTP/1.1 200 OK\r\ncontent-length: 2\r\nContent-Length: 2\r\n\r\n");
        assert_eq!(h.body, BodyKind::Length(2));
        // More headers than the stack array: parsed again on the heap.
        let mut raw = String::from("HTTP/1.1 200 OK\r\n");
        for i in 0..100 {
            raw.push_str(&format!("x-h{i}: {i}\r\n"));
        }
        raw.push_str("x-backend: deep\r\ncontent-length: 0\r\n\r\n");
        assert_eq!(parsed(&raw).body, BodyKind::Length(0));
        assert_eq!(head(&raw).1, "deep");
        let mut raw = String::from("HTTP/1.1 200 OK\r\n");
        for i in 0..MANY_HEADERS + 1 {
            raw.push_str(&format!("x-h{i}: {i}\r\n"));
        }
        raw.push_str("\r\n");
        assert_eq!(head(&raw).0, Parsed::Malformed);
    }

    #[test]
    fn request_is_serialized_once_like_hyper() {
        let target = Target {
            addr: "127.0.0.1:9".parse().unwrap(),
            host: "127.0.0.1:9".into(),
            path: "/p?q=1".into(),
        };
        let get = serialize_request(&Method::GET, &target, &HeaderMap::new(), b"");
        assert_eq!(get, b"GET /p?q=1 HTTP/1.1\r\nhost: 127.0.0.1:9\r\n\r\n");
        let mut headers = HeaderMap::new();
        headers.insert("x-test", HeaderValue::from_static("yes"));
        headers.insert(HOST, HeaderValue::from_static("ignored"));
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("99"));
        let post = serialize_request(&Method::POST, &target, &headers, b"payload");
        assert_eq!(
            String::from_utf8(post).unwrap(),
            "POST /p?q=1 HTTP/1.1\r\nhost: 127.0.0.1:9\r\nx-test: yes\r\ncontent-length: 7\r\n\r\npayload"
        );
        let put = serialize_request(&Method::PUT, &target, &HeaderMap::new(), b"");
        assert!(put.ends_with(b"content-length: 0\r\n\r\n"));
    }

    // --- HTTP/1.1 framing against in-process TCP servers --------------------

    /// Read one request (head and `content-length` body); None at EOF.
    async fn read_request(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Vec<u8>> {
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .map_or(0, |v| v.parse().unwrap());
                if buf.len() >= end + 4 + len {
                    return Some(buf.drain(..end + 4 + len).collect());
                }
            }
            let mut chunk = [0u8; 4096];
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// What a scripted server does with the `n`-th request it receives
    /// (counted over all its connections).
    #[derive(Clone)]
    enum Step {
        /// Write these pieces, pausing between them (split reads).
        Answer(Vec<&'static str>),
        /// Answer, then close the connection after a pause.
        AnswerThenClose(&'static str, Duration),
        /// Never answer; keep the connection open.
        Hang,
    }

    /// Every request received: (connection index, bytes).
    type Received = Arc<Mutex<Vec<(usize, Vec<u8>)>>>;

    struct Scripted {
        addr: SocketAddr,
        requests: Received,
        connections: Arc<AtomicU64>,
        task: tokio::task::JoinHandle<()>,
    }

    impl Drop for Scripted {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    impl Scripted {
        fn url(&self) -> String {
            format!("http://{}/", self.addr)
        }
        fn requests(&self) -> usize {
            self.requests.lock().unwrap().len()
        }
    }

    async fn scripted(script: impl Fn(usize) -> Step + Send + Sync + 'static) -> Scripted {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests: Received = Arc::default();
        let connections = Arc::new(AtomicU64::new(0));
        let script = Arc::new(script);
        let (reqs, conns) = (requests.clone(), connections.clone());
        let task = tokio::spawn(async move {
            let mut tasks = tokio::task::JoinSet::new();
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                // Else Nagle holds a second piece until the client's
                // (delayed, 40 ms) ACK of the first.
                s.set_nodelay(true).unwrap();
                let conn = conns.fetch_add(1, Ordering::SeqCst) as usize;
                let (reqs, script) = (reqs.clone(), script.clone());
                tasks.spawn(async move {
                    let mut buf = Vec::new();
                    while let Some(req) = read_request(&mut s, &mut buf).await {
                        let n = {
                            let mut r = reqs.lock().unwrap();
                            r.push((conn, req));
                            r.len() - 1
                        };
                        match script(n) {
                            Step::Answer(pieces) => {
                                for (i, p) in pieces.iter().enumerate() {
                                    if i > 0 {
                                        tokio::time::sleep(Duration::from_millis(5)).await;
                                    }
                                    s.write_all(p.as_bytes()).await.unwrap();
                                }
                            }
                            Step::AnswerThenClose(p, pause) => {
                                s.write_all(p.as_bytes()).await.unwrap();
                                tokio::time::sleep(pause).await;
                                return;
                            }
                            Step::Hang => tokio::time::sleep(Duration::from_secs(60)).await,
                        }
                    }
                });
            }
        });
        Scripted {
            addr,
            requests,
            connections,
            task,
        }
    }

    fn scripted_cfg(url: String, requests: u64) -> LoadConfig {
        let mut c = LoadConfig::new(url, 100.0);
        c.connections = 1;
        c.max_requests = requests;
        c.timeout = Duration::from_millis(500);
        c
    }

    async fn run(c: LoadConfig) -> LoadReport {
        let r = run_load(c, PhaseTag::new("t")).await.unwrap();
        assert_eq!(r.sent, r.outcomes.total());
        assert_eq!(r.non_ok.len() as u64, r.outcomes.non_ok());
        r
    }

    const OK: &str = "HTTP/1.1 200 OK\r\nx-backend: s\r\ncontent-length: 5\r\n\r\nhello";

    #[tokio::test]
    async fn chunked_bodies_split_across_reads_keep_the_connection() {
        let srv = scripted(|n| {
            Step::Answer(match n % 2 {
                0 => vec![
                    "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nx-back",
                    "end: c\r\n\r\n5\r\nhel",
                    "lo\r",
                    "\n1a;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r",
                    "\nx-trailer: t\r\n",
                    "\r\n",
                ],
                _ => vec!["HTTP/1.1 500 x\r\nTransfer-Encoding: chunked\r\nx-backend: c\r\n\r\n3\r\nabc\r\n0\r\n\r\n"],
            })
        })
        .await;
        let r = run(scripted_cfg(srv.url(), 10)).await;
        assert_eq!(
            (r.outcomes.ok, r.outcomes.http_5xx),
            (5, 5),
            "{:?}",
            r.outcomes
        );
        assert_eq!(r.connections_opened, 1, "chunked responses keep alive");
        assert_eq!(srv.connections.load(Ordering::SeqCst), 1);
        assert_eq!(r.per_backend["c"].ok, 5);
        assert_eq!(r.per_backend["c"].http_5xx, 5);
        assert!(r
            .non_ok
            .iter()
            .all(|x| x.status == Some(500) && x.backend.as_deref() == Some("c")));
    }

    #[tokio::test]
    async fn byte_by_byte_response_and_interim_100() {
        const SPLIT: &[&str] = &[
            "HTTP/1.1 100 Continue\r\n\r\n",
            "H",
            "TTP/1.1 2",
            "04 No Content\r\n",
            "x-backend: s\r",
            "\n",
            "\r",
            "\n",
        ];
        let srv = scripted(|n| {
            if n % 2 == 0 {
                Step::Answer(SPLIT.to_vec())
            } else {
                Step::Answer(vec![&OK[..20], &OK[20..50], &OK[50..]])
            }
        })
        .await;
        let r = run(scripted_cfg(srv.url(), 6)).await;
        assert_eq!(r.outcomes.ok, 6, "{:?}", r.non_ok);
        assert_eq!(r.connections_opened, 1);
        assert_eq!(r.per_backend["s"].ok, 6);
    }

    #[tokio::test]
    async fn connection_close_and_http_1_0_open_a_connection_per_request() {
        let srv = scripted(|n| match n % 3 {
            0 => Step::AnswerThenClose(
                "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok",
                Duration::from_millis(1),
            ),
            // No length: the body ends with the connection.
            1 => Step::AnswerThenClose("HTTP/1.0 200 OK\r\n\r\nuntil close", Duration::ZERO),
            _ => Step::AnswerThenClose(
                "HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok",
                Duration::from_millis(1),
            ),
        })
        .await;
        let r = run(scripted_cfg(srv.url(), 9)).await;
        assert_eq!(r.outcomes.ok, 9, "{:?}", r.non_ok);
        assert_eq!(r.connections_opened, 9);
        assert_eq!(srv.requests(), 9, "each request sent exactly once");
    }

    #[tokio::test]
    async fn malformed_and_truncated_responses_are_resets() {
        let srv = scripted(|n| match n % 3 {
            0 => Step::AnswerThenClose("garbage\r\n\r\n", Duration::from_millis(1)),
            1 => Step::AnswerThenClose(
                "HTTP/1.1 200 OK\r\nx-backend: t\r\ncontent-length: 100\r\n\r\nshort",
                Duration::ZERO,
            ),
            _ => Step::AnswerThenClose(
                "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
                Duration::from_millis(1),
            ),
        })
        .await;
        let r = run(scripted_cfg(srv.url(), 6)).await;
        assert_eq!(r.outcomes.reset, 6, "{:?}", r.outcomes);
        let status: Vec<_> = r.non_ok.iter().map(|x| x.status).collect();
        assert_eq!(
            status,
            [None, Some(200), Some(200), None, Some(200), Some(200)]
        );
        assert_eq!(r.per_backend["t"].reset, 2, "the head's backend is kept");
        assert_eq!(r.service_latency().count, 0, "no complete response");
        assert_eq!(srv.requests(), 6, "a broken answer is not retried");
    }

    #[tokio::test]
    async fn unrequested_bytes_after_a_response_drop_the_connection() {
        let srv = scripted(|_| Step::Answer(vec!["HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"])).await;
        let r = run(scripted_cfg(srv.url(), 4)).await;
        assert_eq!(r.outcomes.ok, 4, "{:?}", r.non_ok);
        assert_eq!(
            r.connections_opened, 4,
            "leftovers are never read as an answer"
        );
    }

    #[tokio::test]
    async fn stale_keep_alive_connection_is_replaced_not_failed() {
        // Keep-alive answers, but the server closes each connection 5 ms
        // later, before the next request (every 20 ms) is due.
        let srv = scripted(|_| Step::AnswerThenClose(OK, Duration::from_millis(5))).await;
        let mut c = scripted_cfg(srv.url(), 8);
        c.rate = RateSchedule::Constant(50.0);
        let r = run(c).await;
        assert_eq!(r.outcomes.ok, 8, "{:?}", r.non_ok);
        assert_eq!(r.connections_opened, 8);
        assert_eq!(srv.requests(), 8, "each request reached the server once");
    }

    #[tokio::test]
    async fn a_request_dropped_after_it_was_written_is_a_reset_not_retried() {
        // Connection 0 answers its first request, then closes on the second
        // without answering (like a backend that dies mid-request).
        let srv = scripted(|n| match n {
            0 => Step::Answer(vec![OK]),
            1 => Step::AnswerThenClose("", Duration::ZERO),
            _ => Step::Answer(vec![OK]),
        })
        .await;
        let r = run(scripted_cfg(srv.url(), 4)).await;
        assert_eq!(
            (r.outcomes.ok, r.outcomes.reset),
            (3, 1),
            "{:?}",
            r.outcomes
        );
        assert_eq!(r.non_ok[0].id, 1);
        assert_eq!(srv.requests(), 4);
        assert_eq!(r.connections_opened, 2);
    }

    #[tokio::test]
    async fn timeout_drops_the_connection_and_one_timer_serves_every_request() {
        // Request 2 hangs: Timeout at exactly its deadline, and the next
        // request goes on a new connection.
        let srv = scripted(|n| {
            if n == 2 {
                Step::Hang
            } else {
                Step::Answer(vec![OK])
            }
        })
        .await;
        let mut c = scripted_cfg(srv.url(), 5);
        c.rate = RateSchedule::Constant(10.0);
        c.timeout = Duration::from_millis(60);
        let r = run(c).await;
        assert_eq!(
            (r.outcomes.ok, r.outcomes.timeout),
            (4, 1),
            "{:?}",
            r.outcomes
        );
        let t = &r.non_ok[0];
        assert_eq!((t.id, t.outcome, t.status), (2, Outcome::Timeout, None));
        assert!(t.latency >= Duration::from_millis(60), "{:?}", t.latency);
        assert!(t.latency < Duration::from_millis(200), "{:?}", t.latency);
        assert_eq!(r.connections_opened, 2);
        assert_eq!(srv.connections.load(Ordering::SeqCst), 2);

        // Many requests over several timeouts on one connection, each
        // answered in two pieces 5 ms apart: the timer, armed at an earlier
        // deadline, fires mid-request and is re-armed without failing
        // anything.
        let srv = scripted(|_| Step::Answer(vec![&OK[..10], &OK[10..]])).await;
        let mut c = scripted_cfg(srv.url(), 60);
        c.rate = RateSchedule::Constant(100.0);
        c.timeout = Duration::from_millis(40);
        let r = run(c).await;
        assert_eq!(r.outcomes.ok, 60, "{:?}", r.non_ok);
        assert_eq!(r.connections_opened, 1);
    }

    #[tokio::test]
    async fn method_headers_and_body_go_out_as_configured() {
        let srv = scripted(|_| Step::Answer(vec![OK])).await;
        let mut c = scripted_cfg(format!("http://{}/p/q?x=1", srv.addr), 2);
        c.method = Method::POST;
        c.headers.insert("x-test", HeaderValue::from_static("yes"));
        c.body = Bytes::from_static(b"payload");
        let r = run(c).await;
        assert_eq!(r.outcomes.ok, 2);
        let expected = format!(
            "POST /p/q?x=1 HTTP/1.1\r\nhost: {}\r\nx-test: yes\r\ncontent-length: 7\r\n\r\npayload",
            srv.addr
        );
        let reqs = srv.requests.lock().unwrap();
        assert!(reqs
            .iter()
            .all(|(conn, r)| *conn == 0 && r == expected.as_bytes()));
    }

    #[tokio::test]
    async fn a_stop_releases_workers_sleeping_on_the_precise_timer() {
        // Slot 0 at 0 s, slot 1 at 30 s: a worker takes slot 1 at once and
        // sleeps on the precise timer. The stop must wake it (and give the
        // slot back, being past the cut) instead of leaving it asleep until
        // its intended time.
        let srv = scripted(|_| Step::Answer(vec![OK])).await;
        let mut c = LoadConfig::new(srv.url(), 1.0 / 30.0);
        c.connections = 2;
        c.max_duration = Duration::from_secs(60);
        assert!(c.precise_timer);
        let stop = StopToken::new();
        let s2 = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            s2.stop();
        });
        let t0 = std::time::Instant::now();
        let r = run_load_until(c, PhaseTag::new("t"), stop).await.unwrap();
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the sleeping worker was not released: {:?}",
            t0.elapsed()
        );
        assert!(r.stopped_early);
        assert_eq!((r.sent, r.outcomes.ok), (1, 1), "{:?}", r.outcomes);
        assert_eq!(srv.requests(), 1);
    }

    #[tokio::test]
    async fn every_request_reaches_the_shared_histograms() {
        // Several workers, each flushing its samples in batches of
        // SAMPLE_BATCH and once more at its end: nothing is lost or doubled.
        let srv = scripted(|n| match n % 10 {
            9 => Step::AnswerThenClose(
                "HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nshort",
                Duration::ZERO,
            ),
            _ => Step::Answer(vec![OK]),
        })
        .await;
        let mut c = LoadConfig::new(srv.url(), 1.0);
        c.rate = RateSchedule::ClosedLoop;
        c.connections = 3;
        let n = 3 * SAMPLE_BATCH as u64 + 17;
        c.max_requests = n;
        let r = run(c).await;
        assert_eq!(r.sent, n);
        let resets = r.outcomes.reset;
        assert!(resets > 0, "{:?}", r.outcomes);
        assert_eq!(r.outcomes.ok + resets, n, "{:?}", r.outcomes);
        // Latency for every response; service time only for those answered
        // in full; send lag for every request handed to a connection.
        assert_eq!(r.histogram.len(), n - resets);
        assert_eq!(r.service_histogram.len(), n - resets);
        assert_eq!(r.send_lag_histogram.len(), n);
    }
}
