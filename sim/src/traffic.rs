//! Traffic: how many requests arrive, when, and for which endpoints.
//!
//! A curve gives the offered rate (requests per second) at any simulated
//! time; the world turns it into a Poisson count per tick and role. Curves:
//!
//! - `constant` — `rps`.
//! - `diurnal` — a raised cosine per user region: `peak_rps` at `peak_hour`
//!   local time, `trough_ratio × peak_rps` twelve hours away. Each region has
//!   its own UTC offset and share of users, so a fleet serving Europe and the
//!   Americas has two humps, and a release at 10:00 in San Francisco lands in
//!   Europe's evening (the canary-in-the-wrong-time-zone story).
//! - `replay` — a recorded `(time_s, rps)` series, linearly interpolated and
//!   optionally repeated (e.g. `fixtures/traffic/week-diurnal.csv`).
//!
//! On top of any curve: a weekly pattern (`weekend_factor`) and spikes
//! (`× factor` from `at` for `duration`). The endpoint mix splits requests over
//! endpoints with their own share, success rate and latency, so analysis can
//! weigh rarely-called endpoints (seed 003).

use crate::time::SimDuration;
use serde::Serialize;

/// One user region of a diurnal curve.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Region {
    pub name: String,
    /// Hours from UTC.
    pub utc_offset_h: f64,
    /// Share of the users (normalised over regions).
    pub share: f64,
}

/// The shape of the offered rate over time.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "curve", rename_all = "kebab-case")]
pub enum Curve {
    Constant {
        rps: f64,
    },
    Diurnal {
        peak_rps: f64,
        trough_ratio: f64,
        /// Local hour of the daily peak.
        peak_hour: f64,
        regions: Vec<Region>,
    },
    Replay {
        /// The CSV file (`time_s,rps`), as written in the scenario.
        file: String,
        /// Multiplies every rate.
        scale: f64,
        /// Start over after the last point (otherwise hold the last rate).
        repeat: bool,
        #[serde(skip)]
        points: Vec<(f64, f64)>,
    },
}

/// A burst: the rate is multiplied by `factor` from `at` for `duration`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Spike {
    pub at: SimDuration,
    pub duration: SimDuration,
    pub factor: f64,
}

/// One endpoint of the service: its share of requests, the success rate of
/// the old version, and its latency distribution (log-normal by p50 and p99).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Endpoint {
    pub name: String,
    pub share: f64,
    pub success_rate: f64,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    /// Weight in a weighted success rate (analysis); default: its share.
    pub weight: f64,
}

impl Endpoint {
    /// `(μ, σ)` of ln(latency in ms).
    pub fn lognormal(&self) -> (f64, f64) {
        let mu = self.latency_p50_ms.max(1e-3).ln();
        let sigma =
            ((self.latency_p99_ms / self.latency_p50_ms).max(1.0)).ln() / 2.326_347_874_040_840_8;
        (mu, sigma)
    }
}

/// Offered traffic over time.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Traffic {
    #[serde(flatten)]
    pub curve: Curve,
    /// UTC hour at simulated time zero.
    pub start_hour_utc: f64,
    /// Day of the week at time zero, 0 = Monday.
    #[serde(serialize_with = "weekday_name")]
    pub start_weekday: u8,
    /// Multiplies the rate on Saturdays and Sundays (UTC days).
    pub weekend_factor: f64,
    pub spikes: Vec<Spike>,
    /// Empty: one implicit endpoint, always successful, latency not modelled.
    pub endpoints: Vec<Endpoint>,
}

impl Traffic {
    /// The highest rate of the base curve (spikes excluded): sizes capacity.
    pub fn peak_rps(&self) -> f64 {
        match &self.curve {
            Curve::Constant { rps } => *rps,
            Curve::Diurnal { peak_rps, .. } => *peak_rps,
            Curve::Replay { scale, points, .. } => {
                points.iter().map(|p| p.1).fold(0.0, f64::max) * scale
            }
        }
    }

