//! [`Cache`]: memoises the inner step's successful outputs (moka).

use std::borrow::Cow;
use std::fmt;
use std::hash::Hash;
use std::time::Duration;

use async_trait::async_trait;
use opentelemetry::KeyValue;

use crate::context::WorkflowContext;
use crate::error::Error;
use crate::instrument::{count, Step};
use crate::name::Name;
use crate::position::Position;
use crate::primitive::Primitive;
use crate::semconv::attr;

/// Returns a cached output when the key function's key was seen within the
/// TTL; otherwise runs the inner step (its span a child of the cache's) and
/// stores a successful output. Errors are never cached.
///
/// The cache span carries `cache.hit`; `cache_hit` / `cache_miss` count.
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
    store: moka::future::Cache<K, V>,
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

    /// Entry lifetime (default 1 hour).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
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

    /// Builds the cache.
    pub fn build<K, V>(self) -> Cache<P, K, V, F>
    where
        K: Hash + Eq + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        let mut store = moka::future::Cache::builder()
            .max_capacity(self.max_capacity)
            .time_to_live(self.ttl);
        if self.lru {
            store = store.eviction_policy(moka::policy::EvictionPolicy::lru());
        }
        Cache {
            name: self.name,
            inner: Step::new(self.inner),
            key_fn: self.key_fn,
            store: store.build(),
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

    /// Drops every entry.
    pub fn invalidate_all(&self) {
        self.store.invalidate_all();
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
        if let Some(hit) = self.store.get(&key).await {
            ctx.set_attribute(KeyValue::new(attr::CACHE_HIT, true));
            count(ctx, |i| &i.cache_hit, &self.name, &[]);
            return Ok(hit);
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
                ctx.set_attribute(KeyValue::new(attr::CACHE_HIT, false));
                count(ctx, |i| &i.cache_miss, &self.name, &[]);
                self.inner
                    .call(ctx, input, Position::none())
                    .await
                    .map_err(|e| {
                        let shared = SharedError::of(&e);
                        own_error = Some(e);
                        shared
                    })
            })
            .await;
        if !led {
            ctx.set_attribute(KeyValue::new(attr::CACHE_HIT, true));
            ctx.set_attribute(KeyValue::new(attr::CACHE_COALESCED, true));
            count(ctx, |i| &i.cache_hit, &self.name, &[]);
            count(ctx, |i| &i.cache_coalesced, &self.name, &[]);
        }
        match result {
            Ok(v) => Ok(v),
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
