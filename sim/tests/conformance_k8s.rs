//! Kubernetes' own unit-test tables for the rolling-update controller,
//! replayed against shakedown's arithmetic (`sim/src/policy/rolling.rs`).
//! The rows are data (`tests/data/conformance/k8s_rolling_test.csv`, which
//! names the upstream file and commit); a row the model cannot represent
//! carries its reason and is counted, never silently dropped.

use shakedown_sim::policy::{
    cleanup_unhealthy, new_replicas_to_add, plan_rolling, resolve_fenceposts, scale_down_old,
    ChangeMode, CohortView, IntOrPercent,
};

const TABLE: &str = include_str!("data/conformance/k8s_rolling_test.csv");

struct Row<'a> {
    line: usize,
    test: &'a str,
    f: Vec<Option<u32>>,
    skip: &'a str,
}

impl Row<'_> {
    fn get(&self, i: usize) -> u32 {
        self.f[i].unwrap_or_else(|| panic!("line {}: field {i} is required", self.line))
    }
}

const REPLICAS: usize = 0;
const SURGE: usize = 1;
const UNAVAILABLE: usize = 2;
const OLD: usize = 3;
const NEW: usize = 4;
const OLD_READY: usize = 5;
const NEW_READY: usize = 6;
const MAX_CLEANUP: usize = 7;
const EXPECT_NEW: usize = 8;
const EXPECT_OLD: usize = 9;
const EXPECT_CLEANUP: usize = 10;

fn rows() -> Vec<Row<'static>> {
    let mut out = Vec::new();
    let mut header = true;
    for (i, line) in TABLE.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if header {
            header = false;
            continue;
        }
        let cols: Vec<&str> = line.splitn(13, ',').collect();
        assert_eq!(cols.len(), 13, "line {}: 13 columns", i + 1);
        let f = cols[1..12]
            .iter()
            .map(|c| (*c != "-").then(|| c.parse().expect("a count")))
            .collect();
        out.push(Row {
            line: i + 1,
            test: cols[0],
            f,
            skip: cols[12],
        });
    }
    out
}

fn cohort(total: u32, available: u32) -> CohortView {
    CohortView {
        total,
        ready: available,
        available,
    }
}

/// The controller's counts after one reconcile of `row`, as the upstream
/// test reads them: (new replicas, old replicas, unhealthy cleaned up).
fn replay(row: &Row<'_>) -> (Option<u32>, Option<u32>, Option<u32>) {
    let replicas = row.get(REPLICAS);
    let (s, u) = resolve_fenceposts(
        IntOrPercent::Count(row.get(SURGE)),
        IntOrPercent::Count(row.get(UNAVAILABLE)),
        replicas,
    );
    match row.test {
        "reconcileNew" => {
            let (old, new) = (row.get(OLD), row.get(NEW));
            let add = new_replicas_to_add(replicas, s, old, new);
            // The whole plan agrees with the step on its own.
            let plan = plan_rolling(
                ChangeMode::Replace,
                replicas,
                s,
                u,
                cohort(old, old),
                cohort(new, 0),
            );
            assert_eq!(plan.provision, add, "line {}: plan vs step", row.line);
            ((add > 0).then_some(new + add), None, None)
        }
        "reconcileOld" => {
            let old = cohort(row.get(OLD), row.get(OLD_READY));
            let new = cohort(row.get(NEW), row.get(NEW_READY));
            let plan = plan_rolling(ChangeMode::Replace, replicas, s, u, old, new);
            assert_eq!(plan.provision, 0, "line {}: maxSurge 0", row.line);
            let down = plan.decommission;
            (None, (down > 0).then_some(old.total - down), None)
        }
        "cleanup" => {
            let old = cohort(row.get(OLD), row.get(OLD_READY));
            (
                None,
                None,
                Some(cleanup_unhealthy(old, row.get(MAX_CLEANUP))),
            )
        }
        "scaleDownOld" => {
            let old = cohort(row.get(OLD), row.get(OLD_READY));
            let down = scale_down_old(old, 0, replicas - u);
            (None, (down > 0).then_some(old.total - down), None)
        }
        other => panic!("line {}: unknown test {other}", row.line),
    }
}

#[test]
fn kubernetes_rolling_test_tables() {
    let rows = rows();
    let (mut checked, mut skipped) = (0, Vec::new());
    for row in &rows {
        if !row.skip.is_empty() {
            skipped.push(format!("line {}: {}", row.line, row.skip));
            continue;
        }
        let want = (row.f[EXPECT_NEW], row.f[EXPECT_OLD], row.f[EXPECT_CLEANUP]);
        assert_eq!(
            replay(row),
            want,
            "line {} ({}): (new, old, cleanup) after one reconcile",
            row.line,
            row.test
        );
        checked += 1;
    }
    // Every upstream row is here: 5 + 5 + 4 + 5.
    assert_eq!(rows.len(), 19);
    assert_eq!(checked, 18, "rows not representable: {skipped:?}");
}
