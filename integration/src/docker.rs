//! Container lifecycle and chaos primitives for live mode.
//!
//! A [`Fleet`] owns every container of one live run. It starts backends from
//! a local image (see [`crate::image`]: nothing is ever pulled, the engine has
//! no registry) and lets the chaos harness hurt them the way real hosts get
//! hurt: graceful stops, `kill -9`, freezes, network partitions, whole host
//! groups crashing or restarting at once.
//!
//! # Lifecycle
//!
//! 1. [`Fleet::new`] takes a [`FleetConfig`] with a [`RunId`]. Unless disabled
//!    it creates a per-run bridge network `shakedown-<run id>`.
//! 2. [`Fleet::start`] creates and starts one container from a
//!    [`ContainerSpec`]: env `VERSION`, `BEHAVIOUR`, `PORT`, `BACKEND_ID`
//!    (plus any extra pairs), the image's port published on **127.0.0.1 only**
//!    at a host port chosen up front, so the returned
//!    [`ContainerHandle::addr`] stays the same across restarts. It optionally
//!    waits until `GET <health_path>` answers 200 ([`Readiness::Healthy`]).
//! 3. Chaos: [`Fleet::stop_graceful`] (SIGTERM, wait grace, SIGKILL),
//!    [`Fleet::kill`] (SIGKILL now), [`Fleet::sigterm`] (signal only),
//!    [`Fleet::pause`]/[`Fleet::unpause`] (cgroup freezer: requests hang),
//!    [`Fleet::disconnect_network`]/[`Fleet::reconnect_network`] (the
//!    published port refuses connections while disconnected),
//!    [`Fleet::crash_group`] (SIGKILL every container of a host group
//!    concurrently), [`Fleet::restart_group`] (every container of a group
//!    stops gracefully and starts again, like a daemon upgrade),
//!    [`Fleet::restart`] / [`Fleet::remove`] for single containers.
//! 4. [`Fleet::shutdown`] removes everything; dropping a `Fleet` does the
//!    same synchronously (see below).
//!
//! # Which client does what
//!
//! * **testcontainers** (`GenericImage` + `ImageExt` + `AsyncRunner::start`):
//!   creating and starting containers (labels, env, container name, network,
//!   port binding through `with_host_config_modifier`), `pause`/`unpause`,
//!   starting a stopped container again (`ContainerAsync::start`), `rm`,
//!   and reading logs.
//! * **bollard** (the copy testcontainers re-exports, `testcontainers::bollard`):
//!   signals (`kill_container` with `SIGTERM`/`SIGKILL`, because
//!   testcontainers' `stop_with_timeout` only has whole-second graces and
//!   cannot tell a graceful exit from a forced one), state inspection,
//!   network create/connect/disconnect/remove, listing and removing by
//!   label, image inspection.
//! * **docker CLI**: not used.
//!
//! Engine compatibility: the engine on the project machines is Docker 20.10
//! (API 1.41). bollard talks to a local unix socket with unversioned paths,
//! which that engine accepts; for a `tcp://` `DOCKER_HOST` the clients made
//! here call `negotiate_version` so they downgrade to the engine's API.
//!
//! # Labels and cleanup
//!
//! Every container gets [`LABEL_MANAGED`]`=1`, [`LABEL_RUN`]`=<run id>`,
//! [`LABEL_GROUP`]`=<host group>` and [`LABEL_BACKEND`]`=<backend id>`; the
//! per-run network gets the first two. Both also get the owner labels
//! ([`LABEL_OWNER_PID`], [`LABEL_OWNER_START`], [`LABEL_OWNER_NS`]) of
//! [`FleetConfig::owner`], by which [`crate::reaper`] finds runs whose
//! process is gone. Cleanup is label based, so it also finds containers
//! whose start failed half-way or that a crashed process left behind:
//!
//! * [`cleanup_run`] (async) force-removes every container and network
//!   labelled with a run id. It is idempotent: call it from a Ctrl-C / SIGTERM
//!   handler, at the end of a run, or again after a failure.
//! * [`cleanup_run_blocking`] and [`CleanupGuard`] do the same from sync
//!   code / `Drop`, on a private thread with its own runtime and its own
//!   engine connection, so they work inside or outside a tokio runtime.
//! * Dropping a [`Fleet`] that was not [`Fleet::shutdown`] runs
//!   [`cleanup_run_blocking`] for its run id.
//! * [`list_leftovers`] lists what is still labelled (tests assert it is
//!   empty after cleanup).
//!
//! Cleanup never touches images: the fixture image is a cache shared by runs.
//!
//! # Limits
//!
//! Every container runs under [`ContainerLimits`] (by default 256 MiB of
//! memory without swap, 1 CPU, 256 pids, a read-only root filesystem and a
//! 16 MiB tmpfs on `/tmp`): a misbehaving backend hurts itself, not the
//! machine running the harness. [`FleetConfig::limits`] sets them for a
//! fleet (a scenario's `[live.limits]`), [`ContainerSpec::limits`] for one
//! container.

use std::collections::HashMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use futures::future::join_all;
use http_body_util::{BodyExt, Empty};
use testcontainers::bollard::errors::Error as BollardError;
use testcontainers::bollard::models::{
    HostConfig, NetworkConnectRequest, NetworkCreateRequest, NetworkDisconnectRequest, PortBinding,
};
use testcontainers::bollard::query_parameters::{
    InspectContainerOptions, KillContainerOptionsBuilder, ListContainersOptions,
    ListNetworksOptions, RemoveContainerOptionsBuilder,
};
use testcontainers::bollard::Docker;
use testcontainers::core::IntoContainerPort;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use crate::image_ref::ImageRef;
use crate::labels::Owner;

