//! What the viewer's store holds and what it let go (the same type with or
//! without the `viewer` feature).

/// What the store holds and what it let go, since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ViewerStats {
    /// Bytes held now (the store's own accounting).
    pub bytes: usize,
    /// The bound (`viewer_max_bytes`).
    pub max_bytes: usize,
    /// The most bytes held after any change.
    pub peak_bytes: usize,
    /// Traces held now.
    pub traces: usize,
    /// Ordinary runs evicted to stay within the bound: succeeded, neither
    /// slow nor expensive, or not ended yet. They go first.
    pub evicted_ordinary: u64,
    /// Slow runs evicted (duration at or above the recent p90 of their
    /// root name). They go second.
    pub evicted_slow: u64,
    /// Expensive runs evicted (cost at or above the recent p90). They go
    /// third.
    pub evicted_expensive: u64,
    /// Failed or cancelled runs evicted. They go last.
    pub evicted_failed: u64,
    /// Spans not kept: their trace was full.
    pub spans_dropped: u64,
    /// Log lines not kept: their trace was full, or lines came faster than
    /// the store took them.
    pub logs_dropped: u64,
    /// Spans taken in over OTLP/HTTP (`POST /v1/traces`).
    pub spans_received: u64,
    /// Spans refused by the intake (bad ids), in requests it accepted.
    pub spans_rejected: u64,
}
