//! Prometheus names from OpenTelemetry names and units.

use opentelemetry::KeyValue;
use prometheus_client::registry::Unit;

use super::Labels;

/// Longest metric name or label value served, in bytes.
pub const MAX_SERIES_TEXT: usize = 128;

/// `s` as served: unchanged up to [`MAX_SERIES_TEXT`] bytes; longer, cut
/// (at a character boundary) and suffixed with `~` and 8 hex digits of a
/// hash of the whole value, so two long values that share a prefix never
/// fold into one series.
pub fn bounded(s: String) -> String {
    if s.len() <= MAX_SERIES_TEXT {
        return s;
    }
    // FNV-1a, 32 bits: stable across runs and builds.
    let hash = s.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    let mut end = MAX_SERIES_TEXT - 9;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}~{hash:08x}", &s[..end])
}

/// Prometheus metric name from an OTel instrument name (at most
/// [`MAX_SERIES_TEXT`] bytes before unit and `_total` suffixes).
pub fn sanitize_name(name: &str) -> String {
    bounded_name(sanitize_chars(name))
}

/// A long metric name cut like [`bounded`], with `_` for `~` (not a name
/// character).
fn bounded_name(name: String) -> String {
    let long = name.len() > MAX_SERIES_TEXT;
    let b = bounded(name);
    if long {
        b.replace('~', "_")
    } else {
        b
    }
}

fn sanitize_chars(name: &str) -> String {
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
    merged_labels(attrs.map(|kv| (kv.key.as_str(), kv.value.as_str())))
}

/// Prometheus labels from (attribute key, value) pairs, sorted by label
/// name. Keys that sanitise to one label name (`http.method`,
/// `http_method`) become one label whose values are joined with `;` in
/// the lexicographic order of the original keys, as the OpenTelemetry
/// Prometheus compatibility rules ask: a scrape with two equal label names
/// would be rejected whole.
pub(super) fn merged_labels<'a, V: AsRef<str>>(
    pairs: impl Iterator<Item = (&'a str, V)>,
) -> Labels {
    let mut raw: Vec<(String, &'a str, V)> =
        pairs.map(|(k, v)| (sanitize_label(k), k, v)).collect();
    raw.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    let mut out: Labels = Vec::with_capacity(raw.len());
    for (name, _, value) in raw {
        match out.last_mut() {
            Some((last, joined)) if *last == name => {
                joined.push(';');
                joined.push_str(value.as_ref());
            }
            _ => out.push((name, value.as_ref().to_owned())),
        }
    }
    for (name, value) in &mut out {
        *name = bounded_name(std::mem::take(name));
        *value = bounded(std::mem::take(value));
    }
    out
}
