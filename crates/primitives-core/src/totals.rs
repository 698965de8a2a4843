//! Run totals: numbers the steps of one run add up (tokens, cost, calls),
//! read by the run's root span and by the caller when the run ends.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use opentelemetry::{Key, KeyValue, Value};

/// Most distinct keys a run keeps in each of its lists (spent and
/// avoided); amounts for further keys are not kept. Keys are meant to be
/// a few fixed names (`llm.tokens.input`, `llm.cost_usd`), not data.
pub const MAX_RUN_TOTALS: usize = 64;

/// An amount added to a run total: a count (tokens, calls) or a value
/// (cost). Counts add up exactly (saturating); adding a value to a count
/// makes the total a value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Amount {
    /// A whole number.
    Count(u64),
    /// A real number.
    Value(f64),
}

impl Amount {
    fn plus(self, other: Amount) -> Amount {
        match (self, other) {
            (Amount::Count(a), Amount::Count(b)) => Amount::Count(a.saturating_add(b)),
            (a, b) => Amount::Value(a.as_f64() + b.as_f64()),
        }
    }

    /// The amount as a float.
    pub fn as_f64(self) -> f64 {
        match self {
            Amount::Count(n) => n as f64,
            Amount::Value(v) => v,
        }
    }

    /// The amount as a count, when it is one.
    pub fn as_count(self) -> Option<u64> {
        match self {
            Amount::Count(n) => Some(n),
            Amount::Value(_) => None,
        }
    }

    /// The amount as an attribute value (counts past `i64::MAX` saturate).
    pub fn to_value(self) -> Value {
        match self {
            Amount::Count(n) => Value::I64(i64::try_from(n).unwrap_or(i64::MAX)),
            Amount::Value(v) => Value::F64(v),
        }
    }
}

macro_rules! amount_from {
    ($($t:ty => $variant:ident),*) => {$(
        impl From<$t> for Amount {
            fn from(v: $t) -> Amount {
                Amount::$variant(v.into())
            }
        }
    )*};
}
amount_from!(u64 => Count, u32 => Count, u16 => Count, u8 => Count, f64 => Value, f32 => Value);

impl From<usize> for Amount {
    fn from(v: usize) -> Amount {
        Amount::Count(u64::try_from(v).unwrap_or(u64::MAX))
    }
}

