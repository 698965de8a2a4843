//! The correlation-id header: which header carries it (config
//! `correlation_id_header`, default `x-correlation-id`), and which incoming
//! ids are accepted.

use std::sync::{PoisonError, RwLock};

use http::HeaderName;

/// The default correlation-id header.
pub const DEFAULT_CORRELATION_HEADER: &str = "x-correlation-id";

/// The longest incoming correlation id accepted.
pub const MAX_CORRELATION_ID_LEN: usize = 128;

/// The header in force (set by setup; the default before).
static HEADER: RwLock<Option<HeaderName>> = RwLock::new(None);

/// The correlation-id header in force: the installed setup's
/// `correlation_id_header`, else `x-correlation-id`.
pub fn correlation_header() -> HeaderName {
    HEADER
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
        .unwrap_or(HeaderName::from_static(DEFAULT_CORRELATION_HEADER))
}

/// Sets the header (setup calls this with the config's value, already
/// checked).
pub(crate) fn set_correlation_header(name: HeaderName) {
    *HEADER.write().unwrap_or_else(PoisonError::into_inner) = Some(name);
}

/// Whether an incoming id is used as is: 1 to 128 characters of
/// `[A-Za-z0-9._:-]`. Anything else (empty, longer, other characters,
/// control codes, non-ASCII) is replaced by a new id, so a caller cannot
/// inject log lines or unbounded values.
pub fn valid_correlation_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_CORRELATION_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_ids_are_accepted() {
        for ok in ["req-1", "a", "2026-12-02T10:00:00.123_x", &"x".repeat(128)] {
            assert!(valid_correlation_id(ok), "{ok}");
        }
        for bad in [
            "",
            &"x".repeat(129),
            "a b",
            "a\nfake log line",
            "ünï",
            "a/b",
            "a;b",
            "{\"json\":1}",
        ] {
            assert!(!valid_correlation_id(bad), "{bad:?}");
        }
    }
}
