//! Every command shown in README.md and docs/*.md runs as written.
//!
//! The harness reads the fenced `sh` blocks, joins `\` continuations, drops
//! comments, and looks every command up in [`RULES`] by its exact text: a
//! command the table does not know fails the test, so a new or edited
//! example cannot go unchecked. A rule runs the command as written, or with
//! named substitutions that keep CI within its time (fewer seeds, a shorter
//! load), each of which must occur in the command. Commands that cannot run
//! in a test (benchmarks that load both cores for minutes) are listed with
//! the reason and a check that still executes (the script parses, the
//! recipe exists). Commands run in a scratch directory whose entries link to
//! the repository's, with the test's `shakedown` first on `PATH`, one block
//! after another in document order, so `gate out/cmp` reads what the
//! `compare` above it wrote.

mod common;
use common::repo;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

/// How one documented command is checked.
enum How {
    /// Run as written; the exit code it must give.
    Run(i32),
    /// Run with each `(from, to)` substituted (every `from` must occur):
    /// the same code path on fewer seeds or a shorter load.
    Scaled(i32, &'static [(&'static str, &'static str)]),
    /// Needs the Docker engine: run as written (with substitutions) when it
    /// answers; without one, a failure under `CI=true` and a printed
    /// "not run" otherwise, as the live tests do.
    Docker(i32, &'static [(&'static str, &'static str)]),
    /// `shakedown load` against a loopback HTTP server the harness starts
    /// (the port it got replaces `127.0.0.1:8080`).
    Load(&'static [(&'static str, &'static str)]),
    /// Not run here, for the reason given; `check` runs instead and must
    /// exit 0 (the script parses, the recipe exists).
    Manual {
        why: &'static str,
        check: &'static str,
    },
}

const FEWER_SEEDS_200: &[(&str, &str)] = &[("--seeds 1..200", "--seeds 1..3")];
const FEWER_SEEDS_50: &[(&str, &str)] = &[("--seeds 1..50", "--seeds 1..4")];
const FLEET_SEEDS: &[(&str, &str)] = &[("--seeds 1..1000", "--seeds 1..1")];
const FLEET_SEEDS_200: &[(&str, &str)] = &[("--seeds 1..200", "--seeds 1..1")];
/// A label no real run carries: the clean-up pipelines run for real but can
/// never remove the containers of another run on this machine.
const SAFE_LABEL: &[(&str, &str)] = &[("label=shakedown=1", "label=shakedown-docs-test=1")];
const BENCH_WHY: &str =
    "a benchmark: minutes of load on both cores, figures recorded in docs/BENCHMARKS.md";

/// Every documented command, by its exact text (comments dropped,
/// continuations joined, spaces collapsed).
const RULES: &[(&str, How)] = &[
    // README.md
    (
        "cargo run --release -- demo",
        How::Scaled(0, &[("cargo run --release -- demo", "shakedown demo")]),
    ),
    (
        "cargo test --workspace",
        How::Manual {
            why: "the test command itself: .ci/run runs it, and this test is part of it",
            check: "grep -q 'cargo test --workspace' .ci/run",
        },
    ),
    ("shakedown validate scenarios/*.toml", How::Run(0)),
    ("shakedown run scenarios/rolling-basic.toml --seed 7 --out out/run", How::Run(0)),
    ("shakedown run scenarios/rolling-basic.toml --print-resolved", How::Run(0)),
    ("shakedown det-check scenarios/rolling-basic.toml --seed 7", How::Run(0)),
    // README.md and docs/SELF-HEALING.md
    (
        "shakedown run scenarios/rollback-cold-caches.toml --seed 4 --out out/rollback",
        How::Run(0),
    ),
    ("shakedown run scenarios/swarm-self-healing.toml --out out/swarm", How::Run(0)),
    (
        "shakedown run scenarios/rollback-cold-caches.toml --out out/rollback",
        How::Run(0),
    ),
    (
        "shakedown compare scenarios/rolling-basic.toml --policy scenarios/policies/canary.toml --policy scenarios/policies/flagger.toml --seeds 1..200 --out out/cmp",
        How::Scaled(0, FEWER_SEEDS_200),
    ),
    (
        "shakedown sweep scenarios/rolling-basic.toml --param policy.max_unavailable=1,2,5,10 --seeds 1..50 --out out/sweep",
        How::Scaled(0, FEWER_SEEDS_50),
    ),
    (
        "shakedown sweep scenarios/rolling-basic.toml --param policy.max_unavailable=1,2,5,10 --seeds 1..50 --shard 1/2 --out out/shard-1",
        How::Scaled(0, FEWER_SEEDS_50),
    ),
    (
        "shakedown sweep scenarios/rolling-basic.toml --param policy.max_unavailable=1,2,5,10 --seeds 1..50 --shard 2/2 --out out/shard-2",
        How::Scaled(0, FEWER_SEEDS_50),
    ),
    ("shakedown merge out/shard-1 out/shard-2 --out out/all", How::Run(0)),
    (
        "shakedown gate out/cmp --thresholds docs/examples/gate.toml",
        How::Run(1),
    ),
    (
        "shakedown judge --baseline docs/examples/judge/baseline.csv --canary docs/examples/judge/canary.csv",
        How::Run(1),
    ),
    (
        "shakedown import fixtures/manifests/argo-rollouts/rollout-canary.yaml",
        How::Run(0),
    ),
    (
        "shakedown lint fixtures/manifests/flagger/istio-canary.yaml --scenario fixtures/manifests/world.toml",
        How::Run(1),
    ),
    (
        "shakedown export scenarios/policies/blue-green.toml --format argo",
        How::Run(0),
    ),
    (
        "shakedown sweep scenarios/policies/appconfig/Linear20PercentEvery6Minutes.toml --param policy.duration=10m,30m,1h --param policy.shape.growth_factor=10,20,50 --seeds 1..20 --out out/velocity",
        How::Scaled(0, &[("--seeds 1..20", "--seeds 1..2")]),
    ),
    ("shakedown export out/velocity --format argo", How::Run(0)),
    (
        "shakedown export scenarios/policies/appconfig/Linear20PercentEvery6Minutes.toml --format argo",
        How::Run(0),
    ),
    (
        "shakedown calibrate scenarios/rolling-basic.toml --policy scenarios/policies/flagger.toml --seeds 1..50 --sizes error-rate=0.005,0.01,0.05 --out out/calibrate-flagger",
        How::Scaled(0, FEWER_SEEDS_50),
    ),
    (
        "shakedown compare fixtures/manifests/world.toml --policy fixtures/manifests/argo-rollouts/appmesh-canary-rollout.yaml --policy fixtures/manifests/flagger/istio-canary.yaml --seeds 1..50 --out out/manifests",
        How::Scaled(0, FEWER_SEEDS_50),
    ),
    (
        "shakedown import fixtures/manifests/argo-rollouts/rollout-analysis-step.yaml --metric-map fixtures/manifests/argo-rollouts/job-metrics.toml",
        How::Run(0),
    ),
    (
        "shakedown calibrate scenarios/policies/canary.toml --seeds 1..200 --out out/calibrate",
        How::Scaled(0, FEWER_SEEDS_200),
    ),
    (
        "shakedown shrink fixtures/shrink/planted-2000.toml --until 'failed_requests_due_to_change_after_rollout > 0' --max-runs 100 --out out/shrunk",
        How::Run(0),
    ),
    ("shakedown replay out/shrunk", How::Run(0)),
    ("shakedown live scenarios/live/rolling-good.toml", How::Docker(0, &[])),
    ("shakedown live scenarios/live/rolling-no-drain.toml", How::Docker(1, &[])),
    (
        "shakedown live scenarios/live/rolling-good.toml --compare-sim --out out/sim-vs-live",
        How::Docker(0, &[]),
    ),
    ("shakedown live scenarios/live/crash-loop.toml", How::Docker(0, &[])),
    ("shakedown live scenarios/live/autoscale-spike.toml", How::Docker(0, &[])),
    (
        "shakedown load http://127.0.0.1:8080/ --rps 1000 --duration 30s",
        How::Load(&[("--duration 30s", "--duration 2s")]),
    ),
    (
        "shakedown bench",
        How::Scaled(
            0,
            &[("shakedown bench", "shakedown bench scenarios/rolling-basic.toml --runs 1")],
        ),
    ),
    ("docker ps -a --filter label=shakedown=1", How::Docker(0, &[])),
    ("docker network ls --filter label=shakedown=1", How::Docker(0, &[])),
    (
        "docker ps -aq --filter label=shakedown=1 | xargs -r docker rm -f",
        How::Docker(0, SAFE_LABEL),
    ),
    (
        "docker network ls -q --filter label=shakedown=1 | xargs -r docker network rm",
        How::Docker(0, SAFE_LABEL),
    ),
    // docs/BENCHMARKS.md
    (
        "RAYON_NUM_THREADS=1 shakedown compare scenarios/fleet-23k.toml $P --seeds 1..1000 --out out/t1",
        How::Scaled(0, FLEET_SEEDS),
    ),
    (
        "RAYON_NUM_THREADS=2 shakedown compare scenarios/fleet-23k.toml $P --seeds 1..1000 --out out/t2",
        How::Scaled(0, FLEET_SEEDS),
    ),
    (
        "scripts/bench-live.sh --quiet-below 20 --connections \"64 16\"",
        How::Manual {
            why: BENCH_WHY,
            check: "bash -n scripts/bench-live.sh",
        },
    ),
    (
        "scripts/bench-live.sh --quiet-below 20 --connections \"64 16\" --uncached",
        How::Manual {
            why: BENCH_WHY,
            check: "bash -n scripts/bench-live.sh",
        },
    ),
    (
        "scripts/bench-live.sh --quiet-below 20 --no-wrk --no-router --uncached",
        How::Manual {
            why: BENCH_WHY,
            check: "bash -n scripts/bench-live.sh",
        },
    ),
    (
        "scripts/bench-live.sh --quiet-below 20 --pin --no-router --no-test1 --connections \"64 16\"",
        How::Manual {
            why: BENCH_WHY,
            check: "bash -n scripts/bench-live.sh",
        },
    ),
    (
        "scripts/bench-live.sh --pin --connections \"16 64\" --runs 3 --no-router --no-test1",
        How::Manual {
            why: BENCH_WHY,
            check: "bash -n scripts/bench-live.sh",
        },
    ),
    (
        "scripts/bench-live.sh --pin --connections 16 --runs 7 --closed-duration 5 --no-router --no-test1 --quiet-below 20",
        How::Manual {
            why: BENCH_WHY,
            check: "bash -n scripts/bench-live.sh",
        },
    ),
    (
        "scripts/bench-live.sh --pin --connections 64 --runs 7 --closed-duration 5 --no-router --no-test1 --quiet-below 20",
        How::Manual {
            why: BENCH_WHY,
            check: "bash -n scripts/bench-live.sh",
        },
    ),
    (
        "RAYON_NUM_THREADS=1 /usr/bin/time -v shakedown compare scenarios/bench/fleet-1m.toml --seeds 1..1 --out out/fleet-1m",
        How::Manual {
            why: BENCH_WHY,
            check: "test -f scenarios/bench/fleet-1m.toml",
        },
    ),
    (
        "RAYON_NUM_THREADS=1 shakedown bench scenarios/bench/fleet-1m.toml --runs 3",
        How::Manual {
            why: BENCH_WHY,
            check: "test -f scenarios/bench/fleet-1m.toml",
        },
    ),
    (
        "RAYON_NUM_THREADS=1 shakedown bench scenarios/bench/fleet-10m.toml --runs 1",
        How::Manual {
            why: BENCH_WHY,
            check: "test -f scenarios/bench/fleet-10m.toml",
        },
    ),
    (
        "just bench-live [ARGS]",
        How::Manual {
            why: BENCH_WHY,
            check: "grep -q '^bench-live' justfile",
        },
    ),
    (
        "just bench-peers",
        How::Manual {
            why: BENCH_WHY,
            check: "grep -q '^bench-peers' justfile",
        },
    ),
    (
        "scripts/bench-peers.sh --no-kernel --basic-seeds 20 --fleet-seeds 12",
        How::Manual {
            why: BENCH_WHY,
            check: "bash -n scripts/bench-peers.sh",
        },
    ),
    (
        "scripts/bench-peers.sh --simpy-events 300000 --basic-seeds 20 --fleet-seeds 2",
        How::Manual {
            why: BENCH_WHY,
            check: "bash -n scripts/bench-peers.sh",
        },
    ),
    (
        "cargo bench -p shakedown-sim --bench sim -- kernel",
        How::Manual {
            why: "a release build of the benchmarks (minutes); .ci/run's clippy --all-targets compiles them",
            check: "test -f sim/benches/sim.rs",
        },
    ),
    (
        "SHAKEDOWN_BENCH_PENDING=\"1000 100000\" cargo bench -p shakedown-sim --bench sim -- kernel/calendar",
        How::Manual {
            why: "a release build of the benchmarks (minutes); .ci/run's clippy --all-targets compiles them",
            check: "grep -q SHAKEDOWN_BENCH_PENDING sim/benches/sim.rs",
        },
    ),
    // docs/SHRINK.md (and the two commands of README.md above)
    (
        "shakedown run out/shrunk/scenario.toml --out out/shrunk-run",
        How::Run(0),
    ),
    // docs/CI.md
    (
        "shakedown compare scenarios/fleet-23k.toml --policy docs/examples/policies/rolling-1pct.toml --policy docs/examples/policies/all-at-once.toml --seeds 1..200 --out out/compare",
        How::Scaled(0, FLEET_SEEDS_200),
    ),
    (
        "shakedown gate out/compare --thresholds docs/examples/gate.toml",
        How::Run(1),
    ),
    // docs/CALIBRATE.md
    (
        "shakedown calibrate sim/tests/data/calibrate/judges.toml --seeds 1..200 --sizes error-rate=0.0002,0.0005 --sizes latency=0.02,0.05 --out out/calibrate-judges",
        How::Scaled(0, FEWER_SEEDS_200),
    ),
    (
        "shakedown judge --baseline docs/examples/judge/6278-baseline.csv --canary docs/examples/judge/6278-canary.csv --config docs/examples/judge/few-samples.toml",
        How::Run(0),
    ),
    (
        "shakedown judge --baseline docs/examples/judge/6278-baseline.csv --canary docs/examples/judge/6278-canary.csv --config docs/examples/judge/few-samples.toml --method shape",
        How::Run(1),
    ),
    // docs/LIVE.md
    (
        "shakedown live scenarios/live/canary-errors.toml --rps 300 --time-scale 2 --out out/canary",
        How::Docker(0, &[]),
    ),
    ("shakedown gc", How::Docker(0, &[])),
    ("shakedown gc --force", How::Docker(0, &[])),
    ("shakedown gc --all --force", How::Docker(0, &[])),
];

/// One documented command: where it is, the shell variables assigned
/// before it in its block, and its text.
struct Shown {
    at: String,
    vars: Vec<String>,
    text: String,
}

/// The part of a line before a `#` comment outside quotes.
fn strip_comment(line: &str) -> &str {
    let (mut single, mut double) = (false, false);
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && prev.is_whitespace() => return &line[..i],
            _ => {}
        }
        prev = c;
    }
    line
}

/// `NAME=word` or `NAME="several words"` alone on a line: a shell variable
/// the block's later commands use.
fn is_assignment(cmd: &str) -> bool {
    let Some((name, value)) = cmd.split_once('=') else {
        return false;
    };
    let named = !name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c == '_');
    let quoted = value.len() >= 2
        && value.starts_with('"')
        && value.ends_with('"')
        && value.matches('"').count() == 2;
    named && (quoted || !value.contains(' '))
}

