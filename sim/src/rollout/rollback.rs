//! Rollback as a deployment: from the abort until the fleet is safe again.
//!
//! An abort is itself a rollout. Hosts rolled back in place restart, a
//! stable set scaled down regrows and its new hosts start cold, so capacity
//! dips after the decision to go back, sometimes below what the forward
//! rollout ever cost. The tracker watches each tick's row from the tick
//! after the abort:
//!
//! - *warm capacity*: hosts serving at full capacity (serving, and past the
//!   fleet's warm-up), in percent of the hosts the fleet should have (each
//!   role's `hosts`, or its autoscaled count);
//! - the fleet is *safe* at the first tick with no host on the new version
//!   left (draining ones included) and at least every desired host serving
//!   warm. From there nothing of the change is left to hurt users.
//!
//! Time to safe, the lowest warm capacity and the capacity missing in
//! host-hours (Σ per tick of desired − warm, times the tick) are the
//! summary's `time_to_safe_s`, `rollback_min_capacity_pct` and
//! `rollback_capacity_deficit_host_hours`.

use crate::time::{SimDuration, SimTime};

/// What the summary reports of a rollback.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RollbackFacts {
    /// From the abort to the first safe tick; `None` if the run ended first.
    pub time_to_safe: Option<SimDuration>,
    /// The lowest warm capacity from the tick after the abort to the safe
    /// tick (or the end), in percent of the desired hosts.
    pub min_capacity_pct: f64,
    /// Host-hours of warm capacity missing over those ticks.
    pub deficit_host_hours: f64,
}

/// Tick by tick from an abort (see the module's documentation).
#[derive(Clone, Debug)]
pub struct RollbackTracker {
    aborted_at: SimTime,
    safe_at: Option<SimTime>,
    min_capacity_pct: f64,
    deficit_host_s: f64,
}

impl RollbackTracker {
    pub fn new(aborted_at: SimTime) -> Self {
        RollbackTracker {
            aborted_at,
            safe_at: None,
            min_capacity_pct: f64::INFINITY,
            deficit_host_s: 0.0,
        }
    }

    /// One tick's row: hosts on the new version, hosts serving warm, the
    /// hosts desired, and the tick's length. Ticks at or before the abort,
    /// and ticks after the fleet is safe, change nothing.
    pub fn tick(
        &mut self,
        now: SimTime,
        hosts_new: u32,
        warm: u32,
        desired: u64,
        tick: SimDuration,
    ) {
        if self.safe_at.is_some() || now <= self.aborted_at {
            return;
        }
        let desired = desired.max(1);
        if hosts_new == 0 && warm as u64 >= desired {
            self.safe_at = Some(now);
            self.min_capacity_pct = self.min_capacity_pct.min(100.0);
            return;
        }
        let pct = 100.0 * warm as f64 / desired as f64;
        self.min_capacity_pct = self.min_capacity_pct.min(pct);
        self.deficit_host_s += desired.saturating_sub(warm as u64) as f64 * tick.as_secs_f64();
    }

    pub fn finish(&self) -> RollbackFacts {
        RollbackFacts {
            time_to_safe: self.safe_at.map(|t| t.saturating_since(self.aborted_at)),
            // No tick after the abort (it came on the run's last tick): the
            // capacity was never seen below the desired count.
            min_capacity_pct: if self.min_capacity_pct.is_finite() {
                self.min_capacity_pct
            } else {
                100.0
            },
            deficit_host_hours: self.deficit_host_s / 3600.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_secs(s)
    }

    /// Ten hosts, ticks of 10 s, an abort at 100 s: four hosts on the new
    /// version go back in place (down 20 s, then 20 s warming), the six
    /// others serve warm throughout.
    #[test]
    fn an_in_place_rollback_by_hand() {
        let tick = SimDuration::from_secs(10);
        let mut r = RollbackTracker::new(t(100));
        // (time, hosts on new, warm serving)
        let rows = [
            (90, 4, 10),  // before the abort: ignored
            (100, 4, 10), // the abort's own tick: ignored
            (110, 0, 6),  // four restarting on the old version
            (120, 0, 6),
            (130, 0, 6), // serving again, warming
            (140, 0, 6),
            (150, 0, 10), // warm: safe
            (160, 0, 3),  // after safe: ignored
        ];
        for (s, new, warm) in rows {
            r.tick(t(s), new, warm, 10, tick);
        }
        let f = r.finish();
        assert_eq!(f.time_to_safe, Some(SimDuration::from_secs(50)));
        assert_eq!(f.min_capacity_pct, 60.0);
        // Four hosts missing for four ticks of 10 s: 160 host-seconds.
        assert!((f.deficit_host_hours - 160.0 / 3600.0).abs() < 1e-12);
    }

    #[test]
    fn a_host_left_on_the_new_version_is_not_safe() {
        let tick = SimDuration::from_secs(10);
        let mut r = RollbackTracker::new(t(0));
        for s in 1..=5 {
            // Every desired host serves warm, but one is still on the new
            // version (a halted rollout, a canary never scaled down).
            r.tick(t(s * 10), 1, 10, 10, tick);
        }
        let f = r.finish();
        assert_eq!(f.time_to_safe, None);
        assert_eq!(f.min_capacity_pct, 100.0);
        assert_eq!(f.deficit_host_hours, 0.0);
    }

    #[test]
    fn an_abort_on_the_last_tick_saw_no_dip() {
        let r = RollbackTracker::new(t(100));
        let f = r.finish();
        assert_eq!(f.time_to_safe, None);
        assert_eq!(f.min_capacity_pct, 100.0);
    }
}
