//! `shakedown judge`: Kayenta's retrospective mode — the statistical canary
//! judge on metric samples exported from monitoring.
//!
//! ```text
//! shakedown judge --baseline BASE.csv --canary CANARY.csv [--config judge.toml]
//! ```
//!
//! Both files are `metric,value` CSV, one sample per row
//! ([`shakedown_sim::stats::parse_metric_csv`]). Without `--config` every
//! metric found in either file is judged with Kayenta's defaults (direction
//! `either`, its own group). Prints one JSON document on stdout:
//!
//! ```json
//! { "baseline": "BASE.csv", "canary": "CANARY.csv",
//!   "metrics": [ { "metric", "group", "n_baseline", "n_canary", "u",
//!                  "p_value", "hodges_lehmann", "ci_lower", "ci_upper",
//!                  "mean_ratio", "classification", "critical", "reason" } ],
//!   "groups": [ { "name", "weight", "score", … } ],
//!   "score": 100.0, "verdict": "pass", "reason": null, "ignored_series": [] }
//! ```
//!
//! `--method shape` judges with the shape judge instead (not Kayenta's:
//! [`shakedown_sim::stats::judge_shape`], `docs/CALIBRATE.md`): each metric
//! is a distribution unless `--kind METRIC=rate` (event counts per sample)
//! or `--kind METRIC=paired` (samples paired row by row) says otherwise; the
//! JSON then starts with `"method": "shape"` and has the same keys.
//!
//! Exit codes: 0 verdict `pass`, 1 `marginal` or `fail`, 2 bad input (an
//! unreadable or malformed file: `FILE:LINE:COL: message`).

use crate::input::BadInput;
use anyhow::Result;
use serde::Serialize;
use shakedown_sim::stats::{self, JudgeConfig, MetricConfig, Verdict};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

fn read(path: &Path, what: &str) -> Result<String> {
    Ok(crate::input::read_text(path, what)?)
}

/// Reads and parses one metric CSV; errors name `file:line:col`.
pub fn samples(path: &Path) -> Result<BTreeMap<String, Vec<f64>>> {
    let text = read(path, "metric samples")?;
    stats::parse_metric_csv(&text).map_err(|e| {
        BadInput(format!(
            "{}:{}:{}: {} (field {:?})",
            path.display(),
            e.line,
            e.column,
            e.message,
            e.field
        ))
        .into()
    })
}

/// The judge configuration: the file's, or every metric with defaults.
pub fn config(
    path: Option<&Path>,
    baseline: &BTreeMap<String, Vec<f64>>,
    canary: &BTreeMap<String, Vec<f64>>,
) -> Result<JudgeConfig> {
    match path {
        Some(p) => {
            let text = read(p, "judge config")?;
            JudgeConfig::from_toml_str(&text)
                .map_err(|e| BadInput(format!("{}: {e}", p.display())).into())
        }
        None => {
            let mut names: Vec<&String> = baseline.keys().chain(canary.keys()).collect();
            names.sort();
            names.dedup();
            if names.is_empty() {
                return Err(BadInput(
                    "no samples in either file: nothing to judge (rows are `metric,value`)".into(),
                )
                .into());
            }
            Ok(JudgeConfig::new(
                names
                    .into_iter()
                    .map(|n| MetricConfig::new(n.clone(), n.clone()))
                    .collect(),
            ))
        }
    }
}

/// The JSON document `judge` prints: the inputs, then the report (keys in
/// this order: metrics, groups, score, verdict, reason, ignored_series).
#[derive(Serialize)]
pub struct Output<'a> {
    /// `shape` for the shape judge; absent for Kayenta's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<&'static str>,
    pub baseline: String,
    pub canary: String,
    #[serde(flatten)]
    pub report: &'a stats::JudgeReport,
}

fn render_with(
    method: Option<&'static str>,
    baseline_path: &Path,
    canary_path: &Path,
    report: &stats::JudgeReport,
) -> String {
    let out = Output {
        method,
        baseline: baseline_path.display().to_string(),
        canary: canary_path.display().to_string(),
        report,
    };
    serde_json::to_string_pretty(&out).expect("a judge report always serialises")
}

/// A number for people: 3 significant digits, no exponent between 0.001
/// and 10^6 (grouped past 10,000), signed when `signed`.
fn sig(v: f64, signed: bool) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    let a = v.abs();
    let body = if a == 0.0 {
        "0".to_string()
    } else if !(1e-3..1e6).contains(&a) {
        format!("{a:.2e}")
    } else if a >= 1e4 {
        shakedown_reports::plots::group(a.round() as u64)
    } else {
        let decimals = (2 - a.log10().floor() as i32).max(0) as usize;
        let t = format!("{a:.decimals$}");
        if t.contains('.') {
            t.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            t
        }
    };
    match (signed, v < 0.0, a == 0.0) {
        (_, _, true) => body,
        (true, false, _) => format!("+{body}"),
        (_, true, _) => format!("−{body}"),
        (false, false, _) => body,
    }
}

