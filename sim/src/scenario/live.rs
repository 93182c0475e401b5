//! `[live]`: how a scenario runs as real containers (`shakedown live`).
//!
//! ```text
//!   [live] ──serde──▶ RawLive ──validate──▶ LiveConfig ──(integration)──▶ LiveSpec
//!   (unknown keys     (as written)          (defaults applied,           (fixture behaviours and
//!    rejected)                               chaos specs resolved)        image names checked)
//! ```
//!
//! Validated here like the rest of the scenario, with the same located
//! errors (`file:line:col: `live.rps`: …`), so a simulated `run` replays a
//! live scenario's chaos without the live crate. What only the live
//! environment can judge (fixture behaviour strings, image references, which
//! analyses it can measure) is checked when the live crate turns a
//! [`LiveConfig`] into its runtime spec, through a [`Locator`].
//!
//! ```toml
//! [live]
//! rps = 500                 # default: the scenario's traffic curve
//! time_scale = 1            # scenario seconds per wall second
//! drain = true              # default: change.drain > 0
//!
//! [live.versions."1.6.2"]   # change.from
//! behaviour = "good"        # a fixture behaviour…
//! [live.versions."1.12.1"]  # change.to
//! image = "my-svc:dev"      # …or a local image (port, env optional)
//! port = 9000
//!
//! [[live.chaos]]
//! action = "kill"           # kill, sigterm, pause, network-cut, host-crash, daemon-upgrade
//! at = "12s"                # scenario time; default: drawn from the seed in `window`
//!
//! [live.limits]             # every container's; these are the defaults
//! memory = "256MiB"         # as `docker run --memory` (6MiB to 1TiB); no swap
//! cpus = 1.0                # as `docker run --cpus` (0.01 to 1024)
//! pids = 256                # as `docker run --pids-limit` (1 to 4194304)
//! read_only = true          # read-only root filesystem
//! tmp = "16MiB"             # a tmpfs on /tmp ("0": none), at most `memory`
//! ```
//!
//! Which durations are scaled: scenario-time values (`cooldown`, chaos `at`,
//! `window`, `duration`, and the scenario's own `tick`, `min_ready`,
//! `detection_delay`) are [`SimDuration`]s compressed by the time scale;
//! durations of real processes (`grace`, `drain_timeout`, `request_timeout`,
//! `probe_interval`) are wall-clock [`Duration`]s and never scaled. Nothing
//! here reads a clock.

use super::{Change, Checker, Fleet, ScenarioError};
use crate::analysis::spec::{AnalysisSpec, Provider};
use crate::chaos::{FaultKind, FaultSpec};
use crate::policy::spec::{CanaryStep, PolicySpec};
use crate::time::SimDuration;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// At most this many replicas per role in live mode (one container each).
pub const MAX_REPLICAS: u32 = 16;
/// Highest request rate live mode generates (per run).
pub const MAX_RPS: f64 = 20_000.0;
/// The health check path when `health_path` is not given.
pub const DEFAULT_HEALTH_PATH: &str = "/health";
/// The port a local image listens on when `port` is not given (the fixture
/// service's port).
pub const DEFAULT_PORT: u16 = 8080;

// ---- as written ---------------------------------------------------------------

/// `[live]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLive {
    pub rps: Option<f64>,
    pub time_scale: Option<f64>,
    pub connections: Option<i64>,
    pub request_timeout: Option<SimDuration>,
    pub cooldown: Option<SimDuration>,
    pub drain: Option<bool>,
    pub drain_timeout: Option<SimDuration>,
    pub health_gate: Option<bool>,
    pub health_path: Option<String>,
    pub probe_interval: Option<SimDuration>,
    pub grace: Option<SimDuration>,
    pub budget: Option<i64>,
    pub retries: Option<i64>,
    pub versions: Option<BTreeMap<String, RawLiveVersion>>,
    #[serde(default)]
    pub chaos: Vec<RawChaos>,
    pub limits: Option<RawLimits>,
}

/// `[live.limits]` as written; also the form it is printed in.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pids: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmp: Option<String>,
}

/// One `[live.versions.NAME]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLiveVersion {
    pub behaviour: Option<String>,
    pub image: Option<String>,
    pub port: Option<i64>,
    pub env: Option<BTreeMap<String, String>>,
}

/// One `[[live.chaos]]` entry as written; also the form it is printed in.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawChaos {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<SimDuration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<Vec<SimDuration>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replica: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<SimDuration>,
}

// ---- validated ------------------------------------------------------------------

