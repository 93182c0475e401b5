//! Argo Rollouts and Flagger manifests in and out (docs/MANIFESTS.md).
//!
//! ```text
//!  rollout.yaml (+ templates, same file or beside it)
//!     ─yaml::parse─▶ nodes with line:col ─argo / flagger─▶ policy TOML text + origins
//!     ─▶ the scenario's usual parse and validation (one semantics)
//!     ─▶ errors in the TOML are relocated to the manifest line they came from
//!  PolicySpec ─export─▶ Rollout + AnalysisTemplates | Canary + MetricTemplates
//! ```
//!
//! A manifest is never interpreted apart from shakedown's own policies: it
//! is translated to a `[policy]` table and `[analysis.NAME]` templates, and
//! that text is validated and run like any policy file. `import` prints the
//! text, each key commented with the manifest line it came from.

pub mod argo;
pub mod export;
pub mod flagger;
pub mod lint;
pub mod metric_map;
pub mod policy_file;
pub mod velocity;
pub mod yaml;

use metric_map::MetricMap;
use shakedown_sim::located::LocatedError;
use std::path::{Path, PathBuf};
use yaml::{Doc, Node, Pos};

/// A manifest file's name and text.
pub struct Input {
    pub name: String,
    pub text: String,
}

/// Where a translated key came from.
#[derive(Clone, Debug)]
pub struct Origin {
    pub file: String,
    pub pos: Pos,
    /// The manifest's field path (`spec.strategy.canary.steps[0].setWeight`).
    pub field: String,
    /// What was written there (`setWeight: 20`).
    pub what: String,
}

/// A manifest translated to shakedown policy TOML.
pub struct Translation {
    /// `[policy]` and `[analysis.NAME]` tables, commented with their origins.
    pub toml: String,
    /// Policy-file field paths (`policy.steps[0].set_weight`) and where in
    /// the manifest each came from.
    pub origins: Vec<(String, Origin)>,
    /// Fields accepted and without effect on a simulation, one line each.
    pub ignored: Vec<String>,
    /// Translations that approximate (said once each, also in the TOML).
    pub notes: Vec<String>,
    /// Templates read from files beside the manifest.
    pub sources: Vec<String>,
    /// Set when the input was a shakedown TOML policy file itself (`lint`
    /// of a TOML file): fields are located in it directly.
    pub toml_file: Option<String>,
}

impl Translation {
    /// Moves an error reported on the translated TOML (its `field` a policy
    /// file path) to the manifest line that key came from.
    pub fn relocate(&self, e: &mut LocatedError) -> bool {
        let best = self
            .origins
            .iter()
            .filter(|(p, _)| {
                e.field == *p
                    || e.field.starts_with(&format!("{p}."))
                    || e.field.starts_with(&format!("{p}["))
            })
            .max_by_key(|(p, _)| p.len());
        let Some((_, o)) = best else {
            return false;
        };
        e.message = format!("{} (translated to `{}`)", e.message, e.field);
        e.file = o.file.clone();
        e.line = o.pos.line;
        e.column = o.pos.col;
        e.field = o.field.clone();
        true
    }
}

/// A located error in a manifest.
pub fn err(file: &str, pos: Pos, field: &str, message: impl Into<String>) -> LocatedError {
    LocatedError {
        file: file.to_string(),
        line: pos.line,
        column: pos.col,
        field: field.to_string(),
        message: message.into(),
    }
}

/// A document and the file it is in.
pub struct Located<'a> {
    pub file: &'a str,
    pub doc: &'a Doc,
}

impl Located<'_> {
    pub fn kind(&self) -> &str {
        self.doc.root.get("kind").and_then(Node::str).unwrap_or("")
    }
    pub fn name(&self) -> &str {
        self.doc
            .root
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Node::str)
            .unwrap_or("")
    }
}

/// Builds the TOML text: keys with trailing origin comments, tables, arrays
/// of inline tables one per line.
pub struct TomlOut {
    pub text: String,
    pub origins: Vec<(String, Origin)>,
}

/// A TOML key, quoted unless bare.
pub fn key(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        k.to_string()
    } else {
        toml::Value::String(k.to_string()).to_string()
    }
}

/// A TOML string literal.
pub fn s(v: &str) -> String {
    toml::Value::String(v.to_string()).to_string()
}

impl TomlOut {
    pub fn new() -> Self {
        TomlOut {
            text: String::new(),
            origins: vec![],
        }
    }

