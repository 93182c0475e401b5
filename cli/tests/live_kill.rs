//! Issue 15, live items 1-3: `shakedown live` killed or signalled leaves
//! nothing behind and says how it ended.
//!
//! Real runs of the shipped `scenarios/live/rolling-good.toml` against the
//! local Docker engine (traffic on 127.0.0.1 only). If the engine is
//! unreachable the tests print a skip message and return, except with
//! `CI=true`, where they fail: a skip must never pass for a green CI run.
//!
//! The tests run one at a time (a lock): start-up reaping and `gc` act on
//! every run of the engine, and the machine has two cores.

mod common;
use common::{repo, scratch_dir};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use shakedown_integration::docker::{engine_available, list_leftovers, Leftovers, RunId};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Scenario seconds per wall second: rolling-good's rollout (24 scenario s)
/// then takes ~6 wall s after a ~3 s bring-up.
const TIME_SCALE: &str = "4";
const RPS: &str = "100";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// `true` if the engine answers; otherwise skip (print, `false`), or panic
/// when `CI=true`.
fn engine_or_skip(test: &str) -> bool {
    match rt().block_on(engine_available()) {
        Ok(_) => true,
        Err(e) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "{test}: the Docker engine is unreachable ({e:#}). CI=true, so this is a \
                     failure, not a skip: live-mode tests need a running engine."
                );
            }
            eprintln!("SKIPPED {test}: Docker engine unreachable ({e:#}); not run, not passed");
            false
        }
    }
}

fn fresh_run(tag: &str) -> RunId {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    RunId::parse(&format!("lk-{tag}-{:x}-{nanos:x}", std::process::id())).unwrap()
}

/// A `shakedown live` process with its output in files of `dir` (not pipes:
/// the watchdog inherits stderr and may outlive it).
struct Live {
    child: Child,
    run: RunId,
    dir: PathBuf,
}

