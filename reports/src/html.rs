//! Self-contained HTML reports: one file with inline CSS and inline SVG plots,
//! no scripts, no fonts, no links to anything outside the page, so it can be
//! attached to a design review, mailed, archived or printed as it is.
//!
//! - [`run_report`]: one run — summary table, both plots, the policy's
//!   decisions, the first entries of the audit log, how to reproduce it.
//! - [`compare_report`]: several policies on the same scenario and seed — a
//!   table with one column per policy (best value per row highlighted), then
//!   each policy's plots on shared axes, with a paragraph on what they show.
//!
//! The page depends on the records alone (no clock, no environment), so the
//! same records give the same bytes.

pub use crate::plots::group;
use crate::plots::{self, human_duration, Scale};
use shakedown_sim::record::{AuditEvent, RunRecord, Summary};
use std::fmt::Write;

/// How many audit-log entries the page lists (the rest are in `events.csv`).
pub const AUDIT_ROWS: usize = 50;

/// The report of one run.
pub fn run_report(rec: &RunRecord) -> String {
    run_report_for(
        rec,
        &format!(
            "shakedown run {} --seed {} --out DIR",
            default_scenario_path(&rec.summary),
            rec.summary.seed
        ),
    )
}

/// [`run_report`] whose "reproduce" line is `reproduce`: the command that
/// gives this run again (the scenario file it was read from, `--policy`
/// when a policy file replaced the scenario's, the seed).
pub fn run_report_for(rec: &RunRecord, reproduce: &str) -> String {
    run_report_with(rec, reproduce, None)
}

/// [`run_report_for`] with the users' clock (`plots::Clock::of` the
/// scenario's traffic): the traffic plot marks the users' peak in local
/// time and says when, locally, the rollout started.
pub fn run_report_with(rec: &RunRecord, reproduce: &str, clock: Option<&plots::Clock>) -> String {
    let s = &rec.summary;
    let title = format!("shakedown run: {}", s.scenario);
    let mut b = String::new();
    let _ = writeln!(b, "<h1>{}</h1>", esc(&title));
    b.push_str(&lede(s, &[&s.policy]));
    b.push_str(&verdict(s));

    b.push_str("<h2>Summary</h2>\n<table class=\"summary\">\n<tbody>\n");
    for row in summary_rows() {
        let _ = writeln!(
            b,
            "<tr><th scope=\"row\">{}</th><td>{}</td></tr>",
            esc(row.name),
            esc(&(row.show)(s))
        );
    }
    for (name, value) in [
        ("run length", human_duration(s.duration_s)),
        ("tick", format!("{} s", s.tick_s)),
        ("hosts", group(s.hosts)),
        ("events processed", group(s.events_processed)),
    ] {
        let _ = writeln!(
            b,
            "<tr><th scope=\"row\">{}</th><td>{}</td></tr>",
            esc(name),
            esc(&value)
        );
    }
    b.push_str("</tbody>\n</table>\n");

    b.push_str("<h2>Plots</h2>\n");
    b.push_str(&figures(rec, &Scale::default(), clock));

    b.push_str(&policy_events(rec));
    b.push_str(&audit_log(rec));

    b.push_str("<h2>Reproduce</h2>\n");
    let _ = writeln!(b, "<pre class=\"cmd\">{}</pre>", esc(reproduce));
    let _ = writeln!(
        b,
        "<p class=\"note\">The simulation is deterministic: the same scenario file, seed and shakedown version give the same numbers. This run used policy <code>{}</code>.</p>",
        esc(&s.policy)
    );
    page(&title, &b, &s.shakedown_version)
}

