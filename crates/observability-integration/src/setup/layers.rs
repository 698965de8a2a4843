//! Our `tracing` layers: the OpenTelemetry layer (users' `tracing` spans
//! join the same traces) and the log formatter (JSON or human, with trace
//! correlation).

use std::sync::Arc;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::subscriber::Interest;
use tracing::Metadata;
use tracing_subscriber::filter::EnvFilter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Filter};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use crate::config::ObservabilityConfig;
use crate::logs::JsonFormat;

/// The exporters' network stack: its own `tracing` spans must never become
/// exported spans (exporting them would feed back into itself), and its
/// logs are kept at WARN.
const NETWORK_TARGETS: &[&str] = &["h2", "hyper", "hyper_util", "tonic", "tower", "reqwest"];

/// The OpenTelemetry crates: their diagnostics follow `sdk_log_level`, and
/// their spans are never exported either.
const OTEL_TARGETS: &[&str] = &[
    "opentelemetry",
    "opentelemetry_sdk",
    "opentelemetry_otlp",
    "opentelemetry-otlp",
];

/// Whether `target` is `of` or one of its modules.
fn is_target(target: &str, of: &str) -> bool {
    target == of
        || target
            .strip_prefix(of)
            .is_some_and(|rest| rest.starts_with("::"))
}

/// Keeps the exporters' own spans out of the traces. Decided once per
/// callsite (the interest is always or never), not per event.
pub(super) struct NotExporters;

impl NotExporters {
    fn admits(meta: &Metadata<'_>) -> bool {
        let t = meta.target();
        !NETWORK_TARGETS
            .iter()
            .chain(OTEL_TARGETS)
            .any(|of| is_target(t, of))
    }
}

impl<S> Filter<S> for NotExporters {
    fn enabled(&self, meta: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        Self::admits(meta)
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        if Self::admits(meta) {
            Interest::always()
        } else {
            Interest::never()
        }
    }
}

/// The log writer, shared by every layer made from one setup.
#[derive(Clone)]
pub(super) struct SharedWriter(Arc<BoxMakeWriter>);

impl SharedWriter {
    pub(super) fn new(writer: Option<BoxMakeWriter>) -> Self {
        SharedWriter(Arc::new(
            writer.unwrap_or_else(|| BoxMakeWriter::new(std::io::stdout)),
        ))
    }
}

impl<'a> MakeWriter<'a> for SharedWriter {
    type Writer = <BoxMakeWriter as MakeWriter<'a>>::Writer;
    fn make_writer(&'a self) -> Self::Writer {
        self.0.make_writer()
    }
    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        self.0.make_writer_for(meta)
    }
}

/// Our layers for `cfg`: the OpenTelemetry layer when `tracer_provider` is
/// given, the log formatter when `writer` is.
pub(super) fn layers<S>(
    cfg: &ObservabilityConfig,
    tracer_provider: Option<&SdkTracerProvider>,
    writer: Option<&SharedWriter>,
    viewer: Option<Arc<crate::viewer::Store>>,
) -> Box<dyn Layer<S> + Send + Sync + 'static>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    let mut layers: Vec<Box<dyn Layer<S> + Send + Sync>> = Vec::new();
    if let Some(tp) = tracer_provider {
        let otel = tracing_opentelemetry::layer()
            .with_tracer(tp.tracer("tracing"))
            .with_tracked_inactivity(false)
            .with_threads(false)
            .with_filter(NotExporters)
            .with_filter(env_filter(cfg));
        layers.push(Box::new(otel));
    }
    if let Some(writer) = writer {
        let fmt_layer: Box<dyn Layer<S> + Send + Sync> = if cfg.structured_logging {
            Box::new(
                tracing_subscriber::fmt::layer()
                    .event_format(JsonFormat {
                        correlation: cfg.log_correlation,
                    })
                    .with_writer(writer.clone())
                    .with_filter(env_filter(cfg)),
            )
        } else {
            Box::new(
                tracing_subscriber::fmt::layer()
                    .with_writer(writer.clone())
                    .with_filter(env_filter(cfg)),
            )
        };
        layers.push(fmt_layer);
    }
    if viewer.is_some() {
        layers.push(Box::new(
            crate::viewer::LogCapture::to(viewer).with_filter(env_filter(cfg)),
        ));
    }
    Box::new(layers)
}

/// The application's filter, with the SDK's own diagnostics at
/// `sdk_log_level` and the network stack at WARN.
pub(super) fn env_filter(cfg: &ObservabilityConfig) -> EnvFilter {
    let sdk = cfg.sdk_log_level.to_ascii_lowercase();
    let mut directives = cfg.log_level.clone();
    for t in OTEL_TARGETS {
        directives.push_str(&format!(",{t}={sdk}"));
    }
    for t in NETWORK_TARGETS {
        directives.push_str(&format!(",{t}=warn"));
    }
    EnvFilter::builder().parse_lossy(directives)
}
