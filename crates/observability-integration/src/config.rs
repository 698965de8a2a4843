//! [`ObservabilityConfig`]: every setting, loaded in layers — defaults <
//! config file (TOML) < environment < explicit code — and validated with
//! errors that name the field, the value, where it came from and what is
//! accepted.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    /// OTLP/gRPC (default port 4317).
    Grpc,
    /// OTLP/HTTP with protobuf bodies (default port 4318).
    HttpProtobuf,
}

impl OtlpProtocol {
    /// The `OTEL_EXPORTER_OTLP_PROTOCOL` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            OtlpProtocol::Grpc => "grpc",
            OtlpProtocol::HttpProtobuf => "http/protobuf",
        }
    }
}

/// Where a setting came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The built-in default.
    Default,
    /// A config file.
    File(PathBuf),
    /// An environment variable.
    Env(String),
    /// Set in code.
    Code,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File(p) => write!(f, "config file {}", p.display()),
            Origin::Env(v) => write!(f, "environment variable {v}"),
            Origin::Code => f.write_str("code"),
        }
    }
}

/// A setting that can't be right.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid {field} = {value:?} (from {origin}): {problem}; accepted: {accepted}")]
pub struct ConfigError {
    /// The config field (`trace_sample_rate`, …).
    pub field: &'static str,
    /// The value as given.
    pub value: String,
    /// Where it came from.
    pub origin: Origin,
    /// What is wrong.
    pub problem: String,
    /// What would be accepted.
    pub accepted: String,
}

/// Every setting of the one-call setup. Field names and defaults follow the
/// Python original's `ObservabilityConfig`; the extras are marked.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservabilityConfig {
    /// `service.name` resource attribute. Default `unknown_service`.
    pub service_name: String,
    /// `service.version`. Default `1.0.0`.
    pub service_version: String,
    /// `deployment.environment.name`. Default `development`.
    pub environment: String,
    /// Extra resource attributes (extra).
    pub resource_attributes: BTreeMap<String, String>,

    /// OTLP base URL (`OTEL_EXPORTER_OTLP_ENDPOINT` meaning): for
    /// http/protobuf `/v1/traces` and `/v1/metrics` are appended. `None`:
    /// no OTLP export.
    pub otlp_endpoint: Option<String>,
    /// Traces endpoint used as given (extra).
    pub otlp_traces_endpoint: Option<String>,
    /// Metrics endpoint used as given (extra).
    pub otlp_metrics_endpoint: Option<String>,
    /// OTLP transport (extra). Default gRPC.
    pub otlp_protocol: OtlpProtocol,
    /// Headers sent with every export, e.g. an API key (extra).
    pub otlp_headers: BTreeMap<String, String>,
    /// Deadline of one export call (extra). Default 10 s.
    pub export_timeout: Duration,
    /// Human-readable span lines on stderr, for debugging. Default off.
    pub enable_console_exporter: bool,

    /// Serve Prometheus metrics. Default on.
    pub enable_prometheus: bool,
    /// Bind address of the metrics server (extra). Default `127.0.0.1`.
    pub prometheus_host: String,
    /// Port of the metrics server. Default 9464.
    pub prometheus_port: u16,
    /// Path of the metrics endpoint. Default `/metrics`.
    pub prometheus_endpoint: String,
    /// Distinct label sets per metric on `/metrics` before extra series
    /// fold into one `otel_metric_overflow="true"` series (extra). Default 2000.
    pub metric_cardinality_limit: usize,

    /// Fraction of traces sampled, 0.0..=1.0. Default 1.0.
    pub trace_sample_rate: f64,
    /// Follow the parent's sampling decision. Default on.
    pub trace_parent_based: bool,

    /// Application log level or `EnvFilter` directive; `RUST_LOG` wins when
    /// set. Default `info`.
    pub log_level: String,
    /// One JSON object per log line (else a human format). Default on.
    pub structured_logging: bool,
    /// Put `trace_id` / `span_id` / `correlation_id` on log lines. Default on.
    pub log_correlation: bool,
    /// The OpenTelemetry SDK's own diagnostics level (`OTEL_LOG_LEVEL`).
    /// Default `warn`.
    pub sdk_log_level: String,

    /// Batch spans for export (else each span is exported as soon as it
    /// ends, from the exporter thread: for the console exporter and
    /// debugging). Default on.
    pub batch_span_processor: bool,
    /// Spans per export. Default 512.
    pub max_export_batch_size: usize,
    /// Spans waiting for export before new ones are dropped (and counted).
    /// Default 2048.
    pub max_queue_size: usize,
    /// Delay between scheduled exports (extra). Default 5 s.
    pub schedule_delay: Duration,
    /// Interval between OTLP metric exports (extra). Default 60 s.
    pub metrics_export_interval: Duration,

    /// `OTEL_SDK_DISABLED`: install nothing, report so.
    pub sdk_disabled: bool,
}

