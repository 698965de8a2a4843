//! Defects of the Prometheus exposition found by trying it as an
//! adversarial user would; each test failed before its fix
//! (docs/reliability.md). Scrapes are real HTTP requests to the setup's
//! server, read back with the official Prometheus client's parsers.

mod support;

use std::time::Duration;

use observability_integration::{
    EnvSource, Observability, ObservabilityBuilder, ObservabilityConfig,
};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::KeyValue;
use primitives_core::{lambda, Error, PrimitiveExt, WorkflowContext};
use support::ExpositionParser;

fn setup(limit: usize) -> Observability {
    let cfg = ObservabilityConfig::builder()
        .env(EnvSource::None)
        .prometheus_port(0u16)
        .metric_cardinality_limit(limit)
        .build()
        .unwrap();
    ObservabilityBuilder::new(cfg).logs(false).build()
}

async fn scrape(obs: &Observability, openmetrics: bool) -> String {
    let addr = obs.report().metrics_addr.unwrap();
    let mut req = reqwest::Client::new().get(format!("http://{addr}/metrics"));
    if openmetrics {
        req = req.header("accept", "application/openmetrics-text; version=1.0.0");
    }
    let resp = req.send().await.unwrap();
    assert!(resp.status().is_success());
    resp.text().await.unwrap()
}

/// Both formats parse, and every sample line of `family` (with its name
/// prefix) is returned from the 0.0.4 text.
async fn scrape_both(obs: &Observability, parser: &mut Option<ExpositionParser>) -> String {
    let text = scrape(obs, false).await;
    let om = scrape(obs, true).await;
    if let Some(p) = parser {
        p.parse(false, &text)
            .unwrap_or_else(|e| panic!("0.0.4 rejected: {e}\n{text}"));
        p.parse(true, &om)
            .unwrap_or_else(|e| panic!("OpenMetrics rejected: {e}\n{om}"));
    }
    text
}

fn samples<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| !l.starts_with('#') && l.starts_with(prefix))
        .collect()
}

