//! Real OTLP exporters against a backend that is down or stalls: setup
//! says so, workflows keep their latency, and every span is accounted for.
//! (No external backend needed: a closed port and a listener that never
//! answers are the faults.)

mod support;

use std::time::{Duration, Instant};

use observability_integration::{
    EnvSource, ObservabilityBuilder, ObservabilityConfig, OtlpProtocol, SignalState,
};
use primitives_core::{lambda, Error, PrimitiveExt, WorkflowContext};

fn cfg(endpoint: String, protocol: OtlpProtocol) -> ObservabilityConfig {
    ObservabilityConfig::builder()
        .env(EnvSource::None)
        .otlp_endpoint(endpoint)
        .otlp_protocol(protocol)
        .enable_prometheus(false)
        .enable_viewer(false)
        .export_timeout(Duration::from_millis(300))
        .schedule_delay(Duration::from_millis(50))
        .max_queue_size(1000usize)
        .metrics_export_interval(Duration::from_millis(200))
        .build()
        .unwrap()
}

async fn run_many(obs: &observability_integration::Observability, n: u64) -> Duration {
    let wf = (lambda("a", |x: u64| async move { Ok::<_, Error>(x) })
        >> lambda("b", |x: u64| async move { Ok::<_, Error>(x) }))
    .named("flow")
    .into_workflow();
    let mut worst = Duration::ZERO;
    for i in 0..n {
        let ctx = WorkflowContext::new().with_telemetry(obs.telemetry());
        let t = Instant::now();
        wf.run(&ctx, i).await.unwrap();
        worst = worst.max(t.elapsed());
        if i % 50 == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    worst
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_down_at_start_is_reported_and_counted() {
    for protocol in [OtlpProtocol::Grpc, OtlpProtocol::HttpProtobuf] {
        let port = support::free_port(); // nothing listens here
        let obs = ObservabilityBuilder::new(cfg(format!("http://127.0.0.1:{port}"), protocol))
            .logs(false)
            .build();
        let report = obs.report();
        assert!(!report.all_live(), "{report}");
        assert_eq!(report.traces, SignalState::Failed);
        let failure = report
            .failures
            .iter()
            .find(|f| f.component == "traces.otlp")
            .unwrap();
        assert!(failure.error.contains("cannot reach"), "{}", failure.error);
        assert!(
            report.to_string().contains("FAILED traces.otlp"),
            "{report}"
        );

        let worst = run_many(&obs, 300).await;
        assert!(
            worst < Duration::from_millis(150),
            "{protocol:?}: a run took {worst:?}"
        );
        let shut = obs.shutdown(Duration::from_secs(10));
        let c = shut.spans[0].1;
        assert_eq!(c.ended, 900);
        assert_eq!(c.exported, 0);
        assert_eq!(c.ended, c.dropped(), "{protocol:?}: {c:?}");
        let errors = obs.export_errors();
        assert!(
            !errors[0].1.is_empty(),
            "errors counted by kind: {errors:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_that_accepts_and_never_answers_bounds_latency() {
    // Accepts connections and holds them open without a byte of reply.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    for protocol in [OtlpProtocol::Grpc, OtlpProtocol::HttpProtobuf] {
        let obs = ObservabilityBuilder::new(cfg(format!("http://127.0.0.1:{port}"), protocol))
            .logs(false)
            .build();
        assert!(
            obs.report().failures.is_empty(),
            "the port accepts: {}",
            obs.report()
        );
        let worst = run_many(&obs, 300).await;
        assert!(
            worst < Duration::from_millis(150),
            "{protocol:?}: a run took {worst:?}"
        );
        let t = Instant::now();
        let shut = obs.shutdown(Duration::from_secs(10));
        assert!(t.elapsed() < Duration::from_secs(11), "shutdown is bounded");
        let c = shut.spans[0].1;
        assert_eq!(c.ended, 900);
        assert_eq!(c.exported, 0, "{protocol:?}: {c:?}");
        assert_eq!(c.ended, c.dropped() + c.in_flight, "{protocol:?}: {c:?}");
        let kinds = &obs.export_errors()[0].1;
        assert!(kinds.contains_key("timeout"), "{protocol:?}: {kinds:?}");
    }
    holder.abort();
}
