#![allow(clippy::disallowed_methods)] // tests read the crate's own sources
//! The sim crate's modules run one way: each may use only the modules below
//! it in `LAYERS` (leaf vocabulary at the bottom, experiments at the top).
//! A `use crate::…` of a module above — directly, or through a re-export at
//! the crate root — fails this test, and so would any import cycle.

use std::collections::BTreeMap;
use std::path::Path;

/// Bottom first. A module may use any module earlier in this list.
const LAYERS: &[&str] = &[
    // vocabulary: time, located errors, the fleet's shape, the policy protocol
    "time",
    "located",
    "restart",
    "fleet",
    "protocol",
    // randomness, distributions, results, the event queue, statistics
    "rng",
    "dist",
    "record",
    "sched",
    "stats",
    // the world's inputs
    "traffic",
    "faults",
    "chaos",
    "autoscale",
    // judges, then strategies, then the scenario that names them
    "analysis",
    "policy",
    "scenario",
    // the harness and its simulated environment
    "rollout",
    "world",
    // Monte Carlo experiments over runs
    "experiment",
];

fn src() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))
}

/// Everything below `dir`, as (top-level module, text without comments and
/// test modules).
fn sources(dir: &Path, top: Option<&str>, out: &mut Vec<(String, String)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_stem().unwrap().to_string_lossy().to_string();
        let module = top.map(str::to_string).unwrap_or(name.clone());
        if p.is_dir() {
            sources(&p, Some(&module), out);
        } else if p.extension().is_some_and(|x| x == "rs") && !(top.is_none() && name == "lib") {
            let text = std::fs::read_to_string(&p).unwrap();
            let text = match text.find("#[cfg(test)]") {
                Some(i) => &text[..i],
                None => &text,
            };
            let code: String = text
                .lines()
                .map(|l| l.split("//").next().unwrap_or(""))
                .collect::<Vec<_>>()
                .join("\n");
            out.push((module, code));
        }
    }
}

/// Names the crate root re-exports (`pub use world::{run, …}`), to the
/// module they come from.
fn root_reexports() -> BTreeMap<String, String> {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    let mut map = BTreeMap::new();
    for line in lib.lines() {
        let Some(rest) = line.trim().strip_prefix("pub use ") else {
            continue;
        };
        let (module, names) = rest.split_once("::").unwrap();
        for n in names
            .trim_end_matches(';')
            .trim_matches(['{', '}'])
            .split(',')
        {
            let n = n.trim();
            if !n.is_empty() {
                map.insert(n.to_string(), module.to_string());
            }
        }
    }
    map
}

/// Every `crate::X` a text refers to, including `crate::{a, b}` groups.
fn crate_refs(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            for part in group.split(',') {
                out.push(ident(part.trim()));
            }
        } else {
            out.push(ident(rest));
        }
    }
    out
}

fn ident(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

#[test]
fn every_module_uses_only_modules_below_it() {
    let rank: BTreeMap<&str, usize> = LAYERS.iter().enumerate().map(|(i, m)| (*m, i)).collect();
    let reexports = root_reexports();
    let mut files = Vec::new();
    sources(src(), None, &mut files);
    let mut wrong = Vec::new();
    for (module, code) in &files {
        let Some(&mine) = rank.get(module.as_str()) else {
            wrong.push(format!(
                "module `{module}` is not in LAYERS: give it a layer"
            ));
            continue;
        };
        for r in crate_refs(code) {
            let target = reexports.get(&r).cloned().unwrap_or(r.clone());
            match rank.get(target.as_str()) {
                Some(&theirs) if theirs > mine => wrong.push(format!(
                    "`{module}` uses `crate::{r}` from `{target}`, a layer above it"
                )),
                _ => {}
            }
        }
    }
    wrong.sort();
    wrong.dedup();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_check_sees_an_upward_import() {
    let refs = crate_refs("use crate::{world::World, time};\nfn f(s: &crate::Scenario) {}");
    assert_eq!(refs, vec!["world", "time", "Scenario"]);
    assert_eq!(
        root_reexports().get("Scenario").map(String::as_str),
        Some("scenario")
    );
}