/// A report comparing several runs: the same scenario and seed under
/// different policies, one column per run.
pub fn compare_report(title: &str, runs: &[RunRecord]) -> String {
    let mut b = String::new();
    let _ = writeln!(b, "<h1>{}</h1>", esc(title));
    let Some(first) = runs.first() else {
        b.push_str("<p>No runs to compare.</p>\n");
        return page(title, &b, env!("CARGO_PKG_VERSION"));
    };
    let s0 = &first.summary;
    let names: Vec<&str> = runs.iter().map(|r| r.summary.policy.as_str()).collect();
    b.push_str(&lede(s0, &names));
    let same_world = runs
        .iter()
        .all(|r| r.summary.scenario == s0.scenario && r.summary.seed == s0.seed);
    if same_world {
        let _ = writeln!(
            b,
            "<p>Every column is the same scenario with the same seed, so each policy faced the same traffic and the same host behaviour; only the policy differs.</p>"
        );
    } else {
        let _ = writeln!(
            b,
            "<p class=\"warn\">These runs are not all of the same scenario and seed: differences below are not due to the policy alone.</p>"
        );
    }

    // The comparison table.
    b.push_str("<h2>Comparison</h2>\n<table class=\"compare\">\n<thead>\n<tr><th></th>");
    for r in runs {
        let _ = write!(b, "<th scope=\"col\">{}</th>", esc(&r.summary.policy));
    }
    b.push_str("</tr>\n</thead>\n<tbody>\n");
    for row in summary_rows() {
        let best = best_of(&row, runs);
        let _ = write!(b, "<tr><th scope=\"row\">{}</th>", esc(row.name));
        for (i, r) in runs.iter().enumerate() {
            let v = esc(&(row.show)(&r.summary));
            if best.contains(&i) {
                let _ = write!(b, "<td class=\"best\"><strong>{v}</strong></td>");
            } else {
                let _ = write!(b, "<td>{v}</td>");
            }
        }
        b.push_str("</tr>\n");
    }
    b.push_str("</tbody>\n</table>\n");
    b.push_str("<p class=\"note\">Highlighted: the best value of each row (fewest failures, shortest rollout, least unavailability, most hosts upgraded; a completed rollout beats one that was not). Rows where every policy is equal are not highlighted.</p>\n");
    if runs.len() >= 2 {
        if let Some(best) = runs.iter().min_by_key(|r| r.summary.requests_failed) {
            let _ = writeln!(
                b,
                "<p>Fewest failed requests: <strong>{}</strong> ({} of {}).</p>",
                esc(&best.summary.policy),
                group(best.summary.requests_failed),
                group(best.summary.requests_total)
            );
        }
    }

    // The plots, on one scale.
    let scale = Scale::common(runs);
    b.push_str("<h2>Plots</h2>\n");
    b.push_str("<p class=\"note\">All plots below share their axes (time, hosts, offered load, error rate), so heights and widths can be compared from one policy to the next.</p>\n");
    for r in runs {
        let _ = writeln!(
            b,
            "<section class=\"policy\">\n<h3>Policy <code>{}</code>: {}</h3>",
            esc(&r.summary.policy),
            esc(r.summary.outcome.as_str())
        );
        b.push_str(&figures(r, &scale, None));
        b.push_str("</section>\n");
    }

    b.push_str("<h2>Reproduce</h2>\n");
    for r in runs {
        let _ = writeln!(
            b,
            "<pre class=\"cmd\">shakedown run {} --seed {}</pre><p class=\"note\">with policy <code>{}</code> in the scenario's <code>[policy]</code> table.</p>",
            esc(&default_scenario_path(&r.summary)),
            r.summary.seed,
            esc(&r.summary.policy)
        );
    }
    page(title, &b, &s0.shakedown_version)
}

// ---------------------------------------------------------------------------
// Pieces

fn default_scenario_path(s: &Summary) -> String {
    format!("scenarios/{}.toml", s.scenario)
}

fn lede(s: &Summary, policies: &[&str]) -> String {
    let policies: Vec<String> = policies
        .iter()
        .map(|p| format!("<code>{}</code>", esc(p)))
        .collect();
    format!(
        "<p class=\"lede\">Scenario <code>{}</code> · seed <code>{}</code> · {} {} · change <strong class=\"nowrap\">{}</strong> on {} hosts.</p>\n",
        esc(&s.scenario),
        s.seed,
        if policies.len() == 1 { "policy" } else { "policies" },
        policies.join(", "),
        esc(&s.change),
        group(s.hosts)
    )
}

