//! Invariants that must hold in every run, over generated scenarios
//! (`proptest`): fleets of one or two roles, in-place and replace changes,
//! drains, restart-time distributions and rolling limits.
//!
//! - hosts are conserved: every host is in exactly one state, and an
//!   in-place change neither adds nor loses hosts;
//! - requests are accounted: `requests = served + failed` in every tick;
//! - with no faults, no tick has more hosts out of service than the policy
//!   allows (`replicas − maxUnavailable` per role serve at every tick).
//!
//! A failing case proptest shrinks is kept in
//! `tests/invariants.proptest-regressions` (committed) and replayed first on
//! every later run.

use proptest::prelude::*;
use shakedown_sim::policy::{resolve_fenceposts, IntOrPercent};
use shakedown_sim::record::TickRow;
use shakedown_sim::{run, RunOptions, Scenario};

#[derive(Clone, Debug)]
struct Role {
    hosts: u32,
    zones: u32,
}

#[derive(Clone, Debug)]
enum Limit {
    Count(u32),
    Percent(u32),
}

impl Limit {
    fn toml(&self) -> String {
        match self {
            Limit::Count(n) => n.to_string(),
            Limit::Percent(p) => format!("\"{p}%\""),
        }
    }
    fn value(&self) -> IntOrPercent {
        match *self {
            Limit::Count(n) => IntOrPercent::Count(n),
            Limit::Percent(p) => IntOrPercent::Percent(p),
        }
    }
}

/// The policy under test, and what bounds its hosts out of service.
#[derive(Clone, Debug)]
enum Kind {
    /// Kubernetes' rolling update: `replicas − maxUnavailable` serve.
    Rolling,
    /// Argo's canary, two weights with pauses, then the promotion (both
    /// within maxSurge / maxUnavailable); `routed` with a traffic router.
    Canary { weights: (u32, u32), routed: bool },
    /// Blue-green: the old set serves until the new one is available, so
    /// every replica serves throughout (replace only).
    BlueGreen,
    /// A canary whose step analysis is dry-run only: it may fail, it must
    /// never abort the rollout (issue 10 item 9).
    DryRunCanary,
}

#[derive(Clone, Debug)]
struct Case {
    kind: Kind,
    roles: Vec<Role>,
    replace: bool,
    tick_s: u32,
    drain_s: u32,
    install_s: u32,
    restart: (u32, u32),
    provision_s: u32,
    min_ready_s: u32,
    surge: Limit,
    unavailable: Limit,
    seed: u64,
}

fn limit(max_count: u32) -> impl Strategy<Value = Limit> {
    prop_oneof![
        (0..=max_count).prop_map(Limit::Count),
        (0u32..=100).prop_map(Limit::Percent),
    ]
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        3 => Just(Kind::Rolling),
        3 => ((1u32..=99), (1u32..=100), any::<bool>())
            .prop_map(|(a, b, routed)| Kind::Canary { weights: (a.min(b), a.max(b)), routed }),
        1 => Just(Kind::BlueGreen),
        1 => Just(Kind::DryRunCanary),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (
        kind(),
        prop::collection::vec(
            (1u32..=40, 1u32..=3).prop_map(|(hosts, zones)| Role { hosts, zones }),
            1..=2,
        ),
        any::<bool>(),
        prop_oneof![Just(5u32), Just(15), Just(30)],
        0u32..=120,
        0u32..=60,
        (1u32..=60, 0u32..=60),
        10u32..=120,
        prop_oneof![Just(0u32), 1u32..=90],
        limit(8),
        limit(8),
        0u64..=i64::MAX as u64,
    )
        .prop_map(
            |(
                kind,
                roles,
                replace,
                tick_s,
                drain_s,
                install_s,
                (lo, extra),
                provision_s,
                min_ready_s,
                surge,
                unavailable,
                seed,
            )| {
                // Blue-green needs replace mode; a traffic router's extra
                // canary hosts do too (in place they would be taken from
                // the stable set, which Argo never does).
                let replace =
                    replace || matches!(kind, Kind::BlueGreen | Kind::Canary { routed: true, .. });
                Case {
                    kind,
                    roles,
                    replace,
                    tick_s,
                    drain_s,
                    install_s,
                    restart: (lo, lo + extra),
                    provision_s,
                    min_ready_s,
                    surge: if replace { surge } else { Limit::Count(0) },
                    unavailable,
                    seed,
                }
            },
        )
        // Both limits resolving to 0 is valid (Kubernetes makes it 1
        // unavailable); both written as 0 is a validation error.
        .prop_filter("both limits literally 0", |c| {
            !matches!(
                (&c.surge, &c.unavailable),
                (Limit::Count(0), Limit::Count(0))
            ) && !matches!(
                (&c.surge, &c.unavailable),
                (Limit::Percent(0), Limit::Percent(0))
            ) && !matches!(
                (&c.surge, &c.unavailable),
                (Limit::Count(0), Limit::Percent(0))
            ) && !matches!(
                (&c.surge, &c.unavailable),
                (Limit::Percent(0), Limit::Count(0))
            )
        })
}

