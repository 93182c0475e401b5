//! Cleanup that survives the death of the process that ran a live run.
//!
//! A live run's containers and network carry its [`RunId`] and the identity
//! of the process that owns it ([`Owner`]: pid, start time, boot and pid
//! namespace, in the [`LABEL_OWNER_PID`], [`LABEL_OWNER_START`] and
//! [`LABEL_OWNER_NS`] labels). Three mechanisms remove a run whose owner
//! could not:
//!
//! ```text
//!  shakedown live ──pipe (stdin of the watchdog)──▶ shakedown <hidden watchdog subcommand>
//!   (owner)          write end held until exit        own session (setsid), ignores
//!                                                     SIGINT/SIGHUP; on EOF: reap_run
//! ```
//!
//! 1. **The watchdog** ([`Watchdog::spawn`] in the owner, [`watch`] in the
//!    child): a second process in its own session holds the read end of a
//!    pipe whose write end only the owner has. The kernel closes that end when
//!    the owner dies, however it dies (`kill -9` included), and the watchdog
//!    then force-removes everything labelled with the run id
//!    ([`reap_run`]), in passes until the engine has been quiet for a while
//!    (a create request in flight when the owner died can land after the
//!    first pass). An owner that finished its own cleanup says `done` first
//!    and the watchdog exits without touching the engine.
//! 2. **Start-up reaping** ([`reap_orphans`]): a new run removes every earlier
//!    run whose owner is [`OwnerState::Gone`] (covers a watchdog killed too,
//!    or a machine that lost power mid-run on the same boot).
//! 3. **`shakedown gc`** ([`survey`]): lists every labelled run with its
//!    owner's state; removes the orphaned ones on request.
//!
//! A run whose owner cannot be judged from here ([`OwnerState::Unknown`]:
//! no owner labels, another boot, another pid namespace or machine) is never
//! removed automatically.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use testcontainers::bollard::query_parameters::{ListContainersOptions, ListNetworksOptions};

use crate::docker::{cleanup_run, connect, CleanupReport, RunId};
pub use crate::labels::{Owner, OwnerState};
use crate::labels::{LABEL_MANAGED, LABEL_RUN};

/// The line the watchdog prints on stdout once it is in its own session and
/// watching.
const READY: &str = "ready";
/// The line the owner writes before closing the pipe when it cleaned up by
/// itself.
const DONE: &str = "done";

// ---------------------------------------------------------------------------
// Survey and reaping
// ---------------------------------------------------------------------------

/// One run found in the engine by its labels.
#[derive(Clone, Debug)]
pub struct RunSurvey {
    /// The run id (label [`LABEL_RUN`]).
    pub run: String,
    /// Its owner, if labelled.
    pub owner: Option<Owner>,
    /// What that means.
    pub state: OwnerState,
    /// Names of its containers (any state).
    pub containers: Vec<String>,
    /// Names of its networks.
    pub networks: Vec<String>,
}

impl RunSurvey {
    /// Its owner is gone: safe to remove.
    pub fn orphaned(&self) -> bool {
        self.state == OwnerState::Gone
    }
}

/// Every run with something labelled [`LABEL_MANAGED`]`=1` in the engine,
/// sorted by run id.
pub async fn survey() -> Result<Vec<RunSurvey>> {
    let docker = connect().await?;
    let filters = HashMap::from([("label".to_string(), vec![format!("{LABEL_MANAGED}=1")])]);
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

    let mut runs: BTreeMap<String, RunSurvey> = BTreeMap::new();
    for c in containers {
        let labels = c.labels.unwrap_or_default();
        let name = c
            .names
            .and_then(|n| n.into_iter().next())
            .map(|n| n.trim_start_matches('/').to_string())
            .or(c.id)
            .unwrap_or_default();
        if let Some(e) = run_entry(&mut runs, &labels) {
            e.containers.push(name);
        }
    }
    for n in networks {
        let labels = n.labels.unwrap_or_default();
        let name = n.name.or(n.id).unwrap_or_default();
        if let Some(e) = run_entry(&mut runs, &labels) {
            e.networks.push(name);
        }
    }
    let mut out: Vec<RunSurvey> = runs.into_values().collect();
    for r in &mut out {
        if let Some(o) = &r.owner {
            r.state = o.state();
        }
        r.containers.sort();
        r.networks.sort();
    }
    Ok(out)
}

