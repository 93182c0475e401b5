//! Fault schedules: which fault hits what, and when, drawn from the seed.
//!
//! ```text
//!   [[live.chaos]] entries ──▶ FaultSpec ──schedule(seed)──▶ Vec<Fault>, sorted by time
//!   (scenario::live validates)  (times given or            (the same list for a seed,
//!                                left to the seed)           in the simulator and live)
//! ```
//!
//! A spec names a fault kind and optionally its time and target; what it
//! leaves open is drawn from the `faults` stream, keyed by the spec's index
//! ([`Streams::keyed`], in a key range of its own), so adding a fault to a scenario never moves the
//! others, and one seed gives one fault timeline wherever it is replayed.
//! Targets are *positions*, not container ids: replica `k` of a role is its
//! `k`-th live replica when the fault fires, zone `z` its `z`-th zone (the
//! "host group" whose containers crash or restart together).

use crate::rng::Streams;
use crate::time::{SimDuration, SimTime};
use serde::Serialize;

/// What a fault does to its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// `kill -9` one replica.
    Kill,
    /// SIGTERM one replica (it shuts down as its version does).
    Sigterm,
    /// Freeze one replica for `duration` (requests hang).
    Pause,
    /// Cut one replica off the network for `duration` (connections refused).
    NetworkCut,
    /// Every replica of one host group (zone) dies at once.
    HostCrash,
    /// Every replica of one host group restarts (a Docker daemon upgrade).
    DaemonUpgrade,
}

impl FaultKind {
    /// Every kind, in the order scenario files document them.
    pub const ALL: [FaultKind; 6] = [
        FaultKind::Kill,
        FaultKind::Sigterm,
        FaultKind::Pause,
        FaultKind::NetworkCut,
        FaultKind::HostCrash,
        FaultKind::DaemonUpgrade,
    ];

    /// The name scenario files use.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::Kill => "kill",
            FaultKind::Sigterm => "sigterm",
            FaultKind::Pause => "pause",
            FaultKind::NetworkCut => "network-cut",
            FaultKind::HostCrash => "host-crash",
            FaultKind::DaemonUpgrade => "daemon-upgrade",
        }
    }

    /// Parses a name written by [`FaultKind::as_str`].
    pub fn parse(s: &str) -> Option<FaultKind> {
        FaultKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether the fault hits a whole host group rather than one replica.
    pub fn is_group(self) -> bool {
        matches!(self, FaultKind::HostCrash | FaultKind::DaemonUpgrade)
    }

    /// Whether the fault lasts (and `duration` applies).
    pub fn has_duration(self) -> bool {
        matches!(self, FaultKind::Pause | FaultKind::NetworkCut)
    }
}

/// One fault as a scenario asks for it.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultSpec {
    pub kind: FaultKind,
    /// When it fires; `None`: drawn uniformly from `window`.
    pub at: Option<SimDuration>,
    /// `[from, to)` for a drawn time.
    pub window: (SimDuration, SimDuration),
    /// Index of the role it hits.
    pub role: usize,
    /// Which live replica of the role (single-replica kinds); `None`: drawn.
    pub replica: Option<u32>,
    /// Which zone of the role (group kinds); `None`: drawn.
    pub zone: Option<u32>,
    /// How long a pause or network cut lasts.
    pub duration: SimDuration,
}

/// What a fault hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultTarget {
    /// The role's `n`-th live replica (by replica index) when it fires.
    Replica(u32),
    /// Every replica of the role's `n`-th zone.
    Zone(u32),
}

/// One scheduled fault.
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    pub at: SimTime,
    pub kind: FaultKind,
    pub role: usize,
    pub target: FaultTarget,
    pub duration: SimDuration,
    /// Index of the spec it came from.
    pub spec: usize,
}

/// The part of the `faults` stream's key space chaos specs draw from (the
/// high bits spell "chaos"), apart from the keys of the simulator's fault
/// rules.
const CHAOS_KEYS: u64 = 0xC4A0_5000_0000_0000;

/// The size of a role as far as targets go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoleShape {
    pub replicas: u32,
    pub zones: u32,
}

/// The shape of every role of a fleet: its hosts are the replicas, its
/// zones the host groups.
pub fn role_shapes(fleet: &crate::fleet::Fleet) -> Vec<RoleShape> {
    fleet
        .roles
        .iter()
        .map(|r| RoleShape {
            replicas: r.hosts,
            zones: r.zones.len() as u32,
        })
        .collect()
}

