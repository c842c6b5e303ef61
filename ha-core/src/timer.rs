//! A table of deadlines keyed by timer kind: timers as data, not tasks.

use crate::Instant;

/// A small table of named deadlines.
///
/// A protocol core keeps one of these instead of spawning timer tasks: it sets and stops
/// deadlines as the protocol demands, reports [`TimerTable::next_deadline`] from its
/// `poll_timeout`, and on `handle_timeout(now)` pops every [`TimerTable::expired`] timer in
/// deadline order. `K` is usually a small `Copy` enum.
///
/// ```
/// use std::time::Duration;
/// use ha_core::{Instant, TimerTable};
///
/// #[derive(Clone, Copy, PartialEq, Eq, Debug)]
/// enum Timer { Advert, MasterDown }
///
/// let mut timers = TimerTable::new();
/// timers.set(Timer::MasterDown, Instant::from_millis(300));
/// timers.set(Timer::Advert, Instant::from_millis(100));
/// assert_eq!(timers.next_deadline(), Some(Instant::from_millis(100)));
/// assert_eq!(timers.expired(Instant::from_millis(100)), Some(Timer::Advert));
/// assert_eq!(timers.expired(Instant::from_millis(100)), None);
/// timers.stop(Timer::MasterDown);
/// assert!(timers.is_empty());
/// ```
#[derive(Clone, Debug, Default)]
pub struct TimerTable<K> {
    // Few timers per core: a vector scan beats a heap and keeps order deterministic.
    entries: Vec<(K, Instant)>,
}

impl<K: Copy + Eq> TimerTable<K> {
    /// An empty table.
    pub const fn new() -> Self {
        TimerTable {
            entries: Vec::new(),
        }
    }

    /// Sets (or moves) the deadline of `timer`.
    pub fn set(&mut self, timer: K, deadline: Instant) {
        match self.entries.iter_mut().find(|(k, _)| *k == timer) {
            Some(entry) => entry.1 = deadline,
            None => self.entries.push((timer, deadline)),
        }
    }

    /// Stops `timer`; stopping a stopped timer is fine.
    pub fn stop(&mut self, timer: K) {
        self.entries.retain(|(k, _)| *k != timer);
    }

    /// Stops every timer.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// The deadline of `timer`, if running.
    pub fn get(&self, timer: K) -> Option<Instant> {
        self.entries
            .iter()
            .find(|(k, _)| *k == timer)
            .map(|(_, d)| *d)
    }

    /// Whether `timer` is running.
    pub fn is_set(&self, timer: K) -> bool {
        self.get(timer).is_some()
    }

    /// Whether no timer is running.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The earliest deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.entries.iter().map(|(_, d)| *d).min()
    }

    /// Removes and returns the earliest timer whose deadline is `<= now` (ties: the one set
    /// first), or `None`. Call it in a loop from `handle_timeout`.
    pub fn expired(&mut self, now: Instant) -> Option<K> {
        let (index, _) = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, (_, d))| *d <= now)
            .min_by_key(|(i, (_, d))| (*d, *i))?;
        Some(self.entries.remove(index).0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_in_deadline_order_then_insertion_order() {
        let mut t = TimerTable::new();
        t.set(3u8, Instant::from_millis(5));
        t.set(1u8, Instant::from_millis(7));
        t.set(2u8, Instant::from_millis(5));
        let now = Instant::from_millis(10);
        assert_eq!(t.expired(now), Some(3));
        assert_eq!(t.expired(now), Some(2));
        assert_eq!(t.expired(now), Some(1));
        assert_eq!(t.expired(now), None);
    }

    #[test]
    fn set_moves_existing_deadline() {
        let mut t = TimerTable::new();
        t.set('a', Instant::from_millis(5));
        t.set('a', Instant::from_millis(50));
        assert_eq!(t.expired(Instant::from_millis(10)), None);
        assert_eq!(t.next_deadline(), Some(Instant::from_millis(50)));
    }
}
