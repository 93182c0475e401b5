//! Warnings for models that cannot be right: each class has a scenario
//! that raises it and one that does not. And errors inside arrays of tables
//! are located at their own table, not the first one.
#![allow(clippy::disallowed_methods)] // a test reads the shipped scenario files

use shakedown_sim::Scenario;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A 3-day scenario; `fleet`, `extra` and `policy` fill in the rest.
fn text(role_attrs: &str, extra: &str, policy: &str) -> String {
    format!(
        r#"name = "w"
duration = "3d"

[[fleet.roles]]
name = "api"
hosts = 20
attributes = {{ {role_attrs} }}
[[fleet.roles]]
name = "web"
hosts = 10

[traffic]
curve = "constant"
rps = 100

{extra}

[change]
attribute = "docker"
from = "20.10"
to = "24.0"

[policy]
{policy}
"#
    )
}

const ROLLING: &str = "kind = \"rolling\"";
const API: &str = "docker = \"20.10\", io = \"high\"";

/// (field, line, message) of each warning.
fn warnings(text: &str) -> Vec<(String, usize, String)> {
    let sc = Scenario::parse(text, "w.toml").unwrap_or_else(|e| panic!("{e}\n{text}"));
    sc.warnings(text, "w.toml")
        .into_iter()
        .map(|w| (w.0.field, w.0.line, w.0.message))
        .collect()
}

fn line_of(text: &str, needle: &str) -> usize {
    1 + text[..text.find(needle).expect("in the text")]
        .matches('\n')
        .count()
}

#[test]
fn a_typo_in_a_fault_selector_is_a_warning_at_its_line() {
    let fault = |v: &str| {
        format!("[[faults]]\nkind = \"leaked-ports\"\nmatch = {{ docker = \"{v}\" }}\nprobability = 0.1")
    };
    let t = text(API, &fault("20.1"), ROLLING);
    let w = warnings(&t);
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].0, "faults[0].match");
    assert_eq!(w[0].1, line_of(&t, "match ="));
    assert!(w[0].2.contains("selects no host"), "{}", w[0].2);
    assert!(
        w[0].2.contains("\"20.10\""),
        "names the values the fleet has: {}",
        w[0].2
    );
    // The new version counts: a fault on hosts that reached it matches.
    assert!(warnings(&text(API, &fault("20.10"), ROLLING)).is_empty());
    assert!(warnings(&text(API, &fault("24.0"), ROLLING)).is_empty());
    // A role filter and attributes that never meet on one host.
    let both = "[[faults]]\nkind = \"leaked-ports\"\nroles = [\"web\"]\nmatch = { io = \"high\" }\nprobability = 0.1";
    let w = warnings(&text(API, both, ROLLING));
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].2.contains("no host has all of them at once"),
        "{}",
        w[0].2
    );
}

#[test]
fn a_fault_that_can_never_fire_is_a_warning() {
    let leak = |p: &str| format!("[[faults]]\nkind = \"leaked-ports\"\nprobability = {p}");
    let w = warnings(&text(API, &leak("0.0"), ROLLING));
    assert_eq!(
        w.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
        ["faults[0].probability"]
    );
    assert!(warnings(&text(API, &leak("0.01"), ROLLING)).is_empty());

    let regression =
        |v: &str| format!("[[faults]]\nkind = \"regression\"\nversion = \"{v}\"\nerror_rate = 0.1");
    let w = warnings(&text(API, &regression("24.1"), ROLLING));
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].0, "faults[0].version");
    assert!(warnings(&text(API, &regression("24.0"), ROLLING)).is_empty());

    let outage = |start: &str| {
        format!("[[faults]]\nkind = \"registry-outage\"\nstart = \"{start}\"\nduration = \"1h\"")
    };
    let w = warnings(&text(API, &outage("4d"), ROLLING));
    assert_eq!(
        w.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
        ["faults[0].start"]
    );
    assert!(warnings(&text(API, &outage("10m"), ROLLING)).is_empty());
}

#[test]
fn a_change_from_no_host_runs_is_a_warning() {
    let w = warnings(&text("docker = \"20.9\"", "", ROLLING));
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].0, "change.from");
    assert!(w[0].2.contains("\"20.9\""), "{}", w[0].2);
    assert!(warnings(&text("docker = \"20.10\"", "", ROLLING)).is_empty());
    // A fleet that does not declare the attribute says nothing either way.
    assert!(warnings(&text("io = \"low\"", "", ROLLING)).is_empty());
}

#[test]
fn shares_that_do_not_sum_to_one_are_a_warning() {
    let eps = |a: f64, b: f64| {
        format!("[[traffic.endpoints]]\nname = \"read\"\nshare = {a}\n[[traffic.endpoints]]\nname = \"write\"\nshare = {b}")
    };
    let t = text(API, &eps(0.5, 0.45), ROLLING);
    let w = warnings(&t);
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].0, "traffic.endpoints");
    assert!(w[0].2.contains("sum to 0.95"), "{}", w[0].2);
    assert!(warnings(&text(API, &eps(0.7, 0.3), ROLLING)).is_empty());
    // A role's mix of an attribute.
    let mixed = |b: f64| {
        text(API, "", ROLLING).replace(
            "name = \"web\"\nhosts = 10\n",
            &format!("name = \"web\"\nhosts = 10\nmix = {{ kernel = {{ \"4.4\" = 0.3, \"5.10\" = {b} }} }}\n"),
        )
    };
    let w = warnings(&mixed(0.65));
    assert_eq!(
        w.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
        ["fleet.roles[1].mix.kernel"]
    );
    assert!(warnings(&mixed(0.7)).is_empty());
}

