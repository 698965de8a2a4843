//! `/metrics` encoding cost with 100 primitives x 5 label sets.
//! `cargo bench --bench scrape`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use observability_integration::prometheus::{PrometheusMetrics, PrometheusOptions};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::SdkMeterProvider;

fn scrape(c: &mut Criterion) {
    let prom = PrometheusMetrics::new(PrometheusOptions::minimal());
    let mp = SdkMeterProvider::builder()
        .with_reader(prom.reader())
        .build();
    let meter = mp.meter("bench");
    let count = meter.u64_counter("primitive_executions").build();
    let dur = meter
        .f64_histogram("primitive_duration")
        .with_unit("s")
        .with_boundaries(primitives_core::semconv::DURATION_BUCKETS.to_vec())
        .build();
    for p in 0..100 {
        for s in 0..5 {
            let attrs = [
                KeyValue::new("primitive", format!("p{p}")),
                KeyValue::new("status", format!("s{s}")),
            ];
            count.add(1, &attrs);
            dur.record(0.01, &attrs);
        }
    }
    let text_bytes = prom.encode_text().len() as u64;
    let om_bytes = prom.encode_openmetrics().len() as u64;
    eprintln!("scrape sizes: text 0.0.4 {text_bytes} bytes, OpenMetrics {om_bytes} bytes");
    let mut g = c.benchmark_group("scrape_100x5");
    g.throughput(Throughput::Bytes(text_bytes));
    g.bench_function("text_0_0_4", |b| b.iter(|| prom.encode_text()));
    g.throughput(Throughput::Bytes(om_bytes));
    g.bench_function("openmetrics", |b| b.iter(|| prom.encode_openmetrics()));
    g.finish();
}

criterion_group!(benches, scrape);
criterion_main!(benches);
