//! Virtual time.
//!
//! Time in the simulator is an integer count of milliseconds since the start of
//! the run ([`SimTime`]); spans are [`SimDuration`]. Nothing in `sim/` reads a
//! clock: the engine owns "now" and passes it to whoever needs it. Floats never
//! carry time, so two runs cannot drift apart on rounding.
//!
//! Human durations (`15s`, `13m`, `1h30m`, `14d`, `250ms`) parse with
//! [`SimDuration::parse`] and print back in the same form.

use std::fmt;
use std::ops::{Add, AddAssign, Sub};

/// A point in virtual time: milliseconds since the start of the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimTime(u64);

/// A span of virtual time in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimDuration(u64);

impl SimTime {
    pub const ZERO: SimTime = SimTime(0);

    pub const fn from_millis(ms: u64) -> Self {
        SimTime(ms)
    }
    pub const fn as_millis(self) -> u64 {
        self.0
    }
    /// Whole seconds since the start (truncated).
    pub const fn as_secs(self) -> u64 {
        self.0 / 1000
    }
    /// Seconds as a float, for reports only.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }
    pub fn saturating_since(self, earlier: SimTime) -> SimDuration {
        SimDuration(self.0.saturating_sub(earlier.0))
    }
}

impl SimDuration {
    pub const ZERO: SimDuration = SimDuration(0);

    pub const fn from_millis(ms: u64) -> Self {
        SimDuration(ms)
    }
    pub const fn from_secs(s: u64) -> Self {
        SimDuration(s * 1000)
    }
    pub const fn from_mins(m: u64) -> Self {
        SimDuration(m * 60_000)
    }
    pub const fn from_hours(h: u64) -> Self {
        SimDuration(h * 3_600_000)
    }
    pub const fn as_millis(self) -> u64 {
        self.0
    }
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }
    /// Rounds a float number of milliseconds (e.g. a sampled restart time) to
    /// the nearest millisecond; negative values clamp to zero.
    pub fn from_millis_f64(ms: f64) -> Self {
        if ms.is_finite() && ms > 0.0 {
            // `ms.round() as u64` without the call to libm's `round` (the
            // baseline x86-64 target has no rounding instruction; it cost 4 %
            // of the event kernel). Exact: the truncation is exact, and so is
            // the fraction left (ms is whole from 2^52 up, the fraction 0).
            // Past u64::MAX both saturate.
            let whole = ms as u64;
            let up = ms - whole as f64 >= 0.5;
            SimDuration(whole.saturating_add(up as u64))
        } else {
            SimDuration(0)
        }
    }

    /// Parses a human duration: one or more `<integer><unit>` groups with units
    /// `ms`, `s`, `m`, `h`, `d`, `w` (e.g. `15s`, `1h30m`, `14d`). `0` alone is
    /// accepted as zero.
    pub fn parse(text: &str) -> Result<SimDuration, String> {
        let s = text.trim();
        if s == "0" {
            return Ok(SimDuration(0));
        }
        if s.is_empty() {
            return Err("empty duration; write e.g. \"15s\", \"13m\", \"1h30m\", \"14d\"".into());
        }
        let bytes = s.as_bytes();
        let mut i = 0;
        let mut total: u64 = 0;
        while i < bytes.len() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            if start == i {
                return Err(format!(
                    "`{s}` is not a duration: expected a number at `{}`; write e.g. \"15s\", \"13m\", \"1h30m\", \"14d\"",
                    &s[start..]
                ));
            }
            let n: u64 = s[start..i]
                .parse()
                .map_err(|_| format!("`{s}`: number too large"))?;
            let ustart = i;
            while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
                i += 1;
            }
            let unit_ms: u64 = match &s[ustart..i] {
                "ms" => 1,
                "s" => 1_000,
                "m" => 60_000,
                "h" => 3_600_000,
                "d" => 86_400_000,
                "w" => 7 * 86_400_000,
                "" => {
                    return Err(format!(
                        "`{s}` has a number without a unit; units are ms, s, m, h, d, w (e.g. \"{n}s\")"
                    ))
                }
                other => {
                    return Err(format!(
                        "`{s}` has unknown unit `{other}`; units are ms, s, m, h, d, w"
                    ))
                }
            };
            total = n
                .checked_mul(unit_ms)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(|| format!("`{s}` is too long a duration"))?;
        }
        Ok(SimDuration(total))
    }
}

