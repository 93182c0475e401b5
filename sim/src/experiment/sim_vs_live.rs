//! The simulator beside a live run of the same scenario, seed and fault
//! timeline (`shakedown live --compare-sim`): per phase of the rollout, what
//! each world measured, whether they agree within stated tolerances, whether
//! they took the same decisions, and the host timings live mode measured
//! (so the next simulation can use them).
//!
//! Pure: it reads two [`RunRecord`]s. Phases come from each run's audit log
//! (the first row naming a step starts it; the finish ends the last one), so
//! a step that took longer live than simulated is compared as a whole, not
//! tick by tick. Rows are per tick; a row at `t` counts the requests of
//! `[t, t + tick)` in both worlds and belongs to the phase under way at `t`.

use serde::Serialize;

use crate::dist::DurationDist;
use crate::record::{AuditEvent, AuditKind, RunRecord, TickRow};
use crate::scenario::Scenario;
use crate::time::SimDuration;

/// How far the two worlds may differ and still agree.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Tolerances {
    /// Time a phase lasted, and when it began (s).
    pub time_s: f64,
    /// Requests per second of a phase, relative.
    pub requests_rel: f64,
    /// Failed requests in a phase: a difference up to this many agrees...
    pub failed_abs: u64,
    /// ...and so does one within this factor either way.
    pub failed_factor: f64,
}

impl Tolerances {
    /// Two ticks (the live clock and the health gates add a second or two
    /// of wall time), 15 % of the requests (the load generator's open model
    /// against the simulator's Poisson draws, and a phase's edges), failures
    /// within 20 or a factor of 2.
    pub fn default_for(sc: &Scenario) -> Self {
        Tolerances {
            time_s: (2.0 * sc.tick.as_secs_f64()).max(2.0),
            requests_rel: 0.15,
            failed_abs: 20,
            failed_factor: 2.0,
        }
    }
}

/// One world's figures for one phase.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PhaseFigures {
    /// When the phase began (s of scenario time); `None`: never entered.
    pub entered_s: Option<f64>,
    pub time_in_s: f64,
    pub requests: u64,
    pub failed: u64,
    /// Most hosts unavailable (desired − serving) at one tick.
    pub peak_unavailable: u64,
}

/// One phase, side by side.
#[derive(Clone, Debug, Serialize)]
pub struct PhaseRow {
    pub phase: String,
    pub sim: PhaseFigures,
    pub live: PhaseFigures,
    pub agrees: bool,
    /// What differs beyond the tolerances, in words.
    pub differences: Vec<String>,
}

/// A host timing: what the scenario says, what each world measured.
#[derive(Clone, Debug, Serialize)]
pub struct Timing {
    /// The scenario field it stands for (`change.drain`, ...).
    pub field: &'static str,
    pub what: &'static str,
    pub scenario_s: f64,
    pub sim_s: Option<f64>,
    pub live_s: Option<f64>,
}

/// The whole comparison.
#[derive(Clone, Debug, Serialize)]
pub struct SideBySide {
    pub scenario: String,
    pub seed: u64,
    pub tick_s: f64,
    pub tolerances: Tolerances,
    pub outcome_sim: String,
    pub outcome_live: String,
    /// The decisions each world took, in order (kind | step | verdict).
    pub decisions_sim: Vec<String>,
    pub decisions_live: Vec<String>,
    pub same_decisions: bool,
    pub phases: Vec<PhaseRow>,
    pub timings: Vec<Timing>,
    /// Whether the simulator's model explains the live run: the same
    /// decisions and outcome, and every phase within tolerance.
    pub explained: bool,
    pub verdict: String,
    /// The `[change]` timings measured live, as scenario lines, and the
    /// comparison again with them ([`calibrate`]); `None` when nothing moved
    /// live or the timings already were the measured ones.
    pub measured_change: Option<String>,
    pub with_measured: Option<Box<SideBySide>>,
}

