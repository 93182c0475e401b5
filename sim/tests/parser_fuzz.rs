//! A bounded-time fuzz of the scenario parser and validator (issue 15 item
//! 9): mutations of every shipped scenario and arbitrary TOML built from the
//! shipped files' own keys and values. For every input:
//!
//! - parsing and validation never panic;
//! - a rejected input has a located error: line 1 ≤ `line` ≤ the file's line
//!   count (the end of the file is its last line, after its last character:
//!   `TomlIndex::line_col`), a column inside that line, a field and a
//!   non-empty message;
//! - an accepted scenario prints back (`--print-resolved`) to itself, and
//!   runs to completion through `shakedown_sim::run` with records inside the
//!   validated bounds, when it is small enough for a debug-build test
//!   (hosts × ticks ≤ [`RUN_CAP`], expected kernel panics ≤ [`EVENTS_CAP`]);
//!   a larger one must still be inside validation's magnitude bounds.
//!
//! Inputs that failed on the way are kept in `data/fuzz-regressions/` and
//! replayed by a normal test. The case count is fixed and the seed is fixed
//! (deterministic in CI); `SHAKEDOWN_FUZZ_CASES=N SHAKEDOWN_FUZZ_SEED=S`
//! explores further.
#![allow(clippy::disallowed_methods)] // tests read their data files and the environment

use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};
use shakedown_sim::faults::FaultRule;
use shakedown_sim::rollout::audit::MAX_AUDIT_ROWS;
use shakedown_sim::scenario::MAX_REQUESTS_PER_RUN;
use shakedown_sim::time::SimDuration;
use shakedown_sim::{run, RunOptions, Scenario};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::OnceLock;

/// Accepted scenarios up to this many host-ticks are run (a debug build
/// runs the shipped 40-host, 2-hour scenario in well under a second).
const RUN_CAP: f64 = 2.0e6;
/// …and with at most this many kernel panics expected.
const EVENTS_CAP: f64 = 2.0e4;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

struct Corpus {
    /// Shipped scenarios: (folder, text).
    files: Vec<(PathBuf, String)>,
    /// Every `key` of a `key = value` line in them.
    keys: Vec<String>,
    /// Every `[table]` and `[[array]]` header line.
    headers: Vec<String>,
    /// Every value written after a `=`.
    values: Vec<String>,
    /// Every line.
    lines: Vec<String>,
}

fn corpus() -> &'static Corpus {
    static C: OnceLock<Corpus> = OnceLock::new();
    C.get_or_init(|| {
        let mut files = Vec::new();
        for dir in ["scenarios", "scenarios/live"] {
            let dir = repo().join(dir);
            let mut names: Vec<_> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            names.sort();
            for p in names {
                files.push((dir.clone(), std::fs::read_to_string(&p).unwrap()));
            }
        }
        assert!(files.len() >= 15, "found {} shipped scenarios", files.len());
        let (mut keys, mut headers, mut values, mut lines) = (vec![], vec![], vec![], vec![]);
        let texts = files
            .iter()
            .map(|(_, t)| t.as_str())
            .chain([EXTRA_VOCABULARY]);
        for text in texts {
            for l in text.lines() {
                let t = l.trim();
                if t.is_empty() || t.starts_with('#') {
                    continue;
                }
                lines.push(l.to_string());
                if t.starts_with('[') {
                    headers.push(t.to_string());
                } else if let Some((k, v)) = t.split_once('=') {
                    keys.push(k.trim().to_string());
                    values.push(v.trim().to_string());
                }
            }
        }
        for v in [&mut keys, &mut headers, &mut values, &mut lines] {
            v.sort();
            v.dedup();
        }
        Corpus {
            files,
            keys,
            headers,
            values,
            lines,
        }
    })
}

/// Keys no shipped scenario writes, for the vocabulary.
const EXTRA_VOCABULARY: &str = "[live.limits]\nmemory = \"256MiB\"\ncpus = 0.5\npids = 64\n\
read_only = false\ntmp = \"0\"\n[monitoring]\nlag = \"30s\"\n";

