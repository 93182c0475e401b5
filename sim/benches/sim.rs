//! `cargo bench -p shakedown-sim`: the two figures recorded in docs/BENCHMARKS.md.
//!
//! 1. kernel: a PHOLD/hold model on the scheduler alone — a fixed population of
//!    pending events (10^3 to 10^6); each pop schedules one successor an
//!    exponential time later (ChaCha-drawn, as the world draws). Reported in
//!    events/s for the calendar queue and, in the same run, for the binary
//!    heap it replaced (issue 14), with a check that both pop in one order.
//! 2. fleet-23k: the shipped 23,000-host scenario, 14 days at 15 s ticks,
//!    summary only (as Monte Carlo runs it) and with full recording.
//!
//! Plain `harness = false` timing (median of several runs) keeps the
//! dependency tree small; the numbers are wall-clock on one core.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)] // benches time themselves

use shakedown_sim::rng::Streams;
use shakedown_sim::sched::Scheduler;
use shakedown_sim::time::{SimDuration, SimTime};
use shakedown_sim::{run, RunOptions, Scenario};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hint::black_box;
use std::time::Instant;

const ALL_FAULTS: &str = r#"
[[faults]]
kind = "orphaned-containers"
probability = 0.05
reap_after = "2h"
[[faults]]
kind = "leaked-ports"
match = { docker = "1.12.1" }
probability = 0.02
fix_after = "8h"
[[faults]]
kind = "incompatible-roles"
roles = ["ci-builders"]
effect = "errors"
error_rate = 0.1
[[faults]]
kind = "bad-config"
fraction = 0.01
delay = { dist = "uniform", min = "1h", max = "6h" }
effect = "errors"
error_rate = 0.5
[[faults]]
kind = "kernel-panic"
match = { kernel = "3.16", storage_driver = "aufs" }
mtbf = "5000h"
recovery = "5m"
[[faults]]
kind = "fails-under-load"
rps_per_host = 1000
[[faults]]
kind = "registry-outage"
start = "3d"
duration = "7h"
[[faults]]
kind = "regression"
error_rate = 0.001
"#;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// The queue `Scheduler` replaced (issue 14), for the same-run comparison:
/// a binary heap on the packed (time, sequence) key.
struct HeapScheduler<E> {
    heap: BinaryHeap<HeapEntry<E>>,
    seq: u64,
}

struct HeapEntry<E>(Reverse<u128>, E);
impl<E> PartialEq for HeapEntry<E> {
    fn eq(&self, o: &Self) -> bool {
        self.0 == o.0
    }
}
impl<E> Eq for HeapEntry<E> {}
impl<E> PartialOrd for HeapEntry<E> {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl<E> Ord for HeapEntry<E> {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.cmp(&o.0)
    }
}

/// What the PHOLD loop needs of a queue.
trait Queue<E> {
    fn with_capacity(n: usize) -> Self;
    fn schedule(&mut self, at: SimTime, e: E);
    fn pop(&mut self) -> Option<(SimTime, E)>;
}

impl<E> Queue<E> for Scheduler<E> {
    fn with_capacity(n: usize) -> Self {
        Scheduler::with_capacity(n)
    }
    fn schedule(&mut self, at: SimTime, e: E) {
        Scheduler::schedule(self, at, e)
    }
    fn pop(&mut self) -> Option<(SimTime, E)> {
        Scheduler::pop(self)
    }
}

impl<E> Queue<E> for HeapScheduler<E> {
    fn with_capacity(n: usize) -> Self {
        HeapScheduler {
            heap: BinaryHeap::with_capacity(n),
            seq: 0,
        }
    }
    fn schedule(&mut self, at: SimTime, e: E) {
        let key = ((at.as_millis() as u128) << 64) | self.seq as u128;
        self.seq += 1;
        self.heap.push(HeapEntry(Reverse(key), e));
    }
    fn pop(&mut self) -> Option<(SimTime, E)> {
        let HeapEntry(Reverse(key), e) = self.heap.pop()?;
        Some((SimTime::from_millis((key >> 64) as u64), e))
    }
}