pub use crate::labels::{
    LABEL_BACKEND, LABEL_GROUP, LABEL_MANAGED, LABEL_OWNER_NS, LABEL_OWNER_PID, LABEL_OWNER_START,
    LABEL_RUN,
};

/// Default grace period used by [`Fleet::restart_group`] callers that have no
/// policy of their own.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// How long we wait for the engine to report a container stopped after a
/// SIGKILL before giving up.
const KILL_WAIT: Duration = Duration::from_secs(15);
/// Poll period while waiting for state changes.
const POLL: Duration = Duration::from_millis(25);

// ---------------------------------------------------------------------------
// Run ids
// ---------------------------------------------------------------------------

/// Identifies one live run; every container and network of the run carries it
/// in [`LABEL_RUN`], and it is part of container and network names.
///
/// Only `[a-z0-9_.-]` characters, starting with a letter or digit, at most
/// 40 characters (so names built from it stay valid Docker names).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunId(String);

impl RunId {
    /// A fresh id, unique on this machine: `<unix millis hex>-<pid hex>-<n>`.
    pub fn new() -> Self {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        RunId(format!("{millis:x}-{:x}-{n}", std::process::id()))
    }

    /// Validates a user supplied id.
    pub fn parse(s: &str) -> Result<Self> {
        let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c);
        let first_ok = s
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if s.len() > 40 || !first_ok || !s.chars().all(ok_char) {
            bail!(
                "invalid run id {s:?}: use 1-40 characters of [a-z0-9_.-], starting with a letter or digit"
            );
        }
        Ok(RunId(s.to_string()))
    }

    /// One id per process, created on first use. Image builds are labelled
    /// with it (`shakedown.built-by-run`).
    pub fn process() -> &'static RunId {
        static PROCESS: OnceLock<RunId> = OnceLock::new();
        PROCESS.get_or_init(RunId::new)
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for RunId {
    fn default() -> Self {
        RunId::new()
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for RunId {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        RunId::parse(s)
    }
}

// ---------------------------------------------------------------------------
// Engine connection
// ---------------------------------------------------------------------------

/// A fresh bollard client for the local engine (`DOCKER_HOST`, else
/// `/var/run/docker.sock`), with the API version negotiated down to what the
/// engine supports. Used by the free functions here (cleanup must not share
/// a connection pool with a runtime that may be blocked or gone).
pub async fn connect() -> Result<Docker> {
    let docker = Docker::connect_with_defaults()
        .context("connecting to the Docker engine (DOCKER_HOST or /var/run/docker.sock)")?;
    let docker = tokio::time::timeout(Duration::from_secs(10), docker.negotiate_version())
        .await
        .map_err(|_| anyhow!("Docker engine did not answer /version within 10 s"))?
        .context("asking the Docker engine for its API version")?;
    Ok(docker)
}

/// Checks that the engine answers; returns its version string
/// (e.g. `20.10.24+dfsg1`). Tests use this to decide skip vs. fail.
pub async fn engine_available() -> Result<String> {
    let docker = connect().await?;
    let version = tokio::time::timeout(Duration::from_secs(10), docker.version())
        .await
        .map_err(|_| anyhow!("Docker engine did not answer within 10 s"))?
        .context("querying the Docker engine version")?;
    Ok(version.version.unwrap_or_else(|| "unknown".into()))
}

fn status_of(err: &BollardError) -> Option<u16> {
    match err {
        BollardError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// 404: already gone.
fn is_not_found(err: &BollardError) -> bool {
    status_of(err) == Some(404)
}

/// 409 / 304 answers that mean "already in the state you asked for".
fn is_not_running(err: &BollardError) -> bool {
    match err {
        BollardError::DockerResponseServerError {
            status_code: 409,
            message,
        } => message.contains("not running") || message.contains("is not paused"),
        BollardError::DockerResponseServerError {
            status_code: 304, ..
        } => true,
        _ => false,
    }
}

fn label_filter(key: &str, value: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_string(), vec![format!("{key}={value}")])])
}

// ---------------------------------------------------------------------------
// Specs and handles
// ---------------------------------------------------------------------------

/// What [`Fleet::start`] waits for before returning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// Return as soon as the engine reports the container running. Use this
    /// for behaviours that never become healthy (`unhealthy`, `slow-start=N`
    /// when the caller measures the start itself).
    Running,
    /// Poll `GET <health_path>` on the published port until it answers 200,
    /// failing (and removing the container) after `timeout`.
    Healthy {
        /// Upper bound on the wait.
        timeout: Duration,
    },
}

/// Resource limits and filesystem of one container, applied when it is
/// created (`HostConfig`). `None` leaves a limit to the engine (unlimited).
///
/// The defaults fit the fixture service with room to spare (it needs a few
/// MiB and a handful of threads, and writes no files). A scenario sets them
/// for its fleet in `[live.limits]` (see `live::LiveSpec::limits`); a library
/// caller per fleet or per container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerLimits {
    /// Memory limit in bytes (`HostConfig.Memory`); swap is limited to the
    /// same value, so the container gets no swap.
    pub memory_bytes: Option<i64>,
    /// CPU quota in units of 1e-9 CPUs (`HostConfig.NanoCpus`): 1e9 is one CPU.
    pub nano_cpus: Option<i64>,
    /// Maximum number of processes and threads (`HostConfig.PidsLimit`).
    pub pids_limit: Option<i64>,
    /// Mount the root filesystem read-only (`HostConfig.ReadonlyRootfs`).
    pub read_only_root: bool,
    /// Size of a tmpfs mounted on `/tmp` (mode 1777, noexec), for images
    /// that need scratch space under a read-only root; `None`: no tmpfs.
    pub tmp_bytes: Option<u64>,
}

