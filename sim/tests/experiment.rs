//! Experiments end to end in the pure core: common random numbers across
//! policies, the paired analysis, sharding, and gate thresholds.

use shakedown_sim::experiment::threshold::{self, GroupRuns, Thresholds};
use shakedown_sim::experiment::{
    analyze, check_shards, GroupDef, Kind, Manifest, SeedSet, Shard, ShardInfo, MANIFEST_FORMAT,
};
use shakedown_sim::record::Summary;
use shakedown_sim::scenario::{IntOrPercent, PolicySpec};
use shakedown_sim::{run, RunOptions, RunRecord, Scenario};

const SMALL: &str = r#"
name = "crn"
duration = "1h"
tick = "15s"

[fleet]
detection_delay = "30s"
[[fleet.roles]]
name = "api"
hosts = 20
zones = ["a", "b"]
capacity_rps = 60
[[fleet.roles]]
name = "batch"
hosts = 6
traffic_share = 0.2

[traffic]
curve = "diurnal"
peak_rps = 900
start_hour_utc = 18

[change]
from = "1"
to = "2"
start_at = "5m"
install_time = { dist = "uniform", min = "10s", max = "40s" }
restart_time = { dist = "lognormal", median = "30s", p95 = "2m" }

[policy]
kind = "rolling"
max_unavailable = 1
"#;

fn base() -> Scenario {
    Scenario::parse(SMALL, "crn.toml").unwrap()
}

fn policies() -> Vec<Scenario> {
    let b = base();
    let rolling = |n: u32| match b.policy.clone() {
        PolicySpec::Rolling {
            max_surge,
            min_ready,
            progress_deadline,
            ..
        } => PolicySpec::Rolling {
            max_surge,
            max_unavailable: IntOrPercent::Count(n),
            min_ready,
            progress_deadline,
        },
        p => p,
    };
    [rolling(1), rolling(5), PolicySpec::AllAtOnce {}]
        .into_iter()
        .map(|policy| Scenario { policy, ..base() })
        .collect()
}

#[test]
fn every_policy_is_offered_the_same_requests_each_tick_for_a_seed() {
    // Common random numbers: what makes paired comparisons fair. For one
    // seed, the offered load and the requests drawn per tick do not depend on
    // what the policy does; for another seed they differ.
    let offered = |r: &RunRecord| {
        r.ticks
            .iter()
            .map(|t| (t.time_s.to_bits(), t.offered_rps.to_bits(), t.requests))
            .collect::<Vec<_>>()
    };
    let mut per_seed = Vec::new();
    for seed in 1..=4 {
        let runs: Vec<RunRecord> = policies()
            .iter()
            .map(|sc| run(sc, RunOptions::full(seed)))
            .collect();
        let first = offered(&runs[0]);
        assert!(!first.is_empty());
        for r in &runs[1..] {
            assert_eq!(
                offered(r),
                first,
                "seed {seed}: `{}` was offered different requests than `{}`",
                r.summary.policy,
                runs[0].summary.policy
            );
        }
        // The policies did behave differently on that same world.
        assert_ne!(
            runs[0].summary.requests_failed,
            runs[2].summary.requests_failed
        );
        per_seed.push(first);
    }
    assert_ne!(
        per_seed[0], per_seed[1],
        "seeds 1 and 2 drew the same traffic"
    );
}

fn runs(seeds: &SeedSet) -> Vec<Vec<Summary>> {
    policies()
        .iter()
        .map(|sc| {
            seeds
                .seeds
                .iter()
                .map(|&s| run(sc, RunOptions::summary_only(s)).summary)
                .collect()
        })
        .collect()
}