/// The banner: the policy's outcome and, beside it, the users' verdict
/// (a rollout can complete while most requests fail); green only when both
/// are good.
fn verdict(s: &Summary) -> String {
    let class = if s.outcome == "completed" && s.slo_met {
        "ok"
    } else {
        "bad"
    };
    let harm = crate::impact::sentences(s)
        .iter()
        .map(|h| format!(" {}", esc(h)))
        .collect::<String>();
    format!(
        "<p class=\"verdict {class}\"><strong>{}</strong> ({}). The rollout {} after {}: {}.{harm}</p>\n",
        esc(&crate::impact::banner(s)),
        esc(&crate::impact::slo_detail(s)),
        esc(&s.outcome.as_str().replace('_', " ")),
        esc(&human_duration(s.rollout_duration_s)),
        esc(&s.outcome_reason)
    )
}

/// Which way is better for a row of the table.
#[derive(Clone, Copy, PartialEq)]
enum Better {
    Lower,
    Higher,
    Neither,
}

struct Row {
    name: &'static str,
    show: fn(&Summary) -> String,
    /// The number compared, when the row has a better direction.
    key: fn(&Summary) -> f64,
    better: Better,
}

fn summary_rows() -> Vec<Row> {
    vec![
        Row {
            name: "outcome",
            show: |s| s.outcome.to_string(),
            key: |s| f64::from(u8::from(s.outcome == "completed")),
            better: Better::Higher,
        },
        Row {
            name: "SLO",
            show: |s| crate::impact::slo_headline(s),
            key: |s| f64::from(u8::from(s.slo_met)),
            better: Better::Higher,
        },
        Row {
            name: "error budget burned",
            show: |s| crate::impact::budget(s.error_budget_burned),
            key: |s| s.error_budget_burned,
            better: Better::Lower,
        },
        Row {
            name: "failed requests due to the change",
            show: |s| {
                s.failed_requests_due_to_change.map_or("–".into(), |v| {
                    if v < 0 {
                        format!("−{}", group(v.unsigned_abs()))
                    } else {
                        group(v as u64)
                    }
                })
            },
            key: |s| {
                s.failed_requests_due_to_change
                    .map_or(f64::NAN, |v| v as f64)
            },
            better: Better::Lower,
        },
        Row {
            name: "rollout duration",
            show: |s| human_duration(s.rollout_duration_s),
            key: |s| s.rollout_duration_s,
            better: Better::Lower,
        },
        Row {
            name: "failed requests",
            show: |s| group(s.requests_failed),
            key: |s| s.requests_failed as f64,
            better: Better::Lower,
        },
        Row {
            name: "… during the rollout",
            show: |s| group(s.failed_requests_during_rollout),
            key: |s| s.failed_requests_during_rollout as f64,
            better: Better::Lower,
        },
        Row {
            name: "requests",
            show: |s| group(s.requests_total),
            key: |_| 0.0,
            better: Better::Neither,
        },
        Row {
            name: "success rate",
            show: |s| format!("{:.4} %", 100.0 * s.success_rate),
            key: |s| s.success_rate,
            better: Better::Higher,
        },
        Row {
            name: "peak hosts unavailable",
            show: |s| format!("{:.1} %", s.peak_hosts_unavailable_pct),
            key: |s| s.peak_hosts_unavailable_pct,
            better: Better::Lower,
        },
        Row {
            name: "hosts on new version",
            show: |s| format!("{:.1} %", s.hosts_on_new_pct),
            key: |s| s.hosts_on_new_pct,
            better: Better::Higher,
        },
    ]
}

/// The columns holding the best value of `row` (empty when all are equal or
/// the row has no better direction).
fn best_of(row: &Row, runs: &[RunRecord]) -> Vec<usize> {
    if row.better == Better::Neither || runs.len() < 2 {
        return vec![];
    }
    let keys: Vec<f64> = runs.iter().map(|r| (row.key)(&r.summary)).collect();
    let best = keys
        .iter()
        .copied()
        .reduce(|a, b| match row.better {
            Better::Lower => a.min(b),
            _ => a.max(b),
        })
        .unwrap_or(0.0);
    if keys.iter().all(|k| *k == best) {
        return vec![];
    }
    (0..keys.len()).filter(|&i| keys[i] == best).collect()
}

