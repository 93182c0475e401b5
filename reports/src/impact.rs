//! The users' verdict on a run, apart from the policy's outcome: whether
//! the scenario's SLO held, and the harm the change did against the same
//! seed without it. One wording for the terminal, Markdown and HTML.

use crate::html::group;
use crate::plots::human_duration;
use shakedown_sim::record::Summary;

/// A percentage with enough decimals to show a small one.
pub fn pct(v: f64) -> String {
    if v >= 10.0 {
        format!("{v:.1}")
    } else if v >= 0.1 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

/// "in the worst 15 min window " when the SLO has a window shorter than
/// the run, else nothing.
fn window(s: &Summary) -> String {
    if s.slo_window_s > 0.0 && s.slo_window_s < s.duration_s {
        format!("in the worst {} window ", human_duration(s.slo_window_s))
    } else {
        String::new()
    }
}

/// "SLO met: 99.97 % of requests succeeded" or "SLO breached: 90.4 % of
/// requests failed": the headline beside the policy's outcome.
pub fn slo_headline(s: &Summary) -> String {
    let failed = 100.0 * (1.0 - s.slo_worst_success_rate);
    if s.slo_met {
        format!(
            "SLO met: {}{} % of requests succeeded",
            window(s),
            pct(100.0 * s.slo_worst_success_rate)
        )
    } else {
        format!(
            "SLO breached: {}{} % of requests failed",
            window(s),
            pct(failed)
        )
    }
}

/// The objective and the budget burned, e.g. "objective 99.9 % of requests
/// succeed; 904 × the error budget burned".
pub fn slo_detail(s: &Summary) -> String {
    format!(
        "objective {} % of requests succeed{}; {} the error budget burned",
        pct(100.0 * s.slo_objective),
        if window(s).is_empty() {
            " over the run".to_string()
        } else {
            format!(" in every {} window", human_duration(s.slo_window_s))
        },
        budget(s.error_budget_burned)
    )
}

/// `0.42 ×` of a budget, or `904 ×`.
pub fn budget(b: f64) -> String {
    if b >= 100.0 {
        format!("{} ×", group(b.round() as u64))
    } else {
        format!("{b:.2} ×")
    }
}

fn signed(v: i64) -> String {
    if v < 0 {
        format!("−{}", group(v.unsigned_abs()))
    } else {
        group(v as u64)
    }
}

/// The harm attributed to the change, when the run was measured against
/// its baseline: "The change made 1,234 requests fail (1,000 during the
/// rollout, 234 after it) and cost 12.5 host-hours of capacity, against
/// the same seed without it."
pub fn harm_sentence(s: &Summary) -> Option<String> {
    let total = s.failed_requests_due_to_change?;
    let during = s.failed_requests_due_to_change_during_rollout.unwrap_or(0);
    let after = s.failed_requests_due_to_change_after_rollout.unwrap_or(0);
    let hours = s.host_hours_unavailable_due_to_change.unwrap_or(0.0);
    Some(format!(
        "Due to the change (against the same seed without it): {} failed requests ({} during the rollout, {} after it) and {} host-hours unavailable.",
        signed(total),
        signed(during),
        signed(after),
        if hours.abs() >= 100.0 {
            signed(hours.round() as i64)
        } else {
            format!("{hours:.1}")
        }
    ))
}

/// The banner: "completed — SLO breached: 90.4 % of requests failed".
pub fn banner(s: &Summary) -> String {
    format!(
        "{} — {}",
        s.outcome.as_str().replace('_', " "),
        slo_headline(s)
    )
}
