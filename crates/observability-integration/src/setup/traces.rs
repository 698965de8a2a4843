//! Traces: the exporters asked for, the span pipeline that feeds them, and
//! the SDK tracer provider whose only processor is that pipeline.

use std::sync::Arc;

use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, SpanExporter};
use opentelemetry_sdk::Resource;

use super::report::StatusReport;
use crate::accounting::SpanStats;
use crate::config::ObservabilityConfig;
use crate::export::bridge::BridgeSpanExporter;
use crate::export::otlp::{build_otlp_spans, otlp_name, probe};
use crate::export::ConsoleSpanExporter;
use crate::pipeline::{
    ExporterView, Outlet, PipelineOptions, PipelineProcessor, RootSpans, SpanLimits, SpanPipeline,
};
use crate::runtime::ObsRuntime;

/// Builds one outlet of the pipeline, once the queue exists.
pub(super) type ExporterFactory =
    Box<dyn FnOnce(&ObsRuntime, &ObservabilityConfig, &Resource) -> Outlet + Send>;

/// `exporter` behind the bridge that runs it on our runtime and settles
/// its batches, as one outlet of the pipeline.
pub(super) fn outlet<E: SpanExporter + 'static>(
    name: String,
    exporter: E,
    rt: &ObsRuntime,
    cfg: &ObservabilityConfig,
    resource: &Resource,
) -> Outlet {
    let stats = Arc::new(SpanStats::default());
    let bridged = BridgeSpanExporter::new(exporter, rt.clone(), stats.clone(), cfg.export_timeout);
    Outlet::new(name, stats, bridged, resource)
}

/// The longest spans wait for the pipeline while the viewer is on.
const VIEWER_DELAY: std::time::Duration = std::time::Duration::from_millis(500);

/// What the traces part of setup built.
pub(super) struct Traces {
    pub(super) provider: SdkTracerProvider,
    pub(super) pipeline: Option<Arc<SpanPipeline>>,
    /// Accounting per exporter, by name.
    pub(super) views: Vec<(String, ExporterView)>,
}

impl Traces {
    /// Tracing switched off: the provider (resource and sampler as
    /// configured, so users' spans propagate the configured decision) with
    /// no processor.
    pub(super) fn off(cfg: &ObservabilityConfig, resource: &Resource) -> Traces {
        Traces {
            provider: provider_builder(cfg, resource).build(),
            pipeline: None,
            views: Vec::new(),
        }
    }
}

fn provider_builder(
    cfg: &ObservabilityConfig,
    resource: &Resource,
) -> opentelemetry_sdk::trace::TracerProviderBuilder {
    SdkTracerProvider::builder()
        .with_resource(resource.clone())
        .with_sampler(sampler(cfg))
        .with_span_limits(SpanLimits::of(cfg).sdk())
}

/// The resource every signal carries.
pub(super) fn resource(cfg: &ObservabilityConfig) -> Resource {
    let mut attrs = vec![
        KeyValue::new("service.version", cfg.service_version.clone()),
        KeyValue::new("deployment.environment.name", cfg.environment.clone()),
        KeyValue::new("telemetry.sdk.language", "rust"),
        KeyValue::new("telemetry.sdk.name", "opentelemetry"),
    ];
    attrs.extend(
        cfg.resource_attributes
            .iter()
            .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
    );
    Resource::builder_empty()
        .with_service_name(cfg.service_name.clone())
        .with_attributes(attrs)
        .build()
}

/// The SDK sampler of the config (the core is told the same ratio).
fn sampler(cfg: &ObservabilityConfig) -> Sampler {
    let base = if cfg.trace_sample_rate >= 1.0 {
        Sampler::AlwaysOn
    } else if cfg.trace_sample_rate <= 0.0 {
        Sampler::AlwaysOff
    } else {
        Sampler::TraceIdRatioBased(cfg.trace_sample_rate)
    };
    if cfg.trace_parent_based {
        Sampler::ParentBased(Box::new(base))
    } else {
        base
    }
}