/// The survey entry of the run an object's labels name, if any.
fn run_entry<'a>(
    runs: &'a mut BTreeMap<String, RunSurvey>,
    labels: &HashMap<String, String>,
) -> Option<&'a mut RunSurvey> {
    let run = labels.get(LABEL_RUN)?.clone();
    let e = runs.entry(run.clone()).or_insert_with(|| RunSurvey {
        run,
        owner: None,
        state: OwnerState::Unknown("no owner labels".into()),
        containers: Vec::new(),
        networks: Vec::new(),
    });
    if e.owner.is_none() {
        e.owner = Owner::from_labels(labels);
    }
    Some(e)
}

/// Removes every run of `runs` (by its run id) and says what went.
pub async fn remove_runs(runs: &[RunSurvey]) -> Result<CleanupReport> {
    let mut total = CleanupReport::default();
    for r in runs {
        let id = RunId::parse(&r.run).with_context(|| format!("label {LABEL_RUN} of a run"))?;
        let rep = cleanup_run(&id)
            .await
            .with_context(|| format!("removing run {id}"))?;
        total.containers_removed += rep.containers_removed;
        total.networks_removed += rep.networks_removed;
    }
    Ok(total)
}

/// Removes every earlier run whose owner is gone; returns those runs.
pub async fn reap_orphans() -> Result<(Vec<RunSurvey>, CleanupReport)> {
    let orphans: Vec<RunSurvey> = survey()
        .await?
        .into_iter()
        .filter(RunSurvey::orphaned)
        .collect();
    let report = remove_runs(&orphans).await?;
    Ok((orphans, report))
}

/// How long the engine must show nothing of the run before [`reap_run`]
/// stops looking.
pub const REAP_QUIET: Duration = Duration::from_secs(2);
/// Upper bound of [`reap_run`].
pub const REAP_MAX: Duration = Duration::from_secs(30);

/// Removes everything labelled with `run` in passes, until [`REAP_QUIET`]
/// has passed without finding anything (or [`REAP_MAX`] in all): a container
/// or network whose create request was in flight when the owner died shows
/// up after the first pass.
pub async fn reap_run(run: &RunId) -> Result<CleanupReport> {
    let started = Instant::now();
    let mut last_hit = Instant::now();
    let mut total = CleanupReport::default();
    loop {
        let last_err = match cleanup_run(run).await {
            Ok(r) => {
                if r.containers_removed + r.networks_removed > 0 {
                    last_hit = Instant::now();
                }
                total.containers_removed += r.containers_removed;
                total.networks_removed += r.networks_removed;
                None
            }
            Err(e) => Some(e),
        };
        if last_err.is_none() && last_hit.elapsed() >= REAP_QUIET {
            return Ok(total);
        }
        if started.elapsed() >= REAP_MAX {
            return match last_err {
                Some(e) => Err(e.context(format!("reaping run {run} for {REAP_MAX:?}"))),
                None => Ok(total),
            };
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

// ---------------------------------------------------------------------------
// The watchdog
// ---------------------------------------------------------------------------

/// The owner's side of the watchdog: holds the write end of its stdin.
/// Dropping it (or the owner dying) makes the watchdog reap the run, unless
/// [`Watchdog::done`] was called.
#[derive(Debug)]
pub struct Watchdog {
    pipe: Option<ChildStdin>,
    pid: u32,
}

impl Watchdog {
    /// Starts `command` (the shakedown binary with its hidden watchdog
    /// subcommand and the run id) with a pipe on its stdin and waits up to
    /// 10 s for it to report that it watches.
    pub fn spawn(mut command: Command) -> Result<Watchdog> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the watchdog process")?;
        let pid = child.id();
        let stdout = child.stdout.take().expect("piped above");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let r = BufReader::new(stdout).read_line(&mut line).map(|_| line);
            let _ = tx.send(r);
        });
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(line)) if line.trim() == READY => {}
            Ok(Ok(line)) => bail!("watchdog {pid} said {:?} instead of ready", line.trim()),
            Ok(Err(e)) => bail!("reading from watchdog {pid}: {e}"),
            Err(_) => {
                let _ = child.kill();
                bail!("watchdog {pid} did not report within 10 s")
            }
        }
        Ok(Watchdog {
            pipe: child.stdin.take(),
            pid,
        })
    }

    /// The watchdog's pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The owner removed everything itself: the watchdog exits without
    /// touching the engine.
    pub fn done(mut self) {
        if let Some(mut p) = self.pipe.take() {
            let _ = writeln!(p, "{DONE}");
        }
    }
}