    /// An upper bound of [`Traffic::rps_at`] over the whole run: the peak of
    /// the base curve times a weekend factor above 1 and every spike factor
    /// above 1 (as if all spikes overlapped). Bounds the counts a run can
    /// reach at validation.
    pub fn rps_upper_bound(&self) -> f64 {
        let weekend = self.weekend_factor.max(1.0);
        self.spikes
            .iter()
            .fold(self.peak_rps() * weekend, |r, s| r * s.factor.max(1.0))
    }

    /// Offered requests per second at `t_s` seconds into the run.
    pub fn rps_at(&self, t_s: f64) -> f64 {
        let base = match &self.curve {
            Curve::Constant { rps } => *rps,
            Curve::Diurnal {
                peak_rps,
                trough_ratio,
                peak_hour,
                regions,
            } => {
                let mut total = 0.0;
                for r in regions {
                    let local_h =
                        (self.start_hour_utc + r.utc_offset_h + t_s / 3600.0).rem_euclid(24.0);
                    let phase = (local_h - peak_hour) / 24.0 * std::f64::consts::TAU;
                    let shape = 0.5 * (1.0 + phase.cos()); // 1 at the peak, 0 at the trough
                    total += r.share * peak_rps * (trough_ratio + (1.0 - trough_ratio) * shape);
                }
                total
            }
            Curve::Replay {
                scale,
                repeat,
                points,
                ..
            } => scale * interpolate(points, t_s, *repeat),
        };
        let mut rate = base;
        if self.weekend_factor != 1.0 {
            let day = ((self.start_hour_utc * 3600.0 + t_s) / 86_400.0).floor() as i64
                + self.start_weekday as i64;
            if day.rem_euclid(7) >= 5 {
                rate *= self.weekend_factor;
            }
        }
        for s in &self.spikes {
            let at = s.at.as_secs_f64();
            if t_s >= at && t_s < at + s.duration.as_secs_f64() {
                rate *= s.factor;
            }
        }
        rate
    }
}

fn weekday_name<S: serde::Serializer>(d: &u8, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(["mon", "tue", "wed", "thu", "fri", "sat", "sun"][*d as usize % 7])
}

fn interpolate(points: &[(f64, f64)], t: f64, repeat: bool) -> f64 {
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return 0.0;
    };
    let mut t = t + first.0;
    if repeat && points.len() > 1 {
        let step = points[1].0 - points[0].0;
        let period = last.0 - first.0 + step;
        t = first.0 + (t - first.0).rem_euclid(period);
        if t > last.0 {
            // Between the last point and the wrap-around: blend back to the first.
            let f = (t - last.0) / step;
            return last.1 + f * (first.1 - last.1);
        }
    }
    if t <= first.0 {
        return first.1;
    }
    if t >= last.0 {
        return last.1;
    }
    let i = points.partition_point(|p| p.0 <= t);
    let (a, b) = (points[i - 1], points[i]);
    a.1 + (b.1 - a.1) * (t - a.0) / (b.0 - a.0)
}