impl ContainerLimits {
    /// 256 MiB, no swap.
    pub const DEFAULT_MEMORY_BYTES: i64 = 256 * 1024 * 1024;
    /// One CPU.
    pub const DEFAULT_NANO_CPUS: i64 = 1_000_000_000;
    /// 256 processes and threads.
    pub const DEFAULT_PIDS_LIMIT: i64 = 256;
    /// 16 MiB of `/tmp`.
    pub const DEFAULT_TMP_BYTES: u64 = 16 * 1024 * 1024;

    /// No limits, writable root, no tmpfs: what the engine does by itself.
    pub fn unlimited() -> Self {
        ContainerLimits {
            memory_bytes: None,
            nano_cpus: None,
            pids_limit: None,
            read_only_root: false,
            tmp_bytes: None,
        }
    }

    fn apply(&self, hc: &mut HostConfig) {
        hc.memory = self.memory_bytes;
        hc.memory_swap = self.memory_bytes;
        hc.nano_cpus = self.nano_cpus;
        hc.pids_limit = self.pids_limit;
        hc.readonly_rootfs = Some(self.read_only_root);
        hc.tmpfs = self.tmp_bytes.map(|b| {
            HashMap::from([(
                "/tmp".to_string(),
                format!("rw,noexec,nosuid,size={b},mode=1777"),
            )])
        });
    }
}

impl Default for ContainerLimits {
    /// 256 MiB (no swap), 1 CPU, 256 pids, read-only root, 16 MiB `/tmp`.
    fn default() -> Self {
        ContainerLimits {
            memory_bytes: Some(Self::DEFAULT_MEMORY_BYTES),
            nano_cpus: Some(Self::DEFAULT_NANO_CPUS),
            pids_limit: Some(Self::DEFAULT_PIDS_LIMIT),
            read_only_root: true,
            tmp_bytes: Some(Self::DEFAULT_TMP_BYTES),
        }
    }
}

/// Everything needed to start one backend container.
#[derive(Clone, Debug)]
pub struct ContainerSpec {
    /// Image to run (must exist locally).
    pub image: ImageRef,
    /// Backend id: env `BACKEND_ID`, label [`LABEL_BACKEND`], part of the name.
    pub backend_id: String,
    /// Host group: label [`LABEL_GROUP`]; the unit of `crash_group`/`restart_group`.
    pub group: String,
    /// Env `VERSION`.
    pub version: String,
    /// Env `BEHAVIOUR` (`good`, `errors=0.05`, `crash-under-load=200`, ...).
    pub behaviour: String,
    /// Extra env pairs, applied after the standard ones.
    pub env: Vec<(String, String)>,
    /// What `start` waits for.
    pub readiness: Readiness,
    /// Limits for this container; `None`: the fleet's ([`FleetConfig::limits`]).
    pub limits: Option<ContainerLimits>,
}

impl ContainerSpec {
    /// A spec with group `default`, version `v1`, behaviour `good`, no extra
    /// env and [`Readiness::Running`].
    pub fn new(image: ImageRef, backend_id: impl Into<String>) -> Self {
        ContainerSpec {
            image,
            backend_id: backend_id.into(),
            group: "default".into(),
            version: "v1".into(),
            behaviour: "good".into(),
            env: Vec::new(),
            readiness: Readiness::Running,
            limits: None,
        }
    }

    /// Sets this container's limits (instead of the fleet's).
    pub fn with_limits(mut self, limits: ContainerLimits) -> Self {
        self.limits = Some(limits);
        self
    }

    /// Sets the host group.
    pub fn with_group(mut self, group: impl Into<String>) -> Self {
        self.group = group.into();
        self
    }

    /// Sets `VERSION`.
    pub fn with_version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// Sets `BEHAVIOUR`.
    pub fn with_behaviour(mut self, behaviour: impl Into<String>) -> Self {
        self.behaviour = behaviour.into();
        self
    }

    /// Adds an extra env pair.
    pub fn with_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Sets what `start` waits for.
    pub fn with_readiness(mut self, readiness: Readiness) -> Self {
        self.readiness = readiness;
        self
    }

    /// Shorthand for `with_readiness(Readiness::Healthy { timeout })`.
    pub fn wait_healthy(self, timeout: Duration) -> Self {
        self.with_readiness(Readiness::Healthy { timeout })
    }
}

/// A started container. Cheap to clone; all operations go through the
/// [`Fleet`] that started it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ContainerHandle {
    /// Engine container id.
    pub id: String,
    /// Container name: `shakedown-<run>-<backend>-<n>`.
    pub name: String,
    /// Backend id from the spec.
    pub backend_id: String,
    /// Host group from the spec.
    pub group: String,
    /// Published port on 127.0.0.1; stable across restarts of this container.
    pub addr: SocketAddr,
    /// The image it runs (port and health path included).
    pub image: ImageRef,
    /// `VERSION` it was started with.
    pub version: String,
    /// `BEHAVIOUR` it was started with.
    pub behaviour: String,
}

impl ContainerHandle {
    /// `http://127.0.0.1:<port>` of the published port.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// How a [`Fleet::stop_graceful`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopKind {
    /// The container was not running when asked.
    AlreadyStopped,
    /// It exited within the grace period after SIGTERM.
    Graceful,
    /// The grace period ran out and it was SIGKILLed.
    Killed,
}

/// Result of stopping one container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StopOutcome {
    /// How it stopped.
    pub kind: StopKind,
    /// Exit code reported by the engine (137 = SIGKILL).
    pub exit_code: Option<i64>,
    /// Time from the call to the container being stopped.
    pub elapsed: Duration,
}

/// Engine view of a container's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerStatus {
    /// Running (paused containers are running too).
    pub running: bool,
    /// Frozen by `pause`.
    pub paused: bool,
    /// Exit code of the last run, when not running.
    pub exit_code: Option<i64>,
    /// Killed by the OOM killer.
    pub oom_killed: bool,
}