impl Default for ObservabilityConfig {
    fn default() -> Self {
        ObservabilityConfig {
            service_name: "unknown_service".into(),
            service_version: "1.0.0".into(),
            environment: "development".into(),
            resource_attributes: BTreeMap::new(),
            otlp_endpoint: None,
            otlp_traces_endpoint: None,
            otlp_metrics_endpoint: None,
            otlp_protocol: OtlpProtocol::Grpc,
            otlp_headers: BTreeMap::new(),
            export_timeout: Duration::from_secs(10),
            enable_console_exporter: false,
            enable_prometheus: true,
            prometheus_host: "127.0.0.1".into(),
            prometheus_port: 9464,
            prometheus_endpoint: "/metrics".into(),
            metric_cardinality_limit: 2000,
            trace_sample_rate: 1.0,
            trace_parent_based: true,
            log_level: "info".into(),
            structured_logging: true,
            log_correlation: true,
            sdk_log_level: "warn".into(),
            batch_span_processor: true,
            max_export_batch_size: 512,
            max_queue_size: 2048,
            schedule_delay: Duration::from_secs(5),
            metrics_export_interval: Duration::from_secs(60),
            sdk_disabled: false,
        }
    }
}

/// One environment variable the config reads, for docs and `--help` output.
#[derive(Debug, Clone, Copy)]
pub struct EnvVar {
    /// Variable name.
    pub name: &'static str,
    /// Config field it sets.
    pub field: &'static str,
    /// What it takes.
    pub meaning: &'static str,
}

