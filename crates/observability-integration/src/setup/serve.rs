//! The integration's HTTP server: `/metrics` when Prometheus is on, the
//! trace viewer when it is on, `/healthz` always; started when either is.

use axum::Router;

use super::report::StatusReport;
use crate::config::{endpoint_problem, is_loopback_name, ObservabilityConfig, ENDPOINT_ACCEPTED};
use crate::metrics_server::{finish_router, metrics_router, Limits, Server};
use crate::prometheus::PrometheusMetrics;
use crate::runtime::ObsRuntime;
use crate::viewer::{Hosts, Viewer};

/// Starts the server for what is on; failures go in the report (the
/// component is `metrics.prometheus` when Prometheus is on, else `viewer`).
pub(super) fn start(
    rt: &ObsRuntime,
    cfg: &ObservabilityConfig,
    prometheus: Option<&PrometheusMetrics>,
    viewer: Option<&Viewer>,
    report: &mut StatusReport,
) -> Option<Server> {
    if prometheus.is_none() && viewer.is_none() {
        return None;
    }
    let component = if prometheus.is_some() {
        "metrics.prometheus"
    } else {
        "viewer"
    };
    let mut app = Router::new();
    let mut served = Vec::new();
    let mut viewer_served = false;
    if let Some(prom) = prometheus {
        // The endpoint was checked when the config was built; one edited
        // since is an error to report, not a router panic.
        if let Some(problem) = endpoint_problem(&cfg.prometheus_endpoint) {
            report.fail(
                component,
                format!(
                    "prometheus_endpoint {:?} {problem}; accepted: {ENDPOINT_ACCEPTED}. The metrics server is off; everything else runs",
                    cfg.prometheus_endpoint
                ),
            );
            return None;
        }
        app = app.merge(metrics_router(&cfg.prometheus_endpoint, prom.clone()));
        served.push(format!("metrics are served at {}", cfg.prometheus_endpoint));
    }
    if let Some(v) = viewer {
        let hosts = if is_loopback_name(&cfg.prometheus_host) {
            Hosts::Loopback
        } else {
            Hosts::Any
        };
        // The config checked that the metrics endpoint is outside the
        // viewer's paths; a clash still must not panic.
        let merged = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            app.clone().merge(v.router_for(hosts))
        }));
        match merged {
            Ok(m) => {
                app = m;
                viewer_served = true;
                served.push("the trace viewer at /".into());
            }
            Err(_) => {
                report.fail(
                    "viewer",
                    format!(
                        "prometheus_endpoint {:?} clashes with the viewer's routes; the viewer is off. Use /metrics, or enable_viewer = false",
                        cfg.prometheus_endpoint
                    ),
                );
            }
        }
    }
    let app = finish_router(app, served.join(", "));
    let limits = Limits {
        header_timeout: cfg.metrics_header_timeout,
        max_connections: cfg.metrics_max_connections,
    };
    match Server::start(rt, &cfg.prometheus_host, cfg.prometheus_port, app, limits) {
        Ok(s) => {
            let addr = s.addr();
            report.metrics_addr = Some(addr);
            if prometheus.is_some() {
                report.exporter(
                    "prometheus",
                    "metrics",
                    Some(format!("http://{addr}{}", cfg.prometheus_endpoint)),
                );
            }
            report.viewer = viewer_served;
            Some(s)
        }
        Err(e) => {
            report.fail(
                component,
                format!(
                    "cannot bind {}:{}: {e}. The metrics server{} is off; everything else runs. Set prometheus_port (OTEL_EXPORTER_PROMETHEUS_PORT) to a free port",
                    cfg.prometheus_host,
                    cfg.prometheus_port,
                    if viewer.is_some() { " and the viewer" } else { "" }
                ),
            );
            None
        }
    }
}
