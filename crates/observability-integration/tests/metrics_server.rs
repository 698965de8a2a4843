//! The metrics HTTP server over real HTTP: content negotiation, exemplars,
//! health and 404, a port already in use, users' own instruments, and
//! scraping under 1000 concurrent recorders.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use observability_integration::{
    EnvSource, ObservabilityBuilder, ObservabilityConfig, SignalState,
};
use opentelemetry::metrics::MeterProvider as _;
use primitives_core::{lambda, Error, PrimitiveExt, WorkflowContext};
use support::{series_value, Collect};

const OPENMETRICS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

fn config(port: u16) -> ObservabilityConfig {
    ObservabilityConfig::builder()
        .env(EnvSource::None)
        .service_name("server-test")
        .prometheus_port(port)
        .schedule_delay(Duration::from_millis(50))
        .build()
        .unwrap()
}

async fn get(url: &str, accept: Option<&str>) -> (u16, String, String) {
    let client = reqwest::Client::new();
    let mut req = client.get(url);
    if let Some(a) = accept {
        req = req.header("Accept", a);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ct, resp.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_metrics_with_negotiation_exemplars_health_and_404() {
    let sink = Collect::default();
    let obs = ObservabilityBuilder::new(config(0))
        .with_span_exporter(sink.clone())
        .logs(false)
        .build();
    let addr = obs.report().metrics_addr.expect("bound");
    assert!(addr.ip().is_loopback(), "loopback by default");
    assert_eq!(obs.report().metrics, SignalState::Live);
    assert!(obs.report().all_live(), "{}", obs.report());

    let step = lambda("work", |x: u64| async move {
        if x % 5 == 0 {
            Err(Error::with_error_type("bad_input", "multiple of five"))
        } else {
            Ok(x)
        }
    })
    .into_workflow();
    for i in 0..20 {
        let _ = step
            .run(&WorkflowContext::new().with_telemetry(obs.telemetry()), i)
            .await;
    }
    // Users' own instruments through the same meter provider.
    let meter = obs.meter_provider().unwrap().meter("user");
    meter
        .f64_counter("llm_cost_usd")
        .with_unit("USD")
        .with_description("LLM cost")
        .build()
        .add(1.5, &[opentelemetry::KeyValue::new("model", "small")]);

    let base = format!("http://{addr}");
    let (status, ct, text) = get(&format!("{base}/metrics"), None).await;
    assert_eq!(status, 200);
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    assert_eq!(
        series_value(
            &text,
            "primitive_executions_total{primitive=\"work\",status=\"ok\",type=\"lambda\"}"
        ),
        Some(16.0),
        "{text}"
    );
    assert_eq!(
        series_value(
            &text,
            "primitive_executions_total{primitive=\"work\",status=\"error\",type=\"lambda\"}"
        ),
        Some(4.0)
    );
    assert_eq!(
        series_value(
            &text,
            "primitive_errors_total{error_type=\"bad_input\",primitive=\"work\"}"
        ),
        Some(4.0)
    );
    assert_eq!(
        series_value(
            &text,
            "primitive_duration_seconds_count{primitive=\"work\",type=\"lambda\"}"
        ),
        Some(20.0)
    );
    assert_eq!(
        series_value(&text, "llm_cost_usd_total{model=\"small\"}"),
        Some(1.5)
    );
    assert_eq!(
        text.matches("# TYPE primitive_duration_seconds histogram")
            .count(),
        1,
        "each series once:\n{text}"
    );
    assert!(text.contains("target_info{"), "{text}");
    assert!(text.contains("build_info{"), "{text}");
    assert!(text.contains("process_resident_memory_bytes"), "{text}");
    assert!(!text.contains("trace_id"), "no exemplars in 0.0.4");

    let (status, ct, om) = get(&format!("{base}/metrics"), Some(OPENMETRICS_ACCEPT)).await;
    assert_eq!(status, 200);
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    assert!(om.ends_with("# EOF\n"));
    let exemplar_line = om
        .lines()
        .find(|l| l.starts_with("primitive_duration_seconds_bucket") && l.contains("trace_id"))
        .unwrap_or_else(|| panic!("an exemplar with a trace_id:\n{om}"));
    let trace_id = exemplar_line
        .split("trace_id=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    assert!(obs.force_flush(Duration::from_secs(5)));
    let exported: Vec<String> = sink
        .spans
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.span_context.trace_id().to_string())
        .collect();
    assert!(
        exported.iter().any(|t| t == trace_id),
        "the exemplar's trace {trace_id} was exported"
    );

    let (status, _, body) = get(&format!("{base}/healthz"), None).await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, _, body) = get(&format!("{base}/nope"), None).await;
    assert_eq!(status, 404);
    assert!(body.contains("/metrics"), "{body}");

    obs.shutdown(Duration::from_secs(5));
    assert!(
        reqwest::get(format!("{base}/healthz")).await.is_err(),
        "server stopped on shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_in_use_is_reported_and_everything_else_runs() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let sink = Collect::default();
    let obs = ObservabilityBuilder::new(config(port))
        .with_span_exporter(sink.clone())
        .logs(false)
        .build();
    let r = obs.report();
    assert!(!r.all_live());
    assert_eq!(r.metrics, SignalState::Failed);
    assert_eq!(r.traces, SignalState::Live);
    assert!(r.metrics_addr.is_none());
    let f = r
        .failures
        .iter()
        .find(|f| f.component == "metrics.prometheus")
        .unwrap();
    assert!(
        f.error.contains(&port.to_string()) && f.error.contains("free port"),
        "{}",
        f.error
    );
    lambda("still", |x: u64| async move { Ok::<_, Error>(x) })
        .run(&WorkflowContext::new().with_telemetry(obs.telemetry()), 1)
        .await
        .unwrap();
    assert!(obs.force_flush(Duration::from_secs(5)));
    assert_eq!(sink.spans.lock().unwrap().len(), 1, "traces unaffected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scraping_while_1000_tasks_record_is_exact_and_does_not_block_them() {
    let obs = Arc::new(
        ObservabilityBuilder::new(config(0))
            .tracing(false)
            .logs(false)
            .build(),
    );
    let addr = obs.report().metrics_addr.unwrap();
    let step = lambda("hot", |x: u64| async move { Ok::<_, Error>(x) }).into_workflow();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let scraper = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut scrapes = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (status, _, _) =
                    get(&format!("http://{addr}/metrics"), Some(OPENMETRICS_ACCEPT)).await;
                assert_eq!(status, 200);
                scrapes += 1;
            }
            scrapes
        })
    };
    let mut tasks = Vec::new();
    for t in 0..1000u64 {
        let (step, obs) = (step.clone(), obs.clone());
        tasks.push(tokio::spawn(async move {
            let mut worst = Duration::ZERO;
            for i in 0..20 {
                let ctx = WorkflowContext::new().with_telemetry(obs.telemetry());
                let start = Instant::now();
                step.run(&ctx, t * 100 + i).await.unwrap();
                worst = worst.max(start.elapsed());
                tokio::task::yield_now().await;
            }
            worst
        }));
    }
    let mut worst = Duration::ZERO;
    for t in tasks {
        worst = worst.max(t.await.unwrap());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let scrapes = scraper.await.unwrap();
    assert!(scrapes > 0);
    assert!(
        worst < Duration::from_millis(250),
        "a recorder waited {worst:?} while scrapes ran"
    );
    let (_, _, text) = get(&format!("http://{addr}/metrics"), None).await;
    assert_eq!(
        series_value(
            &text,
            "primitive_executions_total{primitive=\"hot\",status=\"ok\",type=\"lambda\"}"
        ),
        Some(20_000.0),
        "{text}"
    );
    assert_eq!(
        series_value(
            &text,
            "primitive_duration_seconds_count{primitive=\"hot\",type=\"lambda\"}"
        ),
        Some(20_000.0)
    );
    assert_eq!(
        series_value(&text, "primitive_active{primitive=\"hot\"}"),
        Some(0.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tracing_off_durations_are_lock_free_histograms_without_exemplars() {
    let obs = ObservabilityBuilder::new(config(0))
        .tracing(false)
        .logs(false)
        .build();
    let addr = obs.report().metrics_addr.expect("bound");
    let ctx = WorkflowContext::new().with_telemetry(obs.telemetry());
    let slow = lambda("slow", |x: u64| async move {
        tokio::time::sleep(Duration::from_millis(3)).await;
        Ok::<_, Error>(x)
    })
    .into_workflow();
    let fast = lambda("fast", |x: u64| async move { Ok::<_, Error>(x) }).into_workflow();
    for i in 0..10 {
        slow.run(&ctx, i).await.unwrap();
        fast.run(&ctx, i).await.unwrap();
    }
    for accept in [None, Some(OPENMETRICS_ACCEPT)] {
        let (status, _, text) = get(&format!("http://{addr}/metrics"), accept).await;
        assert_eq!(status, 200);
        // The value of the series `name` whose labels include `labels`
        // (label order differs between the two formats).
        let series = |name: &str, labels: &[&str]| -> f64 {
            text.lines()
                .find(|l| {
                    l.starts_with(&format!("{name}{{")) && labels.iter().all(|lb| l.contains(lb))
                })
                .and_then(|l| l.rsplit_once("} "))
                .and_then(|(_, v)| v.split(' ').next())
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} {labels:?} in\n{text}"))
        };
        let slow = r#"primitive="slow""#;
        let fast = r#"primitive="fast""#;
        let bucket = "primitive_duration_seconds_bucket";
        assert_eq!(series("primitive_duration_seconds_count", &[slow]), 10.0);
        // >= 3 ms each: nothing at or below 2.5 ms, all by 1 s.
        assert_eq!(series(bucket, &[slow, r#"le="0.0025""#]), 0.0);
        let le_1 = if accept.is_some() {
            r#"le="1.0""#
        } else {
            r#"le="1""#
        };
        assert_eq!(series(bucket, &[slow, le_1]), 10.0);
        assert_eq!(series(bucket, &[slow, r#"le="+Inf""#]), 10.0);
        let sum = series("primitive_duration_seconds_sum", &[slow]);
        assert!((0.03..1.0).contains(&sum), "sum {sum}");
        assert_eq!(series(bucket, &[fast, r#"le="0.001""#]), 10.0);
        assert!(!text.contains("trace_id"), "no exemplars without spans");
        assert_eq!(
            text.matches("# TYPE primitive_duration_seconds histogram")
                .count(),
            1,
            "one family, not an OTel copy beside it"
        );
    }
    obs.shutdown(Duration::from_secs(5));
}