/// `(key, amount)` pairs in the order their keys were first added.
pub type TotalsList = Vec<(Cow<'static, str>, Amount)>;

// `&Cow`, not `&str`: a new key is cloned in, and a borrowed static key
// stays a pointer copy.
#[allow(clippy::ptr_arg)]
fn add_to(list: &mut TotalsList, key: &Cow<'static, str>, amount: Amount) {
    if let Some((_, total)) = list.iter_mut().find(|(k, _)| k == key) {
        *total = total.plus(amount);
    } else if list.len() < MAX_RUN_TOTALS {
        list.push((key.clone(), amount));
    }
}

fn lock(m: &Mutex<TotalsList>) -> std::sync::MutexGuard<'_, TotalsList> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One level of totals: a run's, or a scope inside it (a cache miss
/// measuring what its step spent). Adding to a scope adds to every level
/// above it too.
#[derive(Debug, Default)]
pub(crate) struct Totals {
    spent: Mutex<TotalsList>,
    avoided: Mutex<TotalsList>,
    parent: Option<Arc<Totals>>,
    /// Whether anything was added (read without a lock at a run's end).
    touched: AtomicBool,
}

impl Totals {
    pub(crate) fn scope_of(parent: Arc<Totals>) -> Arc<Totals> {
        Arc::new(Totals {
            parent: Some(parent),
            ..Totals::default()
        })
    }

    #[allow(clippy::ptr_arg)]
    pub(crate) fn add(&self, key: &Cow<'static, str>, amount: Amount) {
        self.touched.store(true, Ordering::Relaxed);
        add_to(&mut lock(&self.spent), key, amount);
        if let Some(p) = &self.parent {
            p.add(key, amount);
        }
    }

    #[allow(clippy::ptr_arg)]
    pub(crate) fn add_avoided(&self, key: &Cow<'static, str>, amount: Amount) {
        self.touched.store(true, Ordering::Relaxed);
        add_to(&mut lock(&self.avoided), key, amount);
        if let Some(p) = &self.parent {
            p.add_avoided(key, amount);
        }
    }

    /// Whether anything was ever added at this level.
    pub(crate) fn touched(&self) -> bool {
        self.touched.load(Ordering::Relaxed)
    }

    pub(crate) fn snapshot(&self) -> RunTotals {
        RunTotals {
            spent: lock(&self.spent).clone(),
            avoided: lock(&self.avoided).clone(),
        }
    }

    /// What was spent at this level (a cache keeps it with the value).
    pub(crate) fn spent(&self) -> TotalsList {
        lock(&self.spent).clone()
    }
}

/// A snapshot of a run's totals ([`WorkflowContext::run_totals`](crate::WorkflowContext::run_totals)).
///
/// *Spent* is what the run's steps added with
/// [`add_to_run`](crate::WorkflowContext::add_to_run); *avoided* is what
/// cache hits saved: the amounts the cached value cost when its miss ran.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunTotals {
    spent: TotalsList,
    avoided: TotalsList,
}

impl RunTotals {
    /// The total spent under `key`.
    pub fn get(&self, key: &str) -> Option<Amount> {
        self.spent.iter().find(|(k, _)| k == key).map(|(_, a)| *a)
    }

    /// The total avoided by cache hits under `key`.
    pub fn avoided(&self, key: &str) -> Option<Amount> {
        self.avoided.iter().find(|(k, _)| k == key).map(|(_, a)| *a)
    }

    /// Every spent total, in the order its key was first added.
    pub fn spent(&self) -> &[(Cow<'static, str>, Amount)] {
        &self.spent
    }

    /// Every avoided total.
    pub fn avoided_all(&self) -> &[(Cow<'static, str>, Amount)] {
        &self.avoided
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.spent.is_empty() && self.avoided.is_empty()
    }

    /// The root span's attributes: each spent total under its key, each
    /// avoided one under `cache.avoided.<key>`.
    pub(crate) fn attributes(&self) -> impl Iterator<Item = KeyValue> + '_ {
        let spent = self
            .spent
            .iter()
            .map(|(k, a)| KeyValue::new(Key::from(k.clone()), a.to_value()));
        let avoided = self.avoided.iter().map(|(k, a)| {
            KeyValue::new(
                format!("{}{k}", crate::semconv::attr::CACHE_AVOIDED_PREFIX),
                a.to_value(),
            )
        });
        spent.chain(avoided)
    }
}

/// A limit on one of a run's totals ([`WorkflowContext::with_budget`](crate::WorkflowContext::with_budget)):
/// once the run's total under its key reaches the limit, steps that check
/// budgets (the integration's LLM calls) fail fast with
/// [`BudgetExceeded`](crate::BudgetExceeded) instead of spending more.
#[derive(Debug, Clone, PartialEq)]
pub struct Budget {
    key: Cow<'static, str>,
    limit: f64,
}

impl Budget {
    /// At most `limit` of the run total `key`.
    pub fn total(key: impl Into<Cow<'static, str>>, limit: f64) -> Budget {
        Budget {
            key: key.into(),
            limit,
        }
    }

    /// At most `usd` dollars of LLM cost (the run total `llm.cost.total`,
    /// which the integration's LLM calls add).
    pub fn usd(usd: f64) -> Budget {
        Budget::total("llm.cost.total", usd)
    }

    /// At most `n` LLM tokens (the run total `llm.token_count.total`).
    pub fn tokens(n: u64) -> Budget {
        Budget::total("llm.token_count.total", n as f64)
    }

    /// The run total it limits.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The limit.
    pub fn limit(&self) -> f64 {
        self.limit
    }

    /// The run total so far, when it has reached the limit.
    pub(crate) fn reached(&self, totals: &Totals) -> Option<f64> {
        let spent = lock(&totals.spent)
            .iter()
            .find(|(k, _)| *k == self.key)
            .map(|(_, a)| a.as_f64())
            .unwrap_or(0.0);
        // NaN limits are never reached; a limit of 0 is reached at once.
        (spent >= self.limit).then_some(spent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_exactly_and_values_take_over() {
        let t = Totals::default();
        let k: Cow<'static, str> = "tokens".into();
        t.add(&k, Amount::Count(u64::MAX - 1));
        t.add(&k, 5u64.into());
        assert_eq!(t.snapshot().get("tokens"), Some(Amount::Count(u64::MAX)));
        let c: Cow<'static, str> = "cost".into();
        t.add(&c, 1u64.into());
        t.add(&c, 0.5f64.into());
        assert_eq!(t.snapshot().get("cost"), Some(Amount::Value(1.5)));
    }

    #[test]
    fn a_scope_adds_to_its_run_and_keys_are_bounded() {
        let run = Arc::new(Totals::default());
        let scope = Totals::scope_of(run.clone());
        scope.add(&"a".into(), 2u64.into());
        run.add(&"a".into(), 1u64.into());
        assert_eq!(scope.snapshot().get("a"), Some(Amount::Count(2)));
        assert_eq!(run.snapshot().get("a"), Some(Amount::Count(3)));
        for i in 0..MAX_RUN_TOTALS + 10 {
            run.add(&Cow::Owned(format!("k{i}")), 1u64.into());
        }
        assert_eq!(run.snapshot().spent().len(), MAX_RUN_TOTALS);
        assert_eq!(run.snapshot().get("a"), Some(Amount::Count(3)));
    }
}