/// The validated `[live]` table, every default applied.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LiveConfig {
    /// Requests per second; `None`: follow the scenario's traffic curve.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rps: Option<f64>,
    /// Scenario seconds per wall second.
    pub time_scale: f64,
    /// Keep-alive connections of the load generator (per role).
    pub connections: u32,
    /// A request without a complete answer this long after its intended
    /// send time is a `timeout` (wall).
    #[serde(serialize_with = "wall")]
    pub request_timeout: Duration,
    /// Load keeps running this long after the policy finishes (scenario time).
    pub cooldown: SimDuration,
    /// Take a replica out of the router and wait for its in-flight requests
    /// before stopping it. `false` reproduces the endpoint-removal race.
    pub drain: bool,
    /// Longest wait for a drain (wall).
    #[serde(serialize_with = "wall")]
    pub drain_timeout: Duration,
    /// Route to a new replica only once its health check passes.
    pub health_gate: bool,
    pub health_path: String,
    /// How often the driver probes each serving replica (wall).
    #[serde(serialize_with = "wall")]
    pub probe_interval: Duration,
    /// SIGTERM grace before SIGKILL (wall).
    #[serde(serialize_with = "wall")]
    pub grace: Duration,
    /// Non-ok requests allowed before the verdict fails.
    pub budget: u64,
    /// Router retries of connect failures (counted and reported).
    pub retries: u32,
    /// By version name: exactly the scenario's `change.from` and `change.to`.
    pub versions: BTreeMap<String, LiveVersion>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub chaos: Vec<ChaosEntry>,
    /// What each container may use (`[live.limits]`).
    pub limits: LiveLimits,
}

/// The resource limits of every live container (`[live.limits]`), as the
/// engine takes them (the live crate's `ContainerLimits`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveLimits {
    /// Memory in bytes (`HostConfig.Memory`; swap is limited to the same).
    pub memory_bytes: u64,
    /// CPU quota in 1e-9 CPUs (`HostConfig.NanoCpus`).
    pub nano_cpus: u64,
    /// Processes and threads (`HostConfig.PidsLimit`).
    pub pids: u64,
    /// Read-only root filesystem (`HostConfig.ReadonlyRootfs`).
    pub read_only: bool,
    /// Size of the tmpfs on `/tmp`; 0: none.
    pub tmp_bytes: u64,
}

impl LiveLimits {
    /// 256 MiB of memory.
    pub const DEFAULT_MEMORY_BYTES: u64 = 256 << 20;
    /// One CPU.
    pub const DEFAULT_NANO_CPUS: u64 = 1_000_000_000;
    /// 256 processes and threads.
    pub const DEFAULT_PIDS: u64 = 256;
    /// 16 MiB of `/tmp`.
    pub const DEFAULT_TMP_BYTES: u64 = 16 << 20;
    /// dockerd's least memory limit: 6 MiB (moby `daemon/daemon_unix.go`,
    /// `linuxMinMemory`); a smaller one fails only when the container starts.
    pub const MIN_MEMORY_BYTES: u64 = 6 << 20;
    /// The most memory a scenario may give a container: 1 TiB.
    pub const MAX_MEMORY_BYTES: u64 = 1 << 40;
    /// The kernel's largest pid (`PID_MAX_LIMIT` on 64-bit, 2^22).
    pub const MAX_PIDS: u64 = 1 << 22;
}

impl Default for LiveLimits {
    /// 256 MiB (no swap), 1 CPU, 256 pids, read-only root, 16 MiB `/tmp`.
    fn default() -> Self {
        LiveLimits {
            memory_bytes: Self::DEFAULT_MEMORY_BYTES,
            nano_cpus: Self::DEFAULT_NANO_CPUS,
            pids: Self::DEFAULT_PIDS,
            read_only: true,
            tmp_bytes: Self::DEFAULT_TMP_BYTES,
        }
    }
}

impl Serialize for LiveLimits {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        RawLimits {
            memory: Some(format_size(self.memory_bytes)),
            cpus: Some(self.nano_cpus as f64 / 1e9),
            pids: Some(self.pids as i64),
            read_only: Some(self.read_only),
            tmp: Some(format_size(self.tmp_bytes)),
        }
        .serialize(s)
    }
}

/// Parses a size as `docker run --memory` does (go-units `RAMInBytes`,
/// docker/go-units `size.go`): a decimal number, an optional space, an
/// optional unit `k`, `m`, `g`, `t` or `p` (powers of 1024), an optional
/// `i` and an optional `b`, case-insensitive; the bytes are truncated to an
/// integer. `None` if it is not one.
pub fn parse_size(s: &str) -> Option<u64> {
    let digits = |t: &str| t.len() - t.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let int = digits(s);
    if int == 0 {
        return None;
    }
    let mut rest = &s[int..];
    let mut number = &s[..int];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = digits(frac);
        if n == 0 {
            return None;
        }
        number = &s[..int + 1 + n];
        rest = &frac[n..];
    }
    let value: f64 = number.parse().ok()?;
    let rest = rest.strip_prefix(' ').unwrap_or(rest).to_ascii_lowercase();
    let mut rest = rest.as_str();
    let mut multiplier = 1.0;
    for (i, unit) in ["k", "m", "g", "t", "p"].iter().enumerate() {
        if let Some(r) = rest.strip_prefix(unit) {
            multiplier = 1024f64.powi(i as i32 + 1);
            rest = r;
            break;
        }
    }
    let rest = rest.strip_prefix('i').unwrap_or(rest);
    let rest = rest.strip_prefix('b').unwrap_or(rest);
    if !rest.is_empty() {
        return None;
    }
    let bytes = value * multiplier;
    (bytes < u64::MAX as f64).then_some(bytes as u64)
}

