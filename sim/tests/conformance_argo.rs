//! Argo Rollouts' own replica-count tables, run against shakedown's canary
//! arithmetic (`policy::common`). The tables are ported row for row from
//! github.com/argoproj/argo-rollouts `utils/replicaset/canary_test.go` at
//! 9f8d111d8f8e3e88b6d7f8bbdf62fd3cd863ef9d (each data file's header says
//! which test). Rows the model cannot represent (older ReplicaSets,
//! `setCanaryScale` beyond 100 %, `minPodsPerReplicaSet`, dynamic stable
//! scaling, aborts) are listed in docs/FIDELITY.md, "Argo Rollouts".

use shakedown_sim::policy::common::{
    approximate_canary_stable, basic_canary_counts, routed_canary_replicas, ReplicaSetView,
};
use shakedown_sim::policy::{resolve_fenceposts, IntOrPercent};

/// Data rows of a CSV (header and `#` comments skipped), split on commas.
fn rows(text: &str) -> Vec<Vec<&str>> {
    let mut lines = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty());
    lines.next().expect("a header");
    lines.map(|l| l.split(',').collect()).collect()
}

fn n(s: &str) -> u32 {
    s.parse().unwrap_or_else(|_| panic!("{s} is not a count"))
}

/// `3` or `"20%"` as Argo's `intstr.IntOrString`.
fn int_or_percent(s: &str) -> IntOrPercent {
    match s.strip_suffix('%') {
        Some(p) => IntOrPercent::Percent(n(p)),
        None => IntOrPercent::Count(n(s)),
    }
}

/// `TestApproximateWeightedNewStableReplicaCounts`: the canary and stable
/// sizes that best approximate a weight, with and without surge.
#[test]
fn argo_approximate_weighted_canary_stable_counts() {
    let table = rows(include_str!("data/argo_approximate_canary.csv"));
    assert_eq!(table.len(), 57, "every row of Argo's table");
    for r in table {
        let (replicas, weight, surge) = (n(r[0]), n(r[1]), n(r[2]));
        assert_eq!(
            approximate_canary_stable(replicas, weight, surge),
            (n(r[3]), n(r[4])),
            "replicas {replicas} weight {weight} max_surge {surge}"
        );
    }
}

/// `TestCalculateReplicaCountsForCanary`, the basic-canary rows: one
/// reconcile from the given ReplicaSets to the expected sizes.
#[test]
fn argo_calculate_replica_counts_for_basic_canary() {
    let table = rows(include_str!("data/argo_basic_canary.csv"));
    assert_eq!(table.len(), 31, "the 31 basic-canary rows of 40");
    for r in table {
        let name = r[0];
        let replicas = n(r[1]);
        let weight = n(r[2]);
        // Argo resolves the fenceposts like Kubernetes (MaxSurge,
        // MaxUnavailable in utils/replicaset/replicaset.go).
        let (surge, unavailable) =
            resolve_fenceposts(int_or_percent(r[3]), int_or_percent(r[4]), replicas);
        let stable = ReplicaSetView {
            spec: n(r[5]),
            available: n(r[6]),
        };
        let canary = ReplicaSetView {
            spec: n(r[7]),
            available: n(r[8]),
        };
        let (want_stable, want_canary) = (n(r[9]), n(r[10]));
        assert_eq!(
            basic_canary_counts(replicas, weight, surge, unavailable, canary, stable),
            (want_canary, want_stable),
            "{name} (canary, stable)"
        );
    }
}

/// `TestTrafficWeightToReplicas`, `TestCalculateReplicaCountsForCanaryTrafficRouting`
/// and the `matchTrafficWeight` row of `TestCalculateReplicaCountsForCanary`:
/// a routed canary needs ⌈weight × replicas / 100⌉ hosts.
#[test]
fn argo_traffic_weight_to_replicas() {
    let table = rows(include_str!("data/argo_traffic_weight_replicas.csv"));
    assert_eq!(table.len(), 8);
    for r in table {
        let (replicas, weight) = (n(r[0]), n(r[1]));
        assert_eq!(
            routed_canary_replicas(weight, replicas),
            n(r[2]),
            "{weight} % of {replicas}"
        );
    }
}

/// The issue's own cases through the same functions: 5 % of 10 is one
/// canary and nine stable hosts (basic), 41 % of 10 routed is five.
#[test]
fn issue_10_cases() {
    assert_eq!(approximate_canary_stable(10, 5, 0), (1, 9));
    assert_eq!(approximate_canary_stable(10, 1, 0), (1, 9));
    assert_eq!(approximate_canary_stable(10, 99, 0), (9, 1));
    assert_eq!(routed_canary_replicas(41, 10), 5);
    // max_unavailable 1, no surge: the stable set gives up one host per
    // reconcile on the way to 3 canaries (30 % of 10).
    let all_stable = ReplicaSetView {
        spec: 10,
        available: 10,
    };
    assert_eq!(
        basic_canary_counts(10, 30, 0, 1, ReplicaSetView::default(), all_stable),
        (0, 9)
    );
}