/// Values at the edges: numbers, durations, percentages, types.
const EXTREMES: &[&str] = &[
    "1e308",
    "-1e308",
    "1e-320",
    "-1",
    "0",
    "-0.0",
    "nan",
    "inf",
    "-inf",
    "9223372036854775807",
    "-9223372036854775808",
    "2000000",
    "2000001",
    "20000000",
    "20000001",
    "1000000",
    "4294967296",
    "\"0s\"",
    "\"1ms\"",
    "\"1s\"",
    "\"366d\"",
    "\"367d\"",
    "\"999999999d\"",
    "\"18446744073709551615ms\"",
    "\"100%\"",
    "\"101%\"",
    "\"-5%\"",
    "\"0%\"",
    "\"\"",
    "\" \"",
    "[]",
    "[[]]",
    "{}",
    "true",
    "1979-05-27",
    "07:32:00",
    "\"\\u001b[2J\"",
];

#[derive(Clone, Debug)]
enum Mutation {
    Flip {
        at: Index,
        xor: u8,
    },
    Truncate {
        at: Index,
    },
    SwapValues {
        a: Index,
        b: Index,
    },
    Extreme {
        line: Index,
        value: &'static str,
    },
    DeleteLine {
        line: Index,
    },
    DuplicateLine {
        line: Index,
    },
    InsertKey {
        line: Index,
        key: String,
        value: String,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let c = corpus();
    prop_oneof![
        1 => (any::<Index>(), 1..=255u8).prop_map(|(at, xor)| Mutation::Flip { at, xor }),
        1 => any::<Index>().prop_map(|at| Mutation::Truncate { at }),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::SwapValues { a, b }),
        3 => (any::<Index>(), select(EXTREMES)).prop_map(|(line, value)| Mutation::Extreme { line, value }),
        1 => any::<Index>().prop_map(|line| Mutation::DeleteLine { line }),
        1 => any::<Index>().prop_map(|line| Mutation::DuplicateLine { line }),
        2 => (
            any::<Index>(),
            select(c.keys.clone()),
            prop_oneof![select(EXTREMES).prop_map(String::from), select(c.values.clone())]
        )
            .prop_map(|(line, key, value)| Mutation::InsertKey { line, key, value }),
    ]
}

/// Indices of the `key = value` lines of `lines`.
fn kv_lines(lines: &[String]) -> Vec<usize> {
    (0..lines.len())
        .filter(|&i| {
            let t = lines[i].trim_start();
            !t.starts_with('#') && !t.starts_with('[') && t.contains('=')
        })
        .collect()
}

fn apply(text: &str, m: &Mutation) -> String {
    match m {
        Mutation::Flip { at, xor } => {
            let mut b = text.as_bytes().to_vec();
            if b.is_empty() {
                return String::new();
            }
            let i = at.index(b.len());
            b[i] ^= xor;
            String::from_utf8_lossy(&b).into_owned()
        }
        Mutation::Truncate { at } => {
            let mut i = at.index(text.len() + 1);
            while !text.is_char_boundary(i) {
                i -= 1;
            }
            text[..i].to_string()
        }
        _ => {
            let mut lines: Vec<String> = text.lines().map(String::from).collect();
            let kv = kv_lines(&lines);
            match m {
                Mutation::SwapValues { a, b } if !kv.is_empty() => {
                    let (i, j) = (kv[a.index(kv.len())], kv[b.index(kv.len())]);
                    let (ki, vi) = lines[i].split_once('=').unwrap();
                    let (kj, vj) = lines[j].split_once('=').unwrap();
                    let (li, lj) = (format!("{ki}={vj}"), format!("{kj}={vi}"));
                    lines[i] = li;
                    lines[j] = lj;
                }
                Mutation::Extreme { line, value } if !kv.is_empty() => {
                    let i = kv[line.index(kv.len())];
                    let k = lines[i].split_once('=').unwrap().0.to_string();
                    lines[i] = format!("{k}= {value}");
                }
                Mutation::DeleteLine { line } if !lines.is_empty() => {
                    lines.remove(line.index(lines.len()));
                }
                Mutation::DuplicateLine { line } if !lines.is_empty() => {
                    let i = line.index(lines.len());
                    lines.insert(i, lines[i].clone());
                }
                Mutation::InsertKey { line, key, value } => {
                    let i = line.index(lines.len() + 1);
                    lines.insert(i, format!("{key} = {value}"));
                }
                _ => {}
            }
            let mut out = lines.join("\n");
            out.push('\n');
            out
        }
    }
}

