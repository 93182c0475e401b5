//! Shrinking: the smallest scenario on which a condition still holds
//! (`shakedown shrink`), proptest style.
//!
//! The search works on the scenario's TOML document (comments and layout
//! kept, so the result is a readable scenario file) and asks an *oracle*
//! about each candidate text: `Some(true)` the condition holds on it,
//! `Some(false)` it does not, `None` the text is not a valid scenario (the
//! candidate is dropped). The seed is the document's `seed` key, so a text
//! fixes its run. This module runs nothing itself: the CLI's oracle parses
//! the text with the normal scenario parser and runs it against its
//! baseline.
//!
//! Greedy passes, in this order, each repeated until none of its
//! candidates holds, and the whole list repeated until a round accepts
//! nothing (a fixed point) or the run budget is spent:
//!
//! 1. roles — remove a role (and its name from faults' `roles`; a fault
//!    left with no role goes with it);
//! 2. attributes — a mixed attribute (`mix`) takes one of its values on
//!    every host of the role;
//! 3. hosts — per role: 1, half, then steps (h − h/4, h − h/8, …, h − 1);
//! 4. faults — remove a fault;
//! 5. smaller faults — lower a rate (`probability`, `fraction`,
//!    `error_rate`, `traffic_fraction`) a step down 0.5, 0.2, 0.1, 0.05,
//!    0.02, 0.01 (not below 1 %), halve a duration
//!    (`duration`, `recover_after`, `reap_after`, `fix_after`), drop a role
//!    from a fault's `roles`;
//! 6. duration — the change's `start_at` (0, then half), the scenario's
//!    `duration` (1 s, half, then steps; whole minutes from 10 minutes up);
//! 7. traffic — a diurnal curve becomes constant at its peak rate, spikes
//!    go, a constant rate is lowered (half, then steps);
//! 8. zones — remove a zone from a role;
//! 9. seed — the smallest seed from 1 up (at most `seed_limit` tried)
//!    on which the condition holds.
//!
//! Candidates are generated in document order and every result is
//! memoised by text, so the same input and oracle give the same steps and
//! the same output, byte for byte.

use crate::time::SimDuration;
use std::collections::BTreeMap;
use toml_edit::{DocumentMut, Item, TableLike, Value};

/// The bounds of a search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Oracle runs at most (memoised answers are free).
    pub max_runs: usize,
    /// Seeds tried by the seed pass: 1 ..= this (and below the current seed).
    pub seed_limit: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_runs: 500,
            seed_limit: 100,
        }
    }
}

/// The passes, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Pass {
    Roles,
    Attributes,
    Hosts,
    Faults,
    SmallerFaults,
    Duration,
    Traffic,
    Zones,
    Seed,
}

impl Pass {
    pub const ALL: [Pass; 9] = [
        Pass::Roles,
        Pass::Attributes,
        Pass::Hosts,
        Pass::Faults,
        Pass::SmallerFaults,
        Pass::Duration,
        Pass::Traffic,
        Pass::Zones,
        Pass::Seed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Pass::Roles => "roles",
            Pass::Attributes => "attributes",
            Pass::Hosts => "hosts",
            Pass::Faults => "faults",
            Pass::SmallerFaults => "smaller faults",
            Pass::Duration => "duration",
            Pass::Traffic => "traffic",
            Pass::Zones => "zones",
            Pass::Seed => "seed",
        }
    }

    fn candidates(self, doc: &DocumentMut, opts: &Options) -> Vec<Candidate> {
        match self {
            Pass::Roles => remove_roles(doc),
            Pass::Attributes => collapse_mixes(doc),
            Pass::Hosts => fewer_hosts(doc),
            Pass::Faults => remove_faults(doc),
            Pass::SmallerFaults => smaller_faults(doc),
            Pass::Duration => shorter(doc),
            Pass::Traffic => simpler_traffic(doc),
            Pass::Zones => fewer_zones(doc),
            Pass::Seed => smaller_seed(doc, opts.seed_limit),
        }
    }
}