impl fmt::Display for SimDuration {
    /// Prints the shortest exact human form: `15s`, `1h30m`, `14d`, `250ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.0;
        if ms == 0 {
            return f.write_str("0s");
        }
        for (unit, size) in [
            ("d", 86_400_000u64),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1_000),
            ("ms", 1),
        ] {
            if ms >= size {
                write!(f, "{}{}", ms / size, unit)?;
                ms %= size;
            }
        }
        Ok(())
    }
}

impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t+{}", SimDuration(self.0))
    }
}

impl Add<SimDuration> for SimTime {
    type Output = SimTime;
    fn add(self, d: SimDuration) -> SimTime {
        SimTime(self.0.saturating_add(d.0))
    }
}

impl AddAssign<SimDuration> for SimTime {
    fn add_assign(&mut self, d: SimDuration) {
        self.0 = self.0.saturating_add(d.0);
    }
}

impl Sub<SimTime> for SimTime {
    type Output = SimDuration;
    fn sub(self, other: SimTime) -> SimDuration {
        SimDuration(self.0.saturating_sub(other.0))
    }
}

impl Add for SimDuration {
    type Output = SimDuration;
    fn add(self, o: SimDuration) -> SimDuration {
        SimDuration(self.0.saturating_add(o.0))
    }
}

impl serde::Serialize for SimDuration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for SimDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        SimDuration::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::{any, prop_assert_eq, proptest};

    /// The same as the rounding it replaced, for every float.
    fn reference(ms: f64) -> u64 {
        if ms.is_finite() && ms > 0.0 {
            ms.round() as u64
        } else {
            0
        }
    }

    #[test]
    fn rounding_of_float_millis_at_the_edges() {
        let edges = [
            0.0,
            -0.0,
            0.49999999999999994,
            0.5,
            1.5,
            2.5,
            4503599627370495.5, // 2^52 - 0.5: the last half
            4503599627370497.0,
            9007199254740993.0,
            1.8446744073709552e19, // 2^64
            f64::MAX,
            f64::MIN_POSITIVE,
            f64::INFINITY,
            f64::NAN,
            -3.7,
        ];
        for ms in edges {
            assert_eq!(SimDuration::from_millis_f64(ms).0, reference(ms), "{ms:e}");
        }
    }

    proptest! {
        #[test]
        fn rounding_of_float_millis_matches_f64_round(bits in any::<u64>(), small in 0.0f64..1e7) {
            let ms = f64::from_bits(bits);
            prop_assert_eq!(SimDuration::from_millis_f64(ms).0, reference(ms));
            prop_assert_eq!(SimDuration::from_millis_f64(small).0, reference(small));
            let half = small.trunc() + 0.5;
            prop_assert_eq!(SimDuration::from_millis_f64(half).0, reference(half));
        }
    }

    #[test]
    fn parses_and_prints_human_durations() {
        for (text, ms) in [
            ("15s", 15_000),
            ("13m", 780_000),
            ("14d", 1_209_600_000),
            ("1h30m", 5_400_000),
            ("250ms", 250),
            ("2w", 1_209_600_000),
            ("0", 0),
        ] {
            assert_eq!(SimDuration::parse(text), Ok(SimDuration(ms)), "{text}");
        }
        assert_eq!(SimDuration(5_400_000).to_string(), "1h30m");
        assert_eq!(SimDuration(1_209_600_000).to_string(), "14d");
        assert_eq!(SimDuration(1_500).to_string(), "1s500ms");
    }

    #[test]
    fn rejects_bad_durations_with_a_hint() {
        for bad in ["", "15", "s", "15x", "1.5h", "-3s"] {
            let err = SimDuration::parse(bad).unwrap_err();
            assert!(err.contains('s'), "{bad}: {err}");
        }
    }
}