/// Every command of the `sh` blocks of `file`, in order.
fn commands(file: &Path) -> Vec<Shown> {
    let text = std::fs::read_to_string(file).unwrap();
    let name = file.strip_prefix(repo()).unwrap().display().to_string();
    let mut out = Vec::new();
    let mut in_block = false;
    let mut vars = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(lang) = trimmed.strip_prefix("```") {
            if in_block {
                in_block = false;
            } else {
                in_block = matches!(lang.trim(), "sh" | "bash" | "console" | "shell");
                vars.clear();
            }
            continue;
        }
        if !in_block {
            continue;
        }
        let code = strip_comment(line).trim_end();
        let (start, mut acc) = pending.take().unwrap_or((i + 1, String::new()));
        let (body, more) = match code.strip_suffix('\\') {
            Some(b) => (b, true),
            None => (code, false),
        };
        acc.push(' ');
        acc.push_str(body.trim());
        if more {
            pending = Some((start, acc));
            continue;
        }
        let cmd = acc.split_whitespace().collect::<Vec<_>>().join(" ");
        if cmd.is_empty() {
            continue;
        }
        if is_assignment(&cmd) {
            vars.push(cmd);
            continue;
        }
        out.push(Shown {
            at: format!("{name}:{start}"),
            vars: vars.clone(),
            text: cmd,
        });
    }
    out
}