/// One accepted simplification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub pass: Pass,
    /// What changed: `role \`batch\``, `duration`, `faults[1] bad-config error_rate`.
    pub subject: String,
    pub from: String,
    /// The new value, or `removed`.
    pub to: String,
    /// Oracle runs used so far.
    pub runs: usize,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} → {}", self.subject, self.from, self.to)
    }
}

/// What a search found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shrunk {
    /// The minimal scenario text (the condition holds on it).
    pub text: String,
    /// Every accepted step, in order.
    pub steps: Vec<Step>,
    /// Oracle runs used.
    pub runs: usize,
    /// Candidates dropped because they were not valid scenarios.
    pub invalid: usize,
    /// Whether the run budget ran out before a fixed point.
    pub exhausted: bool,
}

/// A candidate: the document with one simplification applied.
struct Candidate {
    subject: String,
    from: String,
    to: String,
    doc: DocumentMut,
}

/// Parses scenario text as a TOML document.
pub fn document(text: &str) -> Result<DocumentMut, String> {
    text.parse::<DocumentMut>().map_err(|e| e.to_string())
}

/// `text` with its top-level `seed` set to `seed` (added if absent).
pub fn with_seed(text: &str, seed: u64) -> Result<String, String> {
    let mut doc = document(text)?;
    set_seed(&mut doc, seed);
    Ok(doc.to_string())
}

/// The document's `seed`, if it has one.
pub fn seed_of(text: &str) -> Option<u64> {
    document(text)
        .ok()?
        .get("seed")?
        .as_integer()
        .and_then(|s| u64::try_from(s).ok())
}

fn set_seed(doc: &mut DocumentMut, seed: u64) {
    let v = Value::from(i64::try_from(seed).unwrap_or(i64::MAX));
    match doc.get_mut("seed") {
        Some(slot) => replace(slot, v),
        None => {
            doc.insert("seed", Item::Value(v));
        }
    }
}

/// Minimises `text` (on which the condition holds: the caller checked)
/// with `oracle`, calling `progress` after each accepted step.
pub fn shrink(
    text: &str,
    opts: &Options,
    oracle: &mut dyn FnMut(&str) -> Option<bool>,
    progress: &mut dyn FnMut(&Step),
) -> Result<Shrunk, String> {
    let mut doc = document(text)?;
    let mut memo: BTreeMap<String, Option<bool>> = BTreeMap::new();
    memo.insert(doc.to_string(), Some(true));
    let mut runs = 0;
    let mut invalid = 0;
    let mut steps = Vec::new();
    let mut exhausted = false;
    'rounds: loop {
        let mut changed = false;
        for pass in Pass::ALL {
            'pass: loop {
                for c in pass.candidates(&doc, opts) {
                    let t = c.doc.to_string();
                    let verdict = match memo.get(&t) {
                        Some(v) => *v,
                        None => {
                            if runs >= opts.max_runs {
                                exhausted = true;
                                break 'rounds;
                            }
                            runs += 1;
                            let v = oracle(&t);
                            if v.is_none() {
                                invalid += 1;
                            }
                            memo.insert(t, v);
                            v
                        }
                    };
                    if verdict == Some(true) {
                        let step = Step {
                            pass,
                            subject: c.subject,
                            from: c.from,
                            to: c.to,
                            runs,
                        };
                        progress(&step);
                        steps.push(step);
                        doc = c.doc;
                        changed = true;
                        continue 'pass;
                    }
                }
                break;
            }
        }
        if !changed {
            break;
        }
    }
    Ok(Shrunk {
        text: doc.to_string(),
        steps,
        runs,
        invalid,
        exhausted,
    })
}

/// The steps merged by subject, in the order subjects first changed: one
/// line each, `role \`backend\` hosts: 1200 → 1` (for a file's header).
pub fn summary_lines(steps: &[Step]) -> Vec<String> {
    let mut merged: Vec<(String, String, String)> = Vec::new();
    for s in steps {
        match merged
            .iter_mut()
            .find(|(subject, _, _)| *subject == s.subject)
        {
            Some(m) => m.2 = s.to.clone(),
            None => merged.push((s.subject.clone(), s.from.clone(), s.to.clone())),
        }
    }
    merged
        .into_iter()
        .map(|(subject, from, to)| format!("{subject}: {from} → {to}"))
        .collect()
}

