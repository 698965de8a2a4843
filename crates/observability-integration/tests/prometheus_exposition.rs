//! The exposition text, byte for byte (golden files in tests/data), and
//! `promtool check metrics` on the 0.0.4 text.

mod support;

use observability_integration::prometheus::{PrometheusMetrics, PrometheusOptions};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::Resource;

fn golden(name: &str, actual: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    if std::env::var("UPDATE_GOLDEN").is_ok() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing golden file {}", path.display()));
    assert_eq!(
        actual,
        expected,
        "exposition differs from {}",
        path.display()
    );
}

fn record_everything(limit: usize) -> (PrometheusMetrics, SdkMeterProvider) {
    let mut options = PrometheusOptions::minimal();
    options.cardinality_limit = limit;
    let prom = PrometheusMetrics::new(options);
    let mp = SdkMeterProvider::builder()
        .with_resource(
            Resource::builder_empty()
                .with_service_name("golden")
                .with_attribute(KeyValue::new("deployment.environment.name", "test"))
                .build(),
        )
        .with_reader(prom.reader())
        .build();
    let m = mp.meter("golden-test");
    let requests = m
        .u64_counter("requests")
        .with_description("Requests served")
        .with_unit("1")
        .build();
    requests.add(
        3,
        &[
            KeyValue::new("method", "GET"),
            KeyValue::new("path", "/a\"b\\c\nd"),
        ],
    );
    requests.add(
        1,
        &[KeyValue::new("method", "POST"), KeyValue::new("path", "/")],
    );
    m.f64_counter("llm_cost_usd")
        .with_description("LLM cost")
        .with_unit("USD")
        .build()
        .add(0.25, &[KeyValue::new("model", "gpt-4")]);
    m.u64_counter("api_requests_total")
        .with_description("Already suffixed")
        .build()
        .add(2, &[]);
    m.u64_counter("no_description").build().add(1, &[]);
    let depth = m
        .i64_up_down_counter("queue.depth")
        .with_description("Items queued")
        .build();
    depth.add(
        5,
        &[
            KeyValue::new("http.method", "GET"),
            KeyValue::new("1st", "x"),
        ],
    );
    depth.add(
        -2,
        &[
            KeyValue::new("http.method", "GET"),
            KeyValue::new("1st", "x"),
        ],
    );
    m.f64_gauge("temperature")
        .with_description("Room temperature")
        .with_unit("Cel")
        .build()
        .record(21.5, &[]);
    let lat = m
        .f64_histogram("latency")
        .with_description("Request latency")
        .with_unit("s")
        .with_boundaries(vec![0.1, 1.0])
        .build();
    for v in [0.05, 0.5, 5.0] {
        lat.record(v, &[KeyValue::new("route", "/x")]);
    }
    m.f64_histogram("db_query_seconds")
        .with_description("Query time")
        .with_unit("s")
        .with_boundaries(vec![0.01])
        .build()
        .record(0.001, &[]);
    m.u64_histogram("payload")
        .with_description("Payload size")
        .with_unit("By")
        .with_boundaries(vec![100.0, 1000.0])
        .build()
        .record(512, &[]);
    (prom, mp)
}

#[test]
fn text_0_0_4_golden() {
    let (prom, _mp) = record_everything(100);
    golden("exposition_0_0_4.txt", &prom.encode_text());
}

#[test]
fn openmetrics_golden() {
    let (prom, _mp) = record_everything(100);
    golden("exposition_openmetrics.txt", &prom.encode_openmetrics());
}

#[test]
fn negotiation_follows_the_accept_header() {
    let (prom, _mp) = record_everything(100);
    let prometheus_accept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let (ct, body) = prom.negotiate(Some(prometheus_accept));
    assert!(ct.starts_with("application/openmetrics-text"));
    assert!(body.ends_with("# EOF\n"));
    let (ct, body) = prom.negotiate(None);
    assert!(ct.starts_with("text/plain; version=0.0.4"));
    assert!(!body.contains("# EOF"));
    let (ct, _) = prom.negotiate(Some("text/plain"));
    assert!(ct.starts_with("text/plain"));
}

