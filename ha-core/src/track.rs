//! The tracking model shared by VRRP and the checkers, with keepalived's semantics.
//!
//! A tracked object (an interface, a script, a file, a process, a BFD session, a checker)
//! is up or down. Each tracking reference carries a [`TrackWeight`] and a `reverse` flag:
//!
//! | weight | object (after `reverse`) up | object down |
//! |---|---|---|
//! | `> 0` | priority `+ weight` | no change |
//! | `< 0` | no change | priority `+ weight` (lower) |
//! | `0` | no change | **FAULT** |
//!
//! `reverse` swaps the sense of up and down before the table is applied, as keepalived's
//! `weight N reverse` does.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The state of a tracked object.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackState {
    /// Healthy / present / succeeding.
    Up,
    /// Failed / absent.
    Down,
}

impl TrackState {
    /// The opposite state.
    pub fn inverted(self) -> Self {
        match self {
            TrackState::Up => TrackState::Down,
            TrackState::Down => TrackState::Up,
        }
    }
}

/// A tracking weight, `-254..=254` (keepalived's range).
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default, Serialize, Deserialize,
)]
#[serde(try_from = "i16", into = "i16")]
pub struct TrackWeight(i16);

/// A weight outside `-254..=254`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Error)]
#[error("tracking weight {0} is outside -254..=254")]
pub struct WeightOutOfRange(pub i64);

impl TrackWeight {
    /// Weight zero: a down object causes FAULT.
    pub const FAULT: TrackWeight = TrackWeight(0);

    /// A checked weight.
    pub fn new(weight: i64) -> Result<Self, WeightOutOfRange> {
        if (-254..=254).contains(&weight) {
            Ok(TrackWeight(weight as i16))
        } else {
            Err(WeightOutOfRange(weight))
        }
    }

    /// The value.
    pub fn get(self) -> i16 {
        self.0
    }
}

impl TryFrom<i16> for TrackWeight {
    type Error = WeightOutOfRange;
    fn try_from(v: i16) -> Result<Self, Self::Error> {
        TrackWeight::new(v.into())
    }
}

impl From<TrackWeight> for i16 {
    fn from(w: TrackWeight) -> i16 {
        w.0
    }
}

impl fmt::Display for TrackWeight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// How one tracking reference reacts to its object's state.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
pub struct TrackSpec {
    /// The weight (0: FAULT when down).
    pub weight: TrackWeight,
    /// Swap the sense of up and down.
    #[serde(default)]
    pub reverse: bool,
}

/// What one tracked object contributes right now.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackEffect {
    /// Nothing.
    None,
    /// A priority change (positive or negative).
    Adjust(i16),
    /// The tracker must be in FAULT.
    Fault,
}

impl TrackSpec {
    /// A spec with this weight and no reverse.
    pub fn weight(weight: TrackWeight) -> Self {
        TrackSpec {
            weight,
            reverse: false,
        }
    }

    /// The effect of the object being in `state`.
    pub fn effect(&self, state: TrackState) -> TrackEffect {
        let state = if self.reverse {
            state.inverted()
        } else {
            state
        };
        let w = self.weight.get();
        match (w.signum(), state) {
            (0, TrackState::Down) => TrackEffect::Fault,
            (1, TrackState::Up) | (-1, TrackState::Down) => TrackEffect::Adjust(w),
            _ => TrackEffect::None,
        }
    }
}

/// The combined effect of a set of tracked objects.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct TrackSummary<K> {
    /// Sum of all adjustments.
    pub priority_delta: i32,
    /// Objects forcing FAULT, in key order; empty when not faulted.
    pub faulted_by: Vec<K>,
}

impl<K> TrackSummary<K> {
    /// Whether any object forces FAULT.
    pub fn is_fault(&self) -> bool {
        !self.faulted_by.is_empty()
    }
}

/// A set of tracked objects with their specs and current states.
///
/// ```
/// use ha_core::track::{TrackSet, TrackSpec, TrackState, TrackWeight};
///
/// let mut set = TrackSet::new();
/// set.insert("eth0", TrackSpec::weight(TrackWeight::FAULT), TrackState::Up);
/// set.insert("chk_nginx", TrackSpec::weight(TrackWeight::new(-20).unwrap()), TrackState::Up);
/// assert_eq!(set.summary().priority_delta, 0);
/// set.set_state(&"chk_nginx", TrackState::Down);
/// assert_eq!(set.summary().priority_delta, -20);
/// set.set_state(&"eth0", TrackState::Down);
/// assert!(set.summary().is_fault());
/// ```
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TrackSet<K: Ord> {
    objects: BTreeMap<K, (TrackSpec, TrackState)>,
}