impl Live {
    fn start(scenario: &Path, run: &RunId, dir: &Path) -> Live {
        let child = Command::new(env!("CARGO_BIN_EXE_shakedown"))
            .arg("live")
            .arg(scenario)
            .args(["--time-scale", TIME_SCALE, "--rps", RPS, "--run-id"])
            .arg(run.as_str())
            .arg("--out")
            .arg(dir.join("out"))
            .current_dir(repo())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join("stdout")).unwrap())
            .stderr(std::fs::File::create(dir.join("stderr")).unwrap())
            .spawn()
            .expect("the binary runs");
        Live {
            child,
            run: run.clone(),
            dir: dir.to_path_buf(),
        }
    }

    fn output(&self) -> String {
        let read = |f: &str| std::fs::read_to_string(self.dir.join(f)).unwrap_or_default();
        format!(
            "--- stdout\n{}--- stderr\n{}",
            read("stdout"),
            read("stderr")
        )
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args(["-s", sig, &self.child.id().to_string()])
            .status()
            .expect("kill runs")
            .success();
        assert!(ok, "kill -s {sig} {}", self.child.id());
    }

    /// Waits up to `limit` for the process to exit.
    fn wait(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "shakedown live (run {}) still running after {limit:?}\n{}",
                    self.run,
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until stdout says `line`.
    fn wait_output(&mut self, line: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let out = std::fs::read_to_string(self.dir.join("stdout")).unwrap_or_default();
            if out.contains(line) {
                return;
            }
            if let Some(st) = self.child.try_wait().unwrap() {
                panic!(
                    "run {} exited ({st}) before saying {line:?}\n{}",
                    self.run,
                    self.output()
                );
            }
            assert!(
                Instant::now() < deadline,
                "run {}: no {line:?} after {limit:?}\n{}",
                self.run,
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the run has at least `n` containers in the engine.
    fn wait_containers(&mut self, n: usize, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            if leftovers(&self.run).containers.len() >= n {
                return;
            }
            if let Some(st) = self.child.try_wait().unwrap() {
                panic!(
                    "run {} exited ({st}) before it had {n} containers\n{}",
                    self.run,
                    self.output()
                );
            }
            assert!(
                Instant::now() < deadline,
                "run {}: fewer than {n} containers after {limit:?}\n{}",
                self.run,
                self.output()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn leftovers(run: &RunId) -> Leftovers {
    rt().block_on(list_leftovers(Some(run)))
        .expect("listing the run's containers and networks")
}

/// Polls until nothing labelled with `run` is left, up to `limit`; returns
/// how long that took, or panics with what is left.
fn nothing_left_within(run: &RunId, limit: Duration, context: &str) -> Duration {
    let started = Instant::now();
    loop {
        let left = leftovers(run);
        if left.is_empty() {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "run {run}: still there {limit:?} after {context}: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn rolling_good() -> PathBuf {
    repo().join("scenarios/live/rolling-good.toml")
}

/// A pid whose command line is the watchdog of `run`, if one runs.
fn watchdog_of(run: &RunId) -> Option<u32> {
    let needle = format!("__watchdog\0--run\0{run}\0");
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
        let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
        let zombie = stat.rsplit(')').next()?.trim_start().starts_with('Z');
        (!zombie && String::from_utf8_lossy(&cmdline).contains(&needle)).then_some(pid)
    })
}

/// SplitMix64: the kill points, reproducible from the printed seed.
struct Draws(u64);

impl Draws {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

// Issue 15 item 2: after `kill -9` of `shakedown live` its 3-4 containers and
// its network stayed until removed by hand.
#[test]
fn kill_9_at_random_points_of_five_runs_leaves_nothing_within_10_s() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if !engine_or_skip("kill_9_at_random_points_of_five_runs_leaves_nothing_within_10_s") {
        return;
    }
    let seed = std::env::var("LIVE_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("kill points drawn with seed {seed} (LIVE_KILL_SEED={seed} draws them again)");
    let mut draws = Draws(seed);
    for i in 0..5 {
        // Anywhere from the first instant to the end of the rollout (~9 s).
        let at = Duration::from_secs_f64(draws.next_f64() * 9.0);
        let dir = scratch_dir(&format!("live-kill-{i}"));
        let run = fresh_run(&format!("k{i}"));
        let mut live = Live::start(&rolling_good(), &run, &dir);
        std::thread::sleep(at);
        let before = leftovers(&run);
        let watchdog = watchdog_of(&run);
        live.child.kill().expect("SIGKILL"); // std's kill is SIGKILL
        let status = live.child.wait().unwrap();
        let took = nothing_left_within(&run, Duration::from_secs(10), "kill -9");
        // A create in flight at the kill lands late: still nothing a moment after.
        std::thread::sleep(Duration::from_millis(1500));
        let late = leftovers(&run);
        assert!(
            late.is_empty(),
            "run {run}: {late:?} appeared after the reap\n{}",
            live.output()
        );
        eprintln!(
            "run {i}: killed at {at:.2?} ({status}) with {} containers and {} networks up, watchdog {watchdog:?}; nothing left after {took:.2?}",
            before.containers.len(),
            before.networks.len()
        );
        // The watchdog does not linger either.
        let deadline = Instant::now() + Duration::from_secs(35);
        while watchdog_of(&run).is_some() {
            assert!(
                Instant::now() < deadline,
                "watchdog of run {run} still running 35 s after the kill"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Starts rolling-good, waits until the load runs, sends `sig`; returns the
/// exit status and the output directory.
fn signal_mid_run(sig: &str, tag: &str) -> (ExitStatus, PathBuf, RunId, String) {
    let dir = scratch_dir(&format!("live-signal-{tag}"));
    let run = fresh_run(tag);
    let mut live = Live::start(&rolling_good(), &run, &dir);
    live.wait_output("containers up, load running", Duration::from_secs(120));
    std::thread::sleep(Duration::from_millis(500));
    live.signal(sig);
    let status = live.wait(Duration::from_secs(60));
    let out = live.output();
    (status, dir.join("out"), run, out)
}

fn assert_rolled_down_and_written(sig: &str, code: i32, tag: &str) {
    let (status, out, run, text) = signal_mid_run(sig, tag);
    assert_eq!(status.code(), Some(code), "{sig} -> exit {code}\n{text}");
    // The process removed its own containers before exiting.
    let left = leftovers(&run);
    assert!(left.is_empty(), "after {sig}: {left:?} left\n{text}");
    let summary: serde_json::Value = serde_json::from_slice(
        &std::fs::read(out.join("summary.json"))
            .unwrap_or_else(|e| panic!("summary.json after {sig}: {e}\n{text}")),
    )
    .unwrap();
    assert_eq!(summary["interrupted"], true, "{text}");
    assert_eq!(summary["run_id"], run.as_str());
    assert!(
        summary["requests_total"].as_u64().unwrap() > 0,
        "the load ran before {sig}: {summary}"
    );
    for f in ["timeseries.csv", "events.csv", "requests.csv", "report.md"] {
        assert!(out.join(f).is_file(), "{f} after {sig}\n{text}");
    }
    // Issue 15 item 3: the interrupted run's rows were 8–485 requests short
    // of its summary (they stopped at the last whole tick).
    let rows = column_sums(&out.join("timeseries.csv"), ["requests", "failed"]);
    let summed = [
        summary["requests_total"].as_u64().unwrap(),
        summary["requests_failed"].as_u64().unwrap(),
    ];
    assert_eq!(
        rows, summed,
        "timeseries.csv (requests, failed) vs summary.json after {sig}"
    );
}

/// Sums of integer columns of a CSV file, by header name.
fn column_sums<const N: usize>(path: &Path, names: [&str; N]) -> [u64; N] {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    let at = names.map(|n| {
        header
            .iter()
            .position(|h| *h == n)
            .unwrap_or_else(|| panic!("no column {n} in {}", path.display()))
    });
    let mut sums = [0u64; N];
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        for (s, &i) in sums.iter_mut().zip(&at) {
            *s += cells[i].parse::<u64>().unwrap();
        }
    }
    sums
}

// Issue 15 item 1: SIGTERM (what `timeout`, CI cancellation and Kubernetes
// send) killed the run at once: nothing written, containers left running.
#[test]
fn sigterm_rolls_down_writes_what_was_measured_and_exits_143() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if !engine_or_skip("sigterm_rolls_down_writes_what_was_measured_and_exits_143") {
        return;
    }
    assert_rolled_down_and_written("TERM", 143, "term");
}

// Issue 15 item 1: SIGHUP (a closed terminal) did the same as SIGTERM.
#[test]
fn sighup_rolls_down_writes_what_was_measured_and_exits_129() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if !engine_or_skip("sighup_rolls_down_writes_what_was_measured_and_exits_129") {
        return;
    }
    assert_rolled_down_and_written("HUP", 129, "hup");
}

// Issue 15 item 3: Ctrl-C while the containers start exited 1 (reserved for
// dropped requests over budget), not 130.
#[test]
fn ctrl_c_during_container_start_exits_130_and_leaves_nothing() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if !engine_or_skip("ctrl_c_during_container_start_exits_130_and_leaves_nothing") {
        return;
    }
    // v1 answers its health check only after 120 s: the bring-up is still
    // going when the signal arrives, whatever the machine's speed.
    let dir = scratch_dir("live-sigint-start");
    let text = std::fs::read_to_string(rolling_good()).unwrap();
    let slow = text.replacen(
        "[live.versions.v1]\nbehaviour = \"good\"",
        "[live.versions.v1]\nbehaviour = \"slow-start=120\"",
        1,
    );
    assert_ne!(slow, text, "rolling-good's v1 table moved");
    let scenario = dir.join("slow-start.toml");
    std::fs::write(&scenario, slow).unwrap();
    let run = fresh_run("int");
    let mut live = Live::start(&scenario, &run, &dir);
    live.wait_containers(1, Duration::from_secs(120));
    live.signal("INT");
    let status = live.wait(Duration::from_secs(60));
    let out = live.output();
    assert_eq!(status.code(), Some(130), "{out}");
    assert!(out.contains("starting the containers"), "{out}");
    let left = leftovers(&run);
    assert!(
        left.is_empty(),
        "after SIGINT during start: {left:?}\n{out}"
    );
}

/// A run killed together with its watchdog: what the watchdog cannot clean.
fn orphan(tag: &str) -> RunId {
    let dir = scratch_dir(&format!("live-orphan-{tag}"));
    let run = fresh_run(tag);
    let mut live = Live::start(&rolling_good(), &run, &dir);
    live.wait_containers(3, Duration::from_secs(120));
    let w = watchdog_of(&run).unwrap_or_else(|| panic!("no watchdog for {run}\n{}", live.output()));
    let ok = Command::new("kill")
        .args(["-s", "KILL", &w.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    live.child.kill().unwrap();
    live.child.wait().unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let left = leftovers(&run);
    assert!(
        left.containers.len() >= 3 && left.networks.len() == 1,
        "the orphan {run} has its containers and network: {left:?}"
    );
    run
}

fn shakedown(args: &[&str]) -> (i32, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_shakedown"))
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

// Issue 15 item 2: there was no cleanup command.
#[test]
fn gc_lists_orphaned_runs_and_removes_them_with_force() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if !engine_or_skip("gc_lists_orphaned_runs_and_removes_them_with_force") {
        return;
    }
    let run = orphan("gc");
    let (code, out) = shakedown(&["gc"]);
    assert_eq!(code, 0, "{out}");
    let line = out
        .lines()
        .find(|l| l.contains(&format!("run {run}:")))
        .unwrap_or_else(|| panic!("gc does not list {run}:\n{out}"));
    assert!(
        line.contains("is gone") && line.contains("would remove"),
        "{line}"
    );
    assert!(out.contains("dry run: nothing removed"), "{out}");
    assert!(!leftovers(&run).is_empty(), "a dry run removed {run}");

    let (code, out) = shakedown(&["gc", "--force"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("run {run}:")), "{out}");
    let left = leftovers(&run);
    assert!(left.is_empty(), "gc --force left {left:?}\n{out}");
}

// Issue 15 item 2: later runs did not remove earlier runs' leftovers.
#[test]
fn a_new_run_removes_earlier_runs_whose_process_is_gone() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if !engine_or_skip("a_new_run_removes_earlier_runs_whose_process_is_gone") {
        return;
    }
    let old = orphan("old");
    let dir = scratch_dir("live-reaps-at-start");
    let run = fresh_run("new");
    let mut live = Live::start(&rolling_good(), &run, &dir);
    // The orphan goes before the new run starts its own containers.
    live.wait_containers(1, Duration::from_secs(120));
    let left = leftovers(&old);
    assert!(
        left.is_empty(),
        "{old} still has {left:?}\n{}",
        live.output()
    );
    live.signal("TERM");
    let status = live.wait(Duration::from_secs(60));
    let out = live.output();
    assert_eq!(status.code(), Some(143), "{out}");
    assert!(
        out.contains("earlier runs whose process is gone") && out.contains(old.as_str()),
        "{out}"
    );
}
