//! The enhanced [`Cache`]: the core cache (single flight, what a value
//! cost kept with it) plus evictions, entries, lookup time and
//! `operation_duration_seconds`.

use std::borrow::Cow;
use std::fmt;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::{KeyValue, StringValue};
use primitives_core::{
    async_trait, Amount, CacheCounters, CacheObserver, CacheOutcome, Error, Primitive,
    WorkflowContext,
};

use super::instruments::{label_value, timed, CacheToken, Handle};
use super::label;

/// [`primitives_core::Cache`] with metrics: the same builder and span
/// (`cache.hit`, `cache.coalesced`), core's `cache_hit_total`,
/// `cache_miss_total` and `cache_coalesced_total` (not repeated under
/// other names), and
///
/// - `cache_evictions_total{primitive, cause}` — cause `expired`, `size`,
///   `explicit` or `replaced`;
/// - `cache_entries{primitive}` (gauge);
/// - `cache_lookup_duration_seconds{primitive}` — the store's lookup
///   alone, not the step a miss runs;
/// - `operation_duration_seconds{operation, status}`.
///
/// A hit adds what its value cost when it was computed (the run totals
/// its miss added: tokens, cost) to the run's avoided totals, and the LLM
/// cost it avoided to `llm_cost_avoided_usd_total{model}`.
/// Built before setup, it records from setup on.
///
/// ```
/// use std::time::Duration;
/// use observability_integration::primitives::Cache;
/// use primitives_core::{lambda, PrimitiveExt, WorkflowContext};
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let expensive = lambda("embed", |q: String| async move { Ok::<_, std::io::Error>(q.len()) });
/// let cache = Cache::builder(expensive, |q: &String| q.clone())
///     .ttl(Duration::from_secs(3600))
///     .build();
/// assert_eq!(cache.run(&WorkflowContext::new(), "hello".into()).await.unwrap(), 5);
/// # }
/// ```
pub struct Cache<P, K, V, F> {
    inner: primitives_core::Cache<P, K, V, F>,
    name: StringValue,
    metrics: Arc<Handle>,
    token: Arc<CacheToken>,
}

impl<P, K, V, F> Drop for Cache<P, K, V, F> {
    fn drop(&mut self) {
        self.token.retire();
    }
}

impl<P, K, V, F> fmt::Debug for Cache<P, K, V, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Cache").field(&self.inner).finish()
    }
}

/// Builds a [`Cache`] (as [`primitives_core::CacheBuilder`]).
pub struct CacheBuilder<P, F> {
    inner: primitives_core::CacheBuilder<P, F>,
    name: Cow<'static, str>,
}

impl<P, F> fmt::Debug for CacheBuilder<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CacheBuilder").field(&self.inner).finish()
    }
}

impl Cache<(), (), (), ()> {
    /// Starts a cache around `inner`, keyed by `key_fn(&input)`. Keys are
    /// never exported.
    pub fn builder<P, F>(inner: P, key_fn: F) -> CacheBuilder<P, F> {
        CacheBuilder {
            inner: primitives_core::Cache::builder(inner, key_fn),
            name: Cow::Borrowed("cache"),
        }
    }
}

impl<P, F> CacheBuilder<P, F> {
    /// Renames the step (default `cache`).
    pub fn named(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = name.into();
        self.inner = self.inner.named(self.name.clone());
        self
    }

    /// Entry lifetime (default 1 hour).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.inner = self.inner.ttl(ttl);
        self
    }

    /// Maximum entries (default 10 000).
    pub fn max_capacity(mut self, n: u64) -> Self {
        self.inner = self.inner.max_capacity(n);
        self
    }

    /// Least-recently-used eviction instead of TinyLFU admission.
    pub fn lru(mut self) -> Self {
        self.inner = self.inner.lru();
        self
    }

    /// Builds the cache.
    pub fn build<K, V>(self) -> Cache<P, K, V, F>
    where
        K: Hash + Eq + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        let name = label_value(self.name);
        let metrics = Arc::new(Handle::default());
        let inner = self
            .inner
            .observer(Arc::new(Lookups {
                metrics: metrics.clone(),
                primitive: name.clone(),
            }))
            .build();
        let token = CacheToken::new(name.clone(), inner.counters().clone());
        metrics.report_cache(token.clone());
        Cache {
            inner,
            name,
            metrics,
            token,
        }
    }
}

/// Records each lookup's duration.
struct Lookups {
    metrics: Arc<Handle>,
    primitive: StringValue,
}

impl CacheObserver for Lookups {
    fn lookup(&self, ctx: &WorkflowContext, _outcome: CacheOutcome, took: Duration) {
        if let Some(i) = self.metrics.get(ctx) {
            i.cache_lookup.record(
                took.as_secs_f64(),
                &[KeyValue::new(label::PRIMITIVE, self.primitive.clone())],
            );
        }
    }

    fn avoided(&self, ctx: &WorkflowContext, spent: &[(Cow<'static, str>, Amount)]) {
        crate::llm::record_avoided(ctx, spent);
    }
}

impl<P, K, V, F> Cache<P, K, V, F>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// Entries currently stored (approximate until maintenance runs).
    pub fn entry_count(&self) -> u64 {
        self.inner.entry_count()
    }

    /// Runs the store's pending maintenance (expiry, eviction) now.
    pub async fn run_pending_tasks(&self) {
        self.inner.run_pending_tasks().await;
    }

    /// Drops every entry.
    pub fn invalidate_all(&self) {
        self.inner.invalidate_all();
    }

    /// Drops the entry for `key`, if any.
    pub async fn invalidate(&self, key: &K) {
        self.inner.invalidate(key).await;
    }

    /// Stores `value` under `key`, replacing any value there.
    pub async fn insert(&self, key: K, value: V) {
        self.inner.insert(key, value).await;
    }

    /// Entries stored and evictions by cause.
    pub fn counters(&self) -> &Arc<CacheCounters> {
        self.inner.counters()
    }

    /// The core cache this one wraps.
    pub fn inner(&self) -> &primitives_core::Cache<P, K, V, F> {
        &self.inner
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
        timed(
            self.metrics.get(ctx),
            &self.name,
            self.inner.execute(ctx, input),
        )
        .await
    }
    fn name(&self) -> &str {
        Primitive::<In>::name(&self.inner)
    }
    fn primitive_type(&self) -> &'static str {
        Primitive::<In>::primitive_type(&self.inner)
    }
}
