//! The runs list: a row per run (a trace with its local root ended),
//! filtered, newest first.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{Status, TraceId};
use opentelemetry::Value;
use opentelemetry_sdk::trace::SpanData;
use opentelemetry_sdk::Resource;
use primitives_core::semconv::attr;
use serde::Serialize;

use super::store::{run_failed, Inner, Trace};
use crate::llm::names::total;

/// Rows returned when `limit` is not given, and at most.
pub(crate) const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

/// One run.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RunRow {
    pub(crate) trace_id: String,
    pub(crate) name: String,
    /// The `service.name` of the process the root came from.
    pub(crate) service: String,
    /// RFC 3339, UTC.
    pub(crate) start: String,
    pub(crate) duration_ms: f64,
    /// `ok`, `error` or `cancelled`.
    pub(crate) status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) correlation_id: Option<String>,
    pub(crate) span_count: usize,
    pub(crate) log_count: usize,
    /// Its retention class: `ordinary`, `slow`, `expensive` or `failed`.
    pub(crate) retention: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tokens: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) cost_usd: Option<f64>,
}

/// What `GET /api/runs` filters on.
#[derive(Debug, Clone, Default)]
pub(crate) struct RunFilter {
    name: Option<String>,
    status: Option<&'static str>,
    correlation_id: Option<String>,
    min_duration_ms: Option<f64>,
    q: Option<String>,
    retention: Option<&'static str>,
    oldest_first: bool,
    pub(crate) limit: usize,
}

impl RunFilter {
    /// From the query parameters; `Err` names the parameter, the value and
    /// what it takes.
    pub(crate) fn parse(params: &HashMap<String, String>) -> Result<RunFilter, String> {
        let mut f = RunFilter {
            limit: DEFAULT_LIMIT,
            ..RunFilter::default()
        };
        for (k, v) in params {
            let v = v.trim();
            if v.is_empty() {
                continue;
            }
            match k.as_str() {
                "name" => f.name = Some(v.to_owned()),
                "correlation_id" => f.correlation_id = Some(v.to_owned()),
                "q" => f.q = Some(v.to_owned()),
                "status" => {
                    f.status = Some(match v {
                        "ok" => "ok",
                        "error" => "error",
                        "cancelled" => "cancelled",
                        _ => return Err(format!("status={v:?}: accepted: ok, error, cancelled")),
                    })
                }
                "retention" => {
                    f.retention = Some(match v {
                        "ordinary" => "ordinary",
                        "slow" => "slow",
                        "expensive" => "expensive",
                        "failed" => "failed",
                        _ => {
                            return Err(format!(
                                "retention={v:?}: accepted: ordinary, slow, expensive, failed"
                            ))
                        }
                    })
                }
                "order" => {
                    f.oldest_first = match v {
                        "newest" => false,
                        "oldest" => true,
                        _ => return Err(format!("order={v:?}: accepted: newest, oldest")),
                    }
                }
                "min_duration_ms" => {
                    f.min_duration_ms = Some(
                        v.parse::<f64>()
                            .ok()
                            .filter(|d| d.is_finite() && *d >= 0.0)
                            .ok_or_else(|| {
                                format!("min_duration_ms={v:?}: a number of milliseconds ≥ 0")
                            })?,
                    )
                }
                "limit" => {
                    f.limit = v
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or_else(|| format!("limit={v:?}: a whole number in 1..={MAX_LIMIT}"))?
                }
                _ => {
                    return Err(format!(
                        "unknown parameter {k:?}: accepted: name, status, correlation_id, min_duration_ms, q, retention, order, limit"
                    ))
                }
            }
        }
        Ok(f)
    }
}

/// The runs matching `filter`, newest first (or oldest), and how many
/// matched in all.
pub(crate) fn runs(inner: &Inner, filter: &RunFilter) -> (Vec<RunRow>, usize) {
    let mut rows = Vec::new();
    let mut matched = 0;
    let q = filter.q.as_deref().map(str::as_bytes);
    let ids: Box<dyn Iterator<Item = &TraceId>> = if filter.oldest_first {
        Box::new(inner.order.values())
    } else {
        Box::new(inner.order.values().rev())
    };
    for id in ids {
        let Some(trace) = inner.traces.get(id) else {
            continue;
        };
        let Some(root) = trace.root() else {
            continue;
        };
        let row_status = status(root);
        if filter.status.is_some_and(|s| s != row_status)
            || filter.retention.is_some_and(|r| r != trace.class().label())
            || filter
                .name
                .as_deref()
                .is_some_and(|n| !contains_ci(root.name.as_bytes(), n.as_bytes()))
            || filter
                .min_duration_ms
                .is_some_and(|min| duration_ms(root) < min)
            || filter
                .correlation_id
                .as_deref()
                .is_some_and(|c| correlation_id(trace).as_deref() != Some(c))
            || q.is_some_and(|q| !mentions(trace, q))
        {
            continue;
        }
        matched += 1;
        if rows.len() < filter.limit {
            rows.push(row(trace, root, &inner.service));
        }
    }
    (rows, matched)
}

