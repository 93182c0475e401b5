//! The audit log (`events.csv`): every host told to move, every policy
//! decision, every fault, in the order they happened. It keeps at most
//! [`MAX_AUDIT_ROWS`] rows in memory: later rows are counted, not kept, and
//! the summary says how many (`audit_rows_dropped`), so memory stays bounded
//! however long the run.

use crate::record::{AuditEvent, AuditKind};
use crate::time::SimTime;

/// Where an audit row points: a host of a role in a zone, or nothing (a
/// fleet-wide decision).
#[derive(Clone, Copy, Debug, Default)]
pub struct Place<'a> {
    pub host: Option<u32>,
    pub role: &'a str,
    pub zone: &'a str,
}

/// The most audit rows a run keeps (about 200 MB of `events.csv`).
pub const MAX_AUDIT_ROWS: usize = 1_000_000;

/// The audit log of one run. Disabled, it keeps nothing and builds nothing
/// (Monte Carlo runs want the summary only).
#[derive(Debug)]
pub struct AuditLog {
    enabled: bool,
    events: Vec<AuditEvent>,
    limit: usize,
    dropped: u64,
}

impl AuditLog {
    pub fn new(enabled: bool) -> Self {
        Self::with_limit(enabled, MAX_AUDIT_ROWS)
    }

    /// A log that keeps at most `limit` rows.
    pub fn with_limit(enabled: bool, limit: usize) -> Self {
        AuditLog {
            enabled,
            events: Vec::new(),
            limit,
            dropped: 0,
        }
    }

    /// Rows recorded past the limit and not kept.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Whether one more row fits; counts it as dropped if not.
    fn room(&mut self) -> bool {
        if self.events.len() < self.limit {
            true
        } else {
            self.dropped = self.dropped.saturating_add(1);
            false
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// A row without a version change.
    pub fn row(&mut self, now: SimTime, kind: AuditKind, at: Place<'_>, step: &str, reason: &str) {
        self.versioned(now, kind, at, ("", ""), step, reason);
    }

    /// A row for a host told to move from one version to another.
    pub fn versioned(
        &mut self,
        now: SimTime,
        kind: AuditKind,
        at: Place<'_>,
        (from, to): (&str, &str),
        step: &str,
        reason: &str,
    ) {
        if !self.enabled || !self.room() {
            return;
        }
        self.events.push(AuditEvent {
            time_s: now.as_secs_f64(),
            kind,
            host: at.host,
            role: at.role.to_string(),
            zone: at.zone.to_string(),
            from: from.to_string(),
            to: to.to_string(),
            step: step.to_string(),
            reason: reason.to_string(),
        });
    }

    /// Rows an environment recorded on its own (live mode's faults and
    /// detections, logged when they complete).
    pub fn extend(&mut self, rows: impl IntoIterator<Item = AuditEvent>) {
        if self.enabled {
            for row in rows {
                if self.room() {
                    self.events.push(row);
                }
            }
        }
    }

    /// Orders rows by time, keeping the order of rows at the same time.
    pub fn sort_by_time(&mut self) {
        self.events.sort_by(|a, b| a.time_s.total_cmp(&b.time_s));
    }

    pub fn into_events(self) -> Vec<AuditEvent> {
        self.events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // issue 15 item 5: short-mtbf kernel panics grew the log past 5 GB.
    #[test]
    fn rows_past_the_limit_are_counted_not_kept() {
        let mut log = AuditLog::with_limit(true, 3);
        for i in 0..5 {
            log.row(
                SimTime::ZERO,
                AuditKind::Fault,
                Place::default(),
                "",
                &format!("row {i}"),
            );
        }
        log.extend((0..2).map(|_| AuditEvent {
            time_s: 0.0,
            kind: AuditKind::Fault,
            host: None,
            role: String::new(),
            zone: String::new(),
            from: String::new(),
            to: String::new(),
            step: String::new(),
            reason: String::new(),
        }));
        assert_eq!(log.dropped(), 4);
        let kept = log.into_events();
        assert_eq!(kept.len(), 3);
        assert_eq!(kept[2].reason, "row 2");
    }
}
