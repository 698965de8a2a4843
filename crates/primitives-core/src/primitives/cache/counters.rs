//! What a [`Cache`](super::Cache) counts of its store, and the hook that
//! sees each lookup.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use std::borrow::Cow;

use crate::context::WorkflowContext;
use crate::totals::Amount;

/// Why an entry left a cache (the `cause` label of the integration's
/// `cache_evictions_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EvictionCause {
    /// Its time to live passed.
    Expired,
    /// The cache was full (or refused to admit it).
    Size,
    /// [`Cache::invalidate`](super::Cache::invalidate) or
    /// [`invalidate_all`](super::Cache::invalidate_all).
    Explicit,
    /// [`Cache::insert`](super::Cache::insert) put a new value under its key.
    Replaced,
}

impl EvictionCause {
    /// Every cause.
    pub const ALL: [EvictionCause; 4] = [
        EvictionCause::Expired,
        EvictionCause::Size,
        EvictionCause::Explicit,
        EvictionCause::Replaced,
    ];

    /// `expired`, `size`, `explicit` or `replaced`.
    pub fn as_str(self) -> &'static str {
        match self {
            EvictionCause::Expired => "expired",
            EvictionCause::Size => "size",
            EvictionCause::Explicit => "explicit",
            EvictionCause::Replaced => "replaced",
        }
    }

    pub(super) fn of(cause: moka::notification::RemovalCause) -> EvictionCause {
        use moka::notification::RemovalCause as R;
        match cause {
            R::Expired => EvictionCause::Expired,
            R::Size => EvictionCause::Size,
            R::Explicit => EvictionCause::Explicit,
            R::Replaced => EvictionCause::Replaced,
        }
    }
}

/// A cache's running counts: entries stored and evictions by cause. Kept
/// whether or not anything is installed (a few relaxed atomics, touched
/// on insert and removal only), shared with
/// [`Cache::counters`](super::Cache::counters) so a metrics reader can
/// hold it (weakly) and read it when it collects.
#[derive(Debug, Default)]
pub struct CacheCounters {
    entries: AtomicI64,
    evictions: [AtomicU64; 4],
}

impl CacheCounters {
    /// Entries stored: inserted minus removed. Like moka's own count, it
    /// includes expired entries not yet swept by maintenance.
    pub fn entries(&self) -> u64 {
        u64::try_from(self.entries.load(Ordering::Relaxed)).unwrap_or(0)
    }

    /// Entries that left the cache for `cause`.
    pub fn evictions(&self, cause: EvictionCause) -> u64 {
        self.evictions[cause as usize].load(Ordering::Relaxed)
    }

    pub(super) fn inserted(&self) {
        self.entries.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn removed(&self, cause: EvictionCause) {
        self.entries.fetch_sub(1, Ordering::Relaxed);
        self.evictions[cause as usize].fetch_add(1, Ordering::Relaxed);
    }
}

/// How a cache call found its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheOutcome {
    /// The value was stored.
    Hit,
    /// It was not: this call ran the step.
    Miss,
    /// It was not, and this call waited for a concurrent miss of the same
    /// key (counted as a hit too).
    Coalesced,
}

/// Sees every lookup of a cache (installed with
/// [`CacheBuilder::observer`](super::CacheBuilder::observer); the
/// integration crate's cache measures lookups with it). Called in the
/// cache's context, on the caller's task: keep it short and non-blocking.
pub trait CacheObserver: Send + Sync + 'static {
    /// A lookup found `outcome`; `took` is the store's lookup alone (for a
    /// miss, not the step it then runs).
    fn lookup(&self, ctx: &WorkflowContext, outcome: CacheOutcome, took: Duration);

    /// A hit (or coalesced call) avoided `spent`: what computing its value
    /// added to that run's totals. Called after the amounts were added to
    /// this run's avoided totals. Does nothing by default.
    fn avoided(&self, ctx: &WorkflowContext, spent: &[(Cow<'static, str>, Amount)]) {
        let _ = (ctx, spent);
    }
}