fn opt(v: Option<f64>, signed: bool) -> String {
    v.map_or("–".into(), |x| sig(x, signed))
}

/// A serde enum's name (`high`, `marginal`).
fn name(v: impl Serialize) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|x| x.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The report as a table for a terminal: the verdict and score first, one
/// row per metric (samples, the shift and its interval, the mean ratio,
/// p, the classification), the group scores, and why when forced.
fn render_table(method: Method, report: &stats::JudgeReport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} — score {} ({})",
        name(report.verdict).to_uppercase(),
        sig(report.score, false),
        match method {
            Method::Kayenta => "Kayenta's NetflixACAJudge: Mann-Whitney, Hodges-Lehmann",
            Method::Shape => "shape judge: tails, distributions, counts",
        }
    );
    let head = [
        "metric",
        "n base/canary",
        "shift (canary − base)",
        "interval",
        "mean ratio",
        "p",
        "result",
    ];
    let rows: Vec<[String; 7]> = report
        .metrics
        .iter()
        .map(|m| {
            [
                m.metric.clone(),
                format!("{}/{}", m.n_baseline, m.n_canary),
                opt(m.hodges_lehmann, true),
                match (m.ci_lower, m.ci_upper) {
                    (Some(a), Some(b)) => format!("[{}, {}]", sig(a, true), sig(b, true)),
                    _ => "–".into(),
                },
                opt(m.mean_ratio, false),
                opt(m.p_value, false),
                format!(
                    "{}{}",
                    name(m.classification),
                    if m.critical { " (critical)" } else { "" }
                ),
            ]
        })
        .collect();
    let mut width = head.map(|h| h.chars().count());
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut l = String::new();
        for (i, (c, w)) in cells.iter().zip(width).enumerate() {
            let pad = w - c.chars().count();
            if i == 0 || i == 6 {
                let _ = write!(l, "{c}{}  ", " ".repeat(pad));
            } else {
                let _ = write!(l, "{}{c}  ", " ".repeat(pad));
            }
        }
        l.trim_end().to_string()
    };
    let _ = writeln!(out, "{}", line(&head.map(str::to_string)));
    for r in &rows {
        let _ = writeln!(out, "{}", line(r));
    }
    let _ = writeln!(
        out,
        "groups: {}",
        report
            .groups
            .iter()
            .map(|g| format!(
                "{} {} (weight {} %)",
                g.name,
                sig(g.score, false),
                sig(g.weight, false)
            ))
            .collect::<Vec<_>>()
            .join(" · ")
    );
    if let Some(r) = &report.reason {
        let _ = writeln!(out, "why: {r}");
    }
    if !report.ignored_series.is_empty() {
        let _ = writeln!(
            out,
            "not judged (not configured): {}",
            report.ignored_series.join(", ")
        );
    }
    out.push_str("(--json for every field, full precision)\n");
    out
}

/// Which judge `--method` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Method {
    /// Kayenta's NetflixACAJudge (Mann-Whitney, Hodges-Lehmann).
    Kayenta,
    /// The shape judge: tails, distributions and counts (not Kayenta's).
    Shape,
}

/// `--kind METRIC=KIND` for the shape judge.
fn kinds(specs: &[String], cfg: &JudgeConfig) -> Result<BTreeMap<String, stats::SeriesKind>> {
    let mut out = BTreeMap::new();
    for s in specs {
        let (m, k) = s.split_once('=').ok_or_else(|| {
            BadInput(format!(
                "--kind `{s}`: write METRIC=KIND (KIND: distribution, rate, paired)"
            ))
        })?;
        let kind = match k {
            "distribution" => stats::SeriesKind::Distribution,
            "rate" => stats::SeriesKind::Rate,
            "paired" => stats::SeriesKind::Paired,
            o => {
                return Err(BadInput(format!(
                    "--kind `{s}`: unknown kind `{o}`; allowed: distribution, rate, paired"
                ))
                .into())
            }
        };
        if !cfg.metrics.iter().any(|x| x.name == m) {
            return Err(BadInput(format!("--kind `{s}`: no metric `{m}` is judged")).into());
        }
        out.insert(m.to_string(), kind);
    }
    Ok(out)
}