/// A byte count in the largest binary unit that holds it exactly (`256MiB`,
/// `1000B`): what [`parse_size`] reads back to the same count.
pub fn format_size(bytes: u64) -> String {
    for (shift, unit) in [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")] {
        if bytes != 0 && bytes % (1u64 << shift) == 0 {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    format!("{bytes}B")
}

/// What one version of the service runs, as the scenario names it (the live
/// crate checks the behaviour string and the image reference).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LiveVersion {
    #[serde(flatten)]
    pub source: LiveSource,
    /// Extra env pairs for its containers.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum LiveSource {
    /// The fixture test service with a `BEHAVIOUR` (`good`, `errors=0.05`, …).
    Fixture { behaviour: String },
    /// A local image listening on `port`; `behaviour`, if given, is passed
    /// as env `BEHAVIOUR`.
    Image {
        image: String,
        port: u16,
        #[serde(skip_serializing_if = "Option::is_none")]
        behaviour: Option<String>,
    },
}

/// One validated `[[live.chaos]]` entry: the spec the scheduler takes, and
/// the names it was written with (printed back by `--print-resolved`).
#[derive(Clone, Debug, PartialEq)]
pub struct ChaosEntry {
    pub spec: FaultSpec,
    /// The name of role `spec.role`.
    pub role: String,
    /// The name of zone `spec.zone` of that role.
    pub zone: Option<String>,
}

impl Serialize for ChaosEntry {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let f = &self.spec;
        RawChaos {
            action: Some(f.kind.as_str().to_string()),
            at: f.at,
            window: f.at.is_none().then(|| vec![f.window.0, f.window.1]),
            role: Some(self.role.clone()),
            replica: f.replica.map(i64::from),
            zone: self.zone.clone(),
            duration: f.kind.has_duration().then_some(f.duration),
        }
        .serialize(s)
    }
}

fn wall<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    SimDuration::from_millis(d.as_millis() as u64).serialize(s)
}

impl LiveConfig {
    /// The chaos specs, in file order, for [`crate::chaos::schedule`].
    pub fn fault_specs(&self) -> Vec<FaultSpec> {
        self.chaos.iter().map(|c| c.spec.clone()).collect()
    }
}

/// Checks a time scale from the file or the command line.
pub fn check_time_scale(f: f64) -> Result<f64, String> {
    if f.is_finite() && (0.01..=100_000.0).contains(&f) {
        Ok(f)
    } else {
        Err(format!(
            "must be between 0.01 and 100000 scenario seconds per wall second, got {f}"
        ))
    }
}

// ---- validation -----------------------------------------------------------------

/// What `[live]` validation needs from the rest of the scenario.
pub(super) struct Context<'a> {
    pub fleet: &'a Fleet,
    pub change: &'a Change,
    pub tick: SimDuration,
    pub duration: SimDuration,
}

impl Checker<'_> {
    /// An error at a field of `[live.versions.NAME]`, which the file may
    /// write quoted (`[live.versions."1.6.2"]`) or bare (`[live.versions.v1]`);
    /// the field is always named quoted.
    fn version_err(&self, name: &str, key: Option<&str>, message: String) -> ScenarioError {
        let suffix = key.map(|k| format!(".{k}")).unwrap_or_default();
        let quoted = format!("live.versions.\"{name}\"{suffix}");
        let bare = format!("live.versions.{name}{suffix}");
        let parent = self.index.locate("live.versions");
        let at = |p: &str| self.index.locate(p);
        let mut e = self.err(&quoted, message);
        if at(&bare) != parent && at(&quoted) == parent {
            (e.line, e.column) = at(&bare);
        }
        e
    }

    fn int(&self, field: &str, v: i64, min: i64, max: i64) -> Result<i64, ScenarioError> {
        if (min..=max).contains(&v) {
            Ok(v)
        } else if max == i64::MAX {
            Err(self.err(field, format!("must be at least {min}, got {v}")))
        } else {
            Err(self.err(field, format!("must be between {min} and {max}, got {v}")))
        }
    }

    fn wall_or(
        &self,
        field: &str,
        v: Option<SimDuration>,
        default: Duration,
        (min, max): (SimDuration, SimDuration),
    ) -> Result<Duration, ScenarioError> {
        match v {
            None => Ok(default),
            Some(d) if d < min || d > max => {
                Err(self.err(field, format!("must be between {min} and {max}, got {d}")))
            }
            Some(d) => Ok(Duration::from_millis(d.as_millis())),
        }
    }
}