/// Every environment variable read, in precedence order within a field.
pub const ENV_VARS: &[EnvVar] = &[
    EnvVar { name: "OTEL_SDK_DISABLED", field: "sdk_disabled", meaning: "true: install nothing" },
    EnvVar { name: "OTEL_SERVICE_NAME", field: "service_name", meaning: "wins over service.name in OTEL_RESOURCE_ATTRIBUTES" },
    EnvVar { name: "OTEL_RESOURCE_ATTRIBUTES", field: "resource_attributes", meaning: "k=v,k2=v2 (percent-encoded); service.name, service.version, deployment.environment[.name] also set those fields" },
    EnvVar { name: "OTEL_EXPORTER_OTLP_ENDPOINT", field: "otlp_endpoint", meaning: "base URL; /v1/traces, /v1/metrics appended for http/protobuf" },
    EnvVar { name: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", field: "otlp_traces_endpoint", meaning: "URL used as given" },
    EnvVar { name: "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", field: "otlp_metrics_endpoint", meaning: "URL used as given" },
    EnvVar { name: "OTEL_EXPORTER_OTLP_PROTOCOL", field: "otlp_protocol", meaning: "grpc | http/protobuf" },
    EnvVar { name: "OTEL_EXPORTER_OTLP_HEADERS", field: "otlp_headers", meaning: "k=v,k2=v2 (percent-encoded)" },
    EnvVar { name: "OTEL_EXPORTER_OTLP_TIMEOUT", field: "export_timeout", meaning: "milliseconds" },
    EnvVar { name: "OTEL_TRACES_SAMPLER", field: "trace_sample_rate, trace_parent_based", meaning: "always_on | always_off | traceidratio | parentbased_always_on | parentbased_always_off | parentbased_traceidratio" },
    EnvVar { name: "OTEL_TRACES_SAMPLER_ARG", field: "trace_sample_rate", meaning: "ratio 0..1 for the *traceidratio samplers" },
    EnvVar { name: "OTEL_BSP_MAX_QUEUE_SIZE", field: "max_queue_size", meaning: "spans" },
    EnvVar { name: "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", field: "max_export_batch_size", meaning: "spans" },
    EnvVar { name: "OTEL_BSP_SCHEDULE_DELAY", field: "schedule_delay", meaning: "milliseconds" },
    EnvVar { name: "OTEL_METRIC_EXPORT_INTERVAL", field: "metrics_export_interval", meaning: "milliseconds" },
    EnvVar { name: "OTEL_EXPORTER_PROMETHEUS_HOST", field: "prometheus_host", meaning: "IP address to bind" },
    EnvVar { name: "OTEL_EXPORTER_PROMETHEUS_PORT", field: "prometheus_port", meaning: "1..65535; wins over PROMETHEUS_PORT" },
    EnvVar { name: "PROMETHEUS_PORT", field: "prometheus_port", meaning: "the spec's alias of OTEL_EXPORTER_PROMETHEUS_PORT" },
    EnvVar { name: "OTEL_LOG_LEVEL", field: "sdk_log_level", meaning: "the SDK's own diagnostics: error | warn | info | debug" },
    EnvVar { name: "RUST_LOG", field: "log_level", meaning: "EnvFilter directive; wins over OBSERVABILITY_LOG_LEVEL" },
    EnvVar { name: "OBSERVABILITY_LOG_LEVEL", field: "log_level", meaning: "EnvFilter directive" },
    EnvVar { name: "OBSERVABILITY_SERVICE_VERSION", field: "service_version", meaning: "string" },
    EnvVar { name: "OBSERVABILITY_ENVIRONMENT", field: "environment", meaning: "string" },
    EnvVar { name: "OBSERVABILITY_STRUCTURED_LOGGING", field: "structured_logging", meaning: "true | false" },
    EnvVar { name: "OBSERVABILITY_LOG_CORRELATION", field: "log_correlation", meaning: "true | false (the spec's OTEL_PYTHON_LOG_CORRELATION)" },
    EnvVar { name: "OBSERVABILITY_ENABLE_PROMETHEUS", field: "enable_prometheus", meaning: "true | false" },
    EnvVar { name: "OBSERVABILITY_PROMETHEUS_ENDPOINT", field: "prometheus_endpoint", meaning: "path starting with /" },
    EnvVar { name: "OBSERVABILITY_METRIC_CARDINALITY_LIMIT", field: "metric_cardinality_limit", meaning: "label sets per metric on /metrics" },
    EnvVar { name: "OBSERVABILITY_ENABLE_CONSOLE_EXPORTER", field: "enable_console_exporter", meaning: "true | false" },
    EnvVar { name: "OBSERVABILITY_BATCH_SPAN_PROCESSOR", field: "batch_span_processor", meaning: "true | false" },
];

/// The file keys accepted in a TOML config file (same names as the fields).
pub const FILE_KEYS: &[&str] = &[
    "service_name",
    "service_version",
    "environment",
    "resource_attributes",
    "otlp_endpoint",
    "otlp_traces_endpoint",
    "otlp_metrics_endpoint",
    "otlp_protocol",
    "otlp_headers",
    "export_timeout_ms",
    "enable_console_exporter",
    "enable_prometheus",
    "prometheus_host",
    "prometheus_port",
    "prometheus_endpoint",
    "metric_cardinality_limit",
    "trace_sample_rate",
    "trace_parent_based",
    "log_level",
    "structured_logging",
    "log_correlation",
    "sdk_log_level",
    "batch_span_processor",
    "max_export_batch_size",
    "max_queue_size",
    "schedule_delay_ms",
    "metrics_export_interval_ms",
];

fn err(
    field: &'static str,
    value: impl Into<String>,
    origin: &Origin,
    problem: impl Into<String>,
    accepted: impl Into<String>,
) -> ConfigError {
    ConfigError {
        field,
        value: value.into(),
        origin: origin.clone(),
        problem: problem.into(),
        accepted: accepted.into(),
    }
}

fn parse_bool(field: &'static str, v: &str, origin: &Origin) -> Result<bool, ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(err(field, v, origin, "not a boolean", "true, false")),
    }
}

fn parse_num<T: std::str::FromStr>(
    field: &'static str,
    v: &str,
    origin: &Origin,
    accepted: &str,
) -> Result<T, ConfigError> {
    v.trim()
        .parse::<T>()
        .map_err(|_| err(field, v, origin, "not a valid number", accepted))
}

fn parse_port(field: &'static str, v: &str, origin: &Origin) -> Result<u16, ConfigError> {
    match v.trim().parse::<i64>() {
        Ok(p) if (1..=65535).contains(&p) => Ok(p as u16),
        Ok(_) => Err(err(field, v, origin, "port out of range", "1..=65535")),
        Err(_) => Err(err(field, v, origin, "not a port number", "1..=65535")),
    }
}

