//! Policy files: a TOML file with a `[policy]` table (any scenario file
//! works) or an Argo Rollout / Flagger Canary manifest, put in place of a
//! scenario's own policy. `compare`, `sweep`, `run --policy`, `lint`,
//! `export` and `calibrate` all load them through here.

use crate::input::{self, parse_at, BadInput};
use anyhow::Result;
use shakedown_sim::scenario::{ScenarioError, TomlIndex};
use shakedown_sim::{self as sim, Scenario};
use std::path::Path;
use toml_edit::{DocumentMut, Item};

fn bad(e: impl std::fmt::Display) -> anyhow::Error {
    BadInput(e.to_string()).into()
}

fn read(path: &Path, what: &str) -> Result<String> {
    Ok(input::read_text(path, what)?)
}

/// The scenario with the `[policy]` table of `policy_path` in place of its
/// own (and the policy file's `[analysis.NAME]` templates added). Errors in
/// those are located in the policy file. A YAML policy file (an Argo
/// Rollout or a Flagger Canary: a `.yaml`/`.yml` name, or `apiVersion:` /
/// `kind:` lines) is first translated to that TOML (`crate::manifest`, with
/// `metric_map`), and its errors are located in the manifest.
pub fn with_policy(
    scenario_text: &str,
    scenario_path: &Path,
    policy_path: &Path,
    metric_map: Option<&Path>,
) -> Result<Scenario> {
    Ok(with_policy_text(scenario_text, scenario_path, policy_path, metric_map)?.0)
}

/// [`with_policy`], and the scenario text it parsed (the scenario file with
/// the policy file's tables in place: what `sweep --policy` edits).
pub fn with_policy_text(
    scenario_text: &str,
    scenario_path: &Path,
    policy_path: &Path,
    metric_map: Option<&Path>,
) -> Result<(Scenario, String)> {
    let raw = read(policy_path, "policy file")?;
    let pname = policy_path.display().to_string();
    let (ptext, manifest) = if super::yaml::looks_like_yaml(&pname, &raw) {
        let t = super::translate_files(&[policy_path.to_path_buf()], metric_map)?;
        (t.toml.clone(), Some(t))
    } else {
        (raw, None)
    };
    let pdoc: DocumentMut = ptext.parse().map_err(|e: toml_edit::TomlError| {
        let offset = e.span().map_or(0, |s| s.start);
        let index = TomlIndex::new(&ptext);
        bad(ScenarioError::at_offset(
            &pname,
            &index,
            offset,
            "(file)",
            e.message(),
        ))
    })?;
    let Some(policy) = pdoc.get("policy").filter(|p| p.is_table_like()) else {
        return Err(bad(format!(
            "{pname}:1:1: `policy`: no [policy] table; a policy file is a TOML file with a [policy] table (any scenario file works)"
        )));
    };
    let mut doc: DocumentMut = scenario_text.parse().expect("the scenario parsed already");
    doc["policy"] = policy.clone();
    // Analysis templates the policy names (`[analysis.NAME]`) come along,
    // replacing the scenario's templates of the same name.
    let mut from_policy_file: Vec<String> = vec!["policy".into()];
    if let Some(templates) = pdoc.get("analysis").and_then(Item::as_table_like) {
        if doc.get("analysis").is_none() {
            doc["analysis"] = toml_edit::table();
        }
        if let Some(dst) = doc["analysis"].as_table_like_mut() {
            for (name, t) in templates.iter() {
                dst.insert(name, t.clone());
                from_policy_file.push(format!("analysis.{name}"));
            }
        }
    }
    let text = doc.to_string();
    let sc = parse_at(&text, scenario_path).map_err(|mut e| {
        let ours = |f: &str| {
            e.field == f
                || e.field.starts_with(&format!("{f}."))
                || e.field.starts_with(&format!("{f}["))
        };
        if from_policy_file.iter().any(|f| ours(f)) {
            let relocated = manifest.as_ref().is_some_and(|m| m.relocate(&mut e));
            if !relocated {
                let (line, column) = TomlIndex::new(&ptext).locate(&e.field);
                e.file = pname.clone();
                e.line = line;
                e.column = column;
            }
        }
        bad(e)
    })?;
    Ok((sc, text))
}

/// The scenario at `scenario_path` run under the policy file `policy_path`
/// (`run --policy`).
/// A TOML policy file's warnings about the policy, located in that file (a
/// YAML manifest's findings are `shakedown lint`'s).
pub(crate) fn policy_file_warnings(sc: &Scenario, p: &Path) -> Result<Vec<sim::located::Warning>> {
    let ptext = read(p, "policy file")?;
    let name = p.display().to_string();
    if super::yaml::looks_like_yaml(&name, &ptext) {
        return Ok(Vec::new());
    }
    Ok(sc
        .warnings(&ptext, &name)
        .into_iter()
        .filter(|w| w.0.field.starts_with("policy"))
        .collect())
}

/// `run --policy`'s warnings: the scenario file's about everything but the
/// policy, the policy file's about the policy.
pub fn policy_run_warnings(
    sc: &Scenario,
    scenario_path: &Path,
    policy_path: &Path,
) -> Result<Vec<sim::located::Warning>> {
    let text = read(scenario_path, "scenario")?;
    let mut w: Vec<_> = input::scenario_warnings(sc, &text, scenario_path)
        .into_iter()
        .filter(|w| !w.0.field.starts_with("policy"))
        .collect();
    w.extend(policy_file_warnings(sc, policy_path)?);
    Ok(w)
}

pub fn load_with_policy(
    scenario_path: &Path,
    policy_path: &Path,
    metric_map: Option<&Path>,
) -> Result<Scenario> {
    let text = read(scenario_path, "scenario")?;
    input::load(scenario_path)?;
    with_policy(&text, scenario_path, policy_path, metric_map)
}