/// A value: an edge, a shipped one, a number, or an array / inline table.
fn value() -> impl Strategy<Value = String> {
    let c = corpus();
    let leaf = prop_oneof![
        select(EXTREMES).prop_map(String::from),
        select(c.values.clone()),
        any::<i64>().prop_map(|v| v.to_string()),
        any::<f64>().prop_map(|v| {
            if v.is_nan() {
                "nan".to_string()
            } else if v.is_infinite() {
                if v > 0.0 { "inf" } else { "-inf" }.to_string()
            } else {
                format!("{v:?}")
            }
        }),
        "\"[0-9]{1,4}(ms|s|m|h|d|%)?\"",
    ];
    leaf.prop_recursive(3, 24, 4, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec((select(corpus().keys.clone()), inner), 0..4).prop_map(|kv| {
                let kv: Vec<String> = kv.into_iter().map(|(k, v)| format!("{k} = {v}")).collect();
                format!("{{ {} }}", kv.join(", "))
            }),
        ]
    })
}

/// An arbitrary TOML document made of the shipped files' headers, keys,
/// lines and values, in any order, or a soup of TOML punctuation.
fn document() -> impl Strategy<Value = String> {
    let c = corpus();
    let item = prop_oneof![
        1 => select(c.headers.clone()),
        3 => (select(c.keys.clone()), value()).prop_map(|(k, v)| format!("{k} = {v}")),
        3 => select(c.lines.clone()),
    ];
    prop_oneof![
        4 => prop::collection::vec(item, 0..40).prop_map(|v| v.join("\n")),
        1 => "[\\[\\]{}=\",.#a-z0-9_ \n\t'-]{0,300}",
    ]
}

/// Reads a file the scenario names from its folder; nothing outside it.
fn loader(dir: &Path) -> impl Fn(&str) -> Result<String, String> + '_ {
    move |rel: &str| {
        if rel.starts_with('/') || rel.contains("..") {
            return Err(format!("`{rel}`: outside the scenario folder"));
        }
        std::fs::read_to_string(dir.join(rel)).map_err(|e| format!("`{rel}`: {e}"))
    }
}

fn expected_panics(sc: &Scenario) -> f64 {
    sc.faults
        .iter()
        .map(|f| match f {
            FaultRule::KernelPanic {
                on,
                mtbf,
                io_factor,
                ..
            } => {
                let hosts: f64 = sc
                    .fleet
                    .roles
                    .iter()
                    .filter(|r| on.roles.is_empty() || on.roles.contains(&r.name))
                    .map(|r| r.hosts as f64)
                    .sum();
                let factor = io_factor.values().copied().fold(1.0, f64::max);
                hosts * sc.duration.as_secs_f64() / mtbf.as_secs_f64() * factor
            }
            _ => 0.0,
        })
        .sum()
}

/// Inputs rejected, accepted, and accepted and run (so a generator that
/// stopped producing valid scenarios is noticed).
static OUTCOMES: [AtomicUsize; 3] = [const { AtomicUsize::new(0) }; 3];

