//! The names this crate records under: span attribute keys, metric
//! instrument names and label keys. The integration crate (Prometheus
//! exposition, the viewer, dashboards) reads them from here instead of
//! repeating the strings.

/// Instrumentation scope name of everything this crate records.
pub const SCOPE_NAME: &str = "primitives-core";

/// What a step's default span name starts with: `primitive.<name>`.
pub const SPAN_NAME_PREFIX: &str = "primitive.";

/// Span attribute keys.
pub mod attr {
    /// The step's name (`primitive.<name>` is the span name).
    pub const PRIMITIVE_NAME: &str = "primitive.name";
    /// The step's primitive type (`sequential`, `retry`, `lambda`, …).
    pub const PRIMITIVE_TYPE: &str = "primitive.type";
    /// `true` on a step whose future was dropped before it finished.
    pub const PRIMITIVE_CANCELLED: &str = "primitive.cancelled";
    /// A failed step's error type (bounded: the error's category).
    pub const ERROR_TYPE: &str = "error.type";
    /// On a run's root span: the correlation id.
    pub const WORKFLOW_CORRELATION_ID: &str = "workflow.correlation_id";
    /// On a run's root span: the workflow id, when one was given.
    pub const WORKFLOW_ID: &str = "workflow.id";
    /// On a run's root span: the session id, when one was given.
    pub const SESSION_ID: &str = "session.id";
    /// Position: index of a step in a sequence.
    pub const STEP_INDEX: &str = "step.index";
    /// Position: index of a branch in a parallel.
    pub const BRANCH_INDEX: &str = "branch.index";
    /// Position: attempt number of a retried step (0-based).
    pub const RETRY_ATTEMPT: &str = "retry.attempt";
    /// On a retry's span: attempts it took.
    pub const RETRY_ATTEMPTS: &str = "retry.attempts";
    /// Position: `primary` or `fallback`.
    pub const FALLBACK_ROLE: &str = "fallback.role";
    /// On a fallback's span: whether the fallback ran.
    pub const FALLBACK_USED: &str = "fallback.used";
    /// Position and router span: the route that ran.
    pub const ROUTER_ROUTE: &str = "router.route";
    /// Position: the case a switch ran.
    pub const SWITCH_CASE: &str = "switch.case";
    /// Position: `then` or `else`.
    pub const CONDITION_BRANCH: &str = "condition.branch";
    /// Position: `action` or `compensation`.
    pub const SAGA_ROLE: &str = "saga.role";
    /// On a saga's span: whether compensation succeeded.
    pub const SAGA_COMPENSATED: &str = "saga.compensated";
    /// On a cache's span: whether the value came from the cache.
    pub const CACHE_HIT: &str = "cache.hit";
    /// Whether a cache call waited for a concurrent call of the same key
    /// instead of running the step (single flight).
    pub const CACHE_COALESCED: &str = "cache.coalesced";
    /// On a circuit breaker's span: the state the call found.
    pub const CIRCUIT_STATE: &str = "circuit.state";
    /// On a timeout's span: its budget in milliseconds.
    pub const TIMEOUT_BUDGET_MS: &str = "timeout.budget_ms";
    /// On a timeout's span: `ok`, `timed_out` or `error`.
    pub const TIMEOUT_OUTCOME: &str = "timeout.outcome";
    /// On a router's span: why its route was taken (`selected`,
    /// `default` or `selector_error`).
    pub const ROUTER_REASON: &str = "router.reason";
    /// Prefix of a run's root span attributes for what cache hits avoided
    /// (`cache.avoided.<key>`).
    pub const CACHE_AVOIDED_PREFIX: &str = "cache.avoided.";
}

/// Metric instrument names (OpenTelemetry spelling; Prometheus adds
/// `_total` to counters and `_seconds` to the duration histogram).
pub mod metric {
    /// Observable counter: executions by primitive, type and status.
    pub const PRIMITIVE_EXECUTIONS: &str = "primitive_executions";
    /// Histogram (seconds): execution time by primitive and type.
    pub const PRIMITIVE_DURATION: &str = "primitive_duration";
    /// Counter: failures by primitive and error type.
    pub const PRIMITIVE_ERRORS: &str = "primitive_errors";
    /// Observable up-down counter: executions in flight by primitive.
    pub const PRIMITIVE_ACTIVE: &str = "primitive_active";
    /// Counter: retry attempts by primitive and outcome.
    pub const RETRY_ATTEMPTS: &str = "retry_attempts";
    /// Counter: times a fallback ran.
    pub const FALLBACK_USED: &str = "fallback_used";
    /// Counter: timeouts that elapsed.
    pub const TIMEOUT_EXPIRED: &str = "timeout_expired";
    /// Counter: circuit breaker transitions by primitive, from and to.
    pub const CIRCUIT_BREAKER_TRANSITIONS: &str = "circuit_breaker_transitions";
    /// Counter: cache hits.
    pub const CACHE_HIT: &str = "cache_hit";
    /// Counter: cache misses.
    pub const CACHE_MISS: &str = "cache_miss";
    /// Counter: cache calls that waited for a concurrent miss of the same
    /// key (also counted as hits).
    pub const CACHE_COALESCED: &str = "cache_coalesced";
    /// Counter: workflow runs (root steps) by workflow and status.
    pub const WORKFLOW_RUNS: &str = "workflow_runs";
    /// Histogram (seconds): run time by workflow.
    pub const WORKFLOW_RUN_DURATION: &str = "workflow_run_duration";
}

/// Metric label keys.
pub mod label {
    /// The primitive's name.
    pub const PRIMITIVE: &str = "primitive";
    /// The primitive's type.
    pub const TYPE: &str = "type";
    /// `ok`, `error` or `cancelled`.
    pub const STATUS: &str = "status";
    /// A failure's error type.
    pub const ERROR_TYPE: &str = "error_type";
    /// A retry attempt's outcome: `ok`, `retry` or `exhausted`.
    pub const OUTCOME: &str = "outcome";
    /// A circuit transition's old state.
    pub const FROM: &str = "from";
    /// A circuit transition's new state.
    pub const TO: &str = "to";
    /// The workflow of a run: its root step's name.
    pub const WORKFLOW: &str = "workflow";
}

/// The name and type of the in-process statistics entry that sums every
/// primitive past [`STATS_CAPACITY`] distinct (name, type) pairs.
pub const STATS_OVERFLOW: &str = "_overflow";

/// Distinct (name, type) pairs the in-process statistics keep apart; the
/// rest are summed into one [`STATS_OVERFLOW`] entry, so a process that
/// names primitives dynamically can't grow the registry without bound.
pub const STATS_CAPACITY: usize = 4096;

/// Histogram bucket bounds (seconds) for run durations: 5 ms to 5 min,
/// with 2 s among them (a common latency objective: an SLO threshold must
/// be a bucket bound).
pub const RUN_DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// Histogram bucket bounds (seconds) for step durations: 1 ms to 60 s.
pub const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
