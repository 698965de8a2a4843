//! [`Cache`]: memoises the inner step's successful outputs (moka).

mod counters;

use std::borrow::Cow;
use std::fmt;
use std::hash::Hash;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use opentelemetry::KeyValue;

use crate::context::WorkflowContext;
use crate::error::Error;
use crate::instrument::{count, Step};
use crate::name::Name;
use crate::position::Position;
use crate::primitive::Primitive;
use crate::semconv::attr;
use crate::totals::TotalsList;

pub use counters::{CacheCounters, CacheObserver, CacheOutcome, EvictionCause};

/// The longest TTL kept (moka refuses more than 1000 years).
const MAX_TTL: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// A stored value and what computing it spent (the run totals its miss
/// added), so a hit can report what it avoided.
#[derive(Clone)]
struct Entry<V> {
    value: V,
    spent: Option<Arc<TotalsList>>,
}

/// Returns a cached output when the key function's key was seen within the
/// TTL; otherwise runs the inner step (its span a child of the cache's) and
/// stores a successful output. Errors are never cached.
///
/// The cache span carries `cache.hit`; `cache_hit` / `cache_miss` count.
///
/// What the step added to the run's totals
/// ([`WorkflowContext::add_to_run`]: tokens, cost) while computing a value
/// is kept with it; a hit adds those amounts to the run's *avoided*
/// totals ([`WorkflowContext::add_avoided`]), so a run reports the cost a
/// cache saved it. [`Cache::counters`] counts entries and evictions by
/// cause.
///
/// Concurrent misses for one key run the inner step once (single flight):
/// the callers that waited for it get its output, count as hits and as
/// `cache_coalesced`, and their spans carry `cache.coalesced=true`. If it
/// fails, every waiter gets the error, with the same error type and message
/// (the waiters' error can't be downcast to the original type; the leader's
/// can), and nothing is cached. If its caller is cancelled or panics, a
/// waiter runs the step itself.
/// Storage is a [moka](https://docs.rs/moka) cache bounded by entry count,
/// with moka's default TinyLFU admission: when full, a new key may be
/// refused instead of evicting an old one. Call [`CacheBuilder::lru`] for plain
/// least-recently-used eviction. Eviction and expiry run in moka's
/// maintenance, so `entry_count` may briefly exceed the capacity.
pub struct Cache<P, K, V, F> {
    name: Name,
    inner: Step<P>,
    key_fn: F,
    store: moka::future::Cache<K, Entry<V>>,
    counters: Arc<CacheCounters>,
    observer: Option<Arc<dyn CacheObserver>>,
}

impl<P, K, V, F> fmt::Debug for Cache<P, K, V, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("name", &self.name)
            .field("entries", &self.store.entry_count())
            .finish_non_exhaustive()
    }
}

/// Builds a [`Cache`].
pub struct CacheBuilder<P, F> {
    name: Name,
    inner: P,
    key_fn: F,
    ttl: Duration,
    max_capacity: u64,
    lru: bool,
    observer: Option<Arc<dyn CacheObserver>>,
}

impl<P, F> fmt::Debug for CacheBuilder<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheBuilder")
            .field("ttl", &self.ttl)
            .field("max_capacity", &self.max_capacity)
            .field("lru", &self.lru)
            .finish_non_exhaustive()
    }
}

impl<P, F> CacheBuilder<P, F> {
    /// Renames the step (default `cache`).
    pub fn named(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = Name::new(name);
        self
    }

    /// Entry lifetime (default 1 hour; at most 100 years — longer is
    /// taken as 100 years, which moka can represent).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl.min(MAX_TTL);
        self
    }

    /// Maximum entries (default 10 000).
    pub fn max_capacity(mut self, n: u64) -> Self {
        self.max_capacity = n;
        self
    }

    /// Least-recently-used eviction instead of TinyLFU admission.
    pub fn lru(mut self) -> Self {
        self.lru = true;
        self
    }

    /// Calls `observer` on every lookup with its outcome and duration.
    pub fn observer(mut self, observer: Arc<dyn CacheObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Builds the cache.
    pub fn build<K, V>(self) -> Cache<P, K, V, F>
    where
        K: Hash + Eq + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        let counters = Arc::new(CacheCounters::default());
        let on_removal = counters.clone();
        let mut store = moka::future::Cache::builder()
            .max_capacity(self.max_capacity)
            .time_to_live(self.ttl)
            .eviction_listener(move |_key, _value, cause| {
                on_removal.removed(EvictionCause::of(cause));
            });
        if self.lru {
            store = store.eviction_policy(moka::policy::EvictionPolicy::lru());
        }
        Cache {
            name: self.name,
            inner: Step::new(self.inner),
            key_fn: self.key_fn,
            store: store.build(),
            counters,
            observer: self.observer,
        }
    }
}

/// A failure handed to the callers that waited for it: the leader's error
/// type and message (the leader keeps the original).
#[derive(Debug, Clone)]
struct SharedError {
    error_type: String,
    message: String,
}

impl SharedError {
    fn of(e: &Error) -> SharedError {
        SharedError {
            error_type: e.error_type().to_owned(),
            message: e.to_string(),
        }
    }

    fn to_error(&self) -> Error {
        Error::with_error_type(
            self.error_type.clone(),
            CoalescedError(self.message.clone()),
        )
    }
}

/// The error a waiting caller gets when the call it waited for failed.
#[derive(Debug, thiserror::Error)]
#[error("{0} (the concurrent call this one waited for failed)")]
struct CoalescedError(String);

