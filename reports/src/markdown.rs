//! Markdown summaries: one run, or several runs of the same world side by side.

use shakedown_sim::record::Summary;
use std::fmt::Write;

fn hours(s: f64) -> String {
    if s >= 3600.0 {
        format!("{:.1} h", s / 3600.0)
    } else {
        format!("{:.0} min", s / 60.0)
    }
}

/// A table comparing runs (one column per run).
pub fn compare(title: &str, runs: &[&Summary]) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# {title}\n");
    if let Some(first) = runs.first() {
        let _ = writeln!(
            md,
            "Scenario `{}`, seed {}, {} hosts, change: {}.\n",
            first.scenario, first.seed, first.hosts, first.change
        );
    }
    let _ = write!(md, "| |");
    for r in runs {
        let _ = write!(md, " {} |", r.policy);
    }
    let _ = write!(md, "\n|---|");
    for _ in runs {
        let _ = write!(md, "---:|");
    }
    md.push('\n');
    type Row<'a> = (&'a str, &'a dyn Fn(&Summary) -> String);
    let rows: [Row; 11] = [
        ("outcome", &|s| s.outcome.to_string()),
        ("SLO", &|s| {
            if s.slo_met {
                "met".to_string()
            } else {
                "breached".to_string()
            }
        }),
        ("error budget burned", &|s| {
            crate::impact::budget(s.error_budget_burned)
        }),
        ("failed requests due to the change", &|s| {
            s.failed_requests_due_to_change
                .map_or("–".to_string(), |v| v.to_string())
        }),
        ("rollout duration", &|s| hours(s.rollout_duration_s)),
        ("failed requests", &|s| s.requests_failed.to_string()),
        ("… during the rollout", &|s| {
            s.failed_requests_during_rollout.to_string()
        }),
        ("requests", &|s| s.requests_total.to_string()),
        ("success rate", &|s| {
            format!("{:.4} %", 100.0 * s.success_rate)
        }),
        ("peak hosts unavailable", &|s| {
            format!("{:.1} %", s.peak_hosts_unavailable_pct)
        }),
        ("hosts on new version", &|s| {
            format!("{:.1} %", s.hosts_on_new_pct)
        }),
    ];
    for (name, f) in rows {
        let _ = write!(md, "| {name} |");
        for r in runs {
            let _ = write!(md, " {} |", f(r));
        }
        md.push('\n');
    }
    if runs.len() >= 2 {
        let best = runs
            .iter()
            .min_by_key(|s| s.requests_failed)
            .expect("non-empty");
        let _ = writeln!(
            md,
            "\nFewest failed requests: **{}** ({}). Same seed, so every policy faced the same traffic.",
            best.policy, best.requests_failed
        );
    }
    md
}

/// A short summary of one run: the policy's outcome and the users' verdict
/// first, then the table.
pub fn run(s: &Summary) -> String {
    let table = compare(&format!("shakedown run: {}", s.scenario), &[s]);
    let (title, rest) = table.split_once("\n\n").unwrap_or((&table, ""));
    let mut md = format!(
        "{title}\n\n**{}** ({}).",
        crate::impact::banner(s),
        crate::impact::slo_detail(s)
    );
    for line in crate::impact::sentences(s) {
        let _ = write!(md, " {line}");
    }
    let _ = write!(md, "\n\n{rest}");
    md
}
