//! Deploy windows: any policy restricted to allowed hours and days in a time
//! zone (`[policy.window]`), e.g. business hours where the users are.
//!
//! Outside the window the wrapped policy is not consulted: it issues no
//! instruction and its analyses see no scrapes; hosts already moving finish
//! their move, and virtual time (pauses, bakes) keeps running. An abort
//! that has begun is never held back by the window: once the wrapped policy
//! has aborted it is consulted every tick until it finishes. Each opening and
//! closing is a row of the audit log.

use super::spec::Context;
use super::{Action, Milestones, Observation, Policy};
use crate::located::{Checker, LocatedError as ScenarioError};
use crate::time::SimDuration;
use serde::{Deserialize, Serialize};

// ---- as written -------------------------------------------------------------

/// `[policy.window]`: when the rollout may act.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawWindow {
    pub days: Option<Vec<String>>,
    pub start_hour: f64,
    pub end_hour: f64,
    pub utc_offset_h: Option<f64>,
    pub start_hour_utc: Option<f64>,
    pub start_weekday: Option<String>,
}

// ---- validated ---------------------------------------------------------------

/// Allowed hours and days, in a time zone. Outside them the policy waits.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeployWindow {
    /// Local days the window opens on (`mon` … `sun`).
    #[serde(serialize_with = "day_names")]
    pub days: [bool; 7],
    /// Local hour it opens, in [0, 24).
    pub start_hour: f64,
    /// Local hour it closes, in (0, 24]; at or before `start_hour`: the
    /// window runs over midnight into the next day.
    pub end_hour: f64,
    /// The window's time zone, hours from UTC.
    pub utc_offset_h: f64,
    /// UTC hour at simulated time zero (default: the traffic's).
    pub start_hour_utc: f64,
    /// UTC weekday at simulated time zero, 0 = Monday (default: the traffic's).
    #[serde(serialize_with = "day_name")]
    pub start_weekday: u8,
}

/// Days as scenario files write them.
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
/// Days as the audit log prints them.
const DAY_LABELS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

fn day_names<S: serde::Serializer>(days: &[bool; 7], s: S) -> Result<S::Ok, S::Error> {
    let v: Vec<&str> = (0..7).filter(|d| days[*d]).map(|d| DAYS[d]).collect();
    v.serialize(s)
}

fn day_name<S: serde::Serializer>(d: &u8, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(DAYS[*d as usize % 7])
}

impl DeployWindow {
    /// Local (day of week 0 = Monday, hour) at `t_ms` into the run.
    pub fn local(&self, t_ms: u64) -> (u8, f64) {
        let hours = self.start_hour_utc + self.utc_offset_h + t_ms as f64 / 3_600_000.0;
        let day = (hours / 24.0).floor() as i64 + self.start_weekday as i64;
        (day.rem_euclid(7) as u8, hours.rem_euclid(24.0))
    }

    /// Whether the window is open at `t_ms` into the run.
    pub fn is_open(&self, t_ms: u64) -> bool {
        let (day, hour) = self.local(t_ms);
        if self.start_hour < self.end_hour {
            self.days[day as usize] && hour >= self.start_hour && hour < self.end_hour
        } else {
            let yesterday = (day as usize + 6) % 7;
            (self.days[day as usize] && hour >= self.start_hour)
                || (self.days[yesterday] && hour < self.end_hour)
        }
    }
}

impl RawWindow {
    pub(super) fn validate(
        &self,
        c: &Checker<'_>,
        ctx: &Context<'_>,
    ) -> Result<DeployWindow, ScenarioError> {
        let f = |k: &str| format!("policy.window.{k}");
        let day = |field: &str, s: &str| -> Result<u8, ScenarioError> {
            DAYS.iter()
                .position(|d| d.eq_ignore_ascii_case(s.trim()))
                .map(|d| d as u8)
                .ok_or_else(|| {
                    c.err(
                        field,
                        format!("unknown day \"{s}\"; write mon, tue, wed, thu, fri, sat or sun"),
                    )
                })
        };
        let mut days = [false; 7];
        match &self.days {
            None => days = [true; 7],
            Some(list) => {
                if list.is_empty() {
                    return Err(c.err(&f("days"), "the window must open on at least one day"));
                }
                for d in list {
                    days[day(&f("days"), d)? as usize] = true;
                }
            }
        }
        if !(0.0..24.0).contains(&self.start_hour) {
            return Err(c.err(
                &f("start_hour"),
                format!("must be a local hour in [0, 24), got {}", self.start_hour),
            ));
        }
        if !(self.end_hour > 0.0 && self.end_hour <= 24.0) {
            return Err(c.err(
                &f("end_hour"),
                format!("must be a local hour in (0, 24], got {}", self.end_hour),
            ));
        }
        let utc = self.utc_offset_h.unwrap_or(0.0);
        if !(-12.0..=14.0).contains(&utc) {
            return Err(c.err(
                &f("utc_offset_h"),
                format!("must be a UTC offset in hours from -12 to 14, got {utc}"),
            ));
        }
        let start_hour_utc = self.start_hour_utc.unwrap_or(ctx.traffic.start_hour_utc);
        if !(0.0..24.0).contains(&start_hour_utc) {
            return Err(c.err(
                &f("start_hour_utc"),
                format!("must be an hour in [0, 24), got {start_hour_utc}"),
            ));
        }
        let start_weekday = match &self.start_weekday {
            None => ctx.traffic.start_weekday,
            Some(s) => day(&f("start_weekday"), s)?,
        };
        Ok(DeployWindow {
            days,
            start_hour: self.start_hour,
            end_hour: self.end_hour,
            utc_offset_h: utc,
            start_hour_utc,
            start_weekday,
        })
    }
}

// ---- the state machine -------------------------------------------------------

/// A policy behind a deploy window.
pub struct Windowed {
    window: DeployWindow,
    inner: Box<dyn Policy + Send>,
    open: Option<bool>,
}

impl Windowed {
    pub fn new(window: DeployWindow, inner: Box<dyn Policy + Send>) -> Self {
        Windowed {
            window,
            inner,
            open: None,
        }
    }
}

impl Policy for Windowed {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    fn min_ready(&self) -> SimDuration {
        self.inner.min_ready()
    }

    fn milestones(&self) -> Milestones {
        self.inner.milestones()
    }

    fn decide(&mut self, obs: &Observation<'_>, out: &mut Vec<Action>) {
        let open = self.window.is_open(obs.now.as_millis());
        if self.open != Some(open) {
            self.open = Some(open);
            let (day, hour) = self.window.local(obs.now.as_millis());
            let h = hour.floor();
            out.push(Action::Note {
                step: "deploy-window".into(),
                reason: format!(
                    "window {} ({} {:02}:{:02} at UTC{:+}; allowed {:02}:00–{:02}:00 local)",
                    if open {
                        "opens"
                    } else {
                        "closed: the rollout waits"
                    },
                    DAY_LABELS[day as usize],
                    h as u32,
                    ((hour - h) * 60.0).round() as u32 % 60,
                    self.window.utc_offset_h,
                    self.window.start_hour as u32,
                    self.window.end_hour as u32
                ),
            });
        }
        if open || self.inner.milestones().aborted_at.is_some() {
            self.inner.decide(obs, out);
        }
    }
}