fn documents() -> Vec<PathBuf> {
    let mut files = vec![repo().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// A scratch directory whose entries link to the repository's (not `out/`,
/// `target/` or `.git`), so commands read the shipped files and write only
/// here.
fn scratch() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("docs-commands");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(repo()).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        if ["out", "target", ".git"].iter().any(|n| name == *n) {
            continue;
        }
        std::os::unix::fs::symlink(e.path(), dir.join(&name)).unwrap();
    }
    dir
}

fn docker_answers() -> bool {
    Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A loopback HTTP/1.1 server answering every request `200 ok`, for the
/// documented `shakedown load` command. Returns its address.
fn serve() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut w = conn.try_clone().unwrap();
                let mut r = BufReader::new(conn);
                let mut line = String::new();
                loop {
                    line.clear();
                    match r.read_line(&mut line) {
                        Ok(0) | Err(_) => return,
                        Ok(_) if line == "\r\n" => {
                            if w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                                .is_err()
                            {
                                return;
                            }
                        }
                        Ok(_) => {}
                    }
                }
            });
        }
    });
    addr
}

fn substitute(cmd: &str, subs: &[(&str, &str)], at: &str) -> String {
    let mut out = cmd.to_string();
    for (from, to) in subs {
        assert!(
            out.contains(from),
            "{at}: `{cmd}` no longer contains `{from}`: update the rule in cli/tests/docs.rs"
        );
        out = out.replace(from, to);
    }
    out
}