/// Both plots of a run, each with a caption saying what it shows.
fn figures(rec: &RunRecord, scale: &Scale, clock: Option<&plots::Clock>) -> String {
    let s = &rec.summary;
    let mut b = String::new();
    let _ = writeln!(
        b,
        "<figure>\n{}\n<figcaption>{}</figcaption>\n</figure>",
        inline_svg(
            &plots::rollout_progress_svg_scaled(rec, scale),
            &format!("Rollout progress, {} under {}", s.scenario, s.policy)
        ),
        esc(&progress_caption(rec))
    );
    if let Some(svg) = crate::plots_roles::role_progress_svg(rec) {
        let _ = writeln!(
            b,
            "<figure>\n{}\n<figcaption>{}</figcaption>\n</figure>",
            inline_svg(
                &svg,
                &format!("Per-role progress, {} under {}", s.scenario, s.policy)
            ),
            esc("Per role, how many hosts had been told to run the new version (from the audit log, events.csv), over the rollout window only; beneath, the whole run with that window shaded and the hosts running the new version.")
        );
    }
    let _ = writeln!(
        b,
        "<figure>\n{}\n<figcaption>{}</figcaption>\n</figure>",
        inline_svg(
            &plots::traffic_svg_clocked(rec, scale, clock),
            &format!("Traffic and errors, {} under {}", s.scenario, s.policy)
        ),
        esc(&traffic_caption(rec))
    );
    b
}

/// plotters' SVG made fit for inlining: no fixed size (CSS scales it to the
/// column) and no namespace attribute (HTML gives `<svg>` its namespace).
fn inline_svg(svg: &str, label: &str) -> String {
    let (head, rest) = match svg.find('>') {
        Some(i) if svg.starts_with("<svg") => (&svg[..i], &svg[i + 1..]),
        _ => return String::new(),
    };
    let view_box = head
        .split("viewBox=\"")
        .nth(1)
        .and_then(|v| v.split('"').next())
        .unwrap_or("0 0 900 440");
    format!(
        "<svg viewBox=\"{}\" role=\"img\" aria-label=\"{}\">{}",
        esc(view_box),
        esc(label),
        rest.trim_end()
    )
}

fn progress_caption(rec: &RunRecord) -> String {
    let s = &rec.summary;
    let mut c = String::from(
        "Hosts per version over time (new at the bottom, old above) and, below, the hosts not serving; dashed lines mark the rollout's start, the policy's decisions and its finish. ",
    );
    let end = s.rollout_started_at_s + s.rollout_duration_s;
    let _ = write!(
        c,
        "The rollout started at {} and ended at {}, {} later ({}). ",
        human_duration(s.rollout_started_at_s),
        human_duration(end),
        human_duration(s.rollout_duration_s),
        s.outcome.as_str().replace('_', " ")
    );
    let peak = rec
        .ticks
        .iter()
        .map(|t| (s.hosts.saturating_sub(t.serving as u64), t.time_s))
        .fold((0u64, 0.0), |a, b| if b.0 > a.0 { b } else { a });
    if peak.0 > 0 {
        let _ = write!(
            c,
            "At most {} hosts ({:.1} % of the fleet) were not serving at once, first at {}. ",
            group(peak.0),
            s.peak_hosts_unavailable_pct,
            human_duration(peak.1)
        );
    } else {
        c.push_str("Every host served at every tick. ");
    }
    let _ = write!(
        c,
        "At the end {:.1} % of the hosts run the new version.",
        s.hosts_on_new_pct
    );
    let decisions = rec.events.iter().filter(|e| e.kind == "decision").count();
    if decisions > plots::MAX_DECISION_MARKERS {
        let _ = write!(
            c,
            " Of the policy's {decisions} decisions only the first and the last are marked; all are listed below."
        );
    }
    c
}

