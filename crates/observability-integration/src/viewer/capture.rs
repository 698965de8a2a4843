//! The log lines of traces, for the viewer: a `tracing` layer that hands
//! each event inside a sampled trace to the store, with the span it
//! belongs to. The application's thread only formats the line and pushes
//! it onto a short queue.

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

use super::store::{LogLine, Store};
use crate::logs::{current_span_context, JsonVisitor};

/// Longest message or field text kept per line, in bytes.
const MAX_TEXT: usize = 4096;

/// Hands log lines to a store (switchable, for the global subscriber
/// that outlives stacks).
#[derive(Clone, Default)]
pub(crate) struct LogCapture(pub(crate) Arc<ArcSwapOption<Store>>);

impl LogCapture {
    pub(crate) fn to(store: Option<Arc<Store>>) -> LogCapture {
        LogCapture(Arc::new(ArcSwapOption::new(store)))
    }

    pub(crate) fn point(&self, store: Option<Arc<Store>>) {
        self.0.store(store);
    }
}

/// `s` cut to at most `MAX_TEXT` bytes at a character boundary.
fn bounded(mut s: String) -> String {
    if s.len() > MAX_TEXT {
        let mut end = MAX_TEXT;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

impl<S: Subscriber> Layer<S> for LogCapture {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let guard = self.0.load();
        let Some(store) = guard.as_ref() else {
            return;
        };
        let Some(sc) = current_span_context().filter(|sc| sc.is_sampled()) else {
            return;
        };
        let mut v = JsonVisitor::default();
        event.record(&mut v);
        let fields = if v.fields.len() > MAX_TEXT {
            // Cut fields can't stay JSON: keep them as one string.
            let mut cut = String::from("{\"fields\":");
            let text = bounded(std::mem::take(&mut v.fields));
            cut.push_str(&serde_json::Value::String(text).to_string());
            cut.push('}');
            cut
        } else {
            format!("{{{}}}", v.fields)
        };
        let meta = event.metadata();
        store.push_log(LogLine {
            time: std::time::SystemTime::now(),
            level: *meta.level(),
            target: meta.target().to_owned(),
            message: bounded(v.message),
            fields,
            trace_id: sc.trace_id(),
            span_id: sc.span_id(),
        });
    }
}