fn parse_millis(field: &'static str, v: &str, origin: &Origin) -> Result<Duration, ConfigError> {
    parse_num::<u64>(field, v, origin, "a whole number of milliseconds").map(Duration::from_millis)
}

fn parse_protocol(v: &str, origin: &Origin) -> Result<OtlpProtocol, ConfigError> {
    match v.trim() {
        "grpc" => Ok(OtlpProtocol::Grpc),
        "http/protobuf" => Ok(OtlpProtocol::HttpProtobuf),
        "http/json" => Err(err(
            "otlp_protocol",
            v,
            origin,
            "http/json is not supported by this exporter",
            "grpc, http/protobuf",
        )),
        _ => Err(err(
            "otlp_protocol",
            v,
            origin,
            "unknown protocol",
            "grpc, http/protobuf",
        )),
    }
}

/// Parses `k=v,k2=v2` with percent-decoding, as the OTel spec's
/// `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_EXPORTER_OTLP_HEADERS`.
fn parse_kv_list(
    field: &'static str,
    v: &str,
    origin: &Origin,
) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut out = BTreeMap::new();
    for pair in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((k, val)) = pair.split_once('=') else {
            return Err(err(
                field,
                v,
                origin,
                format!("entry {pair:?} has no '='"),
                "key=value,key2=value2",
            ));
        };
        let decode = |s: &str| {
            url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        let key = decode(k.trim());
        if key.is_empty() {
            return Err(err(field, v, origin, "empty key", "key=value,key2=value2"));
        }
        out.insert(key, decode(val.trim()));
    }
    Ok(out)
}

/// Sampler names of `OTEL_TRACES_SAMPLER`: (rate, parent_based) or none
/// for the ratio samplers, whose rate comes from the argument.
fn parse_sampler(v: &str, origin: &Origin) -> Result<(Option<f64>, bool), ConfigError> {
    const ACCEPTED: &str = "always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio";
    Ok(match v.trim() {
        "always_on" => (Some(1.0), false),
        "always_off" => (Some(0.0), false),
        "traceidratio" => (None, false),
        "parentbased_always_on" => (Some(1.0), true),
        "parentbased_always_off" => (Some(0.0), true),
        "parentbased_traceidratio" => (None, true),
        _ => return Err(err("trace_sampler", v, origin, "unknown sampler", ACCEPTED)),
    })
}

/// A source of environment variables: the process environment, or a map
/// (tests).
#[derive(Debug, Clone)]
pub enum EnvSource {
    /// `std::env`.
    Process,
    /// Only these variables.
    Map(BTreeMap<String, String>),
    /// No environment at all.
    None,
}

impl EnvSource {
    fn get(&self, name: &str) -> Option<String> {
        match self {
            EnvSource::Process => std::env::var(name).ok(),
            EnvSource::Map(m) => m.get(name).cloned(),
            EnvSource::None => None,
        }
        .filter(|v| !v.trim().is_empty())
    }
}

/// Builds an [`ObservabilityConfig`] from layers: defaults < file <
/// environment < the values set on this builder.
#[derive(Clone)]
pub struct ConfigBuilder {
    file: Option<PathBuf>,
    env: EnvSource,
    code: Vec<Arc<CodeSetting>>,
}

type CodeSetting = dyn Fn(&mut ObservabilityConfig) + Send + Sync;

impl fmt::Debug for ConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigBuilder")
            .field("file", &self.file)
            .field("env", &self.env)
            .field("code_settings", &self.code.len())
            .finish()
    }
}

impl Default for ConfigBuilder {
    fn default() -> Self {
        ConfigBuilder {
            file: None,
            env: EnvSource::Process,
            code: Vec::new(),
        }
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty),* $(,)?) => {$(
        $(#[$doc])*
        pub fn $name(mut self, value: impl Into<$ty>) -> Self {
            let value: $ty = value.into();
            self.code.push(Arc::new(move |c: &mut ObservabilityConfig| c.$name = value.clone()));
            self
        }
    )*};
}

impl ConfigBuilder {
    /// Reads this TOML file (layer above the defaults). A missing file is
    /// an error: don't name one you don't have.
    pub fn file(mut self, path: impl Into<PathBuf>) -> Self {
        self.file = Some(path.into());
        self
    }

    /// Reads the environment from `source` instead of the process.
    pub fn env(mut self, source: EnvSource) -> Self {
        self.env = source;
        self
    }

