//! What the store keeps longest. The newest runs, up to a quarter of
//! `viewer_max_bytes`, stay whatever they are (the runs page always shows
//! what just happened). Older runs are evicted, when the store is full,
//! oldest first within a class and class by class in this order:
//!
//! 1. **ordinary**: succeeded, neither slow nor expensive (and traces
//!    whose root has not ended yet);
//! 2. **slow**: duration at or above the p90 duration of recent runs with
//!    the same root name;
//! 3. **expensive**: cost (`llm.cost.total` on the root) at or above the
//!    p90 cost of recent runs that had a cost (what an LLM bill is made of);
//! 4. **failed**: the root failed or was cancelled.
//!
//! Slow and expensive also mean above the median, so when most runs cost
//! the same, none of them counts as expensive. A run in several classes
//! takes the last one. Each percentile is over
//! the last [`WINDOW`] runs of its kind (the run itself included) and
//! needs [`MIN_RUNS`] of them; the class is fixed when the root ends.

use std::collections::{HashMap, VecDeque};

use opentelemetry_sdk::trace::SpanData;

use super::query::{duration_ms, number};
use super::store::run_failed;
use crate::llm::names::total;

/// Runs per percentile window.
pub(crate) const WINDOW: usize = 128;
/// Runs a window needs before it judges anything slow or expensive.
pub(crate) const MIN_RUNS: usize = 10;
/// Root names with their own duration window; runs of later names are
/// not judged slow.
const MAX_NAMES: usize = 1024;

/// Eviction class, evicted in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Class {
    Ordinary = 0,
    Slow = 1,
    Expensive = 2,
    Failed = 3,
}

impl Class {
    /// The `class` label of `observability_viewer_evicted_total`.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Class::Ordinary => "ordinary",
            Class::Expensive => "expensive",
            Class::Slow => "slow",
            Class::Failed => "failed",
        }
    }
}

/// The last [`WINDOW`] values, also kept sorted for the percentile.
#[derive(Debug, Default)]
struct Window {
    arrival: VecDeque<f64>,
    sorted: Vec<f64>,
}

impl Window {
    fn push(&mut self, v: f64) {
        if self.arrival.len() == WINDOW {
            if let Some(old) = self.arrival.pop_front() {
                let i = self.sorted.partition_point(|x| x.total_cmp(&old).is_lt());
                self.sorted.remove(i);
            }
        }
        self.arrival.push_back(v);
        let i = self.sorted.partition_point(|x| x.total_cmp(&v).is_lt());
        self.sorted.insert(i, v);
    }

    /// The nearest-rank percentile `p` (1..=100), once there are
    /// [`MIN_RUNS`] values.
    fn percentile(&self, p: usize) -> Option<f64> {
        let n = self.sorted.len();
        (n >= MIN_RUNS).then(|| self.sorted[(n * p).div_ceil(100).max(1) - 1])
    }

    fn p90(&self) -> Option<f64> {
        self.percentile(90)
    }

    /// Whether `v` is in the tail: at or above the p90, and above the
    /// median (when most runs cost the same, none of them is the tail).
    fn tail(&self, v: f64) -> bool {
        match (self.p90(), self.percentile(50)) {
            (Some(p90), Some(p50)) => v >= p90 && v > p50,
            _ => false,
        }
    }
}

/// Judges ended runs against the recent ones.
#[derive(Debug, Default)]
pub(crate) struct Judge {
    durations: HashMap<String, Window>,
    costs: Window,
}

fn cost(root: &SpanData) -> Option<f64> {
    number(root, total::COST_TOTAL).filter(|c| c.is_finite() && *c > 0.0)
}

impl Judge {
    /// The class of the run whose root is `root`, recording its duration
    /// and cost for the runs after it.
    pub(crate) fn judge(&mut self, root: &SpanData) -> Class {
        let d = duration_ms(root);
        let room = self.durations.len() < MAX_NAMES;
        let slow = match self.durations.get_mut(root.name.as_ref()) {
            Some(w) => {
                w.push(d);
                w.tail(d)
            }
            None => {
                if room {
                    let mut w = Window::default();
                    w.push(d);
                    self.durations.insert(root.name.to_string(), w);
                }
                false
            }
        };
        let expensive = cost(root).is_some_and(|c| {
            self.costs.push(c);
            self.costs.tail(c)
        });
        if run_failed(root) {
            Class::Failed
        } else if expensive {
            Class::Expensive
        } else if slow {
            Class::Slow
        } else {
            Class::Ordinary
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p90_is_nearest_rank_over_the_last_window() {
        let mut w = Window::default();
        for v in 1..=9 {
            w.push(f64::from(v));
        }
        assert_eq!(w.p90(), None, "fewer than MIN_RUNS");
        w.push(10.0);
        assert_eq!(w.p90(), Some(9.0));
        assert!(w.tail(9.0) && w.tail(10.0) && !w.tail(8.0));
        for v in 0..WINDOW {
            w.push(1000.0 + v as f64);
        }
        assert_eq!(w.sorted.len(), WINDOW);
        assert!(w.sorted.windows(2).all(|p| p[0] <= p[1]));
        let want = 1000.0 + ((WINDOW * 9).div_ceil(10) - 1) as f64;
        assert_eq!(w.p90(), Some(want), "old values left the window");
    }

    #[test]
    fn equal_values_are_not_a_tail() {
        let mut w = Window::default();
        for _ in 0..50 {
            w.push(0.01);
        }
        assert!(!w.tail(0.01));
        assert!(w.tail(0.02));
    }
}
