//! Restart policies: what happens to a container that crashed.
//!
//! `[fleet.restart]` gives every role one policy, with the semantics of the
//! kubelet's `CrashLoopBackOff` (and, with `delay_first_restart`, of the
//! Docker daemon's restart manager and Swarm's restart delay):
//!
//! ```text
//!   crash at t ─▶ policy "no" (or max_restarts used up)   stays down
//!              └▶ no back-off entry, or the container ran     restart at once,
//!                 longer than reset_after since its last       entry := backoff
//!                 restart                                    
//!              └▶ otherwise                                   wait the entry's
//!                                                             back-off, then
//!                                                             restart; entry :=
//!                                                             min(2 × it, max)
//! ```
//!
//! Ported from `k8s.io/client-go/util/flowcontrol/backoff.go` (`Next`,
//! `IsInBackOffSince`, `hasExpired`; kubernetes/kubernetes at 5667ebd4) as
//! the kubelet uses it in `kuberuntime`'s `doBackOff`: the first crash
//! restarts at once and creates the entry; each later crash waits the
//! entry's back-off (measured from the crash) and doubles it up to the
//! maximum; a container that ran more than `reset_after` (the kubelet's
//! `2 × max`, 10 min) since its last restart starts again from the
//! beginning. Docker's restart manager (moby/moby
//! `restartmanager/restartmanager.go` at 2454e42e) waits before every
//! restart, the first one included (`delay_first_restart = true`), and
//! counts restarts against `MaximumRetryCount` for `on-failure` only.
//!
//! A pure state machine: time is passed in, no randomness (the kubelet's
//! jitter is off by default and not modelled).

use crate::time::{SimDuration, SimTime};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Which crashed containers are restarted (Docker's `--restart`, Swarm's
/// `--restart-condition`, a pod's `restartPolicy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartKind {
    /// Never: a crashed container stays down.
    No,
    /// After a failure (every crash the simulator models is one), up to
    /// `max_restarts` times.
    OnFailure,
    /// Always, without a limit.
    Always,
}

impl RestartKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RestartKind::No => "no",
            RestartKind::OnFailure => "on-failure",
            RestartKind::Always => "always",
        }
    }
}

/// A validated `[fleet.restart]`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RestartPolicy {
    pub policy: RestartKind,
    /// The first back-off (kubelet: 10 s; Docker: 100 ms).
    pub backoff: SimDuration,
    /// The back-off stops doubling here (kubelet: 5 min; Docker: 1 min).
    pub max_backoff: SimDuration,
    /// A container that ran longer than this since its last restart starts
    /// over at `backoff` (kubelet: 2 × `max_backoff`; Docker: 10 s).
    pub reset_after: SimDuration,
    /// `on-failure` only: restarts allowed per host (Docker's
    /// `MaximumRetryCount`); `None`: no limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_restarts: Option<u32>,
    /// Wait the back-off before the first restart too (Docker, Swarm);
    /// the kubelet restarts the first crash at once.
    pub delay_first_restart: bool,
}

impl RestartPolicy {
    /// The kubelet's defaults: on-failure, 10 s doubling to 5 min, reset
    /// after 10 min.
    pub fn kubelet() -> Self {
        RestartPolicy {
            policy: RestartKind::OnFailure,
            backoff: SimDuration::from_secs(10),
            max_backoff: SimDuration::from_mins(5),
            reset_after: SimDuration::from_mins(10),
            max_restarts: None,
            delay_first_restart: false,
        }
    }
}

/// What the policy decided for one crash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Restart after waiting `after` (zero: at once); this is restart
    /// number `n` of the host since it arrived on its version.
    Restart { after: SimDuration, n: u32 },
    /// Stay down: the policy is `no`, or `max_restarts` are used up.
    GiveUp,
}

/// The back-off state of one container (the kubelet's `backoffEntry`, plus
/// Docker's restart count).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Backoff {
    /// The entry's back-off and when it was last updated (its restart);
    /// `None`: no entry yet.
    entry: Option<(SimDuration, SimTime)>,
    restarts: u32,
}

impl Backoff {
    /// The current back-off (the kubelet's `Get`; zero without an entry).
    pub fn get(&self) -> SimDuration {
        self.entry.map_or(SimDuration::ZERO, |(d, _)| d)
    }

    /// Restarts so far.
    pub fn restarts(&self) -> u32 {
        self.restarts
    }

    /// Whether the entry has expired at `t`: the container has been up for
    /// longer than `reset_after` since its last restart (`hasExpired`).
    fn expired(&self, p: &RestartPolicy, t: SimTime) -> bool {
        match self.entry {
            None => true,
            Some((_, last)) => t.saturating_since(last) > p.reset_after,
        }
    }

