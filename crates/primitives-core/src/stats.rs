//! In-process per-primitive statistics ([`PrimitiveMetrics`]).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::name::Name;
use crate::semconv::{STATS_CAPACITY, STATS_OVERFLOW};

/// A snapshot of one primitive's statistics, readable in process.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct PrimitiveMetrics {
    /// Primitive name.
    pub name: String,
    /// Primitive type (`sequential`, `retry`, `lambda`, …).
    pub primitive_type: String,
    /// Finished executions (successes + failures + cancellations).
    pub executions: u64,
    /// Executions that returned `Ok`.
    pub successes: u64,
    /// Executions that returned `Err`.
    pub failures: u64,
    /// Executions dropped before finishing (cancelled by a timeout, a
    /// failing parallel sibling, or the caller).
    pub cancelled: u64,
    /// Shortest execution.
    pub min_duration: Duration,
    /// Mean execution time.
    pub avg_duration: Duration,
    /// Longest execution.
    pub max_duration: Duration,
    /// Failures by error kind.
    pub errors: BTreeMap<String, u64>,
}

impl PrimitiveMetrics {
    /// Successes over finished executions (1.0 when none ran).
    pub fn success_rate(&self) -> f64 {
        if self.executions == 0 {
            1.0
        } else {
            self.successes as f64 / self.executions as f64
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Stats {
    started: AtomicU64,
    successes: AtomicU64,
    failures: AtomicU64,
    cancelled: AtomicU64,
    total_ns: AtomicU64,
    min_ns: AtomicU64,
    max_ns: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
}

pub(crate) enum Outcome<'a> {
    Ok,
    Err(&'a str),
    Cancelled,
}

impl Stats {
    fn new() -> Self {
        Stats {
            min_ns: AtomicU64::new(u64::MAX),
            ..Stats::default()
        }
    }

    /// One execution started (in flight until recorded).
    #[inline]
    pub(crate) fn start(&self) {
        self.started.fetch_add(1, Ordering::Relaxed);
    }

    /// (successes, failures, cancelled, in flight). Finished counts are
    /// read before `started` and the difference saturates at 0, so in
    /// flight may under-report for an instant but is never negative.
    pub(crate) fn counts(&self) -> (u64, u64, u64, i64) {
        let ok = self.successes.load(Ordering::Relaxed);
        let failed = self.failures.load(Ordering::Relaxed);
        let cancelled = self.cancelled.load(Ordering::Relaxed);
        let started = self.started.load(Ordering::Relaxed);
        let finished = ok + failed + cancelled;
        let active = i64::try_from(started.saturating_sub(finished)).unwrap_or(i64::MAX);
        (ok, failed, cancelled, active)
    }

    pub(crate) fn record(&self, elapsed: Duration, outcome: Outcome<'_>) {
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.total_ns.fetch_add(ns, Ordering::Relaxed);
        // A new extreme is rare once a step has run a few times: a load
        // is enough to tell, the read-modify-write only runs when it is one.
        if ns < self.min_ns.load(Ordering::Relaxed) {
            self.min_ns.fetch_min(ns, Ordering::Relaxed);
        }
        if ns > self.max_ns.load(Ordering::Relaxed) {
            self.max_ns.fetch_max(ns, Ordering::Relaxed);
        }
        match outcome {
            Outcome::Ok => {
                self.successes.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Err(kind) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                let mut errors = self.errors.lock().unwrap_or_else(PoisonError::into_inner);
                match errors.get_mut(kind) {
                    Some(n) => *n += 1,
                    None => {
                        errors.insert(kind.to_owned(), 1);
                    }
                }
            }
            Outcome::Cancelled => {
                self.cancelled.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn snapshot(&self, name: &str, kind: &str) -> PrimitiveMetrics {
        let successes = self.successes.load(Ordering::Relaxed);
        let failures = self.failures.load(Ordering::Relaxed);
        let cancelled = self.cancelled.load(Ordering::Relaxed);
        let executions = successes + failures + cancelled;
        let total = self.total_ns.load(Ordering::Relaxed);
        let min = self.min_ns.load(Ordering::Relaxed);
        PrimitiveMetrics {
            name: name.to_owned(),
            primitive_type: kind.to_owned(),
            executions,
            successes,
            failures,
            cancelled,
            min_duration: Duration::from_nanos(if executions == 0 { 0 } else { min }),
            avg_duration: Duration::from_nanos(total.checked_div(executions).unwrap_or(0)),
            max_duration: Duration::from_nanos(self.max_ns.load(Ordering::Relaxed)),
            errors: self
                .errors
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }
}

type StatsKey = (Name, &'static str);

/// Statistics of every primitive that ran against one [`Telemetry`](crate::Telemetry).
#[derive(Debug, Default)]
pub(crate) struct StatsRegistry {
    by_primitive: Mutex<BTreeMap<StatsKey, Arc<Stats>>>,
}

impl StatsRegistry {
    /// The statistics of (`name`, `kind`): its own entry while the registry
    /// holds fewer than [`STATS_CAPACITY`] of them, else the shared
    /// [`STATS_OVERFLOW`] entry.
    pub(crate) fn get(&self, name: &Name, kind: &'static str) -> Arc<Stats> {
        let mut map = self
            .by_primitive
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let key = (name.clone(), kind);
        if let Some(s) = map.get(&key) {
            return s.clone();
        }
        let overflow = (Name::fixed(STATS_OVERFLOW), STATS_OVERFLOW);
        let own = map.len() - usize::from(map.contains_key(&overflow));
        let key = if own < STATS_CAPACITY { key } else { overflow };
        map.entry(key)
            .or_insert_with(|| Arc::new(Stats::new()))
            .clone()
    }

    /// Calls `f` with every primitive's name, type and statistics.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&Name, &'static str, &Stats)) {
        let map = self
            .by_primitive
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for ((name, kind), s) in map.iter() {
            f(name, kind, s);
        }
    }

    pub(crate) fn snapshot(&self) -> Vec<PrimitiveMetrics> {
        let map = self
            .by_primitive
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        map.iter()
            .map(|((name, kind), s)| s.snapshot(name, kind))
            .collect()
    }
}