    setters! {
        /// Sets `service_name`.
        service_name: String,
        /// Sets `service_version`.
        service_version: String,
        /// Sets `environment`.
        environment: String,
        /// Sets `otlp_protocol`.
        otlp_protocol: OtlpProtocol,
        /// Sets `export_timeout`.
        export_timeout: Duration,
        /// Sets `enable_console_exporter`.
        enable_console_exporter: bool,
        /// Sets `enable_prometheus`.
        enable_prometheus: bool,
        /// Sets `prometheus_host`.
        prometheus_host: String,
        /// Sets `prometheus_port` (0 picks a free port, for tests).
        prometheus_port: u16,
        /// Sets `prometheus_endpoint`.
        prometheus_endpoint: String,
        /// Sets `metric_cardinality_limit`.
        metric_cardinality_limit: usize,
        /// Sets `trace_sample_rate`.
        trace_sample_rate: f64,
        /// Sets `trace_parent_based`.
        trace_parent_based: bool,
        /// Sets `log_level`.
        log_level: String,
        /// Sets `structured_logging`.
        structured_logging: bool,
        /// Sets `log_correlation`.
        log_correlation: bool,
        /// Sets `batch_span_processor`.
        batch_span_processor: bool,
        /// Sets `max_export_batch_size`.
        max_export_batch_size: usize,
        /// Sets `max_queue_size`.
        max_queue_size: usize,
        /// Sets `schedule_delay`.
        schedule_delay: Duration,
        /// Sets `metrics_export_interval`.
        metrics_export_interval: Duration,
    }

    /// Sets `otlp_endpoint`.
    pub fn otlp_endpoint(mut self, url: impl Into<String>) -> Self {
        let url = url.into();
        self.code
            .push(Arc::new(move |c| c.otlp_endpoint = Some(url.clone())));
        self
    }

    /// Adds a resource attribute.
    pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let (k, v) = (key.into(), value.into());
        self.code.push(Arc::new(move |c| {
            c.resource_attributes.insert(k.clone(), v.clone());
        }));
        self
    }

    /// Adds an OTLP header.
    pub fn otlp_header(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let (k, v) = (key.into(), value.into());
        self.code.push(Arc::new(move |c| {
            c.otlp_headers.insert(k.clone(), v.clone());
        }));
        self
    }

    /// Loads every layer and validates the result.
    pub fn build(self) -> Result<ObservabilityConfig, ConfigError> {
        let mut c = ObservabilityConfig::default();
        let mut origins = Origins::default();
        if let Some(path) = &self.file {
            apply_file(&mut c, &mut origins, path)?;
        }
        apply_env(&mut c, &mut origins, &self.env)?;
        for set in &self.code {
            set(&mut c);
        }
        // Settings from code are marked by the validation below as "code"
        // unless a lower layer named the same field with the same value.
        c.validate_with(&origins)?;
        Ok(c)
    }
}

/// Which layer set each field last (for error messages).
#[derive(Debug, Default)]
struct Origins(BTreeMap<&'static str, (Origin, String)>);

impl Origins {
    fn set(&mut self, field: &'static str, origin: Origin, raw: &str) {
        self.0.insert(field, (origin, raw.to_owned()));
    }

    /// The origin of `field` whose current value renders as `value`.
    fn of(&self, field: &'static str, value: &str) -> Origin {
        match self.0.get(field) {
            Some((o, raw)) if raw.trim() == value => o.clone(),
            Some(_) => Origin::Code,
            None => Origin::Default,
        }
    }
}

fn apply_file(
    c: &mut ObservabilityConfig,
    origins: &mut Origins,
    path: &Path,
) -> Result<(), ConfigError> {
    let origin = Origin::File(path.to_owned());
    let text = std::fs::read_to_string(path).map_err(|e| {
        err(
            "config_file",
            path.display().to_string(),
            &origin,
            format!("cannot read: {e}"),
            "a readable TOML file",
        )
    })?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        err(
            "config_file",
            path.display().to_string(),
            &origin,
            format!("not valid TOML: {}", e.message()),
            "TOML key = value lines",
        )
    })?;
    for (key, value) in table {
        let Some(field) = FILE_KEYS.iter().find(|k| **k == key) else {
            return Err(err(
                "config_file",
                key,
                &origin,
                "unknown key",
                FILE_KEYS.join(", "),
            ));
        };
        let bad = |what: &str| {
            err(
                "config_file",
                key.clone(),
                &origin,
                format!("{what} is not accepted here"),
                "strings, numbers, booleans; a table for resource_attributes and otlp_headers",
            )
        };
        let raw = match &value {
            toml::Value::Table(t) => {
                let mut pairs = Vec::new();
                for (k, v) in t {
                    pairs.push(format!(
                        "{k}={}",
                        scalar(v).ok_or_else(|| bad("a nested value"))?
                    ));
                }
                pairs.join(",")
            }
            other => scalar(other).ok_or_else(|| bad("an array or date"))?,
        };
        set_field(c, origins, field, &raw, &origin)?;
    }
    Ok(())
}