/// The property, for one input text.
fn check(text: &str, dir: &Path) -> Result<(), TestCaseError> {
    let load = loader(dir);
    let r = Scenario::parse_with(text, "fuzz.toml", &load);
    OUTCOMES[r.is_ok() as usize].fetch_add(1, Relaxed);
    match r {
        Err(e) => {
            let lines: Vec<&str> = text.lines().collect();
            let shown = e.to_string();
            prop_assert_eq!(&e.file, "fuzz.toml");
            prop_assert!(
                e.line >= 1 && e.line <= lines.len().max(1),
                "line: {}",
                shown
            );
            let line_len = lines.get(e.line - 1).map_or(0, |l| l.len());
            prop_assert!(
                e.column >= 1 && e.column <= line_len + 1,
                "column: {}",
                shown
            );
            prop_assert!(!e.field.trim().is_empty(), "field: {}", shown);
            prop_assert!(!e.message.trim().is_empty(), "message: {}", shown);
            prop_assert!(!shown.contains("$__"), "internal name: {}", shown);
        }
        Ok(sc) => {
            let again = Scenario::parse_with(&sc.to_toml(), "resolved.toml", &load);
            prop_assert_eq!(
                again.as_ref(),
                Ok(&sc),
                "--print-resolved does not read back"
            );
            // Validation's magnitude bounds (sim/src/scenario/mod.rs).
            prop_assert!(sc.host_count() <= 20_000_000);
            prop_assert!(sc.duration <= SimDuration::from_hours(24 * 366));
            prop_assert!(sc.tick >= SimDuration::from_secs(1));
            let bound = sc.traffic.rps_upper_bound() * sc.duration.as_secs_f64();
            prop_assert!(bound < MAX_REQUESTS_PER_RUN, "{} requests", bound);
            let ticks = sc.duration.as_millis().div_ceil(sc.tick.as_millis());
            if sc.host_count() as f64 * ticks as f64 <= RUN_CAP
                && expected_panics(&sc) <= EVENTS_CAP
            {
                OUTCOMES[2].fetch_add(1, Relaxed);
                let rec = run(&sc, RunOptions::full(sc.seed));
                prop_assert!(
                    rec.ticks.len() as u64 <= ticks + 1,
                    "{} ticks",
                    rec.ticks.len()
                );
                prop_assert!(rec.events.len() <= MAX_AUDIT_ROWS);
                prop_assert!(rec.summary.requests_total as f64 <= MAX_REQUESTS_PER_RUN);
            }
        }
    }
    Ok(())
}

fn config(default_cases: u32) -> Config {
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    Config {
        cases: env("SHAKEDOWN_FUZZ_CASES").map_or(default_cases, |n| n as u32),
        rng_seed: RngSeed::Fixed(env("SHAKEDOWN_FUZZ_SEED").unwrap_or(15)),
        failure_persistence: None,
        max_shrink_iters: 2_000,
        ..Config::default()
    }
}

/// Runs `check` on the texts `strategy` generates; on failure, writes the
/// minimal failing input under the target directory to copy into
/// `data/fuzz-regressions/`.
fn fuzz<S: Strategy>(name: &str, strategy: S, text: impl Fn(&S::Value) -> (String, PathBuf))
where
    S::Value: Clone,
{
    let result = TestRunner::new(config(384)).run(&strategy, |v| {
        let (t, dir) = text(&v);
        check(&t, &dir)
    });
    if let Err(e) = result {
        let detail = match &e {
            proptest::test_runner::TestError::Fail(why, v) => {
                let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.toml"));
                std::fs::write(&out, text(v).0).unwrap();
                format!("{why}; the input is in {}", out.display())
            }
            other => other.to_string(),
        };
        panic!("{name}: {detail}");
    }
}

#[test]
fn mutated_shipped_scenarios_are_located_or_run() {
    let c = corpus();
    let strategy = (0..c.files.len(), prop::collection::vec(mutation(), 1..4));
    fuzz("mutated", strategy, |(i, ms)| {
        let (dir, text) = &c.files[*i];
        (
            ms.iter().fold(text.clone(), |t, m| apply(&t, m)),
            dir.clone(),
        )
    });
    let ran = OUTCOMES[2].load(Relaxed);
    assert!(
        ran >= 10,
        "only {ran} mutated scenarios were valid and run: {OUTCOMES:?}"
    );
}

#[test]
fn arbitrary_toml_is_located_or_runs() {
    let dir = repo().join("scenarios");
    fuzz("arbitrary", document(), |t| (t.clone(), dir.clone()));
}

/// Inputs the fuzz found failing, fixed since: `data/fuzz-regressions/*.toml`
/// (their first line says what broke), checked against the same property.
#[test]
fn fuzz_regressions_stay_fixed() {
    let dir = repo().join("sim/tests/data/fuzz-regressions");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no regression inputs in {}",
        dir.display()
    );
    let scenarios = repo().join("scenarios");
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        if let Err(e) = check(&text, &scenarios) {
            panic!("{}: {e}", f.display());
        }
    }
}