fn traffic_caption(rec: &RunRecord) -> String {
    let s = &rec.summary;
    let mut c = String::from(
        "Offered load (top) and the share of requests that failed (bottom), per tick; the shaded band is the rollout window. ",
    );
    let (lo, hi) = rec
        .ticks
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), t| {
            (lo.min(t.offered_rps), hi.max(t.offered_rps))
        });
    if hi > 0.0 {
        let _ = write!(
            c,
            "Load ranged from {} to {} requests per second. ",
            group(lo.round() as u64),
            group(hi.round() as u64)
        );
    }
    let worst = rec
        .ticks
        .iter()
        .filter(|t| t.requests > 0)
        .map(|t| (t.failed as f64 / t.requests as f64, t.time_s))
        .fold((0.0, 0.0), |a, b| if b.0 > a.0 { b } else { a });
    if s.requests_failed == 0 {
        c.push_str("No request failed.");
    } else {
        let _ = write!(
            c,
            "The error rate peaked at {} % at {}; {} of the {} failed requests fell inside the rollout window.",
            pct(100.0 * worst.0),
            human_duration(worst.1),
            group(s.failed_requests_during_rollout),
            group(s.requests_failed)
        );
    }
    if rec.ticks.len() > 2 * plots::MAX_BUCKETS {
        let _ = write!(
            c,
            " The {} ticks are drawn as {} buckets, each showing its lowest and highest value, so short spikes stay visible.",
            group(rec.ticks.len() as u64),
            plots::MAX_BUCKETS
        );
    }
    c
}

fn policy_events(rec: &RunRecord) -> String {
    let events: Vec<&AuditEvent> = rec
        .events
        .iter()
        .filter(|e| e.kind == "decision" || e.kind == "finish")
        .collect();
    let mut b = String::from("<h2>Policy decisions</h2>\n");
    if events.is_empty() {
        b.push_str("<p>The policy recorded no decisions.</p>\n");
        return b;
    }
    let shown = events.len().min(AUDIT_ROWS);
    let _ = writeln!(
        b,
        "<p class=\"note\">{}</p>",
        if shown < events.len() {
            format!(
                "The first {shown} of {} decisions and verdicts.",
                group(events.len() as u64)
            )
        } else {
            format!("Every decision and verdict of the policy ({shown}).")
        }
    );
    b.push_str("<table class=\"events\">\n<thead><tr><th>time</th><th>kind</th><th>step</th><th>reason</th></tr></thead>\n<tbody>\n");
    for e in events.iter().take(shown) {
        let _ = writeln!(
            b,
            "<tr><td class=\"num\">{}</td><td>{}</td><td>{}</td><td class=\"wrap\">{}</td></tr>",
            esc(&clock(e.time_s)),
            esc(e.kind.as_str()),
            esc(&e.step),
            esc(&e.reason)
        );
    }
    b.push_str("</tbody>\n</table>\n");
    b
}

fn audit_log(rec: &RunRecord) -> String {
    let mut b = String::from("<h2>Audit log</h2>\n");
    let n = rec.events.len();
    if n == 0 {
        b.push_str("<p>No events were recorded.</p>\n");
        return b;
    }
    let shown = n.min(AUDIT_ROWS);
    let _ = writeln!(
        b,
        "<p class=\"note\">The first {} of {} events{}.</p>",
        shown,
        group(n as u64),
        if shown < n {
            "; all of them are in events.csv"
        } else {
            ""
        }
    );
    b.push_str("<table class=\"events\">\n<thead><tr><th>time</th><th>kind</th><th>host</th><th>role</th><th>zone</th><th>from → to</th><th>step</th><th>reason</th></tr></thead>\n<tbody>\n");
    for e in rec.events.iter().take(shown) {
        let moved = if e.from.is_empty() && e.to.is_empty() {
            String::new()
        } else {
            format!("{} → {}", e.from, e.to)
        };
        let _ = writeln!(
            b,
            "<tr><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"wrap\">{}</td></tr>",
            esc(&clock(e.time_s)),
            esc(e.kind.as_str()),
            e.host.map_or(String::new(), |h| h.to_string()),
            esc(&e.role),
            esc(&e.zone),
            esc(&moved),
            esc(&e.step),
            esc(&e.reason)
        );
    }
    b.push_str("</tbody>\n</table>\n");
    b
}

