//! The users' verdict on a run, apart from the policy's outcome: whether
//! the scenario's SLO held, and the harm the change did against the same
//! seed without it. One wording for the terminal, Markdown and HTML.

use crate::plots::{group, human_duration, trim};
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

/// "SLO met: 0.03 % of requests failed" or "SLO breached: 90.4 % of
/// requests failed" (of the worst window, when the SLO has one): the
/// headline beside the policy's outcome. Failures, not successes, are
/// shown: 99.998 % would round to 100 %.
pub fn slo_headline(s: &Summary) -> String {
    let failed = pct(100.0 * (1.0 - s.slo_worst_success_rate));
    let verdict = if s.slo_met { "met" } else { "breached" };
    format!("SLO {verdict}: {}{failed} % of requests failed", window(s))
}

/// An objective as written: 99.9, 99.95, 99.999 (no rounding up to 100).
fn objective(o: f64) -> String {
    let s = format!("{:.6}", 100.0 * o);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The objective and the budget burned, e.g. "objective 99.9 % of requests
/// succeed; 904 × the error budget burned".
pub fn slo_detail(s: &Summary) -> String {
    format!(
        "objective {} % of requests succeed{}; {} the error budget burned",
        objective(s.slo_objective),
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

/// Rollback as a deployment, when the policy aborted: "Rolling back from
/// the abort at 12 min: warm capacity at its lowest 60.0 % of the desired
/// hosts (0.04 host-hours missing); safe (nothing left on the new version, every
/// host serving warm) 50 s after the abort."
pub fn rollback_sentence(s: &Summary) -> Option<String> {
    let at = s.aborted_at_s?;
    let low = s.rollback_min_capacity_pct?;
    let missing = s.rollback_capacity_deficit_host_hours.unwrap_or(0.0);
    let safe = match s.time_to_safe_s {
        Some(t) => format!(
            "safe (nothing left on the new version, every host serving warm) {} after the abort",
            human_duration(t)
        ),
        None => "not safe by the run's end (a host still on the new version, or fewer hosts \
                 serving warm than desired)"
            .to_string(),
    };
    Some(format!(
        "Rolling back from the abort at {}: warm capacity at its lowest {} % of the desired hosts ({} host-hours missing); {safe}.",
        human_duration(at),
        pct(low),
        host_hours(missing)
    ))
}

/// What the restart policy did, when the scenario has one: "Restart
/// policy on-failure: 3 restarts, 1 host in a crash loop (3 s in back-off),
/// 1 left down."
pub fn restart_sentence(s: &Summary) -> Option<String> {
    let r = s.restarts.as_ref()?;
    let hosts = |n: u64| if n == 1 { "host" } else { "hosts" };
    Some(format!(
        "Restart policy {}: {} restarts, {} {} in a crash loop ({} in back-off), {} left down.",
        r.policy,
        group(r.restarts),
        group(r.hosts_in_crash_loop),
        hosts(r.hosts_in_crash_loop),
        host_time(r.backoff_host_s),
        group(r.hosts_given_up)
    ))
}

/// Host-seconds for people: "3 host-s", "12.5 host-min", "4 host-h".
fn host_time(s: f64) -> String {
    if s < 120.0 {
        format!("{} host-s", trim(s, 0))
    } else if s < 3.0 * 3600.0 {
        format!("{} host-min", trim(s / 60.0, 1))
    } else {
        format!("{} host-h", trim(s / 3600.0, 1))
    }
}

/// What the autoscalers did, when the scenario has one: "Autoscaling: 3
/// scale-ups and 1 scale-down (5 hosts added, 4 removed); at most 7 hosts,
/// 3 at the end."
pub fn autoscale_sentence(s: &Summary) -> Option<String> {
    let a = s.autoscale.as_ref()?;
    let plural =
        |n: u64, one: &str, many: &str| format!("{} {}", group(n), if n == 1 { one } else { many });
    Some(format!(
        "Autoscaling: {} and {} ({} added, {} removed); at most {}, {} at the end.",
        plural(a.scale_ups, "scale-up", "scale-ups"),
        plural(a.scale_downs, "scale-down", "scale-downs"),
        plural(a.hosts_added, "host", "hosts"),
        group(a.hosts_removed),
        plural(a.peak_replicas, "host", "hosts"),
        group(a.final_replicas)
    ))
}

/// The sentences after the users' verdict, in order: the harm due to the
/// change, the rollback, the restart policy, the autoscalers.
pub fn sentences(s: &Summary) -> Vec<String> {
    [
        harm_sentence(s),
        rollback_sentence(s),
        restart_sentence(s),
        autoscale_sentence(s),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Host-hours with enough decimals to show a small figure (a few
/// host-seconds), whole from 100.
pub fn host_hours(h: f64) -> String {
    let a = h.abs();
    if a >= 100.0 {
        group(h.round() as u64)
    } else if a >= 10.0 {
        format!("{h:.1}")
    } else if a >= 0.1 || a == 0.0 {
        format!("{h:.2}")
    } else {
        format!("{h:.4}")
    }
}

/// The banner: "completed — SLO breached: 90.4 % of requests failed".
pub fn banner(s: &Summary) -> String {
    format!(
        "{} — {}",
        s.outcome.as_str().replace('_', " "),
        slo_headline(s)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objectives_are_shown_as_written() {
        assert_eq!(objective(0.999), "99.9");
        assert_eq!(objective(0.9995), "99.95");
        assert_eq!(objective(0.99999), "99.999");
        assert_eq!(budget(904.2), "904 ×");
        assert_eq!(budget(0.634), "0.63 ×");
    }

    #[test]
    fn host_hours_show_a_few_host_seconds() {
        assert_eq!(host_hours(10.0 / 3600.0), "0.0028");
        assert_eq!(host_hours(0.0), "0.00");
        assert_eq!(host_hours(2.345), "2.35");
        assert_eq!(host_hours(12.34), "12.3");
        assert_eq!(host_hours(1234.4), "1,234");
        assert_eq!(host_time(3.0), "3 host-s");
        assert_eq!(host_time(750.0), "12.5 host-min");
    }
}