fn value(line: &str) -> f64 {
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duration_histograms_keep_at_most_the_limit_and_count_what_they_fold() {
    let mut parser = ExpositionParser::start();
    let obs = setup(3);
    let ctx = WorkflowContext::new().with_telemetry(obs.telemetry());
    for i in 0..10 {
        let step = lambda(format!("p{i}"), |x: u32| async move { Ok::<_, Error>(x) });
        step.run(&ctx, 1).await.unwrap();
    }
    let text = scrape_both(&obs, &mut parser).await;
    let counts = samples(&text, "primitive_duration_seconds_count{");
    assert_eq!(
        counts.len(),
        4,
        "3 series + 1 overflow:\n{}",
        counts.join("\n")
    );
    let overflow: Vec<_> = counts
        .iter()
        .filter(|l| l.contains("otel_metric_overflow=\"true\""))
        .collect();
    assert_eq!(overflow.len(), 1);
    assert_eq!(value(overflow[0]), 7.0, "the folded executions are kept");
    let gauge = samples(
        &text,
        "observability_metric_overflow_series{metric=\"primitive_duration_seconds\"}",
    );
    assert_eq!(gauge.len(), 1, "{text}");
    assert_eq!(value(gauge[0]), 7.0, "7 label sets were folded");
    obs.shutdown(Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_sdk_limit_there_is_one_overflow_series_per_family() {
    let mut parser = ExpositionParser::start();
    // The SDK folds past 2000 series itself (`otel.metric.overflow`), and
    // our guard at 2000 folds too: one overflow series in all.
    let obs = setup(2000);
    let meter = obs.meter_provider().unwrap().meter("user");
    let hits = meter.u64_counter("hits").build();
    for i in 0..2100 {
        hits.add(1, &[KeyValue::new("user", i.to_string())]);
    }
    let text = scrape_both(&obs, &mut parser).await;
    let lines = samples(&text, "hits_total");
    let overflow: Vec<_> = lines
        .iter()
        .filter(|l| l.contains("otel_metric_overflow"))
        .collect();
    assert_eq!(overflow.len(), 1, "{}", overflow.len());
    assert!(lines.len() <= 2001, "{}", lines.len());
    let total: f64 = lines.iter().map(|l| value(l)).sum();
    assert_eq!(total, 2100.0, "nothing is lost in folding");
    obs.shutdown(Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_that_sanitise_alike_are_merged_into_one_label() {
    let mut parser = ExpositionParser::start();
    let obs = setup(2000);
    let meter = obs.meter_provider().unwrap().meter("user");
    let requests = meter.u64_counter("requests").build();
    requests.add(
        2,
        &[
            KeyValue::new("http_method", "POST"),
            KeyValue::new("http.method", "GET"),
        ],
    );
    // Two points whose label sets become equal once mapped: one series.
    requests.add(3, &[KeyValue::new("http.method", "PUT")]);
    requests.add(4, &[KeyValue::new("http_method", "PUT")]);
    let text = scrape_both(&obs, &mut parser).await;
    let lines = samples(&text, "requests_total");
    assert_eq!(
        lines,
        vec![
            "requests_total{http_method=\"GET;POST\"} 2",
            "requests_total{http_method=\"PUT\"} 7"
        ]
    );
    obs.shutdown(Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_with_newlines_quotes_and_backslashes_is_escaped_in_both_formats() {
    let mut parser = ExpositionParser::start();
    let obs = setup(2000);
    let meter = obs.meter_provider().unwrap().meter("user");
    meter
        .u64_counter("escaped")
        .with_description("first line\nsecond \"quoted\" \\ line")
        .build()
        .add(1, &[]);
    let text = scrape_both(&obs, &mut parser).await;
    assert!(
        text.contains("# HELP escaped_total first line\\nsecond \"quoted\" \\\\ line\n"),
        "{text}"
    );
    let om = scrape(&obs, true).await;
    assert!(
        om.contains("# HELP escaped first line\\nsecond \\\"quoted\\\" \\\\ line\n"),
        "{om}"
    );
    for body in [&text, &om] {
        assert!(
            body.lines().all(|l| l.starts_with('#')
                || l.is_empty()
                || l.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')),
            "a line broke out of its HELP:\n{body}"
        );
    }
    obs.shutdown(Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_names_and_label_values_are_cut_with_a_hash_of_the_whole() {
    use observability_integration::prometheus::MAX_SERIES_TEXT;
    let mut parser = ExpositionParser::start();
    let obs = setup(2000);
    let ctx = WorkflowContext::new().with_telemetry(obs.telemetry());
    // Two 100 KB names that differ only at the end.
    let long = "n".repeat(100_000);
    for last in ["a", "b"] {
        let step = lambda(format!("{long}{last}"), |x: u32| async move {
            Ok::<_, Error>(x)
        });
        step.run(&ctx, 1).await.unwrap();
    }
    let meter = obs.meter_provider().unwrap().meter("user");
    meter
        // The SDK takes names up to 255 characters.
        .u64_counter(format!("m{}", "x".repeat(200)))
        .build()
        .add(1, &[KeyValue::new("k", "v".repeat(1000))]);
    let text = scrape_both(&obs, &mut parser).await;
    assert!(
        text.len() < 100_000,
        "no 100 KB label values: {} bytes",
        text.len()
    );
    let counts = samples(&text, "primitive_duration_seconds_count{");
    let long_ones: Vec<&str> = counts
        .iter()
        .filter_map(|l| {
            let v = l.split("primitive=\"").nth(1)?.split('"').next()?;
            v.starts_with("nnn").then_some(v)
        })
        .collect();
    assert_eq!(long_ones.len(), 2, "two series, not one: {counts:?}");
    assert_ne!(long_ones[0], long_ones[1]);
    for v in &long_ones {
        assert!(v.len() <= MAX_SERIES_TEXT, "{}", v.len());
        let (_, hash) = v.rsplit_once('~').unwrap();
        assert_eq!(hash.len(), 8);
        assert!(hash.chars().all(|c| c.is_ascii_hexdigit()));
    }
    let user = text
        .lines()
        .find(|l| l.starts_with("mxxx") && !l.starts_with('#'))
        .unwrap();
    let name = user.split('{').next().unwrap();
    assert!(name.len() <= MAX_SERIES_TEXT + "_total".len(), "{name}");
    let value = user
        .split("k=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    assert!(
        value.len() <= MAX_SERIES_TEXT && value.contains('~'),
        "{value}"
    );
    obs.shutdown(Duration::from_secs(2));
}