const CSS: &str = r#"
:root { color-scheme: light; --ink: #1a202c; --muted: #4a5568; --rule: #cbd5e0; --faint: #f7fafc; --best: #e6f4ea; --ok: #276749; --bad: #c53030; }
* { box-sizing: border-box; }
html { font-size: 16px; }
body { margin: 0; color: var(--ink); background: #fff; font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; line-height: 1.5; }
main { max-width: 960px; margin: 0 auto; padding: 2rem 1.25rem 3rem; }
h1 { font-size: 1.75rem; line-height: 1.2; margin: 0 0 .5rem; }
h2 { font-size: 1.3rem; margin: 2.25rem 0 .75rem; padding-bottom: .25rem; border-bottom: 1px solid var(--rule); }
h3 { font-size: 1.1rem; margin: 1.75rem 0 .5rem; }
p { margin: .5rem 0; max-width: 46rem; }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: .9em; }
code { background: var(--faint); padding: 0 .25em; border-radius: 3px; }
pre.cmd { background: var(--faint); border: 1px solid var(--rule); border-radius: 4px; padding: .6rem .8rem; overflow-x: auto; }
.lede { color: var(--muted); }
.note { color: var(--muted); font-size: .9rem; }
.verdict { font-size: 1.05rem; padding: .5rem .75rem; border-left: 4px solid; background: var(--faint); }
.verdict.ok { border-color: var(--ok); }
.verdict.bad { border-color: var(--bad); }
.warn { color: var(--bad); }
.nowrap { white-space: nowrap; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-variant-numeric: tabular-nums; }
th, td { padding: .3rem .75rem; border-bottom: 1px solid var(--rule); vertical-align: top; }
thead th { text-align: left; border-bottom: 2px solid var(--ink); }
th[scope=row] { text-align: left; font-weight: 600; }
table.summary td, table.compare td, td.num { text-align: right; }
table.compare thead th { text-align: right; }
td.best { background: var(--best); }
table.events { font-size: .85rem; width: 100%; }
table.events th, table.events td { padding: .25rem .5rem; white-space: nowrap; }
table.events td.wrap { white-space: normal; }
figure { margin: 1rem 0 1.5rem; }
figure svg { display: block; width: 100%; height: auto; max-width: 900px; border: 1px solid #edf2f7; }
figcaption { color: var(--muted); font-size: .9rem; margin-top: .4rem; max-width: 46rem; }
footer { margin-top: 3rem; color: var(--muted); font-size: .8rem; }
@media print {
  html { font-size: 11pt; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  main { max-width: none; padding: 0; }
  h2 { break-after: avoid; }
  figure, tr, .verdict { break-inside: avoid; }
  section.policy { break-before: page; }
  figure svg { border: none; }
}
"#;

fn page(title: &str, body: &str, version: &str) -> String {
    let mut p = String::with_capacity(body.len() + CSS.len() + 512);
    p.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    p.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(p, "<title>{}</title>", esc(title));
    let _ = writeln!(p, "<style>{CSS}</style>");
    p.push_str("</head>\n<body>\n<main>\n");
    p.push_str(body);
    let _ = writeln!(
        p,
        "<footer>Generated by shakedown {}. This page is self-contained: no scripts, fonts or other files are loaded.</footer>",
        esc(version)
    );
    p.push_str("</main>\n</body>\n</html>\n");
    p
}

// ---------------------------------------------------------------------------
// Formatting

/// Text made safe for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A percentage with enough decimals to show a small one.
fn pct(v: f64) -> String {
    if v >= 10.0 {
        format!("{v:.1}")
    } else if v >= 0.1 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

/// Seconds since the start of the run as `h:mm:ss` (`Nd h:mm:ss` past a day).
fn clock(s: f64) -> String {
    let t = s.max(0.0).round() as u64;
    let (d, h, m, sec) = (t / 86400, t / 3600 % 24, t / 60 % 60, t % 60);
    if d > 0 {
        format!("{d}d {h:02}:{m:02}:{sec:02}")
    } else {
        format!("{h}:{m:02}:{sec:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn numbers() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(5502), "5,502");
        assert_eq!(group(2_916_015), "2,916,015");
        assert_eq!(clock(615.0), "0:10:15");
        assert_eq!(clock(1_095_360.0), "12d 16:16:00");
    }

    #[test]
    fn inlined_svg_has_no_size_nor_namespace() {
        let svg = "<svg width=\"900\" height=\"440\" viewBox=\"0 0 900 440\" xmlns=\"http://www.w3.org/2000/svg\">\n<rect/>\n</svg>\n";
        assert_eq!(
            inline_svg(svg, "a <plot>"),
            "<svg viewBox=\"0 0 900 440\" role=\"img\" aria-label=\"a &lt;plot&gt;\">\n<rect/>\n</svg>"
        );
    }
}
