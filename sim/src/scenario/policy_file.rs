//! Policy files on their own: a `[policy]` table (and the `[analysis.NAME]`
//! templates it uses) without a scenario, as `shakedown validate` checks
//! them before they meet a scenario in `compare --policy`.
//!
//! A policy is validated against a fleet, so the file is checked inside a
//! stand-in scenario whose fleet has every role and zone the policy names
//! (`test_roles`, an SLO's `role`, the zones of `waves`) plus one more role:
//! whatever is wrong is then the policy's own doing. Errors keep the policy
//! file's lines (the stand-in's lines come after it). Whether its roles and
//! zones fit a given fleet is checked where it meets that scenario.

use super::{Scenario, ScenarioError};
use std::collections::BTreeSet;

/// Whether `text` is a policy file rather than a scenario: a `[policy]`
/// table and neither a scenario's `name` nor its `[fleet]`.
pub fn is_policy_file(text: &str) -> bool {
    match toml::from_str::<toml::Table>(text) {
        Ok(t) => t.contains_key("policy") && !t.contains_key("name") && !t.contains_key("fleet"),
        Err(_) => false,
    }
}

fn strings(v: Option<&toml::Value>) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack: Vec<&toml::Value> = v.into_iter().collect();
    while let Some(v) = stack.pop() {
        match v {
            toml::Value::String(s) => out.push(s.clone()),
            toml::Value::Array(a) => stack.extend(a.iter()),
            _ => {}
        }
    }
    out
}

/// Checks a policy file on its own; returns the policy's kind.
pub fn check_policy_file(text: &str, file: &str) -> Result<String, ScenarioError> {
    let table: toml::Table = toml::from_str(text).unwrap_or_default();
    let policy = table.get("policy").and_then(|p| p.as_table());
    let get = |k: &str| policy.and_then(|p| p.get(k));
    let mut roles: BTreeSet<String> = strings(get("test_roles")).into_iter().collect();
    for key in ["slo", "alarms"] {
        for check in get(key).and_then(|v| v.as_array()).into_iter().flatten() {
            roles.extend(strings(check.get("role")));
        }
    }
    let zones: BTreeSet<String> = strings(get("waves")).into_iter().collect();
    // One more role than the policy names: a staged policy needs production.
    let mut extra = "app".to_string();
    while roles.contains(&extra) {
        extra.push('_');
    }
    roles.insert(extra);
    let zones = if zones.is_empty() {
        vec!["zone-a".to_string(), "zone-b".to_string()]
    } else {
        zones.into_iter().collect()
    };
    let zone_list = zones
        .iter()
        .map(|z| format!("{:?}", z))
        .collect::<Vec<_>>()
        .join(", ");
    let mut fleet = String::new();
    for r in &roles {
        fleet.push_str(&format!(
            "\n[[fleet.roles]]\nname = {r:?}\nhosts = 100\nzones = [{zone_list}]\n"
        ));
    }
    let stand_in = |mode: &str| {
        // The file's text comes first so that its lines are the errors'
        // lines; its top-level keys (none but tables, in a policy file)
        // stay its own. The stand-in's keys go in tables after it.
        format!(
            "{text}\n{fleet}\n[traffic]\ncurve = \"constant\"\nrps = 1000\n\n[change]\nfrom = \"old\"\nto = \"new\"\nmode = \"{mode}\"\n"
        )
    };
    let parse = |mode: &str| -> Result<String, ScenarioError> {
        // A scenario's `name` and `duration` must precede every table, so
        // they are given to the parser as a prefix of one line each and
        // the errors' lines are moved back by two.
        let body = stand_in(mode);
        let full = format!("name = \"policy file\"\nduration = \"30d\"\n{body}");
        Scenario::parse(&full, file)
            .map(|sc| sc.policy.kind().to_string())
            .map_err(|mut e| {
                e.line = e.line.saturating_sub(2).max(1);
                e
            })
    };
    match parse("in-place") {
        Ok(kind) => Ok(kind),
        Err(e) => {
            let mode_error = e.message.contains("change.mode")
                || (e.field == "policy.max_surge" && e.message.contains("in-place"));
            match parse("replace") {
                Ok(kind) if mode_error => Ok(kind),
                _ => Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_file_is_told_from_a_scenario() {
        assert!(is_policy_file("[policy]\nkind = \"rolling\"\n"));
        assert!(!is_policy_file(
            "name = \"x\"\n[policy]\nkind = \"rolling\"\n"
        ));
        assert!(!is_policy_file("[fleet]\n[policy]\nkind = \"rolling\"\n"));
        assert!(!is_policy_file("[policy\n"));
    }

    #[test]
    fn policies_of_either_mode_and_with_roles_and_zones_validate() {
        for text in [
            "[policy]\nkind = \"canary\"\nsteps = [{ set_weight = 20 }, { pause = { duration = \"1h\" } }]\n",
            "[policy]\nkind = \"blue-green\"\n",
            "[policy]\nkind = \"staged\"\ntest_roles = [\"staging\"]\nbake = \"1h\"\n",
            "[policy]\nkind = \"waves\"\nwaves = [[\"eu-1\"], [\"us-1\", \"us-2\"]]\n",
        ] {
            check_policy_file(text, "p.toml").unwrap_or_else(|e| panic!("{text}: {e}"));
        }
    }

    #[test]
    fn an_error_is_at_the_policy_files_own_line() {
        let e = check_policy_file(
            "# a policy\n\n[policy]\nkind = \"canary\"\nstepz = 1\n",
            "p.toml",
        )
        .unwrap_err();
        assert_eq!(
            (e.file.as_str(), e.line, e.field.as_str()),
            ("p.toml", 5, "policy.stepz")
        );
        let e = check_policy_file(
            "[policy]\nkind = \"rolling\"\nmax_unavailable = \"150%\"\n",
            "p.toml",
        )
        .unwrap_err();
        assert_eq!(
            (e.line, e.field.as_str()),
            (3, "policy.max_unavailable"),
            "{e}"
        );
    }
}
