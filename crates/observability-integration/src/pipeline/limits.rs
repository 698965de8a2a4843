//! The OpenTelemetry span limits (`OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT`,
//! `OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT`, …), applied on the exporter thread to
//! every span before export: the steps' own spans and the SDK's alike, off
//! the application's threads.

use opentelemetry::{Array, KeyValue, StringValue, Value};
use opentelemetry_sdk::trace::SpanData;

use crate::config::ObservabilityConfig;

/// Limits of one pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SpanLimits {
    /// Bytes per string attribute value (`None`: no limit).
    pub(crate) value_length: Option<usize>,
    pub(crate) attributes: usize,
    pub(crate) events: usize,
    pub(crate) links: usize,
    pub(crate) event_attributes: usize,
    pub(crate) link_attributes: usize,
}

impl SpanLimits {
    pub(crate) fn of(cfg: &ObservabilityConfig) -> SpanLimits {
        SpanLimits {
            value_length: cfg.attribute_value_length_limit,
            attributes: cfg.attribute_count_limit,
            events: cfg.span_event_count_limit,
            links: cfg.span_link_count_limit,
            event_attributes: cfg.event_attribute_count_limit,
            link_attributes: cfg.link_attribute_count_limit,
        }
    }

    /// The SDK's own limits (counts; it has no value length limit).
    pub(crate) fn sdk(&self) -> opentelemetry_sdk::trace::SpanLimits {
        let n = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        opentelemetry_sdk::trace::SpanLimits {
            max_attributes_per_span: n(self.attributes),
            max_events_per_span: n(self.events),
            max_links_per_span: n(self.links),
            max_attributes_per_event: n(self.event_attributes),
            max_attributes_per_link: n(self.link_attributes),
        }
    }

    /// Cuts `span` to the limits; what is dropped is counted on it.
    pub(crate) fn apply(&self, span: &mut SpanData) {
        span.dropped_attributes_count += self.cap(&mut span.attributes, self.attributes);
        let events = &mut span.events;
        if events.events.len() > self.events {
            events.dropped_count += (events.events.len() - self.events) as u32;
            events.events.truncate(self.events);
        }
        for e in &mut events.events {
            e.dropped_attributes_count += self.cap(&mut e.attributes, self.event_attributes);
        }
        let links = &mut span.links;
        if links.links.len() > self.links {
            links.dropped_count += (links.links.len() - self.links) as u32;
            links.links.truncate(self.links);
        }
        for l in &mut links.links {
            l.dropped_attributes_count += self.cap(&mut l.attributes, self.link_attributes);
        }
    }

    /// Keeps at most `max` attributes and cuts their values; returns how
    /// many were dropped.
    fn cap(&self, attrs: &mut Vec<KeyValue>, max: usize) -> u32 {
        let dropped = attrs.len().saturating_sub(max);
        attrs.truncate(max);
        if let Some(limit) = self.value_length {
            for kv in attrs.iter_mut() {
                cut_value(&mut kv.value, limit);
            }
        }
        u32::try_from(dropped).unwrap_or(u32::MAX)
    }
}

/// `s` cut to at most `limit` bytes, at a character boundary.
fn cut(s: &str, limit: usize) -> Option<String> {
    if s.len() <= limit {
        return None;
    }
    let mut end = limit;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Some(s[..end].to_owned())
}

fn cut_value(v: &mut Value, limit: usize) {
    match v {
        Value::String(s) => {
            if let Some(c) = cut(s.as_str(), limit) {
                *s = StringValue::from(c);
            }
        }
        Value::Array(Array::String(items)) => {
            for s in items.iter_mut() {
                if let Some(c) = cut(s.as_str(), limit) {
                    *s = StringValue::from(c);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::cut;

    #[test]
    fn cuts_at_a_character_boundary() {
        assert_eq!(cut("héllo", 2).as_deref(), Some("h"));
        assert_eq!(cut("héllo", 3).as_deref(), Some("hé"));
        assert_eq!(cut("abc", 3), None);
    }
}
