//! Prometheus names from OpenTelemetry names and units.

use opentelemetry::KeyValue;
use prometheus_client::registry::Unit;

use super::Labels;

/// Prometheus metric name from an OTel instrument name.
pub fn sanitize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for (i, c) in name.chars().enumerate() {
        let ok = c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit());
        out.push(if ok { c } else { '_' });
    }
    if out.is_empty() {
        out.push('_');
    }
    out
}

/// Prometheus label name from an OTel attribute key (no `:`; a leading
/// digit gets a `_` prefix).
pub fn sanitize_label(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 1);
    if key.starts_with(|c: char| c.is_ascii_digit()) {
        out.push('_');
    }
    for c in key.chars() {
        out.push(if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        });
    }
    if out.is_empty() {
        out.push('_');
    }
    out
}

/// The unit suffix prometheus-client should add, if any.
pub fn unit_for(name: &str, otel_unit: &str) -> Option<Unit> {
    match otel_unit {
        "s" if !name.ends_with("_seconds") => Some(Unit::Seconds),
        "By" if !name.ends_with("_bytes") => Some(Unit::Bytes),
        _ => None,
    }
}

pub(super) fn labels_of<'a>(attrs: impl Iterator<Item = &'a KeyValue>) -> Labels {
    let mut l: Labels = attrs
        .map(|kv| {
            (
                sanitize_label(kv.key.as_str()),
                kv.value.as_str().into_owned(),
            )
        })
        .collect();
    l.sort();
    l
}