fn scalar(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Sets one field from its file spelling.
fn set_field(
    c: &mut ObservabilityConfig,
    origins: &mut Origins,
    key: &'static str,
    raw: &str,
    o: &Origin,
) -> Result<(), ConfigError> {
    let field: &'static str = key.trim_end_matches("_ms");
    match key {
        "service_name" => c.service_name = raw.to_owned(),
        "service_version" => c.service_version = raw.to_owned(),
        "environment" => c.environment = raw.to_owned(),
        "resource_attributes" => c.resource_attributes.extend(parse_kv_list(field, raw, o)?),
        "otlp_endpoint" => c.otlp_endpoint = Some(raw.to_owned()),
        "otlp_traces_endpoint" => c.otlp_traces_endpoint = Some(raw.to_owned()),
        "otlp_metrics_endpoint" => c.otlp_metrics_endpoint = Some(raw.to_owned()),
        "otlp_protocol" => c.otlp_protocol = parse_protocol(raw, o)?,
        "otlp_headers" => c.otlp_headers.extend(parse_kv_list(field, raw, o)?),
        "export_timeout_ms" => c.export_timeout = parse_millis("export_timeout", raw, o)?,
        "enable_console_exporter" => c.enable_console_exporter = parse_bool(field, raw, o)?,
        "enable_prometheus" => c.enable_prometheus = parse_bool(field, raw, o)?,
        "prometheus_host" => c.prometheus_host = raw.to_owned(),
        "prometheus_port" => c.prometheus_port = parse_port(field, raw, o)?,
        "prometheus_endpoint" => c.prometheus_endpoint = raw.to_owned(),
        "metric_cardinality_limit" => {
            c.metric_cardinality_limit = parse_num(field, raw, o, "a positive whole number")?
        }
        "trace_sample_rate" => {
            c.trace_sample_rate = parse_num(field, raw, o, "a number in 0.0..=1.0")?
        }
        "trace_parent_based" => c.trace_parent_based = parse_bool(field, raw, o)?,
        "log_level" => c.log_level = raw.to_owned(),
        "structured_logging" => c.structured_logging = parse_bool(field, raw, o)?,
        "log_correlation" => c.log_correlation = parse_bool(field, raw, o)?,
        "sdk_log_level" => c.sdk_log_level = raw.to_owned(),
        "batch_span_processor" => c.batch_span_processor = parse_bool(field, raw, o)?,
        "max_export_batch_size" => {
            c.max_export_batch_size = parse_num(field, raw, o, "a positive whole number")?
        }
        "max_queue_size" => c.max_queue_size = parse_num(field, raw, o, "a positive whole number")?,
        "schedule_delay_ms" => c.schedule_delay = parse_millis("schedule_delay", raw, o)?,
        "metrics_export_interval_ms" => {
            c.metrics_export_interval = parse_millis("metrics_export_interval", raw, o)?
        }
        _ => return Err(err("config", key, o, "unknown key", FILE_KEYS.join(", "))),
    }
    origins.set(field, o.clone(), raw);
    Ok(())
}

fn apply_env(
    c: &mut ObservabilityConfig,
    origins: &mut Origins,
    env: &EnvSource,
) -> Result<(), ConfigError> {
    let var = |name: &str| env.get(name).map(|v| (v, Origin::Env(name.to_owned())));

    if let Some((v, o)) = var("OTEL_SDK_DISABLED") {
        c.sdk_disabled = parse_bool("sdk_disabled", &v, &o)?;
    }
    if let Some((v, o)) = var("OTEL_RESOURCE_ATTRIBUTES") {
        let attrs = parse_kv_list("resource_attributes", &v, &o)?;
        for (k, val) in attrs {
            match k.as_str() {
                "service.name" => set_field(c, origins, "service_name", &val, &o)?,
                "service.version" => set_field(c, origins, "service_version", &val, &o)?,
                "deployment.environment" | "deployment.environment.name" => {
                    set_field(c, origins, "environment", &val, &o)?
                }
                _ => {
                    c.resource_attributes.insert(k, val);
                }
            }
        }
    }
    let plain: &[(&str, &'static str)] = &[
        ("OTEL_SERVICE_NAME", "service_name"),
        ("OBSERVABILITY_SERVICE_VERSION", "service_version"),
        ("OBSERVABILITY_ENVIRONMENT", "environment"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "otlp_endpoint"),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "otlp_traces_endpoint"),
        (
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
            "otlp_metrics_endpoint",
        ),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "otlp_protocol"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "otlp_headers"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "export_timeout_ms"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "max_queue_size"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "max_export_batch_size"),
        ("OTEL_BSP_SCHEDULE_DELAY", "schedule_delay_ms"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "metrics_export_interval_ms"),
        ("OTEL_EXPORTER_PROMETHEUS_HOST", "prometheus_host"),
        ("OTEL_LOG_LEVEL", "sdk_log_level"),
        ("OBSERVABILITY_LOG_LEVEL", "log_level"),
        ("RUST_LOG", "log_level"),
        ("OBSERVABILITY_STRUCTURED_LOGGING", "structured_logging"),
        ("OBSERVABILITY_LOG_CORRELATION", "log_correlation"),
        ("OBSERVABILITY_ENABLE_PROMETHEUS", "enable_prometheus"),
        ("OBSERVABILITY_PROMETHEUS_ENDPOINT", "prometheus_endpoint"),
        (
            "OBSERVABILITY_ENABLE_CONSOLE_EXPORTER",
            "enable_console_exporter",
        ),
        ("OBSERVABILITY_BATCH_SPAN_PROCESSOR", "batch_span_processor"),
    ];
    for (name, key) in plain {
        if let Some((v, o)) = var(name) {
            set_field(c, origins, key, &v, &o)?;
        }
    }
    // The OTel name wins over the spec's alias.
    if let Some((v, o)) = var("OTEL_EXPORTER_PROMETHEUS_PORT").or_else(|| var("PROMETHEUS_PORT")) {
        set_field(c, origins, "prometheus_port", &v, &o)?;
    }
    if let Some((v, o)) = var("OTEL_TRACES_SAMPLER") {
        let (rate, parent_based) = parse_sampler(&v, &o)?;
        c.trace_parent_based = parent_based;
        origins.set("trace_parent_based", o.clone(), &parent_based.to_string());
        match rate {
            Some(r) => {
                c.trace_sample_rate = r;
                origins.set("trace_sample_rate", o, &r.to_string());
            }
            None => {
                // Ratio samplers: the argument, or 1.0 as the spec says.
                let (arg, ao) = var("OTEL_TRACES_SAMPLER_ARG").unwrap_or_else(|| {
                    ("1.0".into(), Origin::Env("OTEL_TRACES_SAMPLER_ARG".into()))
                });
                set_field(c, origins, "trace_sample_rate", &arg, &ao)?;
            }
        }
    }
    Ok(())
}