/// What [`cleanup_run`] removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CleanupReport {
    /// Containers removed.
    pub containers_removed: usize,
    /// Networks removed.
    pub networks_removed: usize,
}

/// What [`list_leftovers`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Leftovers {
    /// Names of labelled containers (any state).
    pub containers: Vec<String>,
    /// Names of labelled networks.
    pub networks: Vec<String>,
}

impl Leftovers {
    /// Nothing left.
    pub fn is_empty(&self) -> bool {
        self.containers.is_empty() && self.networks.is_empty()
    }
}

// ---------------------------------------------------------------------------
// Fleet
// ---------------------------------------------------------------------------

/// Settings for a [`Fleet`].
#[derive(Clone, Debug)]
pub struct FleetConfig {
    /// Labels and names everything the fleet creates.
    pub run_id: RunId,
    /// Create a per-run bridge network `shakedown-<run id>` and attach every
    /// container to it (default). Without it containers use the engine's
    /// default `bridge` network, which `disconnect_network` then cuts.
    pub network: bool,
    /// Upper bound for the engine to create and start one container.
    pub startup_timeout: Duration,
    /// Limits of every container whose spec sets none.
    pub limits: ContainerLimits,
    /// The process that owns the run, written in the owner labels (default:
    /// this process); `None` writes none, and the reaper then never treats
    /// the run as orphaned.
    pub owner: Option<Owner>,
}

impl FleetConfig {
    /// Defaults: per-run network on, 60 s startup timeout, default
    /// [`ContainerLimits`], owned by this process.
    pub fn new(run_id: RunId) -> Self {
        FleetConfig {
            run_id,
            network: true,
            startup_timeout: Duration::from_secs(60),
            limits: ContainerLimits::default(),
            owner: Owner::current(),
        }
    }

    /// Sets the limits of every container.
    pub fn with_limits(mut self, limits: ContainerLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Use the default `bridge` network instead of a per-run one.
    pub fn without_network(mut self) -> Self {
        self.network = false;
        self
    }
}

type Container = ContainerAsync<GenericImage>;

struct Member {
    handle: ContainerHandle,
    container: Arc<Container>,
}

/// The containers of one live run. See the [module docs](self).
pub struct Fleet {
    run_id: RunId,
    network: Option<String>,
    docker: Docker,
    startup_timeout: Duration,
    limits: ContainerLimits,
    owner_labels: Vec<(&'static str, String)>,
    members: Mutex<HashMap<String, Member>>,
    seq: AtomicU64,
    cleaned: bool,
}

impl fmt::Debug for Fleet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fleet")
            .field("run_id", &self.run_id)
            .field("network", &self.network)
            .field("containers", &self.handles().len())
            .finish()
    }
}

impl Fleet {
    /// Connects to the engine and, if configured, creates (or reuses) the
    /// per-run network.
    pub async fn new(config: FleetConfig) -> Result<Self> {
        // Same engine testcontainers uses (it also reads
        // ~/.testcontainers.properties); negotiation makes a tcp:// engine
        // older than bollard's default API usable.
        let docker = testcontainers::core::client::docker_client_instance()
            .await
            .context("connecting to the Docker engine through testcontainers")?
            .negotiate_version()
            .await
            .context("negotiating the Docker API version")?;
        let mut fleet = Fleet {
            run_id: config.run_id,
            network: None,
            docker,
            startup_timeout: config.startup_timeout,
            limits: config.limits,
            owner_labels: config.owner.map(|o| o.labels()).unwrap_or_default(),
            members: Mutex::new(HashMap::new()),
            seq: AtomicU64::new(0),
            cleaned: false,
        };
        if config.network {
            let name = format!("shakedown-{}", fleet.run_id);
            fleet.ensure_network(&name).await?;
            fleet.network = Some(name);
        }
        Ok(fleet)
    }

    async fn ensure_network(&self, name: &str) -> Result<()> {
        // Docker 20.10 happily creates duplicate names, so look first.
        let existing = self
            .docker
            .list_networks(Some(ListNetworksOptions {
                filters: Some(HashMap::from([(
                    "name".to_string(),
                    vec![name.to_string()],
                )])),
            }))
            .await
            .context("listing networks")?;
        if existing.iter().any(|n| n.name.as_deref() == Some(name)) {
            return Ok(());
        }
        let mut labels = HashMap::from([
            (LABEL_MANAGED.to_string(), "1".to_string()),
            (LABEL_RUN.to_string(), self.run_id.to_string()),
        ]);
        for (k, v) in &self.owner_labels {
            labels.insert(k.to_string(), v.clone());
        }
        self.docker
            .create_network(NetworkCreateRequest {
                name: name.to_string(),
                driver: Some("bridge".into()),
                labels: Some(labels),
                ..Default::default()
            })
            .await
            .with_context(|| format!("creating network {name}"))?;
        Ok(())
    }

    /// The run id everything is labelled with.
    pub fn run_id(&self) -> &RunId {
        &self.run_id
    }

    /// The per-run network, if any.
    pub fn network_name(&self) -> Option<&str> {
        self.network.as_deref()
    }

