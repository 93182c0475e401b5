//! Which host moves next. Policies speak in counts; the environment keeps
//! its hosts in one [`Picker`] so the simulator and the live fleet choose
//! the same hosts for the same instruction.

use crate::protocol::Cohort;
use std::collections::VecDeque;

/// Per group, zone and cohort, the hosts in the order they are picked: old
/// hosts lowest index first across zones, new hosts most recently moved
/// first. Host ids are the environment's own (`u32`).
#[derive(Clone, Debug, Default)]
pub struct Picker {
    /// `[group][zone][cohort]`.
    queues: Vec<Vec<[VecDeque<u32>; 2]>>,
}

fn ci(c: Cohort) -> usize {
    match c {
        Cohort::Old => 0,
        Cohort::New => 1,
    }
}

impl Picker {
    /// An empty picker for groups with these numbers of zones.
    pub fn new(zones_per_group: impl IntoIterator<Item = usize>) -> Self {
        Picker {
            queues: zones_per_group
                .into_iter()
                .map(|n| (0..n).map(|_| [VecDeque::new(), VecDeque::new()]).collect())
                .collect(),
        }
    }

    /// A host the run starts with, on the old version.
    pub fn add_initial(&mut self, group: usize, zone: usize, h: u32) {
        self.queues[group][zone][0].push_back(h);
    }

    /// Takes the next host of cohort `from` out of `group`'s pick order (of
    /// `zone` only, if given); `None` when there is none.
    pub fn take(
        &mut self,
        group: usize,
        zone: Option<usize>,
        from: Cohort,
    ) -> Option<(u32, usize)> {
        let zones = &mut self.queues[group];
        let range = match zone {
            Some(z) => z..z + 1,
            None => 0..zones.len(),
        };
        let c = ci(from);
        let z = match from {
            Cohort::Old => {
                range
                    .filter_map(|z| zones.get(z)?[c].front().map(|h| (*h, z)))
                    .min()?
                    .1
            }
            Cohort::New => {
                range
                    .filter_map(|z| zones.get(z)?[c].back().map(|h| (*h, z)))
                    .max()?
                    .1
            }
        };
        let h = match from {
            Cohort::Old => zones[z][c].pop_front(),
            Cohort::New => zones[z][c].pop_back(),
        }?;
        Some((h, z))
    }

    /// Puts a host taken from the other cohort into cohort `to`: a host
    /// moved to the new version is the first to go back; a host moved back
    /// is the first to move again.
    pub fn put(&mut self, group: usize, zone: usize, h: u32, to: Cohort) {
        let q = &mut self.queues[group][zone][ci(to)];
        match to {
            Cohort::New => q.push_back(h),
            Cohort::Old => q.push_front(h),
        }
    }

    /// The hosts of `group` in cohort `c` that can still be picked, zone by
    /// zone in pick-queue order.
    pub fn hosts(&self, group: usize, c: Cohort) -> impl Iterator<Item = u32> + '_ {
        self.queues[group]
            .iter()
            .flat_map(move |z| z[ci(c)].iter().copied())
    }

    /// Every host of `group` (both cohorts) in `zone`, or in all zones.
    pub fn all(&self, group: usize, zone: Option<usize>) -> impl Iterator<Item = u32> + '_ {
        let zones = &self.queues[group];
        let range = match zone {
            Some(z) => z.min(zones.len())..(z + 1).min(zones.len()),
            None => 0..zones.len(),
        };
        zones[range]
            .iter()
            .flat_map(|z| z.iter().flatten().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_hosts_go_lowest_index_first_and_new_ones_come_back_last_in_first_out() {
        let mut p = Picker::new([2]);
        for h in 0..4 {
            p.add_initial(0, h as usize % 2, h);
        }
        let (a, za) = p.take(0, None, Cohort::Old).unwrap();
        let (b, zb) = p.take(0, None, Cohort::Old).unwrap();
        assert_eq!((a, b), (0, 1));
        p.put(0, za, a, Cohort::New);
        p.put(0, zb, b, Cohort::New);
        assert_eq!(p.take(0, None, Cohort::New), Some((1, 1)));
        assert_eq!(p.take(0, Some(1), Cohort::Old), Some((3, 1)));
        assert_eq!(p.take(0, Some(1), Cohort::Old), None);
        assert_eq!(p.hosts(0, Cohort::Old).collect::<Vec<_>>(), vec![2]);
        assert_eq!(p.all(0, None).count(), 2);
    }
}