fn policy(c: &Case) -> String {
    let limits = format!(
        "max_surge = {}\nmax_unavailable = {}\n",
        c.surge.toml(),
        c.unavailable.toml()
    );
    let min_ready = if c.min_ready_s > 0 {
        format!("min_ready = \"{}s\"\n", c.min_ready_s)
    } else {
        String::new()
    };
    match &c.kind {
        Kind::Rolling => {
            format!("kind = \"rolling\"\n{limits}progress_deadline = \"1h\"\n{min_ready}")
        }
        Kind::Canary { weights, routed } => format!(
            "kind = \"canary\"\ntraffic_routing = {routed}\n{limits}steps = [{{ set_weight = {} }}, {{ pause = {{ duration = \"2m\" }} }}, {{ set_weight = {} }}, {{ pause = {{ duration = \"2m\" }} }}]\n",
            weights.0, weights.1
        ),
        Kind::BlueGreen => "kind = \"blue-green\"\nhealth_timeout = \"1h\"\nscale_down_delay = \"30s\"\n".into(),
        Kind::DryRunCanary => format!(
            "kind = \"canary\"\n{limits}steps = [{{ set_weight = 30 }}, {{ analysis = {{ metrics = [{{ name = \"never\", provider = \"prometheus\", query = \"success-rate\", interval = \"1m\", count = 3, success_condition = \"result > 2\", dry_run = true }}] }} }}, {{ set_weight = 60 }}]\n"
        ),
    }
}

fn scenario(c: &Case) -> Scenario {
    let zones = ["a", "b", "c"];
    let mut roles = String::new();
    for (i, r) in c.roles.iter().enumerate() {
        let z: Vec<String> = zones[..r.zones as usize]
            .iter()
            .map(|z| format!("\"{z}\""))
            .collect();
        roles.push_str(&format!(
            "[[fleet.roles]]\nname = \"r{i}\"\nhosts = {}\nzones = [{}]\ncapacity_rps = 100\n\n",
            r.hosts,
            z.join(", ")
        ));
    }
    let hosts: u32 = c.roles.iter().map(|r| r.hosts).sum();
    let text = format!(
        r#"name = "invariants"
description = "generated"
duration = "4h"
tick = "{tick}s"
seed = {seed}

[fleet]
detection_delay = "{tick}s"
{roles}
[traffic]
curve = "constant"
rps = {rps}

[change]
from = "1"
to = "2"
mode = "{mode}"
drain = "{drain}s"
install_time = "{install}s"
restart_time = {{ dist = "uniform", min = "{rlo}s", max = "{rhi}s" }}
provision_time = "{prov}s"

[policy]
{policy}"#,
        tick = c.tick_s,
        seed = c.seed,
        rps = 30 * hosts,
        mode = if c.replace { "replace" } else { "in-place" },
        drain = c.drain_s,
        install = c.install_s,
        rlo = c.restart.0,
        rhi = c.restart.1,
        prov = c.provision_s,
        policy = policy(c),
    );
    Scenario::parse(&text, "invariants.toml").unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn hosts_in_states(t: &TickRow) -> u32 {
    t.serving + t.draining + t.upgrading + t.restarting + t.provisioning + t.crashed + t.broken
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 128,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::SourceParallel("proptest-regressions"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn runs_keep_their_invariants(c in case()) {
        let sc = scenario(&c);
        let rec = run(&sc, RunOptions::full(c.seed));
        let fleet: u32 = c.roles.iter().map(|r| r.hosts).sum();
        let min_serving: u32 = c
            .roles
            .iter()
            .map(|r| match c.kind {
                Kind::BlueGreen => r.hosts,
                _ => {
                    let (_, u) =
                        resolve_fenceposts(c.surge.value(), c.unavailable.value(), r.hosts);
                    r.hosts - u
                }
            })
            .sum();
        if matches!(c.kind, Kind::DryRunCanary) {
            prop_assert!(
                rec.summary.outcome != "rolled_back" && rec.summary.aborted_at_s.is_none(),
                "a dry-run-only analysis aborted the rollout: {}", rec.summary.outcome_reason
            );
        }
        prop_assert!(!rec.ticks.is_empty());
        for t in &rec.ticks {
            let at = t.time_s;
            prop_assert_eq!(t.requests, t.served + t.failed, "requests accounted at {} s", at);
            prop_assert_eq!(
                hosts_in_states(t),
                t.hosts_old + t.hosts_new,
                "every live host in one state at {} s", at
            );
            if !c.replace {
                prop_assert_eq!(t.hosts_old + t.hosts_new, fleet, "in place: hosts conserved at {} s", at);
            }
            prop_assert!(
                t.serving >= min_serving,
                "{} hosts serving at {} s, the policy allows no fewer than {} ({})",
                t.serving, at, min_serving, rec.summary.outcome_reason
            );
        }
    }
}