/// A decision as both worlds must agree on it: the row's kind and step, and
/// what was decided (a weight, a measurement's or analysis's verdict, the
/// outcome) without the measured numbers.
pub fn decision_key(e: &AuditEvent) -> Option<String> {
    if e.kind != AuditKind::Decision && e.kind != AuditKind::Finish {
        return None;
    }
    let what = if e.step == "set-weight" {
        e.reason.clone()
    } else if let Some((_, verdict)) = e.reason.rsplit_once("→ ") {
        format!("measurement {verdict}")
    } else if let Some(rest) = e.reason.strip_prefix("verdict ") {
        format!("verdict {}", rest.split(':').next().unwrap_or(rest))
    } else {
        String::new()
    };
    Some(format!("{} | {} | {what}", e.kind, e.step))
}

/// Phase names and start times of one run: `before`, the steps in the order
/// they were first named, `after` from the finish.
fn phases_of(rec: &RunRecord) -> Vec<(String, f64)> {
    let mut out = vec![("before".to_string(), 0.0)];
    for e in &rec.events {
        let step = match e.kind {
            AuditKind::Instruct | AuditKind::Decision | AuditKind::Decommission
                if !e.step.is_empty() && e.step != "set-weight" =>
            {
                e.step.as_str()
            }
            AuditKind::Finish => "after",
            _ => continue,
        };
        if !out.iter().any(|(n, _)| n == step) {
            out.push((step.to_string(), e.time_s));
        }
    }
    out
}

fn figures(rec: &RunRecord, desired: u64, phases: &[(String, f64)]) -> Vec<PhaseFigures> {
    // Rows count `[t, t + tick)`: the last one covers up to its end.
    let tick_s = rec.summary.tick_s;
    let end = rec
        .ticks
        .last()
        .map_or(rec.summary.duration_s, |r| r.time_s + tick_s);
    let mut out: Vec<PhaseFigures> = phases
        .iter()
        .enumerate()
        .map(|(i, (_, start))| PhaseFigures {
            entered_s: Some(*start),
            time_in_s: phases.get(i + 1).map_or(end, |n| n.1) - start,
            ..PhaseFigures::default()
        })
        .collect();
    for row in &rec.ticks {
        // The phase under way at t: the last that began at or before it.
        let i = phases
            .iter()
            .rposition(|(_, s)| *s <= row.time_s)
            .unwrap_or(0);
        let f = &mut out[i];
        f.requests += row.requests;
        f.failed += row.failed;
        f.peak_unavailable = f
            .peak_unavailable
            .max(desired.saturating_sub(row.serving as u64));
    }
    out
}

fn differences(a: &PhaseFigures, b: &PhaseFigures, tol: &Tolerances) -> Vec<String> {
    let mut d = Vec::new();
    match (a.entered_s, b.entered_s) {
        (Some(x), Some(y)) => {
            if (x - y).abs() > tol.time_s {
                d.push(format!("began at {x:.1} s simulated, {y:.1} s live"));
            }
            if (a.time_in_s - b.time_in_s).abs() > tol.time_s {
                d.push(format!(
                    "lasted {:.1} s simulated, {:.1} s live",
                    a.time_in_s, b.time_in_s
                ));
            }
        }
        (Some(_), None) => d.push("entered only in the simulation".into()),
        (None, Some(_)) => d.push("entered only live".into()),
        (None, None) => {}
    }
    // The offered load, per second of the phase (a phase that lasted longer
    // in one world is the time check's business).
    let rate = |f: &PhaseFigures| f.requests as f64 / f.time_in_s.max(1e-9);
    let (ra, rb) = (rate(a), rate(b));
    if (a.entered_s.is_some() && b.entered_s.is_some())
        && (ra - rb).abs() > tol.requests_rel * ra.max(rb)
    {
        d.push(format!(
            "{} requests simulated ({ra:.0}/s), {} live ({rb:.0}/s)",
            a.requests, b.requests
        ));
    }
    let (fa, fb) = (a.failed, b.failed);
    let within_abs = fa.abs_diff(fb) <= tol.failed_abs;
    let within_factor =
        fa > 0 && fb > 0 && (fa as f64 / fb as f64).max(fb as f64 / fa as f64) <= tol.failed_factor;
    if !within_abs && !within_factor {
        d.push(format!("{fa} failed simulated, {fb} live"));
    }
    d
}