    fn comment(o: &Option<Origin>, note: &str) -> String {
        let mut c = String::new();
        if let Some(o) = o {
            c = format!("{}:{} {}", o.file, o.pos.line, o.what);
        }
        if !note.is_empty() {
            if !c.is_empty() {
                c.push_str("; ");
            }
            c.push_str(note);
        }
        if c.is_empty() {
            c
        } else {
            format!("  # {}", c.replace('\n', " "))
        }
    }

    pub fn line(&mut self, l: &str) {
        self.text.push_str(l);
        self.text.push('\n');
    }

    pub fn header(&mut self, h: &str, path: &str, from: Option<Origin>) {
        if !self.text.is_empty() {
            self.text.push('\n');
        }
        let c = Self::comment(&from, "");
        self.line(&format!("{h}{c}"));
        if let Some(o) = from {
            self.origins.push((path.to_string(), o));
        }
    }

    /// `k = v` in the current table, whose path is `table`.
    pub fn kv(&mut self, table: &str, k: &str, v: &str, from: Option<Origin>, note: &str) {
        let c = Self::comment(&from, note);
        self.line(&format!("{} = {v}{c}", key(k)));
        if let Some(o) = from {
            self.origins.push((format!("{table}.{k}"), o));
        }
    }

    /// One item of an open multi-line array; `path` is its field path.
    pub fn item(&mut self, path: &str, v: &str, from: Option<Origin>, note: &str) {
        let c = Self::comment(&from, note);
        self.line(&format!("  {v},{c}"));
        if let Some(o) = from {
            self.origins.push((path.to_string(), o));
        }
    }
}

/// Options of a translation.
pub struct Options<'a> {
    pub metric_map: &'a MetricMap,
}

/// Translates the manifests in `inputs` (one Rollout or Canary among them;
/// templates in any) to policy TOML. Templates it does not find there are
/// looked for in the `.yaml`/`.yml` files beside the first input.
pub fn translate(inputs: &[Input], opts: &Options<'_>) -> Result<Translation, LocatedError> {
    let mut parsed: Vec<(String, Vec<Doc>)> = Vec::new();
    for i in inputs {
        parsed.push((i.name.clone(), yaml::parse(&i.name, &i.text)?));
    }
    let docs: Vec<Located<'_>> = parsed
        .iter()
        .flat_map(|(f, ds)| ds.iter().map(move |d| Located { file: f, doc: d }))
        .collect();
    let mains: Vec<&Located<'_>> = docs
        .iter()
        .filter(|d| matches!(d.kind(), "Rollout" | "Canary"))
        .collect();
    let first = inputs.first().map_or("(none)", |i| i.name.as_str());
    let main = match mains.as_slice() {
        [one] => *one,
        [] => {
            return Err(err(
                first,
                Pos { line: 1, col: 1 },
                "kind",
                "no `kind: Rollout` (Argo Rollouts) or `kind: Canary` (Flagger) document: a manifest policy needs one",
            ))
        }
        [_, second, ..] => {
            return Err(err(
                second.file,
                second.doc.root.pos,
                "kind",
                format!(
                    "a second {} document (`{}`): give one Rollout or Canary per policy file",
                    second.kind(),
                    second.name()
                ),
            ))
        }
    };
    let beside = beside_docs(first, inputs);
    let beside_docs: Vec<Located<'_>> = beside
        .iter()
        .flat_map(|(f, ds)| ds.iter().map(move |d| Located { file: f, doc: d }))
        .collect();
    let mut ignored = Vec::new();
    for d in &docs {
        if !matches!(
            d.kind(),
            "Rollout"
                | "Canary"
                | "AnalysisTemplate"
                | "ClusterAnalysisTemplate"
                | "MetricTemplate"
        ) {
            ignored.push(format!(
                "{}:{}: {} `{}` (not a rollout policy)",
                d.file,
                d.doc.root.pos.line,
                if d.kind().is_empty() {
                    "a document"
                } else {
                    d.kind()
                },
                d.name()
            ));
        }
    }
    let mut t = match main.kind() {
        "Rollout" => argo::translate(main, &docs, &beside_docs, opts)?,
        _ => flagger::translate(main, &docs, &beside_docs, opts)?,
    };
    ignored.append(&mut t.ignored);
    t.ignored = ignored;
    Ok(t)
}

