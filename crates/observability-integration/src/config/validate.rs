//! Validation: the ranges and combinations a parser alone can't check.

use std::net::IpAddr;

use super::error::{err, ConfigError, Origin};
use super::load::Origins;
use super::ObservabilityConfig;

/// What `prometheus_endpoint` accepts.
pub(crate) const ENDPOINT_ACCEPTED: &str =
    "an absolute path of plain segments such as /metrics or /internal/metrics (letters, digits and - . _ ~ only), other than /healthz";

/// Why `path` can't be the metrics endpoint, if it can't. The server's
/// router would panic on route syntax (`{param}`, `:param`, `*wild`) and on
/// a clash with the health route, so only plain segments pass.
pub(crate) fn endpoint_problem(path: &str) -> Option<&'static str> {
    let Some(rest) = path.strip_prefix('/') else {
        return Some("not an absolute path");
    };
    if path == "/healthz" || path == "/healthz/" {
        return Some("clashes with the health route /healthz");
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        return None;
    }
    for segment in rest.split('/') {
        if segment.is_empty() {
            return Some("has an empty segment (//)");
        }
        if !segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
        {
            return Some("has a character other than letters, digits and - . _ ~ in a segment (route syntax such as {name}, :name or *name is not a path)");
        }
        if segment == "." || segment == ".." {
            return Some("has a . or .. segment");
        }
    }
    None
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
    /// Checks a config built or edited in code.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_with(&Origins::default())
    }

    pub(super) fn validate_with(&self, origins: &Origins) -> Result<(), ConfigError> {
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
        if self.enable_viewer == Some(true) && !cfg!(feature = "viewer") {
            return Err(err(
                "enable_viewer",
                "true",
                &o("enable_viewer", "true"),
                "this build of observability-integration has no viewer",
                "enable the crate's `viewer` feature, or enable_viewer = false",
            ));
        }
        if self.viewer_max_bytes < MIN_VIEWER_BYTES {
            let v = self.viewer_max_bytes.to_string();
            return Err(err(
                "viewer_max_bytes",
                &v,
                &o("viewer_max_bytes", &v),
                "too small to hold a run",
                "at least 65536 (64KiB); the default is 64MiB",
            ));
        }
        if self.metrics_max_connections == 0 {
            return Err(err(
                "metrics_max_connections",
                "0",
                &o("metrics_max_connections", "0"),
                "the metrics server could take no scrape",
                "a positive whole number",
            ));
        }
        if self.metrics_header_timeout.is_zero() {
            return Err(err(
                "metrics_header_timeout",
                "0",
                &o("metrics_header_timeout", "0"),
                "every request would time out",
                "a positive number of milliseconds, such as 10000",
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
        for (field, path) in [
            ("otlp_certificate", &self.otlp_certificate),
            ("otlp_traces_certificate", &self.otlp_traces_certificate),
            ("otlp_metrics_certificate", &self.otlp_metrics_certificate),
        ] {
            if let Some(path) = path {
                if let Err(problem) = crate::export::tls::load_certificates(path) {
                    return Err(err(
                        field,
                        path,
                        &o(field, path),
                        problem,
                        "a readable PEM file with at least one CERTIFICATE block",
                    ));
                }
            }
        }
        if let Some(path) = &self.llm_pricing_file {
            if let Err(e) = crate::llm::Pricing::from_file(path) {
                return Err(err(
                    "llm_pricing_file",
                    path,
                    &o("llm_pricing_file", path),
                    e.problem,
                    "a readable TOML file of [models.\"name\"] tables with input and output (USD per 1 M tokens) and optional cache_read, cache_write, reasoning, aliases",
                ));
            }
        }
        if let Some(problem) = correlation_header_problem(&self.correlation_id_header) {
            return Err(err(
                "correlation_id_header",
                &self.correlation_id_header,
                &o("correlation_id_header", &self.correlation_id_header),
                problem,
                "a lowercase HTTP header name such as x-correlation-id or x-request-id",
            ));
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
        if let Some(problem) = endpoint_problem(&self.prometheus_endpoint) {
            return Err(err(
                "prometheus_endpoint",
                &self.prometheus_endpoint,
                &o("prometheus_endpoint", &self.prometheus_endpoint),
                problem,
                ENDPOINT_ACCEPTED,
            ));
        }
        if let Some(problem) = self
            .viewer_enabled()
            .then(|| viewer_route_clash(&self.prometheus_endpoint))
            .flatten()
        {
            return Err(err(
                "prometheus_endpoint",
                &self.prometheus_endpoint,
                &o("prometheus_endpoint", &self.prometheus_endpoint),
                problem,
                "a path outside the viewer's (/, /traces/…, /assets/…, /api/…, /v1/…, /dashboard, /login) such as /metrics, or enable_viewer = false",
            ));
        }
        if let Some(t) = &self.viewer_token {
            let t = t.expose();
            let shown = format!("<{} characters, not shown>", t.chars().count());
            if t.len() < 16 || !t.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(err(
                    "viewer_token",
                    &shown,
                    &o("viewer_token", t),
                    "too short or has spaces or non-ASCII characters (it travels in an HTTP header)",
                    "at least 16 visible ASCII characters, such as the output of `openssl rand -hex 16`",
                ));
            }
        }
        if self.viewer_enabled()
            && self.viewer_token.is_none()
            && !is_loopback_name(&self.prometheus_host)
        {
            return Err(err(
                "viewer_token",
                "none",
                &o("prometheus_host", &self.prometheus_host),
                format!(
                    "the viewer would answer anyone who reaches {}:{} (prometheus_host is beyond loopback) without a token",
                    self.prometheus_host, self.prometheus_port
                ),
                "set viewer_token (OBSERVABILITY_VIEWER_TOKEN, 16+ characters such as `openssl rand -hex 16`), or enable_viewer = false, or prometheus_host = 127.0.0.1",
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
}

/// The smallest `viewer_max_bytes`.
const MIN_VIEWER_BYTES: usize = 64 * 1024;

/// Why `path` can't be the metrics endpoint beside the viewer, if it
/// can't: the viewer owns `/`, its pages and assets, its API and
/// (for OTLP intake) `/v1/`.
fn viewer_route_clash(path: &str) -> Option<&'static str> {
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    if trimmed.is_empty() {
        return Some("is the viewer's runs page (/)");
    }
    ["/api", "/v1", "/traces", "/assets", "/dashboard", "/login"]
        .iter()
        .any(|p| trimmed == *p || trimmed.starts_with(&format!("{p}/")))
        .then_some("is under a path the viewer serves")
}

/// Whether `name` (a bind address or a `Host` header's name, without a
/// port) is this machine's loopback: `localhost` or a loopback IP.
pub(crate) fn is_loopback_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Why `name` can't be the correlation-id header, if it can't.
fn correlation_header_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("is empty");
    }
    if http::HeaderName::from_bytes(name.as_bytes()).is_err()
        || name.bytes().any(|b| b.is_ascii_uppercase())
    {
        return Some("is not a lowercase HTTP header name");
    }
    let reserved = [
        crate::propagation::header::TRACEPARENT,
        crate::propagation::header::TRACESTATE,
        crate::propagation::header::BAGGAGE,
    ];
    reserved
        .contains(&name)
        .then_some("is a trace-context header, which the propagator owns")
}
