//! Interned names: span names and attribute values must be `'static` to be
//! free to copy on the hot path.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Deref;
use std::sync::{Mutex, PoisonError};

use opentelemetry::KeyValue;

/// Names are few (one per primitive, route or case), so they are interned
/// up to a cap; past it they stay owned (slower, never leaked).
const INTERN_CAP: usize = 4096;
static INTERNED: Mutex<BTreeMap<String, &'static str>> = Mutex::new(BTreeMap::new());

/// The interned `'static` copy of `s` (an owned copy past the cap).
pub(crate) fn intern(s: &str) -> Name {
    let mut map = INTERNED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(v) = map.get(s) {
        return Name(Cow::Borrowed(*v));
    }
    if map.len() >= INTERN_CAP {
        return Name(Cow::Owned(s.to_owned()));
    }
    let leaked: &'static str = Box::leak(s.to_owned().into_boxed_str());
    map.insert(s.to_owned(), leaked);
    Name(Cow::Borrowed(leaked))
}

/// A primitive, route or case name: `'static` (free to copy into spans and
/// labels) when it is a literal or was interned.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Name(pub(crate) Cow<'static, str>);

impl Name {
    pub(crate) const fn fixed(s: &'static str) -> Name {
        Name(Cow::Borrowed(s))
    }

    pub(crate) fn new(s: impl Into<Cow<'static, str>>) -> Name {
        match s.into() {
            Cow::Borrowed(b) => Name(Cow::Borrowed(b)),
            Cow::Owned(o) => intern(&o),
        }
    }

    /// A `KeyValue` with this name as value, without allocating when static.
    pub(crate) fn kv(&self, key: &'static str) -> KeyValue {
        KeyValue::new(key, self.0.clone())
    }
}

impl Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