/// The watchdog's side, run by the hidden subcommand with the owner's pipe on
/// stdin: leaves the owner's session, reports ready on stdout, waits for the
/// pipe to close and reaps `run` unless the owner said `done`. SIGINT and
/// SIGHUP are ignored (a Ctrl-C or a closed terminal is the owner's business);
/// SIGTERM reaps at once. Needs a tokio runtime.
pub async fn watch(run: &RunId) -> Result<Option<CleanupReport>> {
    use tokio::signal::unix::{signal, SignalKind};
    // Fails only if already a session leader, which is as good.
    let _ = rustix::process::setsid();
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut term = signal(SignalKind::terminate())?;
    let (tx, mut rx) = tokio::sync::mpsc::channel(1);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut said = Vec::new();
        let mut buf = [0u8; 64];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => said.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let done = String::from_utf8_lossy(&said).trim() == DONE;
        let _ = tx.blocking_send(done);
    });
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{READY}")
            .and_then(|()| out.flush())
            .map_err(|e| anyhow!("telling the owner the watchdog is ready: {e}"))?;
    }
    let done = loop {
        tokio::select! {
            d = rx.recv() => break d.unwrap_or(false),
            _ = int.recv() => {}
            _ = hup.recv() => {}
            _ = term.recv() => break false,
        }
    };
    if done {
        return Ok(None);
    }
    reap_run(run).await.map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::LABEL_OWNER_START;

    #[test]
    fn this_process_is_alive_and_labels_round_trip() {
        let me = Owner::current().expect("Linux has /proc");
        assert_eq!(me.state(), OwnerState::Alive);
        let labels: HashMap<String, String> = me
            .labels()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        assert_eq!(Owner::from_labels(&labels), Some(me));
    }

    #[test]
    fn a_reused_pid_is_not_the_owner() {
        let mut me = Owner::current().unwrap();
        me.start_ticks += 1;
        assert_eq!(me.state(), OwnerState::Gone);
    }

    #[test]
    fn an_exited_process_is_gone_and_another_namespace_unknown() {
        let mut child = Command::new("true").spawn().unwrap();
        let owner = Owner::of_pid(child.id()).unwrap();
        child.wait().unwrap();
        assert_eq!(owner.state(), OwnerState::Gone);
        let elsewhere = Owner {
            ns: "other-boot:1".into(),
            ..owner
        };
        assert!(matches!(elsewhere.state(), OwnerState::Unknown(_)));
    }

    #[test]
    fn missing_labels_are_no_owner() {
        let mut labels: HashMap<String, String> = Owner::current()
            .unwrap()
            .labels()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        labels.remove(LABEL_OWNER_START);
        assert_eq!(Owner::from_labels(&labels), None);
    }
}