// ---- the document -------------------------------------------------------

/// Replaces the value in `slot`, keeping its comments and spacing.
fn replace(slot: &mut Item, mut new: Value) {
    if let Some(old) = slot.as_value() {
        *new.decor_mut() = old.decor().clone();
    }
    *slot = Item::Value(new);
}

/// How many tables an array of tables (`[[faults]]`) or an inline array of
/// tables holds.
fn count(item: Option<&Item>) -> usize {
    match item {
        Some(Item::ArrayOfTables(a)) => a.len(),
        Some(Item::Value(Value::Array(a))) => a.len(),
        _ => 0,
    }
}

fn table_at(item: Option<&Item>, i: usize) -> Option<&dyn TableLike> {
    match item? {
        Item::ArrayOfTables(a) => a.get(i).map(|t| t as &dyn TableLike),
        Item::Value(Value::Array(a)) => a.get(i)?.as_inline_table().map(|t| t as &dyn TableLike),
        _ => None,
    }
}

fn table_at_mut(item: Option<&mut Item>, i: usize) -> Option<&mut dyn TableLike> {
    match item? {
        Item::ArrayOfTables(a) => a.get_mut(i).map(|t| t as &mut dyn TableLike),
        Item::Value(Value::Array(a)) => a
            .get_mut(i)?
            .as_inline_table_mut()
            .map(|t| t as &mut dyn TableLike),
        _ => None,
    }
}

fn remove_at(item: Option<&mut Item>, i: usize) {
    match item {
        Some(Item::ArrayOfTables(a)) => a.remove(i),
        Some(Item::Value(Value::Array(a))) => {
            a.remove(i);
        }
        _ => {}
    }
}

/// Removes element `j` of an inline array, the next one taking its
/// leading space (`["a", "b"]` → `["b"]`, not `[ "b"]`).
fn remove_element(a: &mut toml_edit::Array, j: usize) {
    let gone = a.remove(j);
    if let Some(next) = a.get_mut(j) {
        let prefix = gone.decor().prefix().cloned().unwrap_or_default();
        next.decor_mut().set_prefix(prefix);
    }
}

fn roles(doc: &DocumentMut) -> Option<&Item> {
    doc.get("fleet")?.get("roles")
}

fn roles_mut(doc: &mut DocumentMut) -> Option<&mut Item> {
    doc.get_mut("fleet")?.get_mut("roles")
}

fn role_name(doc: &DocumentMut, i: usize) -> String {
    table_at(roles(doc), i)
        .and_then(|t| t.get("name"))
        .and_then(Item::as_str)
        .map_or_else(|| format!("fleet.roles[{i}]"), str::to_string)
}

