//! Our global `tracing` subscriber, repointable.
//!
//! `tracing` takes one global subscriber per process, for good. So the
//! first install puts ours there with every part that depends on a stack
//! behind a handle (the tracer, the log writer and format, both filters);
//! a later install points them at its own stack, and shutdown points them
//! at no tracer, so a shut-down stack is not kept alive by the subscriber
//! and users' `tracing` spans reach whichever stack is installed now.

use std::sync::{Arc, Mutex, PoisonError, RwLock};

use opentelemetry::trace::{SpanBuilder, Tracer, TracerProvider as _};
use opentelemetry::Context;
use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider};
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::EnvFilter;
use tracing_subscriber::fmt::format::{Format, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{reload, Layer};

use super::layers::{env_filter, NotExporters, SharedWriter};
use crate::config::ObservabilityConfig;
use crate::logs::JsonFormat;
use crate::viewer::{LogCapture, Store};

/// The viewer's store, if the stack has a viewer.
pub(super) type ViewerStore = Option<Arc<Store>>;

/// A tracer that forwards to the stack installed now.
#[derive(Clone)]
struct CurrentTracer(Arc<RwLock<SdkTracer>>);

impl Tracer for CurrentTracer {
    type Span = opentelemetry_sdk::trace::Span;

    fn build_with_context(&self, builder: SpanBuilder, parent_cx: &Context) -> Self::Span {
        let tracer = self
            .0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        tracer.build_with_context(builder, parent_cx)
    }
}

/// A tracer that records nothing (no stack installed; the layer is also
/// filtered off then).
fn off_tracer() -> SdkTracer {
    SdkTracerProvider::builder()
        .with_sampler(Sampler::AlwaysOff)
        .build()
        .tracer("off")
}

/// The log line format in force: JSON (with or without correlation) or
/// the human one.
#[derive(Clone)]
struct CurrentFormat {
    json: Arc<RwLock<Option<JsonFormat>>>,
    human: Format,
}

impl<S, N> FormatEvent<S, N> for CurrentFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let json = *self.json.read().unwrap_or_else(PoisonError::into_inner);
        match json {
            Some(json) => json.format_event(ctx, writer, event),
            None => self.human.format_event(ctx, writer, event),
        }
    }
}

/// The log writer in force (`None`: logs off, lines are dropped).
#[derive(Clone, Default)]
struct CurrentWriter(Arc<RwLock<Option<SharedWriter>>>);

/// One log line, written to the writer in force when it is complete, with
/// what the writer may select on (level, target, module, file, line), so a
/// writer that splits by level (`with_max_level`, `or_else`) still works.
struct Line {
    to: Option<SharedWriter>,
    buf: Vec<u8>,
    at: Option<LineMeta>,
}

struct LineMeta {
    level: tracing::Level,
    target: String,
    module_path: Option<String>,
    file: Option<String>,
    line: Option<u32>,
}

/// The callsite the rebuilt metadata of a line names (writers never look).
struct LineCallsite;
static LINE_CALLSITE: LineCallsite = LineCallsite;
static LINE_METADATA: tracing::Metadata<'static> = tracing::Metadata::new(
    "log line",
    "observability_integration",
    tracing::Level::INFO,
    None,
    None,
    None,
    tracing::field::FieldSet::new(&[], tracing_core::identify_callsite!(&LINE_CALLSITE)),
    tracing_core::metadata::Kind::EVENT,
);

impl tracing_core::callsite::Callsite for LineCallsite {
    fn set_interest(&self, _: tracing_core::subscriber::Interest) {}
    fn metadata(&self) -> &tracing::Metadata<'_> {
        &LINE_METADATA
    }
}

impl std::io::Write for Line {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        let Some(to) = &self.to else {
            return Ok(());
        };
        if self.buf.is_empty() {
            return Ok(());
        }
        let result = match &self.at {
            Some(at) => {
                let meta = tracing::Metadata::new(
                    "log line",
                    &at.target,
                    at.level,
                    at.file.as_deref(),
                    at.line,
                    at.module_path.as_deref(),
                    tracing::field::FieldSet::new(
                        &[],
                        tracing_core::identify_callsite!(&LINE_CALLSITE),
                    ),
                    tracing_core::metadata::Kind::EVENT,
                );
                to.make_writer_for(&meta).write_all(&self.buf)
            }
            None => to.make_writer().write_all(&self.buf),
        };
        self.buf.clear();
        result
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        let _ = std::io::Write::flush(self);
    }
}

impl<'a> MakeWriter<'a> for CurrentWriter {
    type Writer = Line;
    fn make_writer(&'a self) -> Line {
        Line {
            to: self
                .0
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
            buf: Vec::new(),
            at: None,
        }
    }
    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Line {
        let mut line = self.make_writer();
        line.at = Some(LineMeta {
            level: *meta.level(),
            target: meta.target().to_owned(),
            module_path: meta.module_path().map(str::to_owned),
            file: meta.file().map(str::to_owned),
            line: meta.line(),
        });
        line
    }
}