/// Validates `[live]` against the scenario it belongs to.
pub(super) fn validate(
    c: &Checker<'_>,
    raw: RawLive,
    ctx: &Context<'_>,
) -> Result<LiveConfig, ScenarioError> {
    for (i, r) in ctx.fleet.roles.iter().enumerate() {
        if r.hosts > MAX_REPLICAS {
            return Err(c.err(
                &format!("fleet.roles[{i}].hosts"),
                format!(
                    "live mode runs one container per host: at most {MAX_REPLICAS} per role, got {}",
                    r.hosts
                ),
            ));
        }
    }
    let rps = match raw.rps {
        Some(r) if !(r > 0.0 && r <= MAX_RPS) => {
            return Err(c.err(
                "live.rps",
                format!("must be in (0, {MAX_RPS}] requests per second, got {r}"),
            ))
        }
        r => r,
    };
    let time_scale =
        check_time_scale(raw.time_scale.unwrap_or(1.0)).map_err(|m| c.err("live.time_scale", m))?;
    let connections = c.int("live.connections", raw.connections.unwrap_or(64), 1, 1024)? as u32;
    let ms = SimDuration::from_millis;
    let secs = SimDuration::from_secs;
    let request_timeout = c.wall_or(
        "live.request_timeout",
        raw.request_timeout,
        Duration::from_secs(2),
        (ms(10), secs(120)),
    )?;
    let drain_timeout = c.wall_or(
        "live.drain_timeout",
        raw.drain_timeout,
        Duration::from_secs(10),
        (SimDuration::ZERO, secs(600)),
    )?;
    let health_path = raw
        .health_path
        .unwrap_or_else(|| DEFAULT_HEALTH_PATH.to_string());
    if !health_path.starts_with('/') || health_path.chars().any(char::is_whitespace) {
        return Err(c.err(
            "live.health_path",
            format!("must be a path starting with `/`, got \"{health_path}\""),
        ));
    }
    let probe_interval = c.wall_or(
        "live.probe_interval",
        raw.probe_interval,
        Duration::from_millis(200),
        (ms(20), secs(60)),
    )?;
    let grace = c.wall_or(
        "live.grace",
        raw.grace,
        Duration::from_secs(5),
        (SimDuration::ZERO, secs(600)),
    )?;
    let budget = c.int("live.budget", raw.budget.unwrap_or(0), 0, i64::MAX)? as u64;
    let retries = c.int("live.retries", raw.retries.unwrap_or(0), 0, 5)? as u32;
    let versions = validate_versions(c, raw.versions, ctx.change)?;
    let limits = validate_limits(c, raw.limits.unwrap_or_default())?;
    let chaos = raw
        .chaos
        .into_iter()
        .enumerate()
        .map(|(i, f)| validate_chaos(c, i, f, ctx))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(LiveConfig {
        rps,
        time_scale,
        connections,
        request_timeout,
        cooldown: raw
            .cooldown
            .unwrap_or(SimDuration::from_millis(ctx.tick.as_millis() * 2)),
        drain: raw.drain.unwrap_or(!ctx.change.drain.is_zero()),
        drain_timeout,
        health_gate: raw.health_gate.unwrap_or(true),
        health_path,
        probe_interval,
        grace,
        budget,
        retries,
        versions,
        chaos,
        limits,
    })
}

fn validate_limits(c: &Checker<'_>, raw: RawLimits) -> Result<LiveLimits, ScenarioError> {
    let d = LiveLimits::default();
    let size = |field: &str, v: Option<String>, default: u64| -> Result<u64, ScenarioError> {
        match v {
            None => Ok(default),
            Some(v) => parse_size(&v).ok_or_else(|| {
                c.err(
                    field,
                    format!(
                        "must be a size like \"256MiB\" (a number and an optional unit k, m, g, t or p, \
                         powers of 1024, as `docker run --memory`), got \"{v}\""
                    ),
                )
            }),
        }
    };
    let memory_bytes = size("live.limits.memory", raw.memory, d.memory_bytes)?;
    if !(LiveLimits::MIN_MEMORY_BYTES..=LiveLimits::MAX_MEMORY_BYTES).contains(&memory_bytes) {
        return Err(c.err(
            "live.limits.memory",
            format!(
                "must be between 6MiB (the least dockerd accepts) and 1TiB, got {}",
                format_size(memory_bytes)
            ),
        ));
    }
    let tmp_bytes = size("live.limits.tmp", raw.tmp, d.tmp_bytes.min(memory_bytes))?;
    if tmp_bytes > memory_bytes {
        return Err(c.err(
            "live.limits.tmp",
            format!(
                "{} of /tmp is more than the container's memory ({}): tmpfs pages count against it",
                format_size(tmp_bytes),
                format_size(memory_bytes)
            ),
        ));
    }
    let nano_cpus = match raw.cpus {
        None => d.nano_cpus,
        Some(cpus) if (0.01..=1024.0).contains(&cpus) => (cpus * 1e9).round() as u64,
        Some(cpus) => {
            return Err(c.err(
                "live.limits.cpus",
                format!("must be between 0.01 and 1024 CPUs, got {cpus}"),
            ))
        }
    };
    let pids = match raw.pids {
        None => d.pids,
        Some(p) => c.int("live.limits.pids", p, 1, LiveLimits::MAX_PIDS as i64)? as u64,
    };
    Ok(LiveLimits {
        memory_bytes,
        nano_cpus,
        pids,
        read_only: raw.read_only.unwrap_or(d.read_only),
        tmp_bytes,
    })
}