/// The documents of the `.yaml`/`.yml` files beside `first` that are not
/// among the inputs (files that do not parse are skipped: they are not
/// the user's policy).
fn beside_docs(first: &str, inputs: &[Input]) -> Vec<(String, Vec<Doc>)> {
    let dir = Path::new(first).parent().unwrap_or(Path::new("."));
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let Ok(rd) = std::fs::read_dir(dir) else {
        return vec![];
    };
    let mut paths: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for p in paths {
        let name = if dir == Path::new(".") && !first.starts_with("./") {
            p.file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default()
        } else {
            p.display().to_string()
        };
        if inputs
            .iter()
            .any(|i| Path::new(&i.name) == p || i.name == name)
        {
            continue;
        }
        let Ok(text) = crate::input::read_regular(&p, 1 << 20) else {
            continue;
        };
        if let Ok(docs) = yaml::parse(&name, &text) {
            out.push((name, docs));
        }
    }
    out
}

/// Why a manifest could not be translated.
pub enum Failure {
    /// Not a manifest at all: unreadable, not YAML, no Rollout or Canary,
    /// a bad metric map.
    Input(crate::input::BadInput),
    /// A manifest with a field or metric shakedown cannot translate.
    Manifest(LocatedError),
}

impl From<Failure> for crate::input::BadInput {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Input(b) => b,
            Failure::Manifest(e) => crate::input::BadInput(e.to_string()),
        }
    }
}

/// Reads manifest files and the `--metric-map`, and translates them.
pub fn translate_files(
    files: &[PathBuf],
    metric_map: Option<&Path>,
) -> Result<Translation, crate::input::BadInput> {
    Ok(try_translate_files(files, metric_map)?)
}

/// [`translate_files`], telling input that is no manifest from a manifest
/// with something untranslatable (`lint` reports only the latter).
pub fn try_translate_files(
    files: &[PathBuf],
    metric_map: Option<&Path>,
) -> Result<Translation, Failure> {
    use crate::input::{read_text, BadInput};
    let read = |p: &Path, what: &str| read_text(p, what).map_err(Failure::Input);
    let map = match metric_map {
        None => MetricMap::default(),
        Some(p) => {
            let text = read(p, "metric map")?;
            MetricMap::parse(&p.display().to_string(), &text)
                .map_err(|e| Failure::Input(BadInput(e)))?
        }
    };
    let mut inputs = Vec::new();
    for f in files {
        inputs.push(Input {
            name: f.display().to_string(),
            text: read(f, "manifest")?,
        });
    }
    translate(&inputs, &Options { metric_map: &map }).map_err(|e| {
        // A syntax error or a missing Rollout/Canary: not a manifest.
        if e.field == "(file)" || e.field == "kind" {
            Failure::Input(BadInput(e.to_string()))
        } else {
            Failure::Manifest(e)
        }
    })
}

/// The TOML `import` prints: the translation plus the ignored fields and
/// notes as comments at the top.
pub fn import_text(t: &Translation) -> String {
    let mut out = String::from(
        "# Translated by `shakedown import` (docs/MANIFESTS.md); each key names the manifest line it came from.\n",
    );
    for s in &t.sources {
        out.push_str(&format!("# {s}\n"));
    }
    if !t.ignored.is_empty() {
        out.push_str("#\n# Ignored (no effect on a simulation):\n");
        for i in &t.ignored {
            out.push_str(&format!("#   {i}\n"));
        }
    }
    if !t.notes.is_empty() {
        out.push_str("#\n# Approximated:\n");
        for n in &t.notes {
            out.push_str(&format!("#   {n}\n"));
        }
    }
    out.push('\n');
    out.push_str(&t.toml);
    out
}

/// `shakedown import FILES [--metric-map FILE]`: prints the policy TOML.
pub fn import(
    files: &[PathBuf],
    metric_map: Option<&Path>,
) -> anyhow::Result<std::process::ExitCode> {
    let t = translate_files(files, metric_map)?;
    print!("{}", import_text(&t));
    Ok(std::process::ExitCode::SUCCESS)
}

// ---- shared by the Argo and Flagger translators -------------------------------

/// Walks a manifest map, recording where each key is, and sorting the keys
/// it does not translate into ignored (listed) and unsupported (an error).
pub struct Walker<'a> {
    pub file: &'a str,
    pub ignored: Vec<String>,
    pub notes: Vec<String>,
    pub sources: Vec<String>,
}

impl<'a> Walker<'a> {
    pub fn new(file: &'a str) -> Self {
        Walker {
            file,
            ignored: vec![],
            notes: vec![],
            sources: vec![],
        }
    }

