//! Error messages for broken scenario files (issue 15 item 8): every error
//! points at a line the file has, says something, names the field the user
//! wrote (not a serde-internal one), and cannot drive the terminal.
#![allow(clippy::disallowed_methods)] // tests read their data files

use shakedown_sim::located::escape_controls;
use shakedown_sim::Scenario;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Every shipped scenario (`scenarios/*.toml`, `scenarios/live/*.toml`).
fn shipped() -> Vec<PathBuf> {
    let mut v = Vec::new();
    for dir in ["scenarios", "scenarios/live"] {
        for e in std::fs::read_dir(repo().join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "toml") {
                v.push(p);
            }
        }
    }
    v.sort();
    assert!(v.len() >= 15, "found only {} shipped scenarios", v.len());
    v
}

/// Reads files a scenario names (a replay CSV) beside it.
fn loader(f: &Path) -> impl Fn(&str) -> Result<String, String> {
    let dir = f.parent().unwrap().to_path_buf();
    move |rel: &str| std::fs::read_to_string(dir.join(rel)).map_err(|e| format!("{rel}: {e}"))
}

fn parse(text: &str) -> shakedown_sim::ScenarioError {
    Scenario::parse(text, "t.toml").expect_err("the scenario is invalid")
}

/// The lines an editor shows for `text` (a last line without `\n` counts).
fn line_count(text: &str) -> usize {
    text.lines().count()
}

// issue 15 item 8: errors in truncated files pointed one line past the last
// (88 of them) and some had an empty message (`name =` at the end of the
// file). Every shipped scenario cut at every character boundary.
#[test]
fn truncated_scenarios_point_inside_the_file_with_a_message() {
    let mut errors = 0;
    for f in shipped() {
        let text = std::fs::read_to_string(&f).unwrap();
        let load = loader(&f);
        for cut in (0..text.len()).filter(|&i| text.is_char_boundary(i)) {
            let t = &text[..cut];
            let Err(e) = Scenario::parse_with(t, "cut.toml", &load) else {
                continue;
            };
            errors += 1;
            let at = format!("{} cut at byte {cut}: {e}", f.display());
            assert!(e.line >= 1 && e.line <= line_count(t).max(1), "{at}");
            assert!(e.column >= 1, "{at}");
            if e.line > 0 && e.line <= line_count(t) {
                let line = t.lines().nth(e.line - 1).unwrap();
                assert!(e.column <= line.len() + 1, "{at}: column past the line");
            }
            assert!(!e.message.trim().is_empty(), "{at}: empty message");
            assert!(!e.field.is_empty(), "{at}: empty field");
            assert!(!e.to_string().contains("$__"), "{at}: internal name");
        }
    }
    assert!(errors > 10_000, "only {errors} truncations were rejected");
}

// The two truncations of the issue, exactly: a value cut off at the end, and
// a file ending in a newline after an unfinished table header.
#[test]
fn a_cut_off_value_is_located_on_the_last_line_and_says_the_file_ends() {
    let e = parse("name = \"x\"\nduration =");
    assert_eq!(
        (e.line, e.column, e.field.as_str()),
        (2, 11, "duration"),
        "{e}"
    );
    assert!(e.message.contains("file ends"), "{e}");
    let e = parse("name = \"x\"\n[fleet\n");
    assert_eq!(e.line, 2, "{e}");
    assert!(e.message.contains("file ends"), "{e}");
    let e = parse("");
    assert_eq!((e.line, e.column), (1, 1), "{e}");
    assert!(!e.message.is_empty());
}

// issue 15 item 8: a file without `[policy]` whose first line is `name = …`
// blamed `name.policy`; the missing table is the document's.
#[test]
fn a_missing_top_level_table_is_named_alone() {
    let text = std::fs::read_to_string(repo().join("scenarios/rolling-basic.toml")).unwrap();
    let body = text.split_once("\nname = ").unwrap().1;
    let head = format!("name = {}", body.split_once("\n[policy]").unwrap().0);
    let e = parse(&head);
    assert_eq!(e.field, "policy", "{e}");
    assert_eq!(e.message, "missing field `policy`", "{e}");
    // Missing keys of a table and of an inline table still name the table.
    let e = parse(&head.replace("to = \"1.12.1\"\n", ""));
    assert_eq!(e.field, "change.to", "{e}");
    let e = parse(&head.replace(", max = \"90s\"", ""));
    assert_eq!(e.field, "change.restart_time", "{e}");
    // A table header on the first line is not blamed for the document.
    let e = parse("[fleet]\nroles = []\n");
    assert_eq!(e.field, "name", "{e}");
}