/// Parses a replay CSV (`time_s,rps` header, increasing times). Errors name
/// the line and column.
pub fn parse_replay_csv(text: &str) -> Result<Vec<(f64, f64)>, (usize, usize, String)> {
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, h)) if h.trim().trim_start_matches('\u{feff}') == "time_s,rps" => {}
        Some((_, h)) => {
            return Err((
                1,
                1,
                format!("the header must be `time_s,rps`, found `{}`", h.trim()),
            ))
        }
        None => {
            return Err((
                1,
                1,
                "the file is empty; expected a `time_s,rps` header".into(),
            ))
        }
    }
    let mut points: Vec<(f64, f64)> = Vec::new();
    for (i, line) in lines {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let mut cols = line.split(',');
        let (Some(t), Some(r), None) = (cols.next(), cols.next(), cols.next()) else {
            return Err((
                n,
                1,
                format!("expected two columns `time_s,rps`, found `{line}`"),
            ));
        };
        let t: f64 = t
            .trim()
            .parse()
            .map_err(|_| (n, 1, format!("time_s `{}` is not a number", t.trim())))?;
        let r: f64 = r.trim().parse().map_err(|_| {
            (
                n,
                line.find(',').unwrap_or(0) + 2,
                format!("rps `{}` is not a number", r.trim()),
            )
        })?;
        if !(r.is_finite() && r >= 0.0) {
            return Err((
                n,
                line.find(',').unwrap_or(0) + 2,
                format!("rps must be ≥ 0, got {r}"),
            ));
        }
        if let Some(prev) = points.last() {
            if t <= prev.0 {
                return Err((n, 1, format!("time_s must increase: {t} after {}", prev.0)));
            }
        }
        points.push((t, r));
    }
    if points.len() < 2 {
        return Err((1, 1, "a replay needs at least two rows".into()));
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diurnal(regions: Vec<Region>) -> Traffic {
        Traffic {
            curve: Curve::Diurnal {
                peak_rps: 1000.0,
                trough_ratio: 0.2,
                peak_hour: 20.0,
                regions,
            },
            start_hour_utc: 0.0,
            start_weekday: 0,
            weekend_factor: 1.0,
            spikes: vec![],
            endpoints: vec![],
        }
    }

    fn region(off: f64, share: f64) -> Region {
        Region {
            name: format!("utc{off}"),
            utc_offset_h: off,
            share,
        }
    }

    #[test]
    fn diurnal_peaks_at_the_local_peak_hour() {
        let t = diurnal(vec![region(1.0, 1.0)]);
        // 20:00 local = 19:00 UTC
        assert!((t.rps_at(19.0 * 3600.0) - 1000.0).abs() < 1e-9);
        assert!((t.rps_at(7.0 * 3600.0) - 200.0).abs() < 1e-9);
    }

    #[test]
    fn two_regions_sum_by_share() {
        let t = diurnal(vec![region(1.0, 0.5), region(-8.0, 0.5)]);
        // At 19:00 UTC Europe peaks (1000) and California is at 11:00 (9 h off peak).
        let ca = 0.2 + 0.8 * 0.5 * (1.0 + (-9.0f64 / 24.0 * std::f64::consts::TAU).cos());
        let want = 0.5 * 1000.0 + 0.5 * 1000.0 * ca;
        assert!((t.rps_at(19.0 * 3600.0) - want).abs() < 1e-6);
    }

    #[test]
    fn weekends_and_spikes_multiply() {
        let mut t = diurnal(vec![region(0.0, 1.0)]);
        t.curve = Curve::Constant { rps: 100.0 };
        t.weekend_factor = 0.5;
        t.spikes.push(Spike {
            at: SimDuration::from_hours(1),
            duration: SimDuration::from_mins(20),
            factor: 3.0,
        });
        assert_eq!(t.rps_at(0.0), 100.0);
        assert_eq!(t.rps_at(3600.0 + 60.0), 300.0);
        assert_eq!(t.rps_at(3600.0 + 20.0 * 60.0), 100.0);
        assert_eq!(t.rps_at(5.0 * 86400.0 + 10.0), 50.0, "Saturday");
    }

    #[test]
    fn replay_interpolates_and_repeats() {
        let pts = parse_replay_csv("time_s,rps\n0,100\n60,200\n120,100\n").unwrap();
        assert_eq!(interpolate(&pts, 30.0, false), 150.0);
        assert_eq!(interpolate(&pts, 500.0, false), 100.0);
        // period 180 s: 210 s is 30 s in again
        assert_eq!(interpolate(&pts, 210.0, true), 150.0);
        let e = parse_replay_csv("time_s,rps\n0,100\n60,abc\n").unwrap_err();
        assert_eq!((e.0, e.1), (3, 4));
        assert!(parse_replay_csv("t,r\n").unwrap_err().2.contains("header"));
    }
}
