//! Against a real Prometheus server (Debian's `prometheus`, started here on
//! a free loopback port with a 1 s scrape interval and exemplar storage):
//! exact counts, the Python original's throughput / p95 / error-rate queries written
//! for our metric names, and exemplars whose trace ids were really
//! exported. Skips without Prometheus unless CI=true.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use observability_integration::{EnvSource, ObservabilityBuilder, ObservabilityConfig};
use primitives_core::{lambda, Error, PrimitiveExt, WorkflowContext};
use support::prometheus::Prometheus;
use support::Collect;

/// Prometheus's histogram_quantile over cumulative (le, count) buckets.
fn quantile(q: f64, buckets: &[(f64, f64)]) -> f64 {
    let total = buckets.last().unwrap().1;
    let rank = q * total;
    let mut prev = (0.0, 0.0);
    for &(le, cum) in buckets {
        if cum >= rank {
            if le.is_infinite() {
                return prev.0;
            }
            let lower = if prev.0 == 0.0 && le <= 0.0 {
                0.0
            } else {
                prev.0
            };
            return lower + (le - lower) * (rank - prev.1) / (cum - prev.1);
        }
        prev = (le, cum);
    }
    f64::NAN
}

fn scraped_buckets(text: &str) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    for l in text.lines().filter(|l| {
        l.starts_with("primitive_duration_seconds_bucket{") && l.contains("primitive=\"work\"")
    }) {
        let le = l.split("le=\"").nth(1).unwrap().split('"').next().unwrap();
        let le = if le == "+Inf" {
            f64::INFINITY
        } else {
            le.parse().unwrap()
        };
        let v: f64 = l.rsplit(' ').next().unwrap().parse().unwrap();
        out.push((le, v));
    }
    out.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_prometheus_scrapes_exact_counts_quantiles_and_exemplars() {
    let sink = Collect::default();
    let cfg = ObservabilityConfig::builder()
        .env(EnvSource::None)
        .service_name("prom-e2e")
        .prometheus_port(0u16)
        .schedule_delay(Duration::from_millis(50))
        .build()
        .unwrap();
    let obs = ObservabilityBuilder::new(cfg)
        .with_span_exporter(sink.clone())
        .logs(false)
        .build();
    let addr = obs.report().metrics_addr.unwrap();
    let Some(prom) = Prometheus::start(addr).await else {
        return;
    };
    let started = SystemTime::now();

    let work = lambda("work", |(fail, ms): (bool, u64)| async move {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        if fail {
            Err(Error::with_error_type("upstream", "upstream failed"))
        } else {
            Ok(ms)
        }
    })
    .into_workflow();
    let run = |fail: bool, ms: u64| {
        let (work, ctx) = (
            work.clone(),
            WorkflowContext::new().with_telemetry(obs.telemetry()),
        );
        async move {
            let _ = work.run(&ctx, (fail, ms)).await;
        }
    };
    // Users' own histograms: boundaries that fit their unit, unless they
    // gave their own.
    let meter = opentelemetry::metrics::MeterProvider::meter(obs.meter_provider().unwrap(), "user");
    let latency = meter
        .f64_histogram("api_response_time_seconds")
        .with_unit("s")
        .build();
    let own = meter
        .f64_histogram("own_bounds_seconds")
        .with_unit("s")
        .with_boundaries(vec![0.2, 0.4])
        .build();
    let db = meter.f64_histogram("db_query_time").with_unit("ms").build();
    let payload = meter.u64_histogram("payload_size").with_unit("By").build();
    latency.record(0.123, &[]);
    own.record(0.123, &[]);
    db.record(42.0, &[]);
    payload.record(3000, &[]);

    // Phase 1: the series exist before the measured increase.
    run(false, 5).await;
    run(true, 5).await;
    prom.wait_for("sum(primitive_executions_total{primitive=\"work\"})", 2.0)
        .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // Phase 2: 30 ok (spread over buckets) and 9 errors.
    for i in 0..30 {
        run(false, [2, 8, 30, 120][i % 4]).await;
    }
    for _ in 0..9 {
        run(true, 15).await;
    }
    prom.wait_for("sum(primitive_executions_total{primitive=\"work\"})", 41.0)
        .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;

    // Exact counts.
    assert_eq!(
        prom.query("sum(primitive_executions_total{primitive=\"work\",status=\"ok\"})")
            .await,
        Some(31.0)
    );
    assert_eq!(
        prom.query("sum(primitive_executions_total{primitive=\"work\",status=\"error\"})")
            .await,
        Some(10.0)
    );
    assert_eq!(
        prom.query("sum(primitive_errors_total{primitive=\"work\",error_type=\"upstream\"})")
            .await,
        Some(10.0)
    );
    assert_eq!(
        prom.query("sum(primitive_duration_seconds_count{primitive=\"work\"})")
            .await,
        Some(41.0)
    );
    // Error rate as a ratio of totals: exact.
    let ratio = prom
        .query("sum(primitive_errors_total{primitive=\"work\"}) / sum(primitive_executions_total{primitive=\"work\"})")
        .await
        .unwrap();
    assert!((ratio - 10.0 / 41.0).abs() < 1e-12, "{ratio}");

    // p95 from the stored buckets equals the quantile of what we served.
    let (_, _, text) = {
        let resp = reqwest::get(format!("http://{addr}/metrics"))
            .await
            .unwrap();
        (0, 0, resp.text().await.unwrap())
    };
    let buckets = scraped_buckets(&text);
    assert_eq!(buckets.last().unwrap().1, 41.0);
    let expected_p95 = quantile(0.95, &buckets);
    let p95 = prom
        .query("histogram_quantile(0.95, sum by (le) (primitive_duration_seconds_bucket{primitive=\"work\"}))")
        .await
        .unwrap();
    assert!(
        (p95 - expected_p95).abs() < 1e-9,
        "prometheus p95 {p95} vs served buckets {expected_p95}"
    );
    assert!(
        p95 > 0.1 && p95 <= 0.25,
        "the 120 ms runs dominate the tail: {p95}"
    );

    // The Python original's rate-based queries, written for our names.
    let throughput = prom
        .query("sum(rate(primitive_duration_seconds_count{primitive=\"work\"}[5m]))")
        .await
        .unwrap();
    let error_rate = prom
        .query("sum(rate(primitive_errors_total{primitive=\"work\"}[5m]))")
        .await
        .unwrap();
    let p95_rate = prom
        .query("histogram_quantile(0.95, sum by (le) (rate(primitive_duration_seconds_bucket{primitive=\"work\"}[5m])))")
        .await
        .unwrap();
    assert!(
        throughput > 0.0 && error_rate > 0.0,
        "{throughput} {error_rate}"
    );
    let rate_ratio = error_rate / throughput;
    assert!(
        (rate_ratio - 9.0 / 39.0).abs() < 0.05,
        "rate-based error ratio {rate_ratio} vs 9/39 (phase-2 increase)"
    );
    assert!(p95_rate > 0.1 && p95_rate <= 0.25, "{p95_rate}");

    // The users' histograms, as Prometheus stored them.
    let bucket = |name: &str, le: &str| format!("sum({name}_bucket{{le=~\"{le}(\\\\.0)?\"}})");
    assert_eq!(
        prom.query(&bucket("api_response_time_seconds", "0.1"))
            .await,
        Some(0.0)
    );
    assert_eq!(
        prom.query(&bucket("api_response_time_seconds", "0.25"))
            .await,
        Some(1.0)
    );
    assert_eq!(
        prom.query("count(api_response_time_seconds_bucket)").await,
        Some(15.0),
        "14 boundaries (5 ms to 10 s) and +Inf"
    );
    assert_eq!(
        prom.query(&bucket("own_bounds_seconds", "0.2")).await,
        Some(1.0)
    );
    assert_eq!(
        prom.query("count(own_bounds_seconds_bucket)").await,
        Some(3.0),
        "the user's 0.2 and 0.4, and +Inf"
    );
    assert_eq!(prom.query(&bucket("db_query_time", "25")).await, Some(0.0));
    assert_eq!(prom.query(&bucket("db_query_time", "50")).await, Some(1.0));
    assert_eq!(
        prom.query(&bucket("payload_size_bytes", "1024")).await,
        Some(0.0)
    );
    assert_eq!(
        prom.query(&bucket("payload_size_bytes", "4096")).await,
        Some(1.0)
    );

    // Exemplars: trace ids of spans that were really exported.
    let now = SystemTime::now();
    let secs = |t: SystemTime| {
        t.duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
            .to_string()
    };
    let data = prom
        .api(
            "/api/v1/query_exemplars",
            &[
                (
                    "query",
                    "primitive_duration_seconds_bucket{primitive=\"work\"}".to_owned(),
                ),
                ("start", secs(started - Duration::from_secs(5))),
                ("end", secs(now + Duration::from_secs(5))),
            ],
        )
        .await;
    let trace_ids: Vec<String> = data
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|series| series["exemplars"].as_array().cloned().unwrap_or_default())
        .filter_map(|e| e["labels"]["trace_id"].as_str().map(str::to_owned))
        .collect();
    assert!(!trace_ids.is_empty(), "exemplars stored: {data}");
    assert!(obs.force_flush(Duration::from_secs(5)));
    let exported: BTreeMap<String, ()> = sink
        .spans
        .lock()
        .unwrap()
        .iter()
        .map(|s| (s.span_context.trace_id().to_string(), ()))
        .collect();
    for t in &trace_ids {
        assert!(exported.contains_key(t), "exemplar trace {t} was exported");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_prometheus_takes_hostile_instruments_whole() {
    // Before the fixes each of these made Prometheus reject the whole
    // scrape (duplicate label names, duplicate overflow series, a HELP line
    // broken by a newline in OpenMetrics, which Prometheus asks for first).
    let cfg = ObservabilityConfig::builder()
        .env(EnvSource::None)
        .service_name("prom-hostile")
        .prometheus_port(0u16)
        .build()
        .unwrap();
    let obs = ObservabilityBuilder::new(cfg).logs(false).build();
    let addr = obs.report().metrics_addr.unwrap();
    let meter = opentelemetry::metrics::MeterProvider::meter(obs.meter_provider().unwrap(), "user");
    use opentelemetry::KeyValue;
    meter
        .u64_counter("hostile_requests")
        .with_description("line one\nline \"two\" \\ three")
        .build()
        .add(
            5,
            &[
                KeyValue::new("http.method", "GET"),
                KeyValue::new("http_method", "POST"),
            ],
        );
    let users = meter.u64_counter("hostile_users").build();
    for i in 0..2100 {
        users.add(1, &[KeyValue::new("user", i.to_string())]);
    }
    let Some(prom) = Prometheus::start(addr).await else {
        return;
    };
    prom.wait_for("up{job=\"app\"}", 1.0).await;
    prom.wait_for("sum(hostile_requests_total{http_method=\"GET;POST\"})", 5.0)
        .await;
    prom.wait_for("sum(hostile_users_total)", 2100.0).await;
    prom.wait_for(
        "count(hostile_users_total{otel_metric_overflow=\"true\"})",
        1.0,
    )
    .await;
    obs.shutdown(Duration::from_secs(2));
}
