//! The event scheduler: a calendar queue ordered by (time, insertion sequence).
//!
//! Two events at the same virtual time come out in the order they were
//! scheduled, so ties never depend on queue internals and a run is
//! reproducible to the byte. Every event carries a key `(time, seq)`; keys
//! are unique and the queue pops them in increasing order, exactly as the
//! binary heap it replaced did (the property test below checks it against
//! one).
//!
//! # Layout
//!
//! Times are integer milliseconds, so the future is cut into a window of `nb`
//! buckets of `2^shift` ms each (a calendar with one "year", as in Brown's
//! calendar queue and the ladder queue's rungs), plus two side lists:
//!
//! ```text
//!   now                cur_end                              win_end
//!    |  cur (sorted)     | bucket next | next+1 | ... | nb-1 |  far (unsorted)
//!    |  every event      |  unsorted   |        |     |      |  every event
//!    |  before cur_end   |             |        |     |      |  at or after win_end
//! ```
//!
//! - `schedule` is O(1): an event goes to `cur` if it falls before the end
//!   of the bucket being drained, to its bucket if it falls inside the
//!   window, or is appended to `far` otherwise.
//! - `cur` holds the bucket being drained as a sorted run (a deque: pop at
//!   the front, and a new event at the current time, the common case, goes
//!   at the back). Its front is the global minimum whenever the queue is
//!   not empty, so `peek_time` needs no `&mut`.
//! - When `cur` runs dry the next non-empty bucket is sorted into it (1 ms
//!   buckets, where dense queues have their ties, are usually in order
//!   already: pushes append in sequence order).
//! - When the window runs dry, it is rebuilt over `far`. The bucket width is
//!   a power of two (placing an event is a shift) fitted to 4–8 events per
//!   bucket at the event rate seen since the last rebuild, but wide enough
//!   that at most four buckets per event cover *all* of `far`. So an event
//!   is moved at most three times (to `far`, to a bucket, into `cur`) and a
//!   rebuild scans at most `4·|far|` buckets: each operation is O(1)
//!   amortised, plus the sort of a drained bucket (a few events at the
//!   recent rate; a stable sort by time, see `refill`).
//! - Emptied allocations (a drained run, a bucket's) are kept, a bounded
//!   number of small ones, for the next bucket to fill: a sparse queue
//!   otherwise paid a malloc and a free per bucket.
//! - An insertion into the middle of a long `cur` (events scheduled before
//!   the window's start, as when a queue is filled before the first pop, or
//!   times clustered in one wide bucket) rebuilds the window from the
//!   spread of all pending events instead, at most once per `len / 2`
//!   schedules; in between, sorted insertion is the fallback.

use crate::time::SimTime;
use std::collections::VecDeque;

struct Entry<E> {
    time: u64,
    seq: u64,
    event: E,
}

impl<E> Entry<E> {
    fn key(&self) -> (u64, u64) {
        (self.time, self.seq)
    }
}

/// At most this many buckets in the window, and at most four per event
/// spread (4 Mi buckets, 96 MiB of empty `Vec`s, needs a million pending
/// events spread over more than 4 Mi ms).
const MAX_BUCKETS_LOG2: u32 = 22;
const BUCKETS_PER_EVENT_LOG2: u32 = 2;
/// A sorted insertion into a run longer than this rebuilds the window
/// instead (when that is amortised).
const COLLAPSE_ABOVE: usize = 64;
/// Up to 2^this many events per bucket (half as many at least) at the
/// recent event rate. Wider buckets mean fewer refills and longer sorts: at
/// 10^3 pending, 2 to 16 per bucket ran within noise of each other (the
/// sort took 18 % at 16, refills 5 %); 8 keeps `cur` short for insertions.
const EVENTS_PER_BUCKET_LOG2: u32 = 3;
/// At most this many emptied allocations (6 MiB at most) are kept for
/// reuse, each of at most `SPARE_CAP` entries: a bucket's first push takes
/// one instead of allocating. Without them, a sparse queue allocated and
/// freed once per bucket: a malloc and a free every few events.
const SPARE_MAX: usize = 4096;
const SPARE_CAP: usize = 64;

