//! The field table: every config field, once.

use std::collections::BTreeMap;
use std::time::Duration;

use super::load::ConfigBuilder;
use super::parse::{
    byte_size, count, parse_bool, parse_capture, parse_kv_list, parse_millis, parse_port,
    parse_protocol, ratio, resource_list, secret, some_bool, some_count, some_text, text,
};
use super::table::{arg_type, config_fields, Assign, Field, FromArg};
use super::{OtlpProtocol, Secret};

config_fields! {
    /// `service.name` resource attribute. Default `unknown_service`.
    service_name: String = "unknown_service".into();
        file "service_name", env ["OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES:service.name"],
        parse text, default "`unknown_service`", notes "resource `service.name`";
    /// `service.version`. Default `1.0.0`.
    service_version: String = "1.0.0".into();
        file "service_version", env ["OBSERVABILITY_SERVICE_VERSION", "OTEL_RESOURCE_ATTRIBUTES:service.version"],
        parse text, default "`1.0.0`", notes "resource `service.version`";
    /// `deployment.environment.name`. Default `development`.
    environment: String = "development".into();
        file "environment", env ["OBSERVABILITY_ENVIRONMENT", "OTEL_RESOURCE_ATTRIBUTES:deployment.environment.name", "OTEL_RESOURCE_ATTRIBUTES:deployment.environment"],
        parse text, default "`development`", notes "resource `deployment.environment.name`";
    /// Extra resource attributes (extra).
    resource_attributes: BTreeMap<String, String> = BTreeMap::new();
        file "resource_attributes", env ["OTEL_RESOURCE_ATTRIBUTES"],
        parse resource_list, default "none", notes "extra resource attributes: a TOML table, or `k=v,k2=v2` (percent-encoded) in the variable";

    /// OTLP base URL (`OTEL_EXPORTER_OTLP_ENDPOINT` meaning): for
    /// http/protobuf `/v1/traces` and `/v1/metrics` are appended. `None`:
    /// no OTLP export.
    otlp_endpoint: Option<String> = None;
        file "otlp_endpoint", env ["OTEL_EXPORTER_OTLP_ENDPOINT"],
        parse some_text, arg String, default "none", notes "base URL; http/protobuf appends `/v1/traces`, `/v1/metrics`; none = no OTLP export";
    /// Traces endpoint used as given (extra).
    otlp_traces_endpoint: Option<String> = None;
        file "otlp_traces_endpoint", env ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"],
        parse some_text, arg String, default "none", notes "traces URL, used as given";
    /// Metrics endpoint used as given (extra).
    otlp_metrics_endpoint: Option<String> = None;
        file "otlp_metrics_endpoint", env ["OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"],
        parse some_text, arg String, default "none", notes "metrics URL, used as given";
    /// OTLP transport (extra). Default gRPC.
    otlp_protocol: OtlpProtocol = OtlpProtocol::Grpc;
        file "otlp_protocol", env ["OTEL_EXPORTER_OTLP_PROTOCOL"],
        parse parse_protocol, default "`grpc`", notes "`grpc` (port 4317) or `http/protobuf` (4318)";
    /// Headers sent with every export, e.g. an API key (extra).
    otlp_headers: BTreeMap<String, String> = BTreeMap::new();
        file "otlp_headers", env ["OTEL_EXPORTER_OTLP_HEADERS"],
        parse parse_kv_list, default "none", notes "sent with every export (API keys): a TOML table, or `k=v,k2=v2` (percent-encoded)";
    /// PEM file of certificates trusted for `https` OTLP endpoints, besides
    /// the system's roots (a private CA, a self-signed receiver). Default
    /// none.
    otlp_certificate: Option<String> = None;
        file "otlp_certificate", env ["OTEL_EXPORTER_OTLP_CERTIFICATE"],
        parse some_text, arg String, default "none", notes "PEM file of CA certificates trusted for `https` endpoints besides the system roots (client certificates, mTLS, are not supported)";
    /// The same for the traces endpoint only (extra). Default none.
    otlp_traces_certificate: Option<String> = None;
        file "otlp_traces_certificate", env ["OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE"],
        parse some_text, arg String, default "none", notes "as `otlp_certificate`, for traces; wins over it";
    /// The same for the metrics endpoint only (extra). Default none.
    otlp_metrics_certificate: Option<String> = None;
        file "otlp_metrics_certificate", env ["OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE"],
        parse some_text, arg String, default "none", notes "as `otlp_certificate`, for metrics; wins over it";
    /// Deadline of one export call (extra). Default 10 s.
    export_timeout: Duration = Duration::from_secs(10);
        file "export_timeout_ms", env ["OTEL_EXPORTER_OTLP_TIMEOUT"],
        parse parse_millis, default "10 s", notes "deadline of one export call; milliseconds in file and variable";
    /// Human-readable span lines on stderr, for debugging. Default off.
    enable_console_exporter: bool = false;
        file "enable_console_exporter", env ["OBSERVABILITY_ENABLE_CONSOLE_EXPORTER"],
        parse parse_bool, default "false", notes "one human-readable line per span on stderr";

    /// Serve Prometheus metrics. Default on.
    enable_prometheus: bool = true;
        file "enable_prometheus", env ["OBSERVABILITY_ENABLE_PROMETHEUS"],
        parse parse_bool, default "true", notes "serve the Prometheus endpoint";
    /// Bind address of the metrics server (extra). Default `127.0.0.1`.
    prometheus_host: String = "127.0.0.1".into();
        file "prometheus_host", env ["OTEL_EXPORTER_PROMETHEUS_HOST"],
        parse text, default "`127.0.0.1`", notes "IP address to bind: loopback unless you choose otherwise";
    /// Port of the metrics server. Default 9464.
    prometheus_port: u16 = 9464;
        file "prometheus_port", env ["OTEL_EXPORTER_PROMETHEUS_PORT", "PROMETHEUS_PORT"],
        parse parse_port, default "9464", notes "1..=65535 (0 in code: any free port)";
    /// Path of the metrics endpoint. Default `/metrics`.
    prometheus_endpoint: String = "/metrics".into();
        file "prometheus_endpoint", env ["OBSERVABILITY_PROMETHEUS_ENDPOINT"],
        parse text, default "`/metrics`", notes "path starting with `/`";
    /// How long the metrics server waits for a request's headers before
    /// closing the connection (extra). Default 10 s.
    metrics_header_timeout: Duration = Duration::from_secs(10);
        file "metrics_header_timeout_ms", env ["OBSERVABILITY_METRICS_HEADER_TIMEOUT"],
        parse parse_millis, default "10 s", notes "the metrics server closes a connection whose request headers take longer (slow or stalled clients); milliseconds in file and variable";
    /// Connections the metrics server holds at once; more are closed at
    /// once and counted (extra). Default 256.
    metrics_max_connections: usize = 256;
        file "metrics_max_connections", env ["OBSERVABILITY_METRICS_MAX_CONNECTIONS"],
        parse count, default "256", notes "open connections the metrics server keeps; beyond it new ones are closed and counted in `observability_metrics_server_connections_total{outcome=\"refused\"}`";
    /// Distinct label sets per metric on `/metrics` before extra series
    /// fold into one `otel_metric_overflow="true"` series (extra). Default 2000.
    metric_cardinality_limit: usize = 2000;
        file "metric_cardinality_limit", env ["OBSERVABILITY_METRIC_CARDINALITY_LIMIT"],
        parse count, default "2000", notes "label sets per metric on `/metrics` before folding into `otel_metric_overflow=\"true\"`";

    /// Serve the embedded trace viewer beside `/metrics` (runs, traces,
    /// their log lines). `None`: on when `environment` is `development`
    /// (the default), off otherwise.
    enable_viewer: Option<bool> = None;
        file "enable_viewer", env ["OBSERVABILITY_ENABLE_VIEWER"],
        parse some_bool, arg bool, default "on when `environment` is `development`, else off", notes "the trace viewer at `/` on the metrics server (`prometheus_host`:`prometheus_port`); with it on, traces are recorded (sampled per config) even with no exporter, so log lines carry `trace_id`, and spans wait at most 500 ms for export (`schedule_delay` is capped)";
    /// Memory the viewer's store may hold, in bytes (its own accounting).
    /// Default 64 MiB.
    viewer_max_bytes: usize = 64 * 1024 * 1024;
        file "viewer_max_bytes", env ["OBSERVABILITY_VIEWER_MAX_BYTES"],
        parse byte_size, default "64 MiB", notes "bytes of spans and log lines the viewer keeps (a number, or with `KiB`, `MiB`, `GiB`; at least 64 KiB); beyond it the oldest ordinary runs go first, then slow, then expensive, failed runs last (the newest quarter stays whatever it is), counted in `observability_viewer_evicted_total`";
    /// The viewer's access token (extra): when set, its pages, API and
    /// OTLP intake need `Authorization: Bearer <token>` or the cookie its
    /// login form sets. Required when `prometheus_host` is beyond
    /// loopback. Never printed. Default none.
    viewer_token: Option<Secret> = None;
        file "viewer_token", env ["OBSERVABILITY_VIEWER_TOKEN"],
        parse secret, arg Secret, default "none", notes "at least 16 visible ASCII characters (`openssl rand -hex 16`); when set, the viewer's pages, `/api/…` and `POST /v1/traces` answer 401 without `Authorization: Bearer <token>` or the login form's cookie (`/metrics` and `/healthz` stay open); required with the viewer on and `prometheus_host` beyond loopback";

    /// Fraction of traces sampled, 0.0..=1.0. Default 1.0.
    trace_sample_rate: f64 = 1.0;
        file "trace_sample_rate", env ["OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG"],
        parse ratio, default "1.0", notes "0.0..=1.0; from `OTEL_TRACES_SAMPLER` (`always_on`, `always_off`, `traceidratio`, `parentbased_*`) and its `OTEL_TRACES_SAMPLER_ARG` (default 1.0)";
    /// Follow the parent's sampling decision. Default on.
    trace_parent_based: bool = true;
        file "trace_parent_based", env ["OTEL_TRACES_SAMPLER"],
        parse parse_bool, default "true", notes "follow the parent's decision (`parentbased_*` samplers)";

    /// Application log level or `EnvFilter` directive; `RUST_LOG` wins when
    /// set. Default `info`.
    log_level: String = "info".into();
        file "log_level", env ["RUST_LOG", "OBSERVABILITY_LOG_LEVEL"],
        parse text, default "`info`", notes "an `EnvFilter` directive such as `info,my_crate=debug`";
    /// One JSON object per log line (else a human format). Default on.
    structured_logging: bool = true;
        file "structured_logging", env ["OBSERVABILITY_STRUCTURED_LOGGING"],
        parse parse_bool, default "true", notes "JSON lines (else a human format)";
    /// Put `trace_id` / `span_id` / `correlation_id` on log lines. Default on.
    log_correlation: bool = true;
        file "log_correlation", env ["OBSERVABILITY_LOG_CORRELATION"],
        parse parse_bool, default "true", notes "`trace_id`, `span_id`, `correlation_id` on each line";
    /// The OpenTelemetry SDK's own diagnostics level (`OTEL_LOG_LEVEL`).
    /// Default `warn`.
    sdk_log_level: String = "warn".into();
        file "sdk_log_level", env ["OTEL_LOG_LEVEL"],
        parse text, default "`warn`", notes "the OpenTelemetry SDK's own diagnostics: `off`, `error`, `warn`, `info`, `debug`, `trace`";

    /// Batch spans for export (else each span is exported as soon as it
    /// ends, from the exporter thread: for the console exporter and
    /// debugging). Default on.
    batch_span_processor: bool = true;
        file "batch_span_processor", env ["OBSERVABILITY_BATCH_SPAN_PROCESSOR"],
        parse parse_bool, default "true", notes "false = export each span as soon as it ends, one at a time (console and debugging; an error with OTLP)";
    /// Spans per export. Default 512.
    max_export_batch_size: usize = 512;
        file "max_export_batch_size", env ["OTEL_BSP_MAX_EXPORT_BATCH_SIZE"],
        parse count, default "512", notes "spans per export, ≤ `max_queue_size`";
    /// Spans waiting for export before new ones are dropped (and counted).
    /// Default 2048.
    max_queue_size: usize = 2048;
        file "max_queue_size", env ["OTEL_BSP_MAX_QUEUE_SIZE"],
        parse count, default "2048", notes "spans waiting for export; beyond it they are dropped **and counted**";
    /// Delay between scheduled exports (extra). Default 5 s.
    schedule_delay: Duration = Duration::from_secs(5);
        file "schedule_delay_ms", env ["OTEL_BSP_SCHEDULE_DELAY"],
        parse parse_millis, default "5 s", notes "delay between scheduled span exports; milliseconds in file and variable";
    /// Interval between OTLP metric exports (extra). Default 60 s.
    metrics_export_interval: Duration = Duration::from_secs(60);
        file "metrics_export_interval_ms", env ["OTEL_METRIC_EXPORT_INTERVAL"],
        parse parse_millis, default "60 s", notes "interval between OTLP metric exports; milliseconds in file and variable";

    /// Longest attribute value on a span or its events and links, in
    /// bytes; longer strings are cut (arrays: each string). Default none.
    attribute_value_length_limit: Option<usize> = None;
        file "attribute_value_length_limit", env ["OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT"],
        parse some_count, arg usize, default "none", notes "bytes per span attribute value (events and links too); longer strings are cut at a character boundary";
    /// Attributes per span; more are dropped and counted. Default 128.
    attribute_count_limit: usize = 128;
        file "attribute_count_limit", env ["OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "OTEL_ATTRIBUTE_COUNT_LIMIT"],
        parse count, default "128", notes "attributes per span; the rest are dropped and counted on the span";
    /// Events per span. Default 128.
    span_event_count_limit: usize = 128;
        file "span_event_count_limit", env ["OTEL_SPAN_EVENT_COUNT_LIMIT"],
        parse count, default "128", notes "events per span; the rest are dropped and counted";
    /// Links per span. Default 128.
    span_link_count_limit: usize = 128;
        file "span_link_count_limit", env ["OTEL_SPAN_LINK_COUNT_LIMIT"],
        parse count, default "128", notes "links per span; the rest are dropped and counted";
    /// Attributes per span event. Default 128.
    event_attribute_count_limit: usize = 128;
        file "event_attribute_count_limit", env ["OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT"],
        parse count, default "128", notes "attributes per span event";
    /// Attributes per span link. Default 128.
    link_attribute_count_limit: usize = 128;
        file "link_attribute_count_limit", env ["OTEL_LINK_ATTRIBUTE_COUNT_LIMIT"],
        parse count, default "128", notes "attributes per span link";

    /// The HTTP header that carries the correlation id between services
    /// (extra). Default `x-correlation-id`.
    correlation_id_header: String = crate::propagation::DEFAULT_CORRELATION_HEADER.into();
        file "correlation_id_header", env ["OBSERVABILITY_CORRELATION_ID_HEADER"],
        parse text, default "`x-correlation-id`", notes "lowercase header name; the server layer reads it (an incoming id is used only if it is 1 to 128 characters of `[A-Za-z0-9._:-]`, else a new one is made) and echoes it, the client sends it; never a metric label";

    /// TOML table of LLM prices (USD per million tokens by model) used in
    /// place of the built-in one (extra). Default none: the built-in table.
    llm_pricing_file: Option<String> = None;
        file "llm_pricing_file", env ["OBSERVABILITY_LLM_PRICING_FILE"],
        parse some_text, arg String, default "none (the built-in table, dated)", notes "TOML file of `[models.\"name\"]` tables (`input`, `output`, optional `cache_read`, `cache_write`, `reasoning` USD per 1 M tokens, `aliases`); read and checked when the config is built";
    /// Record prompts and completions on LLM spans (redacted, 4 KiB per
    /// message). Default off: content is never recorded.
    llm_capture_content: bool = false;
        file "llm_capture_content", env ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"],
        parse parse_capture, default "false", notes "true (or `span_only`, `span_and_event`): prompts and completions go on LLM spans as `gen_ai.input.messages`/`gen_ai.output.messages` (JSON) and `input.value`/`output.value`, each message through the redaction hook (`ObservabilityBuilder::llm_redactor`) and cut to 4096 bytes; user data, so off by default";
    /// Name each run's root span `invoke_workflow {workflow}` with
    /// `gen_ai.operation.name` and `gen_ai.workflow.name`, the GenAI
    /// workflow convention (extra). Default off: `primitive.<name>`.
    llm_invoke_workflow_spans: bool = false;
        file "llm_invoke_workflow_spans", env ["OBSERVABILITY_LLM_INVOKE_WORKFLOW_SPANS"],
        parse parse_bool, default "false", notes "true: a run's root span is named `invoke_workflow {workflow}` with `gen_ai.operation.name=invoke_workflow` and `gen_ai.workflow.name` (GenAI conventions 1.41); roots always carry `openinference.span.kind=CHAIN`";

    /// `OTEL_SDK_DISABLED`: install nothing, report so.
    sdk_disabled: bool = false;
        file "sdk_disabled", env ["OTEL_SDK_DISABLED"],
        parse parse_bool, default "false", notes "true: install nothing; the report says so";
}