fn strings(item: Option<&Item>) -> Vec<String> {
    item.and_then(Item::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn fault_kind(doc: &DocumentMut, i: usize) -> String {
    table_at(doc.get("faults"), i)
        .and_then(|t| t.get("kind"))
        .and_then(Item::as_str)
        .unwrap_or("?")
        .to_string()
}

fn number(item: Option<&Item>) -> Option<f64> {
    let v = item?.as_value()?;
    v.as_float().or_else(|| v.as_integer().map(|i| i as f64))
}

fn duration(item: Option<&Item>) -> Option<SimDuration> {
    SimDuration::parse(item?.as_str()?).ok()
}

fn fmt_num(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

/// Smaller sizes to try for `n`, most ambitious first: the floor, half,
/// then steps back up towards `n` (n − n/4, n − n/8, …, n − 1).
fn smaller(n: u64, floor: u64) -> Vec<u64> {
    let mut out = vec![floor, n / 2];
    let mut step = n / 4;
    while step >= 1 {
        out.push(n - step);
        step /= 2;
    }
    out.push(n.saturating_sub(1));
    let mut seen = Vec::new();
    for x in out {
        if x >= floor && x < n && !seen.contains(&x) {
            seen.push(x);
        }
    }
    seen
}

/// A duration halved, in whole seconds (none below 1 s).
fn halved(d: SimDuration) -> Option<SimDuration> {
    let s = d.as_millis() / 2 / 1000;
    (s >= 1).then(|| SimDuration::from_secs(s))
}

// ---- the passes ---------------------------------------------------------

fn remove_roles(doc: &DocumentMut) -> Vec<Candidate> {
    let n = count(roles(doc));
    if n <= 1 {
        return Vec::new();
    }
    (0..n)
        .map(|i| {
            let name = role_name(doc, i);
            let hosts = table_at(roles(doc), i)
                .and_then(|t| t.get("hosts"))
                .and_then(Item::as_integer)
                .unwrap_or(0);
            let mut d = doc.clone();
            remove_at(roles_mut(&mut d), i);
            forget_role(&mut d, &name);
            Candidate {
                subject: format!("role `{name}`"),
                from: format!("{hosts} hosts"),
                to: "removed".into(),
                doc: d,
            }
        })
        .collect()
}

/// Takes a removed role's name out of every fault's `roles`; a fault that
/// named only that role goes too (an empty list would mean every role).
fn forget_role(doc: &mut DocumentMut, name: &str) {
    let mut i = 0;
    while i < count(doc.get("faults")) {
        let mut emptied = false;
        if let Some(f) = table_at_mut(doc.get_mut("faults"), i) {
            if let Some(a) = f.get_mut("roles").and_then(Item::as_array_mut) {
                let before = a.len();
                loop {
                    let Some(j) = a.iter().position(|v| v.as_str() == Some(name)) else {
                        break;
                    };
                    remove_element(a, j);
                }
                emptied = before > 0 && a.is_empty();
            }
        }
        if emptied {
            remove_at(doc.get_mut("faults"), i);
        } else {
            i += 1;
        }
    }
}

fn collapse_mixes(doc: &DocumentMut) -> Vec<Candidate> {
    let mut out = Vec::new();
    for i in 0..count(roles(doc)) {
        let Some(mix) = table_at(roles(doc), i)
            .and_then(|t| t.get("mix"))
            .and_then(Item::as_table_like)
        else {
            continue;
        };
        let role = role_name(doc, i);
        for (attr, values) in mix.iter() {
            let Some(values) = values.as_table_like() else {
                continue;
            };
            let shares: Vec<(String, f64)> = values
                .iter()
                .map(|(v, s)| (v.to_string(), number(Some(s)).unwrap_or(0.0)))
                .collect();
            let total: f64 = shares.iter().map(|s| s.1).sum();
            let from = shares
                .iter()
                .map(|(v, s)| format!("{v} {} %", fmt_num(100.0 * s / total)))
                .collect::<Vec<_>>()
                .join(", ");
            for (value, _) in &shares {
                let mut d = doc.clone();
                let Some(r) = table_at_mut(roles_mut(&mut d), i) else {
                    continue;
                };
                if let Some(m) = r.get_mut("mix").and_then(Item::as_table_like_mut) {
                    m.remove(attr);
                    if m.is_empty() {
                        r.remove("mix");
                    }
                }
                match r.get_mut("attributes").and_then(Item::as_table_like_mut) {
                    Some(a) => match a.get_mut(attr) {
                        Some(slot) => replace(slot, Value::from(value.as_str())),
                        None => {
                            a.insert(attr, Item::Value(Value::from(value.as_str())));
                        }
                    },
                    None => {
                        let mut t = toml_edit::InlineTable::new();
                        t.insert(attr, Value::from(value.as_str()));
                        r.insert("attributes", Item::Value(Value::InlineTable(t)));
                    }
                }
                out.push(Candidate {
                    subject: format!("role `{role}` attribute `{attr}`"),
                    from: format!("mixed ({from})"),
                    to: format!("`{value}` on every host"),
                    doc: d,
                });
            }
        }
    }
    out
}

fn fewer_hosts(doc: &DocumentMut) -> Vec<Candidate> {
    let mut out = Vec::new();
    for i in 0..count(roles(doc)) {
        let Some(h) = table_at(roles(doc), i)
            .and_then(|t| t.get("hosts"))
            .and_then(Item::as_integer)
            .and_then(|h| u64::try_from(h).ok())
        else {
            continue;
        };
        let role = role_name(doc, i);
        for n in smaller(h, 1) {
            let mut d = doc.clone();
            if let Some(slot) = table_at_mut(roles_mut(&mut d), i).and_then(|r| r.get_mut("hosts"))
            {
                replace(slot, Value::from(n as i64));
            }
            out.push(Candidate {
                subject: format!("role `{role}` hosts"),
                from: h.to_string(),
                to: n.to_string(),
                doc: d,
            });
        }
    }
    out
}

fn remove_faults(doc: &DocumentMut) -> Vec<Candidate> {
    (0..count(doc.get("faults")))
        .map(|i| {
            let mut d = doc.clone();
            remove_at(d.get_mut("faults"), i);
            Candidate {
                subject: format!("faults[{i}] {}", fault_kind(doc, i)),
                from: "present".into(),
                to: "removed".into(),
                doc: d,
            }
        })
        .collect()
}

/// Rates a smaller fault has less of.
const RATES: [&str; 4] = ["probability", "fraction", "error_rate", "traffic_fraction"];
/// The rates a smaller fault steps down through, one at a time: round
/// values, none below 1 %.
const RATE_LADDER: [f64; 6] = [0.5, 0.2, 0.1, 0.05, 0.02, 0.01];
/// Durations a smaller fault lasts less for.
const DURATIONS: [&str; 4] = ["duration", "recover_after", "reap_after", "fix_after"];

fn smaller_faults(doc: &DocumentMut) -> Vec<Candidate> {
    let mut out = Vec::new();
    for i in 0..count(doc.get("faults")) {
        let Some(f) = table_at(doc.get("faults"), i) else {
            continue;
        };
        let kind = fault_kind(doc, i);
        let mut edit =
            |key: &str, from: String, to: String, v: Option<Value>, drop: Option<usize>| {
                let mut d = doc.clone();
                if let Some(f) = table_at_mut(d.get_mut("faults"), i) {
                    match (v, drop) {
                        (Some(v), _) => {
                            if let Some(slot) = f.get_mut(key) {
                                replace(slot, v);
                            }
                        }
                        (None, Some(j)) => {
                            if let Some(a) = f.get_mut(key).and_then(Item::as_array_mut) {
                                remove_element(a, j);
                            }
                        }
                        (None, None) => {}
                    }
                }
                out.push(Candidate {
                    subject: format!("faults[{i}] {kind} {key}"),
                    from,
                    to,
                    doc: d,
                });
            };
        for key in RATES {
            if let Some(r) = number(f.get(key)) {
                if let Some(lower) = RATE_LADDER.iter().copied().find(|x| *x < r) {
                    edit(
                        key,
                        fmt_num(r),
                        fmt_num(lower),
                        Some(Value::from(lower)),
                        None,
                    );
                }
            }
        }
        for key in DURATIONS {
            if let Some(t) = duration(f.get(key)) {
                if let Some(h) = halved(t) {
                    let to = h.to_string();
                    edit(key, t.to_string(), to.clone(), Some(Value::from(to)), None);
                }
            }
        }
        let named = strings(f.get("roles"));
        if named.len() > 1 {
            for (j, r) in named.iter().enumerate() {
                let rest: Vec<&str> = named
                    .iter()
                    .filter(|x| *x != r)
                    .map(String::as_str)
                    .collect();
                edit("roles", named.join(", "), rest.join(", "), None, Some(j));
            }
        }
    }
    out
}

fn shorter(doc: &DocumentMut) -> Vec<Candidate> {
    let mut out = Vec::new();
    // The change's start first: the run can only end after it.
    if let Some(start) = duration(doc.get("change").and_then(|c| c.get("start_at"))) {
        let mut tries = Vec::new();
        if !start.is_zero() {
            tries.push(SimDuration::ZERO);
        }
        tries.extend(halved(start));
        for t in tries {
            let to = t.to_string();
            let mut c = doc.clone();
            if let Some(slot) = c.get_mut("change").and_then(|c| c.get_mut("start_at")) {
                replace(slot, Value::from(to.as_str()));
            }
            out.push(Candidate {
                subject: "change.start_at".into(),
                from: start.to_string(),
                to,
                doc: c,
            });
        }
    }
    if let Some(d) = duration(doc.get("duration")) {
        let secs = d.as_millis() / 1000;
        // Whole minutes from 10 minutes up: readable, and as short.
        let grain = if secs >= 600 { 60 } else { 1 };
        let mut seen = Vec::new();
        for s in smaller(secs, 1) {
            let s = (s / grain * grain).max(1);
            if s >= secs || seen.contains(&s) {
                continue;
            }
            seen.push(s);
            let to = SimDuration::from_secs(s).to_string();
            let mut c = doc.clone();
            if let Some(slot) = c.get_mut("duration") {
                replace(slot, Value::from(to.as_str()));
            }
            out.push(Candidate {
                subject: "duration".into(),
                from: d.to_string(),
                to,
                doc: c,
            });
        }
    }
    out
}

/// `[traffic]` keys of the curves other than `constant`.
const CURVE_KEYS: [&str; 8] = [
    "peak_rps",
    "trough_ratio",
    "peak_hour",
    "utc_offset_h",
    "regions",
    "file",
    "scale",
    "repeat",
];
/// `[traffic]` keys of every curve that a constant curve does without.
const CALENDAR_KEYS: [&str; 3] = ["start_hour_utc", "start_weekday", "weekend_factor"];

fn simpler_traffic(doc: &DocumentMut) -> Vec<Candidate> {
    let mut out = Vec::new();
    let Some(t) = doc.get("traffic").and_then(Item::as_table_like) else {
        return out;
    };
    let curve = t.get("curve").and_then(Item::as_str).unwrap_or("");
    // A replay has no one rate to hold constant: it keeps its curve.
    if curve == "diurnal" {
        if let Some(peak) = number(t.get("peak_rps")) {
            for calendar in [false, true] {
                let mut d = doc.clone();
                let Some(t) = d.get_mut("traffic").and_then(Item::as_table_like_mut) else {
                    continue;
                };
                if let Some(slot) = t.get_mut("curve") {
                    replace(slot, Value::from("constant"));
                }
                let rate = match t.get("peak_rps").and_then(Item::as_value) {
                    Some(v) => {
                        let mut v = v.clone();
                        v.decor_mut().clear();
                        v
                    }
                    None => Value::from(peak),
                };
                for k in CURVE_KEYS {
                    t.remove(k);
                }
                if !calendar {
                    for k in CALENDAR_KEYS {
                        t.remove(k);
                    }
                }
                t.insert("rps", Item::Value(rate));
                out.push(Candidate {
                    subject: "traffic".into(),
                    from: format!("{curve}, peak {} rps", fmt_num(peak)),
                    to: format!("constant {} rps", fmt_num(peak)),
                    doc: d,
                });
            }
        }
    }
    for i in 0..count(t.get("spikes")) {
        let at = table_at(t.get("spikes"), i)
            .and_then(|s| s.get("at"))
            .and_then(Item::as_str)
            .unwrap_or("?")
            .to_string();
        let mut d = doc.clone();
        remove_at(d.get_mut("traffic").and_then(|t| t.get_mut("spikes")), i);
        if count(d.get("traffic").and_then(|t| t.get("spikes"))) == 0 {
            if let Some(t) = d.get_mut("traffic").and_then(Item::as_table_like_mut) {
                t.remove("spikes");
            }
        }
        out.push(Candidate {
            subject: format!("traffic spike at {at}"),
            from: "present".into(),
            to: "removed".into(),
            doc: d,
        });
    }
    if curve == "constant" {
        if let Some(rps) = number(t.get("rps")) {
            let tries: Vec<f64> = if rps >= 2.0 {
                smaller(rps.floor() as u64, 1)
                    .into_iter()
                    .map(|x| x as f64)
                    .collect()
            } else {
                Vec::new()
            };
            for r in tries {
                let mut d = doc.clone();
                if let Some(slot) = d.get_mut("traffic").and_then(|t| t.get_mut("rps")) {
                    replace(slot, Value::from(r as i64));
                }
                out.push(Candidate {
                    subject: "traffic.rps".into(),
                    from: fmt_num(rps),
                    to: fmt_num(r),
                    doc: d,
                });
            }
        }
    }
    out
}

fn fewer_zones(doc: &DocumentMut) -> Vec<Candidate> {
    let mut out = Vec::new();
    for i in 0..count(roles(doc)) {
        let zones = strings(table_at(roles(doc), i).and_then(|r| r.get("zones")));
        if zones.len() <= 1 {
            continue;
        }
        let role = role_name(doc, i);
        for (j, z) in zones.iter().enumerate() {
            let mut d = doc.clone();
            if let Some(a) = table_at_mut(roles_mut(&mut d), i)
                .and_then(|r| r.get_mut("zones"))
                .and_then(Item::as_array_mut)
            {
                remove_element(a, j);
            }
            let rest: Vec<&str> = zones
                .iter()
                .filter(|x| *x != z)
                .map(String::as_str)
                .collect();
            out.push(Candidate {
                subject: format!("role `{role}` zones"),
                from: zones.join(", "),
                to: rest.join(", "),
                doc: d,
            });
        }
    }
    out
}

fn smaller_seed(doc: &DocumentMut, limit: u64) -> Vec<Candidate> {
    let Some(seed) = doc
        .get("seed")
        .and_then(Item::as_integer)
        .and_then(|s| u64::try_from(s).ok())
    else {
        return Vec::new();
    };
    (1..seed.min(limit.saturating_add(1)))
        .map(|s| {
            let mut d = doc.clone();
            set_seed(&mut d, s);
            Candidate {
                subject: "seed".into(),
                from: seed.to_string(),
                to: s.to_string(),
                doc: d,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# a comment that stays
name = "t"
duration = "8h"
seed = 40

[fleet]

[[fleet.roles]]
name = "a"
hosts = 100 # trailing comment
zones = ["z1", "z2"]
mix = { k = { bad = 0.01, good = 0.99 } }

[[fleet.roles]]
name = "b"
hosts = 50

[traffic]
curve = "diurnal"
peak_rps = 1000
trough_ratio = 0.3
spikes = [{ at = "1h", duration = "10m", factor = 2 }]

[[faults]]
kind = "bad-config"
roles = ["b"]
fraction = 1.0

[[faults]]
kind = "regression"
error_rate = 0.5

[change]
from = "1"
to = "2"
start_at = "30m"
"#;

    /// A toy world: the condition holds while role `a` has a host with
    /// `k = bad` (host i of n is bad when i < n × share, or all of them once
    /// the mix is gone), the regression fault is present, and the seed is
    /// even. Invalid: a role with no zone.
    fn oracle(text: &str) -> Option<bool> {
        let doc = document(text).ok()?;
        let n = count(roles(&doc));
        let mut bad_hosts = 0;
        for i in 0..n {
            let r = table_at(roles(&doc), i)?;
            if r.get("name")?.as_str()? != "a" {
                continue;
            }
            if r.get("zones")
                .is_some_and(|z| z.as_array().is_some_and(|a| a.is_empty()))
            {
                return None;
            }
            let hosts = r.get("hosts")?.as_integer()?;
            let bad_everywhere = r
                .get("attributes")
                .and_then(|a| a.get("k"))
                .and_then(Item::as_str)
                == Some("bad");
            let share = r
                .get("mix")
                .and_then(|m| m.get("k"))
                .and_then(|k| number(k.get("bad")))
                .unwrap_or(0.0);
            bad_hosts = if bad_everywhere {
                hosts
            } else {
                (hosts as f64 * share).floor() as i64
            };
        }
        let regression = (0..count(doc.get("faults"))).any(|i| fault_kind(&doc, i) == "regression");
        let seed = doc.get("seed")?.as_integer()?;
        Some(bad_hosts > 0 && regression && seed % 2 == 0)
    }

    fn run(opts: Options) -> (Shrunk, Vec<String>) {
        let mut seen = Vec::new();
        let s = shrink(TEXT, &opts, &mut oracle, &mut |s| seen.push(s.to_string())).unwrap();
        (s, seen)
    }

    #[test]
    fn shrinks_to_a_fixed_point_deterministically() {
        assert_eq!(oracle(TEXT), Some(true));
        let (s, seen) = run(Options::default());
        assert!(!s.exhausted);
        assert_eq!(oracle(&s.text), Some(true));
        let doc = document(&s.text).unwrap();
        assert_eq!(count(roles(&doc)), 1, "{}", s.text);
        assert_eq!(role_name(&doc, 0), "a");
        let a = table_at(roles(&doc), 0).unwrap();
        assert_eq!(a.get("hosts").unwrap().as_integer(), Some(1), "{}", s.text);
        assert_eq!(strings(a.get("zones")), ["z2"]);
        assert!(a.get("mix").is_none());
        // The fault on the removed role went with it; the other stayed.
        assert_eq!(count(doc.get("faults")), 1);
        assert_eq!(fault_kind(&doc, 0), "regression");
        assert_eq!(doc["traffic"]["curve"].as_str(), Some("constant"));
        assert_eq!(doc["traffic"]["rps"].as_integer(), Some(1));
        assert!(doc["traffic"].get("spikes").is_none());
        assert_eq!(doc["seed"].as_integer(), Some(2));
        assert_eq!(doc["duration"].as_str(), Some("1s"));
        assert_eq!(doc["change"]["start_at"].as_str(), Some("0s"));
        // Comments survive.
        assert!(s.text.starts_with("# a comment that stays\n"), "{}", s.text);
        assert!(
            s.text.contains("hosts = 1 # trailing comment"),
            "{}",
            s.text
        );
        assert_eq!(seen.len(), s.steps.len());
        // Dropped: the role with no zone is never offered (one zone stays),
        // so nothing here is invalid.
        assert_eq!(s.invalid, 0);
        // The same input, the same search.
        assert_eq!(run(Options::default()).0, s);
        let lines = summary_lines(&s.steps);
        assert!(
            lines.contains(&"role `b`: 50 hosts → removed".to_string()),
            "{lines:?}"
        );
        assert!(
            lines.contains(&"role `a` hosts: 100 → 1".to_string()),
            "{lines:?}"
        );
        assert!(lines.contains(&"seed: 40 → 2".to_string()), "{lines:?}");
    }

    #[test]
    fn the_run_budget_is_respected() {
        for max in [0, 1, 5, 17] {
            let mut calls = 0;
            let s = shrink(
                TEXT,
                &Options {
                    max_runs: max,
                    seed_limit: 100,
                },
                &mut |t| {
                    calls += 1;
                    oracle(t)
                },
                &mut |_| {},
            )
            .unwrap();
            assert_eq!(calls, max);
            assert_eq!(s.runs, max);
            assert!(s.exhausted);
            assert_eq!(oracle(&s.text), Some(true));
        }
    }

    #[test]
    fn invalid_candidates_are_dropped() {
        // Every change is invalid: nothing is accepted, the text is kept.
        let s = shrink(
            TEXT,
            &Options::default(),
            &mut |t| (t == TEXT).then_some(true),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(s.text, TEXT);
        assert!(s.steps.is_empty());
        assert_eq!(s.invalid, s.runs);
        assert!(s.runs > 0);
    }

    #[test]
    fn sizes_halve_then_step() {
        assert_eq!(smaller(100, 1), [1, 50, 75, 88, 94, 97, 99]);
        assert_eq!(smaller(2, 1), [1]);
        assert!(smaller(1, 1).is_empty());
        assert_eq!(
            with_seed("name = \"x\"\n", 9).unwrap(),
            "name = \"x\"\nseed = 9\n"
        );
        assert_eq!(seed_of(&with_seed(TEXT, 7).unwrap()), Some(7));
    }
}