/// The handles of the global subscriber we installed.
struct Installed {
    /// Which install it points at now (0: none).
    owner: u64,
    tracer: Arc<RwLock<SdkTracer>>,
    json: Arc<RwLock<Option<JsonFormat>>>,
    writer: CurrentWriter,
    /// Replace the OpenTelemetry layer's and the log layer's filters.
    otel_filter: Reload,
    log_filter: Reload,
    /// Where log lines of traces go for the viewer.
    viewer: LogCapture,
}

/// Replaces a reloadable filter (the handle's subscriber type erased).
type Reload = Box<dyn Fn(EnvFilter) + Send + Sync>;

static INSTALLED: Mutex<Option<Installed>> = Mutex::new(None);

/// What [`install`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    /// Ours is now the global subscriber.
    Installed,
    /// Ours already was (an earlier install); it now points at this stack.
    Repointed,
    /// The application installed its own first.
    Taken,
}

impl Installed {
    fn point(
        &mut self,
        owner: u64,
        cfg: &ObservabilityConfig,
        tp: Option<&SdkTracerProvider>,
        writer: Option<&SharedWriter>,
        viewer: ViewerStore,
    ) {
        self.owner = owner;
        self.viewer.point(viewer);
        self.point_tracer(tp.map(|tp| (tp, cfg)));
        *self.json.write().unwrap_or_else(PoisonError::into_inner) = cfg
            .structured_logging
            .then(|| JsonFormat::new(cfg.log_correlation));
        *self
            .writer
            .0
            .write()
            .unwrap_or_else(PoisonError::into_inner) = writer.cloned();
        (self.log_filter)(env_filter(cfg));
    }

    /// The OpenTelemetry layer's tracer and filter: `tp`'s, or with none,
    /// the layer filtered off entirely, so it makes no span contexts (ids
    /// that name no trace would reach log lines and `traceparent` headers).
    fn point_tracer(&mut self, tp: Option<(&SdkTracerProvider, &ObservabilityConfig)>) {
        *self.tracer.write().unwrap_or_else(PoisonError::into_inner) =
            tp.map_or_else(off_tracer, |(tp, _)| tp.tracer("tracing"));
        (self.otel_filter)(tp.map_or_else(|| EnvFilter::new("off"), |(_, cfg)| env_filter(cfg)));
    }
}

/// Makes our subscriber the global one, pointed at the stack `owner`
/// (tracer from `tp`, logs to `writer`), or repoints it if an earlier
/// install put it there.
pub(super) fn install(
    owner: u64,
    cfg: &ObservabilityConfig,
    tp: Option<&SdkTracerProvider>,
    writer: Option<&SharedWriter>,
    viewer: ViewerStore,
) -> Outcome {
    let mut slot = INSTALLED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(installed) = slot.as_mut() {
        installed.point(owner, cfg, tp, writer, viewer);
        return Outcome::Repointed;
    }
    let tracer = Arc::new(RwLock::new(off_tracer()));
    let json = Arc::new(RwLock::new(None));
    let current_writer = CurrentWriter::default();
    let (otel_filter, otel_handle) = reload::Layer::new(env_filter(cfg));
    let (log_filter, log_handle) = reload::Layer::new(env_filter(cfg));
    let otel = tracing_opentelemetry::layer()
        .with_tracer(CurrentTracer(tracer.clone()))
        .with_tracked_inactivity(false)
        .with_threads(false)
        .with_filter(NotExporters)
        .with_filter(otel_filter);
    let fmt = tracing_subscriber::fmt::layer()
        .event_format(CurrentFormat {
            json: json.clone(),
            human: Format::default(),
        })
        .with_writer(current_writer.clone());
    let capture = LogCapture::default();
    let fmt = fmt.and_then(capture.clone()).with_filter(log_filter);
    let subscriber = tracing_subscriber::registry().with(otel).with(fmt);
    if tracing::subscriber::set_global_default(subscriber).is_err() {
        return Outcome::Taken;
    }
    let mut installed = Installed {
        owner,
        tracer,
        json,
        writer: current_writer,
        otel_filter: Box::new(move |f| {
            let _ = otel_handle.reload(f);
        }),
        log_filter: Box::new(move |f| {
            let _ = log_handle.reload(f);
        }),
        viewer: capture,
    };
    installed.point(owner, cfg, tp, writer, viewer);
    *slot = Some(installed);
    Outcome::Installed
}

/// Points our global subscriber at the stack `owner` if an earlier install
/// made it the global one (a stack built with logs off writes no lines but
/// still gets users' `tracing` spans). Whether it did.
pub(super) fn repoint_if_ours(
    owner: u64,
    cfg: &ObservabilityConfig,
    tp: Option<&SdkTracerProvider>,
    viewer: ViewerStore,
) -> bool {
    let mut slot = INSTALLED.lock().unwrap_or_else(PoisonError::into_inner);
    match slot.as_mut() {
        Some(installed) => {
            installed.point(owner, cfg, tp, None, viewer);
            true
        }
        None => false,
    }
}

/// Points our global subscriber's tracer at nothing if it still points at
/// `owner` (the stack shutting down), so the shut-down tracer provider is
/// let go. Log lines keep going to the writer (the application's logs
/// after shutdown are not lost).
pub(super) fn release(owner: u64) {
    let mut slot = INSTALLED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(installed) = slot.as_mut().filter(|i| i.owner == owner) {
        installed.owner = 0;
        installed.point_tracer(None);
        installed.viewer.point(None);
    }
}
