//! The audit log (`events.csv`): every host told to move, every policy
//! decision, every fault, in the order they happened.

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

/// The audit log of one run. Disabled, it keeps nothing and builds nothing
/// (Monte Carlo runs want the summary only).
#[derive(Debug)]
pub struct AuditLog {
    enabled: bool,
    events: Vec<AuditEvent>,
}

impl AuditLog {
    pub fn new(enabled: bool) -> Self {
        AuditLog {
            enabled,
            events: Vec::new(),
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
        if !self.enabled {
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
            self.events.extend(rows);
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