    /// A container crashed at `t`: restart it (after how long), or not.
    pub fn on_crash(&mut self, p: &RestartPolicy, t: SimTime) -> Decision {
        let allowed = match p.policy {
            RestartKind::No => false,
            RestartKind::Always => true,
            RestartKind::OnFailure => p.max_restarts.is_none_or(|m| self.restarts < m),
        };
        if !allowed {
            return Decision::GiveUp;
        }
        let after = if self.expired(p, t) {
            // The kubelet: not in back-off, restart now and start the entry.
            // Docker: the timeout starts over at its default and is waited.
            let wait = if p.delay_first_restart {
                p.backoff
            } else {
                SimDuration::ZERO
            };
            let next = if p.delay_first_restart {
                double(p.backoff, p.max_backoff)
            } else {
                p.backoff.min(p.max_backoff)
            };
            self.entry = Some((next, t + wait));
            wait
        } else {
            let (d, _) = self.entry.expect("not expired: an entry exists");
            self.entry = Some((double(d, p.max_backoff), t + d));
            d
        };
        self.restarts += 1;
        Decision::Restart {
            after,
            n: self.restarts,
        }
    }
}

/// Every host's crash-loop back-off and what the restart policy did over a
/// run (`summary.restarts`), per host of key `K` (the simulator's host id,
/// live mode's slot): the one place a crash is decided and counted.
#[derive(Clone, Debug)]
pub struct Restarts<K> {
    backoffs: BTreeMap<K, Backoff>,
    restarts: u64,
    looped: BTreeSet<K>,
    given_up: BTreeSet<K>,
    backoff_ms: u64,
}

impl<K: Ord> Default for Restarts<K> {
    fn default() -> Self {
        Restarts {
            backoffs: BTreeMap::new(),
            restarts: 0,
            looped: BTreeSet::new(),
            given_up: BTreeSet::new(),
            backoff_ms: 0,
        }
    }
}

impl<K: Ord + Copy> Restarts<K> {
    /// Host `k`'s container crashed at `t`: what `p` decides, counted (a
    /// back-off up to `end`, the run's end).
    pub fn on_crash(&mut self, k: K, p: &RestartPolicy, t: SimTime, end: SimTime) -> Decision {
        let d = self.backoffs.entry(k).or_default().on_crash(p, t);
        match d {
            Decision::Restart { after, .. } => {
                self.restarts += 1;
                if !after.is_zero() {
                    self.looped.insert(k);
                    self.backoff_ms += (t + after).min(end).saturating_since(t).as_millis();
                }
            }
            Decision::GiveUp => {
                self.given_up.insert(k);
            }
        }
        d
    }

    /// Host `k` runs a new container (another version, a replacement): its
    /// back-off starts over.
    pub fn forget(&mut self, k: &K) {
        self.backoffs.remove(k);
    }

    /// Restarts so far.
    pub fn restarts(&self) -> u64 {
        self.restarts
    }

    /// Distinct hosts that waited in a back-off at least once.
    pub fn hosts_in_crash_loop(&self) -> u64 {
        self.looped.len() as u64
    }

    /// Host-seconds waited in back-off within the run.
    pub fn backoff_host_s(&self) -> f64 {
        self.backoff_ms as f64 / 1000.0
    }

    /// Distinct hosts the policy left down.
    pub fn hosts_given_up(&self) -> u64 {
        self.given_up.len() as u64
    }
}