/// A deterministic future-event list.
pub struct Scheduler<E> {
    /// Every pending event with `time < cur_end`, sorted by key.
    cur: VecDeque<Entry<E>>,
    /// Bucket `i` holds the events with `time` in
    /// `[win_start + i << shift, win_start + (i + 1) << shift)`, unsorted.
    /// Only the first `nb` are in use; a drained bucket holds no allocation.
    buckets: Vec<Vec<Entry<E>>>,
    nb: usize,
    shift: u32,
    win_start: u64,
    /// The first bucket not yet drained into `cur`.
    next: usize,
    /// Exclusive ends (u128: a window may reach past `u64::MAX`).
    cur_end: u128,
    win_end: u128,
    /// Events in `buckets[next..nb]`.
    in_buckets: usize,
    /// Every pending event with `time >= win_end`, unsorted, and the range
    /// of their times.
    far: Vec<Entry<E>>,
    far_min: u64,
    far_max: u64,
    /// Emptied allocations for buckets to reuse (bounded, see `SPARE_MAX`).
    spare: Vec<Vec<Entry<E>>>,
    len: usize,
    seq: u64,
    now: SimTime,
    popped: u64,
    /// `now` and `popped` at the last rebuild: the recent event rate.
    rebuilt_at: (u64, u64),
    /// Schedules since the last collapse.
    since_collapse: usize,
}

impl<E> Default for Scheduler<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> Scheduler<E> {
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// A scheduler with room for `n` pending events before it reallocates
    /// its overflow list.
    pub fn with_capacity(n: usize) -> Self {
        Scheduler {
            cur: VecDeque::new(),
            buckets: Vec::new(),
            nb: 0,
            shift: 0,
            win_start: 0,
            next: 0,
            cur_end: 0,
            win_end: 0,
            in_buckets: 0,
            far: Vec::with_capacity(n),
            far_min: u64::MAX,
            far_max: 0,
            spare: Vec::new(),
            len: 0,
            seq: 0,
            now: SimTime::ZERO,
            popped: 0,
            rebuilt_at: (0, 0),
            since_collapse: 0,
        }
    }

    /// The time of the last event popped.
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// How many events have been popped so far.
    pub fn events_processed(&self) -> u64 {
        self.popped
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Schedules `event` at `at`. Scheduling in the past is a bug in the
    /// caller; it is clamped to `now` so time never runs backwards.
    pub fn schedule(&mut self, at: SimTime, event: E) {
        debug_assert!(at >= self.now, "event scheduled in the past");
        let time = at.max(self.now).as_millis();
        let e = Entry {
            time,
            seq: self.seq,
            event,
        };
        self.seq += 1;
        self.len += 1;
        self.since_collapse += 1;
        let t = time as u128;
        if t < self.cur_end {
            // After every event of the same time or earlier: it has the
            // largest sequence number yet. Usually the back.
            match self.cur.back() {
                Some(last) if last.time > time => {
                    if self.cur.len() > COLLAPSE_ABOVE && self.since_collapse > self.len / 2 {
                        // Inserting into the middle of a big run: events
                        // earlier than the window (scheduled before the
                        // first pop) or clustered in one wide bucket.
                        return self.collapse(e);
                    }
                    let at = self.cur.partition_point(|x| x.time <= time);
                    self.cur.insert(at, e);
                }
                _ => self.cur.push_back(e),
            }
            return;
        }
        if t < self.win_end {
            let i = ((time - self.win_start) >> self.shift) as usize;
            debug_assert!(i >= self.next && i < self.nb);
            self.push_to_bucket(i, e);
            self.in_buckets += 1;
        } else {
            self.far_min = self.far_min.min(time);
            self.far_max = self.far_max.max(time);
            self.far.push(e);
        }
        if self.cur.is_empty() {
            self.refill();
        }
    }

    /// The time of the next event, if any.
    pub fn peek_time(&self) -> Option<SimTime> {
        self.cur.front().map(|e| SimTime::from_millis(e.time))
    }

    /// Pops the earliest event and advances `now` to its time.
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        let e = self.cur.pop_front()?;
        self.len -= 1;
        self.now = SimTime::from_millis(e.time);
        self.popped += 1;
        if self.cur.is_empty() && self.len > 0 {
            self.refill();
        }
        Some((self.now, e.event))
    }