fn validate_versions(
    c: &Checker<'_>,
    raw: Option<BTreeMap<String, RawLiveVersion>>,
    change: &Change,
) -> Result<BTreeMap<String, LiveVersion>, ScenarioError> {
    let (from, to) = (&change.from, &change.to);
    let example = format!(
        "map each version of the change to what runs, e.g. [live.versions.\"{from}\"] behaviour = \"good\" and [live.versions.\"{to}\"] behaviour = \"good\""
    );
    let Some(raw) = raw else {
        return Err(c.err("live.versions", format!("missing; {example}")));
    };
    for name in [from, to] {
        if !raw.contains_key(name) {
            return Err(c.err(
                "live.versions",
                format!(
                    "no entry for version \"{name}\" (the change goes {from} -> {to}); {example}"
                ),
            ));
        }
    }
    let mut out = BTreeMap::new();
    for (name, v) in raw {
        if name != *from && name != *to {
            return Err(c.version_err(
                &name,
                None,
                format!("version \"{name}\" is neither change.from (\"{from}\") nor change.to (\"{to}\")"),
            ));
        }
        let port = match v.port {
            None => DEFAULT_PORT,
            Some(p) => c
                .int("", p, 1, 65535)
                .map_err(|e| c.version_err(&name, Some("port"), e.message))?
                as u16,
        };
        if v.image.is_none() && v.port.is_some() {
            return Err(c.version_err(
                &name,
                Some("port"),
                format!("`port` only applies with `image`: the fixture service listens on {DEFAULT_PORT}"),
            ));
        }
        let env = v.env.unwrap_or_default();
        if let Some(k) = env.keys().find(|k| k.is_empty() || k.contains('=')) {
            return Err(c.version_err(
                &name,
                Some("env"),
                format!("env name `{k}` is not a valid variable name"),
            ));
        }
        let source = match (v.image, v.behaviour) {
            (Some(image), behaviour) => LiveSource::Image {
                image,
                port,
                behaviour,
            },
            (None, Some(behaviour)) => LiveSource::Fixture { behaviour },
            (None, None) => {
                return Err(c.version_err(
                    &name,
                    None,
                    "needs `behaviour` (the fixture service, e.g. \"good\" or \"errors=0.05\") or `image` (a local image)".into(),
                ))
            }
        };
        out.insert(name, LiveVersion { source, env });
    }
    Ok(out)
}

fn validate_chaos(
    c: &Checker<'_>,
    i: usize,
    f: RawChaos,
    ctx: &Context<'_>,
) -> Result<ChaosEntry, ScenarioError> {
    let field = |k: &str| format!("live.chaos[{i}].{k}");
    let kinds: Vec<&str> = FaultKind::ALL.iter().map(|k| k.as_str()).collect();
    let Some(action) = f.action else {
        return Err(c.err(
            &field("action"),
            format!("missing field `action`; actions are: {}", kinds.join(", ")),
        ));
    };
    let kind = FaultKind::parse(&action).ok_or_else(|| {
        c.err(
            &field("action"),
            format!(
                "unknown action \"{action}\"; actions are: {}",
                kinds.join(", ")
            ),
        )
    })?;
    let end = ctx.duration;
    if let Some(d) = f.at.filter(|d| *d >= end) {
        return Err(c.err(
            &field("at"),
            format!("{d} is after the scenario ends ({end})"),
        ));
    }
    let window = match f.window.as_deref() {
        None => (ctx.change.start_at, end),
        Some(&[from, to]) if from < to && to <= end => (from, to),
        Some(&[from, to]) => {
            return Err(c.err(
                &field("window"),
                format!("must be [from, to] with from < to <= the scenario's duration ({end}), got [{from}, {to}]"),
            ))
        }
        Some(_) => {
            return Err(c.err(
                &field("window"),
                "expected [from, to], e.g. [\"10s\", \"30s\"]",
            ))
        }
    };
    if f.at.is_some() && f.window.is_some() {
        return Err(c.err(
            &field("window"),
            "give either `at` (a fixed time) or `window` (drawn from the seed), not both",
        ));
    }
    let roles = &ctx.fleet.roles;
    let role = match &f.role {
        None => 0,
        Some(name) => roles.iter().position(|r| r.name == *name).ok_or_else(|| {
            let names: Vec<&str> = roles.iter().map(|r| r.name.as_str()).collect();
            c.err(
                &field("role"),
                format!("no role \"{name}\"; roles are: {}", names.join(", ")),
            )
        })?,
    };
    let r = &roles[role];
    let replica = match f.replica {
        None => None,
        Some(_) if kind.is_group() => {
            return Err(c.err(
                &field("replica"),
                format!(
                    "`{}` hits a whole host group: name a `zone`, not a `replica`",
                    kind.as_str()
                ),
            ))
        }
        Some(n) => Some(c.int(&field("replica"), n, 0, r.hosts as i64 - 1)? as u32),
    };
    let zone = match &f.zone {
        None => None,
        Some(_) if !kind.is_group() => {
            return Err(c.err(
                &field("zone"),
                format!(
                    "`{}` hits one replica: name a `replica`, not a `zone`",
                    kind.as_str()
                ),
            ))
        }
        Some(z) => Some(r.zones.iter().position(|x| x == z).ok_or_else(|| {
            c.err(
                &field("zone"),
                format!(
                    "role \"{}\" has no zone \"{z}\"; zones are: {}",
                    r.name,
                    r.zones.join(", ")
                ),
            )
        })? as u32),
    };
    let duration = match f.duration {
        None => SimDuration::from_secs(5),
        Some(_) if !kind.has_duration() => {
            return Err(c.err(
                &field("duration"),
                format!(
                    "`{}` is instantaneous; only pause and network-cut take a duration",
                    kind.as_str()
                ),
            ))
        }
        Some(d) => d,
    };
    Ok(ChaosEntry {
        spec: FaultSpec {
            kind,
            at: f.at,
            window,
            role,
            replica,
            zone,
            duration,
        },
        role: r.name.clone(),
        zone: f.zone,
    })
}

// ---- what live mode measures ------------------------------------------------------

