//! What setup did and what shutdown flushed: [`StatusReport`],
//! [`ShutdownReport`].

use std::fmt;
use std::net::SocketAddr;

use crate::accounting::SpanCounts;

/// Live or not, per signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub enum SignalState {
    /// The config did not ask for it.
    Off,
    /// Asked for and running.
    Live,
    /// Asked for, not (fully) running: see the report's failures.
    Failed,
}

/// One installed exporter or reader.
#[derive(Debug, Clone, serde::Serialize)]
#[non_exhaustive]
pub struct ExporterStatus {
    /// `otlp-grpc`, `otlp-http`, `console`, `custom-1`, `prometheus`, …
    pub name: String,
    /// `traces` or `metrics`.
    pub signal: &'static str,
    /// Where it sends, if anywhere.
    pub endpoint: Option<String>,
}

/// Something that did not start, and why.
#[derive(Debug, Clone, serde::Serialize)]
#[non_exhaustive]
pub struct Failure {
    /// What failed (`traces.otlp`, `metrics.prometheus`, `logs`, …).
    pub component: String,
    /// Why, and what to do.
    pub error: String,
}

/// What setup installed, what failed, and (via
/// [`Observability::span_counts`](crate::Observability::span_counts)) what happened to every span since.
#[derive(Debug, Clone, serde::Serialize)]
#[non_exhaustive]
pub struct StatusReport {
    /// `sdk_disabled` (`OTEL_SDK_DISABLED`) was set: nothing installed.
    pub sdk_disabled: bool,
    /// Spans.
    pub traces: SignalState,
    /// Metrics.
    pub metrics: SignalState,
    /// Log lines (our subscriber).
    pub logs: SignalState,
    /// Exporters and readers installed.
    pub exporters: Vec<ExporterStatus>,
    /// The address the metrics server (metrics and viewer) actually bound.
    pub metrics_addr: Option<SocketAddr>,
    /// Whether the trace viewer is served (at [`viewer_url`](Self::viewer_url)).
    pub viewer: bool,
    /// What failed and why.
    pub failures: Vec<Failure>,
    /// Whether our `tracing` subscriber became the global one.
    pub subscriber_installed: bool,
    /// Whether globals were set (false in non-global mode).
    pub global: bool,
}

impl StatusReport {
    /// `Failed` if a component of `signal` failed, else `Live`.
    pub(super) fn state_of(&self, signal: &str) -> SignalState {
        if self
            .failures
            .iter()
            .any(|f| f.component.starts_with(signal))
        {
            SignalState::Failed
        } else {
            SignalState::Live
        }
    }

    /// Where the trace viewer is served, when it is.
    pub fn viewer_url(&self) -> Option<String> {
        self.metrics_addr
            .filter(|_| self.viewer)
            .map(|addr| format!("http://{addr}/"))
    }

    /// Every signal the config asked for is live.
    pub fn all_live(&self) -> bool {
        self.failures.is_empty()
            && ![self.traces, self.metrics, self.logs].contains(&SignalState::Failed)
    }
}

impl fmt::Display for StatusReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.sdk_disabled {
            return writeln!(
                f,
                "observability: DISABLED by sdk_disabled / OTEL_SDK_DISABLED (nothing recorded or exported)"
            );
        }
        let state = |s: SignalState| match s {
            SignalState::Off => "off",
            SignalState::Live => "live",
            SignalState::Failed => "FAILED",
        };
        writeln!(
            f,
            "observability: traces {}, metrics {}, logs {}{}",
            state(self.traces),
            state(self.metrics),
            state(self.logs),
            if self.all_live() {
                ""
            } else {
                " — NOT everything you asked for is running"
            }
        )?;
        for e in &self.exporters {
            writeln!(
                f,
                "  {} {} -> {}",
                e.signal,
                e.name,
                e.endpoint.as_deref().unwrap_or("(in process)")
            )?;
        }
        if let Some(addr) = self.metrics_addr {
            writeln!(f, "  metrics served at http://{addr}")?;
        }
        if let Some(url) = self.viewer_url() {
            writeln!(f, "  trace viewer at {url}")?;
        }
        for fail in &self.failures {
            writeln!(f, "  FAILED {}: {}", fail.component, fail.error)?;
        }
        Ok(())
    }
}

/// What shutdown managed.
#[derive(Debug, Clone, serde::Serialize)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Flush and shutdown finished before the deadline.
    pub completed: bool,
    /// Span counts per pipeline after shutdown.
    pub spans: Vec<(String, SpanCounts)>,
    /// The trace viewer's store: what it held and evicted.
    pub viewer: Option<crate::viewer::ViewerStats>,
}

impl StatusReport {
    /// A report of nothing started yet.
    pub(super) fn new(sdk_disabled: bool, logs: bool) -> StatusReport {
        StatusReport {
            sdk_disabled,
            traces: SignalState::Off,
            metrics: SignalState::Off,
            logs: if logs {
                SignalState::Live
            } else {
                SignalState::Off
            },
            exporters: Vec::new(),
            metrics_addr: None,
            viewer: false,
            failures: Vec::new(),
            subscriber_installed: false,
            global: false,
        }
    }

    /// Records a failure of `component` (`traces.otlp`, `logs`, …).
    pub(super) fn fail(&mut self, component: &str, error: impl Into<String>) {
        self.failures.push(Failure {
            component: component.to_owned(),
            error: error.into(),
        });
    }

    /// Records an exporter of `signal`.
    pub(super) fn exporter(
        &mut self,
        name: impl Into<String>,
        signal: &'static str,
        endpoint: Option<String>,
    ) {
        self.exporters.push(ExporterStatus {
            name: name.into(),
            signal,
            endpoint,
        });
    }
}