/// The exporters the config asks for, before the custom ones.
fn configured(
    rt: &ObsRuntime,
    cfg: &ObservabilityConfig,
    report: &mut StatusReport,
) -> Vec<ExporterFactory> {
    let mut factories: Vec<ExporterFactory> = Vec::new();
    if let Some(url) = cfg.traces_url() {
        match build_otlp_spans(rt, cfg, &url) {
            Ok(exporter) => {
                let name = otlp_name(cfg.otlp_protocol);
                report.exporter(name.clone(), "traces", Some(url.clone()));
                factories.push(Box::new(move |rt, cfg, resource| {
                    outlet(name, exporter, rt, cfg, resource)
                }));
                if let Err(e) = probe(rt, &url, cfg.otlp_protocol, cfg.traces_certificate()) {
                    report.fail(
                        "traces.otlp",
                        format!(
                            "cannot reach {url}: {e}. Spans are queued, dropped and counted until it is up; check the endpoint and that the receiver runs"
                        ),
                    );
                }
            }
            Err(e) => report.fail("traces.otlp", e),
        }
    }
    if cfg.enable_console_exporter {
        report.exporter("console", "traces", Some("stderr".into()));
        factories.push(Box::new(|rt, cfg, resource| {
            outlet(
                "console".into(),
                ConsoleSpanExporter::default(),
                rt,
                cfg,
                resource,
            )
        }));
    }
    factories
}

/// Builds the tracer provider and, when any exporter is asked for, the
/// span pipeline behind it.
pub(super) fn build(
    rt: &ObsRuntime,
    cfg: &ObservabilityConfig,
    resource: &Resource,
    custom: Vec<ExporterFactory>,
    viewer: Option<&crate::viewer::Viewer>,
    report: &mut StatusReport,
) -> Traces {
    let mut builder = provider_builder(cfg, resource);
    let mut factories = configured(rt, cfg, report);
    if let Some(v) = viewer {
        // One more outlet: the viewer sees what the exporters see.
        let exporter = v.exporter();
        report.exporter("viewer", "traces", None);
        factories.push(Box::new(move |rt, cfg, resource| {
            outlet("viewer".into(), exporter, rt, cfg, resource)
        }));
    }
    for (i, f) in custom.into_iter().enumerate() {
        report.exporter(format!("custom-{}", i + 1), "traces", None);
        factories.push(f);
    }
    let asked = !factories.is_empty() || cfg.exports_otlp_traces();
    let (mut pipeline, mut views) = (None, Vec::new());
    if !factories.is_empty() {
        let options = PipelineOptions {
            max_queue_size: cfg.max_queue_size,
            max_export_batch_size: cfg.max_export_batch_size,
            // A run shows in the viewer within half a second.
            schedule_delay: if viewer.is_some() {
                cfg.schedule_delay.min(VIEWER_DELAY)
            } else {
                cfg.schedule_delay
            },
            immediate: !cfg.batch_span_processor,
            limits: SpanLimits::of(cfg),
            roots: RootSpans {
                invoke_workflow: cfg.llm_invoke_workflow_spans,
            },
        };
        let queue = SpanPipeline::queue(&options);
        let outlets: Vec<Outlet> = factories
            .into_iter()
            .map(|f| f(rt, cfg, resource))
            .collect();
        let outlet_views = outlets
            .iter()
            .map(|o| {
                (
                    o.name.clone(),
                    ExporterView::new(queue.clone(), o.stats.clone()),
                )
            })
            .collect();
        match SpanPipeline::start(options, outlets, rt, queue) {
            Ok(p) => {
                let p = Arc::new(p);
                builder = builder.with_span_processor(PipelineProcessor(p.clone()));
                pipeline = Some(p);
                views = outlet_views;
            }
            Err(e) => report.fail(
                "traces",
                format!("cannot start the span exporter thread: {e}"),
            ),
        }
    }
    if asked {
        report.traces = report.state_of("traces");
    }
    Traces {
        provider: builder.build(),
        pipeline,
        views,
    }
}