fn sh(dir: &Path, script: &str) -> std::process::Output {
    let bin = Path::new(env!("CARGO_BIN_EXE_shakedown")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .env("PATH", path)
        .output()
        .expect("sh runs")
}

#[test]
fn every_documented_command_runs_as_written() {
    let dir = scratch();
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let docker = docker_answers();
    let (mut ran, mut manual, mut not_run) = (0, Vec::new(), Vec::new());
    let mut seen = vec![false; RULES.len()];
    for file in documents() {
        for c in commands(&file) {
            let Some(k) = RULES.iter().position(|(text, _)| *text == c.text) else {
                panic!(
                    "{}: `{}` is not in cli/tests/docs.rs RULES: add how the test runs it",
                    c.at, c.text
                );
            };
            seen[k] = true;
            let (script, exit) = match &RULES[k].1 {
                How::Run(exit) => (c.text.clone(), *exit),
                How::Scaled(exit, subs) => (substitute(&c.text, subs, &c.at), *exit),
                How::Docker(exit, subs) => {
                    if !docker {
                        assert!(
                            !ci,
                            "{}: `{}` needs the Docker engine, which does not answer; CI=true, so this fails",
                            c.at, c.text
                        );
                        not_run.push(format!("{}: {} (no Docker engine)", c.at, c.text));
                        continue;
                    }
                    (substitute(&c.text, subs, &c.at), *exit)
                }
                How::Load(subs) => {
                    let addr = serve();
                    let s = substitute(&c.text, subs, &c.at);
                    (substitute(&s, &[("127.0.0.1:8080", &addr)], &c.at), 0)
                }
                How::Manual { why, check } => {
                    let o = sh(&dir, check);
                    assert!(
                        o.status.success(),
                        "{}: the check `{check}` for `{}` failed: {}",
                        c.at,
                        c.text,
                        String::from_utf8_lossy(&o.stderr)
                    );
                    manual.push(format!("{}: {} — {why}", c.at, c.text));
                    continue;
                }
            };
            let script = c.vars.iter().map(|v| format!("{v}; ")).collect::<String>() + &script;
            let o = sh(&dir, &script);
            assert_eq!(
                o.status.code(),
                Some(exit),
                "{}: `{script}` exited {:?}, the docs say {exit}\nstdout:\n{}\nstderr:\n{}",
                c.at,
                o.status.code(),
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            ran += 1;
        }
    }
    let stale: Vec<&str> = RULES
        .iter()
        .zip(&seen)
        .filter(|(_, s)| !**s)
        .map(|(r, _)| r.0)
        .collect();
    assert!(
        stale.is_empty(),
        "rules for commands no document shows any more: {stale:?}"
    );
    // What a person reads after the commands ran: the demo's report exists.
    assert!(dir.join("out/demo/report.html").is_file());
    eprintln!(
        "{ran} documented commands ran; {} not run here, each with its reason and a check:\n  {}",
        manual.len(),
        manual.join("\n  ")
    );
    if !not_run.is_empty() {
        eprintln!(
            "NOT RUN (no Docker engine, CI is not true):\n  {}",
            not_run.join("\n  ")
        );
    }
}
