//! `sim-vs-live.{md,json,csv}`: a live run beside its simulation
//! ([`SideBySide`]), written by `shakedown live --compare-sim`.

use std::fmt::Write as _;

use shakedown_sim::experiment::sim_vs_live::{PhaseFigures, SideBySide};

use crate::plots::group;

pub fn json(s: &SideBySide) -> String {
    let mut out = serde_json::to_string_pretty(s).expect("a comparison always serialises");
    out.push('\n');
    out
}

/// One row per phase and world.
pub fn csv(s: &SideBySide) -> Vec<u8> {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    w.write_record([
        "phase",
        "world",
        "entered_s",
        "time_in_s",
        "requests",
        "failed",
        "peak_unavailable",
        "agrees",
    ])
    .expect("in memory");
    for p in &s.phases {
        for (world, f) in [("sim", &p.sim), ("live", &p.live)] {
            w.write_record([
                p.phase.clone(),
                world.to_string(),
                f.entered_s.map(|t| format!("{t}")).unwrap_or_default(),
                format!("{}", f.time_in_s),
                f.requests.to_string(),
                f.failed.to_string(),
                f.peak_unavailable.to_string(),
                p.agrees.to_string(),
            ])
            .expect("in memory");
        }
    }
    w.into_inner().expect("in memory")
}

fn secs(t: Option<f64>) -> String {
    t.map_or("—".into(), |t| format!("{t:.1} s"))
}

fn cells(f: &PhaseFigures) -> [String; 4] {
    [
        secs(f.entered_s),
        format!("{:.1} s", f.time_in_s),
        group(f.requests),
        group(f.failed),
    ]
}

pub fn markdown(s: &SideBySide) -> String {
    let mut md = body(s, "# Simulator vs live");
    if let (Some(lines), Some(again)) = (&s.measured_change, &s.with_measured) {
        let _ = writeln!(
            md,
            "\n---\n\nThe same comparison with the host timings measured live, as scenario lines:\n\n```toml\n{lines}\n```\n"
        );
        md.push_str(&body(again, "## With the measured timings"));
    }
    md
}

fn body(s: &SideBySide, title: &str) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "{title}: {} (seed {})\n\n**{}**\n",
        s.scenario, s.seed, s.verdict
    );
    let _ = writeln!(
        md,
        "Outcome: {} simulated, {} live. Tolerances: time ±{:.0} s, requests ±{:.0} %, failed within {} or ×{} (rows are per tick of {} s).\n",
        s.outcome_sim,
        s.outcome_live,
        s.tolerances.time_s,
        s.tolerances.requests_rel * 100.0,
        s.tolerances.failed_abs,
        s.tolerances.failed_factor,
        s.tick_s
    );
    let _ = writeln!(md, "## Phases\n");
    let _ = writeln!(
        md,
        "| phase | began (sim / live) | lasted (sim / live) | requests (sim / live) | failed (sim / live) | peak unavailable | agrees |\n|---|---:|---:|---:|---:|---:|---|"
    );
    for p in &s.phases {
        let (a, b) = (cells(&p.sim), cells(&p.live));
        let _ = writeln!(
            md,
            "| {} | {} / {} | {} / {} | {} / {} | {} / {} | {} / {} | {} |",
            p.phase,
            a[0],
            b[0],
            a[1],
            b[1],
            a[2],
            b[2],
            a[3],
            b[3],
            p.sim.peak_unavailable,
            p.live.peak_unavailable,
            if p.agrees {
                "yes".to_string()
            } else {
                format!("**no**: {}", p.differences.join("; "))
            }
        );
    }
    let _ = writeln!(md, "\n## Decisions\n");
    if s.same_decisions {
        let _ = writeln!(
            md,
            "Both worlds took the same {} decisions, in the same order:\n",
            s.decisions_live.len()
        );
        for d in &s.decisions_live {
            let _ = writeln!(md, "- {d}");
        }
    } else {
        let _ = writeln!(
            md,
            "The decisions differ.\n\n| # | simulated | live |\n|---:|---|---|"
        );
        let n = s.decisions_sim.len().max(s.decisions_live.len());
        for i in 0..n {
            let at = |v: &Vec<String>| v.get(i).cloned().unwrap_or_else(|| "—".into());
            let _ = writeln!(
                md,
                "| {} | {} | {} |",
                i + 1,
                at(&s.decisions_sim),
                at(&s.decisions_live)
            );
        }
    }
    let _ = writeln!(
        md,
        "\n## Host timings\n\nMeasured from the per-tick host states (host-ticks over moves; resolution one tick). Where live differs, the live figure is the one to put in the scenario for the next simulation.\n\n| scenario field | what | scenario | simulated | live |\n|---|---|---:|---:|---:|"
    );
    for t in &s.timings {
        let _ = writeln!(
            md,
            "| `{}` | {} | {:.1} s | {} | {} |",
            t.field,
            t.what,
            t.scenario_s,
            secs(t.sim_s),
            secs(t.live_s)
        );
    }
    md
}
