//! [`ObservabilityConfig`]: every setting, loaded in layers — defaults <
//! config file (TOML) < environment < explicit code — and validated with
//! errors that name the field, the value, where it came from and what is
//! accepted.
//!
//! Every field is declared once, in one table ([`FIELDS`]): its type,
//! default, file key, environment variables, parser and documentation. The
//! struct, its defaults, the builder's setters, the file and environment
//! loaders and the tables of `docs/configuration.md`
//! ([`markdown_tables`]) all come from it.

mod docs;
mod error;
mod fields;
mod load;
mod parse;
mod secret;
mod table;
mod validate;

pub use docs::markdown_tables;
pub use error::{ConfigError, Origin};
pub use fields::{ObservabilityConfig, FIELDS};
pub use load::{ConfigBuilder, EnvSource};
pub use secret::Secret;
pub use table::Field;
pub(crate) use validate::{endpoint_problem, is_loopback_name, ENDPOINT_ACCEPTED};

/// OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
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

impl ObservabilityConfig {
    /// A builder that loads defaults < `file` < environment < code.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// Defaults overridden by the process environment, validated.
    pub fn from_env() -> Result<Self, ConfigError> {
        ConfigBuilder::default().build()
    }

    /// Whether traces go to an OTLP endpoint.
    pub fn exports_otlp_traces(&self) -> bool {
        self.otlp_endpoint.is_some() || self.otlp_traces_endpoint.is_some()
    }

    /// Whether the trace viewer is served: `enable_viewer`, or when it is
    /// unset, whether `environment` is `development`. Always false when
    /// the crate is built without its `viewer` feature (asking for it then
    /// is a config error).
    pub fn viewer_enabled(&self) -> bool {
        cfg!(feature = "viewer")
            && self
                .enable_viewer
                .unwrap_or_else(|| self.environment.eq_ignore_ascii_case("development"))
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

    /// The certificate file trusted for the traces endpoint, if any.
    pub fn traces_certificate(&self) -> Option<&str> {
        self.otlp_traces_certificate
            .as_deref()
            .or(self.otlp_certificate.as_deref())
    }

    /// The certificate file trusted for the metrics endpoint, if any.
    pub fn metrics_certificate(&self) -> Option<&str> {
        self.otlp_metrics_certificate
            .as_deref()
            .or(self.otlp_certificate.as_deref())
    }

    /// The LLM pricing table: `llm_pricing_file` when set (checked when
    /// the config was built; read again here), else the built-in one.
    pub fn llm_pricing(&self) -> Result<crate::llm::Pricing, crate::llm::PricingError> {
        match &self.llm_pricing_file {
            Some(path) => crate::llm::Pricing::from_file(path),
            None => Ok(crate::llm::Pricing::builtin()),
        }
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