/// Mean seconds a moved host spent in the rows' states picked by `of`
/// (host-ticks over instructed moves); `None` without moves.
fn per_move(rec: &RunRecord, tick_s: f64, of: impl Fn(&TickRow) -> u32) -> Option<f64> {
    let moves = rec
        .events
        .iter()
        .filter(|e| e.kind == AuditKind::Instruct)
        .count();
    (moves > 0).then(|| {
        let host_ticks: u64 = rec.ticks.iter().map(|r| of(r) as u64).sum();
        host_ticks as f64 * tick_s / moves as f64
    })
}

/// Mean seconds from a chaos fault on a replica to that replica's
/// detection, over the replicas detected (`None` without any): the live
/// fleet's detection delay, probes and their interval included.
///
/// Read from the audit log: a `fault` row of step `chaos` names the
/// replicas it hit (`kill web-v1-2: killed (SIGKILL)`), a `detected` row
/// names the replica first (`web-v1-2 failed its health checks; ...`);
/// each detection is paired with the latest chaos row at or before it that
/// names its replica. A detection without a chaos fault (a version that
/// crashes under load) has no known start and is left out. The simulator
/// writes no detection rows: its delay is `fleet.detection_delay` exactly.
pub fn detection_delay(rec: &RunRecord) -> Option<f64> {
    let mut delays = Vec::new();
    for (i, d) in rec.events.iter().enumerate() {
        if d.kind != AuditKind::Detected {
            continue;
        }
        let Some(id) = d.reason.split_whitespace().next() else {
            continue;
        };
        let fault = rec.events[..i].iter().rev().find(|e| {
            e.kind == AuditKind::Fault
                && e.step == "chaos"
                && e.time_s <= d.time_s
                && e.reason
                    .split_once(':')
                    .is_some_and(|(hit, _)| hit.split_whitespace().any(|w| w == id))
        });
        if let Some(f) = fault {
            delays.push(d.time_s - f.time_s);
        }
    }
    (!delays.is_empty()).then(|| delays.iter().sum::<f64>() / delays.len() as f64)
}

