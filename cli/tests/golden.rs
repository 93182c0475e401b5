//! Golden master: the bytes of `summary.json`, `timeseries.csv` and
//! `events.csv` that `shakedown run` writes for every shipped scenario at two
//! seeds, pinned by hash in `tests/golden/hashes.txt`.
//!
//! A refactor keeps these byte-identical. A change that alters behaviour on
//! purpose updates the table in the same commit, saying which scenarios
//! changed and why: `GOLDEN_UPDATE=1 cargo test -p shakedown --test golden`
//! rewrites it.

mod common;
use common::repo;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

const FILES: [&str; 3] = ["summary.json", "timeseries.csv", "events.csv"];

/// FNV-1a, 64 bits: stable across platforms and Rust versions.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Every shipped scenario: `scenarios/*.toml` and `scenarios/live/*.toml`
/// (simulated, chaos schedule included), sorted.
fn scenarios() -> Vec<String> {
    let mut out = Vec::new();
    for dir in ["scenarios", "scenarios/live"] {
        for e in std::fs::read_dir(repo().join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "toml") {
                out.push(format!(
                    "{dir}/{}",
                    p.file_name().unwrap().to_string_lossy()
                ));
            }
        }
    }
    out.sort();
    out
}

fn table() -> String {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR")).join("golden");
    let mut table = String::new();
    for sc in scenarios() {
        for seed in [1u64, 7] {
            let out = tmp.join(format!("{}-{seed}", sc.replace('/', "_")));
            let _ = std::fs::remove_dir_all(&out);
            let o = Command::new(env!("CARGO_BIN_EXE_shakedown"))
                .args(["run", &sc, "--seed", &seed.to_string(), "--out"])
                .arg(&out)
                .current_dir(repo())
                .output()
                .expect("the binary runs");
            assert!(
                o.status.success(),
                "{sc} seed {seed}: {}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            for f in FILES {
                let bytes = std::fs::read(out.join(f)).unwrap();
                writeln!(table, "{sc} {seed} {f} {:016x}", fnv1a(&bytes)).unwrap();
            }
        }
    }
    table
}

#[test]
fn shipped_scenarios_write_the_pinned_bytes() {
    let path = repo().join("cli/tests/golden/hashes.txt");
    let got = table();
    if std::env::var_os("GOLDEN_UPDATE").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    let changed: Vec<&str> = got
        .lines()
        .filter(|l| !want.lines().any(|w| w == *l))
        .collect();
    assert!(
        changed.is_empty() && got.lines().count() == want.lines().count(),
        "outputs differ from the golden master ({}):\n{}\n\
         If the change is deliberate, run GOLDEN_UPDATE=1 cargo test -p shakedown --test golden \
         and say in the commit which scenarios changed and why.",
        path.display(),
        changed.join("\n")
    );
}