/// The `service.name` of `resource`.
pub(crate) fn service_name(resource: &Resource) -> String {
    resource
        .get(&opentelemetry::Key::from_static_str("service.name"))
        .map_or_else(|| "unknown_service".to_owned(), |v| v.to_string())
}

/// The row of `trace`, whose local root is `root`; `local` is this
/// process's service name.
pub(crate) fn row(trace: &Trace, root: &SpanData, local: &str) -> RunRow {
    RunRow {
        trace_id: root.span_context.trace_id().to_string(),
        name: root.name.to_string(),
        service: trace
            .root
            .and_then(|i| trace.resource_of(i))
            .map_or_else(|| local.to_owned(), |r| service_name(r)),
        start: rfc3339(root.start_time),
        duration_ms: duration_ms(root),
        status: status(root),
        error: match &root.status {
            Status::Error { description } => Some(description.to_string()),
            _ => None,
        },
        correlation_id: correlation_id(trace),
        span_count: trace.spans.len(),
        log_count: trace.logs.len(),
        retention: trace.class().label(),
        tokens: number(root, total::TOTAL),
        cost_usd: number(root, total::COST_TOTAL),
    }
}

pub(crate) fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_micros(t).to_string()
}

pub(crate) fn duration_ms(span: &SpanData) -> f64 {
    span.end_time
        .duration_since(span.start_time)
        .unwrap_or(Duration::ZERO)
        .as_secs_f64()
        * 1000.0
}

fn status(root: &SpanData) -> &'static str {
    if !run_failed(root) {
        "ok"
    } else if matches!(root.status, Status::Error { .. }) {
        "error"
    } else {
        "cancelled"
    }
}

fn correlation_id(trace: &Trace) -> Option<String> {
    trace
        .root()
        .into_iter()
        .chain(trace.spans.iter())
        .find_map(|s| {
            s.attributes
                .iter()
                .find(|kv| kv.key.as_str() == attr::WORKFLOW_CORRELATION_ID)
                .map(|kv| kv.value.as_str().into_owned())
        })
}

/// A numeric attribute of `span`.
pub(crate) fn number(span: &SpanData, key: &str) -> Option<f64> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .and_then(|kv| match kv.value {
            Value::F64(f) => Some(f),
            Value::I64(i) => Some(i as f64),
            _ => None,
        })
}

/// Whether any span's name, attribute key or value, or any log line's
/// message or fields, contains `q` (ASCII case-insensitive).
fn mentions(trace: &Trace, q: &[u8]) -> bool {
    trace.spans.iter().any(|s| {
        contains_ci(s.name.as_bytes(), q)
            || s.attributes.iter().any(|kv| {
                contains_ci(kv.key.as_str().as_bytes(), q)
                    || contains_ci(kv.value.as_str().as_bytes(), q)
            })
            || matches!(&s.status, Status::Error { description } if contains_ci(description.as_bytes(), q))
    }) || trace.logs.iter().any(|l| {
        contains_ci(l.message.as_bytes(), q) || contains_ci(l.fields.as_bytes(), q)
    })
}

/// ASCII case-insensitive substring test, allocation-free.
fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty()
        || hay
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contains_ignores_ascii_case() {
        assert!(contains_ci(b"Primitive.Handle", b"handle"));
        assert!(!contains_ci(b"abc", b"abcd"));
        assert!(contains_ci(b"", b""));
    }

    #[test]
    fn bad_parameters_are_named() {
        let p = |k: &str, v: &str| HashMap::from([(k.to_owned(), v.to_owned())]);
        assert!(RunFilter::parse(&p("status", "weird"))
            .unwrap_err()
            .contains("status"));
        assert!(RunFilter::parse(&p("limit", "0"))
            .unwrap_err()
            .contains("limit"));
        assert!(RunFilter::parse(&p("min_duration_ms", "-1"))
            .unwrap_err()
            .contains("min_duration_ms"));
        assert!(RunFilter::parse(&p("nope", "1"))
            .unwrap_err()
            .contains("nope"));
        assert_eq!(RunFilter::parse(&p("limit", "5")).unwrap().limit, 5);
    }
}