#[test]
fn paired_differences_are_seed_by_seed() {
    let seeds = SeedSet::parse("1..12").unwrap();
    let groups = runs(&seeds);
    let labels: Vec<String> = ["r1", "r5", "big-bang"].map(String::from).to_vec();
    let a = analyze(&labels, &groups);
    assert_eq!(a.groups.len(), 3);
    assert_eq!(a.paired.len(), 2);
    let n = seeds.len();
    for (p, g) in a.paired.iter().zip(1..) {
        assert_eq!(p.reference, "r1");
        let d = &p.diffs[0]; // requests_failed
        assert_eq!(d.name, "requests_failed");
        let expect = a.groups[g].metrics[0].mean - a.groups[0].metrics[0].mean;
        assert!((d.mean - expect).abs() < 1e-9 * expect.abs().max(1.0));
        assert_eq!(d.better + d.worse + d.equal, n);
        let (lo, hi) = (d.ci.low.unwrap(), d.ci.high.unwrap());
        assert!(lo <= d.mean && d.mean <= hi);
    }
    // Taking every host down at once fails more requests than one at a time,
    // on every seed, and the paired interval excludes zero.
    let big = &a.paired[1].diffs[0];
    assert_eq!(big.worse, n);
    assert!(big.ci.low.unwrap() > 0.0);
    // Peak blast radius: 1 host of 26, 5 of 26 (per role, capped), everyone.
    assert!(a.groups[0].metrics[2].max < a.groups[1].metrics[2].min);
    assert_eq!(a.groups[2].metrics[2].min, 100.0);
    // Faster and costlier: all three are on the duration/failures frontier.
    assert_eq!(a.frontiers[0].groups, vec![2, 1, 0]);
}

#[test]
fn shards_concatenate_to_the_whole_experiment() {
    let seeds = SeedSet::parse("3..9").unwrap();
    let scenarios = policies();
    let m = Manifest {
        format: MANIFEST_FORMAT.into(),
        kind: Kind::Compare,
        scenario: "crn".into(),
        scenario_file: "crn.toml".into(),
        scenario_digest: "0".into(),
        seeds: seeds.spec.clone(),
        groups: (0..scenarios.len())
            .map(|i| GroupDef {
                label: format!("p{i}"),
                policy_file: None,
                policy: None,
                values: vec![],
            })
            .collect(),
        params: vec![],
        policy_file: None,
        metric_map: None,
        shard: None,
        shakedown_version: "t".into(),
    };
    let total = m.total_units().unwrap();
    assert_eq!(total, 21);
    let unit = |u: usize| {
        let (seed, g) = m.unit(&seeds, u);
        run(&scenarios[g], RunOptions::summary_only(seed)).summary
    };
    let whole: Vec<Summary> = (0..total).map(unit).collect();
    let mut shards = Vec::new();
    let mut joined = Vec::new();
    for k in 1..=4 {
        let s = Shard { index: k, count: 4 };
        let r = s.units(total);
        joined.extend(r.clone().map(unit));
        shards.push(Manifest {
            shard: Some(ShardInfo {
                index: k,
                count: 4,
                units: [r.start, r.end],
            }),
            ..m.clone()
        });
    }
    assert_eq!(joined, whole);
    // Given in any order, the shards are recognised and ordered.
    let mut shuffled = shards.clone();
    shuffled.swap(0, 3);
    shuffled.swap(1, 2);
    assert_eq!(check_shards(&shuffled).unwrap(), vec![3, 2, 1, 0]);
    // A missing shard, a duplicate, or a shard of another experiment is refused.
    let err = check_shards(&shards[..3]).unwrap_err().to_string();
    assert!(err.contains("missing shard(s) 4/4"), "{err}");
    let dup = vec![
        shards[0].clone(),
        shards[0].clone(),
        shards[2].clone(),
        shards[3].clone(),
    ];
    assert!(check_shards(&dup)
        .unwrap_err()
        .to_string()
        .contains("given twice"));
    let mut foreign = shards.clone();
    foreign[2].seeds = "3..10".into();
    let err = check_shards(&foreign).unwrap_err().to_string();
    assert!(err.contains("differs") && err.contains("seeds"), "{err}");
    assert!(
        check_shards(&[m]).is_err(),
        "a whole experiment is not a shard"
    );
}