    /// Handles of every container the fleet currently tracks (any state),
    /// sorted by name.
    pub fn handles(&self) -> Vec<ContainerHandle> {
        let members = self.members.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<_> = members.values().map(|m| m.handle.clone()).collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Handles of the containers of one host group, sorted by name.
    pub fn group(&self, group: &str) -> Vec<ContainerHandle> {
        self.handles()
            .into_iter()
            .filter(|h| h.group == group)
            .collect()
    }

    fn container(&self, h: &ContainerHandle) -> Result<Arc<Container>> {
        let members = self.members.lock().unwrap_or_else(|e| e.into_inner());
        members
            .get(&h.id)
            .map(|m| m.container.clone())
            .ok_or_else(|| anyhow!("container {} is not part of this fleet (removed?)", h.name))
    }

    /// Creates and starts a container. See [`ContainerSpec`] for env and
    /// labels. A host port on 127.0.0.1 is chosen up front (and the start
    /// retried with another one if the engine reports it taken), so the
    /// address survives restarts. On failure nothing is left behind.
    ///
    /// Uses testcontainers (`GenericImage`, `ImageExt`, `AsyncRunner::start`).
    pub async fn start(&self, spec: ContainerSpec) -> Result<ContainerHandle> {
        // testcontainers would try to pull a missing image: fail clearly instead.
        match self.docker.inspect_image(&spec.image.descriptor()).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => bail!(
                "image {} is not present in the local engine and there is no registry to pull \
                 from: build it first (image::ensure_fixture_image, or docker build)",
                spec.image.descriptor()
            ),
            Err(e) => {
                return Err(e).with_context(|| format!("inspecting image {}", spec.image));
            }
        }

        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let name = format!(
            "shakedown-{}-{}-{seq}",
            self.run_id,
            sanitize_name(&spec.backend_id)
        );
        let mut attempt = 0;
        let (container, addr) = loop {
            attempt += 1;
            let host_port = free_loopback_port()?;
            match self.try_start(&spec, &name, host_port).await {
                Ok(c) => break (c, SocketAddr::from((Ipv4Addr::LOCALHOST, host_port))),
                Err(e) => {
                    // A failed start may leave a created container behind.
                    let _ = self.force_remove(&name).await;
                    let text = format!("{e:#}");
                    let port_taken = text.contains("port is already allocated")
                        || text.contains("address already in use");
                    if port_taken && attempt < 5 {
                        continue;
                    }
                    return Err(e.context(format!("starting container {name}")));
                }
            }
        };

        let handle = ContainerHandle {
            id: container.id().to_string(),
            name: name.clone(),
            backend_id: spec.backend_id.clone(),
            group: spec.group.clone(),
            addr,
            image: spec.image.clone(),
            version: spec.version.clone(),
            behaviour: spec.behaviour.clone(),
        };
        self.members
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                handle.id.clone(),
                Member {
                    handle: handle.clone(),
                    container: Arc::new(container),
                },
            );