impl<K: Ord + Clone> TrackSet<K> {
    /// An empty set.
    pub fn new() -> Self {
        TrackSet {
            objects: BTreeMap::new(),
        }
    }

    /// Adds or replaces a tracked object.
    pub fn insert(&mut self, key: K, spec: TrackSpec, state: TrackState) {
        self.objects.insert(key, (spec, state));
    }

    /// Removes a tracked object.
    pub fn remove(&mut self, key: &K) -> bool {
        self.objects.remove(key).is_some()
    }

    /// Updates an object's state; returns `true` when the state changed. Unknown keys are
    /// ignored (returns `false`).
    pub fn set_state(&mut self, key: &K, state: TrackState) -> bool {
        match self.objects.get_mut(key) {
            Some(entry) if entry.1 != state => {
                entry.1 = state;
                true
            }
            _ => false,
        }
    }

    /// The state of an object.
    pub fn state(&self, key: &K) -> Option<TrackState> {
        self.objects.get(key).map(|e| e.1)
    }

    /// Whether the set tracks `key`.
    pub fn contains(&self, key: &K) -> bool {
        self.objects.contains_key(key)
    }

    /// Number of tracked objects.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether nothing is tracked.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// Iterates over `(key, spec, state)`.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &TrackSpec, TrackState)> {
        self.objects.iter().map(|(k, (s, st))| (k, s, *st))
    }

    /// The combined effect.
    pub fn summary(&self) -> TrackSummary<K> {
        let mut summary = TrackSummary {
            priority_delta: 0,
            faulted_by: Vec::new(),
        };
        for (key, (spec, state)) in &self.objects {
            match spec.effect(*state) {
                TrackEffect::None => {}
                TrackEffect::Adjust(d) => summary.priority_delta += i32::from(d),
                TrackEffect::Fault => summary.faulted_by.push(key.clone()),
            }
        }
        summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(w: i64, reverse: bool) -> TrackSpec {
        TrackSpec {
            weight: TrackWeight::new(w).unwrap(),
            reverse,
        }
    }

    #[test]
    fn keepalived_weight_table() {
        use TrackEffect::*;
        use TrackState::*;
        assert_eq!(spec(10, false).effect(Up), Adjust(10));
        assert_eq!(spec(10, false).effect(Down), None);
        assert_eq!(spec(-10, false).effect(Up), None);
        assert_eq!(spec(-10, false).effect(Down), Adjust(-10));
        assert_eq!(spec(0, false).effect(Up), None);
        assert_eq!(spec(0, false).effect(Down), Fault);
    }

    #[test]
    fn reverse_swaps_up_and_down() {
        use TrackEffect::*;
        use TrackState::*;
        assert_eq!(spec(10, true).effect(Down), Adjust(10));
        assert_eq!(spec(10, true).effect(Up), None);
        assert_eq!(spec(-10, true).effect(Up), Adjust(-10));
        assert_eq!(spec(0, true).effect(Up), Fault);
        assert_eq!(spec(0, true).effect(Down), None);
    }

    #[test]
    fn weight_range_is_checked() {
        assert!(TrackWeight::new(254).is_ok());
        assert!(TrackWeight::new(-254).is_ok());
        assert_eq!(TrackWeight::new(255), Err(WeightOutOfRange(255)));
        assert!(serde_json::from_str::<TrackWeight>("300").is_err());
    }

    #[test]
    fn summary_sums_and_lists_faults_in_order() {
        let mut set = TrackSet::new();
        set.insert("b", spec(0, false), TrackState::Down);
        set.insert("a", spec(0, false), TrackState::Down);
        set.insert("c", spec(5, false), TrackState::Up);
        set.insert("d", spec(-3, false), TrackState::Down);
        let s = set.summary();
        assert_eq!(s.priority_delta, 2);
        assert_eq!(s.faulted_by, vec!["a", "b"]);
        assert!(!set.set_state(&"zzz", TrackState::Up));
        assert!(set.set_state(&"a", TrackState::Up));
        assert!(!set.set_state(&"a", TrackState::Up));
    }
}