/// PHOLD with one logical process per pending event: `population` events
/// start at exponential times (the hold model's steady state), then `events`
/// times the earliest is popped and its successor scheduled an exponential
/// delay (mean 1 s) later. Only the hold loop is timed, as in the SimPy peer
/// (`scripts/peers/hold.py`). Returns (seconds, a checksum of the pop order).
fn phold<Q: Queue<u32>>(population: usize, events: u64, seed: u64) -> (f64, u64) {
    let mut rng = Streams::new(seed).stream("phold");
    let mut s = Q::with_capacity(population);
    for i in 0..population {
        let at = SimDuration::from_millis_f64(rng.exponential(1000.0));
        s.schedule(SimTime::ZERO + at, i as u32);
    }
    let mut acc = 0u64;
    let t0 = Instant::now();
    for _ in 0..events {
        let (now, lp) = s.pop().expect("population never empties");
        acc = acc.wrapping_mul(31).wrapping_add(lp as u64);
        let delay = SimDuration::from_millis_f64(rng.exponential(1000.0));
        s.schedule(now + delay, lp);
    }
    let secs = t0.elapsed().as_secs_f64();
    (secs, black_box(acc))
}

/// Median seconds of `runs` PHOLD runs on queue `Q`, and the checksum.
fn phold_median<Q: Queue<u32>>(population: usize, events: u64, runs: u64) -> (f64, u64) {
    let mut sum = 0;
    let times = (0..runs)
        .map(|i| {
            let (secs, acc) = phold::<Q>(population, events, i);
            if i == 0 {
                sum = acc;
            }
            secs
        })
        .collect();
    (median(times), sum)
}

fn main() {
    let filter = std::env::args().nth(1).filter(|a| !a.starts_with('-'));
    let wants = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));

    // `kernel` runs both queues; `kernel/calendar` or `kernel/heap` one.
    // SHAKEDOWN_BENCH_PENDING="1000 100000" picks the populations.
    let pending: Vec<usize> = std::env::var("SHAKEDOWN_BENCH_PENDING")
        .ok()
        .map(|v| {
            v.split_whitespace()
                .map(|x| x.parse().expect("SHAKEDOWN_BENCH_PENDING: integers"))
                .collect()
        })
        .unwrap_or_else(|| vec![1_000, 10_000, 100_000, 1_000_000]);
    let n = 10_000_000u64;
    for population in pending {
        let mut calendar = None;
        if wants("kernel/calendar") {
            let (m, sum) = phold_median::<Scheduler<u32>>(population, n, 5);
            println!(
                "kernel/calendar population={population:>7}: {n} events in {m:.3} s = {:.2} M events/s",
                n as f64 / m / 1e6
            );
            calendar = Some((m, sum));
        }
        if wants("kernel/heap") {
            let (m, sum) = phold_median::<HeapScheduler<u32>>(population, n, 5);
            print!(
                "kernel/heap     population={population:>7}: {n} events in {m:.3} s = {:.2} M events/s",
                n as f64 / m / 1e6
            );
            match calendar {
                Some((c, csum)) => {
                    assert_eq!(sum, csum, "the two queues popped in different orders");
                    println!("  (calendar/heap = {:.2}x, same pop order)", m / c);
                }
                None => println!(),
            }
        }
    }

    if wants("fleet") {
        let text = include_str!("../../scenarios/fleet-23k.toml");
        let plain = Scenario::parse(text, "fleet-23k.toml").unwrap();
        // Every fault class at once: the world model must stay within 2x.
        let faulty = Scenario::parse(&format!("{text}\n{ALL_FAULTS}"), "fleet-23k+faults").unwrap();
        for (label, sc, opts) in [
            ("summary-only", &plain, RunOptions::summary_only(plain.seed)),
            ("full-record", &plain, RunOptions::full(plain.seed)),
            (
                "all-faults/summary-only",
                &faulty,
                RunOptions::summary_only(plain.seed),
            ),
        ] {
            let mut events = 0;
            let times: Vec<f64> = (0..5)
                .map(|_| {
                    let t0 = Instant::now();
                    let rec = black_box(run(sc, opts));
                    events = rec.summary.events_processed;
                    t0.elapsed().as_secs_f64()
                })
                .collect();
            println!(
                "fleet-23k/{label}: 23000 hosts, 14 d at 15 s ticks: median {:.3} s ({events} events)",
                median(times)
            );
        }
    }
}