pub fn judge(
    baseline: &Path,
    canary: &Path,
    config_path: Option<&Path>,
    method: Method,
    kind_specs: &[String],
    json: bool,
) -> Result<ExitCode> {
    let b = samples(baseline)?;
    let c = samples(canary)?;
    let cfg = config(config_path, &b, &c)?;
    if method == Method::Kayenta && !kind_specs.is_empty() {
        return Err(BadInput("--kind applies to --method shape only".into()).into());
    }
    let report = match method {
        Method::Kayenta => stats::judge(&cfg, &b, &c),
        Method::Shape => {
            let kinds = kinds(kind_specs, &cfg)?;
            let names: std::collections::BTreeSet<&String> = b.keys().chain(c.keys()).collect();
            let series = names
                .into_iter()
                .map(|n| {
                    let side =
                        |m: &BTreeMap<String, Vec<f64>>| m.get(n).cloned().unwrap_or_default();
                    let kind = kinds.get(n).copied().unwrap_or_default();
                    (
                        n.clone(),
                        stats::ShapeSeries::samples(kind, side(&b), side(&c)),
                    )
                })
                .collect();
            stats::judge_shape(&cfg, &stats::ShapeOptions::default(), &series)
        }
    }
    .map_err(|e| BadInput(e.to_string()))?;
    let method_key = (method == Method::Shape).then_some("shape");
    // A person at a terminal gets the table; a pipe or a file (scripts,
    // CI) the JSON, as before; `--json` asks for it anywhere.
    use std::io::{IsTerminal, Write};
    let text = if json || !std::io::stdout().is_terminal() {
        format!("{}\n", render_with(method_key, baseline, canary, &report))
    } else {
        render_table(method, &report)
    };
    // A reader that stops early (`| head`) closes the pipe: that is not
    // an error of the judge's, and the verdict's exit code still stands.
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
        _ => {}
    }
    Ok(if report.verdict == Verdict::Pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn data(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../sim/tests/data/analysis")
            .join(name)
    }

    #[test]
    fn judges_recorded_samples_into_json() {
        let (b, c) = (data("baseline.csv"), data("canary.csv"));
        let (bs, cs) = (samples(&b).unwrap(), samples(&c).unwrap());
        let cfg = config(Some(&data("judge.toml")), &bs, &cs).unwrap();
        let report = stats::judge(&cfg, &bs, &cs).unwrap();
        let text = render_with(None, &b, &c, &report);
        assert!(text.find("\"metrics\"") < text.find("\"score\""), "{text}");
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let m = doc["metrics"].as_array().unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0]["metric"], "latency_p99_ms");
        assert_eq!(m[0]["classification"], "high");
        assert_eq!(m[1]["classification"], "pass");
        for k in ["n_baseline", "n_canary", "u", "p_value", "hodges_lehmann"] {
            assert!(m[0][k].is_number(), "{k}: {}", m[0][k]);
        }
        assert_eq!(m[0]["n_baseline"], 60);
        assert_eq!(doc["score"], 50.0);
        assert_eq!(doc["verdict"], "fail");
        assert_eq!(doc["groups"].as_array().unwrap().len(), 2);
        assert!(doc["baseline"].as_str().unwrap().ends_with("baseline.csv"));
    }

    #[test]
    fn the_terminal_table_rounds_for_people() {
        let b = samples(&data("baseline.csv")).unwrap();
        let c = samples(&data("canary.csv")).unwrap();
        let cfg = config(None, &b, &c).unwrap();
        let report = stats::judge(&cfg, &b, &c).unwrap();
        let t = render_table(Method::Kayenta, &report);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("FAIL — score 50"), "{t}");
        assert!(lines[1].starts_with("metric "), "{t}");
        let latency = lines
            .iter()
            .find(|l| l.starts_with("latency_p99_ms"))
            .unwrap();
        assert!(
            latency.contains("60/60") && latency.contains("+61.9"),
            "{latency}"
        );
        assert!(
            latency.contains("[+57.1, +66.6]") && latency.ends_with("high"),
            "{latency}"
        );
        assert!(latency.contains("3.56e-21"), "{latency}");
        assert!(!t.contains("57.08699999"), "rounded: {t}");
        assert!(t.contains("groups: latency_p99_ms 0 (weight 50 %)"), "{t}");
        assert_eq!(sig(0.00123, true), "+0.00123");
        assert_eq!(sig(0.000045, true), "+4.50e-5");
        assert_eq!(sig(-1234.4, true), "−1234");
        assert_eq!(sig(61.895, true), "+61.9");
        assert_eq!(sig(123456.0, false), "123,456");
    }

    #[test]
    fn without_a_config_every_metric_is_judged_with_defaults() {
        let (bs, cs) = (
            samples(&data("baseline.csv")).unwrap(),
            samples(&data("canary.csv")).unwrap(),
        );
        let cfg = config(None, &bs, &cs).unwrap();
        let names: Vec<&str> = cfg.metrics.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["latency_p99_ms", "success_rate"]);
    }

    #[test]
    fn bad_csv_is_a_located_bad_input() {
        let err = samples(&data("bad.csv")).unwrap_err();
        assert!(err.is::<BadInput>());
        let text = err.to_string();
        assert!(text.contains("bad.csv:3:2: not a number"), "{text}");
        let missing = samples(&data("nope.csv")).unwrap_err();
        assert!(missing.is::<BadInput>());
    }
}
