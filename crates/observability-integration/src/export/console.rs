//! Exporters of our own: human-readable console lines, and a counter.

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use opentelemetry::trace::Status;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

/// Human-readable span lines, for debugging (`enable_console_exporter`):
///
/// ```text
/// [trace 4bf92f35… span 00f067aa…<-b7ad6b71…] primitive.fetch 12.3ms OK primitive.type=lambda step.index=0
/// ```
pub struct ConsoleSpanExporter {
    out: Mutex<Box<dyn Write + Send>>,
}

impl fmt::Debug for ConsoleSpanExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConsoleSpanExporter")
    }
}

impl Default for ConsoleSpanExporter {
    fn default() -> Self {
        Self::new(Box::new(std::io::stderr()))
    }
}

impl ConsoleSpanExporter {
    /// Writes to `out`.
    pub fn new(out: Box<dyn Write + Send>) -> Self {
        ConsoleSpanExporter {
            out: Mutex::new(out),
        }
    }

    /// The line printed for `span`.
    pub fn format(span: &SpanData) -> String {
        let took = span
            .end_time
            .duration_since(span.start_time)
            .unwrap_or_default();
        let status = match &span.status {
            Status::Error { description } => format!("ERROR({description})"),
            Status::Ok => "OK".into(),
            Status::Unset => "UNSET".into(),
        };
        let attrs: Vec<String> = span
            .attributes
            .iter()
            .map(|kv| format!("{}={}", kv.key, kv.value))
            .collect();
        let short = |s: String| s.chars().take(8).collect::<String>();
        format!(
            "[trace {}… span {}…<-{}…] {} {:.3}ms {} {}",
            short(span.span_context.trace_id().to_string()),
            short(span.span_context.span_id().to_string()),
            short(span.parent_span_id.to_string()),
            span.name,
            took.as_secs_f64() * 1000.0,
            status,
            attrs.join(" ")
        )
    }
}

impl SpanExporter for ConsoleSpanExporter {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        let mut result = Ok(());
        for span in &batch {
            if let Err(e) = writeln!(out, "{}", Self::format(span)) {
                result = Err(OTelSdkError::InternalFailure(format!(
                    "console write failed: {e}"
                )));
                break;
            }
        }
        drop(out);
        std::future::ready(result)
    }
}

/// A span exporter that only counts what it receives (benches, tests).
#[derive(Debug, Clone, Default)]
pub struct CountingSpanExporter {
    received: Arc<AtomicU64>,
}

impl CountingSpanExporter {
    /// Spans received so far.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::SeqCst)
    }
}

impl SpanExporter for CountingSpanExporter {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        self.received
            .fetch_add(batch.len() as u64, Ordering::SeqCst);
        std::future::ready(Ok(()))
    }
}
