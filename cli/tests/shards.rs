//! Shards run as separate processes at the same time, as a Kubernetes
//! Indexed Job or a CI matrix runs them (issue 14): three `compare --shard
//! K/3` processes started together and merged give the bytes of one
//! unsharded process.

mod common;
use common::{repo, scratch, text};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

const SCENARIO: &str = "scenarios/rolling-basic.toml";
const SEEDS: &str = "1..12";
const FILES: [&str; 5] = [
    "compare.csv",
    "manifest.json",
    "summary.json",
    "report.md",
    "report.html",
];

fn command(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_shakedown"));
    // One thread each: the shards, not rayon, are what run in parallel.
    c.args(args)
        .current_dir(repo())
        .env("RAYON_NUM_THREADS", "1");
    c
}

fn ok(o: Output) -> Output {
    assert!(o.status.success(), "{}", text(&o));
    o
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn read(p: PathBuf) -> Vec<u8> {
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn compare_args<'a>(pols: &'a [PathBuf], out: &'a Path, shard: Option<&'a str>) -> Vec<&'a str> {
    let mut a = vec!["compare", SCENARIO];
    for p in pols {
        a.extend(["--policy", s(p)]);
    }
    a.extend(["--seeds", SEEDS, "--out", s(out)]);
    if let Some(k) = shard {
        a.extend(["--shard", k]);
    }
    a
}

#[test]
fn three_concurrent_shard_processes_merge_into_the_bytes_of_one_process() {
    let dir = scratch("policies");
    std::fs::create_dir_all(&dir).unwrap();
    let pols: Vec<PathBuf> = [
        (
            "rolling-10pct",
            "kind = \"rolling\"\nmax_unavailable = \"10%\"",
        ),
        ("all-at-once", "kind = \"all-at-once\""),
    ]
    .iter()
    .map(|(name, body)| {
        let p = dir.join(format!("{name}.toml"));
        std::fs::write(&p, format!("[policy]\n{body}\n")).unwrap();
        p
    })
    .collect();

    let whole = scratch("whole");
    ok(command(&compare_args(&pols, &whole, None))
        .output()
        .unwrap());

    // Start all three before waiting for any.
    let dirs: Vec<PathBuf> = (1..=3).map(|k| scratch(&format!("shard-{k}"))).collect();
    let specs: Vec<String> = (1..=3).map(|k| format!("{k}/3")).collect();
    let children: Vec<Child> = dirs
        .iter()
        .zip(&specs)
        .map(|(d, k)| {
            command(&compare_args(&pols, d, Some(k)))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("the binary starts")
        })
        .collect();
    for child in children {
        ok(child.wait_with_output().unwrap());
    }

    let merged = scratch("merged");
    let mut args = vec!["merge"];
    args.extend(dirs.iter().rev().map(|d| s(d)));
    args.extend(["--out", s(&merged)]);
    let o = ok(command(&args).output().unwrap());
    assert!(
        text(&o).contains("merged 3 shards (24 runs)"),
        "{}",
        text(&o)
    );
    for f in FILES {
        assert_eq!(
            read(merged.join(f)),
            read(whole.join(f)),
            "merged {f} differs from the unsharded process's"
        );
    }
}