        if let Readiness::Healthy { timeout } = spec.readiness {
            if let Err(e) = self.wait_healthy(&handle, timeout).await {
                let _ = self.remove(&handle).await;
                return Err(e);
            }
        }
        Ok(handle)
    }

    async fn try_start(
        &self,
        spec: &ContainerSpec,
        name: &str,
        host_port: u16,
    ) -> Result<Container> {
        let container_port = spec.image.port;
        let binding_key = format!("{container_port}/tcp");
        let limits = spec.limits.clone().unwrap_or_else(|| self.limits.clone());
        let mut request = GenericImage::new(spec.image.name.as_str(), spec.image.tag.as_str())
            .with_exposed_port(container_port.tcp())
            .with_container_name(name)
            .with_label(LABEL_MANAGED, "1")
            .with_label(LABEL_RUN, self.run_id.as_str())
            .with_label(LABEL_GROUP, spec.group.as_str())
            .with_label(LABEL_BACKEND, spec.backend_id.as_str())
            .with_env_var("PORT", container_port.to_string())
            .with_env_var("VERSION", spec.version.as_str())
            .with_env_var("BEHAVIOUR", spec.behaviour.as_str())
            .with_env_var("BACKEND_ID", spec.backend_id.as_str())
            .with_startup_timeout(self.startup_timeout)
            .with_host_config_modifier(move |hc: &mut HostConfig| {
                // Loopback only, at the port we picked (testcontainers would
                // publish on 0.0.0.0 at a random port that changes on restart).
                hc.publish_all_ports = Some(false);
                hc.port_bindings = Some(HashMap::from([(
                    binding_key.clone(),
                    Some(vec![PortBinding {
                        host_ip: Some("127.0.0.1".into()),
                        host_port: Some(host_port.to_string()),
                    }]),
                )]));
                limits.apply(hc);
            });
        for (k, v) in &self.owner_labels {
            request = request.with_label(*k, v.as_str());
        }
        for (k, v) in &spec.env {
            request = request.with_env_var(k.as_str(), v.as_str());
        }
        if let Some(net) = &self.network {
            request = request.with_network(net.as_str());
        }
        Ok(request.start().await?)
    }

    async fn force_remove(&self, id_or_name: &str) -> Result<()> {
        match self
            .docker
            .remove_container(
                id_or_name,
                Some(
                    RemoveContainerOptionsBuilder::new()
                        .force(true)
                        .v(true)
                        .build(),
                ),
            )
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            // A slow engine can time the request out and still remove the
            // container: it is gone if the engine no longer knows it.
            Err(e) => match self
                .docker
                .inspect_container(id_or_name, None::<InspectContainerOptions>)
                .await
            {
                Err(gone) if is_not_found(&gone) => Ok(()),
                _ => Err(e).with_context(|| format!("removing container {id_or_name}")),
            },
        }
    }

    /// Engine state of a container (bollard inspect).
    pub async fn status(&self, h: &ContainerHandle) -> Result<ContainerStatus> {
        let info = self
            .docker
            .inspect_container(&h.id, None::<InspectContainerOptions>)
            .await
            .with_context(|| format!("inspecting container {}", h.name))?;
        let state = info.state.unwrap_or_default();
        let running = state.running.unwrap_or(false);
        Ok(ContainerStatus {
            running,
            paused: state.paused.unwrap_or(false),
            exit_code: if running { None } else { state.exit_code },
            oom_killed: state.oom_killed.unwrap_or(false),
        })
    }

    /// Polls until the container is not running; `false` on timeout.
    async fn wait_stopped(&self, h: &ContainerHandle, timeout: Duration) -> Result<bool> {
        let deadline = Instant::now() + timeout;
        loop {
            if !self.status(h).await?.running {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn signal(&self, h: &ContainerHandle, signal: &str) -> Result<()> {
        match self
            .docker
            .kill_container(
                &h.id,
                Some(KillContainerOptionsBuilder::new().signal(signal).build()),
            )
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if is_not_running(&e) => Ok(()),
            Err(e) => Err(e).with_context(|| format!("sending {signal} to {}", h.name)),
        }
    }

    /// Sends SIGTERM and returns immediately (bollard `kill_container`).
    pub async fn sigterm(&self, h: &ContainerHandle) -> Result<()> {
        self.signal(h, "SIGTERM").await
    }

    /// SIGKILL now, then waits until the engine reports it stopped
    /// (bollard `kill_container`). A paused container is killed too.
    /// Killing a stopped container is a no-op.
    pub async fn kill(&self, h: &ContainerHandle) -> Result<()> {
        self.signal(h, "SIGKILL").await?;
        if !self.wait_stopped(h, KILL_WAIT).await? {
            bail!("{} still running {KILL_WAIT:?} after SIGKILL", h.name);
        }
        Ok(())
    }

    /// SIGTERM, wait up to `grace` for the process to exit, then SIGKILL.
    /// Millisecond precision (bollard signals + inspect polling; see the
    /// module docs for why not testcontainers' `stop_with_timeout`). A paused
    /// container is unpaused first so it can see the SIGTERM.
    pub async fn stop_graceful(&self, h: &ContainerHandle, grace: Duration) -> Result<StopOutcome> {
        let started = Instant::now();
        let status = self.status(h).await?;
        if !status.running {
            return Ok(StopOutcome {
                kind: StopKind::AlreadyStopped,
                exit_code: status.exit_code,
                elapsed: started.elapsed(),
            });
        }
        if status.paused {
            self.unpause(h).await?;
        }
        self.signal(h, "SIGTERM").await?;
        let kind = if self.wait_stopped(h, grace).await? {
            StopKind::Graceful
        } else {
            self.signal(h, "SIGKILL").await?;
            if !self.wait_stopped(h, KILL_WAIT).await? {
                bail!("{} still running {KILL_WAIT:?} after SIGKILL", h.name);
            }
            StopKind::Killed
        };
        let elapsed = started.elapsed();
        let exit_code = self.status(h).await?.exit_code;
        Ok(StopOutcome {
            kind,
            exit_code,
            elapsed,
        })
    }

    /// Freezes every process of the container (testcontainers `pause`).
    /// Connections to its port are still accepted by the kernel but nothing
    /// answers: requests hang until [`Fleet::unpause`].
    pub async fn pause(&self, h: &ContainerHandle) -> Result<()> {
        self.container(h)?
            .pause()
            .await
            .with_context(|| format!("pausing {}", h.name))
    }

    /// Thaws a paused container (testcontainers `unpause`).
    pub async fn unpause(&self, h: &ContainerHandle) -> Result<()> {
        self.container(h)?
            .unpause()
            .await
            .with_context(|| format!("unpausing {}", h.name))
    }

    fn network_of(&self) -> &str {
        self.network.as_deref().unwrap_or("bridge")
    }

    /// Cuts the container off its network (bollard `disconnect_network`).
    /// The process keeps running, but connections to its published port are
    /// refused until [`Fleet::reconnect_network`].
    pub async fn disconnect_network(&self, h: &ContainerHandle) -> Result<()> {
        let net = self.network_of();
        self.docker
            .disconnect_network(
                net,
                NetworkDisconnectRequest {
                    container: h.id.clone(),
                    force: Some(true),
                },
            )
            .await
            .with_context(|| format!("disconnecting {} from {net}", h.name))
    }

    /// Reattaches the container to its network (bollard `connect_network`);
    /// the published port works again.
    pub async fn reconnect_network(&self, h: &ContainerHandle) -> Result<()> {
        let net = self.network_of();
        self.docker
            .connect_network(
                net,
                NetworkConnectRequest {
                    container: h.id.clone(),
                    endpoint_config: None,
                },
            )
            .await
            .with_context(|| format!("reconnecting {} to {net}", h.name))
    }

    /// Every container of `group` dies at once: SIGKILLs are sent
    /// concurrently, then we wait for all of them to be stopped. Returns the
    /// containers hit (empty if the group has none).
    pub async fn crash_group(&self, group: &str) -> Result<Vec<ContainerHandle>> {
        let hit = self.group(group);
        let results = join_all(hit.iter().map(|h| self.kill(h))).await;
        for r in results {
            r?;
        }
        Ok(hit)
    }

    /// Stops the container gracefully (see [`Fleet::stop_graceful`]) and
    /// starts it again (testcontainers `ContainerAsync::start`); works on
    /// crashed containers too. Same id, same address.
    pub async fn restart(&self, h: &ContainerHandle, grace: Duration) -> Result<StopOutcome> {
        let outcome = self.stop_graceful(h, grace).await?;
        self.container(h)?
            .start()
            .await
            .with_context(|| format!("starting {} again", h.name))?;
        Ok(outcome)
    }

    /// "Daemon upgrade": every container of `group` stops gracefully and
    /// starts again, all concurrently. Returns when every one is running
    /// again (use [`Fleet::wait_healthy`] for readiness), with how each one
    /// stopped.
    pub async fn restart_group(
        &self,
        group: &str,
        grace: Duration,
    ) -> Result<Vec<(ContainerHandle, StopOutcome)>> {
        let members = self.group(group);
        let results = join_all(members.iter().map(|h| self.restart(h, grace))).await;
        members
            .into_iter()
            .zip(results)
            .map(|(h, r)| r.map(|o| (h, o)))
            .collect()
    }

    /// Polls `GET <health_path>` on the published port until it answers 200.
    /// Fails early, with the container's log tail, if the container stops.
    pub async fn wait_healthy(&self, h: &ContainerHandle, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let mut last = String::from("no attempt");
        for i in 0u64.. {
            match probe_http(h.addr, &h.image.health_path, Duration::from_secs(1)).await {
                Ok(p) if p.status == 200 => return Ok(()),
                Ok(p) => last = format!("HTTP {}", p.status),
                Err(e) => last = format!("{e:#}"),
            }
            if i % 8 == 7 {
                let st = self.status(h).await?;
                if !st.running {
                    bail!(
                        "{} exited (code {:?}) before becoming healthy; logs:\n{}",
                        h.name,
                        st.exit_code,
                        self.logs(h).await.unwrap_or_default()
                    );
                }
            }
            if Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!(
            "{} not healthy after {timeout:?} (last: {last}); logs:\n{}",
            h.name,
            self.logs(h).await.unwrap_or_default()
        )
    }

    /// Stdout then stderr of the container so far (testcontainers).
    pub async fn logs(&self, h: &ContainerHandle) -> Result<String> {
        let c = self.container(h)?;
        let out = c.stdout_to_vec().await?;
        let err = c.stderr_to_vec().await?;
        Ok(format!(
            "{}{}",
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&err)
        ))
    }

    /// Removes one container (testcontainers `rm`, force). Removing an
    /// unknown or already removed container is a no-op.
    pub async fn remove(&self, h: &ContainerHandle) -> Result<()> {
        let member = self
            .members
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&h.id);
        let Some(member) = member else {
            return self.force_remove(&h.id).await;
        };
        match Arc::try_unwrap(member.container) {
            Ok(container) => {
                if let Err(e) = container.rm().await {
                    // e.g. already removed by cleanup_run: make sure, by id.
                    self.force_remove(&h.id)
                        .await
                        .with_context(|| format!("after testcontainers rm failed: {e}"))?;
                }
                Ok(())
            }
            Err(shared) => {
                // Another task still holds it; remove by id and let its drop
                // find nothing to do.
                drop(shared);
                self.force_remove(&h.id).await
            }
        }
    }

    /// Removes every container of the fleet and everything else labelled
    /// with its run id (network included). Idempotent.
    pub async fn shutdown(mut self) -> Result<CleanupReport> {
        let handles = self.handles();
        let removed = join_all(handles.iter().map(|h| self.remove(h))).await;
        let mut report = cleanup_run(&self.run_id).await?;
        self.cleaned = true;
        for r in removed {
            r?;
        }
        report.containers_removed += handles.len();
        Ok(report)
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let members = std::mem::take(self.members.get_mut().unwrap_or_else(|e| e.into_inner()));
        // testcontainers' own drop removes containers through the runtime that
        // created them and panics outside one; label-based cleanup on a private
        // thread does the same job from anywhere, so skip its drop.
        for (_, m) in members {
            match Arc::try_unwrap(m.container) {
                Ok(c) => std::mem::forget(c),
                Err(shared) => std::mem::forget(shared),
            }
        }
        if !self.cleaned {
            if let Err(e) = cleanup_run_blocking(&self.run_id) {
                eprintln!("shakedown: cleanup of run {} failed: {e:#}", self.run_id);
            }
        }
    }
}

