//! Editing a scenario's TOML document at a sweep parameter's path
//! (`policy.max_unavailable`, `fleet.roles[0].hosts`): how `sweep` makes a
//! grid point's scenario, and how `export SWEEP_DIR` rebuilds one.

use shakedown_sim::experiment::grid::{self, Segment};
use toml_edit::{DocumentMut, Item, TableLike};

/// The value to write for `text`: TOML syntax when it is TOML (`5`, `0.5`,
/// `true`, `"10%"`, `[1, 2]`), a string otherwise (`10%`, `30s`). A decimal
/// number where the scenario has a string stays a string (`change.to=1.12`
/// is a version); quote a value to force a string (`"2"`).
fn toml_value(text: &str, existing: Option<&toml_edit::Value>) -> toml_edit::Value {
    let t = text.trim();
    let parsed = t.parse::<toml_edit::Value>().ok();
    match (parsed, existing) {
        (Some(toml_edit::Value::Float(_)), Some(toml_edit::Value::String(_))) | (None, _) => {
            toml_edit::Value::from(t)
        }
        (Some(v), _) => v,
    }
}

fn keys_of(t: &dyn TableLike) -> String {
    let keys: Vec<&str> = t.iter().map(|(k, _)| k).collect();
    if keys.is_empty() {
        "no keys".into()
    } else {
        format!("keys {}", keys.join(", "))
    }
}

fn replace(slot: &mut toml_edit::Value, text: &str) {
    let decor = slot.decor().clone();
    let mut v = toml_value(text, Some(slot));
    *v.decor_mut() = decor;
    *slot = v;
}

/// Sets the value at `segs` (first a key) under table `t` (`at` is its path).
fn set_in_table(
    t: &mut dyn TableLike,
    segs: &[Segment],
    text: &str,
    at: &str,
) -> Result<(), String> {
    let Segment::Key(k) = &segs[0] else {
        return Err(format!("`{at}` is a table: index it by key, not [n]"));
    };
    let here = if at.is_empty() {
        k.clone()
    } else {
        format!("{at}.{k}")
    };
    let rest = &segs[1..];
    if rest.is_empty() {
        match t.get_mut(k) {
            Some(Item::Value(v)) => replace(v, text),
            Some(_) => {
                return Err(format!(
                    "`{here}` is a table, not a value: name a key inside it"
                ))
            }
            // A key the file does not set yet (a default): added, and the
            // scenario's validation says whether it exists.
            None => {
                t.insert(k, Item::Value(toml_value(text, None)));
            }
        }
        return Ok(());
    }
    let listing = keys_of(t);
    let where_ = if at.is_empty() {
        "the scenario's top level".to_string()
    } else {
        format!("`{at}`")
    };
    let child = t
        .get_mut(k)
        .ok_or_else(|| format!("{where_} has no `{k}`; it has {listing}"))?;
    match (&rest[0], child) {
        (Segment::Key(_), child) => match child.as_table_like_mut() {
            Some(ct) => set_in_table(ct, rest, text, &here),
            None => Err(format!("`{here}` is a value, not a table")),
        },
        (Segment::Index(i), Item::ArrayOfTables(aot)) => {
            let len = aot.len();
            let tbl = aot.get_mut(*i).ok_or_else(|| {
                format!(
                    "`{here}` has {len} entries ([0] to [{}])",
                    len.saturating_sub(1)
                )
            })?;
            if rest.len() == 1 {
                return Err(format!(
                    "`{here}[{i}]` is a table, not a value: name a key inside it"
                ));
            }
            set_in_table(tbl, &rest[1..], text, &format!("{here}[{i}]"))
        }
        (Segment::Index(_), Item::Value(toml_edit::Value::Array(arr))) => {
            set_in_array(arr, rest, text, &here)
        }
        (Segment::Index(_), _) => Err(format!("`{here}` is not an array")),
    }
}

fn set_in_array(
    arr: &mut toml_edit::Array,
    segs: &[Segment],
    text: &str,
    at: &str,
) -> Result<(), String> {
    let Segment::Index(i) = segs[0] else {
        unreachable!("called on an index")
    };
    let len = arr.len();
    let here = format!("{at}[{i}]");
    let elem = arr.get_mut(i).ok_or_else(|| {
        format!(
            "`{at}` has {len} entries ([0] to [{}])",
            len.saturating_sub(1)
        )
    })?;
    let rest = &segs[1..];
    match (rest.first(), elem) {
        (None, v) => {
            replace(v, text);
            Ok(())
        }
        (Some(Segment::Key(_)), toml_edit::Value::InlineTable(t)) => {
            set_in_table(t, rest, text, &here)
        }
        (Some(Segment::Index(_)), toml_edit::Value::Array(a)) => set_in_array(a, rest, text, &here),
        (Some(_), _) => Err(format!("`{here}` has no such entry")),
    }
}

/// The scenario text with `values[i]` at `params[i].path` (the error names
/// the parameter by its index).
pub(crate) fn apply(
    doc: &DocumentMut,
    params: &[grid::Param],
    values: &[&str],
) -> Result<String, (usize, String)> {
    let mut doc = doc.clone();
    for (i, (p, v)) in params.iter().zip(values).enumerate() {
        set_in_table(doc.as_table_mut(), &p.segments(), v, "").map_err(|e| (i, e))?;
    }
    Ok(doc.to_string())
}