/// Compares the simulation `sim` and the live run `live` of `sc`.
pub fn compare(sc: &Scenario, sim: &RunRecord, live: &RunRecord, tol: Tolerances) -> SideBySide {
    let desired = sc.host_count();
    let decisions =
        |r: &RunRecord| -> Vec<String> { r.events.iter().filter_map(decision_key).collect() };
    let (decisions_sim, decisions_live) = (decisions(sim), decisions(live));
    let same_decisions = decisions_sim == decisions_live;

    let (ps, pl) = (phases_of(sim), phases_of(live));
    let mut names: Vec<String> = ps.iter().map(|p| p.0.clone()).collect();
    for (n, _) in &pl {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    // `after` last, whatever order the worlds named their steps in.
    if let Some(i) = names.iter().position(|n| n == "after") {
        let a = names.remove(i);
        names.push(a);
    }
    let (fs, fl) = (figures(sim, desired, &ps), figures(live, desired, &pl));
    let pick = |phases: &[(String, f64)], figs: &[PhaseFigures], name: &str| {
        phases
            .iter()
            .position(|p| p.0 == name)
            .map(|i| figs[i].clone())
            .unwrap_or(PhaseFigures {
                entered_s: None,
                ..PhaseFigures::default()
            })
    };
    let phases: Vec<PhaseRow> = names
        .iter()
        .map(|n| {
            let (a, b) = (pick(&ps, &fs, n), pick(&pl, &fl, n));
            let differences = differences(&a, &b, &tol);
            PhaseRow {
                phase: n.clone(),
                agrees: differences.is_empty(),
                sim: a,
                live: b,
                differences,
            }
        })
        .collect();

    let tick_s = sc.tick.as_secs_f64();
    let moving = |r: &TickRow| r.upgrading + r.restarting + r.provisioning;
    let detection = detection_delay(live);
    let timings = vec![
        Timing {
            field: "change.drain",
            what: "draining, per moved host",
            scenario_s: sc.change.drain.as_secs_f64(),
            sim_s: per_move(sim, tick_s, |r| r.draining),
            live_s: per_move(live, tick_s, |r| r.draining),
        },
        Timing {
            field: "change.install_time + change.restart_time",
            what: "out of service while moving, per moved host",
            scenario_s: sc.change.install_time.mean().as_secs_f64()
                + sc.change.restart_time.mean().as_secs_f64(),
            sim_s: per_move(sim, tick_s, moving),
            live_s: per_move(live, tick_s, moving),
        },
        Timing {
            field: "fleet.detection_delay",
            what: "from a chaos fault to its replica's detection",
            scenario_s: sc.fleet.detection_delay.as_secs_f64(),
            // The simulator's delay is the scenario's, by construction.
            sim_s: detection.map(|_| sc.fleet.detection_delay.as_secs_f64()),
            live_s: detection,
        },
    ];

    let outcome_sim = sim.summary.outcome.to_string();
    let outcome_live = live.summary.outcome.to_string();
    let off: Vec<&PhaseRow> = phases.iter().filter(|p| !p.agrees).collect();
    let explained = same_decisions && outcome_sim == outcome_live && off.is_empty();
    let verdict = if explained {
        format!(
            "The simulator explains the live run: the same {} decisions, outcome {outcome_live}, and all {} phases within tolerance (time ±{:.0} s, requests ±{:.0} %, failed within {} or ×{}).",
            decisions_live.len(),
            phases.len(),
            tol.time_s,
            tol.requests_rel * 100.0,
            tol.failed_abs,
            tol.failed_factor
        )
    } else {
        let mut why = Vec::new();
        if !same_decisions {
            why.push(format!(
                "the decisions differ ({} simulated, {} live)",
                decisions_sim.len(),
                decisions_live.len()
            ));
        }
        if outcome_sim != outcome_live {
            why.push(format!(
                "the outcome is {outcome_sim} simulated, {outcome_live} live"
            ));
        }
        for p in &off {
            why.push(format!("`{}`: {}", p.phase, p.differences.join("; ")));
        }
        format!(
            "The simulator does not explain the live run: {}.",
            why.join("; ")
        )
    };
    SideBySide {
        scenario: sc.name.clone(),
        seed: sim.summary.seed,
        tick_s,
        tolerances: tol,
        outcome_sim,
        outcome_live,
        decisions_sim,
        decisions_live,
        same_decisions,
        phases,
        timings,
        explained,
        verdict,
        measured_change: None,
        with_measured: None,
    }
}

/// `sc` with the host timings live mode measured ([`SideBySide::timings`]):
/// the drain, the time out of service per move as `restart_time` (no
/// separate install time), and where chaos faults were detected the
/// detection delay, to the millisecond; with the scenario lines that say
/// so. `None` if live measured neither the drain nor the moves.
pub fn with_measured_timings(sc: &Scenario, s: &SideBySide) -> Option<(Scenario, String)> {
    let live = |field: &str| {
        s.timings
            .iter()
            .find(|t| t.field == field)
            .and_then(|t| t.live_s)
    };
    let (drain, moving) = (
        live("change.drain")?,
        live("change.install_time + change.restart_time")?,
    );
    let detection = live("fleet.detection_delay");
    let ms = |x: f64| SimDuration::from_millis((x * 1000.0).round() as u64);
    let mut m = sc.clone();
    // A drain shorter than a tick reads as 0 from the rows: a drained
    // change stays drained.
    m.change.drain = if sc.change.drain.is_zero() {
        ms(drain)
    } else {
        ms(drain).max(SimDuration::from_millis(1))
    };
    m.change.install_time = DurationDist::fixed(SimDuration::from_millis(0));
    m.change.restart_time = DurationDist::fixed(ms(moving));
    if let Some(d) = detection {
        m.fleet.detection_delay = ms(d).max(SimDuration::from_millis(1));
    }
    if m.change == sc.change && m.fleet.detection_delay == sc.fleet.detection_delay {
        return None;
    }
    let mut lines = format!(
        "[change]\ndrain = \"{}\"\ninstall_time = \"0s\"\nrestart_time = \"{}\"",
        m.change.drain,
        ms(moving)
    );
    if detection.is_some() {
        lines.push_str(&format!(
            "\n\n[fleet]\ndetection_delay = \"{}\"",
            m.fleet.detection_delay
        ));
    }
    Some((m, lines))
}

/// [`compare`], and if live mode's host timings differ from the scenario's,
/// the comparison again with the measured ones: whether the model explains
/// the live run once its parameters are the live fleet's. `simulate` runs
/// a scenario as live mode ran it (same seed, chaos and traffic).
pub fn calibrate(
    sc: &Scenario,
    live: &RunRecord,
    simulate: impl Fn(&Scenario) -> RunRecord,
) -> SideBySide {
    let tol = Tolerances::default_for(sc);
    let mut s = compare(sc, &simulate(sc), live, tol);
    if s.explained {
        return s;
    }
    if let Some((m, lines)) = with_measured_timings(sc, &s) {
        let again = compare(&m, &simulate(&m), live, tol);
        let head = s.verdict.trim_end_matches('.').replacen(
            "The simulator does not explain",
            "With the scenario's host timings the simulator does not explain",
            1,
        );
        let tail = if again.explained {
            "with the timings measured live it does (same decisions and outcome, every phase within tolerance)".to_string()
        } else {
            format!(
                "nor with the timings measured live: {}",
                again
                    .verdict
                    .trim_start_matches("The simulator does not explain the live run: ")
                    .trim_end_matches('.')
            )
        };
        let flat: Vec<&str> = lines
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('['))
            .collect();
        s.verdict = format!("{head}; {tail}: {}.", flat.join(", "));
        s.measured_change = Some(lines);
        s.with_measured = Some(Box::new(again));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::AuditEvent;

    fn row(time_s: f64, kind: AuditKind, step: &str, reason: &str) -> AuditEvent {
        AuditEvent {
            time_s,
            kind,
            host: None,
            role: "web".into(),
            zone: String::new(),
            from: String::new(),
            to: String::new(),
            step: step.into(),
            reason: reason.into(),
        }
    }

    fn record(events: Vec<AuditEvent>) -> RunRecord {
        let sc = Scenario::parse(
            "name = \"t\"\nduration = \"1m\"\n[[fleet.roles]]\nname = \"web\"\nhosts = 3\n\
             [traffic]\ncurve = \"constant\"\nrps = 10\n[change]\nfrom = \"1\"\nto = \"2\"\n\
             [policy]\nkind = \"all-at-once\"\n",
            "t.toml",
        )
        .unwrap();
        let mut rec = crate::world::run(&sc, crate::world::RunOptions::summary_only(1));
        rec.events = events;
        rec
    }

    /// Each detection pairs with the latest chaos row naming its replica;
    /// a detection no fault explains (a crash under load) is left out.
    #[test]
    fn the_detection_delay_is_measured_from_each_chaos_fault() {
        let rec = record(vec![
            row(
                6.0,
                AuditKind::Fault,
                "chaos",
                "kill web-v1-2: killed (SIGKILL)",
            ),
            row(6.5, AuditKind::Decision, "rolling batch 1", "x"),
            row(
                7.2,
                AuditKind::Detected,
                "health-check",
                "web-v1-2 failed its health checks; out of the router",
            ),
            row(
                9.0,
                AuditKind::Fault,
                "chaos",
                "pause web-v1-0 web-v1-1: 2 containers paused",
            ),
            row(
                10.4,
                AuditKind::Detected,
                "health-check",
                "web-v1-1 failed its health checks; out of the router",
            ),
            row(
                12.0,
                AuditKind::Detected,
                "health-check",
                "web-v2-7 failed its health checks; out of the router",
            ),
        ]);
        let d = detection_delay(&rec).unwrap();
        assert!((d - (1.2 + 1.4) / 2.0).abs() < 1e-9, "{d}");
        assert_eq!(detection_delay(&record(Vec::new())), None);
    }
}