    pub fn origin(&self, field: &str, key: &str, n: &Node) -> Origin {
        Origin {
            file: self.file.to_string(),
            pos: n.pos,
            field: field.to_string(),
            what: format!("{key}: {}", n.show()),
        }
    }

    pub fn err(&self, n: &Node, field: &str, message: impl Into<String>) -> LocatedError {
        err(self.file, n.pos, field, message)
    }

    /// Checks every key of map `n` (at `path`) is handled, ignored or an
    /// error: `handled` are translated by the caller, `ignore` have no
    /// effect on a simulation (listed once), anything else changes
    /// behaviour and is not modelled.
    pub fn keys(
        &mut self,
        n: &Node,
        path: &str,
        handled: &[&str],
        ignore: &[&str],
    ) -> Result<(), LocatedError> {
        if !n.is_map() {
            return Err(self.err(n, path, "expected a map"));
        }
        for (k, kpos, _) in n.entries() {
            let field = join(path, k);
            if handled.contains(&k.as_str()) {
                continue;
            }
            if ignore.contains(&k.as_str()) {
                self.ignored
                    .push(format!("{}:{}: {field}", self.file, kpos.line));
                continue;
            }
            return Err(err(
                self.file,
                *kpos,
                &field,
                format!(
                    "`{k}` is not modelled by shakedown and would change how the rollout behaves, so it cannot be simulated faithfully; remove it to simulate without it (supported here: {})",
                    if handled.is_empty() { "nothing".to_string() } else { handled.join(", ") }
                ),
            ));
        }
        Ok(())
    }

    /// A non-negative integer.
    pub fn count(&self, n: &Node, field: &str) -> Result<i64, LocatedError> {
        n.int().filter(|v| *v >= 0).ok_or_else(|| {
            self.err(
                n,
                field,
                format!("must be a whole number ≥ 0, got `{}`", n.show()),
            )
        })
    }

    /// An integer or a percentage string (`maxSurge: 1`, `"25%"`), as TOML.
    pub fn int_or_percent(&self, n: &Node, field: &str) -> Result<String, LocatedError> {
        if let Some(v) = n.int() {
            return Ok(v.to_string());
        }
        match n.str() {
            Some(t) if t.ends_with('%') => Ok(s(t)),
            _ => Err(self.err(
                n,
                field,
                format!(
                    "must be a count or a percentage like \"25%\", got `{}`",
                    n.show()
                ),
            )),
        }
    }

    /// A duration as Argo and Flagger write it (`30s`, `1m30s`, or a bare
    /// number of seconds), as a TOML duration string.
    pub fn duration(&self, n: &Node, field: &str) -> Result<String, LocatedError> {
        if let Some(v) = n.int() {
            if v < 0 {
                return Err(self.err(n, field, format!("must be ≥ 0, got {v}")));
            }
            return Ok(s(&format!("{v}s")));
        }
        let text = n
            .str()
            .ok_or_else(|| self.err(n, field, "must be a duration like \"30s\""))?;
        shakedown_sim::time::SimDuration::parse(text)
            .map(|d| s(&d.to_string()))
            .map_err(|e| self.err(n, field, e))
    }

    pub fn seconds(&self, n: &Node, field: &str) -> Result<String, LocatedError> {
        Ok(s(&format!("{}s", self.count(n, field)?)))
    }

    pub fn boolean(&self, n: &Node, field: &str) -> Result<bool, LocatedError> {
        n.bool().ok_or_else(|| {
            self.err(
                n,
                field,
                format!("must be true or false, got `{}`", n.show()),
            )
        })
    }
}

/// `a.b` (or `b` at the root).
pub fn join(path: &str, k: &str) -> String {
    if path.is_empty() {
        k.to_string()
    } else {
        format!("{path}.{k}")
    }
}

/// Rewrites `result OP v` as `result OP scale×v` (a condition on seconds as
/// one on milliseconds); anything it cannot parse is left for the validator
/// to reject where it is written.
pub fn scale_condition(c: &str, scale: f64) -> String {
    if scale == 1.0 {
        return c.trim().to_string();
    }
    match shakedown_sim::analysis::Condition::parse(c) {
        Ok(cond) => format!("result {} {}", cond.op.as_str(), round(cond.value * scale)),
        Err(_) => c.trim().to_string(),
    }
}

/// Drops the binary noise of a scaled number (0.99 × 100 = 98.99999…).
pub fn round(v: f64) -> f64 {
    (v * 1e9).round() / 1e9
}