/// A metric of the policy that reads per-endpoint traffic (`endpoint` or
/// `weights`), which the simulator measures and live mode does not yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointMetric {
    /// Where the policy names its analysis, e.g. `policy.steps[1].analysis`.
    pub analysis_at: String,
    /// The analysis' name (a template's is its key).
    pub analysis: String,
    /// The metric's index in the analysis and its name.
    pub index: usize,
    pub metric: String,
    /// `endpoint` or `weights`.
    pub key: &'static str,
}

/// Every metric of `policy` scoped to endpoints, in policy order.
pub fn endpoint_metrics(policy: &PolicySpec) -> Vec<EndpointMetric> {
    let mut analyses: Vec<(String, &AnalysisSpec)> = Vec::new();
    let mut p = policy;
    while let PolicySpec::Windowed { policy, .. } = p {
        p = policy;
    }
    match p {
        PolicySpec::Staged(s) => {
            analyses.extend(s.analysis.iter().map(|a| ("policy.analysis".into(), a)))
        }
        PolicySpec::BlueGreen(b) => {
            for (at, a) in [
                ("policy.pre_promotion_analysis", &b.pre_promotion_analysis),
                ("policy.post_promotion_analysis", &b.post_promotion_analysis),
            ] {
                analyses.extend(a.iter().map(|a| (at.to_string(), a)));
            }
        }
        PolicySpec::Canary(c) => {
            for (i, s) in c.steps.iter().enumerate() {
                if let CanaryStep::Analysis(a) = s {
                    analyses.push((format!("policy.steps[{i}].analysis"), a));
                }
            }
        }
        _ => {}
    }
    let mut out = Vec::new();
    for (at, a) in analyses {
        for (index, m) in a.metrics.iter().enumerate() {
            let key = match &m.provider {
                Provider::Prometheus {
                    endpoint: Some(_), ..
                } => "endpoint",
                Provider::Prometheus {
                    weights: Some(_), ..
                } => "weights",
                _ => continue,
            };
            out.push(EndpointMetric {
                analysis_at: at.clone(),
                analysis: a.name.clone(),
                index,
                metric: m.name.clone(),
                key,
            });
        }
    }
    out
}

/// Located errors for the checks of `[live]` made outside the sim crate: the
/// live environment's (fixture behaviours, image references, what it can
/// measure). The same `file:line:col: `field`: message` form as the rest.
pub struct Locator<'a>(Checker<'a>);

impl<'a> Locator<'a> {
    /// `text` is the scenario file's text, `file` its name.
    pub fn new(file: &'a str, text: &str) -> Self {
        Locator(Checker::new(file, text))
    }

    /// An error at a dotted field path.
    pub fn err(&self, field: &str, message: impl Into<String>) -> ScenarioError {
        self.0.err(field, message)
    }

    /// An error at `[live.versions.NAME]` or one of its keys, written quoted
    /// or bare.
    pub fn version_err(
        &self,
        name: &str,
        key: Option<&str>,
        message: impl Into<String>,
    ) -> ScenarioError {
        self.0.version_err(name, key, message.into())
    }