#[test]
fn cardinality_guard_folds_extra_series_without_losing_counts() {
    let mut options = PrometheusOptions::minimal();
    options.cardinality_limit = 5;
    let prom = PrometheusMetrics::new(options);
    let mp = SdkMeterProvider::builder()
        .with_reader(prom.reader())
        .build();
    let c = mp
        .meter("t")
        .u64_counter("hits")
        .with_description("Hits")
        .build();
    for user in 0..20 {
        c.add(2, &[KeyValue::new("user", format!("u{user}"))]);
    }
    let text = prom.encode_text();
    let series: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("hits_total{"))
        .collect();
    assert_eq!(series.len(), 6, "5 admitted + 1 overflow:\n{text}");
    let total: u64 = series
        .iter()
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, 40, "nothing lost");
    assert!(
        text.contains("hits_total{otel_metric_overflow=\"true\"} 30"),
        "{text}"
    );
    assert!(
        text.contains("observability_metric_overflow_series{metric=\"hits\"} 15"),
        "{text}"
    );
    // Admission is deterministic (smallest label sets first) and stable
    // across scrapes: u9 stays in the overflow series, u0 keeps its own.
    assert!(text.contains("hits_total{user=\"u0\"} 2"), "{text}");
    assert!(!text.contains("user=\"u9\""), "{text}");
    c.add(1, &[KeyValue::new("user", "u9")]);
    c.add(1, &[KeyValue::new("user", "u0")]);
    let again = prom.encode_text();
    assert!(
        again.contains("hits_total{otel_metric_overflow=\"true\"} 31"),
        "{again}"
    );
    assert!(again.contains("hits_total{user=\"u0\"} 3"), "{again}");
    assert_eq!(prom.overflowed()["hits"], 15);
}

#[test]
fn one_name_from_two_scopes_is_one_family_folded_once() {
    let mut options = PrometheusOptions::minimal();
    options.cardinality_limit = 5;
    let prom = PrometheusMetrics::new(options);
    let mp = SdkMeterProvider::builder()
        .with_reader(prom.reader())
        .build();
    for (scope, from) in [("lib-a", 0), ("lib-b", 4)] {
        let c = mp.meter(scope).u64_counter("hits").build();
        for user in from..from + 4 {
            c.add(1, &[KeyValue::new("user", format!("u{user}"))]);
        }
        // Both record one shared series: it adds up.
        c.add(10, &[KeyValue::new("user", "shared")]);
        // And a seconds histogram spelled two ways is one family too.
        let name = if scope == "lib-a" {
            "wait"
        } else {
            "wait_seconds"
        };
        mp.meter(scope)
            .f64_histogram(name)
            .with_unit("s")
            .with_boundaries(vec![1.0])
            .build()
            .record(0.5, &[]);
    }
    let text = prom.encode_text();
    assert_eq!(
        text.matches("# TYPE hits_total counter").count(),
        1,
        "{text}"
    );
    assert_eq!(
        text.matches("# TYPE wait_seconds histogram").count(),
        1,
        "{text}"
    );
    assert!(text.contains("wait_seconds_count 2"), "{text}");
    let series: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("hits_total{"))
        .collect();
    // 9 label sets (8 users and "shared"), 5 admitted in all: folded once
    // for the family, not per scope.
    assert_eq!(series.len(), 6, "{text}");
    let total: u64 = series
        .iter()
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, 28, "nothing lost");
    assert_eq!(prom.overflowed()["hits"], 4, "{text}");
}

#[test]
fn promtool_accepts_the_0_0_4_text() {
    let (prom, _mp) = record_everything(100);
    let with_process = PrometheusMetrics::new(PrometheusOptions::default());
    support::promtool_accepts(&(prom.encode_text() + &with_process.encode_text()));
}