/// Draws every open choice of `specs` from the seed's `faults` stream and
/// returns the faults sorted by time (ties by spec order). Specs naming a
/// role that is not in `roles` are skipped (validation rejects them first).
pub fn schedule(seed: u64, specs: &[FaultSpec], roles: &[RoleShape]) -> Vec<Fault> {
    let streams = Streams::new(seed);
    let mut out = Vec::with_capacity(specs.len());
    for (i, s) in specs.iter().enumerate() {
        let Some(shape) = roles.get(s.role) else {
            continue;
        };
        let mut rng = streams.keyed("faults", CHAOS_KEYS | i as u64);
        // Draw in a fixed order whatever is given, so filling in one field
        // of a spec does not change the draws of the others.
        let (from, to) = (s.window.0.as_millis(), s.window.1.as_millis());
        let span = to.saturating_sub(from);
        let drawn_at = from + if span > 0 { rng.below(span) } else { 0 };
        let drawn_replica = rng.below(u64::from(shape.replicas.max(1))) as u32;
        let drawn_zone = rng.below(u64::from(shape.zones.max(1))) as u32;
        let at = s.at.map_or(drawn_at, |d| d.as_millis());
        let target = if s.kind.is_group() {
            FaultTarget::Zone(s.zone.unwrap_or(drawn_zone))
        } else {
            FaultTarget::Replica(s.replica.unwrap_or(drawn_replica))
        };
        out.push(Fault {
            at: SimTime::from_millis(at),
            kind: s.kind,
            role: s.role,
            target,
            duration: if s.kind.has_duration() {
                s.duration
            } else {
                SimDuration::ZERO
            },
            spec: i,
        });
    }
    out.sort_by_key(|f| (f.at, f.spec));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: FaultKind) -> FaultSpec {
        FaultSpec {
            kind,
            at: None,
            window: (SimDuration::from_secs(10), SimDuration::from_secs(70)),
            role: 0,
            replica: None,
            zone: None,
            duration: SimDuration::from_secs(5),
        }
    }

    const ROLES: [RoleShape; 1] = [RoleShape {
        replicas: 3,
        zones: 2,
    }];

    #[test]
    fn one_seed_one_timeline() {
        let specs = [spec(FaultKind::Kill), spec(FaultKind::HostCrash)];
        let a = schedule(7, &specs, &ROLES);
        assert_eq!(a, schedule(7, &specs, &ROLES));
        assert_ne!(a, schedule(8, &specs, &ROLES));
        for f in &a {
            assert!(f.at >= SimTime::from_millis(10_000) && f.at < SimTime::from_millis(70_000));
        }
        assert!(matches!(
            a.iter().find(|f| f.kind == FaultKind::HostCrash).unwrap().target,
            FaultTarget::Zone(z) if z < 2
        ));
        assert!(matches!(
            a.iter().find(|f| f.kind == FaultKind::Kill).unwrap().target,
            FaultTarget::Replica(r) if r < 3
        ));
    }

    #[test]
    fn adding_a_fault_does_not_move_the_others() {
        let one = schedule(3, &[spec(FaultKind::Kill)], &ROLES);
        let two = schedule(3, &[spec(FaultKind::Kill), spec(FaultKind::Pause)], &ROLES);
        let kill = two.iter().find(|f| f.spec == 0).unwrap();
        assert_eq!(&one[0], kill);
    }

    #[test]
    fn given_fields_win_and_output_is_sorted() {
        let mut a = spec(FaultKind::Pause);
        a.at = Some(SimDuration::from_secs(30));
        a.replica = Some(1);
        let mut b = spec(FaultKind::Kill);
        b.at = Some(SimDuration::from_secs(20));
        let s = schedule(1, &[a, b], &ROLES);
        assert_eq!(s[0].at, SimTime::from_millis(20_000));
        assert_eq!(s[0].duration, SimDuration::ZERO);
        assert_eq!(s[1].target, FaultTarget::Replica(1));
        assert_eq!(s[1].duration, SimDuration::from_secs(5));
        assert_eq!(FaultKind::parse("network-cut"), Some(FaultKind::NetworkCut));
        assert_eq!(FaultKind::parse("reboot"), None);
    }
}
