//! The enhanced Router, Cache and Timeout, built before a global setup:
//! every series they add, by name and labels, on a real scrape of the
//! metrics server; the application's own `operation_duration_seconds`
//! (the original's Pattern 2) in the same family; the scrape read back by
//! the official Python parsers, `promtool check metrics` and a real
//! Prometheus. Own process (global install).

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use observability_integration::primitives::{Cache, Router, Timeout};
use observability_integration::{EnvSource, ObservabilityBuilder, ObservabilityConfig};
use opentelemetry::KeyValue;
use primitives_core::{lambda, lambda_with_context, Error, PrimitiveExt, WorkflowContext};
use support::prometheus::Prometheus;
use support::{promtool_accepts, scrape, series_value, Collect, ExpositionParser};

const OPENMETRICS: &str = "application/openmetrics-text;version=1.0.0";

fn must(text: &str, series: &str) -> f64 {
    series_value(text, series).unwrap_or_else(|| panic!("{series} not served:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enhanced_primitives_built_before_setup_serve_every_series() {
    // Built before anything is installed.
    let echo = |name: &'static str| {
        lambda(name, move |q: String| async move {
            Ok::<_, Error>(format!("{name}:{q}"))
        })
    };
    let router = Router::try_new(|q: &String, _: &WorkflowContext| match q.as_str() {
        "boom" => Err(Error::with_error_type(
            "classifier",
            std::io::Error::other("down"),
        )),
        q => Ok(q.to_owned()),
    })
    .route("fast", echo("fast"))
    .route("quality", echo("quality"))
    .default_route("fast")
    .named("model-router");
    let llm = lambda_with_context("llm", |ctx: WorkflowContext, q: u32| async move {
        ctx.add_to_run("llm.tokens.input", 50u64);
        Ok::<_, Error>(q + 1)
    });
    let cache = Cache::builder(llm, |q: &u32| *q)
        .named("llm-cache")
        .max_capacity(2)
        .lru()
        .ttl(Duration::from_millis(400))
        .build();
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = dropped.clone();
    let slow = lambda("slow", move |ms: u64| {
        let flag = flag.clone();
        async move {
            struct Armed(Arc<AtomicBool>);
            impl Drop for Armed {
                fn drop(&mut self) {
                    self.0.store(true, Ordering::SeqCst);
                }
            }
            let _armed = Armed(flag);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            if ms == 1 {
                Err(Error::msg("inner failure"))
            } else {
                Ok(ms)
            }
        }
    });
    let timeout = Timeout::new(slow, Duration::from_millis(150)).named("llm-timeout");

    let cfg = ObservabilityConfig::builder()
        .env(EnvSource::None)
        .service_name("enhanced")
        .prometheus_port(0u16)
        .schedule_delay(Duration::from_millis(50))
        .build()
        .unwrap();
    let guard = ObservabilityBuilder::new(cfg)
        .with_span_exporter(Collect::default())
        .logs(false)
        .install();
    let addr = guard.report().metrics_addr.expect("metrics server bound");

    for q in ["quality", "unknown", "boom"] {
        router.run(&WorkflowContext::new(), q.into()).await.unwrap();
    }
    let strict = Router::try_new(|_: &String, _: &WorkflowContext| {
        Err(Error::with_error_type(
            "classifier",
            std::io::Error::other("down"),
        ))
    })
    .route("fast", echo("fast"))
    .named("strict-router");
    let err = strict
        .run(&WorkflowContext::new(), "x".into())
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "classifier");

    // Cache: miss, hit, then a size eviction, a replacement, an explicit
    // removal and an expiry.
    let hit_ctx = WorkflowContext::new();
    for (q, ctx) in [(1, WorkflowContext::new()), (1, hit_ctx.clone())] {
        assert_eq!(cache.run(&ctx, q).await.unwrap(), 2);
    }
    assert_eq!(
        hit_ctx.run_totals().avoided("llm.tokens.input"),
        Some(primitives_core::Amount::Count(50))
    );
    for q in [2, 3] {
        cache.run(&WorkflowContext::new(), q).await.unwrap();
    }
    cache.run_pending_tasks().await;
    cache.insert(3, 30).await;
    cache.invalidate(&2).await;
    cache.run_pending_tasks().await;
    let entries_now = cache.counters().entries();
    assert_eq!(entries_now, 1);

    // Timeout: ok, the inner step's error, expiry (the inner future dropped).
    timeout.run(&WorkflowContext::new(), 2).await.unwrap();
    timeout.run(&WorkflowContext::new(), 1).await.unwrap_err();
    dropped.store(false, Ordering::SeqCst);
    let e = timeout
        .run(&WorkflowContext::new(), 10_000)
        .await
        .unwrap_err();
    assert_eq!(e.error_type(), "timeout");
    assert!(dropped.load(Ordering::SeqCst));

    // The application's own Pattern 2 instruments, through the global meter.
    let meter = opentelemetry::global::meter("perf-monitor");
    let own = meter
        .f64_histogram("operation_duration_seconds")
        .with_description("Operation execution time")
        .with_unit("s")
        .build();
    own.record(0.02, &[KeyValue::new("status", "success")]);
    own.record(0.5, &[KeyValue::new("status", "error")]);
    meter
        .u64_counter("operation_errors_total")
        .with_unit("1")
        .build()
        .add(1, &[KeyValue::new("error_type", "ValueError")]);

    let text = scrape(addr, None).await;
    // Router: a series per route and reason; the failed selector with no
    // default route took no route.
    for (route, reason) in [
        ("quality", "selected"),
        ("fast", "default"),
        ("fast", "selector_error"),
    ] {
        let s = format!("router_route_selected_total{{primitive=\"model-router\",reason=\"{reason}\",route=\"{route}\"}}");
        assert_eq!(must(&text, &s), 1.0, "{s}");
    }
    assert!(!text.contains("router_route_selected_total{primitive=\"strict-router\""));
    // Cache: evictions by cause, entries, lookups; core's hit/miss once.
    for cause in ["size", "replaced", "explicit"] {
        let s = format!("cache_evictions_total{{cause=\"{cause}\",primitive=\"llm-cache\"}}");
        assert_eq!(must(&text, &s), 1.0, "{s}");
    }
    assert_eq!(
        must(
            &text,
            "cache_evictions_total{cause=\"expired\",primitive=\"llm-cache\"}"
        ),
        0.0
    );
    assert_eq!(must(&text, "cache_entries{primitive=\"llm-cache\"}"), 1.0);
    assert_eq!(
        must(
            &text,
            "cache_lookup_duration_seconds_count{primitive=\"llm-cache\"}"
        ),
        4.0
    );
    assert_eq!(must(&text, "cache_hit_total{primitive=\"llm-cache\"}"), 1.0);
    assert_eq!(
        must(&text, "cache_miss_total{primitive=\"llm-cache\"}"),
        3.0
    );
    assert!(
        !text.contains("cache_hits_total"),
        "no second name for hits"
    );
    // Timeout: the three outcomes; timed_out agrees with core's counter.
    for outcome in ["ok", "error", "timed_out"] {
        let s = format!("timeout_total{{outcome=\"{outcome}\",primitive=\"llm-timeout\"}}");
        assert_eq!(must(&text, &s), 1.0, "{s}");
    }
    assert_eq!(
        must(&text, "timeout_expired_total{primitive=\"llm-timeout\"}"),
        must(
            &text,
            "timeout_total{outcome=\"timed_out\",primitive=\"llm-timeout\"}"
        )
    );
    // operation_duration_seconds: ours and the application's, one family.
    assert_eq!(
        must(
            &text,
            "operation_duration_seconds_count{operation=\"model-router\",status=\"ok\"}"
        ),
        3.0
    );
    assert_eq!(
        must(
            &text,
            "operation_duration_seconds_count{operation=\"strict-router\",status=\"error\"}"
        ),
        1.0
    );
    assert_eq!(
        must(
            &text,
            "operation_duration_seconds_count{operation=\"llm-cache\",status=\"ok\"}"
        ),
        4.0
    );
    assert_eq!(
        must(
            &text,
            "operation_duration_seconds_count{operation=\"llm-timeout\",status=\"error\"}"
        ),
        2.0
    );
    assert_eq!(
        must(
            &text,
            "operation_duration_seconds_count{status=\"success\"}"
        ),
        1.0
    );
    assert_eq!(
        must(&text, "operation_duration_seconds_count{status=\"error\"}"),
        1.0
    );
    assert_eq!(
        text.matches("# TYPE operation_duration_seconds histogram")
            .count(),
        1,
        "{text}"
    );
    assert_eq!(
        must(&text, "operation_errors_total{error_type=\"ValueError\"}"),
        1.0
    );
    // Run-level metrics: once per run, by the root's name; 2 s is a bucket.
    assert_eq!(
        must(
            &text,
            "workflow_runs_total{status=\"ok\",workflow=\"model-router\"}"
        ),
        3.0
    );
    assert_eq!(
        must(
            &text,
            "workflow_runs_total{status=\"error\",workflow=\"strict-router\"}"
        ),
        1.0
    );
    assert_eq!(
        must(
            &text,
            "workflow_run_duration_seconds_bucket{workflow=\"llm-timeout\",le=\"2\"}"
        ),
        3.0
    );
    assert!(!text.contains("workflow=\"fast\""), "a route is not a run");

    // Expiry, read at the next scrape.
    tokio::time::sleep(Duration::from_millis(500)).await;
    cache.run_pending_tasks().await;
    let text = scrape(addr, None).await;
    assert_eq!(
        must(
            &text,
            "cache_evictions_total{cause=\"expired\",primitive=\"llm-cache\"}"
        ),
        1.0
    );
    assert_eq!(must(&text, "cache_entries{primitive=\"llm-cache\"}"), 0.0);

    // Valid for the official parsers in both formats, and for promtool.
    let om = scrape(addr, Some(OPENMETRICS)).await;
    assert!(
        om.contains("# UNIT operation_duration_seconds seconds"),
        "{om}"
    );
    if let Some(mut parser) = ExpositionParser::start() {
        parser
            .parse(false, &text)
            .unwrap_or_else(|e| panic!("0.0.4: {e}\n{text}"));
        parser
            .parse(true, &om)
            .unwrap_or_else(|e| panic!("OpenMetrics: {e}\n{om}"));
    }
    promtool_accepts(&text);

    // And a real Prometheus takes the scrape whole.
    if let Some(prom) = Prometheus::start(addr).await {
        prom.wait_for("up{job=\"app\"}", 1.0).await;
        prom.wait_for(
            "sum(operation_duration_seconds_count{status=~\"success|error\",operation=\"\"})",
            2.0,
        )
        .await;
        prom.wait_for(
            "sum(operation_duration_seconds_count{operation=\"model-router\"})",
            3.0,
        )
        .await;
        prom.wait_for(
            "sum(router_route_selected_total{primitive=\"model-router\"})",
            3.0,
        )
        .await;
        prom.wait_for("sum(cache_evictions_total{primitive=\"llm-cache\"})", 4.0)
            .await;
        prom.wait_for("sum(timeout_total{primitive=\"llm-timeout\"})", 3.0)
            .await;
        prom.wait_for("sum(workflow_runs_total{workflow=\"model-router\"})", 3.0)
            .await;
    }
    guard.shutdown(Duration::from_secs(2));
}