#[test]
fn an_io_class_with_no_factor_is_a_warning() {
    let panic = "[[faults]]\nkind = \"kernel-panic\"\nmtbf = \"30d\"\nroles = [\"api\"]";
    let w = warnings(&text(
        "docker = \"20.10\", io = \"extreme\"",
        panic,
        ROLLING,
    ));
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].0, "faults[0].io_factor");
    assert!(w[0].2.contains("\"extreme\""), "{}", w[0].2);
    assert!(warnings(&text(API, panic, ROLLING)).is_empty());
    // Every matched host at factor 0: it can never fire.
    let zero = format!("{panic}\nio_factor = {{ high = 0.0 }}");
    let w = warnings(&text(API, &zero, ROLLING));
    assert!(w.iter().any(|x| x.2.contains("can never fire")), "{w:?}");
}

#[test]
fn a_policy_that_cannot_finish_within_the_run_is_a_warning() {
    let linear = |d: &str| format!("kind = \"linear\"\nduration = \"{d}\"\nstep = \"1h\"");
    let w = warnings(&text(API, "", &linear("14d")));
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].0, "policy.duration");
    assert!(w[0].2.contains("can only time out"), "{}", w[0].2);
    assert!(warnings(&text(API, "", &linear("2d"))).is_empty());

    let canary = |h: u32| {
        format!("kind = \"canary\"\nsteps = [{{ set_weight = 10 }}, {{ pause = {{ duration = \"{h}h\" }} }}, {{ set_weight = 50 }}, {{ pause = {{ duration = \"{h}h\" }} }}]")
    };
    let w = warnings(&text(API, "", &canary(40)));
    assert_eq!(
        w.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
        ["policy.steps"]
    );
    assert!(warnings(&text(API, "", &canary(10))).is_empty());
    // Waiting for a human who never comes.
    let human = "kind = \"canary\"\nsteps = [{ set_weight = 10 }, { pause = {} }]";
    let w = warnings(&text(API, "", human));
    assert!(w.iter().any(|x| x.2.contains("waits for a human")), "{w:?}");
}

#[test]
fn shipped_scenarios_raise_no_warning() {
    for dir in ["scenarios", "scenarios/live"] {
        for e in std::fs::read_dir(repo().join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_none_or(|x| x != "toml") {
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap();
            let f = p.display().to_string();
            let load = |x: &str| {
                std::fs::read_to_string(p.parent().unwrap().join(x)).map_err(|e| e.to_string())
            };
            let sc = Scenario::parse_with(&text, &f, &load).unwrap();
            let w = sc.warnings(&text, &f);
            assert!(
                w.is_empty(),
                "{f}: {}",
                w.iter()
                    .map(|w| w.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
    }
}

// ---- located errors in arrays of tables (issue 11 item 6) ------------------

const THREE_FAULTS: &str = "[[faults]]\nkind = \"leaked-ports\"\nprobability = 0.1\n\n[[faults]]\nkind = \"orphaned-containers\"\nprobability = 0.2\n\n[[faults]]\nkind = \"bad-config\"\nfraction = FRACTION\n";

#[test]
fn an_error_in_the_third_faults_table_is_located_there() {
    // A value validation rejects.
    let t = text(API, &THREE_FAULTS.replace("FRACTION", "1.5"), ROLLING);
    let e = Scenario::parse(&t, "w.toml").unwrap_err();
    assert_eq!(e.field, "faults[2].fraction", "{e}");
    assert_eq!(e.line, line_of(&t, "fraction = 1.5"), "{e}");
    // A type error serde reports (it reads a tagged table whole, and was
    // located at the first table).
    let t = text(API, &THREE_FAULTS.replace("FRACTION", "\"half\""), ROLLING);
    let e = Scenario::parse(&t, "w.toml").unwrap_err();
    assert_eq!(e.field, "faults[2].fraction", "{e}");
    assert_eq!(e.line, line_of(&t, "fraction = \"half\""), "{e}");
    // An unknown key in the third table.
    let t = text(
        API,
        &THREE_FAULTS.replace("FRACTION", "0.5\nfractoin = 0.5"),
        ROLLING,
    );
    let e = Scenario::parse(&t, "w.toml").unwrap_err();
    assert_eq!(e.field, "faults[2].fractoin", "{e}");
    assert_eq!(e.line, line_of(&t, "fractoin"), "{e}");
    // A missing key: at the third table's header.
    let t = text(
        API,
        &THREE_FAULTS.replace("fraction = FRACTION\n", ""),
        ROLLING,
    );
    let e = Scenario::parse(&t, "w.toml").unwrap_err();
    assert_eq!(e.field, "faults[2].fraction", "{e}");
    let third = 1 + t
        .match_indices("[[faults]]")
        .nth(2)
        .map(|(i, _)| t[..i].matches('\n').count())
        .unwrap();
    assert_eq!(e.line, third, "{e}");
}