impl Cache<(), (), (), ()> {
    /// Starts a cache around `inner`, keyed by `key_fn(&input)`. Keys are
    /// never exported.
    pub fn builder<P, F>(inner: P, key_fn: F) -> CacheBuilder<P, F> {
        CacheBuilder {
            name: Name::fixed("cache"),
            inner,
            key_fn,
            ttl: Duration::from_secs(3600),
            max_capacity: 10_000,
            lru: false,
            observer: None,
        }
    }
}

impl<P, K, V, F> Cache<P, K, V, F>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// Entries currently stored (approximate until maintenance runs).
    pub fn entry_count(&self) -> u64 {
        self.store.entry_count()
    }

    /// Runs moka's pending maintenance (expiry, eviction) now.
    pub async fn run_pending_tasks(&self) {
        self.store.run_pending_tasks().await;
    }

    /// Drops every entry (counted as `explicit` evictions as maintenance
    /// removes them).
    pub fn invalidate_all(&self) {
        self.store.invalidate_all();
    }

    /// Drops the entry for `key`, if any.
    pub async fn invalidate(&self, key: &K) {
        self.store.invalidate(key).await;
    }

    /// Stores `value` under `key` (warming the cache); a value already
    /// there is replaced (a `replaced` eviction).
    pub async fn insert(&self, key: K, value: V) {
        self.inserted();
        self.store.insert(key, Entry { value, spent: None }).await;
    }

    /// Entries stored and evictions by cause.
    pub fn counters(&self) -> &Arc<CacheCounters> {
        &self.counters
    }

    fn observe(&self, ctx: &WorkflowContext, outcome: CacheOutcome, took: Option<Duration>) {
        if let (Some(o), Some(t)) = (&self.observer, took) {
            o.lookup(ctx, outcome, t);
        }
    }

    /// Counts a stored value (a cache of capacity 0 stores nothing).
    fn inserted(&self) {
        if self.store.policy().max_capacity() != Some(0) {
            self.counters.inserted();
        }
    }
}

/// Adds what a cached value cost to the run's avoided totals, and tells
/// the observer.
fn avoided(
    ctx: &WorkflowContext,
    spent: Option<&Arc<TotalsList>>,
    observer: Option<&Arc<dyn CacheObserver>>,
) {
    let Some(spent) = spent else {
        return;
    };
    for (key, amount) in spent.iter() {
        ctx.add_avoided(key.clone(), *amount);
    }
    if let Some(o) = observer {
        o.avoided(ctx, spent);
    }
}

#[async_trait]
impl<In, P, K, F> Primitive<In> for Cache<P, K, P::Output, F>
where
    In: Send + 'static,
    P: Primitive<In>,
    P::Output: Clone + Sync,
    K: Hash + Eq + Send + Sync + 'static,
    F: Fn(&In) -> K + Send + Sync,
{
    type Output = P::Output;
    async fn execute(&self, ctx: &WorkflowContext, input: In) -> Result<P::Output, Error> {
        let key = (self.key_fn)(&input);
        let since = self.observer.is_some().then(Instant::now);
        let found = self.store.get(&key).await;
        // The probe alone: a miss's step, or the wait for a concurrent
        // one, is not lookup time.
        let took = since.map(|t| t.elapsed());
        if let Some(hit) = found {
            self.observe(ctx, CacheOutcome::Hit, took);
            ctx.set_attribute(KeyValue::new(attr::CACHE_HIT, true));
            count(ctx, |i| &i.cache_hit, &self.name, &[]);
            avoided(ctx, hit.spent.as_ref(), self.observer.as_ref());
            return Ok(hit.value);
        }
        // Single flight: concurrent misses for one key run the inner step
        // once (moka's `try_get_with`); the others wait for its result. If
        // the leader is cancelled, a waiter runs the step instead.
        let mut led = false;
        let mut own_error: Option<Error> = None;
        let result = self
            .store
            .try_get_with(key, async {
                led = true;
                self.observe(ctx, CacheOutcome::Miss, took);
                ctx.set_attribute(KeyValue::new(attr::CACHE_HIT, false));
                count(ctx, |i| &i.cache_miss, &self.name, &[]);
                // What the step spends is measured in a scope of its own,
                // so concurrent steps of the run don't count in it.
                let (scoped, scope) = ctx.scoped();
                match self.inner.call(&scoped, input, Position::none()).await {
                    Ok(value) => {
                        self.inserted();
                        let spent = scope.spent();
                        Ok(Entry {
                            value,
                            spent: (!spent.is_empty()).then(|| Arc::new(spent)),
                        })
                    }
                    Err(e) => {
                        let shared = SharedError::of(&e);
                        own_error = Some(e);
                        Err(shared)
                    }
                }
            })
            .await;
        if !led {
            self.observe(ctx, CacheOutcome::Coalesced, took);
            ctx.set_attribute(KeyValue::new(attr::CACHE_HIT, true));
            ctx.set_attribute(KeyValue::new(attr::CACHE_COALESCED, true));
            count(ctx, |i| &i.cache_hit, &self.name, &[]);
            count(ctx, |i| &i.cache_coalesced, &self.name, &[]);
        }
        match result {
            Ok(entry) => {
                if !led {
                    avoided(ctx, entry.spent.as_ref(), self.observer.as_ref());
                }
                Ok(entry.value)
            }
            // The leader returns its own error, downcastable as before.
            Err(shared) => Err(own_error.unwrap_or_else(|| shared.to_error())),
        }
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn primitive_type(&self) -> &'static str {
        "cache"
    }
}
