//! OTLP over TLS, both protocols, to the real Phoenix behind a
//! TLS-terminating proxy this test owns (certificate made at start): spans
//! arrive when the certificate is trusted; without it, or with a wrong
//! one, the report says so instead of "live"; an unreadable certificate
//! file is a config error naming the field.

mod support;

use std::time::Duration;

use observability_integration::{
    EnvSource, ObservabilityBuilder, ObservabilityConfig, OtlpProtocol, SignalState,
};
use primitives_core::{lambda, Error, PrimitiveExt, WorkflowContext};
use serde_json::Value;
use support::phoenix::Phoenix;
use support::tls_proxy::TlsProxy;

fn cfg(
    endpoint: String,
    protocol: OtlpProtocol,
    cert: Option<&std::path::Path>,
) -> ObservabilityConfig {
    let mut b = ObservabilityConfig::builder()
        .env(EnvSource::None)
        .service_name("tls-e2e")
        .otlp_endpoint(endpoint)
        .otlp_protocol(protocol)
        .enable_prometheus(false)
        .enable_viewer(false)
        .schedule_delay(Duration::from_millis(50));
    if let Some(c) = cert {
        b = b.otlp_certificate(c.display().to_string());
    }
    b.build().unwrap()
}

#[test]
fn an_unreadable_certificate_file_is_a_config_error_naming_the_field() {
    for field in [
        "OTEL_EXPORTER_OTLP_CERTIFICATE",
        "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
    ] {
        let e = ObservabilityConfig::builder()
            .env(support::env(&[(field, "/nonexistent/ca.pem")]))
            .build()
            .unwrap_err();
        assert!(e.field.ends_with("certificate"), "{e}");
        assert!(
            e.to_string().contains("/nonexistent/ca.pem") && e.to_string().contains(field),
            "{e}"
        );
    }
    let not_pem = std::env::temp_dir().join(format!("not-pem-{}.pem", std::process::id()));
    std::fs::write(&not_pem, "hello").unwrap();
    let e = ObservabilityConfig::builder()
        .env(EnvSource::None)
        .otlp_metrics_certificate(not_pem.display().to_string())
        .build()
        .unwrap_err();
    assert_eq!(e.field, "otlp_metrics_certificate");
    assert!(e.accepted.contains("PEM"), "{e}");
    let _ = std::fs::remove_file(not_pem);
}

#[test]
fn otlp_over_tls_reaches_phoenix_on_both_protocols() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let Some(phoenix) = rt.block_on(Phoenix::start()) else {
        return;
    };
    for (protocol, upstream, name) in [
        (OtlpProtocol::Grpc, phoenix.grpc_port, "tls_grpc"),
        (OtlpProtocol::HttpProtobuf, phoenix.http_port, "tls_http"),
    ] {
        let proxy = rt.block_on(TlsProxy::start(upstream));
        // Without the certificate: not trusted, and the report says so.
        let untrusted = ObservabilityBuilder::new(cfg(proxy.endpoint(), protocol, None))
            .logs(false)
            .build();
        let report = untrusted.report().to_string();
        assert_eq!(untrusted.report().traces, SignalState::Failed, "{report}");
        assert!(report.contains("TLS handshake failed"), "{report}");
        // Workflows don't wait for the failing handshakes; every span is
        // accounted for and the failures are counted.
        let worst = rt.block_on(async {
            let step = lambda("untrusted", |x: u32| async move { Ok::<_, Error>(x) });
            let mut worst = Duration::ZERO;
            for i in 0..200 {
                let ctx = WorkflowContext::new().with_telemetry(untrusted.telemetry());
                let t = std::time::Instant::now();
                step.run(&ctx, i).await.unwrap();
                worst = worst.max(t.elapsed());
                if i % 50 == 49 {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            }
            worst
        });
        assert!(
            worst < Duration::from_millis(50),
            "{protocol:?}: a run took {worst:?}"
        );
        let shut = untrusted.shutdown(Duration::from_secs(10));
        let c = shut.spans[0].1;
        assert!(c.balanced() && c.in_flight == 0, "{protocol:?}: {c:?}");
        assert_eq!((c.ended, c.exported), (200, 0), "{protocol:?}: {c:?}");
        let errors = &untrusted.export_errors()[0].1;
        assert!(
            !errors.is_empty(),
            "{protocol:?}: failures counted: {errors:?}"
        );

        let obs =
            ObservabilityBuilder::new(cfg(proxy.endpoint(), protocol, Some(&proxy.cert_path)))
                .logs(false)
                .metrics(false)
                .build();
        assert!(obs.report().all_live(), "{}", obs.report());
        let step = lambda(name, |x: u32| async move { Ok::<_, Error>(x) });
        rt.block_on(async {
            for i in 0..5 {
                let ctx = WorkflowContext::new()
                    .with_telemetry(obs.telemetry())
                    .with_correlation_id(format!("{name}-{i}"));
                step.run(&ctx, i).await.unwrap();
            }
        });
        let shut = obs.shutdown(Duration::from_secs(10));
        let c = shut.spans[0].1;
        assert_eq!(
            (c.ended, c.exported, c.export_failed),
            (5, 5, 0),
            "{protocol:?}: {c:?}"
        );
        let span_name = format!("primitive.{name}");
        rt.block_on(
            phoenix.wait_for(name, Duration::from_secs(30), |spans: &[Value]| {
                spans
                    .iter()
                    .filter(|s| s["name"] == span_name.as_str())
                    .count()
                    == 5
            }),
        );
    }
}