/// A free port on 127.0.0.1 (bind port 0, read it, release it).
fn free_loopback_port() -> Result<u16> {
    let l = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .context("finding a free port on 127.0.0.1")?;
    Ok(l.local_addr()?.port())
}

/// Keeps `[a-zA-Z0-9_.-]`, replaces the rest with `_`.
fn sanitize_name(s: &str) -> String {
    let out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() {
        "backend".into()
    } else {
        out
    }
}

// ---------------------------------------------------------------------------
// HTTP probe
// ---------------------------------------------------------------------------

/// Answer of [`probe_http`].
#[derive(Clone, Debug)]
pub struct HttpProbe {
    /// Status code.
    pub status: u16,
    /// Whole body.
    pub body: Bytes,
}

struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One `GET path` over a fresh HTTP/1.1 connection to `addr`, bounded by
/// `timeout` (connect + response + body). Used for health checks.
pub async fn probe_http(addr: SocketAddr, path: &str, timeout: Duration) -> Result<HttpProbe> {
    let fut = async {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        let io = hyper_util::rt::TokioIo::new(stream);
        let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(io)
            .await
            .context("HTTP handshake")?;
        let _conn = AbortOnDrop(tokio::spawn(conn));
        let req = hyper::Request::get(path)
            .header(hyper::header::HOST, addr.to_string())
            .body(Empty::new())?;
        let resp = sender.send_request(req).await.context("sending request")?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .context("reading body")?
            .to_bytes();
        Ok(HttpProbe { status, body })
    };
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| anyhow!("GET {path} on {addr}: no answer within {timeout:?}"))?
}

// ---------------------------------------------------------------------------
// Label-based cleanup
// ---------------------------------------------------------------------------