    /// Makes `cur` non-empty again, if any event is pending: the next
    /// non-empty bucket, or a new window over `far`.
    fn refill(&mut self) {
        debug_assert!(self.cur.is_empty());
        if self.in_buckets == 0 {
            if self.far.is_empty() {
                return;
            }
            self.rebuild();
        }
        let mut i = self.next;
        while self.buckets[i].is_empty() {
            i += 1;
        }
        let mut bucket = std::mem::take(&mut self.buckets[i]);
        self.in_buckets -= bucket.len();
        // Events of one time are in sequence order in every bucket (pushes
        // append the newest; a rebuild deals out `far`, which keeps that
        // order too), so a stable sort by time alone is the (time, seq)
        // order. A 1 ms bucket is usually sorted already: check first.
        if !bucket.windows(2).all(|w| w[0].time <= w[1].time) {
            bucket.sort_by_key(|e| e.time);
        }
        debug_assert!(bucket.windows(2).all(|w| w[0].key() < w[1].key()));
        // The drained run's allocation goes to the bounded spares, not back
        // to bucket `i`: kept there, every slot of a 2^22-bucket window
        // would come to hold one (fleet-10m's resident memory grew to 2.7 GB
        // over 14 days).
        let mut drained = std::mem::replace(&mut self.cur, VecDeque::from(bucket));
        drained.clear(); // its start back at 0: the conversion moves nothing
        self.recycle(Vec::from(drained));
        self.next = i + 1;
        self.cur_end = self.win_start as u128 + ((self.next as u128) << self.shift);
    }

    /// Appends to bucket `i`, reusing a spare allocation if it has none.
    #[inline]
    fn push_to_bucket(&mut self, i: usize, e: Entry<E>) {
        let b = &mut self.buckets[i];
        if b.capacity() == 0 {
            if let Some(v) = self.spare.pop() {
                *b = v;
            }
        }
        b.push(e);
    }

    /// Keeps an emptied allocation for reuse, if it is small and the spares
    /// are not full; frees it otherwise.
    fn recycle(&mut self, v: Vec<Entry<E>>) {
        debug_assert!(v.is_empty());
        if v.capacity() != 0 && v.capacity() <= SPARE_CAP && self.spare.len() < SPARE_MAX {
            self.spare.push(v);
        }
    }

    /// Puts every pending event back into `far`, `newest` (the event being
    /// scheduled) last, and rebuilds the window from their spread alone.
    /// Costs O(len); `since_collapse > len / 2` before each keeps that O(1)
    /// amortised. `far`, `cur` and each bucket hold disjoint times, so
    /// events of one time stay in sequence order (see `refill`).
    fn collapse(&mut self, newest: Entry<E>) {
        self.far.extend(self.cur.drain(..));
        for i in self.next..self.nb {
            let mut b = std::mem::take(&mut self.buckets[i]);
            self.far.append(&mut b);
            self.recycle(b);
        }
        self.far.push(newest);
        self.in_buckets = 0;
        self.far_min = self.far.iter().map(|e| e.time).min().unwrap_or(u64::MAX);
        self.far_max = self.far.iter().map(|e| e.time).max().unwrap_or(0);
        self.since_collapse = 0;
        // No rate estimate: the width comes from the spread.
        self.rebuilt_at = (self.now.as_millis(), self.popped);
        self.refill();
    }