fn check_url(field: &'static str, url: &str, origin: Origin) -> Result<(), ConfigError> {
    let parsed = url::Url::parse(url).map_err(|e| {
        err(
            field,
            url,
            &origin,
            format!("not a URL ({e})"),
            "http://host:port or https://host:port",
        )
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(err(
            field,
            url,
            &origin,
            "needs an http or https scheme and a host",
            "http://host:port or https://host:port",
        ));
    }
    Ok(())
}

impl ObservabilityConfig {
    /// A builder that loads defaults < `file` < environment < code.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// Defaults overridden by the process environment, validated.
    pub fn from_env() -> Result<Self, ConfigError> {
        ConfigBuilder::default().build()
    }

    /// Checks a config built or edited in code.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_with(&Origins::default())
    }

    fn validate_with(&self, origins: &Origins) -> Result<(), ConfigError> {
        let o = |field: &'static str, v: &str| match origins.of(field, v) {
            Origin::Default => Origin::Code,
            other => other,
        };
        let rate = self.trace_sample_rate;
        if !(0.0..=1.0).contains(&rate) || rate.is_nan() {
            let v = rate.to_string();
            return Err(err(
                "trace_sample_rate",
                &v,
                &o("trace_sample_rate", &v),
                "outside 0..1",
                "a number in 0.0..=1.0",
            ));
        }
        if self.metric_cardinality_limit == 0 {
            return Err(err(
                "metric_cardinality_limit",
                "0",
                &o("metric_cardinality_limit", "0"),
                "must allow at least one series",
                "a positive whole number",
            ));
        }
        if self.max_queue_size == 0 {
            return Err(err(
                "max_queue_size",
                "0",
                &o("max_queue_size", "0"),
                "must hold at least one span",
                "a positive whole number",
            ));
        }
        if self.max_export_batch_size == 0 {
            return Err(err(
                "max_export_batch_size",
                "0",
                &o("max_export_batch_size", "0"),
                "must export at least one span",
                "a positive whole number",
            ));
        }
        if self.max_export_batch_size > self.max_queue_size {
            let v = self.max_export_batch_size.to_string();
            return Err(err(
                "max_export_batch_size",
                &v,
                &o("max_export_batch_size", &v),
                format!("larger than max_queue_size ({})", self.max_queue_size),
                format!("1..={}", self.max_queue_size),
            ));
        }
        for (field, url) in [
            ("otlp_endpoint", &self.otlp_endpoint),
            ("otlp_traces_endpoint", &self.otlp_traces_endpoint),
            ("otlp_metrics_endpoint", &self.otlp_metrics_endpoint),
        ] {
            if let Some(url) = url {
                check_url(field, url, o(field, url))?;
            }
        }
        if !self.batch_span_processor && self.exports_otlp_traces() {
            return Err(err(
                "batch_span_processor",
                "false",
                &o("batch_span_processor", "false"),
                "unbatched export sends one request per span, so an OTLP backend would cap spans at one network round trip each and the queue would drop the rest",
                "true with OTLP (false only with the console exporter or in tests)",
            ));
        }
        if self.prometheus_host != "localhost" && self.prometheus_host.parse::<IpAddr>().is_err() {
            return Err(err(
                "prometheus_host",
                &self.prometheus_host,
                &o("prometheus_host", &self.prometheus_host),
                "not an IP address",
                "an IP address such as 127.0.0.1 (loopback, default) or 0.0.0.0 (all interfaces), or localhost",
            ));
        }
        if !self.prometheus_endpoint.starts_with('/')
            || self.prometheus_endpoint.contains(char::is_whitespace)
        {
            return Err(err(
                "prometheus_endpoint",
                &self.prometheus_endpoint,
                &o("prometheus_endpoint", &self.prometheus_endpoint),
                "not an absolute path",
                "a path such as /metrics",
            ));
        }
        if let Err(e) = tracing_subscriber::EnvFilter::builder().parse(&self.log_level) {
            return Err(err(
                "log_level",
                &self.log_level,
                &o("log_level", &self.log_level),
                format!("not a log filter ({e})"),
                "error, warn, info, debug, trace, or an EnvFilter directive such as info,my_crate=debug",
            ));
        }
        if !matches!(
            self.sdk_log_level.to_ascii_lowercase().as_str(),
            "error" | "warn" | "info" | "debug" | "trace" | "off"
        ) {
            return Err(err(
                "sdk_log_level",
                &self.sdk_log_level,
                &o("sdk_log_level", &self.sdk_log_level),
                "unknown level",
                "off, error, warn, info, debug, trace",
            ));
        }
        Ok(())
    }

    /// Whether traces go to an OTLP endpoint.
    pub fn exports_otlp_traces(&self) -> bool {
        self.otlp_endpoint.is_some() || self.otlp_traces_endpoint.is_some()
    }

    /// Whether metrics go to an OTLP endpoint.
    pub fn exports_otlp_metrics(&self) -> bool {
        self.otlp_endpoint.is_some() || self.otlp_metrics_endpoint.is_some()
    }

    /// The URL traces are sent to, or `None` without OTLP.
    pub fn traces_url(&self) -> Option<String> {
        self.signal_url(&self.otlp_traces_endpoint, "traces")
    }

    /// The URL metrics are sent to, or `None` without OTLP.
    pub fn metrics_url(&self) -> Option<String> {
        self.signal_url(&self.otlp_metrics_endpoint, "metrics")
    }

    fn signal_url(&self, specific: &Option<String>, signal: &str) -> Option<String> {
        if let Some(url) = specific {
            return Some(url.clone());
        }
        let base = self.otlp_endpoint.as_ref()?;
        Some(match self.otlp_protocol {
            OtlpProtocol::Grpc => base.clone(),
            OtlpProtocol::HttpProtobuf => format!("{}/v1/{signal}", base.trim_end_matches('/')),
        })
    }
}