/// Force-removes every container and network labelled
/// [`LABEL_RUN`]`=<run_id>`. Idempotent; safe to call concurrently with
/// itself. Uses a fresh bollard connection.
pub async fn cleanup_run(run_id: &RunId) -> Result<CleanupReport> {
    let docker = connect().await?;
    let filters = label_filter(LABEL_RUN, run_id.as_str());
    let containers = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters.clone()),
            ..Default::default()
        }))
        .await
        .context("listing containers by label")?;
    let ids: Vec<String> = containers.into_iter().filter_map(|c| c.id).collect();
    let results = join_all(ids.iter().map(|id| {
        docker.remove_container(
            id,
            Some(
                RemoveContainerOptionsBuilder::new()
                    .force(true)
                    .v(true)
                    .build(),
            ),
        )
    }))
    .await;
    let mut report = CleanupReport::default();
    for (id, r) in ids.iter().zip(results) {
        match r {
            Ok(()) => report.containers_removed += 1,
            Err(e) if is_not_found(&e) => {}
            // "removal of container ... is already in progress"
            Err(e) if status_of(&e) == Some(409) => {}
            Err(e) => return Err(e).with_context(|| format!("removing container {id}")),
        }
    }

    let networks = docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(filters),
        }))
        .await
        .context("listing networks by label")?;
    for net in networks {
        let Some(id) = net.id else { continue };
        let mut tries = 0;
        loop {
            tries += 1;
            match docker.remove_network(&id).await {
                Ok(()) => {
                    report.networks_removed += 1;
                    break;
                }
                Err(e) if is_not_found(&e) => break,
                // Endpoints of containers being removed concurrently.
                Err(_) if tries < 20 => tokio::time::sleep(Duration::from_millis(100)).await,
                Err(e) => return Err(e).with_context(|| format!("removing network {id}")),
            }
        }
    }
    Ok(report)
}

/// [`cleanup_run`] from sync code: runs on a private thread with its own
/// current-thread runtime, so it works inside a runtime (even a blocked
/// one), outside any runtime, and from `Drop`.
pub fn cleanup_run_blocking(run_id: &RunId) -> Result<CleanupReport> {
    let run_id = run_id.clone();
    std::thread::Builder::new()
        .name("shakedown-cleanup".into())
        .spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("building cleanup runtime")?
                .block_on(cleanup_run(&run_id))
        })
        .context("spawning cleanup thread")?
        .join()
        .map_err(|_| anyhow!("cleanup thread panicked"))?
}

/// Runs [`cleanup_run_blocking`] when dropped (also while unwinding from a
/// panic). Create one right after choosing a run id.
#[derive(Debug)]
pub struct CleanupGuard {
    run_id: RunId,
    armed: bool,
}

impl CleanupGuard {
    /// Guards `run_id`.
    pub fn new(run_id: RunId) -> Self {
        CleanupGuard {
            run_id,
            armed: true,
        }
    }

    /// The guarded run id.
    pub fn run_id(&self) -> &RunId {
        &self.run_id
    }

    /// Don't clean up on drop (e.g. to keep containers for debugging).
    pub fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for CleanupGuard {
    fn drop(&mut self) {
        if self.armed {
            if let Err(e) = cleanup_run_blocking(&self.run_id) {
                eprintln!("shakedown: cleanup of run {} failed: {e:#}", self.run_id);
            }
        }
    }
}

/// Containers (any state) and networks still labelled with `run_id`, or with
/// [`LABEL_MANAGED`]`=1` (any run) when `run_id` is `None`.
pub async fn list_leftovers(run_id: Option<&RunId>) -> Result<Leftovers> {
    let docker = connect().await?;
    let filters = match run_id {
        Some(id) => label_filter(LABEL_RUN, id.as_str()),
        None => label_filter(LABEL_MANAGED, "1"),
    };
    let containers = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters.clone()),
            ..Default::default()
        }))
        .await
        .context("listing containers by label")?;
    let networks = docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(filters),
        }))
        .await
        .context("listing networks by label")?;
    let mut out = Leftovers {
        containers: containers
            .into_iter()
            .map(|c| {
                c.names
                    .and_then(|n| n.into_iter().next())
                    .map(|n| n.trim_start_matches('/').to_string())
                    .or(c.id)
                    .unwrap_or_default()
            })
            .collect(),
        networks: networks
            .into_iter()
            .filter_map(|n| n.name.or(n.id))
            .collect(),
    };
    out.containers.sort();
    out.networks.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_unique_and_valid() {
        let a = RunId::new();
        let b = RunId::new();
        assert_ne!(a, b);
        assert_eq!(RunId::parse(a.as_str()).unwrap(), a);
        assert_eq!(RunId::process(), RunId::process());
    }

    #[test]
    fn run_id_rejects_bad_names() {
        for bad in ["", "-x", "Upper", "a b", "a/b", &"x".repeat(41)] {
            assert!(RunId::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!("ci-42.a_b".parse::<RunId>().is_ok());
    }

    /// Fleets are shared across tasks (`Arc<Fleet>`) and their futures spawned.
    #[allow(dead_code)]
    fn fleet_is_shareable_and_futures_are_send(f: &Fleet, h: &ContainerHandle, s: ContainerSpec) {
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>(_: T) {}
        send_sync::<Fleet>();
        send_sync::<ContainerHandle>();
        send_sync::<CleanupGuard>();
        send(f.start(s));
        send(f.stop_graceful(h, DEFAULT_GRACE));
        send(f.kill(h));
        send(f.pause(h));
        send(f.disconnect_network(h));
        send(f.crash_group("g"));
        send(f.restart_group("g", DEFAULT_GRACE));
        send(f.wait_healthy(h, DEFAULT_GRACE));
        send(f.remove(h));
        send(cleanup_run(f.run_id()));
        send(list_leftovers(None));
        send(crate::image::ensure_fixture_image());
    }

    #[test]
    fn names_are_sanitized() {
        assert_eq!(sanitize_name("b-1"), "b-1");
        assert_eq!(sanitize_name("host/a b"), "host_a_b");
        assert_eq!(sanitize_name(""), "backend");
    }
}