fn double(d: SimDuration, max: SimDuration) -> SimDuration {
    SimDuration::from_millis(d.as_millis().saturating_mul(2)).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_secs(s)
    }

    fn policy(backoff: u64, max: u64) -> RestartPolicy {
        RestartPolicy {
            backoff: SimDuration::from_secs(backoff),
            max_backoff: SimDuration::from_secs(max),
            reset_after: SimDuration::from_secs(2 * max),
            ..RestartPolicy::kubelet()
        }
    }

    /// kubernetes/kubernetes
    /// staging/src/k8s.io/client-go/util/flowcontrol/backoff_test.go at
    /// 04791b49, `TestSlowBackoff`: step 1 s, max 50 s, one `Next` per
    /// second; `Get` before each reads 0, 1, 2, 4, …, 32, 50, 50, 50.
    /// Here: a crash every second; the back-off the entry holds before each.
    #[test]
    fn slow_backoff_table() {
        let p = policy(1, 50);
        let mut b = Backoff::default();
        let want = [0u64, 1, 2, 4, 8, 16, 32, 50, 50, 50];
        let mut now = t(1);
        for (i, w) in want.iter().enumerate() {
            assert_eq!(b.get(), SimDuration::from_secs(*w), "crash {i}");
            // Each crash comes a second after the previous restart, far
            // inside `reset_after`, so the entry keeps doubling.
            if let Decision::Restart { after, .. } = b.on_crash(&p, now) {
                now += after + SimDuration::from_secs(1);
            }
        }
    }

    /// `TestIsInBackOffSinceUpdate` (same file): step 1 s, max 10 s. At each
    /// tick not in back-off the container restarts (`Next`); in back-off
    /// ticks report the back-off value. Replayed as crashes: a container
    /// that crashes again as soon as it is restarted is restarted at ticks
    /// 0, 1, 3, 7, 15, 25, 35 (delays 0, 1, 2, 4, 8, 10, 10), and one that
    /// has been up for 21 s > 2 × max (ticks 35 → 56) starts over: restarts
    /// at once, then 1 s later.
    #[test]
    fn is_in_backoff_since_update_table() {
        let p = policy(1, 10);
        let mut b = Backoff::default();
        let mut restarts = Vec::new();
        let mut now = t(0);
        for _ in 0..7 {
            match b.on_crash(&p, now) {
                Decision::Restart { after, .. } => now += after,
                Decision::GiveUp => panic!("on-failure without a limit gives up"),
            }
            restarts.push(now.as_secs_f64() as u64);
        }
        assert_eq!(restarts, vec![0, 1, 3, 7, 15, 25, 35]);
        assert_eq!(b.get(), SimDuration::from_secs(10), "capped at max");
        // Up from 35 to 56: expired, restart at once, entry back to 1 s.
        assert_eq!(
            b.on_crash(&p, t(56)),
            Decision::Restart {
                after: SimDuration::ZERO,
                n: 8
            }
        );
        assert_eq!(b.get(), SimDuration::from_secs(1));
        assert_eq!(
            b.on_crash(&p, t(57)),
            Decision::Restart {
                after: SimDuration::from_secs(1),
                n: 9
            }
        );
    }

    /// `TestBackoffReset` / `TestBackoffHighWaterMark`: at the maximum, a
    /// container up for 2 × max + 1 s is out of back-off; up for only
    /// max + 1 s it stays at the high-water mark.
    #[test]
    fn reset_and_high_water_mark() {
        let p = policy(1, 5);
        let mut b = Backoff::default();
        let mut last = t(0);
        for _ in 0..6 {
            if let Decision::Restart { after, .. } =
                b.on_crash(&p, last + SimDuration::from_secs(1))
            {
                last += SimDuration::from_secs(1) + after;
            }
        }
        assert_eq!(b.get(), SimDuration::from_secs(5));
        let mut high = b;
        // max + 1 s after the last restart: still in back-off, at the max.
        assert!(matches!(
            high.on_crash(&p, last + SimDuration::from_secs(6)),
            Decision::Restart { after, .. } if after == SimDuration::from_secs(5)
        ));
        // 2 × max + 1 s: expired, restart at once.
        assert!(matches!(
            b.on_crash(&p, last + SimDuration::from_secs(11)),
            Decision::Restart { after, .. } if after.is_zero()
        ));
    }

    /// moby/moby restartmanager/restartmanager_test.go at 25f60e03:
    /// `TestRestartManagerTimeout` — policy always, the first restart waits
    /// the default 100 ms; `TestRestartManagerTimeoutReset` — a timeout of
    /// 5 s goes back to 100 ms once the container ran for 10 s.
    #[test]
    fn docker_restart_manager_table() {
        let p = RestartPolicy {
            policy: RestartKind::Always,
            backoff: SimDuration::from_millis(100),
            max_backoff: SimDuration::from_mins(1),
            reset_after: SimDuration::from_millis(9_999),
            max_restarts: None,
            delay_first_restart: true,
        };
        let mut b = Backoff::default();
        assert_eq!(
            b.on_crash(&p, t(1)),
            Decision::Restart {
                after: SimDuration::from_millis(100),
                n: 1
            }
        );
        // Crash again at once: 200 ms, then 400 ms.
        let d = |b: &mut Backoff, at| match b.on_crash(&p, at) {
            Decision::Restart { after, .. } => after.as_millis(),
            Decision::GiveUp => u64::MAX,
        };
        let at = t(1) + SimDuration::from_millis(100);
        assert_eq!(d(&mut b, at), 200);
        let at = at + SimDuration::from_millis(200);
        assert_eq!(d(&mut b, at), 400);
        // Ran for 10 s (≥ Docker's 10 s; `reset_after` 9.999 s here because
        // the kubelet's comparison is strict): back to the default.
        let at = at + SimDuration::from_millis(400) + SimDuration::from_secs(10);
        assert_eq!(d(&mut b, at), 100);
    }

    #[test]
    fn no_and_max_restarts_give_up() {
        let mut p = RestartPolicy::kubelet();
        p.policy = RestartKind::No;
        assert_eq!(Backoff::default().on_crash(&p, t(0)), Decision::GiveUp);
        p.policy = RestartKind::OnFailure;
        p.max_restarts = Some(2);
        let mut b = Backoff::default();
        assert!(matches!(
            b.on_crash(&p, t(0)),
            Decision::Restart { n: 1, .. }
        ));
        assert!(matches!(
            b.on_crash(&p, t(1)),
            Decision::Restart { n: 2, .. }
        ));
        assert_eq!(b.on_crash(&p, t(30)), Decision::GiveUp);
        // `always` ignores the limit, as Docker's restart manager does.
        p.policy = RestartKind::Always;
        assert!(matches!(
            b.on_crash(&p, t(40)),
            Decision::Restart { n: 3, .. }
        ));
    }
}