    /// An error at the key that scopes `m` to endpoints: in its
    /// `[analysis.NAME]` template if the file defines one of that name,
    /// else inline where the policy names the analysis.
    pub fn metric_err(&self, m: &EndpointMetric, message: impl Into<String>) -> ScenarioError {
        let index = &self.0.index;
        let template = format!("analysis.{}", m.analysis);
        let metric = |at: &str| format!("{at}.metrics[{}]", m.index);
        let in_template = index.locate(&metric(&template)) != index.locate("analysis");
        let at = if in_template {
            &template
        } else {
            &m.analysis_at
        };
        self.0.err(&format!("{}.{}", metric(at), m.key), message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Scenario;

    const BASE: &str = r#"name = "t"
duration = "60s"
tick = "1s"

[fleet]
detection_delay = "1s"

[[fleet.roles]]
name = "api"
hosts = 3
zones = ["a", "b"]

[traffic]
curve = "constant"
rps = 100

[change]
from = "v1"
to = "v2"
start_at = "4s"

[policy]
kind = "rolling"
max_unavailable = 1
"#;

    const VERSIONS: &str = "\n[live.versions.v1]\nbehaviour = \"good\"\n[live.versions.\"v2\"]\nimage = \"svc:dev\"\nenv = { B = \"2\", A = \"1\" }\n";

    fn parse(live: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse(&format!("{BASE}{live}"), "t.toml")
    }

    #[test]
    fn defaults_resolve_and_print_back() {
        let text = format!(
            "{VERSIONS}\n[[live.chaos]]\naction = \"pause\"\nreplica = 1\n\n[[live.chaos]]\naction = \"host-crash\"\nat = \"9s\"\nzone = \"b\"\n"
        );
        let sc = parse(&text).unwrap();
        let live = sc.live.as_ref().unwrap();
        assert_eq!(live.rps, None);
        assert_eq!(live.cooldown, SimDuration::from_secs(2), "two ticks");
        assert!(!live.drain, "change.drain is 0");
        assert_eq!(live.grace, Duration::from_secs(5));
        assert_eq!(live.health_path, DEFAULT_HEALTH_PATH);
        assert_eq!(
            live.versions["v2"],
            LiveVersion {
                source: LiveSource::Image {
                    image: "svc:dev".into(),
                    port: DEFAULT_PORT,
                    behaviour: None,
                },
                env: [("A".into(), "1".into()), ("B".into(), "2".into())].into(),
            }
        );
        let specs = live.fault_specs();
        // A drawn time's window defaults to [change.start_at, duration).
        assert_eq!(
            specs[0].window,
            (SimDuration::from_secs(4), SimDuration::from_secs(60))
        );
        assert_eq!(
            (specs[0].kind, specs[0].replica),
            (FaultKind::Pause, Some(1))
        );
        assert_eq!(
            (specs[1].at, specs[1].zone),
            (Some(SimDuration::from_secs(9)), Some(1))
        );
        // --print-resolved shows every default and parses back to the same.
        let resolved = sc.to_toml();
        for key in [
            "grace = \"5s\"",
            "window = [",
            "role = \"api\"",
            "port = 8080",
            "[live.limits]\nmemory = \"256MiB\"\ncpus = 1.0\npids = 256\nread_only = true\ntmp = \"16MiB\"\n",
        ] {
            assert!(resolved.contains(key), "{key} missing:\n{resolved}");
        }
        let again =
            Scenario::parse(&resolved, "resolved").unwrap_or_else(|e| panic!("{e}\n{resolved}"));
        assert_eq!(sc, again);
    }

    #[test]
    fn wall_durations_keep_their_milliseconds() {
        let sc = parse(&format!(
            "\n[live]\nprobe_interval = \"250ms\"\ngrace = \"1m30s\"\n{VERSIONS}"
        ))
        .unwrap();
        let live = sc.live.unwrap();
        assert_eq!(live.probe_interval, Duration::from_millis(250));
        assert_eq!(live.grace, Duration::from_secs(90));
    }

    #[test]
    fn errors_are_located_in_the_scenario() {
        let cases: &[(&str, &str, (usize, usize), &str)] = &[
            (
                "\n[live]\nconnections = 0\n",
                "live.connections",
                (27, 15),
                "must be between 1 and 1024, got 0",
            ),
            (
                "\n[live]\ntime_scale = \"fast\"\n",
                "live.time_scale",
                (27, 14),
                "invalid type: string \"fast\", expected a number",
            ),
            (
                "\n[live]\ngrace = \"11m\"\n",
                "live.grace",
                (27, 9),
                "must be between 0s and 10m, got 11m",
            ),
            (
                "\n[live.versions.v1]\nbehaviour = \"good\"\nport = 9000\n[live.versions.v2]\nbehaviour = \"good\"\n",
                "live.versions.\"v1\".port",
                (28, 8),
                "`port` only applies with `image`",
            ),
            (
                "\n[live.versions.v1]\nbehaviour = \"good\"\nimgae = \"x:1\"\n",
                "live.versions.v1.imgae",
                (28, 1),
                "unknown field `imgae`, expected one of `behaviour`, `image`, `port`, `env`",
            ),
            (
                "\n[live]\nchaos = \"kill\"\n",
                "live.chaos",
                (27, 9),
                "must be an array of tables: write each fault as [[live.chaos]]",
            ),
            (
                "\n[live.versions]\nv1 = \"good\"\n",
                "live.versions.v1",
                (27, 6),
                "invalid type: string \"good\", expected a table like { behaviour = \"good\" }",
            ),
            (
                "\n[live.versions.v1]\nbehaviour = \"good\"\n[live.versions.v3]\nbehaviour = \"good\"\n[live.versions.v2]\nbehaviour = \"good\"\n",
                "live.versions.\"v3\"",
                (28, 1),
                "version \"v3\" is neither change.from",
            ),
            (
                "\n[live.versions.v1]\nbehaviour = \"good\"\n[live.versions.v2]\nbehaviour = \"good\"\n[[live.chaos]]\naction = \"kill\"\nat = \"5s\"\nwindow = [\"1s\", \"9s\"]\n",
                "live.chaos[0].window",
                (33, 10),
                "give either `at` (a fixed time) or `window`",
            ),
            (
                "\n[live.versions.v1]\nbehaviour = \"good\"\n[live.versions.v2]\nbehaviour = \"good\"\n[[live.chaos]]\naction = \"pause\"\nrole = \"db\"\n",
                "live.chaos[0].role",
                (32, 8),
                "no role \"db\"; roles are: api",
            ),
            (
                "\n[live.versions.v1]\nbehaviour = \"good\"\n[live.versions.v2]\nbehaviour = \"good\"\n[[live.chaos]]\nat = \"5s\"\n",
                "live.chaos[0].action",
                (30, 1),
                "missing field `action`; actions are: kill, sigterm, pause, network-cut, host-crash, daemon-upgrade",
            ),
        ];
        for (live, field, at, message) in cases {
            let e = parse(live).expect_err(live);
            assert_eq!(e.field, *field, "{e}");
            assert_eq!((e.line, e.column), *at, "{e}");
            assert!(e.message.starts_with(message), "{e}");
        }
    }

    // docker/go-units size_test.go (commit 1d23ffa157447c3452bb2e31f0bdf9118fafb88a),
    // TestRAMInBytes: the table `docker run --memory` is parsed by.
    #[test]
    fn sizes_parse_as_docker_run_memory() {
        const KIB: u64 = 1024;
        const MIB: u64 = KIB << 10;
        const GIB: u64 = MIB << 10;
        const TIB: u64 = GIB << 10;
        const PIB: u64 = TIB << 10;
        let ok: &[(&str, u64)] = &[
            ("32", 32),
            ("32b", 32),
            ("32B", 32),
            ("32k", 32 * KIB),
            ("32K", 32 * KIB),
            ("32kb", 32 * KIB),
            ("32Kb", 32 * KIB),
            ("32Kib", 32 * KIB),
            ("32KIB", 32 * KIB),
            ("32Mb", 32 * MIB),
            ("32Gb", 32 * GIB),
            ("32Tb", 32 * TIB),
            ("32Pb", 32 * PIB),
            ("32PB", 32 * PIB),
            ("32P", 32 * PIB),
            ("32.3", 32),
            ("32.3 mb", (32.3 * MIB as f64) as u64),
            ("0.3MB", (0.3 * MIB as f64) as u64),
        ];
        for (s, want) in ok {
            assert_eq!(parse_size(s), Some(*want), "{s}");
        }
        for s in ["", "hello", "-32", " 32 ", "32m b", "32bm"] {
            assert_eq!(parse_size(s), None, "{s:?}");
        }
        // Printed back exactly.
        for n in [0, 1000, 6 * MIB, 256 * MIB, 3 * GIB + 1, TIB, 1536 * KIB] {
            assert_eq!(parse_size(&format_size(n)), Some(n), "{n}");
        }
        assert_eq!(format_size(256 * MIB), "256MiB");
    }

    #[test]
    fn container_limits_are_configurable_and_located() {
        let sc = parse(VERSIONS).unwrap();
        assert_eq!(sc.live.as_ref().unwrap().limits, LiveLimits::default());
        let text = format!(
            "{VERSIONS}\n[live.limits]\nmemory = \"512m\"\ncpus = 0.5\npids = 64\nread_only = false\ntmp = \"0\"\n"
        );
        let sc = parse(&text).unwrap();
        let limits = &sc.live.as_ref().unwrap().limits;
        assert_eq!(
            *limits,
            LiveLimits {
                memory_bytes: 512 << 20,
                nano_cpus: 500_000_000,
                pids: 64,
                read_only: false,
                tmp_bytes: 0,
            }
        );
        let resolved = sc.to_toml();
        assert!(resolved.contains("[live.limits]\nmemory = \"512MiB\"\ncpus = 0.5\npids = 64\nread_only = false\ntmp = \"0B\"\n"), "{resolved}");
        assert_eq!(Scenario::parse(&resolved, "resolved").unwrap(), sc);
        // The tmpfs shrinks to a smaller memory limit by default.
        let small = parse(&format!("{VERSIONS}\n[live.limits]\nmemory = \"8MiB\"\n")).unwrap();
        assert_eq!(small.live.unwrap().limits.tmp_bytes, 8 << 20);

        let cases: &[(&str, &str, (usize, usize), &str)] = &[
            (
                "memory = \"lots\"",
                "live.limits.memory",
                (33, 10),
                "must be a size like \"256MiB\"",
            ),
            (
                "memory = \"4m\"",
                "live.limits.memory",
                (33, 10),
                "must be between 6MiB",
            ),
            (
                "memory = \"2t\"",
                "live.limits.memory",
                (33, 10),
                "must be between 6MiB (the least dockerd accepts) and 1TiB, got 2TiB",
            ),
            (
                "memory = 256",
                "live.limits.memory",
                (33, 10),
                "invalid type: integer `256`, expected a string",
            ),
            (
                "cpus = 0",
                "live.limits.cpus",
                (33, 8),
                "must be between 0.01 and 1024 CPUs, got 0",
            ),
            (
                "cpus = nan",
                "live.limits.cpus",
                (33, 8),
                "must be between 0.01 and 1024 CPUs, got NaN",
            ),
            (
                "pids = 0",
                "live.limits.pids",
                (33, 8),
                "must be between 1 and 4194304, got 0",
            ),
            (
                "tmp = \"1g\"",
                "live.limits.tmp",
                (33, 7),
                "1GiB of /tmp is more than the container's memory (256MiB)",
            ),
            (
                "read_only = \"yes\"",
                "live.limits.read_only",
                (33, 13),
                "invalid type: string \"yes\", expected a boolean",
            ),
            (
                "swap = \"1g\"",
                "live.limits.swap",
                (33, 1),
                "unknown field `swap`",
            ),
        ];
        for (line, field, at, message) in cases {
            let e = parse(&format!("{VERSIONS}\n[live.limits]\n{line}\n")).expect_err(line);
            assert_eq!(e.field, *field, "{e}");
            assert_eq!((e.line, e.column), *at, "{e}");
            assert!(e.message.starts_with(message), "{e}");
        }
    }

    #[test]
    fn live_mode_has_at_most_sixteen_containers_per_role() {
        let text = format!("{}{VERSIONS}", BASE.replace("hosts = 3", "hosts = 17"));
        let e = Scenario::parse(&text, "t.toml").unwrap_err();
        assert_eq!(e.field, "fleet.roles[0].hosts");
        assert_eq!((e.line, e.column), (10, 9));
        // Without `[live]` the simulator takes any fleet size.
        assert!(Scenario::parse(&BASE.replace("hosts = 3", "hosts = 17"), "t.toml").is_ok());
    }
}