// issue 15 item 8: serde's private name for a date-time leaked into a
// message (`monitoring.$__toml_private_datetime`), and date-times were
// called maps.
#[test]
fn a_date_time_where_it_does_not_belong_is_called_a_date_time() {
    let text = std::fs::read_to_string(repo().join("scenarios/rolling-basic.toml")).unwrap();
    let cases = [
        ("tick = \"15s\"", "tick = 1979-05-27", "tick"),
        (
            "seed = 7",
            "seed = 7\nmonitoring = 1979-05-27T07:32:00Z",
            "monitoring",
        ),
        ("hosts = 40", "hosts = 07:32:00", "fleet.roles[0].hosts"),
        (
            "[traffic]",
            "[traffic]\nspikes = [1979-05-27]",
            "traffic.spikes",
        ),
        // Reported by serde at [policy], which it reads whole (found by the fuzz).
        (
            "kind = \"rolling\"",
            "window = 1979-05-27\nkind = \"rolling\"",
            "policy.window",
        ),
    ];
    for (from, to, field) in cases {
        let e = parse(&text.replacen(from, to, 1));
        let shown = e.to_string();
        assert!(!shown.contains("$__"), "{to}: {shown}");
        assert!(!shown.contains("map"), "{to}: {shown}");
        assert!(shown.contains("date-time"), "{to}: {shown}");
        assert_eq!(e.field, field, "{to}: {shown}");
    }
}

// issue 15 item 8: escape codes written in the file (`"\u001b[2J"` clears
// the screen) were echoed raw by every message that quotes the input.
#[test]
fn control_characters_from_the_input_are_escaped_when_shown() {
    let text = std::fs::read_to_string(repo().join("scenarios/rolling-basic.toml")).unwrap();
    let evil = [
        ("kind = \"rolling\"", "kind = \"\\u001b[2J\\u001b[31mok\""),
        ("mode = \"in-place\"", "mode = \"\\u009b31m\\r\""),
        ("[change]", "[change]\n\"\\u001b]0;title\\u0007\" = 1"),
        ("name = \"api\"", "name = \"api\"\n\"\\u202elive\" = 1"),
    ];
    for (from, to) in evil {
        let e = parse(&text.replacen(from, to, 1));
        let shown = e.to_string();
        assert!(
            !shown
                .chars()
                .any(|c| (c.is_control() && c != '\n' && c != '\t')
                    || ('\u{202a}'..='\u{202e}').contains(&c)),
            "{to}: {shown:?}"
        );
        assert!(shown.contains("\\u{"), "{to}: the escape is shown: {shown}");
    }
    assert_eq!(escape_controls("a\u{1b}[2Jb ≥ ×"), "a\\u{1b}[2Jb ≥ ×");
    assert_eq!(escape_controls("line\n\ttab"), "line\n\ttab");
    assert_eq!(escape_controls("\u{7f}\u{85}\r"), "\\u{7f}\\u{85}\\u{d}");
}

// A wrong-typed value inside [policy] was located at the `[policy]` header:
// serde reads the tagged table whole. It is now at its own key's line.
#[test]
fn a_wrong_typed_policy_value_is_at_its_own_line() {
    let cases = [
        (
            "scenarios/rolling-basic.toml",
            "max_unavailable = \"10%\"",
            "max_unavailable = true",
            "policy.max_unavailable",
        ),
        (
            "scenarios/rolling-basic.toml",
            "min_ready = \"30s\"",
            "min_ready = [1]",
            "policy.min_ready",
        ),
        (
            "scenarios/canary-wrong-timezone.toml",
            "{ set_weight = 5 },",
            "{ set_weight = \"five\" },",
            "policy.steps",
        ),
    ];
    for (file, from, to, field) in cases {
        let text = std::fs::read_to_string(repo().join(file)).unwrap();
        assert!(text.contains(from), "{file} no longer has {from}");
        let bad = text.replacen(from, to, 1);
        let e = parse(&bad);
        // The key's own line (for an array, where the array starts).
        let key = field.strip_prefix("policy.").unwrap();
        let policy = bad.lines().position(|l| l == "[policy]").unwrap();
        let line = policy
            + bad
                .lines()
                .skip(policy)
                .position(|l| l.starts_with(key))
                .unwrap()
            + 1;
        assert_eq!((e.field.as_str(), e.line), (field, line), "{to}: {e}");
    }
}