#[test]
fn gate_thresholds_check_every_group_and_regressions_pair_seeds() {
    let seeds = SeedSet::parse("1..6").unwrap();
    let groups = runs(&seeds);
    let named = |labels: [&str; 3]| -> Vec<GroupRuns> {
        labels
            .iter()
            .zip(&groups)
            .map(|(l, r)| GroupRuns {
                label: l.to_string(),
                runs: r.clone(),
            })
            .collect()
    };
    let current = named(["a", "b", "c"]);
    let th = Thresholds::parse(
        "[thresholds]\npeak_hosts_unavailable_pct = [\"max <= 50\"]\np_completed = [\"value >= 0\"]\n",
        "gate.toml",
    )
    .unwrap();
    let checks = threshold::evaluate(&th, &current).unwrap();
    assert_eq!(checks.len(), 6, "2 conditions × 3 groups");
    let failed: Vec<&str> = checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| c.group.as_str())
        .collect();
    assert_eq!(
        failed,
        ["c"],
        "only the big bang takes more than half the fleet down"
    );
    assert!(checks[2].detail.contains("= 100"), "{}", checks[2].detail);

    // An unknown metric is an error located at its key, never a pass.
    let th = Thresholds::parse("\n[thresholds]\nblast = [\"max < 5\"]\n", "gate.toml").unwrap();
    let e = threshold::evaluate(&th, &current).unwrap_err();
    assert_eq!((e.line, e.column), (3, 9), "{e}");
    assert!(
        e.message.contains("no metric `blast`") && e.message.contains("peak_hosts_unavailable_pct")
    );
    // `value` of a distribution over several seeds is ambiguous.
    let th = Thresholds::parse(
        "[thresholds]\nrequests_failed = [\"value < 5\"]\n",
        "g.toml",
    )
    .unwrap();
    assert!(threshold::evaluate(&th, &current).is_err());

    // Against a baseline where the same labels ran a gentler policy, the big
    // bang's failures regress; against itself nothing does.
    let th = Thresholds::parse("[baseline]\nrequests_failed = \"5%\"\n", "g.toml").unwrap();
    let base = named(["a", "b", "a-copy"]);
    let mut base_c = base.clone();
    base_c[2] = GroupRuns {
        label: "c".into(),
        runs: groups[0].clone(),
    };
    let checks = threshold::regressions(&th, &current, &base_c).unwrap();
    assert_eq!(checks.iter().filter(|c| !c.passed).count(), 1);
    assert_eq!(checks[2].group, "c");
    assert!(
        !checks[2].passed && checks[2].detail.contains("worse on 6 seeds"),
        "{}",
        checks[2].detail
    );
    let same = threshold::regressions(&th, &current, &current).unwrap();
    assert!(same.iter().all(|c| c.passed && c.measured == 0.0));
    // A baseline without the group is bad input.
    assert!(threshold::regressions(&th, &current, &base).is_err());
}

/// Runs of `base()` with the fields the recommendation weighs set by hand:
/// completed, whether the SLO held, failed requests due to the change,
/// rollout duration.
fn judged(seeds: u64, slo_met: bool, harm: i64, duration_s: f64) -> Vec<Summary> {
    let template = run(&base(), RunOptions::summary_only(1)).summary;
    (0..seeds)
        .map(|i| Summary {
            seed: i,
            outcome: shakedown_sim::protocol::Outcome::Completed,
            slo_met,
            // A little noise so that intervals are intervals.
            failed_requests_due_to_change: Some(harm + (i % 3) as i64),
            rollout_duration_s: duration_s + (i % 5) as f64,
            ..template.clone()
        })
        .collect()
}

#[test]
fn the_recommendation_weighs_the_users_before_speed() {
    let labels = vec!["fast-but-breaches".to_string(), "slow-and-safe".to_string()];
    // Both complete; the faster one breaks the SLO on every seed.
    let a = analyze(
        &labels,
        &[
            judged(30, false, 50_000, 600.0),
            judged(30, true, 10, 6000.0),
        ],
    );
    let r = &a.recommendation;
    assert_eq!(r.pick, Some(1), "{r:?}");
    assert_eq!(r.decided_by, Some("p_slo_met"));
    // The SLO alike: the harm due to the change decides, before speed.
    let a = analyze(
        &labels,
        &[
            judged(30, true, 50_000, 600.0),
            judged(30, true, 10, 6000.0),
        ],
    );
    assert_eq!(a.recommendation.pick, Some(1));
    assert_eq!(
        a.recommendation.decided_by,
        Some("failed_requests_due_to_change")
    );
    // Harm alike too: speed breaks the tie.
    let a = analyze(
        &labels,
        &[judged(30, true, 10, 600.0), judged(30, true, 10, 6000.0)],
    );
    assert_eq!(a.recommendation.pick, Some(0));
    assert_eq!(a.recommendation.decided_by, Some("rollout_duration_s"));
}