    /// Spreads `far` over a fresh window that covers all of it.
    fn rebuild(&mut self) {
        debug_assert!(self.in_buckets == 0 && !self.far.is_empty());
        let n = self.far.len();
        let span = (self.far_max - self.far_min) as u128 + 1;
        // The width: 4 to 8 events per bucket at the rate events were
        // popped since the last rebuild (at first, the spread of `far`),
        // but wide enough that at most `cap` buckets cover all of `far`.
        let (now, popped) = (self.now.as_millis(), self.popped);
        let (then, popped_then) = self.rebuilt_at;
        self.rebuilt_at = (now, popped);
        let gap_x8 = if popped > popped_then && now > then {
            (((now - then) as u128) << EVENTS_PER_BUCKET_LOG2) / (popped - popped_then) as u128
        } else {
            span / n as u128
        };
        let cap_log2 =
            (n.next_power_of_two().trailing_zeros() + BUCKETS_PER_EVENT_LOG2).min(MAX_BUCKETS_LOG2);
        let width_log2 = (u128::BITS - 1 - gap_x8.max(1).leading_zeros())
            .max(
                span.div_ceil(1 << cap_log2)
                    .next_power_of_two()
                    .trailing_zeros(),
            )
            // Two buckets at least once the span is wider than 1 ms, so the
            // width stays at most 2^63 and the shift fits a u64.
            .min(63);
        let nb = span.div_ceil(1 << width_log2).next_power_of_two() as usize;
        self.shift = width_log2;
        self.nb = nb;
        if self.buckets.len() < nb {
            self.buckets.resize_with(nb, Vec::new);
        }
        self.win_start = self.far_min;
        self.win_end = self.win_start as u128 + ((nb as u128) << self.shift);
        self.next = 0;
        self.cur_end = self.win_start as u128;
        let mut far = std::mem::take(&mut self.far);
        for e in far.drain(..) {
            let i = ((e.time - self.win_start) >> self.shift) as usize;
            self.push_to_bucket(i, e);
        }
        self.far = far;
        self.in_buckets = n;
        self.far_min = u64::MAX;
        self.far_max = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn earliest_first_and_ties_in_insertion_order() {
        let mut s = Scheduler::new();
        s.schedule(SimTime::from_millis(30), "c");
        s.schedule(SimTime::from_millis(10), "a1");
        s.schedule(SimTime::from_millis(20), "b");
        s.schedule(SimTime::from_millis(10), "a2");
        s.schedule(SimTime::from_millis(10), "a3");
        let order: Vec<_> = std::iter::from_fn(|| s.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, ["a1", "a2", "a3", "b", "c"]);
        assert_eq!(s.events_processed(), 5);
        assert_eq!(s.now(), SimTime::from_millis(30));
    }

    #[test]
    fn events_scheduled_during_processing_keep_order() {
        let mut s = Scheduler::new();
        s.schedule(SimTime::from_millis(5), 1);
        let (t, _) = s.pop().unwrap();
        s.schedule(t, 2); // same time as now: still after anything earlier queued
        s.schedule(SimTime::from_millis(5), 3);
        assert_eq!(s.pop().unwrap().1, 2);
        assert_eq!(s.pop().unwrap().1, 3);
        assert!(s.pop().is_none());
    }

    #[test]
    fn the_end_of_time_and_an_earlier_event_after_it() {
        // A window over [0, u64::MAX] must not overflow, and an event
        // scheduled before the window's start (nothing popped yet) still
        // comes out first.
        let mut s = Scheduler::new();
        s.schedule(SimTime::from_millis(u64::MAX), "end");
        s.schedule(SimTime::from_millis(1_000), "b");
        s.schedule(SimTime::from_millis(0), "a");
        assert_eq!(s.peek_time(), Some(SimTime::from_millis(0)));
        let order: Vec<_> = std::iter::from_fn(|| s.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, ["a", "b", "end"]);
        assert!(s.is_empty() && s.peek_time().is_none());
    }

    /// The queue this one replaced, kept as the reference: a binary heap on
    /// the packed (time, sequence) key.
    #[derive(Default)]
    struct ReferenceHeap {
        heap: std::collections::BinaryHeap<std::cmp::Reverse<(u64, u64, u32)>>,
        seq: u64,
        now: u64,
    }

    impl ReferenceHeap {
        fn schedule(&mut self, at: u64, id: u32) {
            let at = at.max(self.now);
            self.heap.push(std::cmp::Reverse((at, self.seq, id)));
            self.seq += 1;
        }
        fn peek_time(&self) -> Option<u64> {
            self.heap.peek().map(|r| r.0 .0)
        }
        fn pop(&mut self) -> Option<(u64, u32)> {
            let std::cmp::Reverse((t, _, id)) = self.heap.pop()?;
            self.now = t;
            Some((t, id))
        }
    }

    #[derive(Clone, Debug)]
    enum Op {
        /// Schedule at `now + delay`.
        At(u64),
        Pop,
    }

    /// Delays that make ties (0 and a handful of small values), ordinary
    /// spreads, far-future events and the end of time all common.
    fn delay() -> impl Strategy<Value = u64> {
        prop_oneof![
            4 => 0u64..4,
            4 => 0u64..2_000,
            2 => 0u64..100_000_000,
            1 => 1u64 << 40..1u64 << 50,
            1 => Just(u64::MAX),
        ]
    }

    fn ops() -> impl Strategy<Value = Vec<Op>> {
        prop::collection::vec(
            prop_oneof![3 => delay().prop_map(Op::At), 2 => Just(Op::Pop)],
            0..1_500,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn pops_in_the_same_order_as_the_binary_heap(ops in ops()) {
            let mut s = Scheduler::new();
            let mut r = ReferenceHeap::default();
            for (id, op) in ops.iter().enumerate() {
                match op {
                    Op::At(d) => {
                        let at = s.now().as_millis().saturating_add(*d);
                        s.schedule(SimTime::from_millis(at), id as u32);
                        r.schedule(at, id as u32);
                    }
                    Op::Pop => {
                        let got = s.pop().map(|(t, id)| (t.as_millis(), id));
                        prop_assert_eq!(got, r.pop());
                    }
                }
                prop_assert_eq!(s.peek_time().map(SimTime::as_millis), r.peek_time());
                prop_assert_eq!(s.len(), r.heap.len());
            }
            // Drain what is left.
            loop {
                let got = s.pop().map(|(t, id)| (t.as_millis(), id));
                let want = r.pop();
                prop_assert_eq!(got, want);
                if want.is_none() {
                    break;
                }
            }
            prop_assert!(s.is_empty());
        }

        /// Many events before the first pop, in any order (descending
        /// times make every insertion land before the window: collapses).
        #[test]
        fn a_fill_in_any_order_then_a_drain_matches_the_binary_heap(
            times in prop::collection::vec(delay(), 0..3_000),
            descending in any::<bool>(),
        ) {
            let mut times = times;
            if descending {
                times.sort_unstable_by(|a, b| b.cmp(a));
            }
            let mut s = Scheduler::new();
            let mut r = ReferenceHeap::default();
            for (id, &at) in times.iter().enumerate() {
                s.schedule(SimTime::from_millis(at), id as u32);
                r.schedule(at, id as u32);
                prop_assert_eq!(s.peek_time().map(SimTime::as_millis), r.peek_time());
            }
            loop {
                let got = s.pop().map(|(t, id)| (t.as_millis(), id));
                let want = r.pop();
                prop_assert_eq!(got, want);
                if want.is_none() {
                    break;
                }
            }
        }

        /// The hold model the benchmark runs: a fixed population, each pop
        /// scheduling one successor (deep queues, many rebuilds).
        #[test]
        fn hold_model_matches_the_binary_heap(
            population in 1usize..2_000,
            delays in prop::collection::vec(delay(), 1..5_000),
        ) {
            let mut s = Scheduler::with_capacity(population);
            let mut r = ReferenceHeap::default();
            for i in 0..population {
                let at = delays[i % delays.len()] % 5_000;
                s.schedule(SimTime::from_millis(at), i as u32);
                r.schedule(at, i as u32);
            }
            for d in &delays {
                let (t, id) = s.pop().map(|(t, id)| (t.as_millis(), id)).unwrap();
                prop_assert_eq!(Some((t, id)), r.pop());
                let at = t.saturating_add(*d);
                s.schedule(SimTime::from_millis(at), id);
                r.schedule(at, id);
            }
        }
    }
}
