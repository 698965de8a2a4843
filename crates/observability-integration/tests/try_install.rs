//! Fail-fast setup (own process: installs globally): `try_install` returns
//! the report when something asked for is not running and leaves nothing
//! installed, so a second try can succeed. And `layer()` can be called
//! more than once: every layer writes to the configured writer.

mod support;

use std::time::Duration;

use observability_integration::{EnvSource, ObservabilityBuilder, ObservabilityConfig};
use support::Lines;
use tracing_subscriber::layer::SubscriberExt;

fn config() -> observability_integration::ConfigBuilder {
    ObservabilityConfig::builder()
        .env(EnvSource::None)
        .prometheus_port(0u16)
}

#[test]
fn every_layer_writes_to_the_configured_writer() {
    let lines = Lines::default();
    let writer = lines.clone();
    let obs = ObservabilityBuilder::new(
        config()
            .enable_prometheus(false)
            .enable_viewer(false)
            .build()
            .unwrap(),
    )
    .tracing(false)
    .log_writer(move || writer.clone())
    .build();
    let (first, second) = (obs.layer(), obs.layer());
    tracing::subscriber::with_default(tracing_subscriber::registry().with(first), || {
        tracing::info!("through the first layer")
    });
    tracing::subscriber::with_default(tracing_subscriber::registry().with(second), || {
        tracing::info!("through the second layer")
    });
    let text = lines.text();
    assert!(text.contains("through the first layer"), "{text}");
    assert!(text.contains("through the second layer"), "{text}");
    obs.shutdown(Duration::from_secs(2));
}

#[test]
fn try_install_fails_fast_with_the_report_and_a_second_try_succeeds() {
    // Nothing listens on port 1: the endpoint probe fails at setup.
    let unreachable = config()
        .otlp_endpoint("http://127.0.0.1:1")
        .export_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let err = ObservabilityBuilder::new(unreachable)
        .try_install()
        .expect_err("an unreachable endpoint fails fast");
    assert!(!err.report.all_live(), "{}", err.report);
    assert!(
        err.report
            .failures
            .iter()
            .any(|f| f.component == "traces.otlp" && f.error.contains("127.0.0.1:1")),
        "{}",
        err.report
    );
    assert!(err.to_string().contains("nothing was installed"), "{err}");
    // Nothing stayed installed.
    // (No global subscriber either: the second try below could not install
    // its own otherwise.)
    assert!(primitives_core::telemetry::global().is_none());

    let lines = Lines::default();
    let writer = lines.clone();
    let guard = ObservabilityBuilder::new(config().build().unwrap())
        .log_writer(move || writer.clone())
        .try_install()
        .expect("a good config installs");
    assert!(guard.report().all_live(), "{}", guard.report());
    assert!(
        guard.report().global && guard.report().subscriber_installed,
        "the global subscriber slot was still free: {}",
        guard.report()
    );
    assert!(primitives_core::telemetry::global().is_some());
    tracing::info!("after the second try");
    assert!(lines.text().contains("after the second try"));

    // The global meter provider gives users' histograms boundaries for
    // their unit: 0.123 s lands under 0.25, not in a millisecond bucket.
    let meter = opentelemetry::global::meter("user");
    let h = meter.f64_histogram("global_latency").with_unit("s").build();
    h.record(0.123, &[]);
    let addr = guard.report().metrics_addr.expect("metrics served");
    let body = get(addr, "/metrics");
    assert!(
        body.contains("global_latency_seconds_bucket{le=\"0.25\"} 1"),
        "{body}"
    );
    assert!(
        body.contains("global_latency_seconds_bucket{le=\"0.1\"} 0"),
        "{body}"
    );
    guard.shutdown(Duration::from_secs(5));
}

/// A plain HTTP/1.1 GET, for a sync test.
fn get(addr: std::net::SocketAddr, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/plain\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).unwrap();
    out
}
