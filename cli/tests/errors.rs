//! What the user sees for bad input (issue 15 item 8): invalid UTF-8 is
//! located, text quoted from the input cannot drive the terminal, and
//! `--out` errors name the path; all exit 2.

mod common;
use common::{repo, scratch_dir, shakedown};
use std::process::Output;

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into()
}

fn rolling_basic() -> String {
    std::fs::read_to_string(repo().join("scenarios/rolling-basic.toml")).unwrap()
}

/// No control character a terminal acts on (newlines and tabs are fine).
fn assert_inert(s: &str) {
    assert!(
        !s.chars().any(|c| c.is_control() && c != '\n' && c != '\t'),
        "raw control characters in {s:?}"
    );
}

// issue 15 item 8: invalid UTF-8 was reported as "stream did not contain
// valid UTF-8", without saying where.
#[test]
fn invalid_utf8_is_located_by_line_and_byte() {
    let dir = scratch_dir("errors-utf8");
    let mut bytes = rolling_basic().into_bytes();
    let at = bytes.windows(5).position(|w| w == b"\"api\"").unwrap() + 2;
    bytes[at] = 0xff; // `name = "a\xffi"` on line 21, byte 10
    let line = 1 + bytes[..at].iter().filter(|&&b| b == b'\n').count();
    let f = dir.join("bad.toml");
    std::fs::write(&f, &bytes).unwrap();
    let path = f.to_str().unwrap();
    let want = format!("{path}:{line}:10: not UTF-8: invalid byte 0xff at line {line}, byte 10");

    let o = shakedown(&["validate", path]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains(&want), "{}", stderr(&o));
    let o = shakedown(&["run", path, "--out", dir.join("out").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains(&want), "{}", stderr(&o));
    // A policy file and a gate's thresholds are read the same way.
    let o = shakedown(&[
        "compare",
        "scenarios/rolling-basic.toml",
        "--policy",
        path,
        "--seeds",
        "1",
        "--out",
        dir.join("cmp").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains(&want), "{}", stderr(&o));
    let th = dir.join("th.toml");
    std::fs::write(&th, b"[thresholds]\n\xc3(\n").unwrap();
    let o = shakedown(&[
        "gate",
        dir.to_str().unwrap(),
        "--thresholds",
        th.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let want = format!(
        "{}:2:1: not UTF-8: invalid byte 0xc3 at line 2, byte 1",
        th.display()
    );
    assert!(stderr(&o).contains(&want), "{}", stderr(&o));
}

// issue 15 item 8: escape codes in the input were echoed raw, in error
// messages and in what `validate` and `run` print about a valid scenario.
#[test]
fn escape_codes_from_the_input_are_shown_escaped() {
    let dir = scratch_dir("errors-escapes");
    let bad = dir.join("bad.toml");
    let text = rolling_basic().replacen("kind = \"rolling\"", "kind = \"\\u001b[2J\"", 1);
    std::fs::write(&bad, text).unwrap();
    let o = shakedown(&["validate", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert_inert(&stderr(&o));
    assert!(
        stderr(&o).contains("unknown kind `\\u{1b}[2J`"),
        "{}",
        stderr(&o)
    );

    let good = dir.join("good.toml");
    let text = rolling_basic().replacen(
        "name = \"rolling-basic\"",
        "name = \"x\\u001b]0;owned\\u0007\\u009b2J\"",
        1,
    );
    std::fs::write(&good, text).unwrap();
    let o = shakedown(&["validate", good.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert_inert(&out);
    assert!(out.contains("`x\\u{1b}]0;owned\\u{7}\\u{9b}2J`"), "{out}");
    let o = shakedown(&[
        "run",
        good.to_str().unwrap(),
        "--out",
        dir.join("out").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_inert(&String::from_utf8_lossy(&o.stdout));

    // A path is input too.
    let evil = dir.join("a\u{1b}[2Jb.toml");
    let o = shakedown(&["validate", evil.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert_inert(&stderr(&o));
    assert!(stderr(&o).contains("a\\u{1b}[2Jb.toml"), "{}", stderr(&o));
    std::fs::copy(&good, &evil).unwrap();
    let o = shakedown(&[
        "run",
        evil.to_str().unwrap(),
        "--out",
        dir.join("o\u{7}").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_inert(&String::from_utf8_lossy(&o.stdout));
}

// issue 15 item 8: `--out` errors must name the path, for every command
// that writes an output set.
#[test]
fn out_errors_name_the_path_for_every_writer() {
    let dir = scratch_dir("errors-out");
    let file = dir.join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let f = file.to_str().unwrap();
    let nested = file.join("sub");
    let n = nested.to_str().unwrap();
    let run_dir = dir.join("run");
    let o = shakedown(&[
        "run",
        "scenarios/rolling-basic.toml",
        "--out",
        run_dir.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let th = dir.join("th.toml");
    std::fs::write(&th, "[thresholds]\nrequests_failed = [\"max >= 0\"]\n").unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["run", "scenarios/rolling-basic.toml", "--out", f], f),
        (vec!["run", "scenarios/rolling-basic.toml", "--out", n], n),
        (
            vec![
                "compare",
                "scenarios/rolling-basic.toml",
                "--seeds",
                "1",
                "--out",
                f,
            ],
            f,
        ),
        (
            vec![
                "sweep",
                "scenarios/rolling-basic.toml",
                "--param",
                "policy.max_unavailable=1,2",
                "--seeds",
                "1",
                "--out",
                n,
            ],
            n,
        ),
        (
            vec![
                "gate",
                run_dir.to_str().unwrap(),
                "--thresholds",
                th.to_str().unwrap(),
                "--out",
                f,
            ],
            f,
        ),
    ];
    for (args, path) in cases {
        let o = shakedown(&args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(&format!("--out {path}: ")), "{args:?}: {err}");
    }
}

// issue 15 item 8: a policy file or a gate's thresholds cut off after `=`
// gave an empty message, one line past the end.
#[test]
fn truncated_policy_and_threshold_files_are_located_with_a_message() {
    let dir = scratch_dir("errors-truncated");
    let policy = dir.join("policy.toml");
    std::fs::write(&policy, "[policy]\nkind =").unwrap();
    let o = shakedown(&[
        "compare",
        "scenarios/rolling-basic.toml",
        "--policy",
        policy.to_str().unwrap(),
        "--seeds",
        "1",
        "--out",
        dir.join("cmp").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let want = format!("{}:2:7: `(file)`: ", policy.display());
    assert!(stderr(&o).contains(&want), "{}", stderr(&o));
    assert!(stderr(&o).contains("the file ends"), "{}", stderr(&o));

    let run_dir = dir.join("run");
    let o = shakedown(&[
        "run",
        "scenarios/rolling-basic.toml",
        "--out",
        run_dir.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let th = dir.join("th.toml");
    std::fs::write(&th, "[thresholds]\nrequests_failed =\n").unwrap();
    let o = shakedown(&[
        "gate",
        run_dir.to_str().unwrap(),
        "--thresholds",
        th.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let want = format!("{}:2:18: `thresholds.requests_failed`: ", th.display());
    assert!(stderr(&o).contains(&want), "{}", stderr(&o));
    assert!(stderr(&o).contains("the file ends"), "{}", stderr(&o));
}
